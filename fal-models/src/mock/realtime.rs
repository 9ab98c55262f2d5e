//! Realtime sessions in the mock (features `mock` and `realtime`): a WebSocket listener of its
//! own, `ws://127.0.0.1:port/{app}/realtime?fal_jwt_token=..`, admitting tokens the mock
//! minted for the app, or the key in an `Authorization: Key ..` header. An app whose id
//! already ends in `/realtime` (`decart/lucy2-vton/realtime`) is served at its id, as fal
//! serves it; `{id}/realtime` again is not found. Each msgpack input is validated against the
//! endpoint's document: a valid one gets an `x-fal-message` control frame, then the example
//! output as msgpack, its `format: binary` strings packed as `bin` as fal's apps pack `bytes`
//! (`use_bin_type=True`); an invalid one an `x-fal-error` text frame (`VALIDATION`), and the
//! session stays open. An input arriving after the session's token expired gets fal's
//! `{"status": "error", "error": "Unauthorized"}` frame instead.
//!
//! For tests of clients: [`RealtimeMock::frames`] counts the input frames that arrived (to see
//! throttling), [`RealtimeMock::drop_sessions`] cuts every open session without a close frame
//! (to see reconnects), [`MockServer::expire_tokens`] ends every minted token, and
//! [`RealtimeMock::idle_timeout`] makes sessions send fal's `x-fal-error` `TIMEOUT` frame when no
//! input arrived for a while (fal does; its clients ignore the frame).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::{AbortHandle, JoinHandle};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};

use super::{MockError, MockServer, State, tokens};

/// A running realtime listener of a [`MockServer`]. Stops when dropped.
#[derive(Debug)]
pub struct RealtimeMock {
    url: String,
    counters: Arc<Counters>,
    task: JoinHandle<()>,
}

#[derive(Debug, Default)]
struct Counters {
    sessions: AtomicU64,
    frames: AtomicU64,
    /// Milliseconds without input before a `TIMEOUT` frame; 0: never.
    idle_ms: AtomicU64,
    timeouts: AtomicU64,
    unauthorized: AtomicU64,
    /// Inputs are read and answered with nothing (an app that went quiet).
    silent: std::sync::atomic::AtomicBool,
    last_input: Mutex<Option<Value>>,
    open: Mutex<Vec<AbortHandle>>,
}

impl Counters {
    fn cut_all(&self) -> usize {
        let open = std::mem::take(&mut *self.open.lock().unwrap_or_else(|e| e.into_inner()));
        let live = open.iter().filter(|h| !h.is_finished()).count();
        for handle in open {
            handle.abort();
        }
        live
    }
}

impl Drop for RealtimeMock {
    /// Stops listening and cuts the open sessions.
    fn drop(&mut self) {
        self.task.abort();
        self.counters.cut_all();
    }
}

impl RealtimeMock {
    /// The WebSocket base URL (stands for `wss://fal.run`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many sessions were admitted.
    pub fn sessions(&self) -> u64 {
        self.counters.sessions.load(Ordering::Relaxed)
    }

    /// How many input frames (binary) arrived, over all sessions.
    pub fn frames(&self) -> u64 {
        self.counters.frames.load(Ordering::Relaxed)
    }

    /// The last input that decoded, over all sessions.
    pub fn last_input(&self) -> Option<Value> {
        self.counters
            .last_input
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// From now on, a session that received no input for `idle` sends fal's idle notice, an
    /// `{"type": "x-fal-error", "error": "TIMEOUT"}` frame, and stays open.
    pub fn idle_timeout(&self, idle: std::time::Duration) {
        let ms = u64::try_from(idle.as_millis()).unwrap_or(u64::MAX).max(1);
        self.counters.idle_ms.store(ms, Ordering::Relaxed);
    }

    /// From now on (`true`), sessions read inputs and answer nothing: an app that went quiet.
    pub fn hold_outputs(&self, hold: bool) {
        self.counters.silent.store(hold, Ordering::Relaxed);
    }

    /// How many `Unauthorized` frames the sessions sent (inputs on an expired token).
    pub fn unauthorized_frames(&self) -> u64 {
        self.counters.unauthorized.load(Ordering::Relaxed)
    }

    /// How many `TIMEOUT` frames the sessions sent.
    pub fn timeouts(&self) -> u64 {
        self.counters.timeouts.load(Ordering::Relaxed)
    }

    /// Cuts every open session at once, without a close frame (a crashed runner, a dropped
    /// network); the listener keeps accepting. Returns how many were open.
    pub fn drop_sessions(&self) -> usize {
        self.counters.cut_all()
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
        let counters = Arc::new(Counters::default());
        let (state, shared) = (self.state.clone(), counters.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handle = tokio::spawn(session(state.clone(), shared.clone(), stream));
                let mut open = shared.open.lock().unwrap_or_else(|e| e.into_inner());
                open.retain(|h| !h.is_finished());
                open.push(handle.abort_handle());
            }
        });
        Ok(RealtimeMock {
            url: format!("ws://{addr}"),
            counters,
            task,
        })
    }
}

