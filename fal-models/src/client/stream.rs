//! Streaming endpoints: `POST {run}/{endpoint id}/stream` answers server-sent events, each a
//! partial output as JSON, the last one the final output (fal's `fal.stream` /
//! `fal_client.stream`).
//!
//! ```no_run
//! # async fn demo(client: fal_models::Client) -> Result<(), fal_models::Error> {
//! use futures::StreamExt;
//! use fal_models::client::StreamEvent;
//! let mut events = client.stream_json("fal-ai/flux-krea-lora", serde_json::json!({"prompt": "a fox"}));
//! while let Some(event) = events.next().await {
//!     match event? {
//!         StreamEvent::Partial(partial) => eprintln!("partial: {partial}"),
//!         StreamEvent::Done(output) => println!("final: {output}"),
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! Bounds: the response head within the client's run timeout (a cold start happens before
//! it), then at most [`StreamOptions::idle`] (one hour by default, fal's default request
//! timeout of an app: see [`DEFAULT_STREAM_IDLE`]) between two chunks, and optionally a [`total`](StreamOptions::total). Dropping the stream closes the
//! connection, which is how fal learns the caller went away. A request that may have reached
//! fal's app is never resent (it is a paid call, like `run`).
//!
//! Some streams are not events: fal's audio streams (`fal-ai/maya/stream`) answer raw audio as
//! it is generated. [`Client::stream_bytes`] yields such a body's chunks as they arrive (fal's
//! JS client's binary mode), with the same bounds and rules; [`Client::stream`] refuses it with
//! [`Error::UnexpectedContentType`] instead of buffering it.

use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use futures::stream::{BoxStream, Stream, StreamExt};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::transport::{Call, EXCERPT_CHARS, MAX_QUEUE_BODY, header_request_id};
use super::{Client, Payload, serialize_input};
use crate::Endpoint;
use crate::error::{Error, Operation, TimeoutKind};
use crate::http::bounds::Bounds;
use crate::http::bounds::Watch;
use crate::http::protocol::stream_path;
use crate::http::redact::Redactor;
use crate::http::sse::SseReader;

mod binary;

pub use binary::ByteStream;

/// The default longest silence between two chunks: one hour, fal's default `request_timeout`
/// of an app (fal `cli/deploy_check.py`, `SERVER_DEFAULT_SCALE_VALUES`). A silence that long
/// outlasts the whole request fal would run, so the bound never cuts a stream fal would
/// complete (dropping a direct connection cancels the request on fal), yet a dead connection
/// still ends. fal's JS client declares 15 s but its check never fires; its Python client has
/// no bound. Set [`StreamOptions::idle`] for a shorter one.
pub const DEFAULT_STREAM_IDLE: Duration = Duration::from_secs(3600);

/// Options of one [`Client::stream`] call.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StreamOptions {
    /// The longest silence between two chunks (default [`DEFAULT_STREAM_IDLE`], one hour);
    /// `None` for none.
    pub idle: Option<Duration>,
    /// A bound on the whole stream, head included; `None` (the default) for none.
    pub total: Option<Duration>,
    /// Upload [`crate::files::local`] files in the input first (off by default).
    pub upload_local_files: bool,
    /// Platform headers.
    pub platform: super::PlatformOptions,
    /// The `Accept` header: `None` (the default) sends `text/event-stream` from
    /// [`Client::stream`] and `*/*` from [`Client::stream_bytes`]. fal's JS client's `accept`.
    pub accept: Option<String>,
}

impl Default for StreamOptions {
    fn default() -> Self {
        StreamOptions {
            idle: Some(DEFAULT_STREAM_IDLE),
            total: None,
            upload_local_files: false,
            platform: Default::default(),
            accept: None,
        }
    }
}

impl StreamOptions {
    /// Sets the idle bound.
    pub fn idle(mut self, d: Option<Duration>) -> Self {
        self.idle = d;
        self
    }

    /// Sets the total bound.
    pub fn total(mut self, d: Option<Duration>) -> Self {
        self.total = d;
        self
    }

    super::options::request_setters!((set) upload_local_files, platform);

