//! The command line of the mock server, shared by `fal-mock` and the `falx mock` command: its
//! options, and serving until stopped with the `export` lines printed first.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use super::{FaultSpec, MockServer};

/// The options of the mock server's command line (`fal-mock`, `falx mock`).
#[derive(clap::Args, Debug, Clone)]
pub struct MockArgs {
    /// Folder of fal OpenAPI documents, searched recursively (default: the catalogue the
    /// command was built with).
    #[arg(long, value_name = "DIR")]
    pub schemas: Option<PathBuf>,
    /// Also print the id of every endpoint served (after the `export` lines).
    #[arg(long)]
    pub list_endpoints: bool,
    /// Queue port (also storage, files and the webhook JWKS); 0 picks a free port.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// Sync-run port; 0 picks a free port.
    #[arg(long, default_value_t = 0)]
    pub run_port: u16,
    /// Status answers a job spends IN_QUEUE.
    #[arg(long, default_value_t = 1)]
    pub queue_steps: usize,
    /// Status answers a job spends IN_PROGRESS, one log line each.
    #[arg(long, default_value_t = 2)]
    pub progress_steps: usize,
    /// Pause between status stream events (and between the steps of a webhook job), in ms.
    #[arg(long, default_value_t = 200)]
    pub stream_interval_ms: u64,
    /// Accept only this key (default: any `Key ...`).
    #[arg(long)]
    pub key: Option<String>,
    /// Inject a fault, e.g. `status=too-many-requests:2*3` (repeatable; grammar below).
    #[arg(long = "fault", value_name = "RULE", value_parser = parse_fault)]
    pub faults: Vec<FaultSpec>,
    /// Keep the documents' example output URLs (on the internet) instead of serving
    /// placeholder files from the mock.
    #[arg(long)]
    pub remote_output_urls: bool,
    /// Retries of a failed webhook delivery.
    #[arg(long, default_value_t = 3)]
    pub webhook_retries: u32,
    /// Wait before the first webhook retry, in ms (doubled after each).
    #[arg(long, default_value_t = 500)]
    pub webhook_backoff_ms: u64,
    /// Deliver webhooks to non-loopback hosts too.
    #[arg(long)]
    pub webhooks_to_any_host: bool,
    /// Serve fal's platform listing (`GET /v1/models`) from this snapshot folder (its
    /// documents, and `listing.txt` of the ids listed when there is one) instead of the
    /// mock's own documents.
    #[arg(long, value_name = "DIR")]
    pub platform_snapshot: Option<String>,
    /// Make a streaming endpoint answer raw chunks instead of events, as fal's audio streams
    /// do: `ID=CONTENT_TYPE[*CHUNKS]` (4 chunks by default), e.g.
    /// `fal-ai/maya/stream=audio/mpeg*8` (repeatable).
    #[arg(long = "binary-stream", value_name = "ID=TYPE[*CHUNKS]", value_parser = parse_binary_stream)]
    pub binary_streams: Vec<(String, String, usize)>,
}

fn parse_binary_stream(s: &str) -> Result<(String, String, usize), String> {
    let (id, rest) = s
        .split_once('=')
        .ok_or("expected ID=CONTENT_TYPE[*CHUNKS]")?;
    let (content_type, chunks) = match rest.split_once('*') {
        Some((t, n)) => (
            t,
            n.parse::<usize>()
                .map_err(|e| format!("chunks `{n}`: {e}"))?,
        ),
        None => (rest, 4),
    };
    if id.trim_matches('/').is_empty() || !content_type.contains('/') || chunks == 0 {
        return Err(format!(
            "`{s}`: expected an endpoint id, a media type such as audio/mpeg and at least one chunk"
        ));
    }
    Ok((id.to_owned(), content_type.to_owned(), chunks))
}

