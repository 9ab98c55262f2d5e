//! The `examples` of the documents, as round-trip checks of the generated types.
//!
//! Every example (on a whole input/output schema, or on one property) must deserialize into
//! its generated type and serialize back to the same JSON. "Same" is JSON's own notion: key
//! order does not matter, `3` equals `3.0`, and a `null` member equals an absent one (fal
//! treats them alike, and optional fields are skipped when unset).

use std::fmt::Write as _;

use serde_json::Value;

use crate::ir::*;
use crate::layout::Tree;

/// One `examples` value of a document and the generated type it must fit.
#[derive(Debug, Clone)]
pub struct Example {
    /// The document it comes from.
    pub source: String,
    /// JSON pointer of the schema the example belongs to, in that document.
    pub pointer: String,
    /// Test function name: the endpoint's module path joined by `__`.
    pub group: String,
    pub feature: String,
    /// `fal-ai/x Input.prompt #0`.
    pub label: String,
    /// The Rust type, as a path below the generated root.
    pub rust_ty: String,
    pub json: Value,
    /// Also check that the JSON Schema schemars derives for the type accepts the value.
    pub schema_check: bool,
    /// The endpoint is retired (its types are `#[deprecated]`).
    pub retired: bool,
}

pub fn collect(api: &Api, tree: &Tree) -> Vec<Example> {
    let mut out = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for (e, ep) in api.endpoints.iter().enumerate() {
        let path = tree.paths[e].join("::");
        let group = tree.paths[e].join("__");
        let ty_path = |t: &Ty| -> String { rust_ty(api, tree, t) };
        // Every type this endpoint's document defined, shared or not: a shared type is
        // checked with the examples of each document it came from.
        let types: Vec<TypeRef> = (0..api.types.len())
            .map(TypeRef)
            .filter(|r| api.ty(*r).owner == e)
            .collect();
        for r in types {
            let def = api.ty(r);
            let emitted = api.ty(def.canonical.unwrap_or(r));
            let name = match &emitted.shared_name {
                Some(s) => format!("ROOT::types::{s}"),
                None => format!("ROOT::{path}::{}", def.name),
            };
            for (i, ex) in def.docs.examples.iter().enumerate() {
                // Aliases to a plain JSON value accept anything; nothing to check. A `null`
                // example came with the docs of a nullable property (`anyOf [enum, null]`):
                // null belongs to that field's `Option`, checked with the field below.
                if matches!(def.kind, TypeKind::Alias(Ty::Any(_)))
                    || ex.is_null()
                    || !seen.insert((name.clone(), ex.to_string()))
                {
                    continue;
                }
                out.push(Example {
                    source: ep.source.clone(),
                    pointer: def.docs.pointer.clone(),
                    group: group.clone(),
                    feature: ep.feature.clone(),
                    label: format!("{} {} #{i}", ep.id, def.name),
                    rust_ty: name.clone(),
                    json: ex.clone(),
                    schema_check: def.role == Role::Input,
                    retired: ep.retired.is_some(),
                });
            }
            if let TypeKind::Struct { fields } = &def.kind {
                for f in fields {
                    for (i, ex) in f.docs.examples.iter().enumerate() {
                        if !seen.insert((format!("{name}.{}", f.wire), ex.to_string())) {
                            continue;
                        }
                        let mut t = ty_path(&f.ty);
                        if matches!(&f.ty, Ty::Named(x) if api.ty(*x).recursive) {
                            t = format!("Box<{t}>");
                        }
                        if f.is_option() {
                            t = format!("Option<{t}>");
                        }
                        out.push(Example {
                            source: ep.source.clone(),
                            pointer: f.docs.pointer.clone(),
                            group: group.clone(),
                            feature: ep.feature.clone(),
                            label: format!("{} {}.{} #{i}", ep.id, def.name, f.wire),
                            rust_ty: t,
                            json: ex.clone(),
                            schema_check: false,
                            retired: ep.retired.is_some(),
                        });
                    }
                }
                // An input assembled from the first example of each property: what the
                // document says a request looks like, checked against the derived schema.
                if def.role == Role::Input {
                    let mut composite = serde_json::Map::new();
                    let mut complete = true;
                    for f in fields {
                        match f.docs.examples.first() {
                            Some(ex) => {
                                composite.insert(f.wire.clone(), ex.clone());
                            }
                            None if f.required => complete = false,
                            None => {}
                        }
                    }
                    if complete && !composite.is_empty() {
                        out.push(Example {
                            source: ep.source.clone(),
                            pointer: def.docs.pointer.clone(),
                            group: group.clone(),
                            feature: ep.feature.clone(),
                            label: format!("{} Input (property examples together)", ep.id),
                            rust_ty: name.clone(),
                            json: Value::Object(composite),
                            schema_check: true,
                            retired: ep.retired.is_some(),
                        });
                    }
                }
            }
        }
    }
    out
}