    /// Sets the `Accept` header, such as `audio/mpeg` for [`Client::stream_bytes`].
    pub fn accept(mut self, content_type: impl Into<String>) -> Self {
        self.accept = Some(content_type.into());
        self
    }
}

/// One item of an [`OutputStream`].
#[derive(Debug, Clone, PartialEq)]
pub enum StreamEvent<O> {
    /// An event as it arrived (partial outputs are rarely valid final outputs, so they stay
    /// JSON). The final output also arrives first as a `Partial`.
    Partial(Value),
    /// The stream ended: its last event decoded as the endpoint's output. Always the last item.
    Done(O),
}

/// The events of a streaming call; see the [module docs](self). Ends after
/// [`StreamEvent::Done`] or the first error. Dropping it closes the connection.
pub struct OutputStream<O> {
    events: BoxStream<'static, Result<StreamEvent<Value>, Error>>,
    request_id: Arc<OnceLock<String>>,
    /// The call's secrets (key, token, secret inputs), once the request was sent.
    redactor: Arc<OnceLock<Redactor>>,
    _output: PhantomData<fn() -> O>,
}

impl<O> std::fmt::Debug for OutputStream<O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputStream")
            .field("request_id", &self.request_id.get())
            .finish_non_exhaustive()
    }
}

impl<O: DeserializeOwned> OutputStream<O> {
    /// fal's `x-fal-request-id` of this call, once the response head arrived.
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.get().map(String::as_str)
    }

    /// Skips the partial outputs and returns the final one.
    pub async fn output(mut self) -> Result<O, Error> {
        while let Some(event) = self.next().await {
            if let StreamEvent::Done(output) = event? {
                return Ok(output);
            }
        }
        unreachable!("an output stream ends with Done or an error")
    }
}

impl<O: DeserializeOwned> Stream for OutputStream<O> {
    type Item = Result<StreamEvent<O>, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let request_id = self.request_id.get().cloned();
        let redactor = self.redactor.clone();
        self.events.poll_next_unpin(cx).map(|item| {
            item.map(|event| match event? {
                StreamEvent::Partial(value) => Ok(StreamEvent::Partial(value)),
                StreamEvent::Done(value) => serde_json::from_value(value.clone())
                    .map(StreamEvent::Done)
                    .map_err(|source| Error::Decode {
                        operation: Operation::Stream,
                        request_id,
                        status: 200,
                        source,
                        body_excerpt: redactor
                            .get()
                            .cloned()
                            .unwrap_or_default()
                            .excerpt(value.to_string().as_bytes(), 512),
                    }),
            })
        })
    }
}

impl Client {
    /// Streams `input`'s endpoint: partial outputs as they are produced, then the typed
    /// output. Nothing is sent until the stream is first polled. An answer that is neither
    /// events nor JSON (audio, say) ends the stream with [`Error::UnexpectedContentType`]:
    /// read such endpoints with [`stream_bytes`](Self::stream_bytes).
    pub fn stream<E: Endpoint>(&self, input: &E) -> OutputStream<E::Output> {
        self.stream_with(input, StreamOptions::default())
    }

    /// [`stream`](Self::stream) with options.
    pub fn stream_with<E: Endpoint>(
        &self,
        input: &E,
        options: StreamOptions,
    ) -> OutputStream<E::Output> {
        self.stream_raw(
            E::ENDPOINT_ID,
            serialize_input(E::ENDPOINT_ID, input, E::SECRET_FIELDS),
            options,
        )
    }

    /// [`stream`](Self::stream) for a JSON input to any endpoint; the output stays JSON.
    pub fn stream_json(&self, endpoint_id: &str, input: Value) -> OutputStream<Value> {
        self.stream_json_with(endpoint_id, input, StreamOptions::default())
    }

    /// [`stream_json`](Self::stream_json) with options.
    pub fn stream_json_with(
        &self,
        endpoint_id: &str,
        input: Value,
        options: StreamOptions,
    ) -> OutputStream<Value> {
        self.stream_raw(
            endpoint_id,
            serialize_input(endpoint_id, &input, &[]),
            options,
        )
    }

