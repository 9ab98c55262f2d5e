//! Lowering: one fal queue document -> IR types of one endpoint.
//!
//! The parser is tolerant by design. It reads fal's subset of JSON Schema (3.0 and 3.1 idioms
//! mixed), ignores keys it does not know, and never fails on a schema: a construct it cannot
//! type becomes `serde_json::Value` plus a [`Diagnostic`] naming the file and JSON pointer.

use std::collections::BTreeMap;

use serde_json::Value;

use fal_schema::node::{Properties, Slot};
use fal_schema::{
    FreeForm, MAX_DEPTH as MAX_SCHEMA_DEPTH, Node, Shape, component_of, component_pointer, escape,
    is_secret, ref_target,
};

use crate::ir::*;
use crate::naming;

/// Lowers one document into `api`. Returns `Err` only when the document is not a fal queue
/// document at all (no endpoint id, no input): nothing of it is generated then.
pub fn lower_document(
    api: &mut Api,
    source: &str,
    doc: &Value,
    diags: &mut Vec<Diagnostic>,
) -> Result<(), Diagnostic> {
    let fail = |pointer: &str, message: String| Diagnostic {
        file: source.to_owned(),
        pointer: pointer.to_owned(),
        message,
    };
    if !doc.is_object() {
        return Err(fail("", "the document is not a JSON object".into()));
    }
    // The one rule for the input and output (fal-schema's `locate`): the body of exactly
    // `POST /{id}`, the answer of exactly `GET /{id}/requests/{request_id}`.
    let at = fal_schema::locate(doc).map_err(|e| fail(&e.pointer, e.message))?;
    // An id of slashes only names no module: nothing could hold the endpoint.
    let id = Some(at.id.clone())
        .filter(|id| !id.trim().is_empty() && !naming::endpoint_module_path(id).is_empty())
        .ok_or_else(|| {
            fail(
                "/info/x-fal-metadata/endpointId",
                "no endpoint id and no submit path".into(),
            )
        })?;
    if api.endpoints.iter().any(|e| e.id == id) {
        return Err(fail(
            "/info/x-fal-metadata/endpointId",
            format!("endpoint `{id}` is defined twice"),
        ));
    }
    // Each segment is a nested module, and writing the modules recurses through them: hundreds
    // of segments overflow the stack.
    let segments = naming::endpoint_module_path(&id).len();
    if segments > MAX_ID_SEGMENTS {
        let message =
            format!("endpoint id has {segments} segments; at most {MAX_ID_SEGMENTS} are supported");
        return Err(fail("/info/x-fal-metadata/endpointId", message));
    }
    if at.submit_path.is_none() {
        return Err(fail("/paths", format!("no `POST /{id}` operation")));
    }
    let (input_schema, input_ptr) = (at.input, at.input_pointer);
    let (output_schema, output_ptr) = (at.output, at.output_pointer);

    let owner = api.endpoints.len();
    let mut lw = Lowerer {
        api,
        diags,
        source,
        doc,
        owner,
        components: BTreeMap::new(),
        names: BTreeMap::new(),
        types: Vec::new(),
        roles: BTreeMap::new(),
        merging: Vec::new(),
        merged: BTreeMap::new(),
        depth: 0,
        containers: 0,
        endpoint_id: id.clone(),
        reserved: Vec::new(),
    };

    for name in ["Input", "Output"] {
        lw.names.insert(name.to_owned(), None);
    }
    if let Some(c) = input_schema.and_then(ref_target) {
        lw.roles.insert(c, Role::Input);
    }
    if let Some(c) = output_schema.and_then(ref_target) {
        lw.roles.entry(c).or_insert(Role::Output);
    }
    // Component names are taken before any inline type is named, so a component's name never
    // depends on the order the walk meets things in.
    let mut reserved: Vec<String> = Vec::new();
    for (key, schema) in fal_schema::components(doc) {
        let schema = Node::read(schema);
        if lw.roles.contains_key(key) || !schema.lists_properties() {
            continue;
        }
        let name = lw.component_name(key, &schema);
        if !lw.names.contains_key(&name) {
            lw.names.insert(name.clone(), None);
            reserved.push(name);
        }
    }
    lw.reserved = reserved;

    let input = lw.root(input_schema, &input_ptr, Role::Input);
    let output = lw.root(output_schema, &output_ptr, Role::Output);
    let types = lw.types;
    let meta = fal_schema::model::Metadata::read(doc);
    api.endpoints.push(EndpointDef {
        module_path: naming::endpoint_module_path(&id),
        feature: naming::family_feature(&id),
        id,
        source: source.to_owned(),
        title: meta.title,
        about: meta.about,
        category: meta.category,
        playground_url: meta.playground_url,
        documentation_url: meta.documentation_url,
        recovered_from: fal_schema::source_of(doc).map(str::to_owned),
        retired: fal_schema::retired_since(doc).map(str::to_owned),
        input,
        output,
        types,
        reexports: Vec::new(),
        input_schema: crate::schema_export::export(doc, input_schema.unwrap_or(&Value::Bool(true))),
    });
    Ok(())
}

/// The most segments an endpoint id may have (fal's have up to 6).
const MAX_ID_SEGMENTS: usize = 32;

enum Component {
    /// Being lowered: a struct has its slot already, so recursion can point at it.
    InProgress(Option<TypeRef>),
    Done(Ty, bool),
}

struct Lowerer<'a> {
    api: &'a mut Api,
    diags: &'a mut Vec<Diagnostic>,
    source: &'a str,
    doc: &'a Value,
    owner: usize,
    components: BTreeMap<String, Component>,
    /// Local type names taken; `None` marks a name reserved for later (`Input`, `Output`, and
    /// the names of the document's object components).
    names: BTreeMap<String, Option<TypeRef>>,
    /// Names reserved for object components, in the order of the components.
    reserved: Vec<String>,
    types: Vec<TypeRef>,
    roles: BTreeMap<String, Role>,
    /// The members of the `allOf`s being merged (inlined) right now, innermost last.
    merging: Vec<Vec<Value>>,
    /// Merged `allOf`s by (members, hint, parent): the type, where it was first merged, and the
    /// problems found below that spot. A component merged in many places is lowered once, not
    /// once per path to it (exponentially many when allOfs nest through components).
    merged: BTreeMap<(String, String, String), Merged>,
    /// How many schemas deep the walk is now; past [`MAX_SCHEMA_DEPTH`] a schema is untyped.
    depth: usize,
    /// How many lists and maps deep the walk is now; past [`MAX_CONTAINER_DEPTH`] the item
    /// type is `serde_json::Value`.
    containers: usize,
    /// The endpoint id, for names that would repeat the module path.
    endpoint_id: String,
}

