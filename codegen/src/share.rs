//! Sharing: fal's common media types, and nothing else.
//!
//! Every endpoint owns its types: they live in its module, are named from its own document and
//! carry its own documentation, so adding or changing another document never renames or
//! re-documents them. The one exception is fal's media types (`File`, `Image`, `Video`, ...):
//! where an endpoint's type of that name has the canonical shape (a required `url` plus
//! optional fields of the canonical set, with the canonical types), the endpoint re-exports
//! the one type in the shared `types` module instead. Those types have a fixed, neutral
//! definition written here, not taken from any document, so they too are the same whatever
//! documents are generated; the endpoint's own description of each use stays on its field.

use std::collections::BTreeMap;

use crate::ir::*;

/// A field of a canonical media type: wire name, type, neutral documentation.
type CanonField = (&'static str, Ty, &'static str);

fn base_fields() -> Vec<CanonField> {
    vec![
        ("url", Ty::String, "Where the file can be downloaded from."),
        ("content_type", Ty::String, "The MIME type of the file."),
        ("file_name", Ty::String, "The name of the file."),
        ("file_size", Ty::Integer, "The size of the file in bytes."),
        (
            "file_data",
            Ty::Bytes,
            "The contents of the file, when the endpoint sends them inline.",
        ),
    ]
}

fn with_dimensions(mut fields: Vec<CanonField>) -> Vec<CanonField> {
    fields.push(("width", Ty::Integer, "The width in pixels."));
    fields.push(("height", Ty::Integer, "The height in pixels."));
    fields
}

/// The canonical media types: name, neutral type documentation, fields.
fn canonical_types() -> Vec<(&'static str, &'static str, Vec<CanonField>)> {
    let mut video_file = with_dimensions(base_fields());
    video_file.push(("fps", Ty::Number, "Frames per second."));
    video_file.push(("duration", Ty::Number, "The duration in seconds."));
    video_file.push(("num_frames", Ty::Integer, "The number of frames."));
    vec![
        ("Audio", "An audio file stored by fal.", base_fields()),
        ("File", "A file stored by fal.", base_fields()),
        (
            "Image",
            "An image stored by fal.",
            with_dimensions(base_fields()),
        ),
        (
            "ImageFile",
            "An image file stored by fal.",
            with_dimensions(base_fields()),
        ),
        ("Video", "A video file stored by fal.", base_fields()),
        (
            "VideoFile",
            "A video file stored by fal, with its dimensions and timing.",
            video_file,
        ),
    ]
}

/// Whether an endpoint's struct has the canonical shape: `url` required and not null, every
/// other field optional, each field one of the canonical set with the canonical type.
fn fits(fields: &[Field], canon: &[CanonField]) -> bool {
    fields.iter().all(|f| {
        let Some((_, ty, _)) = canon.iter().find(|(w, _, _)| *w == f.wire) else {
            return false;
        };
        let presence_ok = if f.wire == "url" {
            f.required && !f.nullable
        } else {
            !f.required
        };
        // `file_data` is bytes; a document that calls it a plain string means the same bytes
        // (`Binary` reads and writes UTF-8 text as a string).
        let ty_ok = *ty == f.ty || (*ty == Ty::Bytes && f.ty == Ty::String);
        ty_ok && presence_ok && !f.secret && !f.deprecated
    }) && fields.iter().any(|f| f.wire == "url")
}

/// Marks the input-reachable types for setters, then replaces the media types that have the
/// canonical shape by the shared ones.
pub fn share(api: &mut Api) {
    mark_builders(api);
    let canon = canonical_types();
    let mut shared_ref: BTreeMap<&'static str, TypeRef> = BTreeMap::new();
    let mut canon_of: BTreeMap<TypeRef, TypeRef> = BTreeMap::new();
    for e in 0..api.endpoints.len() {
        for &r in &api.endpoints[e].types {
            let def = &api.types[r.0];
            let TypeKind::Struct { fields } = &def.kind else {
                continue;
            };
            if def.role != Role::Other || def.recursive {
                continue;
            }
            let Some((name, about, canon_fields)) = canon.iter().find(|(n, _, _)| *n == def.name)
            else {
                continue;
            };
            if !fits(fields, canon_fields) {
                continue;
            }
            let shared = *shared_ref.entry(name).or_insert_with(|| {
                let fields = canon_fields
                    .iter()
                    .map(|(wire, ty, doc)| Field {
                        wire: (*wire).to_owned(),
                        ident: (*wire).to_owned(),
                        ty: ty.clone(),
                        required: *wire == "url",
                        nullable: false,
                        docs: Docs {
                            description: Some((*doc).to_owned()),
                            ..Docs::default()
                        },
                        secret: false,
                        deprecated: false,
                    })
                    .collect();
                let r = TypeRef(api.types.len());
                api.types.push(TypeDef {
                    name: (*name).to_owned(),
                    base_name: (*name).to_owned(),
                    docs: Docs {
                        description: Some((*about).to_owned()),
                        ..Docs::default()
                    },
                    kind: TypeKind::Struct { fields },
                    role: Role::Other,
                    owner: 0,
                    shared_name: Some((*name).to_owned()),
                    canonical: None,
                    builder: false,
                    recursive: false,
                });
                r
            });
            canon_of.insert(r, shared);
            api.types[r.0].canonical = Some(shared);
            // A shared type that some input holds is an input type: it keeps undeclared keys
            // and gets setters, as the copy it replaces would have.
            if api.types[r.0].builder {
                api.types[shared.0].builder = true;
            }
        }
    }
    if canon_of.is_empty() {
        return;
    }
    api.shared = shared_ref.values().copied().collect();
    for def in &mut api.types {
        match &mut def.kind {
            TypeKind::Struct { fields } => fields
                .iter_mut()
                .for_each(|f| remap_ty(&mut f.ty, &canon_of)),
            TypeKind::Union { variants } => variants
                .iter_mut()
                .for_each(|v| remap_ty(&mut v.ty, &canon_of)),
            TypeKind::Alias(t) | TypeKind::Newtype(t) => remap_ty(t, &canon_of),
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
        Ty::Array(inner) | Ty::Map(inner) | Ty::Optional(inner) => remap_ty(inner, canon_of),
        _ => {}
    }
}

/// Types reachable from an input get setters (every struct gets `new`).
fn mark_builders(api: &mut Api) {
    let mut stack: Vec<TypeRef> = api.endpoints.iter().map(|e| e.input).collect();
    let mut seen = std::collections::BTreeSet::new();
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

fn collect_named(t: &Ty, out: &mut Vec<TypeRef>) {
    match t {
        Ty::Named(r) => out.push(*r),
        Ty::Array(inner) | Ty::Map(inner) | Ty::Optional(inner) => collect_named(inner, out),
        _ => {}
    }
}
