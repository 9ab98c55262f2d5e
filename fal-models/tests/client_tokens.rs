//! Temporary tokens over loopback: minting (fal's request shape, the key required), a keyless
//! client streaming with the token (`fal_jwt_token`, no key sent), tokens refused for other
//! apps, after expiry or when absent, the token never printed, and the bundled example.

mod client_common;

#[allow(dead_code)] // `main` is for `cargo run --example`
#[path = "../examples/temporary_token.rs"]
mod token_example;

use std::time::Duration;

use client_common::{ECHO_ID, echo_mock, expected_output};
use fal_models::client::TemporaryToken;
use fal_models::error::Operation;
use fal_models::mock::MockServer;
use fal_models::{Client, Error};
use serde_json::json;

fn keyless(server: &MockServer, token: TemporaryToken) -> Client {
    Client::builder()
        .temporary_token(token)
        .run_url(server.run_url())
        .queue_url(server.queue_url())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_minted_token_streams_its_app_without_the_key() {
    let server = echo_mock().start().await.unwrap();
    let with_key = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let token = with_key
        .mint_token(&[ECHO_ID], Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(server.tokens_minted(), 1);
    let mint = &server.requests()[0];
    assert_eq!(
        (mint.method.as_str(), mint.path.as_str()),
        ("POST", "/tokens/")
    );
    // fal's token service names apps by alias, as fal's clients send them.
    assert_eq!(
        mint.json(),
        Some(json!({"allowed_apps": ["video"], "token_expiration": 60}))
    );
    assert_eq!(mint.header("authorization"), Some("Key mock-key"));
    assert!(!format!("{token:?}").contains(token.expose()));

    let client = keyless(&server, token.clone());
    let out: client_common::EchoOutput = serde_json::from_value(
        client
            .stream_json(ECHO_ID, json!({"prompt": "a cat"}))
            .output()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(out, expected_output());
    let sent = server.requests().pop().unwrap();
    assert_eq!(sent.operation, Some(Operation::Stream));
    assert_eq!(
        sent.header("authorization"),
        None,
        "a token client holds no key"
    );
    assert_eq!(
        sent.query.as_deref(),
        Some(format!("fal_jwt_token={}", token.expose()).as_str())
    );
    assert!(!format!("{client:?}").contains(token.expose()));
}

#[tokio::test]
async fn tokens_are_refused_for_other_apps_after_expiry_and_when_absent() {
    let server = MockServer::builder()
        .endpoint("acme/one", json!({"ok": 1}))
        .endpoint("other/two", json!({"ok": 2}))
        .start()
        .await
        .unwrap();
    let with_key = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let token = with_key
        .mint_token(&["acme/one"], Duration::from_secs(600))
        .await
        .unwrap();
    let client = keyless(&server, token.clone());
    assert_eq!(
        client
            .stream_json("acme/one", json!({}))
            .output()
            .await
            .unwrap(),
        json!({"ok": 1})
    );

    let err = client
        .stream_json("other/two", json!({}))
        .output()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api(api) if api.status == 401),
        "{err:?}"
    );
    assert!(!format!("{err} {err:?}").contains(token.expose()));

    let no_token = Client::builder()
        .without_key()
        .run_url(server.run_url())
        .build()
        .unwrap();
    let err = no_token
        .stream_json("acme/one", json!({}))
        .output()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api(api) if api.status == 401),
        "{err:?}"
    );

    // Expiry without a wall-clock race: the mock ends the token as if its lifetime had passed
    // (a 1 s token and a real sleep failed whenever the first calls took over a second).
    server.expire_tokens();
    let err = client
        .stream_json("acme/one", json!({}))
        .output()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api(api) if api.status == 401),
        "expired: {err:?}"
    );
}

#[tokio::test]
async fn minting_needs_the_key_and_an_app_and_rejects_odd_answers() {
    let server = echo_mock().start().await.unwrap();
    let keyless = keyless(&server, TemporaryToken::new("t"));
    let err = keyless
        .mint_token(&[ECHO_ID], Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::MissingKey), "{err:?}");

    let with_key = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let err = with_key
        .mint_token(&[], Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert_eq!(
        server.count(Operation::Token),
        0,
        "nothing sent for a bad request"
    );

    let strict = MockServer::builder()
        .require_key("right")
        .start()
        .await
        .unwrap();
    let err = Client::builder()
        .key("wrong")
        .rest_url(strict.rest_url())
        .build()
        .unwrap()
        .mint_token(&["a/b"], Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api(api) if api.status == 401),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_token_in_the_url_never_appears_in_a_transport_error() {
    // A listener that closes every connection unanswered: the exchange fails, and reqwest's
    // error would print the URL. (Held for the whole test, so no other process can take the
    // port, as it could a port freed before the call.)
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let closer = tokio::spawn(async move {
        loop {
            let (conn, _) = listener.accept().await.unwrap();
            drop(conn);
        }
    });
    let token = TemporaryToken::new("marker-token-7f3a");
    let client = Client::builder()
        .temporary_token(token)
        .run_url(format!("http://{addr}"))
        .retry(fal_models::client::RetryPolicy::default().max_retries(0))
        .build()
        .unwrap();
    let err = client
        .stream_json("acme/x", json!({}))
        .output()
        .await
        .unwrap_err();
    closer.abort();
    // The stream was sent, then the connection closed: for a paid call that is ambiguous (fal
    // may have started the job), and the error quotes reqwest's, URL and all.
    assert!(
        matches!(err, Error::AmbiguousSubmit { .. } | Error::Transport { .. }),
        "a failed exchange: {err:?}"
    );
    let text = format!("{err} {err:?} {:?}", std::error::Error::source(&err));
    assert!(!text.contains("marker-token-7f3a"), "{text}");
    // The URL is there, its token scrubbed: the check above is not passing for want of a URL.
    assert!(text.contains("fal_jwt_token=<redacted>"), "{text}");
}

#[tokio::test]
async fn the_token_example_runs_against_the_mock() {
    let server = MockServer::builder()
        .endpoint(
            "fal-ai/flux-krea-lora",
            json!({"images": [{"url": "https://x/l.png"}]}),
        )
        .start()
        .await
        .unwrap();
    let with_key = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let out = token_example::run(&with_key, &server.run_url())
        .await
        .unwrap();
    assert_eq!(out["images"][0]["url"], "https://x/l.png");
    assert_eq!(server.tokens_minted(), 1);
}
