//! The change rules: each finding has a rule id, a wire level (what the change does to any
//! caller of the HTTP API) and a Rust semver verdict (what it does to the generated `fal-models`
//! API). See the module docs of [`super`] for the table.

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::fmt;

use serde_json::Value;

use super::model::{Document, Kind, Object, Property, Scalar, Schema};

/// How bad a change is for callers of the HTTP API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    /// Worth knowing, breaks nobody.
    Info,
    /// May break some callers.
    Warn,
    /// Breaks callers.
    Err,
}

impl Level {
    /// `INFO`, `WARN`, `ERR`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Info => "INFO",
            Level::Warn => "WARN",
            Level::Err => "ERR",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The semver bump a change needs in `fal-models`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Semver {
    /// Generated API unchanged (docs, defaults, validation only).
    Patch,
    /// Additions only.
    Minor,
    /// Something callers use changes or goes away.
    Major,
}

impl Semver {
    /// `patch`, `minor`, `major`.
    pub fn as_str(self) -> &'static str {
        match self {
            Semver::Patch => "patch",
            Semver::Minor => "minor",
            Semver::Major => "major",
        }
    }
}

impl fmt::Display for Semver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

macro_rules! rules {
    ($($(#[$doc:meta])* $variant:ident = $id:literal, $level:ident;)*) => {
        /// A kind of change.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule {
            $($(#[$doc])* $variant,)*
        }

        impl Rule {
            /// The stable id used in reports and `--format json`.
            pub fn id(self) -> &'static str {
                match self { $(Rule::$variant => $id,)* }
            }

            /// The wire level.
            pub fn level(self) -> Level {
                match self { $(Rule::$variant => Level::$level,)* }
            }
        }
    };
}

rules! {
    /// An endpoint's document is gone.
    EndpointRemoved = "endpoint-removed", Err;
    /// The new document cannot be read (not JSON, or no input/output schema any more).
    DocumentInvalid = "document-invalid", Err;
    /// A new property callers must send.
    InputRequiredPropertyAdded = "input-required-property-added", Err;
    /// An optional input property became required.
    InputPropertyBecameRequired = "input-property-became-required", Err;
    /// An input enum no longer accepts a value.
    InputEnumValueRemoved = "input-enum-value-removed", Err;
    /// An input accepts other values than before (not a superset).
    InputTypeChanged = "input-type-changed", Err;
    /// An input validation keyword got stricter (or appeared).
    InputConstraintTightened = "input-constraint-tightened", Err;
    /// An output property is gone.
    OutputPropertyRemoved = "output-property-removed", Err;
    /// An output property callers could rely on may now be absent.
    OutputPropertyBecameOptional = "output-property-became-optional", Err;
    /// An output property may now be null.
    OutputPropertyBecameNullable = "output-property-became-nullable", Err;
    /// An output may hold other values than before (not a subset).
    OutputTypeChanged = "output-type-changed", Err;
    /// An optional output property is gone (callers had to handle its absence already).
    OutputOptionalPropertyRemoved = "output-optional-property-removed", Warn;
    /// An input property is gone (fal ignores or rejects it now).
    InputPropertyRemoved = "input-property-removed", Warn;
    /// An input property no longer accepts an explicit null.
    InputNullableRemoved = "input-nullable-removed", Warn;
    /// The value fal uses for an omitted input changed.
    DefaultChanged = "default-changed", Warn;
    /// An output enum may hold a new value.
    OutputEnumValueAdded = "output-enum-value-added", Warn;
    /// Something in the new document could not be understood (dangling `$ref`, ...).
    DocumentProblem = "document-problem", Warn;
    /// A new endpoint.
    EndpointAdded = "endpoint-added", Info;
    /// fal no longer lists the endpoint (`info.x-fal-retired`): every public item of its
    /// module becomes `#[deprecated]`.
    EndpointRetired = "endpoint-retired", Info;
    /// A retired endpoint is listed again: its items are no longer deprecated.
    EndpointUnretired = "endpoint-unretired", Info;
    /// A new optional input property.
    InputPropertyAdded = "input-property-added", Info;
    /// A required input property became optional.
    InputPropertyBecameOptional = "input-property-became-optional", Info;
    /// An input property now accepts null.
    InputNullableAdded = "input-nullable-added", Info;
    /// An input enum accepts a new value.
    InputEnumValueAdded = "input-enum-value-added", Info;
    /// An input accepts a superset of what it accepted.
    InputTypeWidened = "input-type-widened", Info;
    /// An input validation keyword got looser (or went away).
    InputConstraintLoosened = "input-constraint-loosened", Info;
    /// A new output property.
    OutputPropertyAdded = "output-property-added", Info;
    /// An output property is now always present.
    OutputPropertyBecameRequired = "output-property-became-required", Info;
    /// An output property is no longer null.
    OutputPropertyBecameNonNullable = "output-property-became-non-nullable", Info;
    /// An output enum no longer holds a value.
    OutputEnumValueRemoved = "output-enum-value-removed", Info;
    /// An output holds a subset of what it held.
    OutputTypeNarrowed = "output-type-narrowed", Info;
    /// A component struct was renamed: same wire shape, new Rust type name.
    TypeRenamed = "type-renamed", Info;
    /// A property or type is newly marked `deprecated: true`.
    DeprecatedAdded = "deprecated-added", Info;
    /// Descriptions changed (one summary finding per endpoint).
    DescriptionChanged = "description-changed", Info;
}

/// One change found between two versions of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What kind of change.
    pub rule: Rule,
    /// What it does to the generated Rust API.
    pub semver: Semver,
    /// Where: `input.image_size<ImageSize>.width`, `output.images[].url`, or empty for the
    /// whole endpoint.
    pub path: String,
    /// What changed, for humans.
    pub message: String,
}

impl Finding {
    /// The rule's wire level.
    pub fn level(&self) -> Level {
        self.rule.level()
    }
}

/// One side of a comparison: a readable document or why it is not one.
#[derive(Debug)]
pub enum Version {
    /// A JSON document, loaded.
    Doc(Box<Document>),
    /// Not a readable document: the error, naming the file.
    Invalid(String),
}

/// Compares two versions of one endpoint (`None`: absent on that side). Findings come out
/// most severe first, in document order within a level.
pub fn compare(old: Option<&Version>, new: Option<&Version>) -> Vec<Finding> {
    let mut cx = Cx::default();
    match (old, new) {
        (None, None) => {}
        (Some(_), None) => cx.push(
            Rule::EndpointRemoved,
            Semver::Major,
            "",
            "endpoint removed".into(),
        ),
        (_, Some(Version::Invalid(error))) => {
            if old.is_none() {
                cx.push(
                    Rule::EndpointAdded,
                    Semver::Minor,
                    "",
                    "endpoint added".into(),
                );
            }
            cx.push(Rule::DocumentInvalid, Semver::Major, "", error.clone());
        }
        (None, Some(Version::Doc(new))) => {
            cx.push(
                Rule::EndpointAdded,
                Semver::Minor,
                "",
                "endpoint added".into(),
            );
            cx.problems(None, new);
        }
        (Some(Version::Invalid(_)), Some(Version::Doc(new))) => cx.problems(None, new),
        (Some(Version::Doc(old)), Some(Version::Doc(new))) => cx.documents(old, new),
    }
    let mut findings = cx.findings;
    findings.sort_by_key(|f| Reverse(f.level()));
    findings
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Input,
    Output,
}

#[derive(Default)]
struct Cx {
    findings: Vec<Finding>,
    /// Paths whose description changed, summarised into one finding at the end.
    descriptions: Vec<String>,
}

impl Cx {
    fn push(&mut self, rule: Rule, semver: Semver, path: &str, message: String) {
        self.findings.push(Finding {
            rule,
            semver,
            path: path.to_owned(),
            message,
        });
    }

    fn problems(&mut self, old: Option<&Document>, new: &Document) {
        for problem in &new.problems {
            if old.is_some_and(|old| old.problems.contains(problem)) {
                continue;
            }
            let message = format!("{} (at {})", problem.message, problem.pointer);
            self.push(Rule::DocumentProblem, Semver::Patch, "", message);
        }
    }

    fn documents(&mut self, old: &Document, new: &Document) {
        self.problems(Some(old), new);
        match (&old.retired, &new.retired) {
            // Deprecating items is a minor change (a new warning), as is lifting it.
            (None, Some(since)) => self.push(
                Rule::EndpointRetired,
                Semver::Minor,
                "",
                format!("fal no longer lists it since {since}: every public item deprecated"),
            ),
            (Some(_), None) => self.push(
                Rule::EndpointUnretired,
                Semver::Minor,
                "",
                "listed again: its items are no longer deprecated".into(),
            ),
            _ => {}
        }
        for (side, name, old, new) in [
            (Side::Input, "input", &old.input, &new.input),
            (Side::Output, "output", &old.output, &new.output),
        ] {
            match (old, new) {
                (Some(old), Some(new)) => self.schema(side, name, old, new, true),
                (Some(_), None) => self.push(
                    Rule::DocumentInvalid,
                    Semver::Major,
                    name,
                    format!("the {name} schema is missing"),
                ),
                // Nothing to compare against: the loader reported the old document's problem.
                (None, _) => {}
            }
        }
        if !self.descriptions.is_empty() {
            let paths = std::mem::take(&mut self.descriptions);
            let (path, message) = match paths.as_slice() {
                [one] => (one.clone(), "description changed".to_owned()),
                many => {
                    let shown: Vec<&str> = many.iter().take(5).map(String::as_str).collect();
                    let more = many.len().saturating_sub(shown.len());
                    let tail = if more > 0 {
                        format!(" and {more} more")
                    } else {
                        String::new()
                    };
                    (
                        String::new(),
                        format!(
                            "{} descriptions changed: {}{tail}",
                            many.len(),
                            shown.join(", ")
                        ),
                    )
                }
            };
            self.push(Rule::DescriptionChanged, Semver::Patch, &path, message);
        }
    }

    /// Compares two schemas at `path`. `nullability`: whether this node's own nullability is
    /// compared here (properties compare it themselves, with their `required`).
    fn schema(&mut self, side: Side, path: &str, old: &Schema, new: &Schema, nullability: bool) {
        self.kind(side, path, old, new);
        if nullability && old.nullable != new.nullable {
            let (rule, message) = match (side, new.nullable) {
                (Side::Input, true) => (Rule::InputTypeWidened, "now accepts null"),
                (Side::Input, false) => (Rule::InputTypeChanged, "no longer accepts null"),
                (Side::Output, true) => (Rule::OutputTypeChanged, "may now be null"),
                (Side::Output, false) => (Rule::OutputTypeNarrowed, "is no longer null"),
            };
            self.push(rule, Semver::Major, path, message.into());
        }
        if side == Side::Input {
            if !same_opt(&old.docs.default, &new.docs.default) {
                let message = format!(
                    "default {} → {}",
                    show_opt(&old.docs.default),
                    show_opt(&new.docs.default)
                );
                self.push(Rule::DefaultChanged, Semver::Patch, path, message);
            }
            self.constraints(path, old, new);
        }
        if !old.docs.deprecated && new.docs.deprecated {
            // The generator marks the field and its setter `#[deprecated]`: a new warning
            // for callers, which semver counts as a minor change.
            self.push(
                Rule::DeprecatedAdded,
                Semver::Minor,
                path,
                "marked deprecated".into(),
            );
        }
        if old.docs.description != new.docs.description {
            self.descriptions.push(path.to_owned());
        }
    }

    fn kind(&mut self, side: Side, path: &str, old: &Schema, new: &Schema) {
        match (&old.kind, &new.kind) {
            // A free-form map and a typed object are different Rust types (a JSON map vs a
            // struct) even when the wire values overlap.
            (a, b)
                if a.is_free_form() != b.is_free_form()
                    && matches!(a, Kind::Object(_) | Kind::Map(_))
                    && matches!(b, Kind::Object(_) | Kind::Map(_)) =>
            {
                self.type_change(side, path, old, new)
            }
            (Kind::Object(a), Kind::Object(b)) => {
                // The generator names component structs after the component (the endpoint's
                // own input and output are always `Input`/`Output`).
                if let (Some(x), Some(y)) = (&old.type_name, &new.type_name)
                    && x != y
                    && path.contains(['.', '<'])
                {
                    self.push(Rule::TypeRenamed, Semver::Major, path, format!("{x} → {y}"));
                }
                self.object(side, path, a, b)
            }
            (Kind::Map(a), Kind::Map(b)) => self.schema(side, &format!("{path}{{}}"), a, b, true),
            (Kind::Array(a), Kind::Array(b)) => self.schema(side, &format!("{path}[]"), a, b, true),
            (Kind::Tuple(a), Kind::Tuple(b)) if a.len() == b.len() => {
                for (i, (a, b)) in a.iter().zip(b).enumerate() {
                    self.schema(side, &format!("{path}[{i}]"), a, b, true);
                }
            }
            (Kind::Enum(sa, a), Kind::Enum(sb, b)) if sa == sb => {
                // Only string and integer enums become Rust enums; the generator types number
                // and boolean enums as `f64`/`bool`, where values come and go freely.
                let rust_enum = matches!(sa, Scalar::String | Scalar::Integer);
                self.enum_values(side, path, a, b, rust_enum)
            }
            (Kind::Union(a), Kind::Union(b)) => self.union(side, path, old, a, new, b),
            (Kind::Recursive(a), Kind::Recursive(b)) if a == b => {}
            // The same recursive type, cut at a different depth.
            (Kind::Recursive(name), _) if new.type_name.as_ref() == Some(name) => {}
            (_, Kind::Recursive(name)) if old.type_name.as_ref() == Some(name) => {}
            (Kind::Union(members), _) => {
                self.type_change(side, path, old, new);
                if let Some(member) = members.iter().find(|m| key(m) == key(new)) {
                    self.schema(side, &member_path(path, member), member, new, true);
                }
            }
            (_, Kind::Union(members)) => {
                self.type_change(side, path, old, new);
                if let Some(member) = members.iter().find(|m| key(m) == key(old)) {
                    self.schema(side, &member_path(path, member), old, member, true);
                }
            }
            (a, b) if is_plain(a) && a == b => {}
            _ => self.type_change(side, path, old, new),
        }
    }

    /// Reports a change of type, as a widening/narrowing when one side contains the other.
    fn type_change(&mut self, side: Side, path: &str, old: &Schema, new: &Schema) {
        let rule = match side {
            Side::Input if accepts(new, old) => Rule::InputTypeWidened,
            Side::Input => Rule::InputTypeChanged,
            Side::Output if accepts(old, new) => Rule::OutputTypeNarrowed,
            Side::Output => Rule::OutputTypeChanged,
        };
        let message = format!("{} → {}", label(old), label(new));
        let semver = match (rust_scalar(old), rust_scalar(new)) {
            (Some(a), Some(b)) if a == b && old.nullable == new.nullable => Semver::Patch,
            _ => Semver::Major,
        };
        self.push(rule, semver, path, message);
    }

    fn object(&mut self, side: Side, path: &str, old: &Object, new: &Object) {
        let names: BTreeSet<&String> = old.properties.keys().chain(new.properties.keys()).collect();
        for name in names {
            let path = format!("{path}.{name}");
            match (old.properties.get(name), new.properties.get(name)) {
                (Some(old), Some(new)) => self.property(side, &path, old, new),
                (Some(old), None) => {
                    // An optional output property could be absent before: a caller that read
                    // it already handled `None`, so the wire break is a warning. The Rust
                    // field still disappears.
                    let rule = match side {
                        Side::Input => Rule::InputPropertyRemoved,
                        Side::Output if old.required => Rule::OutputPropertyRemoved,
                        Side::Output => Rule::OutputOptionalPropertyRemoved,
                    };
                    let required = if old.required { "required " } else { "" };
                    self.push(
                        rule,
                        Semver::Major,
                        &path,
                        format!("{required}property removed"),
                    );
                }
                (None, Some(new)) => {
                    let (rule, semver, message) = match side {
                        Side::Input if new.required => (
                            Rule::InputRequiredPropertyAdded,
                            Semver::Major,
                            "required property added",
                        ),
                        Side::Input => (
                            Rule::InputPropertyAdded,
                            Semver::Minor,
                            "optional property added",
                        ),
                        Side::Output => {
                            (Rule::OutputPropertyAdded, Semver::Minor, "property added")
                        }
                    };
                    let message = format!("{message} ({})", label(&new.schema));
                    self.push(rule, semver, &path, message);
                }
                (None, None) => {}
            }
        }
        if let (Some(a), Some(b)) = (&old.additional, &new.additional) {
            self.schema(side, &format!("{path}{{}}"), a, b, true);
        }
    }

    fn property(&mut self, side: Side, path: &str, old: &Property, new: &Property) {
        let (o, n) = (&old.schema, &new.schema);
        match side {
            Side::Input => {
                // `new()` takes required fields (as `Option<T>` when nullable): only its
                // signature is at stake; setters take `T` either way.
                let in_new = if old.required && new.required {
                    Semver::Major
                } else {
                    Semver::Patch
                };
                if !old.required && new.required {
                    self.push(
                        Rule::InputPropertyBecameRequired,
                        Semver::Major,
                        path,
                        "became required".into(),
                    );
                }
                if old.required && !new.required {
                    self.push(
                        Rule::InputPropertyBecameOptional,
                        Semver::Major,
                        path,
                        "became optional".into(),
                    );
                }
                if o.nullable && !n.nullable {
                    self.push(
                        Rule::InputNullableRemoved,
                        in_new,
                        path,
                        "no longer accepts null".into(),
                    );
                }
                if !o.nullable && n.nullable {
                    self.push(
                        Rule::InputNullableAdded,
                        in_new,
                        path,
                        "now accepts null".into(),
                    );
                }
            }
            Side::Output => {
                // The field is `T` only when required and not nullable, else `Option<T>`.
                let was_plain = old.required && !o.nullable;
                let is_plain = new.required && !n.nullable;
                let to_option = if was_plain {
                    Semver::Major
                } else {
                    Semver::Patch
                };
                let from_option = if is_plain && !was_plain {
                    Semver::Major
                } else {
                    Semver::Patch
                };
                if old.required && !new.required {
                    self.push(
                        Rule::OutputPropertyBecameOptional,
                        to_option,
                        path,
                        "may now be absent".into(),
                    );
                }
                if !o.nullable && n.nullable {
                    self.push(
                        Rule::OutputPropertyBecameNullable,
                        to_option,
                        path,
                        "may now be null".into(),
                    );
                }
                if !old.required && new.required {
                    self.push(
                        Rule::OutputPropertyBecameRequired,
                        from_option,
                        path,
                        "now always present".into(),
                    );
                }
                if o.nullable && !n.nullable {
                    self.push(
                        Rule::OutputPropertyBecameNonNullable,
                        from_option,
                        path,
                        "no longer null".into(),
                    );
                }
            }
        }
        self.schema(side, path, o, n, false);
    }

    fn enum_values(
        &mut self,
        side: Side,
        path: &str,
        old: &[Value],
        new: &[Value],
        rust_enum: bool,
    ) {
        let removed: Vec<&Value> = old
            .iter()
            .filter(|v| !new.iter().any(|n| same(v, n)))
            .collect();
        let added: Vec<&Value> = new
            .iter()
            .filter(|v| !old.iter().any(|o| same(v, o)))
            .collect();
        let (on_removed, on_added) = match side {
            Side::Input => (Rule::InputEnumValueRemoved, Rule::InputEnumValueAdded),
            Side::Output => (Rule::OutputEnumValueRemoved, Rule::OutputEnumValueAdded),
        };
        // Removing a value removes a variant of the generated enum; adding one adds a variant
        // to a `#[non_exhaustive]` enum.
        let (on_removed_semver, on_added_semver) = if rust_enum {
            (Semver::Major, Semver::Minor)
        } else {
            (Semver::Patch, Semver::Patch)
        };
        if !removed.is_empty() {
            self.push(
                on_removed,
                on_removed_semver,
                path,
                format!("removed {}", show_values(&removed)),
            );
        }
        if !added.is_empty() {
            self.push(
                on_added,
                on_added_semver,
                path,
                format!("added {}", show_values(&added)),
            );
        }
    }

    fn union(
        &mut self,
        side: Side,
        path: &str,
        old: &Schema,
        a: &[Schema],
        new: &Schema,
        b: &[Schema],
    ) {
        let only_old: Vec<&Schema> = a
            .iter()
            .filter(|m| !b.iter().any(|n| key(n) == key(m)))
            .collect();
        let only_new: Vec<&Schema> = b
            .iter()
            .filter(|m| !a.iter().any(|o| key(o) == key(m)))
            .collect();
        if !only_old.is_empty() || !only_new.is_empty() {
            self.type_change(side, path, old, new);
        }
        for member in a {
            if let Some(other) = b.iter().find(|n| key(n) == key(member)) {
                self.schema(side, &member_path(path, member), member, other, true);
            }
        }
    }

    fn constraints(&mut self, path: &str, old: &Schema, new: &Schema) {
        let mut tightened = Vec::new();
        let mut loosened = Vec::new();
        let keywords: BTreeSet<&&str> = old
            .constraints
            .keys()
            .chain(new.constraints.keys())
            .collect();
        for keyword in keywords {
            match (old.constraints.get(*keyword), new.constraints.get(*keyword)) {
                (None, Some(b)) => tightened.push(format!("{keyword} {b} added")),
                (Some(a), None) => loosened.push(format!("{keyword} {a} removed")),
                (Some(a), Some(b)) if !same(a, b) => {
                    let change = format!("{keyword} {a} → {b}");
                    let stricter = match (a.as_f64(), b.as_f64()) {
                        (Some(a), Some(b))
                            if keyword.starts_with("min") || *keyword == "exclusiveMinimum" =>
                        {
                            b > a
                        }
                        (Some(a), Some(b))
                            if keyword.starts_with("max") || *keyword == "exclusiveMaximum" =>
                        {
                            b < a
                        }
                        // A new pattern or step, or a 3.0-style boolean bound: cannot tell.
                        _ => true,
                    };
                    if stricter {
                        tightened.push(change)
                    } else {
                        loosened.push(change)
                    }
                }
                _ => {}
            }
        }
        if !tightened.is_empty() {
            self.push(
                Rule::InputConstraintTightened,
                Semver::Patch,
                path,
                tightened.join(", "),
            );
        }
        if !loosened.is_empty() {
            self.push(
                Rule::InputConstraintLoosened,
                Semver::Patch,
                path,
                loosened.join(", "),
            );
        }
    }
}

/// The Rust type the generator gives a scalar schema, where it is the same for several
/// schema kinds: a number enum is `f64`, a boolean enum is `bool`.
fn rust_scalar(schema: &Schema) -> Option<&'static str> {
    match &schema.kind {
        Kind::Number | Kind::Enum(Scalar::Number, _) => Some("f64"),
        Kind::Bool | Kind::Enum(Scalar::Bool, _) => Some("bool"),
        _ => None,
    }
}

