//! The fal client: queue operations (submit, status, stream, result, cancel), sync run, and
//! `subscribe`, which does submit-wait-result in one call.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fal_models::Error> {
//! # use serde_json::json;
//! let client = fal_models::Client::from_env()?; // FAL_KEY
//! let out = client
//!     .subscribe_json("fal-ai/sora-2/text-to-video", json!({"prompt": "a cat surfing at dusk"}))
//!     .on_progress(|p| eprintln!("{p:?}"))
//!     .await?;
//! println!("{}", out["video"]["url"]);
//! # Ok(()) }
//! ```
//!
//! Layout: [`ClientBuilder`] configures; `transport` sends one exchange with retries
//! ([`RetryPolicy`]) and turns failures into [`Error`]s; `queue` holds the protocol's data;
//! [`RequestHandle`] names a submitted job; `subscribe` waits for it with progress events.

mod events;
mod handle;
mod input;
pub(crate) mod options;
pub mod proxy;
mod queue;
#[cfg(feature = "realtime")]
pub mod realtime;
mod status_stream;
pub mod stream;
mod subscribe;
pub mod tokens;
pub(crate) mod trace;
mod transport;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use futures::stream::{BoxStream, StreamExt};
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use crate::http::bounds::{self, Bounds};
pub use crate::http::retry::RetryPolicy;
pub use events::{SubscribeEvent, SubscribeEvents};
pub use handle::RequestHandle;
pub use options::{Logs, PlatformOptions, RunOptions, RunOutput};
pub use queue::{LogEntry, Priority, QueueStatus, Status, SubmitOptions};
pub use stream::{ByteStream, OutputStream, StreamEvent, StreamOptions};
pub use subscribe::{Progress, ProgressCallback, Subscribe, SubscribeOptions, WaitMode};
pub use tokens::{TemporaryToken, TokenProvider};

use crate::Endpoint;
use crate::error::{Error, Operation};
use crate::http::protocol::queue_app_path;
use crate::http::redact::Redactor;
use input::InputScan;
use queue::{Detail, SubmitResponse};
use transport::Call;

/// fal's queue host.
pub const DEFAULT_QUEUE_URL: &str = "https://queue.fal.run";
/// fal's synchronous run host.
pub const DEFAULT_RUN_URL: &str = "https://fal.run";
/// fal's REST host (storage tokens for uploads).
pub const DEFAULT_REST_URL: &str = "https://rest.fal.ai";

/// A fal API client. Cheap to clone: clones share one connection pool and configuration.
///
/// Its `Debug` output never shows the key.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    key: Option<ApiKey>,
    /// `Key <key>`, marked sensitive so HTTP-level debugging does not print it.
    authorization: Option<HeaderValue>,
    queue_url: String,
    run_url: String,
    /// fal's REST host (storage uploads).
    rest_url: String,
    /// Built on first use, so clients that never upload pay nothing; clones share its token.
    storage: std::sync::OnceLock<crate::storage::Storage>,
    /// `scheme://host[:port]/` of the queue URL: request URLs must start with it.
    queue_origin: String,
    retry: RetryPolicy,
    user_agent: HeaderValue,
    request_timeout: Option<Duration>,
    run_timeout: Option<Duration>,
    stream_idle_timeout: Option<Duration>,
    /// The bounds of one queue request (status, result, cancel, submit).
    bounds: Bounds,
    /// Scrubs the key (and the storage token, once known) from every error.
    redactor: Redactor,
    /// A temporary token used instead of a key (see [`tokens`]).
    token: Option<TemporaryToken>,
    /// Tokens from the user's backend instead of a key (see [`tokens::TokenProvider`]).
    token_provider: Option<tokens::TokenProvider>,
    /// Every request goes here, its URL in `x-fal-target-url` (see [`proxy`]).
    proxy_url: Option<String>,
    /// Sent to the proxy only.
    proxy_headers: Vec<(HeaderName, HeaderValue)>,
}

/// The API key, never printed.
#[derive(Clone)]
struct ApiKey(String);

