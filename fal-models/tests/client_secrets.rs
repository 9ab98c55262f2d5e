//! A marker key, a marker storage token and a marker secret input value, against a server that
//! echoes whatever it gets back: raw, JSON-escaped, in response headers, in error bodies, in
//! success bodies that do not decode. None may appear in any error's `Display`, `Debug` or
//! source chain, any progress event, or a serialized handle, for any operation.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use fal_models::client::{Client, RetryPolicy, SubmitOptions, SubscribeOptions};
use serde_json::json;

/// Quote and backslash: its JSON-escaped form differs from the raw one.
const KEY: &str = r#"marker-KEY-"q\7731-zz"#;
const TOKEN: &str = "marker-TOKEN-55120-yy";
const SECRET_INPUT: &str = r#"sk-marker-"openai"\input"#;

/// How the server answers queue requests.
const ERROR_400: u8 = 0;
const GATEWAY_503: u8 = 1;
const GARBLED_200: u8 = 2;

/// Everything the server saw, echoed: raw, JSON-escaped (twice), and the body.
fn echo(headers: &HeaderMap, body: &[u8]) -> String {
    let auth = headers
        .get("authorization")
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_default();
    let escaped = serde_json::to_string(&auth).unwrap();
    let body = String::from_utf8_lossy(body);
    format!(
        "you sent {auth} / {escaped} / {} / body {body} / {}",
        serde_json::to_string(&escaped).unwrap(),
        serde_json::to_string(&body).unwrap()
    )
}

async fn start(mode: Arc<AtomicU8>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let base2 = base.clone();
    let app = axum::Router::new().fallback(
        move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let (mode, base) = (mode.clone(), base2.clone());
            async move {
                let echoed = echo(&headers, &body);
                let auth = headers
                    .get("authorization")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                    .unwrap_or_default();
                let path = uri.path();
                if path.starts_with("/storage/auth/token") {
                    return axum::Json(json!({
                        "token": TOKEN, "token_type": "Bearer", "base_url": base,
                        "expires_at": "2999-01-01T00:00:00Z"
                    }))
                    .into_response();
                }
                let mut response: Response = match mode.load(Ordering::SeqCst) {
                    GATEWAY_503 => (
                        StatusCode::SERVICE_UNAVAILABLE,
                        axum::Json(json!({ "detail": echoed })),
                    )
                        .into_response(),
                    GARBLED_200 if method != Method::PUT || !path.ends_with("/cancel") => (
                        StatusCode::OK,
                        format!("data: {echoed}\n\nnot json {echoed}"),
                    )
                        .into_response(),
                    _ => (
                        StatusCode::BAD_REQUEST,
                        axum::Json(json!({ "detail": echoed, "error_type": auth })),
                    )
                        .into_response(),
                };
                let h = response.headers_mut();
                if let Ok(v) = auth.parse() {
                    h.insert("x-echo-auth", v);
                }
                if let Ok(v) = auth.parse() {
                    h.insert("x-fal-error-type", v);
                }
                h.insert("x-fal-request-id", "echo-req-1".parse().unwrap());
                response
            }
        },
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn forms(secret: &str) -> Vec<String> {
    let json = serde_json::to_string(secret).unwrap();
    let json = json[1..json.len() - 1].to_owned();
    let json2 = serde_json::to_string(&json).unwrap();
    let json2 = json2[1..json2.len() - 1].to_owned();
    vec![secret.to_owned(), json, json2]
}

fn assert_clean(what: &str, text: &str) {
    for secret in [KEY, TOKEN, SECRET_INPUT] {
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

#[tokio::test]
async fn the_marker_key_token_and_secret_input_appear_in_no_error_debug_event_or_handle() {
    let mode = Arc::new(AtomicU8::new(ERROR_400));
    let base = start(mode.clone()).await;
    let client = Client::builder()
        .key(KEY)
        .queue_url(&base)
        .run_url(&base)
        .rest_url(&base)
        .retry(RetryPolicy::none())
        .response_head_timeout(Some(Duration::from_secs(10)))
        .build()
        .unwrap();
    assert_clean("client Debug", &format!("{client:?}"));
    let input = json!({ "prompt": "a cat", "api_key": SECRET_INPUT });
    let endpoint = "acme/video";
    let handle = fal_models::client::RequestHandle::new(endpoint, "echo-req-1");
    assert_clean(
        "handle",
        &format!("{handle:?} {}", serde_json::to_string(&handle).unwrap()),
    );
    let mut seen = 0;
    for m in [ERROR_400, GATEWAY_503, GARBLED_200] {
        mode.store(m, Ordering::SeqCst);
        let mut errors: Vec<fal_models::Error> = Vec::new();
        errors.extend(
            client
                .submit_json(endpoint, &input, &SubmitOptions::default())
                .await
                .err(),
        );
        errors.extend(client.run_json(endpoint, &input).await.err());
        errors.extend(client.status(&handle, true).await.err());
        errors.extend(client.result(&handle).await.err());
        errors.extend(client.cancel(&handle).await.err());
        {
            use futures::StreamExt;
            let items: Vec<_> = client.status_stream(&handle, true).collect().await;
            errors.extend(items.into_iter().filter_map(Result::err));
        }
        for options in [
            SubscribeOptions::new(),
            SubscribeOptions::new().poll(Duration::from_millis(10)),
        ] {
            let events = Arc::new(std::sync::Mutex::new(Vec::new()));
            let sink = events.clone();
            let options = options.on_progress(move |p| sink.lock().unwrap().push(format!("{p:?}")));
            errors.extend(client.wait(&handle, options).await.err());
            errors.extend(client.subscribe_json(endpoint, input.clone()).await.err());
            assert_clean("progress events", &events.lock().unwrap().join("\n"));
        }
        // Uploads: the token endpoint answers, the upload endpoint echoes the token.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("cat.png");
        std::fs::write(&file, b"png").unwrap();
        let with_file =
            json!({ "image_url": fal_models::files::local(&file), "api_key": SECRET_INPUT });
        errors.extend(
            client
                .subscribe_json(endpoint, with_file)
                .upload_local_files(true)
                .await
                .err(),
        );
        let storage = client.storage().unwrap();
        assert_clean("storage Debug", &format!("{storage:?}"));
        let upload = storage
            .upload_bytes(b"abc".to_vec(), &fal_models::storage::UploadOptions::new())
            .await
            .unwrap_err();
        assert_clean("upload error", &shown(&upload));
        seen += 1;
        // Downloads from the echo server fail with its status.
        let file = json!({ "url": format!("{base}/out.png") });
        struct Remote(String);
        impl fal_models::files::RemoteFile for Remote {
            fn url(&self) -> &str {
                &self.0
            }
        }
        errors.extend(
            client
                .download_with(
                    &Remote(file["url"].as_str().unwrap().to_owned()),
                    dir.path().join("o"),
                    fal_models::files::DownloadOptions::new().max_retries(0),
                )
                .await
                .err(),
        );
        assert!(
            errors.len() >= 10,
            "every operation failed against the echo server"
        );
        for err in &errors {
            assert_clean("error", &shown(err));
            seen += 1;
        }
        // The echo really reached the errors: the scrubber had something to remove.
        assert!(
            errors.iter().any(|e| shown(e).contains("<redacted>")),
            "mode {m}: the server's echo never reached an error"
        );
    }
    assert!(seen > 30, "{seen}");
}
