use serde_json::json;

use super::*;

fn doc(paths: Value) -> Value {
    json!({"info": {"x-fal-metadata": {"endpointId": "acme/app/sub"}}, "paths": paths})
}

fn body(tag: &str) -> Value {
    json!({"requestBody": {"content": {"application/json": {"schema": {"title": tag}}}}})
}

fn answer(tag: &str) -> Value {
    json!({"responses": {"200": {"content": {"application/json": {"schema": {"title": tag}}}}}})
}

/// The mock took the first POST path, the generator the first not under `/requests/`, the
/// diff exactly `/{id}`: a document listing a POST under `/requests/` (or another app's path)
/// first made them read different inputs. All now read `POST /{id}`.
#[test]
fn the_input_is_the_post_body_of_exactly_the_endpoint_id_path() {
    let d = doc(json!({
        // Listed (and sorted) before the endpoint's own paths.
        "/acme/aaa": {"post": body("other")},
        "/acme/aaa/requests/{request_id}": {"get": answer("other")},
        "/acme/app/requests/{request_id}/cancel": {"post": body("cancel")},
        "/acme/app/sub": {"post": body("input")},
        "/acme/app/sub/requests/{request_id}": {"get": answer("output")},
    }));
    let at = locate(&d).unwrap();
    assert_eq!(at.id, "acme/app/sub");
    assert_eq!(at.submit_path, Some("/acme/app/sub"));
    assert_eq!(at.input.unwrap()["title"], "input");
    assert_eq!(at.output.unwrap()["title"], "output");
    assert_eq!(
        at.input_pointer,
        "/paths/~1acme~1app~1sub/post/requestBody/content/application~1json/schema"
    );
}

#[test]
fn without_the_endpoint_id_path_the_one_submit_path_is_taken() {
    let d = doc(json!({
        "/acme/app/sub/requests/{request_id}/cancel": {"post": body("cancel")},
        "/acme/alias": {"post": body("input")},
        "/acme/alias/requests/{request_id}": {"get": answer("output")},
    }));
    let at = locate(&d).unwrap();
    assert_eq!(at.id, "acme/app/sub");
    assert_eq!(at.submit_path, Some("/acme/alias"));
    assert_eq!(at.input.unwrap()["title"], "input");
    assert_eq!(at.output.unwrap()["title"], "output");
    // No submit operation at all: nothing is guessed.
    let d = doc(json!({"/acme/app/sub/requests/{request_id}/cancel": {"post": body("cancel")}}));
    let at = locate(&d).unwrap();
    assert_eq!(at.submit_path, None);
    assert!(at.input.is_none() && at.output.is_none());
    assert_eq!(
        at.output_pointer,
        "/paths/~1acme~1app~1sub~1requests~1{request_id}/get/responses/200/content/application~1json/schema"
    );
}

#[test]
fn without_metadata_the_id_is_the_one_submit_path() {
    let d = json!({"paths": {
        "/acme/app/requests/{request_id}/cancel": {"post": body("cancel")},
        "/acme/app": {"post": body("input")},
        "/acme/app/requests/{request_id}": {"get": answer("output")},
    }});
    let at = locate(&d).unwrap();
    assert_eq!(at.id, "acme/app");
    assert_eq!(at.input.unwrap()["title"], "input");
    assert_eq!(at.output.unwrap()["title"], "output");
    assert!(locate(&json!({"paths": {}})).is_err());
    assert!(locate(&json!(3)).is_err());
}

/// The generator redacted `openai_apikey` and `format: password` fields in `Debug`; the
/// client's scrubber knew neither. One rule now: the name rule for untyped values, the name or
/// the schema for typed ones (listed in `Endpoint::SECRET_FIELDS`).
#[test]
fn secret_fields_by_name_and_by_schema() {
    for name in [
        "api_key",
        "API_KEY",
        "openai_api_key",
        "openai_apikey",
        "apikey",
        "token",
        "hf_token",
        "password",
        "db_password",
        "client_secret",
        "secret",
    ] {
        assert!(is_secret_name(name), "{name}");
        assert!(is_secret(name, &json!({"type": "string"})), "{name}");
    }
    // Case does not matter; other letters are compared as they are.
    for name in [
        "OpenAI_APIKey",
        "HF_TOKEN",
        "Token",
        "MyPassWord",
        "ñ_token",
        "Client_SECRET",
    ] {
        assert!(is_secret_name(name), "{name}");
    }
    for name in [
        "prompt",
        "max_tokens",
        "tokens",
        "key",
        "seed",
        "image_url",
        "pässword",
        "tökén",
        "ñ",
    ] {
        assert!(!is_secret_name(name), "{name}");
        assert!(!is_secret(name, &json!({"type": "string"})), "{name}");
    }
    assert!(is_secret("credential", &json!({"format": "password"})));
    assert!(is_secret("credential", &json!({"writeOnly": true})));
    assert!(!is_secret("credential", &json!({"format": "uri"})));
}

