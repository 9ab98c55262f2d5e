//! `fal-mock`: runs the fal-compatible mock server from the command line, so the examples (or
//! any fal client) can run offline.
//!
//! ```text
//! cargo run -p fal-models --features mock --bin fal-mock -- --schemas schemas --port 8080
//! ```
//! then, in another shell, export the printed `FAL_QUEUE_URL`, `FAL_RUN_URL` and `FAL_KEY`.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use fal_models::mock::MockServer;

const USAGE: &str = "\
usage: fal-mock [options]
  --schemas DIR           folder of fal OpenAPI documents, searched recursively (default: schemas)
  --port N                queue port (default: any free port)
  --run-port N            sync-run port (default: any free port)
  --queue-steps N         status answers a job spends IN_QUEUE (default 1)
  --progress-steps N      status answers a job spends IN_PROGRESS, one log line each (default 2)
  --stream-interval-ms N  pause between status stream events (default 200)
  --key KEY               accept only this key (default: any)";

struct Args {
    schemas: String,
    port: u16,
    run_port: u16,
    queue_steps: usize,
    progress_steps: usize,
    stream_interval: Duration,
    key: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        schemas: "schemas".into(),
        port: 0,
        run_port: 0,
        queue_steps: 1,
        progress_steps: 2,
        stream_interval: Duration::from_millis(200),
        key: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let number = |v: &str| {
            v.parse::<u64>()
                .map_err(|_| format!("{flag}: not a number: {v}"))
        };
        match flag.as_str() {
            "--schemas" => args.schemas = value,
            "--port" => args.port = number(&value)? as u16,
            "--run-port" => args.run_port = number(&value)? as u16,
            "--queue-steps" => args.queue_steps = number(&value)? as usize,
            "--progress-steps" => args.progress_steps = number(&value)? as usize,
            "--stream-interval-ms" => args.stream_interval = Duration::from_millis(number(&value)?),
            "--key" => args.key = Some(value),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("fal-mock: {message}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut builder = MockServer::builder()
        .queue_steps(args.queue_steps)
        .progress_steps(args.progress_steps)
        .stream_interval(args.stream_interval)
        .addresses(
            SocketAddr::from(([127, 0, 0, 1], args.port)),
            SocketAddr::from(([127, 0, 0, 1], args.run_port)),
        );
    if let Some(key) = &args.key {
        builder = builder.require_key(key.clone());
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
    println!("export FAL_QUEUE_URL={}", server.queue_url());
    println!("export FAL_RUN_URL={}", server.run_url());
    println!(
        "export FAL_KEY={}",
        args.key.as_deref().unwrap_or(fal_models::mock::MOCK_KEY)
    );
    // Serve until the process is stopped (Ctrl-C).
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}
