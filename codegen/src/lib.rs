//! fal-codegen: typed Rust bindings from fal.ai queue OpenAPI documents.
//!
//! The pipeline is document -> IR (`ir.rs`) -> Rust tokens (`quote`) -> `prettyplease`.
//! fal's documents use a loose mix of OpenAPI 3.0 and JSON Schema 3.1 idioms, so the reader is
//! tolerant: what it cannot type becomes `serde_json::Value` with a [`Diagnostic`] naming the
//! file and JSON pointer, and generation goes on.
//!
//! Use it from `cargo xtask regen` (this workspace) or from your own `build.rs`:
//!
//! ```no_run
//! // build.rs
//! let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap());
//! let doc = fal_codegen::Document::load("openapi/my-app.json").unwrap();
//! let generated = fal_codegen::Config::new().generate(&[doc]);
//! for d in &generated.diagnostics {
//!     println!("cargo::warning={d}");
//! }
//! std::fs::write(out.join("fal_app.rs"), generated.single_file()).unwrap();
//! ```
//!
//! and in the crate: `include!(concat!(env!("OUT_DIR"), "/fal_app.rs"));`.
//!
//! # What the generated API looks like, and how things are named
//!
//! Every public name is a function of its endpoint's own document: generating more, fewer or
//! other documents never renames or re-documents an endpoint's items, and no name carries a
//! number added to tell types apart.
//!
//! - **Modules**: one per endpoint id segment, snake_case (`v2.2` is `v2_2`); a segment starting
//!   with a digit gets a `v` (`3d-objects` is `v3d_objects`, `480p` is `v480p`).
//! - **Types**: each endpoint owns its types (its module holds `Input`, `Output` and the rest).
//!   A component is named by its title, else its key, without a leading copy of the module path
//!   (`KlingV3MultiPromptElement` in `fal-ai/kling-video/v3/..` is `MultiPromptElement`); an
//!   inline type by its property (`AspectRatio`), then its parent type and property
//!   (`OutputStyle`), then its place in the document (`InputLorasItemScale`), then its JSON
//!   pointer spelled out. Component names are reserved before inline types are named, so the
//!   walk order never decides a name.
//! - **Shared types**: only fal's media types (`File`, `Image`, `ImageFile`, `Video`,
//!   `VideoFile`, `Audio`), when an endpoint's type of that name has the canonical shape, are
//!   one type in the `types` module with a fixed, neutral definition; the endpoint's
//!   description of each use is on the referencing field.
//! - **Names like the standard library's**: a model's `duration` option is an enum `Duration`,
//!   as its document says; it is not renamed for `std::time::Duration` (which the client's
//!   `.timeout()` takes), since a rename for one endpoint would make names depend on more than
//!   its document and would break the common case. Its docs say so; where both are used, import
//!   one under another name (`use std::time::Duration as StdDuration;`) or write its path.
//! - **Enum variants**: by value, digit groups kept apart by `_` (`"16:9"` is `Ratio16_9`,
//!   `"landscape_16_9"` is `Landscape16_9`, `"mp3_44100_128"` is `Mp3_44100_128`), `"8s"` is
//!   `Seconds8`, `"720p"` is `P720`; the catch-all is `Unknown` in every enum (a listed value
//!   `"unknown"` is `UnknownValue`). Two values that read the same: the later is spelled
//!   exactly (`"fast "` is `FastU20`), then in hex.
//! - **Constructors**: `new` takes the required fields, `prompt` first when there is one, then
//!   the others in the document's order. Types reachable from an input get a setter per
//!   optional field; output-only types get `new` alone (set optional fields by assignment).
//!   URL fields take strings: fal accepts URLs and data URIs alike, and the prompt-first rule
//!   already fixes the order of the one pair of strings most endpoints take.
//! - **Docs**: fields and setters carry the document's description, default, allowed values,
//!   range and an example; `deprecated: true` is `#[deprecated]` on the field and the setter.
//! - **Inputs** keep undeclared fields in a flattened `extra` map (`.extra(key, value)`).
//! - Schemas nesting deeper than [`MAX_SCHEMA_DEPTH`] levels are typed as `serde_json::Value`
//!   with a diagnostic, so no document can overflow the stack.
//!
//! # When a type is `serde_json::Value`
//!
//! Only where the schema is genuinely free-form ([`FreeForm`]), or with a [`Diagnostic`]
//! naming the file and the JSON pointer of the schema that could not be typed. Free-form is:
//! `true`, `{}` or a schema of annotations only (no `type` and no keyword that implies one);
//! a union with a free-form branch; the values of an object without properties (no
//! `additionalProperties`, `true` or `{}`: a `BTreeMap<String, serde_json::Value>`); the
//! items of an array without `items`, or of a tuple whose members are all free-form; the
//! values of an object that allows no keys at all.
//! Everything else that ends up a JSON value is diagnosed: a dangling or foreign `$ref`, a
//! mixed-type `enum`, a schema that allows only `null`, a typeless schema with constraints
//! (`{"format": "uri"}`), `false`, malformed `items`, `prefixItems`, `properties` or
//! `additionalProperties`, nesting past the limits. Nullable items and map values are typed
//! (`Vec<Option<T>>`). [`audit_values`] checks this on any set of documents; the
//! `value_fallbacks` test runs it over every vendored document and `cargo xtask corpus` prints
//! its counts. The `extra` map of inputs (undeclared keys) is the one JSON map that comes from
//! no schema.

mod config;
mod emit;
mod examples;
mod fallback;
mod ir;
mod layout;
mod lower;
mod naming;
mod schema_export;
mod share;

pub use config::{Config, Document, FieldDoc, Generated, WriteReport};
pub use examples::Example;
/// The deepest nesting of schemas typed (fal-schema's one depth limit).
pub use fal_schema::MAX_DEPTH as MAX_SCHEMA_DEPTH;
pub use fallback::{FreeForm, ValueAudit, ValueSite, Verdict, audit_values};
pub use ir::Diagnostic;
pub use layout::{SplitFiles, UNIT_DEPTH, shard_of};
pub use naming::{endpoint_module_path, family_feature};