    fn stream_raw<O>(
        &self,
        endpoint_id: &str,
        body: Result<Payload, Error>,
        options: StreamOptions,
    ) -> OutputStream<O> {
        let request_id = Arc::new(OnceLock::new());
        let redactor = Arc::new(OnceLock::new());
        let state = State::Start {
            client: self.clone(),
            endpoint_id: endpoint_id.to_owned(),
            body,
            options: options.clone(),
            request_id: request_id.clone(),
            redactor: redactor.clone(),
        };
        let span = tracing::info_span!(
            "fal.stream",
            endpoint_id,
            request_id = tracing::field::Empty,
        );
        let events = futures::stream::unfold(state, move |state| {
            use tracing::Instrument;
            next_event(state).instrument(span.clone())
        })
        .boxed();
        let events = match options.total {
            Some(total) => bounded_total(events, total, request_id.clone()),
            None => events,
        };
        OutputStream {
            events,
            request_id,
            redactor,
            _output: PhantomData,
        }
    }
}

/// Ends `events` with a timeout error once `total` has passed.
fn bounded_total<T: Send + 'static>(
    events: BoxStream<'static, Result<T, Error>>,
    total: Duration,
    request_id: Arc<OnceLock<String>>,
) -> BoxStream<'static, Result<T, Error>> {
    let deadline = tokio::time::Instant::now() + total;
    futures::stream::unfold(Some(events), move |events| {
        let request_id = request_id.clone();
        async move {
            let mut events = events?;
            match tokio::time::timeout_at(deadline, events.next()).await {
                Ok(Some(item)) => Some((item, Some(events))),
                Ok(None) => None,
                Err(_) => {
                    let err = Error::Timeout {
                        kind: TimeoutKind::Http,
                        request_id: request_id.get().cloned(),
                        cancelled: false,
                    };
                    Some((Err(err), None))
                }
            }
        }
    })
    .boxed()
}

/// The stream's progress. (`Start` is the large variant, but it lives once, before the
/// first poll: boxing it would buy nothing.)
#[allow(clippy::large_enum_variant)]
enum State {
    Start {
        client: Client,
        endpoint_id: String,
        body: Result<Payload, Error>,
        options: StreamOptions,
        request_id: Arc<OnceLock<String>>,
        redactor: Arc<OnceLock<Redactor>>,
    },
    Reading(Box<Reading>),
    Done,
}

struct Reading {
    client: Client,
    secrets: Redactor,
    response: reqwest::Response,
    idle: Option<Duration>,
    events: SseReader,
    /// The last event, the final output once the body ends.
    last: Option<Value>,
    request_id: Option<String>,
    /// A body that is not an event stream is one JSON output, read whole.
    event_stream: bool,
}

/// What a stream's answer holds, by its `Content-Type`.
#[derive(Debug, PartialEq)]
enum BodyKind {
    Events,
    /// JSON, or no content type: one output, read whole (a server that answered like `run`).
    Json,
    /// Anything else (audio, ...): the type as sent.
    Other(String),
}

fn body_kind(headers: &reqwest::header::HeaderMap) -> BodyKind {
    let Some(value) = headers.get(reqwest::header::CONTENT_TYPE) else {
        return BodyKind::Json;
    };
    let text = String::from_utf8_lossy(value.as_bytes());
    let mime = text
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "text/event-stream" {
        BodyKind::Events
    } else if mime.is_empty() || mime == "application/json" || mime.ends_with("+json") {
        BodyKind::Json
    } else {
        BodyKind::Other(text.into_owned())
    }
}

/// A server's content type as errors, logs and `Debug` may show it: scrubbed (a server may
/// echo anything), then short.
fn shown_content_type(client: &Client, secrets: &Redactor, content_type: &str) -> String {
    let scrubbed = secrets.merged(&client.inner.redactor).scrub(content_type);
    scrubbed.chars().take(100).collect()
}

/// The response head of a stream: the request id (scrubbed) recorded in `request_id` and on
/// the span.
fn record_request_id(
    client: &Client,
    secrets: &Redactor,
    response: &reqwest::Response,
    request_id: &OnceLock<String>,
) -> Option<String> {
    let redactor = secrets.merged(&client.inner.redactor);
    let id = header_request_id(response.headers(), &redactor);
    if let Some(id) = &id {
        let _ = request_id.set(id.clone());
        tracing::Span::current().record("request_id", id.as_str());
    }
    tracing::debug!(request_id = id.as_deref(), "stream opened");
    id
}

