//! One scrubbing rule for every path: a server echoes the marker key it received in every
//! encoding a probe tried (percent-encoded in either hex case, one character `\u`-escaped,
//! every character `\u`-escaped, and that escaped again inside a JSON string) in every place
//! (`x-fal-request-id`, other headers, `Content-Type`, 422 `loc`/`msg`/`type`, a job's
//! `error`/`error_type`, log lines, bodies that do not decode, a gateway's body), for every
//! operation. The key appears, decoded or not, in no error (`Display`, `Debug`, sources), no
//! progress event, no stream's `request_id()`, and no line a TRACE subscriber writes.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use fal_models::client::{Client, RetryPolicy, SubmitOptions, SubscribeOptions};
use futures::StreamExt;
use serde_json::json;

/// Quote and backslash: every encoding differs from the raw key.
const KEY: &str = r#"marker-KEY-"q\7731-zz"#;
/// A fragment that survives no encoding unchanged and is in no other text.
const CORE: &str = "7731-zz";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Enc {
    PercentLower,
    PercentUpper,
    OneEscaped,
    AllEscaped,
    /// Every character `\u`-escaped, then the whole JSON-escaped again (a body quoted in a
    /// JSON string).
    AllEscapedNested,
}

const ENCODINGS: [Enc; 5] = [
    Enc::PercentLower,
    Enc::PercentUpper,
    Enc::OneEscaped,
    Enc::AllEscaped,
    Enc::AllEscapedNested,
];

/// What the server answers.
const ERRORS: u8 = 0;
const COMPLETED_FAILED: u8 = 1;
const GARBLED: u8 = 2;
const GATEWAY: u8 = 3;

/// The key as it appears inside a JSON string literal (the bytes between the quotes).
fn in_json(key: &str, enc: Enc) -> String {
    let escape_all =
        |s: &str| -> String { s.chars().map(|c| format!("\\u{:04x}", c as u32)).collect() };
    let plain = |s: &str| {
        let j = serde_json::to_string(s).unwrap();
        j[1..j.len() - 1].to_owned()
    };
    match enc {
        Enc::PercentLower | Enc::PercentUpper => plain(&percent(key, enc == Enc::PercentLower)),
        // The `K`: the rest is JSON-escaped as usual.
        Enc::OneEscaped => {
            let i = key.find('K').unwrap();
            format!("{}\\u004B{}", plain(&key[..i]), plain(&key[i + 1..]))
        }
        Enc::AllEscaped => escape_all(key),
        Enc::AllEscapedNested => plain(&escape_all(key)),
    }
}

/// The key as a header value can carry it.
fn in_header(key: &str, enc: Enc) -> String {
    match enc {
        Enc::PercentLower | Enc::PercentUpper => percent(key, enc == Enc::PercentLower),
        _ => in_json(key, enc),
    }
}

fn percent(s: &str, lower: bool) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else if lower {
                format!("%{b:02x}")
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Undoes every encoding the server used, so a leak is found whatever its form.
fn decoded(text: &str) -> String {
    let mut text = text.to_owned();
    for _ in 0..4 {
        // Percent-decoding, either case.
        let bytes = text.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                if let Some(b) = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
                {
                    out.push(b);
                    i += 3;
                    continue;
                }
            }
            out.push(bytes[i]);
            i += 1;
        }
        let s = String::from_utf8_lossy(&out).into_owned();
        // One level of JSON (and Rust Debug) escapes.
        let mut out = String::with_capacity(s.len());
        let mut chars = s.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.peek().copied() {
                Some('u') => {
                    chars.next();
                    let hex: String = chars.by_ref().take(4).collect();
                    match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                        Some(d) => out.push(d),
                        None => out.push_str(&format!("\\u{hex}")),
                    }
                }
                Some(n @ ('"' | '\\' | '/')) => {
                    chars.next();
                    out.push(n);
                }
                _ => out.push(c),
            }
        }
        text = out;
    }
    text
}

/// Every leak found (all are collected, then reported together: the count is a figure).
static LEAKS: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn assert_clean(what: &str, text: &str) {
    let plain = decoded(text);
    if plain.contains(KEY) || plain.contains(CORE) {
        let excerpt: String = text.chars().take(300).collect();
        LEAKS
            .lock()
            .unwrap()
            .push(format!("{what} leaks the key: {excerpt}"));
    }
}

