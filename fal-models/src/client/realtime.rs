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
//! The URL is `{app}/realtime`, or the app id as it is when it already ends in `/realtime`
//! (fal documents apps such as `decart/lucy2-vton/realtime`), or `{app}/{path}` with
//! [`RealtimeOptions::path`] (fal-js `resolveEndpointPath`).
//!
//! Authentication: the session connects with `?fal_jwt_token=`, a token from the client's
//! [`TokenProvider`](super::TokenProvider), its temporary token, or one minted with the key (or
//! through its proxy) for the app (120 s, as fal's clients do). A token with a known lifetime
//! is fetched again at 90 % of it for the next connection, without touching the open socket;
//! fal's `{"status": "error", "error": "Unauthorized"}` frame closes the socket and connects
//! again with a fresh token. [`RealtimeOptions::key_header`] sends the key as an
//! `Authorization` header instead (fal_client's `use_jwt=False`). The key never travels on the
//! WebSocket URL.
//!
//! Frames from fal: binary msgpack (or JSON text) objects. `{"type": "x-fal-message"}` control
//! frames and fal's idle notice (`x-fal-error` with `"error": "TIMEOUT"`, which fal's JS client
//! ignores as well) are skipped; other `{"type": "x-fal-error", "error", "reason"}` and
//! `{"status": "error", "error": ..}` become [`Error::Realtime`]; anything else is an output.
//!
//! Binary values: fal's apps pack `bytes` as msgpack `bin` (JPEG frames, audio chunks).
//! [`recv`](RealtimeSession::recv) decodes straight from msgpack, so an output type with a
//! [`bytes::Bytes`] field (or `serde_bytes`) receives them; [`recv_value`](RealtimeSession::recv_value)
//! gives an [`rmpv::Value`] that keeps `bin`, and [`recv_frame`](RealtimeSession::recv_frame)
//! the frame as fal sent it. [`send_raw`](RealtimeSession::send_raw) writes a binary frame as
//! is; `send` of a type with `Bytes` fields (or of an `rmpv::Value`) writes them as `bin`.
//!
//! # Throttling, buffering and reconnects
//!
//! A session runs a small task that owns the socket. [`RealtimeSession::send`] hands the
//! encoded input to it and returns; the task writes inputs out at most once per
//! [`RealtimeOptions::throttle`] interval (none by default). What happens to inputs sent faster
//! than that is the [`SendPolicy`]:
//!
//! - [`SendPolicy::Queue`] (default): every input is sent, in order, paced by the interval; when
//!   [`RealtimeOptions::queue_capacity`] inputs wait, `send` waits.
//! - [`SendPolicy::LatestWins`]: one slot; a newer input replaces one not sent yet, so a burst
//!   (a slider dragged, a prompt typed) reaches fal as its first and its latest input. This is
//!   what fal's JS client does, with a 128 ms interval:
//!   `RealtimeOptions::default().throttle(Duration::from_millis(128)).send_policy(SendPolicy::LatestWins)`.
//!
//! When the connection is lost (no close frame, a socket error, or a close other than `1000`),
//! the task reconnects as [`Reconnect`] says (default: 3 attempts, back-off from 250 ms doubling
//! up to 5 s), minting a fresh token first when the last one was refused or has lived 90 % of its
//! lifetime (a client holding only a temporary token reuses it). Inputs not yet written are sent
//! on the new connection; an input written before the loss is not sent again, and its output may
//! never come (fal's clients behave the same). When every attempt failed, [`recv`] returns the
//! error and the session is over. A close frame with code `1000` ends the session: `recv`
//! returns `None`.
//!
//! Outputs wait for [`recv`] in a buffer of 16; while it is full the socket is not read, so a
//! reader that falls behind slows fal down rather than filling memory.
//!
//! `tracing` events: `realtime: connection lost; reconnecting` (with the reason),
//! `realtime: reconnect attempt failed` (attempt, scrubbed reason), `realtime: reconnected`;
//! never the token, which only travels in the WebSocket URL.
//!
//! A `wss://` gateway with a private certificate authority: pass its root with
//! [`RealtimeOptions::root_certificate`] (DER); the public web roots stay trusted.
//!
//! [`recv`]: RealtimeSession::recv

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::{Sink, SinkExt, Stream, StreamExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use bytes::Bytes;
/// The msgpack value type of [`RealtimeSession::recv_value`] (it keeps `bin`).
pub use rmpv;

use super::Client;
use super::tokens::TokenCache;
use crate::error::Error;
use crate::http::redact::Redactor;

/// A frame from fal, as it came.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum RealtimeFrame {
    /// A binary frame (msgpack, as fal's apps send).
    Binary(Bytes),
    /// A text frame (JSON).
    Text(String),
}

/// An output frame and its decoded value.
struct Output {
    frame: RealtimeFrame,
    value: rmpv::Value,
}