/// The deepest nesting of lists and maps typed (`Vec<Vec<..>>`): the Rust type nests one
/// generic per level, and parsing or compiling a type nested dozens of generics deep takes
/// more stack than a thread has. fal's documents nest two or three.
pub const MAX_CONTAINER_DEPTH: usize = 8;

/// An `allOf` merged once: its type, its pointer, and the problems found below it.
#[derive(Clone)]
struct Merged {
    ty: Ty,
    pointer: String,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Lowerer<'a> {
    fn diag(&mut self, pointer: &str, message: impl Into<String>) {
        self.diags.push(Diagnostic {
            file: self.source.to_owned(),
            pointer: pointer.to_owned(),
            message: message.into(),
        });
    }

    /// A spot the generator cannot type: `serde_json::Value`, with a diagnostic at `pointer`
    /// (the value audit pairs the two).
    fn fallback(&mut self, pointer: &str, message: impl Into<String>) -> Ty {
        self.diag(pointer, message);
        Ty::Any(Why::diagnosed(pointer))
    }

    /// A schema that allows only `null` (`type: null`, `enum: [null]`, `anyOf` of nulls): no
    /// Rust type but `Option<serde_json::Value>` holds exactly that, and it is not free-form.
    fn null_only(&mut self, pointer: &str) -> (Ty, bool) {
        let ty = self.fallback(
            pointer,
            "the schema allows only null; it is typed as an optional JSON value",
        );
        (ty, true)
    }

    /// The input or output root: always a named type called `Input` / `Output`. Without a
    /// schema it is a JSON value.
    fn root(&mut self, s: Option<&Value>, ptr: &str, role: Role) -> TypeRef {
        let (name, missing) = if role == Role::Input {
            (
                "Input",
                "the submit operation has no JSON request body; input is untyped",
            )
        } else {
            (
                "Output",
                "no result operation with a JSON 200 response; output is untyped",
            )
        };
        let (ty, nullable) = match s {
            Some(s) => self.schema(s, ptr, name, ""),
            None => (self.fallback(ptr, missing), false),
        };
        if let Ty::Named(r) = ty {
            let def = &self.api.types[r.0];
            if def.role == role && def.name == name {
                return r;
            }
        }
        let ty = if nullable && role == Role::Output {
            self.fallback(ptr, "the output may be null; it is typed as a JSON value")
        } else {
            ty
        };
        let kind = if role == Role::Input {
            if !matches!(ty, Ty::Any(_) | Ty::Map(_)) {
                self.diag(
                    ptr,
                    "the input is not an object; it is sent as a JSON value",
                );
            }
            TypeKind::Newtype(ty)
        } else {
            TypeKind::Alias(ty)
        };
        let docs = self.docs(&Node::read(s.unwrap_or(&Value::Bool(true))), ptr);
        self.push(name, name, docs, kind, role)
    }

    fn push(&mut self, name: &str, base: &str, docs: Docs, kind: TypeKind, role: Role) -> TypeRef {
        let r = TypeRef(self.api.types.len());
        self.api.types.push(TypeDef {
            name: name.to_owned(),
            base_name: base.to_owned(),
            docs,
            kind,
            role,
            owner: self.owner,
            shared_name: None,
            canonical: None,
            builder: false,
            recursive: false,
        });
        self.names.insert(name.to_owned(), Some(r));
        self.types.push(r);
        r
    }

    /// Names and stores an inline type; an identical type of the same name is reused.
    ///
    /// The name is the first free one of: the hint (`AspectRatio`), the parent's name and the
    /// hint (`OutputAspectRatio`), the name spelled from the schema's place in the document
    /// (`InputLorasItemScale`), the place spelled exactly. Every candidate depends on this
    /// document alone, and none carries a counter.
    fn inline(&mut self, hint: &str, parent: &str, ptr: &str, docs: Docs, kind: TypeKind) -> Ty {
        let base = naming::type_ident(hint);
        let mut candidates = vec![base.clone()];
        if !parent.is_empty() {
            candidates.push(format!("{parent}{base}"));
        }
        let place = place_name(ptr);
        candidates.push(format!("{place}{base}"));
        candidates.push(naming::spelled(ptr));
        candidates.push(naming::hex_spelled(ptr));
        for name in &candidates {
            match self.names.get(name) {
                Some(Some(r)) if self.api.types[r.0].kind == kind => return Ty::Named(*r),
                Some(_) => continue,
                None => return Ty::Named(self.push(name, &base, docs, kind, Role::Other)),
            }
        }
        self.fallback(
            ptr,
            "no free name for this type; it is typed as a JSON value",
        )
    }

    /// The name of a component: its title when it has one (`LoRAInput`), else its key, without
    /// a leading copy of the module path.
    fn component_name(&self, key: &str, schema: &Node) -> String {
        let title = schema
            .annotations
            .title()
            .map(str::trim)
            .filter(|t| !t.is_empty());
        let raw = naming::type_ident(title.unwrap_or(key));
        naming::type_ident(&naming::without_module_prefix(&raw, &self.endpoint_id))
    }

