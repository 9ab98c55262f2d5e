//! Shared fixtures of the client tests: a hand-written endpoint (independent of the generated
//! bindings) and a mock server that knows it.
#![allow(dead_code)] // each test file uses a different part

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use fal_models::Endpoint;
use fal_models::client::Progress;
use fal_models::mock::{MockServer, MockServerBuilder};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A hand-written endpoint with a sub-path, so status lives under `acme/video`.
pub const ECHO_ID: &str = "acme/video/text-to-video";

#[derive(Debug, Clone, Serialize)]
pub struct EchoInput {
    pub prompt: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<u32>,
}

impl EchoInput {
    pub fn new(prompt: &str) -> Self {
        EchoInput {
            prompt: prompt.into(),
            duration: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct EchoOutput {
    pub video: Video,
    pub seed: i64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Video {
    pub url: String,
}

impl Endpoint for EchoInput {
    const ENDPOINT_ID: &'static str = ECHO_ID;
    type Output = EchoOutput;
}

/// The OpenAPI document of the echo endpoint, shaped like fal's.
pub fn echo_document() -> Value {
    json!({
        "openapi": "3.0.4",
        "info": {"title": "echo", "version": "1", "x-fal-metadata": {"endpointId": ECHO_ID}},
        "components": {"schemas": {
            "EchoInput": {"type": "object", "required": ["prompt"], "properties": {
                "prompt": {"type": "string", "minLength": 1, "maxLength": 100},
                "duration": {"type": "integer", "enum": [4, 8]}
            }},
            "EchoOutput": {"type": "object", "required": ["video", "seed"], "properties": {
                "video": {"$ref": "#/components/schemas/File",
                          "examples": [{"url": "https://example.com/out.mp4"}]},
                "seed": {"type": "integer", "examples": [42]}
            }},
            "File": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}}
        }},
        "paths": {
            "/acme/video/text-to-video": {"post": {"requestBody": {"content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/EchoInput"}}}}}},
            "/acme/video/text-to-video/requests/{request_id}": {"get": {"responses": {"200": {
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/EchoOutput"}}}}}}}
        }
    })
}

pub fn expected_output() -> EchoOutput {
    EchoOutput {
        video: Video {
            url: "https://example.com/out.mp4".into(),
        },
        seed: 42,
    }
}

/// A mock builder serving the echo endpoint.
pub fn echo_mock() -> MockServerBuilder {
    MockServer::builder()
        .document(echo_document())
        .expect("the echo document loads")
}

/// The workspace's vendored schemas.
pub fn schemas_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../schemas")
}

/// Collects progress events for later assertions.
#[derive(Clone, Default)]
pub struct Recorder(pub Arc<Mutex<Vec<Progress>>>);

impl Recorder {
    pub fn callback(&self) -> impl FnMut(Progress) + Send + 'static {
        let events = self.0.clone();
        move |p| events.lock().unwrap().push(p)
    }

    pub fn events(&self) -> Vec<Progress> {
        self.0.lock().unwrap().clone()
    }

    /// A compact trace: `submitted`, `queue:N`, `progress`, `log:<message>`, `completed`, `reconnect`.
    pub fn trace(&self) -> Vec<String> {
        self.events()
            .iter()
            .map(|p| match p {
                Progress::Submitted(_) => "submitted".to_owned(),
                Progress::InQueue { position } => {
                    format!("queue:{}", position.map_or(-1, |p| p as i64))
                }
                Progress::InProgress => "progress".to_owned(),
                Progress::Log(line) => format!("log:{}", line.message),
                Progress::Completed { .. } => "completed".to_owned(),
                Progress::Reconnecting { .. } => "reconnect".to_owned(),
                other => format!("{other:?}"),
            })
            .collect()
    }
}
