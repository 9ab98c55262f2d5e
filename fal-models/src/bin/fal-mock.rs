//! `fal-mock`: runs the fal-compatible mock server from the command line, so the examples (or
//! any fal client: Rust, Python, JS) can run offline.
//!
//! ```text
//! cargo run -p fal-models --features mock --bin fal-mock -- --schemas schemas --port 8080
//! ```
//! then, in another shell, export the variables it prints (`FAL_KEY`, `FAL_QUEUE_URL`,
//! `FAL_RUN_URL`, `FAL_REST_URL`, `FAL_CDN_URL`, `FAL_JWKS_URL`).

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use fal_models::mock::{FaultSpec, MockServer};

/// An offline fal: the queue, sync runs, storage uploads, file downloads and signed webhooks,
/// for the endpoints of the given OpenAPI documents.
#[derive(Parser, Debug)]
#[command(name = "fal-mock", version, after_help = FAULT_HELP)]
struct Args {
    /// Folder of fal OpenAPI documents, searched recursively.
    #[arg(long, default_value = "schemas")]
    schemas: String,
    /// Queue port (also storage, files and the webhook JWKS); 0 picks a free port.
    #[arg(long, default_value_t = 0)]
    port: u16,
    /// Sync-run port; 0 picks a free port.
    #[arg(long, default_value_t = 0)]
    run_port: u16,
    /// Status answers a job spends IN_QUEUE.
    #[arg(long, default_value_t = 1)]
    queue_steps: usize,
    /// Status answers a job spends IN_PROGRESS, one log line each.
    #[arg(long, default_value_t = 2)]
    progress_steps: usize,
    /// Pause between status stream events (and between the steps of a webhook job), in ms.
    #[arg(long, default_value_t = 200)]
    stream_interval_ms: u64,
    /// Accept only this key (default: any `Key ...`).
    #[arg(long)]
    key: Option<String>,
    /// Inject a fault, e.g. `status=too-many-requests:2*3` (repeatable; grammar below).
    #[arg(long = "fault", value_name = "RULE", value_parser = parse_fault)]
    faults: Vec<FaultSpec>,
    /// Keep the documents' example output URLs (on the internet) instead of serving
    /// placeholder files from the mock.
    #[arg(long)]
    remote_output_urls: bool,
    /// Retries of a failed webhook delivery.
    #[arg(long, default_value_t = 3)]
    webhook_retries: u32,
    /// Wait before the first webhook retry, in ms (doubled after each).
    #[arg(long, default_value_t = 500)]
    webhook_backoff_ms: u64,
    /// Deliver webhooks to non-loopback hosts too.
    #[arg(long)]
    webhooks_to_any_host: bool,
    /// Serve fal's platform listing (`GET /v1/models`) from this snapshot folder (its
    /// documents, and `listing.txt` of the ids listed when there is one) instead of --schemas.
    #[arg(long, value_name = "DIR")]
    platform_snapshot: Option<String>,
    /// Make a streaming endpoint answer raw chunks instead of events, as fal's audio streams
    /// do: `ID=CONTENT_TYPE[*CHUNKS]` (4 chunks by default), e.g.
    /// `fal-ai/maya/stream=audio/mpeg*8` (repeatable).
    #[arg(long = "binary-stream", value_name = "ID=TYPE[*CHUNKS]", value_parser = parse_binary_stream)]
    binary_streams: Vec<(String, String, usize)>,
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

const FAULT_HELP: &str = "\
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

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
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
    let server = match builder.schemas_dir(&args.schemas) {
        Ok(builder) => builder.start().await,
        Err(e) => Err(e),
    };
    let server = match server {
        Ok(server) => server,
        Err(e) => {
            eprintln!("fal-mock: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "fal-mock serving {} endpoints:",
        server.endpoint_ids().len()
    );
    for id in server.endpoint_ids() {
        println!("  {id}");
    }
    for fault in &args.faults {
        println!("  fault: {fault}");
    }
    // Everything a client needs: the Rust client reads the first four; the Python and JS
    // conformance scripts (conformance/) read all of them.
    let key = args.key.as_deref().unwrap_or(fal_models::mock::MOCK_KEY);
    println!("export FAL_KEY={key}");
    println!("export FAL_QUEUE_URL={}", server.queue_url());
    println!("export FAL_RUN_URL={}", server.run_url());
    println!("export FAL_REST_URL={}", server.rest_url());
    println!("export FAL_CDN_URL={}", server.cdn_url());
    println!("export FAL_JWKS_URL={}", server.jwks_url());
    println!("# fal-mock ready");
    // Serve until the process is stopped (Ctrl-C).
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}
