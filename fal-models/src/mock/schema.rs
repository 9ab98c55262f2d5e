//! An endpoint as the mock server knows it: input validation against the OpenAPI document (fal's
//! JSON Schema subset, errors in fal's 422 format) and an example output.
//!
//! Inputs are validated against the document as `fal-schema` reads it (the model the generator
//! is checked against and `xtask diff` compares), so the mock accepts what the generated types
//! can express: `null` where a field is nullable in any of fal's spellings, any string where an
//! `enum` is only written beside `anyOf`. Example inputs and outputs are built from the same model
//! (its `examples`, defaults, constraints and `format: binary` for realtime's msgpack), so an
//! example is always one the validation accepts.
//!
//! Hand-written rather than the `jsonschema` crate, measured (debug build, 12 seed documents,
//! 78 inputs): both reach the same verdict on every input (`tests/mock_validation.rs` keeps
//! `jsonschema` as the oracle), and both are fast enough (25 us vs 7 us per validation, next to
//! a loopback HTTP exchange). What `jsonschema` would not save: fal's 422 is pydantic's
//! (`loc`, `msg`, `type`, `ctx`, one error per field, `required` at the field), so each
//! JSON Schema error kind still needs its own translation, about as long as the checks here;
//! OpenAPI 3.0 forms in fal's documents (`nullable`, boolean `exclusiveMinimum`) need
//! rewriting first; and it adds 40 crates to the `mock` feature.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use fal_schema::model::{Kind, Object, Schema};
use serde_json::{Map, Value, json};

use crate::error::{FieldError, LocSegment};

/// Recursion limit for validation and example building (schemas can be recursive): the one
/// depth limit of every reader of fal's documents.
const MAX_DEPTH: usize = fal_schema::MAX_DEPTH;

/// One endpoint served by the mock: its id, input schema and the output it answers with.
#[derive(Debug, Clone)]
pub struct EndpointSpec {
    endpoint_id: String,
    /// The whole document, for resolving recursive `$ref`s; `None` for endpoints without a
    /// schema.
    document: Option<Value>,
    /// The input schema read by fal-schema, which inputs are validated against and example
    /// inputs built from; `None` accepts any JSON object.
    input_schema: Option<Schema>,
    /// The components the input refers to recursively ([`Kind::Recursive`]), read once.
    components: BTreeMap<String, Schema>,
    output: Value,
    /// The output's schema, read by fal-schema (`None` when not documented); realtime packs
    /// its binary strings.
    #[cfg_attr(not(feature = "realtime"), allow(dead_code))]
    output_schema: Option<Schema>,
    /// (input field, output list) pairs where the input sets the list's length (outputs.rs).
    counts: Vec<(String, String)>,
}

impl EndpointSpec {
    /// Reads a fal queue OpenAPI document: the endpoint id from `info.x-fal-metadata.endpointId`
    /// (else the POST path), the input from the POST body, the output example from the
    /// `GET .../requests/{request_id}` answer.
    pub fn from_document(document: Value) -> Result<EndpointSpec, String> {
        if document.get("paths").and_then(Value::as_object).is_none() {
            return Err("the document has no `paths`".into());
        }
        // The one rule of fal-schema: the body of exactly `POST /{id}`, the answer of exactly
        // `GET /{id}/requests/{request_id}` (as the generator and the diff read them).
        let at = fal_schema::locate(&document).map_err(|e| e.to_string())?;
        if at.submit_path.is_none() {
            return Err(format!("the document has no `POST /{}` operation", at.id));
        }
        let endpoint_id = served_id(&at.id);
        let input_schema = at
            .input
            .map(|schema| Schema::read(&document, schema, &at.input_pointer));
        let components = input_schema
            .as_ref()
            .map(|schema| recursive_components(&document, schema))
            .unwrap_or_default();
        let output_schema = at
            .output
            .map(|schema| Schema::read(&document, schema, &at.output_pointer));
        let mut spec = EndpointSpec {
            endpoint_id,
            document: Some(document),
            input_schema,
            components,
            output: Value::Null,
            output_schema,
            counts: Vec::new(),
        };
        spec.output = spec
            .output_schema
            .as_ref()
            .and_then(|schema| spec.example(schema, 0))
            .unwrap_or_else(|| json!({}));
        let category = spec.document.as_ref().map(category).unwrap_or_default();
        super::outputs::fill_files(&mut spec.output, &category);
        let input_fields = spec.input_properties();
        spec.counts = super::outputs::count_fields(&input_fields, &spec.output);
        Ok(spec)
    }

