//! A download of something that is not an `http(s)` or `data:` URL fails at once with that
//! reason: no request, no retry (before: 3.5 s of retries, then reqwest's "builder error").

use fal_models::files::{DownloadOptions, FilesError, download_to_path};

#[tokio::test]
async fn a_value_that_is_not_a_url_fails_at_once_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    for (value, reason) in [
        ("example", "not an http(s) or data: URL"),
        ("cat.png", "not an http(s) or data: URL"),
        ("ftp://example.com/cat.png", "the scheme is `ftp`"),
        ("https://", "not an http(s) or data: URL"),
    ] {
        let err = download_to_path(
            &http,
            value,
            dir.path().join("out"),
            &DownloadOptions::default(),
        )
        .await
        .unwrap_err();
        assert!(
            matches!(&err, FilesError::NotAUrl { value: v, .. } if v == value),
            "{value}: {err:?}"
        );
        let text = err.to_string();
        assert!(text.contains(reason) && text.contains(value), "{text}");
        assert!(!text.contains("builder error"), "{text}");
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "no file left"
        );
    }

    // The same through the client, with an output file whose `url` is no URL.
    let client = fal_models::Client::builder()
        .key("mock-key")
        .build()
        .unwrap();
    let file = fal_models::types::File::new("example");
    let err = client
        .download(&file, dir.path().join("out"))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("cannot download \"example\""), "{text}");
}
