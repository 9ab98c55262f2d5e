//! The Rust API change: the public items of each endpoint's generated module on both sides,
//! and what was added, removed or changed.
//!
//! Both sides are generated with the current `fal_codegen` and read back with `syn`, so this
//! follows whatever the generator emits (names, layout, sharing): nothing here knows how the
//! generator names things. An endpoint module is found by its `pub const ENDPOINT_ID`; its
//! public names are the items it defines and the ones it re-exports (`pub use`), each resolved
//! to its definition, which may live in another module (shared types).
//!
//! Each public name becomes a few *facts*, keyed so that the same item pairs across sides:
//! `Output` (a struct, with `#[non_exhaustive]` or not), `Output.video` (a field and its
//! type), `AspectRatio::Ratio16x9` (a variant), `Input::new(..)` (a constructor and its
//! signature), `Input::seed(..)` (a setter), `Input: Clone` (a trait impl, derived or written).

use std::collections::{BTreeMap, BTreeSet};

use quote::ToTokens;
use serde_json::{Value, json};

use super::rules::Semver;

/// What kind of public item a fact is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ItemKind {
    /// A struct, enum, alias or constant.
    Type,
    /// A public struct field.
    Field,
    /// An enum variant.
    Variant,
    /// `new` or another associated function without `self`.
    Constructor,
    /// A `self`-consuming method returning `Self` (a chained setter).
    Setter,
    /// Any other public method.
    Method,
    /// A trait implemented for a type (derived, written or from `open_enum!`).
    TraitImpl,
}

impl ItemKind {
    /// `type`, `field`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Type => "type",
            ItemKind::Field => "field",
            ItemKind::Variant => "variant",
            ItemKind::Constructor => "constructor",
            ItemKind::Setter => "setter",
            ItemKind::Method => "method",
            ItemKind::TraitImpl => "trait impl",
        }
    }
}

/// One public item of an endpoint module: its kind and its signature (what must stay equal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fact {
    /// Its kind.
    pub kind: ItemKind,
    /// Its signature: a field's type, a function's parameters and result, a struct's
    /// `non_exhaustive struct`.
    pub signature: String,
    /// The signature without parameter names: a rename alone is not a Rust break, but the
    /// same types with names in another order is a silent swap of arguments.
    pub shape: String,
    /// For fields and variants: whether the owning type is `#[non_exhaustive]`.
    pub owner_non_exhaustive: bool,
}

/// The public API of every endpoint module of one generated file.
#[derive(Debug, Default)]
pub struct Api {
    /// Endpoint id → item key → fact.
    pub endpoints: BTreeMap<String, BTreeMap<String, Fact>>,
}

/// How an item changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChangeKind {
    /// On the old side only.
    Removed,
    /// A field removed from one type and added, with the same type, to another (a report row,
    /// see `report::summarize`).
    Moved,
    /// Same key, different signature.
    Changed,
    /// On the new side only.
    Added,
}

impl ChangeKind {
    /// `removed`, `changed`, `added`.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Removed => "removed",
            ChangeKind::Moved => "moved",
            ChangeKind::Changed => "changed",
            ChangeKind::Added => "added",
        }
    }
}

/// One changed public item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiChange {
    /// Added, removed or changed.
    pub change: ChangeKind,
    /// What kind of item.
    pub kind: ItemKind,
    /// Its key: `Output.video`, `Input::seed`, `AspectRatio::Ratio16x9`.
    pub item: String,
    /// Old signature.
    pub old: Option<String>,
    /// New signature.
    pub new: Option<String>,
    /// The semver bump this change needs.
    pub semver: Semver,
}

impl ApiChange {
    /// `removed field Output.seed: Option<i64>`, `changed setter Input::seed(..): a → b`.
    pub fn describe(&self) -> String {
        match (&self.old, &self.new) {
            (Some(old), Some(new)) if self.change == ChangeKind::Moved => {
                format!("moved {} {}: {old} → {new}", self.kind.as_str(), self.item)
            }
            (Some(old), Some(new)) if self.change == ChangeKind::Changed => format!(
                "{} {} {}: {old} → {new}",
                self.change.as_str(),
                self.kind.as_str(),
                self.item
            ),
            (old, new) => {
                let sig = new.as_ref().or(old.as_ref()).map_or("", String::as_str);
                let sig = if sig.is_empty() || self.kind == ItemKind::TraitImpl {
                    String::new()
                } else if sig.starts_with('(') {
                    // A type's summed-up members (`report::summarize`).
                    format!(" {sig}")
                } else {
                    format!(": {sig}")
                };
                format!(
                    "{} {} {}{sig}",
                    self.change.as_str(),
                    self.kind.as_str(),
                    self.item
                )
            }
        }
    }