    /// Reads [`from_document`](Self::from_document) from a file.
    pub fn from_file(path: &Path) -> Result<EndpointSpec, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let document =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_document(document).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// An endpoint without a schema: any JSON object is accepted, `output` is the answer.
    pub fn with_output(endpoint_id: impl Into<String>, output: Value) -> EndpointSpec {
        EndpointSpec {
            endpoint_id: endpoint_id.into().trim_matches('/').to_owned(),
            document: None,
            input_schema: None,
            components: BTreeMap::new(),
            output,
            output_schema: None,
            counts: Vec::new(),
        }
    }

    /// The names of the input's top-level properties.
    pub(super) fn input_properties(&self) -> Vec<String> {
        match self.input_schema.as_ref().map(|schema| &schema.kind) {
            Some(Kind::Object(object)) => object.properties.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    /// The output for an accepted input: the example output with the lists whose length the
    /// input sets (`num_images`) resized. Returns whether items were added.
    pub(super) fn output_for(&self, input: &Value) -> (Value, bool) {
        let mut output = self.output.clone();
        let added = super::outputs::apply_counts(&self.counts, input, &mut output);
        (output, added)
    }

    /// The (input field, output list) pairs of [`output_for`](Self::output_for).
    pub(super) fn counts(&self) -> &[(String, String)] {
        &self.counts
    }

    /// Replaces the output the endpoint answers with.
    pub fn output(mut self, output: Value) -> EndpointSpec {
        self.output = output;
        self
    }

    /// Whether the endpoint was read from an OpenAPI document.
    pub fn has_document(&self) -> bool {
        self.document.is_some()
    }

    /// The OpenAPI document, for endpoints made from one.
    pub fn document(&self) -> Option<&Value> {
        self.document.as_ref()
    }

    /// The endpoint id.
    pub fn endpoint_id(&self) -> &str {
        &self.endpoint_id
    }

    /// The output the mock answers with.
    pub fn example_output(&self) -> &Value {
        &self.output
    }

    /// An input built from the input schema's examples and defaults (required fields always
    /// filled in), e.g. to exercise an endpoint in a test. `{}` for endpoints without a schema.
    /// The example output as a realtime app sends it: msgpack, the strings its schema marks
    /// `format: binary` packed as `bin` (fal's realtime apps pack `bytes` so).
    #[cfg(feature = "realtime")]
    pub fn realtime_output(&self) -> rmpv::Value {
        match &self.output_schema {
            Some(schema) => self.to_msgpack(schema, &self.output, 0),
            None => rmpv::ext::to_value(&self.output).unwrap_or(rmpv::Value::Nil),
        }
    }

    #[cfg(feature = "realtime")]
    fn to_msgpack(&self, schema: &Schema, value: &Value, depth: usize) -> rmpv::Value {
        let plain = || rmpv::ext::to_value(value).unwrap_or(rmpv::Value::Nil);
        if depth > MAX_DEPTH {
            return plain();
        }
        match (&schema.kind, value) {
            (Kind::Recursive(name), _) => match self.component(name) {
                Some(target) => self.to_msgpack(&target, value, depth + 1),
                None => plain(),
            },
            // A union's value is packed as its first member packs it.
            (Kind::Union(members), _) => match members.first() {
                Some(member) => self.to_msgpack(member, value, depth + 1),
                None => plain(),
            },
            (_, Value::String(text)) if schema.format.as_deref() == Some("binary") => {
                rmpv::Value::Binary(text.as_bytes().to_vec())
            }
            (kind, Value::Array(items)) => {
                let item = match kind {
                    Kind::Array(item) => Some(&**item),
                    _ => None,
                };
                rmpv::Value::Array(
                    items
                        .iter()
                        .map(|v| match item {
                            Some(item) => self.to_msgpack(item, v, depth + 1),
                            None => rmpv::ext::to_value(v).unwrap_or(rmpv::Value::Nil),
                        })
                        .collect(),
                )
            }
            (kind, Value::Object(map)) => rmpv::Value::Map(
                map.iter()
                    .map(|(k, v)| {
                        let member = match kind {
                            Kind::Object(object) => object.properties.get(k).map(|p| &p.schema),
                            _ => None,
                        };
                        let packed = match member {
                            Some(member) => self.to_msgpack(member, v, depth + 1),
                            None => rmpv::ext::to_value(v).unwrap_or(rmpv::Value::Nil),
                        };
                        (rmpv::Value::from(k.as_str()), packed)
                    })
                    .collect(),
            ),
            _ => plain(),
        }
    }

    pub fn example_input(&self) -> Value {
        self.input_schema
            .as_ref()
            .and_then(|schema| self.example(schema, 0))
            .unwrap_or_else(|| json!({}))
    }

    /// Validates an input; the errors are fal's 422 `detail` entries (`loc` starts with `body`).
    pub fn validate(&self, input: &Value) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut loc = vec![LocSegment::from("body")];
        match &self.input_schema {
            Some(schema) => self.check(schema, input, &mut loc, &mut errors, 0),
            None if !input.is_object() => errors.push(FieldError::new(
                loc,
                "Input should be a valid dictionary",
                "dict_type",
            )),
            None => {}
        }
        errors
    }

    /// The component a [`Kind::Recursive`] names: read once for the input (`components`), read
    /// on demand elsewhere (example outputs, built once per endpoint).
    fn component(&self, name: &str) -> Option<Cow<'_, Schema>> {
        if let Some(schema) = self.components.get(name) {
            return Some(Cow::Borrowed(schema));
        }
        Schema::component(self.document.as_ref()?, name).map(Cow::Owned)
    }