    /// Lowers a `$ref` to a component schema.
    fn component(&mut self, reference: &str, ptr: &str) -> (Ty, bool) {
        let Some(name) = component_of(reference) else {
            let ty = self.fallback(
                ptr,
                format!("unsupported $ref `{reference}` (only #/components/schemas/...)"),
            );
            return (ty, false);
        };
        let name = name.as_str();
        match self.components.get(name) {
            Some(Component::Done(ty, nullable)) => return (ty.clone(), *nullable),
            Some(Component::InProgress(Some(r))) => {
                let r = *r;
                self.api.types[r.0].recursive = true;
                return (Ty::Named(r), false);
            }
            Some(Component::InProgress(None)) => {
                let ty = self.fallback(
                    ptr,
                    format!("`{name}` refers to itself without an object in between"),
                );
                return (ty, false);
            }
            None => {}
        }
        let target_ptr = component_pointer(name);
        let Some(schema) = fal_schema::component(self.doc, name) else {
            let ty = self.fallback(
                ptr,
                format!("dangling $ref: `{reference}` is not in the document"),
            );
            return (ty, false);
        };
        let role = self.roles.get(name).copied().unwrap_or(Role::Other);
        let node = Node::read(schema);
        let result = if node.lists_properties() {
            let local = match role {
                Role::Input => "Input".to_owned(),
                Role::Output => "Output".to_owned(),
                Role::Other => self.free_component_name(name, &node),
            };
            let docs = self.docs(&node, &target_ptr);
            let r = self.push(
                &local,
                &naming::type_ident(name),
                docs,
                TypeKind::Struct { fields: vec![] },
                role,
            );
            self.components
                .insert(name.to_owned(), Component::InProgress(Some(r)));
            let props = listed(&node, &target_ptr);
            let fields = self.fields(&props, &node.required().0, &local);
            self.api.types[r.0].kind = TypeKind::Struct { fields };
            (Ty::Named(r), false)
        } else {
            self.components
                .insert(name.to_owned(), Component::InProgress(None));
            self.schema(schema, &target_ptr, name, "")
        };
        self.components
            .insert(name.to_owned(), Component::Done(result.0.clone(), result.1));
        result
    }

    /// The component's reserved name, or when two components read the same, its key spelled
    /// exactly (the key is unique in the document).
    fn free_component_name(&self, key: &str, schema: &Node) -> String {
        let name = self.component_name(key, schema);
        let reserved_here = self
            .reserved
            .iter()
            .position(|n| *n == name)
            .is_some_and(|_| {
                // The first component (in key order) with this name owns the reservation.
                fal_schema::components(self.doc)
                    .find(|(k, s)| {
                        let s = Node::read(s);
                        s.lists_properties()
                            && !self.roles.contains_key(*k)
                            && self.component_name(k, &s) == name
                    })
                    .is_some_and(|(k, _)| k == key)
            });
        if reserved_here && matches!(self.names.get(&name), Some(None)) {
            return name;
        }
        [
            naming::type_ident(key),
            format!("{}Schema", naming::spelled(key)),
            naming::hex_spelled(key),
        ]
        .into_iter()
        .find(|n| !self.names.contains_key(n))
        .unwrap_or_else(|| format!("{}Schema", naming::hex_spelled(key)))
    }

    /// Lowers any schema to a type; the flag says `null` is accepted too.
    fn schema(&mut self, s: &Value, ptr: &str, hint: &str, parent: &str) -> (Ty, bool) {
        self.deeper(ptr, |lw| lw.node(&Node::read(s), ptr, hint, parent))
    }

    /// Runs `lower` one schema deeper; past [`MAX_SCHEMA_DEPTH`] the schema is a JSON value.
    fn deeper(&mut self, ptr: &str, lower: impl FnOnce(&mut Self) -> (Ty, bool)) -> (Ty, bool) {
        if self.depth >= MAX_SCHEMA_DEPTH {
            let ty = self.fallback(ptr, format!("schemas nest deeper than {MAX_SCHEMA_DEPTH} levels; this one is typed as a JSON value"));
            return (ty, false);
        }
        self.depth += 1;
        let out = lower(self);
        self.depth -= 1;
        out
    }

    /// Lowers a schema read at `ptr`, by the keyword that decides its shape.
    fn node(&mut self, s: &Node, ptr: &str, hint: &str, parent: &str) -> (Ty, bool) {
        let (ty, null) = match &s.shape {
            // `true`, `{}`, annotations only: free-form, no diagnostic.
            Shape::Any => (Ty::Any(Why::free(FreeForm::AnyValue, ptr)), false),
            Shape::Nothing => (
                self.fallback(
                    ptr,
                    "the schema `false` allows no value; it is typed as a JSON value",
                ),
                false,
            ),
            Shape::NotASchema(found) => (
                self.fallback(ptr, format!("a schema must be an object, found {found}")),
                false,
            ),
            Shape::Malformed { keyword, found } => {
                let at = format!("{ptr}/{keyword}");
                let message = match *keyword {
                    "$ref" => "$ref is not a string".to_owned(),
                    "type" => format!("type must be a string, found {found}"),
                    keyword => format!("{keyword} must be a non-empty array"),
                };
                (self.fallback(&at, message), false)
            }
            Shape::Ref(r) => self.component(r, &format!("{ptr}/$ref")),
            Shape::AllOf([]) => (
                self.fallback(&format!("{ptr}/allOf"), "allOf must be a non-empty array"),
                false,
            ),
            Shape::AllOf([one]) => self.schema(one, &format!("{ptr}/allOf/0"), hint, parent),
            Shape::AllOf(many) => self.all_of(many, ptr, hint, parent),
            Shape::AnyOf(key, []) => (
                self.fallback(
                    &format!("{ptr}/{key}"),
                    format!("{key} must be a non-empty array"),
                ),
                false,
            ),
            Shape::AnyOf(key, branches) => {
                self.any_of(branches, s, &format!("{ptr}/{key}"), hint, parent)
            }
            Shape::Const(c) => {
                let docs = self.docs(s, ptr);
                self.enumeration(std::slice::from_ref(*c), docs, ptr, hint, parent)
            }
            Shape::Enum([]) => (
                self.fallback(&format!("{ptr}/enum"), "enum must be a non-empty array"),
                false,
            ),
            Shape::Enum(values) => {
                let docs = self.docs(s, ptr);
                self.enumeration(values, docs, ptr, hint, parent)
            }
            Shape::Type(t) => self.typed(t, s, ptr, hint, parent),
            // JSON Schema's `type: [a, b]`: a union of the listed types.
            Shape::Types { names, null, .. } => {
                let (ty, n) = match names.as_slice() {
                    [] => self.null_only(&format!("{ptr}/type")),
                    [one] => self.typed(one, s, ptr, hint, parent),
                    many => {
                        // One branch per listed type, each the whole schema with that type; the
                        // branches are not in the document, so they are at its own pointer.
                        let branches = many
                            .iter()
                            .map(|t| {
                                self.deeper(ptr, |lw| {
                                    let (ty, n) = lw.typed(t, s, ptr, hint, parent);
                                    (ty, n || s.nullable)
                                })
                            })
                            .collect();
                        self.union(branches, ptr, hint, parent)
                    }
                };
                (ty, n || *null)
            }
            // No type and nothing that implies one, but keywords that constrain a value
            // (`format`, `minimum`, `required`...) say a type was meant.
            Shape::Untyped(keys) => {
                let keys = keys
                    .iter()
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let ty = self.fallback(
                    ptr,
                    format!(
                        "no `type`, but {keys} constrain the value; it is typed as a JSON value"
                    ),
                );
                (ty, false)
            }
        };
        (ty, null || s.nullable)
    }