/// Kinds compared by equality alone.
fn is_plain(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::Any | Kind::Null | Kind::Bool | Kind::Integer | Kind::Number | Kind::String
    )
}

/// Pairs union members across versions: by component name for objects, by kind otherwise.
fn key(schema: &Schema) -> String {
    match (&schema.kind, &schema.type_name) {
        (Kind::Object(_) | Kind::Recursive(_), Some(name)) => format!("object {name}"),
        (Kind::Enum(scalar, _), _) => format!("enum {}", scalar.label()),
        (kind, _) => kind.tag().to_owned(),
    }
}

fn member_path(path: &str, member: &Schema) -> String {
    let name = match (&member.kind, &member.type_name) {
        (Kind::Object(_) | Kind::Recursive(_), Some(name)) => name.clone(),
        (Kind::Enum(scalar, _), _) => format!("{} enum", scalar.label()),
        (kind, _) => kind.tag().to_owned(),
    };
    format!("{path}<{name}>")
}

/// Whether every value `narrow` describes is also described by `wide` (shallow: contents of
/// arrays and objects are compared separately).
fn accepts(wide: &Schema, narrow: &Schema) -> bool {
    if narrow.nullable && !wide.nullable {
        return false;
    }
    match (&wide.kind, &narrow.kind) {
        (Kind::Any, _) => true,
        // Any object fits a free-form map.
        (w, Kind::Object(_) | Kind::Map(_)) if w.is_free_form() => true,
        (_, Kind::Null) => true,
        (Kind::Union(members), Kind::Union(narrow_members)) => narrow_members
            .iter()
            .all(|n| members.iter().any(|m| key(m) == key(n))),
        (Kind::Union(members), _) => members.iter().any(|m| key(m) == key(narrow)),
        (Kind::Number, Kind::Integer) => true,
        (Kind::Enum(ws, wv), Kind::Enum(ns, nv)) => {
            ws == ns && nv.iter().all(|v| wv.iter().any(|w| same(v, w)))
        }
        (wide_kind, Kind::Enum(scalar, values)) => {
            scalar.base_kind().as_ref() == Some(wide_kind)
                || (*wide_kind == Kind::Number && values.iter().all(Value::is_number))
        }
        (a, b) => a.tag() == b.tag() && key(wide) == key(narrow),
    }
}

fn label(schema: &Schema) -> String {
    schema.label()
}

/// JSON equality, with numbers compared by value (`4` and `4.0` are the same enum value).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Compares defaults; no default and `default: null` mean the same (fal sends nothing).
fn same_opt(a: &Option<Value>, b: &Option<Value>) -> bool {
    same(
        a.as_ref().unwrap_or(&Value::Null),
        b.as_ref().unwrap_or(&Value::Null),
    )
}

fn show_opt(value: &Option<Value>) -> String {
    value.as_ref().map_or_else(|| "none".to_owned(), short)
}

fn show_values(values: &[&Value]) -> String {
    let shown: Vec<String> = values.iter().take(10).map(|v| short(v)).collect();
    let more = values.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

/// A JSON value cut to a readable length.
fn short(value: &Value) -> String {
    let text = value.to_string();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(57).collect::<String>())
    } else {
        text
    }
}
