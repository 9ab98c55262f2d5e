//! One schema object read one level deep, as written at its spot (a `$ref` is not followed).
//!
//! This is where the keywords of fal's JSON Schema dialect are read, and the one place that
//! decides:
//! - which keyword gives a schema its shape when several are present: `$ref`, then `allOf`,
//!   `anyOf`/`oneOf`, `const`, `enum`, `type`, then a keyword implying a type (`properties`,
//!   then `items`/`prefixItems`, then `additionalProperties`);
//! - what is malformed (a shape keyword of the wrong JSON type) and what only annotates;
//! - which branch of a union allows only `null`;
//! - the order of an object's properties (`x-fal-order-properties` first, then the rest by key:
//!   fal's key order is not stable, its hint is).
//!
//! Both walks of a schema build on it: [`crate::model`] (the diff and the mock, which follow
//! every `$ref`) and the generator's lowering (which names the types a `$ref` points at).

use serde_json::{Map, Value};

use crate::{ANNOTATIONS, CONSTRAINT_KEYWORDS, is_indexed_items};

/// A schema read one level deep.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    /// What decides the values that fit.
    pub shape: Shape<'a>,
    /// `nullable: true` (OpenAPI 3.0's spelling of "or null").
    pub nullable: bool,
    /// `title`, `description`, `default`, `examples`, `deprecated`.
    pub annotations: Annotations<'a>,
    object: Option<&'a Map<String, Value>>,
}