fn rust_ty(api: &Api, tree: &Tree, t: &Ty) -> String {
    match t {
        Ty::String => "String".into(),
        Ty::Integer => "i64".into(),
        Ty::Number => "f64".into(),
        Ty::Boolean => "bool".into(),
        Ty::Bytes => "ROOT::Binary".into(),
        Ty::Any(_) => "serde_json::Value".into(),
        Ty::Array(inner) => format!("Vec<{}>", rust_ty(api, tree, inner)),
        Ty::Map(inner) => format!(
            "std::collections::BTreeMap<String, {}>",
            rust_ty(api, tree, inner)
        ),
        Ty::Optional(inner) => format!("Option<{}>", rust_ty(api, tree, inner)),
        Ty::Named(r) => {
            let def = api.ty(*r);
            match &def.shared_name {
                Some(s) => format!("ROOT::types::{s}"),
                None => format!("ROOT::{}::{}", tree.paths[def.owner].join("::"), def.name),
            }
        }
    }
}

/// Renders the checks as a Rust file: one function per endpoint returning its results, then
/// either `#[test]`s (`as_tests`) or nothing (the caller adds a `main`).
pub fn render(examples: &[Example], root: &str, header: &str, features: bool) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{header}\n");
    // Include it as a module marked `#[allow(non_snake_case)]` (function names are module paths).
    s.push_str(HELPERS);
    let mut groups: Vec<&str> = examples.iter().map(|e| e.group.as_str()).collect();
    groups.dedup();
    for g in &groups {
        let items: Vec<&Example> = examples.iter().filter(|e| e.group == *g).collect();
        let mut cfg = if features {
            format!("#[cfg(feature = {:?})]\n", items[0].feature)
        } else {
            String::new()
        };
        if items[0].retired {
            // Checking a retired endpoint's types is not a use to warn about.
            cfg.push_str("#[allow(deprecated)]\n");
        }
        let _ = writeln!(
            s,
            "\n{cfg}pub fn {g}() -> Vec<(&'static str, Result<(), String>)> {{\n    vec!["
        );
        for ex in items {
            let ty = ex.rust_ty.replace("ROOT::", &format!("{root}::"));
            let json = serde_json::to_string(&ex.json).unwrap_or_default();
            let f = if ex.schema_check {
                "check_with_schema"
            } else {
                "check"
            };
            let _ = writeln!(s, "        ({:?}, {f}::<{ty}>({:?})),", ex.label, json);
        }
        let _ = writeln!(s, "    ]\n}}");
    }
    let _ = writeln!(
        s,
        "\n/// Every group of checks, by endpoint.\npub fn all() -> Vec<(&'static str, Result<(), String>)> {{\n    let mut all = Vec::new();"
    );
    for g in &groups {
        let feature = &examples
            .iter()
            .find(|e| e.group == *g)
            .map(|e| e.feature.clone())
            .unwrap_or_default();
        let cfg = if features {
            format!("#[cfg(feature = {feature:?})]\n    ")
        } else {
            String::new()
        };
        let _ = writeln!(s, "    {cfg}all.extend({g}());");
    }
    let _ = writeln!(s, "    all\n}}");
    s
}

const HELPERS: &str = r#"
/// Deserializes `json` into `T` and serializes it back; `Err` says what differed.
pub fn check<T: serde::de::DeserializeOwned + serde::Serialize>(json: &str) -> Result<(), String> {
    let original: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let typed: T = serde_json::from_value(original.clone()).map_err(|e| format!("does not deserialize: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| format!("does not serialize: {e}"))?;
    if normalize(&original) == normalize(&back) {
        Ok(())
    } else {
        Err(format!("round trip changed the value: {original} -> {back}"))
    }
}

/// [`check`], and the JSON Schema that schemars derives for `T` accepts the value (the schema a
/// user would hand to an LLM as a tool definition).
pub fn check_with_schema<T>(json: &str) -> Result<(), String>
where
    T: serde::de::DeserializeOwned + serde::Serialize + schemars::JsonSchema,
{
    check::<T>(json)?;
    let schema = serde_json::to_value(schemars::schema_for!(T)).map_err(|e| e.to_string())?;
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let validator = jsonschema::validator_for(&schema).map_err(|e| format!("derived schema is invalid: {e}"))?;
    let errors: Vec<String> = validator.iter_errors(&value).map(|e| format!("{} at {}", e, e.instance_path())).collect();
    if errors.is_empty() { Ok(()) } else { Err(format!("derived JSON Schema rejects it: {}", errors.join("; "))) }
}

/// JSON equality: numbers by value, `null` members dropped.
fn normalize(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Number(n) => n.as_f64().map(Value::from).unwrap_or_else(|| v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(normalize).collect()),
        Value::Object(o) => Value::Object(
            o.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), normalize(v))).collect(),
        ),
        other => other.clone(),
    }
}
"#;
