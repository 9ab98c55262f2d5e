//! An axum receiver (as in `examples/webhook_receiver.rs`) verifying deliveries POSTed over
//! real HTTP on loopback: axum's `HeaderMap` and `Bytes` plug straight into the verifier.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use ed25519_dalek::{Signer, SigningKey};
use fal_models::webhook::{Verifier, signed_message};
use serde_json::json;

async fn receive(
    State(v): State<Verifier>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    match v.verify_delivery(&headers, &body).await {
        Ok(d) => (StatusCode::OK, d.request_id),
        Err(e) => (StatusCode::UNAUTHORIZED, e.to_string()),
    }
}

#[tokio::test]
async fn an_axum_receiver_accepts_signed_deliveries_and_rejects_others() {
    let key = SigningKey::from_bytes(&[42; 32]);
    let verifier = Verifier::builder()
        .keys([key.verifying_key()])
        .build()
        .unwrap();
    let app = Router::new()
        .route("/hook", post(receive))
        .with_state(verifier);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

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
    assert_eq!(ok.text().await.unwrap(), "r-1");

    let tampered_body = body.replace("[]", "[1]");
    assert_ne!(tampered_body, body);
    let tampered = post(tampered_body, sig_hex).await.unwrap();
    assert_eq!(tampered.status(), 401);
    assert!(
        tampered
            .text()
            .await
            .unwrap()
            .contains("signature does not verify")
    );
}
