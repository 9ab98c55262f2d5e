//! A fal-compatible mock server on loopback, for tests (ours and yours) and offline examples.
//!
//! It speaks fal's queue protocol over real HTTP: submit, status (with logs), the status
//! stream (server-sent events), result, cancel and sync run, with fal's rule that requests live
//! under `owner/alias` only. Inputs are validated against each endpoint's OpenAPI document
//! (422 in fal's format); outputs are the document's example output. Faults can be injected
//! per operation: dropped connections, 429 with `Retry-After`, 5xx, fal's start-deadline 504,
//! truncated, malformed or slow bodies, broken status streams, failing jobs.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fal_models::mock::{Fault, MockServer};
//! use fal_models::error::Operation;
//! let server = MockServer::builder().schemas_dir("schemas")?.start().await?;
//! server.inject(Operation::Status, Fault::TooManyRequests { retry_after_secs: 1 });
//! let client = server.client();
//! let out = client
//!     .subscribe_json("fal-ai/sora-2/text-to-video", serde_json::json!({"prompt": "a cat"}))
//!     .await?;
//! assert_eq!(server.count(Operation::Submit), 1);
//! # Ok(()) }
//! ```
//!
//! Jobs advance one step per status answer (or per stream event): `queue_steps` answers
//! `IN_QUEUE` (positions counting down), then `progress_steps` answers `IN_PROGRESS` with one
//! new log line each, then `COMPLETED`.
//!
//! Besides the queue, the queue address also serves fal's storage (token route, CDN v3
//! uploads, the upload routes of the official clients, the uploaded files) and the JWKS of the
//! key the mock signs webhook deliveries with: use [`MockServer::rest_url`] as `FAL_REST_URL`.
//! A submit with `fal_webhook` runs on its own and its result is delivered there, signed.
//!
//! Modules: `queue` (the queue protocol and its wire shapes), `storage` (uploads and files),
//! `webhooks` (signed deliveries), `faults` (the text form of fault injection), `schema`
//! (input validation and example outputs).

/// The command line of `fal-mock` and `falx mock`.
pub mod cli;
mod faults;
mod outputs;
mod platform;
mod queue;
#[cfg(feature = "realtime")]
pub mod realtime;
mod schema;
mod storage;
mod stream;
mod tokens;
mod webhooks;

pub use faults::{FaultSpec, operation_name};
pub use platform::{DEFAULT_LIMIT as LISTING_DEFAULT_LIMIT, MAX_LIMIT as LISTING_MAX_LIMIT};
pub use schema::EndpointSpec;
pub use stream::{BINARY_CHUNK_LEN, DEFAULT_BINARY_CHUNKS};
pub use webhooks::{MOCK_USER_ID, WebhookAttempt};

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode, header};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::client::{Client, ClientBuilder, RetryPolicy};
use crate::error::Operation;
use crate::http::protocol::{ERROR_TYPE_HEADER, REQUEST_ID_HEADER, REQUEST_TIMEOUT_TYPE_HEADER};

/// The key [`MockServer::client`] sends.
pub const MOCK_KEY: &str = "mock-key";

/// A fault to inject into the mock's answer to one request. Each has a text form (`Display`,
/// `FromStr`; see [`FaultSpec`]), the one `fal-mock --fault` reads.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Fault {
    /// Close the connection without answering, before acting on the request.
    Reset,
    /// Act on the request (a submit queues its job), then close the connection without
    /// answering: the ambiguous case for a submit.
    ResetAfterHandling,
    /// Answer with this status, headers and body instead.
    Respond {
        /// HTTP status.
        status: u16,
        /// Extra headers.
        headers: Vec<(String, String)>,
        /// Body (sent as JSON content type).
        body: String,
    },
    /// `429` with `Retry-After: <secs>`.
    TooManyRequests {
        /// The `Retry-After` seconds.
        retry_after_secs: u64,
    },
    /// A gateway error (`502`, `503` or `504`) or any other status, with a text detail.
    ServerError(u16),
    /// fal's start-deadline answer: `504` with `X-Fal-Request-Timeout-Type: user`.
    StartDeadline,
    /// Act on the request, then send only the first half of the body and close the connection.
    TruncatedBody,
    /// Like [`TruncatedBody`](Self::TruncatedBody), cut after this many bytes.
    TruncatedBodyAfter(usize),
    /// Answer `200` with a body that is not JSON.
    MalformedBody,
    /// Act on the request, then send the first half of the body, wait, send the rest.
    SlowBody(Duration),
    /// For the status stream: send one event, then end the stream before `COMPLETED`.
    StreamDrop,
    /// For a submit: queue the job, which then completes with this error.
    FailJob(JobFailure),
    /// Accept the request and never answer (the connection stays open): only the client's
    /// response-head bound ends the wait.
    NeverAnswer,
    /// Act on the request (a submit queues its job, a run runs), then answer this status
    /// (`502`, `503`, `504`, ...) as a gateway behind fal's ingress would: with
    /// `x-fal-request-id` and a JSON body. The request reached the app: a client must not
    /// replay a submit on it.
    ForwardThenFail(u16),
    /// Answer this status (`502`, `503`, `504`) as fal's ingress does before any app saw the
    /// request: nginx's HTML page, no `x-fal-request-id`, nothing acted on. The client resends
    /// a paid call only on the `503` (nginx sends `502`/`504` pages after forwarding too, so
    /// on the wire they prove nothing).
    IngressError(u16),
}

