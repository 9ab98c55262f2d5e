//! "Every model family builds on its own", checked on the generated code instead of by 171
//! separate `cargo check` runs (which do not fit CI's time on 2 cores).
//!
//! Why this is sound: an endpoint module is compiled exactly when its family's feature is on
//! (its declaration carries that `#[cfg]`, and the module states it in its docs: "Cargo
//! feature: `x`"), and it lives in the shard crate that feature of fal-models turns on (the
//! shard its name hashes to: checked here file by file). The only items of the generated code
//! that other families' modules can reach are those of the shared module ([`SHARED`], in the
//! core crate), each gated by the set of features whose endpoints use it (or not gated).
//! Everything else a module names is its own or the always-on runtime. So family F compiles
//! alone iff every shared item an F module names is compiled when only F is on, and every
//! shared item that such an item names is too: for each shared item T gated by features S(T),
//! each item U it names needs S(T) ⊆ S(U). This module checks exactly that, parsing the
//! generated files with `syn`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context as _;
use proc_macro2::{TokenStream, TokenTree};

/// The module of shared types, at the generated root.
pub const SHARED: &str = "types";

/// Features an item is compiled under: `None` when it is not gated.
type Gate = Option<BTreeSet<String>>;

/// Every way a single family's build would miss an item, as readable lines, for the
/// workspace at `root` (the core crate's shared module and every shard's modules). Empty:
/// each family builds alone.
pub fn gating_faults(root: &Path) -> anyhow::Result<Vec<String>> {
    Ok(gating_report(root)?.faults)
}

/// What [`gating_report`] checked, so a check that read nothing cannot pass as a proof.
#[derive(Debug, Default)]
pub struct Report {
    /// Every way a single family's build would miss an item (empty: each family builds alone).
    pub faults: Vec<String>,
    /// Endpoint modules checked (those stating their family's feature).
    pub modules: usize,
    /// The distinct features those modules state.
    pub features: BTreeSet<String>,
    /// Files without a feature that only declare modules (`mod.rs` containers, `lib.rs`):
    /// nothing in them to check.
    pub containers: usize,
}

/// [`gating_faults`] with the counts of what was checked.
pub fn gating_report(root: &Path) -> anyhow::Result<Report> {
    let shared_path = root.join(format!("fal-models-core/src/{SHARED}.rs"));
    let shared_text = match std::fs::read_to_string(&shared_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", shared_path.display())),
    };
    let mut modules = Vec::new();
    let mut misplaced = Vec::new();
    let enabled = enabled_shards(root)?;
    let shards_dir = root.join(crate::regen::SHARDS_DIR);
    for path in crate::fsutil::rs_files(&shards_dir)? {
        let rel = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        // shards/shard-<k>/src/...: fal-models' feature of the module's family must turn on k.
        let shard = path
            .strip_prefix(&shards_dir)
            .ok()
            .and_then(|p| p.iter().next())
            .and_then(|c| c.to_str()?.strip_prefix("shard-")?.parse::<usize>().ok());
        if let (Some(k), Some(feature)) = (shard, feature_of(&text)) {
            let on = enabled.get(feature).cloned().unwrap_or_default();
            if !on.contains(&k) {
                let on: Vec<String> = on.iter().map(|k| k.to_string()).collect();
                misplaced.push(format!(
                    "{rel} (feature `{feature}`) is in shard {k}, but the feature turns on shards [{}]",
                    on.join(", ")
                ));
            }
        }
        modules.push((rel, text));
    }
    let mut out = faults(&shared_text, &modules)?;
    out.extend(misplaced);
    let features: BTreeSet<String> = modules
        .iter()
        .filter_map(|(_, text)| feature_of(text).map(str::to_owned))
        .collect();
    let checked = modules
        .iter()
        .filter(|(_, text)| feature_of(text).is_some())
        .count();
    Ok(Report {
        faults: out,
        modules: checked,
        features,
        containers: modules.len() - checked,
    })
}

