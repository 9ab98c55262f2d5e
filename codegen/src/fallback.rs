//! Where the generated code says `serde_json::Value`, and why.
//!
//! A schema is typed as a JSON value for one of two reasons: it is genuinely free-form (it
//! allows any value, so no narrower Rust type is right), or the generator could not type it
//! and said so in a [`Diagnostic`] naming the file and JSON pointer. The lowering records which
//! on every JSON value of the IR ([`Why`]); [`audit_values`] walks the IR (every field, union
//! variant, alias and newtype, down through lists, maps and options) and checks that each value
//! is one or the other: a free-form rule, or a diagnostic the lowering really emitted at the
//! value's pointer. A value that is neither is [`Verdict::Silent`]: a fallback nobody was told
//! about.
//!
//! The `extra` map of inputs (`serde_json::Map<String, Value>`, undeclared keys) is no schema's
//! type and is not audited.

use std::collections::BTreeMap;

use crate::Document;
use crate::ir::{Api, Diagnostic, Ty, TypeKind, Why};

pub use fal_schema::FreeForm;

/// What a JSON value of the generated code is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Genuinely free-form, by this rule.
    FreeForm(FreeForm),
    /// A diagnostic names the schema (or a spot inside it): this one.
    Diagnosed(Diagnostic),
    /// Neither: a fallback nobody was told about.
    Silent,
}

/// One `serde_json::Value` in the generated types.
#[derive(Debug, Clone)]
pub struct ValueSite {
    pub file: String,
    /// What holds it: `Input.loras`, `Output`, `ImageSize` (a union variant), ...
    pub place: String,
    /// The JSON pointer of the schema typed as a JSON value. It may name no schema: the items
    /// of an array without `items` are at `<array>/items`.
    pub pointer: String,
    pub verdict: Verdict,
}

impl std::fmt::Display for ValueSite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{} ({}): ", self.file, self.pointer, self.place)?;
        match &self.verdict {
            Verdict::FreeForm(rule) => write!(f, "free-form: {}", rule.describe()),
            Verdict::Diagnosed(d) => write!(f, "diagnosed: {}", d.message),
            Verdict::Silent => write!(f, "SILENT: typed as a JSON value without a diagnostic"),
        }
    }
}

/// Every JSON value of the generated types of a set of documents, judged.
#[derive(Debug, Clone, Default)]
pub struct ValueAudit {
    pub sites: Vec<ValueSite>,
}

impl ValueAudit {
    pub fn free_form(&self) -> usize {
        self.sites
            .iter()
            .filter(|s| matches!(s.verdict, Verdict::FreeForm(_)))
            .count()
    }

    pub fn diagnosed(&self) -> usize {
        self.sites
            .iter()
            .filter(|s| matches!(s.verdict, Verdict::Diagnosed(_)))
            .count()
    }

    /// The fallbacks nobody was told about (there must be none).
    pub fn silent(&self) -> Vec<&ValueSite> {
        self.sites
            .iter()
            .filter(|s| s.verdict == Verdict::Silent)
            .collect()
    }

    /// How many sites each free-form rule accounts for.
    pub fn by_rule(&self) -> BTreeMap<FreeForm, usize> {
        let mut out = BTreeMap::new();
        for s in &self.sites {
            if let Verdict::FreeForm(rule) = s.verdict {
                *out.entry(rule).or_insert(0) += 1;
            }
        }
        out
    }
}

/// Lowers `documents` as [`crate::Config::generate`] does and judges every JSON value of the
/// types they give. Documents that fail to lower produce no code and are left out.
pub fn audit_values(documents: &[Document]) -> ValueAudit {
    let lowered = crate::config::lower_all(documents);
    audit_api(&lowered.api, &lowered.diagnostics)
}