    /// Machine-readable.
    pub fn json(&self) -> Value {
        json!({
            "change": self.change.as_str(),
            "kind": self.kind.as_str(),
            "item": self.item,
            "old": self.old,
            "new": self.new,
            "semver": self.semver.as_str(),
        })
    }
}

/// Generates `docs` together (as `fal-models` would ship them) and returns the single-file
/// source, or `None` when the generator produced nothing to read.
pub fn generate(docs: Vec<fal_codegen::Document>) -> Option<String> {
    if docs.is_empty() {
        return Some(String::new());
    }
    let generated = fal_codegen::Config::new().generate(&docs);
    let text = generated.single_file();
    (!text.trim().is_empty()).then_some(text)
}

/// Reads the public API of every endpoint module in `source` (a generated single file).
pub fn extract(source: &str) -> Result<Api, String> {
    let file =
        syn::parse_file(source).map_err(|e| format!("generated code does not parse: {e}"))?;
    let mut index = Index::default();
    index.walk(&[], &file.items);
    let mut api = Api::default();
    for (module, id) in &index.endpoints {
        let mut facts = BTreeMap::new();
        let names = index.public_names.get(module).cloned().unwrap_or_default();
        for name in names {
            if let Some(def) = index.resolve(module, &name) {
                index.facts_of(&name, &def, &mut facts);
            }
        }
        api.endpoints.insert(id.clone(), facts);
    }
    Ok(api)
}

/// The changes between two endpoints' facts, removed first, then changed, then added.
pub fn compare(old: &BTreeMap<String, Fact>, new: &BTreeMap<String, Fact>) -> Vec<ApiChange> {
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    let mut changes = Vec::new();
    for key in keys {
        let (change, fact) = match (old.get(key), new.get(key)) {
            (Some(a), Some(b)) if a.signature == b.signature => continue,
            (Some(_), Some(b)) => (ChangeKind::Changed, b),
            (Some(a), None) => (ChangeKind::Removed, a),
            (None, Some(b)) => (ChangeKind::Added, b),
            (None, None) => continue,
        };
        let semver = semver_of(change, fact, old.get(key));
        changes.push(ApiChange {
            change,
            kind: fact.kind,
            item: key.clone(),
            old: old.get(key).map(|f| f.signature.clone()),
            new: new.get(key).map(|f| f.signature.clone()),
            semver,
        });
    }
    changes.sort_by(|a, b| (a.change, &a.item).cmp(&(b.change, &b.item)));
    changes
}

/// The semver rules of the Rust reference (and cargo-semver-checks' lints) for each change.
fn semver_of(change: ChangeKind, fact: &Fact, old: Option<&Fact>) -> Semver {
    match (change, fact.kind) {
        (ChangeKind::Removed | ChangeKind::Moved, _) => Semver::Major,
        // Only a new `#[non_exhaustive]` breaks (callers' struct literals and matches); its
        // removal is an addition of possibilities.
        (ChangeKind::Changed, ItemKind::Type) => {
            let was = old.is_some_and(|o| o.signature.starts_with("non_exhaustive"));
            let is = fact.signature.starts_with("non_exhaustive");
            let kind = |s: &str| s.trim_start_matches("non_exhaustive ").to_owned();
            if old.is_some_and(|o| kind(&o.signature) != kind(&fact.signature)) || (is && !was) {
                Semver::Major
            } else {
                Semver::Minor
            }
        }
        // Parameter names alone changed: a rename is harmless, a reordering of arguments of
        // the same types (`new(prompt, image_url)` → `new(image_url, prompt)`) still compiles
        // and sends the wrong values.
        (ChangeKind::Changed, _) if old.is_some_and(|o| o.shape == fact.shape) => {
            let names = |s: &str| {
                let mut n = param_names(s);
                n.sort();
                n
            };
            let old = old.map_or_else(String::new, |o| o.signature.clone());
            if names(&old) == names(&fact.signature) {
                Semver::Major
            } else {
                Semver::Patch
            }
        }
        (ChangeKind::Changed, _) => Semver::Major,
        // A field or variant added to an exhaustive type breaks struct literals and matches.
        (ChangeKind::Added, ItemKind::Field | ItemKind::Variant) if !fact.owner_non_exhaustive => {
            Semver::Major
        }
        (ChangeKind::Added, _) => Semver::Minor,
    }
}

