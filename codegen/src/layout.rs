//! Layout: the module tree (one module per endpoint id segment) and its files.

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::quote;

use crate::emit::Emitter;
use crate::ir::{Api, Diagnostic};

/// Lints the generated modules allow, each for a reason: documentation text is fal's Markdown
/// (bare URLs, brackets that are not links, loose list indentation), and constructors mirror
/// the schema's required fields one to one.
const ALLOWED_LINTS: &str = "#[allow(rustdoc::bare_urls, rustdoc::broken_intra_doc_links, rustdoc::invalid_html_tags, rustdoc::invalid_rust_codeblocks, clippy::doc_lazy_continuation, clippy::doc_overindented_list_items, clippy::too_long_first_doc_paragraph, clippy::large_enum_variant, clippy::upper_case_acronyms, clippy::module_inception)]";

#[derive(Debug, Default, Clone)]
struct Node {
    /// The original id segment this module stands for.
    segment: String,
    endpoint: Option<usize>,
    children: BTreeMap<String, Node>,
}

/// The module tree of all endpoints.
pub struct Tree {
    root: Node,
    /// Final module path of each endpoint (index = endpoint index).
    pub paths: Vec<Vec<String>>,
}

/// One module, rendered: its path below the generated root and its Rust text.
#[derive(Debug, Clone)]
pub struct RenderedModule {
    pub path: Vec<String>,
    pub has_children: bool,
    /// The module body (without header), pretty-printed, for the file layout.
    pub file_body: String,
    /// The same module as tokens for the single-file layout: attributes and items.
    pub tokens: String,
}

impl Tree {
    pub fn build(api: &Api, diagnostics: &mut Vec<Diagnostic>) -> Self {
        let mut root = Node::default();
        // The names of the shared module and of the catalogue index are taken at the root.
        root.children.insert(
            "types".into(),
            Node {
                segment: "\0types".into(),
                ..Node::default()
            },
        );
        root.children.insert(
            CATALOGUE.into(),
            Node {
                segment: "\0catalogue".into(),
                ..Node::default()
            },
        );
        let mut paths = Vec::with_capacity(api.endpoints.len());
        for (i, e) in api.endpoints.iter().enumerate() {
            let segments: Vec<&str> = e.id.split('/').filter(|s| !s.is_empty()).collect();
            let mut node = &mut root;
            let mut path = Vec::new();
            for (seg, ident) in segments.iter().zip(&e.module_path) {
                let mut name = ident.clone();
                let mut n = 2;
                while node.children.get(&name).is_some_and(|c| c.segment != *seg) {
                    name = format!("{ident}_{n}");
                    n += 1;
                }
                if name != *ident {
                    diagnostics.push(Diagnostic {
                        file: e.source.clone(),
                        pointer: "/info/x-fal-metadata/endpointId".into(),
                        message: format!("module `{ident}` for `{seg}` is taken by another id segment; using `{name}`"),
                    });
                }
                path.push(name.clone());
                node = node.children.entry(name).or_insert_with(|| Node {
                    segment: (*seg).to_owned(),
                    ..Node::default()
                });
            }
            node.endpoint = Some(i);
            paths.push(path);
        }
        root.children.remove("types");
        root.children.remove(CATALOGUE);
        Tree { root, paths }
    }

