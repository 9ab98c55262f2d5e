//! A fal queue document as a typed model: the endpoint, its input and output schemas with every
//! `$ref` resolved and fal's spellings of the same thing (nullable as `anyOf [X, null]`,
//! `nullable: true` or `type: [X, "null"]`; `const` vs a one-value `enum`; `$ref` with
//! siblings vs `allOf: [{$ref}]`) folded into one form. Every schema carries the JSON pointer it
//! was read at.
//!
//! Reading never fails on a well-formed JSON document: what cannot be understood (a dangling
//! `$ref`, a malformed `items`, a missing input schema) becomes [`Kind::Any`] or `None` plus a
//! [`Problem`] naming its JSON pointer.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::node::{Node, Properties, Shape, Slot};
use crate::{COMPONENT_REF, MAX_DEPTH, escape, unescape};

/// One endpoint's document, read.
#[derive(Debug, Default)]
pub struct Endpoint {
    /// The endpoint id (see [`crate::locate`]); `None` when the document names none.
    pub id: Option<String>,
    /// The submit operation's JSON request body.
    pub input: Option<Schema>,
    /// The 200 JSON answer of `GET /{id}/requests/{request_id}`.
    pub output: Option<Schema>,
    /// `info.title` and `info.x-fal-metadata`.
    pub metadata: Metadata,
    /// A streaming route (`.../stream`): fal documents those as endpoints of their own.
    pub streaming: bool,
    /// `info.x-fal-retired`: fal no longer lists the endpoint since this date.
    pub retired: Option<String>,
    /// `info.x-fal-source`: where a document that is not fal's own was recovered from.
    pub source: Option<String>,
    /// What could not be understood, by JSON pointer, sorted.
    pub problems: Vec<Problem>,
}

/// `info.title` and `info.x-fal-metadata`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metadata {
    pub title: Option<String>,
    pub about: Option<String>,
    pub category: Option<String>,
    pub playground_url: Option<String>,
    pub documentation_url: Option<String>,
}

impl Metadata {
    /// Reads `info.title` and `info.x-fal-metadata` (as written, untrimmed).
    pub fn read(doc: &Value) -> Metadata {
        let meta = doc.pointer("/info/x-fal-metadata");
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
        let field = |k: &str| text(meta.and_then(|m| m.get(k)));
        Metadata {
            title: text(doc.pointer("/info/title")),
            about: field("about"),
            category: field("category"),
            playground_url: field("playgroundUrl"),
            documentation_url: field("documentationUrl"),
        }
    }
}

/// Something in a document the reader had to guess about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Problem {
    /// JSON pointer into the document.
    pub pointer: String,
    /// What is wrong there.
    pub message: String,
}

/// A schema with references resolved and nullability folded in.
#[derive(Debug, Clone)]
pub struct Schema {
    /// The shape of the non-null values.
    pub kind: Kind,
    /// Whether `null` is accepted too.
    pub nullable: bool,
    /// Description, default, deprecation.
    pub docs: Docs,
    /// Validation keywords (`minimum`, `maxLength`, `pattern`, ...) by keyword.
    pub constraints: BTreeMap<&'static str, Value>,
    /// The component name when this schema was reached through a `$ref`.
    pub type_name: Option<String>,
    /// `format` (`binary`, `uri`, ...; one beside a `$ref` wins). Not part of equality: the
    /// diff compares what values a schema accepts.
    pub format: Option<String>,
    /// Where the schema was read (JSON pointer). Not part of equality: two versions of a
    /// document compare by meaning.
    pub pointer: String,
}

impl PartialEq for Schema {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
            && self.nullable == other.nullable
            && self.docs == other.docs
            && self.constraints == other.constraints
            && self.type_name == other.type_name
    }
}