/// How a job fails (see [`Fault::FailJob`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct JobFailure {
    /// The status's `error` text.
    pub message: String,
    /// The status's `error_type` and the result's `X-Fal-Error-Type`.
    pub error_type: Option<String>,
    /// The HTTP status the result endpoint answers with.
    pub status: u16,
    /// The result's `detail` (a string or a list of field errors).
    pub detail: Value,
    /// Whether the result answer is the start-deadline 504 (`X-Fal-Request-Timeout-Type: user`).
    pub start_deadline: bool,
}

impl JobFailure {
    /// A job that fails validation at run time, e.g. a content-policy check on one field.
    pub fn validation(field: &str, msg: &str, kind: &str) -> Self {
        JobFailure {
            message: msg.to_owned(),
            error_type: Some(kind.to_owned()),
            status: 422,
            detail: json!([{"loc": ["body", field], "msg": msg, "type": kind}]),
            start_deadline: false,
        }
    }

    /// A job that fails with an internal error.
    pub fn internal(msg: &str) -> Self {
        JobFailure {
            message: msg.to_owned(),
            error_type: Some("internal_error".into()),
            status: 500,
            detail: Value::String(msg.to_owned()),
            start_deadline: false,
        }
    }

    /// A job whose start deadline passed before a runner picked it up.
    pub fn start_deadline() -> Self {
        JobFailure {
            message: "Request timed out before it started".into(),
            error_type: Some("request_timeout".into()),
            status: 504,
            detail: Value::String("Request timed out before it started".into()),
            start_deadline: true,
        }
    }
}

/// One request the mock received.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The operation it was routed to (`None` for unroutable requests).
    pub operation: Option<Operation>,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// Headers (lower-case names).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// An error starting the mock server (unreadable document, port in use).
#[derive(Debug)]
pub struct MockError(String);

impl fmt::Display for MockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MockError {}

/// Configures a [`MockServer`].
#[derive(Debug, Clone)]
pub struct MockServerBuilder {
    endpoints: Vec<EndpointSpec>,
    queue_steps: usize,
    progress_steps: usize,
    stream_interval: Duration,
    stream_logs_since_open: bool,
    key: Option<String>,
    queue_addr: SocketAddr,
    run_addr: SocketAddr,
    faults: Vec<FaultSpec>,
    local_output_files: bool,
    webhooks: webhooks::WebhookSettings,
    binary_streams: HashMap<String, stream::BinaryStream>,
    /// What `GET /v1/models` lists; `None`: the endpoints' own documents.
    platform: Option<platform::Catalogue>,
}

impl Default for MockServerBuilder {
    fn default() -> Self {
        let any_port = SocketAddr::from(([127, 0, 0, 1], 0));
        MockServerBuilder {
            endpoints: Vec::new(),
            queue_steps: 1,
            progress_steps: 2,
            stream_interval: Duration::from_millis(2),
            stream_logs_since_open: false,
            key: None,
            queue_addr: any_port,
            run_addr: any_port,
            faults: Vec::new(),
            local_output_files: false,
            webhooks: webhooks::WebhookSettings::default(),
            binary_streams: HashMap::new(),
            platform: None,
        }
    }
}

impl MockServerBuilder {
    /// Loads every `*.json` OpenAPI document under `dir` (recursively).
    pub fn schemas_dir(mut self, dir: impl AsRef<Path>) -> Result<Self, MockError> {
        let mut files = Vec::new();
        collect_json_files(dir.as_ref(), &mut files)?;
        files.sort();
        for file in files {
            self.endpoints
                .push(EndpointSpec::from_file(&file).map_err(MockError)?);
        }
        Ok(self)
    }

    /// Serves fal's platform listing (`GET /v1/models`) from a snapshot folder instead of the
    /// endpoints' documents: every `*.json` document below it, and, when there is one,
    /// `listing.txt` (the endpoint ids listed, one a line; a listed id without a document is
    /// listed with fal's `expansion_failed` error in place of its document).
    pub fn platform_snapshot(mut self, dir: impl AsRef<Path>) -> Result<Self, MockError> {
        self.platform = Some(platform::Catalogue::from_snapshot(dir.as_ref())?);
        Ok(self)
    }

