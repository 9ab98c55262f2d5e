//! tracing: spans name the operation, endpoint and request id; failed attempts and retries are
//! events; the key, a temporary token and secret inputs appear in no span or event, whatever
//! the server echoes. Captured with a real `tracing-subscriber` formatter at TRACE.

mod client_common;
mod storage_fake;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use client_common::{ECHO_ID, echo_mock};
use fal_models::client::{RunOptions, TemporaryToken};
use fal_models::error::Operation;
use fal_models::mock::Fault;
use serde_json::json;

const MARKER_KEY: &str = "marker-key-5c1e7";
const MARKER_SECRET: &str = "sk-marker-secret-91b2";
const MARKER_TOKEN: &str = "marker-token-0d4a";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test(flavor = "current_thread")]
async fn spans_and_events_name_the_request_and_never_the_secrets() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let server = echo_mock().require_key(MARKER_KEY).start().await.unwrap();
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let input = json!({"prompt": "a cat", "api_key": MARKER_SECRET});

    // A retried ingress error on subscribe's submit, then a server that echoes the key and the
    // secret input in a failed stream.
    server.inject(Operation::Submit, Fault::IngressError(503));
    let key_echo = format!("{{\"detail\": \"overloaded; your header was Key {MARKER_KEY}\"}}");
    server.inject(
        Operation::Result,
        Fault::Respond {
            status: 503,
            headers: vec![("x-echo".into(), MARKER_KEY.into())],
            body: key_echo,
        },
    );
    let out = client.subscribe_json(ECHO_ID, input.clone()).await.unwrap();
    assert_eq!(out["seed"], 42);
    let echo = format!("{{\"detail\": \"bad key Key {MARKER_KEY} for input {MARKER_SECRET}\"}}");
    server.inject(
        Operation::Stream,
        Fault::Respond {
            status: 503,
            headers: vec![("x-echo".into(), MARKER_KEY.into())],
            body: echo,
        },
    );
    let _ = client
        .stream_json(ECHO_ID, input.clone())
        .output()
        .await
        .unwrap_err();
    let run = client
        .run_json_with(ECHO_ID, &input, &RunOptions::new())
        .await
        .unwrap();
    let run_id = run.request_id.unwrap();
    let token = client
        .mint_token(&[ECHO_ID], Duration::from_secs(30))
        .await
        .unwrap();
    let with_token = fal_models::Client::builder()
        .temporary_token(TemporaryToken::new(MARKER_TOKEN))
        .run_url(server.run_url())
        .build()
        .unwrap();
    let _ = with_token
        .stream_json(ECHO_ID, json!({"prompt": "x"}))
        .output()
        .await
        .unwrap_err();
    drop(_guard);

    let log = captured.text();
    // Spans carry the operation, the endpoint and the request id.
    assert!(log.contains("fal.subscribe"), "{log}");
    assert!(log.contains(&format!("endpoint_id={ECHO_ID}")), "{log}");
    assert!(
        log.contains("op=submit") && log.contains("op=result") && log.contains("op=stream"),
        "{log}"
    );
    assert!(
        log.contains(&run_id),
        "the run's request id is logged: {log}"
    );
    assert_eq!(
        server.count(Operation::Result),
        2,
        "the result read was retried once"
    );
    assert!(log.contains("request_id="), "{log}");
    // Failed attempts: the retried ingress error and the stream that gave up.
    assert!(log.contains("attempt failed; retrying"), "{log}");
    assert!(
        log.contains("HTTP 503: overloaded; your header was"),
        "the echoed answer is logged, scrubbed: {log}"
    );
    // The stream's 503 is not resent (a paid call, no nginx page): its one attempt is logged
    // as the last, inside the stream's span.
    assert!(
        log.lines().any(|l| l.contains("op=stream")
            && l.contains("giving_up=true")
            && l.contains("HTTP 503")),
        "the stream that gave up is logged with giving_up=true: {log}"
    );
    // Never the secrets, in any form the server echoed them.
    for secret in [MARKER_KEY, MARKER_SECRET, MARKER_TOKEN, token.expose()] {
        assert!(
            !log.contains(secret),
            "{secret} leaked into the log:\n{log}"
        );
    }
}

