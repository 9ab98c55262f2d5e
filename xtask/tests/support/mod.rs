//! Helpers shared by the xtask integration tests (each test file includes this module).
#![allow(dead_code)] // each test binary uses a different subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

/// The endpoint id of wrapped fixtures.
pub const ENDPOINT: &str = "test/endpoint";

/// The xtask binary under test.
pub fn xtask() -> Command {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
}

/// `xtask/tests/fixtures/<name>`.
pub fn fixtures(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fresh, empty temporary folder unique to this process and `name`.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("xtask-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A minimal fal queue document for `id` around `schemas` (which holds `Input` and `Output`).
pub fn document(id: &str, schemas: Value) -> Value {
    json!({
        "openapi": "3.0.4",
        "info": {"title": format!("Queue OpenAPI for {id}"), "version": "1.0.0",
                 "x-fal-metadata": {"endpointId": id}},
        "paths": {
            format!("/{id}"): {"post": {
                "requestBody": {"required": true, "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Input"}}}},
                "responses": {"200": {"description": "The request status."}}}},
            format!("/{id}/requests/{{request_id}}"): {"get": {
                "responses": {"200": {"description": "Result of the request.",
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Output"}}}}}}}
        },
        "components": {"schemas": schemas}
    })
}

/// Writes `value` as pretty JSON, creating parent folders.
pub fn write_json(path: &Path, value: &Value) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, serde_json::to_string_pretty(value).unwrap() + "\n").unwrap();
}

/// Runs the command, returning its exit code, stdout and stderr.
pub fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run xtask");
    (
        status.code().expect("exit code"),
        String::from_utf8(stdout).unwrap(),
        String::from_utf8(stderr).unwrap(),
    )
}
