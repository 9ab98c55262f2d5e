//! Realtime sessions over loopback against the mock's WebSocket listener: a token minted with
//! the key, msgpack inputs and outputs, control frames skipped, fal's `x-fal-error` as a typed
//! error that leaves the session usable, refused tokens, bounds and the bundled example.
#![cfg(feature = "realtime")]

mod client_common;

#[allow(dead_code)] // `main` is for `cargo run --example`
#[path = "../examples/realtime.rs"]
mod realtime_example;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use client_common::{ECHO_ID, EchoInput, EchoOutput, echo_mock, expected_output};
use fal_models::client::realtime::{
    RealtimeFrame, RealtimeOptions, Reconnect, SendPolicy, realtime_route,
};
use fal_models::client::{TemporaryToken, TokenProvider};
use fal_models::{Client, Error};
use serde_json::json;

#[tokio::test]
async fn a_session_sends_and_receives_msgpack_and_closes() {
    let server = echo_mock().start().await.unwrap();
    let realtime = server.start_realtime().await.unwrap();
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let options = RealtimeOptions::default().base_url(realtime.url());
    let mut session = client.realtime_with(ECHO_ID, options).await.unwrap();
    assert_eq!(
        server.tokens_minted(),
        1,
        "a token was minted for the session"
    );
    for prompt in ["a cat", "a dog"] {
        session.send(&EchoInput::new(prompt)).await.unwrap();
        let out: EchoOutput = session.recv().await.unwrap().expect("an output");
        assert_eq!(out, expected_output());
    }
    session.close().await.unwrap();
    assert_eq!(realtime.sessions(), 1);
}

#[tokio::test]
async fn a_bad_input_is_fals_error_and_the_session_goes_on() {
    let server = echo_mock().start().await.unwrap();
    let realtime = server.start_realtime().await.unwrap();
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let options = RealtimeOptions::default().base_url(realtime.url());
    let mut session = client.realtime_with(ECHO_ID, options).await.unwrap();
    session.send(&json!({"duration": 5})).await.unwrap();
    let err = session.recv::<EchoOutput>().await.unwrap_err();
    assert!(
        matches!(&err, Error::Realtime { error, reason, .. } if error == "VALIDATION" && reason.contains("prompt")),
        "{err:?}"
    );
    session.send(&EchoInput::new("ok")).await.unwrap();
    assert_eq!(
        session.recv::<EchoOutput>().await.unwrap(),
        Some(expected_output())
    );
}

/// fal sends `x-fal-error` `TIMEOUT` to a session that sent nothing for a while; like fal's JS
/// client, `recv` skips it and the session goes on.
#[tokio::test]
async fn fals_idle_timeout_notice_is_not_an_error() {
    let server = echo_mock().start().await.unwrap();
    let realtime = server.start_realtime().await.unwrap();
    realtime.idle_timeout(Duration::from_millis(20));
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let options = RealtimeOptions::default().base_url(realtime.url());
    let mut session = client.realtime_with(ECHO_ID, options).await.unwrap();
    until("the mock sent TIMEOUT notices", || realtime.timeouts() >= 2).await;
    session
        .send(&EchoInput::new("after a pause"))
        .await
        .unwrap();
    assert_eq!(
        session.recv::<EchoOutput>().await.unwrap(),
        Some(expected_output())
    );
    session.close().await.unwrap();
}

#[tokio::test]
async fn refused_tokens_bad_options_and_unanswered_inputs_are_typed_errors_but_idleness_is_not() {
    let server = echo_mock().start().await.unwrap();
    let realtime = server.start_realtime().await.unwrap();
    let bogus = Client::builder()
        .temporary_token(TemporaryToken::new("marker-bogus-token-3e1"))
        .build()
        .unwrap();
    let options = RealtimeOptions::default().base_url(realtime.url());
    let err = bogus
        .realtime_with(ECHO_ID, options.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Realtime { error, .. } if error == "CONNECT"),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains("marker-bogus-token-3e1"));
    assert_eq!(realtime.sessions(), 0);

    let err = bogus
        .realtime_with(ECHO_ID, options.clone().max_buffering(61))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");

    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let quiet = options.recv_timeout(Some(Duration::from_millis(200)));
    let mut session = client.realtime_with(ECHO_ID, quiet).await.unwrap();
    // Nothing sent: waiting is the caller's own choice, not a failure of fal.
    let waited = tokio::time::timeout(Duration::from_secs(1), session.recv::<EchoOutput>()).await;
    assert!(
        waited.is_err(),
        "no error for the caller's idleness: {waited:?}"
    );
    // An input fal never answers: the receive bound ends the wait.
    realtime.hold_outputs(true);
    session.send(&EchoInput::new("unanswered")).await.unwrap();
    let err = session.recv::<EchoOutput>().await.unwrap_err();
    assert!(
        matches!(&err, Error::Realtime { error, .. } if error == "TIMEOUT"),
        "{err:?}"
    );
}