/// Options of [`Client::realtime_with`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RealtimeOptions {
    /// The longest wait for the WebSocket handshake (default 90 s, as fal's Python client),
    /// for the first connection and each reconnect.
    pub open_timeout: Duration,
    /// The longest wait in [`RealtimeSession::recv`] for an answer to an input (default 60 s),
    /// counted from the later of the `recv` call and the last input written, and only while
    /// an input written since fal's last frame awaits one: a caller that sends nothing is never
    /// timed out for its own idleness. `None` for no bound.
    pub recv_timeout: Option<Duration>,
    /// The path after the app id (default `realtime`, not added again when the id ends in it).
    pub path: Option<String>,
    /// Sends the key as `Authorization: Key ..` on the handshake instead of a token in the URL
    /// (fal_client's `use_jwt=False`). Needs a key.
    pub key_header: bool,
    /// fal's `max_buffering` (1 to 60): how many inputs fal keeps queued for the app.
    pub max_buffering: Option<u8>,
    /// The WebSocket base URL (default: the run URL with `ws`/`wss`; a mock in tests).
    pub base_url: Option<String>,
    /// At most one input is written per interval (default: none, every input at once).
    pub throttle: Option<Duration>,
    /// What happens to inputs sent faster than the socket takes them (default
    /// [`SendPolicy::Queue`]).
    pub send_policy: SendPolicy,
    /// With [`SendPolicy::Queue`], how many inputs may wait before `send` waits (default 64).
    pub queue_capacity: usize,
    /// Reconnects after a lost connection (default: 3 attempts).
    pub reconnect: Reconnect,
    /// Extra trusted root certificates (DER) for `wss://`, besides the public web roots: a
    /// private gateway or a test server. Empty by default.
    pub root_certificates: Vec<Vec<u8>>,
}

impl Default for RealtimeOptions {
    fn default() -> Self {
        RealtimeOptions {
            open_timeout: Duration::from_secs(90),
            recv_timeout: Some(Duration::from_secs(60)),
            path: None,
            key_header: false,
            max_buffering: None,
            base_url: None,
            throttle: None,
            send_policy: SendPolicy::Queue,
            queue_capacity: 64,
            reconnect: Reconnect::default(),
            root_certificates: Vec::new(),
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

    /// Connects to `{app}/{path}` instead of `{app}/realtime`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Authenticates with the key in an `Authorization` header instead of a token.
    pub fn key_header(mut self, yes: bool) -> Self {
        self.key_header = yes;
        self
    }

    /// Sets the handshake bound.
    pub fn open_timeout(mut self, d: Duration) -> Self {
        self.open_timeout = d;
        self
    }

    /// Connects to this base URL (`ws://127.0.0.1:port`) instead of the run host.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = Some(url.into());
        self
    }

    /// Writes at most one input per `interval` (fal's JS client: 128 ms).
    pub fn throttle(mut self, interval: Duration) -> Self {
        self.throttle = Some(interval).filter(|d| !d.is_zero());
        self
    }

    /// Sets the [`SendPolicy`].
    pub fn send_policy(mut self, policy: SendPolicy) -> Self {
        self.send_policy = policy;
        self
    }

    /// With [`SendPolicy::Queue`], how many inputs may wait (at least 1).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.queue_capacity = n.max(1);
        self
    }

    /// Sets the [`Reconnect`] policy ([`Reconnect::never`] to end the session on a loss).
    pub fn reconnect(mut self, policy: Reconnect) -> Self {
        self.reconnect = policy;
        self
    }

    /// Trusts this root certificate (DER) for `wss://`, besides the public web roots.
    pub fn root_certificate(mut self, der: impl Into<Vec<u8>>) -> Self {
        self.root_certificates.push(der.into());
        self
    }
}

/// What [`RealtimeSession::send`] does with inputs the socket cannot take yet (see the
/// [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SendPolicy {
    /// Every input is sent, in order.
    #[default]
    Queue,
    /// A newer input replaces one not sent yet.
    LatestWins,
}

/// How a session reconnects after a lost connection: bounded attempts, exponential back-off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconnect {
    max_attempts: u32,
    initial_backoff: Duration,
    max_backoff: Duration,
}

impl Default for Reconnect {
    /// 3 attempts, 250 ms doubling up to 5 s.
    fn default() -> Self {
        Reconnect {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
        }
    }
}

impl Reconnect {
    /// No reconnect: a lost connection ends the session with an error.
    pub fn never() -> Self {
        Reconnect {
            max_attempts: 0,
            ..Self::default()
        }
    }

    /// At most `n` connection attempts per loss.
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n;
        self
    }

    /// The wait before the first attempt, doubled after each failed one up to `max`.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }
}

type WsError = tungstenite::Error;

/// The longest [`RealtimeSession::close`] waits for fal's close reply.
const CLOSE_REPLY_WAIT: Duration = Duration::from_secs(10);

/// An open realtime session. Dropping it stops its task and closes the socket without a close
/// frame; prefer [`close`](Self::close).
pub struct RealtimeSession {
    app: String,
    outbox: Outbox,
    inbox: mpsc::Receiver<Result<Output, Error>>,
    control: mpsc::Sender<oneshot::Sender<Result<(), Error>>>,
    stats: Arc<Stats>,
    recv_timeout: Option<Duration>,
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RealtimeSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RealtimeSession")
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl Drop for RealtimeSession {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Default)]
struct Stats {
    written: AtomicU64,
    superseded: AtomicU64,
    reconnects: AtomicU64,
    reauthentications: AtomicU64,
    /// When the last input was written and the last frame came from fal: an input is in
    /// flight while the first is later.
    last_write: Mutex<Option<Instant>>,
    last_frame: Mutex<Option<Instant>>,
    /// Woken on every write, so a waiting `recv` starts its bound.
    wrote: Notify,
}