impl ApiKey {
    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("Client")
            .field("key", &inner.key.as_ref().map(|_| "<redacted>"))
            .field("queue_url", &inner.queue_url)
            .field("run_url", &inner.run_url)
            .field("retry", &inner.retry)
            .field("request_timeout", &inner.request_timeout)
            .field("run_timeout", &inner.run_timeout)
            .finish_non_exhaustive()
    }
}

/// Where the key comes from.
#[derive(Clone)]
enum KeySource {
    Env,
    Explicit(ApiKey),
    Without,
}

/// Configures a [`Client`].
#[derive(Clone)]
pub struct ClientBuilder {
    key: KeySource,
    queue_url: String,
    run_url: String,
    rest_url: String,
    connect_timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    run_timeout: Option<Duration>,
    stream_idle_timeout: Option<Duration>,
    response_head_timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    retry: RetryPolicy,
    user_agent: String,
    http: Option<reqwest::Client>,
    token: Option<TemporaryToken>,
    token_provider: Option<tokens::TokenProvider>,
    proxy_url: Option<String>,
    proxy_headers: Vec<(HeaderName, HeaderValue)>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = match &self.key {
            KeySource::Env => "from env",
            KeySource::Explicit(_) => "<redacted>",
            KeySource::Without => "none",
        };
        f.debug_struct("ClientBuilder")
            .field("key", &key)
            .field("queue_url", &self.queue_url)
            .field("run_url", &self.run_url)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder {
            key: KeySource::Env,
            queue_url: DEFAULT_QUEUE_URL.into(),
            run_url: DEFAULT_RUN_URL.into(),
            rest_url: DEFAULT_REST_URL.into(),
            connect_timeout: Some(Duration::from_secs(10)),
            request_timeout: Some(Duration::from_secs(60)),
            run_timeout: Some(Duration::from_secs(600)),
            stream_idle_timeout: Some(Duration::from_secs(120)),
            response_head_timeout: Some(Duration::from_secs(30)),
            idle_timeout: Some(Duration::from_secs(30)),
            retry: RetryPolicy::default(),
            user_agent: concat!("fal-models-rust/", env!("CARGO_PKG_VERSION")).into(),
            http: None,
            token: None,
            token_provider: None,
            proxy_url: None,
            proxy_headers: Vec::new(),
        }
    }
}

