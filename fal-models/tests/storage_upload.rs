//! Uploads to a fake fal storage server over real HTTP on loopback.

mod fault_proxy;
mod storage_fake;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, UNIX_EPOCH};

use fal_models::client::Bounds;
use fal_models::storage::{Storage, StorageBuilder, StorageError, UploadOptions};
use fault_proxy::{Action, FaultProxy};
use serde_json::json;
use storage_fake::{Fake, KEY, data, start};

fn builder(fake: &Fake) -> StorageBuilder {
    Storage::builder()
        .key(KEY)
        .rest_base_url(&fake.url)
        .retry_backoff(Duration::from_millis(1))
}

/// 2030-01-01T00:00:00Z: where [`storage_on_a_set_clock`]'s clock starts.
const START_SECS: u64 = 1_893_456_000;

/// A storage whose clock reads the returned seconds since the epoch (starting at
/// [`START_SECS`]) and refreshes its token 60 s before it expires.
fn storage_on_a_set_clock(fake: &Fake) -> (Storage, Arc<AtomicU64>) {
    let now = Arc::new(AtomicU64::new(START_SECS));
    let clock = now.clone();
    let storage = builder(fake)
        .token_refresh_margin(Duration::from_secs(60))
        .clock(move || UNIX_EPOCH + Duration::from_secs(clock.load(Ordering::SeqCst)))
        .build()
        .unwrap();
    (storage, now)
}

fn object_id(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_string()
}

#[tokio::test]
async fn single_upload_sends_bytes_and_headers_and_reuses_the_token() {
    let fake = start().await;
    let storage = builder(&fake).build().unwrap();
    let body = data(3000);
    let opts = UploadOptions::new()
        .file_name("cat.png")
        .expires_in(Duration::from_secs(3600));
    let url = storage.upload_bytes(body.clone(), &opts).await.unwrap();
    assert!(url.starts_with(&format!("{}/obj/", fake.url)), "{url}");
    let url2 = storage
        .upload_bytes(
            b"second".to_vec(),
            &UploadOptions::new().content_type("text/plain"),
        )
        .await
        .unwrap();

    let s = fake.state.lock().unwrap();
    assert_eq!(s.token_requests, 1, "the token is cached between uploads");
    assert_eq!(s.token_auth_headers, vec![format!("Key {KEY}")]);
    let obj = &s.objects[&object_id(&url)];
    assert_eq!(obj.data, body);
    assert!(!obj.multipart);
    assert_eq!(
        obj.content_type.as_deref(),
        Some("image/png"),
        "guessed from the file name"
    );
    assert_eq!(obj.file_name.as_deref(), Some("cat.png"));
    let lifecycle: serde_json::Value =
        serde_json::from_str(obj.lifecycle.as_deref().unwrap()).unwrap();
    assert_eq!(lifecycle, json!({ "expiration_duration_seconds": 3600 }));
    assert_eq!(
        obj.lifecycle_cdn, obj.lifecycle,
        "the header fal's CDN reads carries the same preference"
    );
    let obj2 = &s.objects[&object_id(&url2)];
    assert_eq!(obj2.data, b"second");
    assert_eq!(obj2.content_type.as_deref(), Some("text/plain"));
    assert_eq!(obj2.file_name, None);
    assert_eq!(obj2.lifecycle, None);
    assert!(s.upload_auth.iter().all(|a| a == "Bearer tok-1"));
}

#[tokio::test]
async fn upload_path_streams_a_file_with_its_name_and_type() {
    let fake = start().await;
    let storage = builder(&fake).build().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clip.mp4");
    let body = data(200_000);
    std::fs::write(&path, &body).unwrap();
    let url = storage
        .upload_path(&path, &UploadOptions::default())
        .await
        .unwrap();
    let s = fake.state.lock().unwrap();
    let obj = &s.objects[&object_id(&url)];
    assert_eq!(obj.data, body);
    assert_eq!(obj.file_name.as_deref(), Some("clip.mp4"));
    assert_eq!(obj.content_type.as_deref(), Some("video/mp4"));
    assert!(!obj.multipart);
}

#[tokio::test]
async fn upload_path_of_a_missing_file_names_the_path() {
    let fake = start().await;
    let storage = builder(&fake).build().unwrap();
    let err = storage
        .upload_path("/definitely/not/here.png", &UploadOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Io { .. }), "{err:?}");
    assert!(
        err.to_string().contains("/definitely/not/here.png"),
        "{err}"
    );
}

