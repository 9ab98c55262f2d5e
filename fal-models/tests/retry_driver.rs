//! The one retry driver (`http::retry::Retries`) drives storage uploads and downloads as it
//! drives queue calls: the waits are jittered, a `Retry-After` is honoured up to the policy's
//! `max_retry_after` (a longer one ends the retries at once), the last failure is logged with
//! `giving_up`, and a client's [`RetryPolicy`] governs its storage and downloads too.
//!
//! Faults come from `fault_proxy`, a raw TCP server that answers each request as told; every
//! assertion counts requests or reads the waits the driver logged, never a measured time
//! (except lower bounds: a wait is never shorter than what was asked).

mod fault_proxy;
mod storage_fake;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fal_models::client::{Client, RetryPolicy};
use fal_models::files::{DownloadOptions, FilesError, download_to_writer};
use fal_models::storage::{Storage, StorageError, UploadOptions};
use fault_proxy::{Action, FaultProxy};

const UPLOAD_PATH: &str = "/files/upload";
const FILE: &str = "the file's bytes";

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Captures every event of this thread (the tests run on a current-thread runtime).
fn capture() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

fn h(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

/// The `retry_in_ms` of each "`{prefix}` ... failed; retrying" line.
fn waits(log: &str, prefix: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains(prefix) && l.contains("failed; retrying"))
        .map(|l| {
            let at = l.find("retry_in_ms=").expect("a retry logs its wait") + "retry_in_ms=".len();
            l[at..]
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect()
}

/// A proxy in front of the storage fake whose upload route answers `503` to the first
/// `failures` uploads (with `headers`), then forwards.
async fn failing_uploads(
    failures: usize,
    status: u16,
    headers: Vec<(String, String)>,
) -> (storage_fake::Fake, FaultProxy) {
    let fake = storage_fake::start().await;
    let upstream = fake.url.trim_start_matches("http://").to_owned();
    let uploads = Arc::new(Mutex::new(0usize));
    let proxy = FaultProxy::start(upstream, move |_, seen| {
        if seen.path.starts_with(UPLOAD_PATH) {
            let mut n = uploads.lock().unwrap();
            *n += 1;
            if *n <= failures {
                return Action::Respond(status, headers.clone(), r#"{"detail":"busy"}"#.into());
            }
        }
        Action::Forward
    })
    .await;
    (fake, proxy)
}

fn upload_requests(proxy: &FaultProxy) -> usize {
    proxy
        .seen()
        .iter()
        .filter(|s| s.path.starts_with(UPLOAD_PATH))
        .count()
}

fn storage(fake: &storage_fake::Fake, proxy: &FaultProxy, policy: RetryPolicy) -> Storage {
    Storage::builder()
        .key(storage_fake::KEY)
        .rest_base_url(&fake.url)
        .upload_base_url(&proxy.url)
        .retry(policy)
        .build()
        .unwrap()
}

/// A file server that answers `status` (with `headers`) to the first `failures` requests,
/// then the file.
async fn failing_file(
    failures: usize,
    status: u16,
    headers: Vec<(String, String)>,
) -> (String, FaultProxy) {
    let proxy = FaultProxy::start("127.0.0.1:9".into(), move |n, _| {
        if n < failures {
            Action::Respond(status, headers.clone(), "busy".into())
        } else {
            Action::Respond(200, vec![h("content-type", "text/plain")], FILE.into())
        }
    })
    .await;
    (format!("{}/file.txt", proxy.url), proxy)
}

/// 100 ms waits (no growth), so jitter alone makes them differ.
fn flat(jitter: bool) -> RetryPolicy {
    RetryPolicy::default()
        .max_retries(5)
        .initial_backoff(Duration::from_millis(100))
        .max_backoff(Duration::from_millis(100))
        .jitter(jitter)
}

#[tokio::test(flavor = "current_thread")]
async fn uploads_and_downloads_wait_with_jitter_and_log_their_last_failure() {
    for jitter in [true, false] {
        let (captured, guard) = capture();
        // Five failures, five retries: the upload succeeds after five jittered waits.
        let (fake, proxy) = failing_uploads(5, 503, vec![]).await;
        storage(&fake, &proxy, flat(jitter))
            .upload_bytes(b"abc".to_vec(), &UploadOptions::new())
            .await
            .unwrap();
        assert_eq!(upload_requests(&proxy), 6);
        // Six failures, five retries: the download gives up, and says so.
        let (url, proxy) = failing_file(6, 503, vec![]).await;
        let mut out = Vec::new();
        let options = DownloadOptions::new().retry(flat(jitter));
        let err = download_to_writer(&reqwest::Client::new(), &url, &mut out, &options)
            .await
            .unwrap_err();
        assert!(matches!(err, FilesError::Status { .. }), "{err:?}");
        assert_eq!(proxy.seen().len(), 6);
        drop(guard);

        let log = captured.text();
        for prefix in ["storage: attempt", "download: attempt"] {
            let waits = waits(&log, prefix);
            assert_eq!(waits.len(), 5, "{prefix}: {log}");
            if jitter {
                // Equal jitter: each wait in [half, all] of the backoff, and they vary.
                assert!(
                    waits.iter().all(|w| (50..=100).contains(w)),
                    "{prefix}: {waits:?}"
                );
                assert!(
                    waits.iter().any(|w| *w != waits[0]),
                    "{prefix}: jittered waits differ: {waits:?}"
                );
            } else {
                assert!(waits.iter().all(|w| *w == 100), "{prefix}: {waits:?}");
            }
        }
        let gave_up: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("giving_up=true"))
            .collect();
        assert_eq!(gave_up.len(), 1, "only the download gave up: {log}");
        assert!(
            gave_up[0].contains("download: attempt failed") && gave_up[0].contains("attempt=6"),
            "{log}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn uploads_and_downloads_honour_retry_after_up_to_max_retry_after() {
    // A Retry-After past the policy's cap ends the retries at once: one request each.
    let policy = RetryPolicy::default()
        .max_retries(3)
        .initial_backoff(Duration::from_millis(10))
        .max_retry_after(Duration::from_secs(2));
    let (fake, proxy) = failing_uploads(1, 429, vec![h("retry-after", "30")]).await;
    let err = storage(&fake, &proxy, policy.clone())
        .upload_bytes(b"abc".to_vec(), &UploadOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StorageError::Status { status, retry_after: Some(ra), .. }
            if status.as_u16() == 429 && *ra == Duration::from_secs(30)),
        "{err:?}"
    );
    assert_eq!(
        upload_requests(&proxy),
        1,
        "not retried past max_retry_after"
    );

    let (url, proxy) = failing_file(1, 429, vec![h("retry-after", "30")]).await;
    let mut out = Vec::new();
    let options = DownloadOptions::new().retry(policy.clone());
    let err = download_to_writer(&reqwest::Client::new(), &url, &mut out, &options)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FilesError::Status { status, .. } if status.as_u16() == 429),
        "{err:?}"
    );
    assert_eq!(proxy.seen().len(), 1, "not retried past max_retry_after");

    // One within the cap is waited for (not the 10 ms backoff), then retried.
    let started = Instant::now();
    let (fake, proxy) = failing_uploads(1, 429, vec![h("retry-after", "1")]).await;
    storage(&fake, &proxy, policy.clone())
        .upload_bytes(b"abc".to_vec(), &UploadOptions::new())
        .await
        .unwrap();
    assert_eq!(upload_requests(&proxy), 2);
    let (url, proxy) = failing_file(1, 503, vec![h("retry-after", "1")]).await;
    let mut out = Vec::new();
    let options = DownloadOptions::new().retry(policy);
    download_to_writer(&reqwest::Client::new(), &url, &mut out, &options)
        .await
        .unwrap();
    assert_eq!(out, FILE.as_bytes());
    assert_eq!(proxy.seen().len(), 2);
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(1900),
        "two Retry-After: 1 waited: {elapsed:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_clients_retry_policy_governs_its_storage_and_downloads() {
    for (policy, attempts) in [
        (RetryPolicy::none(), 1),
        (
            RetryPolicy::default()
                .max_retries(1)
                .initial_backoff(Duration::from_millis(10)),
            2,
        ),
    ] {
        // The token route always busy: as many token requests as the client's policy allows.
        let fake = storage_fake::start().await;
        fake.state.lock().unwrap().fail_token = 100;
        let client = Client::builder()
            .key(storage_fake::KEY)
            .rest_url(&fake.url)
            .retry(policy.clone())
            .build()
            .unwrap();
        let err = client
            .storage()
            .unwrap()
            .upload_bytes(b"abc".to_vec(), &UploadOptions::new())
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Status { .. }), "{err:?}");
        assert_eq!(
            fake.state.lock().unwrap().token_requests,
            attempts as u32,
            "{policy:?}"
        );

        let (url, proxy) = failing_file(100, 503, vec![]).await;
        let dir = tempfile::tempdir().unwrap();
        let err = client
            .download(&fal_models::types::File::new(url), dir.path().join("f"))
            .await
            .unwrap_err();
        assert!(matches!(err, fal_models::Error::Download(_)), "{err:?}");
        assert_eq!(proxy.seen().len(), attempts, "{policy:?}");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_upload_refused_with_a_client_error_is_not_retried() {
    for status in [400, 404, 413] {
        let (fake, proxy) = failing_uploads(1, status, vec![]).await;
        let err = storage(&fake, &proxy, flat(false))
            .upload_bytes(b"abc".to_vec(), &UploadOptions::new())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StorageError::Status { status: s, .. } if s.as_u16() == status),
            "{err:?}"
        );
        assert_eq!(upload_requests(&proxy), 1, "{status} is not retried");
    }
}
