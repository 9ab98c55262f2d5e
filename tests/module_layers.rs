//! The modules of fal-models and of fal-codegen form layers without cycles.
//! - fal-models: `http` (bounds, retry, scrubber, SSE, fal's URL rules) at the bottom importing
//!   nothing of the crate above it, then storage, files, error, client, and the mock, proxy and
//!   webhook on top.
//! - fal-codegen: `ir` at the bottom; the lowering, the value audit (`fallback`), the schema
//!   export and the emitter above it.
//!
//! Read from the sources: every `crate::<module>` path outside comments (in `use` lines,
//! `use crate::{a, b}` groups and inline paths) is an edge from the file's top-level module to
//! that module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Top-level module of a source file (`client/stream/binary.rs` is `client`).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    let name = first.trim_end_matches(".rs").to_owned();
    (!matches!(name.as_str(), "lib" | "generated" | "bin")).then_some(name)
}

/// The modules named after `crate::` in `code` (comments removed), groups included.
fn imported(code: &str, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code: String = code
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = BTreeSet::new();
    let mut rest = code.as_str();
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        let names: Vec<String> = if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::X, b, c::{..}}`: the first segment of each item.
            let end = group.find("};").unwrap_or(group.len());
            group[..end]
                .split(',')
                .map(|item| item.trim().split("::").next().unwrap_or("").to_owned())
                .collect()
        } else {
            let end = rest
                .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            vec![rest[..end].to_owned()]
        };
        out.extend(names.into_iter().filter(|n| modules.contains(n)));
    }
    out
}

fn files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The import graph of the workspace crate in folder `krate`.
fn graph(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(krate)
        .join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    let modules: BTreeSet<String> = all.iter().filter_map(|f| module_of(&src, f)).collect();
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &all {
        let Some(from) = module_of(&src, file) else {
            continue;
        };
        let code = std::fs::read_to_string(file).unwrap();
        let to = edges.entry(from.clone()).or_default();
        to.extend(imported(&code, &modules).into_iter().filter(|m| *m != from));
    }
    edges
}

/// A cycle through `start`, if any (depth-first).
fn cycle_from(
    edges: &BTreeMap<String, BTreeSet<String>>,
    path: &mut Vec<String>,
) -> Option<Vec<String>> {
    let last = path.last().unwrap().clone();
    for next in edges.get(&last).into_iter().flatten() {
        if *next == path[0] {
            let mut cycle = path.clone();
            cycle.push(next.clone());
            return Some(cycle);
        }
        if !path.contains(next) {
            path.push(next.clone());
            if let Some(c) = cycle_from(edges, path) {
                return Some(c);
            }
            path.pop();
        }
    }
    None
}

/// Prints the graph, checks it saw the crate, that `bottom` imports nothing, and that there is
/// no cycle.
fn assert_layered(krate: &str, bottom: &str) {
    let edges = graph(krate);
    for (from, to) in &edges {
        eprintln!(
            "{krate}: {from} -> {}",
            to.iter().cloned().collect::<Vec<_>>().join(", ")
        );
    }
    assert!(
        edges.len() >= 8,
        "the module walk found too little of {krate}: {edges:?}"
    );
    assert!(
        edges[bottom].is_empty(),
        "{krate}'s {bottom} imports the layers above it: {:?}",
        edges[bottom]
    );
    for start in edges.keys() {
        let cycle = cycle_from(&edges, &mut vec![start.clone()]);
        assert!(
            cycle.is_none(),
            "import cycle in {krate}: {}",
            cycle.unwrap().join(" -> ")
        );
    }
}

#[test]
fn fal_models_modules_import_no_module_above_them() {
    assert_layered("fal-models", "http");
}

#[test]
fn fal_codegen_modules_import_no_module_above_them() {
    assert_layered("codegen", "ir");
}

#[test]
fn the_walk_sees_use_groups_inline_paths_and_skips_comments() {
    let modules: BTreeSet<String> = ["a", "b", "c", "d"].map(String::from).into();
    let code = "use crate::{a::X, b};\nfn f() { crate::c::g(); }\n// see crate::d\n";
    assert_eq!(
        imported(code, &modules),
        ["a", "b", "c"].map(String::from).into()
    );
}