/// The keyword that decides what values fit a schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape<'a> {
    /// `true`, `{}` or an object of annotations only ([`ANNOTATIONS`], `x-*`): any value.
    Any,
    /// `false`: no value at all.
    Nothing,
    /// A string, number, array or `null` where a schema belongs; what was found.
    NotASchema(&'static str),
    /// No `type` and nothing implying one, but keywords that constrain a value (`format`,
    /// `minimum`, `required`, ...) say a type was meant: those keywords.
    Untyped(Vec<&'a str>),
    /// `$ref`.
    Ref(&'a str),
    /// `allOf` (maybe empty).
    AllOf(&'a [Value]),
    /// `anyOf` or `oneOf` (the keyword), maybe empty.
    AnyOf(&'static str, &'a [Value]),
    /// `const`.
    Const(&'a Value),
    /// `enum` (maybe empty).
    Enum(&'a [Value]),
    /// `type: "..."`, or the type a keyword implies (`properties` -> `object`).
    Type(&'a str),
    /// `type: [..]`: the type names but `null`, in order.
    Types {
        names: Vec<&'a str>,
        /// `null` is listed.
        null: bool,
        /// Some entry is not a string (it is left out).
        malformed: bool,
    },
    /// A shape keyword of the wrong JSON type (`$ref: 3`, `enum: {}`): the keyword and what
    /// was found.
    Malformed {
        keyword: &'static str,
        found: &'static str,
    },
}

/// A schema's annotations, each as written (absent when the key is).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations<'a> {
    title: Option<&'a Value>,
    description: Option<&'a Value>,
    default: Option<&'a Value>,
    examples: Option<&'a Value>,
    example: Option<&'a Value>,
    deprecated: Option<&'a Value>,
}

impl<'a> Annotations<'a> {
    fn read(object: &'a Map<String, Value>) -> Annotations<'a> {
        Annotations {
            title: object.get("title"),
            description: object.get("description"),
            default: object.get("default"),
            examples: object.get("examples"),
            example: object.get("example"),
            deprecated: object.get("deprecated"),
        }
    }

    /// `title`, when a string.
    pub fn title(&self) -> Option<&'a str> {
        self.title.and_then(Value::as_str)
    }

    /// `description`, when a string.
    pub fn description(&self) -> Option<&'a str> {
        self.description.and_then(Value::as_str)
    }

    /// `default`, when given (`null` too).
    pub fn default_value(&self) -> Option<&'a Value> {
        self.default
    }

    /// The values of `examples`, then OpenAPI 3.0's single `example`.
    pub fn examples(&self) -> impl Iterator<Item = &'a Value> + use<'a> {
        let list = self
            .examples
            .and_then(Value::as_array)
            .into_iter()
            .flatten();
        list.chain(self.example)
    }

    /// `deprecated: true`.
    pub fn deprecated(&self) -> bool {
        self.deprecated == Some(&Value::Bool(true))
    }

    /// Takes from `outer` each annotation this schema does not write: a union's one non-null
    /// branch is documented by what is written beside the union (fal writes `description`
    /// and `default` there).
    pub fn inherit(&mut self, outer: &Annotations<'a>) {
        let fields = [
            (&mut self.title, outer.title),
            (&mut self.description, outer.description),
            (&mut self.default, outer.default),
            (&mut self.examples, outer.examples),
            (&mut self.example, outer.example),
            (&mut self.deprecated, outer.deprecated),
        ];
        for (mine, theirs) in fields {
            if mine.is_none() {
                *mine = theirs;
            }
        }
    }
}

/// A subschema slot (`items`, `additionalProperties`), as written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Slot<'a> {
    /// Not written.
    Absent,
    /// `true`.
    True,
    /// `false`.
    False,
    /// `items` as an object keyed "0", "1", ...: fal's serialisation of some tuples.
    Indexed,
    /// A schema object (`{}` too).
    Schema(&'a Value),
    /// Something else: what was found.
    Malformed(&'static str),
}

/// An object schema's `properties`.
#[derive(Debug, Clone, PartialEq)]
pub enum Properties<'a> {
    /// Not written.
    Absent,
    /// Not an object: what was found.
    Malformed(&'static str),
    /// Name and schema, in fal's order (see the module docs).
    Listed(Vec<(&'a str, &'a Value)>),
}

impl<'a> Node<'a> {
    /// Reads the schema `value`.
    pub fn read(value: &'a Value) -> Node<'a> {
        let object = match value {
            Value::Object(object) => object,
            Value::Bool(true) => return Node::bare(Shape::Any),
            Value::Bool(false) => return Node::bare(Shape::Nothing),
            other => return Node::bare(Shape::NotASchema(json_type(other))),
        };
        Node {
            shape: shape(object),
            nullable: object.get("nullable") == Some(&Value::Bool(true)),
            annotations: Annotations::read(object),
            object: Some(object),
        }
    }

    fn bare(shape: Shape<'a>) -> Node<'a> {
        Node {
            shape,
            nullable: false,
            annotations: Annotations::default(),
            object: None,
        }
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.object.and_then(|o| o.get(key))
    }

    /// `{}`: an object with no keys at all.
    pub fn is_empty(&self) -> bool {
        self.object.is_some_and(Map::is_empty)
    }

    /// Whether the schema allows only `null` (`type: "null"`, `const: null`, `enum: [null]`):
    /// such a branch of a union makes the union nullable.
    pub fn is_null_only(&self) -> bool {
        match &self.shape {
            Shape::Type(ty) => *ty == "null",
            Shape::Const(value) => value.is_null(),
            Shape::Enum([value]) => value.is_null(),
            _ => false,
        }
    }

    /// `type`, when one name is written (an `enum` says what its values are by it).
    pub fn declared_type(&self) -> Option<&'a str> {
        self.get("type").and_then(Value::as_str)
    }

    /// `format`, when a string.
    pub fn format(&self) -> Option<&'a str> {
        self.get("format").and_then(Value::as_str)
    }

    /// `writeOnly: true`.
    pub fn write_only(&self) -> bool {
        self.get("writeOnly") == Some(&Value::Bool(true))
    }

    /// The validation keywords written here ([`CONSTRAINT_KEYWORDS`]), in that list's order.
    pub fn constraints(&self) -> Vec<(&'static str, &'a Value)> {
        CONSTRAINT_KEYWORDS
            .iter()
            .filter_map(|k| self.get(k).map(|v| (*k, v)))
            .collect()
    }

    /// The schemas of this one's `anyOf`, `oneOf` and `allOf` members (in that order), where
    /// a nullable type's bounds are written (`anyOf: [{type: integer, maximum: 4}, {type:
    /// null}]`).
    pub fn members(&self) -> Vec<Node<'a>> {
        ["anyOf", "oneOf", "allOf"]
            .iter()
            .filter_map(|k| self.get(k).and_then(Value::as_array))
            .flatten()
            .filter(|m| m.is_object())
            .map(Node::read)
            .collect()
    }

    /// `properties`.
    pub fn properties(&self) -> Properties<'a> {
        let props = match self.get("properties") {
            None => return Properties::Absent,
            Some(Value::Object(props)) => props,
            Some(other) => return Properties::Malformed(json_type(other)),
        };
        let mut order: Vec<(&'a str, &'a Value)> = Vec::with_capacity(props.len());
        let hint = self.get("x-fal-order-properties").and_then(Value::as_array);
        for name in hint.into_iter().flatten().filter_map(Value::as_str) {
            if let Some((k, v)) = props.get_key_value(name) {
                if !order.iter().any(|(o, _)| *o == k) {
                    order.push((k, v));
                }
            }
        }
        for (k, v) in props {
            if !order.iter().any(|(o, _)| *o == k) {
                order.push((k, v));
            }
        }
        Properties::Listed(order)
    }

    /// Whether the schema lists at least one property and is no `anyOf`/`oneOf`: the
    /// generator makes a struct of such a component.
    pub fn lists_properties(&self) -> bool {
        matches!(self.properties(), Properties::Listed(p) if !p.is_empty())
            && self.get("anyOf").is_none()
            && self.get("oneOf").is_none()
    }

    /// The names in `required` that are strings; the flag is false when `required` is written
    /// but is not an array of strings.
    pub fn required(&self) -> (Vec<&'a str>, bool) {
        match self.get("required") {
            None => (Vec::new(), true),
            Some(Value::Array(names)) => (
                names.iter().filter_map(Value::as_str).collect(),
                names.iter().all(Value::is_string),
            ),
            Some(_) => (Vec::new(), false),
        }
    }

    /// `additionalProperties`.
    pub fn additional_properties(&self) -> Slot<'a> {
        slot(self.get("additionalProperties"))
    }

    /// `items`.
    pub fn items(&self) -> Slot<'a> {
        match self.get("items") {
            Some(items) if is_indexed_items(items) => Slot::Indexed,
            items => slot(items),
        }
    }

    /// `prefixItems` (a tuple's members): `Err` with what was found when it is not an array.
    pub fn prefix_items(&self) -> Option<Result<&'a [Value], &'static str>> {
        self.get("prefixItems").map(|p| match p {
            Value::Array(members) => Ok(members.as_slice()),
            other => Err(json_type(other)),
        })
    }
}

