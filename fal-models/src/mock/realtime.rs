//! Realtime sessions in the mock (features `mock` and `realtime`): a WebSocket listener of its
//! own, `ws://127.0.0.1:port/{app}/realtime?fal_jwt_token=..`, admitting tokens the mock
//! minted for the app. Each msgpack input is validated against the endpoint's document: a
//! valid one gets an `x-fal-message` control frame, then the example output as msgpack; an
//! invalid one an `x-fal-error` text frame (`VALIDATION`), and the session stays open.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

use super::{MockError, MockServer, State, tokens};

/// A running realtime listener of a [`MockServer`]. Stops when dropped.
#[derive(Debug)]
pub struct RealtimeMock {
    url: String,
    sessions: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Drop for RealtimeMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RealtimeMock {
    /// The WebSocket base URL (stands for `wss://fal.run`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many sessions were admitted.
    pub fn sessions(&self) -> u64 {
        self.sessions.load(Ordering::Relaxed)
    }
}

impl MockServer {
    /// Starts a realtime listener serving this server's endpoints and tokens.
    pub async fn start_realtime(&self) -> Result<RealtimeMock, MockError> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| MockError(format!("binding the realtime listener: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| MockError(e.to_string()))?;
        let sessions = Arc::new(AtomicU64::new(0));
        let (state, counter) = (self.state.clone(), sessions.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(session(state.clone(), counter.clone(), stream));
            }
        });
        Ok(RealtimeMock {
            url: format!("ws://{addr}"),
            sessions,
            task,
        })
    }
}

async fn session(state: Arc<State>, sessions: Arc<AtomicU64>, stream: tokio::net::TcpStream) {
    let mut app = String::new();
    // tungstenite's callback signature, not ours: its error type is an HTTP response.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let path = request.uri().path().trim_matches('/');
        let Some(id) = path.strip_suffix("/realtime") else {
            return Err(refuse(404, "not a realtime path"));
        };
        if !tokens::admits(&state, id, request.uri().query()) {
            return Err(refuse(401, "Unauthorized"));
        }
        app = id.to_owned();
        Ok(response)
    };
    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    sessions.fetch_add(1, Ordering::Relaxed);
    let spec = state.endpoints.get(&app).cloned();
    while let Some(Ok(frame)) = socket.next().await {
        let input: Value = match frame {
            Message::Binary(bytes) => match rmp_serde::from_slice(&bytes) {
                Ok(v) => v,
                Err(e) => {
                    let _ = socket.send(error_frame("PROTOCOL", &e.to_string())).await;
                    continue;
                }
            },
            Message::Close(_) => break,
            _ => continue,
        };
        let Some(spec) = &spec else {
            let _ = socket
                .send(error_frame("NOT_FOUND", &format!("no app {app}")))
                .await;
            continue;
        };
        let errors = spec.validate(&input);
        if !errors.is_empty() {
            let reason = serde_json::to_string(&errors).unwrap_or_default();
            let _ = socket.send(error_frame("VALIDATION", &reason)).await;
            continue;
        }
        let control = json!({"type": "x-fal-message", "message": "processing"});
        let output = rmp_serde::to_vec_named(spec.example_output()).unwrap_or_default();
        if socket
            .send(Message::text(control.to_string()))
            .await
            .is_err()
            || socket.send(Message::binary(output)).await.is_err()
        {
            break;
        }
    }
}

fn error_frame(error: &str, reason: &str) -> Message {
    Message::text(json!({"type": "x-fal-error", "error": error, "reason": reason}).to_string())
}

fn refuse(status: u16, text: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(text.to_owned()));
    *response.status_mut() =
        tokio_tungstenite::tungstenite::http::StatusCode::from_u16(status).unwrap_or_default();
    response
}
