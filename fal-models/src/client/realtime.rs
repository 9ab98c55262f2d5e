//! Realtime sessions (feature `realtime`): a WebSocket to `wss://fal.run/{app}/realtime`, inputs
//! and outputs as msgpack binary frames, as fal's JS and Python clients speak it.
//!
//! ```no_run
//! # async fn demo(client: fal_models::Client) -> Result<(), fal_models::Error> {
//! let mut session = client.realtime("fal-ai/fast-lcm-diffusion").await?;
//! session.send(&serde_json::json!({"prompt": "a cat"})).await?;
//! let output: serde_json::Value = session.recv().await?.expect("an answer");
//! session.close().await?;
//! # Ok(()) }
//! ```
//!
//! Authentication: a client with a key mints a temporary token for the app first (120 s, as
//! fal's clients do) and connects with `?fal_jwt_token=`; a client built from a temporary token
//! uses it. The key itself never travels on the WebSocket URL.
//!
//! Frames from fal: binary msgpack (or JSON text) objects. `{"type": "x-fal-message"}` control
//! frames are skipped; `{"type": "x-fal-error", "error", "reason"}` and
//! `{"status": "error", "error": ..}` become [`Error::Realtime`]; anything else is an output.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_tungstenite::tungstenite::Message;

use super::Client;
use super::tokens::DEFAULT_TOKEN_EXPIRATION;
use crate::error::Error;

/// Options of [`Client::realtime_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RealtimeOptions {
    /// The longest wait for the WebSocket handshake (default 90 s, as fal's Python client).
    pub open_timeout: Duration,
    /// The longest wait for a frame in [`RealtimeSession::recv`] (default 60 s); `None` for none.
    pub recv_timeout: Option<Duration>,
    /// fal's `max_buffering` (1 to 60): how many inputs fal keeps queued for the app.
    pub max_buffering: Option<u8>,
    /// The WebSocket base URL (default: the run URL with `ws`/`wss`; a mock in tests).
    pub base_url: Option<String>,
}

impl Default for RealtimeOptions {
    fn default() -> Self {
        RealtimeOptions {
            open_timeout: Duration::from_secs(90),
            recv_timeout: Some(Duration::from_secs(60)),
            max_buffering: None,
            base_url: None,
        }
    }
}

impl RealtimeOptions {
    /// Sets `max_buffering` (1 to 60).
    pub fn max_buffering(mut self, n: u8) -> Self {
        self.max_buffering = Some(n);
        self
    }

    /// Sets the receive bound.
    pub fn recv_timeout(mut self, d: Option<Duration>) -> Self {
        self.recv_timeout = d;
        self
    }

    /// Connects to this base URL (`ws://127.0.0.1:port`) instead of the run host.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// An open realtime session. Dropping it closes the socket without a close frame; prefer
/// [`close`](Self::close).
pub struct RealtimeSession {
    app: String,
    socket: Socket,
    recv_timeout: Option<Duration>,
}

impl std::fmt::Debug for RealtimeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeSession")
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Opens a realtime session with `app` (an endpoint id such as `fal-ai/fast-lcm-diffusion`).
    pub async fn realtime(&self, app: &str) -> Result<RealtimeSession, Error> {
        self.realtime_with(app, RealtimeOptions::default()).await
    }

    /// [`realtime`](Self::realtime) with options.
    pub async fn realtime_with(
        &self,
        app: &str,
        options: RealtimeOptions,
    ) -> Result<RealtimeSession, Error> {
        let app = app.trim_matches('/').to_owned();
        if let Some(n) = options.max_buffering {
            if !(1..=60).contains(&n) {
                return Err(Error::Config(
                    "max_buffering must be between 1 and 60".into(),
                ));
            }
        }
        let token = match self.temporary_token() {
            Some(token) => token.clone(),
            None => self.mint_token(&[&app], DEFAULT_TOKEN_EXPIRATION).await?,
        };
        let base = match &options.base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => websocket_base(&self.inner.run_url)?,
        };
        let mut url = format!("{base}/{app}/realtime?fal_jwt_token={}", token.expose());
        if let Some(n) = options.max_buffering {
            url.push_str(&format!("&max_buffering={n}"));
        }
        let redactor = self
            .inner
            .redactor
            .merged(&crate::error::Redactor::new([token.expose()]));
        let connect = tokio_tungstenite::connect_async(url);
        let (socket, _) = match tokio::time::timeout(options.open_timeout, connect).await {
            Err(_) => {
                tracing::warn!(app = %app, "realtime: handshake timed out");
                return Err(Error::Realtime {
                    app,
                    error: "TIMEOUT".into(),
                    reason: "the WebSocket handshake did not finish in time".into(),
                });
            }
            Ok(Err(e)) => {
                return Err(Error::Realtime {
                    app,
                    error: "CONNECT".into(),
                    reason: redactor.scrub(&e.to_string()),
                });
            }
            Ok(Ok(connected)) => connected,
        };
        tracing::debug!(app = %app, "realtime: connected");
        Ok(RealtimeSession {
            app,
            socket,
            recv_timeout: options.recv_timeout,
        })
    }
}