#[tokio::test]
async fn the_realtime_example_runs_against_the_mock() {
    let server = fal_models::mock::MockServer::builder()
        .endpoint(
            "fal-ai/fast-lcm-diffusion",
            json!({"images": [{"url": "https://x/rt.png"}]}),
        )
        .start()
        .await
        .unwrap();
    let realtime = server.start_realtime().await.unwrap();
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let outputs = realtime_example::run(&client, Some(realtime.url()))
        .await
        .unwrap();
    assert_eq!(outputs.len(), 3);
    assert!(
        outputs
            .iter()
            .all(|o| o["images"][0]["url"] == "https://x/rt.png")
    );
}

/// Waits (bounded, generously) until `done` holds: counted events, no timing assertion.
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn fast_reconnect(attempts: u32) -> Reconnect {
    Reconnect::default()
        .max_attempts(attempts)
        .backoff(Duration::from_millis(10), Duration::from_millis(40))
}

#[tokio::test]
async fn a_dropped_connection_reconnects_and_the_session_goes_on() {
    let server = echo_mock().start().await.unwrap();
    let realtime = server.start_realtime().await.unwrap();
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let options = RealtimeOptions::default()
        .base_url(realtime.url())
        .reconnect(fast_reconnect(3));
    let mut session = client.realtime_with(ECHO_ID, options).await.unwrap();
    session.send(&EchoInput::new("before")).await.unwrap();
    assert_eq!(
        session.recv::<EchoOutput>().await.unwrap(),
        Some(expected_output())
    );

    assert_eq!(realtime.drop_sessions(), 1, "one session was cut");
    until("the session reconnects", || session.reconnects() == 1).await;
    session.send(&EchoInput::new("after")).await.unwrap();
    assert_eq!(
        session.recv::<EchoOutput>().await.unwrap(),
        Some(expected_output())
    );
    assert_eq!(realtime.sessions(), 2, "a second connection was admitted");
    assert_eq!(realtime.last_input().unwrap()["prompt"], "after");
    assert_eq!(server.tokens_minted(), 1, "the young token was reused");
    session.close().await.unwrap();
}

#[tokio::test]
async fn a_refused_token_is_minted_again_on_reconnect() {
    let server = echo_mock().start().await.unwrap();
    let realtime = server.start_realtime().await.unwrap();
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let options = RealtimeOptions::default()
        .base_url(realtime.url())
        .reconnect(fast_reconnect(3));
    let mut session = client.realtime_with(ECHO_ID, options).await.unwrap();
    server.expire_tokens();
    realtime.drop_sessions();
    until("the session reconnects", || session.reconnects() == 1).await;
    assert_eq!(server.tokens_minted(), 2, "a fresh token after the refusal");
    session.send(&EchoInput::new("again")).await.unwrap();
    assert_eq!(
        session.recv::<EchoOutput>().await.unwrap(),
        Some(expected_output())
    );
    assert_eq!(realtime.sessions(), 2);
}