impl ClientBuilder {
    /// Uses this key instead of the environment.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = KeySource::Explicit(ApiKey(key.into()));
        self
    }

    /// Reads the key from `FAL_KEY`, or `FAL_KEY_ID` + `FAL_KEY_SECRET` (the default).
    pub fn key_from_env(mut self) -> Self {
        self.key = KeySource::Env;
        self
    }

    /// Sends no `Authorization` header (for a proxy that adds the key server-side).
    pub fn without_key(mut self) -> Self {
        self.key = KeySource::Without;
        self
    }

    /// The queue base URL (default `https://queue.fal.run`).
    pub fn queue_url(mut self, url: impl Into<String>) -> Self {
        self.queue_url = url.into();
        self
    }

    /// The sync-run base URL (default `https://fal.run`).
    pub fn run_url(mut self, url: impl Into<String>) -> Self {
        self.run_url = url.into();
        self
    }

    /// Reads the base URLs from the environment when set (to point at a proxy or at
    /// `fal-mock`, which prints them): `FAL_QUEUE_URL` (queue, default
    /// `https://queue.fal.run`), `FAL_RUN_URL` (sync run, default `https://fal.run`) and
    /// `FAL_REST_URL` (storage uploads, default `https://rest.fal.ai`).
    pub fn urls_from_env(mut self) -> Self {
        if let Ok(url) = std::env::var("FAL_QUEUE_URL") {
            self.queue_url = url;
        }
        if let Ok(url) = std::env::var("FAL_RUN_URL") {
            self.run_url = url;
        }
        if let Ok(url) = std::env::var("FAL_REST_URL") {
            self.rest_url = url;
        }
        self
    }

    /// fal's REST host, used for storage uploads (default `https://rest.fal.ai`).
    pub fn rest_url(mut self, url: impl Into<String>) -> Self {
        self.rest_url = url.into();
        self
    }

    /// TCP connect timeout (default 10 s). Ignored with [`http_client`](Self::http_client).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = Some(d);
        self
    }

    /// Time limit of one queue request including its body (default 60 s); `None` for none.
    pub fn request_timeout(mut self, d: Option<Duration>) -> Self {
        self.request_timeout = d;
        self
    }

    /// Time limit of one sync `run` (default 10 min); `None` for none.
    pub fn run_timeout(mut self, d: Option<Duration>) -> Self {
        self.run_timeout = d;
        self
    }

    /// How long the status stream may stay silent before it is reopened (default 120 s).
    pub fn stream_idle_timeout(mut self, d: Option<Duration>) -> Self {
        self.stream_idle_timeout = d;
        self
    }

    /// How long to wait for a response head after sending a request (default 30 s): a server
    /// that accepts and never answers ends here, status stream included. A sync `run`'s head
    /// arrives with its output, so `run` waits up to [`run_timeout`](Self::run_timeout) instead.
    pub fn response_head_timeout(mut self, d: Option<Duration>) -> Self {
        self.response_head_timeout = d;
        self
    }

    /// The longest silence while a response body arrives (default 30 s), for queue answers,
    /// uploads and downloads. (The status stream has its own,
    /// [`stream_idle_timeout`](Self::stream_idle_timeout).)
    pub fn idle_timeout(mut self, d: Option<Duration>) -> Self {
        self.idle_timeout = d;
        self
    }

    /// The retry policy (default: [`RetryPolicy::default`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// Uses this `reqwest::Client` (and its connection pool, proxy and TLS settings).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }

    /// Builds the client. Fails with [`Error::MissingKey`] when the key is to come from the
    /// environment and is not there, and with [`Error::Config`] for bad URLs or header values.
    pub fn build(self) -> Result<Client, Error> {
        let key = match self.key {
            KeySource::Explicit(k) => Some(k),
            KeySource::Env => Some(key_from_env().ok_or(Error::MissingKey)?),
            KeySource::Without => None,
        };
        let authorization = match &key {
            Some(k) => {
                let mut v =
                    HeaderValue::from_str(&format!("Key {}", k.expose())).map_err(|_| {
                        Error::Config(
                            "the API key contains characters not allowed in a header".into(),
                        )
                    })?;
                v.set_sensitive(true);
                Some(v)
            }
            None => None,
        };
        let queue_url = normalize_base(&self.queue_url)?;
        let run_url = normalize_base(&self.run_url)?;
        let rest_url = normalize_base(&self.rest_url)?;
        let queue_origin = format!(
            "{}/",
            Url::parse(&queue_url)
                .expect("normalize_base checked it")
                .origin()
                .ascii_serialization()
        );
        let user_agent = HeaderValue::from_str(&self.user_agent)
            .map_err(|_| Error::Config("invalid user agent".into()))?;
        let http = match self.http {
            Some(http) => http,
            None => {
                // TCP keepalive lets the kernel end a connection whose peer is gone, so a
                // long-lived stream with a generous idle bound does not wait it out.
                let mut b = reqwest::Client::builder()
                    .use_rustls_tls()
                    .tcp_keepalive(Duration::from_secs(60));
                if let Some(d) = self.connect_timeout {
                    b = b.connect_timeout(d);
                }
                b.build()
                    .map_err(|e| Error::Config(format!("HTTP client: {e}")))?
            }
        };
        let bounds = Bounds {
            connect: self.connect_timeout,
            response_head: self.response_head_timeout,
            idle: self.idle_timeout,
            total: self.request_timeout,
        };
        let redactor = Redactor::new(
            key.as_ref()
                .map(ApiKey::expose)
                .into_iter()
                .chain(self.token.as_ref().map(TemporaryToken::expose)),
        );
        Ok(Client {
            inner: Arc::new(Inner {
                bounds,
                redactor,
                http,
                key,
                authorization,
                queue_url,
                run_url,
                rest_url,
                storage: std::sync::OnceLock::new(),
                queue_origin,
                retry: self.retry,
                user_agent,
                request_timeout: self.request_timeout,
                run_timeout: self.run_timeout,
                stream_idle_timeout: self.stream_idle_timeout,
                token: self.token,
                token_provider: self.token_provider,
                proxy_url: proxy::checked(self.proxy_url)?,
                proxy_headers: self.proxy_headers,
            }),
        })
    }
}

