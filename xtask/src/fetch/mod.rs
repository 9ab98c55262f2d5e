//! `cargo xtask fetch`: refresh vendored documents from fal, then regenerate.
//!
//! ```text
//! cargo xtask fetch <endpoint id>...      # one request per endpoint (public document URL)
//! cargo xtask fetch --all                 # every document in schemas/, through the platform API
//! cargo xtask fetch --bulk <id>...        # given ids, through the platform API
//! ```
//!
//! A document is written only after it was read completely and checked to be the queue
//! document of the endpoint asked for, in canonical form (sorted keys), atomically; an
//! unchanged document leaves its file untouched. Failures are listed in the summary and make
//! the exit code 1; the documents that did arrive are still written and regenerated.

pub mod http;
pub mod store;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;

use http::Http;
use store::Stored;

/// Options of `cargo xtask fetch`.
#[derive(clap::Args)]
pub struct Args {
    /// Endpoint ids to fetch, such as `fal-ai/sora-2/text-to-video/pro`.
    #[arg(required_unless_present = "all")]
    ids: Vec<String>,
    /// Refresh every document vendored in the schemas folder (through the platform API).
    #[arg(long, conflicts_with = "ids")]
    all: bool,
    /// Fetch the given ids through the platform API rather than one request each.
    #[arg(long)]
    bulk: bool,
    /// Folder of vendored documents [default: schemas/ of this workspace].
    #[arg(long)]
    schemas_dir: Option<PathBuf>,
    /// Per-endpoint document URL (`?endpoint_id=<id>` is appended).
    #[arg(long, default_value = "https://fal.ai/api/openapi/queue/openapi.json")]
    openapi_url: String,
    /// fal platform API base URL (`/models` is appended). Sends `Authorization: Key $FAL_KEY`
    /// when `FAL_KEY` is set.
    #[arg(long, default_value = "https://api.fal.ai/v1")]
    api_url: String,
    /// Endpoint ids per platform API request.
    #[arg(long, default_value_t = 50)]
    batch_size: usize,
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

/// What happened to one endpoint.
enum Outcome {
    Stored(Stored),
    Failed(String),
}

/// Runs `cargo xtask fetch`.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let default_schemas = crate::workspace_root().join("schemas");
    let schemas = args
        .schemas_dir
        .clone()
        .unwrap_or_else(|| default_schemas.clone());
    let ids = if args.all {
        // Retired endpoints are not in fal's listing any more: `sync` un-retires them when fal
        // lists them again, and a refetch must not drop their marker.
        let (retired, active): (Vec<String>, Vec<String>) =
            store::vendored_ids(&schemas)?.into_iter().partition(|id| {
                store::document_path(&schemas, id)
                    .ok()
                    .and_then(|p| std::fs::read(p).ok())
                    .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                    .is_some_and(|doc| fal_schema::retired_since(&doc).is_some())
            });
        if !retired.is_empty() {
            println!(
                "skipped {} retired endpoints (cargo xtask sync un-retires them when fal lists them again)",
                retired.len()
            );
        }
        active
    } else {
        args.ids.clone()
    };
    if ids.is_empty() {
        bail!(
            "no endpoints to fetch: {} holds no documents",
            schemas.display()
        );
    }
    let http = Http::new(
        args.attempts,
        Duration::from_millis(args.retry_delay_ms),
        Duration::from_secs(args.timeout_secs),
    )?;

    let mut outcomes: BTreeMap<String, Outcome> = BTreeMap::new();
    // Ids that could escape the folder are refused before any request.
    let mut wanted = Vec::new();
    for id in ids {
        match store::document_path(&schemas, &id) {
            Ok(path) => wanted.push((id, path)),
            Err(err) => {
                outcomes.insert(id, Outcome::Failed(format!("{err:#}")));
            }
        }
    }

