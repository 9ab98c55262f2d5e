//! The fault matrix: every operation × every fault, over real loopback HTTP.
//!
//! Queue operations run against the mock server (its injected faults); storage uploads,
//! downloads and the webhook key fetch run behind `fault_proxy`, a raw TCP proxy that injects
//! the same faults in front of a real server. Every fault hits the operation's first exchange
//! once; the client then does what its rules say. Each cell asserts
//! - the outcome (success or the typed error) against the rules below,
//! - that the request id is reachable (from the handle, or from the error),
//! - how many jobs the server created (never more than one), and
//! - that the cell ended within its bound.
//!
//! The rules, as the client implements them (`ok` = the operation succeeded):
//!
//! | operation \ fault | reset before | reset after | 429 + Retry-After | 429 + Retry-After + request id | 500 | 503 nginx page | 502 nginx page | 503 behind ingress | 504 start deadline | truncated | malformed | slow | never answers |
//! |---|---|---|---|---|---|---|---|---|---|---|---|---|---|
//! | submit            | ambiguous (0 jobs) | ambiguous (1 job) | ok | ok | api 500 | ok | ambiguous | ambiguous + id (1 job) | start-deadline | ok (id salvaged) or ambiguous-accepted | decode | ok | ambiguous (0 jobs) |
//! | run               | ambiguous | ambiguous (1 run) | ok | ok | api 500 | ok | ambiguous | ambiguous + id (1 run) | start-deadline | ambiguous-accepted (1 run) | decode | ok | ambiguous |
//! | status, result, cancel | ok | ok | ok | ok | api 500 | ok | ok | ok | start-deadline | ok | decode | ok | ok |
//! | status stream     | ok | ok | ok | ok | api 500 | ok | ok | ok | start-deadline | stream ended | stream ended | ok | ok |
//! | subscribe (stream)| ok | ok | ok | ok | api 500 | ok | ok | ok | start-deadline | ok | ok | ok | ok |
//! | subscribe (poll)  | ok | ok | ok | ok | api 500 | ok | ok | ok | start-deadline | ok | decode | ok | ok |
//! | upload single / multipart | ok | ok | ok | ok | ok | ok | ok | ok | ok | ok | storage response error | ok | ok |
//! | download          | ok | ok | ok | ok | ok | ok | ok | ok | ok | ok (Range + If-Range resume, or start over) | size mismatch | ok | ok |
//! | webhook key fetch | jwks fetch error | jwks fetch error | jwks fetch error | jwks fetch error | jwks fetch error | jwks fetch error | jwks fetch error | jwks fetch error | jwks fetch error | jwks fetch error | invalid jwks | ok | jwks fetch error |
//!
//! nginx's `502` page proves nothing about a paid call (nginx sends it after forwarding too);
//! its `503` page without a request id is what its limits refuse with before forwarding. A
//! `429` is retried with or without a request id, after `Retry-After`.
//!
//! "ambiguous" is `Error::AmbiguousSubmit`: the submit may have reached fal's app and is not
//! replayed. The webhook key fetch is not retried within one verification (the next one
//! fetches again); every other read is. The test prints the table it observed.

mod client_common;
mod fault_proxy;
mod storage_fake;

use std::sync::Arc;
use std::time::{Duration, Instant};

use client_common::{EchoInput, echo_mock};
use fal_models::Error;
use fal_models::client::{Client, RetryPolicy};
use fal_models::error::{Operation, TimeoutKind};
use fal_models::mock::{Fault, MockServer};
use fault_proxy::{Action, FaultProxy};

/// The response-head and idle bound of every client in the matrix: far above what a loaded
/// loopback needs, and only "never answers" cells wait for it.
const HEAD: Duration = Duration::from_secs(3);
/// What any cell may take: a few bounds and retries.
const CELL_BOUND: Duration = Duration::from_secs(20);
/// How many cells run at once.
const CELLS_AT_ONCE: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq)]
enum F {
    ResetBefore,
    ResetAfter,
    TooMany,
    TooManyWithId,
    E500,
    Ingress,
    Nginx502,
    Behind,
    StartDeadline,
    Truncated,
    Malformed,
    Slow,
    Never,
}

