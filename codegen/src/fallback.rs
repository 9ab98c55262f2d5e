//! Where the generated code says `serde_json::Value`, and why.
//!
//! A schema is typed as a JSON value for one of two reasons: it is genuinely free-form (it
//! allows any value, so no narrower Rust type is right), or the generator could not type it
//! and said so in a [`Diagnostic`] naming the file and JSON pointer. [`audit_values`] checks
//! that every JSON value of the generated types is one or the other, independently of how the
//! lowering decided: it walks the IR (every field, union variant, alias and newtype, down
//! through lists, maps and options), finds the schema each `serde_json::Value` came from, and
//! judges that schema by the rules of [`FreeForm`]. A value that is neither free-form nor
//! named by a diagnostic is [`Verdict::Silent`]: a fallback nobody was told about.
//!
//! The `extra` map of inputs (`serde_json::Map<String, Value>`, undeclared keys) is no schema's
//! type and is not audited.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::Document;
use crate::ir::{Api, Diagnostic, Ty, TypeKind};

pub use fal_schema::FreeForm;
use fal_schema::{ANNOTATIONS, MAX_DEPTH};

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
    let sources: BTreeMap<&str, &Value> = documents
        .iter()
        .map(|d| (d.source.as_str(), &d.json))
        .collect();
    audit_api(&lowered.api, &sources, &lowered.diagnostics)
}

/// Judges every JSON value of the types of `api` (see [`audit_values`]).
pub(crate) fn audit_api(
    api: &Api,
    sources: &BTreeMap<&str, &Value>,
    diagnostics: &[Diagnostic],
) -> ValueAudit {
    let mut by_file: BTreeMap<&str, Vec<&Diagnostic>> = BTreeMap::new();
    for d in diagnostics {
        by_file.entry(d.file.as_str()).or_default().push(d);
    }
    let mut audit = ValueAudit::default();
    for ep in &api.endpoints {
        let Some(doc) = sources.get(ep.source.as_str()) else {
            continue;
        };
        let diags = by_file
            .get(ep.source.as_str())
            .map(Vec::as_slice)
            .unwrap_or_default();
        let judge = Judge { doc, diags };
        for &r in &ep.types {
            let def = api.ty(r);
            let mut found: Vec<(String, String)> = Vec::new();
            match &def.kind {
                TypeKind::Struct { fields } => {
                    for f in fields {
                        for p in judge.value_pointers(&f.ty, &f.docs.pointer) {
                            found.push((format!("{}.{}", def.name, f.wire), p));
                        }
                    }
                }
                TypeKind::Union { variants } => {
                    for v in variants.iter().filter(|v| contains_any(&v.ty)) {
                        let branch = judge.union_branch(&def.docs.pointer, &v.ty);
                        for p in judge.value_pointers(&v.ty, &branch) {
                            found.push((format!("{}::{}", def.name, v.ident), p));
                        }
                    }
                }
                TypeKind::Alias(ty) | TypeKind::Newtype(ty) => {
                    for p in judge.value_pointers(ty, &def.docs.pointer) {
                        found.push((def.name.clone(), p));
                    }
                }
                TypeKind::StrEnum { .. } | TypeKind::IntEnum { .. } => {}
            }
            for (place, pointer) in found {
                let verdict = judge.verdict(&pointer);
                audit.sites.push(ValueSite {
                    file: ep.source.clone(),
                    place,
                    pointer,
                    verdict,
                });
            }
        }
    }
    audit
}

fn contains_any(t: &Ty) -> bool {
    match t {
        Ty::Any => true,
        Ty::Array(i) | Ty::Map(i) | Ty::Optional(i) => contains_any(i),
        _ => false,
    }
}

struct Judge<'a> {
    doc: &'a Value,
    diags: &'a [&'a Diagnostic],
}

