//! The `fal-mock` command: `--help`, fault rules from the command line, and the vendored
//! schemas served over HTTP to a client configured from the variables it prints, with an
//! upload -> submit -> download round trip that never leaves the machine.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use fal_models::Client;
use fal_models::files::RemoteFile;
use fal_models::storage::UploadOptions;
use serde_json::json;

/// How long `fal-mock` may take to print its variables (a loaded 2-core machine is slow).
const STARTUP: Duration = Duration::from_secs(60);

/// Kills the child process when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `fal-mock` with `args` and returns it with the variables it exported. Its output is
/// read on a thread, so a mock that hangs fails the test after [`STARTUP`] instead of hanging.
fn start(args: &[&str]) -> (Child, HashMap<String, String>, Vec<String>) {
    let schemas = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas");
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_fal-mock"))
            .args(["--schemas", schemas, "--stream-interval-ms", "1"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("fal-mock starts"),
    );
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (mut exports, mut lines) = (HashMap::new(), Vec::new());
    loop {
        let line = match rx.recv_timeout(STARTUP) {
            Ok(line) => line.expect("fal-mock's output is text"),
            Err(e) => panic!("fal-mock printed no `# fal-mock ready` ({e}); so far: {lines:?}"),
        };
        if line == "# fal-mock ready" {
            break;
        }
        if let Some((name, value)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            exports.insert(name.to_owned(), value.to_owned());
        }
        lines.push(line);
    }
    (child, exports, lines)
}

fn client_from(exports: &HashMap<String, String>) -> Client {
    Client::builder()
        .key(&exports["FAL_KEY"])
        .queue_url(&exports["FAL_QUEUE_URL"])
        .run_url(&exports["FAL_RUN_URL"])
        .rest_url(&exports["FAL_REST_URL"])
        .build()
        .unwrap()
}

#[test]
fn help_exits_zero_and_lists_the_fault_grammar() {
    let out = Command::new(env!("CARGO_BIN_EXE_fal-mock"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("--fault <RULE>") && text.contains("too-many-requests"));

    let bad = Command::new(env!("CARGO_BIN_EXE_fal-mock"))
        .args(["--fault", "status=explode"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown fault \"explode\""));
}

/// A document-free file for `Client::download`, with what the output declares.
struct Output<'a> {
    url: &'a str,
    content_type: Option<&'a str>,
}

impl RemoteFile for Output<'_> {
    fn url(&self) -> &str {
        self.url
    }
    fn content_type(&self) -> Option<&str> {
        self.content_type
    }
}

