//! `subscribe` against the mock server versus the same request sequence done with raw reqwest
//! (submit, status stream until `COMPLETED`, result, typed decode): what the client's
//! conveniences (retry bookkeeping, progress tracking, typed errors) cost per call.
//!
//! ```text
//! cargo bench -p fal-models --bench subscribe
//! ```
//! Plain `harness = false` bench: interleaved rounds, median per-call time of each side. The
//! machine's other load shows up as noise: run it a few times.

use std::time::{Duration, Instant};

use fal_models::Endpoint;
use fal_models::mock::{MOCK_KEY, MockServer};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

const ID: &str = "bench/video/text-to-video";
const ROUNDS: usize = 31;
const CALLS_PER_ROUND: usize = 40;

#[derive(Serialize)]
struct Input {
    prompt: String,
}

#[derive(Deserialize)]
struct Output {
    video: File,
}

#[derive(Deserialize)]
struct File {
    url: String,
}

impl Endpoint for Input {
    const ENDPOINT_ID: &'static str = ID;
    type Output = Output;
}

#[derive(Deserialize)]
struct Submitted {
    status_url: String,
    response_url: String,
}

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

/// The same exchange by hand: what a user without the client would write.
async fn raw_subscribe(http: &reqwest::Client, queue_url: &str) -> Output {
    let auth = format!("Key {MOCK_KEY}");
    let submitted: Submitted = http
        .post(format!("{queue_url}/{ID}"))
        .header("authorization", &auth)
        .json(&Input {
            prompt: "a cat".into(),
        })
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = http
        .get(format!("{}/stream?logs=1", submitted.status_url))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    let mut body = response.bytes_stream();
    let mut buffer = Vec::new();
    'stream: while let Some(chunk) = body.next().await {
        buffer.extend_from_slice(&chunk.unwrap());
        while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
            let event: Vec<u8> = buffer.drain(..end + 2).collect();
            let data = String::from_utf8_lossy(&event);
            let data = data.trim().trim_start_matches("data:").trim();
            let status: Value = serde_json::from_str(data).unwrap();
            if status["status"] == "COMPLETED" {
                break 'stream;
            }
        }
    }
    http.get(&submitted.response_url)
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    // Multi-thread: as an application runs it. Current-thread: client and mock share one thread,
    // so scheduling noise drops out and the CPU cost per call shows.
    for (name, mut builder) in [
        (
            "multi-thread runtime",
            tokio::runtime::Builder::new_multi_thread(),
        ),
        (
            "current-thread runtime",
            tokio::runtime::Builder::new_current_thread(),
        ),
    ] {
        println!("== {name}");
        builder.enable_all().build().unwrap().block_on(measure());
    }
}

async fn measure() {
    {
        let server = MockServer::builder()
            .document(document())
            .unwrap()
            .queue_steps(1)
            .progress_steps(2)
            .stream_interval(Duration::ZERO)
            .start()
            .await
            .unwrap();
        let client = server.client();
        // Timers are part of the client's safety net; this variant shows what they cost.
        let untimed = server
            .client_builder()
            .request_timeout(None)
            .stream_idle_timeout(None)
            .build()
            .unwrap();
        let http = reqwest::Client::builder().use_rustls_tls().build().unwrap();
        let queue_url = server.queue_url();

        // Warm up both connection pools.
        for _ in 0..20 {
            client
                .subscribe(Input {
                    prompt: "a cat".into(),
                })
                .await
                .unwrap();
            raw_subscribe(&http, &queue_url).await;
            untimed
                .subscribe(Input {
                    prompt: "a cat".into(),
                })
                .await
                .unwrap();
        }

        let (mut ours, mut raw, mut ours_untimed) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            let started = Instant::now();
            for _ in 0..CALLS_PER_ROUND {
                let out = client
                    .subscribe(Input {
                        prompt: "a cat".into(),
                    })
                    .await
                    .unwrap();
                assert_eq!(out.video.url, "https://example.com/v.mp4");
            }
            ours.push(started.elapsed() / CALLS_PER_ROUND as u32);

            let started = Instant::now();
            for _ in 0..CALLS_PER_ROUND {
                let out = raw_subscribe(&http, &queue_url).await;
                assert_eq!(out.video.url, "https://example.com/v.mp4");
            }
            raw.push(started.elapsed() / CALLS_PER_ROUND as u32);

            let started = Instant::now();
            for _ in 0..CALLS_PER_ROUND {
                untimed
                    .subscribe(Input {
                        prompt: "a cat".into(),
                    })
                    .await
                    .unwrap();
            }
            ours_untimed.push(started.elapsed() / CALLS_PER_ROUND as u32);
        }
        let (ours, raw, ours_untimed) = (median(ours), median(raw), median(ours_untimed));
        println!(
            "subscribe (fal-models client): {ours:?} per call (median of {ROUNDS} rounds of {CALLS_PER_ROUND})"
        );
        println!("same sequence, raw reqwest:    {raw:?} per call");
        println!("client without request/idle timeouts: {ours_untimed:?} per call");
        println!(
            "ratio client / raw: {:.3}",
            ours.as_secs_f64() / raw.as_secs_f64()
        );
        println!(
            "ratio client without timeouts / raw: {:.3}",
            ours_untimed.as_secs_f64() / raw.as_secs_f64()
        );
    }
}
