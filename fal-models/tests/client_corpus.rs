//! The mock server against fal's real OpenAPI documents (read-only test data outside the repo,
//! at `FAL_CORPUS_DIR`, default `<workspace>/../shared/fal-corpus`).
//!
//! Nothing here is judged by the mock itself: inputs are the documents' own literal `examples`
//! (not the mock's example builder), the verdict on each input comes from an independent JSON
//! Schema validator (the `jsonschema` crate, run on the document), and answers are compared with
//! the documents' literal output examples.
//!
//! When `FAL_CORPUS_DIR` is set (CI sets it) and its `docs` folder is missing, every test here
//! fails; without the variable and without the default folder they skip, saying so.

use std::path::{Path, PathBuf};

use fal_models::error::Operation;
use fal_models::mock::{EndpointSpec, MockServer};
use serde_json::{Map, Value, json};

/// The corpus `docs` folder; `None` (skip) only when nobody asked for the corpus.
fn corpus_docs() -> Option<PathBuf> {
    match std::env::var_os("FAL_CORPUS_DIR").filter(|v| !v.is_empty()) {
        Some(root) => {
            let dir = PathBuf::from(root).join("docs");
            assert!(
                dir.is_dir(),
                "FAL_CORPUS_DIR is set but {} is not a folder: the corpus tests were asked for and have no data",
                dir.display()
            );
            Some(dir)
        }
        None => {
            let dir =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fal-corpus/docs");
            if dir.is_dir() {
                Some(dir)
            } else {
                eprintln!(
                    "skipping: no fal corpus at {} (set FAL_CORPUS_DIR to require it)",
                    dir.display()
                );
                None
            }
        }
    }
}

/// One corpus document: its file name, its JSON and the mock's view of it.
struct Doc {
    file: String,
    json: Value,
    spec: EndpointSpec,
}

fn all_docs(dir: &Path) -> Vec<Doc> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let json: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let spec = EndpointSpec::from_document(json.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            let file = p.file_name().unwrap().to_string_lossy().into_owned();
            Doc { file, json, spec }
        })
        .collect()
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The JSON pointer (in the document) of the input schema: the POST body.
fn input_pointer(doc: &Value) -> Option<String> {
    let (path, item) = doc["paths"]
        .as_object()?
        .iter()
        .find(|(_, item)| item.get("post").is_some())?;
    item.pointer("/post/requestBody/content/application~1json/schema")?;
    Some(format!(
        "/paths/{}/post/requestBody/content/application~1json/schema",
        escape(path)
    ))
}

/// The JSON pointer of the output schema: the answer of `GET .../requests/{request_id}`.
fn output_pointer(doc: &Value) -> Option<String> {
    let (path, item) = doc["paths"]
        .as_object()?
        .iter()
        .find(|(path, _)| path.ends_with("/requests/{request_id}"))?;
    item.pointer("/get/responses/200/content/application~1json/schema")?;
    Some(format!(
        "/paths/{}/get/responses/200/content/application~1json/schema",
        escape(path)
    ))
}

/// Follows `$ref`s from `pointer` to the schema object that has the properties.
fn resolve<'a>(doc: &'a Value, pointer: &str) -> Option<&'a Value> {
    let mut schema = doc.pointer(pointer)?;
    for _ in 0..16 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(target) => schema = doc.pointer(target.strip_prefix('#')?)?,
            None => return Some(schema),
        }
    }
    None
}

/// An independent validator for the schema at `pointer`, references resolved in the document.
/// `None` when the reference validator cannot compile it (a dangling `$ref`, say).
fn reference_validator(doc: &Value, pointer: &str) -> Option<jsonschema::Validator> {
    let mut root = doc.clone();
    openapi_nullable(&mut root);
    // A pointer inside a URI fragment: characters a URI cannot hold are percent-encoded.
    let fragment = pointer
        .replace('%', "%25")
        .replace('{', "%7B")
        .replace('}', "%7D")
        .replace(' ', "%20");
    root.as_object_mut()?
        .insert("$ref".into(), Value::String(format!("#{fragment}")));
    jsonschema::validator_for(&root).ok()
}