    /// Loads one OpenAPI document file.
    pub fn schema_file(mut self, path: impl AsRef<Path>) -> Result<Self, MockError> {
        self.endpoints
            .push(EndpointSpec::from_file(path.as_ref()).map_err(MockError)?);
        Ok(self)
    }

    /// Adds an endpoint from an OpenAPI document.
    pub fn document(mut self, document: Value) -> Result<Self, MockError> {
        self.endpoints
            .push(EndpointSpec::from_document(document).map_err(MockError)?);
        Ok(self)
    }

    /// Adds an endpoint without a schema that accepts any JSON object and answers `output`.
    pub fn endpoint(mut self, endpoint_id: &str, output: Value) -> Self {
        self.endpoints
            .push(EndpointSpec::with_output(endpoint_id, output));
        self
    }

    /// Adds a prepared endpoint.
    pub fn spec(mut self, spec: EndpointSpec) -> Self {
        self.endpoints.push(spec);
        self
    }

    /// How many status answers a new job spends `IN_QUEUE` (default 1).
    pub fn queue_steps(mut self, n: usize) -> Self {
        self.queue_steps = n;
        self
    }

    /// How many status answers a job spends `IN_PROGRESS`, one log line each (default 2).
    pub fn progress_steps(mut self, n: usize) -> Self {
        self.progress_steps = n;
        self
    }

    /// The pause between status stream events (default 2 ms).
    pub fn stream_interval(mut self, d: Duration) -> Self {
        self.stream_interval = d;
        self
    }

    /// Makes the first event of each status stream connection hold only the log lines written
    /// since it opened, instead of all lines so far. Off by default: fal's stream, as fal's JS
    /// client reads it (`libs/client/src/queue.ts`, `subscribe` in streaming mode, which starts
    /// every connection with no lines and appends each event's `logs` "to match previous
    /// polling behavior"), sends all lines so far first, then new lines only. A client must
    /// lose nothing either way.
    pub fn stream_logs_since_open(mut self, on: bool) -> Self {
        self.stream_logs_since_open = on;
        self
    }

    /// Makes `endpoint_id`'s stream (`POST {run}/{endpoint id}/stream`) answer `chunks` binary
    /// chunks of [`BINARY_CHUNK_LEN`] bytes as `content_type`, `stream_interval` apart, whatever
    /// the request's `Accept` (as `fal-ai/maya/stream` answers audio). The endpoint must be
    /// known (added with [`endpoint`](Self::endpoint) or a document); its input is validated
    /// as for every stream. Without this, a stream request whose `Accept` names one concrete
    /// type that is neither an event stream nor JSON (`audio/mpeg`) gets
    /// [`DEFAULT_BINARY_CHUNKS`] chunks of that type.
    pub fn binary_stream(mut self, endpoint_id: &str, content_type: &str, chunks: usize) -> Self {
        self.binary_streams.insert(
            endpoint_id.trim_matches('/').to_owned(),
            stream::BinaryStream {
                content_type: content_type.to_owned(),
                chunks,
            },
        );
        self
    }

    /// Only accept `Authorization: Key <key>` (by default any `Key ...` is accepted).
    pub fn require_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// Listen on these addresses (default: loopback, any free port).
    pub fn addresses(mut self, queue: SocketAddr, run: SocketAddr) -> Self {
        self.queue_addr = queue;
        self.run_addr = run;
        self
    }

    /// Injects faults from the start (see [`FaultSpec`] for the text form).
    pub fn fault(mut self, spec: FaultSpec) -> Self {
        self.faults.push(spec);
        self
    }

    /// Rewrites the URLs in the documents' example outputs to placeholder files this server
    /// serves (right content type, a few bytes), so downloads work offline (default off, so
    /// outputs are the documents' examples verbatim; `fal-mock` turns it on).
    pub fn local_output_files(mut self, on: bool) -> Self {
        self.local_output_files = on;
        self
    }

    /// Webhook deliveries are retried `retries` times after a failed attempt (no answer or a
    /// non-2xx answer), waiting `backoff`, doubled after each attempt (default 3, 100 ms).
    pub fn webhook_retries(mut self, retries: u32, backoff: Duration) -> Self {
        self.webhooks.retries = retries;
        self.webhooks.backoff = backoff;
        self
    }

    /// Delivers webhooks to any host, not only to loopback addresses (the default keeps a
    /// test's stray `fal_webhook=https://...` from leaving the machine).
    pub fn webhooks_to_any_host(mut self, on: bool) -> Self {
        self.webhooks.any_host = on;
        self
    }