#[tokio::test]
async fn multipart_bytes_are_reassembled_exactly_with_a_flaky_part_retried() {
    let fake = start().await;
    fake.state.lock().unwrap().fail_part.insert(3, 1);
    fake.state.lock().unwrap().expect_parallel = true;
    let storage = builder(&fake)
        .multipart_threshold(4096)
        .part_size(1024)
        .concurrency(3)
        .build()
        .unwrap();
    let body = data(10 * 1024 + 512);
    let opts = UploadOptions::new().file_name("big.bin");
    let url = storage.upload_bytes(body.clone(), &opts).await.unwrap();

    let s = fake.state.lock().unwrap();
    let obj = &s.objects[&object_id(&url)];
    assert!(obj.multipart);
    assert_eq!(obj.data.len(), body.len());
    assert!(obj.data == body, "parts reassembled byte-exact");
    assert_eq!(obj.file_name.as_deref(), Some("big.bin"));
    assert_eq!(
        obj.content_type.as_deref(),
        Some("application/octet-stream")
    );
    assert_eq!(s.part_attempts.len(), 11, "10 full parts and a half one");
    assert_eq!(s.part_attempts[&3], 2, "part 3 failed once and was retried");
    assert!(s.part_attempts.iter().all(|(n, a)| *n == 3 || *a == 1));
    assert!(
        s.max_in_flight <= 3,
        "at most 3 parts at once, saw {}",
        s.max_in_flight
    );
    assert!(s.max_in_flight >= 2, "parts are uploaded in parallel");
    assert!(s.upload_auth.iter().all(|a| a == "Bearer tok-1"));
}

#[tokio::test]
async fn multipart_from_a_path_and_from_a_reader() {
    let fake = start().await;
    let storage = builder(&fake)
        .multipart_threshold(2048)
        .part_size(1000)
        .concurrency(2)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frames.webm");
    let body = data(5500);
    std::fs::write(&path, &body).unwrap();

    let from_path = storage
        .upload_path(&path, &UploadOptions::default())
        .await
        .unwrap();
    let reader = tokio::fs::File::open(&path).await.unwrap();
    let from_reader = storage
        .upload_reader(reader, &UploadOptions::new().content_type("video/webm"))
        .await
        .unwrap();
    // A reader below the threshold goes up in one request.
    let small = storage
        .upload_reader(&b"tiny"[..], &UploadOptions::default())
        .await
        .unwrap();

    let s = fake.state.lock().unwrap();
    for url in [&from_path, &from_reader] {
        let obj = &s.objects[&object_id(url)];
        assert!(obj.multipart, "{url}");
        assert!(obj.data == body, "{url} reassembled byte-exact");
        assert_eq!(obj.content_type.as_deref(), Some("video/webm"));
    }
    assert_eq!(
        s.objects[&object_id(&from_path)].file_name.as_deref(),
        Some("frames.webm")
    );
    let small = &s.objects[&object_id(&small)];
    assert!(!small.multipart);
    assert_eq!(small.data, b"tiny");
}

#[tokio::test]
async fn a_part_that_keeps_failing_is_reported_with_its_number_and_url() {
    let fake = start().await;
    fake.state.lock().unwrap().fail_part.insert(2, 100);
    let storage = builder(&fake)
        .multipart_threshold(100)
        .part_size(64)
        .max_retries(2)
        .build()
        .unwrap();
    let err = storage
        .upload_bytes(data(300), &UploadOptions::default())
        .await
        .unwrap_err();
    let StorageError::Part { part, attempts, .. } = &err else {
        panic!("expected a part error, got {err:?}");
    };
    assert_eq!((*part, *attempts), (2, 3));
    let msg = err.to_string();
    assert!(msg.contains("part 2"), "{msg}");
    let source = std::error::Error::source(&err).unwrap().to_string();
    assert!(
        source.contains("/multipart/") && source.contains("/2"),
        "{source}"
    );
    assert!(source.contains("503"), "{source}");
    let s = fake.state.lock().unwrap();
    assert_eq!(s.part_attempts[&2], 3);
    assert!(s.objects.is_empty(), "the upload was not completed");
}

