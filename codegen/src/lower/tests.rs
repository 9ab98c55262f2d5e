use serde_json::{Value, json};

use fal_schema::model::{Endpoint, Kind, Scalar, Schema};

use super::lower_document;
use crate::ir::{Api, Ty, TypeKind};

/// An input with a property merged from two `allOf` members that both declare `x`, the later
/// one also `y`: a `$ref` to a component whose name holds a `/`.
fn document() -> Value {
    with_components(json!({
        "Input": {"type": "object", "properties": {"merged": {"allOf": [
            {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]},
            {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"$ref": "#/components/schemas/A~1B"}}}
        ]}}},
        "A/B": {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    }))
}

/// The endpoint `acme/app` whose input is the component `Input` of `schemas`.
fn with_components(schemas: Value) -> Value {
    json!({
        "info": {"x-fal-metadata": {"endpointId": "acme/app"}},
        "paths": {
            "/acme/app": {"post": {"requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Input"}}}}}},
            "/acme/app/requests/{request_id}": {"get": {"responses": {"200": {"content": {
                "application/json": {"schema": {"type": "object", "properties": {"ok": {"type": "boolean"}}}}}}}}}
        },
        "components": {"schemas": schemas}
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

/// Where the model and the generator read one schema object differently before both read it
/// through `fal_schema::node`: a schema with `items` and `additionalProperties` but no `type`
/// (the generator took an array, the model a map); `required` holding a non-string (the
/// generator took the names, the model none); an `anyOf` branch `const: null` (the generator
/// took it for "or null", the model for an enum of one mixed value).
#[test]
fn the_readers_agree_where_they_used_to_part() {
    let doc = with_components(json!({"Input": {
        "type": "object",
        "properties": {
            "implied": {"items": {"type": "integer"}, "additionalProperties": {"type": "string"}},
            "nested": {"type": "object", "required": ["a", 3], "properties": {"a": {"type": "string"}}},
            "maybe": {"anyOf": [{"type": "string"}, {"const": null}]}
        }
    }}));
    let mut api = Api::default();
    lower_document(&mut api, "t.json", &doc, &mut Vec::new()).expect("a fal document");
    let model = Endpoint::read(&doc).input.expect("an input");
    let mut found = Vec::new();
    agree(
        &api,
        &Ty::Named(api.endpoints[0].input),
        &model,
        0,
        &mut found,
    );
    assert!(found.is_empty(), "{found:?}");
    let Kind::Object(input) = &model.kind else {
        panic!("{model:?}")
    };
    assert!(matches!(
        input.properties["implied"].schema.kind,
        Kind::Array(_)
    ));
    let Kind::Object(nested) = &input.properties["nested"].schema.kind else {
        panic!("{input:?}")
    };
    assert!(nested.properties["a"].required);
    assert!(input.properties["maybe"].schema.nullable);
    assert_eq!(input.properties["maybe"].schema.kind, Kind::String);
}

/// Over every vendored document: the generator and the model agree on the input and the
/// output, down through fields, list items and map values (which fields there are, which are
/// required, which accept `null`, and the shape of each).
#[test]
fn the_readers_agree_on_the_types_of_the_vendored_documents() {
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
        let read = Endpoint::read(&doc);
        let roots = [
            (api.endpoints[0].input, read.input),
            (api.endpoints[0].output, read.output),
        ];
        for (ours, theirs) in roots {
            let Some(theirs) = theirs else {
                continue;
            };
            let mut found = Vec::new();
            agree(&api, &Ty::Named(ours), &theirs, 0, &mut found);
            disagreements.extend(
                found
                    .into_iter()
                    .map(|d| format!("{}: {d}", path.display())),
            );
            checked += 1;
        }
    }
    assert!(checked > 2000, "{checked} inputs and outputs");
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// Compares a lowered type with the model's schema of the same spot.
fn agree(api: &Api, ours: &Ty, theirs: &Schema, depth: usize, found: &mut Vec<String>) {
    let (a, b) = (our_shape(api, ours), their_shape(&theirs.kind));
    if a != b {
        found.push(format!("{}: {a} != {b}", theirs.pointer));
        return;
    }
    if depth > 8 {
        return;
    }
    let ours = match ours {
        Ty::Optional(inner) => inner,
        other => other,
    };
    match (ours, &theirs.kind) {
        (Ty::Named(r), Kind::Object(model)) => {
            let fields = match &api.ty(*r).kind {
                TypeKind::Struct { fields } => fields,
                // An inline input object is wrapped (`Input(InputObject)`): compare what it holds.
                TypeKind::Newtype(inner) | TypeKind::Alias(inner) => {
                    return agree(api, inner, theirs, depth, found);
                }
                _ => return,
            };
            let mut names: Vec<&str> = fields.iter().map(|f| f.wire.as_str()).collect();
            names.sort();
            if !names
                .iter()
                .copied()
                .eq(model.properties.keys().map(String::as_str))
            {
                found.push(format!("{}: fields {names:?}", theirs.pointer));
                return;
            }
            for f in fields {
                let p = &model.properties[&f.wire];
                if (f.required, f.nullable) != (p.required, p.schema.nullable) {
                    found.push(format!("{}: required, nullable", p.schema.pointer));
                }
                agree(api, &f.ty, &p.schema, depth + 1, found);
            }
        }
        (Ty::Array(item), Kind::Array(items)) | (Ty::Map(item), Kind::Map(items)) => {
            // A nullable item is an `Option`, but a nullable JSON value is just a JSON value.
            let optional = matches!(**item, Ty::Optional(_));
            if optional != items.nullable && !matches!(**item, Ty::Any(_)) {
                found.push(format!("{}: nullable items", items.pointer));
            }
            agree(api, item, items, depth + 1, found);
        }
        _ => {}
    }
}

/// A coarse shape of a type: what a value on the wire is.
fn our_shape(api: &Api, ty: &Ty) -> &'static str {
    match ty {
        Ty::String | Ty::Bytes => "string",
        Ty::Integer => "integer",
        Ty::Number => "number",
        Ty::Boolean => "boolean",
        Ty::Any(_) => "any",
        Ty::Array(_) => "array",
        Ty::Map(_) => "map",
        Ty::Optional(inner) => our_shape(api, inner),
        Ty::Named(r) => match &api.ty(*r).kind {
            TypeKind::Struct { .. } => "object",
            TypeKind::StrEnum { .. } | TypeKind::IntEnum { .. } => "enum",
            TypeKind::Union { .. } => "union",
            TypeKind::Alias(t) | TypeKind::Newtype(t) => our_shape(api, t),
        },
    }
}

/// The same shape of a model's schema. A union of string enums and strings is an open enum, as
/// the generator types it (the open enum keeps any string).
fn their_shape(kind: &Kind) -> &'static str {
    match kind {
        Kind::Any | Kind::Null | Kind::Enum(Scalar::Mixed, _) => "any",
        Kind::Bool | Kind::Enum(Scalar::Bool, _) => "boolean",
        Kind::Integer => "integer",
        Kind::Number | Kind::Enum(Scalar::Number, _) => "number",
        Kind::String => "string",
        Kind::Enum(..) => "enum",
        Kind::Array(_) | Kind::Tuple(_) => "array",
        Kind::Map(_) => "map",
        Kind::Object(o) if o.properties.is_empty() => "map",
        Kind::Object(_) | Kind::Recursive(_) => "object",
        Kind::Union(members)
            if members
                .iter()
                .all(|m| matches!(m.kind, Kind::String | Kind::Enum(Scalar::String, _))) =>
        {
            "enum"
        }
        Kind::Union(_) => "union",
    }
}