    /// Checks `value` against the model of fal-schema: references resolved, nullability folded
    /// (`anyOf [X, null]`, `nullable: true`, `type: [X, "null"]` all accept `null` here), an
    /// `allOf` merged, `const` as a one-value enum.
    fn check(
        &self,
        schema: &Schema,
        value: &Value,
        loc: &mut Vec<LocSegment>,
        errors: &mut Vec<FieldError>,
        depth: usize,
    ) {
        if depth > MAX_DEPTH || (value.is_null() && schema.nullable) {
            return;
        }
        match &schema.kind {
            // `{}`, a union with a free-form member, or what could not be read (a dangling
            // `$ref`: fal's documents have a few): anything goes.
            Kind::Any => return,
            Kind::Recursive(name) => {
                if let Some(target) = self.component(name) {
                    self.check(&target, value, loc, errors, depth + 1);
                }
                return;
            }
            Kind::Union(members) => {
                if !self.check_union(members, value, loc, errors, depth) {
                    return;
                }
            }
            // A literal is checked before the type, as pydantic's `Literal` is: a value of the
            // wrong type gets `literal_error`, not `string_type`.
            Kind::Enum(_, allowed) => {
                if !allowed.iter().any(|a| json_eq(a, value)) {
                    errors.push(literal_error(loc, allowed));
                    return;
                }
            }
            kind => {
                if !check_type(kind, value, loc, errors) {
                    return;
                }
            }
        }
        let constraints = &schema.constraints;
        match (&schema.kind, value) {
            (_, Value::Number(n)) => {
                check_bounds(constraints, n.as_f64().unwrap_or(0.0), loc, errors)
            }
            (_, Value::String(s)) => check_length(constraints, s.chars().count(), loc, errors),
            (kind, Value::Array(items)) => {
                check_items(constraints, items.len(), loc, errors);
                for (i, item) in items.iter().enumerate() {
                    let item_schema = match kind {
                        Kind::Array(items) => Some(&**items),
                        Kind::Tuple(prefix) => prefix.get(i),
                        _ => None,
                    };
                    if let Some(item_schema) = item_schema {
                        loc.push(LocSegment::from(i));
                        self.check(item_schema, item, loc, errors, depth + 1);
                        loc.pop();
                    }
                }
            }
            (Kind::Object(object), Value::Object(map)) => {
                self.check_object(object, map, loc, errors, depth)
            }
            (Kind::Map(values), Value::Object(map)) => {
                for (name, value) in map {
                    loc.push(LocSegment::from(name.as_str()));
                    self.check(values, value, loc, errors, depth + 1);
                    loc.pop();
                }
            }
            _ => {}
        }
    }

