//! Fetches many callers wait for: storage tokens and the webhook key set are fetched once for
//! all concurrent callers, who share the result *and the failure*, so N callers against a silent
//! server end after one bound, not N in a row; and storage's token route honours `Retry-After`
//! like every other route. `fault_proxy` sits in front of the real servers and counts requests.

mod fault_proxy;
mod storage_fake;

use std::time::{Duration, Instant};

use fal_models::client::Bounds;
use fal_models::storage::{Storage, UploadOptions};
use fault_proxy::{Action, FaultProxy};

const TOKEN_PATH: &str = "/storage/auth/token";

fn token_requests(proxy: &FaultProxy) -> usize {
    proxy
        .seen()
        .iter()
        .filter(|s| s.path.starts_with(TOKEN_PATH))
        .count()
}

#[tokio::test]
async fn the_storage_token_route_honours_retry_after() {
    let fake = storage_fake::start().await;
    let upstream = fake.url.trim_start_matches("http://").to_owned();
    let h = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let proxy = FaultProxy::start(upstream, move |n, seen| match n {
        0 if seen.path.starts_with(TOKEN_PATH) => Action::Respond(
            503,
            vec![h("retry-after", "1")],
            r#"{"detail":"busy"}"#.into(),
        ),
        1 if seen.path.starts_with(TOKEN_PATH) => Action::Respond(
            429,
            vec![h("retry-after", "1")],
            r#"{"detail":"slow down"}"#.into(),
        ),
        _ => Action::Forward,
    })
    .await;
    let storage = Storage::builder()
        .key(storage_fake::KEY)
        .rest_base_url(&proxy.url)
        .retry_backoff(Duration::from_millis(10))
        .max_retries(3)
        .build()
        .unwrap();
    let started = Instant::now();
    storage
        .upload_bytes(b"abc".to_vec(), &UploadOptions::new())
        .await
        .unwrap();
    let elapsed = started.elapsed();
    eprintln!("token route 503+429 with Retry-After 1 s each: ok after {elapsed:?}");
    assert_eq!(token_requests(&proxy), 3);
    assert!(
        elapsed >= Duration::from_millis(1900),
        "two Retry-After: 1 waited, not the 10 ms backoff: {elapsed:?}"
    );
}

#[tokio::test]
async fn concurrent_uploads_share_one_token_fetch_and_its_failure() {
    let fake = storage_fake::start().await;
    let upstream = fake.url.trim_start_matches("http://").to_owned();
    // The token route accepts and never answers.
    let proxy = FaultProxy::start(upstream, |_, seen| {
        if seen.path.starts_with(TOKEN_PATH) {
            Action::Never
        } else {
            Action::Forward
        }
    })
    .await;
    const BOUND: Duration = Duration::from_secs(2);
    let storage = Storage::builder()
        .key(storage_fake::KEY)
        .rest_base_url(&proxy.url)
        .retry_backoff(Duration::from_millis(50))
        .max_retries(1)
        .bounds(Bounds::default().response_head(Some(BOUND)))
        .build()
        .unwrap();
    let started = Instant::now();
    let uploads = (0..4).map(|i| {
        let storage = storage.clone();
        async move {
            storage
                .upload_bytes(vec![i; 10], &UploadOptions::new())
                .await
        }
    });
    let results = futures::future::join_all(uploads).await;
    let elapsed = started.elapsed();
    let fetches = token_requests(&proxy);
    eprintln!("4 uploads, silent token route: {fetches} token fetches, {elapsed:?}");
    assert!(results.iter().all(Result::is_err));
    // One fetch per attempt (1 + 1 retry), shared by all four uploads.
    assert_eq!(fetches, 2, "one fetch per attempt for all four uploads");
    // Two bounds and a backoff; four uploads one after another would take eight bounds.
    assert!(
        elapsed < BOUND * 4,
        "the uploads waited for each other: {elapsed:?}"
    );
}

#[tokio::test]
async fn concurrent_verifications_share_one_key_fetch_and_its_failure() {
    // The key server accepts and never answers.
    let proxy = FaultProxy::start("127.0.0.1:9".into(), |_, _| Action::Never).await;
    const BOUND: Duration = Duration::from_secs(2);
    let verifier = fal_models::webhook::Verifier::builder()
        .jwks_url(format!("{}/.well-known/jwks.json", proxy.url))
        .bounds(
            Bounds::default()
                .response_head(Some(BOUND))
                .total(Some(BOUND * 2)),
        )
        .build()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        fal_models::webhook::HEADER_REQUEST_ID,
        "req-1".parse().unwrap(),
    );
    headers.insert(
        fal_models::webhook::HEADER_USER_ID,
        "user-1".parse().unwrap(),
    );
    headers.insert(
        fal_models::webhook::HEADER_TIMESTAMP,
        now.to_string().parse().unwrap(),
    );
    headers.insert(
        fal_models::webhook::HEADER_SIGNATURE,
        "ab".repeat(64).parse().unwrap(),
    );
    let started = Instant::now();
    let ends = futures::future::join_all((0..5).map(|_| {
        let (verifier, headers) = (verifier.clone(), headers.clone());
        async move {
            let r = verifier.verify(&headers, b"{}").await;
            (r, started.elapsed())
        }
    }))
    .await;
    let fetches = proxy.seen().len();
    let last = ends.iter().map(|(_, t)| *t).max().unwrap();
    eprintln!(
        "5 verifications, silent JWKS: {fetches} fetches, ended at {:?}",
        ends.iter().map(|(_, t)| *t).collect::<Vec<_>>()
    );
    for (r, _) in &ends {
        assert!(
            matches!(r, Err(fal_models::webhook::WebhookError::JwksFetch { .. })),
            "{r:?}"
        );
    }
    assert_eq!(fetches, 1, "one key fetch for all five verifications");
    assert!(
        last < BOUND * 2,
        "the verifications waited for each other: {last:?}"
    );
}
