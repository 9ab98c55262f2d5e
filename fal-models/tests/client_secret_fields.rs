//! `Endpoint::SECRET_FIELDS`: the values of the fields an endpoint declares secret (any name,
//! any depth) are scrubbed like the key, from every error, progress event and log line of every
//! call with that input, and of later calls on the handle its submit returned. A loopback
//! server remembers what it was sent and echoes it everywhere: error bodies, headers, `422`
//! details, the job's error, its log lines, a result error, stream events.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use fal_models::Endpoint;
use fal_models::client::{
    Client, RetryPolicy, RunOptions, StreamOptions, SubmitOptions, SubscribeOptions,
};
use futures::StreamExt;
use serde::Serialize;
use serde_json::{Value, json};

const ID: &str = "acme/vault";
/// Neither name looks like a credential: only the declaration makes them secret.
const OPENAI: &str = r#"sk-openai-"fancy"\value-9931"#;
const PHRASE: &str = "tulip-harbour-4471";

#[derive(Serialize)]
struct Inner {
    house_phrase: String,
}

#[derive(Serialize)]
struct VaultInput {
    prompt: String,
    openai_apikey: String,
    rooms: Vec<Inner>,
}

impl Endpoint for VaultInput {
    const ENDPOINT_ID: &'static str = ID;
    type Output = Value;
    const SECRET_FIELDS: &'static [&'static str] = &["openai_apikey", "house_phrase"];
}

fn input() -> VaultInput {
    VaultInput {
        prompt: "a cat".into(),
        openai_apikey: OPENAI.into(),
        rooms: vec![Inner {
            house_phrase: PHRASE.into(),
        }],
    }
}

/// How the server answers.
const ECHO_400: u8 = 0;
const ECHO_503: u8 = 1;
const JOB: u8 = 2;

/// What the server was sent, echoed raw and JSON-escaped twice.
fn echo(seen: &str) -> String {
    let once = serde_json::to_string(seen).unwrap();
    format!(
        "you sent {seen} / {once} / {}",
        serde_json::to_string(&once).unwrap()
    )
}

fn status(seen: &str, state: &str) -> Value {
    json!({
        "status": state, "request_id": "req-1",
        "logs": [{"message": format!("loaded {seen}"), "level": "INFO", "timestamp": "2026-01-01T00:00:00Z"}],
        "error": (state == "COMPLETED").then(|| format!("the app failed on {seen}")),
        "error_type": (state == "COMPLETED").then(|| format!("bad-{}", &seen[..seen.len().min(60)])),
    })
}

async fn start(mode: Arc<AtomicU8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let base2 = base.clone();
    // Everything any request carried so far: the job's later answers echo the submit's input.
    let seen = Arc::new(Mutex::new(String::new()));
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, _headers: HeaderMap, body: Bytes| {
            let (mode, base, seen) = (mode.clone(), base2.clone(), seen.clone());
            async move {
                if !body.is_empty() {
                    *seen.lock().unwrap() = String::from_utf8_lossy(&body).into_owned();
                }
                let seen = seen.lock().unwrap().clone();
                let path = uri.path().to_owned();
                let echoed = echo(&seen);
                let mut response: Response = match mode.load(Ordering::SeqCst) {
                    ECHO_503 => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(json!({ "detail": echoed })),
                    )
                        .into_response(),
                    JOB if method == Method::POST && path == format!("/{ID}") => {
                        let app = format!("{base}/{ID}/requests/req-1");
                        axum::Json(json!({
                            "request_id": "req-1",
                            "status_url": format!("{app}/status"),
                            "response_url": app,
                            "cancel_url": format!("{app}/cancel"),
                        }))
                        .into_response()
                    }
                    JOB if path.ends_with("/status/stream") => (
                        [("content-type", "text/event-stream")],
                        format!(
                            "data: {}\n\ndata: {}\n\n",
                            status(&seen, "IN_PROGRESS"),
                            status(&seen, "COMPLETED")
                        ),
                    )
                        .into_response(),
                    JOB if path.ends_with("/status") => {
                        axum::Json(status(&seen, "COMPLETED")).into_response()
                    }
                    JOB if path == format!("/{ID}/stream") => (
                        [("content-type", "text/event-stream")],
                        // Outputs are the user's data and are not touched: only a broken event.
                        format!("data: not json {echoed}\n\n"),
                    )
                        .into_response(),
                    // Result, run: a validation error naming the field and its value.
                    JOB => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        axum::Json(json!({"detail": [{
                            "loc": ["body", "openai_apikey", seen.clone()],
                            "msg": format!("invalid value {echoed}"),
                            "type": format!("value_error.{}", &seen[..seen.len().min(40)]),
                            "ctx": {"given": seen},
                        }]})),
                    )
                        .into_response(),
                    _ => (
                        StatusCode::BAD_REQUEST,
                        axum::Json(json!({ "detail": echoed, "error_type": seen })),
                    )
                        .into_response(),
                };
                let h = response.headers_mut();
                for (name, value) in [("x-echo", &seen), ("x-fal-error-type", &seen)] {
                    let value: String = value.chars().filter(|c| !c.is_control()).collect();
                    if let Ok(v) = value.parse() {
                        h.insert(name, v);
                    }
                }
                response
            }
        },
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