    /// Valid if one member accepts (returns whether one did). Otherwise, like pydantic's unions
    /// (fal's 422s come from pydantic): a union left with one member after `null` is folded
    /// (`Optional[X]`) is no union here; a union of several reports every member's errors, each
    /// under the member's label (`["body", "image_size", "ImageSize", "width"]`,
    /// `[..., "literal['square','square_hd']"]`).
    fn check_union(
        &self,
        members: &[Schema],
        value: &Value,
        loc: &mut Vec<LocSegment>,
        errors: &mut Vec<FieldError>,
        depth: usize,
    ) -> bool {
        let mut failed = Vec::new();
        for member in members {
            let mut member_errors = Vec::new();
            self.check(member, value, loc, &mut member_errors, depth + 1);
            if member_errors.is_empty() {
                return true;
            }
            failed.push((member, member_errors));
        }
        let at = loc.len();
        for (member, member_errors) in failed {
            let label = LocSegment::from(union_label(member, 0).as_str());
            errors.extend(member_errors.into_iter().map(|mut e| {
                e.loc.insert(at.min(e.loc.len()), label.clone());
                e
            }));
        }
        false
    }

    fn check_object(
        &self,
        object: &Object,
        map: &Map<String, Value>,
        loc: &mut Vec<LocSegment>,
        errors: &mut Vec<FieldError>,
        depth: usize,
    ) {
        for (name, property) in &object.properties {
            if property.required && !map.contains_key(name) {
                loc.push(LocSegment::from(name.as_str()));
                errors.push(FieldError::new(loc.clone(), "Field required", "missing"));
                loc.pop();
            }
        }
        for (name, value) in map {
            let schema = match object.properties.get(name) {
                Some(property) => &property.schema,
                // Undeclared keys: checked only when `additionalProperties` gives a schema.
                None => match &object.additional {
                    Some(values) => values,
                    None => continue,
                },
            };
            loc.push(LocSegment::from(name.as_str()));
            self.check(schema, value, loc, errors, depth + 1);
            loc.pop();
        }
    }

    /// An example value for `schema`: the first of its `examples` (then its default) that the
    /// schema accepts (some documents' examples break their own schema), else one built from
    /// its parts; required object members are always filled in.
    fn example(&self, schema: &Schema, depth: usize) -> Option<Value> {
        if depth > MAX_DEPTH {
            return None;
        }
        let documented = schema
            .docs
            .examples
            .iter()
            .chain(schema.docs.default.as_ref().filter(|d| !d.is_null()));
        for candidate in documented {
            if self.accepts(schema, candidate) {
                return Some(candidate.clone());
            }
        }
        let constraint = |k: &str| schema.constraints.get(k);
        let num = |k: &str| constraint(k).and_then(Value::as_f64);
        let count = |k: &str| constraint(k).and_then(Value::as_u64).unwrap_or(0) as usize;
        let low = num("minimum")
            .or(num("exclusiveMinimum").map(|m| m + 1.0))
            .unwrap_or(1.0);
        let number = low.min(num("maximum").unwrap_or(f64::MAX));
        Some(match &schema.kind {
            Kind::Enum(_, values) => values.first()?.clone(),
            Kind::Recursive(name) => {
                let target = self.component(name)?;
                return self.example(&target, depth + 1);
            }
            Kind::Union(members) => {
                return members.iter().find_map(|m| self.example(m, depth + 1));
            }
            Kind::String => {
                let min = count("minLength");
                Value::String(if min > 7 {
                    "x".repeat(min)
                } else {
                    "example".into()
                })
            }
            Kind::Integer => json!(number.ceil() as i64),
            Kind::Number => json!(number),
            Kind::Bool => Value::Bool(false),
            Kind::Null => Value::Null,
            Kind::Array(item) => match self.example(item, depth + 1) {
                Some(item) => Value::Array(vec![item; count("minItems").max(1)]),
                None => Value::Array(Vec::new()),
            },
            Kind::Tuple(items) => Value::Array(
                items
                    .iter()
                    .map(|item| self.example(item, depth + 1).unwrap_or(Value::Null))
                    .collect(),
            ),
            Kind::Object(object) => Value::Object(self.example_object(object, depth)),
            Kind::Map(_) | Kind::Any => Value::Object(Map::new()),
        })
    }