/// Judges every JSON value of the types of `api` (see [`audit_values`]).
pub(crate) fn audit_api(api: &Api, diagnostics: &[Diagnostic]) -> ValueAudit {
    let mut by_file: BTreeMap<&str, Vec<&Diagnostic>> = BTreeMap::new();
    for d in diagnostics {
        by_file.entry(d.file.as_str()).or_default().push(d);
    }
    let mut audit = ValueAudit::default();
    for ep in &api.endpoints {
        let diags = by_file
            .get(ep.source.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        for &r in &ep.types {
            let def = api.ty(r);
            let mut found: Vec<(String, &Why)> = Vec::new();
            match &def.kind {
                TypeKind::Struct { fields } => {
                    for f in fields {
                        values(&f.ty, &mut |why| {
                            found.push((format!("{}.{}", def.name, f.wire), why))
                        });
                    }
                }
                TypeKind::Union { variants } => {
                    for v in variants {
                        values(&v.ty, &mut |why| {
                            found.push((format!("{}::{}", def.name, v.ident), why))
                        });
                    }
                }
                TypeKind::Alias(ty) | TypeKind::Newtype(ty) => {
                    values(ty, &mut |why| found.push((def.name.clone(), why)));
                }
                TypeKind::StrEnum { .. } | TypeKind::IntEnum { .. } => {}
            }
            for (place, why) in found {
                audit.sites.push(ValueSite {
                    file: ep.source.clone(),
                    place,
                    pointer: why.pointer.clone(),
                    verdict: verdict(why, diags),
                });
            }
        }
    }
    audit
}

/// The JSON values of `ty`, down through lists, maps and options (a named type is judged with
/// its own definition).
fn values<'a>(ty: &'a Ty, found: &mut dyn FnMut(&'a Why)) {
    match ty {
        Ty::Any(why) => found(why),
        Ty::Array(inner) | Ty::Map(inner) | Ty::Optional(inner) => values(inner, found),
        _ => {}
    }
}

/// Free-form by its rule; else named by a diagnostic at its pointer; else silent. A value whose
/// pointer got lost (empty) is named by no diagnostic.
fn verdict(why: &Why, diags: &[&Diagnostic]) -> Verdict {
    if let Some(rule) = why.free_form {
        return Verdict::FreeForm(rule);
    }
    match diags
        .iter()
        .find(|d| !why.pointer.is_empty() && d.pointer == why.pointer)
    {
        Some(d) => Verdict::Diagnosed((*d).clone()),
        None => Verdict::Silent,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::*;
    use crate::ir::{Api, Diagnostic, Ty, TypeKind, Why};

    /// A fal queue document whose input has `properties`, plus `components`.
    fn document(properties: Value, components: Value) -> Value {
        let mut schemas = json!({
            "Input": { "type": "object", "properties": properties },
            "Output": { "type": "object", "properties": { "ok": { "type": "boolean" } } }
        });
        if let (Some(s), Some(extra)) = (schemas.as_object_mut(), components.as_object()) {
            s.extend(extra.clone());
        }
        json!({
            "openapi": "3.0.4",
            "info": { "title": "t", "x-fal-metadata": { "endpointId": "test/values" } },
            "paths": {
                "/test/values": { "post": { "requestBody": { "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/Input" } } } } } },
                "/test/values/requests/{request_id}": { "get": { "responses": { "200": { "content": {
                    "application/json": { "schema": { "$ref": "#/components/schemas/Output" } } } } } } }
            },
            "components": { "schemas": schemas }
        })
    }

    fn lower(doc: &Value) -> (Api, Vec<Diagnostic>) {
        let mut api = Api::default();
        let mut diags = Vec::new();
        crate::lower::lower_document(&mut api, "test.json", doc, &mut diags)
            .expect("a fal document");
        (api, diags)
    }

    fn audit(api: &Api, diags: &[Diagnostic]) -> ValueAudit {
        audit_api(api, diags)
    }

    /// The verdict of each input field holding a JSON value, by wire name.
    fn verdicts(audit: &ValueAudit) -> BTreeMap<String, Verdict> {
        audit
            .sites
            .iter()
            .map(|s| {
                (
                    s.place.trim_start_matches("Input.").to_owned(),
                    s.verdict.clone(),
                )
            })
            .collect()
    }

    fn free_form_and_broken() -> Value {
        document(
            json!({
                "anything": {},
                "described": { "description": "Whatever the model takes.", "x-fal": 1 },
                "open_map": { "type": "object" },
                "true_map": { "type": "object", "additionalProperties": true },
                "closed_empty": { "type": "object", "additionalProperties": false },
                "bare_list": { "type": "array" },
                "free_tuple": { "type": "array", "prefixItems": [{}, true] },
                "or_anything": { "anyOf": [{ "type": "string" }, {}] },
                "nullable_anything": { "anyOf": [{}, { "type": "null" }] },
                "nullable_items": { "type": "array", "items": { "anyOf": [{ "type": "string" }, { "type": "null" }] } },
                "typeless_format": { "format": "uri" },
                "null_only": { "type": "null" },
                "mixed_enum": { "enum": [1, "a"] },
                "never": false,
                "no_items": { "type": "array", "items": false },
                "empty_tuple": { "type": "array", "prefixItems": [] },
                "mixed_tuple_then_items": { "type": "array", "prefixItems": [{ "const": 1 }, { "const": "x" }], "items": { "type": "string" } },
                "bad_values": { "type": "object", "additionalProperties": "yes" },
                "bad_properties": { "type": "object", "properties": ["a"] },
                "dangling": { "$ref": "#/components/schemas/Missing" },
                "through_component": { "anyOf": [{ "$ref": "#/components/schemas/Mixed" }, { "type": "integer" }] }
            }),
            json!({ "Mixed": { "enum": [true, "x"] } }),
        )
    }

    #[test]
    fn free_form_schemas_follow_the_rules_and_the_others_are_diagnosed() {
        let doc = free_form_and_broken();
        let (api, diags) = lower(&doc);
        let audit = audit(&api, &diags);
        let v = verdicts(&audit);
        let free = |rule| Verdict::FreeForm(rule);
        assert_eq!(v["anything"], free(FreeForm::AnyValue));
        assert_eq!(v["described"], free(FreeForm::AnyValue));
        assert_eq!(v["open_map"], free(FreeForm::OpenMapValues));
        assert_eq!(v["true_map"], free(FreeForm::OpenMapValues));
        assert_eq!(v["closed_empty"], free(FreeForm::EmptyObject));
        assert_eq!(v["bare_list"], free(FreeForm::ArrayWithoutItems));
        assert_eq!(v["free_tuple"], free(FreeForm::FreeFormTuple));
        assert_eq!(v["or_anything"], free(FreeForm::FreeBranch));
        assert_eq!(v["nullable_anything"], free(FreeForm::AnyValue));
        // Nullable items are typed (`Vec<Option<String>>`): no JSON value at all.
        assert!(!v.contains_key("nullable_items"), "{v:?}");
        for broken in [
            "typeless_format",
            "null_only",
            "mixed_enum",
            "never",
            "no_items",
            "empty_tuple",
            "mixed_tuple_then_items",
            "bad_values",
            "bad_properties",
            "dangling",
            "through_component",
        ] {
            match &v[broken] {
                Verdict::Diagnosed(d) => assert_eq!(d.file, "test.json", "{broken}"),
                other => panic!("{broken}: {other:?}"),
            }
        }
        assert!(audit.silent().is_empty());
        assert_eq!(audit.free_form() + audit.diagnosed(), audit.sites.len());
    }

    /// A list nested so deep that the lowering cuts it, under 18 nullable wrappers (fuzzer):
    /// the value carries the cut's pointer through the wrappers, and the audit finds the cut's
    /// diagnostic there; without it the value is silent.
    #[test]
    fn a_value_cut_deep_under_nullable_wrappers_is_found() {
        let mut schema = json!({ "type": "string" });
        for _ in 0..25 {
            schema = json!({ "type": "array", "items": schema });
        }
        for _ in 0..18 {
            schema = json!({ "anyOf": [schema, { "type": "null" }] });
        }
        let doc = document(json!({ "deep": schema }), json!({}));
        let (api, diags) = lower(&doc);
        let found = audit(&api, &diags);
        assert!(found.silent().is_empty(), "{:?}", found.silent());
        assert_eq!(found.diagnosed(), 1, "{:?}", found.sites);
        assert_eq!(audit(&api, &[]).silent().len(), 1);
    }

    /// The check fails on a silent fallback: the same document without its diagnostics, and a
    /// lowering that typed a typable schema as a JSON value without saying so.
    #[test]
    fn a_fallback_without_a_diagnostic_is_reported_as_silent() {
        let doc = free_form_and_broken();
        let (api, diags) = lower(&doc);
        let without = audit(&api, &[]);
        let silent: Vec<&str> = without
            .silent()
            .iter()
            .map(|s| s.place.trim_start_matches("Input."))
            .collect();
        assert_eq!(silent.len(), 11, "{silent:?}");
        assert!(silent.contains(&"typeless_format") && silent.contains(&"through_component"));
        // Free-form values need no diagnostic.
        assert_eq!(without.free_form(), audit(&api, &diags).free_form());

        // A regression of item 9: nullable items typed `Vec<serde_json::Value>` again, said to
        // be diagnosed where no diagnostic is.
        let mut broken = api.clone();
        let input = broken.endpoints[0].input;
        if let TypeKind::Struct { fields } = &mut broken.types[input.0].kind {
            let f = fields
                .iter_mut()
                .find(|f| f.wire == "nullable_items")
                .expect("field");
            f.ty = Ty::Array(Box::new(Ty::Any(Why::diagnosed(
                "/components/schemas/Input/properties/nullable_items/items",
            ))));
        }
        let found = audit(&broken, &diags);
        let silent = found.silent();
        assert_eq!(silent.len(), 1, "{silent:?}");
        assert_eq!(
            silent[0].pointer,
            "/components/schemas/Input/properties/nullable_items/items"
        );
        assert!(silent[0].to_string().contains("SILENT"));

        // A JSON value whose schema pointer was lost is not excused by the file's diagnostics.
        let mut lost = api.clone();
        if let TypeKind::Struct { fields } = &mut lost.types[input.0].kind {
            let f = fields
                .iter_mut()
                .find(|f| f.wire == "typeless_format")
                .expect("field");
            f.ty = Ty::Any(Why::diagnosed(""));
        }
        let found = audit(&lost, &diags);
        let silent: Vec<&str> = found.silent().iter().map(|s| s.place.as_str()).collect();
        assert_eq!(silent, ["Input.typeless_format"]);
    }
}
