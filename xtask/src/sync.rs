//! `cargo xtask sync`: make `schemas/` follow fal's listing of active endpoints.
//!
//! ```text
//! cargo xtask sync                          # GET <api>/models?status=active&expand=openapi-3.0, every page
//! cargo xtask sync --listing ids.txt        # offline: a file of endpoint ids, one a line
//! cargo xtask sync --dry-run                # print the plan, write nothing
//! cargo xtask sync --prune                  # also delete retired endpoints (a major release)
//! ```
//!
//! New endpoints are added and changed documents refreshed through the canonical writer of
//! `fetch`/`import` ([`crate::fetch::store`]); an endpoint fal no longer lists is **retired**,
//! not deleted: its document stays, marked `info.x-fal-retired: <date>`
//! ([`fal_schema::RETIRED_KEY`]), and the generator deprecates its module. One that comes
//! back is un-retired. Only `--prune` deletes.
//!
//! A listing that is incomplete or suspicious retires nothing: an error page, a page that does
//! not parse, `has_more` without a cursor, a listing filtered by category, or more than
//! [`MAX_VANISHING_PERCENT`] % of the catalogue vanishing at once (unless
//! `--allow-mass-retire`) fail the sync, naming the reason, before anything is written. The
//! files then change all together or not at all ([`crate::fsutil::apply_all`], as regen), and
//! regen runs as after an import.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::Value;

use crate::fetch::http::Http;
use crate::fetch::store::{self, Stored};
use crate::fsutil::{Change, apply_all, remove_empty_dirs};

/// More than this share of the active catalogue vanishing in one sync is refused (a real
/// month retires about 3 %, five months 11 %).
pub const MAX_VANISHING_PERCENT: usize = 20;

/// Options of `cargo xtask sync`.
#[derive(clap::Args)]
pub struct Args {
    /// Offline: a file of endpoint ids fal lists (one a line, `#` comments). Ids not in it are
    /// retired, retired ids in it are un-retired; no document is added or refreshed.
    #[arg(long, value_name = "FILE")]
    listing: Option<PathBuf>,
    /// Print the plan and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Delete the documents of retired endpoints (for a major release), and say which.
    #[arg(long)]
    prune: bool,
    /// Retire even when more than 20 % of the active catalogue vanishes at once.
    #[arg(long)]
    allow_mass_retire: bool,
    /// The retirement date written for endpoints that vanish now (`YYYY-MM-DD`) [default:
    /// the listing file's name when it is a date, else today (UTC)].
    #[arg(long)]
    date: Option<String>,
    /// Folder of vendored documents [default: schemas/ of this workspace].
    #[arg(long)]
    schemas_dir: Option<PathBuf>,
    /// fal platform API base URL (`/models` is appended). Sends `Authorization: Key $FAL_KEY`
    /// when `FAL_KEY` is set.
    #[arg(long, default_value = "https://api.fal.ai/v1")]
    api_url: String,
    /// Models per page (`limit`) [default: the API's].
    #[arg(long)]
    page_size: Option<usize>,
    /// Tries per request on transient errors (connection, timeout, cut body, 429, 5xx).
    #[arg(long, default_value_t = 4)]
    attempts: u32,
    /// Wait before the first retry, in milliseconds (doubles each retry).
    #[arg(long, default_value_t = 500)]
    retry_delay_ms: u64,
    /// Timeout per request, in seconds.
    #[arg(long, default_value_t = 120)]
    timeout_secs: u64,
    /// Do not run `cargo xtask regen` afterwards.
    #[arg(long)]
    no_regen: bool,
}

/// What fal's listing says of one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub enum Listed {
    /// Listed with its document.
    Document(Value),
    /// Listed, without a document (`expansion_failed`): reported, not imported, not retired.
    NoDocument(String),
    /// Listed by id only (an offline listing file).
    Id,
}

/// fal's listing of active endpoints.
#[derive(Debug, Default)]
pub struct Listing {
    pub entries: BTreeMap<String, Listed>,
    /// `metadata.category` of the entries that carry one.
    pub categories: BTreeMap<String, String>,
}

/// A vendored document.
struct Current {
    path: PathBuf,
    doc: Value,
}

/// What sync does to one endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Action {
    Added,
    Changed,
    Retired(String),
    /// Listed again; `true` when its document changed too.
    Unretired(bool),
    Pruned,
    /// Listed without a usable document: reported, nothing written, not retired.
    NoDocument(String),
    /// In an offline listing, not vendored: counted (an id list carries no document).
    NotVendored,
}

