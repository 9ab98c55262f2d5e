//! The proxy both ways over loopback: a keyless client sending through `proxy_url` to the
//! axum proxy handler (the bundled example), which adds the key and forwards to the mock:
//! subscribe, run and stream work; fal's headers pass, the caller's others do not; targets off
//! fal's hosts, or missing, are refused before anything is sent.
#![cfg(feature = "proxy")]

mod client_common;

#[allow(dead_code)] // `main` is for `cargo run --example`
#[path = "../examples/proxy_server.rs"]
mod proxy_example;

use client_common::{ECHO_ID, EchoInput, echo_mock, expected_output};
use fal_models::client::{PlatformOptions, RunOptions};
use fal_models::error::Operation;
use fal_models::mock::MockServer;
use fal_models::proxy::{DEFAULT_PROXY_ROUTE, FalProxy};
use fal_models::{Client, Error};
use serde_json::json;

const SERVER_KEY: &str = "server-side-key";
/// The caller credential the example proxy's hook checks.
const CALLER_SECRET: &str = "caller-secret-1";

/// The example's proxy (allow-list: the echo endpoint; hook: the caller secret), in front of
/// the mock.
async fn start_proxy(server: &MockServer) -> String {
    let builder = FalProxy::builder(SERVER_KEY)
        .unwrap()
        .allow_origin(&server.queue_url())
        .unwrap()
        .allow_origin(&server.run_url())
        .unwrap();
    let proxy = proxy_example::configure(builder, &[ECHO_ID], CALLER_SECRET.into()).unwrap();
    serve(proxy).await
}

async fn serve(proxy: FalProxy) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}{DEFAULT_PROXY_ROUTE}",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, proxy_example::router(proxy)).await });
    url
}

