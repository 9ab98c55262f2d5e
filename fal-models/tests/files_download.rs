//! Downloads over real HTTP on loopback, and `data:` URIs both ways.

use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Body;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use fal_models::files::{
    self, DownloadOptions, Downloaded, FilesError, data_uri, download_to_path, download_to_writer,
    parse_data_uri,
};
use tokio::io::AsyncWriteExt;

const BIG: usize = 3 * 1024 * 1024 + 123;

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

/// Serves `/big.mp4` (streamed in 64 KiB chunks with a Content-Length), `/chunked.png` (no
/// Content-Length), `/missing` (404).
async fn server() -> String {
    let app = Router::new()
        .route(
            "/big.mp4",
            get(|| async {
                let chunks: Vec<Result<Vec<u8>, std::io::Error>> = data(BIG)
                    .chunks(64 * 1024)
                    .map(|c| Ok(c.to_vec()))
                    .collect();
                (
                    [
                        (header::CONTENT_TYPE, "video/mp4"),
                        (header::CONTENT_LENGTH, &BIG.to_string()),
                    ],
                    Body::from_stream(futures::stream::iter(chunks)),
                )
                    .into_response()
            }),
        )
        .route(
            "/chunked.png",
            get(|| async {
                let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
                    vec![Ok(b"abc".to_vec()), Ok(b"def".to_vec())];
                (
                    [(header::CONTENT_TYPE, "image/png")],
                    Body::from_stream(futures::stream::iter(chunks)),
                )
            }),
        )
        .route(
            "/missing",
            get(|| async { (axum::http::StatusCode::NOT_FOUND, "gone") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// A raw HTTP server that announces `announced` bytes, sends `sent`, then closes.
async fn truncating_server(announced: usize, sent: usize) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/cut.png", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut buf).await;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: {announced}\r\n\r\n"
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&data(sent)).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    url
}

fn leftovers(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn a_large_download_streams_to_disk_with_progress() {
    let base = server().await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.mp4");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    let opts = DownloadOptions::new()
        .content_type("video/*")
        .size(BIG as u64)
        .on_progress(move |done, total| s.lock().unwrap().push((done, total)));
    let got = download_to_path(
        &reqwest::Client::new(),
        &format!("{base}/big.mp4"),
        &target,
        &opts,
    )
    .await
    .unwrap();
    assert_eq!(
        got,
        Downloaded {
            bytes: BIG as u64,
            content_type: Some("video/mp4".into())
        }
    );
    assert!(
        std::fs::read(&target).unwrap() == data(BIG),
        "content byte-exact"
    );
    assert_eq!(
        leftovers(dir.path()),
        vec!["out.mp4"],
        "no temporary file left"
    );

    let seen = seen.lock().unwrap();
    assert!(
        seen.len() > 10,
        "progress reported while streaming ({} calls)",
        seen.len()
    );
    assert!(
        seen.windows(2).all(|w| w[0].0 <= w[1].0),
        "progress is monotonic"
    );
    assert!(seen.iter().all(|(_, t)| *t == Some(BIG as u64)));
    assert_eq!(seen.last(), Some(&(BIG as u64, Some(BIG as u64))));
}

#[tokio::test]
async fn a_truncated_download_fails_clearly_and_leaves_no_file() {
    let url = truncating_server(100_000, 30_000).await;
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("cut.png");
    let err = download_to_path(
        &reqwest::Client::new(),
        &url,
        &target,
        &DownloadOptions::new(),
    )
    .await
    .unwrap_err();
    let FilesError::Truncated {
        received, expected, ..
    } = &err
    else {
        panic!("expected a truncation error, got {err:?}");
    };
    assert_eq!(*expected, 100_000);
    assert!(*received <= 30_000);
    let msg = err.to_string();
    assert!(msg.contains(&url) && msg.contains("truncated"), "{msg}");
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );

    // An existing file at the target stays as it was.
    std::fs::write(&target, b"previous").unwrap();
    download_to_path(
        &reqwest::Client::new(),
        &url,
        &target,
        &DownloadOptions::new(),
    )
    .await
    .unwrap_err();
    assert_eq!(std::fs::read(&target).unwrap(), b"previous");
    assert_eq!(leftovers(dir.path()), vec!["cut.png"]);

    let mut sink = Vec::new();
    let err = download_to_writer(
        &reqwest::Client::new(),
        &url,
        &mut sink,
        &DownloadOptions::new(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            FilesError::Truncated {
                expected: 100_000,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn declared_content_type_and_size_are_checked() {
    let base = server().await;
    let http = reqwest::Client::new();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("x");
    let url = format!("{base}/big.mp4");

    let err = download_to_path(
        &http,
        &url,
        &target,
        &DownloadOptions::new().content_type("image/png"),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, FilesError::ContentTypeMismatch { expected, actual, .. } if expected == "image/png" && actual == "video/mp4"),
        "{err:?}"
    );
    let err = download_to_path(
        &http,
        &url,
        &target,
        &DownloadOptions::new().size(BIG as u64 + 1),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, FilesError::SizeMismatch { actual, .. } if actual == BIG as u64),
        "{err:?}"
    );

    // Without a Content-Length, the declared size is checked after the body.
    let chunked = format!("{base}/chunked.png");
    let err = download_to_path(&http, &chunked, &target, &DownloadOptions::new().size(7))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            FilesError::SizeMismatch {
                expected: 7,
                actual: 6,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        leftovers(dir.path()).is_empty(),
        "{:?}",
        leftovers(dir.path())
    );

    let mut sink = Vec::new();
    let got = download_to_writer(
        &http,
        &chunked,
        &mut sink,
        &DownloadOptions::new().size(6).content_type("image/png"),
    )
    .await
    .unwrap();
    assert_eq!((got.bytes, sink.as_slice()), (6, &b"abcdef"[..]));

    let err = download_to_path(
        &http,
        &format!("{base}/missing"),
        &target,
        &DownloadOptions::new(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(err, FilesError::Status { status, .. } if status == 404),
        "{err:?}"
    );
    assert!(err.to_string().contains("/missing"), "{err}");
}

#[tokio::test]
async fn data_uris_round_trip_and_download_without_http() {
    let bytes = data(1000);
    let uri = data_uri(&bytes, "image/png");
    assert!(uri.starts_with("data:image/png;base64,"));
    let parsed = parse_data_uri(&uri).unwrap();
    assert_eq!(parsed.content_type, "image/png");
    assert!(parsed.data == bytes);

    // Other spellings: unpadded base64, parameters, percent-encoded text, no media type.
    let p = parse_data_uri("data:text/plain;charset=utf-8;base64,aGk").unwrap();
    assert_eq!(
        (p.content_type.as_str(), p.data.as_slice()),
        ("text/plain;charset=utf-8", &b"hi"[..])
    );
    let p = parse_data_uri("data:,Hello%2C%20World").unwrap();
    assert_eq!(
        (p.content_type.as_str(), p.data.as_slice()),
        ("text/plain;charset=US-ASCII", &b"Hello, World"[..])
    );
    for bad in [
        "data:image/png;base64,@@@",
        "data:image/png;base64",
        "https://x/y.png",
        "data:,%zz",
    ] {
        let err = parse_data_uri(bad).unwrap_err();
        assert!(
            matches!(err, FilesError::InvalidDataUri { .. }),
            "{bad}: {err:?}"
        );
    }

    // Downloading a data URI decodes it: no HTTP involved (the client points nowhere).
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("pixel.png");
    let calls = Arc::new(Mutex::new(Vec::new()));
    let c = calls.clone();
    let opts = DownloadOptions::new()
        .content_type("image/png")
        .size(1000)
        .on_progress(move |d, t| c.lock().unwrap().push((d, t)));
    let got = download_to_path(&reqwest::Client::new(), &uri, &target, &opts)
        .await
        .unwrap();
    assert_eq!(got.bytes, 1000);
    assert!(std::fs::read(&target).unwrap() == bytes);
    assert_eq!(*calls.lock().unwrap(), vec![(1000, Some(1000))]);

    let err = download_to_path(
        &reqwest::Client::new(),
        &uri,
        dir.path().join("y"),
        &DownloadOptions::new().content_type("video/mp4"),
    )
    .await
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, FilesError::ContentTypeMismatch { .. }),
        "{err:?}"
    );
    assert!(
        msg.len() < 300,
        "a long data URI is shortened in errors: {msg}"
    );
    assert!(!dir.path().join("y").exists());
    assert!(files::is_data_uri(&uri) && !files::is_data_uri("https://a/b"));
}