#[tokio::test]
async fn the_command_line_mock_serves_uploads_jobs_and_downloads_offline() {
    let (_child, exports, lines) = start(&["--key", "cli-key"]);
    // One endpoint per vendored document.
    let documents = count_documents(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas"));
    // The variables to export come first; the endpoint list only with --list-endpoints.
    assert!(lines[0].starts_with("export FAL_KEY="), "{lines:?}");
    assert!(
        lines.contains(&format!(
            "# fal-mock serving {documents} endpoints (--list-endpoints prints them)"
        )),
        "{lines:?}"
    );
    for name in [
        "FAL_KEY",
        "FAL_QUEUE_URL",
        "FAL_RUN_URL",
        "FAL_REST_URL",
        "FAL_CDN_URL",
        "FAL_JWKS_URL",
    ] {
        assert!(exports.contains_key(name), "{name} not printed: {lines:?}");
    }
    assert_eq!(exports["FAL_KEY"], "cli-key");
    let client = client_from(&exports);

    // Upload through the storage token route and the CDN, small and multipart.
    let storage = client.storage().unwrap();
    let png = b"\x89PNG\r\n\x1a\n not really a picture".to_vec();
    let image_url = storage
        .upload_bytes(
            png.clone(),
            &UploadOptions::new()
                .file_name("cat.png")
                .content_type("image/png"),
        )
        .await
        .unwrap();
    assert!(
        image_url.starts_with(&exports["FAL_QUEUE_URL"]),
        "{image_url}"
    );
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let multipart = fal_models::storage::Storage::builder()
        .key("cli-key")
        .rest_base_url(&exports["FAL_REST_URL"])
        .multipart_threshold(1 << 20)
        .part_size(1 << 20)
        .build()
        .unwrap();
    let big_url = multipart
        .upload_bytes(big.clone(), &UploadOptions::new().file_name("big.bin"))
        .await
        .unwrap();
    let fetched = reqwest::get(&big_url).await.unwrap();
    assert_eq!(fetched.bytes().await.unwrap().to_vec(), big);

    // Submit with the uploaded image; download the output, which the mock serves too.
    let out = client
        .subscribe_json(
            "fal-ai/sora-2/image-to-video",
            json!({ "prompt": "the cat turns its head", "image_url": image_url }),
        )
        .await
        .unwrap();
    let video = Output {
        url: out["video"]["url"].as_str().unwrap(),
        content_type: out["video"]["content_type"].as_str(),
    };
    assert!(video.url.starts_with(&exports["FAL_QUEUE_URL"]), "{out}");
    let dir = tempfile::tempdir().unwrap();
    client
        .download(&video, dir.path().join("out.mp4"))
        .await
        .unwrap();
    let bytes = std::fs::read(dir.path().join("out.mp4")).unwrap();
    assert_eq!(&bytes[4..8], b"ftyp", "an MP4 placeholder");

    let wrong = Client::builder()
        .key("other")
        .queue_url(&exports["FAL_QUEUE_URL"])
        .build()
        .unwrap();
    let err = wrong
        .subscribe_json("fal-ai/sora-2/text-to-video", json!({ "prompt": "x" }))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
}

#[tokio::test]
async fn faults_from_the_command_line_hit_the_named_requests() {
    let (_child, exports, lines) = start(&[
        "--fault",
        "submit=respond:418:{\"detail\": \"teapot\"}",
        "--remote-output-urls",
    ]);
    assert!(
        lines.contains(&"#   fault: submit=respond:418:{\"detail\": \"teapot\"}".to_owned()),
        "{lines:?}"
    );
    let client = client_from(&exports);
    let input = json!({ "prompt": "a cat" });
    let err = client
        .subscribe_json("fal-ai/sora-2/text-to-video", input.clone())
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(418), "{err}");
    // The rule was for one request: the next submit goes through, with the remote URLs kept.
    let out = client
        .subscribe_json("fal-ai/sora-2/text-to-video", input)
        .await
        .unwrap();
    assert!(
        out["video"]["url"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
}

fn count_documents(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .map(|path| match path.is_dir() {
            true => count_documents(&path),
            false => usize::from(path.extension().is_some_and(|e| e == "json")),
        })
        .sum()
}

/// `--binary-stream` makes a streaming endpoint answer raw chunks of its media type, which
/// `stream_bytes` hands on; a malformed rule is refused before the server starts.
#[tokio::test]
async fn binary_streams_from_the_command_line() {
    use futures::StreamExt;
    let (_mock, exports, _) = start(&["--binary-stream", "fal-ai/maya/stream=audio/mpeg*3"]);
    let client = client_from(&exports);
    let mut stream = client.stream_bytes_json(
        "fal-ai/maya/stream",
        json!({"text": "hello", "prompt": "a calm voice"}),
    );
    let mut chunks = 0;
    while let Some(chunk) = stream.next().await {
        assert!(!chunk.expect("a chunk").is_empty());
        chunks += 1;
    }
    assert_eq!(chunks, 3);
    assert_eq!(stream.content_type(), Some("audio/mpeg"));

    let out = Command::new(env!("CARGO_BIN_EXE_fal-mock"))
        .args(["--binary-stream", "fal-ai/maya/stream=mpeg*0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--binary-stream"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `--platform-snapshot DIR` serves fal's platform listing from a snapshot folder: its
/// `listing.txt` decides what is listed, a listed id without a document is `expansion_failed`.
#[tokio::test]
async fn platform_snapshot_serves_the_listing() {
    let dir = std::env::temp_dir().join(format!("fal-mock-snapshot-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../schemas/fal-ai/sora-2/text-to-video.json"
    ))
    .unwrap();
    std::fs::write(dir.join("any-name.json"), &doc).unwrap();
    std::fs::write(
        dir.join("listing.txt"),
        "fal-ai/sora-2/text-to-video\nfal-ai/gone\n",
    )
    .unwrap();
    let (_child, exports, _) = start(&["--platform-snapshot", dir.to_str().unwrap()]);
    let page: serde_json::Value = reqwest::Client::new()
        .get(format!(
            "{}/v1/models?expand=openapi-3.0",
            exports["FAL_REST_URL"]
        ))
        .header("Authorization", format!("Key {}", exports["FAL_KEY"]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let models = page["models"].as_array().unwrap();
    assert_eq!(models.len(), 2, "{page}");
    assert_eq!(models[0]["endpoint_id"], "fal-ai/gone");
    assert_eq!(models[0]["openapi"]["error"]["code"], "expansion_failed");
    assert_eq!(models[1]["endpoint_id"], "fal-ai/sora-2/text-to-video");
    let served: serde_json::Value = serde_json::from_str(&doc).unwrap();
    assert_eq!(models[1]["openapi"], served);
    assert_eq!(page["has_more"], false);
    let _ = std::fs::remove_dir_all(&dir);
}