#[tokio::test]
async fn the_token_is_refreshed_when_it_expires() {
    let fake = start().await;
    // Tokens expire at 2030-01-01T00:10:00Z (written with an offset and fractional seconds).
    fake.state.lock().unwrap().expires_at = Some(json!("2030-01-01T01:10:00.000000+01:00"));
    let (storage, now) = storage_on_a_set_clock(&fake);
    let opts = UploadOptions::default();

    storage.upload_bytes(b"a".to_vec(), &opts).await.unwrap();
    now.store(START_SECS + 500, Ordering::SeqCst); // 100 s before the margin
    storage.upload_bytes(b"b".to_vec(), &opts).await.unwrap();
    assert_eq!(fake.state.lock().unwrap().token_requests, 1);

    now.store(START_SECS + 541, Ordering::SeqCst); // inside the 60 s margin
    storage.upload_bytes(b"c".to_vec(), &opts).await.unwrap();
    let s = fake.state.lock().unwrap();
    assert_eq!(s.token_requests, 2);
    assert_eq!(
        s.upload_auth,
        vec!["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    );
}

#[tokio::test]
async fn a_token_rejected_by_the_server_is_replaced() {
    let fake = start().await;
    let storage = builder(&fake).build().unwrap();
    storage
        .upload_bytes(b"a".to_vec(), &UploadOptions::default())
        .await
        .unwrap();
    // The server revokes the token early; the client's cache still thinks it is valid.
    fake.state.lock().unwrap().valid_tokens.clear();
    let url = storage
        .upload_bytes(b"b".to_vec(), &UploadOptions::default())
        .await
        .unwrap();
    let s = fake.state.lock().unwrap();
    assert_eq!(s.objects[&object_id(&url)].data, b"b");
    assert_eq!(s.token_requests, 2);
    assert_eq!(
        s.upload_auth,
        vec!["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    );
}

#[tokio::test]
async fn a_rejected_key_gives_a_clear_error_without_the_key() {
    let fake = start().await;
    let storage = builder(&fake)
        .key("wrong-key-secret")
        .max_retries(0)
        .build()
        .unwrap();
    let err = storage
        .upload_bytes(b"a".to_vec(), &UploadOptions::default())
        .await
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, StorageError::Status { status, .. } if status == 401),
        "{err:?}"
    );
    assert!(msg.contains("fetching a storage token"), "{msg}");
    assert!(msg.contains("/storage/auth/token"), "{msg}");
    assert!(!msg.contains("wrong-key-secret") && !format!("{err:?}").contains("wrong-key-secret"));
    assert!(!format!("{storage:?}").contains("wrong-key-secret"));
}

#[tokio::test]
async fn upload_base_url_overrides_the_token_base_url() {
    let fake = start().await;
    // The token points at a dead address; the override points at the fake.
    fake.state.lock().unwrap().base = "http://127.0.0.1:9".into();
    let storage = builder(&fake).upload_base_url(&fake.url).build().unwrap();
    storage
        .upload_bytes(b"x".to_vec(), &UploadOptions::default())
        .await
        .unwrap();
    let s = fake.state.lock().unwrap();
    assert_eq!(s.objects.len(), 1);
}

#[tokio::test]
async fn a_failing_token_endpoint_is_retried_then_reported() {
    let fake = start().await;
    fake.state.lock().unwrap().fail_token = 2;
    let storage = builder(&fake).max_retries(2).build().unwrap();
    let url = storage
        .upload_bytes(b"x".to_vec(), &UploadOptions::default())
        .await
        .unwrap();
    {
        let s = fake.state.lock().unwrap();
        assert_eq!(s.token_requests, 3, "two 503s, then a token");
        assert_eq!(s.objects[&object_id(&url)].data, b"x");
    }

    let fake = start().await;
    fake.state.lock().unwrap().fail_token = 10;
    let storage = builder(&fake).max_retries(1).build().unwrap();
    let err = storage
        .upload_bytes(b"x".to_vec(), &UploadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::Status { status, .. } if status == 503),
        "{err:?}"
    );
    assert!(err.to_string().contains("token service busy"), "{err}");
    assert_eq!(fake.state.lock().unwrap().token_requests, 2);
}

#[tokio::test]
async fn a_file_that_grows_during_the_upload_is_an_error_never_a_truncated_success() {
    for (threshold, what) in [(1 << 20, "single"), (1024, "multipart")] {
        let fake = start().await;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("growing.bin");
        std::fs::write(&path, data(3000)).unwrap();
        // Measured at 3000 bytes; it grows before its bytes are read (at the token fetch).
        let grow = path.clone();
        fake.state.lock().unwrap().on_token = Some(Box::new(move || {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&grow)
                .unwrap();
            f.write_all(&[b'x'; 500]).unwrap();
        }));
        let storage = builder(&fake)
            .multipart_threshold(threshold)
            .part_size(1024)
            .max_retries(1)
            .retry_backoff(Duration::from_millis(1))
            .build()
            .unwrap();
        let result = storage.upload_path(&path, &UploadOptions::new()).await;
        // The promise is the `Changed` error naming the file, not any error (a refused token or
        // a broken fake would be one too).
        match &result {
            Err(err @ StorageError::Changed { path: p, .. }) => {
                assert!(
                    p.ends_with("growing.bin"),
                    "{what}: the error names the file: {p}"
                );
                assert!(
                    err.to_string().contains("changed while it was uploaded"),
                    "{what}: {err}"
                );
            }
            other => panic!("{what}: expected StorageError::Changed, got {other:?}"),
        }
        assert!(
            fake.state.lock().unwrap().objects.is_empty(),
            "{what}: nothing stored as if complete"
        );
    }
}