/// A definition found in the generated file.
#[derive(Debug, Clone)]
enum Def {
    Struct {
        non_exhaustive: bool,
        fields: Vec<(String, String)>,
        deprecated: BTreeSet<String>,
    },
    Enum {
        non_exhaustive: bool,
        variants: Vec<(String, String)>,
    },
    Other(String),
}

/// Where a definition lives: its module path and name.
type Path = (Vec<String>, String);

#[derive(Default)]
struct Index {
    defs: BTreeMap<Path, Def>,
    /// `pub use target as alias` by (module, alias).
    uses: BTreeMap<Path, Vec<String>>,
    /// Public names (defined or re-exported) by module.
    public_names: BTreeMap<Vec<String>, BTreeSet<String>>,
    /// Public inherent functions by type: name → (kind, signature).
    methods: BTreeMap<Path, BTreeMap<String, (ItemKind, String)>>,
    /// Traits implemented by type.
    traits: BTreeMap<Path, BTreeSet<String>>,
    /// Endpoint modules and their ids.
    endpoints: BTreeMap<Vec<String>, String>,
}

impl Index {
    fn walk(&mut self, module: &[String], items: &[syn::Item]) {
        let key = |name: &syn::Ident| (module.to_vec(), name.to_string());
        let public = |vis: &syn::Visibility| matches!(vis, syn::Visibility::Public(_));
        for item in items {
            match item {
                syn::Item::Mod(m) => {
                    if let Some((_, items)) = &m.content {
                        let mut child = module.to_vec();
                        child.push(m.ident.to_string());
                        self.walk(&child, items);
                    }
                }
                syn::Item::Struct(s) => {
                    let fields = s
                        .fields
                        .iter()
                        .filter(|f| public(&f.vis))
                        .filter_map(|f| Some((f.ident.as_ref()?.to_string(), tokens(&f.ty))))
                        .collect();
                    let deprecated = s
                        .fields
                        .iter()
                        .filter(|f| public(&f.vis) && has_attr(&f.attrs, "deprecated"))
                        .filter_map(|f| Some(f.ident.as_ref()?.to_string()))
                        .collect();
                    self.derives(key(&s.ident), &s.attrs);
                    self.defs.insert(
                        key(&s.ident),
                        Def::Struct {
                            non_exhaustive: has_attr(&s.attrs, "non_exhaustive"),
                            fields,
                            deprecated,
                        },
                    );
                    if public(&s.vis) {
                        self.public(module, &s.ident.to_string());
                    }
                }
                syn::Item::Enum(e) => {
                    let variants = e
                        .variants
                        .iter()
                        .map(|v| (v.ident.to_string(), tokens(&v.fields)))
                        .collect();
                    self.derives(key(&e.ident), &e.attrs);
                    self.defs.insert(
                        key(&e.ident),
                        Def::Enum {
                            non_exhaustive: has_attr(&e.attrs, "non_exhaustive"),
                            variants,
                        },
                    );
                    if public(&e.vis) {
                        self.public(module, &e.ident.to_string());
                    }
                }
                syn::Item::Type(t) if public(&t.vis) => {
                    self.defs.insert(
                        key(&t.ident),
                        Def::Other(format!("type = {}", tokens(&t.ty))),
                    );
                    self.public(module, &t.ident.to_string());
                }
                syn::Item::Const(c) if public(&c.vis) => {
                    if c.ident == "ENDPOINT_ID"
                        && let syn::Expr::Lit(syn::ExprLit {
                            lit: syn::Lit::Str(id),
                            ..
                        }) = &*c.expr
                    {
                        self.endpoints.insert(module.to_vec(), id.value());
                        // The id is the module's identity, not an item compared across sides.
                        continue;
                    }
                    self.defs.insert(
                        key(&c.ident),
                        Def::Other(format!("const: {}", tokens(&c.ty))),
                    );
                    self.public(module, &c.ident.to_string());
                }
                syn::Item::Fn(f) if public(&f.vis) => {
                    self.defs
                        .insert(key(&f.sig.ident), Def::Other(signature(&f.sig)));
                    self.public(module, &f.sig.ident.to_string());
                }
                syn::Item::Use(u) if public(&u.vis) => {
                    let mut found = Vec::new();
                    use_paths(&u.tree, Vec::new(), &mut found);
                    for (alias, target) in found {
                        self.public(module, &alias);
                        self.uses.insert((module.to_vec(), alias), target);
                    }
                }
                syn::Item::Impl(i) => self.implementation(module, i),
                syn::Item::Macro(m) => {
                    // `open_enum!(Name : str { .. } else Unknown)` implements the open-enum
                    // traits for `Name`; its value type is part of the API.
                    let name = m.mac.path.segments.last().map(|s| s.ident.to_string());
                    let mut tts = m.mac.tokens.clone().into_iter();
                    if let (Some(name), Some(proc_macro2::TokenTree::Ident(ty))) =
                        (name, tts.next())
                    {
                        let repr = tts.nth(1).map(|t| t.to_string()).unwrap_or_default();
                        self.traits
                            .entry((module.to_vec(), ty.to_string()))
                            .or_default()
                            .insert(format!("{name}!({repr})"));
                    }
                }
                _ => {}
            }
        }
    }

