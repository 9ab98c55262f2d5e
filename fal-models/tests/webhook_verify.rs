//! Webhook signature verification with keys generated in the test, and a JWKS served over
//! real HTTP on loopback.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use ed25519_dalek::{Signer, SigningKey};
use fal_models::Endpoint;
use fal_models::webhook::{
    Delivery, DeliveryError, DeliveryStatus, Verifier, VerifierBuilder, WebhookError,
};
use http::{HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};

const NOW: u64 = 1_900_000_000;

fn key(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn jwk(key: &SigningKey) -> serde_json::Value {
    json!({
        "kty": "OKP",
        "crv": "Ed25519",
        "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
        "kid": format!("k{}", key.to_bytes()[0]),
    })
}

/// Headers of a delivery signed by `key`, computed independently of the crate.
fn signed(key: &SigningKey, body: &[u8], timestamp: u64) -> HeaderMap {
    let message = format!(
        "req-123\nuser-9\n{timestamp}\n{}",
        hex::encode(Sha256::digest(body))
    );
    let signature = key.sign(message.as_bytes());
    let mut h = HeaderMap::new();
    h.insert(
        "X-Fal-Webhook-Request-Id",
        HeaderValue::from_static("req-123"),
    );
    h.insert("X-Fal-Webhook-User-Id", HeaderValue::from_static("user-9"));
    h.insert(
        "X-Fal-Webhook-Timestamp",
        timestamp.to_string().parse().unwrap(),
    );
    h.insert(
        "X-Fal-Webhook-Signature",
        hex::encode(signature.to_bytes()).parse().unwrap(),
    );
    h
}

fn body() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "request_id": "req-123",
        "gateway_request_id": "gw-456",
        "status": "OK",
        "payload": { "images": [{ "url": "https://v3.fal.media/files/x.png", "width": 64 }], "seed": 7 },
    }))
    .unwrap()
}

/// A clock the test moves.
fn clock() -> (
    Arc<AtomicU64>,
    impl Fn() -> std::time::SystemTime + Send + Sync + 'static,
) {
    let now = Arc::new(AtomicU64::new(NOW));
    let c = now.clone();
    (now, move || {
        UNIX_EPOCH + Duration::from_secs(c.load(Ordering::SeqCst))
    })
}

struct Jwks {
    url: String,
    body: Arc<Mutex<(StatusCode, String)>>,
    fetches: Arc<AtomicU64>,
}

