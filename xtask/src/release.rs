//! `cargo xtask release`: the release notes and the next version, from the diff of `schemas/`
//! since the last release tag.
//!
//! ```text
//! cargo xtask release [--since v0.1.0] [--major] [--dry-run] [--print-version]
//! ```
//!
//! The diff is `cargo xtask diff`'s ([`crate::diff::report_between`]: wire rules and the
//! generated Rust API of both sides); its verdicts give the bump: any major change → major,
//! additions and deprecations (retired endpoints) → minor, docs/defaults only → patch. Under
//! 1.0 cargo treats `0.x` → `0.(x+1)` as the breaking step, so there a major verdict bumps the
//! minor number and the others the patch number. A major bump is refused without `--major`.
//! Writes the new section at the top of `CHANGELOG.md` (breaking first, then pruned, retired,
//! un-retired, changed with their Rust API items, added) and the version of every published
//! crate (`fal-models`, `fal-models-core`, the shards, their `=` pins and `Cargo.lock`),
//! together ([`crate::fsutil::apply_all`]). Then tag `v<version>` and `cargo publish` the
//! crates as the README says.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context as _, bail};

use crate::diff::report::{EndpointReport, Report};
use crate::diff::rules::{Rule, Semver};
use crate::diff::source::{self, Snapshot};
use crate::fsutil::{Change, apply_all};

/// Options of `cargo xtask release`.
#[derive(clap::Args)]
pub struct Args {
    /// The release to compare with [default: the newest tag `v*` reachable from HEAD].
    #[arg(long, value_name = "REV")]
    since: Option<String>,
    /// Allow a breaking (major) bump.
    #[arg(long)]
    major: bool,
    /// Print the section and the version; write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print only the next version (or `none`) and write nothing (for CI).
    #[arg(long)]
    print_version: bool,
    /// The date of the section (`YYYY-MM-DD`) [default: today (UTC)].
    #[arg(long)]
    date: Option<String>,
}

/// The crates released together: their manifests, relative to the workspace root.
fn manifests(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = vec![
        PathBuf::from("fal-models/Cargo.toml"),
        PathBuf::from("fal-models-core/Cargo.toml"),
    ];
    let shards = root.join(crate::regen::SHARDS_DIR);
    if shards.is_dir() {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&shards)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.join("Cargo.toml").is_file())
            .collect();
        dirs.sort();
        for d in dirs {
            out.push(d.strip_prefix(root).unwrap_or(&d).join("Cargo.toml"));
        }
    }
    Ok(out)
}

/// Runs `cargo xtask release`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = crate::workspace_root();
    let since = match &args.since {
        Some(rev) => rev.clone(),
        None => last_tag(&root)?,
    };
    let old = source::git(&root, &since)?;
    let new = source::folder(&root.join("schemas"), "working tree".into())?;
    let report = crate::diff::report_between(&old, &new, true);
    let manifest = std::fs::read_to_string(root.join("fal-models/Cargo.toml"))
        .context("reading fal-models/Cargo.toml")?;
    let current =
        crate::regen::package_version(&manifest).context("fal-models/Cargo.toml has no version")?;
    let Some(verdict) = report.semver() else {
        println!(
            "{}",
            if args.print_version {
                "none"
            } else {
                "nothing changed since the last release: no version to release"
            }
        );
        return Ok(ExitCode::SUCCESS);
    };
    let next = bump(&current, verdict)?;
    if args.print_version {
        println!("{next} ({})", verdict.as_str());
        return Ok(ExitCode::SUCCESS);
    }
    if verdict == Semver::Major && !args.major {
        let breaking = report
            .endpoints
            .iter()
            .filter(|e| e.semver() == Some(Semver::Major))
            .count();
        bail!(
            "the changes since {since} break callers ({breaking} endpoints; `cargo xtask release --dry-run` lists them): {current} → {next} is a major release; pass --major to make it"
        );
    }
    let date = match &args.date {
        Some(d) => d.clone(),
        None => crate::sync::today(),
    };
    let section = section(&report, &old, &since, &next, verdict, &date);
    print!("{section}");
    println!("version: {current} → {next} ({})", verdict.as_str());
    if args.dry_run {
        println!("dry run: nothing written");
        return Ok(ExitCode::SUCCESS);
    }
    let mut changes = Vec::new();
    let changelog = root.join("CHANGELOG.md");
    let old_log = std::fs::read_to_string(&changelog).unwrap_or_default();
    changes.push(Change::Write(
        changelog,
        with_section(&old_log, &section).into_bytes(),
    ));
    for rel in manifests(&root)? {
        let path = root.join(&rel);
        let text =
            std::fs::read_to_string(&path).with_context(|| format!("reading {}", rel.display()))?;
        changes.push(Change::Write(
            path,
            bump_manifest(&text, &current, &next).into_bytes(),
        ));
    }
    let root_manifest = root.join("Cargo.toml");
    let text = std::fs::read_to_string(&root_manifest).context("reading Cargo.toml")?;
    changes.push(Change::Write(
        root_manifest,
        text.replace(&format!("\"={current}\""), &format!("\"={next}\""))
            .into_bytes(),
    ));
    let lock = root.join("Cargo.lock");
    if let Ok(text) = std::fs::read_to_string(&lock) {
        changes.push(Change::Write(
            lock,
            bump_lock(&text, &current, &next).into_bytes(),
        ));
    }
    apply_all(&changes).context("release wrote nothing")?;
    println!("wrote CHANGELOG.md and version {next}; now tag v{next} and cargo publish the crates");
    Ok(ExitCode::SUCCESS)
}

