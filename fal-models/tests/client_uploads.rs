//! `upload_local_files`: a local file named in a typed input is uploaded to fal storage before
//! the submit, and the submitted input carries the uploaded URL. Both servers run on loopback:
//! the fal mock (queue) and a fake fal storage.

mod storage_fake;

use std::path::PathBuf;

use fal_models::Error;
use fal_models::error::Operation;
use fal_models::fal_ai::pika::v2_2::image_to_video::Input;
use fal_models::files;
use fal_models::mock::MockServer;

fn schema() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas/fal-ai/pika/v2.2/image-to-video.json")
}

#[tokio::test]
async fn local_files_are_uploaded_before_submit() {
    let storage = storage_fake::start().await;
    let mock = MockServer::builder()
        .schema_file(schema())
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = mock
        .client_builder()
        .key(storage_fake::KEY)
        .rest_url(&storage.url)
        .build()
        .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("first frame.png");
    std::fs::write(&image, storage_fake::data(4096)).unwrap();

    let input = Input::new(
        files::local(&image),
        "a woman looking into camera slowly smiling",
    );
    let out = client
        .subscribe(input)
        .upload_local_files(true)
        .await
        .unwrap();
    assert!(!out.video.url.is_empty());

    // The queue saw the uploaded URL, never the local path.
    let submitted = mock
        .requests()
        .into_iter()
        .find(|r| r.operation == Some(Operation::Submit))
        .and_then(|r| r.json())
        .expect("one submit with a JSON body");
    let sent = submitted["image_url"].as_str().unwrap();
    assert!(sent.starts_with(&format!("{}/obj/", storage.url)), "{sent}");
    let state = storage.state.lock().unwrap();
    assert_eq!(state.objects.len(), 1);
    let object = &state.objects[sent.rsplit('/').next().unwrap()];
    assert_eq!(object.data, storage_fake::data(4096));
}

#[tokio::test]
async fn a_missing_local_file_fails_before_anything_is_submitted() {
    let storage = storage_fake::start().await;
    let mock = MockServer::builder()
        .schema_file(schema())
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = mock
        .client_builder()
        .key(storage_fake::KEY)
        .rest_url(&storage.url)
        .build()
        .unwrap();

    let missing = std::env::temp_dir().join("fal-models-no-such-file.png");
    let input = Input::new(files::local(&missing), "a prompt");
    let err = client
        .subscribe(input)
        .upload_local_files(true)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Upload(_)), "{err:?}");
    assert!(
        err.to_string().contains("fal-models-no-such-file.png"),
        "{err}"
    );
    assert_eq!(
        mock.count(Operation::Submit),
        0,
        "nothing is submitted (nothing billed)"
    );
}

#[tokio::test]
async fn without_the_option_file_urls_are_sent_as_they_are() {
    let mock = MockServer::builder()
        .schema_file(schema())
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = mock.client();
    let input = Input::new("https://example.com/cat.png", "a prompt");
    client.subscribe(input).await.unwrap();
    let submitted = mock
        .requests()
        .into_iter()
        .find(|r| r.operation == Some(Operation::Submit))
        .and_then(|r| r.json())
        .unwrap();
    assert_eq!(submitted["image_url"], "https://example.com/cat.png");
}

#[tokio::test]
async fn local_files_are_uploaded_only_on_request_and_only_when_built_by_files_local() {
    let storage = storage_fake::start().await;
    let mock = MockServer::builder()
        .schema_file(schema())
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = mock
        .client_builder()
        .key(storage_fake::KEY)
        .rest_url(&storage.url)
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("cat.png");
    std::fs::write(&image, storage_fake::data(100)).unwrap();
    let endpoint = "fal-ai/pika/v2.2/image-to-video";

    // A local file without the opt-in: refused before anything is sent.
    let input = serde_json::json!({ "image_url": files::local(&image), "prompt": "p" });
    let err = client.subscribe_json(endpoint, input).await.unwrap_err();
    assert!(matches!(err, Error::LocalFileNotAllowed { .. }), "{err:?}");
    assert_eq!(mock.count(Operation::Submit), 0);
    assert_eq!(storage.state.lock().unwrap().token_requests, 0);

    // A string that merely looks like a local file (a user's prompt) is never read from disk,
    // even with the opt-in: it is sent as the text it is.
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "do not upload").unwrap();
    let typed = format!("file://{}", secret.display());
    let input = serde_json::json!({ "image_url": "https://example.com/cat.png", "prompt": typed });
    client
        .subscribe_json(endpoint, input)
        .upload_local_files(true)
        .await
        .unwrap();
    let submitted = mock
        .requests()
        .into_iter()
        .find(|r| r.operation == Some(Operation::Submit))
        .and_then(|r| r.json())
        .unwrap();
    assert_eq!(submitted["prompt"], serde_json::json!(typed));
    assert!(
        storage.state.lock().unwrap().objects.is_empty(),
        "nothing uploaded"
    );
}