    /// Binds both listeners and starts serving on the current tokio runtime.
    pub async fn start(self) -> Result<MockServer, MockError> {
        let bind = |addr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|e| MockError(format!("binding {addr}: {e}")))
        };
        let queue_listener = bind(self.queue_addr).await?;
        let run_listener = bind(self.run_addr).await?;
        let queue_addr = queue_listener
            .local_addr()
            .map_err(|e| MockError(e.to_string()))?;
        let run_addr = run_listener
            .local_addr()
            .map_err(|e| MockError(e.to_string()))?;
        let queue_url = format!("http://{queue_addr}");
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id()).rotate_left(32)
            ^ u64::from(queue_addr.port());
        let store = storage::Store::new(seed);
        let local_files = self.local_output_files;
        let endpoints: HashMap<String, Arc<EndpointSpec>> = self
            .endpoints
            .into_iter()
            .map(|spec| {
                let spec = if local_files && spec.has_document() {
                    let mut output = spec.example_output().clone();
                    storage::localize_output(&store, &queue_url, &mut output);
                    spec.output(output)
                } else {
                    spec
                };
                (spec.endpoint_id().to_owned(), Arc::new(spec))
            })
            .collect();
        let faults = self
            .faults
            .into_iter()
            .map(|spec| FaultRule {
                operation: spec.operation,
                fault: spec.fault,
                remaining: spec.times.max(1),
            })
            .collect();
        let platform = self.platform.unwrap_or_else(|| {
            platform::Catalogue::from_documents(
                endpoints
                    .values()
                    .filter_map(|spec: &Arc<EndpointSpec>| spec.document()),
            )
        });
        let state = Arc::new(State {
            platform,
            listing_faults: Mutex::default(),
            queue_url,
            endpoints,
            queue_steps: self.queue_steps,
            progress_steps: self.progress_steps,
            stream_interval: self.stream_interval,
            stream_logs_since_open: self.stream_logs_since_open,
            key: self.key,
            jobs: Mutex::default(),
            faults: Mutex::new(faults),
            log: Mutex::default(),
            next_id: AtomicU64::new(1),
            connections: AtomicU64::new(0),
            store,
            signer: webhooks::Signer::new(seed),
            webhooks: self.webhooks,
            webhook_log: Mutex::default(),
            runs: AtomicU64::new(0),
            tokens: Default::default(),
            binary_streams: self.binary_streams,
        });
        let tasks = vec![
            tokio::spawn(accept_loop(queue_listener, state.clone(), Host::Queue)),
            tokio::spawn(accept_loop(run_listener, state.clone(), Host::Run)),
        ];
        Ok(MockServer {
            state,
            queue_addr,
            run_addr,
            tasks,
        })
    }
}

