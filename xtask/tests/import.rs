//! `cargo xtask import` and the regen it runs, on temporary folders and a temporary workspace.

mod support;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::{document, run, temp_dir, write_json, xtask};

fn doc(id: &str) -> Value {
    document(
        id,
        json!({
            "Input": {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]},
            "Output": {"type": "object", "properties": {"seed": {"type": "integer"}}}
        }),
    )
}

/// `xtask import --no-regen --schemas-dir <schemas> <sources>`.
fn import(schemas: &Path, sources: &[&Path]) -> (i32, String, String) {
    run(xtask()
        .args(["import", "--no-regen", "--schemas-dir"])
        .arg(schemas)
        .args(sources))
}

/// Every file below `dir`, relative, with its bytes.
fn tree(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out.sort();
    out
}

/// The form `fetch` writes: keys sorted, two-space indentation, final newline.
fn canonical(v: &Value) -> String {
    // serde_json's map is ordered by key (no `preserve_order` in this workspace).
    let v: Value = serde_json::from_str(&v.to_string()).unwrap();
    serde_json::to_string_pretty(&v).unwrap() + "\n"
}

#[test]
fn documents_under_any_file_name_are_stored_canonically_and_reimport_changes_nothing() {
    let dir = temp_dir("import-docs");
    let src = dir.join("src");
    let schemas = dir.join("schemas");
    write_json(&src.join("a__b.json"), &doc("fal-ai/flux/dev"));
    write_json(&src.join("nested/whatever.json"), &doc("owner/model.v2"));
    let (code, stdout, stderr) = import(&schemas, &[&src]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "added      fal-ai/flux/dev\nadded      owner/model.v2\n2 added, 0 changed, 0 unchanged, 0 skipped\n"
    );
    assert_eq!(
        std::fs::read_to_string(schemas.join("fal-ai/flux/dev.json")).unwrap(),
        canonical(&doc("fal-ai/flux/dev"))
    );
    assert!(schemas.join("owner/model.v2.json").is_file());

    let before = tree(&schemas);
    let (code, stdout, _) = import(&schemas, &[&src]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "0 added, 0 changed, 2 unchanged, 0 skipped\n");
    assert_eq!(tree(&schemas), before);

    // A changed document replaces the stored one.
    let mut changed = doc("fal-ai/flux/dev");
    changed["info"]["title"] = json!("new title");
    write_json(&src.join("a__b.json"), &changed);
    let (code, stdout, _) = import(&schemas, &[&src.join("a__b.json")]);
    assert_eq!(code, 0);
    assert_eq!(
        stdout,
        "changed    fal-ai/flux/dev\n0 added, 1 changed, 0 unchanged, 0 skipped\n"
    );
    assert_eq!(
        std::fs::read_to_string(schemas.join("fal-ai/flux/dev.json")).unwrap(),
        canonical(&changed)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn listing_pages_are_imported_and_entries_without_a_document_are_skipped_with_why() {
    let dir = temp_dir("import-listing");
    let schemas = dir.join("schemas");
    let page = json!({
        "models": [
            {"endpoint_id": "fal-ai/one", "metadata": {"category": "text-to-image"}, "openapi": doc("fal-ai/one")},
            {"endpoint_id": "fal-ai/none", "openapi": {"error": {"code": "expansion_failed",
                "message": "OpenAPI schema not available for this endpoint"}}},
            {"endpoint_id": "fal-ai/two", "openapi": doc("fal-ai/two")}
        ],
        "has_more": true,
        "next_cursor": "abc"
    });
    write_json(&dir.join("page-1.json"), &page);
    let (code, stdout, stderr) = import(&schemas, &[&dir.join("page-1.json")]);
    assert_eq!(
        code, 0,
        "an endpoint fal has no document for is not a failure: {stdout}{stderr}"
    );
    let shown = dir.join("page-1.json").display().to_string();
    assert_eq!(
        stdout,
        format!(
            "skipped    fal-ai/none: {shown} (models[1]): fal has no document: \
             OpenAPI schema not available for this endpoint (expansion_failed)\nadded      fal-ai/one\nadded      fal-ai/two\n\
             2 added, 0 changed, 0 unchanged, 1 skipped\n"
        )
    );
    assert_eq!(tree(&schemas).len(), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn what_is_not_the_named_endpoints_queue_document_is_skipped_and_fails_the_import() {
    let dir = temp_dir("import-bad");
    let src = dir.join("src");
    let schemas = dir.join("schemas");
    write_json(&src.join("1-good.json"), &doc("fal-ai/good"));
    std::fs::write(
        src.join("2-truncated.json"),
        &doc("fal-ai/cut").to_string()[..40],
    )
    .unwrap();
    write_json(&src.join("3-other.json"), &json!({"hello": "world"}));
    let mut not_queue = doc("fal-ai/noqueue");
    not_queue["paths"] = json!({});
    write_json(&src.join("4-noqueue.json"), &not_queue);
    // A listing entry whose document is another endpoint's.
    write_json(
        &src.join("5-page.json"),
        &json!({"models": [{"endpoint_id": "fal-ai/asked", "openapi": doc("fal-ai/other")}]}),
    );
    // The same endpoint twice with different documents: the first (in path order) wins.
    let mut second = doc("fal-ai/good");
    second["info"]["title"] = json!("another");
    write_json(&src.join("6-dup.json"), &second);
    write_json(&src.join("7-escape.json"), &doc("../../etc"));

    let (code, stdout, _) = import(&schemas, &[&src]);
    assert_eq!(code, 1, "{stdout}");
    let s = |name: &str| src.join(name).display().to_string();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines.contains(&"added      fal-ai/good"), "{stdout}");
    for (key, why) in [
        (s("2-truncated.json"), "not JSON".to_owned()),
        (s("3-other.json"), "neither a fal queue document".to_owned()),
        (
            "fal-ai/noqueue".to_owned(),
            "not a queue document".to_owned(),
        ),
        (
            "fal-ai/asked".to_owned(),
            "the document is for endpoint \"fal-ai/other\", not \"fal-ai/asked\"".to_owned(),
        ),
        ("../../etc".to_owned(), "refusing endpoint id".to_owned()),
    ] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with(&format!("skipped    {key}: ")) && l.contains(&why)),
            "no skip of {key} with {why:?} in:\n{stdout}"
        );
    }
    assert!(
        stdout.ends_with("1 added, 0 changed, 0 unchanged, 5 skipped\n"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::read_to_string(schemas.join("fal-ai/good.json")).unwrap(),
        canonical(&doc("fal-ai/good"))
    );
    assert_eq!(
        tree(&schemas).len(),
        1,
        "nothing else written, nothing outside the folder"
    );
    assert!(!dir.join("etc.json").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A workspace with the parts regen reads and writes: schemas/, fal-models/Cargo.toml (with
/// its generated-features markers), and the generated folders.
fn temp_workspace(name: &str, ids: &[&str]) -> support::TestDir {
    let root = temp_dir(name);
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    std::fs::create_dir_all(root.join("fal-models")).unwrap();
    std::fs::copy(
        real.join("fal-models/Cargo.toml"),
        root.join("fal-models/Cargo.toml"),
    )
    .unwrap();
    for id in ids {
        write_json(&root.join(format!("schemas/{id}.json")), &doc(id));
    }
    root
}

/// The shard crate regen puts a unit in, by its module path (`fal_ai::a`; `SHARDS` in
/// xtask/src/regen.rs is 8).
fn shard_src(root: &Path, unit: &str) -> PathBuf {
    root.join(format!(
        "shards/shard-{}/src",
        fal_codegen::shard_of(unit, 8)
    ))
}

fn regen(root: &Path, args: &[&str]) -> (i32, String, String) {
    run(xtask().arg("--workspace").arg(root).arg("regen").args(args))
}

/// A document must sit at `schemas/{id}.json`, the id read as the generator reads it: the
/// metadata's `endpointId`, else (a document without one) its submit path. Regen says where it
/// should be and writes nothing.
#[test]
fn regen_refuses_a_document_whose_id_is_not_its_path() {
    for (name, stray) in [
        ("regen-misplaced-meta", doc("acme/other")),
        ("regen-misplaced-path", {
            let mut d = doc("acme/other");
            d["info"].as_object_mut().unwrap().remove("x-fal-metadata");
            d
        }),
    ] {
        let root = temp_workspace(name, &["fal-ai/seed"]);
        write_json(&root.join("schemas/acme/wrong.json"), &stray);
        let (code, stdout, stderr) = regen(&root, &[]);
        assert_ne!(code, 0, "{name}: {stdout}{stderr}");
        assert!(
            stderr.contains("expected schemas/acme/other.json"),
            "{name}: {stdout}{stderr}"
        );
        assert!(!root.join("shards").exists(), "{name}: regen wrote nothing");
    }
}

#[test]
fn import_into_the_workspace_runs_regen() {
    let root = temp_workspace("import-regen", &["fal-ai/seed"]);
    assert_eq!(regen(&root, &[]).0, 0);
    let src = root.join("incoming");
    write_json(&src.join("x.json"), &doc("acme/new-model"));
    let (code, stdout, stderr) = run(xtask()
        .arg("--workspace")
        .arg(&root)
        .arg("import")
        .arg(&src));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("added      acme/new-model\n1 added, 0 changed, 0 unchanged, 0 skipped\nrunning cargo xtask regen\nregen: 2 endpoints"), "{stdout}");
    let module =
        std::fs::read_to_string(shard_src(&root, "acme::new_model").join("acme/new_model.rs"))
            .unwrap();
    assert!(module.contains("\"acme/new-model\""), "{module}");
    let manifest = std::fs::read_to_string(root.join("fal-models/Cargo.toml")).unwrap();
    assert!(
        manifest.contains("# acme/new-model\n"),
        "the feature block lists the new endpoint"
    );
    assert_eq!(
        regen(&root, &["--check"]).0,
        0,
        "import left fresh code behind"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn regen_check_fails_on_a_stale_file_and_writes_nothing() {
    let root = temp_workspace("regen-stale", &["fal-ai/a", "fal-ai/b/c"]);
    let (code, _, stderr) = regen(&root, &[]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(regen(&root, &["--check"]).0, 0);
    let module = shard_src(&root, "fal_ai::a").join("fal_ai/a.rs");
    let staled = std::fs::read_to_string(&module)
        .unwrap()
        .replace("pub struct Input", "pub struct Inputt");
    std::fs::write(&module, &staled).unwrap();
    let extra = shard_src(&root, "fal_ai::a").join("fal_ai/left_over.rs");
    std::fs::write(&extra, "// from a removed schema\n").unwrap();
    let before = tree(&root);
    let (code, _, stderr) = regen(&root, &["--check"]);
    assert_eq!(code, 1);
    let shown = |p: &Path| p.strip_prefix(&root).unwrap().display().to_string();
    assert!(stderr.contains(&shown(&module)), "{stderr}");
    assert!(stderr.contains(&shown(&extra)), "{stderr}");
    assert_eq!(tree(&root), before, "--check writes nothing");
    // And regen repairs both.
    assert_eq!(regen(&root, &[]).0, 0);
    assert!(!extra.exists());
    assert_eq!(regen(&root, &["--check"]).0, 0);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn regen_with_a_malformed_document_changes_nothing_and_names_it() {
    let root = temp_workspace("regen-malformed", &["fal-ai/a", "fal-ai/b"]);
    assert_eq!(regen(&root, &[]).0, 0);
    // A new endpoint (so there is something to write) and a broken existing document.
    write_json(&root.join("schemas/fal-ai/c.json"), &doc("fal-ai/c"));
    std::fs::write(root.join("schemas/fal-ai/b.json"), "{\"openapi\": ").unwrap();
    let before = tree(&root);
    let (code, stdout, stderr) = regen(&root, &[]);
    assert_eq!(code, 1, "{stdout}");
    assert!(stderr.contains("schemas/fal-ai/b.json"), "{stderr}");
    assert!(stderr.contains("nothing was written"), "{stderr}");
    assert_eq!(
        tree(&root),
        before,
        "the module of b, the features and everything else stay"
    );
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn regen_that_cannot_write_a_file_changes_nothing_and_names_it() {
    let root = temp_workspace("regen-blocked", &["fal-ai/a"]);
    assert_eq!(regen(&root, &[]).0, 0);
    write_json(&root.join("schemas/fal-ai/b.json"), &doc("fal-ai/b"));
    write_json(&root.join("schemas/zeta/z.json"), &doc("zeta/z"));
    // A file where regen needs a folder for zeta's modules: fails after other files were staged.
    let blocker = shard_src(&root, "zeta::z").join("zeta");
    std::fs::create_dir_all(blocker.parent().unwrap()).unwrap();
    std::fs::write(&blocker, "in the way").unwrap();
    let before = tree(&root);
    let (code, _, stderr) = regen(&root, &[]);
    assert_ne!(code, 0);
    assert!(
        stderr.contains(&blocker.strip_prefix(&root).unwrap().display().to_string()),
        "{stderr}"
    );
    assert_eq!(
        tree(&root),
        before,
        "no module of b, no feature change, no temporary file"
    );
    let _ = std::fs::remove_dir_all(&root);
}