#[test]
fn markers_and_escapes() {
    let d = json!({"info": {"x-fal-retired": " 2026-05-01 ", "x-fal-source": "pipeline"}});
    assert_eq!(retired_since(&d), Some("2026-05-01"));
    assert_eq!(source_of(&d), Some("pipeline"));
    assert_eq!(
        retired_since(&json!({"info": {"x-fal-retired": " "}})),
        None
    );
    assert_eq!(escape("a/b~c"), "a~1b~0c");
    assert_eq!(unescape(&escape("a/b~1c")), "a/b~1c");
    assert_eq!(
        ref_target(&json!({"$ref": "#/components/schemas/A"})),
        Some("A".into())
    );
    assert_eq!(
        ref_target(&json!({"allOf": [{"$ref": "#/components/schemas/B"}]})),
        Some("B".into())
    );
    assert_eq!(ref_target(&json!({"allOf": [{"$ref": "#/x"}, {}]})), None);
    // Names are pointer tokens: escaped in the reference, unescaped in the name.
    assert_eq!(
        component_of("#/components/schemas/A~1B~0"),
        Some("A/B~".into())
    );
    assert_eq!(component_of("#/components/schemas/A/properties/x"), None);
    assert!(is_indexed_items(&json!({"0": {}, "1": {}})));
    assert!(!is_indexed_items(&json!({})) && !is_indexed_items(&json!({"type": "string"})));
}

#[test]
fn the_model_folds_refs_wrappers_nulls_and_consts_and_keeps_pointers() {
    let d = json!({
        "info": {"title": "T", "x-fal-metadata": {"endpointId": "acme/app/stream", "category": "c"}},
        "paths": {
            "/acme/app/stream": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/In"}}}}}},
            "/acme/app/stream/requests/{request_id}": {"get": answer("out")}
        },
        "components": {"schemas": {
            "In": {"type": "object", "required": ["a"], "properties": {
                "a": {"allOf": [{"$ref": "#/components/schemas/Size"}], "description": "beside"},
                "b": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
                "c": {"type": "string", "nullable": true},
                "d": {"const": "x"},
                "e": {"type": ["string", "null"]}
            }},
            "Size": {"type": "string", "enum": ["s", "m"]}
        }}
    });
    let ep = Endpoint::read(&d);
    assert_eq!(ep.id.as_deref(), Some("acme/app/stream"));
    assert!(ep.streaming);
    assert_eq!(ep.metadata.title.as_deref(), Some("T"));
    assert_eq!(ep.metadata.category.as_deref(), Some("c"));
    let input = ep.input.unwrap();
    assert_eq!(input.type_name.as_deref(), Some("In"));
    let Kind::Object(o) = &input.kind else {
        panic!("{input:?}")
    };
    let a = &o.properties["a"];
    assert!(a.required);
    assert_eq!(
        a.schema.kind,
        Kind::Enum(model::Scalar::String, vec![json!("s"), json!("m")])
    );
    assert_eq!(a.schema.docs.description.as_deref(), Some("beside"));
    assert_eq!(a.schema.pointer, "/components/schemas/In/properties/a");
    let b = &o.properties["b"].schema;
    assert_eq!((b.kind.clone(), b.nullable), (Kind::Integer, true));
    assert_eq!(b.constraints.get("minimum"), Some(&json!(1)));
    for k in ["c", "e"] {
        let s = &o.properties[k].schema;
        assert_eq!((s.kind.clone(), s.nullable), (Kind::String, true), "{k}");
    }
    assert_eq!(
        o.properties["d"].schema.kind,
        Kind::Enum(model::Scalar::String, vec![json!("x")])
    );
    assert!(ep.problems.is_empty(), "{:?}", ep.problems);
}