    fn typed(&mut self, t: &str, s: &Node, ptr: &str, hint: &str, parent: &str) -> (Ty, bool) {
        let ty = match t {
            "string" if s.format() == Some("binary") => Ty::Bytes,
            "string" => Ty::String,
            "integer" => Ty::Integer,
            "number" => Ty::Number,
            "boolean" => Ty::Boolean,
            "null" => return self.null_only(&format!("{ptr}/type")),
            "array" => self.array(s, ptr, hint, parent),
            "object" => {
                let (props, malformed) = match s.properties() {
                    Properties::Listed(_) => (listed(s, ptr), None),
                    Properties::Malformed(found) => (Vec::new(), Some(found)),
                    Properties::Absent => (Vec::new(), None),
                };
                let object = ObjectParts {
                    props,
                    required: s.required().0,
                    malformed,
                    additional: s.additional_properties(),
                    docs: self.docs(s, ptr),
                };
                self.object(object, ptr, hint, parent)
            }
            other => self.fallback(&format!("{ptr}/type"), format!("unknown type `{other}`")),
        };
        (ty, false)
    }

    fn array(&mut self, s: &Node, ptr: &str, hint: &str, parent: &str) -> Ty {
        let item_hint = singular(hint);
        match s.prefix_items() {
            // Tuples: a homogeneous one is a list of that type, a mixed one a list of values.
            Some(Ok(prefix)) => {
                let tys: Vec<Ty> = prefix
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        self.schema(p, &format!("{ptr}/prefixItems/{i}"), &item_hint, parent)
                            .0
                    })
                    .collect();
                let at = format!("{ptr}/prefixItems");
                let item = match tys.first() {
                    // Members all typed as JSON values: free-form when every one is, else for
                    // the reason of the first that is not.
                    Some(Ty::Any(_)) if tys.iter().all(|t| matches!(t, Ty::Any(_))) => {
                        let diagnosed = tys.iter().find_map(|t| match t {
                            Ty::Any(why) if why.free_form.is_none() => Some(why.clone()),
                            _ => None,
                        });
                        Ty::Any(
                            diagnosed.unwrap_or_else(|| Why::free(FreeForm::FreeFormTuple, &at)),
                        )
                    }
                    Some(first) if tys.iter().all(|t| t == first) => first.clone(),
                    Some(_) => self.fallback(
                        &at,
                        "a tuple of mixed item types; items are typed as JSON values",
                    ),
                    None => self.fallback(
                        &at,
                        "an empty tuple (prefixItems: []); items are typed as JSON values",
                    ),
                };
                return Ty::Array(Box::new(item));
            }
            Some(Err(found)) => self.diag(
                &format!("{ptr}/prefixItems"),
                format!("prefixItems must be an array, found {found}; it is ignored"),
            ),
            None => {}
        }
        let at = format!("{ptr}/items");
        match s.items() {
            // No items schema, or `true`: the items are free-form.
            Slot::Absent | Slot::True => Ty::Array(Box::new(Ty::Any(Why::free(
                FreeForm::ArrayWithoutItems,
                &at,
            )))),
            Slot::False => Ty::Array(Box::new(self.fallback(
                &at,
                "items: false allows only an empty array; items are typed as JSON values",
            ))),
            Slot::Indexed => Ty::Array(Box::new(self.fallback(
                &at,
                "malformed items: an object keyed by indices instead of a schema; items are untyped",
            ))),
            Slot::Schema(items) => {
                if self.containers >= MAX_CONTAINER_DEPTH {
                    return Ty::Array(Box::new(self.fallback(&at, format!("lists and maps nest deeper than {MAX_CONTAINER_DEPTH} levels; items are typed as JSON values"))));
                }
                self.containers += 1;
                let (item, nullable) = self.schema(items, &at, &item_hint, parent);
                self.containers -= 1;
                // A nullable item is an `Option` (`[X, null]` is `Vec<Option<X>>`).
                if nullable && !matches!(item, Ty::Any(_)) {
                    return Ty::Array(Box::new(Ty::Optional(Box::new(item))));
                }
                Ty::Array(Box::new(item))
            }
            Slot::Malformed(found) => Ty::Array(Box::new(self.fallback(
                &at,
                format!("items must be a schema, found {found}"),
            ))),
        }
    }

    /// An object: a struct of its properties, or without any a map.
    fn object(&mut self, object: ObjectParts, ptr: &str, hint: &str, parent: &str) -> Ty {
        if !object.props.is_empty() {
            let name = naming::type_ident(hint);
            let fields = self.fields(&object.props, &object.required, &name);
            let kind = TypeKind::Struct { fields };
            return self.inline(hint, parent, ptr, object.docs, kind);
        }
        let at = format!("{ptr}/additionalProperties");
        // The values of an object without properties are free-form (below); with malformed
        // properties they are typed so for want of a reading, as the diagnostic says.
        let malformed = object.malformed.map(|found| {
            self.fallback(
                &format!("{ptr}/properties"),
                format!("properties must be an object, found {found}; it is ignored"),
            )
        });
        let free = |rule| {
            malformed
                .clone()
                .unwrap_or_else(|| Ty::Any(Why::free(rule, &at)))
        };
        match object.additional {
            // A map of free-form values: no additionalProperties, `true`, `{}`; `false` (with
            // no properties) is an object that is always empty.
            Slot::Absent | Slot::True => Ty::Map(Box::new(free(FreeForm::OpenMapValues))),
            Slot::False => Ty::Map(Box::new(free(FreeForm::EmptyObject))),
            // `{}` is a schema of its own, allowing anything.
            Slot::Schema(ap) if Node::read(ap).is_empty() => {
                Ty::Map(Box::new(Ty::Any(Why::free(FreeForm::AnyValue, &at))))
            }
            Slot::Schema(ap) => {
                if self.containers >= MAX_CONTAINER_DEPTH {
                    return Ty::Map(Box::new(self.fallback(&at, format!("lists and maps nest deeper than {MAX_CONTAINER_DEPTH} levels; values are typed as JSON values"))));
                }
                self.containers += 1;
                let (ty, nullable) = self.schema(ap, &at, &singular(hint), parent);
                self.containers -= 1;
                Ty::Map(Box::new(if nullable && !matches!(ty, Ty::Any(_)) {
                    Ty::Optional(Box::new(ty))
                } else {
                    ty
                }))
            }
            Slot::Indexed | Slot::Malformed(_) => {
                let found = match object.additional {
                    Slot::Malformed(found) => found,
                    _ => "an object",
                };
                Ty::Map(Box::new(self.fallback(
                    &at,
                    format!("additionalProperties must be a schema, found {found}; values are typed as JSON values"),
                )))
            }
        }
    }

    /// `allOf` of several schemas: the properties of every object member, merged.
    fn all_of(&mut self, members: &[Value], ptr: &str, hint: &str, parent: &str) -> (Ty, bool) {
        let key = (
            serde_json::to_string(members).unwrap_or_default(),
            hint.to_owned(),
            parent.to_owned(),
        );
        if let Some(m) = self.merged.get(&key).cloned() {
            let rebase = |pointer: &str| format!("{ptr}{}", &pointer[m.pointer.len()..]);
            for d in m.diagnostics {
                let pointer = rebase(&d.pointer);
                self.diags.push(Diagnostic { pointer, ..d });
            }
            return (rebased(m.ty, &m.pointer, &rebase), false);
        }
        // Property by name (a later member's wins, as in the generated types), with where it
        // really is: a member's `properties`, or a referenced component's.
        let mut props: BTreeMap<&str, (&Value, String)> = BTreeMap::new();
        let mut required = Vec::new();
        for (i, m) in members.iter().enumerate() {
            let member = self.resolve(m, &format!("{ptr}/allOf/{i}"));
            let Some((member, at)) = member.filter(|(m, _)| m.properties() != Properties::Absent)
            else {
                let ty = self.fallback(
                    &format!("{ptr}/allOf/{i}"),
                    "allOf member is not an object schema; the whole allOf is untyped",
                );
                return (ty, false);
            };
            if let Properties::Listed(listed) = member.properties() {
                for (name, prop) in listed {
                    props.insert(name, (prop, format!("{at}/properties/{}", escape(name))));
                }
                required.extend(member.required().0);
            }
        }
        // Merging copies the members' properties: when one of them leads back to this same
        // allOf (through a `$ref` to a component holding it), it would be copied into itself
        // forever.
        if self.merging.iter().any(|m| m.as_slice() == members) {
            let ty = self.fallback(
                &format!("{ptr}/allOf"),
                "allOf contains itself (through a $ref); the whole allOf is untyped",
            );
            return (ty, false);
        }
        let object = ObjectParts {
            props: props
                .into_iter()
                .map(|(name, (prop, at))| (name, prop, at))
                .collect(),
            required,
            malformed: None,
            additional: Slot::Absent,
            docs: Docs {
                pointer: ptr.to_owned(),
                ..Docs::default()
            },
        };
        self.merging.push(members.to_vec());
        let diags_before = self.diags.len();
        let ty = self.object(object, ptr, hint, parent);
        self.merging.pop();
        let found = self.diags[diags_before..]
            .iter()
            .filter(|d| d.pointer.starts_with(ptr))
            .cloned()
            .collect();
        self.merged.insert(
            key,
            Merged {
                ty: ty.clone(),
                pointer: ptr.to_owned(),
                diagnostics: found,
            },
        );
        (ty, false)
    }

    /// Follows `$ref` chains (at most a few hops) to the referenced schema, without lowering
    /// it; with the schema's pointer (`ptr` when `s` is no `$ref`).
    fn resolve<'d>(&self, s: &'d Value, ptr: &str) -> Option<(Node<'d>, String)>
    where
        'a: 'd,
    {
        let mut node = Node::read(s);
        let mut at = ptr.to_owned();
        for _ in 0..8 {
            let Shape::Ref(r) = node.shape else {
                return Some((node, at));
            };
            let name = component_of(r)?;
            node = Node::read(fal_schema::component(self.doc, &name)?);
            at = component_pointer(&name);
        }
        None
    }

    /// `anyOf`/`oneOf` (at `ptr`) written in `outer`.
    fn any_of(
        &mut self,
        branches: &[Value],
        outer: &Node,
        ptr: &str,
        hint: &str,
        parent: &str,
    ) -> (Ty, bool) {
        let branches: Vec<Node> = branches.iter().map(Node::read).collect();
        let null = branches.iter().any(Node::is_null_only);
        let rest: Vec<(usize, &Node)> = branches
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.is_null_only())
            .collect();
        match rest.as_slice() {
            [] => return self.null_only(ptr),
            [(i, one)] => {
                // `anyOf [X, null]`: the description, default and examples are on the outside;
                // an inline X (an enum, an object) is documented with them.
                let mut one = (*one).clone();
                one.annotations.inherit(&outer.annotations);
                let at = format!("{ptr}/{i}");
                let (ty, n) = self.deeper(&at, |lw| lw.node(&one, &at, hint, parent));
                return (ty, n || null);
            }
            _ => {}
        }
        // Enum-like branches (string enums, consts, plain strings) merge into one open enum:
        // an open enum already keeps any string, so nothing is lost.
        if let Some(values) = mergeable_enum(&rest) {
            let docs = Docs {
                pointer: ptr.to_owned(),
                ..Docs::default()
            };
            let (ty, n) = self.enumeration(&values, docs, ptr, hint, parent);
            return (ty, n || null);
        }
        let has_struct = rest.iter().any(|(_, b)| {
            matches!(
                b.shape,
                Shape::Ref(_)
                    | Shape::Malformed {
                        keyword: "$ref",
                        ..
                    }
            ) || b.properties() != Properties::Absent
        });
        let lowered = rest
            .iter()
            .map(|(i, b)| {
                let is_enum = matches!(
                    b.shape,
                    Shape::Enum(_)
                        | Shape::Const(_)
                        | Shape::Malformed {
                            keyword: "enum",
                            ..
                        }
                );
                let branch_hint = if is_enum && has_struct {
                    format!("{hint}Preset")
                } else {
                    hint.to_owned()
                };
                let at = format!("{ptr}/{i}");
                self.deeper(&at, |lw| lw.node(b, &at, &branch_hint, parent))
            })
            .collect();
        let (ty, n) = self.union(lowered, ptr, hint, parent);
        (ty, n || null)
    }

    /// The union of lowered branches; nullable when a branch is (and the branches after it
    /// still count).
    fn union(
        &mut self,
        branches: Vec<(Ty, bool)>,
        ptr: &str,
        hint: &str,
        parent: &str,
    ) -> (Ty, bool) {
        let mut null = false;
        let mut tys: Vec<Ty> = Vec::new();
        // A branch typed as a JSON value makes the union one: free-form when some such branch
        // is, else for the reason of the first.
        let mut any: Option<Why> = None;
        for (ty, n) in branches {
            null |= n;
            if let Ty::Any(why) = &ty {
                if why.free_form.is_some() {
                    any = Some(Why::free(FreeForm::FreeBranch, ptr));
                } else {
                    any.get_or_insert_with(|| why.clone());
                }
            }
            if !tys.contains(&ty) {
                tys.push(ty);
            }
        }
        if let Some(why) = any {
            return (Ty::Any(why), null);
        }
        self.finish_union(tys, ptr, hint, parent, null)
    }

    fn finish_union(
        &mut self,
        mut tys: Vec<Ty>,
        ptr: &str,
        hint: &str,
        parent: &str,
        null: bool,
    ) -> (Ty, bool) {
        // Integer inside number: a number already holds it.
        if tys.contains(&Ty::Number) {
            tys.retain(|t| *t != Ty::Integer);
        }
        if let [_] = tys.as_slice() {
            return (tys.pop().expect("one type"), null);
        }
        // Untagged unions try variants in order: the most specific shapes first.
        let rank = |t: &Ty| -> u8 {
            match t {
                Ty::Named(r) => match self.api.types[r.0].kind {
                    TypeKind::Struct { .. } | TypeKind::Newtype(_) => 0,
                    TypeKind::Union { .. } | TypeKind::Alias(_) => 1,
                    TypeKind::IntEnum { .. } => 5,
                    TypeKind::StrEnum { .. } => 7,
                },
                Ty::Map(_) => 2,
                Ty::Array(_) => 3,
                Ty::Optional(_) => 9,
                Ty::Boolean => 4,
                Ty::Integer => 5,
                Ty::Number => 6,
                Ty::String => 8,
                Ty::Bytes => 8,
                Ty::Any(_) => 9,
            }
        };
        tys.sort_by_key(|t| rank(t));
        let names = self.variant_names(&tys);
        let variants = tys
            .into_iter()
            .zip(names)
            .map(|(ty, ident)| UnionVariant { ident, ty })
            .collect();
        // The pointer is the union's (`.../anyOf`): the audit of JSON values finds its branches.
        let docs = Docs {
            pointer: ptr.to_owned(),
            ..Docs::default()
        };
        let ty = self.inline(hint, parent, ptr, docs, TypeKind::Union { variants });
        (ty, null)
    }

    fn variant_names(&self, tys: &[Ty]) -> Vec<String> {
        let kind = |t: &Ty| match t {
            Ty::Named(r) => Some(&self.api.types[r.0].kind),
            _ => None,
        };
        if let [a, b] = tys {
            if *b == Ty::Array(Box::new(a.clone())) {
                return vec!["One".into(), "Many".into()];
            }
            if *a == Ty::Array(Box::new(b.clone())) {
                return vec!["Many".into(), "One".into()];
            }
            match (kind(a), kind(b)) {
                (Some(TypeKind::Struct { .. }), Some(TypeKind::StrEnum { .. })) => {
                    return vec!["Custom".into(), "Preset".into()];
                }
                (Some(TypeKind::StrEnum { .. }), Some(TypeKind::Struct { .. })) => {
                    return vec!["Preset".into(), "Custom".into()];
                }
                _ => {}
            }
        }
        // A variant is named after its type; lists and maps of different item types are told
        // apart by the item type (`List`, then `StringList`, `ImageList`).
        fn short(t: &Ty, api: &Api) -> String {
            match t {
                Ty::String => "String".to_owned(),
                Ty::Bytes => "Bytes".to_owned(),
                Ty::Integer => "Integer".to_owned(),
                Ty::Number => "Number".to_owned(),
                Ty::Boolean => "Boolean".to_owned(),
                Ty::Any(_) => "Value".to_owned(),
                Ty::Array(_) => "List".to_owned(),
                Ty::Map(_) => "Map".to_owned(),
                Ty::Optional(inner) => format!("Optional{}", short(inner, api)),
                Ty::Named(r) => api.types[r.0].name.clone(),
            }
        }
        fn long(t: &Ty, api: &Api) -> String {
            match t {
                Ty::Array(inner) => format!("{}List", long(inner, api)),
                Ty::Map(inner) => format!("{}Map", long(inner, api)),
                Ty::Optional(inner) => format!("Optional{}", long(inner, api)),
                other => short(other, api),
            }
        }
        let shorts: Vec<String> = tys.iter().map(|t| short(t, self.api)).collect();
        let candidates: Vec<(String, String)> = tys
            .iter()
            .zip(&shorts)
            .map(|(t, n)| {
                let name = if shorts.iter().filter(|o| *o == n).count() > 1 {
                    long(t, self.api)
                } else {
                    n.clone()
                };
                (name.clone(), name)
            })
            .collect();
        naming::unique_by_value(&candidates, &[])
    }

    fn enumeration(
        &mut self,
        values: &[Value],
        docs: Docs,
        ptr: &str,
        hint: &str,
        parent: &str,
    ) -> (Ty, bool) {
        let null = values.iter().any(Value::is_null);
        let values: Vec<&Value> = values.iter().filter(|v| !v.is_null()).collect();
        if values.is_empty() {
            return self.null_only(ptr);
        }
        if values.iter().all(|v| v.is_string()) {
            let mut wires: Vec<String> = Vec::new();
            for v in &values {
                let v = v.as_str().unwrap_or_default().to_owned();
                if !wires.contains(&v) {
                    wires.push(v);
                }
            }
            // Exact values claim the plain names first: `"fast"` is `Fast`, `"fast "` is `Fast2`.
            let mut order: Vec<usize> = (0..wires.len()).collect();
            order.sort_by_key(|&i| wires[i].trim() != wires[i]);
            let candidates: Vec<(String, String)> = order
                .iter()
                .map(|&i| {
                    (
                        variant_name(naming::str_variant(&wires[i], hint)),
                        wires[i].clone(),
                    )
                })
                .collect();
            let names = naming::unique_by_value(&candidates, &[CATCH_ALL]);
            let mut idents = vec![String::new(); wires.len()];
            for (slot, name) in order.into_iter().zip(names) {
                idents[slot] = name;
            }
            let catch_all = CATCH_ALL.to_owned();
            let variants = idents
                .into_iter()
                .zip(wires)
                .map(|(ident, wire)| Variant { ident, wire })
                .collect();
            let ty = self.inline(
                hint,
                parent,
                ptr,
                docs,
                TypeKind::StrEnum {
                    variants,
                    catch_all,
                },
            );
            return (ty, null);
        }
        if values.iter().all(|v| v.as_i64().is_some()) {
            let mut wires: Vec<i64> = Vec::new();
            for v in &values {
                let v = v.as_i64().unwrap_or_default();
                if !wires.contains(&v) {
                    wires.push(v);
                }
            }
            let candidates: Vec<(String, String)> = wires
                .iter()
                .map(|w| (variant_name(naming::int_variant(*w, hint)), w.to_string()))
                .collect();
            let idents = naming::unique_by_value(&candidates, &[CATCH_ALL]);
            let catch_all = CATCH_ALL.to_owned();
            let variants = idents
                .into_iter()
                .zip(wires)
                .map(|(ident, wire)| Variant { ident, wire })
                .collect();
            let ty = self.inline(
                hint,
                parent,
                ptr,
                docs,
                TypeKind::IntEnum {
                    variants,
                    catch_all,
                },
            );
            return (ty, null);
        }
        if values.iter().all(|v| v.is_number()) {
            return (Ty::Number, null);
        }
        if values.iter().all(|v| v.is_boolean()) {
            return (Ty::Boolean, null);
        }
        let ty = self.fallback(
            &format!("{ptr}/enum"),
            "enum mixes value types; it is typed as a JSON value",
        );
        (ty, null)
    }

    fn fields(
        &mut self,
        props: &[(&str, &Value, String)],
        required: &[&str],
        type_name: &str,
    ) -> Vec<Field> {
        let mut fields = Vec::with_capacity(props.len());
        let mut idents: Vec<String> = Vec::new();
        for (wire, prop, prop_ptr) in props {
            let (ty, nullable) = self.schema(prop, prop_ptr, wire, type_name);
            let mut ident = naming::snake_ident(wire);
            if idents.contains(&ident) {
                // Two keys that read the same (`foo-bar`, `foo_bar`): the later one is spelled
                // from its key, never numbered.
                let spelled = naming::snake_ident(&naming::spelled(wire));
                ident = [spelled, naming::hex_spelled(wire).to_ascii_lowercase()]
                    .into_iter()
                    .find(|i| !idents.contains(i))
                    .unwrap_or_else(|| {
                        format!("{}_", naming::hex_spelled(wire).to_ascii_lowercase())
                    });
            }
            idents.push(ident.clone());
            let node = Node::read(prop);
            fields.push(Field {
                required: required.contains(wire),
                wire: (*wire).to_owned(),
                ident,
                ty,
                nullable,
                docs: self.docs(&node, prop_ptr),
                secret: is_secret(wire, prop),
                deprecated: node.annotations.deprecated(),
            });
        }
        fields
    }

    fn docs(&self, s: &Node, ptr: &str) -> Docs {
        let text = |t: Option<&str>| {
            t.map(str::trim)
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
        };
        // Constraints live beside the type, which may sit in the one non-null anyOf branch.
        let mut constraints = describe_constraints(s);
        for member in s.members() {
            constraints.extend(describe_constraints(&member));
        }
        constraints.dedup();
        Docs {
            pointer: ptr.to_owned(),
            title: text(s.annotations.title()),
            description: text(s.annotations.description()),
            default: s.annotations.default_value().cloned(),
            constraints,
            examples: s.annotations.examples().cloned().collect(),
        }
    }
}