/// `FAL_KEY`, or `FAL_KEY_ID:FAL_KEY_SECRET`.
fn key_from_env() -> Option<ApiKey> {
    let non_empty = |name| {
        std::env::var(name)
            .ok()
            .filter(|v: &String| !v.trim().is_empty())
    };
    if let Some(key) = non_empty("FAL_KEY") {
        return Some(ApiKey(key.trim().to_owned()));
    }
    match (non_empty("FAL_KEY_ID"), non_empty("FAL_KEY_SECRET")) {
        (Some(id), Some(secret)) => Some(ApiKey(format!("{}:{}", id.trim(), secret.trim()))),
        _ => None,
    }
}

fn normalize_base(url: &str) -> Result<String, Error> {
    let trimmed = url.trim().trim_end_matches('/');
    match Url::parse(trimmed) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(trimmed.to_owned())
        }
        _ => Err(Error::Config(format!("invalid base URL {url:?}"))),
    }
}

/// Which URL of a request.
#[derive(Clone, Copy)]
enum RequestUrl {
    Status,
    Result,
    Cancel,
}

/// What `cancel` achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelOutcome {
    /// fal accepted the cancellation (a running job may still finish).
    Requested,
    /// The job had already completed; nothing was cancelled.
    AlreadyCompleted,
    /// Unknown: an earlier attempt's answer was lost, and the job is now completed without
    /// saying it was cancelled (fal's status carries no cancellation marker). That attempt may
    /// have cancelled it, or the job may have finished first.
    MayHaveApplied,
}

impl Client {
    /// A client with the key from `FAL_KEY` (or `FAL_KEY_ID` + `FAL_KEY_SECRET`) and the base
    /// URLs from `FAL_QUEUE_URL` / `FAL_RUN_URL` / `FAL_REST_URL` when set, else fal's hosts
    /// (see [`ClientBuilder::urls_from_env`]).
    pub fn from_env() -> Result<Client, Error> {
        ClientBuilder::default()
            .key_from_env()
            .urls_from_env()
            .build()
    }

    /// A client with this key and default settings.
    pub fn new(key: impl Into<String>) -> Result<Client, Error> {
        ClientBuilder::default().key(key).build()
    }

    /// A builder with default settings (key from the environment unless set).
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// Submits `input` to its endpoint's queue.
    pub async fn submit<E: Endpoint>(&self, input: &E) -> Result<RequestHandle<E::Output>, Error> {
        self.submit_with(input, &SubmitOptions::default()).await
    }

    /// Submits `input` with a webhook, start deadline, priority or runner hint.
    pub async fn submit_with<E: Endpoint>(
        &self,
        input: &E,
        options: &SubmitOptions,
    ) -> Result<RequestHandle<E::Output>, Error> {
        let body = serialize_input(E::ENDPOINT_ID, input, E::SECRET_FIELDS)?;
        Ok(self
            .submit_raw(E::ENDPOINT_ID, body, options)
            .await?
            .typed())
    }

    /// Submits a JSON input to any endpoint (for endpoints without bindings).
    pub async fn submit_json(
        &self,
        endpoint_id: &str,
        input: &Value,
        options: &SubmitOptions,
    ) -> Result<RequestHandle, Error> {
        let body = serialize_input(endpoint_id, input, &[])?;
        self.submit_raw(endpoint_id, body, options).await
    }