/// One depth limit: a schema nested past [`MAX_DEPTH`] is a problem, not a stack overflow.
#[test]
fn nesting_past_the_depth_limit_is_a_problem() {
    let mut schema = json!({"type": "string"});
    for _ in 0..(MAX_DEPTH + 2) {
        schema = json!({"type": "array", "items": schema});
    }
    let d = doc(
        json!({"/acme/app/sub": {"post": {"requestBody": {"content": {"application/json": {"schema": schema}}}}}}),
    );
    let ep = Endpoint::read(&d);
    assert!(
        ep.problems.iter().any(|p| p.message.contains("too deeply")),
        "{:?}",
        ep.problems
    );
}

/// The readers agree with the generator: a property two `allOf` members declare is the later
/// one's, and a component whose name holds `/` is found through its escaped `$ref`.
#[test]
fn all_of_takes_the_later_property_and_escaped_refs_resolve() {
    let d = json!({
        "info": {"x-fal-metadata": {"endpointId": "acme/app"}},
        "paths": {"/acme/app": {"post": {"requestBody": {"content": {"application/json": {"schema": {
            "allOf": [
                {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]},
                {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"$ref": "#/components/schemas/A~1B"}}}
            ]
        }}}}}}},
        "components": {"schemas": {"A/B": {"type": "boolean"}}}
    });
    let input = Endpoint::read(&d).input.expect("an input");
    let Kind::Object(o) = &input.kind else {
        panic!("{input:?}")
    };
    assert_eq!(o.properties["x"].schema.kind, Kind::Integer);
    assert!(o.properties["x"].required);
    assert_eq!(o.properties["y"].schema.kind, Kind::Bool);
    assert_eq!(o.properties["y"].schema.type_name.as_deref(), Some("A/B"));
}

/// A union with a branch that allows anything (here a dangling `$ref`) allows anything, as the
/// generator types it.
#[test]
fn a_union_with_a_free_branch_is_free_form() {
    let d = doc(
        json!({"/acme/app/sub": {"post": {"requestBody": {"content": {"application/json": {"schema": {
            "anyOf": [{"type": "string"}, {"$ref": "#/components/schemas/Gone"}, {"type": "null"}]
        }}}}}}}),
    );
    let input = Endpoint::read(&d).input.expect("an input");
    assert_eq!((input.kind, input.nullable), (Kind::Any, true));
}

/// Examples are read in the order a reader should try them: those written beside a `$ref` or a
/// nullable union first, then the target's or the member's, OpenAPI 3.0's single `example`
/// after a list; `format` beside a `$ref` wins. Neither is part of equality (the diff compares
/// what a schema accepts).
#[test]
fn examples_beside_come_first_and_format_beside_wins() {
    let d = json!({
        "info": {"x-fal-metadata": {"endpointId": "acme/app"}},
        "paths": {"/acme/app": {"post": {"requestBody": {"content": {"application/json": {"schema": {
            "type": "object",
            "properties": {
                "a": {"$ref": "#/components/schemas/Blob", "examples": ["beside"], "format": "byte"},
                "b": {"anyOf": [{"$ref": "#/components/schemas/Blob"}, {"type": "null"}], "example": "outer"},
                "c": {"$ref": "#/components/schemas/Blob"}
            }
        }}}}}}},
        "components": {"schemas": {"Blob": {"type": "string", "format": "binary", "examples": ["target"]}}}
    });
    let input = Endpoint::read(&d).input.expect("an input");
    let Kind::Object(o) = &input.kind else {
        panic!("{input:?}")
    };
    let (a, b, c) = (
        &o.properties["a"].schema,
        &o.properties["b"].schema,
        &o.properties["c"].schema,
    );
    assert_eq!(a.docs.examples, [json!("beside"), json!("target")]);
    assert_eq!(b.docs.examples, [json!("outer"), json!("target")]);
    assert_eq!(c.docs.examples, [json!("target")]);
    assert_eq!(a.format.as_deref(), Some("byte"));
    assert_eq!(c.format.as_deref(), Some("binary"));
    assert!(b.nullable);
    assert_eq!(*a, *c, "examples and format are annotations, not meaning");
}