fn slot(value: Option<&Value>) -> Slot<'_> {
    match value {
        None => Slot::Absent,
        Some(Value::Bool(true)) => Slot::True,
        Some(Value::Bool(false)) => Slot::False,
        Some(schema @ Value::Object(_)) => Slot::Schema(schema),
        Some(other) => Slot::Malformed(json_type(other)),
    }
}

fn shape(object: &Map<String, Value>) -> Shape<'_> {
    let malformed = |keyword, found: &Value| Shape::Malformed {
        keyword,
        found: json_type(found),
    };
    if let Some(reference) = object.get("$ref") {
        return match reference {
            Value::String(r) => Shape::Ref(r),
            other => malformed("$ref", other),
        };
    }
    if let Some(members) = object.get("allOf") {
        return match members {
            Value::Array(members) => Shape::AllOf(members),
            other => malformed("allOf", other),
        };
    }
    for keyword in ["anyOf", "oneOf"] {
        if let Some(members) = object.get(keyword) {
            return match members {
                Value::Array(members) => Shape::AnyOf(keyword, members),
                other => malformed(keyword, other),
            };
        }
    }
    if let Some(value) = object.get("const") {
        return Shape::Const(value);
    }
    if let Some(values) = object.get("enum") {
        return match values {
            Value::Array(values) => Shape::Enum(values),
            other => malformed("enum", other),
        };
    }
    match object.get("type") {
        Some(Value::String(ty)) => Shape::Type(ty),
        Some(Value::Array(types)) => Shape::Types {
            names: types
                .iter()
                .filter_map(Value::as_str)
                .filter(|t| *t != "null")
                .collect(),
            null: types.iter().any(|t| t == "null"),
            malformed: !types.iter().all(Value::is_string),
        },
        Some(other) => malformed("type", other),
        None if object.contains_key("properties") => Shape::Type("object"),
        None if object.contains_key("items") || object.contains_key("prefixItems") => {
            Shape::Type("array")
        }
        None if object.contains_key("additionalProperties") => Shape::Type("object"),
        None => {
            let constraining: Vec<&str> = object
                .keys()
                .map(String::as_str)
                .filter(|k| !ANNOTATIONS.contains(k) && !k.starts_with("x-"))
                .collect();
            if constraining.is_empty() {
                Shape::Any
            } else {
                Shape::Untyped(constraining)
            }
        }
    }
}