impl Judge<'_> {
    /// The pointers a schema passes through to reach what was typed: `$ref` targets, a single
    /// `allOf` member, the one non-null branch of `anyOf`/`oneOf`. The first is `ptr` itself.
    fn chain(&self, ptr: &str) -> Vec<String> {
        let mut chain = vec![ptr.to_owned()];
        let mut cur = ptr.to_owned();
        // As far as the lowering follows a chain (it types nothing deeper).
        for _ in 0..=MAX_DEPTH {
            let Some(s) = self.doc.pointer(&cur) else {
                break;
            };
            let next = if let Some(r) = s.get("$ref").and_then(Value::as_str) {
                match r.strip_prefix('#') {
                    Some(target) if self.doc.pointer(target).is_some() => target.to_owned(),
                    _ => break,
                }
            } else if let Some([_]) = s.get("allOf").and_then(Value::as_array).map(Vec::as_slice) {
                format!("{cur}/allOf/0")
            } else if let Some((key, branches)) = ["anyOf", "oneOf"]
                .iter()
                .find_map(|k| s.get(*k).and_then(Value::as_array).map(|b| (*k, b)))
            {
                let rest: Vec<usize> = (0..branches.len())
                    .filter(|&i| !is_null_schema(&branches[i]))
                    .collect();
                match rest.as_slice() {
                    [one] => format!("{cur}/{key}/{one}"),
                    _ => break,
                }
            } else {
                break;
            };
            if chain.contains(&next) {
                break;
            }
            chain.push(next.clone());
            cur = next;
        }
        chain
    }

    fn last(&self, ptr: &str) -> String {
        self.chain(ptr).pop().unwrap_or_else(|| ptr.to_owned())
    }

    /// The pointers of the schemas typed `serde_json::Value` inside `ty`, the type of the
    /// schema at `ptr`.
    fn value_pointers(&self, ty: &Ty, ptr: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.collect(ty, ptr, 0, &mut out);
        out
    }

    /// The schema a list or map of type `ty` came from: `ptr` resolved, and when that is a
    /// union whose branches all gave this one type (`oneOf` of two lists), the branch that
    /// accounts for its values.
    fn container(&self, ty: &Ty, ptr: &str, depth: usize) -> String {
        let p = self.last(ptr);
        let Some(s) = self.doc.pointer(&p) else {
            return p;
        };
        for key in ["anyOf", "oneOf"] {
            if s.get(key)
                .and_then(Value::as_array)
                .is_some_and(|b| b.iter().filter(|b| !is_null_schema(b)).count() > 1)
            {
                let branch = self.union_branch_at(&format!("{p}/{key}"), ty, depth + 1);
                return if depth < 8 {
                    self.container(ty, &branch, depth + 1)
                } else {
                    self.last(&branch)
                };
            }
        }
        p
    }

    fn collect(&self, ty: &Ty, ptr: &str, depth: usize, out: &mut Vec<String>) {
        match ty {
            Ty::Any => out.push(ptr.to_owned()),
            Ty::Optional(inner) => self.collect(inner, ptr, depth, out),
            Ty::Array(inner) if contains_any(inner) => {
                let p = self.container(ty, ptr, depth);
                let s = self.doc.pointer(&p);
                // As the lowering reads it: an array `prefixItems` decides the items (a
                // following `items` is not read).
                let tuple = s
                    .and_then(|s| s.get("prefixItems"))
                    .is_some_and(Value::is_array);
                if !tuple {
                    self.collect(inner, &format!("{p}/items"), depth, out);
                } else if matches!(**inner, Ty::Any) {
                    // The items of a tuple typed as one JSON value: judged as a tuple.
                    out.push(format!("{p}/prefixItems"));
                } else {
                    // A tuple whose members all gave one list or map type: the member that
                    // accounts for its values.
                    let member =
                        self.union_branch_at(&format!("{p}/prefixItems"), inner, depth + 1);
                    self.collect(inner, &member, depth + 1, out);
                }
            }
            Ty::Map(inner) if contains_any(inner) => {
                let p = self.container(ty, ptr, depth);
                self.collect(inner, &format!("{p}/additionalProperties"), depth, out);
            }
            _ => {}
        }
    }

    /// The branch of the union at `ptr` (`.../anyOf`, or a schema with a list of types) that
    /// gave the variant of type `ty`: the first whose shape fits.
    fn union_branch(&self, ptr: &str, ty: &Ty) -> String {
        self.union_branch_at(ptr, ty, 0)
    }

    /// `depth` bounds the search (a branch may `$ref` its own union).
    fn union_branch_at(&self, ptr: &str, ty: &Ty, depth: usize) -> String {
        let Some(Value::Array(branches)) = self.doc.pointer(ptr) else {
            return ptr.to_owned();
        };
        let fitting: Vec<String> = (0..branches.len())
            .map(|i| format!("{ptr}/{i}"))
            .filter(|p| {
                !is_null_schema(self.doc.pointer(p).unwrap_or(&Value::Null))
                    && self.fits(p, ty, depth)
            })
            .collect();
        // Two branches of one shape (two lists): the variant came from one of them, and is
        // accounted for when that one explains its values.
        let explains = |p: &String| {
            let mut values = Vec::new();
            self.collect(ty, p, depth + 1, &mut values);
            values.iter().all(|v| self.verdict(v) != Verdict::Silent)
        };
        if depth > 8 {
            return fitting.first().cloned().unwrap_or_else(|| ptr.to_owned());
        }
        fitting
            .iter()
            .find(|p| explains(p))
            .or(fitting.first())
            .cloned()
            .unwrap_or_else(|| ptr.to_owned())
    }

    /// Whether the schema at `p` can have given a value of type `ty` (its shape: a list, a map),
    /// directly or through one of its own union branches.
    fn fits(&self, p: &str, ty: &Ty, depth: usize) -> bool {
        let p = self.last(p);
        let s = self.doc.pointer(&p);
        let has = |k: &str| s.and_then(|s| s.get(k)).is_some();
        let typed = |t: &str| match s.and_then(|s| s.get("type")) {
            Some(Value::String(x)) => x == t,
            Some(Value::Array(xs)) => xs.iter().any(|x| x == t),
            _ => false,
        };
        // Properties the lowering ignores (malformed, empty) make no struct.
        let declares_properties = s
            .and_then(|s| s.get("properties"))
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty());
        let direct = match ty {
            Ty::Array(_) => typed("array") || has("items") || has("prefixItems"),
            Ty::Map(_) => (typed("object") || has("additionalProperties")) && !declares_properties,
            _ => true,
        };
        direct
            || (depth < 8
                && ["anyOf", "oneOf"].iter().any(|key| {
                    s.and_then(|s| s.get(*key))
                        .and_then(Value::as_array)
                        .is_some_and(|branches| {
                            (0..branches.len()).any(|i| {
                                !is_null_schema(&branches[i])
                                    && self.fits(&format!("{p}/{key}/{i}"), ty, depth + 1)
                            })
                        })
                }))
    }

    /// Free-form by the rules, else named by a diagnostic, else silent.
    fn verdict(&self, ptr: &str) -> Verdict {
        if let Some(rule) = self.free_form(ptr, 0) {
            return Verdict::FreeForm(rule);
        }
        let mut places = Vec::new();
        self.places(ptr, 0, &mut places);
        // Items or values that have no schema of their own (`<array>/items` absent) are typed
        // from their container: a diagnostic on the container names them.
        // The same for a pointer that resolves nowhere (the walk above stops following unions
        // several branches wide after a few levels): the nearest schema above it that exists.
        if self.doc.pointer(ptr).is_none() {
            let mut up = ptr;
            while let Some((parent, _)) = up.rsplit_once('/') {
                up = parent;
                if up.is_empty() || self.doc.pointer(up).is_some() {
                    break;
                }
            }
            places.push(up.to_owned());
        }
        // No schema is the whole document: a value whose pointer got lost (empty) is not named
        // by every diagnostic of its file.
        let named = |d: &&&Diagnostic| {
            places.iter().any(|p| {
                d.pointer == *p
                    || (!p.is_empty()
                        && d.pointer
                            .strip_prefix(p.as_str())
                            .is_some_and(|rest| rest.starts_with('/')))
            })
        };
        match self.diags.iter().find(named) {
            Some(d) => Verdict::Diagnosed((*d).clone()),
            None => Verdict::Silent,
        }
    }

    /// The schemas a value at `ptr` was typed from: its chain, and when that ends in a union
    /// or merge of several schemas, theirs (a `$ref` in a branch leads to a component, whose
    /// diagnostic names the component, not the branch).
    fn places(&self, ptr: &str, depth: usize, out: &mut Vec<String>) {
        let chain = self.chain(ptr);
        let last = chain.last().cloned().unwrap_or_else(|| ptr.to_owned());
        out.extend(chain);
        if depth >= 8 {
            return;
        }
        let Some(s) = self.doc.pointer(&last) else {
            return;
        };
        if let Value::Array(members) = s {
            // A tuple (`prefixItems`): its members.
            for i in 0..members.len() {
                self.places(&format!("{last}/{i}"), depth + 1, out);
            }
            return;
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(members) = s.get(key).and_then(Value::as_array) {
                for i in 0..members.len() {
                    let member = format!("{last}/{key}/{i}");
                    if !out.contains(&member) {
                        self.places(&member, depth + 1, out);
                    }
                }
            }
        }
    }

    /// `depth` bounds the walk through union branches (a branch may `$ref` its own union).
    fn free_form(&self, ptr: &str, depth: usize) -> Option<FreeForm> {
        let p = self.last(ptr);
        let Some(s) = self.doc.pointer(&p) else {
            // No schema there: the items of an array without `items`, or the values of an
            // object without `additionalProperties`.
            let parent = self.doc.pointer(p.rsplit_once('/')?.0)?;
            return match p.rsplit('/').next()? {
                "items" if parent.get("items").is_none() && parent.get("prefixItems").is_none() => {
                    Some(FreeForm::ArrayWithoutItems)
                }
                "additionalProperties"
                    if parent.get("additionalProperties").is_none() && no_properties(parent) =>
                {
                    Some(FreeForm::OpenMapValues)
                }
                _ => None,
            };
        };
        let last = p.rsplit('/').next().unwrap_or_default();
        match s {
            Value::Bool(true) if last == "items" => Some(FreeForm::ArrayWithoutItems),
            Value::Bool(true) if last == "additionalProperties" => {
                let parent = self.doc.pointer(p.rsplit_once('/')?.0)?;
                no_properties(parent).then_some(FreeForm::OpenMapValues)
            }
            Value::Bool(true) => Some(FreeForm::AnyValue),
            Value::Bool(false) if last == "additionalProperties" => {
                let parent = self.doc.pointer(p.rsplit_once('/')?.0)?;
                no_properties(parent).then_some(FreeForm::EmptyObject)
            }
            Value::Array(members) if last == "prefixItems" => {
                let free = depth < 8
                    && !members.is_empty()
                    && (0..members.len())
                        .all(|i| self.free_form(&format!("{p}/{i}"), depth + 1).is_some());
                free.then_some(FreeForm::FreeFormTuple)
            }
            Value::Object(o) => {
                if o.keys()
                    .all(|k| ANNOTATIONS.contains(&k.as_str()) || k.starts_with("x-"))
                {
                    return Some(FreeForm::AnyValue);
                }
                for key in ["anyOf", "oneOf"] {
                    if let Some(branches) = o.get(key).and_then(Value::as_array) {
                        let free = (0..branches.len())
                            .filter(|&i| !is_null_schema(&branches[i]))
                            .any(|i| {
                                depth < 8
                                    && self
                                        .free_form(&format!("{p}/{key}/{i}"), depth + 1)
                                        .is_some()
                            });
                        if free {
                            return Some(FreeForm::FreeBranch);
                        }
                    }
                }
                None
            }
            _ => None,
        }
    }
}