/// A file server for one download: a 503 (with `Retry-After: 0`), then the body cut short
/// after `CUT` bytes, then, to a `Range: bytes=CUT-` request, the rest as a 206. Every answer
/// closes its connection. Returns the URL (with a signature in its query) and the ranges seen.
/// Its answers carry an `ETag`: a resume needs a validator.
async fn flaky_file_server() -> (String, Arc<Mutex<Vec<String>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/files/out.bin?signature={MARKER_SIGNATURE}",
        listener.local_addr().unwrap()
    );
    let ranges: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = ranges.clone();
    tokio::spawn(async move {
        for n in 0.. {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut head = vec![0u8; 4096];
            let len = sock.read(&mut head).await.unwrap();
            let head = String::from_utf8_lossy(&head[..len]).to_lowercase();
            let range = head
                .lines()
                .find_map(|l| l.strip_prefix("range: "))
                .map(|r| r.trim().to_owned());
            seen.lock().unwrap().push(range.clone().unwrap_or_default());
            let body = file_body();
            let answer: Vec<u8> = match (n, range) {
                (0, _) => b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec(),
                (_, None) => {
                    let mut a = format!("HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nETag: \"v1\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()).into_bytes();
                    a.extend_from_slice(&body[..CUT]);
                    a
                }
                (_, Some(_)) => {
                    let mut a = format!("HTTP/1.1 206 Partial Content\r\nContent-Type: application/octet-stream\r\nETag: \"v1\"\r\nContent-Range: bytes {CUT}-{}/{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len() - 1, body.len(), body.len() - CUT).into_bytes();
                    a.extend_from_slice(&body[CUT..]);
                    a
                }
            };
            let _ = sock.write_all(&answer).await;
            let _ = sock.shutdown().await;
        }
    });
    (url, ranges)
}

const CUT: usize = 400;
const MARKER_SIGNATURE: &str = "marker-signature-a81f";

fn file_body() -> Vec<u8> {
    (0..1000u32).map(|i| (i % 251) as u8).collect()
}

fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

#[tokio::test(flavor = "current_thread")]
async fn uploads_log_start_retries_and_finish_with_sizes_never_the_key_or_token() {
    use fal_models::storage::{Storage, UploadOptions};
    let (captured, guard) = capture();
    let fake = storage_fake::start().await;
    {
        let mut state = fake.state.lock().unwrap();
        state.fail_token = 1; // the token service is busy once
        state.fail_part.insert(2, 1); // part 2 fails once
    }
    let storage = Storage::builder()
        .key(storage_fake::KEY)
        .rest_base_url(&fake.url)
        .retry_backoff(Duration::from_millis(1))
        .multipart_threshold(2048)
        .part_size(1024)
        .build()
        .unwrap();
    let options = UploadOptions::new().file_name("cat.png");
    storage
        .upload_bytes(storage_fake::data(1500), &options)
        .await
        .unwrap();
    storage
        .upload_bytes(storage_fake::data(3000), &options)
        .await
        .unwrap();
    drop(guard);

    let log = captured.text();
    let lines = |needle: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.contains(needle))
            .map(str::to_owned)
            .collect()
    };
    let started = lines("upload: started");
    assert_eq!(started.len(), 2, "{log}");
    assert!(
        started[0].contains("mode=\"single\"") && started[0].contains("size=1500"),
        "{log}"
    );
    assert!(started[1].contains("mode=\"multipart\""), "{log}");
    let finished = lines("upload: finished");
    assert_eq!(finished.len(), 2, "{log}");
    assert!(
        finished[0].contains("size=1500") && finished[0].contains("attempts=2"),
        "the busy token service cost the single upload one attempt: {log}"
    );
    assert!(
        finished[1].contains("size=3000") && finished[1].contains("parts=3"),
        "the multipart span records what was sent: {log}"
    );
    let token_retry = lines("storage: token request failed; retrying");
    assert_eq!(token_retry.len(), 1, "{log}");
    assert!(
        token_retry[0].contains("HTTP 503") || token_retry[0].contains("503"),
        "{log}"
    );
    let part_retry = lines("storage: attempt failed; retrying");
    assert_eq!(part_retry.len(), 1, "{log}");
    assert!(part_retry[0].contains("part 2"), "{log}");
    let tokens: Vec<String> = fake
        .state
        .lock()
        .unwrap()
        .valid_tokens
        .iter()
        .cloned()
        .collect();
    assert!(!tokens.is_empty());
    for secret in tokens
        .iter()
        .map(String::as_str)
        .chain([storage_fake::KEY, "key-secret-do-not-print"])
    {
        assert!(
            !log.contains(secret),
            "{secret} leaked into the log:\n{log}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn downloads_log_retries_and_the_range_resume_never_the_signature() {
    let (captured, guard) = capture();
    let (url, ranges) = flaky_file_server().await;
    let mut out = Vec::new();
    let done = fal_models::files::download_to_writer(
        &reqwest::Client::new(),
        &url,
        &mut out,
        &fal_models::files::DownloadOptions::new().max_retries(3),
    )
    .await
    .unwrap();
    drop(guard);
    assert_eq!(out, file_body());
    assert_eq!(done.bytes, 1000);
    assert_eq!(
        *ranges.lock().unwrap(),
        ["", "", &format!("bytes={CUT}-")],
        "a 503, a cut body, then a resume"
    );

    let log = captured.text();
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count("download: attempt failed; retrying"), 2, "{log}");
    assert!(log.contains("503"), "{log}");
    assert!(
        log.contains(&format!("received={CUT}")),
        "the cut is logged: {log}"
    );
    assert_eq!(count("download: resuming with Range"), 1, "{log}");
    assert!(log.contains(&format!("from_byte={CUT}")), "{log}");
    assert_eq!(count("download: finished"), 1, "{log}");
    assert!(
        log.contains("bytes=1000") && log.contains("size=1000"),
        "{log}"
    );
    assert!(log.contains("path=\"/files/out.bin\""), "{log}");
    assert!(
        !log.contains(MARKER_SIGNATURE),
        "the signed query leaked into the log:\n{log}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn realtime_reconnects_are_logged_without_the_token() {
    use fal_models::client::realtime::{RealtimeOptions, Reconnect};
    let (captured, guard) = capture();
    let server = echo_mock().start().await.unwrap();
    let realtime = server.start_realtime().await.unwrap();
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let options = RealtimeOptions::default()
        .base_url(realtime.url())
        .reconnect(
            Reconnect::default()
                .max_attempts(3)
                .backoff(Duration::from_millis(5), Duration::from_millis(20)),
        );
    let session = client.realtime_with(ECHO_ID, options).await.unwrap();
    server.expire_tokens(); // the first attempt is refused, the second mints a new token
    realtime.drop_sessions();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while session.reconnects() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "no reconnect");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    session.close().await.unwrap();
    drop(guard);

    let log = captured.text();
    let count = |needle: &str| log.lines().filter(|l| l.contains(needle)).count();
    assert_eq!(count("realtime: connection lost; reconnecting"), 1, "{log}");
    assert_eq!(count("realtime: reconnect attempt failed"), 1, "{log}");
    assert!(log.contains("401"), "the refusal is logged: {log}");
    assert_eq!(count("realtime: reconnected"), 1, "{log}");
    assert_eq!(server.tokens_minted(), 2);
    assert!(!log.contains("mock-key"), "{log}");
    assert!(!log.contains("fal_jwt_token="), "{log}");
    assert!(!log.contains(".mock-"), "a minted token leaked: {log}");
}