#[tokio::test]
async fn without_a_part_size_parts_are_10_mib() {
    let fake = start().await;
    // A third part is refused for good: 10 MiB + 1 byte must go up as exactly two parts.
    fake.state.lock().unwrap().fail_part.insert(3, u32::MAX);
    let storage = builder(&fake)
        .multipart_threshold(1024)
        .max_retries(0)
        .build()
        .unwrap();
    let body = data(10 * 1024 * 1024 + 1);
    let url = storage
        .upload_bytes(body.clone(), &UploadOptions::default())
        .await
        .unwrap();
    let s = fake.state.lock().unwrap();
    let obj = &s.objects[&object_id(&url)];
    assert!(obj.multipart);
    assert!(obj.data == body, "parts reassembled byte-exact");
    let mut parts: Vec<u32> = s.part_attempts.keys().copied().collect();
    parts.sort();
    assert_eq!(parts, vec![1, 2], "one 10 MiB part and a 1-byte one");
}

#[tokio::test]
async fn without_a_threshold_a_few_mib_go_up_in_one_request() {
    let fake = start().await;
    let storage = builder(&fake).build().unwrap();
    // Far below the 100 MiB default threshold (and above 1 MiB).
    let body = data(4 * 1024 * 1024);
    let url = storage
        .upload_bytes(body.clone(), &UploadOptions::default())
        .await
        .unwrap();
    let s = fake.state.lock().unwrap();
    let obj = &s.objects[&object_id(&url)];
    assert!(!obj.multipart, "a single upload");
    assert!(obj.data == body);
    assert!(s.part_attempts.is_empty());
}

#[tokio::test]
async fn exactly_the_threshold_goes_in_one_request_one_byte_more_in_parts() {
    let fake = start().await;
    let storage = builder(&fake)
        .multipart_threshold(1024)
        .part_size(1000)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for (len, multipart) in [(1024, false), (1025, true)] {
        let body = data(len);
        let path = dir.path().join(format!("{len}.bin"));
        std::fs::write(&path, &body).unwrap();
        let urls = [
            storage
                .upload_bytes(body.clone(), &UploadOptions::default())
                .await
                .unwrap(),
            storage
                .upload_path(&path, &UploadOptions::default())
                .await
                .unwrap(),
            storage
                .upload_reader(&body[..], &UploadOptions::default())
                .await
                .unwrap(),
        ];
        let s = fake.state.lock().unwrap();
        for (url, how) in urls.iter().zip(["bytes", "path", "reader"]) {
            let obj = &s.objects[&object_id(url)];
            assert_eq!(obj.multipart, multipart, "{len} bytes from {how}");
            assert!(obj.data == body, "{len} bytes from {how}");
        }
    }
}

#[tokio::test]
async fn a_token_whose_expiry_cannot_be_read_is_used_for_5_minutes() {
    let fake = start().await;
    fake.state.lock().unwrap().expires_at = Some(json!("in a while"));
    let (storage, now) = storage_on_a_set_clock(&fake);
    let opts = UploadOptions::default();

    storage.upload_bytes(b"a".to_vec(), &opts).await.unwrap();
    now.store(START_SECS + 239, Ordering::SeqCst); // 5 min less the 60 s margin, less 1 s
    storage.upload_bytes(b"b".to_vec(), &opts).await.unwrap();
    assert_eq!(fake.state.lock().unwrap().token_requests, 1);

    now.store(START_SECS + 240, Ordering::SeqCst); // the margin reached
    storage.upload_bytes(b"c".to_vec(), &opts).await.unwrap();
    let s = fake.state.lock().unwrap();
    assert_eq!(s.token_requests, 2);
    assert_eq!(
        s.upload_auth,
        vec!["Bearer tok-1", "Bearer tok-1", "Bearer tok-2"]
    );
}

