//! fal-schema: a fal.ai queue OpenAPI document, read once.
//!
//! fal-models reads fal's documents in several places: the generator (`fal-codegen`), its value
//! audit and its JSON Schema export, `cargo xtask diff`, and the mock server's validation. The
//! decisions they share live here, so that they cannot disagree:
//!
//! - which operation is the endpoint's input and which its output ([`locate`]);
//! - how deep a schema is followed ([`MAX_DEPTH`]);
//! - which fields hold credentials ([`is_secret_name`], [`is_secret`]);
//! - why a spot is free-form ([`FreeForm`], [`ANNOTATIONS`]);
//! - the validation keywords ([`CONSTRAINT_KEYWORDS`]) and JSON pointer escaping ([`escape`]);
//! - the markers fal-models' own tools write in `info` ([`retired_since`], [`source_of`]);
//! - how one schema object reads: which keyword gives it its shape, what is malformed, which
//!   union branch is only `null`, the order of its properties ([`node`]).
//!
//! Two walks build on [`node`]. [`model`] turns a document into a typed, normalized,
//! pointer-carrying [`model::Endpoint`]: `$ref`, `allOf` wrappers, `anyOf`-with-null,
//! `type: [X, "null"]`, `const` and `nullable: true` folded once (the diff and the mock use it).
//! The generator's lowering walks [`Node`]s itself, because it keeps what the model folds
//! away: which component a `$ref` names (a Rust type of its own) and each schema's own pointer.
//!
//! ```
//! let doc = serde_json::json!({
//!     "info": {"x-fal-metadata": {"endpointId": "acme/cat"}},
//!     "paths": {"/acme/cat": {"post": {"requestBody": {"content": {"application/json": {
//!         "schema": {"type": "object", "properties": {"openai_apikey": {"type": "string"}}}
//!     }}}}}}
//! });
//! let at = fal_schema::locate(&doc).unwrap();
//! assert_eq!(at.id, "acme/cat");
//! assert_eq!(at.input_pointer, "/paths/~1acme~1cat/post/requestBody/content/application~1json/schema");
//! // A credential by its name: hidden in `Debug`, listed in `SECRET_FIELDS`, scrubbed from errors.
//! assert!(fal_schema::is_secret_name("openai_apikey"));
//! ```

use serde_json::Value;

pub mod model;
pub mod node;

pub use model::{Endpoint, Kind, Schema};
pub use node::{Node, Shape};

/// The deepest nesting of schemas any reader follows. fal's documents nest a handful of levels;
/// a document nesting hundreds would overflow the stack of a recursive walk (and of the Rust
/// compiler on generated code), so past this depth a schema is read as free-form with a
/// diagnostic (or, in the mock, accepted as is).
pub const MAX_DEPTH: usize = 32;

/// JSON pointer escaping of one reference token (RFC 6901).
pub fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The inverse of [`escape`].
pub fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

/// The validation keywords of fal's schemas: what the generator documents, the diff compares
/// and the mock checks.
pub const CONSTRAINT_KEYWORDS: [&str; 10] = [
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "pattern",
    "multipleOf",
];

/// Keywords that carry no constraint on a value's type: a schema of these alone (and `x-*`
/// vendor keys) allows any value ([`FreeForm::AnyValue`]).
pub const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "default",
    "examples",
    "example",
    "deprecated",
    "nullable",
    "readOnly",
    "writeOnly",
    "$schema",
    "$id",
    "$comment",
    "$defs",
    "definitions",
    "externalDocs",
    "xml",
    "discriminator",
    "contentMediaType",
    "contentEncoding",
];

/// Whether a schema object is annotations only (see [`ANNOTATIONS`]).
pub fn is_annotations_only(schema: &serde_json::Map<String, Value>) -> bool {
    schema
        .keys()
        .all(|k| ANNOTATIONS.contains(&k.as_str()) || k.starts_with("x-"))
}

/// Why a spot is genuinely free-form (any JSON value is right there, so the generated code
/// says `serde_json::Value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FreeForm {
    /// `true`, `{}`, or a schema of annotations only (`title`, `description`, `default`,
    /// `examples`, `deprecated`, `nullable`, `x-*`...): no type and no keyword that implies one.
    AnyValue,
    /// `anyOf`/`oneOf` with a branch that is itself free-form: the union allows any value.
    FreeBranch,
    /// The values of an object that declares no properties and no `additionalProperties`
    /// schema (`{"type": "object"}`, `additionalProperties: true`): an open string-keyed map.
    OpenMapValues,
    /// The items of an array without `items` (`{"type": "array"}`, `items: true`).
    ArrayWithoutItems,
    /// The values of an object that allows no keys at all (`additionalProperties: false` and
    /// no properties): the map is always empty, no value is ever held.
    EmptyObject,
    /// The items of a tuple (`prefixItems`) whose members are all free-form.
    FreeFormTuple,
}

