use serde_json::{Value, json};

use fal_schema::model::{Endpoint, Kind};

use super::lower_document;
use crate::ir::{Api, Ty, TypeKind};

/// An input with a property merged from two `allOf` members that both declare `x`, the later
/// one also `y`: a `$ref` to a component whose name holds a `/`.
fn document() -> Value {
    json!({
        "info": {"x-fal-metadata": {"endpointId": "acme/app"}},
        "paths": {
            "/acme/app": {"post": {"requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Input"}}}}}},
            "/acme/app/requests/{request_id}": {"get": {"responses": {"200": {"content": {
                "application/json": {"schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}}}}}}
        },
        "components": {"schemas": {
            "Input": {"type": "object", "properties": {"merged": {"allOf": [
                {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]},
                {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"$ref": "#/components/schemas/A~1B"}}}
            ]}}},
            "A/B": {"type": "object", "properties": {"ok": {"type": "boolean"}}}
        }}
    })
}

/// The generator, the model (what `cargo xtask diff` compares) and the JSON Schema export read
/// a document alike: a property two `allOf` members declare is the later one's (the model took
/// the first), and `#/components/schemas/A~1B` is the component `A/B` (the generator and the
/// export took it for a dangling reference).
#[test]
fn the_readers_agree_on_merged_properties_and_escaped_refs() {
    let doc = document();
    let mut api = Api::default();
    let mut diags = Vec::new();
    lower_document(&mut api, "t.json", &doc, &mut diags).expect("a fal document");
    assert!(diags.is_empty(), "{diags:?}");
    let struct_fields = |ty: &Ty| match ty {
        Ty::Named(r) => match &api.ty(*r).kind {
            TypeKind::Struct { fields } => fields.clone(),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    };
    let input = struct_fields(&Ty::Named(api.endpoints[0].input));
    let merged = struct_fields(&input[0].ty);
    assert_eq!(
        (merged[0].wire.as_str(), &merged[0].ty),
        ("x", &Ty::Integer)
    );
    assert!(merged[0].required);
    assert_eq!(struct_fields(&merged[1].ty)[0].wire, "ok");

    let model = Endpoint::read(&doc).input.expect("an input");
    let Kind::Object(input) = &model.kind else {
        panic!("{model:?}")
    };
    let Kind::Object(merged) = &input.properties["merged"].schema.kind else {
        panic!("{input:?}")
    };
    assert_eq!(merged.properties["x"].schema.kind, Kind::Integer);
    assert!(merged.properties["x"].required);
    let y = &merged.properties["y"].schema;
    assert_eq!(y.type_name.as_deref(), Some("A/B"));

    let exported: Value = serde_json::from_str(&api.endpoints[0].input_schema).expect("JSON");
    assert_eq!(
        exported.pointer("/properties/merged/allOf/1/properties/y/properties/ok/type"),
        Some(&json!("boolean"))
    );
}

/// Over every vendored document: the generator and the model agree on the input's fields (which
/// there are, which are required, which accept `null`).
#[test]
fn the_readers_agree_on_the_input_fields_of_the_vendored_documents() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let mut files = vec![root];
    let mut checked = 0;
    let mut disagreements = Vec::new();
    while let Some(path) = files.pop() {
        if path.is_dir() {
            files.extend(
                std::fs::read_dir(&path)
                    .expect("a folder")
                    .map(|e| e.expect("an entry").path()),
            );
            continue;
        }
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("readable")).expect("JSON");
        let mut api = Api::default();
        if lower_document(&mut api, "t.json", &doc, &mut Vec::new()).is_err() {
            continue;
        }
        let TypeKind::Struct { fields } = &api.ty(api.endpoints[0].input).kind else {
            continue;
        };
        let Some(Kind::Object(model)) = Endpoint::read(&doc).input.map(|s| s.kind) else {
            disagreements.push(format!("{}: the model reads no object", path.display()));
            continue;
        };
        let ours: Vec<(&str, bool, bool)> = fields
            .iter()
            .map(|f| (f.wire.as_str(), f.required, f.nullable))
            .collect();
        let mut theirs: Vec<(&str, bool, bool)> = model
            .properties
            .iter()
            .map(|(k, p)| (k.as_str(), p.required, p.schema.nullable))
            .collect();
        let mut sorted = ours.clone();
        sorted.sort();
        theirs.sort();
        if sorted != theirs {
            disagreements.push(format!("{}: {sorted:?} != {theirs:?}", path.display()));
        }
        checked += 1;
    }
    assert!(checked > 1000, "{checked} inputs");
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