/// `https://fal.run` -> `wss://fal.run`.
fn websocket_base(run_url: &str) -> Result<String, Error> {
    if let Some(rest) = run_url.strip_prefix("https://") {
        Ok(format!("wss://{rest}"))
    } else if let Some(rest) = run_url.strip_prefix("http://") {
        Ok(format!("ws://{rest}"))
    } else {
        Err(Error::Config(format!("no WebSocket URL for {run_url:?}")))
    }
}

impl RealtimeSession {
    /// The app of this session.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// Sends one input as a msgpack binary frame.
    pub async fn send<T: Serialize + ?Sized>(&mut self, input: &T) -> Result<(), Error> {
        let bytes = rmp_serde::to_vec_named(input).map_err(|e| {
            Error::Config(format!(
                "the realtime input for {} does not encode as msgpack: {e}",
                self.app
            ))
        })?;
        self.socket
            .send(Message::binary(bytes))
            .await
            .map_err(|e| self.socket_error(e))
    }

    /// The next output (control frames skipped), `None` once fal closed the session.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, Error> {
        loop {
            let next = match self.recv_timeout {
                Some(limit) => tokio::time::timeout(limit, self.socket.next())
                    .await
                    .map_err(|_| Error::Realtime {
                        app: self.app.clone(),
                        error: "TIMEOUT".into(),
                        reason: "no message within the receive bound".into(),
                    })?,
                None => self.socket.next().await,
            };
            let value: Value = match next {
                None | Some(Ok(Message::Close(_))) => return Ok(None),
                Some(Err(e)) => return Err(self.socket_error(e)),
                Some(Ok(Message::Binary(bytes))) => rmp_serde::from_slice(&bytes)
                    .map_err(|e| self.protocol_error(format!("undecodable msgpack frame: {e}")))?,
                Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str())
                    .map_err(|e| self.protocol_error(format!("undecodable text frame: {e}")))?,
                Some(Ok(_)) => continue, // ping, pong, raw frames
            };
            match value.get("type").and_then(Value::as_str) {
                Some("x-fal-message") => continue,
                Some("x-fal-error") => {
                    return Err(Error::Realtime {
                        app: self.app.clone(),
                        error: text_field(&value, "error"),
                        reason: text_field(&value, "reason"),
                    });
                }
                _ => {}
            }
            if value.get("status").and_then(Value::as_str) == Some("error") {
                return Err(Error::Realtime {
                    app: self.app.clone(),
                    error: text_field(&value, "error"),
                    reason: text_field(&value, "reason"),
                });
            }
            return serde_json::from_value(value)
                .map(Some)
                .map_err(|e| self.protocol_error(format!("output does not decode: {e}")));
        }
    }

    /// Closes the session cleanly (a close frame, then waits for fal's).
    pub async fn close(mut self) -> Result<(), Error> {
        match self.socket.close(None).await {
            Ok(()) | Err(tokio_tungstenite::tungstenite::Error::ConnectionClosed) => Ok(()),
            Err(e) => Err(self.socket_error(e)),
        }
    }

    fn socket_error(&self, e: tokio_tungstenite::tungstenite::Error) -> Error {
        Error::Realtime {
            app: self.app.clone(),
            error: "SOCKET".into(),
            reason: e.to_string(),
        }
    }

    fn protocol_error(&self, reason: String) -> Error {
        Error::Realtime {
            app: self.app.clone(),
            error: "PROTOCOL".into(),
            reason,
        }
    }
}

fn text_field(value: &Value, key: &str) -> String {
    match value.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    }
}