/// "a string", "an object", ...: what was found where something else belongs.
pub fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_first_shape_keyword_wins_in_one_order() {
        let cases = [
            (json!({"$ref": "#/x", "allOf": [], "type": "string"}), "ref"),
            (json!({"allOf": [], "anyOf": [], "enum": [1]}), "allOf"),
            (json!({"oneOf": [], "const": 1}), "oneOf"),
            (json!({"const": 1, "enum": [2], "type": "string"}), "const"),
            (json!({"enum": [2], "type": "string"}), "enum"),
            (json!({"type": "string", "properties": {}}), "string"),
            (json!({"additionalProperties": true, "items": {}}), "array"),
            (json!({"properties": {}, "items": {}}), "object"),
            (json!({"additionalProperties": {}}), "object"),
            (
                json!({"description": "d", "x-fal": 1, "nullable": true}),
                "any",
            ),
        ];
        for (schema, want) in cases {
            let got = match Node::read(&schema).shape {
                Shape::Ref(_) => "ref",
                Shape::AllOf(_) => "allOf",
                Shape::AnyOf(k, _) => k,
                Shape::Const(_) => "const",
                Shape::Enum(_) => "enum",
                Shape::Type(t) => t,
                Shape::Any => "any",
                other => panic!("{schema}: {other:?}"),
            };
            assert_eq!(got, want, "{schema}");
        }
    }

    #[test]
    fn malformed_keywords_and_non_schemas_say_what_was_found() {
        assert_eq!(
            Node::read(&json!({"format": "uri", "title": "t"})).shape,
            Shape::Untyped(vec!["format"])
        );
        assert_eq!(
            Node::read(&json!({"enum": {"a": 1}})).shape,
            Shape::Malformed {
                keyword: "enum",
                found: "an object"
            }
        );
        assert_eq!(
            Node::read(&json!({"$ref": 3})).shape,
            Shape::Malformed {
                keyword: "$ref",
                found: "a number"
            }
        );
        assert_eq!(Node::read(&json!("x")).shape, Shape::NotASchema("a string"));
        assert_eq!(Node::read(&json!(false)).shape, Shape::Nothing);
        assert_eq!(
            Node::read(&json!({"type": ["integer", "null", 4]})).shape,
            Shape::Types {
                names: vec!["integer"],
                null: true,
                malformed: true
            }
        );
    }

    #[test]
    fn properties_follow_the_order_hint_then_the_keys() {
        let schema = json!({
            "x-fal-order-properties": ["prompt", "missing", "seed", "prompt"],
            "properties": {"a": {}, "seed": {}, "prompt": {}, "b": {}}
        });
        let Properties::Listed(props) = Node::read(&schema).properties() else {
            panic!("listed")
        };
        let names: Vec<&str> = props.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, ["prompt", "seed", "a", "b"]);
    }

    #[test]
    fn a_union_branch_inherits_only_what_it_does_not_write() {
        let outer = json!({"description": "outer", "default": 3, "title": "T"});
        let inner =
            json!({"type": "integer", "description": "inner", "examples": [1], "example": 2});
        let mut node = Node::read(&inner);
        node.annotations.inherit(&Node::read(&outer).annotations);
        assert_eq!(node.annotations.description(), Some("inner"));
        assert_eq!(node.annotations.default_value(), Some(&json!(3)));
        assert_eq!(node.annotations.title(), Some("T"));
        let examples: Vec<&Value> = node.annotations.examples().collect();
        assert_eq!(examples, [&json!(1), &json!(2)]);
    }

    #[test]
    fn only_null_branches_are_null_only() {
        for schema in [
            json!({"type": "null"}),
            json!({"const": null}),
            json!({"enum": [null]}),
        ] {
            assert!(Node::read(&schema).is_null_only(), "{schema}");
        }
        for schema in [
            json!({"enum": [null, 1]}),
            json!({"type": ["null"]}),
            json!({"$ref": "#/n", "type": "null"}),
        ] {
            assert!(!Node::read(&schema).is_null_only(), "{schema}");
        }
    }
}
