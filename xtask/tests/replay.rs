//! The real history as the test: fal's catalogue of 2026-01-27 and of 2026-06-11, served by
//! fal-mock's platform listing, synced into an empty `schemas/` step by step.
//!
//! - January: the ids of `listings/2026-01-27.txt`, each with its document from `older/` where
//!   there is one, else `docs/`; ids without a document are listed without one.
//! - June: `listings/2026-06-11.txt` with `docs/`.
//!
//! Per step it reports added / changed / retired, the version `cargo xtask release` computes
//! and whether a user crate calling 20 endpoints (some that change, one that retires) compiles,
//! with the deprecation warning for the retired one; plus the sync time of the whole catalogue
//! and the files a second sync changes (0). Run with `--nocapture` to see the table.
//!
//! The corpus is read from `FAL_CORPUS_DIR` (default `<workspace>/../shared/fal-corpus`); the
//! test skips with a notice when it is unset and absent, and fails when it is set and absent.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use fal_models::mock::MockServer;
use support::{run, temp_dir, xtask};

fn corpus() -> Option<PathBuf> {
    let set = std::env::var_os("FAL_CORPUS_DIR").map(PathBuf::from);
    let corpus = set.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fal-corpus")
    });
    if !corpus.join("listings").is_dir() {
        assert!(
            set.is_none(),
            "FAL_CORPUS_DIR={} has no listings/",
            corpus.display()
        );
        println!(
            "skipped: no fal corpus at {} (set FAL_CORPUS_DIR)",
            corpus.display()
        );
        return None;
    }
    Some(corpus)
}

