//! `client.download(&out.video, path)`: generated output file types carry their declared content
//! type and size, and the download checks them. A file server on loopback serves the bytes.

use axum::Router;
use axum::http::header;
use axum::routing::get;
use fal_models::Error;
use fal_models::fal_ai::sora_2::text_to_video::VideoFile;
use fal_models::files::RemoteFile;
use serde_json::json;

const BODY: &[u8] = b"\x00\x00\x00\x18ftypmp42 not really a video";

async fn serve() -> String {
    let app = Router::new().route(
        "/v.mp4",
        get(|| async { ([(header::CONTENT_TYPE, "video/mp4")], BODY) }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn client() -> fal_models::Client {
    fal_models::Client::builder()
        .key("test-key")
        .build()
        .unwrap()
}

#[tokio::test]
async fn downloads_an_output_file_and_checks_what_it_declares() {
    let base = serve().await;
    let video: VideoFile = serde_json::from_value(json!({
        "url": format!("{base}/v.mp4"), "content_type": "video/mp4", "file_size": BODY.len()
    }))
    .unwrap();
    assert_eq!(video.content_type(), Some("video/mp4"));
    assert_eq!(video.file_size(), Some(BODY.len() as u64));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.mp4");
    client().download(&video, &path).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), BODY);
}

#[tokio::test]
async fn a_file_that_is_not_what_the_output_declares_is_rejected_and_not_kept() {
    let base = serve().await;
    let wrong_type: VideoFile = serde_json::from_value(
        json!({"url": format!("{base}/v.mp4"), "content_type": "image/png"}),
    )
    .unwrap();
    let wrong_size: VideoFile = serde_json::from_value(
        json!({"url": format!("{base}/v.mp4"), "file_size": BODY.len() + 1}),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    for file in [wrong_type, wrong_size] {
        let path = dir.path().join("out.mp4");
        let err = client().download(&file, &path).await.unwrap_err();
        assert!(matches!(err, Error::Download(_)), "{err:?}");
        assert!(!path.exists(), "no partial file left behind");
    }
}

#[tokio::test]
async fn data_uris_in_outputs_are_decoded_without_a_request() {
    let video: VideoFile = serde_json::from_value(json!({
        "url": fal_models::files::data_uri(b"tiny", "video/mp4"), "content_type": "video/mp4"
    }))
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("inline.mp4");
    client().download(&video, &path).await.unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"tiny");
}