/// OpenAPI 3.0's `nullable: true` in JSON Schema terms (the reference validator does not know
/// the OpenAPI keyword): `null` joins the allowed types and the enum.
///
/// Also fal's reading of an `enum` written beside `anyOf`/`oneOf` (4 documents, heygen's
/// `voice`): a list of suggestions fal does not enforce (`fal-ai/heygen/avatar4/image-to-video`
/// documents the voice "Melissa", which is not in its list), so the generated field is a
/// `String` and the mock accepts any string; the reference validator is told the same.
fn openapi_nullable(value: &mut Value) {
    match value {
        Value::Object(map) => {
            if map.contains_key("anyOf") || map.contains_key("oneOf") {
                map.remove("enum");
            }
            if map.get("nullable") == Some(&Value::Bool(true)) {
                if let Some(Value::String(kind)) = map.get("type").cloned() {
                    map.insert("type".into(), json!([kind, "null"]));
                }
                if let Some(Value::Array(allowed)) = map.get_mut("enum") {
                    allowed.push(Value::Null);
                }
            }
            map.values_mut().for_each(openapi_nullable);
        }
        Value::Array(items) => items.iter_mut().for_each(openapi_nullable),
        _ => {}
    }
}

/// The pointer of the schema object `pointer` leads to, `$ref`s followed.
fn resolved_pointer(doc: &Value, pointer: &str) -> Option<String> {
    let mut pointer = pointer.to_owned();
    for _ in 0..16 {
        match doc.pointer(&pointer)?.get("$ref").and_then(Value::as_str) {
            Some(target) => pointer = target.strip_prefix('#')?.to_owned(),
            None => return Some(pointer),
        }
    }
    None
}

/// The input made of the document's own literal values: each property's first `examples`
/// entry, and a required property without examples takes its `default`. `None` when a required
/// property has neither (the document gives no literal input).
fn literal_input(doc: &Value) -> Option<Map<String, Value>> {
    let schema = resolve(doc, &input_pointer(doc)?)?;
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut input = Map::new();
    for (name, property) in schema.get("properties")?.as_object()? {
        let example = property
            .get("examples")
            .and_then(Value::as_array)
            .and_then(|e| e.first());
        if let Some(value) = example {
            input.insert(name.clone(), value.clone());
        } else if required.contains(&name.as_str()) {
            input.insert(name.clone(), property.get("default")?.clone());
        }
    }
    required
        .iter()
        .all(|r| input.contains_key(*r))
        .then_some(input)
}

/// JSON equality where `4` equals `4.0`.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

#[test]
fn the_mock_agrees_with_an_independent_validator_on_every_documents_literal_input() {
    let Some(dir) = corpus_docs() else { return };
    let docs = all_docs(&dir);
    assert!(docs.len() > 500, "only {} documents", docs.len());
    let (mut accepted, mut rejected, mut no_literal, mut no_reference) = (0, 0, 0, 0);
    let mut examples_compared = 0;
    let mut disagreements = Vec::new();
    for doc in &docs {
        // The file name is the endpoint id with `/` written as `__`.
        assert_eq!(
            doc.spec.endpoint_id().replace('/', "__") + ".json",
            doc.file
        );
        let Some(input) = literal_input(&doc.json) else {
            no_literal += 1;
            continue;
        };
        let pointer = input_pointer(&doc.json).unwrap();
        let Some(reference) = reference_validator(&doc.json, &pointer) else {
            no_reference += 1;
            continue;
        };
        let input = Value::Object(input);
        let reference_errors: Vec<String> = reference
            .iter_errors(&input)
            .map(|e| format!("{e} at `{}`", e.instance_path()))
            .collect();
        let mock_errors = doc.spec.validate(&input);
        match (reference_errors.is_empty(), mock_errors.is_empty()) {
            (true, true) => accepted += 1,
            (false, false) => rejected += 1,
            (true, false) => disagreements.push(format!(
                "{}: the mock rejects a valid literal input: {mock_errors:?}",
                doc.file
            )),
            (false, true) => disagreements.push(format!(
                "{}: the mock accepts an invalid literal input: {reference_errors:?}",
                doc.file
            )),
        }
        // The mock's own example input uses each documented example the schema accepts.
        let example_input = doc.spec.example_input();
        let resolved = resolved_pointer(&doc.json, &pointer).unwrap();
        let properties = doc.json.pointer(&resolved).unwrap()["properties"].clone();
        for (name, value) in input.as_object().unwrap() {
            let Some(examples) = properties[name].get("examples").and_then(Value::as_array) else {
                continue;
            };
            let valid = reference_validator(
                &doc.json,
                &format!("{resolved}/properties/{}", escape(name)),
            )
            .is_some_and(|v| v.is_valid(value));
            if valid && examples.first() == Some(value) {
                examples_compared += 1;
                if !example_input.get(name).is_some_and(|v| same(v, value)) {
                    disagreements.push(format!(
                        "{}: example input `{name}` is {:?}, the document's example is {value}",
                        doc.file,
                        example_input.get(name)
                    ));
                }
            }
        }
    }
    println!(
        "{} documents: {accepted} literal inputs accepted by both validators, {rejected} rejected by both, \
         {no_literal} without a literal input, {no_reference} the reference validator cannot compile; \
         {examples_compared} documented examples found in the mock's example inputs",
        docs.len()
    );
    assert!(
        disagreements.is_empty(),
        "{} disagreements:\n{}",
        disagreements.len(),
        disagreements.join("\n")
    );
    assert!(accepted > 500, "only {accepted} literal inputs accepted");
    assert!(
        examples_compared > 500,
        "only {examples_compared} examples compared"
    );
}

