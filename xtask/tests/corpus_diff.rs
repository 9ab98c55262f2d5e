//! Every real five-month change in the fal corpus (`older/X` → `docs/X`) diffs without error.
//! The corpus is read from `FAL_CORPUS_DIR` (default `<workspace>/../shared/fal-corpus`); the
//! test is skipped, with a notice, where it is absent.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;
use support::{run, xtask};

fn corpus_dir() -> PathBuf {
    std::env::var_os("FAL_CORPUS_DIR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fal-corpus")
    })
}

#[test]
fn corpus_pairs_diff_without_error() {
    let corpus = corpus_dir();
    let (older, docs) = (corpus.join("older"), corpus.join("docs"));
    if !older.is_dir() || !docs.is_dir() {
        eprintln!("skipped: no fal corpus at {} (set FAL_CORPUS_DIR)", corpus.display());
        return;
    }
    let count = |dir: &PathBuf| std::fs::read_dir(dir).unwrap().filter(|e| e.as_ref().unwrap().path().extension().is_some_and(|x| x == "json")).count();
    let pairs = count(&older);
    let only_new = count(&docs) - pairs;

    let (code, stdout, stderr) = run(xtask().args(["diff", "--format", "json"]).arg(&older).arg(&docs));
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
        for f in findings {
            // Every corpus document is JSON with an input and an output schema.
            assert_ne!(f["rule"], "document-invalid", "{}: {}", endpoint["endpoint"], f["message"]);
            *by_rule.entry(f["rule"].as_str().unwrap().to_owned()).or_default() += 1;
        }
        *by_semver.entry(endpoint["semver"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    let changed = report["endpoints"].as_array().unwrap().len() - only_new;
    by_semver.insert("none".into(), pairs - changed);
    println!("{pairs} corpus pairs, {changed} with findings");
    println!("findings by rule:");
    for (rule, n) in &by_rule {
        println!("  {rule:<40} {n}");
    }
    println!("fal-models semver verdict by endpoint: {by_semver:?}");
    // The corpus changes are real: the rules must see them.
    assert!(changed * 2 > pairs, "only {changed} of {pairs} pairs have findings");
}