/// A schema's annotations.
#[derive(Debug, Clone, Default)]
pub struct Docs {
    /// `description` (a `$ref` sibling wins over the target's).
    pub description: Option<String>,
    /// `default`, when given.
    pub default: Option<Value>,
    /// `deprecated: true` (beside a `$ref` too).
    pub deprecated: bool,
    /// `examples`, then OpenAPI 3.0's single `example`: those written beside a `$ref` or a
    /// union first, then the target's or the one non-null member's. Not part of equality:
    /// examples say nothing about what a schema accepts.
    pub examples: Vec<Value>,
}

impl PartialEq for Docs {
    fn eq(&self, other: &Self) -> bool {
        self.description == other.description
            && self.default == other.default
            && self.deprecated == other.deprecated
    }
}

/// The shape of a schema's non-null values.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Anything (`{}`, or what could not be understood).
    Any,
    /// Only `null` (`type: "null"`); inside a union it is folded into [`Schema::nullable`].
    Null,
    /// `boolean`.
    Bool,
    /// `integer`.
    Integer,
    /// `number`.
    Number,
    /// `string`.
    String,
    /// A closed list of values (`enum`, or `const` as a one-value list), in document order.
    Enum(Scalar, Vec<Value>),
    /// `array` of `items`.
    Array(Box<Schema>),
    /// `prefixItems`: a fixed-length array.
    Tuple(Vec<Schema>),
    /// An object with named properties (and maybe `additionalProperties`).
    Object(Object),
    /// An object with only `additionalProperties`: a map from string keys.
    Map(Box<Schema>),
    /// `anyOf`/`oneOf`/`type: [..]` of several non-null schemas.
    Union(Vec<Schema>),
    /// A `$ref` to a component already being expanded (a recursive type), by component name.
    Recursive(String),
}

/// The base type of an enum's values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scalar {
    /// All strings.
    String,
    /// All integers.
    Integer,
    /// All numbers, some not integral.
    Number,
    /// All booleans.
    Bool,
    /// A mixture (kept as-is; the generator falls back to a JSON value).
    Mixed,
}

/// An object schema's properties.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Object {
    /// Properties by name.
    pub properties: BTreeMap<String, Property>,
    /// `additionalProperties` when it is a schema (or `true`, as [`Kind::Any`]).
    pub additional: Option<Box<Schema>>,
}

/// One property of an object.
#[derive(Debug, Clone, PartialEq)]
pub struct Property {
    /// Listed in the object's `required`.
    pub required: bool,
    /// Its schema.
    pub schema: Schema,
}

impl Schema {
    fn of(kind: Kind) -> Schema {
        Schema {
            kind,
            nullable: false,
            docs: Docs::default(),
            constraints: BTreeMap::new(),
            type_name: None,
            format: None,
            pointer: String::new(),
        }
    }

    /// A short human name of the shape: `string`, `integer enum`, `array`, `ImageSize`, ...
    pub fn label(&self) -> String {
        let base = match (&self.kind, &self.type_name) {
            (Kind::Object(_), Some(name)) => name.clone(),
            (kind, _) if kind.is_free_form() => "free-form object".to_owned(),
            (Kind::Enum(scalar, _), _) => format!("{} enum", scalar.label()),
            (Kind::Array(items), _) => format!("array of {}", items.label()),
            (Kind::Map(values), _) => format!("map of {}", values.label()),
            (Kind::Union(members), _) => members
                .iter()
                .map(Schema::label)
                .collect::<Vec<_>>()
                .join(" | "),
            (Kind::Recursive(name), _) => name.clone(),
            (kind, _) => kind.tag().to_string(),
        };
        if self.nullable {
            format!("{base} | null")
        } else {
            base
        }
    }
}

impl Kind {
    /// An object whose keys and values are anything: `additionalProperties: true` or `{}`,
    /// or `type: object` without properties. The generator types it as a JSON map/value.
    pub fn is_free_form(&self) -> bool {
        match self {
            Kind::Map(values) => values.kind == Kind::Any,
            Kind::Object(object) => {
                object.properties.is_empty()
                    && object
                        .additional
                        .as_ref()
                        .is_none_or(|a| a.kind == Kind::Any)
            }
            _ => false,
        }
    }