/// Breaks a valid literal input in one place; returns the broken input and the field broken.
fn breakages(input: &Map<String, Value>, schema: &Value) -> Vec<(&'static str, String, Value)> {
    let mut out = Vec::new();
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return out;
    };
    for name in required {
        let mut broken = input.clone();
        broken.remove(name);
        out.push(("missing", name.to_owned(), Value::Object(broken)));
    }
    for (name, property) in properties {
        let mut with = |kind: &'static str, value: Value| {
            let mut broken = input.clone();
            broken.insert(name.clone(), value);
            out.push((kind, name.clone(), Value::Object(broken)));
        };
        if property
            .get("enum")
            .is_some_and(|e| e.as_array().is_some_and(|e| e.iter().all(Value::is_string)))
        {
            with("enum", json!("not-a-listed-value"));
        }
        match property.get("type").and_then(Value::as_str) {
            Some("string") => with("type", json!(12345)),
            Some("integer" | "number") => {
                with("type", json!("twelve"));
                if let Some(max) = property.get("maximum").and_then(Value::as_f64) {
                    with("maximum", json!(max + 1.0));
                }
            }
            Some("boolean") => with("type", json!("yes")),
            Some("array") => with("type", json!({"not": "an array"})),
            _ => {}
        }
    }
    out
}

#[test]
fn the_mock_rejects_at_the_right_field_what_an_independent_validator_rejects() {
    let Some(dir) = corpus_docs() else { return };
    let docs = all_docs(&dir);
    let mut tried = std::collections::BTreeMap::<&str, usize>::new();
    let mut wrong = Vec::new();
    for doc in &docs {
        let Some(input) = literal_input(&doc.json) else {
            continue;
        };
        let pointer = input_pointer(&doc.json).unwrap();
        let Some(reference) = reference_validator(&doc.json, &pointer) else {
            continue;
        };
        if !reference.is_valid(&Value::Object(input.clone())) {
            continue;
        }
        let schema = resolve(&doc.json, &pointer).unwrap();
        for (kind, field, broken) in breakages(&input, schema) {
            if reference.is_valid(&broken) {
                continue; // not broken after all (a union that also takes the new value)
            }
            *tried.entry(kind).or_default() += 1;
            let errors = doc.spec.validate(&broken);
            let at_field = errors
                .iter()
                .any(|e| e.field() == field || e.field().starts_with(&format!("{field}.")));
            let kind_ok = kind != "missing" || errors.iter().any(|e| e.kind == "missing");
            if !at_field || !kind_ok {
                wrong.push(format!(
                    "{}: `{field}` broken ({kind}): mock says {errors:?}",
                    doc.file
                ));
            }
        }
    }
    println!("broken inputs tried, by kind: {tried:?}");
    assert!(
        wrong.is_empty(),
        "{} wrong verdicts:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    for kind in ["missing", "enum", "type"] {
        assert!(
            tried.get(kind).is_some_and(|n| *n > 100),
            "too few `{kind}` breakages: {tried:?}"
        );
    }
}