fn collect_json_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), MockError> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| MockError(format!("{}: {e}", dir.display())))?;
    for entry in entries {
        let path = entry.map_err(|e| MockError(e.to_string()))?.path();
        if path.is_dir() {
            collect_json_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
    Ok(())
}

/// A running mock server. Stops serving when dropped.
pub struct MockServer {
    state: Arc<State>,
    queue_addr: SocketAddr,
    run_addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
}

impl fmt::Debug for MockServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MockServer")
            .field("queue_url", &self.queue_url())
            .field("run_url", &self.run_url())
            .field("endpoints", &self.endpoint_ids())
            .finish()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl MockServer {
    /// A builder with no endpoints.
    pub fn builder() -> MockServerBuilder {
        MockServerBuilder::default()
    }

    /// The queue base URL (stands for `https://queue.fal.run`).
    pub fn queue_url(&self) -> String {
        format!("http://{}", self.queue_addr)
    }

    /// The sync-run base URL (stands for `https://fal.run`).
    pub fn run_url(&self) -> String {
        format!("http://{}", self.run_addr)
    }

    /// The REST base URL for storage (stands for `https://rest.fal.ai`; the queue address).
    pub fn rest_url(&self) -> String {
        self.queue_url()
    }

    /// The CDN base URL for uploads (stands for `https://v3.fal.media`; the queue address).
    pub fn cdn_url(&self) -> String {
        self.queue_url()
    }

    /// Where the mock publishes the public key of its webhook signatures (a JWKS): point
    /// `webhook::Verifier::builder().jwks_url(..)` here.
    pub fn jwks_url(&self) -> String {
        format!("{}/.well-known/jwks.json", self.queue_url())
    }

    /// The public key the mock signs webhook deliveries with.
    pub fn webhook_verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.state.signer.verifying_key()
    }

    /// Every webhook delivery attempt so far, in order.
    pub fn webhook_attempts(&self) -> Vec<WebhookAttempt> {
        lock(&self.state.webhook_log).clone()
    }

    /// The content type and bytes of a file the mock serves (an upload or an example output),
    /// by its URL.
    pub fn file(&self, url: &str) -> Option<(String, bytes::Bytes)> {
        let path = url.strip_prefix(&format!("{}/files/", self.queue_url()))?;
        self.state.store.get(path)
    }

    /// A client builder pointed at this server, with key [`MOCK_KEY`] and a fast retry policy
    /// (5 ms doubling, no jitter, 3 retries) so tests stay quick.
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder()
            .key(self.state.key.clone().unwrap_or_else(|| MOCK_KEY.into()))
            .queue_url(self.queue_url())
            .run_url(self.run_url())
            .rest_url(self.rest_url())
            .retry(
                RetryPolicy::default()
                    .initial_backoff(Duration::from_millis(5))
                    .max_backoff(Duration::from_millis(40))
                    .jitter(false),
            )
    }

    /// A client for this server (see [`client_builder`](Self::client_builder)).
    pub fn client(&self) -> Client {
        self.client_builder()
            .build()
            .expect("the mock's client configuration is valid")
    }

    /// The endpoint ids served.
    pub fn endpoint_ids(&self) -> Vec<String> {
        let mut ids: Vec<_> = self.state.endpoints.keys().cloned().collect();
        ids.sort();
        ids
    }

    /// The endpoint with this id.
    pub fn endpoint(&self, endpoint_id: &str) -> Option<&EndpointSpec> {
        self.state.endpoints.get(endpoint_id).map(|spec| &**spec)
    }

    /// Injects `fault` into the next request of `operation`.
    pub fn inject(&self, operation: Operation, fault: Fault) {
        self.inject_times(operation, fault, 1);
    }

    /// Injects `fault` into the next `times` requests of `operation`.
    pub fn inject_times(&self, operation: Operation, fault: Fault, times: usize) {
        lock(&self.state.faults).push(FaultRule {
            operation,
            fault,
            remaining: times,
        });
    }

    /// Injects a fault rule (see [`FaultSpec`]; `"status=server-error:503*2".parse()`).
    pub fn inject_spec(&self, spec: FaultSpec) {
        self.inject_times(spec.operation, spec.fault, spec.times.max(1));
    }

    /// Removes all pending faults.
    /// Injects `fault` into the next `times` answers for page `page` (1 for the first) of the
    /// platform listing `GET /v1/models`: `Fault::ServerError(500)`, `Fault::TruncatedBody`,
    /// `Fault::TooManyRequests`, `Fault::MalformedBody`, `Fault::Respond`, `Fault::Reset`.
    pub fn inject_listing_fault(&self, page: usize, fault: Fault, times: usize) {
        lock(&self.state.listing_faults).push(platform::PageFault {
            page,
            fault,
            remaining: times.max(1),
        });
    }

    /// How many models the platform listing serves.
    pub fn listing_len(&self) -> usize {
        self.state.platform.len()
    }

    pub fn clear_faults(&self) {
        lock(&self.state.faults).clear();
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.state.log).clone()
    }

    /// How many requests of `operation` were received.
    pub fn count(&self, operation: Operation) -> usize {
        lock(&self.state.log)
            .iter()
            .filter(|r| r.operation == Some(operation))
            .count()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.state.log).clear();
    }

    /// How many TCP connections were accepted (on both hosts): shows connection reuse.
    pub fn connection_count(&self) -> u64 {
        self.state.connections.load(Ordering::Relaxed)
    }

    /// How many jobs were queued.
    pub fn job_count(&self) -> usize {
        lock(&self.state.jobs).len()
    }

    /// How many sync runs were executed (each would be a paid job on fal).
    pub fn run_count(&self) -> u64 {
        self.state.runs.load(Ordering::Relaxed)
    }

    /// Whether the job was cancelled (`None` for an unknown request id).
    pub fn is_cancelled(&self, request_id: &str) -> Option<bool> {
        lock(&self.state.jobs)
            .get(request_id)
            .map(|job| job.cancelled)
    }
}

/// Locks a mutex, ignoring poisoning (a panicking test must not hide other failures).
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct FaultRule {
    operation: Operation,
    fault: Fault,
    remaining: usize,
}

struct State {
    /// What `GET /v1/models` lists.
    platform: platform::Catalogue,
    listing_faults: Mutex<Vec<platform::PageFault>>,
    queue_url: String,
    endpoints: HashMap<String, Arc<EndpointSpec>>,
    queue_steps: usize,
    progress_steps: usize,
    stream_interval: Duration,
    stream_logs_since_open: bool,
    key: Option<String>,
    jobs: Mutex<HashMap<String, queue::Job>>,
    faults: Mutex<Vec<FaultRule>>,
    log: Mutex<Vec<RecordedRequest>>,
    next_id: AtomicU64,
    connections: AtomicU64,
    store: storage::Store,
    signer: webhooks::Signer,
    webhooks: webhooks::WebhookSettings,
    webhook_log: Mutex<Vec<WebhookAttempt>>,
    /// Sync runs that passed validation (each a paid job on fal).
    runs: AtomicU64,
    tokens: tokens::Minted,
    /// Streams that answer binary chunks (see [`MockServerBuilder::binary_stream`]).
    binary_streams: HashMap<String, stream::BinaryStream>,
}