impl FreeForm {
    pub fn describe(self) -> &'static str {
        match self {
            FreeForm::AnyValue => "a schema with no type and no keyword implying one",
            FreeForm::FreeBranch => "a union with a free-form branch",
            FreeForm::OpenMapValues => "the values of an object without properties",
            FreeForm::ArrayWithoutItems => "the items of an array without `items`",
            FreeForm::EmptyObject => "an object that allows no keys",
            FreeForm::FreeFormTuple => "the items of a tuple of free-form members",
        }
    }
}

/// Whether a field of this wire name holds a credential, by its name alone: `api_key`,
/// `*_api_key`, `*apikey` (`openai_apikey`), `token`, `*_token`, and anything containing
/// `password` or `secret`. The client scrubs values of such fields from errors even for
/// untyped calls, where no schema is at hand.
pub fn is_secret_name(name: &str) -> bool {
    // Compared ignoring ASCII case, in place: the client asks for every field name of every
    // input it sends.
    let name = name.as_bytes();
    let is = |word: &str| name.eq_ignore_ascii_case(word.as_bytes());
    let ends_with = |end: &str| {
        name.len() >= end.len()
            && name[name.len() - end.len()..].eq_ignore_ascii_case(end.as_bytes())
    };
    let contains = |part: &str| {
        name.windows(part.len())
            .any(|w| w.eq_ignore_ascii_case(part.as_bytes()))
    };
    is("api_key")
        || ends_with("_api_key")
        || ends_with("apikey")
        || ends_with("_token")
        || is("token")
        || contains("password")
        || contains("secret")
}

/// Whether a property holds a credential: its name says so ([`is_secret_name`]), or its schema
/// is marked `format: password` or `writeOnly: true`. Such fields are redacted in `Debug`,
/// listed in `Endpoint::SECRET_FIELDS` and scrubbed from every error.
pub fn is_secret(name: &str, schema: &Value) -> bool {
    let schema = Node::read(schema);
    is_secret_name(name) || schema.format() == Some("password") || schema.write_only()
}

/// The key in a document's `info` that marks an endpoint fal no longer lists; its value is the
/// date (`YYYY-MM-DD`) of the first listing without it. `cargo xtask sync` writes it.
pub const RETIRED_KEY: &str = "x-fal-retired";

/// The key in a document's `info` naming where a document that is not fal's own was recovered
/// from (a schema pipeline's output).
pub const SOURCE_KEY: &str = "x-fal-source";

/// The date since which fal no longer lists the document's endpoint (`info.x-fal-retired`).
pub fn retired_since(doc: &Value) -> Option<&str> {
    doc.get("info")?
        .get(RETIRED_KEY)?
        .as_str()
        .map(str::trim)
        .filter(|d| !d.is_empty())
}

/// `info.x-fal-source`: where the document was recovered from, when it is not fal's own.
pub fn source_of(doc: &Value) -> Option<&str> {
    doc.get("info")?.get(SOURCE_KEY)?.as_str()
}

/// The path template of the result operation under a submit path.
pub const RESULT_SUFFIX: &str = "/requests/{request_id}";

/// Where an endpoint's input and output are in its document (see [`locate`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Located<'a> {
    /// The endpoint id: `info.x-fal-metadata.endpointId`, else the submit path without its
    /// leading `/`.
    pub id: String,
    /// The submit path (`/{id}`), when the document has that POST operation.
    pub submit_path: Option<&'a str>,
    /// The JSON pointer of the input schema (the submit operation's JSON request body). It
    /// names the spot even when nothing is there.
    pub input_pointer: String,
    pub input: Option<&'a Value>,
    /// The JSON pointer of the output schema (the 200 JSON answer of
    /// `GET /{id}/requests/{request_id}`). It names the spot even when nothing is there.
    pub output_pointer: String,
    pub output: Option<&'a Value>,
}

/// Why a document names no endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnEndpoint {
    /// JSON pointer of what is missing.
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for NotAnEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.pointer, self.message)
    }
}