const FAULTS: [F; 13] = [
    F::ResetBefore,
    F::ResetAfter,
    F::TooMany,
    F::TooManyWithId,
    F::E500,
    F::Ingress,
    F::Nginx502,
    F::Behind,
    F::StartDeadline,
    F::Truncated,
    F::Malformed,
    F::Slow,
    F::Never,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Submit,
    Run,
    Status,
    Result,
    Cancel,
    Stream,
    SubscribeStream,
    SubscribePoll,
    UploadSingle,
    UploadMultipart,
    Download,
    KeyFetch,
}

const OPS: [Op; 12] = [
    Op::Submit,
    Op::Run,
    Op::Status,
    Op::Result,
    Op::Cancel,
    Op::Stream,
    Op::SubscribeStream,
    Op::SubscribePoll,
    Op::UploadSingle,
    Op::UploadMultipart,
    Op::Download,
    Op::KeyFetch,
];

/// nginx's own 502 page (`ngx_http_special_response`), no request id.
const NGINX_502: &str = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n\
     <center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

fn mock_fault(f: F) -> Fault {
    match f {
        F::ResetBefore => Fault::Reset,
        F::ResetAfter => Fault::ResetAfterHandling,
        F::TooMany => Fault::TooManyRequests {
            retry_after_secs: 1,
        },
        F::TooManyWithId => Fault::Respond {
            status: 429,
            headers: vec![
                ("retry-after".into(), "1".into()),
                ("x-fal-request-id".into(), "req-rate-limited".into()),
            ],
            body: r#"{"detail":"Too many requests"}"#.into(),
        },
        F::E500 => Fault::ServerError(500),
        F::Ingress => Fault::IngressError(503),
        F::Nginx502 => Fault::Respond {
            status: 502,
            headers: vec![("content-type".into(), "text/html".into())],
            body: NGINX_502.into(),
        },
        F::Behind => Fault::ForwardThenFail(503),
        F::StartDeadline => Fault::StartDeadline,
        F::Truncated => Fault::TruncatedBody,
        F::Malformed => Fault::MalformedBody,
        F::Slow => Fault::SlowBody(Duration::from_millis(300)),
        F::Never => Fault::NeverAnswer,
    }
}