/// The plan: an action per endpoint that changes or is reported, and the file changes.
struct Plan {
    actions: BTreeMap<String, Action>,
    changes: Vec<Change>,
    unchanged: usize,
}

/// Runs `cargo xtask sync`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let started = Instant::now();
    let root = crate::workspace_root();
    let default_schemas = root.join("schemas");
    let schemas = args
        .schemas_dir
        .clone()
        .unwrap_or_else(|| default_schemas.clone());
    let date = match &args.date {
        Some(d) => valid_date(d).with_context(|| format!("--date {d:?}"))?,
        None => args
            .listing
            .as_deref()
            .and_then(|f| f.file_stem())
            .and_then(|s| valid_date(&s.to_string_lossy()).ok())
            .unwrap_or_else(today),
    };
    let current = read_catalogue(&schemas)?;
    let listing = match &args.listing {
        Some(file) => read_listing_file(file)?,
        None => read_listing_online(&args)
            .context("fal's listing could not be read whole; nothing was written")?,
    };
    let plan = plan(&schemas, &current, &listing, &args, &date)?;
    print_plan(&plan);
    if args.dry_run {
        println!("dry run: nothing written");
        return Ok(ExitCode::SUCCESS);
    }
    apply_all(&plan.changes).context("sync wrote nothing")?;
    if plan.changes.iter().any(|c| matches!(c, Change::Remove(_))) {
        remove_empty_dirs(&schemas).context("removing empty folders")?;
    }
    println!(
        "{} files changed in {:.2?}",
        plan.changes.len(),
        started.elapsed()
    );
    if !plan.changes.is_empty() && !args.no_regen {
        if schemas == default_schemas {
            println!("running cargo xtask regen");
            if crate::regen::regenerate(&root, &schemas, false)? != ExitCode::SUCCESS {
                bail!(
                    "regen failed; the synced documents are in place, the generated code is unchanged"
                );
            }
        } else {
            println!(
                "regen skipped: {} is not this workspace's schemas/",
                schemas.display()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Every vendored document by endpoint id (its path below `schemas`).
fn read_catalogue(schemas: &Path) -> anyhow::Result<BTreeMap<String, Current>> {
    let mut out = BTreeMap::new();
    for id in store::vendored_ids(schemas)? {
        let path = store::document_path(schemas, &id)?;
        let bytes = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
        let doc: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        out.insert(id, Current { path, doc });
    }
    Ok(out)
}

/// An offline listing: endpoint ids, one a line; blank lines and `#` comments skipped.
fn read_listing_file(file: &Path) -> anyhow::Result<Listing> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut listing = Listing::default();
    for (n, line) in text.lines().enumerate() {
        let id = line.split('#').next().unwrap_or("").trim();
        if id.is_empty() {
            continue;
        }
        if id.split_whitespace().count() != 1 || !id.contains('/') {
            bail!(
                "{}:{}: not an endpoint id: {line:?}; nothing was written",
                file.display(),
                n + 1
            );
        }
        listing.entries.insert(id.to_owned(), Listed::Id);
    }
    Ok(listing)
}

/// The whole active listing of fal's platform API, every page, or an error naming the page.
fn read_listing_online(args: &Args) -> anyhow::Result<Listing> {
    if args.api_url.contains('?') {
        // A query on the base URL (`?category=..`, `?endpoint_id=..`) filters the listing:
        // what it leaves out would be retired.
        bail!(
            "--api-url {:?} carries a query; sync reads the whole unfiltered listing",
            args.api_url
        );
    }
    let http = Http::new(
        args.attempts,
        Duration::from_millis(args.retry_delay_ms),
        Duration::from_secs(args.timeout_secs),
    )?;
    let key = std::env::var("FAL_KEY").ok().filter(|k| !k.is_empty());
    let url = format!("{}/models", args.api_url.trim_end_matches('/'));
    let limit = args.page_size.map(|n| n.to_string());
    let mut params = vec![("status", "active")];
    if let Some(limit) = &limit {
        params.push(("limit", limit.as_str()));
    }
    let mut listing = Listing::default();
    let mut cursor: Option<String> = None;
    let mut seen_cursors = BTreeSet::new();
    for n in 1.. {
        let page =
            crate::fetch::fetch_page(&http, &url, key.as_deref(), &params, cursor.as_deref())
                .with_context(|| format!("page {n}"))?;
        if page.malformed > 0 {
            bail!(
                "page {n} does not parse: {} entries without an endpoint_id",
                page.malformed
            );
        }
        for entry in page.models {
            if let Some(category) = entry.category {
                listing.categories.insert(entry.id.clone(), category);
            }
            let listed = match entry.openapi {
                Value::Null => Listed::NoDocument("listed without an `openapi` member".into()),
                doc if doc.get("error").is_some() && doc.get("openapi").is_none() => {
                    Listed::NoDocument(format!(
                        "fal has no document: {}",
                        store::error_text(&doc["error"])
                    ))
                }
                doc => Listed::Document(doc),
            };
            // The first entry of an id wins (a listing that repeats one is still whole).
            listing.entries.entry(entry.id).or_insert(listed);
        }
        match page.next_cursor {
            None => return Ok(listing),
            Some(next) => {
                if !seen_cursors.insert(next.clone()) {
                    bail!("page {n}: the cursor {next:?} came back; the listing loops");
                }
                cursor = Some(next);
            }
        }
    }
    unreachable!("the page loop only ends by returning")
}

/// Decides what happens to every endpoint, after the guards.
fn plan(
    schemas: &Path,
    current: &BTreeMap<String, Current>,
    listing: &Listing,
    args: &Args,
    date: &str,
) -> anyhow::Result<Plan> {
    let category_of = |id: &str| -> Option<String> {
        listing.categories.get(id).cloned().or_else(|| {
            current.get(id).and_then(|c| {
                c.doc
                    .pointer("/info/x-fal-metadata/category")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            })
        })
    };
    let active: Vec<&String> = current
        .iter()
        .filter(|(_, c)| fal_schema::retired_since(&c.doc).is_none())
        .map(|(id, _)| id)
        .collect();
    // Guard: a listing of one category against a catalogue of several is a filtered one.
    let listed_categories: BTreeSet<String> = listing
        .entries
        .keys()
        .filter_map(|id| category_of(id))
        .collect();
    let catalogue_categories: BTreeSet<String> =
        active.iter().filter_map(|id| category_of(id)).collect();
    if listed_categories.len() == 1 && catalogue_categories.len() > 1 {
        bail!(
            "the listing holds only category {:?} while the catalogue has {}: it looks filtered by category; nothing was written",
            listed_categories.iter().next().expect("one"),
            catalogue_categories.len()
        );
    }
    // Guard: too much of the catalogue vanishing at once.
    let vanishing: Vec<&&String> = active
        .iter()
        .filter(|id| !listing.entries.contains_key(id.as_str()))
        .collect();
    if !args.allow_mass_retire && vanishing.len() * 100 > active.len() * MAX_VANISHING_PERCENT {
        bail!(
            "{} of the {} active endpoints would be retired (more than {MAX_VANISHING_PERCENT} %): the listing looks incomplete; nothing was written (--allow-mass-retire to retire them anyway)",
            vanishing.len(),
            active.len()
        );
    }

    let mut plan = Plan {
        actions: BTreeMap::new(),
        changes: Vec::new(),
        unchanged: 0,
    };
    let ids: BTreeSet<&String> = current.keys().chain(listing.entries.keys()).collect();
    for id in ids {
        let cur = current.get(id);
        let retired = cur.and_then(|c| fal_schema::retired_since(&c.doc));
        let (action, change) = match (listing.entries.get(id), cur) {
            (Some(Listed::Document(doc)), _) => {
                let checked =
                    store::validate(doc, id).and_then(|()| store::document_path(schemas, id));
                match checked {
                    Err(err) => (Some(Action::NoDocument(format!("{err:#}"))), None),
                    Ok(path) => {
                        let (stored, bytes) = store::plan(&path, doc)?;
                        let action = match (stored, retired) {
                            // Changed beyond losing its marker?
                            (_, Some(_)) => Some(Action::Unretired(
                                cur.is_some_and(|c| with_retired(&c.doc, None) != *doc),
                            )),
                            (Stored::Added, None) => Some(Action::Added),
                            (Stored::Changed, None) => Some(Action::Changed),
                            (Stored::Unchanged, None) => None,
                        };
                        (action, bytes.map(|b| Change::Write(path, b)))
                    }
                }
            }
            // Listed again without a new document: the old one, unmarked.
            (Some(_), Some(c)) if retired.is_some() => {
                let doc = with_retired(&c.doc, None);
                let (_, bytes) = store::plan(&c.path, &doc)?;
                (
                    Some(Action::Unretired(false)),
                    bytes.map(|b| Change::Write(c.path.clone(), b)),
                )
            }
            (Some(Listed::NoDocument(why)), _) => (Some(Action::NoDocument(why.clone())), None),
            (Some(Listed::Id), Some(_)) => (None, None),
            (Some(Listed::Id), None) => (Some(Action::NotVendored), None),
            (None, Some(c)) if args.prune => {
                (Some(Action::Pruned), Some(Change::Remove(c.path.clone())))
            }
            (None, Some(_)) if retired.is_some() => (None, None),
            (None, Some(c)) => {
                let doc = with_retired(&c.doc, Some(date));
                let (_, bytes) = store::plan(&c.path, &doc)?;
                (
                    Some(Action::Retired(date.to_owned())),
                    bytes.map(|b| Change::Write(c.path.clone(), b)),
                )
            }
            (None, None) => unreachable!("every id is listed or vendored"),
        };
        match action {
            Some(action) => {
                plan.actions.insert(id.clone(), action);
            }
            None => plan.unchanged += 1,
        }
        plan.changes.extend(change);
    }
    Ok(plan)
}

/// `doc` with the retirement marker set to `since`, or removed.
fn with_retired(doc: &Value, since: Option<&str>) -> Value {
    let mut doc = doc.clone();
    if let Some(info) = doc.get_mut("info").and_then(Value::as_object_mut) {
        match since {
            Some(date) => {
                info.insert(fal_schema::RETIRED_KEY.to_owned(), Value::from(date));
            }
            None => {
                info.remove(fal_schema::RETIRED_KEY);
            }
        }
    }
    doc
}

/// Prints the plan, one line per endpoint that changes or is reported, then the counts.
fn print_plan(plan: &Plan) {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    let order = [
        "added",
        "changed",
        "retired",
        "unretired",
        "pruned",
        "no document",
        "not vendored",
    ];
    for kind in order {
        for (id, action) in &plan.actions {
            let (name, detail) = match action {
                Action::Added => ("added", String::new()),
                Action::Changed => ("changed", String::new()),
                Action::Retired(date) => ("retired", format!(" (since {date})")),
                Action::Unretired(true) => ("unretired", " (document changed)".into()),
                Action::Unretired(false) => ("unretired", String::new()),
                Action::Pruned => ("pruned", String::new()),
                Action::NoDocument(why) => ("no document", format!(": {why}")),
                Action::NotVendored => ("not vendored", String::new()),
            };
            if name == kind {
                *counts.entry(kind).or_default() += 1;
                // Offline listings name many ids this folder never had: counted only.
                if kind != "not vendored" {
                    println!("{name:<10} {id}{detail}");
                }
            }
        }
    }
    let count = |k: &str| counts.get(k).copied().unwrap_or(0);
    println!(
        "{} added, {} changed, {} retired, {} unretired, {} pruned, {} unchanged, {} listed without a document; {} files to change",
        count("added"),
        count("changed"),
        count("retired"),
        count("unretired"),
        count("pruned"),
        plan.unchanged,
        count("no document"),
        plan.changes.len()
    );
    if count("not vendored") > 0 {
        println!(
            "{} listed ids not vendored (an offline listing carries no documents: `cargo xtask fetch` or `import` them)",
            count("not vendored")
        );
    }
}

/// `text` if it is a date `YYYY-MM-DD`.
fn valid_date(text: &str) -> anyhow::Result<String> {
    let b = text.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let ok = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && digits(0..4)
        && digits(5..7)
        && digits(8..10)
        && (1..=12).contains(&text[5..7].parse::<u32>().unwrap_or(0))
        && (1..=31).contains(&text[8..10].parse::<u32>().unwrap_or(0));
    anyhow::ensure!(ok, "not a date YYYY-MM-DD");
    Ok(text.to_owned())
}

/// Today's date (UTC), `YYYY-MM-DD`.
pub fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    // Days since 1970-01-01 to a civil date (Howard Hinnant's algorithm).
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert!(valid_date("2026-06-11").is_ok());
        for bad in ["2026-6-11", "2026-13-01", "20260611", "2026-06-1x"] {
            assert!(valid_date(bad).is_err(), "{bad}");
        }
        assert!(valid_date(&today()).is_ok());
    }
}