/// `{"type": "null"}`, `{"const": null}`, `{"enum": [null]}`: the null branch of a union.
fn is_null_schema(b: &Value) -> bool {
    b.get("type").and_then(Value::as_str) == Some("null")
        || b.get("const") == Some(&Value::Null)
        || b.get("enum")
            .and_then(Value::as_array)
            .is_some_and(|e| e.len() == 1 && e[0].is_null())
}

/// No `properties`, or an empty object of them.
fn no_properties(s: &Value) -> bool {
    match s.get("properties") {
        None => true,
        Some(Value::Object(o)) => o.is_empty(),
        Some(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::{Value, json};

    use super::*;
    use crate::ir::{Api, Diagnostic, Ty, TypeKind};

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

    fn audit(api: &Api, doc: &Value, diags: &[Diagnostic]) -> ValueAudit {
        let sources: BTreeMap<&str, &Value> = [("test.json", doc)].into_iter().collect();
        audit_api(api, &sources, diags)
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
        let audit = audit(&api, &doc, &diags);
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
    /// the audit follows the wrappers as far as the lowering does and finds the cut's
    /// diagnostic; without it the value is silent.
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
        let found = audit(&api, &doc, &diags);
        assert!(found.silent().is_empty(), "{:?}", found.silent());
        assert_eq!(found.diagnosed(), 1, "{:?}", found.sites);
        assert_eq!(audit(&api, &doc, &[]).silent().len(), 1);
    }

    /// The check fails on a silent fallback: the same document without its diagnostics, and a
    /// lowering that typed a typable schema as a JSON value without saying so.
    #[test]
    fn a_fallback_without_a_diagnostic_is_reported_as_silent() {
        let doc = free_form_and_broken();
        let (api, diags) = lower(&doc);
        let without = audit(&api, &doc, &[]);
        let silent: Vec<&str> = without
            .silent()
            .iter()
            .map(|s| s.place.trim_start_matches("Input."))
            .collect();
        assert_eq!(silent.len(), 11, "{silent:?}");
        assert!(silent.contains(&"typeless_format") && silent.contains(&"through_component"));
        // Free-form values need no diagnostic.
        assert_eq!(without.free_form(), audit(&api, &doc, &diags).free_form());

        // A regression of item 9: nullable items typed `Vec<serde_json::Value>` again.
        let mut broken = api.clone();
        let input = broken.endpoints[0].input;
        if let TypeKind::Struct { fields } = &mut broken.types[input.0].kind {
            let f = fields
                .iter_mut()
                .find(|f| f.wire == "nullable_items")
                .expect("field");
            f.ty = Ty::Array(Box::new(Ty::Any));
        }
        let found = audit(&broken, &doc, &diags);
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
            f.docs.pointer = String::new();
        }
        let found = audit(&lost, &doc, &diags);
        let silent: Vec<&str> = found.silent().iter().map(|s| s.place.as_str()).collect();
        assert_eq!(silent, ["Input.typeless_format"]);
    }
}