/// What each feature of fal-models/Cargo.toml turns on: feature -> shard numbers
/// (`"dep:fal-models-shard-<k>"` entries). Read from the manifest, as cargo does, rather than
/// recomputed from the split rule: the check is on what users get.
fn enabled_shards(root: &Path) -> anyhow::Result<BTreeMap<String, BTreeSet<usize>>> {
    let path = root.join("fal-models/Cargo.toml");
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut out: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for line in text.lines() {
        let Some((name, list)) = line.split_once(" = [") else {
            continue;
        };
        let shards = list.split('"').filter_map(|item| {
            item.strip_prefix("dep:fal-models-shard-")?
                .parse::<usize>()
                .ok()
        });
        out.entry(name.trim().to_owned())
            .or_default()
            .extend(shards);
    }
    Ok(out)
}

/// The family feature a module states in its docs ("Cargo feature: `x`").
fn feature_of(text: &str) -> Option<&str> {
    text.lines()
        .find_map(|l| l.split("Cargo feature: `").nth(1))
        .and_then(|r| r.split('`').next())
}

/// [`gating_faults`] on texts: the shared module and (name, text) of every other module.
pub fn faults(shared: &str, modules: &[(String, String)]) -> anyhow::Result<Vec<String>> {
    let shared: syn::File = syn::parse_str(shared).context("parsing the shared module")?;
    // Item name -> its gate and the idents it uses (an item may be split over several
    // syntax items: the type, its impls, its open_enum! call).
    let mut items: BTreeMap<String, (Gate, BTreeSet<String>)> = BTreeMap::new();
    for item in &shared.items {
        let Some(name) = item_name(item) else {
            continue;
        };
        let gate = gate_of(item_attrs(item));
        let mut names = TypeNames::default();
        syn::visit::Visit::visit_item(&mut names, item);
        let idents = names.0;
        let entry = items.entry(name).or_insert((gate.clone(), BTreeSet::new()));
        entry.1.extend(idents);
    }
    let mut out = Vec::new();
    let compiled_under =
        |gate: &Gate, feature: &str| gate.as_ref().is_none_or(|g| g.contains(feature));
    for (name, (gate, uses)) in &items {
        let Some(gate) = gate else { continue };
        for used in uses.iter().filter(|u| *u != name) {
            let Some((used_gate, _)) = items.get(used) else {
                continue;
            };
            for feature in gate {
                if !compiled_under(used_gate, feature) {
                    out.push(format!("{SHARED}::{name} is compiled with feature `{feature}` but uses {SHARED}::{used}, which is not"));
                }
            }
        }
    }
    for (file, text) in modules {
        let parsed: syn::File = syn::parse_str(text).with_context(|| format!("parsing {file}"))?;
        let Some(feature) = feature_of(text) else {
            // Not skipped silently: a file that states no feature may only declare modules
            // (and re-export), which gate themselves; anything else would go unchecked.
            if let Some(item) = parsed
                .items
                .iter()
                .find(|i| !matches!(i, syn::Item::Mod(_) | syn::Item::Use(_)))
            {
                let what = item_name(item).unwrap_or_else(|| "an item".to_owned());
                out.push(format!(
                    "{file} states no Cargo feature but holds {what}, which nothing checks"
                ));
            }
            continue;
        };
        let mut used = BTreeSet::new();
        shared_refs(quote::ToTokens::to_token_stream(&parsed), &mut used);
        for name in used {
            match items.get(&name) {
                None => out.push(format!("{file} (feature `{feature}`) names {SHARED}::{name}, which does not exist")),
                Some((gate, _)) if !compiled_under(gate, feature) => {
                    out.push(format!("{file} (feature `{feature}`) uses {SHARED}::{name}, which that feature does not compile"))
                }
                Some(_) => {}
            }
        }
    }
    Ok(out)
}

fn item_name(item: &syn::Item) -> Option<String> {
    match item {
        syn::Item::Struct(s) => Some(s.ident.to_string()),
        syn::Item::Enum(e) => Some(e.ident.to_string()),
        syn::Item::Type(t) => Some(t.ident.to_string()),
        syn::Item::Const(c) => Some(c.ident.to_string()),
        syn::Item::Fn(f) => Some(f.sig.ident.to_string()),
        syn::Item::Impl(i) => match &*i.self_ty {
            syn::Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
            _ => None,
        },
        // `open_enum!(Name : ...)` and the like: the first ident names the item.
        syn::Item::Macro(m) => m.mac.tokens.clone().into_iter().find_map(|t| match t {
            TokenTree::Ident(i) => Some(i.to_string()),
            _ => None,
        }),
        _ => None,
    }
}