/// The newest `v*` tag reachable from HEAD.
fn last_tag(root: &Path) -> anyhow::Result<String> {
    let out = Command::new("git")
        .args(["describe", "--tags", "--abbrev=0", "--match", "v*"])
        .current_dir(root)
        .output()
        .context("running git describe")?;
    if !out.status.success() {
        bail!("no release tag (v*) found; pass --since <rev>");
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The next version after `current` for `verdict`. Under 1.0 the breaking step is the minor
/// number (cargo's rule), and everything else bumps the patch number.
pub fn bump(current: &str, verdict: Semver) -> anyhow::Result<String> {
    let parts: Vec<u64> = current
        .split('.')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(|| format!("version {current:?} is not x.y.z"))?;
    let [major, minor, patch] = parts[..] else {
        bail!("version {current:?} is not x.y.z");
    };
    Ok(match (major, verdict) {
        (0, Semver::Major) => format!("0.{}.0", minor + 1),
        (0, _) => format!("0.{minor}.{}", patch + 1),
        (_, Semver::Major) => format!("{}.0.0", major + 1),
        (_, Semver::Minor) => format!("{major}.{}.0", minor + 1),
        (_, Semver::Patch) => format!("{major}.{minor}.{}", patch + 1),
    })
}

/// A manifest with its package version and its `=` pins moved from `current` to `next`.
fn bump_manifest(text: &str, current: &str, next: &str) -> String {
    let mut package_done = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if !package_done && line.trim_end() == format!("version = \"{current}\"") {
            package_done = true;
            out.push_str(&line.replace(current, next));
        } else {
            out.push_str(&line.replace(&format!("\"={current}\""), &format!("\"={next}\"")));
        }
    }
    out
}

/// `Cargo.lock` with the released packages at `next`.
fn bump_lock(text: &str, current: &str, next: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut released = false;
    for line in text.split_inclusive('\n') {
        if let Some(name) = line.trim().strip_prefix("name = \"") {
            let name = name.trim_end_matches('"');
            released = name == "fal-models"
                || name == "fal-models-core"
                || name.starts_with("fal-models-shard-");
        }
        if released && line.trim_end() == format!("version = \"{current}\"") {
            out.push_str(&line.replace(current, next));
            released = false;
        } else {
            out.push_str(line);
        }
    }
    out
}

/// `CHANGELOG.md` with `section` as its newest entry.
fn with_section(log: &str, section: &str) -> String {
    const TITLE: &str = "# Changelog\n\n";
    let rest = log.strip_prefix(TITLE).unwrap_or(log);
    format!("{TITLE}{section}\n{rest}")
}

fn has(e: &EndpointReport, rule: Rule) -> bool {
    e.findings.iter().any(|f| f.rule == rule)
}

/// The CHANGELOG section: breaking first, then pruned, retired, un-retired, changed, added.
fn section(
    report: &Report,
    old: &Snapshot,
    since: &str,
    next: &str,
    verdict: Semver,
    date: &str,
) -> String {
    let was_retired = |id: &str| {
        old.json
            .get(id)
            .and_then(fal_schema::retired_since)
            .is_some()
    };
    let mut groups: [(&str, Vec<&EndpointReport>); 6] = [
        ("Breaking changes", Vec::new()),
        ("Pruned (retired endpoints removed)", Vec::new()),
        ("Retired (deprecated: fal no longer lists them)", Vec::new()),
        ("Listed again (no longer deprecated)", Vec::new()),
        ("Changed", Vec::new()),
        ("Added", Vec::new()),
    ];
    for e in &report.endpoints {
        let g = if has(e, Rule::EndpointRemoved) && was_retired(&e.endpoint) {
            1
        } else if e.semver() == Some(Semver::Major) {
            0
        } else if has(e, Rule::EndpointRetired) {
            2
        } else if has(e, Rule::EndpointUnretired) {
            3
        } else if has(e, Rule::EndpointAdded) {
            5
        } else {
            4
        };
        groups[g].1.push(e);
    }
    let mut out = format!("## {next} ({date})\n\n");
    let counts: Vec<String> = groups
        .iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(title, list)| {
            let word = title.split(' ').next().unwrap_or(title).to_lowercase();
            format!("{} {word}", list.len())
        })
        .collect();
    let _ = writeln!(
        out,
        "Since {since}: {} ({} release).\n",
        counts.join(", "),
        verdict.as_str()
    );
    for (title, list) in &groups {
        if list.is_empty() {
            continue;
        }
        let _ = writeln!(out, "### {title}\n");
        for e in list {
            let module = fal_codegen::endpoint_module_path(&e.endpoint).join("::");
            let feature = fal_codegen::family_feature(&e.endpoint);
            let _ = writeln!(
                out,
                "- `{}` (`fal_models::{module}`, feature `{feature}`, {})",
                e.endpoint,
                e.semver().map_or("no change", Semver::as_str)
            );
            let whole = has(e, Rule::EndpointAdded) || has(e, Rule::EndpointRemoved);
            for f in &e.findings {
                if whole && matches!(f.rule, Rule::EndpointAdded | Rule::EndpointRemoved) {
                    continue;
                }
                let at = if f.path.is_empty() {
                    String::new()
                } else {
                    format!(" `{}`", f.path)
                };
                let _ = writeln!(out, "  - {}{at}: {}", f.rule.id(), f.message);
            }
            for change in e.listed_api() {
                let _ = writeln!(out, "  - Rust: {} ({})", change.describe(), change.semver);
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        assert_eq!(bump("0.1.0", Semver::Major).unwrap(), "0.2.0");
        assert_eq!(bump("0.1.0", Semver::Minor).unwrap(), "0.1.1");
        assert_eq!(bump("0.1.3", Semver::Patch).unwrap(), "0.1.4");
        assert_eq!(bump("1.2.3", Semver::Major).unwrap(), "2.0.0");
        assert_eq!(bump("1.2.3", Semver::Minor).unwrap(), "1.3.0");
        assert_eq!(bump("1.2.3", Semver::Patch).unwrap(), "1.2.4");
        assert!(bump("1.2", Semver::Patch).is_err());
    }

    #[test]
    fn manifests_and_lock_move_together() {
        let m = "[package]\nname = \"x\"\nversion = \"0.1.0\"\n[dependencies]\na = { version = \"=0.1.0\", path = \"a\" }\nserde = \"0.1.0\"\n";
        assert_eq!(
            bump_manifest(m, "0.1.0", "0.2.0"),
            "[package]\nname = \"x\"\nversion = \"0.2.0\"\n[dependencies]\na = { version = \"=0.2.0\", path = \"a\" }\nserde = \"0.1.0\"\n"
        );
        let lock = "[[package]]\nname = \"fal-models\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"other\"\nversion = \"0.1.0\"\n";
        assert_eq!(
            bump_lock(lock, "0.1.0", "0.2.0"),
            "[[package]]\nname = \"fal-models\"\nversion = \"0.2.0\"\n\n[[package]]\nname = \"other\"\nversion = \"0.1.0\"\n"
        );
    }
}