impl Stats {
    fn wrote_input(&self) {
        self.written.fetch_add(1, Ordering::Relaxed);
        *lock(&self.last_write) = Some(Instant::now());
        self.wrote.notify_waiters();
    }

    /// The instant an input still awaiting an answer was written.
    fn in_flight_since(&self) -> Option<Instant> {
        let written = (*lock(&self.last_write))?;
        match *lock(&self.last_frame) {
            Some(frame) if frame >= written => None,
            _ => Some(written),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The single slot of [`SendPolicy::LatestWins`].
#[derive(Default)]
struct Latest {
    frame: Mutex<Option<Vec<u8>>>,
    notify: Notify,
}

impl Latest {
    fn take(&self) -> Option<Vec<u8>> {
        self.frame.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

enum Outbox {
    Queue(mpsc::Sender<Vec<u8>>),
    Latest(Arc<Latest>),
}

enum Pending {
    Queue(mpsc::Receiver<Vec<u8>>),
    Latest(Arc<Latest>),
}

impl Pending {
    /// The next input to write; `None` once the session is gone.
    async fn next(&mut self) -> Option<Vec<u8>> {
        match self {
            Pending::Queue(rx) => rx.recv().await,
            Pending::Latest(slot) => loop {
                if let Some(frame) = slot.take() {
                    return Some(frame);
                }
                slot.notify.notified().await;
            },
        }
    }

    fn try_next(&mut self) -> Option<Vec<u8>> {
        match self {
            Pending::Queue(rx) => rx.try_recv().ok(),
            Pending::Latest(slot) => slot.take(),
        }
    }
}

/// A failed connection attempt; `refused` when fal turned the token down (401/403), so the
/// next attempt mints a fresh one.
struct ConnectFailure {
    error: Error,
    refused: bool,
}

/// Opens a socket; `true` asks for a fresh token.
type Connector<S> = Box<dyn FnMut(bool) -> BoxFuture<'static, Result<S, ConnectFailure>> + Send>;

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
        let base = match &options.base_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => websocket_base(&self.inner.run_url)?,
        };
        let tls = tls_connector(&options.root_certificates)?;
        let route = realtime_route(&app, options.path.as_deref());
        let auth = if options.key_header {
            let key = self.authorization().cloned().ok_or(Error::MissingKey)?;
            Auth::Header(key)
        } else {
            Auth::Token(Arc::new(TokenCache::new(self.token_source()?, &route)))
        };
        let tokens = match &auth {
            Auth::Token(cache) => Some(cache.clone()),
            Auth::Header(_) => None,
        };
        let mut connect =
            self.connector(app.clone(), format!("{base}/{route}"), auth, tls, &options);
        let socket = connect(false).await.map_err(|f| f.error)?;
        tracing::debug!(app = %app, "realtime: connected");
        Ok(RealtimeSession::start(
            app, socket, connect, tokens, &options,
        ))
    }

    /// Connects to `url` with a token from `auth` (fetched again when refused or near its
    /// end), or with the key header.
    fn connector(
        &self,
        app: String,
        url: String,
        auth: Auth,
        tls: Option<tokio_tungstenite::Connector>,
        options: &RealtimeOptions,
    ) -> Connector<Socket> {
        let client = self.clone();
        let (open_timeout, max_buffering) = (options.open_timeout, options.max_buffering);
        Box::new(move |fresh| {
            let (client, app, base_url, tls, auth) = (
                client.clone(),
                app.clone(),
                url.clone(),
                tls.clone(),
                auth.clone(),
            );
            Box::pin(async move {
                let mut query = Vec::new();
                let mut secret = String::new();
                if let Auth::Token(cache) = &auth {
                    let token = cache.token(fresh).await.map_err(|error| ConnectFailure {
                        error,
                        refused: false,
                    })?;
                    secret = token.expose().to_owned();
                    query.push(format!("fal_jwt_token={secret}"));
                }
                if let Some(n) = max_buffering {
                    query.push(format!("max_buffering={n}"));
                }
                let url = if query.is_empty() {
                    base_url
                } else {
                    format!("{base_url}?{}", query.join("&"))
                };
                let redactor = client
                    .inner
                    .redactor
                    .merged(&Redactor::new([secret.as_str()]));
                let mut request = tungstenite::client::IntoClientRequest::into_client_request(url)
                    .map_err(|e| ConnectFailure {
                        error: Error::Realtime {
                            app: app.clone(),
                            error: "CONNECT".into(),
                            reason: redactor.scrub(&e.to_string()),
                        },
                        refused: false,
                    })?;
                if let Auth::Header(key) = &auth {
                    request
                        .headers_mut()
                        .insert(tungstenite::http::header::AUTHORIZATION, key.clone());
                }
                let connect =
                    tokio_tungstenite::connect_async_tls_with_config(request, None, false, tls);
                match tokio::time::timeout(open_timeout, connect).await {
                    Err(_) => {
                        tracing::warn!(app = %app, "realtime: handshake timed out");
                        Err(ConnectFailure {
                            error: Error::Realtime {
                                app,
                                error: "TIMEOUT".into(),
                                reason: "the WebSocket handshake did not finish in time".into(),
                            },
                            refused: false,
                        })
                    }
                    Ok(Err(e)) => {
                        let refused = matches!(&e, WsError::Http(response)
                            if matches!(response.status().as_u16(), 401 | 403));
                        Err(ConnectFailure {
                            error: Error::Realtime {
                                app,
                                error: "CONNECT".into(),
                                reason: redactor.scrub(&e.to_string()),
                            },
                            refused,
                        })
                    }
                    Ok(Ok((socket, _))) => Ok(socket),
                }
            })
        })
    }
}

/// How a session authenticates.
#[derive(Clone)]
enum Auth {
    /// `?fal_jwt_token=` from this session's token cache.
    Token(Arc<TokenCache>),
    /// `Authorization: Key ..` on the handshake.
    Header(reqwest::header::HeaderValue),
}

/// `{app}/realtime`, the app as it is when it already ends in `/realtime`, or `{app}/{path}`:
/// fal-js `resolveEndpointPath(app, path, "/realtime")` (utils.ts).
pub fn realtime_route(app: &str, path: Option<&str>) -> String {
    let app = app.trim_matches('/');
    match path
        .map(|p| p.trim_start_matches('/'))
        .filter(|p| !p.is_empty())
    {
        Some(path) => format!("{app}/{path}"),
        None if app.ends_with("/realtime") => app.to_owned(),
        None => format!("{app}/realtime"),
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// rustls with the public web roots plus `extra` (DER), or `None` for tungstenite's default.
fn tls_connector(extra: &[Vec<u8>]) -> Result<Option<tokio_tungstenite::Connector>, Error> {
    if extra.is_empty() {
        return Ok(None);
    }
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    for der in extra {
        roots
            .add(rustls::pki_types::CertificateDer::from(der.clone()))
            .map_err(|e| Error::Config(format!("a realtime root certificate is invalid: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Config(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(tokio_tungstenite::Connector::Rustls(Arc::new(config))))
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
    fn start<S>(
        app: String,
        socket: S,
        connect: Connector<S>,
        tokens: Option<Arc<TokenCache>>,
        options: &RealtimeOptions,
    ) -> Self
    where
        S: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError>,
        S: Unpin + Send + 'static,
    {
        let (outbox, pending) = match options.send_policy {
            SendPolicy::Queue => {
                let (tx, rx) = mpsc::channel(options.queue_capacity.max(1));
                (Outbox::Queue(tx), Pending::Queue(rx))
            }
            SendPolicy::LatestWins => {
                let slot = Arc::new(Latest::default());
                (Outbox::Latest(slot.clone()), Pending::Latest(slot))
            }
        };
        let (inbox_tx, inbox) = mpsc::channel(16);
        let (control, control_rx) = mpsc::channel(1);
        let stats = Arc::new(Stats::default());
        let driver = Driver {
            app: app.clone(),
            connect,
            tokens,
            refreshing: None,
            pending,
            control: control_rx,
            inbox: inbox_tx,
            permit: None,
            throttle: options.throttle,
            reconnect: options.reconnect.clone(),
            stats: stats.clone(),
        };
        let task = tokio::spawn(driver.run(socket));
        RealtimeSession {
            app,
            outbox,
            inbox,
            control,
            stats,
            recv_timeout: options.recv_timeout,
            task,
        }
    }

    /// The app of this session.
    pub fn app(&self) -> &str {
        &self.app
    }

    /// Sends one input as a msgpack binary frame: hands it to the session's task, which writes
    /// it as the [`SendPolicy`] and the throttle say. Waits only when a
    /// [`SendPolicy::Queue`] is full. An error once the session is over.
    pub async fn send<T: Serialize + ?Sized>(&mut self, input: &T) -> Result<(), Error> {
        let bytes = rmp_serde::to_vec_named(input).map_err(|e| {
            Error::Config(format!(
                "the realtime input for {} does not encode as msgpack: {e}",
                self.app
            ))
        })?;
        self.enqueue(bytes).await
    }

    async fn enqueue(&mut self, bytes: Vec<u8>) -> Result<(), Error> {
        let delivered = match &self.outbox {
            Outbox::Queue(tx) => tx.send(bytes).await.is_ok(),
            Outbox::Latest(slot) => {
                let replaced = slot
                    .frame
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .replace(bytes);
                if replaced.is_some() {
                    self.stats.superseded.fetch_add(1, Ordering::Relaxed);
                }
                slot.notify.notify_one();
                !self.control.is_closed()
            }
        };
        if delivered { Ok(()) } else { Err(self.ended()) }
    }

    /// Writes `frame` as one binary frame, as is (fal-js sends a `Uint8Array` unencoded), as
    /// the [`SendPolicy`] and the throttle say.
    pub async fn send_raw(&mut self, frame: Bytes) -> Result<(), Error> {
        self.enqueue(frame.to_vec()).await
    }

    /// The next output decoded as `T` (control frames skipped), `None` once fal closed the
    /// session. Decoded from the msgpack itself, so `bin` values reach [`Bytes`] fields.
    pub async fn recv<T: DeserializeOwned>(&mut self) -> Result<Option<T>, Error> {
        let Some(output) = self.next_output().await? else {
            return Ok(None);
        };
        let decoded = match &output.frame {
            RealtimeFrame::Binary(bytes) => rmp_serde::from_slice(bytes).map_err(|e| e.to_string()),
            RealtimeFrame::Text(text) => serde_json::from_str(text).map_err(|e| e.to_string()),
        };
        decoded.map(Some).map_err(|e| {
            protocol_error(
                &self.app,
                format!(
                    "output does not decode: {e} (binary values need a `Bytes` field, or use recv_value)"
                ),
            )
        })
    }

    /// The next output as a msgpack value that keeps `bin` (control frames skipped).
    pub async fn recv_value(&mut self) -> Result<Option<rmpv::Value>, Error> {
        Ok(self.next_output().await?.map(|o| o.value))
    }

    /// The next output frame as fal sent it (control frames skipped).
    pub async fn recv_frame(&mut self) -> Result<Option<RealtimeFrame>, Error> {
        Ok(self.next_output().await?.map(|o| o.frame))
    }

    /// How many times fal's `Unauthorized` frame made the session connect with a fresh token.
    pub fn reauthentications(&self) -> u64 {
        self.stats.reauthentications.load(Ordering::Relaxed)
    }

    async fn next_output(&mut self) -> Result<Option<Output>, Error> {
        let stats = self.stats.clone();
        let called = Instant::now();
        loop {
            let woken = stats.wrote.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            // The bound runs only while an input awaits its answer.
            let deadline = match (self.recv_timeout, stats.in_flight_since()) {
                (Some(limit), Some(written)) => Some(written.max(called) + limit),
                _ => None,
            };
            let next = tokio::select! {
                next = self.inbox.recv() => next,
                () = &mut woken => continue,
                () = sleep_until_some(deadline) => {
                    return Err(Error::Realtime {
                        app: self.app.clone(),
                        error: "TIMEOUT".into(),
                        reason: "no answer to the last input within the receive bound".into(),
                    });
                }
            };
            return match next {
                None => Ok(None),
                Some(Err(e)) => Err(e),
                Some(Ok(output)) => Ok(Some(output)),
            };
        }
    }

    /// Closes the session cleanly: writes the inputs still waiting (without throttling), a
    /// close frame, then waits (up to 10 s) for fal's close reply; outputs arriving meanwhile
    /// are dropped.
    pub async fn close(self) -> Result<(), Error> {
        let (reply, done) = oneshot::channel();
        if self.control.send(reply).await.is_err() {
            return Ok(()); // the task is over: nothing is open
        }
        done.await.unwrap_or(Ok(()))
    }

    /// How many inputs were written to the socket.
    pub fn inputs_written(&self) -> u64 {
        self.stats.written.load(Ordering::Relaxed)
    }

    /// How many inputs a newer one replaced before they were written ([`SendPolicy::LatestWins`]).
    pub fn inputs_superseded(&self) -> u64 {
        self.stats.superseded.load(Ordering::Relaxed)
    }

    /// How many times the session reconnected.
    pub fn reconnects(&self) -> u64 {
        self.stats.reconnects.load(Ordering::Relaxed)
    }

    fn ended(&self) -> Error {
        Error::Realtime {
            app: self.app.clone(),
            error: "CLOSED".into(),
            reason: "the session is over (see recv for why)".into(),
        }
    }
}

/// The task of a session: owns the socket, writes inputs, reads frames, reconnects.
struct Driver<S> {
    app: String,
    connect: Connector<S>,
    /// The session's tokens, refreshed on schedule while the socket stays open.
    tokens: Option<Arc<TokenCache>>,
    refreshing: Option<BoxFuture<'static, ()>>,
    pending: Pending,
    control: mpsc::Receiver<oneshot::Sender<Result<(), Error>>>,
    inbox: mpsc::Sender<Result<Output, Error>>,
    /// Room for one frame in the inbox: the socket is read only with it, so a reader that
    /// does not keep up slows fal down instead of filling memory.
    permit: Option<mpsc::OwnedPermit<Result<Output, Error>>>,
    throttle: Option<Duration>,
    reconnect: Reconnect,
    stats: Arc<Stats>,
}

/// What a read from the socket means.
enum Read {
    Frame(Output),
    Skip,
    /// fal refused the session's token mid-session: connect again with a fresh one.
    Unauthorized,
    Closed,
    Lost(String),
    Bad(Error),
}

impl<S> Driver<S>
where
    S: Stream<Item = Result<Message, WsError>> + Sink<Message, Error = WsError>,
    S: Unpin + Send + 'static,
{
    async fn run(mut self, mut socket: S) {
        let mut next_write = Instant::now();
        loop {
            let paced = Instant::now() >= next_write;
            let refresh_at = match (&self.tokens, &self.refreshing) {
                (Some(tokens), None) => tokens.next_refresh(),
                _ => None,
            };
            tokio::select! {
                () = sleep_until_some(refresh_at) => {
                    if let Some(tokens) = self.tokens.clone() {
                        self.refreshing = Some(Box::pin(async move { tokens.refresh().await }));
                    }
                }
                () = poll_some(&mut self.refreshing) => self.refreshing = None,
                close = self.control.recv() => {
                    if let Some(reply) = close {
                        let _ = reply.send(self.close(&mut socket).await);
                    }
                    return; // closed, or the session was dropped
                }
                frame = self.pending.next(), if paced => {
                    let Some(frame) = frame else { return };
                    if let Err(e) = socket.send(Message::binary(frame)).await {
                        match self.reconnect(e.to_string(), false).await {
                            Some(fresh) => socket = fresh,
                            None => return,
                        }
                        continue;
                    }
                    self.stats.wrote_input();
                    if let Some(interval) = self.throttle {
                        next_write = Instant::now() + interval;
                    }
                }
                () = tokio::time::sleep_until(next_write), if !paced => {}
                permit = self.inbox.clone().reserve_owned(), if self.permit.is_none() => {
                    match permit {
                        Ok(permit) => self.permit = Some(permit),
                        Err(_) => return, // the session was dropped
                    }
                }
                read = socket.next(), if self.permit.is_some() => match self.classify(read) {
                    Read::Frame(output) => self.deliver(Ok(output)).await,
                    Read::Bad(error) => self.deliver(Err(error)).await,
                    Read::Skip => {}
                    Read::Unauthorized => {
                        // fal-js drops the token on this frame and connects again with a new
                        // one (realtime.ts `isUnauthorizedError`); the old socket is closed.
                        tracing::info!(app = %self.app, "realtime: fal refused the token; re-authenticating");
                        self.stats.reauthentications.fetch_add(1, Ordering::Relaxed);
                        let _ = tokio::time::timeout(Duration::from_secs(1), socket.close()).await;
                        match self.reconnect("fal answered Unauthorized".into(), true).await {
                            Some(fresh) => socket = fresh,
                            None => return,
                        }
                    }
                    Read::Closed => {
                        tracing::debug!(app = %self.app, "realtime: fal closed the session");
                        return;
                    }
                    Read::Lost(reason) => match self.reconnect(reason, false).await {
                        Some(fresh) => socket = fresh,
                        None => return,
                    },
                },
            }
        }
    }

    fn classify(&self, read: Option<Result<Message, WsError>>) -> Read {
        let frame = match read {
            None => return Read::Lost("the connection ended without a close frame".into()),
            Some(Err(e)) => return Read::Lost(e.to_string()),
            Some(Ok(Message::Close(frame))) => {
                return match frame {
                    Some(frame) if frame.code != CloseCode::Normal => Read::Lost(format!(
                        "fal closed the connection: {} {}",
                        u16::from(frame.code),
                        frame.reason
                    )),
                    _ => Read::Closed,
                };
            }
            Some(Ok(Message::Binary(bytes))) => RealtimeFrame::Binary(bytes),
            Some(Ok(Message::Text(text))) => RealtimeFrame::Text(text.as_str().to_owned()),
            Some(Ok(_)) => return Read::Skip, // ping, pong, raw frames
        };
        *lock(&self.stats.last_frame) = Some(Instant::now());
        let value = match &frame {
            RealtimeFrame::Binary(bytes) => rmpv::decode::read_value(&mut &bytes[..])
                .map_err(|e| format!("undecodable msgpack frame: {e}")),
            RealtimeFrame::Text(text) => serde_json::from_str::<Value>(text)
                .map_err(|e| e.to_string())
                .and_then(|json| rmpv::ext::to_value(json).map_err(|e| e.to_string()))
                .map_err(|e| format!("undecodable text frame: {e}")),
        };
        let value = match value {
            Ok(value) => value,
            Err(reason) => return Read::Bad(protocol_error(&self.app, reason)),
        };
        let field = |key: &str| field(&value, key);
        let error = || Error::Realtime {
            app: self.app.clone(),
            error: field("error").unwrap_or_default(),
            reason: field("reason").unwrap_or_default(),
        };
        match field("type").as_deref() {
            Some("x-fal-message") => return Read::Skip,
            // fal's notice that no input came for a while; not a failure of the session
            // (fal's JS client ignores it too).
            Some("x-fal-error") if field("error").as_deref() == Some("TIMEOUT") => {
                tracing::debug!(app = %self.app, "realtime: fal's idle notice (TIMEOUT) skipped");
                return Read::Skip;
            }
            Some("x-fal-error") => return Read::Bad(error()),
            _ => {}
        }
        if field("status").as_deref() == Some("error") {
            if field("error").as_deref() == Some("Unauthorized") && self.tokens.is_some() {
                return Read::Unauthorized;
            }
            return Read::Bad(error());
        }
        Read::Frame(Output { frame, value })
    }

    async fn deliver(&mut self, item: Result<Output, Error>) {
        match self.permit.take() {
            Some(permit) => {
                permit.send(item);
            }
            None => {
                let _ = self.inbox.send(item).await;
            }
        }
    }

    async fn close(&mut self, socket: &mut S) -> Result<(), Error> {
        while let Some(frame) = self.pending.try_next() {
            socket
                .send(Message::binary(frame))
                .await
                .map_err(|e| socket_error(&self.app, e))?;
            self.stats.wrote_input();
        }
        match socket.close().await {
            Ok(()) | Err(WsError::ConnectionClosed) => {}
            Err(e) => return Err(socket_error(&self.app, e)),
        }
        // fal reads our inputs before our close frame; waiting for its close reply (outputs
        // still on the way are dropped) lets it read them all instead of failing to answer.
        let drain = async { while let Some(Ok(_)) = socket.next().await {} };
        let _ = tokio::time::timeout(CLOSE_REPLY_WAIT, drain).await;
        Ok(())
    }

    /// Connects again after a loss, as the [`Reconnect`] policy allows; on failure the error
    /// goes to `recv` and `None` ends the task.
    async fn reconnect(&mut self, reason: String, fresh: bool) -> Option<S> {
        let policy = self.reconnect.clone();
        if policy.max_attempts == 0 {
            tracing::warn!(app = %self.app, reason = %reason, "realtime: connection lost");
            let error = socket_error_text(&self.app, format!("connection lost: {reason}"));
            self.deliver(Err(error)).await;
            return None;
        }
        tracing::warn!(app = %self.app, reason = %reason, "realtime: connection lost; reconnecting");
        let (mut delay, mut fresh, mut last) = (policy.initial_backoff, fresh, reason);
        for attempt in 1..=policy.max_attempts {
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                close = self.control.recv() => {
                    if let Some(reply) = close {
                        let _ = reply.send(Ok(()));
                    }
                    return None;
                }
            }
            match (self.connect)(fresh).await {
                Ok(socket) => {
                    self.stats.reconnects.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(app = %self.app, attempt, "realtime: reconnected");
                    return Some(socket);
                }
                Err(failure) => {
                    last = failure.error.to_string();
                    fresh = failure.refused;
                    tracing::warn!(
                        app = %self.app,
                        attempt,
                        reason = %last,
                        "realtime: reconnect attempt failed"
                    );
                    delay = (delay * 2).min(policy.max_backoff);
                }
            }
        }
        let error = Error::Realtime {
            app: self.app.clone(),
            error: "RECONNECT".into(),
            reason: format!(
                "the connection was lost and {} reconnect attempts failed; last: {last}",
                policy.max_attempts
            ),
        };
        self.deliver(Err(error)).await;
        None
    }
}

fn socket_error(app: &str, e: WsError) -> Error {
    socket_error_text(app, e.to_string())
}

fn socket_error_text(app: &str, reason: String) -> Error {
    Error::Realtime {
        app: app.to_owned(),
        error: "SOCKET".into(),
        reason,
    }
}

fn protocol_error(app: &str, reason: String) -> Error {
    Error::Realtime {
        app: app.to_owned(),
        error: "PROTOCOL".into(),
        reason,
    }
}

/// A member of a msgpack map, as text.
fn field(value: &rmpv::Value, key: &str) -> Option<String> {
    let map = value.as_map()?;
    let (_, v) = map.iter().find(|(k, _)| k.as_str() == Some(key))?;
    Some(match v.as_str() {
        Some(s) => s.to_owned(),
        None => v.to_string(),
    })
}

/// Sleeps until `at`; never wakes when there is no instant.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Runs the future if there is one; pending forever otherwise.
async fn poll_some(fut: &mut Option<BoxFuture<'static, ()>>) {
    match fut {
        Some(fut) => fut.await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    //! The session's task against an in-memory socket on paused time: exact write instants
    //! for the throttle and the reconnect back-off, no network, no wall clock.

    use std::pin::Pin;
    use std::task::{Context, Poll};

    use futures::channel::mpsc as fmpsc;

    use super::*;

    type Written = Arc<Mutex<Vec<(Duration, Value)>>>;

    /// Frames in from the test, frames out recorded with their time since `start`.
    struct FakeSocket {
        incoming: fmpsc::UnboundedReceiver<Result<Message, WsError>>,
        written: Written,
        start: Instant,
    }

    impl Stream for FakeSocket {
        type Item = Result<Message, WsError>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.incoming.poll_next_unpin(cx)
        }
    }

    impl Sink<Message> for FakeSocket {
        type Error = WsError;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }
        fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), WsError> {
            if let Message::Binary(bytes) = item {
                let value: Value = rmp_serde::from_slice(&bytes).expect("msgpack");
                let at = self.start.elapsed();
                self.written.lock().unwrap().push((at, value));
            }
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }
    }

    fn fake(
        start: Instant,
    ) -> (
        FakeSocket,
        fmpsc::UnboundedSender<Result<Message, WsError>>,
        Written,
    ) {
        let (tx, incoming) = fmpsc::unbounded();
        let written = Written::default();
        let socket = FakeSocket {
            incoming,
            written: written.clone(),
            start,
        };
        (socket, tx, written)
    }

    /// A connector that fails every attempt and records when it was called.
    fn failing(calls: Arc<Mutex<Vec<Duration>>>, start: Instant) -> Connector<FakeSocket> {
        Box::new(move |_| {
            calls.lock().unwrap().push(start.elapsed());
            Box::pin(async {
                Err(ConnectFailure {
                    error: Error::Config("down".into()),
                    refused: false,
                })
            })
        })
    }

    fn prompts(written: &Written) -> Vec<(u128, String)> {
        let written = written.lock().unwrap();
        written
            .iter()
            .map(|(at, v)| {
                (
                    at.as_millis(),
                    v["p"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn latest_wins_writes_the_first_input_then_the_latest_one_interval_later() {
        let start = Instant::now();
        let (socket, _keep_open, written) = fake(start);
        let calls = Arc::default();
        let options = RealtimeOptions::default()
            .throttle(Duration::from_millis(128))
            .send_policy(SendPolicy::LatestWins);
        let mut session =
            RealtimeSession::start("a/b".into(), socket, failing(calls, start), None, &options);
        session.send(&serde_json::json!({"p": "0"})).await.unwrap();
        settle().await;
        for i in 1..10 {
            session
                .send(&serde_json::json!({"p": i.to_string()}))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(
            prompts(&written),
            [(0, "0".to_owned()), (128, "9".to_owned())]
        );
        assert_eq!(
            (session.inputs_written(), session.inputs_superseded()),
            (2, 8)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_throttled_queue_writes_one_input_per_interval() {
        let start = Instant::now();
        let (socket, _keep_open, written) = fake(start);
        let options = RealtimeOptions::default().throttle(Duration::from_millis(100));
        let calls = Arc::default();
        let mut session =
            RealtimeSession::start("a/b".into(), socket, failing(calls, start), None, &options);
        for i in 0..4 {
            session
                .send(&serde_json::json!({"p": i.to_string()}))
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let expected: Vec<(u128, String)> =
            (0..4).map(|i| (i as u128 * 100, i.to_string())).collect();
        assert_eq!(prompts(&written), expected);
    }

    #[tokio::test(start_paused = true)]
    async fn inputs_sent_while_reconnecting_go_out_on_the_new_connection_latest_first() {
        let start = Instant::now();
        let (socket, keep_open, first_written) = fake(start);
        let second_written = Written::default();
        let open_ends = Arc::new(Mutex::new(Vec::new()));
        let (written, ends) = (second_written.clone(), open_ends.clone());
        let mut calls = 0;
        // The first reconnect attempt fails, the second opens a new socket.
        let connect: Connector<FakeSocket> = Box::new(move |_| {
            calls += 1;
            let outcome = if calls == 1 {
                Err(ConnectFailure {
                    error: Error::Config("down".into()),
                    refused: false,
                })
            } else {
                let (tx, incoming) = fmpsc::unbounded();
                ends.lock().unwrap().push(tx);
                Ok(FakeSocket {
                    incoming,
                    written: written.clone(),
                    start,
                })
            };
            Box::pin(async move { outcome })
        });
        let options = RealtimeOptions::default()
            .send_policy(SendPolicy::LatestWins)
            .reconnect(
                Reconnect::default().backoff(Duration::from_millis(100), Duration::from_secs(1)),
            );
        let mut session = RealtimeSession::start("a/b".into(), socket, connect, None, &options);
        session
            .send(&serde_json::json!({"p": "before"}))
            .await
            .unwrap();
        settle().await;
        drop(keep_open); // lost; attempts at 100 ms (fails) and 300 ms (succeeds)
        settle().await;
        for p in ["during 1", "during 2", "during 3"] {
            session.send(&serde_json::json!({"p": p})).await.unwrap();
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(prompts(&first_written), [(0, "before".to_owned())]);
        assert_eq!(prompts(&second_written), [(300, "during 3".to_owned())]);
        assert_eq!(session.reconnects(), 1);
        assert_eq!(session.inputs_superseded(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn reconnect_attempts_back_off_and_end_in_an_error() {
        let start = Instant::now();
        let (socket, keep_open, _) = fake(start);
        let calls: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let options = RealtimeOptions::default().recv_timeout(None).reconnect(
            Reconnect::default()
                .max_attempts(4)
                .backoff(Duration::from_millis(100), Duration::from_millis(300)),
        );
        let mut session = RealtimeSession::start(
            "a/b".into(),
            socket,
            failing(calls.clone(), start),
            None,
            &options,
        );
        drop(keep_open); // the connection ends without a close frame
        let err = session.recv::<Value>().await.unwrap_err();
        assert!(
            matches!(&err, Error::Realtime { error, .. } if error == "RECONNECT"),
            "{err:?}"
        );
        let at: Vec<u128> = calls
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(at, [100, 300, 600, 900], "100, 200, then 300 ms capped");
    }

    fn frame(value: Value) -> Message {
        Message::binary(rmp_serde::to_vec_named(&value).unwrap())
    }

    #[tokio::test(start_paused = true)]
    async fn recv_waits_without_error_while_no_input_is_in_flight() {
        let start = Instant::now();
        let (socket, tx, _) = fake(start);
        let calls = Arc::default();
        let options = RealtimeOptions::default(); // recv bound 60 s
        let mut session =
            RealtimeSession::start("a/b".into(), socket, failing(calls, start), None, &options);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(120)).await;
            tx.unbounded_send(Ok(frame(serde_json::json!({"p": "pushed"}))))
                .unwrap();
            std::future::pending::<()>().await;
        });
        let out: Value = session.recv().await.unwrap().expect("an output");
        assert_eq!(out["p"], "pushed");
        assert_eq!(start.elapsed(), Duration::from_secs(120));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswered_input_times_out_one_bound_after_its_write() {
        let start = Instant::now();
        let (socket, _keep_open, written) = fake(start);
        let calls = Arc::default();
        let options = RealtimeOptions::default().recv_timeout(Some(Duration::from_secs(60)));
        let mut session =
            RealtimeSession::start("a/b".into(), socket, failing(calls, start), None, &options);
        // Idle for a while first: that does not count.
        tokio::time::sleep(Duration::from_secs(100)).await;
        session.send(&serde_json::json!({"p": "x"})).await.unwrap();
        settle().await;
        assert_eq!(prompts(&written), [(100_000, "x".to_owned())]);
        let err = session.recv::<Value>().await.unwrap_err();
        assert!(
            matches!(&err, Error::Realtime { error, .. } if error == "TIMEOUT"),
            "{err:?}"
        );
        assert_eq!(start.elapsed(), Duration::from_secs(160));
    }
}
