//! The `fal-mock` command serves the vendored schemas over HTTP: start it, read the exports it
//! prints, and subscribe through a client configured from them.
#![cfg(feature = "sora")]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use fal_models::Client;
use fal_models::fal_ai::sora_2::text_to_video::Input;

/// Kills the child process when the test ends, however it ends.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_command_line_mock_serves_the_vendored_schemas() {
    let schemas = concat!(env!("CARGO_MANIFEST_DIR"), "/../schemas");
    let mut child = Child(
        Command::new(env!("CARGO_BIN_EXE_fal-mock"))
            .args([
                "--schemas",
                schemas,
                "--stream-interval-ms",
                "1",
                "--key",
                "cli-key",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("fal-mock starts"),
    );
    let stdout = BufReader::new(child.0.stdout.take().unwrap());
    let mut exports = std::collections::HashMap::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some((name, value)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            exports.insert(name.to_owned(), value.to_owned());
            if name == "FAL_KEY" {
                break;
            }
        } else {
            assert!(
                // One line per endpoint id (any owner: `fal-ai/..`, `bria/..`, ..).
                line.trim().contains('/') || line.starts_with("fal-mock serving"),
                "{line}"
            );
        }
    }
    let client = Client::builder()
        .key(&exports["FAL_KEY"])
        .queue_url(&exports["FAL_QUEUE_URL"])
        .run_url(&exports["FAL_RUN_URL"])
        .build()
        .unwrap();
    assert_eq!(exports["FAL_KEY"], "cli-key");
    let out = client
        .subscribe(Input::new("a cat surfing at dusk"))
        .await
        .unwrap();
    assert!(out.video.url.starts_with("https://"));
    let wrong = Client::builder()
        .key("other")
        .queue_url(&exports["FAL_QUEUE_URL"])
        .build()
        .unwrap();
    let err = wrong.subscribe(Input::new("x")).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
}
