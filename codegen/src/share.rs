//! Sharing: structurally identical types of different endpoints are emitted once.
//!
//! Two types are the same when their name and their shape (fields, wire names, optionality,
//! variants, and the shapes of the types they refer to) are; documentation does not count.
//! Same-named types of different shapes stay apart (`File`, `File2`, ...).

use std::collections::{BTreeMap, BTreeSet};

use crate::ir::*;
use crate::naming;

/// Marks input-reachable types, then shares identical types across endpoints.
pub fn share(api: &mut Api) {
    mark_builders(api);
    let mut keys = KeyCache::default();
    let mut groups: BTreeMap<String, Vec<TypeRef>> = BTreeMap::new();
    for e in &api.endpoints {
        for &r in &e.types {
            // Inputs carry their endpoint's identity; everything else may be shared.
            if api.types[r.0].role != Role::Input {
                groups.entry(keys.key(api, r)).or_default().push(r);
            }
        }
    }
    // canonical -> members; canonical is the copy of the first endpoint (endpoints are sorted).
    let mut canon_of: BTreeMap<TypeRef, TypeRef> = BTreeMap::new();
    let mut canonicals: Vec<TypeRef> = Vec::new();
    for members in groups.values() {
        let owners: BTreeSet<usize> = members.iter().map(|r| api.types[r.0].owner).collect();
        if owners.len() < 2 {
            continue;
        }
        let canonical = *members.iter().min_by_key(|r| (api.types[r.0].owner, r.0)).unwrap_or(&members[0]);
        for &m in members {
            canon_of.insert(m, canonical);
            api.types[m.0].canonical = Some(canonical);
        }
        let builder = members.iter().any(|m| api.types[m.0].builder);
        api.types[canonical.0].builder = builder;
        canonicals.push(canonical);
    }
    if canonicals.is_empty() {
        return;
    }
    // Shared names: by base name, in order of the first endpoint using each shape.
    let shared_base = |def: &TypeDef| -> String {
        match (&def.role, &def.kind) {
            // A shared output is named by its shape (`VideoOutput`, `ImagesSeedOutput`), not
            // after one of the endpoints that happen to return it.
            (Role::Output, TypeKind::Struct { fields }) if !fields.is_empty() => {
                let words: Vec<String> = fields.iter().take(3).map(|f| naming::type_ident(&f.wire)).collect();
                format!("{}Output", words.concat())
            }
            _ => def.base_name.clone(),
        }
    };
    canonicals.sort_by_key(|r| (shared_base(&api.types[r.0]), api.types[r.0].owner, r.0));
    let mut names: Vec<String> = canonicals.iter().map(|r| shared_base(&api.types[r.0])).collect();
    naming::dedupe_names(&mut names);
    for (r, name) in canonicals.iter().zip(&names) {
        api.types[r.0].shared_name = Some(name.clone());
    }
    let mut order: Vec<(String, TypeRef)> = names.into_iter().zip(canonicals.iter().copied()).collect();
    order.sort();
    api.shared = order.into_iter().map(|(_, r)| r).collect();

    // Point every reference at the canonical copy.
    let remap = |t: &mut Ty| remap_ty(t, &canon_of);
    for def in &mut api.types {
        match &mut def.kind {
            TypeKind::Struct { fields } => fields.iter_mut().for_each(|f| remap(&mut f.ty)),
            TypeKind::Union { variants } => variants.iter_mut().for_each(|v| remap(&mut v.ty)),
            TypeKind::Alias(t) | TypeKind::Newtype(t) => remap(t),
            TypeKind::StrEnum { .. } | TypeKind::IntEnum { .. } => {}
        }
    }
    for e in &mut api.endpoints {
        let mut kept = Vec::new();
        for &r in &e.types {
            match canon_of.get(&r) {
                Some(&c) => e.reexports.push((api.types[r.0].name.clone(), c)),
                None => kept.push(r),
            }
        }
        e.types = kept;
    }
}

fn remap_ty(t: &mut Ty, canon_of: &BTreeMap<TypeRef, TypeRef>) {
    match t {
        Ty::Named(r) => {
            if let Some(c) = canon_of.get(r) {
                *r = *c;
            }
        }
        Ty::Array(inner) | Ty::Map(inner) => remap_ty(inner, canon_of),
        _ => {}
    }
}