impl State {
    fn take_fault(&self, operation: Operation) -> Option<Fault> {
        let mut faults = lock(&self.faults);
        let i = faults.iter().position(|r| r.operation == operation)?;
        let fault = faults[i].fault.clone();
        faults[i].remaining -= 1;
        if faults[i].remaining == 0 {
            faults.remove(i);
        }
        Some(fault)
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Host {
    Queue,
    Run,
}

/// Accepts connections and serves each with hyper, so that a handler can drop its connection.
async fn accept_loop(listener: TcpListener, state: Arc<State>, host: Host) {
    // Out of file descriptors (EMFILE), accept fails at once and keeps failing: back off
    // (up to 1 s) instead of spinning, and keep serving the connections already open.
    let mut backoff = Duration::from_millis(5);
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(accepted) => {
                backoff = Duration::from_millis(5);
                accepted
            }
            Err(_) => {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        state.connections.fetch_add(1, Ordering::Relaxed);
        let state = state.clone();
        tokio::spawn(async move {
            let kill = Arc::new(Notify::new());
            let service_kill = kill.clone();
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let (state, kill) = (state.clone(), service_kill.clone());
                    async move {
                        let (parts, body) = request.into_parts();
                        let request = Request::from_parts(parts, Body::new(body));
                        Ok::<_, Infallible>(handle(state, host, kill, request).await)
                    }
                });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            tokio::select! {
                _ = connection => {}
                // Dropping the connection closes the socket mid-exchange.
                _ = kill.notified() => {}
            }
        });
    }
}

/// Where a request goes.
enum Target {
    Submit {
        endpoint_id: String,
    },
    Run {
        endpoint_id: String,
    },
    Stream {
        endpoint_id: String,
    },
    Token,
    Request {
        app: String,
        request_id: String,
        operation: Operation,
    },
}

fn route(host: Host, method: &Method, path: &str) -> Option<Target> {
    let path = path.trim_matches('/');
    let segments: Vec<&str> = path.split('/').collect();
    if host == Host::Run && *method == Method::POST {
        if let Some(endpoint_id) = stream::stream_target(path) {
            return Some(Target::Stream { endpoint_id });
        }
    }
    if host == Host::Queue && tokens::is_token_path(path) {
        return (*method == Method::POST).then_some(Target::Token);
    }
    if host == Host::Run {
        return (*method == Method::POST).then(|| Target::Run {
            endpoint_id: path.to_owned(),
        });
    }
    if let Some(i) = segments
        .iter()
        .position(|s| *s == "requests")
        .filter(|&i| i >= 2)
    {
        let app = segments[..i].join("/");
        let request_id = (*segments.get(i + 1)?).to_owned();
        let operation = match (method.as_str(), &segments[i + 2..]) {
            ("GET", []) => Operation::Result,
            ("GET", ["status"]) => Operation::Status,
            ("GET", ["status", "stream"]) => Operation::StatusStream,
            ("PUT", ["cancel"]) => Operation::Cancel,
            _ => return None,
        };
        return Some(Target::Request {
            app,
            request_id,
            operation,
        });
    }
    (*method == Method::POST).then(|| Target::Submit {
        endpoint_id: path.to_owned(),
    })
}

fn json_response(status: u16, body: &Value) -> Response<Body> {
    bytes_response(status, serde_json::to_vec(body).expect("JSON serializes"))
}

fn bytes_response(status: u16, body: Vec<u8>) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .expect("a valid response")
}

fn detail(status: u16, text: &str) -> Response<Body> {
    json_response(status, &json!({ "detail": text }))
}

/// The largest request body read (a single upload goes up to the clients' multipart
/// threshold of 100 MB).
const MAX_BODY: usize = 128 << 20;

async fn handle(
    state: Arc<State>,
    host: Host,
    kill: Arc<Notify>,
    request: Request<Body>,
) -> Response<Body> {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => return detail(413, &format!("request body not read: {e}")),
    };
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    if host == Host::Queue && parts.method == Method::GET && platform::is_listing_path(path) {
        lock(&state.log).push(RecordedRequest {
            operation: None,
            method: parts.method.to_string(),
            path: path.to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: headers_of(&parts.headers),
            body: Vec::new(),
        });
        return listing(&state, &parts, query, &kill).await;
    }
    if host == Host::Queue && storage::is_storage_path(path) {
        lock(&state.log).push(RecordedRequest {
            operation: None,
            method: parts.method.to_string(),
            path: path.to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: headers_of(&parts.headers),
            // Uploads can be large; the log keeps their size, not their bytes.
            body: Vec::new(),
        });
        let request = storage::StorageRequest {
            method: &parts.method,
            path,
            query,
            headers: &parts.headers,
            body,
        };
        return storage::handle(&state, request);
    }
    let target = route(host, &parts.method, path);
    let operation = target.as_ref().map(|t| match t {
        Target::Submit { .. } => Operation::Submit,
        Target::Run { .. } => Operation::Run,
        Target::Stream { .. } => Operation::Stream,
        Target::Token => Operation::Token,
        Target::Request { operation, .. } => *operation,
    });
    lock(&state.log).push(RecordedRequest {
        operation,
        method: parts.method.to_string(),
        path: path.to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: headers_of(&parts.headers),
        body: body.to_vec(),
    });
    // fal puts the request id on its answers; requests without one get a fresh id.
    let known_id = match &target {
        Some(Target::Request { request_id, .. }) => Some(request_id.clone()),
        _ => None,
    };
    let mut response = answer(&state, target, operation, &parts, &body, &kill).await;
    let from_app = response.extensions().get::<FromIngress>().is_none();
    if from_app && !response.headers().contains_key(REQUEST_ID_HEADER) {
        let id = known_id.unwrap_or_else(|| queue::new_request_id(&state));
        queue::set_request_id(&mut response, &id);
    }
    response
}