async fn session(state: Arc<State>, counters: Arc<Counters>, stream: tokio::net::TcpStream) {
    let mut app = String::new();
    let mut query = None;
    // tungstenite's callback signature, not ours: its error type is an HTTP response.
    #[allow(clippy::result_large_err)]
    let check = |request: &Request, response: Response| -> Result<Response, ErrorResponse> {
        let path = request.uri().path().trim_matches('/');
        let Some(id) = realtime_app(&state, path) else {
            return Err(refuse(404, "not a realtime path"));
        };
        let key_ok = request
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|a| a.strip_prefix("Key "))
            .is_some_and(|given| match &state.key {
                Some(expected) => given == expected,
                None => !given.is_empty(),
            });
        if !key_ok && !tokens::admits(&state, &id, request.uri().query()) {
            return Err(refuse(401, "Unauthorized"));
        }
        if !key_ok {
            query = request.uri().query().map(str::to_owned);
        }
        app = id;
        Ok(response)
    };
    let Ok(mut socket) = tokio_tungstenite::accept_hdr_async(stream, check).await else {
        return;
    };
    counters.sessions.fetch_add(1, Ordering::Relaxed);
    let spec = state.endpoints.get(&app).cloned();
    loop {
        let idle = counters.idle_ms.load(Ordering::Relaxed);
        let next = if idle == 0 {
            socket.next().await
        } else {
            match tokio::time::timeout(std::time::Duration::from_millis(idle), socket.next()).await
            {
                Ok(next) => next,
                Err(_) => {
                    counters.timeouts.fetch_add(1, Ordering::Relaxed);
                    if socket
                        .send(error_frame("TIMEOUT", "no input received for a while"))
                        .await
                        .is_err()
                    {
                        break;
                    }
                    continue;
                }
            }
        };
        let Some(Ok(frame)) = next else { break };
        let input: Value = match frame {
            Message::Binary(bytes) => match counted(&counters, rmp_serde::from_slice(&bytes)) {
                Ok(v) => v,
                Err(e) => {
                    let _ = socket.send(error_frame("PROTOCOL", &e.to_string())).await;
                    continue;
                }
            },
            Message::Close(_) => break,
            _ => continue,
        };
        *counters
            .last_input
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(input.clone());
        if query.is_some() && !tokens::admits(&state, &app, query.as_deref()) {
            // fal's answer to an input on a session whose token has expired.
            counters.unauthorized.fetch_add(1, Ordering::Relaxed);
            let frame = json!({"status": "error", "error": "Unauthorized"});
            let packed = rmp_serde::to_vec_named(&frame).unwrap_or_default();
            if socket.send(Message::binary(packed)).await.is_err() {
                break;
            }
            continue;
        }
        if counters.silent.load(Ordering::Relaxed) {
            continue;
        }
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
        let mut output = Vec::new();
        let _ = rmpv::encode::write_value(&mut output, &spec.realtime_output());
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

/// The app a WebSocket path serves: an endpoint id ending in `/realtime` at its own path,
/// any other endpoint at `{id}/realtime`.
fn realtime_app(state: &State, path: &str) -> Option<String> {
    if path.ends_with("/realtime") && state.endpoints.contains_key(path) {
        return Some(path.to_owned());
    }
    let id = path.strip_suffix("/realtime")?;
    // `{id}/realtime/realtime` is no route of fal's.
    if id.ends_with("/realtime") && state.endpoints.contains_key(id) {
        return None;
    }
    Some(id.to_owned())
}

/// Counts an input frame as it arrives, whatever it holds.
fn counted<T>(counters: &Counters, decoded: T) -> T {
    counters.frames.fetch_add(1, Ordering::Relaxed);
    decoded
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