/// The one rule for an endpoint's input and output.
///
/// The client submits to `POST {queue}/{id}` and reads the result from
/// `GET {queue}/{id}/requests/{request_id}`, where `id` is the endpoint id
/// (`info.x-fal-metadata.endpointId`). So the submit path is exactly `/{id}` when the document
/// has that POST operation; else (a document without the id, or whose one submit path is
/// spelled otherwise) it is the first POST path not under `/requests/`, never a POST under
/// `/requests/` (which the client never sends a body to). The input is that operation's JSON
/// request body, and the output the JSON 200 answer of `GET {submit path}/requests/{request_id}`,
/// not a result path under some other prefix. Without metadata the id is the submit path
/// without its leading `/`.
///
/// `Err` only when there is no id at all. A missing input or output is `None` with its pointer.
pub fn locate(doc: &Value) -> Result<Located<'_>, NotAnEndpoint> {
    let paths = doc.get("paths").and_then(Value::as_object);
    let exact = |id: &str| {
        paths.and_then(|p| {
            p.get_key_value(&format!("/{id}"))
                .filter(|(_, item)| item.get("post").is_some())
                .map(|(k, _)| k.as_str())
        })
    };
    let any_submit = || {
        paths
            .and_then(|p| {
                p.iter()
                    .find(|(k, v)| !k.contains("/requests/") && v.get("post").is_some())
            })
            .map(|(k, _)| k.as_str())
    };
    let meta_id = doc
        .pointer("/info/x-fal-metadata/endpointId")
        .and_then(Value::as_str);
    let (id, submit_path) = match meta_id {
        Some(id) => (id.to_owned(), exact(id).or_else(any_submit)),
        None => {
            let path = any_submit().ok_or_else(|| NotAnEndpoint {
                pointer: "/info/x-fal-metadata/endpointId".into(),
                message: "no endpoint id and no submit path".into(),
            })?;
            (path.trim_start_matches('/').to_owned(), Some(path))
        }
    };
    let submit = submit_path.map_or_else(|| format!("/{id}"), str::to_owned);
    let input_pointer = format!(
        "/paths/{}/post/requestBody/content/application~1json/schema",
        escape(&submit)
    );
    let output_pointer = format!(
        "/paths/{}/get/responses/200/content/application~1json/schema",
        escape(&format!("{submit}{RESULT_SUFFIX}"))
    );
    Ok(Located {
        input: doc.pointer(&input_pointer),
        output: doc.pointer(&output_pointer),
        id,
        submit_path,
        input_pointer,
        output_pointer,
    })
}

/// What a `$ref` to a component starts with.
pub const COMPONENT_REF: &str = "#/components/schemas/";

/// The component a `$ref` names: `#/components/schemas/<name>`, the name one JSON pointer
/// token, unescaped (`A~1B` is the component `A/B`). `None` for any other reference.
pub fn component_of(reference: &str) -> Option<String> {
    reference
        .strip_prefix(COMPONENT_REF)
        .filter(|token| !token.contains('/'))
        .map(unescape)
}

/// `items` written as an object keyed by indices (`{"0": {..}, "1": {..}}`): fal's
/// serialisation of a tuple gone wrong, no schema. Every reader takes the items as untyped.
pub fn is_indexed_items(items: &Value) -> bool {
    items
        .as_object()
        .is_some_and(|o| !o.is_empty() && o.keys().all(|k| k.parse::<usize>().is_ok()))
}

/// The pointer of `#/components/schemas/{name}`.
pub fn component_pointer(name: &str) -> String {
    format!("/components/schemas/{}", escape(name))
}

/// `#/components/schemas/{name}`, when the document has it.
pub fn component<'a>(doc: &'a Value, name: &str) -> Option<&'a Value> {
    doc.pointer(&component_pointer(name))
}

/// The document's `components.schemas`, by name (in key order).
pub fn components(doc: &Value) -> impl Iterator<Item = (&str, &Value)> {
    let components = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object);
    components
        .into_iter()
        .flatten()
        .map(|(name, schema)| (name.as_str(), schema))
}

/// The component a schema names by `$ref` (or by the older wrapper `allOf: [{$ref}]`).
pub fn ref_target(schema: &Value) -> Option<String> {
    let r = schema.get("$ref").and_then(Value::as_str).or_else(|| {
        match schema
            .get("allOf")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
        {
            Some([one]) => one.get("$ref").and_then(Value::as_str),
            _ => None,
        }
    })?;
    component_of(r)
}

#[cfg(test)]
mod tests;
