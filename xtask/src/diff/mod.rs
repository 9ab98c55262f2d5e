//! `cargo xtask diff`: what changed between two versions of the vendored fal documents, and
//! what that does to callers.
//!
//! ```text
//! cargo xtask diff [--base <rev>] [--head <rev>] [--format text|markdown|json] [--fail-on ERR|WARN]
//! cargo xtask diff OLD NEW        # two folders (keyed by relative path) or two files
//! cargo xtask diff --verify-semver OLD NEW [--sample LIST] [--write-sample]
//! ```
//!
//! `--verify-semver` checks the Rust verdicts against `cargo-semver-checks` on a fixed sample
//! of pairs ([`semver_check`]).
//!
//! Without paths it compares `schemas/` at `--base` (default `HEAD`) with the working tree, or
//! with `--head` when given.
//! Exit code: 1 when a finding reaches `--fail-on`, 2 on errors (unreadable folders, bad git
//! revision); an unreadable *document* is a `document-invalid` finding, not an error.
//!
//! Beside the wire findings, each endpoint shows its Rust API change ([`rust_api`]): both
//! sides are generated with the current generator and the public items of the endpoint's
//! module compared (`--wire-only` skips this). The endpoint's `fal-models` verdict is the one
//! these items give; each finding's verdict below is what the rule predicts, and the report
//! says where the two differ.
//!
//! Each finding has a rule id, a wire level and a Rust semver verdict:
//!
//! | rule | wire | `fal-models` |
//! |---|---|---|
//! | `endpoint-removed` | ERR | major (module gone) |
//! | `document-invalid` | ERR | major (regen cannot produce the module) |
//! | `input-required-property-added` | ERR | major (`Input::new` gains an argument) |
//! | `input-property-became-required` | ERR | major (setter becomes a `new` argument) |
//! | `input-enum-value-removed` | ERR | major (variant removed) |
//! | `input-type-changed` | ERR | major (field type changes) |
//! | `input-constraint-tightened` | ERR | patch (validation is fal's, the Rust type stays) |
//! | `output-property-removed` | ERR | major (a required output property: public field removed) |
//! | `output-property-became-optional` / `-nullable` | ERR | major when the field was `T` (now `Option<T>`), else patch |
//! | `output-type-changed` | ERR | major |
//! | `output-optional-property-removed` | WARN | major (public field removed; callers already handled its absence on the wire) |
//! | `input-property-removed` | WARN | major (setter or `new` argument removed) |
//! | `input-nullable-removed` | WARN | major for a required field (`new` takes `T`, not `Option<T>`), else patch |
//! | `default-changed` | WARN | patch |
//! | `output-enum-value-added` | WARN | minor (variant added to a `#[non_exhaustive]` enum) |
//! | `document-problem` | WARN | patch (dangling `$ref`, malformed `items`, ...) |
//! | `endpoint-added` | INFO | minor (new module) |
//! | `endpoint-retired` | INFO | minor (`info.x-fal-retired`: every public item `#[deprecated]`) |
//! | `endpoint-unretired` | INFO | minor (listed again: the deprecation is lifted) |
//! | `input-property-added` | INFO | minor (new setter) |
//! | `input-property-became-optional` | INFO | major (`Input::new` loses an argument) |
//! | `input-nullable-added` | INFO | major for a required field, else patch |
//! | `input-enum-value-added` | INFO | minor |
//! | `input-type-widened` | INFO | major (the Rust type still changes: `enum` → `String`, `i64` → `f64`, ...) |
//! | `input-constraint-loosened` | INFO | patch |
//! | `output-property-added` | INFO | minor (`Output` is `#[non_exhaustive]`) |
//! | `output-property-became-required` / `-non-nullable` | INFO | major when the field becomes `T` (was `Option<T>`), else patch |
//! | `output-enum-value-removed` | INFO | major (variant removed) |
//! | `output-type-narrowed` | INFO | major (also a free-form map becoming a typed object: a JSON map becomes a struct) |
//! | `type-renamed` | INFO | major (a component struct keeps its shape but the Rust type is named after the new component) |
//! | `deprecated-added` | INFO | minor (`#[deprecated]` on the field and setter: a new warning) |
//! | `description-changed` | INFO | patch (one summary per endpoint) |
//!
//! The mapping follows the generated API: `Input` is `#[non_exhaustive]` with
//! `Input::new(<required fields>)` (a required nullable field is passed as `Option<T>`) and a
//! setter per optional field; `Output` is `#[non_exhaustive]` with public fields, `T` when
//! required and not nullable, `Option<T>` otherwise; enums are open (`#[non_exhaustive]`,
//! `Unknown(..)`); `anyOf` of several non-null types is an enum of the alternatives. A `const`
//! and a one-value `enum` are the same thing and compare equal. Number and boolean enums are
//! typed `f64`/`bool`, so their value changes (and a change between such an enum and its plain
//! type) are patch-level for Rust.

mod model;
pub mod report;
pub mod rules;
pub mod rust_api;
mod semver_check;
pub mod source;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;

use report::{EndpointReport, Report};
use rules::{Level, Version};
use source::Snapshot;

