//! What a newcomer does with `falx`, from an empty folder: start `falx mock` (the catalogue is
//! inside the binary), then `falx run` three endpoints of different categories (one with a
//! local file, one stream), and find the downloaded files and the progress lines.

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

const FALX: &str = env!("CARGO_BIN_EXE_falx");

struct Mock(Child);

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `falx mock` started in `dir`; the variables it exports.
fn start_mock(dir: &Path) -> (Mock, HashMap<String, String>, Vec<String>) {
    let mut child = Command::new(FALX)
        .args(["mock", "--stream-interval-ms", "1"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("falx mock starts");
    let stdout = child.stdout.take().unwrap();
    let mock = Mock(child);
    let (mut exports, mut lines) = (HashMap::new(), Vec::new());
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("reading falx mock's output");
        if line == "# fal-mock ready" {
            break;
        }
        if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            exports.insert(k.to_owned(), v.to_owned());
        }
        lines.push(line);
    }
    (mock, exports, lines)
}

fn falx(dir: &Path, env: &HashMap<String, String>, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(FALX)
        .args(args)
        .current_dir(dir)
        .envs(env)
        .output()
        .expect("falx runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_newcomer_runs_three_endpoints_against_the_embedded_mock_from_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let (_mock, env, lines) = start_mock(dir.path());
    assert!(
        lines[0].starts_with("export FAL_KEY="),
        "exports first: {lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("# fal-mock serving ")),
        "{lines:?}"
    );
    for name in ["FAL_KEY", "FAL_QUEUE_URL", "FAL_RUN_URL", "FAL_REST_URL"] {
        assert!(env.contains_key(name), "{name}: {lines:?}");
    }

    // Text to image: two images asked for, two JPEGs downloaded, progress as plain lines.
    let (ok, stdout, stderr) = falx(
        dir.path(),
        &env,
        &[
            "run",
            "fal-ai/flux/dev",
            "--prompt",
            "a cat",
            "--num-images",
            "2",
            "-o",
            "images",
        ],
    );
    assert!(ok, "{stderr}");
    for expected in ["submitted: request ", "in progress", "log: ", "completed"] {
        assert!(stderr.contains(expected), "no `{expected}` in: {stderr}");
    }
    let images: Vec<_> = std::fs::read_dir(dir.path().join("images"))
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(images.len(), 2, "{stdout}");
    assert!(
        images.iter().all(|b| b.starts_with(&[0xff, 0xd8])),
        "JPEG files"
    );

    // Image to video with a local file: uploaded first, the video downloaded.
    std::fs::write(dir.path().join("cat.png"), b"\x89PNG\r\n\x1a\n a cat").unwrap();
    let (ok, stdout, stderr) = falx(
        dir.path(),
        &env,
        &[
            "run",
            "fal-ai/pika/v2.2/image-to-video",
            "--prompt",
            "the cat turns",
            "--image_url",
            "cat.png",
            "-o",
            "video",
            "--json",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("uploaded cat.png -> http://"), "{stderr}");
    let answer: serde_json::Value = serde_json::from_str(stdout.trim()).expect("--json output");
    let file = answer["files"][0].as_str().expect("a file");
    let video = std::fs::read(dir.path().join(file)).unwrap();
    assert_eq!(&video[4..8], b"ftyp", "an MP4 file");

    // A stream: its events as lines, then the final output's image.
    let (ok, _stdout, stderr) = falx(
        dir.path(),
        &env,
        &[
            "run",
            "fal-ai/flux-krea-lora/stream",
            "--prompt",
            "a cat",
            "--stream",
            "-o",
            "streamed",
        ],
    );
    assert!(ok, "{stderr}");
    assert!(stderr.contains("event 1: "), "{stderr}");
    assert!(stderr.contains("stream ended after "), "{stderr}");
    assert_eq!(
        std::fs::read_dir(dir.path().join("streamed"))
            .unwrap()
            .count(),
        1
    );
}

#[test]
fn run_validates_before_sending_with_fal_s_messages_and_helps_per_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    // No mock and no key: an invalid input never gets as far as the network.
    let none = HashMap::new();
    let (ok, _, stderr) = falx(
        dir.path(),
        &none,
        &["run", "fal-ai/flux/dev", "--num-images", "0"],
    );
    assert!(!ok);
    assert!(stderr.contains("prompt: Field required"), "{stderr}");
    assert!(
        stderr.contains("num_images: Input should be greater than or equal to 1"),
        "{stderr}"
    );

    let (ok, help, _) = falx(dir.path(), &none, &["run", "fal-ai/flux/dev", "--help"]);
    assert!(ok);
    assert!(help.contains("--num_images"), "{help}");
    assert!(help.contains("range: 1 to 50"), "{help}");
    assert!(help.contains("allowed: square_hd"), "{help}");

    let (ok, list, _) = falx(
        dir.path(),
        &none,
        &["list", "--category", "text-to-image", "--search", "flux"],
    );
    assert!(ok);
    assert!(
        list.lines().any(|l| l.starts_with("fal-ai/flux/dev ")),
        "{list}"
    );
    assert!(list.lines().all(|l| l.contains("text-to-image")), "{list}");

    let (ok, schema, _) = falx(dir.path(), &none, &["schema", "fal-ai/flux/dev"]);
    assert!(ok);
    let schema: serde_json::Value = serde_json::from_str(&schema).unwrap();
    assert!(schema["properties"]["prompt"].is_object(), "{schema}");
    assert!(!schema.to_string().contains("$ref"), "references inlined");
}
