//! The JSON Schema of an endpoint's input, exported from its document.
//!
//! Inputs implement `schemars::JsonSchema` with this schema instead of a derive: it carries the
//! document's own descriptions, defaults, ranges and examples (what an LLM tool definition
//! wants), and a string constant costs nothing to compile, where a derive for every input of
//! fal costs over a minute of build time.
//!
//! The export is a standalone JSON Schema (2020-12) with every `$ref` inlined (many LLM tool
//! APIs accept no references; a recursive reference is cut to `true`). OpenAPI 3.0 idioms are
//! rewritten (`nullable: true`, boolean `exclusiveMinimum`), vendor keys are dropped, and
//! anything broken (a dangling `$ref`, malformed `items`) becomes `true` (accept anything), as
//! the generated type does, rather than an invalid schema.

use serde_json::{Map, Value, json};

/// Keywords kept as schemas-of-schemas; everything else is dropped.
const KEEP: &[&str] = &[
    "type",
    "properties",
    "required",
    "items",
    "prefixItems",
    "additionalProperties",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "allOf",
    "$ref",
    "description",
    "title",
    "default",
    "examples",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "pattern",
    "minItems",
    "maxItems",
    "uniqueItems",
    "format",
    "multipleOf",
    "deprecated",
    "readOnly",
    "writeOnly",
    "minProperties",
    "maxProperties",
];

/// How many schema nodes an export may hold. Inlining is exponential where components refer to
/// one another more than once per level (`A: {x: B, y: B}`, `B: {x: C, y: C}`, ...); past this,
/// further references are cut to `true` as recursive ones are. fal's largest inputs use a few
/// hundred.
const BUDGET: usize = 20_000;

/// The standalone schema of `root` (a schema inside `doc`), as compact JSON text.
pub fn export(doc: &Value, root: &Value) -> String {
    let mut budget = BUDGET;
    let mut out = match convert(doc, root, &mut Vec::new(), 0, &mut budget) {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    out.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    serde_json::to_string(&Value::Object(out)).unwrap_or_else(|_| "true".into())
}

/// Converts one schema; `path` holds the components being expanded (to cut cycles), `budget`
/// the nodes left.
fn convert(
    doc: &Value,
    s: &Value,
    path: &mut Vec<String>,
    depth: usize,
    budget: &mut usize,
) -> Value {
    let Some(o) = s.as_object() else {
        return if s.is_boolean() {
            s.clone()
        } else {
            Value::Bool(true)
        };
    };
    if depth > fal_schema::MAX_DEPTH || *budget == 0 {
        return Value::Bool(true);
    }
    *budget -= 1;
    let mut out = Map::new();
    for (k, v) in o {
        if !KEEP.contains(&k.as_str()) {
            continue;
        }
        let converted = match k.as_str() {
            "$ref" => {
                let target = v
                    .as_str()
                    .and_then(fal_schema::component_of)
                    .and_then(|name| fal_schema::component(doc, &name).map(|t| (name, t)));
                // A dangling or recursive reference accepts anything, as the generated type does.
                let Some((name, target)) = target.filter(|(n, _)| !path.contains(n)) else {
                    continue;
                };
                path.push(name);
                let inlined = convert(doc, target, path, depth + 1, budget);
                path.pop();
                // `$ref` with siblings: the referenced schema, and the siblings beside it.
                if let Value::Object(m) = inlined {
                    for (ik, iv) in m {
                        out.entry(ik).or_insert(iv);
                    }
                }
                continue;
            }
            "properties" => match v.as_object() {
                Some(props) => Value::Object(
                    props
                        .iter()
                        .map(|(name, p)| (name.clone(), convert(doc, p, path, depth + 1, budget)))
                        .collect(),
                ),
                None => continue,
            },
            "items" | "additionalProperties" => match v {
                _ if fal_schema::is_indexed_items(v) => Value::Bool(true),
                Value::Object(_) | Value::Bool(_) => convert(doc, v, path, depth + 1, budget),
                _ => continue,
            },
            "prefixItems" | "anyOf" | "oneOf" | "allOf" => match v.as_array() {
                Some(list) if !list.is_empty() => Value::Array(
                    list.iter()
                        .map(|b| convert(doc, b, path, depth + 1, budget))
                        .collect(),
                ),
                _ => continue,
            },
            "required" => match v.as_array() {
                Some(list) => {
                    Value::Array(list.iter().filter(|n| n.is_string()).cloned().collect())
                }
                None => continue,
            },
            "enum" | "examples" if !v.is_array() => continue,
            // OpenAPI 3.0's boolean forms: the bound is `minimum`/`maximum`.
            "exclusiveMinimum" | "exclusiveMaximum" if v.is_boolean() => continue,
            "type" if !(v.is_string() || v.is_array()) => continue,
            _ => v.clone(),
        };
        // The schema's own keys win over those of a `$ref` inlined beside them.
        out.insert(k.clone(), converted);
    }
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if o.get(flag) == Some(&Value::Bool(true)) {
            if let Some(b) = out.remove(bound) {
                out.insert(flag.into(), b);
            }
        }
    }
    let schema = Value::Object(out);
    if o.get("nullable") == Some(&Value::Bool(true)) {
        return json!({"anyOf": [schema, {"type": "null"}]});
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_become_defs_and_openapi_idioms_are_rewritten() {
        let doc = json!({"components": {"schemas": {
            "In": {"type": "object", "x-fal-order-properties": ["a"], "properties": {
                "a": {"$ref": "#/components/schemas/File", "description": "d"},
                "b": {"type": "number", "nullable": true, "minimum": 0, "exclusiveMinimum": true},
                "c": {"$ref": "#/components/schemas/Missing"},
                "d": {"type": "array", "items": {"0": {"type": "number"}}}
            }},
            "File": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]}
        }}});
        let root = doc.pointer("/components/schemas/In").unwrap().clone();
        let schema: Value = serde_json::from_str(&export(&doc, &root)).unwrap();
        assert_eq!(
            schema["properties"]["a"],
            json!({"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"], "description": "d"})
        );
        assert_eq!(
            schema["properties"]["b"],
            json!({"anyOf": [{"type": "number", "exclusiveMinimum": 0}, {"type": "null"}]})
        );
        assert_eq!(schema["properties"]["c"], json!({}));
        assert_eq!(
            schema["properties"]["d"],
            json!({"type": "array", "items": true})
        );
        assert!(schema.get("x-fal-order-properties").is_none());
    }

    #[test]
    fn recursion_is_cut() {
        let doc = json!({"components": {"schemas": {
            "Node": {"type": "object", "properties": {"child": {"$ref": "#/components/schemas/Node"}}}
        }}});
        let root = json!({"$ref": "#/components/schemas/Node"});
        let schema: Value = serde_json::from_str(&export(&doc, &root)).unwrap();
        assert_eq!(schema["properties"]["child"], json!({}));
    }
}
