//! The mock's answers in fal's wire shapes, read over raw HTTP (no client in between): status
//! and stream events, `x-fal-request-id`, cancel answers, the upload routes of fal's official
//! JS client, and webhook deliveries with retries, verified against the mock's JWKS.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use fal_models::mock::{FaultSpec, MockServer};
use fal_models::webhook::Verifier;
use serde_json::{Value, json};

const ENDPOINT: &str = "acme/app/sub";

async fn server() -> MockServer {
    MockServer::builder()
        .endpoint(
            ENDPOINT,
            json!({ "images": [{ "url": "https://example.com/a.png" }] }),
        )
        .stream_interval(Duration::from_millis(1))
        .webhook_retries(3, Duration::from_millis(5))
        .start()
        .await
        .unwrap()
}

fn http() -> reqwest::Client {
    reqwest::Client::new()
}

async fn send(request: reqwest::RequestBuilder) -> (u16, HeaderMap, Value) {
    let response = request
        .header("authorization", "Key k")
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, headers, body)
}

fn keys(v: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn status_answers_carry_every_field_fal_sends() {
    let server = server().await;
    let (status, headers, submitted) = send(
        http()
            .post(format!("{}/{ENDPOINT}", server.queue_url()))
            .json(&json!({})),
    )
    .await;
    assert_eq!(status, 200);
    let id = submitted["request_id"].as_str().unwrap();
    assert_eq!(headers["x-fal-request-id"], id);
    let base = format!("{}/acme/app/requests/{id}", server.queue_url());
    assert_eq!(submitted["status_url"], format!("{base}/status"));

    let url = |logs: u8| format!("{base}/status?logs={logs}");
    let (_, headers, queued) = send(http().get(url(0))).await;
    assert_eq!(headers["x-fal-request-id"], id);
    assert_eq!(
        keys(&queued),
        [
            "cancel_url",
            "logs",
            "queue_position",
            "request_id",
            "response_url",
            "status",
            "status_url"
        ]
    );
    assert_eq!(
        (&queued["status"], &queued["logs"]),
        (&json!("IN_QUEUE"), &Value::Null)
    );
    let (_, _, running) = send(http().get(url(1))).await;
    assert_eq!(running["status"], "IN_PROGRESS");
    let log = &running["logs"][0];
    assert_eq!(keys(log), ["level", "message", "source", "timestamp"]);
    assert_eq!(log["source"], "USER");
    let (_, _, running) = send(http().get(url(0))).await;
    assert_eq!(
        running["logs"],
        Value::Null,
        "logs not asked for: null, not absent"
    );
    let (_, _, done) = send(http().get(url(1))).await;
    assert_eq!(done["status"], "COMPLETED");
    assert_eq!(done["logs"].as_array().unwrap().len(), 2);
    assert!(done["metrics"]["inference_time"].is_number());

    let (status, headers, _) = send(http().get(&base)).await;
    assert_eq!(
        (status, &headers["x-fal-request-id"]),
        (200, &id.parse().unwrap())
    );
    let (status, _, cancel) = send(http().put(format!("{base}/cancel"))).await;
    assert_eq!(
        (status, cancel),
        (400, json!({ "status": "ALREADY_COMPLETED" }))
    );

    // Even a 404 carries a request id.
    let (status, headers, _) =
        send(http().get(format!("{}/acme/app/requests/nope", server.queue_url()))).await;
    assert_eq!(status, 404);
    assert!(headers.contains_key("x-fal-request-id"));
}

#[tokio::test]
async fn stream_events_and_cancel_answers() {
    let server = server().await;
    let submit = || async {
        let (_, _, body) = send(
            http()
                .post(format!("{}/{ENDPOINT}", server.queue_url()))
                .json(&json!({})),
        )
        .await;
        body["request_id"].as_str().unwrap().to_owned()
    };
    let id = submit().await;
    let text = http()
        .get(format!(
            "{}/acme/app/requests/{id}/status/stream",
            server.queue_url()
        ))
        .header("authorization", "Key k")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events: Vec<Value> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let statuses: Vec<&str> = events
        .iter()
        .map(|e| e["status"].as_str().unwrap())
        .collect();
    assert_eq!(
        statuses,
        ["IN_QUEUE", "IN_PROGRESS", "IN_PROGRESS", "COMPLETED"]
    );
    assert!(
        events
            .iter()
            .all(|e| e["response_url"].is_string() && e.get("logs") == Some(&Value::Null))
    );

    let id = submit().await;
    let (status, _, body) = send(http().put(format!(
        "{}/acme/app/requests/{id}/cancel",
        server.queue_url()
    )))
    .await;
    assert_eq!(
        (status, body),
        (202, json!({ "status": "CANCELLATION_REQUESTED" }))
    );
    assert_eq!(server.is_cancelled(&id), Some(true));
}

/// fal-js's upload routes: initiate (pre-signed PUT) and multipart with JSON part answers.
#[tokio::test]
async fn the_js_clients_upload_routes_serve_the_file_back() {
    let server = server().await;
    let rest = server.rest_url();
    let (status, _, initiated) = send(
        http()
            .post(format!(
                "{rest}/storage/upload/initiate?storage_type=fal-cdn-v3"
            ))
            .json(&json!({ "content_type": "text/plain", "file_name": "a b.txt" })),
    )
    .await;
    assert_eq!(status, 200);
    let upload_url = initiated["upload_url"].as_str().unwrap();
    let file_url = initiated["file_url"].as_str().unwrap();
    // Without the signature the PUT is refused; with it the file is stored.
    let unsigned = upload_url.split('?').next().unwrap();
    assert_eq!(
        http()
            .put(unsigned)
            .body("x")
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        http()
            .put(upload_url)
            .body("hello")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let got = http().get(file_url).send().await.unwrap();
    assert_eq!(got.headers()["content-type"], "text/plain");
    assert_eq!(got.text().await.unwrap(), "hello");

    let (_, _, initiated) = send(
        http()
            .post(format!(
                "{rest}/storage/upload/initiate-multipart?storage_type=fal-cdn-v3"
            ))
            .json(&json!({ "content_type": "application/octet-stream", "file_name": "big.bin" })),
    )
    .await;
    let upload = reqwest::Url::parse(initiated["upload_url"].as_str().unwrap()).unwrap();
    let (path, query) = (upload.path(), upload.query().unwrap());
    let origin = server.queue_url();
    let mut parts = Vec::new();
    for (n, chunk) in [(1, "first-"), (2, "second")] {
        let answer: Value = http()
            .put(format!("{origin}{path}/{n}?{query}"))
            .body(chunk)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["partNumber"], n);
        parts.push(answer);
    }
    let done = http()
        .post(format!("{origin}{path}/complete?{query}"))
        .json(&json!({ "parts": parts }))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let file_url = initiated["file_url"].as_str().unwrap();
    assert_eq!(
        server.file(file_url).unwrap().1,
        Bytes::from("first-second")
    );
}

/// A receiver that fails the first delivery; the retry is verified against the mock's JWKS.
#[tokio::test]
async fn webhooks_are_signed_and_retried_until_accepted() {
    let server = server().await;
    let verifier = Verifier::builder()
        .jwks_url(server.jwks_url())
        .build()
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let receiver = {
        let calls = calls.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (verifier, calls, tx) = (verifier.clone(), calls.clone(), tx.clone());
                async move {
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        return StatusCode::INTERNAL_SERVER_ERROR;
                    }
                    let delivery = verifier.verify_delivery(&headers, &body).await.unwrap();
                    tx.send(delivery).unwrap();
                    StatusCode::OK
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await.unwrap() });

    let (_, _, submitted) = send(
        http()
            .post(format!("{}/{ENDPOINT}", server.queue_url()))
            .query(&[("fal_webhook", &hook)])
            .json(&json!({})),
    )
    .await;
    let delivery = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("a delivery within 30 s")
        .unwrap();
    assert_eq!(
        delivery.request_id,
        submitted["request_id"].as_str().unwrap()
    );
    assert!(delivery.is_ok());
    assert_eq!(
        delivery.payload.unwrap()["images"][0]["url"],
        "https://example.com/a.png"
    );
    // The receiver answered before the mock recorded the answer: wait for the record.
    for _ in 0..3000 {
        if server.webhook_attempts().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let attempts: Vec<_> = server
        .webhook_attempts()
        .iter()
        .map(|a| (a.attempt, a.status))
        .collect();
    assert_eq!(attempts, [(1, Some(500)), (2, Some(200))]);

    // A failed job is delivered as fal's ERROR delivery.
    server.inject_spec(
        "submit=fail-job:validation:prompt:not allowed"
            .parse::<FaultSpec>()
            .unwrap(),
    );
    send(
        http()
            .post(format!("{}/{ENDPOINT}", server.queue_url()))
            .query(&[("fal_webhook", &hook)])
            .json(&json!({})),
    )
    .await;
    let failed = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("a delivery within 30 s")
        .unwrap();
    assert!(!failed.is_ok());
    assert_eq!(failed.error.as_deref(), Some("Invalid status code: 422"));
    assert_eq!(
        failed.payload.unwrap()["detail"][0]["loc"],
        json!(["body", "prompt"])
    );
}
