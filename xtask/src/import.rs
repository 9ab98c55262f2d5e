//! `cargo xtask import <folder or file>...`: vendor fal queue documents from files.
//!
//! Reads documents saved under any file name, and fal platform-API listing pages
//! (`{"models": [{"endpoint_id", "openapi", ..}], "has_more", "next_cursor"}`, as
//! `cargo xtask fetch --all` reads them). Every document goes through the same checks and the
//! same canonical writer as `fetch` ([`crate::fetch::store`]): one code path, two sources.
//! Then regenerates the bindings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use crate::fetch::store::{self, Stored};

/// Options of `cargo xtask import`.
#[derive(clap::Args)]
pub struct Args {
    /// Files or folders (every `*.json` below, recursively) holding documents or listing pages.
    #[arg(required = true)]
    sources: Vec<PathBuf>,
    /// Folder of vendored documents [default: schemas/ of this workspace].
    #[arg(long)]
    schemas_dir: Option<PathBuf>,
    /// Do not run `cargo xtask regen` afterwards.
    #[arg(long)]
    no_regen: bool,
}

/// What happened to one endpoint (or to a file that named none).
#[derive(Debug)]
enum Outcome {
    Stored(Stored),
    /// Not imported. `expected` marks listing entries fal has no document for: reported, but
    /// not a failure of the import.
    Skipped {
        why: String,
        expected: bool,
    },
}

/// A document found in a source, before validation.
struct Candidate {
    /// The endpoint id (from the listing entry or the document's metadata).
    id: String,
    doc: Value,
    /// Where it was read, for messages.
    origin: String,
}