fn item_attrs(item: &syn::Item) -> &[syn::Attribute] {
    match item {
        syn::Item::Struct(s) => &s.attrs,
        syn::Item::Enum(e) => &e.attrs,
        syn::Item::Type(t) => &t.attrs,
        syn::Item::Const(c) => &c.attrs,
        syn::Item::Fn(f) => &f.attrs,
        syn::Item::Impl(i) => &i.attrs,
        syn::Item::Macro(m) => &m.attrs,
        _ => &[],
    }
}

/// The features of `#[cfg(feature = "x")]` or `#[cfg(any(feature = "a", ...))]`.
fn gate_of(attrs: &[syn::Attribute]) -> Gate {
    let mut gate: Gate = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("cfg")) {
        let mut features = BTreeSet::new();
        let tokens = match &attr.meta {
            syn::Meta::List(l) => l.tokens.clone(),
            _ => continue,
        };
        let trees: Vec<TokenTree> = flatten(tokens);
        for w in trees.windows(3) {
            if let (TokenTree::Ident(i), TokenTree::Punct(p), TokenTree::Literal(l)) =
                (&w[0], &w[1], &w[2])
            {
                if i == "feature" && p.as_char() == '=' {
                    features.insert(l.to_string().trim_matches('"').to_owned());
                }
            }
        }
        gate = Some(match gate {
            None => features,
            // Two cfg attributes: both must hold.
            Some(g) => g.intersection(&features).cloned().collect(),
        });
    }
    gate
}

fn flatten(tokens: TokenStream) -> Vec<TokenTree> {
    let mut out = Vec::new();
    for t in tokens {
        match t {
            TokenTree::Group(g) => out.extend(flatten(g.stream())),
            other => out.push(other),
        }
    }
    out
}

/// The names an item uses as types: every segment of a type path, and the type of a
/// qualified path in an expression or pattern (`Other::new()`, `Other::Variant`); a bare
/// variant name is not a type.
#[derive(Default)]
struct TypeNames(BTreeSet<String>);

impl<'ast> syn::visit::Visit<'ast> for TypeNames {
    fn visit_type_path(&mut self, p: &'ast syn::TypePath) {
        self.0
            .extend(p.path.segments.iter().map(|s| s.ident.to_string()));
        syn::visit::visit_type_path(self, p);
    }
    fn visit_expr_path(&mut self, p: &'ast syn::ExprPath) {
        self.qualified(&p.path);
        syn::visit::visit_expr_path(self, p);
    }
    fn visit_pat_tuple_struct(&mut self, p: &'ast syn::PatTupleStruct) {
        self.qualified(&p.path);
        syn::visit::visit_pat_tuple_struct(self, p);
    }
    fn visit_expr_struct(&mut self, e: &'ast syn::ExprStruct) {
        self.qualified(&e.path);
        syn::visit::visit_expr_struct(self, e);
    }
}

impl TypeNames {
    fn qualified(&mut self, path: &syn::Path) {
        if path.segments.len() > 1 {
            let n = path.segments.len();
            self.0.insert(path.segments[n - 2].ident.to_string());
        }
    }
}