/// Options of `cargo xtask diff`.
#[derive(clap::Args)]
pub struct Args {
    /// Old and new folder (or old and new file) to compare instead of git.
    #[arg(value_names = ["OLD", "NEW"], num_args = 2)]
    paths: Vec<PathBuf>,
    /// Git revision holding the old `schemas/` (compared with the working tree).
    #[arg(long, conflicts_with = "paths")]
    base: Option<String>,
    /// Git revision holding the new `schemas/` [default: the working tree].
    #[arg(long, conflicts_with = "paths")]
    head: Option<String>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
    /// Exit with code 1 when a finding is at this level or above.
    #[arg(long, value_enum)]
    fail_on: Option<FailOn>,
    /// Repository whose `schemas/` is compared in git mode (default: this workspace).
    #[arg(long, conflicts_with = "paths")]
    repo: Option<PathBuf>,
    /// Only the wire findings: skip generating both sides' Rust API.
    #[arg(long)]
    wire_only: bool,
    /// Check our semver verdicts against cargo-semver-checks on the sampled pairs of OLD and
    /// NEW (folders; see `semver_check`).
    #[arg(long, requires = "paths")]
    verify_semver: bool,
    /// The sample list of `--verify-semver` [default: xtask/tests/fixtures/semver-sample.txt].
    #[arg(long, requires = "verify_semver")]
    sample: Option<PathBuf>,
    /// Recompute the sample (covering every rule id that occurs) and write it first.
    #[arg(long, requires = "verify_semver")]
    write_sample: bool,
    /// Pairs in a recomputed sample.
    #[arg(long, default_value_t = 48, requires = "write_sample")]
    sample_size: usize,
}

/// Report formats.
#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    /// For terminals.
    Text,
    /// For a pull-request comment.
    Markdown,
    /// For tools.
    Json,
}

/// Levels `--fail-on` accepts.
#[derive(Clone, Copy, clap::ValueEnum)]
enum FailOn {
    /// Breaking changes.
    #[value(name = "ERR", alias = "err")]
    Err,
    /// Breaking changes and warnings.
    #[value(name = "WARN", alias = "warn")]
    Warn,
}

/// Runs `cargo xtask diff`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let (old, new) = snapshots(&args)?;
    if args.verify_semver {
        let options = semver_check::Options {
            sample: args.sample.clone().unwrap_or_else(|| {
                crate::workspace_root().join("xtask/tests/fixtures/semver-sample.txt")
            }),
            write_sample: args.write_sample,
            sample_size: args.sample_size,
        };
        return semver_check::run(&old, &new, &options);
    }
    let report = report_between(&old, &new, !args.wire_only);
    match args.format {
        Format::Text => print!("{}", report.text()),
        Format::Markdown => print!("{}", report.markdown()),
        Format::Json => println!("{}", serde_json::to_string_pretty(&report.json())?),
    }
    let threshold = args.fail_on.map(|f| match f {
        FailOn::Err => Level::Err,
        FailOn::Warn => Level::Warn,
    });
    let failed = matches!((threshold, report.level()), (Some(t), Some(l)) if l >= t);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn snapshots(args: &Args) -> anyhow::Result<(Snapshot, Snapshot)> {
    if let [old, new] = args.paths.as_slice() {
        return match (old.is_dir(), new.is_dir()) {
            (true, true) => Ok((
                source::folder(old, old.display().to_string())?,
                source::folder(new, new.display().to_string())?,
            )),
            (false, false) => {
                // Two files are one endpoint whatever their names.
                let key = new
                    .file_stem()
                    .map_or_else(String::new, |s| s.to_string_lossy().into_owned());
                Ok((source::file(old, &key)?, source::file(new, &key)?))
            }
            _ => bail!("compare two folders or two files, not a folder with a file"),
        };
    }
    let repo = args.repo.clone().unwrap_or_else(crate::workspace_root);
    let old = source::git(&repo, args.base.as_deref().unwrap_or("HEAD"))?;
    let schemas = repo.join("schemas");
    let new = if let Some(head) = &args.head {
        source::git(&repo, head)?
    } else if schemas.is_dir() {
        source::folder(&schemas, "working tree".into())?
    } else {
        Snapshot::empty("working tree".into())
    };
    Ok((old, new))
}

/// The report between two sides, with the Rust API change when `rust_api` (the one differ
/// `diff`, the PR review and `cargo xtask release` share).
pub fn report_between(old: &Snapshot, new: &Snapshot, rust_api: bool) -> Report {
    let mut report = compare(old, new);
    if rust_api {
        report.add_rust_api(&rust_api_of(old), &rust_api_of(new));
    }
    report
}

/// The public API the current generator gives one side's documents (all generated together,
/// as `fal-models` ships them). An error is a report line, not a failure of the diff.
fn rust_api_of(side: &Snapshot) -> Result<rust_api::Api, String> {
    let docs = side
        .json
        .iter()
        .map(|(key, json)| fal_codegen::Document {
            source: format!("{key}.json"),
            json: json.clone(),
        })
        .collect();
    match rust_api::generate(docs) {
        Some(source) => rust_api::extract(&source),
        None => Err(format!("the generator produced no code for {}", side.label)),
    }
}

fn compare(old: &Snapshot, new: &Snapshot) -> Report {
    let keys: BTreeSet<&String> = old.docs.keys().chain(new.docs.keys()).collect();
    let mut compared = 0;
    let mut endpoints = Vec::new();
    for key in keys {
        let (a, b) = (old.docs.get(key), new.docs.get(key));
        compared += usize::from(a.is_some() && b.is_some());
        let findings = rules::compare(a, b);
        let endpoint = [b, a]
            .into_iter()
            .flatten()
            .find_map(|v| match v {
                Version::Doc(doc) => doc.id.clone(),
                Version::Invalid(_) => None,
            })
            .unwrap_or_else(|| key.clone());
        endpoints.push(EndpointReport {
            endpoint,
            findings,
            api: None,
        });
    }
    Report::new(old.label.clone(), new.label.clone(), compared, endpoints)
}
