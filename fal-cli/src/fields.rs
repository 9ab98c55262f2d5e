//! An endpoint's input fields as command-line flags: read from its document's input schema,
//! with the help text (description, default, allowed values, range) and the conversion of a
//! flag's text to JSON.

use serde_json::{Map, Value};

/// One top-level input field.
pub struct Field {
    pub name: String,
    pub required: bool,
    pub description: String,
    pub default: Option<Value>,
    pub allowed: Vec<Value>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    /// JSON types the field accepts (`string`, `integer`, `array`, ...; `null` left out).
    pub types: Vec<String>,
    /// For an array: its items' types.
    pub item_types: Vec<String>,
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    let mut schema = schema;
    for _ in 0..8 {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| doc.pointer(p))
        {
            Some(target) => schema = target,
            None => break,
        }
    }
    schema
}

/// The branches of a schema (`anyOf`/`oneOf`/`allOf`, refs followed), or itself.
fn branches<'a>(doc: &'a Value, schema: &'a Value, out: &mut Vec<&'a Value>, depth: usize) {
    let schema = resolve(doc, schema);
    let mut nested = false;
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(list) = schema.get(key).and_then(Value::as_array) {
            nested = true;
            for b in list {
                if depth < 8 {
                    branches(doc, b, out, depth + 1);
                }
            }
        }
    }
    if !nested {
        out.push(schema);
    }
}

fn types_of(doc: &Value, schema: &Value) -> Vec<String> {
    let mut list = Vec::new();
    branches(doc, schema, &mut list, 0);
    let mut types = Vec::new();
    for b in list {
        let kind = match b.get("type") {
            Some(Value::String(t)) => vec![t.clone()],
            Some(Value::Array(ts)) => ts
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            None if b.get("properties").is_some() => vec!["object".to_owned()],
            None if b.get("enum").is_some() => vec!["string".to_owned()],
            _ => Vec::new(),
        };
        for t in kind {
            if t != "null" && !types.contains(&t) {
                types.push(t);
            }
        }
    }
    types
}

/// The input schema of a document (the POST body's schema, refs followed).
pub fn input_schema(doc: &Value) -> Option<&Value> {
    let paths = doc.get("paths")?.as_object()?;
    let post = paths.values().find_map(|item| item.get("post"))?;
    let schema = post.pointer("/requestBody/content/application~1json/schema")?;
    Some(resolve(doc, schema))
}

/// The fields of an endpoint's input, in the document's order (`x-fal-order-properties`).
pub fn fields(doc: &Value) -> Vec<Field> {
    let Some(schema) = input_schema(doc) else {
        return Vec::new();
    };
    let empty = Map::new();
    let properties = schema
        .get("properties")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let required: Vec<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut names: Vec<&String> = schema
        .get("x-fal-order-properties")
        .and_then(Value::as_array)
        .map(|o| {
            o.iter()
                .filter_map(Value::as_str)
                .filter_map(|n| properties.get_key_value(n).map(|(k, _)| k))
                .collect()
        })
        .unwrap_or_default();
    for name in properties.keys() {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
        .into_iter()
        .map(|name| {
            let property = &properties[name];
            let mut list = Vec::new();
            branches(doc, property, &mut list, 0);
            let mut allowed = Vec::new();
            let (mut minimum, mut maximum) = (None, None);
            let mut item_types = Vec::new();
            for b in list.iter().copied().chain(std::iter::once(property)) {
                if let Some(values) = b.get("enum").and_then(Value::as_array) {
                    allowed.extend(values.iter().cloned());
                }
                minimum = minimum.or(b.get("minimum").and_then(Value::as_f64));
                maximum = maximum.or(b.get("maximum").and_then(Value::as_f64));
                if let Some(items) = b.get("items") {
                    item_types = types_of(doc, items);
                }
            }
            Field {
                name: name.clone(),
                required: required.contains(&name.as_str()),
                description: property
                    .get("description")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .split("\n\n")
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
                default: property.get("default").filter(|d| !d.is_null()).cloned(),
                allowed,
                minimum,
                maximum,
                types: types_of(doc, property),
                item_types,
            }
        })
        .collect()
}

impl Field {
    /// The flag's help: description, then default, allowed values and range.
    pub fn help(&self) -> String {
        let mut help = self.description.clone();
        let mut facts = Vec::new();
        if self.required {
            facts.push("required".to_owned());
        }
        if !self.types.is_empty() {
            facts.push(self.types.join(" | "));
        }
        if let Some(d) = &self.default {
            facts.push(format!("default: {}", show(d)));
        }
        if !self.allowed.is_empty() {
            let values: Vec<String> = self.allowed.iter().map(show).collect();
            facts.push(format!("allowed: {}", values.join(", ")));
        }
        match (self.minimum, self.maximum) {
            (Some(lo), Some(hi)) => facts.push(format!("range: {lo} to {hi}")),
            (Some(lo), None) => facts.push(format!("at least {lo}")),
            (None, Some(hi)) => facts.push(format!("at most {hi}")),
            (None, None) => {}
        }
        if self.is_file() {
            facts.push("a URL, a data: URI or a local path (uploaded)".to_owned());
        }
        if !facts.is_empty() {
            if !help.is_empty() {
                help.push(' ');
            }
            help.push_str(&format!("[{}]", facts.join("; ")));
        }
        help
    }

    pub fn is_array(&self) -> bool {
        self.types.len() == 1 && self.types[0] == "array"
    }

    /// A URL field (fal's `*_url`, `*_urls`): a local path given there is uploaded first.
    pub fn is_file(&self) -> bool {
        self.name.ends_with("_url") || self.name.ends_with("_urls")
    }

    /// The JSON value of one flag text: text for a string-only field, else the text read as
    /// JSON when it is (a number, `true`, an object), else the text.
    pub fn value(&self, text: &str, types: &[String]) -> Value {
        let string_only = !types.is_empty() && types.iter().all(|t| t == "string");
        if string_only {
            return Value::String(text.to_owned());
        }
        serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
    }
}

fn show(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The input schema with every `$ref` replaced by its target (for `falx schema`).
pub fn inlined(doc: &Value, schema: &Value, depth: usize) -> Value {
    if depth > 32 {
        return schema.clone();
    }
    match schema {
        Value::Object(map) => {
            if let Some(target) = map
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix('#'))
                .and_then(|p| doc.pointer(p))
            {
                let mut out = inlined(doc, target, depth + 1);
                if let Value::Object(o) = &mut out {
                    for (k, v) in map {
                        if k != "$ref" {
                            o.insert(k.clone(), inlined(doc, v, depth + 1));
                        }
                    }
                }
                return out;
            }
            Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), inlined(doc, v, depth + 1)))
                    .collect(),
            )
        }
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| inlined(doc, v, depth + 1)).collect())
        }
        other => other.clone(),
    }
}