    pub(crate) async fn submit_raw(
        &self,
        endpoint_id: &str,
        body: Payload,
        options: &SubmitOptions,
    ) -> Result<RequestHandle, Error> {
        let endpoint_id = endpoint_id.trim_matches('/');
        // Options are checked before anything is uploaded or sent.
        let headers = options::request_headers(
            options.start_timeout,
            options.priority,
            options.runner_hint.as_deref(),
            &options.platform,
        )?;
        let (body, secrets) = self
            .prepare_input(endpoint_id, body, options.upload_local_files)
            .await?;
        let mut url = format!("{}/{}", self.inner.queue_url, endpoint_id);
        if let Some(webhook) = &options.webhook_url {
            let mut parsed =
                Url::parse(&url).map_err(|e| Error::Config(format!("endpoint URL: {e}")))?;
            parsed.query_pairs_mut().append_pair("fal_webhook", webhook);
            url = parsed.into();
        }
        let call = Call {
            op: Operation::Submit,
            method: Method::POST,
            url,
            body: Some(body),
            headers,
            request_id: None,
            paid_endpoint: Some(endpoint_id.to_owned()),
            bounds: self.inner.bounds,
            secrets,
            maybe_delivered: Default::default(),
        };
        let reply = self.call(&call).await?;
        let submitted: SubmitResponse =
            serde_json::from_slice(&reply.body).map_err(|source| Error::Decode {
                operation: Operation::Submit,
                request_id: transport::find_request_id(&String::from_utf8_lossy(&reply.body))
                    .map(|id| self.redactor(&call).scrub(&id)),
                status: reply.status,
                source,
                body_excerpt: self.excerpt_for(&call, &reply.body),
            })?;
        Ok(
            // The id is shown in errors and spans: a server may echo anything in it.
            RequestHandle::new(
                endpoint_id,
                self.redactor(&call).scrub(&submitted.request_id),
            )
            .with_urls(
                submitted.status_url,
                submitted.response_url,
                submitted.cancel_url,
            )
            .with_secrets(call.secrets),
        )
    }

    /// The request's current status; with [`Logs::Include`], all its log lines so far.
    pub async fn status<O>(
        &self,
        handle: &RequestHandle<O>,
        logs: impl Into<Logs>,
    ) -> Result<QueueStatus, Error> {
        let mut url = self.request_url(handle, RequestUrl::Status);
        if logs.into() == Logs::Include {
            url = with_query(&url, "logs=1");
        }
        let call = self.get_call(Operation::Status, url, handle);
        let reply = self.call(&call).await?;
        self.decode::<QueueStatus>(&call, &reply)
            .map(|s| s.scrubbed(&self.redactor(&call)))
    }