#[tokio::test]
async fn reconnects_are_bounded_and_the_loss_reaches_recv() {
    let server = echo_mock().start().await.unwrap();
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();

    // Two attempts against a listener that is gone: the error says so, then sends fail.
    let realtime = server.start_realtime().await.unwrap();
    let options = RealtimeOptions::default()
        .base_url(realtime.url())
        .reconnect(fast_reconnect(2));
    let mut session = client.realtime_with(ECHO_ID, options).await.unwrap();
    drop(realtime);
    let err = session.recv::<EchoOutput>().await.unwrap_err();
    assert!(
        matches!(&err, Error::Realtime { error, reason, .. }
            if error == "RECONNECT" && reason.contains("2 reconnect attempts")),
        "{err:?}"
    );
    let err = session.send(&EchoInput::new("late")).await.unwrap_err();
    assert!(
        matches!(&err, Error::Realtime { error, .. } if error == "CLOSED"),
        "{err:?}"
    );

    // Without reconnects a cut is the socket error at once.
    let realtime = server.start_realtime().await.unwrap();
    let options = RealtimeOptions::default()
        .base_url(realtime.url())
        .reconnect(Reconnect::never());
    let mut session = client.realtime_with(ECHO_ID, options).await.unwrap();
    realtime.drop_sessions();
    let err = session.recv::<EchoOutput>().await.unwrap_err();
    assert!(
        matches!(&err, Error::Realtime { error, .. } if error == "SOCKET"),
        "{err:?}"
    );
    assert_eq!(realtime.sessions(), 1, "no reconnect was tried");
}

#[tokio::test]
async fn throttling_with_latest_wins_collapses_a_burst() {
    const BURST: u64 = 50;
    let server = echo_mock().start().await.unwrap();
    let realtime = server.start_realtime().await.unwrap();
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let options = RealtimeOptions::default()
        .base_url(realtime.url())
        .throttle(Duration::from_millis(128))
        .send_policy(SendPolicy::LatestWins);
    let mut session = client.realtime_with(ECHO_ID, options).await.unwrap();
    for i in 0..BURST {
        session
            .send(&EchoInput::new(&format!("burst {i}")))
            .await
            .unwrap();
    }
    until("every input is written or replaced", || {
        session.inputs_written() + session.inputs_superseded() == BURST
    })
    .await;
    let written = session.inputs_written();
    println!(
        "latest-wins, 128 ms: {BURST} sends -> {written} frames at the server, {} replaced",
        session.inputs_superseded()
    );
    for _ in 0..written {
        assert_eq!(
            session.recv::<EchoOutput>().await.unwrap(),
            Some(expected_output())
        );
    }
    assert_eq!(
        realtime.frames(),
        written,
        "fal saw each written input once"
    );
    assert!(
        (1..BURST).contains(&written),
        "the burst of {BURST} reached fal as {written} frames"
    );
    assert_eq!(
        realtime.last_input().unwrap()["prompt"],
        format!("burst {}", BURST - 1),
        "the latest input won"
    );
    session.close().await.unwrap();

    // Baseline, same burst without throttle: every input is a frame.
    let frames_before = realtime.frames();
    let options = RealtimeOptions::default().base_url(realtime.url());
    let mut session = client.realtime_with(ECHO_ID, options).await.unwrap();
    for i in 0..BURST {
        session
            .send(&EchoInput::new(&format!("plain {i}")))
            .await
            .unwrap();
    }
    for _ in 0..BURST {
        assert_eq!(
            session.recv::<EchoOutput>().await.unwrap(),
            Some(expected_output())
        );
    }
    let baseline = realtime.frames() - frames_before;
    println!("baseline, no throttle: {BURST} sends -> {baseline} frames at the server");
    assert_eq!(baseline, BURST);
    session.close().await.unwrap();
}

#[tokio::test]
async fn throttling_a_queue_paces_inputs_and_loses_none() {
    let server = echo_mock().start().await.unwrap();
    let realtime = server.start_realtime().await.unwrap();
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let options = RealtimeOptions::default()
        .base_url(realtime.url())
        .throttle(Duration::from_millis(30))
        .queue_capacity(2);
    let mut session = client.realtime_with(ECHO_ID, options).await.unwrap();
    for i in 0..6 {
        // With room for 2, the later sends wait for the pacer instead of failing.
        session
            .send(&EchoInput::new(&format!("q {i}")))
            .await
            .unwrap();
    }
    for _ in 0..6 {
        assert_eq!(
            session.recv::<EchoOutput>().await.unwrap(),
            Some(expected_output())
        );
    }
    assert_eq!(realtime.frames(), 6);
    assert_eq!(
        (session.inputs_written(), session.inputs_superseded()),
        (6, 0)
    );
    assert_eq!(realtime.last_input().unwrap()["prompt"], "q 5");
}