type Item = Result<StreamEvent<Value>, Error>;

async fn next_event(state: State) -> Option<(Item, State)> {
    match state {
        State::Done => None,
        State::Start {
            client,
            endpoint_id,
            body,
            options,
            request_id,
            redactor,
        } => match open(&client, &endpoint_id, body, &options, "text/event-stream").await {
            Ok((response, watch, secrets)) => {
                let _ = redactor.set(secrets.merged(&client.inner.redactor));
                let id = record_request_id(&client, &secrets, &response, &request_id);
                let event_stream = match body_kind(response.headers()) {
                    BodyKind::Events => true,
                    BodyKind::Json => false,
                    BodyKind::Other(content_type) => {
                        // Not read: dropping the response closes the connection.
                        let content_type = shown_content_type(&client, &secrets, &content_type);
                        tracing::warn!(
                            request_id = id.as_deref(),
                            content_type = %content_type,
                            "stream answered neither events nor JSON"
                        );
                        let err = Error::UnexpectedContentType {
                            operation: Operation::Stream,
                            request_id: id,
                            content_type,
                        };
                        return Some((Err(err), State::Done));
                    }
                };
                let reading = Reading {
                    client,
                    secrets,
                    response,
                    idle: options.idle,
                    events: SseReader::new(options.idle, watch),
                    last: None,
                    request_id: id,
                    event_stream,
                };
                Box::pin(read(Box::new(reading))).await
            }
            Err(e) => Some((Err(e), State::Done)),
        },
        State::Reading(reading) => Box::pin(read(reading)).await,
    }
}

/// Sends the request: the input readied as for every paid call, the key or temporary token,
/// `Accept` from the options or `default_accept`; retried only when it cannot have reached
/// the app.
async fn open(
    client: &Client,
    endpoint_id: &str,
    body: Result<Payload, Error>,
    options: &StreamOptions,
    default_accept: &str,
) -> Result<(reqwest::Response, Watch, Redactor), Error> {
    let platform = options.platform.to_headers()?;
    let (body, secrets) = client
        .prepare_input(endpoint_id, body?, options.upload_local_files)
        .await?;
    let path = stream_path(endpoint_id);
    let mut url = format!("{}/{}", client.inner.run_url, path);
    let mut secrets = secrets;
    if client.inner.token_provider.is_some() || client.temporary_token().is_some() {
        // fal's clients send a temporary token as this query parameter; a provider is asked
        // for `{app}/stream` on each call (fal-js streaming.ts, `tokenProvider`).
        let token = client.token_source()?.fetch(&path).await?;
        secrets = secrets.merged(&Redactor::new([token.expose()]));
        url = super::with_query(&url, &format!("fal_jwt_token={}", token.expose()));
    }
    let bounds = Bounds {
        // The head arrives once the app runs: a cold start is inside it.
        response_head: client.inner.run_timeout,
        total: None,
        idle: options.idle,
        ..client.inner.bounds
    };
    let call = Call {
        op: Operation::Stream,
        method: Method::POST,
        url,
        body: Some(body),
        headers: std::iter::once((
            "accept",
            options
                .accept
                .clone()
                .unwrap_or_else(|| default_accept.to_owned()),
        ))
        .chain(platform)
        .collect(),
        request_id: None,
        paid_endpoint: Some(endpoint_id.to_owned()),
        bounds,
        secrets: secrets.clone(),
        maybe_delivered: Default::default(),
    };
    match client.open(&call).await {
        Ok((response, watch)) => Ok((response, watch, secrets)),
        Err(e) => Err(without_url(e)),
    }
}

/// A reqwest error prints its URL, which holds a temporary token when the client has one.
fn without_url(error: Error) -> Error {
    match error {
        Error::Transport {
            operation,
            request_id,
            source,
        } => Error::Transport {
            operation,
            request_id,
            source: source.without_url(),
        },
        Error::AmbiguousSubmit {
            endpoint_id,
            attempts,
            accepted,
            status,
            request_id,
            headers,
            reason,
            source,
        } => Error::AmbiguousSubmit {
            endpoint_id,
            attempts,
            accepted,
            status,
            request_id,
            headers,
            reason,
            source: source.map(reqwest::Error::without_url),
        },
        other => other,
    }
}

