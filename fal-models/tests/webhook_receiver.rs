//! The receiver of `examples/webhook_receiver.rs` (its own router, compiled in here), verifying
//! deliveries POSTed over real HTTP on loopback: signed by hand, and delivered by the mock
//! server, signed with the mock's key and checked against the mock's JWKS.

use std::time::Duration;

use ed25519_dalek::{Signer, SigningKey};
use fal_models::mock::MockServer;
use fal_models::webhook::{Verifier, signed_message};
use serde_json::json;

#[allow(dead_code)] // the example's `main` is not called here
#[path = "../examples/webhook_receiver.rs"]
mod receiver;

/// Serves the example's router on a free loopback port; returns its webhook URL.
async fn serve_receiver(verifier: Verifier) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/fal/webhook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, receiver::app(verifier))
            .await
            .unwrap()
    });
    url
}

#[tokio::test]
async fn the_example_receiver_accepts_signed_deliveries_and_rejects_others() {
    let key = SigningKey::from_bytes(&[42; 32]);
    let verifier = Verifier::builder()
        .keys([key.verifying_key()])
        .build()
        .unwrap();
    let url = serve_receiver(verifier).await;

    let body = json!({ "request_id": "r-1", "gateway_request_id": "r-1", "status": "OK",
                       "payload": { "images": [] } })
    .to_string();
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let signature = key.sign(signed_message("r-1", "u-1", &ts, body.as_bytes()).as_bytes());
    let http = reqwest::Client::new();
    let post = |body: String, signature: String| {
        http.post(&url)
            .header("X-Fal-Webhook-Request-Id", "r-1")
            .header("X-Fal-Webhook-User-Id", "u-1")
            .header("X-Fal-Webhook-Timestamp", &ts)
            .header("X-Fal-Webhook-Signature", signature)
            .header("Content-Type", "application/json")
            .body(body)
            .send()
    };
    let sig_hex = hex::encode(signature.to_bytes());

    let ok = post(body.clone(), sig_hex.clone()).await.unwrap();
    assert_eq!(ok.status(), 200);

    let tampered_body = body.replace("[]", "[1]");
    assert_ne!(tampered_body, body);
    let tampered = post(tampered_body, sig_hex).await.unwrap();
    assert_eq!(tampered.status(), 401);
    assert_eq!(tampered.text().await.unwrap(), "invalid signature");

    let verified_but_not_a_delivery = "[1, 2]".to_string();
    let signature = key
        .sign(signed_message("r-1", "u-1", &ts, verified_but_not_a_delivery.as_bytes()).as_bytes());
    let odd = post(
        verified_but_not_a_delivery,
        hex::encode(signature.to_bytes()),
    )
    .await
    .unwrap();
    assert_eq!(odd.status(), 400);
}

/// The mock delivers a submit's result to the example receiver, which checks the signature
/// against the mock's JWKS: a newcomer's end-to-end test of their own receiver.
#[tokio::test]
async fn the_example_receiver_verifies_the_mocks_deliveries_against_its_jwks() {
    let server = MockServer::builder()
        .endpoint(
            "fal-ai/flux/dev",
            json!({ "images": [{ "url": "https://example.com/cat.png" }] }),
        )
        .stream_interval(Duration::from_millis(1))
        .webhook_retries(2, Duration::from_millis(5))
        .start()
        .await
        .unwrap();
    let verifier = Verifier::builder()
        .jwks_url(server.jwks_url())
        .build()
        .unwrap();
    let url = serve_receiver(verifier).await;
    let client = server.client();
    let options = fal_models::client::SubmitOptions::default().webhook(&url);
    let handle = client
        .submit_json("fal-ai/flux/dev", &json!({ "prompt": "a cat" }), &options)
        .await
        .unwrap();
    let attempts = wait_for_attempts(&server, 1).await;
    assert_eq!(attempts[0].request_id, handle.request_id());
    assert_eq!(attempts[0].status, Some(200), "{attempts:?}");
    assert!(attempts[0].delivered());

    // A receiver that trusts other keys (another mock's) rejects them: 401, retried twice.
    let other = MockServer::builder().start().await.unwrap();
    let stranger = Verifier::builder()
        .jwks_url(other.jwks_url())
        .build()
        .unwrap();
    let url = serve_receiver(stranger).await;
    let options = fal_models::client::SubmitOptions::default().webhook(&url);
    client
        .submit_json("fal-ai/flux/dev", &json!({ "prompt": "a cat" }), &options)
        .await
        .unwrap();
    let attempts = wait_for_attempts(&server, 4).await;
    let rejected: Vec<_> = attempts[1..]
        .iter()
        .map(|a| (a.attempt, a.status))
        .collect();
    assert_eq!(rejected, [(1, Some(401)), (2, Some(401)), (3, Some(401))]);
}

/// Waits (up to 30 s, polling) until the mock has made `n` delivery attempts.
async fn wait_for_attempts(server: &MockServer, n: usize) -> Vec<fal_models::mock::WebhookAttempt> {
    for _ in 0..3000 {
        let attempts = server.webhook_attempts();
        if attempts.len() >= n {
            return attempts;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("only {:?} after 30 s", server.webhook_attempts());
}