fn listing(corpus: &Path, date: &str) -> Vec<String> {
    std::fs::read_to_string(corpus.join(format!("listings/{date}.txt")))
        .unwrap()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

fn file_name(id: &str) -> String {
    format!("{}.json", id.replace('/', "__"))
}

/// A snapshot folder for the mock: `listing.txt` and a link per document found in `dirs`
/// (the first folder that has it).
fn snapshot(name: &str, ids: &[String], dirs: &[PathBuf]) -> (support::TestDir, usize) {
    let dir = temp_dir(name);
    let mut with_doc = 0;
    for id in ids {
        if let Some(src) = dirs
            .iter()
            .map(|d| d.join(file_name(id)))
            .find(|p| p.is_file())
        {
            std::os::unix::fs::symlink(&src, dir.join(file_name(id))).unwrap();
            with_doc += 1;
        }
    }
    std::fs::write(dir.join("listing.txt"), ids.join("\n") + "\n").unwrap();
    (dir, with_doc)
}

struct Mock {
    server: MockServer,
    _rt: tokio::runtime::Runtime,
}

fn mock(snapshot: &Path) -> Mock {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(
            MockServer::builder()
                .require_key("replay-key")
                .platform_snapshot(snapshot)
                .unwrap()
                .start(),
        )
        .unwrap();
    Mock { server, _rt: rt }
}

fn git(dir: &Path, args: &[&str]) {
    let out = std::process::Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The counts of sync's summary line: (added, changed, retired, files changed).
fn counts(out: &str) -> (usize, usize, usize, usize) {
    let line = out
        .lines()
        .find(|l| l.contains(" added, ") && l.contains(" retired"))
        .unwrap_or_else(|| panic!("no summary in {out}"));
    let n = |word: &str| -> usize {
        let at = line.find(word).unwrap();
        line[..at]
            .split_whitespace()
            .last()
            .unwrap()
            .trim_start_matches(';')
            .parse()
            .unwrap()
    };
    let files = out
        .lines()
        .find(|l| l.contains(" files changed"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(usize::MAX);
    (n(" added"), n(" changed"), n(" retired"), files)
}

/// A user crate calling `ids` through the bindings generated from `schemas`.
fn user_crate(schemas: &Path, ids: &[String], retired: &str) -> (bool, usize) {
    let docs: Vec<fal_codegen::Document> = ids
        .iter()
        .map(|id| {
            let path = schemas.join(format!("{id}.json"));
            fal_codegen::Document::parse(
                format!("{id}.json"),
                &std::fs::read_to_string(path).unwrap(),
            )
            .unwrap()
        })
        .collect();
    let generated = fal_codegen::Config::new().generate(&docs);
    let mut user = String::new();
    for (i, id) in ids.iter().enumerate() {
        let module = fal_codegen::endpoint_module_path(id).join("::");
        user.push_str(&format!(
            "pub fn call_{i}() -> Option<crate::generated::{module}::Output> {{\n    \
             let input: crate::generated::{module}::Input = serde_json::from_value(serde_json::json!({{}})).ok()?;\n    \
             let _ = (crate::generated::{module}::ENDPOINT_ID, serde_json::to_value(&input).ok()?);\n    None\n}}\n"
        ));
    }
    let build = support::build_user_crate("replay-user", &generated.single_file(), &user);
    let note = format!("fal no longer lists {retired} since");
    let warnings = build
        .stderr
        .lines()
        .filter(|l| l.starts_with("src/user.rs") && l.contains(&note))
        .count();
    if !build.success {
        println!("user crate failed:\n{}", build.stderr);
    }
    (build.success, warnings)
}

#[test]
fn replay_january_then_june() {
    let Some(corpus) = corpus() else { return };
    let (docs, older) = (corpus.join("docs"), corpus.join("older"));
    let jan = listing(&corpus, "2026-01-27");
    let jun = listing(&corpus, "2026-06-11");
    let (jan_snap, jan_docs) = snapshot("replay-jan", &jan, &[older.clone(), docs.clone()]);
    let (jun_snap, _) = snapshot("replay-jun", &jun, std::slice::from_ref(&docs));

    // A workspace with a first release and an empty catalogue.
    let ws = temp_dir("replay-ws");
    for (rel, text) in [
        (
            "fal-models/Cargo.toml",
            "[package]\nname = \"fal-models\"\nversion = \"0.1.0\"\n",
        ),
        (
            "fal-models-core/Cargo.toml",
            "[package]\nname = \"fal-models-core\"\nversion = \"0.1.0\"\n",
        ),
    ] {
        std::fs::create_dir_all(ws.join(rel).parent().unwrap()).unwrap();
        std::fs::write(ws.join(rel), text).unwrap();
    }
    std::fs::create_dir_all(ws.join("schemas")).unwrap();
    git(&ws, &["init", "-q"]);
    git(&ws, &["add", "-A"]);
    git(&ws, &["commit", "-qm", "empty", "--allow-empty"]);
    git(&ws, &["tag", "v0.1.0"]);
    let schemas = ws.join("schemas");

    // 20 endpoints listed both times with a document: 18 that change, 1 that does not, and one
    // January endpoint that June no longer lists.
    let jun_set: BTreeSet<&String> = jun.iter().collect();
    let has = |dir: &Path, id: &str| dir.join(file_name(id)).is_file();
    let changing: Vec<String> = jan
        .iter()
        .filter(|id| jun_set.contains(id) && has(&older, id) && has(&docs, id))
        .take(18)
        .cloned()
        .collect();
    let steady = jan
        .iter()
        .find(|id| jun_set.contains(id) && !has(&older, id) && has(&docs, id))
        .cloned()
        .unwrap();
    let retiring = jan
        .iter()
        .find(|id| !jun_set.contains(id) && (has(&older, id) || has(&docs, id)))
        .cloned()
        .unwrap();
    let mut callers = changing.clone();
    callers.push(steady);
    callers.push(retiring.clone());

    let mut table = vec!["| step | added | changed | retired | version | sync time | 2nd sync | user crate (20 endpoints) |".to_owned(),
        "|---|---|---|---|---|---|---|---|".to_owned()];
    for (step, snap, date) in [
        ("2026-01-27", &jan_snap, "2026-01-27"),
        ("2026-06-11", &jun_snap, "2026-06-11"),
    ] {
        let m = mock(snap);
        let api = format!("{}/v1", m.server.rest_url());
        let sync = || {
            run(xtask()
                .arg("--workspace")
                .arg(&ws)
                .args(["sync", "--no-regen", "--date", date, "--api-url", &api])
                .env("FAL_KEY", "replay-key"))
        };
        let started = Instant::now();
        let (code, out, err) = sync();
        let took = started.elapsed();
        assert_eq!(code, 0, "{step}: {out}{err}");
        let (added, changed, retired, _) = counts(&out);
        let (code, again, err) = sync();
        assert_eq!(code, 0, "{err}");
        let (_, _, _, files) = counts(&again);
        assert_eq!(files, 0, "a second sync changes nothing: {again}");
        let (code, version, err) = run(xtask()
            .arg("--workspace")
            .arg(&ws)
            .args(["release", "--print-version"]));
        assert_eq!(code, 0, "{err}");
        let version = version.trim().to_owned();
        if step == "2026-01-27" {
            assert_eq!(
                added, jan_docs,
                "every January document with a document is added"
            );
        } else {
            let vanished = jan
                .iter()
                .filter(|id| !jun_set.contains(id) && schemas.join(format!("{id}.json")).is_file())
                .count();
            assert_eq!(
                retired, vanished,
                "every January endpoint June does not list is retired"
            );
        }
        let (compiles, warnings) = user_crate(&schemas, &callers, &retiring);
        if step == "2026-06-11" {
            assert!(warnings > 0, "the retired endpoint {retiring} warns");
        } else {
            assert!(compiles, "the user crate compiles on the first catalogue");
            assert_eq!(warnings, 0);
        }
        table.push(format!(
            "| {step} | {added} | {changed} | {retired} | {version} | {took:.1?} | {files} files changed | {} ({warnings} deprecation warnings for {retiring}) |",
            if compiles { "compiles" } else { "does not compile" }
        ));
        git(&ws, &["add", "-A"]);
        git(&ws, &["commit", "-qm", step]);
        let tag = version.split(' ').next().unwrap();
        git(&ws, &["tag", &format!("v{tag}")]);
        let _ = m;
    }
    println!("\n{}\n", table.join("\n"));
}
