//! Realtime sessions over loopback against the mock's WebSocket listener: a token minted with
//! the key, msgpack inputs and outputs, control frames skipped, fal's `x-fal-error` as a typed
//! error that leaves the session usable, refused tokens, bounds and the bundled example.
#![cfg(feature = "realtime")]

mod client_common;

#[allow(dead_code)] // `main` is for `cargo run --example`
#[path = "../examples/realtime.rs"]
mod realtime_example;

use std::time::Duration;

use client_common::{ECHO_ID, EchoInput, EchoOutput, echo_mock, expected_output};
use fal_models::client::TemporaryToken;
use fal_models::client::realtime::RealtimeOptions;
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

#[tokio::test]
async fn refused_tokens_bad_options_and_silence_are_typed_errors() {
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
