//! Streaming endpoints in the mock: `POST {run}/{endpoint id}/stream` answers server-sent
//! events, partial outputs built from the document's example output (its first field, then the
//! first two, ...) and last the whole example, `stream_interval` apart.
//!
//! The endpoint is looked up under the full path first (fal documents some streams as endpoints
//! of their own, `fal-ai/maya/stream`), then without the `/stream` suffix.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Response, StatusCode, header};
use serde_json::{Map, Value};

use super::queue::accepted_input;
use super::State;

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

/// Answers one stream request.
pub(super) fn respond(state: &Arc<State>, path: &str, body: &[u8]) -> Response<Body> {
    let spec = state.endpoints.get(path).or_else(|| {
        path.strip_suffix("/stream")
            .and_then(|id| state.endpoints.get(id))
    });
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
    let events = partial_outputs(spec.example_output());
    let interval = state.stream_interval;
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    tokio::spawn(async move {
        for (i, event) in events.iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(interval).await;
            }
            let frame = format!("data: {event}\n\n").into_bytes();
            if tx.unbounded_send(Ok(frame)).is_err() {
                return; // the client went away
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .header("x-fal-request-id", request_id)
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
            response.headers_mut().insert("x-fal-request-id", value);
        }
    }
    response
}