    fn public(&mut self, module: &[String], name: &str) {
        self.public_names
            .entry(module.to_vec())
            .or_default()
            .insert(name.to_owned());
    }

    fn derives(&mut self, key: Path, attrs: &[syn::Attribute]) {
        for attr in attrs.iter().filter(|a| a.path().is_ident("derive")) {
            let _ = attr.parse_nested_meta(|meta| {
                if let Some(last) = meta.path.segments.last() {
                    self.traits
                        .entry(key.clone())
                        .or_default()
                        .insert(last.ident.to_string());
                }
                Ok(())
            });
        }
    }

    fn implementation(&mut self, module: &[String], i: &syn::ItemImpl) {
        let syn::Type::Path(self_ty) = &*i.self_ty else {
            return;
        };
        let Some(last) = self_ty.path.segments.last() else {
            return;
        };
        let key = (module.to_vec(), last.ident.to_string());
        if let Some((_, trait_path, _)) = &i.trait_ {
            if let Some(t) = trait_path.segments.last() {
                let name = match &t.arguments {
                    syn::PathArguments::None => t.ident.to_string(),
                    args => format!("{}{}", t.ident, tokens(args)),
                };
                self.traits.entry(key).or_default().insert(name);
            }
            return;
        }
        for item in &i.items {
            let syn::ImplItem::Fn(f) = item else { continue };
            if !matches!(f.vis, syn::Visibility::Public(_)) {
                continue;
            }
            let receiver = f.sig.receiver();
            let returns_self =
                matches!(&f.sig.output, syn::ReturnType::Type(_, t) if tokens(t) == "Self");
            let kind = match receiver {
                None => ItemKind::Constructor,
                Some(r) if r.reference.is_none() && returns_self => ItemKind::Setter,
                Some(_) => ItemKind::Method,
            };
            let deprecated = if has_attr(&f.attrs, "deprecated") {
                "#[deprecated] "
            } else {
                ""
            };
            self.methods.entry(key.clone()).or_default().insert(
                f.sig.ident.to_string(),
                (kind, format!("{deprecated}{}", signature(&f.sig))),
            );
        }
    }

    /// Follows `pub use` chains from `name` in `module` to a definition.
    fn resolve(&self, module: &[String], name: &str) -> Option<Path> {
        let mut at: Path = (module.to_vec(), name.to_owned());
        for _ in 0..16 {
            if self.defs.contains_key(&at) {
                return Some(at);
            }
            let target = self.uses.get(&at)?;
            let mut path = at.0.clone();
            let (last, dirs) = target.split_last()?;
            for segment in dirs {
                match segment.as_str() {
                    "super" => {
                        path.pop();
                    }
                    "self" => {}
                    "crate" => path.clear(),
                    other => path.push(other.to_owned()),
                }
            }
            at = (path, last.clone());
        }
        None
    }

