//! Every `examples` value of the vendored documents deserializes into its generated type and
//! serializes back to the same JSON, and input examples satisfy the JSON Schema that `Input`
//! implements `schemars::JsonSchema` with (what a user hands to an LLM as a tool definition).
//!
//! `every_example_of_every_document_round_trips` is independent of the generator: it reads the
//! documents with serde_json, places each literal example into a whole input or output value,
//! goes through the endpoint's types by the `Endpoint` trait only, and counts its checks against
//! the number of `examples` entries in the documents. The generated checks (written by
//! `cargo xtask regen` into `generated/`) run as well.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use fal_models::Endpoint;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

#[rustfmt::skip]
#[allow(non_snake_case, dead_code)]
#[path = "generated/examples_check.rs"]
mod examples_check;

fn schemas_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// What one endpoint's examples gave.
struct Outcome {
    id: &'static str,
    /// `examples` entries in the document's component schemas, as `Component.field #i`.
    documented: BTreeSet<String>,
    /// The documented examples placed into a whole value and round-tripped.
    checked: BTreeSet<String>,
    failures: Vec<String>,
}

fn resolve<'a>(doc: &'a Value, mut schema: &'a Value) -> Option<&'a Value> {
    for _ in 0..16 {
        match schema.get("$ref").and_then(Value::as_str) {
            Some(target) => schema = doc.pointer(target.strip_prefix('#')?)?,
            None => return Some(schema),
        }
    }
    None
}

/// The component name a property's schema refers to: directly, as array items, or in a union.
fn component_of(property: &Value) -> Option<(&str, bool)> {
    fn name(v: &Value) -> Option<&str> {
        v.get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
    }
    if let Some(n) = name(property) {
        return Some((n, false));
    }
    if let Some(n) = property.get("items").and_then(name) {
        return Some((n, true));
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for branch in property
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(found) = component_of(branch) {
                return Some(found);
            }
        }
    }
    None
}

/// The value made of the schema's literal examples (first entry of each property; a required
/// property without one takes its `default`).
fn literal_object(schema: &Value) -> Result<Map<String, Value>, String> {
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut out = Map::new();
    for (name, property) in schema["properties"].as_object().into_iter().flatten() {
        match property.get("examples").and_then(|e| e.get(0)).or_else(|| {
            required
                .contains(&name.as_str())
                .then(|| property.get("default"))
                .flatten()
        }) {
            Some(value) => {
                out.insert(name.clone(), value.clone());
            }
            // A required field the document gives no value for: the plainest value of its type
            // (the examples are what is under test, this only completes the value).
            None if required.contains(&name.as_str()) => {
                let filler = match property.get("type").and_then(Value::as_str) {
                    Some("integer" | "number") => json!(0),
                    Some("string") => json!(""),
                    Some("boolean") => json!(false),
                    Some("array") => json!([]),
                    _ => {
                        return Err(format!(
                            "required `{name}` has neither an example nor a default"
                        ));
                    }
                };
                out.insert(name.clone(), filler);
            }
            None => {}
        }
    }
    Ok(out)
}