    /// The kind without its contents, used to pair union members and name type changes.
    pub fn tag(&self) -> &'static str {
        match self {
            Kind::Any => "any",
            Kind::Null => "null",
            Kind::Bool => "boolean",
            Kind::Integer => "integer",
            Kind::Number => "number",
            Kind::String => "string",
            Kind::Enum(..) => "enum",
            Kind::Array(_) => "array",
            Kind::Tuple(_) => "tuple",
            Kind::Object(_) => "object",
            Kind::Map(_) => "map",
            Kind::Union(_) => "union",
            Kind::Recursive(_) => "object",
        }
    }
}

impl Scalar {
    /// `string`, `integer`, ...
    pub fn label(self) -> &'static str {
        match self {
            Scalar::String => "string",
            Scalar::Integer => "integer",
            Scalar::Number => "number",
            Scalar::Bool => "boolean",
            Scalar::Mixed => "mixed",
        }
    }

    /// The plain kind an enum of this scalar narrows, if any.
    pub fn base_kind(self) -> Option<Kind> {
        match self {
            Scalar::String => Some(Kind::String),
            Scalar::Integer => Some(Kind::Integer),
            Scalar::Number => Some(Kind::Number),
            Scalar::Bool => Some(Kind::Bool),
            Scalar::Mixed => None,
        }
    }
}

/// Expanding shared `$ref`s repeatedly can blow up; fal documents stay far below this.
const MAX_NODES: usize = 200_000;

impl Endpoint {
    /// Reads a parsed document. Never fails: see the module docs.
    pub fn read(doc: &Value) -> Endpoint {
        let mut loader = Loader::new(doc);
        if !doc.is_object() {
            loader.problem("", "the document is not a JSON object");
        }
        let (mut id, mut input, mut output) = (None, None, None);
        match crate::locate(doc) {
            Err(e) => loader.problem(&e.pointer, "missing endpoint id"),
            Ok(at) => {
                match at.input {
                    Some(schema) => input = Some(loader.schema(schema, &at.input_pointer, 0)),
                    None => loader.problem(&at.input_pointer, "missing input schema"),
                }
                match at.output {
                    Some(schema) => output = Some(loader.schema(schema, &at.output_pointer, 0)),
                    None => loader.problem(&at.output_pointer, "missing output schema"),
                }
                id = Some(at.id);
            }
        }
        let mut problems = loader.problems;
        problems.sort();
        problems.dedup();
        Endpoint {
            streaming: id.as_deref().is_some_and(|id| id.ends_with("/stream")),
            id,
            input,
            output,
            metadata: Metadata::read(doc),
            retired: crate::retired_since(doc).map(str::to_owned),
            source: crate::source_of(doc).map(str::to_owned),
            problems,
        }
    }
}

impl Schema {
    /// Reads one schema of `doc` (a property, a `$ref`'s target, ...) by the same rules as
    /// [`Endpoint::read`], without the problems. `pointer` is where `schema` sits in `doc`.
    pub fn read(doc: &Value, schema: &Value, pointer: &str) -> Schema {
        Loader::new(doc).schema(schema, pointer, 0)
    }

    /// Reads `#/components/schemas/{name}`: what a [`Kind::Recursive`] refers to. `None` when
    /// the document has no such component.
    pub fn component(doc: &Value, name: &str) -> Option<Schema> {
        let reference = format!("{COMPONENT_REF}{}", escape(name));
        doc.pointer(reference.strip_prefix('#')?)?;
        // Read as the `$ref` it stands for, so recursion is cut and named the same way.
        Some(Loader::new(doc).reference(&reference, "", 0))
    }
}

struct Loader<'a> {
    root: &'a Value,
    /// Component names being expanded, to cut recursion.
    stack: Vec<String>,
    problems: Vec<Problem>,
    nodes: usize,
}

