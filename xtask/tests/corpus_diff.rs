//! Every real five-month change in the fal corpus (`older/X` → `docs/X`) diffs without error.
//! The corpus is read from `FAL_CORPUS_DIR` (default `<workspace>/../shared/fal-corpus`). The
//! tests skip, with a notice, when the variable is unset and the default folder is absent; when
//! `FAL_CORPUS_DIR` is set, a missing corpus is a failure (CI must not pass by skipping).

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use support::{run, xtask};

/// `(older, docs)`, or `None` (with a notice) when the corpus is absent and `FAL_CORPUS_DIR`
/// is unset. Panics when `FAL_CORPUS_DIR` names a folder without the corpus.
fn corpus() -> Option<(PathBuf, PathBuf)> {
    let set = std::env::var_os("FAL_CORPUS_DIR").map(PathBuf::from);
    let corpus = set.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fal-corpus")
    });
    let (older, docs) = (corpus.join("older"), corpus.join("docs"));
    if !older.is_dir() || !docs.is_dir() {
        assert!(
            set.is_none(),
            "FAL_CORPUS_DIR={} has no older/ and docs/ folders",
            corpus.display()
        );
        println!(
            "skipped: no fal corpus at {} (set FAL_CORPUS_DIR)",
            corpus.display()
        );
        return None;
    }
    Some((older, docs))
}

/// Findings by rule id of `diff old new`.
fn by_rule(old: &PathBuf, new: &PathBuf) -> BTreeMap<String, usize> {
    by_rule_and_compared(old, new).0
}

/// Findings by rule id of `diff old new`, and how many endpoints it compared.
fn by_rule_and_compared(old: &PathBuf, new: &PathBuf) -> (BTreeMap<String, usize>, u64) {
    let (code, stdout, stderr) = run(xtask()
        .args(["diff", "--format", "json", "--wire-only"])
        .arg(old)
        .arg(new));
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let counts = report["summary"]["by_rule"].as_object().unwrap();
    let compared = report["summary"]["compared"].as_u64().unwrap();
    let counts = counts
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap() as usize))
        .collect();
    (counts, compared)
}

/// The fal documents below `dir` (every `*.json`, recursively).
fn document_count(dir: &std::path::Path) -> u64 {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            n += document_count(&path);
        } else if path.extension().is_some_and(|e| e == "json") {
            n += 1;
        }
    }
    n
}

#[test]
fn every_corpus_document_diffed_with_itself_has_no_findings() {
    let Some((_, docs)) = corpus() else { return };
    let (findings, compared) = by_rule_and_compared(&docs, &docs);
    assert_eq!(findings, BTreeMap::new());
    // No findings proves nothing unless every document was compared.
    let documents = document_count(&docs);
    assert!(
        documents > 1000,
        "{documents} documents in {}",
        docs.display()
    );
    assert_eq!(compared, documents, "every document compared with itself");
}

#[test]
fn diffing_the_corpus_backwards_mirrors_every_rule() {
    let Some((older, docs)) = corpus() else {
        return;
    };
    let forward = by_rule(&older, &docs);
    let backward = by_rule(&docs, &older);
    let n = |counts: &BTreeMap<String, usize>, rule: &str| counts.get(rule).copied().unwrap_or(0);
    for (a, b) in [
        ("endpoint-added", "endpoint-removed"),
        ("input-constraint-tightened", "input-constraint-loosened"),
        ("input-nullable-added", "input-nullable-removed"),
        ("input-enum-value-added", "input-enum-value-removed"),
        (
            "input-property-became-required",
            "input-property-became-optional",
        ),
        ("output-enum-value-added", "output-enum-value-removed"),
        (
            "output-property-became-nullable",
            "output-property-became-non-nullable",
        ),
        (
            "output-property-became-optional",
            "output-property-became-required",
        ),
        ("default-changed", "default-changed"),
        ("description-changed", "description-changed"),
        ("type-renamed", "type-renamed"),
    ] {
        assert_eq!(
            n(&forward, a),
            n(&backward, b),
            "{a} forward vs {b} backward"
        );
        assert_eq!(
            n(&forward, b),
            n(&backward, a),
            "{b} forward vs {a} backward"
        );
    }
    // A removed output property comes back as an added one, required or not.
    assert_eq!(
        n(&forward, "output-property-added"),
        n(&backward, "output-property-removed") + n(&backward, "output-optional-property-removed")
    );
    assert_eq!(
        n(&backward, "output-property-added"),
        n(&forward, "output-property-removed") + n(&forward, "output-optional-property-removed")
    );
    // A removed input property comes back as an optional or a required one.
    assert_eq!(
        n(&forward, "input-property-removed"),
        n(&backward, "input-property-added") + n(&backward, "input-required-property-added")
    );
}