#[tokio::test]
async fn a_numeric_expires_at_is_seconds_since_the_epoch_and_a_negative_one_is_not_read() {
    // (expires_at, the last second the token is still used with the 60 s margin)
    for (expires_at, last) in [
        (json!(START_SECS + 600), 539),
        (json!(START_SECS as f64 + 600.5), 540),
        // Unreadable: the 5 minute fallback.
        (json!(-5), 239),
    ] {
        let fake = start().await;
        fake.state.lock().unwrap().expires_at = Some(expires_at.clone());
        let (storage, now) = storage_on_a_set_clock(&fake);
        let opts = UploadOptions::default();
        storage.upload_bytes(b"a".to_vec(), &opts).await.unwrap();
        now.store(START_SECS + last, Ordering::SeqCst);
        storage.upload_bytes(b"b".to_vec(), &opts).await.unwrap();
        assert_eq!(
            fake.state.lock().unwrap().token_requests,
            1,
            "{expires_at}: still used at +{last} s"
        );
        now.store(START_SECS + last + 1, Ordering::SeqCst);
        storage.upload_bytes(b"c".to_vec(), &opts).await.unwrap();
        assert_eq!(
            fake.state.lock().unwrap().token_requests,
            2,
            "{expires_at}: refreshed at +{} s",
            last + 1
        );
    }
}

#[tokio::test]
async fn invalidate_token_makes_the_next_upload_fetch_a_new_one() {
    let fake = start().await;
    let storage = builder(&fake).build().unwrap();
    let opts = UploadOptions::default();
    storage.upload_bytes(b"a".to_vec(), &opts).await.unwrap();
    storage.invalidate_token().await;
    storage.upload_bytes(b"b".to_vec(), &opts).await.unwrap();
    let s = fake.state.lock().unwrap();
    assert_eq!(s.token_requests, 2);
    assert_eq!(s.upload_auth, vec!["Bearer tok-1", "Bearer tok-2"]);
}

#[tokio::test]
async fn a_failed_token_fetch_is_answered_from_memory_for_half_the_first_backoff() {
    let fake = start().await;
    fake.state.lock().unwrap().fail_token = 1;
    // Half of a 2 s backoff, capped at 500 ms: the second upload comes well within it.
    let storage = builder(&fake)
        .max_retries(0)
        .retry_backoff(Duration::from_secs(2))
        .build()
        .unwrap();
    for upload in ["first", "second"] {
        let err = storage
            .upload_bytes(b"x".to_vec(), &UploadOptions::default())
            .await
            .unwrap_err();
        assert!(
            matches!(&err, StorageError::Status { status, .. } if *status == 503),
            "{upload}: {err:?}"
        );
    }
    let s = fake.state.lock().unwrap();
    assert_eq!(s.token_requests, 1, "the failure was not fetched again");
    assert!(s.objects.is_empty());
}

#[tokio::test]
async fn a_rejected_key_is_not_retried() {
    let fake = start().await;
    let storage = builder(&fake)
        .key("wrong-key")
        .max_retries(3)
        .build()
        .unwrap();
    let err = storage
        .upload_bytes(b"a".to_vec(), &UploadOptions::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, StorageError::Status { status, .. } if status == 401),
        "{err:?}"
    );
    let s = fake.state.lock().unwrap();
    assert_eq!(s.token_requests, 1, "a refused key stays refused");
    assert!(s.objects.is_empty());
}

/// An upload's response-head (and total) bound grows by one second per 256 KiB sent, since the
/// head only comes after the body: against an upload route that takes the body and never
/// answers, 512 KiB under a 1 s head bound (2 s total) end as a head timeout no sooner than
/// 1 s + 2 s (a lower bound only), and well within the test's guard.
#[tokio::test]
async fn an_uploads_bounds_grow_one_second_per_256_kib_sent() {
    let fake = start().await;
    let upstream = fake.url.trim_start_matches("http://").to_owned();
    let proxy = FaultProxy::start(upstream, |_, seen| {
        if seen.path.starts_with("/files/upload") {
            Action::Never
        } else {
            Action::Forward
        }
    })
    .await;
    let bounds = Bounds::default()
        .response_head(Some(Duration::from_secs(1)))
        .total(Some(Duration::from_secs(2)));
    let storage = builder(&fake)
        .upload_base_url(&proxy.url)
        .max_retries(0)
        .bounds(bounds)
        .build()
        .unwrap();
    let started = Instant::now();
    let options = UploadOptions::default();
    let upload = storage.upload_bytes(data(512 * 1024), &options);
    let err = tokio::time::timeout(Duration::from_secs(20), upload)
        .await
        .expect("the bounds end a silent upload")
        .unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(err, StorageError::Timeout { .. }), "{err:?}");
    assert!(
        elapsed >= Duration::from_secs(3),
        "a 1 s head bound + 2 s for 512 KiB: ended after {elapsed:?}"
    );
}