/// `GET /v1/models`: the key, the query, the page's fault if one is set, the page.
async fn listing(
    state: &State,
    parts: &axum::http::request::Parts,
    query: &str,
    kill: &Notify,
) -> Response<Body> {
    if let Some(denied) = check_key(state, &parts.headers) {
        return denied;
    }
    let q = match platform::parse_query(query) {
        Ok(q) => q,
        Err(message) => return platform::bad(&message),
    };
    let fault = {
        let mut faults = lock(&state.listing_faults);
        faults.iter().position(|f| f.page == q.number).map(|i| {
            let fault = faults[i].fault.clone();
            faults[i].remaining -= 1;
            if faults[i].remaining == 0 {
                faults.remove(i);
            }
            fault
        })
    };
    let page = platform::page(&state.platform, &q);
    match fault {
        None => page,
        Some(Fault::Reset) => drop_connection(kill).await,
        Some(Fault::Respond {
            status,
            headers,
            body,
        }) => custom_response(status, &headers, body),
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let mut response = detail(429, "Too many requests");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, retry_after_secs.into());
            response
        }
        Some(Fault::MalformedBody) => bytes_response(200, b"{\"models\": [<html>".to_vec()),
        Some(Fault::TruncatedBody) => spoil_body(page, None, None).await,
        Some(Fault::TruncatedBodyAfter(n)) => spoil_body(page, Some(n), None).await,
        Some(Fault::SlowBody(delay)) => spoil_body(page, None, Some(delay)).await,
        Some(Fault::ServerError(status) | Fault::IngressError(status)) => {
            detail(status, "mock: injected server error")
        }
        Some(_) => page,
    }
}

/// An answer with this status, extra headers and body.
fn custom_response(status: u16, headers: &[(String, String)], body: String) -> Response<Body> {
    let mut response = bytes_response(status, body.into_bytes());
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            header::HeaderValue::from_str(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// Marks an answer that fal's ingress (rate limiter, nginx) gives before any app saw the
/// request: it carries no `x-fal-request-id`, which is how clients (fal's Python client's
/// `_is_ingress_error`, and ours) know that a paid call may be sent again.
#[derive(Clone, Copy)]
struct FromIngress;

fn from_ingress(mut response: Response<Body>) -> Response<Body> {
    response.extensions_mut().insert(FromIngress);
    response
}

async fn answer(
    state: &Arc<State>,
    target: Option<Target>,
    operation: Option<Operation>,
    parts: &axum::http::request::Parts,
    body: &[u8],
    kill: &Notify,
) -> Response<Body> {
    let (Some(target), Some(operation)) = (target, operation) else {
        return detail(404, "Not Found");
    };
    // A temporary token (`fal_jwt_token`) admits a stream of its apps without the key.
    let by_token = matches!(&target, Target::Stream { endpoint_id }
        if tokens::admits(state, endpoint_id, parts.uri.query()));
    if let Some(denied) = check_key(state, &parts.headers).filter(|_| !by_token) {
        return denied;
    }
    let fault = state.take_fault(operation);
    // Faults that replace the answer without acting on the request.
    match &fault {
        Some(Fault::Reset) => return drop_connection(kill).await,
        Some(Fault::Respond {
            status,
            headers,
            body,
        }) => return custom_response(*status, headers, body.clone()),
        Some(Fault::TooManyRequests { retry_after_secs }) => {
            let mut response = detail(429, "Too many requests");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, (*retry_after_secs).into());
            return from_ingress(response);
        }
        Some(Fault::ServerError(status)) => return detail(*status, "mock: injected server error"),
        Some(Fault::StartDeadline) => return start_deadline_response(),
        Some(Fault::NeverAnswer) => return std::future::pending().await,
        Some(Fault::IngressError(status)) => return from_ingress(ingress_error_response(*status)),
        Some(Fault::MalformedBody) => {
            return bytes_response(
                200,
                b"{\"request_id\": <html>502 Bad Gateway</html>".to_vec(),
            );
        }
        _ => {}
    }
    let query = parts.uri.query().unwrap_or("");
    let logs = query
        .split('&')
        .any(|pair| pair == "logs=1" || pair == "logs=true");
    let response = match target {
        Target::Submit { endpoint_id } => {
            queue::submit(state, &endpoint_id, body, query, fault.as_ref())
        }
        Target::Run { endpoint_id } => {
            stream::with_request_id(state, queue::run(state, &endpoint_id, body))
        }
        Target::Stream { endpoint_id } => {
            let accept = parts
                .headers
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok());
            stream::respond(state, &endpoint_id, accept, body)
        }
        Target::Token => tokens::mint(state, body),
        Target::Request {
            app,
            request_id,
            operation,
        } => {
            let stream_drop = fault == Some(Fault::StreamDrop);
            queue::on_request(state, &app, &request_id, operation, logs, stream_drop)
        }
    };
    // Faults that spoil an answer after the request was acted on.
    match fault {
        Some(Fault::ResetAfterHandling) => drop_connection(kill).await,
        Some(Fault::TruncatedBody) => spoil_body(response, None, None).await,
        Some(Fault::TruncatedBodyAfter(n)) => spoil_body(response, Some(n), None).await,
        Some(Fault::SlowBody(delay)) => spoil_body(response, None, Some(delay)).await,
        Some(Fault::ForwardThenFail(status)) => {
            let id = forwarded_request_id(state, response).await;
            let mut failed = detail(status, "upstream request failed after it was forwarded");
            if let Ok(id) = header::HeaderValue::from_str(&id) {
                failed.headers_mut().insert(REQUEST_ID_HEADER, id);
            }
            failed
        }
        _ => response,
    }
}