    /// Whether `schema` accepts `value`.
    fn accepts(&self, schema: &Schema, value: &Value) -> bool {
        let mut errors = Vec::new();
        self.check(schema, value, &mut Vec::new(), &mut errors, 0);
        errors.is_empty()
    }

    fn example_object(&self, object: &Object, depth: usize) -> Map<String, Value> {
        let mut out = Map::new();
        for (name, property) in &object.properties {
            let docs = &property.schema.docs;
            let documented = !docs.examples.is_empty() || docs.default.is_some();
            if property.required || documented {
                if let Some(value) = self.example(&property.schema, depth + 1) {
                    out.insert(name.clone(), value);
                }
            }
        }
        out
    }
}

/// The id the mock serves a document under: fal-schema's (`info.x-fal-metadata.endpointId`,
/// else the submit path), without leading or trailing slashes. `None` for a document that is
/// no fal queue document.
pub(super) fn endpoint_id(document: &Value) -> Option<String> {
    fal_schema::locate(document)
        .ok()
        .map(|at| served_id(&at.id))
}

fn served_id(id: &str) -> String {
    id.trim_matches('/').to_owned()
}

/// The document's `info.x-fal-metadata.category` (`""` without one), as fal-schema reads it.
pub(super) fn category(document: &Value) -> String {
    fal_schema::model::Metadata::read(document)
        .category
        .unwrap_or_default()
}

/// Every component `schema` reaches only through a recursive `$ref`, read (and theirs).
fn recursive_components(document: &Value, schema: &Schema) -> BTreeMap<String, Schema> {
    fn names(schema: &Schema, out: &mut Vec<String>) {
        match &schema.kind {
            Kind::Recursive(name) => out.push(name.clone()),
            Kind::Array(inner) | Kind::Map(inner) => names(inner, out),
            Kind::Tuple(members) | Kind::Union(members) => {
                members.iter().for_each(|m| names(m, out))
            }
            Kind::Object(object) => {
                object
                    .properties
                    .values()
                    .for_each(|p| names(&p.schema, out));
                if let Some(additional) = &object.additional {
                    names(additional, out);
                }
            }
            _ => {}
        }
    }
    let mut components = BTreeMap::new();
    let mut pending = Vec::new();
    names(schema, &mut pending);
    while let Some(name) = pending.pop() {
        if components.contains_key(&name) {
            continue;
        }
        if let Some(component) = Schema::component(document, &name) {
            names(&component, &mut pending);
            components.insert(name, component);
        }
    }
    components
}

/// pydantic's name for a union member: the model's name, `str`, `int`, `literal['a','b']`.
fn union_label(schema: &Schema, depth: usize) -> String {
    if let Some(name) = &schema.type_name {
        return name.clone();
    }
    match &schema.kind {
        Kind::Enum(_, values) => {
            let shown: Vec<String> = values.iter().map(show_literal).collect();
            format!("literal[{}]", shown.join(","))
        }
        Kind::String => "str".into(),
        Kind::Integer => "int".into(),
        Kind::Number => "float".into(),
        Kind::Bool => "bool".into(),
        Kind::Array(items) if depth < 4 => format!("list[{}]", union_label(items, depth + 1)),
        Kind::Tuple(_) if depth < 4 => "list[any]".into(),
        Kind::Object(_) | Kind::Map(_) => "dict[str,any]".into(),
        _ => "any".into(),
    }
}

/// Checks a value's JSON type against a kind that has one; returns whether it matches
/// (further checks make sense).
fn check_type(
    kind: &Kind,
    value: &Value,
    loc: &[LocSegment],
    errors: &mut Vec<FieldError>,
) -> bool {
    let (json_type, msg, error_type) = match kind {
        Kind::String => ("string", "Input should be a valid string", "string_type"),
        Kind::Integer => ("integer", "Input should be a valid integer", "int_type"),
        Kind::Number => ("number", "Input should be a valid number", "float_type"),
        Kind::Bool => ("boolean", "Input should be a valid boolean", "bool_type"),
        Kind::Array(_) | Kind::Tuple(_) => ("array", "Input should be a valid list", "list_type"),
        Kind::Object(_) | Kind::Map(_) => {
            ("object", "Input should be a valid dictionary", "dict_type")
        }
        Kind::Null => ("null", "Input should be None", "none_required"),
        _ => return true,
    };
    if has_type(value, json_type) {
        return true;
    }
    errors.push(FieldError::new(loc.to_vec(), msg, error_type));
    false
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "string" => value.is_string(),
        // Like fal's (pydantic's) validation: 4.0 is an integer, 4 is a number.
        "integer" => {
            value.as_i64().is_some()
                || value.as_u64().is_some()
                || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        "null" => value.is_null(),
        _ => true,
    }
}