/// Runs `cargo xtask import`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let root = crate::workspace_root();
    let default_schemas = root.join("schemas");
    let schemas = args
        .schemas_dir
        .clone()
        .unwrap_or_else(|| default_schemas.clone());
    let files = source_files(&args.sources)?;
    let outcomes = import_files(&files, &schemas);
    let failed = print_summary(&outcomes);
    let written = outcomes
        .values()
        .any(|o| matches!(o, Outcome::Stored(Stored::Added | Stored::Changed)));
    if written && !args.no_regen {
        if schemas == default_schemas {
            println!("running cargo xtask regen");
            let code = crate::regen::regenerate(&root, &schemas, false)?;
            if code != ExitCode::SUCCESS {
                bail!(
                    "regen failed; the imported documents are in place, the generated code is unchanged"
                );
            }
        } else {
            println!(
                "regen skipped: {} is not this workspace's schemas/",
                schemas.display()
            );
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The files to read: each file argument as is, each folder's `*.json` files sorted.
fn source_files(sources: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for source in sources {
        let meta =
            std::fs::metadata(source).with_context(|| format!("reading {}", source.display()))?;
        if meta.is_dir() {
            files.extend(
                crate::fsutil::json_files(source)
                    .with_context(|| format!("reading {}", source.display()))?,
            );
        } else {
            files.push(source.clone());
        }
    }
    Ok(files)
}

/// Imports every document of `files` into `schemas`. Keys of the result are endpoint ids, or
/// the file's path when it named no endpoint.
fn import_files(files: &[PathBuf], schemas: &Path) -> BTreeMap<String, Outcome> {
    let bar = ProgressBar::new(files.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {wide_msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let mut outcomes = BTreeMap::new();
    // The first document read for an id wins; the origin is kept to explain a conflict.
    let mut seen: BTreeMap<String, (String, Value)> = BTreeMap::new();
    for file in files {
        bar.set_message(file.display().to_string());
        match candidates(file) {
            Err(why) => {
                outcomes.insert(
                    file.display().to_string(),
                    Outcome::Skipped {
                        why,
                        expected: false,
                    },
                );
            }
            Ok(found) => {
                for found in found {
                    let (key, outcome) = match found {
                        Ok(c) => (c.id.clone(), import_one(c, schemas, &mut seen)),
                        Err((key, skipped)) => (key, skipped),
                    };
                    // A later duplicate never hides an earlier outcome, except that a document
                    // found elsewhere beats a listing entry that had none.
                    let replace = match outcomes.get(&key) {
                        None => true,
                        Some(Outcome::Skipped { expected: true, .. }) => {
                            matches!(outcome, Outcome::Stored(_))
                        }
                        Some(_) => false,
                    };
                    if replace {
                        outcomes.insert(key, outcome);
                    }
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    outcomes
}

type Found = Result<Candidate, (String, Outcome)>;

/// The documents in one file: a single document, or the entries of a listing page.
fn candidates(file: &Path) -> Result<Vec<Found>, String> {
    let shown = file.display().to_string();
    let bytes = std::fs::read(file).map_err(|e| format!("cannot read: {e}"))?;
    let json: Value = serde_json::from_slice(&bytes).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(models) = json.get("models") {
        let Some(models) = models.as_array() else {
            return Err("a listing page whose `models` is not a list".into());
        };
        return Ok(models
            .iter()
            .enumerate()
            .map(|(i, m)| listing_entry(&shown, i, m))
            .collect());
    }
    let Some(id) = json
        .pointer("/info/x-fal-metadata/endpointId")
        .and_then(Value::as_str)
    else {
        if let Some(error) = json.get("error") {
            return Err(format!(
                "fal answered an error instead of a document: {}",
                store::error_text(error)
            ));
        }
        return Err("neither a fal queue document (no info.x-fal-metadata.endpointId) nor a listing page (no `models`)".into());
    };
    Ok(vec![Ok(Candidate {
        id: id.to_owned(),
        doc: json.clone(),
        origin: shown,
    })])
}

/// One entry of a listing page.
fn listing_entry(file: &str, index: usize, model: &Value) -> Found {
    let origin = format!("{file} (models[{index}])");
    let Some(id) = model.get("endpoint_id").and_then(Value::as_str) else {
        return Err((
            origin,
            Outcome::Skipped {
                why: "listing entry without `endpoint_id`".into(),
                expected: false,
            },
        ));
    };
    match model.get("openapi") {
        None | Some(Value::Null) => Err((
            id.to_owned(),
            Outcome::Skipped {
                why: format!("{origin}: no `openapi` member (list with `expand=openapi-3.0`)"),
                expected: false,
            },
        )),
        // fal lists endpoints it has no document for, with an error in place of the document.
        Some(doc) if doc.get("error").is_some() && doc.get("openapi").is_none() => Err((
            id.to_owned(),
            Outcome::Skipped {
                why: format!(
                    "{origin}: fal has no document: {}",
                    store::error_text(&doc["error"])
                ),
                expected: true,
            },
        )),
        Some(doc) => Ok(Candidate {
            id: id.to_owned(),
            doc: doc.clone(),
            origin,
        }),
    }
}

/// Validates and stores one document, exactly as `fetch` does.
fn import_one(
    c: Candidate,
    schemas: &Path,
    seen: &mut BTreeMap<String, (String, Value)>,
) -> Outcome {
    let skipped = |why: String| Outcome::Skipped {
        why: format!("{}: {why}", c.origin),
        expected: false,
    };
    if let Some((first, doc)) = seen.get(&c.id) {
        return if *doc == c.doc {
            Outcome::Stored(Stored::Unchanged)
        } else {
            skipped(format!(
                "a different document for this endpoint was already imported from {first}"
            ))
        };
    }
    if let Err(err) = store::validate(&c.doc, &c.id) {
        return skipped(format!("{err:#}"));
    }
    let path = match store::document_path(schemas, &c.id) {
        Ok(p) => p,
        Err(err) => return skipped(format!("{err:#}")),
    };
    let outcome = match store::store(&path, &c.doc) {
        Ok(stored) => Outcome::Stored(stored),
        Err(err) => return skipped(format!("{err:#}")),
    };
    seen.insert(c.id, (c.origin, c.doc));
    outcome
}

/// Prints added, changed and skipped entries and the counts; returns whether any skip was a
/// failure (anything but a listed endpoint fal has no document for).
fn print_summary(outcomes: &BTreeMap<String, Outcome>) -> bool {
    let (mut added, mut changed, mut unchanged, mut skipped, mut failed) = (0, 0, 0, 0, false);
    for (key, outcome) in outcomes {
        match outcome {
            Outcome::Stored(Stored::Added) => {
                added += 1;
                println!("added      {key}");
            }
            Outcome::Stored(Stored::Changed) => {
                changed += 1;
                println!("changed    {key}");
            }
            Outcome::Stored(Stored::Unchanged) => unchanged += 1,
            Outcome::Skipped { why, expected } => {
                skipped += 1;
                failed |= !expected;
                println!("skipped    {key}: {why}");
            }
        }
    }
    println!("{added} added, {changed} changed, {unchanged} unchanged, {skipped} skipped");
    failed
}