impl<'a> Loader<'a> {
    fn new(root: &'a Value) -> Loader<'a> {
        Loader {
            root,
            stack: Vec::new(),
            problems: Vec::new(),
            nodes: 0,
        }
    }

    fn problem(&mut self, pointer: &str, message: impl Into<String>) {
        self.problems.push(Problem {
            pointer: pointer.to_owned(),
            message: message.into(),
        });
    }

    fn schema(&mut self, value: &Value, ptr: &str, depth: usize) -> Schema {
        self.nodes += 1;
        if depth > MAX_DEPTH || self.nodes > MAX_NODES {
            self.problem(ptr, "schema nested too deeply (or too large) to compare");
            return Schema::of(Kind::Any);
        }
        let node = Node::read(value);
        let mut schema = self.shape(&node, ptr, depth);
        // Annotations written beside the shape keywords win (fal puts `description` and
        // `default` beside `$ref` and `anyOf`).
        let annotations = &node.annotations;
        if let Some(d) = annotations.description() {
            schema.docs.description = Some(d.to_owned());
        }
        if let Some(d) = annotations.default_value() {
            schema.docs.default = Some(d.clone());
        }
        schema.nullable |= node.nullable;
        schema.docs.deprecated |= annotations.deprecated();
        let examples: Vec<Value> = annotations.examples().cloned().collect();
        if !examples.is_empty() {
            schema.docs.examples.splice(0..0, examples);
        }
        if let Some(format) = node.format() {
            schema.format = Some(format.to_owned());
        }
        for (keyword, v) in node.constraints() {
            schema.constraints.insert(keyword, v.clone());
        }
        schema.pointer = ptr.to_owned();
        schema
    }

    /// The shape keywords of a schema (without its own annotations).
    fn shape(&mut self, node: &Node, ptr: &str, depth: usize) -> Schema {
        match &node.shape {
            Shape::Any | Shape::Untyped(_) => Schema::of(Kind::Any),
            Shape::Nothing => {
                self.problem(ptr, "expected a schema object, found a boolean");
                Schema::of(Kind::Any)
            }
            Shape::NotASchema(found) => {
                self.problem(ptr, format!("expected a schema object, found {found}"));
                Schema::of(Kind::Any)
            }
            Shape::Malformed {
                keyword: "$ref", ..
            } => {
                self.problem(&format!("{ptr}/$ref"), "`$ref` is not a string");
                Schema::of(Kind::Any)
            }
            Shape::Malformed {
                keyword: "type",
                found,
            } => {
                self.problem(
                    &format!("{ptr}/type"),
                    format!("expected a type name, found {found}"),
                );
                Schema::of(Kind::Any)
            }
            Shape::Malformed { keyword, .. } => {
                self.problem(&format!("{ptr}/{keyword}"), "expected an array");
                Schema::of(Kind::Any)
            }
            Shape::Ref(reference) => self.reference(reference, &format!("{ptr}/$ref"), depth),
            Shape::AllOf(members) => self.all_of(members, &format!("{ptr}/allOf"), depth),
            Shape::AnyOf(keyword, members) => {
                let mut nullable = false;
                let mut kept = Vec::new();
                for (i, member) in members.iter().enumerate() {
                    let member = self.schema(member, &format!("{ptr}/{keyword}/{i}"), depth + 1);
                    nullable |= member.nullable;
                    if member.kind == Kind::Null {
                        nullable = true;
                        continue;
                    }
                    kept.push(Schema {
                        nullable: false,
                        ..member
                    });
                }
                let mut schema = union(kept);
                schema.nullable |= nullable;
                schema
            }
            // `const` is a one-value `enum` (so `const: null` only allows null, as `enum: [null]`).
            Shape::Const(value) => Self::enumeration(node, std::slice::from_ref(*value)),
            Shape::Enum(values) => Self::enumeration(node, values),
            Shape::Type(ty) => self.typed(ty, node, ptr, depth),
            Shape::Types {
                names,
                null,
                malformed,
            } => {
                if *malformed {
                    self.problem(&format!("{ptr}/type"), "expected type names");
                }
                let kept = names
                    .iter()
                    .map(|ty| self.typed(ty, node, ptr, depth))
                    .collect();
                let mut schema = union(kept);
                schema.nullable |= null;
                schema
            }
        }
    }

    fn enumeration(node: &Node, values: &[Value]) -> Schema {
        let non_null: Vec<Value> = values.iter().filter(|v| !v.is_null()).cloned().collect();
        let mut schema = if non_null.is_empty() {
            Schema::of(Kind::Null)
        } else {
            enum_schema(node.declared_type(), &non_null)
        };
        schema.nullable = non_null.len() < values.len();
        schema
    }

    fn typed(&mut self, ty: &str, node: &Node, ptr: &str, depth: usize) -> Schema {
        let kind = match ty {
            "null" => Kind::Null,
            "boolean" => Kind::Bool,
            "integer" => Kind::Integer,
            "number" => Kind::Number,
            "string" => Kind::String,
            "array" => self.array(node, ptr, depth),
            "object" => self.object(node, ptr, depth),
            other => {
                self.problem(&format!("{ptr}/type"), format!("unknown type `{other}`"));
                Kind::Any
            }
        };
        Schema::of(kind)
    }

    fn array(&mut self, node: &Node, ptr: &str, depth: usize) -> Kind {
        if let Some(Ok(prefix)) = node.prefix_items() {
            let items = prefix
                .iter()
                .enumerate()
                .map(|(i, item)| self.schema(item, &format!("{ptr}/prefixItems/{i}"), depth + 1))
                .collect();
            return Kind::Tuple(items);
        }
        let at = format!("{ptr}/items");
        let items = match node.items() {
            Slot::Absent | Slot::True => Schema::of(Kind::Any),
            // fal sometimes serialises a tuple as an object keyed "0", "1", ...
            Slot::Indexed => {
                self.problem(&at, "malformed `items` (an object keyed by index)");
                Schema::of(Kind::Any)
            }
            Slot::Schema(items) => self.schema(items, &at, depth + 1),
            Slot::False => {
                self.problem(&at, "expected a schema object, found a boolean");
                Schema::of(Kind::Any)
            }
            Slot::Malformed(found) => {
                self.problem(&at, format!("expected a schema object, found {found}"));
                Schema::of(Kind::Any)
            }
        };
        Kind::Array(Box::new(items))
    }

    fn object(&mut self, node: &Node, ptr: &str, depth: usize) -> Kind {
        let (required, well_formed) = node.required();
        if !well_formed {
            self.problem(
                &format!("{ptr}/required"),
                "`required` is not an array of property names; only its names are read",
            );
        }
        let mut object = Object::default();
        match node.properties() {
            Properties::Absent => {}
            Properties::Listed(props) => {
                for (name, prop) in props {
                    let schema = self.schema(
                        prop,
                        &format!("{ptr}/properties/{}", escape(name)),
                        depth + 1,
                    );
                    let required = required.contains(&name);
                    object
                        .properties
                        .insert(name.to_owned(), Property { required, schema });
                }
            }
            Properties::Malformed(found) => self.problem(
                &format!("{ptr}/properties"),
                format!("expected an object, found {found}"),
            ),
        }
        object.additional = match node.additional_properties() {
            Slot::True => Some(Box::new(Schema::of(Kind::Any))),
            Slot::Schema(schema) => Some(Box::new(self.schema(
                schema,
                &format!("{ptr}/additionalProperties"),
                depth + 1,
            ))),
            Slot::Absent | Slot::False | Slot::Indexed | Slot::Malformed(_) => None,
        };
        match object.additional.take() {
            Some(values) if object.properties.is_empty() => Kind::Map(values),
            additional => Kind::Object(Object {
                additional,
                ..object
            }),
        }
    }

    fn reference(&mut self, reference: &str, ptr: &str, depth: usize) -> Schema {
        let Some(target_ptr) = reference.strip_prefix('#') else {
            self.problem(ptr, format!("external `$ref` {reference} not supported"));
            return Schema::of(Kind::Any);
        };
        let name = target_ptr
            .rsplit('/')
            .next()
            .map(unescape)
            .unwrap_or_else(|| target_ptr.to_owned());
        if self.stack.contains(&name) {
            let mut schema = Schema::of(Kind::Recursive(name.clone()));
            schema.type_name = Some(name);
            return schema;
        }
        let Some(target) = self.root.pointer(target_ptr) else {
            self.problem(ptr, format!("dangling `$ref` {reference}"));
            return Schema::of(Kind::Any);
        };
        self.stack.push(name.clone());
        let mut schema = self.schema(target, target_ptr, depth + 1);
        self.stack.pop();
        schema.type_name.get_or_insert(name);
        schema
    }

    fn all_of(&mut self, members: &[Value], ptr: &str, depth: usize) -> Schema {
        let members: Vec<Schema> = members
            .iter()
            .enumerate()
            .map(|(i, m)| self.schema(m, &format!("{ptr}/{i}"), depth + 1))
            .collect();
        let mut members = members.into_iter();
        let Some(mut merged) = members.next() else {
            return Schema::of(Kind::Any);
        };
        // Several members: merge object properties (the only use seen in fal documents). A
        // property two members declare is the later one's, as in the generated types.
        for member in members {
            match (&mut merged.kind, member.kind) {
                (Kind::Object(into), Kind::Object(from)) => {
                    for (name, prop) in from.properties {
                        let required =
                            prop.required || into.properties.get(&name).is_some_and(|p| p.required);
                        into.properties.insert(name, Property { required, ..prop });
                    }
                }
                (_, Kind::Any) => {}
                _ => {
                    self.problem(
                        ptr,
                        "`allOf` of non-object schemas; only the first one is compared",
                    );
                }
            }
        }
        merged
    }
}

/// One schema from several alternatives. Enum members of one scalar type merge into one enum,
/// as the generator merges them; a member that allows anything makes the union allow anything
/// ([`crate::FreeForm::FreeBranch`]), as the generated type (a JSON value) does.
fn union(members: Vec<Schema>) -> Schema {
    if members.iter().any(|m| m.kind == Kind::Any) {
        return Schema::of(Kind::Any);
    }
    let mut members = members
        .into_iter()
        .fold(Vec::<Schema>::new(), |mut kept, member| {
            let merged = match (
                &member.kind,
                kept.iter_mut().find(|k| matches!(k.kind, Kind::Enum(..))),
            ) {
                (
                    Kind::Enum(scalar, values),
                    Some(Schema {
                        kind: Kind::Enum(into_scalar, into),
                        ..
                    }),
                ) if scalar == into_scalar => {
                    for value in values {
                        if !into.contains(value) {
                            into.push(value.clone());
                        }
                    }
                    true
                }
                _ => false,
            };
            if !merged {
                kept.push(member);
            }
            kept
        });
    match members.len() {
        0 => Schema::of(Kind::Any),
        1 => members.pop().expect("one member"),
        _ => Schema::of(Kind::Union(members)),
    }
}

fn enum_schema(declared: Option<&str>, values: &[Value]) -> Schema {
    let declared = match declared {
        Some("string") => Some(Scalar::String),
        Some("integer") => Some(Scalar::Integer),
        Some("number") => Some(Scalar::Number),
        Some("boolean") => Some(Scalar::Bool),
        _ => None,
    };
    let scalar = declared.unwrap_or_else(|| {
        if values.iter().all(Value::is_string) {
            Scalar::String
        } else if values.iter().all(|v| v.is_i64() || v.is_u64()) {
            Scalar::Integer
        } else if values.iter().all(Value::is_number) {
            Scalar::Number
        } else if values.iter().all(Value::is_boolean) {
            Scalar::Bool
        } else {
            Scalar::Mixed
        }
    });
    Schema::of(Kind::Enum(scalar, values.to_vec()))
}