/// The grammar of `--fault`, for the command's `after_help`.
pub const FAULT_HELP: &str = "\
Fault rules (--fault), the text form of fal_models::mock::FaultSpec:
  RULE      = OPERATION=FAULT[*TIMES]
  OPERATION = submit | status | status-stream | result | cancel | run | stream | token
  FAULT     = reset | reset-after-handling | start-deadline | malformed-body | stream-drop
            | too-many-requests[:SECS] | server-error:STATUS
            | respond:STATUS[+NAME=VALUE...][:BODY]
            | truncated-body[:BYTES] | slow-body:MILLISECONDS
            | never-answer | forward-then-fail:STATUS | ingress-error:STATUS
            | fail-job:internal[:MESSAGE] | fail-job:start-deadline
            | fail-job:validation:FIELD[:MESSAGE]";

fn parse_fault(s: &str) -> Result<FaultSpec, String> {
    s.parse()
}

/// Where the documents come from when `--schemas` is not given.
pub type Catalogue = Box<dyn FnOnce() -> Result<Vec<Value>, String> + Send>;

/// Starts the mock with `args` and serves until the process is stopped. Prints the `export`
/// lines a client needs first, then a summary (`--list-endpoints`: every id), then
/// `# fal-mock ready`. Without `--schemas`, `catalogue` gives the documents.
pub async fn serve(args: MockArgs, catalogue: Catalogue) -> ExitCode {
    let mut builder = MockServer::builder()
        .queue_steps(args.queue_steps)
        .progress_steps(args.progress_steps)
        .stream_interval(Duration::from_millis(args.stream_interval_ms))
        .local_output_files(!args.remote_output_urls)
        .webhook_retries(
            args.webhook_retries,
            Duration::from_millis(args.webhook_backoff_ms),
        )
        .webhooks_to_any_host(args.webhooks_to_any_host)
        .addresses(
            SocketAddr::from(([127, 0, 0, 1], args.port)),
            SocketAddr::from(([127, 0, 0, 1], args.run_port)),
        );
    if let Some(key) = &args.key {
        builder = builder.require_key(key.clone());
    }
    for fault in &args.faults {
        builder = builder.fault(fault.clone());
    }
    for (id, content_type, chunks) in &args.binary_streams {
        builder = builder.binary_stream(id, content_type, *chunks);
    }
    if let Some(dir) = &args.platform_snapshot {
        builder = match builder.platform_snapshot(dir) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("fal-mock: {e}");
                return ExitCode::FAILURE;
            }
        };
    }
    let loaded = match &args.schemas {
        Some(dir) => builder.schemas_dir(dir).map_err(|e| e.to_string()),
        None => catalogue().and_then(|documents| {
            documents
                .into_iter()
                .try_fold(builder, |b, doc| b.document(doc).map_err(|e| e.to_string()))
        }),
    };
    let server = match loaded {
        Ok(builder) => builder.start().await.map_err(|e| e.to_string()),
        Err(e) => Err(e),
    };
    let server = match server {
        Ok(server) => server,
        Err(e) => {
            eprintln!("fal-mock: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Everything a client needs first: the Rust client reads the first four; the Python and JS
    // conformance scripts (conformance/) read all of them.
    let key = args.key.as_deref().unwrap_or(super::MOCK_KEY);
    println!("export FAL_KEY={key}");
    println!("export FAL_QUEUE_URL={}", server.queue_url());
    println!("export FAL_RUN_URL={}", server.run_url());
    println!("export FAL_REST_URL={}", server.rest_url());
    println!("export FAL_CDN_URL={}", server.cdn_url());
    println!("export FAL_JWKS_URL={}", server.jwks_url());
    let ids = server.endpoint_ids();
    if args.list_endpoints {
        println!("# fal-mock serving {} endpoints:", ids.len());
        for id in &ids {
            println!("#   {id}");
        }
    } else {
        println!(
            "# fal-mock serving {} endpoints (--list-endpoints prints them)",
            ids.len()
        );
    }
    for fault in &args.faults {
        println!("#   fault: {fault}");
    }
    println!("# fal-mock ready");
    // Serve until the process is stopped (Ctrl-C).
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}