/// The request id of an answer the app gave (a submit's `request_id`), else a fresh one.
async fn forwarded_request_id(state: &State, response: Response<Body>) -> String {
    if let Some(id) = response
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        return id.to_owned();
    }
    let body = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .unwrap_or_default();
    serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| {
            v.get("request_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_else(|| {
            let n = state.next_id.fetch_add(1, Ordering::Relaxed);
            format!("{n:08x}-6d6f-636b-0000-forwarded000")
        })
}

/// nginx's error page, as fal's ingress sends it before any app saw the request.
fn ingress_error_response(status: u16) -> Response<Body> {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    let title = format!(
        "{} {}",
        code.as_u16(),
        code.canonical_reason().unwrap_or("Error")
    );
    Response::builder()
        .status(code)
        .header(header::CONTENT_TYPE, "text/html")
        .body(Body::from(format!(
            "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        )))
        .expect("a valid response")
}

fn headers_of(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

fn check_key(state: &State, headers: &HeaderMap) -> Option<Response<Body>> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let ok = match (auth.and_then(|a| a.strip_prefix("Key ")), &state.key) {
        (Some(given), Some(expected)) => given == expected,
        (Some(given), None) => !given.is_empty(),
        (None, _) => false,
    };
    (!ok).then(|| {
        let mut response = detail(
            401,
            "Invalid or missing key; send `Authorization: Key <FAL_KEY>`",
        );
        response.headers_mut().insert(
            ERROR_TYPE_HEADER,
            header::HeaderValue::from_static("unauthorized"),
        );
        response
    })
}

async fn drop_connection(kill: &Notify) -> Response<Body> {
    kill.notify_one();
    std::future::pending().await
}

fn start_deadline_response() -> Response<Body> {
    let mut response = detail(504, "Request timed out before it started");
    response.headers_mut().insert(
        REQUEST_TIMEOUT_TYPE_HEADER,
        header::HeaderValue::from_static("user"),
    );
    response.headers_mut().insert(
        ERROR_TYPE_HEADER,
        header::HeaderValue::from_static("request_timeout"),
    );
    response
}

/// Re-sends a finished answer's body in two parts (split at `cut`, default the middle): with a
/// pause between them, or without the second (the connection then breaks).
async fn spoil_body(
    response: Response<Body>,
    cut: Option<usize>,
    delay: Option<Duration>,
) -> Response<Body> {
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default()
        .to_vec();
    let half = cut.unwrap_or(bytes.len() / 2).min(bytes.len());
    let (first, second) = (bytes[..half].to_vec(), bytes[half..].to_vec());
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    tokio::spawn(async move {
        let _ = tx.unbounded_send(Ok(first));
        match delay {
            Some(delay) => {
                tokio::time::sleep(delay).await;
                let _ = tx.unbounded_send(Ok(second));
            }
            None => {
                // Let the first half reach the client before the connection breaks.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let cut = std::io::Error::new(
                    std::io::ErrorKind::ConnectionAborted,
                    "mock: truncated body",
                );
                let _ = tx.unbounded_send(Err(cut));
            }
        }
    });
    let mut response = Response::from_parts(parts, Body::from_stream(rx));
    // Announce the full length so the cut is a protocol error, not a short valid body.
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, bytes.len().into());
    response
}