    /// The facts of public name `name` (as the endpoint module spells it), defined at `def`.
    fn facts_of(&self, name: &str, def: &Path, facts: &mut BTreeMap<String, Fact>) {
        let fact = |kind, signature: String, owner_non_exhaustive| Fact {
            kind,
            shape: strip_names(&signature),
            signature,
            owner_non_exhaustive,
        };
        let mut non_exhaustive_owner = false;
        match &self.defs[def] {
            Def::Struct {
                non_exhaustive,
                fields,
                deprecated,
            } => {
                non_exhaustive_owner = *non_exhaustive;
                let ne = if *non_exhaustive {
                    "non_exhaustive "
                } else {
                    ""
                };
                facts.insert(
                    name.to_owned(),
                    fact(ItemKind::Type, format!("{ne}struct"), false),
                );
                for (field, ty) in fields {
                    let dep = if deprecated.contains(field) {
                        "#[deprecated] "
                    } else {
                        ""
                    };
                    facts.insert(
                        format!("{name}.{field}"),
                        fact(ItemKind::Field, format!("{dep}{ty}"), *non_exhaustive),
                    );
                }
            }
            Def::Enum {
                non_exhaustive,
                variants,
            } => {
                non_exhaustive_owner = *non_exhaustive;
                let ne = if *non_exhaustive {
                    "non_exhaustive "
                } else {
                    ""
                };
                facts.insert(
                    name.to_owned(),
                    fact(ItemKind::Type, format!("{ne}enum"), false),
                );
                for (variant, fields) in variants {
                    facts.insert(
                        format!("{name}::{variant}"),
                        fact(ItemKind::Variant, fields.clone(), *non_exhaustive),
                    );
                }
            }
            Def::Other(signature) => {
                facts.insert(
                    name.to_owned(),
                    fact(ItemKind::Type, signature.clone(), false),
                );
            }
        }
        for (method, (kind, signature)) in self.methods.get(def).into_iter().flatten() {
            facts.insert(
                format!("{name}::{method}"),
                fact(*kind, signature.clone(), non_exhaustive_owner),
            );
        }
        for tr in self.traits.get(def).into_iter().flatten() {
            facts.insert(
                format!("{name}: {tr}"),
                fact(ItemKind::TraitImpl, String::new(), false),
            );
        }
    }
}

/// Every `(alias, path)` a `use` tree exports.
fn use_paths(tree: &syn::UseTree, prefix: Vec<String>, out: &mut Vec<(String, Vec<String>)>) {
    match tree {
        syn::UseTree::Path(p) => {
            let mut prefix = prefix;
            prefix.push(p.ident.to_string());
            use_paths(&p.tree, prefix, out);
        }
        syn::UseTree::Name(n) => {
            let mut path = prefix;
            path.push(n.ident.to_string());
            out.push((n.ident.to_string(), path));
        }
        syn::UseTree::Rename(r) => {
            let mut path = prefix;
            path.push(r.ident.to_string());
            out.push((r.rename.to_string(), path));
        }
        syn::UseTree::Group(g) => {
            for t in &g.items {
                use_paths(t, prefix.clone(), out);
            }
        }
        // A glob re-export: its names are not listed here (the generator does not emit them).
        syn::UseTree::Glob(_) => {}
    }
}

fn has_attr(attrs: &[syn::Attribute], name: &str) -> bool {
    attrs.iter().any(|a| a.path().is_ident(name))
}

/// A function's parameters (`name: type`) and result, as compact text.
fn signature(sig: &syn::Signature) -> String {
    let params: Vec<String> = sig
        .inputs
        .iter()
        .map(|input| match input {
            syn::FnArg::Receiver(r) => tokens(r),
            syn::FnArg::Typed(t) => format!("{}: {}", tokens(&t.pat), tokens(&t.ty)),
        })
        .collect();
    let output = match &sig.output {
        syn::ReturnType::Default => String::new(),
        syn::ReturnType::Type(_, ty) => format!(" -> {}", tokens(ty)),
    };
    format!("fn({}){output}", params.join(", "))
}