#[tokio::test]
async fn close_writes_the_inputs_still_waiting() {
    let server = echo_mock().start().await.unwrap();
    let realtime = server.start_realtime().await.unwrap();
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let options = RealtimeOptions::default()
        .base_url(realtime.url())
        .throttle(Duration::from_secs(3600));
    let mut session = client.realtime_with(ECHO_ID, options).await.unwrap();
    for i in 0..3 {
        session
            .send(&EchoInput::new(&format!("c {i}")))
            .await
            .unwrap();
    }
    session.close().await.unwrap();
    until("fal read the three inputs", || realtime.frames() == 3).await;
    assert_eq!(realtime.last_input().unwrap()["prompt"], "c 2");
}

/// A `wss://` front for the mock's realtime listener: TLS with a self-signed certificate
/// (rcgen), then bytes copied both ways. Returns its URL, the certificate (DER) and a count of
/// completed TLS handshakes.
async fn tls_front(upstream: &str) -> (String, Vec<u8>, Arc<AtomicU64>) {
    use tokio_rustls::rustls;
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).unwrap();
    let cert = certified.cert.der().clone();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("wss://{}", listener.local_addr().unwrap());
    let upstream = upstream.strip_prefix("ws://").unwrap().to_owned();
    let handshakes = Arc::new(AtomicU64::new(0));
    let counter = handshakes.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, upstream, counter) =
                (acceptor.clone(), upstream.clone(), counter.clone());
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(tcp).await else {
                    return;
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let mut plain = tokio::net::TcpStream::connect(upstream).await.unwrap();
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
            });
        }
    });
    (url, cert.to_vec(), handshakes)
}

#[tokio::test]
async fn a_session_over_wss_trusts_an_extra_root_certificate() {
    let server = echo_mock().start().await.unwrap();
    let realtime = server.start_realtime().await.unwrap();
    let (url, cert, handshakes) = tls_front(realtime.url()).await;
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();

    // The public roots do not know the certificate: a typed connect error, no session.
    let options = RealtimeOptions::default().base_url(&url);
    let err = client
        .realtime_with(ECHO_ID, options.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Realtime { error, reason, .. }
            if error == "CONNECT" && reason.to_lowercase().contains("certificate")),
        "{err:?}"
    );
    assert_eq!(handshakes.load(Ordering::Relaxed), 0);

    let err = client
        .realtime_with(
            ECHO_ID,
            options.clone().root_certificate(b"not DER".to_vec()),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");

    let mut session = client
        .realtime_with(ECHO_ID, options.root_certificate(cert))
        .await
        .unwrap();
    session.send(&EchoInput::new("over tls")).await.unwrap();
    assert_eq!(
        session.recv::<EchoOutput>().await.unwrap(),
        Some(expected_output())
    );
    session.close().await.unwrap();
    assert_eq!(handshakes.load(Ordering::Relaxed), 1);
    assert_eq!(realtime.sessions(), 1);
    assert_eq!(realtime.last_input().unwrap()["prompt"], "over tls");
}

/// An app whose id ends in `/realtime` (as fal documents `decart/lucy2-vton/realtime`) and
/// whose output holds `format: binary` bytes (as `fal-ai/flux-2/klein/realtime`'s `RawImage`).
const BINARY_ID: &str = "acme/lucy/realtime";

fn binary_document() -> serde_json::Value {
    json!({
        "openapi": "3.0.4",
        "info": {"title": "lucy", "version": "1", "x-fal-metadata": {"endpointId": BINARY_ID}},
        "components": {"schemas": {
            "In": {"type": "object", "required": ["prompt"], "properties": {
                "prompt": {"type": "string"}
            }},
            "RawImage": {"type": "object", "required": ["content", "width"], "properties": {
                "content": {"type": "string", "format": "binary", "examples": ["JPEGDATA"]},
                "width": {"type": "integer", "examples": [64]}
            }},
            "Out": {"type": "object", "required": ["images", "seed"], "properties": {
                "images": {"type": "array", "items": {"$ref": "#/components/schemas/RawImage"}},
                "seed": {"type": "integer", "examples": [7]}
            }}
        }},
        "paths": {
            "/acme/lucy/realtime": {"post": {"requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/In"}}}}}},
            "/acme/lucy/realtime/requests/{request_id}": {"get": {"responses": {"200": {
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Out"}}}}}}}
        }
    })
}

#[derive(Debug, serde::Deserialize)]
struct RawImage {
    content: bytes::Bytes,
    width: u32,
}

