//! `cargo xtask diff --verify-semver OLD NEW`: checks our Rust semver verdicts against
//! `cargo-semver-checks` on a fixed sample of real document pairs.
//!
//! Every pair of the sample (names listed in `--sample`, one per line) is generated alone with
//! the current generator, old side and new side, into one module file per pair of two scratch
//! crates under `target/semver-verify/{old,new}` (depending on `fal-models`' runtime by path, so
//! the code compiles). One `cargo semver-checks` run compares the two crates; each lint it
//! reports names a source file, hence a pair. Per pair we print three verdicts: the rules'
//! prediction, the one the generated public items give (`rust_api`), and cargo-semver-checks'
//! (`major` when a major-level lint fires, `minor` for minor-level lints such as
//! `#[deprecated]`, else `none`). Agreement is on "major or not", the question
//! cargo-semver-checks answers; every disagreement is printed with the items and lints behind it.
//!
//! `--write-sample` recomputes the sample deterministically: a greedy cover of every rule id
//! that occurs over all pairs (most uncovered rules first, ties by name), then pairs spread
//! evenly over the sorted remainder up to `--sample-size`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context, bail};

use super::rules::{self, Semver, Version};
use super::rust_api::{self, ApiChange, ChangeKind, ItemKind};
use super::source::Snapshot;

/// What `--verify-semver` needs.
pub struct Options {
    /// The sample list.
    pub sample: PathBuf,
    /// Recompute the sample and write it to `sample` first.
    pub write_sample: bool,
    /// Pairs in a recomputed sample (at least).
    pub sample_size: usize,
}

/// One pair's verdicts.
struct Pair {
    key: String,
    rule_ids: BTreeSet<&'static str>,
    rules: Option<Semver>,
    api: Vec<ApiChange>,
    api_semver: Option<Semver>,
    lints: Vec<(String, Semver, String)>,
}