/// JSON equality where `4` equals `4.0`.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// A literal as pydantic shows it: strings in single quotes.
fn show_literal(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

fn literal_error(loc: &[LocSegment], allowed: &[Value]) -> FieldError {
    let shown: Vec<String> = allowed.iter().map(show_literal).collect();
    let expected = match shown.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => String::new(),
    };
    let mut error = FieldError::new(
        loc.to_vec(),
        format!("Input should be {expected}"),
        "literal_error",
    );
    error.ctx = Some(json!({ "expected": expected }));
    error
}

/// A schema's validation keywords, as fal-schema collects them.
type Constraints = BTreeMap<&'static str, Value>;

fn check_bounds(schema: &Constraints, n: f64, loc: &[LocSegment], errors: &mut Vec<FieldError>) {
    let num = |k: &str| schema.get(k).and_then(Value::as_f64);
    // OpenAPI 3.0 style: `exclusiveMinimum: true` turns `minimum` exclusive.
    let flag = |k: &str| schema.get(k).and_then(Value::as_bool) == Some(true);
    let mut push = |msg: String, kind: &str| errors.push(FieldError::new(loc.to_vec(), msg, kind));
    if let Some(m) = num("minimum") {
        if flag("exclusiveMinimum") && n <= m {
            push(
                format!("Input should be greater than {}", show(m)),
                "greater_than",
            );
        } else if n < m {
            push(
                format!("Input should be greater than or equal to {}", show(m)),
                "greater_than_equal",
            );
        }
    }
    if let Some(m) = num("exclusiveMinimum").filter(|&m| n <= m) {
        push(
            format!("Input should be greater than {}", show(m)),
            "greater_than",
        );
    }
    if let Some(m) = num("maximum") {
        if flag("exclusiveMaximum") && n >= m {
            push(
                format!("Input should be less than {}", show(m)),
                "less_than",
            );
        } else if n > m {
            push(
                format!("Input should be less than or equal to {}", show(m)),
                "less_than_equal",
            );
        }
    }
    if let Some(m) = num("exclusiveMaximum").filter(|&m| n >= m) {
        push(
            format!("Input should be less than {}", show(m)),
            "less_than",
        );
    }
}

fn check_length(
    schema: &Constraints,
    len: usize,
    loc: &[LocSegment],
    errors: &mut Vec<FieldError>,
) {
    if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
        if (len as u64) < min {
            errors.push(FieldError::new(
                loc.to_vec(),
                format!("String should have at least {min} character{}", plural(min)),
                "string_too_short",
            ));
        }
    }
    if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
        if (len as u64) > max {
            errors.push(FieldError::new(
                loc.to_vec(),
                format!("String should have at most {max} character{}", plural(max)),
                "string_too_long",
            ));
        }
    }
}