#[derive(Debug, serde::Deserialize)]
struct BinaryOutput {
    images: Vec<RawImage>,
    seed: i64,
}

async fn binary_mock() -> (
    fal_models::mock::MockServer,
    fal_models::mock::realtime::RealtimeMock,
) {
    let server = fal_models::mock::MockServer::builder()
        .document(binary_document())
        .unwrap()
        .start()
        .await
        .unwrap();
    let realtime = server.start_realtime().await.unwrap();
    (server, realtime)
}

#[tokio::test]
async fn binary_values_reach_bytes_fields_values_and_raw_frames() {
    let (server, realtime) = binary_mock().await;
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let options = RealtimeOptions::default().base_url(realtime.url());
    let mut session = client.realtime_with(BINARY_ID, options).await.unwrap();

    session.send(&json!({"prompt": "typed"})).await.unwrap();
    let out: BinaryOutput = session.recv().await.unwrap().expect("an output");
    assert_eq!(&out.images[0].content[..], b"JPEGDATA");
    assert_eq!((out.images[0].width, out.seed), (64, 7));

    session.send(&json!({"prompt": "value"})).await.unwrap();
    let value = session.recv_value().await.unwrap().expect("an output");
    let images = value["images"].as_array().expect("images");
    assert_eq!(
        images[0]["content"],
        rmpv::Value::Binary(b"JPEGDATA".to_vec()),
        "msgpack bin is kept"
    );

    // A frame packed by the caller goes out as is; the answer comes back as fal sent it.
    let mut raw = Vec::new();
    rmpv::encode::write_value(
        &mut raw,
        &rmpv::Value::Map(vec![("prompt".into(), "raw".into())]),
    )
    .unwrap();
    session.send_raw(raw.into()).await.unwrap();
    match session.recv_frame().await.unwrap().expect("an output") {
        RealtimeFrame::Binary(bytes) => {
            let value = rmpv::decode::read_value(&mut &bytes[..]).unwrap();
            assert_eq!(value["seed"], rmpv::Value::from(7));
        }
        other => panic!("expected a binary frame, got {other:?}"),
    }
    assert_eq!(realtime.last_input().unwrap()["prompt"], "raw");
    session.close().await.unwrap();
}

#[tokio::test]
async fn an_app_id_ending_in_realtime_is_not_suffixed_again_and_path_overrides() {
    let (server, realtime) = binary_mock().await;
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let options = RealtimeOptions::default().base_url(realtime.url());
    let mut session = client
        .realtime_with(BINARY_ID, options.clone())
        .await
        .expect("served at acme/lucy/realtime, not acme/lucy/realtime/realtime");
    session.send(&json!({"prompt": "a"})).await.unwrap();
    assert!(session.recv_value().await.unwrap().is_some());
    session.close().await.unwrap();
    assert_eq!(realtime.sessions(), 1);

    // `path` names the route: `realtime` again is no route of fal's, and is refused.
    let err = client
        .realtime_with(BINARY_ID, options.path("realtime"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Realtime { error, reason, .. } if error == "CONNECT" && reason.contains("404")),
        "{err:?}"
    );
    assert_eq!(
        realtime_route("fal-ai/fast-lcm-diffusion", None),
        "fal-ai/fast-lcm-diffusion/realtime"
    );
    assert_eq!(
        realtime_route("decart/lucy2-vton/realtime", None),
        "decart/lucy2-vton/realtime"
    );
    assert_eq!(realtime_route("acme/app", Some("/ws")), "acme/app/ws");
}

#[tokio::test]
async fn an_unauthorized_frame_reconnects_with_a_fresh_token_and_no_error() {
    let server = echo_mock().start().await.unwrap();
    let realtime = server.start_realtime().await.unwrap();
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let options = RealtimeOptions::default()
        .base_url(realtime.url())
        .reconnect(fast_reconnect(3));
    let mut session = client.realtime_with(ECHO_ID, options).await.unwrap();
    // The token expires mid-session: fal answers the next input with its Unauthorized frame.
    server.expire_tokens();
    session.send(&EchoInput::new("refused")).await.unwrap();
    until("the session re-authenticates", || {
        session.reauthentications() == 1 && session.reconnects() == 1
    })
    .await;
    assert_eq!(realtime.unauthorized_frames(), 1);
    assert_eq!(
        server.tokens_minted(),
        2,
        "a fresh token for the new connection"
    );
    session.send(&EchoInput::new("again")).await.unwrap();
    assert_eq!(
        session.recv::<EchoOutput>().await.unwrap(),
        Some(expected_output()),
        "the Unauthorized frame never reached recv as an error"
    );
    assert_eq!(realtime.sessions(), 2);
    session.close().await.unwrap();
}