/// An object schema's parts, as written or as an `allOf` merges them.
struct ObjectParts<'v> {
    /// Name, schema and pointer of each property, in order.
    props: Vec<(&'v str, &'v Value, String)>,
    required: Vec<&'v str>,
    /// `properties` is written but is not an object: what it is.
    malformed: Option<&'static str>,
    additional: Slot<'v>,
    docs: Docs,
}

/// A schema's properties in fal's order, each with its pointer.
fn listed<'v>(s: &Node<'v>, ptr: &str) -> Vec<(&'v str, &'v Value, String)> {
    match s.properties() {
        Properties::Listed(props) => props
            .into_iter()
            .map(|(name, prop)| (name, prop, format!("{ptr}/properties/{}", escape(name))))
            .collect(),
        Properties::Absent | Properties::Malformed(_) => Vec::new(),
    }
}

/// `ty` lowered at `from`, as met again at another place: its JSON values' pointers below `from`
/// moved by `rebase` (as the diagnostics found below `from` are).
fn rebased(ty: Ty, from: &str, rebase: &dyn Fn(&str) -> String) -> Ty {
    match ty {
        Ty::Any(why) if why.pointer.starts_with(from) => Ty::Any(Why {
            pointer: rebase(&why.pointer),
            ..why
        }),
        Ty::Array(inner) => Ty::Array(Box::new(rebased(*inner, from, rebase))),
        Ty::Map(inner) => Ty::Map(Box::new(rebased(*inner, from, rebase))),
        Ty::Optional(inner) => Ty::Optional(Box::new(rebased(*inner, from, rebase))),
        other => other,
    }
}