fn keyless_client(server: &MockServer, proxy_url: &str) -> Client {
    Client::builder()
        .without_key()
        .proxy_url(proxy_url)
        .proxy_header("authorization", &format!("Bearer {CALLER_SECRET}"))
        .unwrap()
        .queue_url(server.queue_url())
        .run_url(server.run_url())
        .rest_url(server.rest_url())
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_keyless_client_works_through_the_proxy() {
    let server = echo_mock().require_key(SERVER_KEY).start().await.unwrap();
    let proxy_url = start_proxy(&server).await;
    let client = keyless_client(&server, &proxy_url);

    assert_eq!(
        client.subscribe(EchoInput::new("a cat")).await.unwrap(),
        expected_output()
    );
    let options = RunOptions::new().platform(
        PlatformOptions::new()
            .no_retry()
            .header("cookie", "session=1")
            .unwrap(),
    );
    let run = client
        .run_with(&EchoInput::new("b"), &options)
        .await
        .unwrap();
    assert_eq!(run.output, expected_output());
    assert!(
        run.request_id.is_some(),
        "fal's headers come back through the proxy"
    );
    let streamed = client.stream(&EchoInput::new("c")).output().await.unwrap();
    assert_eq!(streamed, expected_output());

    let requests = server.requests();
    for op in [
        Operation::Submit,
        Operation::StatusStream,
        Operation::Result,
        Operation::Run,
        Operation::Stream,
    ] {
        assert!(
            requests.iter().any(|r| r.operation == Some(op)),
            "{op} reached the mock"
        );
    }
    for r in &requests {
        assert_eq!(
            r.header("authorization"),
            Some(format!("Key {SERVER_KEY}").as_str()),
            "{}",
            r.path
        );
        assert!(r.header("x-fal-client-proxy").is_some());
        assert_eq!(
            r.header("x-fal-target-url"),
            None,
            "the target header stays at the proxy"
        );
    }
    let run_request = requests
        .iter()
        .find(|r| r.operation == Some(Operation::Run))
        .unwrap();
    assert_eq!(
        run_request.header("x-fal-no-retry"),
        Some("1"),
        "x-fal-* headers pass"
    );
    assert_eq!(
        run_request.header("cookie"),
        None,
        "other headers of the caller do not"
    );
}

#[tokio::test]
async fn targets_off_fals_hosts_and_missing_targets_are_refused() {
    let server = echo_mock().start().await.unwrap();
    let proxy_url = start_proxy(&server).await;
    let http = reqwest::Client::new();
    for target in [
        "https://evil.example/fal-ai/flux/dev",
        "http://fal.run/fal-ai/flux/dev",
        "https://fal.run.evil.example/x",
        "https://user:pw@fal.run/x",
        "https://rest.fal.ai/storage/auth/token",
        "not a url",
    ] {
        let answer = http
            .post(&proxy_url)
            .header("x-fal-target-url", target)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{target}");
    }
    let answer = http.post(&proxy_url).body("{}").send().await.unwrap();
    assert_eq!(answer.status(), 400, "no target header");
    assert!(server.requests().is_empty(), "nothing was forwarded");

    let proxy = FalProxy::builder("proxy-secret-9d41")
        .unwrap()
        .allow_any_caller()
        .unwrap();
    assert!(proxy.allows("https://fal.run/fal-ai/flux/dev"));
    assert!(proxy.allows("https://queue.fal.run/fal-ai/flux/requests/1/status"));
    assert!(proxy.allows("https://rest.fal.ai/storage/upload/initiate?storage_type=fal-cdn-v3"));
    assert!(!proxy.allows("https://fal.run:8443/x"));
    // The key appears nowhere in `Debug` (quoted or not); the field is there, redacted.
    let debug = format!("{proxy:?}");
    assert!(!debug.contains("proxy-secret-9d41"), "{debug}");
    assert!(debug.contains("key: \"<redacted>\""), "{debug}");
}

#[tokio::test]
async fn the_proxy_refusal_reaches_the_client_as_an_api_error() {
    let server = echo_mock().start().await.unwrap();
    // A proxy that does not allow the mock's origins.
    let proxy = FalProxy::builder(SERVER_KEY)
        .unwrap()
        .allow_any_caller()
        .unwrap();
    let url = serve(proxy).await;
    let err = keyless_client(&server, &url)
        .run_json(ECHO_ID, &json!({"prompt": "a"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api(api) if api.status == 400),
        "{err:?}"
    );
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn the_hook_refuses_callers_it_does_not_know_and_nothing_is_forwarded() {
    let server = echo_mock().require_key(SERVER_KEY).start().await.unwrap();
    let proxy_url = start_proxy(&server).await;
    let stranger = Client::builder()
        .without_key()
        .proxy_url(&proxy_url)
        .queue_url(server.queue_url())
        .run_url(server.run_url())
        .build()
        .unwrap();
    let err = stranger
        .run_json(ECHO_ID, &json!({"prompt": "a"}))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api(api) if api.status == 401),
        "{err:?}"
    );
    assert!(server.requests().is_empty(), "nothing was forwarded");
}

#[tokio::test]
async fn endpoints_off_the_allow_list_are_refused_for_runs_statuses_and_cancels() {
    let server = echo_mock().require_key(SERVER_KEY).start().await.unwrap();
    let proxy_url = start_proxy(&server).await;
    let http = reqwest::Client::new();
    let q = server.queue_url();
    let bearer = format!("Bearer {CALLER_SECRET}");
    for (method, target) in [
        (reqwest::Method::POST, format!("{q}/acme/other/app")),
        (
            reqwest::Method::POST,
            format!("{q}/acme/video/text-to-video-pro"),
        ),
        (
            reqwest::Method::GET,
            format!("{q}/acme/other/requests/r1/status"),
        ),
        (
            reqwest::Method::PUT,
            format!("{q}/acme/other/requests/r1/cancel"),
        ),
    ] {
        let answer = http
            .request(method.clone(), &proxy_url)
            .header("x-fal-target-url", &target)
            .header("authorization", &bearer)
            .body("{}")
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status(), 400, "{method} {target}");
    }
    assert!(server.requests().is_empty(), "nothing was forwarded");
    // The allowed app's status URL passes (the mock answers it, whatever it says).
    let answer = http
        .get(&proxy_url)
        .header(
            "x-fal-target-url",
            format!("{q}/acme/video/requests/r1/status"),
        )
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_ne!(answer.status(), 400);
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn the_body_limit_is_configurable() {
    let server = echo_mock().start().await.unwrap();
    let proxy = FalProxy::builder(SERVER_KEY)
        .unwrap()
        .allow_origin(&server.run_url())
        .unwrap()
        .body_limit(16)
        .allow_any_caller()
        .unwrap();
    let url = serve(proxy).await;
    let answer = reqwest::Client::new()
        .post(&url)
        .header(
            "x-fal-target-url",
            format!("{}/{ECHO_ID}", server.run_url()),
        )
        .body(vec![b' '; 17])
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 413);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn a_keyless_proxy_client_mints_tokens_and_uploads_through_the_proxy() {
    let server = echo_mock().require_key(SERVER_KEY).start().await.unwrap();
    let proxy_url = start_proxy(&server).await;
    let client = keyless_client(&server, &proxy_url);

    let token = client
        .mint_token(&[ECHO_ID], std::time::Duration::from_secs(60))
        .await
        .expect("a token through the proxy");
    assert!(!token.expose().is_empty());
    let err = client
        .mint_token(&["acme/other"], std::time::Duration::from_secs(60))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api(api) if api.status == 400),
        "a token for an app off the list is refused: {err:?}"
    );

    let url = client
        .storage()
        .expect("a key-less proxy client can upload")
        .upload_bytes(&b"hello through the proxy"[..], &Default::default())
        .await
        .unwrap();
    let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(&body[..], b"hello through the proxy");

    // Multipart: initiate through the proxy, parts and completion to the signed URL.
    let storage = fal_models::storage::Storage::builder()
        .through_proxy(
            proxy_url.clone(),
            vec![(
                "authorization".parse().unwrap(),
                format!("Bearer {CALLER_SECRET}").parse().unwrap(),
            )],
        )
        .rest_base_url(server.rest_url())
        .multipart_threshold(4)
        .part_size(4)
        .build()
        .unwrap();
    let url = storage
        .upload_bytes(&b"0123456789"[..], &Default::default())
        .await
        .unwrap();
    let body = reqwest::get(&url).await.unwrap().bytes().await.unwrap();
    assert_eq!(&body[..], b"0123456789");

    let requests = server.requests();
    let through_proxy: Vec<&str> = requests
        .iter()
        .filter(|r| r.header("x-fal-client-proxy").is_some())
        .map(|r| r.path.as_str())
        .collect();
    assert!(
        through_proxy
            .iter()
            .all(|p| p.contains("/tokens") || p.contains("/storage/upload/initiate")),
        "only tokens and initiates went through the proxy: {through_proxy:?}"
    );
    assert!(
        through_proxy
            .iter()
            .any(|p| p.ends_with("/storage/upload/initiate"))
    );
    assert!(
        through_proxy
            .iter()
            .any(|p| p.ends_with("/storage/upload/initiate-multipart"))
    );
    let puts: Vec<_> = requests.iter().filter(|r| r.method == "PUT").collect();
    assert_eq!(puts.len(), 4, "one single PUT and three parts, direct");
    assert!(puts.iter().all(|r| r.header("authorization").is_none()));
}

#[tokio::test]
async fn a_proxied_upload_without_a_file_name_is_named_after_its_content_type() {
    let server = echo_mock().require_key(SERVER_KEY).start().await.unwrap();
    let proxy_url = start_proxy(&server).await;
    let storage = keyless_client(&server, &proxy_url).storage().unwrap();
    for (content_type, name) in [
        ("image/png", "upload.png"),
        ("video/mp4; codecs=avc1", "upload.mp4"),
    ] {
        let options = fal_models::storage::UploadOptions::new().content_type(content_type);
        let url = storage.upload_bytes(&b"bytes"[..], &options).await.unwrap();
        // The mock stores the file under the name the initiate request gave.
        assert!(url.ends_with(&format!("/{name}")), "{content_type}: {url}");
    }
}
