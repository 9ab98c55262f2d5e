//! tracing: spans name the operation, endpoint and request id; failed attempts and retries are
//! events; the key, a temporary token and secret inputs appear in no span or event, whatever
//! the server echoes. Captured with a real `tracing-subscriber` formatter at TRACE.

mod client_common;

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
    server.inject(Operation::Submit, Fault::IngressError(502));
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
    assert!(
        log.contains("giving_up=true") || log.contains("attempt failed"),
        "{log}"
    );
    // Never the secrets, in any form the server echoed them.
    for secret in [MARKER_KEY, MARKER_SECRET, MARKER_TOKEN, token.expose()] {
        assert!(
            !log.contains(secret),
            "{secret} leaked into the log:\n{log}"
        );
    }
}
