//! Local files in URL fields: `files::local` and `resolve_local_files` against a fake fal
//! storage server on loopback.

mod storage_fake;

use std::time::Duration;

use fal_models::files::{self, FilesError};
use fal_models::storage::{Storage, UploadOptions};
use serde_json::json;
use storage_fake::{KEY, data, start};

#[test]
fn local_makes_absolute_percent_encoded_file_urls() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("my cat é#1.png");
    let url = files::local(&path);
    assert!(url.starts_with("file:///"), "{url}");
    assert!(url.ends_with("/my%20cat%20%C3%A9%231.png"), "{url}");
    assert_eq!(files::local_path(&url).unwrap(), path);
    assert!(files::is_local(&url));

    let relative = files::local("cat.png");
    let expected = std::env::current_dir().unwrap().join("cat.png");
    assert_eq!(files::local_path(&relative).unwrap(), expected);

    assert!(matches!(
        files::local_path("https://example.com/cat.png"),
        Err(FilesError::InvalidLocalUrl { .. })
    ));
}

#[tokio::test]
async fn resolve_local_files_uploads_each_file_once_and_rewrites_the_input() {
    let fake = start().await;
    let storage = Storage::builder()
        .key(KEY)
        .rest_base_url(&fake.url)
        .retry_backoff(Duration::from_millis(1))
        .concurrency(2)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("a.png"),
        dir.path().join("b b.jpg"),
        dir.path().join("c.mp4"),
    );
    std::fs::write(&a, data(100)).unwrap();
    std::fs::write(&b, data(200)).unwrap();
    std::fs::write(&c, data(300)).unwrap();
    let inline = files::data_uri(b"xyz", "image/png");

    // Shaped like a serialized endpoint input: a string field, an array field, a nested one.
    let mut input = json!({
        "prompt": "a cat",
        "image_url": files::local(&a),
        "image_urls": [files::local(&b), "https://v3.fal.media/files/keep.png", files::local(&a), inline],
        "num_images": 2,
        "extra": { "first_frame_url": files::local(&c), "enabled": true },
    });
    let uploaded = files::resolve_local_files(&storage, &mut input)
        .await
        .unwrap();
    assert_eq!(uploaded, 3, "three distinct files");

    {
        let s = fake.state.lock().unwrap();
        assert_eq!(
            s.objects.len(),
            3,
            "a.png was uploaded once although referenced twice"
        );
        let object = |field: &serde_json::Value| {
            let url = field.as_str().unwrap();
            assert!(url.starts_with(&format!("{}/obj/", fake.url)), "{url}");
            s.objects[url.rsplit('/').next().unwrap()].clone()
        };
        let oa = object(&input["image_url"]);
        assert_eq!(oa.data, data(100));
        assert_eq!(
            (oa.file_name.as_deref(), oa.content_type.as_deref()),
            (Some("a.png"), Some("image/png"))
        );
        assert_eq!(input["image_urls"][2], input["image_url"]);
        let ob = object(&input["image_urls"][0]);
        assert_eq!(ob.data, data(200));
        assert_eq!(
            (ob.file_name.as_deref(), ob.content_type.as_deref()),
            (Some("b b.jpg"), Some("image/jpeg"))
        );
        assert_eq!(object(&input["extra"]["first_frame_url"]).data, data(300));
        assert_eq!(
            input["image_urls"][1],
            "https://v3.fal.media/files/keep.png"
        );
        assert_eq!(
            input["image_urls"][3],
            json!(files::data_uri(b"xyz", "image/png"))
        );
        assert_eq!(input["prompt"], "a cat");
        assert_eq!(input["num_images"], 2);
        assert_eq!(input["extra"]["enabled"], true);
    }

    // Nothing left to upload: a second pass is a no-op.
    assert_eq!(storage.resolve_local_files(&mut input).await.unwrap(), 0);
}

#[tokio::test]
async fn a_missing_local_file_is_named_and_the_input_left_unchanged() {
    let fake = start().await;
    let storage = Storage::builder()
        .key(KEY)
        .rest_base_url(&fake.url)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let present = dir.path().join("here.png");
    std::fs::write(&present, b"png").unwrap();
    let missing = dir.path().join("not-here.png");
    let mut input = json!({ "image_urls": [files::local(&present), files::local(&missing)] });
    let before = input.clone();
    let err = files::resolve_local_files(&storage, &mut input)
        .await
        .unwrap_err();
    assert!(matches!(err, FilesError::Upload { .. }), "{err:?}");
    assert!(err.to_string().contains("not-here.png"), "{err}");
    assert_eq!(input, before);
}

#[tokio::test]
async fn resolve_local_files_with_applies_the_lifecycle_to_every_file() {
    let fake = start().await;
    let storage = Storage::builder()
        .key(KEY)
        .rest_base_url(&fake.url)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("frame.webp");
    std::fs::write(&path, b"webp").unwrap();
    let mut input = json!({ "end_image_url": files::local(&path) });
    let options = UploadOptions::new()
        .expires_in(Duration::from_secs(600))
        .file_name("ignored.bin");
    files::resolve_local_files_with(&storage, &mut input, &options)
        .await
        .unwrap();
    let s = fake.state.lock().unwrap();
    let obj = s.objects.values().next().unwrap();
    assert_eq!(obj.file_name.as_deref(), Some("frame.webp"));
    assert_eq!(obj.content_type.as_deref(), Some("image/webp"));
    assert_eq!(
        obj.lifecycle.as_deref(),
        Some(r#"{"expiration_duration_seconds":600}"#)
    );
}

#[tokio::test]
async fn resolve_local_files_uploads_up_to_the_storage_concurrency_files_at_once() {
    let fake = start().await;
    fake.state.lock().unwrap().expect_parallel = true;
    let storage = Storage::builder()
        .key(KEY)
        .rest_base_url(&fake.url)
        .concurrency(2)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let paths: Vec<_> = (0..3)
        .map(|i| {
            let path = dir.path().join(format!("{i}.png"));
            std::fs::write(&path, data(100 + i)).unwrap();
            path
        })
        .collect();
    let mut input = json!({ "image_urls": paths.iter().map(files::local).collect::<Vec<_>>() });
    let uploaded = files::resolve_local_files(&storage, &mut input)
        .await
        .unwrap();
    assert_eq!(uploaded, 3);
    let s = fake.state.lock().unwrap();
    assert_eq!(s.objects.len(), 3);
    assert_eq!(
        s.max_in_flight, 2,
        "two files at once (the storage's concurrency), never three"
    );
}