/// Runs the verification; exit 1 when a pair disagrees on "major or not".
pub fn run(old: &Snapshot, new: &Snapshot, options: &Options) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let both: Vec<&String> = old
        .json
        .keys()
        .filter(|k| new.json.contains_key(*k))
        .collect();
    if options.write_sample {
        let sample = select(old, new, &both, options.sample_size);
        let mut text = String::from(
            "# Pairs of `cargo xtask diff --verify-semver` (older/NAME.json -> docs/NAME.json).\n\
             # Recompute with --write-sample; chosen to cover every rule id that occurs.\n",
        );
        for key in &sample {
            let _ = writeln!(text, "{key}");
        }
        std::fs::write(&options.sample, text)
            .with_context(|| format!("writing {}", options.sample.display()))?;
        println!(
            "wrote {} pairs to {}",
            sample.len(),
            options.sample.display()
        );
    }
    let listed = std::fs::read_to_string(&options.sample)
        .with_context(|| format!("reading the sample list {}", options.sample.display()))?;
    let keys: Vec<String> = listed
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let missing: Vec<&String> = keys.iter().filter(|k| !both.contains(k)).collect();
    if !missing.is_empty() {
        bail!("sample pairs missing on one side: {missing:?}");
    }

    // 1. Generate each side of each pair alone, and our two verdicts.
    let root = crate::workspace_root();
    let dir = root.join("target/semver-verify");
    let mut pairs = Vec::new();
    let mut sources: [Vec<(String, String)>; 2] = [Vec::new(), Vec::new()];
    for key in &keys {
        let findings = rules::compare(old.docs.get(key), new.docs.get(key));
        let mut apis = Vec::new();
        for (i, side) in [old, new].into_iter().enumerate() {
            let doc = fal_codegen::Document {
                source: format!("{key}.json"),
                json: side.json[key].clone(),
            };
            let source = fal_codegen::Config::new()
                .generate(std::slice::from_ref(&doc))
                .single_file();
            let api = rust_api::extract(&source).map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
            apis.push(api.endpoints.into_values().next().unwrap_or_default());
            sources[i].push((module_name(key), source));
        }
        let api = rust_api::compare(&apis[0], &apis[1]);
        let api_semver = api
            .iter()
            .map(|c| c.semver)
            .max()
            .or((!findings.is_empty()).then_some(Semver::Patch));
        pairs.push(Pair {
            key: key.clone(),
            rule_ids: findings.iter().map(|f| f.rule.id()).collect(),
            rules: findings.iter().map(|f| f.semver).max(),
            api,
            api_semver,
            lints: Vec::new(),
        });
    }
    for (side, modules) in ["old", "new"].into_iter().zip(&sources) {
        scratch_crate(&root, &dir.join(side), modules)?;
    }
    let generated = started.elapsed();

    // 2. One cargo-semver-checks run over both crates.
    let checks = Instant::now();
    let output = Command::new("cargo")
        .args([
            "semver-checks",
            "check-release",
            "--color",
            "never",
            "--manifest-path",
        ])
        .arg(dir.join("new/Cargo.toml"))
        .arg("--baseline-root")
        .arg(dir.join("old"))
        // One target folder for both sides and for later runs (dependencies build once).
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .output()
        .context(
            "running cargo semver-checks (install: cargo install cargo-semver-checks --locked)",
        )?;
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(dir.join("semver-checks.log"), &text)?;
    if !text.contains("Checked [") {
        bail!(
            "cargo semver-checks did not run its checks (log: {}):\n{}",
            dir.join("semver-checks.log").display(),
            tail(&text, 40)
        );
    }
    let by_module: BTreeMap<String, usize> = pairs
        .iter()
        .enumerate()
        .map(|(i, p)| (module_name(&p.key), i))
        .collect();
    let mut unattributed = Vec::new();
    for (lint, level, location) in lints(&text) {
        // The line names the pair's module in an item path or a file name, whatever the
        // lint's wording (`field x of struct Y, in file .../m_a.rs:3`, `m_a::...::new takes..`).
        let module = location
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .find(|token| by_module.contains_key(*token));
        match module.and_then(|m| by_module.get(m)) {
            Some(&i) => pairs[i].lints.push((lint, level, location)),
            None => unattributed.push(format!("{lint}: {location}")),
        }
    }
    let checked = checks.elapsed();

    // 3. The verdicts side by side.
    println!(
        "{:<70} {:>6} {:>6} {:>14}",
        "pair", "rules", "api", "semver-checks"
    );
    let mut agree_api = 0;
    let mut agree_rules = 0;
    let mut disagreements = Vec::new();
    for p in &pairs {
        let theirs = p.lints.iter().map(|l| l.1).max();
        let major = |s: Option<Semver>| s == Some(Semver::Major);
        println!(
            "{:<70} {:>6} {:>6} {:>14}",
            p.key,
            show(p.rules),
            show(p.api_semver),
            show(theirs)
        );
        agree_rules += usize::from(major(p.rules) == major(theirs));
        if major(p.api_semver) == major(theirs) {
            agree_api += 1;
        } else {
            disagreements.push(explain(p, theirs));
        }
    }
    // Finer than the verdict: each lint should name an item our diff lists as a break.
    let mut lints_total = 0;
    let mut unmatched = Vec::new();
    for p in &pairs {
        for (lint, level, location) in &p.lints {
            lints_total += 1;
            let named: BTreeSet<&str> = location
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .collect();
            let hit = p.api.iter().any(|c| {
                c.semver >= *level
                    && c.kind != ItemKind::TraitImpl
                    && named.contains(c.item.rsplit(['.', ':']).next().unwrap_or(""))
            });
            if !hit {
                unmatched.push(format!("{}: {lint} at {location}", p.key));
            }
        }
    }
    let covered: BTreeSet<&str> = pairs.iter().flat_map(|p| p.rule_ids.clone()).collect();
    println!(
        "\n{} pairs, {} rule ids covered: {}",
        pairs.len(),
        covered.len(),
        covered.iter().copied().collect::<Vec<_>>().join(", ")
    );
    println!(
        "agreement on \"major or not\" with cargo-semver-checks: generated API {agree_api}/{n} ({:.1}%), rules {agree_rules}/{n} ({:.1}%)",
        100.0 * agree_api as f64 / pairs.len().max(1) as f64,
        100.0 * agree_rules as f64 / pairs.len().max(1) as f64,
        n = pairs.len()
    );
    println!(
        "cargo-semver-checks lints matched by an item of ours at the same level or above: {}/{lints_total}",
        lints_total - unmatched.len()
    );
    for u in &unmatched {
        println!("  lint without a matching item of ours: {u}");
    }
    for d in &disagreements {
        println!("\n{d}");
    }
    for u in &unattributed {
        println!("lint not attributed to a pair: {u}");
    }
    println!(
        "\ntime: generation {:.1}s, cargo-semver-checks {:.1}s (log: {})",
        generated.as_secs_f64(),
        checked.as_secs_f64(),
        dir.join("semver-checks.log").display()
    );
    Ok(if disagreements.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Why our verdict and cargo-semver-checks' differ, from the items and lints behind them.
fn explain(p: &Pair, theirs: Option<Semver>) -> String {
    let mut out = format!(
        "DISAGREE {}: generated API {}, cargo-semver-checks {}",
        p.key,
        show(p.api_semver),
        show(theirs)
    );
    let ours: Vec<&ApiChange> = p.api.iter().filter(|c| c.semver == Semver::Major).collect();
    if theirs != Some(Semver::Major) {
        // Ours is major, theirs is not: which of our items does the tool not look at?
        let type_only = ours.iter().all(|c| {
            c.change == ChangeKind::Changed
                && matches!(
                    c.kind,
                    ItemKind::Field | ItemKind::Variant | ItemKind::Setter | ItemKind::Constructor
                )
        });
        let reason = if type_only {
            "every major item is a changed type of a field, variant payload or parameter: \
             cargo-semver-checks does not compare types yet (it checks that items exist, not \
             what type they have), so it cannot see these breaks"
        } else if ours.iter().all(|c| {
            c.kind == ItemKind::Type && c.old.as_deref().is_some_and(|o| o.starts_with("type ="))
        }) {
            "a type alias became a struct or enum: cargo-semver-checks does not check type \
             aliases (a caller's `let v: serde_json::Value = output` no longer compiles)"
        } else if ours.iter().all(|c| c.kind == ItemKind::TraitImpl) {
            "only trait impls went away: cargo-semver-checks checks derived and auto traits only"
        } else {
            "unexplained: check the items below"
        };
        let _ = write!(out, "\n  reason: {reason}");
    } else {
        let _ = write!(
            out,
            "\n  reason: cargo-semver-checks sees a break our generated-API diff misses"
        );
    }
    for c in ours.iter().take(8) {
        let _ = write!(out, "\n  ours:   [{}] {}", c.semver, c.describe());
    }
    for (lint, level, location) in p.lints.iter().take(8) {
        let _ = write!(out, "\n  theirs: [{level}] {lint} at {location}");
    }
    out
}

/// `(lint, required bump, location)` of every failure in cargo-semver-checks' text output.
fn lints(text: &str) -> Vec<(String, Semver, String)> {
    let mut out = Vec::new();
    let mut lint: Option<String> = None;
    let mut failed_in = false;
    for line in text.lines() {
        if let Some(rest) = line
            .strip_prefix("--- failure ")
            .or_else(|| line.strip_prefix("--- warning "))
        {
            lint = rest.split(':').next().map(str::to_owned);
            failed_in = false;
        } else if line.starts_with("Failed in:") {
            failed_in = true;
        } else if failed_in && line.starts_with("  ") {
            if let Some(lint) = &lint {
                let location = line.trim().to_owned();
                out.push((lint.clone(), lint_level(lint), location));
            }
        } else if failed_in && line.trim().is_empty() {
            failed_in = false;
        }
    }
    out
}

/// The bump a cargo-semver-checks lint requires: deprecations, `#[must_use]` and the like
/// are minor-level lints; the rest are breaking.
fn lint_level(lint: &str) -> Semver {
    if lint.contains("deprecated") || lint.contains("must_use_added") || lint.contains("unsealed") {
        Semver::Minor
    } else {
        Semver::Major
    }
}

/// Writes a scratch crate with one module file per pair.
fn scratch_crate(root: &Path, dir: &Path, modules: &[(String, String)]) -> anyhow::Result<()> {
    let src = dir.join("src");
    if src.exists() {
        std::fs::remove_dir_all(&src)?;
    }
    std::fs::create_dir_all(&src)?;
    let manifest = format!(
        "[package]\nname = \"fal-semver-sample\"\nversion = \"0.1.0\"\nedition = \"2024\"\npublish = false\n\n\
         # A crate of its own, outside the workspace.\n[workspace]\n\n\
         [dependencies]\nfal-models = {{ path = {:?}, default-features = false }}\n\
         serde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\nschemars = \"1\"\n",
        root.join("fal-models").display().to_string(),
    );
    std::fs::write(dir.join("Cargo.toml"), manifest)?;
    if let Ok(lock) = std::fs::read_to_string(root.join("Cargo.lock")) {
        std::fs::write(dir.join("Cargo.lock"), lock)?;
    }
    let mut lib = String::from(
        "//! One module per sampled pair (`cargo xtask diff --verify-semver`).\n#![allow(warnings)]\n",
    );
    for (name, source) in modules {
        let _ = writeln!(lib, "pub mod {name};");
        std::fs::write(src.join(format!("{name}.rs")), source)?;
    }
    std::fs::write(src.join("lib.rs"), lib)?;
    Ok(())
}

/// A module name for a corpus key: `fal-ai__flux__dev` → `m_fal_ai__flux__dev`.
fn module_name(key: &str) -> String {
    let name: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("m_{name}")
}

/// The deterministic sample: a greedy cover of every rule id, then an even spread.
fn select(old: &Snapshot, new: &Snapshot, keys: &[&String], size: usize) -> Vec<String> {
    let rule_ids: Vec<(&String, BTreeSet<&'static str>)> = keys
        .iter()
        .map(|k| {
            let findings = rules::compare(old.docs.get(*k), new.docs.get(*k));
            (*k, findings.iter().map(|f| f.rule.id()).collect())
        })
        .filter(|(k, _)| matches!(new.docs.get(*k), Some(Version::Doc(_))))
        .collect();
    let mut uncovered: BTreeSet<&str> = rule_ids.iter().flat_map(|(_, r)| r.clone()).collect();
    let mut chosen: Vec<String> = Vec::new();
    while !uncovered.is_empty() {
        let best = rule_ids
            .iter()
            .filter(|(k, _)| !chosen.contains(k))
            .max_by_key(|(k, r)| {
                (
                    r.intersection(&uncovered).count(),
                    std::cmp::Reverse((*k).clone()),
                )
            });
        let Some((key, r)) = best else { break };
        if r.intersection(&uncovered).count() == 0 {
            break;
        }
        for id in r {
            uncovered.remove(id);
        }
        chosen.push((*key).clone());
    }
    let rest: Vec<&String> = rule_ids
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| !chosen.contains(k))
        .collect();
    let wanted = size.saturating_sub(chosen.len());
    if wanted > 0 && !rest.is_empty() {
        let step = (rest.len() as f64 / wanted as f64).max(1.0);
        for i in 0..wanted.min(rest.len()) {
            chosen.push(rest[(i as f64 * step) as usize].clone());
        }
    }
    chosen.sort();
    chosen
}

fn show(s: Option<Semver>) -> &'static str {
    s.map_or("none", Semver::as_str)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Lines in the shapes cargo-semver-checks 0.51 prints (taken from a real run).
    const LOG: &str = r#"     Checked [   1.583s] 202 checks: 197 pass, 5 fail, 0 warn, 58 skip

--- failure inherent_method_missing: pub method removed or renamed ---

Description:
Some text.

Failed in:
  Input::seed, previously in file /t/old/src/m_a__b.rs:200
  Input::mask, previously in file /t/old/src/m_c.rs:173

--- failure method_parameter_count_changed: pub method parameter count changed ---

Failed in:
  fal_semver_sample::m_c::c::Input::new takes 1 parameters in /t/old/src/m_c.rs:101, but now takes 2 parameters in /t/new/src/m_c.rs:109

--- warning type_marked_deprecated: type marked deprecated ---

Failed in:
  struct m_a__b::Old in file /t/new/src/m_a__b.rs:3

     Summary semver requires new major version: 2 major and 1 minor checks failed
"#;

    #[test]
    fn every_failure_line_becomes_a_lint_with_its_level() {
        let found: Vec<(String, Semver, String)> = lints(LOG);
        let short: Vec<(&str, Semver)> = found.iter().map(|(l, s, _)| (l.as_str(), *s)).collect();
        assert_eq!(
            short,
            [
                ("inherent_method_missing", Semver::Major),
                ("inherent_method_missing", Semver::Major),
                ("method_parameter_count_changed", Semver::Major),
                ("type_marked_deprecated", Semver::Minor),
            ]
        );
        assert!(found[2].2.contains("m_c::c::Input::new takes 1 parameters"));
    }

    #[test]
    fn module_names_are_identifiers() {
        assert_eq!(
            module_name("fal-ai__kling-video__v1.5__pro"),
            "m_fal_ai__kling_video__v1_5__pro"
        );
    }
}
