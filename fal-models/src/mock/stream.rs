//! Streaming endpoints in the mock: `POST {run}/{endpoint id}/stream` answers server-sent
//! events, partial outputs built from the document's example output (its first field, then the
//! first two, ...) and last the whole example, `stream_interval` apart.
//!
//! The endpoint is looked up under the full path first (fal documents some streams as endpoints
//! of their own, `fal-ai/maya/stream`), then without the `/stream` suffix.
//!
//! Binary streams (fal's audio streams answer raw audio as it is generated): an endpoint set up
//! with [`MockServerBuilder::binary_stream`](super::MockServerBuilder::binary_stream), or a
//! request whose `Accept` names one concrete type that is neither an event stream nor JSON,
//! gets numbered chunks of that type, `stream_interval` apart.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Response, StatusCode, header};
use serde_json::{Map, Value};

use super::State;
use super::queue::accepted_input;

/// The endpoint a stream path serves: `Some(path)` when it is a stream request.
pub(super) fn stream_target(path: &str) -> Option<String> {
    let path = path.trim_matches('/');
    (path.ends_with("/stream") && path.len() > "/stream".len()).then(|| path.to_owned())
}

/// The partial outputs of an example output, last the example itself.
pub(crate) fn partial_outputs(example: &Value) -> Vec<Value> {
    let Value::Object(fields) = example else {
        return vec![example.clone()];
    };
    let mut events = Vec::with_capacity(fields.len() + 1);
    if fields.len() < 2 {
        events.push(Value::Object(Map::new()));
    }
    for n in 1..=fields.len() {
        let prefix: Map<String, Value> = fields
            .iter()
            .take(n)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        events.push(Value::Object(prefix));
    }
    events
}

/// The length of each chunk of a binary stream.
pub const BINARY_CHUNK_LEN: usize = 1024;

/// How many chunks a binary stream asked for by `Accept` answers.
pub const DEFAULT_BINARY_CHUNKS: usize = 4;

/// A stream that answers binary chunks instead of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BinaryStream {
    pub(super) content_type: String,
    pub(super) chunks: usize,
}

impl BinaryStream {
    /// The binary stream a request's `Accept` asks for: its first type, when it is a concrete
    /// type (no wildcard) that is neither an event stream nor JSON.
    fn asked_by(accept: Option<&str>) -> Option<BinaryStream> {
        let first = accept?.split(',').next()?.split(';').next()?.trim();
        let lower = first.to_ascii_lowercase();
        let concrete = lower.contains('/') && !lower.contains('*');
        let textual = lower == "text/event-stream" || lower == "application/json";
        (concrete && !textual && !lower.ends_with("+json")).then(|| BinaryStream {
            content_type: first.to_owned(),
            chunks: DEFAULT_BINARY_CHUNKS,
        })
    }
}

/// Chunk `i` (from 0) of `n`: a line naming it (`fal-mock chunk 1/4`), padded to
/// [`BINARY_CHUNK_LEN`] bytes, so a test can check order and completeness.
fn binary_chunk(i: usize, n: usize) -> Vec<u8> {
    let mut chunk = format!("fal-mock chunk {}/{n}\n", i + 1).into_bytes();
    chunk.resize(BINARY_CHUNK_LEN.max(chunk.len()), b'.');
    chunk
}

/// Answers one stream request.
pub(super) fn respond(
    state: &Arc<State>,
    path: &str,
    accept: Option<&str>,
    body: &[u8],
) -> Response<Body> {
    let (key, spec) = match state.endpoints.get_key_value(path).or_else(|| {
        path.strip_suffix("/stream")
            .and_then(|id| state.endpoints.get_key_value(id))
    }) {
        Some((key, spec)) => (Some(key.as_str()), Some(spec)),
        None => (None, None),
    };
    let (spec, _input) = match accepted_input(spec, path, body) {
        Ok(accepted) => accepted,
        Err(response) => return *response,
    };
    state
        .runs
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let n = state
        .next_id
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let request_id = format!("{n:08x}-6d6f-636b-0000-57726561d000");
    let binary = key
        .and_then(|key| state.binary_streams.get(key).cloned())
        .or_else(|| BinaryStream::asked_by(accept));
    let (content_type, frames) = match binary {
        Some(binary) => {
            let n = binary.chunks;
            let frames: Vec<Vec<u8>> = (0..n).map(|i| binary_chunk(i, n)).collect();
            (binary.content_type, frames)
        }
        None => {
            let frames = partial_outputs(spec.example_output())
                .iter()
                .map(|event| format!("data: {event}\n\n").into_bytes())
                .collect();
            ("text/event-stream".to_owned(), frames)
        }
    };
    let interval = state.stream_interval;
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    tokio::spawn(async move {
        for (i, frame) in frames.into_iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(interval).await;
            }
            if tx.unbounded_send(Ok(frame)).is_err() {
                return; // the client went away
            }
        }
    });
    let content_type = header::HeaderValue::from_str(&content_type)
        .unwrap_or(header::HeaderValue::from_static("application/octet-stream"));
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache")
        .header(crate::http::protocol::REQUEST_ID_HEADER, request_id)
        .body(Body::from_stream(rx))
        .expect("a valid response")
}

/// Gives a successful sync-run answer a fresh `x-fal-request-id`, as fal's run host does.
pub(super) fn with_request_id(state: &State, mut response: Response<Body>) -> Response<Body> {
    if response.status().is_success() {
        let n = state
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{n:08x}-6d6f-636b-0000-72756e000000");
        if let Ok(value) = header::HeaderValue::from_str(&id) {
            response
                .headers_mut()
                .insert(crate::http::protocol::REQUEST_ID_HEADER, value);
        }
    }
    response
}
