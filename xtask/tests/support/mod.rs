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

/// A fresh, empty temporary folder unique to this process and `name`, removed when the guard
/// drops. A failing test keeps it (and says where) so what the command wrote can be read.
pub fn temp_dir(name: &str) -> TestDir {
    let path = std::env::temp_dir().join(format!("xtask-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    TestDir { path }
}

/// A test's scratch folder; see [`temp_dir`].
pub struct TestDir {
    path: PathBuf,
}

impl std::ops::Deref for TestDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<Path> for TestDir {
    fn as_ref(&self) -> &Path {
        &self.path
    }
}

impl AsRef<std::ffi::OsStr> for TestDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.path.as_os_str()
    }
}

impl Drop for TestDir {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept the failed test's folder {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
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

/// What compiling a user crate gave: success and the compiler's messages.
pub struct UserBuild {
    pub success: bool,
    pub stderr: String,
}

/// Compiles a small user crate: `generated` (fal-codegen's single-file output, runtime path
/// `::fal_models`) as `src/generated.rs` and `user` as `src/user.rs`, against the real runtime
/// (`fal-models-core` under the name `fal_models`, which is all generated code needs). The
/// crate lives under `CARGO_TARGET_TMPDIR/<name>` with its own target folder, kept between
/// runs (only the two files change), and resolves offline from the workspace's lock file.
pub fn build_user_crate(name: &str, generated: &str, user: &str) -> UserBuild {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let core = root.join("fal-models-core");
    let manifest = format!(
        "[package]\nname = \"user-crate\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\nfal_models = {{ package = \"fal-models-core\", path = {:?} }}\n\
         serde = {{ version = \"1\", features = [\"derive\"] }}\nserde_json = \"1\"\n\n[workspace]\n",
        core.display().to_string()
    );
    let write = |rel: &str, text: &str| {
        let path = dir.join(rel);
        if std::fs::read(&path).ok().as_deref() != Some(text.as_bytes()) {
            std::fs::write(&path, text).unwrap();
        }
    };
    write("Cargo.toml", &manifest);
    if !dir.join("Cargo.lock").exists() {
        std::fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    }
    write(
        "src/lib.rs",
        "#![allow(dead_code, clippy::all)]\npub mod generated;\npub mod user;\n",
    );
    write("src/generated.rs", generated);
    write("src/user.rs", user);
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["check", "--offline", "--quiet", "--message-format", "short"])
        .env("CARGO_TARGET_DIR", dir.join("target"))
        .env_remove("RUSTFLAGS")
        .current_dir(&dir)
        .output()
        .expect("run cargo check");
    UserBuild {
        success: output.status.success(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}