/// Types reachable from an input get `new` and setters.
fn mark_builders(api: &mut Api) {
    let mut stack: Vec<TypeRef> = api.endpoints.iter().map(|e| e.input).collect();
    let mut seen = BTreeSet::new();
    while let Some(r) = stack.pop() {
        if !seen.insert(r) {
            continue;
        }
        api.types[r.0].builder = true;
        let mut push = |t: &Ty| collect_named(t, &mut stack);
        match &api.types[r.0].kind {
            TypeKind::Struct { fields } => fields.iter().for_each(|f| push(&f.ty)),
            TypeKind::Union { variants } => variants.iter().for_each(|v| push(&v.ty)),
            TypeKind::Alias(t) | TypeKind::Newtype(t) => push(t),
            _ => {}
        }
    }
}

pub(crate) fn collect_named(t: &Ty, out: &mut Vec<TypeRef>) {
    match t {
        Ty::Named(r) => out.push(*r),
        Ty::Array(inner) | Ty::Map(inner) => collect_named(inner, out),
        _ => {}
    }
}

/// Structural keys, memoised; a cycle is cut at the type's name.
#[derive(Default)]
struct KeyCache {
    done: BTreeMap<TypeRef, String>,
    visiting: BTreeSet<TypeRef>,
    /// A number for each distinct key: a type's key names the types it refers to by number, so
    /// keys stay short where the same type is reached many ways (they would double per level).
    ids: BTreeMap<String, usize>,
}

impl KeyCache {
    fn key(&mut self, api: &Api, r: TypeRef) -> String {
        if let Some(k) = self.done.get(&r) {
            return k.clone();
        }
        let def = &api.types[r.0];
        if !self.visiting.insert(r) {
            return format!("@{}", def.base_name);
        }
        let body = match &def.kind {
            TypeKind::Struct { fields } => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|f| {
                        format!(
                            "{}:{}:{}{}{}:{}",
                            f.wire,
                            f.ident,
                            u8::from(f.required),
                            u8::from(f.nullable),
                            u8::from(f.secret),
                            self.ty_key(api, &f.ty)
                        )
                    })
                    .collect();
                format!("struct{{{}}}", parts.join(","))
            }
            TypeKind::StrEnum { variants, catch_all } => {
                let parts: Vec<String> = variants.iter().map(|v| format!("{}={:?}", v.ident, v.wire)).collect();
                format!("str{{{}|{catch_all}}}", parts.join(","))
            }
            TypeKind::IntEnum { variants, catch_all } => {
                let parts: Vec<String> = variants.iter().map(|v| format!("{}={}", v.ident, v.wire)).collect();
                format!("int{{{}|{catch_all}}}", parts.join(","))
            }
            TypeKind::Union { variants } => {
                let parts: Vec<String> =
                    variants.iter().map(|v| format!("{}:{}", v.ident, self.ty_key(api, &v.ty))).collect();
                format!("union{{{}}}", parts.join(","))
            }
            TypeKind::Alias(t) => format!("alias({})", self.ty_key(api, t)),
            TypeKind::Newtype(t) => format!("newtype({})", self.ty_key(api, t)),
        };
        self.visiting.remove(&r);
        // Outputs are named after their endpoint's schema; their shape is what counts.
        let name = if def.role == Role::Output { "Output" } else { def.base_name.as_str() };
        let key = format!("{name}={body}");
        self.done.insert(r, key.clone());
        key
    }

    fn ty_key(&mut self, api: &Api, t: &Ty) -> String {
        match t {
            Ty::String => "s".into(),
            Ty::Integer => "i".into(),
            Ty::Number => "n".into(),
            Ty::Boolean => "b".into(),
            Ty::Any => "v".into(),
            Ty::Array(inner) => format!("[{}]", self.ty_key(api, inner)),
            Ty::Map(inner) => format!("{{{}}}", self.ty_key(api, inner)),
            Ty::Named(r) => {
                let key = self.key(api, *r);
                let next = self.ids.len();
                format!("<{}>", self.ids.entry(key).or_insert(next))
            }
        }
    }
}
