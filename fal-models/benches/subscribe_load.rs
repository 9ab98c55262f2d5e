//! Load figure: N concurrent `subscribe`s (default 5,000) on one client against the mock
//! server in the same process. Prints the success count, wall time, peak memory (the process's
//! VmHWM: client *and* mock) and the TCP connections the mock accepted.
//!
//! ```text
//! cargo bench -p fal-models --bench subscribe_load            # 5,000
//! SUBSCRIBES=1000 cargo bench -p fal-models --bench subscribe_load
//! ```
//! Each subscribe streams its status (1 queued event, 2 in-progress events with a log line
//! each, 50 ms apart), so all of them are waiting at once.

use std::time::{Duration, Instant};

use fal_models::client::RetryPolicy;
use fal_models::mock::MockServer;
use serde_json::{Value, json};

const ID: &str = "bench/video/text-to-video";

fn document() -> Value {
    json!({
        "info": {"x-fal-metadata": {"endpointId": ID}},
        "components": {"schemas": {
            "In": {"type": "object", "required": ["prompt"], "properties": {"prompt": {"type": "string", "minLength": 1}}},
            "Out": {"type": "object", "required": ["video"], "properties": {
                "video": {"$ref": "#/components/schemas/File", "examples": [{"url": "https://example.com/v.mp4"}]}}},
            "File": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}}
        }},
        "paths": {
            "/bench/video/text-to-video": {"post": {"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/In"}}}}}},
            "/bench/video/text-to-video/requests/{request_id}": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Out"}}}}}}}
        }
    })
}

/// Peak resident memory of this process in KiB (Linux), if known.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn main() {
    let n: usize = std::env::var("SUBSCRIBES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let server = MockServer::builder()
            .document(document())
            .unwrap()
            .stream_interval(Duration::from_millis(50))
            .start()
            .await
            .unwrap();
        let client = server
            .client_builder()
            .retry(RetryPolicy::default().initial_backoff(Duration::from_millis(50)))
            .build()
            .unwrap();
        let before = peak_rss_kib();
        let started = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let client = client.clone();
                tokio::spawn(async move {
                    client
                        .subscribe_json(ID, json!({ "prompt": format!("cat {i}") }))
                        .timeout(Duration::from_secs(120))
                        .await
                })
            })
            .collect();
        let mut ok = 0usize;
        let mut errors = std::collections::BTreeMap::<String, usize>::new();
        for t in tasks {
            match t.await.unwrap() {
                Ok(out) if out["video"]["url"].is_string() => ok += 1,
                Ok(other) => {
                    *errors
                        .entry(format!("unexpected output {other}"))
                        .or_default() += 1
                }
                Err(e) => {
                    // The whole source chain: what the transport saw.
                    let mut text = e.to_string();
                    let mut source = std::error::Error::source(&e);
                    while let Some(s) = source {
                        text.push_str(&format!(" <- {s}"));
                        source = s.source();
                    }
                    *errors.entry(text).or_default() += 1
                }
            }
        }
        let elapsed = started.elapsed();
        println!("concurrent subscribes: {n}");
        println!("succeeded: {ok}/{n}");
        for (e, count) in &errors {
            println!("  failed ({count}x): {e}");
        }
        println!(
            "wall time: {:.2?} ({:.0} subscribes/s)",
            elapsed,
            n as f64 / elapsed.as_secs_f64()
        );
        println!(
            "peak memory (VmHWM, client + mock in one process): {} MiB (before: {} MiB)",
            peak_rss_kib().unwrap_or(0) / 1024,
            before.unwrap_or(0) / 1024
        );
        println!(
            "TCP connections accepted by the mock: {}",
            server.connection_count()
        );
        println!("jobs created: {}", server.job_count());
    });
}