/// The enum values of union branches that are all enums, consts or plain strings (at least one
/// enum), in order; `None` when the union is anything else.
fn mergeable_enum(branches: &[(usize, &Node)]) -> Option<Vec<Value>> {
    let mut values = Vec::new();
    let mut any_enum = false;
    for (_, b) in branches {
        match b.shape {
            Shape::Enum(e) => {
                values.extend(e.iter().cloned());
                any_enum = true;
            }
            Shape::Const(c) => {
                values.push(c.clone());
                any_enum = true;
            }
            // A plain string: the open enum's catch-all covers it.
            Shape::Type("string") => {}
            _ => return None,
        }
    }
    let all_str = values.iter().all(Value::is_string);
    (any_enum && all_str && !values.is_empty()).then_some(values)
}

/// The catch-all variant of every open enum: one name everywhere.
const CATCH_ALL: &str = "Unknown";

/// A listed value whose name would be the catch-all's reads `UnknownValue`.
fn variant_name(name: String) -> String {
    if name == CATCH_ALL {
        format!("{CATCH_ALL}Value")
    } else {
        name
    }
}

/// A name spelled from a schema's place in its document: the input or output it sits in and
/// the properties on the way (`/components/schemas/Lora/properties/scale` -> `LoraScale`,
/// `.../post/requestBody/.../properties/loras/items` -> `InputLorasItem`).
fn place_name(ptr: &str) -> String {
    let segments: Vec<String> = ptr
        .split('/')
        .skip(1)
        .map(|t| t.replace("~1", "/").replace("~0", "~"))
        .collect();
    let mut out = String::new();
    let mut i = 0;
    while i < segments.len() {
        let seg = segments[i].as_str();
        match seg {
            "paths" | "requestBody" | "content" | "application/json" | "schema" | "responses"
            | "200" | "components" | "schemas" | "properties" | "allOf" => {}
            "post" => out.push_str("Input"),
            "get" => out.push_str("Output"),
            "items" | "prefixItems" => out.push_str("Item"),
            "additionalProperties" => out.push_str("Value"),
            "anyOf" | "oneOf" => {
                if let Some(n) = segments.get(i + 1).filter(|n| n.parse::<usize>().is_ok()) {
                    out.push_str(&format!("Variant{n}"));
                    i += 1;
                }
            }
            _ if seg.starts_with('/') => {}
            _ => out.push_str(&naming::type_ident(seg)),
        }
        i += 1;
    }
    out
}