/// Names `X` of every path `... types::X` in `tokens`.
fn shared_refs(tokens: TokenStream, out: &mut BTreeSet<String>) {
    let trees = flatten(tokens);
    for w in trees.windows(4) {
        if let (
            TokenTree::Ident(m),
            TokenTree::Punct(a),
            TokenTree::Punct(b),
            TokenTree::Ident(x),
        ) = (&w[0], &w[1], &w[2], &w[3])
        {
            if m == SHARED && a.as_char() == ':' && b.as_char() == ':' {
                out.insert(x.to_string());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARED_OK: &str = r#"
        #[cfg(any(feature = "a", feature = "b"))]
        pub struct Both { pub inner: Inner }
        #[cfg(any(feature = "a", feature = "b"))]
        pub struct Inner { pub x: i64 }
        #[cfg(feature = "a")]
        crate::open_enum!(OnlyA : str { X => "x" } else Unknown);
        pub struct Always;
    "#;

    fn module(feature: &str, uses: &str) -> (String, String) {
        (
            format!("{feature}.rs"),
            format!("//! - Cargo feature: `{feature}`\npub use super::types::{uses};\n"),
        )
    }

    #[test]
    fn correctly_gated_code_has_no_fault() {
        let modules = [
            module("a", "Both"),
            module("a", "OnlyA"),
            module("b", "Both"),
            module("c", "Always"),
        ];
        assert_eq!(faults(SHARED_OK, &modules).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_module_using_another_familys_item_is_a_fault() {
        let faults = faults(SHARED_OK, &[module("b", "OnlyA")]).unwrap();
        assert_eq!(
            faults,
            ["b.rs (feature `b`) uses types::OnlyA, which that feature does not compile"]
        );
    }

    #[test]
    fn a_shared_item_using_a_narrower_one_is_a_fault() {
        let shared = r#"
            #[cfg(any(feature = "a", feature = "b"))]
            pub struct Both { pub inner: Inner }
            #[cfg(feature = "a")]
            pub struct Inner { pub x: i64 }
        "#;
        let faults = faults(shared, &[]).unwrap();
        assert_eq!(
            faults,
            ["types::Both is compiled with feature `b` but uses types::Inner, which is not"]
        );
    }

    /// A module in a shard its family's feature does not turn on would be missing from that
    /// family's build: reported, as fal-models' manifest says which shards a feature enables.
    #[test]
    fn a_module_in_the_wrong_shard_is_a_fault() {
        let root = std::env::temp_dir().join(format!("xtask-families-{}", std::process::id()));
        let (home, wrong) = (2, 5);
        std::fs::create_dir_all(root.join("fal-models")).unwrap();
        std::fs::write(
            root.join("fal-models/Cargo.toml"),
            "[features]\nsora = [\"dep:fal-models-shard-2\", \"fal-models-shard-2/sora\"]\n",
        )
        .unwrap();
        for (k, name) in [(home, "right"), (wrong, "wrong")] {
            let dir = root.join(format!("shards/shard-{k}/src"));
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(
                dir.join(format!("{name}.rs")),
                "//! - Cargo feature: `sora`\npub struct Input;\n",
            )
            .unwrap();
        }
        let faults = gating_faults(&root).unwrap();
        let _ = std::fs::remove_dir_all(&root);
        assert_eq!(
            faults,
            [format!(
                "shards/shard-{wrong}/src/wrong.rs (feature `sora`) is in shard {wrong}, but the feature turns on shards [{home}]"
            )]
        );
    }

    #[test]
    fn a_file_without_a_feature_holding_items_is_a_fault() {
        let container = (
            "x/mod.rs".to_owned(),
            "#[cfg(feature = \"a\")]\npub mod y;\npub use ::z::types;\n".to_owned(),
        );
        let stray = ("w.rs".to_owned(), "pub struct Input;\n".to_owned());
        assert_eq!(
            faults(SHARED_OK, &[container, stray]).unwrap(),
            ["w.rs states no Cargo feature but holds Input, which nothing checks"]
        );
    }

    /// The checked-in catalogue: every family builds alone, and the check read all of it:
    /// one endpoint module per vendored document, every family feature of fal-models.
    #[test]
    fn every_family_of_the_catalogue_builds_alone() {
        let root = crate::workspace_root();
        let report = gating_report(&root).unwrap();
        assert!(
            report.faults.is_empty(),
            "{} faults:\n{}",
            report.faults.len(),
            report.faults.join("\n")
        );
        let documents = crate::fsutil::json_files(&root.join("schemas"))
            .unwrap()
            .len();
        assert_eq!(report.modules, documents, "one module checked per document");
        let families: BTreeSet<String> = enabled_shards(&root)
            .unwrap()
            .into_iter()
            .filter(|(_, shards)| !shards.is_empty())
            .map(|(feature, _)| feature)
            .collect();
        assert!(families.len() > 100, "{families:?}");
        assert_eq!(report.features, families, "every family feature is checked");
        println!(
            "checked {} endpoint modules of {} families ({} module containers)",
            report.modules,
            report.features.len(),
            report.containers
        );
    }
}