    let bar = ProgressBar::new(wanted.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{bar:30}] {pos}/{len} {wide_msg}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    let bulk = args.all || args.bulk;
    if bulk {
        let key = std::env::var("FAL_KEY").ok().filter(|k| !k.is_empty());
        fetch_bulk(&http, &args, key.as_deref(), &wanted, &bar, &mut outcomes);
    } else {
        for (id, path) in &wanted {
            bar.set_message(id.clone());
            let outcome = match fetch_one(&http, &args.openapi_url, id) {
                Ok(doc) => save(path, &doc),
                Err(err) => Outcome::Failed(format!("{err:#}")),
            };
            outcomes.insert(id.clone(), outcome);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    let failed = print_summary(&outcomes);
    let written = outcomes
        .values()
        .any(|o| matches!(o, Outcome::Stored(Stored::Added | Stored::Changed)));
    if written && !args.no_regen {
        if schemas == default_schemas {
            println!("running cargo xtask regen");
            if crate::regen::regenerate(&crate::workspace_root(), &schemas, false)?
                != ExitCode::SUCCESS
            {
                bail!(
                    "regen failed; the fetched documents are in place, the generated code is unchanged"
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

/// One endpoint from the public per-endpoint URL.
fn fetch_one(http: &Http, base: &str, id: &str) -> anyhow::Result<Value> {
    let url = reqwest::Url::parse_with_params(base, [("endpoint_id", id)])
        .with_context(|| format!("bad --openapi-url {base:?}"))?;
    let response = http.get(&url, None)?;
    let doc = parse(&response)?;
    store::validate(&doc, id)?;
    Ok(doc)
}

/// Many endpoints from the platform API, `batch_size` ids per request, following cursors.
fn fetch_bulk(
    http: &Http,
    args: &Args,
    key: Option<&str>,
    wanted: &[(String, PathBuf)],
    bar: &ProgressBar,
    outcomes: &mut BTreeMap<String, Outcome>,
) {
    let url = format!("{}/models", args.api_url.trim_end_matches('/'));
    for batch in wanted.chunks(args.batch_size.max(1)) {
        let mut cursor: Option<String> = None;
        let mut pending: BTreeMap<&str, &PathBuf> =
            batch.iter().map(|(id, p)| (id.as_str(), p)).collect();
        let mut pages = 0;
        let failure = loop {
            pages += 1;
            // The same ids on every page: the cursor belongs to the original query.
            let params: Vec<(&str, &str)> = batch
                .iter()
                .map(|(id, _)| ("endpoint_id", id.as_str()))
                .collect();
            let page = match fetch_page(http, &url, key, &params, cursor.as_deref()) {
                Ok(page) => page,
                Err(err) => break Some(format!("{err:#}")),
            };
            for Listed { id, openapi, .. } in page.models {
                // Entries for ids not asked for (or already handled) are ignored.
                let Some(path) = pending.remove(id.as_str()) else {
                    continue;
                };
                bar.set_message(id.clone());
                let outcome = match store::validate(&openapi, &id) {
                    Ok(()) => save(path, &openapi),
                    Err(err) => Outcome::Failed(format!("{err:#}")),
                };
                outcomes.insert(id, outcome);
                bar.inc(1);
            }
            match page.next_cursor {
                Some(next) if !pending.is_empty() && pages < 1000 => cursor = Some(next),
                _ => break None,
            }
        };
        let reason = failure.unwrap_or_else(|| "not listed by the platform API".to_owned());
        for id in pending.into_keys() {
            outcomes.insert(id.to_owned(), Outcome::Failed(reason.clone()));
            bar.inc(1);
        }
    }
}

/// One page of `GET /models` (fal's platform API listing).
pub struct Page {
    pub models: Vec<Listed>,
    /// Entries without an `endpoint_id` (a page that does not parse as fal's shape).
    pub malformed: usize,
    pub next_cursor: Option<String>,
}

/// One model of a listing page.
pub struct Listed {
    pub id: String,
    /// The `openapi` member: the document, fal's `{"error": ..}` in its place, or `null`.
    pub openapi: Value,
    /// `metadata.category`.
    pub category: Option<String>,
}

/// Reads one page of `GET <url>?<params>&expand=openapi-3.0[&cursor=..]`. Fails on an answer
/// other than 200 (after the client's retries), a body that is not a listing page, and
/// `has_more` without a `next_cursor`: a caller never mistakes a cut listing for a whole one.
pub fn fetch_page(
    http: &Http,
    url: &str,
    key: Option<&str>,
    params: &[(&str, &str)],
    cursor: Option<&str>,
) -> anyhow::Result<Page> {
    let mut params = params.to_vec();
    params.push(("expand", "openapi-3.0"));
    if let Some(cursor) = cursor {
        params.push(("cursor", cursor));
    }
    let url = reqwest::Url::parse_with_params(url, params)
        .with_context(|| format!("bad --api-url {url:?}"))?;
    let response = http.get(&url, key)?;
    let body = parse(&response)?;
    let Some(models) = body.get("models").and_then(Value::as_array) else {
        bail!("the platform API answered without a `models` list");
    };
    let mut page = Page {
        models: Vec::new(),
        malformed: 0,
        next_cursor: None,
    };
    for model in models {
        let Some(id) = model.get("endpoint_id").and_then(Value::as_str) else {
            page.malformed += 1;
            continue;
        };
        page.models.push(Listed {
            id: id.to_owned(),
            openapi: model.get("openapi").cloned().unwrap_or(Value::Null),
            category: model
                .pointer("/metadata/category")
                .and_then(Value::as_str)
                .map(str::to_owned),
        });
    }
    match body.get("has_more") {
        Some(Value::Bool(true)) => match body.get("next_cursor").and_then(Value::as_str) {
            Some(next) if !next.is_empty() => page.next_cursor = Some(next.to_owned()),
            _ => bail!("the platform API says has_more without a next_cursor"),
        },
        Some(Value::Bool(false)) | None => {}
        Some(other) => bail!("the platform API's has_more is not a boolean: {other}"),
    }
    Ok(page)
}

/// A 200 response's JSON body, or an error naming the status.
pub fn parse(response: &http::Response) -> anyhow::Result<Value> {
    let snippet = || {
        let text = String::from_utf8_lossy(&response.body);
        let text: String = text.chars().take(200).collect();
        text.replace(['\n', '\r'], " ")
    };
    if response.status != 200 {
        bail!("HTTP {}: {}", response.status, snippet());
    }
    serde_json::from_slice(&response.body).with_context(|| format!("not JSON: {}", snippet()))
}

fn save(path: &std::path::Path, doc: &Value) -> Outcome {
    match store::store(path, doc) {
        Ok(stored) => Outcome::Stored(stored),
        Err(err) => Outcome::Failed(format!("{err:#}")),
    }
}

/// Prints added/changed/failed endpoints and the counts; returns whether any failed.
fn print_summary(outcomes: &BTreeMap<String, Outcome>) -> bool {
    let mut counts = [0usize; 4];
    for (id, outcome) in outcomes {
        match outcome {
            Outcome::Stored(Stored::Added) => {
                counts[0] += 1;
                println!("added      {id}");
            }
            Outcome::Stored(Stored::Changed) => {
                counts[1] += 1;
                println!("changed    {id}");
            }
            Outcome::Stored(Stored::Unchanged) => counts[2] += 1,
            Outcome::Failed(reason) => {
                counts[3] += 1;
                println!("failed     {id}: {reason}");
            }
        }
    }
    let [added, changed, unchanged, failed] = counts;
    println!("{added} added, {changed} changed, {unchanged} unchanged, {failed} failed");
    failed > 0
}