#[test]
fn the_validator_rejects_broken_inputs_of_real_documents() {
    let Some(dir) = corpus_docs() else { return };
    let path = dir.join("fal-ai__sora-2__text-to-video__pro.json");
    let spec = EndpointSpec::from_file(&path).unwrap();
    let broken =
        json!({"prompt": "", "duration": 5, "resolution": "4k", "character_ids": ["a", "b", "c"]});
    let errors = spec.validate(&broken);
    let mut fields: Vec<_> = errors
        .iter()
        .map(|e| (e.field(), e.kind.as_str()))
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            ("character_ids".into(), "too_long"),
            ("duration".into(), "literal_error"),
            ("prompt".into(), "string_too_short"),
            ("resolution".into(), "literal_error"),
        ]
    );
    // The independent validator finds the same four fields wrong.
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let reference = reference_validator(&doc, &input_pointer(&doc).unwrap()).unwrap();
    let mut reference_fields: Vec<String> = reference
        .iter_errors(&broken)
        .map(|e| {
            e.instance_path()
                .to_string()
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    reference_fields.sort();
    reference_fields.dedup();
    assert_eq!(
        reference_fields,
        ["character_ids", "duration", "prompt", "resolution"]
    );
    assert!(
        spec.validate(&json!({"prompt": "ok", "character_ids": null}))
            .is_empty()
    );
    assert_eq!(spec.validate(&json!({}))[0].kind, "missing");
}

#[tokio::test]
async fn seed_endpoints_from_the_corpus_answer_their_documents_literal_output() {
    let Some(dir) = corpus_docs() else { return };
    let seeds = [
        "fal-ai__pika__v2.2__text-to-video.json",
        "fal-ai__pika__v2.2__image-to-video.json",
        "fal-ai__veo3.1__reference-to-video.json",
        "fal-ai__veo3__fast.json",
        "fal-ai__veo3.1__fast__first-last-frame-to-video.json",
        "fal-ai__sora-2__text-to-video.json",
        "fal-ai__sora-2__image-to-video.json",
        "fal-ai__sora-2__text-to-video__pro.json",
        "fal-ai__sora-2__image-to-video__pro.json",
        "fal-ai__minimax__hailuo-02__standard__text-to-video.json",
        "fal-ai__minimax__hailuo-02__standard__image-to-video.json",
        "fal-ai__hunyuan-image__v3__text-to-image.json",
    ];
    let mut builder = MockServer::builder().queue_steps(0).progress_steps(1);
    let mut docs = Vec::new();
    for seed in seeds {
        builder = builder.schema_file(dir.join(seed)).unwrap();
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join(seed)).unwrap()).unwrap();
        docs.push(doc);
    }
    let server = builder.start().await.unwrap();
    let client = server.client();
    let mut compared = 0;
    for doc in &docs {
        let id = doc["info"]["x-fal-metadata"]["endpointId"]
            .as_str()
            .unwrap();
        let input = literal_input(doc).unwrap_or_else(|| panic!("{id}: no literal input"));
        let out: Value = client
            .subscribe_json(id, Value::Object(input))
            .await
            .unwrap_or_else(|e| panic!("{id}: {e}"));
        // Every output property the document gives an example for answers that example...
        let pointer = output_pointer(doc).unwrap();
        let schema = resolve(doc, &pointer).unwrap();
        let mut here = 0;
        for (name, property) in schema["properties"].as_object().unwrap() {
            if let Some(example) = property.get("examples").and_then(|e| e.get(0)) {
                assert!(
                    out.get(name).is_some_and(|v| same(v, example)),
                    "{id}: `{name}` is {:?}, the document's example is {example}",
                    out.get(name)
                );
                here += 1;
            }
        }
        assert!(
            here > 0,
            "{id}: the document has no output example to compare"
        );
        compared += here;
        // ...and the whole answer satisfies the document's output schema.
        let reference = reference_validator(doc, &pointer).unwrap();
        let errors: Vec<String> = reference.iter_errors(&out).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{id}: the answer breaks the output schema: {errors:?}"
        );
    }
    assert!(compared >= seeds.len());
    assert_eq!(server.count(Operation::Submit), seeds.len());
}