    /// The request's status as server-sent events: one [`QueueStatus`] per event (with `logs`,
    /// each carrying only new lines), ending after `COMPLETED`.
    ///
    /// A stream that breaks off before `COMPLETED` ends with an error ([`Error::StreamEnded`],
    /// [`Error::Transport`] or a [`TimeoutKind::StreamIdle`](crate::error::TimeoutKind::StreamIdle) timeout);
    /// [`subscribe`](Self::subscribe) reconnects by itself.
    pub fn status_stream<O>(
        &self,
        handle: &RequestHandle<O>,
        logs: impl Into<Logs>,
    ) -> BoxStream<'static, Result<QueueStatus, Error>> {
        self.status_events(handle, logs.into(), Detail::Full)
            .boxed()
    }

    /// [`status_stream`](Self::status_stream), unboxed, each status read to `detail`: connects
    /// when first polled.
    pub(crate) fn status_events<O>(
        &self,
        handle: &RequestHandle<O>,
        logs: Logs,
        detail: Detail,
    ) -> status_stream::StatusStream {
        let call = self.status_stream_call(handle, logs);
        let request_id = handle.request_id().to_owned();
        status_stream::StatusStream::new(self.clone(), call, request_id, detail)
    }

    /// [`status_events`](Self::status_events), connected before it is returned (a failed
    /// connection is the stream's one item). For `subscribe`, which reads it at once: its
    /// connecting is part of the caller's future rather than a box of its own.
    pub(crate) async fn status_events_opened<O>(
        &self,
        handle: &RequestHandle<O>,
        logs: Logs,
        detail: Detail,
    ) -> status_stream::StatusStream {
        let call = self.status_stream_call(handle, logs);
        let request_id = handle.request_id().to_owned();
        let opened = self.open(&call).await;
        status_stream::StatusStream::opened(self, &call, request_id, detail, opened)
    }

    /// The GET of a request's status stream.
    fn status_stream_call<O>(&self, handle: &RequestHandle<O>, logs: Logs) -> Call {
        let mut url = format!("{}/stream", self.request_url(handle, RequestUrl::Status));
        if logs == Logs::Include {
            url = with_query(&url, "logs=1");
        }
        let mut call = self.get_call(Operation::StatusStream, url, handle);
        // The stream lives as long as the job: its head is bounded, then only silence is
        // (below, by the stream idle timeout).
        call.bounds.total = None;
        call.bounds.idle = None;
        call.headers.push(("accept", "text/event-stream".into()));
        call
    }

    /// The output of a completed request, decoded as the handle's output type.
    pub async fn result<O: DeserializeOwned>(&self, handle: &RequestHandle<O>) -> Result<O, Error> {
        let url = self.request_url(handle, RequestUrl::Result);
        let call = self.get_call(Operation::Result, url, handle);
        let reply = self.call(&call).await?;
        self.decode(&call, &reply)
    }

    /// Asks fal to cancel the request.
    pub async fn cancel<O>(&self, handle: &RequestHandle<O>) -> Result<CancelOutcome, Error> {
        let url = self.request_url(handle, RequestUrl::Cancel);
        let mut call = self.get_call(Operation::Cancel, url, handle);
        call.method = Method::PUT;
        match self.call(&call).await {
            // fal answers `{"status": "CANCELLATION_REQUESTED"}`; an answer that is not JSON
            // did not come from fal's queue, so it proves nothing.
            Ok(reply) => self
                .decode::<Value>(&call, &reply)
                .map(|_| CancelOutcome::Requested),
            Err(Error::Api(api))
                if api.status == 400 && api.body_excerpt.contains("ALREADY_COMPLETED") =>
            {
                // An earlier attempt whose answer was lost may have done the cancelling: then
                // the job is completed *because* it was cancelled. Ask before saying otherwise.
                if call
                    .maybe_delivered
                    .load(std::sync::atomic::Ordering::Relaxed)
                {
                    let status = self.status(handle, false).await?;
                    // Without the marker the status cannot tell "finished" from "cancelled by
                    // the attempt whose answer was lost": say so, not a wrong certainty.
                    return Ok(if status.is_cancelled() {
                        CancelOutcome::Requested
                    } else {
                        CancelOutcome::MayHaveApplied
                    });
                }
                Ok(CancelOutcome::AlreadyCompleted)
            }
            Err(e) => Err(e),
        }
    }

    /// Runs `input` synchronously on `fal.run` and returns the typed output (no queue: no
    /// progress, and the HTTP request stays open for the whole run).
    pub async fn run<E: Endpoint>(&self, input: &E) -> Result<E::Output, Error> {
        let body = serialize_input(E::ENDPOINT_ID, input, E::SECRET_FIELDS)?;
        self.run_raw(E::ENDPOINT_ID, body).await
    }

    /// Runs a JSON input synchronously on any endpoint.
    pub async fn run_json(&self, endpoint_id: &str, input: &Value) -> Result<Value, Error> {
        let body = serialize_input(endpoint_id, input, &[])?;
        self.run_raw(endpoint_id, body).await
    }

    /// `run` is `run_with` without options: one path, one way to fill its errors.
    async fn run_raw<O: DeserializeOwned>(
        &self,
        endpoint_id: &str,
        body: Payload,
    ) -> Result<O, Error> {
        let run = self
            .run_with_raw(endpoint_id, body, &RunOptions::default())
            .await?;
        Ok(run.output)
    }

    /// The exchange of a sync run (a paid call). Its head arrives with the output, so only the
    /// run timeout bounds it.
    pub(crate) fn run_call(
        &self,
        endpoint_id: &str,
        body: Vec<u8>,
        headers: Vec<(&'static str, String)>,
        secrets: Redactor,
    ) -> Call {
        Call {
            op: Operation::Run,
            method: Method::POST,
            url: format!("{}/{}", self.inner.run_url, endpoint_id),
            body: Some(body),
            headers,
            request_id: None,
            paid_endpoint: Some(endpoint_id.to_owned()),
            bounds: Bounds {
                response_head: self.inner.run_timeout,
                total: self.inner.run_timeout,
                ..self.inner.bounds
            },
            secrets,
            maybe_delivered: Default::default(),
        }
    }

    /// Submits `input`, waits for it (streaming status by default) and returns the typed
    /// output. Configure progress, polling, timeout, webhook, priority or start deadline on the
    /// returned [`Subscribe`] before awaiting it.
    pub fn subscribe<E: Endpoint>(&self, input: E) -> Subscribe<'_, E::Output> {
        Subscribe::new(
            self,
            E::ENDPOINT_ID,
            serialize_input(E::ENDPOINT_ID, &input, E::SECRET_FIELDS),
        )
    }

    /// [`subscribe`](Self::subscribe) with options given up front.
    pub fn subscribe_with<E: Endpoint>(
        &self,
        input: E,
        options: SubscribeOptions,
    ) -> Subscribe<'_, E::Output> {
        self.subscribe(input).options(options)
    }

    /// [`subscribe`](Self::subscribe) for a JSON input to any endpoint.
    pub fn subscribe_json(&self, endpoint_id: &str, input: Value) -> Subscribe<'_, Value> {
        Subscribe::new(self, endpoint_id, serialize_input(endpoint_id, &input, &[]))
    }

    /// Uploads to fal storage with this client's key and connection pool (see
    /// [`crate::storage`]). Clones of the client share one storage token.
    pub fn storage(&self) -> Result<crate::storage::Storage, Error> {
        if let Some(storage) = self.inner.storage.get() {
            return Ok(storage.clone());
        }
        let builder = match (self.api_key(), &self.inner.proxy_url) {
            (Some(key), _) => crate::storage::Storage::builder().key(key),
            // Key-less through a proxy: uploads are initiated there, as fal-js does.
            (None, Some(proxy)) => crate::storage::Storage::builder()
                .through_proxy(proxy.clone(), self.inner.proxy_headers.clone()),
            (None, None) => return Err(Error::MissingKey),
        };
        let storage = builder
            .rest_base_url(self.inner.rest_url.clone())
            .http(self.inner.http.clone())
            .bounds(self.inner.bounds)
            .retry(self.inner.retry.clone())
            .build()
            .map_err(|e| Error::Config(format!("storage: {e}")))?;
        Ok(self.inner.storage.get_or_init(|| storage).clone())
    }

    /// Downloads an output file to `path`, streaming, through this client's connection pool.
    /// The declared content type and size are checked; a `data:` URI is decoded; on failure no
    /// partial file is left at `path`.
    pub async fn download(
        &self,
        file: &(impl crate::files::RemoteFile + ?Sized),
        path: impl AsRef<std::path::Path>,
    ) -> Result<crate::files::Downloaded, Error> {
        self.download_with(file, path, crate::files::DownloadOptions::expecting(file))
            .await
    }

    /// [`download`](Self::download) with options (a progress callback, other expectations).
    pub async fn download_with(
        &self,
        file: &(impl crate::files::RemoteFile + ?Sized),
        path: impl AsRef<std::path::Path>,
        mut options: crate::files::DownloadOptions,
    ) -> Result<crate::files::Downloaded, Error> {
        // The client's bounds, without the total one: a large file takes what it takes, the
        // idle bound catches a stalled body.
        options.bounds = options.bounds.or(Some(self.inner.bounds.total(None)));
        // The client's retry policy, unless the options bring their own.
        options.retry = options.retry.or_else(|| Some(self.inner.retry.clone()));
        crate::files::download_to_path(&self.inner.http, file.url(), path, &options)
            .await
            .map_err(|e| Error::Download(Box::new(e)))
    }

    /// Readies a serialized input for sending: collects its secret values (scrubbed from every
    /// error of the call), refuses local files (see [`crate::files::local`]) unless
    /// `upload_local_files`, and with it uploads them and puts the uploaded URLs in their place.
    /// Nothing is sent before this succeeds.
    async fn prepare_input(
        &self,
        endpoint_id: &str,
        body: Payload,
        upload_local_files: bool,
    ) -> Result<(Vec<u8>, Redactor), Error> {
        let serialize_err = |source| Error::Serialize {
            endpoint_id: endpoint_id.to_owned(),
            source,
        };
        let scan = InputScan::of(&body.bytes, body.secret_fields).map_err(serialize_err)?;
        let secrets = Redactor::new(scan.secrets.iter().map(String::as_str));
        if !scan.local_files {
            return Ok((body.bytes, secrets));
        }
        if !upload_local_files {
            return Err(Error::LocalFileNotAllowed {
                endpoint_id: endpoint_id.to_owned(),
            });
        }
        // Only an input with local files is read whole, to put their URLs in.
        let mut value: Value = serde_json::from_slice(&body.bytes).map_err(serialize_err)?;
        self.storage()?
            .resolve_local_files(&mut value)
            .await
            .map_err(|e| Error::Upload(Box::new(e)))?;
        let body = serde_json::to_vec(&value).map_err(serialize_err)?;
        Ok((body, secrets))
    }

    // --- crate-internal accessors ---

    /// The `Authorization` header value (`Key ...`, marked sensitive), if the client has a key.
    #[cfg(feature = "realtime")]
    pub(crate) fn authorization(&self) -> Option<&HeaderValue> {
        self.inner.authorization.as_ref()
    }

    /// The API key, if the client has one (storage authenticates with it differently).
    fn api_key(&self) -> Option<&str> {
        self.inner.key.as_ref().map(ApiKey::expose)
    }

    /// The retry policy.
    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    // --- helpers ---

    fn get_call<O>(&self, op: Operation, url: String, handle: &RequestHandle<O>) -> Call {
        Call {
            op,
            method: Method::GET,
            url,
            body: None,
            headers: Vec::new(),
            request_id: Some(handle.request_id().to_owned()),
            paid_endpoint: None,
            bounds: self.inner.bounds,
            secrets: handle.secrets().clone(),
            maybe_delivered: Default::default(),
        }
    }

    /// The URL fal returned at submit when it points at our queue host, else rebuilt from the
    /// endpoint id. (A handle read from storage must not send our key to another host.)
    fn request_url<O>(&self, handle: &RequestHandle<O>, which: RequestUrl) -> String {
        let given = match which {
            RequestUrl::Status => handle.status_url(),
            RequestUrl::Result => handle.response_url(),
            RequestUrl::Cancel => handle.cancel_url(),
        };
        if let Some(url) = given.filter(|u| self.is_queue_host(u)) {
            return url.trim_end_matches('/').to_owned();
        }
        let base = format!(
            "{}/{}/requests/{}",
            self.inner.queue_url,
            queue_app_path(handle.endpoint_id()),
            handle.request_id()
        );
        match which {
            RequestUrl::Status => format!("{base}/status"),
            RequestUrl::Result => base,
            RequestUrl::Cancel => format!("{base}/cancel"),
        }
    }

    fn is_queue_host(&self, url: &str) -> bool {
        // A prefix test, not a parse: this runs on every request. A URL spelled differently
        // (an explicit default port, say) is merely rebuilt from the endpoint id.
        url.starts_with(&self.inner.queue_origin)
    }

    fn decode<T: DeserializeOwned>(
        &self,
        call: &Call,
        reply: &transport::Reply,
    ) -> Result<T, Error> {
        serde_json::from_slice(&reply.body).map_err(|source| Error::Decode {
            operation: call.op,
            request_id: call.request_id.clone().filter(|id| !id.is_empty()),
            status: reply.status,
            source,
            body_excerpt: self.excerpt_for(call, &reply.body),
        })
    }
}

/// A serialized input with the wire names of its secret fields
/// ([`Endpoint::SECRET_FIELDS`]; none for a JSON input), whose values every error, log line and
/// trace field of the call is scrubbed of, as the key is.
pub(crate) struct Payload {
    pub(crate) bytes: Vec<u8>,
    pub(crate) secret_fields: &'static [&'static str],
}

fn serialize_input<T: Serialize + ?Sized>(
    endpoint_id: &str,
    input: &T,
    secret_fields: &'static [&'static str],
) -> Result<Payload, Error> {
    let bytes = serde_json::to_vec(input).map_err(|source| Error::Serialize {
        endpoint_id: endpoint_id.to_owned(),
        source,
    })?;
    Ok(Payload {
        bytes,
        secret_fields,
    })
}

fn with_query(url: &str, pair: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{pair}")
}