async fn read(mut r: Box<Reading>) -> Option<(Item, State)> {
    if !r.event_stream {
        return read_whole(r).await;
    }
    let data = match r.events.next(&mut r.response).await {
        Ok(Some(data)) => data,
        Ok(None) => {
            return Some(match r.last.take() {
                Some(output) => (Ok(StreamEvent::Done(output)), State::Done),
                None => (
                    Err(Error::StreamEnded {
                        request_id: r.request_id.clone().unwrap_or_default(),
                    }),
                    State::Done,
                ),
            });
        }
        Err(fault) => {
            let err = body_fault(&r.client, &r.secrets, r.request_id.as_deref(), fault);
            return Some((Err(err), State::Done));
        }
    };
    Some(match serde_json::from_str::<Value>(&data) {
        Ok(value) => {
            r.last = Some(value.clone());
            (Ok(StreamEvent::Partial(value)), State::Reading(r))
        }
        Err(source) => (Err(undecodable(&r, source, data.as_bytes())), State::Done),
    })
}

/// A stream event (or a whole body) that is not JSON: the decode error, with an excerpt
/// scrubbed of the client's and the call's secrets.
fn undecodable(r: &Reading, source: serde_json::Error, body: &[u8]) -> Error {
    Error::Decode {
        operation: Operation::Stream,
        request_id: r.request_id.clone(),
        status: 200,
        source,
        body_excerpt: r
            .secrets
            .merged(&r.client.inner.redactor)
            .excerpt(body, EXCERPT_CHARS),
    }
}

/// A body that is not an event stream: one JSON output (a server that answered like `run`).
async fn read_whole(mut r: Box<Reading>) -> Option<(Item, State)> {
    if r.last.is_some() {
        let output = r.last.take().expect("checked");
        return Some((Ok(StreamEvent::Done(output)), State::Done));
    }
    let bounds = Bounds {
        idle: r.idle,
        ..Bounds::unbounded()
    };
    let response = std::mem::replace(&mut r.response, empty_response());
    let body = match crate::http::bounds::read_body(response, &bounds, MAX_QUEUE_BODY).await {
        Ok(body) => body,
        Err((fault, _)) => {
            let err = body_fault(&r.client, &r.secrets, r.request_id.as_deref(), fault);
            return Some((Err(err), State::Done));
        }
    };
    match serde_json::from_slice::<Value>(&body) {
        Ok(value) => {
            r.last = Some(value.clone());
            Some((Ok(StreamEvent::Partial(value)), State::Reading(r)))
        }
        Err(source) => Some((Err(undecodable(&r, source, &body)), State::Done)),
    }
}

fn empty_response() -> reqwest::Response {
    reqwest::Response::from(http::Response::new(Vec::<u8>::new()))
}

/// The error of a body that failed after the head arrived (the reason logged scrubbed).
fn body_fault(
    client: &Client,
    secrets: &Redactor,
    request_id: Option<&str>,
    fault: crate::http::bounds::ExchangeFault,
) -> Error {
    use crate::http::bounds::ExchangeFault;
    let reason = secrets
        .merged(&client.inner.redactor)
        .scrub(&fault.to_string());
    tracing::warn!(request_id, reason = %reason, "stream failed");
    let request_id = request_id.map(str::to_owned);
    match fault {
        ExchangeFault::IdleTimeout | ExchangeFault::HeadTimeout => Error::Timeout {
            kind: TimeoutKind::Idle,
            request_id,
            cancelled: false,
        },
        ExchangeFault::TotalTimeout => Error::Timeout {
            kind: TimeoutKind::Http,
            request_id,
            cancelled: false,
        },
        ExchangeFault::TooLarge(limit) => Error::BodyTooLarge {
            operation: Operation::Stream,
            request_id,
            limit,
        },
        ExchangeFault::Transport(source) => Error::Transport {
            operation: Operation::Stream,
            request_id,
            source: source.without_url(),
        },
    }
}