#[test]
fn corpus_pairs_diff_without_error() {
    let Some((older, docs)) = corpus() else {
        return;
    };
    let count = |dir: &PathBuf| {
        std::fs::read_dir(dir)
            .unwrap()
            .filter(|e| {
                e.as_ref()
                    .unwrap()
                    .path()
                    .extension()
                    .is_some_and(|x| x == "json")
            })
            .count()
    };
    let pairs = count(&older);
    let only_new = count(&docs) - pairs;

    let (code, stdout, stderr) = run(xtask()
        .args(["diff", "--format", "json"])
        .arg(&older)
        .arg(&docs));
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let summary = &report["summary"];
    assert_eq!(summary["compared"], pairs);
    assert_eq!(summary["added"], only_new, "endpoints only in docs/");
    assert_eq!(summary["removed"], 0);

    let mut by_rule: BTreeMap<String, usize> = BTreeMap::new();
    let mut by_semver: BTreeMap<String, usize> = BTreeMap::new();
    for endpoint in report["endpoints"].as_array().unwrap() {
        let findings = endpoint["findings"].as_array().unwrap();
        if findings.iter().any(|f| f["rule"] == "endpoint-added") {
            continue;
        }
        // Both sides of the corpus generate and their public items are read.
        assert!(
            endpoint["rust_api"].is_array(),
            "{}: {}",
            endpoint["endpoint"],
            endpoint["rust_api"]
        );
        for f in findings {
            // Every corpus document is JSON with an input and an output schema.
            assert_ne!(
                f["rule"], "document-invalid",
                "{}: {}",
                endpoint["endpoint"], f["message"]
            );
            *by_rule
                .entry(f["rule"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
        *by_semver
            .entry(endpoint["semver"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    let changed = report["endpoints"].as_array().unwrap().len() - only_new;
    by_semver.insert("none".into(), pairs - changed);
    println!("{pairs} corpus pairs, {changed} with findings");
    println!("findings by rule:");
    for (rule, n) in &by_rule {
        println!("  {rule:<40} {n}");
    }
    println!("fal-models semver verdict by endpoint (generated API): {by_semver:?}");
    let differs = report["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["semver"] != e["rules_semver"])
        .count();
    println!(
        "endpoints where the rules predicted another verdict than the generated API: {differs}"
    );
    // The corpus changes are real: the rules must see them.
    assert!(
        changed * 2 > pairs,
        "only {changed} of {pairs} pairs have findings"
    );
}

/// A corpus named by `FAL_CORPUS_DIR` but absent fails the tests instead of skipping them:
/// runs one test of this binary again in a child process with the variable set.
#[test]
fn a_missing_corpus_named_by_fal_corpus_dir_fails() {
    let missing = std::env::temp_dir().join("fal-corpus-that-does-not-exist");
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "every_corpus_document_diffed_with_itself_has_no_findings",
        ])
        .env("FAL_CORPUS_DIR", &missing)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!output.status.success(), "{all}");
    assert!(all.contains("has no older/ and docs/ folders"), "{all}");
}