fn proxy_action(f: F) -> Action {
    let h = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    match f {
        F::ResetBefore => Action::ResetBefore,
        F::ResetAfter => Action::ResetAfter,
        F::TooMany => Action::Respond(
            429,
            vec![h("retry-after", "1")],
            r#"{"detail":"Too many requests"}"#.into(),
        ),
        F::TooManyWithId => Action::Respond(
            429,
            vec![
                h("retry-after", "1"),
                h("x-fal-request-id", "req-rate-limited"),
            ],
            r#"{"detail":"Too many requests"}"#.into(),
        ),
        F::Nginx502 => Action::Respond(502, vec![h("content-type", "text/html")], NGINX_502.into()),
        F::E500 => Action::Respond(500, vec![], r#"{"detail":"internal"}"#.into()),
        F::Ingress => Action::Respond(
            503,
            vec![h("content-type", "text/html")],
            "<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n\
             <center><h1>503 Service Temporarily Unavailable</h1></center>\r\n\
             <hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
                .into(),
        ),
        F::Behind => Action::ForwardThenFail(503),
        F::StartDeadline => Action::Respond(
            504,
            vec![h("x-fal-request-timeout-type", "user")],
            r#"{"detail":"Request timed out before it started"}"#.into(),
        ),
        F::Truncated => Action::Truncate,
        F::Malformed => Action::Malformed,
        F::Slow => Action::Slow(Duration::from_millis(300)),
        F::Never => Action::Never,
    }
}

/// The rule: which outcome each cell must have.
fn expected(op: Op, f: F) -> &'static [&'static str] {
    use F::*;
    match op {
        Op::Submit => match f {
            ResetBefore | ResetAfter | Never | Behind | Nginx502 => &["ambiguous"],
            TooMany | TooManyWithId | Ingress | Slow => &["ok"],
            E500 => &["api 500"],
            StartDeadline => &["timeout StartDeadline"],
            Truncated => &["ok", "ambiguous-accepted"],
            Malformed => &["decode"],
        },
        Op::Run => match f {
            ResetBefore | ResetAfter | Never | Behind | Nginx502 => &["ambiguous"],
            TooMany | TooManyWithId | Ingress | Slow => &["ok"],
            E500 => &["api 500"],
            StartDeadline => &["timeout StartDeadline"],
            Truncated => &["ambiguous-accepted"],
            Malformed => &["decode"],
        },
        Op::Status | Op::Result | Op::Cancel | Op::SubscribePoll => match f {
            E500 => &["api 500"],
            StartDeadline => &["timeout StartDeadline"],
            Malformed => &["decode"],
            _ => &["ok"],
        },
        Op::Stream => match f {
            E500 => &["api 500"],
            StartDeadline => &["timeout StartDeadline"],
            Truncated | Malformed => &["stream ended", "transport"],
            _ => &["ok"],
        },
        Op::SubscribeStream => match f {
            E500 => &["api 500"],
            StartDeadline => &["timeout StartDeadline"],
            _ => &["ok"],
        },
        Op::UploadSingle | Op::UploadMultipart => match f {
            Malformed => &["storage response"],
            _ => &["ok"],
        },
        Op::Download => match f {
            Malformed => &["size mismatch"],
            _ => &["ok"],
        },
        Op::KeyFetch => match f {
            Slow => &["ok"],
            Malformed => &["invalid jwks"],
            _ => &["jwks fetch"],
        },
    }
}

/// What one cell observed.
#[derive(Debug)]
struct Cell {
    op: Op,
    fault: F,
    outcome: String,
    /// The request id was reachable (from the handle or the error), where one existed.
    id_ok: bool,
    /// Jobs (queue jobs + sync runs) the server created; for storage, objects stored.
    jobs: u64,
    elapsed: Duration,
}

fn classify<T>(r: &Result<T, Error>) -> String {
    match r {
        Ok(_) => "ok".into(),
        Err(Error::AmbiguousSubmit { accepted: true, .. }) => "ambiguous-accepted".into(),
        Err(Error::AmbiguousSubmit { .. }) => "ambiguous".into(),
        Err(Error::Api(api)) => format!("api {}", api.status),
        Err(Error::Timeout { kind, .. }) => format!("timeout {kind:?}"),
        Err(Error::Decode { .. }) => "decode".into(),
        Err(Error::StreamEnded { .. }) => "stream ended".into(),
        Err(Error::Transport { .. }) => "transport".into(),
        Err(e) => format!("other: {e}"),
    }
}

fn matrix_client(server: &MockServer) -> Client {
    server
        .client_builder()
        .retry(
            RetryPolicy::default()
                .max_retries(2)
                .initial_backoff(Duration::from_millis(20))
                .jitter(true),
        )
        .response_head_timeout(Some(HEAD))
        .idle_timeout(Some(HEAD))
        .run_timeout(Some(HEAD))
        .stream_idle_timeout(Some(HEAD))
        .request_timeout(Some(Duration::from_secs(10)))
        .build()
        .unwrap()
}