fn shown(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = format!("{err} | {err:?}");
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(&format!(" | {s} | {s:?}"));
        source = s.source();
    }
    out
}

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

/// A server that echoes the key it received, encoded with `enc`, in the way `mode` says.
async fn start(enc: Enc, mode: Arc<AtomicU8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let base2 = base.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, _body: Bytes| {
            let (mode, base) = (mode.clone(), base2.clone());
            async move {
                let auth = headers
                    .get("authorization")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default();
                let key = auth.strip_prefix("Key ").unwrap_or(&auth).to_owned();
                let j = in_json(&key, enc);
                let hv = in_header(&key, enc);
                let path = uri.path().to_owned();
                if path.starts_with("/storage/auth/token") && mode.load(Ordering::SeqCst) != ERRORS
                {
                    return axum::Json(json!({
                        "token": "tok-5a5a5a5a", "token_type": "Bearer", "base_url": base,
                        "expires_at": "2999-01-01T00:00:00Z"
                    }))
                    .into_response();
                }
                let body = |status: StatusCode, ct: &str, text: String| -> Response {
                    let mut r = (status, text).into_response();
                    r.headers_mut()
                        .insert("content-type", ct.parse().unwrap());
                    r
                };
                let json = |status: StatusCode, text: String| body(status, "application/json", text);
                let mut response = match mode.load(Ordering::SeqCst) {
                    ERRORS => json(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        format!(
                            r#"{{"detail":[{{"loc":["body","{j}"],"msg":"bad {j}","type":"t {j}","ctx":{{"k":"{j}"}}}}],"error_type":"{j}"}}"#
                        ),
                    ),
                    COMPLETED_FAILED => {
                        let status = format!(
                            r#"{{"status":"COMPLETED","request_id":"{j}","error":"failed: {j}","error_type":"{j}","logs":[{{"message":"log {j}","level":"{j}"}}]}}"#
                        );
                        if method == Method::POST && path.ends_with("/stream") {
                            body(
                                StatusCode::OK,
                                "text/event-stream",
                                format!("data: {{\"partial\":\"{j}\"}}\n\ndata: {{\"done\":\"{j}\"}}\n\n"),
                            )
                        } else if path.ends_with("/status/stream") {
                            body(StatusCode::OK, "text/event-stream", format!("data: {status}\n\n"))
                        } else if path.ends_with("/status") || method == Method::PUT {
                            json(StatusCode::OK, status)
                        } else if method == Method::POST {
                            json(
                                StatusCode::OK,
                                r#"{"request_id":"req-1","status":"IN_QUEUE"}"#.into(),
                            )
                        } else {
                            json(
                                StatusCode::UNPROCESSABLE_ENTITY,
                                format!(r#"{{"detail":"job failed: {j}"}}"#),
                            )
                        }
                    }
                    GARBLED => {
                        if method == Method::POST && path.ends_with("/stream") {
                            body(StatusCode::OK, &format!("audio/x-{hv}"), "zz".into())
                        } else {
                            json(StatusCode::OK, format!("not json {j} {{\"a\":\"{j}\""))
                        }
                    }
                    _ => json(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(r#"{{"detail":"overloaded {j}"}}"#),
                    ),
                };
                let h = response.headers_mut();
                if let Ok(v) = hv.parse() {
                    h.insert("x-fal-request-id", v);
                }
                if let Ok(v) = hv.parse() {
                    h.insert("x-fal-error-type", v);
                }
                if let Ok(v) = hv.parse() {
                    h.insert("x-echo", v);
                }
                response
            }
        },
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

struct Remote(String);
impl fal_models::files::RemoteFile for Remote {
    fn url(&self) -> &str {
        &self.0
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_key_echoed_in_any_encoding_anywhere_is_scrubbed_from_every_path() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let mut redacted = 0;
    for enc in ENCODINGS {
        let mode = Arc::new(AtomicU8::new(ERRORS));
        let base = start(enc, mode.clone()).await;
        let client = Client::builder()
            .key(KEY)
            .queue_url(&base)
            .run_url(&base)
            .rest_url(&base)
            .retry(RetryPolicy::none())
            .response_head_timeout(Some(Duration::from_secs(10)))
            .build()
            .unwrap();
        let input = json!({ "prompt": "a cat" });
        let endpoint = "acme/video";
        let handle = fal_models::client::RequestHandle::new(endpoint, "req-1");
        for m in [ERRORS, COMPLETED_FAILED, GARBLED, GATEWAY] {
            let what = format!("{enc:?} mode {m}");
            mode.store(m, Ordering::SeqCst);
            let mut errors: Vec<fal_models::Error> = Vec::new();
            let mut shown_ids = Vec::new();
            errors.extend(
                client
                    .submit_json(endpoint, &input, &SubmitOptions::default())
                    .await
                    .err(),
            );
            errors.extend(client.run_json(endpoint, &input).await.err());
            errors.extend(client.status(&handle, true).await.err());
            if let Ok(status) = client.status(&handle, true).await {
                shown_ids.push(format!("{status:?}"));
            }
            errors.extend(client.result(&handle).await.err());
            errors.extend(client.cancel(&handle).await.err());
            let items: Vec<_> = client.status_stream(&handle, true).collect().await;
            for item in items {
                match item {
                    Ok(status) => shown_ids.push(format!("{status:?}")),
                    Err(e) => errors.push(e),
                }
            }
            for options in [
                SubscribeOptions::new(),
                SubscribeOptions::new().poll(Duration::from_millis(10)),
            ] {
                let events = Arc::new(Mutex::new(Vec::new()));
                let sink = events.clone();
                let options =
                    options.on_progress(move |p| sink.lock().unwrap().push(format!("{p:?}")));
                errors.extend(client.wait(&handle, options).await.err());
                errors.extend(client.subscribe_json(endpoint, input.clone()).await.err());
                shown_ids.extend(events.lock().unwrap().iter().cloned());
            }
            let mut stream = client.stream_json(endpoint, input.clone());
            // Outputs are the model's data, returned as they are; only errors and ids are shown.
            while let Some(item) = stream.next().await {
                if let Err(e) = item {
                    errors.push(e);
                }
            }
            shown_ids.push(format!("{:?} {stream:?}", stream.request_id()));
            let mut bytes = client.stream_bytes_json(endpoint, input.clone());
            while let Some(item) = bytes.next().await {
                if let Err(e) = item {
                    errors.push(e);
                }
            }
            shown_ids.push(format!("{:?} {bytes:?}", bytes.request_id()));
            let storage = client.storage().unwrap();
            if let Err(e) = storage
                .upload_bytes(b"abc".to_vec(), &fal_models::storage::UploadOptions::new())
                .await
            {
                let text = shown(&e);
                redacted += text.matches("<redacted>").count();
                assert_clean(&format!("{what}: upload error"), &text);
            }
            let dir = tempfile::tempdir().unwrap();
            errors.extend(
                client
                    .download_with(
                        &Remote(format!("{base}/out.png")),
                        dir.path().join("o"),
                        fal_models::files::DownloadOptions::new().max_retries(0),
                    )
                    .await
                    .err(),
            );
            assert!(errors.len() >= 5, "{what}: {} errors", errors.len());
            for err in &errors {
                let text = shown(err);
                redacted += text.matches("<redacted>").count();
                assert_clean(&format!("{what}: error"), &text);
                for field in err.validation_errors() {
                    assert_clean(
                        &format!("{what}: field"),
                        &format!("{field:?} {}", field.field()),
                    );
                }
                if let Some(id) = err.request_id() {
                    assert_clean(&format!("{what}: request id"), id);
                }
            }
            for text in &shown_ids {
                assert_clean(&format!("{what}: shown"), text);
            }
        }
    }
    let trace = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert!(trace.contains("fal.stream"), "the trace was captured");
    for line in trace.lines() {
        assert_clean("TRACE line", line);
    }
    let leaks = LEAKS.lock().unwrap().clone();
    assert!(
        leaks.is_empty(),
        "{} leaks:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    // The echoes really reached the errors: the scrubber had something to remove.
    assert!(redacted > 50, "{redacted} redactions");
}