#[tokio::test]
async fn a_token_provider_is_asked_for_the_route_and_refreshed_before_expiry_keeping_the_socket() {
    let server = echo_mock().start().await.unwrap();
    let realtime = server.start_realtime().await.unwrap();
    // The backend that holds the key; the client only has the provider.
    let backend = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let asked: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let seen = asked.clone();
    let provider = TokenProvider::new(Some(Duration::from_secs(1)), move |app: String| {
        seen.lock().unwrap().push(app.clone());
        let backend = backend.clone();
        async move { backend.mint_token(&[&app], Duration::from_secs(120)).await }
    });
    let client = Client::builder().token_provider(provider).build().unwrap();
    let options = RealtimeOptions::default()
        .base_url(realtime.url())
        .reconnect(fast_reconnect(3));
    let mut session = client.realtime_with(ECHO_ID, options).await.unwrap();
    assert_eq!(
        asked.lock().unwrap().as_slice(),
        [format!("{ECHO_ID}/realtime")],
        "fal-js passes the app and its path"
    );
    // At 90 % of the lifetime a new token is fetched; the socket stays.
    until("the token is refreshed", || {
        asked.lock().unwrap().len() >= 2
    })
    .await;
    assert_eq!(
        realtime.sessions(),
        1,
        "the refresh did not touch the socket"
    );
    session.send(&EchoInput::new("still on")).await.unwrap();
    assert_eq!(
        session.recv::<EchoOutput>().await.unwrap(),
        Some(expected_output())
    );
    session.close().await.unwrap();
}

#[tokio::test]
async fn key_header_mode_sends_the_key_and_mints_no_token() {
    let server = echo_mock().start().await.unwrap();
    let realtime = server.start_realtime().await.unwrap();
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let options = RealtimeOptions::default()
        .base_url(realtime.url())
        .key_header(true);
    let mut session = client
        .realtime_with(ECHO_ID, options.clone())
        .await
        .unwrap();
    session.send(&EchoInput::new("a")).await.unwrap();
    assert_eq!(
        session.recv::<EchoOutput>().await.unwrap(),
        Some(expected_output())
    );
    session.close().await.unwrap();
    assert_eq!(server.tokens_minted(), 0, "the key went in the header");
    let keyless = Client::builder().without_key().build().unwrap();
    assert!(matches!(
        keyless.realtime_with(ECHO_ID, options).await.unwrap_err(),
        Error::MissingKey
    ));
}

/// fal's FLUX.2 [klein] realtime app, from its shipped document: its `RawImage.content` is
/// `format: binary`, which fal's app packs as msgpack `bin`.
#[tokio::test]
async fn generated_outputs_hold_binary_fields_as_bytes() {
    use fal_models::fal_ai::flux_2::klein::realtime as klein;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/fal-ai/flux-2/klein/realtime.json"
    );
    let document: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let server = fal_models::mock::MockServer::builder()
        .document(document)
        .unwrap()
        .start()
        .await
        .unwrap();
    let realtime = server.start_realtime().await.unwrap();
    let client = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let options = RealtimeOptions::default().base_url(realtime.url());
    let mut session = client
        .realtime_with(<klein::Input as fal_models::Endpoint>::ENDPOINT_ID, options)
        .await
        .unwrap();
    let input = klein::Input::new("data:image/jpeg;base64,/9j/4AAQ");

    session.send(&input).await.unwrap();
    let value = session.recv_value().await.unwrap().expect("an output");
    let rmpv::Value::Binary(sent) = value["images"][0]["content"].clone() else {
        panic!("the mock packs binary fields as msgpack bin: {value}");
    };
    assert!(!sent.is_empty());

    session.send(&input).await.unwrap();
    let out: klein::Output = session.recv().await.unwrap().expect("an output");
    let content: &fal_models::Binary = &out.images[0].content;
    assert_eq!(
        content.as_bytes(),
        &sent[..],
        "the bytes fal sent, unchanged"
    );
    session.close().await.unwrap();
}