/// JSON equality as a round trip must keep it: numbers by value, `null` members dropped.
fn normalize(v: &Value) -> Value {
    match v {
        Value::Number(n) => n.as_f64().map(Value::from).unwrap_or_else(|| v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Deserializes `value` into `T` and serializes it back; `Err` says what differed.
fn round_trip<T: DeserializeOwned + Serialize>(value: &Value) -> Result<(), String> {
    let typed: T =
        serde_json::from_value(value.clone()).map_err(|e| format!("does not deserialize: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| format!("does not serialize: {e}"))?;
    if normalize(value) == normalize(&back) {
        Ok(())
    } else {
        Err(format!(
            "the round trip changed the value: {value} -> {back}"
        ))
    }
}

/// Every way to put one documented example into a whole value of the root schema:
/// (`Component.field #i`, label, value). Examples of a component the root's properties use are put inside that
/// property (in its first element for a list).
fn placements(
    doc: &Value,
    root: &Value,
    root_name: &str,
) -> Result<Vec<(String, String, Value)>, String> {
    let base = literal_object(root)?;
    let mut out = Vec::new();
    let properties = root["properties"].as_object().cloned().unwrap_or_default();
    for (name, property) in &properties {
        for (i, example) in property
            .get("examples")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let mut value = base.clone();
            value.insert(name.clone(), example.clone());
            out.push((
                format!("{root_name}.{name} #{i}"),
                format!("{root_name}.{name} #{i}"),
                Value::Object(value),
            ));
        }
        let Some((component, in_list)) = component_of(property) else {
            continue;
        };
        let schema = &doc["components"]["schemas"][component];
        // The property's own value, or (an optional property without an example) a value
        // built from the component's literal examples, so its examples are checked too.
        let holder = match base.get(name) {
            Some(holder) => holder.clone(),
            None => {
                let built = Value::Object(literal_object(schema)?);
                if in_list {
                    Value::Array(vec![built])
                } else {
                    built
                }
            }
        };
        for (field, sub) in schema["properties"].as_object().into_iter().flatten() {
            for (i, example) in sub
                .get("examples")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                let mut value = base.clone();
                let mut inner = holder.clone();
                let target = if in_list {
                    inner.get_mut(0)
                } else {
                    Some(&mut inner)
                };
                match target.and_then(Value::as_object_mut) {
                    Some(object) => {
                        object.insert(field.clone(), example.clone());
                    }
                    None => continue,
                }
                value.insert(name.clone(), inner);
                out.push((
                    format!("{component}.{field} #{i}"),
                    format!("{component}.{field} #{i} (in {root_name}.{name})"),
                    Value::Object(value),
                ));
            }
        }
    }
    Ok(out)
}

/// The component schemas reachable by `$ref` from the document's paths.
fn reachable_components(doc: &Value) -> BTreeSet<String> {
    fn refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                if let Some(name) = map
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix("#/components/schemas/"))
                {
                    out.push(name.to_owned());
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let mut pending = Vec::new();
    refs(&doc["paths"], &mut pending);
    let mut seen = BTreeSet::new();
    while let Some(name) = pending.pop() {
        if seen.insert(name.clone()) {
            refs(&doc["components"]["schemas"][&name], &mut pending);
        }
    }
    seen
}

fn check_endpoint<I>() -> Outcome
where
    I: Endpoint + DeserializeOwned + schemars::JsonSchema,
    I::Output: Serialize,
{
    let id = I::ENDPOINT_ID;
    let mut outcome = Outcome {
        id,
        documented: BTreeSet::new(),
        checked: BTreeSet::new(),
        failures: Vec::new(),
    };
    let path = schemas_dir().join(format!("{id}.json"));
    let doc: Value = serde_json::from_str(
        &std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())),
    )
    .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        doc["info"]["x-fal-metadata"]["endpointId"],
        id,
        "{}",
        path.display()
    );

    // How many examples the document has: each one must be checked below. Components that
    // neither the input nor the output reaches (fal's documents carry some) are not part of
    // the endpoint's types.
    let reachable = reachable_components(&doc);
    for (component, schema) in doc["components"]["schemas"].as_object().unwrap() {
        if !reachable.contains(component.as_str()) {
            continue;
        }
        for (field, property) in schema["properties"].as_object().into_iter().flatten() {
            let n = property
                .get("examples")
                .and_then(Value::as_array)
                .map_or(0, Vec::len);
            outcome
                .documented
                .extend((0..n).map(|i| format!("{component}.{field} #{i}")));
        }
    }
    let paths = doc["paths"].as_object().unwrap();
    let input = paths[&format!("/{id}")]
        .pointer("/post/requestBody/content/application~1json/schema")
        .unwrap();
    let output = paths[&format!("/{id}/requests/{{request_id}}")]
        .pointer("/get/responses/200/content/application~1json/schema")
        .unwrap();
    let name = |schema: &Value| {
        schema["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .unwrap_or("(inline)")
            .to_owned()
    };
    let (input_name, output_name) = (name(input), name(output));
    let (input, output) = (
        resolve(&doc, input).unwrap(),
        resolve(&doc, output).unwrap(),
    );

    // The schema `Input` hands out describes the document's input properties and accepts
    // every input below.
    let derived = serde_json::to_value(schemars::schema_for!(I)).unwrap();
    let derived_properties: BTreeSet<&String> = derived["properties"]
        .as_object()
        .map(|p| p.keys().collect())
        .unwrap_or_default();
    let document_properties: BTreeSet<&String> =
        input["properties"].as_object().unwrap().keys().collect();
    if derived_properties != document_properties {
        outcome.failures.push(format!(
            "{id}: JsonSchema properties {derived_properties:?}, document {document_properties:?}"
        ));
    }
    let derived = jsonschema::validator_for(&derived).expect("the derived schema compiles");
    if derived.is_valid(&json!({}))
        && input
            .get("required")
            .is_some_and(|r| r.as_array().is_some_and(|r| !r.is_empty()))
    {
        outcome.failures.push(format!(
            "{id}: the derived JSON Schema accepts an input without its required fields"
        ));
    }

    for (root, root_name, is_input) in [(input, &input_name, true), (output, &output_name, false)] {
        let placed = match placements(&doc, root, root_name) {
            Ok(p) => p,
            Err(e) => {
                outcome.failures.push(format!("{id} {root_name}: {e}"));
                continue;
            }
        };
        for (key, label, value) in placed {
            outcome.checked.insert(key);
            let result = if is_input {
                round_trip::<I>(&value).and_then(|()| {
                    let errors: Vec<String> = derived
                        .iter_errors(&value)
                        .map(|e| format!("{e} at `{}`", e.instance_path()))
                        .collect();
                    if errors.is_empty() {
                        Ok(())
                    } else {
                        Err(format!(
                            "the derived JSON Schema rejects it: {}",
                            errors.join("; ")
                        ))
                    }
                })
            } else {
                round_trip::<I::Output>(&value)
            };
            if let Err(e) = result {
                outcome.failures.push(format!("{id} {label}: {e}"));
            }
        }
    }
    outcome
}

/// The seed endpoints, named by module path (= endpoint id), never by generated type name.
macro_rules! check_endpoints {
    ($($($segment:ident)::+),* $(,)?) => {
        vec![$(check_endpoint::<fal_models::$($segment)::+::Input>()),*]
    };
}

#[test]
fn every_example_of_every_document_round_trips() {
    let outcomes = check_endpoints![
        fal_ai::hunyuan_image::v3::text_to_image,
        fal_ai::minimax::hailuo_02::standard::image_to_video,
        fal_ai::minimax::hailuo_02::standard::text_to_video,
        fal_ai::pika::v2_2::image_to_video,
        fal_ai::pika::v2_2::text_to_video,
        fal_ai::sora_2::image_to_video,
        fal_ai::sora_2::image_to_video::pro,
        fal_ai::sora_2::text_to_video,
        fal_ai::sora_2::text_to_video::pro,
        fal_ai::veo3::fast,
        fal_ai::veo3_1::fast::first_last_frame_to_video,
        fal_ai::veo3_1::reference_to_video,
    ];
    let mut failures = Vec::new();
    for o in &outcomes {
        failures.extend(o.failures.iter().cloned());
        let unchecked: Vec<&String> = o.documented.difference(&o.checked).collect();
        if !unchecked.is_empty() || o.documented.len() != o.checked.len() {
            failures.push(format!(
                "{}: documented examples not checked: {unchecked:?}; checked {:?}",
                o.id, o.checked
            ));
        }
    }
    // The seed endpoints are checked here by hand-picked module path; the whole catalogue is
    // covered by the generated checks below (`every_generated_check_passes`), which classify a
    // failure against the document's own schema. Each endpoint listed must be vendored.
    let listed: BTreeSet<&str> = outcomes.iter().map(|o| o.id).collect();
    let mut vendored = BTreeSet::new();
    let mut stack = vec![schemas_dir()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "json") {
                let id = path.strip_prefix(schemas_dir()).unwrap().with_extension("");
                vendored.insert(id.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let vendored: BTreeSet<&str> = vendored.iter().map(String::as_str).collect();
    let missing: Vec<&&str> = listed.difference(&vendored).collect();
    assert!(
        missing.is_empty(),
        "endpoints checked here but not vendored: {missing:?}"
    );
    let (documented, checked): (usize, usize) = outcomes.iter().fold((0, 0), |(d, c), o| {
        (d + o.documented.len(), c + o.checked.len())
    });
    println!(
        "{checked} of {documented} documented examples round-tripped through their endpoint's types ({} failures)",
        failures.len()
    );
    assert!(documented > 0, "the vendored documents carry examples");
    assert!(
        failures.is_empty(),
        "examples that do not round-trip:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_round_trip_check_can_fail() {
    use fal_models::fal_ai::sora_2::text_to_video::Input;
    assert!(
        round_trip::<Input>(&json!({"prompt": 5})).is_err(),
        "wrong type"
    );
    assert!(
        round_trip::<Input>(&json!({"duration": 8})).is_err(),
        "required field missing"
    );
    assert!(round_trip::<Input>(&json!({"prompt": "a cat", "duration": 8})).is_ok());
    // Inputs keep fields the bindings do not declare (`extra`), so they round-trip...
    assert!(round_trip::<Input>(&json!({"prompt": "a cat", "not_a_field": 1})).is_ok());
    // ...while outputs ignore them: a field the type drops is a changed value.
    let output =
        json!({"video": {"url": "https://example.com/v.mp4"}, "video_id": "v", "not_a_field": 1});
    assert!(round_trip::<<Input as Endpoint>::Output>(&output).is_err());
}

#[test]
fn every_generated_check_passes() {
    let results = examples_check::all();
    let failures: Vec<(&str, String)> = results
        .iter()
        .filter_map(|(label, r)| r.as_ref().err().map(|e| (*label, e.clone())))
        .collect();
    // An example that its own document's schema rejects is the document's fault (fal's real
    // documents have some); every other failure is the generator's.
    let (document_faults, ours): (Vec<_>, Vec<_>) = failures
        .iter()
        .partition(|(label, _)| document_rejects(label));
    println!(
        "{} examples round-tripped, {} failed: {} rejected by their own document's schema (document faults), {} generator faults",
        results.len() - failures.len(),
        failures.len(),
        document_faults.len(),
        ours.len()
    );
    for (label, e) in &document_faults {
        println!("  document fault: {label}: {e}");
    }
    // Every generated check ran (none lost to a feature gate or an emptied module), and the
    // checks are not all bare primitives: whole objects ("property examples together",
    // through the type and its derived JSON Schema) are a fair share of them.
    let generated = include_str!("generated/examples_check.rs")
        .lines()
        .filter(|l| l.trim_start().starts_with("(\"") && l.contains("\", check"))
        .count();
    assert!(generated > 1000, "{generated} checks generated");
    if cfg!(feature = "all-models") {
        assert_eq!(results.len(), generated, "every generated check ran");
    }
    let whole_objects = results
        .iter()
        .filter(|(label, r)| label.ends_with("(property examples together)") && r.is_ok())
        .count();
    assert!(
        whole_objects * 10 >= results.len(),
        "only {whole_objects} of {} checks round-tripped a whole object",
        results.len()
    );
    let ours: Vec<String> = ours.iter().map(|(l, e)| format!("{l}: {e}")).collect();
    assert!(
        ours.is_empty(),
        "examples that do not round-trip though their document accepts them:\n{}",
        ours.join("\n")
    );
}

/// Whether the document of `label` (`<endpoint id> <Type>.<property> #<n>`, or
/// `<endpoint id> <Type> (property examples together)`) rejects that example with its own
/// schema: the property's schema (references resolved in the document) does not accept
/// `examples[n]`; for the combined example, some property example of the type is rejected.
fn document_rejects(label: &str) -> bool {
    let Some((id, rest)) = label.split_once(' ') else {
        return false;
    };
    let path = format!("{}/../schemas/{id}.json", env!("CARGO_MANIFEST_DIR"));
    let Ok(text) = std::fs::read_to_string(&path) else {
        return false;
    };
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) else {
        return false;
    };
    let (type_name, property, index) = match rest.split_once('.') {
        Some((t, p)) => match p.rsplit_once(" #") {
            Some((prop, n)) => (t, Some(prop), n.parse::<usize>().ok()),
            None => return false,
        },
        None => (rest.split(' ').next().unwrap_or(rest), None, None),
    };
    let Some(schemas) = doc
        .pointer("/components/schemas")
        .and_then(|s| s.as_object())
    else {
        return false;
    };
    // Only the schemas the label's type can come from: the endpoint's own input or output
    // schema for `Input` and `Output`, else those named like the type (`LoraWeight` is
    // `LoraWeight` or `<Prefix>LoraWeight`); another schema's property of the same name is not
    // this example's.
    let own = own_schemas(&doc, type_name, schemas);
    for (name, schema) in schemas.iter().filter(|(n, _)| own.contains(n.as_str())) {
        let Some(props) = schema.get("properties").and_then(|p| p.as_object()) else {
            continue;
        };
        for (prop, prop_schema) in props {
            if property.is_some_and(|p| p != prop) {
                continue;
            }
            let Some(examples) = prop_schema.get("examples").and_then(|e| e.as_array()) else {
                continue;
            };
            for (i, example) in examples.iter().enumerate() {
                if index.is_some_and(|n| n != i) {
                    continue;
                }
                let pointer = format!(
                    "#/components/schemas/{}/properties/{}",
                    escape(name),
                    escape(prop)
                );
                // OpenAPI 3.0's `nullable: true` (which JSON Schema does not know) accepts null.
                if example.is_null()
                    && prop_schema.get("nullable").and_then(|n| n.as_bool()) == Some(true)
                {
                    continue;
                }
                let mut root = doc.clone();
                root["$ref"] = serde_json::Value::String(pointer);
                if jsonschema::validator_for(&root).is_ok_and(|v| !v.is_valid(example)) {
                    return true;
                }
            }
        }
    }
    false
}

/// The names of the schemas of `doc` that the generated type `type_name` can come from.
fn own_schemas<'a>(
    doc: &'a serde_json::Value,
    type_name: &str,
    schemas: &'a serde_json::Map<String, serde_json::Value>,
) -> std::collections::BTreeSet<&'a str> {
    let referenced = |schema: Option<&'a serde_json::Value>| {
        schema
            .and_then(|s| s.get("$ref"))
            .and_then(|r| r.as_str())
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
    };
    let paths = doc.get("paths").and_then(|p| p.as_object());
    let endpoint = |request: bool| {
        paths.into_iter().flatten().find_map(|(path, item)| {
            if request && !path.contains("/requests/") {
                referenced(item.pointer("/post/requestBody/content/application~1json/schema"))
            } else if !request && path.ends_with("/requests/{request_id}") {
                referenced(item.pointer("/get/responses/200/content/application~1json/schema"))
            } else {
                None
            }
        })
    };
    let own = match type_name {
        "Input" => endpoint(true),
        "Output" => endpoint(false),
        _ => None,
    };
    let mut names: std::collections::BTreeSet<&str> = own.into_iter().collect();
    if names.is_empty() {
        names.extend(
            schemas
                .keys()
                .filter(|n| n.as_str() == type_name || n.ends_with(type_name))
                .map(String::as_str),
        );
    }
    if names.is_empty() {
        // A type named from where it is used (`InputLorasItem`): no schema carries its name.
        names.extend(schemas.keys().map(String::as_str));
    }
    names
}

fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[test]
fn a_value_of_the_wrong_shape_is_caught() {
    // The generated checker itself must be able to fail.
    let err = examples_check::check::<fal_models::fal_ai::sora_2::text_to_video::Input>(
        r#"{"prompt": 5}"#,
    );
    assert!(err.is_err());
    let err = examples_check::check_with_schema::<fal_models::fal_ai::sora_2::text_to_video::Input>(
        r#"{"prompt": "a cat", "duration": 8, "aspect_ratio": "16:9"}"#,
    );
    assert!(err.is_ok(), "{err:?}");
    let err = examples_check::check_with_schema::<fal_models::fal_ai::sora_2::text_to_video::Input>(
        r#"{"prompt": "a cat", "duration": 7}"#,
    );
    let err = err.unwrap_err();
    assert!(
        err.contains("JSON Schema rejects"),
        "an unlisted duration is rejected by the input schema: {err}"
    );
}