    /// `super::super::...` from each endpoint module back to the generated root.
    pub fn root_paths(&self, _api: &Api) -> Vec<TokenStream> {
        self.paths
            .iter()
            .map(|p| {
                let supers = std::iter::repeat_n(quote!(super), p.len());
                quote!(#(#supers)::*)
            })
            .collect()
    }

    pub fn render(
        &self,
        em: &Emitter<'_>,
        features: bool,
        failed: &mut Vec<Diagnostic>,
    ) -> Vec<RenderedModule> {
        let mut out = Vec::new();
        // The root: shared types module and owner modules.
        let mut root_decls = Vec::new();
        if !em.api.shared.is_empty() {
            let items = em.shared_items();
            let docs = " Types that several endpoints share, generated once; each endpoint re-exports the ones it uses.";
            let body = quote!(#![doc = #docs] #items);
            out.push(module(vec!["types".into()], false, body, String::new()));
            root_decls.push(("types".to_owned(), String::new()));
        }
        for (name, child) in &self.root.children {
            let attrs = gate(child, em, features);
            root_decls.push((name.clone(), attrs.clone()));
            self.render_node(
                child,
                vec![name.clone()],
                attrs,
                em,
                features,
                failed,
                &mut out,
            );
        }
        if features {
            // The index is for the crate with cargo features (fal-models); a build script's
            // bindings are the user's own few endpoints.
            out.push(module(
                vec![CATALOGUE.into()],
                false,
                catalogue(em, &self.paths),
                String::new(),
            ));
            root_decls.push((CATALOGUE.to_owned(), String::new()));
        }
        let decls: Vec<TokenStream> = root_decls
            .iter()
            .map(|(name, attrs)| {
                let attrs: TokenStream = format!("{ALLOWED_LINTS} {attrs}")
                    .parse()
                    .unwrap_or_default();
                let name = syn::Ident::new(name, proc_macro2::Span::call_site());
                quote!(#attrs pub mod #name;)
            })
            .collect();
        out.insert(
            0,
            module(Vec::new(), true, quote!(#(#decls)*), String::new()),
        );
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn render_node(
        &self,
        node: &Node,
        path: Vec<String>,
        decl_attrs: String,
        em: &Emitter<'_>,
        features: bool,
        failed: &mut Vec<Diagnostic>,
        out: &mut Vec<RenderedModule>,
    ) {
        let mut items = TokenStream::new();
        match node.endpoint {
            Some(e) => {
                let ep = &em.api.endpoints[e];
                let rendered = catch_unwind(AssertUnwindSafe(|| em.endpoint_items(e)));
                match rendered {
                    Ok(tokens) if syn::parse2::<syn::File>(tokens.clone()).is_ok() => {
                        for line in crate::emit::doc_clean(&endpoint_docs(em.api, e)).lines() {
                            items.extend(quote!(#![doc = #line]));
                        }
                        match &ep.retired {
                            Some(since) => items.extend(retire(tokens, &ep.id, since)),
                            None => items.extend(tokens),
                        }
                    }
                    _ => failed.push(Diagnostic {
                        file: ep.source.clone(),
                        pointer: String::new(),
                        message: "internal generator error while writing this endpoint (please report it)".into(),
                    }),
                }
            }
            None => {
                let prefix = path.join("::");
                let docs = format!(" Endpoints under `{prefix}`.");
                items.extend(quote!(#![doc = #docs]));
            }
        }
        for (name, child) in &node.children {
            let attrs = gate(child, em, features);
            let attr_tokens: TokenStream = attrs.parse().unwrap_or_default();
            let ident = syn::Ident::new(name, proc_macro2::Span::call_site());
            items.extend(quote!(#attr_tokens pub mod #ident;));
            let mut child_path = path.clone();
            child_path.push(name.clone());
            self.render_node(child, child_path, attrs, em, features, failed, out);
        }
        out.push(module(path, !node.children.is_empty(), items, decl_attrs));
    }
}

fn subtree_features(node: &Node, em: &Emitter<'_>, out: &mut BTreeSet<String>) {
    if let Some(e) = node.endpoint {
        out.insert(em.api.endpoints[e].feature.clone());
    }
    for child in node.children.values() {
        subtree_features(child, em, out);
    }
}

/// The items of a retired endpoint's module: every public item but re-exports (fal's shared
/// media types, which other endpoints use) is `#[deprecated]`, and the module allows
/// `deprecated` so its own impls and constructors that name those items stay warning-free.
fn retire(tokens: TokenStream, id: &str, since: &str) -> TokenStream {
    let Ok(mut file) = syn::parse2::<syn::File>(tokens.clone()) else {
        return tokens;
    };
    let note = retired_note(id, since);
    let attr: syn::Attribute = syn::parse_quote!(#[deprecated(note = #note)]);
    for item in &mut file.items {
        let (vis, attrs) = match item {
            syn::Item::Struct(i) => (&i.vis, &mut i.attrs),
            syn::Item::Enum(i) => (&i.vis, &mut i.attrs),
            syn::Item::Type(i) => (&i.vis, &mut i.attrs),
            syn::Item::Const(i) => (&i.vis, &mut i.attrs),
            syn::Item::Static(i) => (&i.vis, &mut i.attrs),
            syn::Item::Fn(i) => (&i.vis, &mut i.attrs),
            syn::Item::Union(i) => (&i.vis, &mut i.attrs),
            syn::Item::Trait(i) => (&i.vis, &mut i.attrs),
            _ => continue,
        };
        if matches!(vis, syn::Visibility::Public(_)) {
            attrs.push(attr.clone());
        }
    }
    let items = file.items;
    quote!(#![allow(deprecated)] #(#items)*)
}

/// The deprecation note of a retired endpoint's items (the catalogue says the same).
fn retired_note(id: &str, since: &str) -> String {
    format!("fal no longer lists {id} since {since}")
}

/// A module is gated when everything below it belongs to one feature. On docs.rs (`--cfg
/// docsrs`, all features) the module shows a badge naming the feature that enables it.
fn gate(node: &Node, em: &Emitter<'_>, features: bool) -> String {
    if !features {
        return String::new();
    }
    let mut set = BTreeSet::new();
    subtree_features(node, em, &mut set);
    match set.iter().next() {
        Some(feature) if set.len() == 1 => {
            format!(
                "#[cfg(feature = {feature:?})] #[cfg_attr(docsrs, doc(cfg(feature = {feature:?})))]"
            )
        }
        _ => String::new(),
    }
}

/// The module that indexes every endpoint by category.
pub const CATALOGUE: &str = "catalogue";

/// The catalogue module: every endpoint by category (`info.x-fal-metadata.category`), with
/// its module, summary and cargo feature in the docs, and the same facts as a table.
fn catalogue(em: &Emitter<'_>, paths: &[Vec<String>]) -> TokenStream {
    let mut by_category: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, e) in em.api.endpoints.iter().enumerate() {
        by_category
            .entry(e.category.as_deref().unwrap_or("uncategorized"))
            .or_default()
            .push(i);
    }
    let mut doc = format!(
        " Every endpoint of this crate by category (from each document's\n \
         `info.x-fal-metadata.category`): {} endpoints in {} categories.\n\n \
         Each endpoint's module is compiled when its cargo feature is on (all of them with the\n \
         default `all-models`); with the feature off, the link below does not resolve and the\n \
         compiler's error on the path notes the feature that gates it. [`ENDPOINTS`] lists the\n \
         same facts for programs.\n",
        em.api.endpoints.len(),
        by_category.len()
    );
    let mut toc = String::from("\n Categories:");
    for (category, list) in &by_category {
        toc.push_str(&format!(" [{category}](#{category}) ({}),", list.len()));
    }
    doc.push_str(toc.trim_end_matches(','));
    doc.push('\n');
    let mut rows = Vec::new();
    let mut retired_rows = Vec::new();
    for (category, list) in &by_category {
        doc.push_str(&format!("\n ## {category}\n\n"));
        for &i in list {
            let e = &em.api.endpoints[i];
            let path = format!("super::{}", paths[i].join("::"));
            let about = e
                .about
                .as_deref()
                .map(crate::emit::doc_clean)
                .unwrap_or_default();
            let summary = about
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("");
            let description = summary.to_owned();
            let summary = summary.replace(['[', ']'], "");
            let sep = if summary.is_empty() { "" } else { ": " };
            let retired = match &e.retired {
                Some(since) => {
                    let rid = &e.id;
                    retired_rows.push(quote!(Retired { id: #rid, since: #since }));
                    format!(" **retired since {since}**")
                }
                None => String::new(),
            };
            doc.push_str(&format!(
                " - [`{}`]({path}){sep}{summary} (feature `{}`){retired}\n",
                e.id, e.feature
            ));
            let (id, feature, module) = (
                &e.id,
                &e.feature,
                format!("fal_models::{}", paths[i].join("::")),
            );
            let category = *category;
            let name = display_name(id);
            let (image, video, audio) = media_inputs(em, e);
            rows.push(quote!(Entry {
                id: #id, category: #category, feature: #feature, module: #module,
                name: #name, description: #description,
                image_input: #image, video_input: #video, audio_input: #audio
            }));
        }
    }
    // Ids and categories are the documents' own text: no raw text-direction codepoint may
    // reach a comment (rustc denies it).
    let doc = crate::emit::doc_clean(&doc);
    let lines: Vec<&str> = doc.lines().collect();
    quote! {
        #(#![doc = #lines])*

        /// One endpoint of the catalogue.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Entry {
            /// The endpoint id, such as `fal-ai/flux/dev`.
            pub id: &'static str,
            /// fal's category, such as `text-to-image`.
            pub category: &'static str,
            /// The cargo feature of `fal-models` that compiles its module.
            pub feature: &'static str,
            /// The Rust path of its module.
            pub module: &'static str,
            /// A short name made from the id (`fal-ai/flux/dev` is `Flux Dev`).
            pub name: &'static str,
            /// The first line of the document's description (`about`), or empty.
            pub description: &'static str,
            /// The input takes an image (a `*image*_url(s)` or `*mask*_url(s)` field), so
            /// image editors and image-to-X endpoints can be found without reading fields.
            pub image_input: bool,
            /// The input takes a video (a `*video*_url(s)` field).
            pub video_input: bool,
            /// The input takes audio (an `*audio*`, `*speech*` or `*voice*` `_url(s)` field).
            pub audio_input: bool,
        }

        /// Every endpoint, by category then id (present whatever features are on).
        pub const ENDPOINTS: &[Entry] = &[#(#rows),*];

        /// An endpoint fal no longer lists: its module is still here, every public item of it
        /// `#[deprecated]`, until a major release prunes it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub struct Retired {
            /// The endpoint id.
            pub id: &'static str,
            /// The date (`YYYY-MM-DD`) of the first fal listing without it.
            pub since: &'static str,
        }

        /// The retired endpoints of [`ENDPOINTS`], by category then id.
        pub const RETIRED: &[Retired] = &[#(#retired_rows),*];

        impl Entry {
            /// The date since which fal no longer lists this endpoint, when it is retired.
            pub fn retired_since(&self) -> Option<&'static str> {
                RETIRED.iter().find(|r| r.id == self.id).map(|r| r.since)
            }
        }
    }
}

/// A short name from an endpoint id: the segments after the owner, words capitalised
/// (`fal-ai/flux/dev` is `Flux Dev`). Documents carry no display name of their own.
pub fn display_name(id: &str) -> String {
    let mut segments = id.split('/');
    if id.contains('/') {
        segments.next(); // the owner (fal-ai, bytedance, ...)
    }
    segments
        .flat_map(|s| s.split(['-', '_']))
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether the endpoint's input takes an image, a video, audio: its URL fields' names.
fn media_inputs(em: &Emitter<'_>, e: &crate::ir::EndpointDef) -> (bool, bool, bool) {
    let crate::ir::TypeKind::Struct { fields } = &em.api.ty(e.input).kind else {
        return (false, false, false);
    };
    let urls: Vec<&str> = fields
        .iter()
        .map(|f| f.wire.as_str())
        .filter(|w| w.ends_with("_url") || w.ends_with("_urls"))
        .collect();
    let any = |words: &[&str]| urls.iter().any(|u| words.iter().any(|w| u.contains(w)));
    (
        any(&["image", "mask"]),
        any(&["video"]),
        any(&["audio", "speech", "voice"]),
    )
}

fn module(
    path: Vec<String>,
    has_children: bool,
    items: TokenStream,
    decl_attrs: String,
) -> RenderedModule {
    let file_body = match syn::parse2::<syn::File>(items.clone()) {
        Ok(file) => prettyplease::unparse(&file),
        Err(e) => format!("compile_error!({:?});\n", e.to_string()),
    };
    let _ = decl_attrs;
    RenderedModule {
        path,
        has_children,
        file_body,
        tokens: items.to_string(),
    }
}

fn endpoint_docs(api: &Api, e: usize) -> String {
    let ep = &api.endpoints[e];
    let mut s = format!(" `{}`", ep.id);
    let about = ep.about.as_deref().map(crate::emit::doc_clean);
    let about = about.as_deref().map(str::trim).filter(|a| !a.is_empty());
    if let Some(about) = about {
        let mut lines = about.lines();
        s.push_str(": ");
        s.push_str(lines.next().unwrap_or("").trim());
        s.push('\n');
        let rest: Vec<&str> = lines.map(str::trim).collect();
        if rest.iter().any(|l| !l.is_empty()) {
            s.push('\n');
            for l in rest {
                s.push(' ');
                s.push_str(l);
                s.push('\n');
            }
        }
    } else {
        s.push('\n');
    }
    s.push('\n');
    if let Some(c) = &ep.category {
        s.push_str(&format!(" - Category: `{c}`\n"));
    }
    if let Some(u) = &ep.playground_url {
        s.push_str(&format!(" - Playground: <{u}>\n"));
    }
    if let Some(u) = &ep.documentation_url {
        s.push_str(&format!(" - API documentation: <{u}>\n"));
    }
    s.push_str(&format!(" - Cargo feature: `{}`\n", ep.feature));
    if let Some(from) = &ep.recovered_from {
        // Provenance: fal's own document was not available; this one was rebuilt elsewhere.
        let from = from.split_whitespace().collect::<Vec<_>>().join(" ");
        s.push_str(&format!(
            " - Source: a recovered copy of fal's document ({from}), not fal's own; \
             `cargo xtask fetch {}` replaces it with fal's document.\n",
            ep.id
        ));
    }
    if let Some(since) = &ep.retired {
        s.push_str(&format!(
            " - **Retired**: {}. Its items are deprecated; a major release\n   \
             removes them (`cargo xtask sync --prune`).\n",
            retired_note(&ep.id, since)
        ));
    }
    if ep.id.ends_with("/stream") {
        // fal documents streaming routes as endpoints of their own; the queue works too.
        s.push_str(
            " - Streaming: yes. `client.stream(&input)` yields partial outputs as server-sent\n   \
             events, then the final output; `subscribe` waits for the final output only.\n",
        );
    }
    s.push_str(&format!(
        "\n Send an [`Input`] to get an [`Output`]. Generated from `{}`.",
        ep.source
    ));
    s
}

/// The file of a module: `mod.rs` for the root and modules with children, `name.rs` otherwise.
fn file_path(m: &RenderedModule) -> PathBuf {
    let mut p = PathBuf::new();
    if m.path.is_empty() {
        return PathBuf::from("mod.rs");
    }
    let (last, dirs) = m.path.split_last().expect("non-empty");
    for d in dirs {
        p.push(d);
    }
    if m.has_children {
        p.push(last);
        p.push("mod.rs");
    } else {
        p.push(format!("{last}.rs"));
    }
    p
}

pub fn files(modules: &[RenderedModule], header: &str) -> BTreeMap<PathBuf, String> {
    modules
        .iter()
        .map(|m| (file_path(m), format!("{header}\n\n{}", m.file_body)))
        .collect()
}

pub fn single_file(modules: &[RenderedModule], header: &str) -> String {
    let by_path: BTreeMap<&[String], &RenderedModule> =
        modules.iter().map(|m| (m.path.as_slice(), m)).collect();
    fn nest(path: &[String], by_path: &BTreeMap<&[String], &RenderedModule>) -> TokenStream {
        let Some(m) = by_path.get(path) else {
            return TokenStream::new();
        };
        let mut items: TokenStream = TokenStream::new();
        // Replace each `pub mod x;` with its inline body.
        let parsed: syn::File = match syn::parse_str(&m.tokens) {
            Ok(f) => f,
            Err(_) => return TokenStream::new(),
        };
        for attr in &parsed.attrs {
            items.extend(quote!(#attr));
        }
        for item in parsed.items {
            match item {
                syn::Item::Mod(md) if md.content.is_none() => {
                    let mut child = path.to_vec();
                    child.push(md.ident.to_string());
                    let body = nest(&child, by_path);
                    let attrs = &md.attrs;
                    let ident = &md.ident;
                    items.extend(quote!(#(#attrs)* pub mod #ident { #body }));
                }
                other => items.extend(quote!(#other)),
            }
        }
        items
    }
    let root = nest(&[], &by_path);
    let text = match syn::parse2::<syn::File>(root) {
        Ok(f) => prettyplease::unparse(&f),
        Err(e) => format!("compile_error!({:?});\n", e.to_string()),
    };
    format!("{header}\n\n{text}")
}

pub fn existing_rs_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.exists() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                if let Ok(rel) = path.strip_prefix(dir) {
                    out.push(rel.to_path_buf());
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

pub fn remove_empty_dirs(dir: &Path) -> std::io::Result<()> {
    fn walk(d: &Path, is_root: bool) -> std::io::Result<bool> {
        let mut empty = true;
        for entry in std::fs::read_dir(d)? {
            let path = entry?.path();
            if path.is_dir() {
                if !walk(&path, false)? {
                    empty = false;
                }
            } else {
                empty = false;
            }
        }
        if empty && !is_root {
            std::fs::remove_dir(d)?;
        }
        Ok(empty)
    }
    if dir.exists() {
        walk(dir, true)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The catalogue split into crates

/// How the modules are split into crates ([`crate::Config::split_into_crates`]).
#[derive(Debug, Clone)]
pub struct SplitSpec {
    /// Number of shard crates.
    pub shards: usize,
    /// The Rust name of shard `k`'s crate is this prefix and `k` (`fal_models_shard_` gives
    /// `fal_models_shard_3`).
    pub shard_crate_prefix: String,
}

/// The generated code of a catalogue split into crates: a core crate holding the shared types,
/// shard crates holding the endpoint modules, and a facade (the crate users depend on) that
/// re-exports every module under its usual path.
#[derive(Debug, Clone, Default)]
pub struct SplitFiles {
    /// The shared types module (`types.rs`) of the core crate, when any type is shared.
    pub core_types: Option<String>,
    /// The facade's generated files, relative to its generated folder (`mod.rs`, `catalogue.rs`).
    pub facade: BTreeMap<PathBuf, String>,
    /// Shard `k`'s files relative to its `src/` (`lib.rs` and the modules).
    pub shards: Vec<BTreeMap<PathBuf, String>>,
    /// Every feature (model family) with the shards holding its modules: what the facade's
    /// feature must turn on.
    pub feature_shards: BTreeMap<String, BTreeSet<usize>>,
}

/// The shard of a unit of the split: FNV-1a of its key (the unit's module path, `::`-joined),
/// modulo the shard count. A function of the name alone, so adding or removing other modules
/// never moves a unit to another crate (and never rewrites files it does not concern).
pub fn shard_of(key: &str, shards: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h % shards.max(1) as u64) as usize
}

/// How deep the split goes before a module is placed whole: `fal_ai::kling_video::v2_1` (an
/// owner, a model, a version) is a unit; so is any module that is itself an endpoint, however
/// shallow (`fal_ai::flux_2` holds its sub-endpoints). One family's modules may so sit in
/// several shards (its feature turns on each): the largest families no longer make one shard
/// the build's critical path. Unit keys depend only on a module's own path and on endpoints of
/// its own family, so adding or removing a family never moves another family's modules.
pub const UNIT_DEPTH: usize = 3;

/// A module of the tree as the split sees it: a unit (everything below it belongs to one
/// feature and it is an endpoint or [`UNIT_DEPTH`] deep, so it lives whole in the shard its
/// path hashes to) or a container (it exists in every shard that holds one of its children,
/// and in the facade).
enum Part<'a> {
    Unit { feature: String, shard: usize },
    Container { node: &'a Node },
}

impl Tree {
    fn part<'a>(&self, node: &'a Node, path: &[String], em: &Emitter<'_>, n: usize) -> Part<'a> {
        let mut set = BTreeSet::new();
        subtree_features(node, em, &mut set);
        let whole = node.endpoint.is_some() || path.len() >= UNIT_DEPTH || node.children.is_empty();
        if set.len() == 1 && whole {
            Part::Unit {
                feature: set.into_iter().next().unwrap_or_default(),
                shard: shard_of(&path.join("::"), n),
            }
        } else {
            Part::Container { node }
        }
    }

    /// The shards holding something below `node` (a unit's one shard, or a container's union).
    fn shards_below(
        &self,
        node: &Node,
        path: &[String],
        em: &Emitter<'_>,
        n: usize,
    ) -> BTreeSet<usize> {
        match self.part(node, path, em, n) {
            Part::Unit { shard, .. } => BTreeSet::from([shard]),
            Part::Container { node } => node
                .children
                .iter()
                .flat_map(|(name, c)| self.shards_below(c, &child_path(path, name), em, n))
                .collect(),
        }
    }

    /// Renders the split layout. Requires cargo features (a unit is what one feature gates).
    /// `modules` is what [`Tree::render`] gave with features on.
    pub fn render_split(
        &self,
        em: &Emitter<'_>,
        modules: &[RenderedModule],
        spec: &SplitSpec,
        header: &str,
        failed: &mut Vec<Diagnostic>,
    ) -> SplitFiles {
        let n = spec.shards.max(1);
        let rt = &em.runtime;
        let mut out = SplitFiles {
            shards: vec![BTreeMap::new(); n],
            ..SplitFiles::default()
        };
        let with_header = |body: &str| format!("{header}\n\n{body}");
        // Unit modules keep their files; each goes to its unit's shard.
        let mut unit_shard: BTreeMap<Vec<String>, usize> = BTreeMap::new();
        let mut containers: Vec<(Vec<String>, &Node)> = Vec::new();
        let mut stack: Vec<(Vec<String>, &Node)> = vec![(Vec::new(), &self.root)];
        while let Some((path, node)) = stack.pop() {
            for (name, child) in &node.children {
                let p = child_path(&path, name);
                match self.part(child, &p, em, n) {
                    Part::Unit { feature, shard } => {
                        // What a feature of the facade turns on: the shards of its units.
                        out.feature_shards.entry(feature).or_default().insert(shard);
                        unit_shard.insert(p, shard);
                    }
                    Part::Container { node } => {
                        if let Some(e) = node.endpoint {
                            // Cannot happen with family features (a family is a function of
                            // an id's first two segments); reported, never silently dropped.
                            failed.push(Diagnostic {
                                file: em.api.endpoints[e].source.clone(),
                                pointer: "/info/x-fal-metadata/endpointId".into(),
                                message: "this endpoint's module also holds other families' modules, so it fits no single crate of the split".into(),
                            });
                        }
                        containers.push((p.clone(), node));
                        stack.push((p, node));
                    }
                }
            }
        }
        for m in modules {
            match m.path.first().map(String::as_str) {
                None => continue,
                Some("types") if m.path.len() == 1 => {
                    out.core_types = Some(with_header(&m.file_body))
                }
                Some(CATALOGUE) if m.path.len() == 1 => {
                    out.facade.insert(
                        PathBuf::from(format!("{CATALOGUE}.rs")),
                        with_header(&m.file_body),
                    );
                }
                Some(_) => {
                    let shard = (1..=m.path.len()).find_map(|len| unit_shard.get(&m.path[..len]));
                    if let Some(&k) = shard {
                        out.shards[k].insert(file_path(m), with_header(&m.file_body));
                    }
                }
            }
        }
        // Containers, once per shard that holds something below them.
        let decls = |node: &Node, path: &[String], shard: usize| -> TokenStream {
            let mut items = TokenStream::new();
            for (name, child) in &node.children {
                if !self
                    .shards_below(child, &child_path(path, name), em, n)
                    .contains(&shard)
                {
                    continue;
                }
                let attrs: TokenStream = gate(child, em, true).parse().unwrap_or_default();
                let ident = syn::Ident::new(name, proc_macro2::Span::call_site());
                items.extend(quote!(#attrs pub mod #ident;));
            }
            items
        };
        for (path, node) in &containers {
            let docs = format!(" Endpoints under `{}`.", path.join("::"));
            for k in self.shards_below(node, path, em, n) {
                let items = decls(node, path, k);
                let m = module(
                    path.clone(),
                    true,
                    quote!(#![doc = #docs] #items),
                    String::new(),
                );
                out.shards[k].insert(file_path(&m), with_header(&m.file_body));
            }
        }
        let lints: TokenStream = ALLOWED_LINTS
            .replacen("#[", "#![", 1)
            .parse()
            .unwrap_or_default();
        let types_use = if em.api.shared.is_empty() {
            TokenStream::new()
        } else {
            quote!(#[doc(no_inline)] pub use #rt::types;)
        };
        for (k, files) in out.shards.iter_mut().enumerate() {
            let docs = format!(
                " Shard {k} of the fal-models catalogue: the endpoint modules of the model families whose\n \
                 name hashes to {k} (of {n}), each behind its family's cargo feature.\n\n \
                 **Depend on `fal-models`, not on this crate**: it re-exports these modules under\n \
                 the same paths (`fal_models::fal_ai::...`) and turns on the shard a family needs."
            );
            let lines: Vec<&str> = docs.lines().collect();
            // `cargo fmt` must not reformat generated files (the freshness check compares
            // bytes): rustfmt skips a module declared with this, and everything below it.
            let items = skip_rustfmt(decls(&self.root, &[], k));
            let body = quote! {
                #(#![doc = #lines])*
                #![cfg_attr(docsrs, feature(doc_cfg))]
                #lints
                #types_use
                #items
            };
            let m = module(Vec::new(), true, body, String::new());
            files.insert(PathBuf::from("lib.rs"), with_header(&m.file_body));
        }
        // The facade: every module under its usual path, re-exported from its shard.
        let facade = facade_items(self, &self.root, &[], em, spec, n);
        let catalogue_decl: TokenStream = format!("{ALLOWED_LINTS} pub mod {CATALOGUE};")
            .parse()
            .unwrap_or_default();
        let types_facade = if em.api.shared.is_empty() {
            TokenStream::new()
        } else {
            quote!(pub use #rt::types;)
        };
        let m = module(
            Vec::new(),
            true,
            quote!(#types_facade #catalogue_decl #facade),
            String::new(),
        );
        out.facade
            .insert(PathBuf::from("mod.rs"), with_header(&m.file_body));
        out
    }
}

fn child_path(path: &[String], name: &str) -> Vec<String> {
    let mut p = path.to_vec();
    p.push(name.to_owned());
    p
}

/// `#[rustfmt::skip]` before every `pub mod` declaration of `items`.
fn skip_rustfmt(items: TokenStream) -> TokenStream {
    let Ok(file) = syn::parse2::<syn::File>(items.clone()) else {
        return items;
    };
    let mut out = TokenStream::new();
    for item in file.items {
        match item {
            syn::Item::Mod(mut m) if m.content.is_none() => {
                m.attrs.insert(0, syn::parse_quote!(#[rustfmt::skip]));
                out.extend(quote!(#m));
            }
            other => out.extend(quote!(#other)),
        }
    }
    out
}

/// The facade's items for a container: a re-export per unit child (gated by its feature) and
/// an inline module per container child.
fn facade_items(
    tree: &Tree,
    node: &Node,
    path: &[String],
    em: &Emitter<'_>,
    spec: &SplitSpec,
    n: usize,
) -> TokenStream {
    let mut items = TokenStream::new();
    for (name, child) in &node.children {
        let ident = syn::Ident::new(name, proc_macro2::Span::call_site());
        let p = child_path(path, name);
        match tree.part(child, &p, em, n) {
            Part::Unit { shard, .. } => {
                let shard = syn::Ident::new(
                    &format!("{}{}", spec.shard_crate_prefix, shard),
                    proc_macro2::Span::call_site(),
                );
                let segments = p
                    .iter()
                    .map(|s| syn::Ident::new(s, proc_macro2::Span::call_site()));
                let attrs: TokenStream = gate(child, em, true).parse().unwrap_or_default();
                items.extend(quote!(#attrs #[doc(inline)] pub use ::#shard::#(#segments)::*;));
            }
            Part::Container { node } => {
                let docs = format!(" Endpoints under `{}`.", p.join("::"));
                let inner = facade_items(tree, node, &p, em, spec, n);
                items.extend(quote!(pub mod #ident { #![doc = #docs] #inner }));
            }
        }
    }
    items
}

#[cfg(test)]
mod tests {
    #[test]
    fn display_names_come_from_the_id_without_its_owner() {
        assert_eq!(super::display_name("fal-ai/flux/dev"), "Flux Dev");
        assert_eq!(
            super::display_name("fal-ai/sora-2/text-to-video/pro"),
            "Sora 2 Text To Video Pro"
        );
        assert_eq!(super::display_name("solo"), "Solo");
    }
}