fn check_items(schema: &Constraints, n: usize, loc: &[LocSegment], errors: &mut Vec<FieldError>) {
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
        if (n as u64) < min {
            errors.push(FieldError::new(
                loc.to_vec(),
                format!(
                    "List should have at least {min} item{} after validation, not {n}",
                    plural(min)
                ),
                "too_short",
            ));
        }
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
        if (n as u64) > max {
            errors.push(FieldError::new(
                loc.to_vec(),
                format!(
                    "List should have at most {max} item{} after validation, not {n}",
                    plural(max)
                ),
                "too_long",
            ));
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn show(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> EndpointSpec {
        EndpointSpec::from_document(json!({
            "info": {"x-fal-metadata": {"endpointId": "acme/app/sub"}},
            "components": {"schemas": {
                "In": {"type": "object", "required": ["prompt"], "properties": {
                    "prompt": {"type": "string", "minLength": 1, "maxLength": 5},
                    "n": {"type": "integer", "minimum": 1, "exclusiveMaximum": 4},
                    "ratio": {"enum": ["16:9", "9:16"], "type": "string"},
                    "one": {"const": "x"},
                    "img": {"allOf": [{"$ref": "#/components/schemas/Img"}], "description": "d"},
                    "imgs": {"anyOf": [{"type": "array", "items": {"$ref": "#/components/schemas/Img"}, "maxItems": 2}, {"type": "null"}]},
                    "dangling": {"$ref": "#/components/schemas/Nope"}
                }},
                "Img": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}},
                "Out": {"type": "object", "required": ["video", "seed"], "properties": {
                    "video": {"$ref": "#/components/schemas/Img", "examples": [{"url": "https://x/v.mp4"}]},
                    "seed": {"type": "integer"},
                    "thumb": {"anyOf": [{"$ref": "#/components/schemas/Img"}, {"type": "null"}]},
                    "fps": {"type": "number", "default": 24}
                }}
            }},
            "paths": {
                "/acme/app/sub": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/In"}}}}}},
                "/acme/app/sub/requests/{request_id}": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Out"}}}}}}}
            }
        }))
        .unwrap()
    }

    /// (field, kind) pairs, sorted: the order follows JSON map order, which is not our concern.
    fn kinds(errors: &[FieldError]) -> Vec<(String, String)> {
        let mut kinds: Vec<_> = errors.iter().map(|e| (e.field(), e.kind.clone())).collect();
        kinds.sort();
        kinds
    }

    #[test]
    fn validates_fal_subset_with_pydantic_style_errors() {
        let s = spec();
        assert_eq!(s.endpoint_id(), "acme/app/sub");
        assert!(
            s.validate(&json!({"prompt": "hi", "n": 3.0, "imgs": null, "dangling": 5}))
                .is_empty()
        );
        let errors = s.validate(&json!({
            "n": 4, "ratio": "4:3", "one": "y", "img": {}, "imgs": [{"url": 1}, {"url": "a"}, {"url": "b"}]
        }));
        assert_eq!(
            kinds(&errors),
            [
                ("img.url".into(), "missing".into()),
                ("imgs".into(), "too_long".into()),
                ("imgs.0.url".into(), "string_type".into()),
                ("n".into(), "less_than".into()),
                ("one".into(), "literal_error".into()),
                ("prompt".into(), "missing".into()),
                ("ratio".into(), "literal_error".into()),
            ]
        );
        let ratio = errors.iter().find(|e| e.field() == "ratio").unwrap();
        assert_eq!(ratio.msg, "Input should be '16:9' or '9:16'");
        assert_eq!(
            errors[0].loc,
            [LocSegment::from("body"), LocSegment::from("prompt")]
        );
        let errors = s.validate(&json!({"prompt": "", "n": "2"}));
        assert_eq!(
            kinds(&errors),
            [
                ("n".into(), "int_type".into()),
                ("prompt".into(), "string_too_short".into())
            ]
        );
        let prompt = errors.iter().find(|e| e.field() == "prompt").unwrap();
        assert_eq!(prompt.msg, "String should have at least 1 character");
    }

    #[test]
    fn a_union_reports_every_branch_under_its_label_an_optional_only_its_value() {
        let s = EndpointSpec::from_document(json!({
            "info": {"x-fal-metadata": {"endpointId": "acme/app"}},
            "components": {"schemas": {
                "In": {"type": "object", "properties": {
                    "size": {"anyOf": [{"$ref": "#/components/schemas/ImageSize"},
                                       {"type": "string", "enum": ["square", "square_hd"]}]},
                    "seed": {"anyOf": [{"type": "integer"}, {"type": "null"}]}
                }},
                "ImageSize": {"type": "object", "required": ["width"],
                              "properties": {"width": {"type": "integer", "maximum": 14142}}}
            }},
            "paths": {"/acme/app": {"post": {"requestBody": {"content": {"application/json":
                {"schema": {"$ref": "#/components/schemas/In"}}}}}}}
        }))
        .unwrap();
        assert!(
            s.validate(&json!({"size": "square", "seed": null}))
                .is_empty()
        );
        assert!(
            s.validate(&json!({"size": {"width": 5}, "seed": 3}))
                .is_empty()
        );
        let errors = s.validate(&json!({"size": {"width": 99999}, "seed": "x"}));
        assert_eq!(
            kinds(&errors),
            [
                ("seed".into(), "int_type".into()),
                ("size.ImageSize.width".into(), "less_than_equal".into()),
                (
                    "size.literal['square','square_hd']".into(),
                    "literal_error".into()
                ),
            ]
        );
    }

    /// The mock validates on fal-schema's model, so it reads a document as the generated types
    /// do. Before, it walked the raw JSON and disagreed with them in three places.
    #[test]
    fn the_mock_accepts_what_the_generated_types_accept() {
        let s = EndpointSpec::from_document(json!({
            "info": {"x-fal-metadata": {"endpointId": "acme/app"}},
            "components": {"schemas": {
                "In": {"type": "object", "properties": {
                    // heygen's `voice`: an enum beside `anyOf` is a list of suggestions (the
                    // generated field is a `String`; fal's own example is not in the list).
                    "voice": {"anyOf": [{"type": "string"}, {"type": "null"}],
                              "enum": ["Ivy", "Patrick"]},
                    // `Optional[Literal[..]]` written as `nullable: true`: `null` is allowed.
                    "mode": {"type": "string", "enum": ["a", "b"], "nullable": true},
                    // A map's values are typed (`HashMap<String, i64>`).
                    "weights": {"type": "object", "additionalProperties": {"type": "integer"}},
                    "tree": {"$ref": "#/components/schemas/Node"}
                }},
                "Node": {"type": "object", "required": ["name"], "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}
                }}
            }},
            "paths": {"/acme/app": {"post": {"requestBody": {"content": {"application/json":
                {"schema": {"$ref": "#/components/schemas/In"}}}}}}}
        }))
        .unwrap();
        assert!(
            s.validate(&json!({"voice": "Melissa", "mode": null, "weights": {"a": 1}}))
                .is_empty()
        );
        let errors = s.validate(&json!({
            "mode": "c",
            "weights": {"a": "heavy"},
            "tree": {"name": "root", "children": [{"name": "leaf", "children": [{}]}]}
        }));
        assert_eq!(
            kinds(&errors),
            [
                ("mode".into(), "literal_error".into()),
                ("tree.children.0.children.0.name".into(), "missing".into()),
                ("weights.a".into(), "int_type".into()),
            ]
        );
    }

    #[test]
    fn example_output_fills_required_members_and_documented_ones() {
        assert_eq!(
            spec().example_output(),
            &json!({"video": {"url": "https://x/v.mp4"}, "seed": 1, "fps": 24})
        );
    }

    /// Examples come from fal-schema's model, as validation does: OpenAPI 3.0's single
    /// `example` documents a member (an empty `examples` list does not), a tuple gets one value
    /// per member, an example the schema rejects is passed over, and realtime packs a string
    /// whose `$ref` target is `format: binary` as msgpack `bin`.
    #[test]
    fn examples_are_read_from_the_model_validation_uses() {
        let doc = json!({
            "info": {"x-fal-metadata": {"endpointId": "acme/x"}},
            "components": {"schemas": {
                "Blob": {"type": "string", "format": "binary"},
                "In": {"type": "object", "properties": {
                    "bbox": {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}], "example": [100, 50, 150]},
                    "prompt": {"anyOf": [{"type": "string"}, {"type": "null"}], "examples": []},
                    "steps": {"type": "integer", "minimum": 2, "examples": [0, 4]}
                }},
                "Out": {"type": "object", "required": ["span", "data"], "properties": {
                    "span": {"type": "array", "prefixItems": [{"type": "number", "minimum": 0.5}, {"type": "number"}]},
                    "data": {"$ref": "#/components/schemas/Blob", "examples": ["JPEGDATA"]}
                }}
            }},
            "paths": {
                "/acme/x": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/In"}}}}}},
                "/acme/x/requests/{request_id}": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Out"}}}}}}}
            }
        });
        let spec = EndpointSpec::from_document(doc).unwrap();
        assert_eq!(
            spec.example_input(),
            json!({"bbox": [100, 50, 150], "steps": 4})
        );
        assert_eq!(
            spec.example_output(),
            &json!({"span": [0.5, 1.0], "data": "JPEGDATA"})
        );
        #[cfg(feature = "realtime")]
        {
            let packed = spec.realtime_output();
            let data = packed
                .as_map()
                .and_then(|m| m.iter().find(|(k, _)| k.as_str() == Some("data")))
                .map(|(_, v)| v.clone());
            assert_eq!(data, Some(rmpv::Value::Binary(b"JPEGDATA".to_vec())));
        }
    }
}