async fn queue_cell(op: Op, f: F) -> Cell {
    // Result needs a completed job; cancel an uncompleted one.
    let steps = if op == Op::Result { 0 } else { 1 };
    let server = echo_mock()
        .queue_steps(steps)
        .progress_steps(steps)
        .start()
        .await
        .unwrap();
    let client = matrix_client(&server);
    let fault = mock_fault(f);
    let started = Instant::now();
    let (outcome, id_ok) = match op {
        Op::Submit => {
            server.inject(Operation::Submit, fault);
            let r = client.submit(&EchoInput::new("x")).await;
            let id_ok = match &r {
                Ok(h) => server.is_cancelled(h.request_id()).is_some(),
                // When the answer carried the id, the error must carry it.
                Err(e) if f == F::Behind => e.request_id().is_some(),
                Err(_) => true,
            };
            (classify(&r), id_ok)
        }
        Op::Run => {
            server.inject(Operation::Run, fault);
            let r = client.run(&EchoInput::new("x")).await;
            let id_ok = match &r {
                Err(e) if f == F::Behind => e.request_id().is_some(),
                _ => true,
            };
            (classify(&r), id_ok)
        }
        _ => {
            // The setup submit is not under test: a client with the default bounds, so a
            // loaded machine cannot fail the cell before its fault is injected.
            let handle = server
                .client()
                .submit(&EchoInput::new("x"))
                .await
                .expect("the fault-free setup submit");
            let id = handle.request_id().to_owned();
            let target = match op {
                Op::Status | Op::SubscribePoll => Operation::Status,
                Op::Result => Operation::Result,
                Op::Cancel => Operation::Cancel,
                _ => Operation::StatusStream,
            };
            server.inject(target, fault);
            let r: Result<(), Error> = match op {
                Op::Status => client.status(&handle, true).await.map(drop),
                Op::Result => client.result(&handle).await.map(drop),
                Op::Cancel => match client.cancel(&handle).await {
                    // The cancel did cancel: it must say so.
                    Ok(outcome) => {
                        let cancelled = server.is_cancelled(&id) == Some(true);
                        if outcome != fal_models::client::CancelOutcome::Requested || !cancelled {
                            return Cell {
                                op,
                                fault: f,
                                outcome: format!("wrong: {outcome:?}, cancelled {cancelled}"),
                                id_ok: true,
                                jobs: server.job_count() as u64,
                                elapsed: started.elapsed(),
                            };
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                },
                Op::Stream => {
                    use futures::StreamExt;
                    let mut stream = client.status_stream(&handle, true);
                    let mut last = Ok(());
                    while let Some(item) = stream.next().await {
                        if let Err(e) = item {
                            last = Err(e);
                            break;
                        }
                    }
                    last
                }
                Op::SubscribeStream => client
                    .wait(&handle, fal_models::client::SubscribeOptions::new())
                    .await
                    .map(drop),
                Op::SubscribePoll => client
                    .wait(
                        &handle,
                        fal_models::client::SubscribeOptions::new().poll(Duration::from_millis(20)),
                    )
                    .await
                    .map(drop),
                _ => unreachable!(),
            };
            let id_ok = match &r {
                Ok(()) => true,
                Err(e) => e.request_id() == Some(id.as_str()),
            };
            (classify(&r), id_ok)
        }
    };
    Cell {
        op,
        fault: f,
        outcome,
        id_ok,
        jobs: server.job_count() as u64 + server.run_count(),
        elapsed: started.elapsed(),
    }
}

async fn storage_cell(op: Op, f: F) -> Cell {
    let fake = storage_fake::start().await;
    let upstream = fake.url.trim_start_matches("http://").to_owned();
    let multipart = op == Op::UploadMultipart;
    let action = proxy_action(f);
    let faulted = std::sync::atomic::AtomicBool::new(false);
    let proxy = FaultProxy::start(upstream, move |_, seen| {
        let target = if multipart {
            seen.method == "PUT"
        } else {
            seen.path.starts_with("/files/upload")
        };
        if target && !faulted.swap(true, std::sync::atomic::Ordering::SeqCst) {
            action.clone()
        } else {
            Action::Forward
        }
    })
    .await;
    // The upload URLs the fake hands out point at the proxy too, so parts pass through it.
    fake.state.lock().unwrap().base = proxy.url.clone();
    let bounds = fal_models::client::Bounds::default()
        .response_head(Some(HEAD))
        .idle(Some(HEAD))
        .total(Some(Duration::from_secs(10)));
    let storage = fal_models::storage::Storage::builder()
        .key(storage_fake::KEY)
        .rest_base_url(proxy.url.clone())
        .upload_base_url(proxy.url.clone())
        .multipart_threshold(if multipart { 1000 } else { 1 << 20 })
        .part_size(1000)
        .retry_backoff(Duration::from_millis(20))
        .bounds(bounds)
        .build()
        .unwrap();
    let data = storage_fake::data(if multipart { 2500 } else { 700 });
    let started = Instant::now();
    let r = storage
        .upload_bytes(data.clone(), &fal_models::storage::UploadOptions::new())
        .await;
    let elapsed = started.elapsed();
    let outcome = match &r {
        Ok(url) => {
            // The object behind the URL holds exactly the bytes.
            let state = fake.state.lock().unwrap();
            let object = state
                .objects
                .iter()
                .find(|(id, _)| url.contains(id.as_str()))
                .map(|(_, o)| o.data.clone());
            assert_eq!(object.as_deref(), Some(&data[..]), "{op:?} {f:?}: {url}");
            "ok".to_owned()
        }
        Err(fal_models::storage::StorageError::Response { .. }) => "storage response".into(),
        Err(fal_models::storage::StorageError::Part { source, .. })
            if matches!(**source, fal_models::storage::StorageError::Response { .. }) =>
        {
            "storage response".into()
        }
        Err(e) => format!("other: {e}"),
    };
    let jobs = fake.state.lock().unwrap().objects.len() as u64;
    Cell {
        op,
        fault: f,
        outcome,
        id_ok: true,
        jobs,
        elapsed,
    }
}

/// A file server that honours `Range: bytes=N-`.
async fn file_server(data: Vec<u8>) -> String {
    use axum::http::{HeaderMap, StatusCode, header};
    use axum::response::IntoResponse;
    let app = axum::Router::new().route(
        "/out.bin",
        axum::routing::get(move |headers: HeaderMap| {
            let data = data.clone();
            async move {
                let from = headers
                    .get(header::RANGE)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("bytes="))
                    .and_then(|v| v.trim_end_matches('-').parse::<usize>().ok());
                match from {
                    Some(from) if from < data.len() => (
                        StatusCode::PARTIAL_CONTENT,
                        [
                            (header::CONTENT_TYPE, "video/mp4".to_owned()),
                            (
                                header::CONTENT_RANGE,
                                format!("bytes {from}-{}/{}", data.len() - 1, data.len()),
                            ),
                        ],
                        data[from..].to_vec(),
                    )
                        .into_response(),
                    _ => (
                        StatusCode::OK,
                        [
                            (header::CONTENT_TYPE, "video/mp4".to_owned()),
                            (header::ACCEPT_RANGES, "bytes".to_owned()),
                        ],
                        data,
                    )
                        .into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn download_cell(f: F) -> Cell {
    let data = storage_fake::data(64 * 1024);
    let upstream = file_server(data.clone()).await;
    let action = proxy_action(f);
    let proxy = FaultProxy::start(upstream, move |n, _| {
        if n == 0 {
            action.clone()
        } else {
            Action::Forward
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.bin");
    let options = fal_models::files::DownloadOptions::new()
        .size(data.len() as u64)
        .bounds(
            fal_models::client::Bounds::default()
                .response_head(Some(HEAD))
                .idle(Some(HEAD))
                .total(None),
        );
    let started = Instant::now();
    let r = fal_models::files::download_to_path(
        &reqwest::Client::new(),
        &format!("{}/out.bin", proxy.url),
        &path,
        &options,
    )
    .await;
    let elapsed = started.elapsed();
    let outcome = match &r {
        Ok(_) => {
            assert_eq!(std::fs::read(&path).unwrap(), data, "{f:?}: exact bytes");
            "ok".into()
        }
        Err(fal_models::files::FilesError::SizeMismatch { .. }) => "size mismatch".into(),
        Err(e) => format!("other: {e}"),
    };
    Cell {
        op: Op::Download,
        fault: f,
        outcome,
        id_ok: true,
        jobs: 0,
        elapsed,
    }
}

async fn key_fetch_cell(f: F) -> Cell {
    use ed25519_dalek::{Signer, SigningKey};
    let signing = SigningKey::from_bytes(&[7u8; 32]);
    let x = base64_url(signing.verifying_key().as_bytes());
    let jwks = format!(r#"{{"keys":[{{"kty":"OKP","crv":"Ed25519","x":"{x}"}}]}}"#);
    let app = axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let jwks = jwks.clone();
            async move { ([("content-type", "application/json")], jwks) }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let action = proxy_action(f);
    let proxy = FaultProxy::start(upstream, move |n, _| {
        if n == 0 {
            action.clone()
        } else {
            Action::Forward
        }
    })
    .await;
    let verifier = fal_models::webhook::Verifier::builder()
        .jwks_url(format!("{}/jwks.json", proxy.url))
        .bounds(
            fal_models::client::Bounds::default()
                .response_head(Some(HEAD))
                .idle(Some(HEAD))
                .total(Some(Duration::from_secs(10))),
        )
        .build()
        .unwrap();
    let body = br#"{"request_id":"r-1","status":"OK","payload":{}}"#;
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let message = fal_models::webhook::signed_message("r-1", "u-1", &ts, body);
    let signature = hex_encode(&signing.sign(message.as_bytes()).to_bytes());
    let mut headers = http::HeaderMap::new();
    headers.insert("x-fal-webhook-request-id", "r-1".parse().unwrap());
    headers.insert("x-fal-webhook-user-id", "u-1".parse().unwrap());
    headers.insert("x-fal-webhook-timestamp", ts.parse().unwrap());
    headers.insert("x-fal-webhook-signature", signature.parse().unwrap());
    let started = Instant::now();
    let r = verifier.verify(&headers, body).await;
    let elapsed = started.elapsed();
    let outcome = match &r {
        Ok(_) => "ok".into(),
        Err(fal_models::webhook::WebhookError::JwksFetch { .. }) => "jwks fetch".into(),
        Err(fal_models::webhook::WebhookError::InvalidJwks { .. }) => "invalid jwks".into(),
        Err(e) => format!("other: {e}"),
    };
    // A failed fetch is remembered briefly (for a second: concurrent verifications share it),
    // then the next verification fetches again and succeeds.
    if let Err(first) = &r {
        let again = verifier.verify(&headers, body).await;
        assert!(
            matches!(&again, Err(e) if e.to_string() == first.to_string()),
            "{f:?}: within the negative cache the failure is shared: {again:?}"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        verifier.verify(&headers, body).await.unwrap();
    }
    Cell {
        op: Op::KeyFetch,
        fault: f,
        outcome,
        id_ok: true,
        jobs: 0,
        elapsed,
    }
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn run_cell(op: Op, f: F) -> Cell {
    match op {
        Op::UploadSingle | Op::UploadMultipart => storage_cell(op, f).await,
        Op::Download => download_cell(f).await,
        Op::KeyFetch => key_fetch_cell(f).await,
        _ => queue_cell(op, f).await,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_under_every_fault_ends_as_the_rules_say() {
    let started = Instant::now();
    // A few cells at a time: each cell's elapsed time (checked against `CELL_BOUND` and
    // `Retry-After`) is measured from its own start, and 132 cells at once on 2 threads would
    // make the bounds measure the queue for the CPU rather than the client.
    let limit = Arc::new(tokio::sync::Semaphore::new(CELLS_AT_ONCE));
    let cells = futures::future::join_all(OPS.iter().flat_map(|&op| {
        let limit = limit.clone();
        FAULTS.iter().map(move |&f| {
            let limit = limit.clone();
            tokio::spawn(async move {
                let _permit = limit.acquire_owned().await.unwrap();
                run_cell(op, f).await
            })
        })
    }))
    .await;
    let cells: Vec<Cell> = cells.into_iter().map(|c| c.unwrap()).collect();
    let mut failures = Vec::new();
    println!("| operation | fault | outcome | id reachable | jobs | elapsed |");
    println!("|---|---|---|---|---|---|");
    for c in &cells {
        println!(
            "| {:?} | {:?} | {} | {} | {} | {:.2?} |",
            c.op, c.fault, c.outcome, c.id_ok, c.jobs, c.elapsed
        );
        let allowed = expected(c.op, c.fault);
        if !allowed.contains(&c.outcome.as_str()) {
            failures.push(format!(
                "{:?} × {:?}: {} (expected one of {allowed:?})",
                c.op, c.fault, c.outcome
            ));
        }
        if !c.id_ok {
            failures.push(format!(
                "{:?} × {:?}: the request id is not reachable",
                c.op, c.fault
            ));
        }
        let max_jobs = match c.op {
            Op::UploadSingle | Op::UploadMultipart => 2, // a retried upload may leave an orphan object
            Op::Download | Op::KeyFetch => 0,
            _ => 1,
        };
        if c.jobs > max_jobs {
            failures.push(format!("{:?} × {:?}: {} jobs", c.op, c.fault, c.jobs));
        }
        // `Retry-After: 1` is honoured wherever the 429 is retried.
        if matches!(c.fault, F::TooMany | F::TooManyWithId)
            && c.outcome == "ok"
            && c.elapsed < Duration::from_secs(1)
        {
            failures.push(format!(
                "{:?} × {:?}: retried after {:?}, before Retry-After",
                c.op, c.fault, c.elapsed
            ));
        }
        if c.elapsed > CELL_BOUND {
            failures.push(format!("{:?} × {:?}: took {:?}", c.op, c.fault, c.elapsed));
        }
    }
    println!("{} cells in {:.2?}", cells.len(), started.elapsed());
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn a_silent_server_ends_subscribe_and_wait_in_a_timeout_carrying_the_request_id() {
    let server = echo_mock().start().await.unwrap();
    let client = server
        .client_builder()
        .retry(RetryPolicy::none())
        .response_head_timeout(Some(HEAD))
        .build()
        .unwrap();
    let handle = client.submit(&EchoInput::new("x")).await.unwrap();
    // From now on every status request (stream or not) is accepted and never answered.
    server.inject_times(Operation::StatusStream, Fault::NeverAnswer, 100);
    server.inject_times(Operation::Status, Fault::NeverAnswer, 100);
    for options in [
        fal_models::client::SubscribeOptions::new(),
        fal_models::client::SubscribeOptions::new().poll(Duration::from_millis(20)),
    ] {
        let started = Instant::now();
        let err = client.wait(&handle, options).await.unwrap_err();
        let elapsed = started.elapsed();
        assert!(
            matches!(
                err,
                Error::Timeout {
                    kind: TimeoutKind::ResponseHead,
                    ..
                }
            ),
            "{err:?}"
        );
        assert_eq!(err.request_id(), Some(handle.request_id()));
        // Stream: one open + one status check; poll: one status attempt; each one bound long.
        assert!(elapsed >= HEAD, "{elapsed:?}");
        assert!(elapsed < CELL_BOUND, "{elapsed:?}");
    }
    assert_eq!(server.job_count(), 1);
}
