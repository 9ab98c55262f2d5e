//! The intermediate representation: what the generator understood of the documents, before any
//! Rust is written. Lowering (`lower.rs`) builds it, sharing (`share.rs`) rewrites it, and the
//! emitter (`emit.rs`) turns it into tokens.

use fal_schema::FreeForm;
use serde_json::Value;

/// Index of a [`TypeDef`] in [`Api::types`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TypeRef(pub usize);

/// A Rust type expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    String,
    /// `{"type": "string", "format": "binary"}`: bytes (`fal_models_core::Binary`).
    Bytes,
    Integer,
    Number,
    Boolean,
    /// Anything: `serde_json::Value`. Used for `{}` and as the fallback of broken constructs;
    /// [`Why`] says which.
    Any(Why),
    Array(Box<Ty>),
    /// `additionalProperties`: a string-keyed map.
    Map(Box<Ty>),
    /// A nullable item of a list or value of a map: `Option<T>`.
    Optional(Box<Ty>),
    Named(TypeRef),
}

/// Why a spot of the generated code is `serde_json::Value`: what the value audit
/// (`fallback.rs`) reads. Not part of equality: every reason gives the same Rust type, and types
/// are compared (reused, shared) as Rust types.
#[derive(Debug, Clone)]
pub struct Why {
    /// The JSON pointer of the spot typed as a JSON value. It may name no schema: the items of
    /// an array without `items` are at `<array>/items`.
    pub pointer: String,
    /// `Some`: genuinely free-form, by this rule. `None`: the generator could not type it, and
    /// a diagnostic at `pointer` says so.
    pub free_form: Option<FreeForm>,
}

impl Why {
    pub fn free(rule: FreeForm, pointer: &str) -> Why {
        Why {
            pointer: pointer.to_owned(),
            free_form: Some(rule),
        }
    }

    pub fn diagnosed(pointer: &str) -> Why {
        Why {
            pointer: pointer.to_owned(),
            free_form: None,
        }
    }
}

impl PartialEq for Why {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Documentation gathered from a schema: description, default, constraints, examples.
#[derive(Debug, Clone, Default)]
pub struct Docs {
    /// Where the schema is in its document (JSON pointer); not part of equality.
    pub pointer: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub default: Option<Value>,
    /// Human-readable constraints such as `1 ≤ value ≤ 10` or `at most 4 items`.
    pub constraints: Vec<String>,
    pub examples: Vec<Value>,
}

impl PartialEq for Docs {
    fn eq(&self, other: &Self) -> bool {
        self.title == other.title
            && self.description == other.description
            && self.default == other.default
            && self.constraints == other.constraints
            && self.examples == other.examples
    }
}

/// One property of a struct.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The name on the wire (the JSON key).
    pub wire: String,
    /// The Rust field name (may be a raw identifier such as `r#type`).
    pub ident: String,
    pub ty: Ty,
    pub required: bool,
    /// `null` is allowed on the wire.
    pub nullable: bool,
    pub docs: Docs,
    /// Holds a credential: redacted in `Debug`.
    pub secret: bool,
    /// `deprecated: true` in the document: `#[deprecated]` on the field and its setter.
    pub deprecated: bool,
}

impl Field {
    /// Whether the Rust type wraps the value in `Option`.
    pub fn is_option(&self) -> bool {
        !self.required || self.nullable
    }
}

/// A variant of an open enum.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant<T> {
    pub ident: String,
    pub wire: T,
}

/// A variant of an untagged union.
#[derive(Debug, Clone, PartialEq)]
pub struct UnionVariant {
    pub ident: String,
    pub ty: Ty,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TypeKind {
    Struct {
        fields: Vec<Field>,
    },
    /// An open string enum: the listed values plus a catch-all keeping any other string.
    StrEnum {
        variants: Vec<Variant<String>>,
        catch_all: String,
    },
    /// An open integer enum.
    IntEnum {
        variants: Vec<Variant<i64>>,
        catch_all: String,
    },
    /// An untagged union (`anyOf`/`oneOf` of several non-null schemas).
    Union {
        variants: Vec<UnionVariant>,
    },
    /// `pub type Name = Ty;` (an output that is not an object, such as `{}`).
    Alias(Ty),
    /// `pub struct Name(pub Ty);`, transparent on the wire (an input that is not an object).
    Newtype(Ty),
}

/// What a type is for; decides which conveniences it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The endpoint's input: implements `Endpoint`.
    Input,
    Output,
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TypeDef {
    /// The name inside the endpoint module (`Input`, `AspectRatio`, `File`).
    pub name: String,
    /// The name it would take in the shared `types` module (component name or inline name).
    pub base_name: String,
    pub docs: Docs,
    pub kind: TypeKind,
    pub role: Role,
    /// The endpoint that defined it (index in [`Api::endpoints`]).
    pub owner: usize,
    /// Set by sharing: the type is emitted once in the shared module under this name.
    pub shared_name: Option<String>,
    /// Set by sharing on every copy of a shared type: the copy that is emitted.
    pub canonical: Option<TypeRef>,
    /// Reachable from an input: gets setters (every struct gets `new`).
    pub builder: bool,
    /// Must be boxed where it refers to itself (set for recursive types).
    pub recursive: bool,
}

/// One endpoint: a module with its `Input`, `Output` and local types.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointDef {
    pub id: String,
    /// Where the document came from, for headers and diagnostics.
    pub source: String,
    pub module_path: Vec<String>,
    pub feature: String,
    pub title: Option<String>,
    pub about: Option<String>,
    pub category: Option<String>,
    pub playground_url: Option<String>,
    pub documentation_url: Option<String>,
    /// `info.x-fal-source`: set when the document is not fal's own but was recovered from
    /// another copy (a schema pipeline's output), and says which.
    pub recovered_from: Option<String>,
    /// fal no longer lists the endpoint since this date (`info.x-fal-retired`): every public
    /// item of its module is `#[deprecated]`.
    pub retired: Option<String>,
    pub input: TypeRef,
    pub output: TypeRef,
    /// Every type this endpoint defined, in definition order. After sharing: only the types
    /// emitted in the endpoint's own module.
    pub types: Vec<TypeRef>,
    /// Shared types this endpoint re-exports: (local name, shared type).
    pub reexports: Vec<(String, TypeRef)>,
    /// The input's JSON Schema, standalone, as JSON text (see `schema_export`).
    pub input_schema: String,
}

/// A problem in a document. The generator goes on: the spot falls back to `serde_json::Value`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Diagnostic {
    pub file: String,
    /// JSON pointer into the document (RFC 6901).
    pub pointer: String,
    pub message: String,
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}#{}: {}", self.file, self.pointer, self.message)
    }
}

/// Everything generated from a set of documents.
#[derive(Debug, Clone, Default)]
pub struct Api {
    pub types: Vec<TypeDef>,
    pub endpoints: Vec<EndpointDef>,
    /// Types emitted once in the shared `types` module, in emission order.
    pub shared: Vec<TypeRef>,
}

impl Api {
    pub fn ty(&self, r: TypeRef) -> &TypeDef {
        &self.types[r.0]
    }
}
