//! The mock's own validator (fal's 422 shape, pydantic's messages) against the `jsonschema`
//! crate as an oracle: on every vendored document, both reach the same verdict on the example
//! input and on inputs broken one field at a time, and blame the same field.

use fal_models::mock::EndpointSpec;
use std::collections::BTreeSet;

use serde_json::{Value, json};

/// The twelve seed documents (the list `conformance/run.sh` serves to fal's own clients). The
/// whole catalogue is compared with an independent validator in `client_corpus.rs`.
fn documents() -> Vec<Value> {
    let root = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    let list = std::fs::read_to_string(root.join("conformance/endpoints.txt")).unwrap();
    let documents: Vec<Value> = list
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|id| {
            let text = std::fs::read_to_string(root.join(format!("schemas/{id}.json")))
                .unwrap_or_else(|e| panic!("seed document {id}: {e}"));
            serde_json::from_str(&text).unwrap()
        })
        .collect();
    assert_eq!(documents.len(), 12, "the twelve seed endpoints");
    documents
}

/// The example input, and copies with one field broken: a wrong type, a missing required
/// field, an unknown enum value, a number far out of range.
fn cases(example: &Value) -> Vec<Value> {
    let mut cases = vec![example.clone()];
    let fields = example.as_object().unwrap();
    for (name, value) in fields {
        let mut wrong_type = example.clone();
        wrong_type[name] = if value.is_string() {
            json!(12345)
        } else {
            json!({"x": 1})
        };
        cases.push(wrong_type);
        let mut missing = example.clone();
        missing.as_object_mut().unwrap().remove(name);
        cases.push(missing);
        if value.is_string() {
            let mut bad = example.clone();
            bad[name] = json!("no-such-value-xyz");
            cases.push(bad);
        }
        if value.is_number() {
            let mut bad = example.clone();
            bad[name] = json!(-99999);
            cases.push(bad);
        }
    }
    cases
}

#[test]
fn the_mocks_validator_agrees_with_jsonschema_on_every_seed_document() {
    let (mut checked, mut rejected) = (0, 0);
    for document in documents() {
        let spec = EndpointSpec::from_document(document.clone()).unwrap();
        let input = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .find_map(|item| item.pointer("/post/requestBody/content/application~1json/schema"))
            .unwrap()
            .clone();
        // The document is the root, so `#/components/...` references resolve.
        let mut root = document.clone();
        root.as_object_mut().unwrap().remove("paths");
        root["$ref"] = input["$ref"].clone();
        let oracle = jsonschema::validator_for(&root).unwrap();
        for case in cases(&spec.example_input()) {
            let ours: Vec<String> = spec.validate(&case).iter().map(|e| e.field()).collect();
            // Sets: JSON Schema reports a wrong type and a wrong enum value both, pydantic one.
            let theirs: BTreeSet<String> = oracle
                .iter_errors(&case)
                .map(|e| {
                    let path = e.instance_path().to_string();
                    match path.trim_start_matches('/').split('/').next() {
                        Some(field) if !field.is_empty() => field.to_owned(),
                        // `required` is reported at the object: name the missing property.
                        _ => e.to_string().split('"').nth(1).unwrap_or("").to_owned(),
                    }
                })
                .collect();
            let top: BTreeSet<String> = ours
                .iter()
                .map(|f| f.split('.').next().unwrap().to_owned())
                .collect();
            assert_eq!(top, theirs, "{}: {case}", spec.endpoint_id());
            checked += 1;
            rejected += usize::from(!ours.is_empty());
        }
    }
    assert!(
        checked > 100 && rejected > 50,
        "{checked} cases, {rejected} rejected"
    );
}

/// The mock took the first POST path of a document (and the first result path), the generator
/// the first POST path not under `/requests/`, the diff exactly `/{id}`: a document listing
/// another path first gave the mock another input and output than the generated types. All
/// three now read fal-schema's `locate`: the body of `POST /{id}`, the answer of
/// `GET /{id}/requests/{request_id}`.
#[test]
fn the_mock_reads_the_input_and_output_of_the_endpoint_id_path() {
    let body = |required: &str| {
        json!({"requestBody": {"content": {"application/json": {"schema": {
            "type": "object",
            "properties": {required: {"type": "string"}},
            "required": [required]
        }}}}})
    };
    let answer = |key: &str| {
        json!({"responses": {"200": {"content": {"application/json": {"schema": {
            "type": "object",
            "properties": {key: {"type": "string", "examples": [key]}},
            "required": [key]
        }}}}}})
    };
    let document = json!({
        "info": {"x-fal-metadata": {"endpointId": "acme/app"}},
        "paths": {
            "/acme/aaa": {"post": body("other_input")},
            "/acme/aaa/requests/{request_id}": {"get": answer("other_output")},
            "/acme/app": {"post": body("prompt")},
            "/acme/app/requests/{request_id}": {"get": answer("video")},
        }
    });
    let spec = EndpointSpec::from_document(document).unwrap();
    assert_eq!(spec.endpoint_id(), "acme/app");
    assert!(spec.validate(&json!({"prompt": "hi"})).is_empty());
    let errors = spec.validate(&json!({"other_input": "hi"}));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(format!("{errors:?}").contains("prompt"), "{errors:?}");
    let output = spec.example_output();
    assert!(output.get("video").is_some(), "{output}");
    assert!(output.get("other_output").is_none(), "{output}");
}