/// Parameters of a [`signature`] are `name: type`, split at top-level commas.
fn params(signature: &str) -> Vec<&str> {
    let Some(inner) = signature
        .strip_prefix("fn(")
        .and_then(|s| s.rsplit_once(')'))
        .map(|(p, _)| p)
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '<' | '(' | '[' => depth += 1,
            '>' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner[start..].trim().is_empty() {
        out.push(inner[start..].trim());
    }
    out
}

fn param_names(signature: &str) -> Vec<String> {
    params(signature)
        .into_iter()
        .filter_map(|p| p.split_once(": ").map(|(n, _)| n.to_owned()))
        .collect()
}

/// A signature without its parameter names.
fn strip_names(signature: &str) -> String {
    if !signature.starts_with("fn(") {
        return signature.to_owned();
    }
    let tail = signature.rsplit_once(')').map_or("", |(_, t)| t);
    let types: Vec<&str> = params(signature)
        .into_iter()
        .map(|p| p.split_once(": ").map_or(p, |(_, t)| t))
        .collect();
    format!("fn({}){tail}", types.join(", "))
}

/// Tokens as compact text: `Option<Vec<String>>`, `impl Into<String>`.
fn tokens(t: &impl ToTokens) -> String {
    let text = t.to_token_stream().to_string();
    text.replace(" < ", "<")
        .replace("< ", "<")
        .replace(" <", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace(" :: ", "::")
        .replace(":: ", "::")
        .replace(" (", "(")
        .replace("( ", "(")
        .replace(" )", ")")
        .replace("& ", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An endpoint module re-exporting a shared type, as the generator lays them out.
    fn api(body: &str, shared: &str) -> BTreeMap<String, Fact> {
        let source = format!(
            "pub mod types {{ {shared} }}\n\
             pub mod owner {{ pub mod model {{\n\
                 pub const ENDPOINT_ID: &str = \"owner/model\";\n\
                 pub use super::super::types::Video as Output;\n\
                 {body}\n\
             }} }}"
        );
        let mut api = extract(&source).unwrap();
        assert_eq!(api.endpoints.len(), 1);
        api.endpoints.remove("owner/model").unwrap()
    }

    fn lines(changes: &[ApiChange]) -> Vec<String> {
        changes
            .iter()
            .map(|c| format!("[{}] {}", c.semver, c.describe()))
            .collect()
    }

    const INPUT: &str = "#[derive(Clone, PartialEq)] #[non_exhaustive] pub struct Input { pub prompt: String, pub image_url: String }\n\
        impl Input { pub fn new(prompt: impl Into<String>, image_url: impl Into<String>) -> Self { todo!() } }";

    #[test]
    fn swapped_constructor_arguments_of_one_type_are_major_a_rename_is_patch() {
        let shared = "pub struct Video { pub url: String }";
        let old = api(INPUT, shared);
        let swapped = INPUT.replace(
            "new(prompt: impl Into<String>, image_url: impl Into<String>)",
            "new(image_url: impl Into<String>, prompt: impl Into<String>)",
        );
        assert_eq!(
            lines(&compare(&old, &api(&swapped, shared))),
            [
                "[major] changed constructor Input::new: fn(prompt: impl Into<String>, image_url: impl Into<String>) -> Self → fn(image_url: impl Into<String>, prompt: impl Into<String>) -> Self"
            ]
        );
        let renamed = INPUT.replace("image_url: impl", "image: impl");
        assert_eq!(
            compare(&old, &api(&renamed, shared))[0].semver,
            Semver::Patch
        );
    }

    #[test]
    fn re_exported_types_are_followed_and_exhaustiveness_decides_additions() {
        let old = api(
            INPUT,
            "#[derive(Debug)] pub struct Video { pub url: String }",
        );
        let new = api(
            INPUT,
            "#[derive(Debug, Clone)] pub struct Video { pub url: String, pub size: Option<i64> }\n\
             #[non_exhaustive] pub enum Unused { A }",
        );
        assert_eq!(
            lines(&compare(&old, &new)),
            [
                "[major] added field Output.size: Option<i64>",
                "[minor] added trait impl Output: Clone",
            ]
        );
        let gone = api(INPUT, "pub struct Video { pub url: String }");
        assert_eq!(
            lines(&compare(&old, &gone)),
            ["[major] removed trait impl Output: Debug"]
        );
    }
}