/// `image_urls` -> `image_url`, for naming the item type of a list.
fn singular(hint: &str) -> String {
    if let Some(stem) = hint.strip_suffix("ies") {
        return format!("{stem}y");
    }
    match hint.strip_suffix('s') {
        Some(stem) if !stem.ends_with('s') && !stem.is_empty() => stem.to_owned(),
        _ => format!("{hint}Item"),
    }
}

fn describe_constraints(s: &Node) -> Vec<String> {
    let written = s.constraints();
    let get = |k: &str| written.iter().find(|(w, _)| *w == k).map(|(_, v)| *v);
    let num = |k: &str| get(k).filter(|v| v.is_number()).map(|v| v.to_string());
    let mut out = Vec::new();
    // 3.0 style: exclusiveMinimum is a boolean modifying minimum; 3.1 style: it is the bound.
    let excl_min_flag = get("exclusiveMinimum")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let excl_max_flag = get("exclusiveMaximum")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let lower = num("exclusiveMinimum")
        .map(|v| format!("{v} <"))
        .or_else(|| {
            num("minimum").map(|v| {
                if excl_min_flag {
                    format!("{v} <")
                } else {
                    format!("{v} ≤")
                }
            })
        });
    let upper = num("exclusiveMaximum")
        .map(|v| format!("< {v}"))
        .or_else(|| {
            num("maximum").map(|v| {
                if excl_max_flag {
                    format!("< {v}")
                } else {
                    format!("≤ {v}")
                }
            })
        });
    match (lower, upper) {
        (Some(l), Some(u)) => out.push(format!("{l} value {u}")),
        (Some(l), None) => out.push(format!("{l} value")),
        (None, Some(u)) => out.push(format!("value {u}")),
        (None, None) => {}
    }
    if let Some(m) = num("multipleOf") {
        out.push(format!("a multiple of {m}"));
    }
    match (num("minLength"), num("maxLength")) {
        (Some(a), Some(b)) => out.push(format!("{a} to {b} characters")),
        (Some(a), None) => out.push(format!("at least {a} characters")),
        (None, Some(b)) => out.push(format!("at most {b} characters")),
        _ => {}
    }
    match (num("minItems"), num("maxItems")) {
        (Some(a), Some(b)) => out.push(format!("{a} to {b} items")),
        (Some(a), None) => out.push(format!("at least {a} items")),
        (None, Some(b)) => out.push(format!("at most {b} items")),
        _ => {}
    }
    if let Some(p) = get("pattern").and_then(Value::as_str) {
        out.push(format!("matches `{p}`"));
    }
    out
}

#[cfg(test)]
mod tests;