impl Jwks {
    fn set(&self, status: StatusCode, body: String) {
        *self.body.lock().unwrap() = (status, body);
    }
    fn fetches(&self) -> u64 {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn jwks_server(keys: &[&SigningKey]) -> Jwks {
    type S = (Arc<Mutex<(StatusCode, String)>>, Arc<AtomicU64>);
    let doc = json!({ "keys": keys.iter().map(|k| jwk(k)).collect::<Vec<_>>() }).to_string();
    let body = Arc::new(Mutex::new((StatusCode::OK, doc)));
    let fetches = Arc::new(AtomicU64::new(0));
    let app = Router::new()
        .route(
            "/.well-known/jwks.json",
            get(|State((body, fetches)): State<S>| async move {
                fetches.fetch_add(1, Ordering::SeqCst);
                body.lock().unwrap().clone()
            }),
        )
        .with_state((body.clone(), fetches.clone()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Jwks { url, body, fetches }
}

fn verifier_for(jwks: &Jwks) -> (Arc<AtomicU64>, VerifierBuilder) {
    let (now, clock) = clock();
    (now, Verifier::builder().jwks_url(&jwks.url).clock(clock))
}

#[derive(Serialize)]
struct FluxInput {
    prompt: String,
}

#[derive(Debug, Deserialize, PartialEq)]
struct Image {
    url: String,
    width: u32,
}

#[derive(Debug, Deserialize, PartialEq)]
struct FluxOutput {
    images: Vec<Image>,
    seed: u64,
}

impl Endpoint for FluxInput {
    const ENDPOINT_ID: &'static str = "fal-ai/flux/dev";
    type Output = FluxOutput;
}

#[tokio::test]
async fn a_valid_delivery_verifies_and_decodes_into_the_endpoint_output() {
    let k = key(1);
    let jwks = jwks_server(&[&key(2), &k]).await; // signed by the second key of the set
    let (_, builder) = verifier_for(&jwks);
    let verifier = builder.build().unwrap();
    let body = body();
    let headers = signed(&k, &body, NOW - 10);

    let verified = verifier.verify(&headers, &body).await.unwrap();
    assert_eq!(verified.request_id, "req-123");
    assert_eq!(verified.user_id, "user-9");
    assert_eq!(verified.timestamp, (NOW - 10) as i64);

    let delivery = verifier.verify_delivery(&headers, &body).await.unwrap();
    assert_eq!(delivery.gateway_request_id.as_deref(), Some("gw-456"));
    assert!(delivery.is_ok());
    let output = delivery.output::<FluxInput>().unwrap();
    assert_eq!(output.seed, 7);
    assert_eq!(output.images[0].url, "https://v3.fal.media/files/x.png");
    let typed: Delivery<FluxOutput> = delivery.decode::<FluxInput>().unwrap();
    assert_eq!(typed.payload.unwrap().images[0].width, 64);
    assert_eq!(jwks.fetches(), 1, "keys fetched once and cached");
}

#[tokio::test]
async fn a_tampered_body_is_rejected() {
    let k = key(1);
    let verifier = Verifier::builder()
        .keys([k.verifying_key()])
        .clock(clock().1)
        .build()
        .unwrap();
    let body = body();
    let headers = signed(&k, &body, NOW);
    let mut tampered = body.clone();
    let i = tampered.iter().position(|&b| b == b'7').unwrap();
    tampered[i] = b'8';
    let err = verifier.verify(&headers, &tampered).await.unwrap_err();
    assert!(
        matches!(err, WebhookError::InvalidSignature { keys: 1 }),
        "{err:?}"
    );
    // The untampered body passes with the same headers.
    verifier.verify(&headers, &body).await.unwrap();

    // Tampered headers (the request id is part of the signed message) fail too.
    let mut other = headers.clone();
    other.insert(
        "x-fal-webhook-request-id",
        HeaderValue::from_static("req-999"),
    );
    assert!(matches!(
        verifier.verify(&other, &body).await,
        Err(WebhookError::InvalidSignature { .. })
    ));
}

#[tokio::test]
async fn a_signature_by_another_key_is_rejected() {
    let jwks = jwks_server(&[&key(1), &key(2)]).await;
    let (_, builder) = verifier_for(&jwks);
    let verifier = builder.build().unwrap();
    let body = body();
    let err = verifier
        .verify(&signed(&key(3), &body, NOW), &body)
        .await
        .unwrap_err();
    assert!(
        matches!(err, WebhookError::InvalidSignature { keys: 2 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("2 key(s)"), "{err}");
}

#[tokio::test]
async fn timestamps_more_than_300_seconds_away_are_rejected() {
    let k = key(1);
    let verifier = Verifier::builder()
        .keys([k.verifying_key()])
        .clock(clock().1)
        .build()
        .unwrap();
    let body = body();
    for ok in [NOW - 300, NOW + 300, NOW] {
        verifier
            .verify(&signed(&k, &body, ok), &body)
            .await
            .unwrap();
    }
    for stale in [NOW - 301, NOW + 301, 0] {
        let err = verifier
            .verify(&signed(&k, &body, stale), &body)
            .await
            .unwrap_err();
        let WebhookError::StaleTimestamp {
            timestamp,
            now,
            tolerance_secs,
        } = err
        else {
            panic!("expected a stale timestamp error, got {err:?}");
        };
        assert_eq!(
            (timestamp, now, tolerance_secs),
            (stale as i64, NOW as i64, 300)
        );
    }
}

#[tokio::test]
async fn missing_and_malformed_headers_are_named() {
    let k = key(1);
    let verifier = Verifier::builder()
        .keys([k.verifying_key()])
        .clock(clock().1)
        .build()
        .unwrap();
    let body = body();
    let headers = signed(&k, &body, NOW);
    for name in [
        "x-fal-webhook-request-id",
        "x-fal-webhook-user-id",
        "x-fal-webhook-timestamp",
        "x-fal-webhook-signature",
    ] {
        let mut h = headers.clone();
        h.remove(name);
        let err = verifier.verify(&h, &body).await.unwrap_err();
        assert!(
            matches!(err, WebhookError::MissingHeader(n) if n == name),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(name), "{err}");
    }
    let mut h = headers.clone();
    h.insert(
        "x-fal-webhook-signature",
        HeaderValue::from_static("zz-not-hex"),
    );
    let err = verifier.verify(&h, &body).await.unwrap_err();
    assert!(
        matches!(
            err,
            WebhookError::InvalidHeader {
                header: "x-fal-webhook-signature",
                ..
            }
        ),
        "{err:?}"
    );
    h.insert("x-fal-webhook-signature", HeaderValue::from_static("abcd"));
    let err = verifier.verify(&h, &body).await.unwrap_err();
    assert!(err.to_string().contains("64"), "{err}");
    let mut h = headers.clone();
    h.insert(
        "x-fal-webhook-timestamp",
        HeaderValue::from_static("yesterday"),
    );
    let err = verifier.verify(&h, &body).await.unwrap_err();
    assert!(
        matches!(
            err,
            WebhookError::InvalidHeader {
                header: "x-fal-webhook-timestamp",
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_malformed_jwks_is_an_error_naming_the_problem() {
    let k = key(1);
    let jwks = jwks_server(&[&k]).await;
    let body = body();
    let headers = signed(&k, &body, NOW);
    let cases = [
        (StatusCode::OK, "{not json".to_string(), "not JSON"),
        (
            StatusCode::OK,
            json!({ "kids": [] }).to_string(),
            "no \"keys\" array",
        ),
        (
            StatusCode::OK,
            json!({ "keys": [] }).to_string(),
            "the key set is empty",
        ),
        (
            StatusCode::OK,
            json!({ "keys": [{ "kty": "RSA", "n": "AQAB", "e": "AQAB" }] }).to_string(),
            "not OKP/Ed25519",
        ),
        (
            StatusCode::OK,
            json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": "AAAA" }] }).to_string(),
            "3 bytes, not 32",
        ),
        (
            StatusCode::OK,
            json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": "!!" }] }).to_string(),
            "not base64url",
        ),
        (StatusCode::INTERNAL_SERVER_ERROR, "oops".to_string(), "500"),
    ];
    for (status, doc, expected) in cases {
        jwks.set(status, doc.clone());
        // A fresh verifier each time: nothing cached.
        let (_, builder) = verifier_for(&jwks);
        let err = builder
            .build()
            .unwrap()
            .verify(&headers, &body)
            .await
            .unwrap_err();
        let msg = err.to_string();
        assert!(
            matches!(
                err,
                WebhookError::InvalidJwks { .. } | WebhookError::JwksFetch { .. }
            ),
            "{doc}: {err:?}"
        );
        assert!(msg.contains(expected), "{doc}: {msg}");
        assert!(msg.contains(&jwks.url), "{msg}");
    }
    // A set mixing an unusable key with a good, padded one is fine.
    jwks.set(
        StatusCode::OK,
        json!({ "keys": [
            { "kty": "RSA", "n": "AQAB", "e": "AQAB" },
            { "kty": "OKP", "crv": "Ed25519", "x": URL_SAFE.encode(k.verifying_key().to_bytes()) },
        ] })
        .to_string(),
    );
    let (_, builder) = verifier_for(&jwks);
    builder
        .build()
        .unwrap()
        .verify(&headers, &body)
        .await
        .unwrap();
}

#[tokio::test]
async fn keys_are_cached_for_at_most_24_hours() {
    let k = key(1);
    let jwks = jwks_server(&[&k]).await;
    let (now, builder) = verifier_for(&jwks);
    // A longer cache lifetime is capped at 24 h.
    let verifier = builder
        .cache_ttl(Duration::from_secs(7 * 24 * 3600))
        .build()
        .unwrap();
    let body = body();
    let verify_at = |t: u64| {
        now.store(t, Ordering::SeqCst);
        let headers = signed(&k, &body, t);
        let verifier = verifier.clone();
        let body = body.clone();
        async move { verifier.verify(&headers, &body).await }
    };
    verify_at(NOW).await.unwrap();
    verify_at(NOW + 3600).await.unwrap();
    verify_at(NOW + 24 * 3600 - 1).await.unwrap();
    assert_eq!(jwks.fetches(), 1);
    verify_at(NOW + 24 * 3600).await.unwrap();
    assert_eq!(jwks.fetches(), 2, "refetched after 24 h");

    // After 24 h a failing fetch is an error: stale keys are not used.
    jwks.set(StatusCode::SERVICE_UNAVAILABLE, String::new());
    let err = verify_at(NOW + 48 * 3600).await.unwrap_err();
    assert!(matches!(err, WebhookError::JwksFetch { .. }), "{err:?}");
}

#[tokio::test]
async fn rotated_keys_are_fetched_again_but_not_on_every_bad_signature() {
    let (old, new) = (key(1), key(2));
    let jwks = jwks_server(&[&old]).await;
    let (now, builder) = verifier_for(&jwks);
    let verifier = builder.build().unwrap();
    let body = body();
    verifier
        .verify(&signed(&old, &body, NOW), &body)
        .await
        .unwrap();
    jwks.set(StatusCode::OK, json!({ "keys": [jwk(&new)] }).to_string());

    // Within a minute of the fetch a bad signature does not trigger a refetch.
    now.store(NOW + 60, Ordering::SeqCst);
    let err = verifier
        .verify(&signed(&new, &body, NOW + 60), &body)
        .await
        .unwrap_err();
    assert!(
        matches!(err, WebhookError::InvalidSignature { .. }),
        "{err:?}"
    );
    assert_eq!(jwks.fetches(), 1);

    // Just past a minute, an unknown signer makes the verifier look for new keys once: a
    // rotation rejects deliveries for at most a minute.
    now.store(NOW + 61, Ordering::SeqCst);
    verifier
        .verify(&signed(&new, &body, NOW + 61), &body)
        .await
        .unwrap();
    assert_eq!(jwks.fetches(), 2);
}

#[tokio::test]
async fn the_replay_guard_rejects_a_second_delivery_within_the_window() {
    let k = key(3);
    let jwks = jwks_server(&[&k]).await;
    let body = body();
    let headers = signed(&k, &body, NOW);
    // Off by default: a captured delivery verifies again.
    let (_, builder) = verifier_for(&jwks);
    let open = builder.build().unwrap();
    open.verify(&headers, &body).await.unwrap();
    open.verify(&headers, &body).await.unwrap();

    let (now, builder) = verifier_for(&jwks);
    let guarded = builder.replay_guard(true).build().unwrap();
    guarded.verify(&headers, &body).await.unwrap();
    let err = guarded.verify(&headers, &body).await.unwrap_err();
    assert!(
        matches!(&err, WebhookError::Replayed { request_id, timestamp } if request_id == "req-123" && *timestamp == NOW as i64),
        "{err:?}"
    );
    // Clones share what was seen.
    assert!(guarded.clone().verify(&headers, &body).await.is_err());
    // A new delivery of the same request (a new timestamp) is not a replay.
    now.store(NOW + 5, Ordering::SeqCst);
    guarded
        .verify(&signed(&k, &body, NOW + 5), &body)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_key_list_without_content_length_is_cut_at_one_mib_while_reading() {
    use futures::StreamExt;
    // A chunked body (no Content-Length) of 4 MiB.
    let app = Router::new().route(
        "/jwks.json",
        get(|| async {
            let chunks = futures::stream::iter(0..64)
                .map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b' '; 64 * 1024])));
            axum::body::Body::from_stream(chunks)
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let (_, clock) = clock();
    let verifier = Verifier::builder()
        .jwks_url(url)
        .clock(clock)
        .build()
        .unwrap();
    let k = key(4);
    let body = body();
    let err = verifier
        .verify(&signed(&k, &body, NOW), &body)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WebhookError::JwksFetch { reason, .. } if reason.contains("larger than")),
        "{err:?}"
    );
}

#[test]
fn failed_and_undeliverable_deliveries_explain_themselves() {
    let failed = Delivery::from_slice(
        json!({
            "request_id": "r1",
            "gateway_request_id": "g1",
            "status": "ERROR",
            "error": "Invalid status code: 422",
            "payload": { "detail": [{ "loc": ["body", "prompt"], "msg": "field required" }] },
        })
        .to_string()
        .as_bytes(),
    )
    .unwrap();
    assert_eq!(failed.status, DeliveryStatus::Error);
    let err = failed.output::<FluxInput>().unwrap_err();
    let DeliveryError::Failed { details, .. } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(
        details.as_ref().unwrap()["detail"][0]["msg"],
        "field required"
    );
    assert!(
        err.to_string().contains("r1") && err.to_string().contains("422"),
        "{err}"
    );
    let typed = failed.clone().decode::<FluxInput>().unwrap();
    assert!(typed.payload.is_none() && typed.error.is_some());

    let undeliverable = Delivery::from_slice(
        br#"{"request_id":"r2","gateway_request_id":"g2","status":"OK","payload":null,
            "payload_error":"Response payload is not JSON serializable"}"#,
    )
    .unwrap();
    let err = undeliverable.output::<FluxInput>().unwrap_err();
    assert!(matches!(err, DeliveryError::PayloadError { .. }), "{err:?}");

    let wrong_shape = Delivery::from_slice(
        br#"{"request_id":"r3","status":"OK","payload":{"video":{"url":"u"}}}"#,
    )
    .unwrap();
    let err = wrong_shape.decode::<FluxInput>().unwrap_err();
    assert!(matches!(err, DeliveryError::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("fal-ai/flux/dev"), "{err}");

    assert!(matches!(
        Delivery::from_slice(b"[]"),
        Err(WebhookError::Body(_))
    ));
}