/// Raw, JSON-escaped and JSON-escaped twice.
fn forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap();
    let json = json[1..json.len() - 1].to_owned();
    let json2 = serde_json::to_string(&json).unwrap();
    let json2 = json2[1..json2.len() - 1].to_owned();
    vec![secret.to_owned(), json, json2]
}

fn assert_clean(what: &str, text: &str) {
    for secret in [OPENAI, PHRASE] {
        for form in forms(secret) {
            assert!(!text.contains(&form), "{what} leaks {form:?}: {text}");
        }
    }
}

/// Display, Debug and the whole source chain.
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

#[tokio::test(flavor = "current_thread")]
async fn declared_secret_fields_appear_in_no_error_event_or_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mode = Arc::new(AtomicU8::new(ECHO_400));
    let base = start(mode.clone()).await;
    let client = Client::builder()
        .key("marker-key-for-secret-fields")
        .queue_url(&base)
        .run_url(&base)
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let mut errors: Vec<fal_models::Error> = Vec::new();
    for m in [ECHO_400, ECHO_503, JOB] {
        mode.store(m, Ordering::SeqCst);
        errors.extend(client.submit(&input()).await.err());
        errors.extend(client.run(&input()).await.err());
        errors.extend(client.run_with(&input(), &RunOptions::new()).await.err());
        for options in [
            SubscribeOptions::new(),
            SubscribeOptions::new().poll(Duration::from_millis(5)),
        ] {
            let sink = events.clone();
            let options = options.on_progress(move |p| sink.lock().unwrap().push(format!("{p:?}")));
            errors.extend(client.subscribe_with(input(), options).await.err());
        }
        let items: Vec<_> = client
            .stream_with(&input(), StreamOptions::default())
            .collect()
            .await;
        for item in items {
            match item {
                Ok(event) => assert_clean("stream event", &format!("{event:?}")),
                Err(e) => errors.push(e),
            }
        }
        // Later calls on the handle of a submit that went through scrub its input's secrets.
        if m == JOB {
            let handle = client
                .submit_with(&input(), &SubmitOptions::default())
                .await
                .unwrap();
            errors.extend(client.result(&handle).await.err());
            let status = client.status(&handle, true).await.unwrap();
            assert_clean("status", &format!("{status:?}"));
            let streamed: Vec<_> = client.status_stream(&handle, true).collect().await;
            assert_clean("status stream", &format!("{streamed:?}"));
            // A read that fails and is logged (the attempt, giving up) with the echo in it.
            mode.store(ECHO_503, Ordering::SeqCst);
            errors.extend(client.status(&handle, true).await.err());
            mode.store(JOB, Ordering::SeqCst);
        }
    }
    assert!(errors.len() >= 12, "{} errors", errors.len());
    for err in &errors {
        assert_clean("error", &shown(err));
    }
    let events = events.lock().unwrap().join("\n");
    assert_clean("progress events", &events);
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).into_owned();
    assert_clean("log lines", &logs);
    // The echo really reached errors, events and logs: the scrubber had something to remove.
    let all: String = errors.iter().map(|e| shown(e)).collect();
    for (what, text) in [("errors", &all), ("events", &events), ("logs", &logs)] {
        assert!(
            text.contains("<redacted>"),
            "no echo reached the {what}: {text}"
        );
    }
    assert!(
        errors
            .iter()
            .any(|e| matches!(e, fal_models::Error::JobFailed { .. })),
        "a job error was echoed"
    );
}
