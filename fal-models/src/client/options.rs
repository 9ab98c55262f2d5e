//! fal's platform headers, typed, for submit, subscribe, run and stream; and a sync run that
//! returns its request id with the output.
//!
//! ```no_run
//! # async fn demo(client: fal_models::Client) -> Result<(), fal_models::Error> {
//! use std::time::Duration;
//! use fal_models::client::{PlatformOptions, RunOptions, SubmitOptions};
//! let platform = PlatformOptions::new()
//!     .no_retry()                                   // x-fal-no-retry: 1
//!     .store_io(false)                              // X-Fal-Store-IO: 0
//!     .object_expiration(Duration::from_secs(3600)) // X-Fal-Object-Lifecycle-Preference
//!     .header("x-my-trace", "abc")?;
//! let input = serde_json::json!({"prompt": "a cat"});
//! let handle = client
//!     .submit_json("fal-ai/flux/dev", &input, &SubmitOptions::new().platform(platform.clone()))
//!     .await?;
//! let run = client
//!     .run_json_with("fal-ai/flux/dev", &input, &RunOptions::new().platform(platform))
//!     .await?;
//! println!("{:?} {}", run.request_id, run.output);
//! # Ok(()) }
//! ```
//!
//! Header names and meanings are fal's (docs.fal.ai, "common parameters"): `x-fal-no-retry`
//! stops fal's own retries of a queued request, `X-Fal-Store-IO: 0` asks fal not to keep the
//! request's input and output, `x-fal-disable-fallbacks` stops fal routing to fallback
//! endpoints, and the object lifecycle sets how long output files live.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{Client, Payload, serialize_input};
use crate::Endpoint;
use crate::error::{Error, Operation};
use crate::http::protocol::expiration_seconds;

/// The per-request settings the options of submit, run, stream and subscribe share, each
/// setter written once. `request_setters!((set) webhook, platform)` on a struct that holds them
/// as its own fields (`SubmitOptions`, `RunOptions`, `StreamOptions`);
/// `request_setters!((via field) webhook, platform)` on one that hands them on to the options
/// it holds (`SubscribeOptions` to its `SubmitOptions`, a `Subscribe` to its
/// `SubscribeOptions`).
macro_rules! request_setters {
    ($mode:tt $($name:ident),* $(,)?) => {
        $( $crate::client::options::request_setters!(@one $mode $name); )*
    };
    (@one $mode:tt webhook) => {
        $crate::client::options::request_setters!(@emit $mode
            "fal also POSTs the result to this URL when the job completes (`?fal_webhook=`).",
            webhook(url: impl Into<String>) |s| s.webhook_url = Some(url.into()));
    };
    (@one $mode:tt start_timeout) => {
        $crate::client::options::request_setters!(@emit $mode
            "fal's start deadline, `X-Fal-Request-Timeout` (whole seconds, rounded up; more \
             than one second): fal drops the request if it has not started by then, and it \
             fails with [`TimeoutKind::StartDeadline`](crate::error::TimeoutKind).",
            start_timeout(d: Duration) |s| s.start_timeout = Some(d));
    };
    (@one $mode:tt priority) => {
        $crate::client::options::request_setters!(@emit $mode
            "Queue priority (`X-Fal-Queue-Priority`).",
            priority(p: Priority) |s| s.priority = Some(p));
    };
    (@one $mode:tt runner_hint) => {
        $crate::client::options::request_setters!(@emit $mode
            "Runner hint for session affinity (`X-Fal-Runner-Hint`).",
            runner_hint(hint: impl Into<String>) |s| s.runner_hint = Some(hint.into()));
    };
    (@one $mode:tt upload_local_files) => {
        $crate::client::options::request_setters!(@emit $mode
            "Uploads every local file named in the input (`file://` URLs, see \
             [`crate::files::local`]) to fal storage first, and sends the uploaded URLs \
             instead (off by default).",
            upload_local_files(on: bool) |s| s.upload_local_files = on);
    };
    (@one $mode:tt platform) => {
        $crate::client::options::request_setters!(@emit $mode
            "Platform headers (`x-fal-no-retry`, `X-Fal-Store-IO`, fallbacks, object lifecycle, \
             your own; see [`PlatformOptions`](crate::client::PlatformOptions)). Only the \
             request that starts the job carries them: a subscribe's status and result reads \
             are not new requests to the app.",
            platform(platform: $crate::client::PlatformOptions) |s| s.platform = platform);
    };
    (@emit (set) $doc:literal, $name:ident($($arg:ident: $ty:ty),*) |$s:ident| $body:expr) => {
        #[doc = $doc]
        pub fn $name(mut self, $($arg: $ty),*) -> Self {
            let $s = &mut self;
            $body;
            self
        }
    };
    (@emit (via $field:ident) $doc:literal, $name:ident($($arg:ident: $ty:ty),*) |$s:ident| $body:expr) => {
        #[doc = $doc]
        pub fn $name(mut self, $($arg: $ty),*) -> Self {
            self.$field = self.$field.$name($($arg),*);
            self
        }
    };
}
pub(crate) use request_setters;

/// The headers of the settings [`request_setters`] shares, in order: the start deadline, the
/// priority, the runner hint, then the platform headers. Checked (an error for a start
/// deadline of one second or less, an object expiration of zero) before anything is sent.
pub(crate) fn request_headers(
    start_timeout: Option<Duration>,
    priority: Option<super::Priority>,
    runner_hint: Option<&str>,
    platform: &PlatformOptions,
) -> Result<Vec<(&'static str, String)>, Error> {
    let mut headers = Vec::new();
    if let Some(d) = start_timeout {
        headers.push(super::queue::start_timeout_header(d)?);
    }
    if let Some(p) = priority {
        headers.push(("x-fal-queue-priority", p.as_str().to_owned()));
    }
    if let Some(hint) = runner_hint {
        headers.push(("x-fal-runner-hint", hint.to_owned()));
    }
    headers.extend(platform.to_headers()?);
    Ok(headers)
}

/// Platform headers of one request. Unset options send nothing.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct PlatformOptions {
    /// `x-fal-no-retry: 1`: fal does not retry the request on its side.
    pub no_retry: bool,
    /// `X-Fal-Store-IO: 1|0`: whether fal keeps the request's input and output.
    pub store_io: Option<bool>,
    /// `x-fal-disable-fallbacks: true`: no routing to fallback endpoints.
    pub disable_fallbacks: bool,
    /// How long output files live, sent as both lifecycle headers
    /// (`X-Fal-Object-Lifecycle-Preference` and `X-Fal-Object-Lifecycle`, as fal's clients do).
    pub object_expiration: Option<Duration>,
    /// The initial access rules of output files, in the same lifecycle headers: fal's shape,
    /// `{"default": "allow"|"hide"|"forbid", "rules": [{"user": .., "decision": ..}]}`.
    pub initial_acl: Option<Value>,
    /// Further headers, sent as given (after the typed ones).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl PlatformOptions {
    /// No platform header.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks fal not to retry the request.
    pub fn no_retry(mut self) -> Self {
        self.no_retry = true;
        self
    }

    /// Whether fal stores the request's input and output.
    pub fn store_io(mut self, store: bool) -> Self {
        self.store_io = Some(store);
        self
    }

    /// Asks fal not to route to fallback endpoints.
    pub fn disable_fallbacks(mut self) -> Self {
        self.disable_fallbacks = true;
        self
    }

    /// How long the output files live (whole seconds, rounded up).
    pub fn object_expiration(mut self, d: Duration) -> Self {
        self.object_expiration = Some(d);
        self
    }

    /// Sets the initial access rules of output files (see [`initial_acl`](Self::initial_acl)).
    pub fn initial_acl(mut self, acl: Value) -> Self {
        self.initial_acl = Some(acl);
        self
    }

    /// Adds a header. Fails for a name or value HTTP does not allow, and for `Authorization`
    /// (the client sets it).
    pub fn header(mut self, name: &str, value: &str) -> Result<Self, Error> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::Config(format!("invalid header name {name:?}")))?;
        if name == reqwest::header::AUTHORIZATION {
            return Err(Error::Config(
                "the client sets Authorization itself (key or temporary token)".into(),
            ));
        }
        let value = HeaderValue::from_str(value)
            .map_err(|_| Error::Config(format!("invalid value for header {name}")))?;
        self.headers.push((name, value));
        Ok(self)
    }

    /// The headers to send, in order; an error for an object expiration of zero.
    pub(crate) fn to_headers(&self) -> Result<Vec<(&'static str, String)>, Error> {
        let mut out = Vec::new();
        if self.no_retry {
            out.push(("x-fal-no-retry", "1".to_owned()));
        }
        if let Some(store) = self.store_io {
            out.push(("x-fal-store-io", if store { "1" } else { "0" }.to_owned()));
        }
        if self.disable_fallbacks {
            out.push(("x-fal-disable-fallbacks", "true".to_owned()));
        }
        let mut lifecycle = serde_json::Map::new();
        if let Some(d) = self.object_expiration {
            let seconds = expiration_seconds(d)
                .ok_or_else(|| Error::Config("object_expiration must be more than zero".into()))?;
            lifecycle.insert("expiration_duration_seconds".into(), seconds.into());
        }
        if let Some(acl) = &self.initial_acl {
            lifecycle.insert("initial_acl".into(), acl.clone());
        }
        if !lifecycle.is_empty() {
            let lifecycle = Value::Object(lifecycle).to_string();
            out.push(("x-fal-object-lifecycle-preference", lifecycle.clone()));
            out.push(("x-fal-object-lifecycle", lifecycle));
        }
        for (name, value) in &self.headers {
            // Both were validated by `header`, so the value is visible ASCII or opaque bytes.
            let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
            out.push((intern(name.as_str()), value));
        }
        Ok(out)
    }
}

/// A header name for the lifetime of the program. The request plumbing names headers with
/// `&'static str`; user header names are few and repeat, so each is leaked once.
fn intern(name: &str) -> &'static str {
    static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    if let Some(known) = names.get(name) {
        return known;
    }
    let leaked: &'static str = Box::leak(name.to_owned().into_boxed_str());
    names.insert(leaked);
    leaked
}

/// Options of a sync run ([`Client::run_with`]).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct RunOptions {
    /// `X-Fal-Request-Timeout`: fal drops the run if it has not started by then (a
    /// [`TimeoutKind::StartDeadline`](crate::error::TimeoutKind) error).
    pub start_timeout: Option<Duration>,
    /// `X-Fal-Runner-Hint`, for session affinity.
    pub runner_hint: Option<String>,
    /// Platform headers.
    pub platform: PlatformOptions,
    /// Upload [`crate::files::local`] files in the input first (off by default).
    pub upload_local_files: bool,
}

impl RunOptions {
    /// Default options.
    pub fn new() -> Self {
        Self::default()
    }

    request_setters!((set) start_timeout, runner_hint, platform, upload_local_files);
}

/// A sync run's output with fal's request id (`x-fal-request-id`, when the answer had one).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct RunOutput<O> {
    /// The output.
    pub output: O,
    /// The request id, to find the run in fal's dashboard and logs.
    pub request_id: Option<String>,
}

impl Client {
    /// [`run`](Self::run) with options; returns the request id with the output.
    pub async fn run_with<E: Endpoint>(
        &self,
        input: &E,
        options: &RunOptions,
    ) -> Result<RunOutput<E::Output>, Error> {
        let body = serialize_input(E::ENDPOINT_ID, input, E::SECRET_FIELDS)?;
        self.run_with_raw(E::ENDPOINT_ID, body, options).await
    }

    /// [`run_json`](Self::run_json) with options; returns the request id with the output.
    pub async fn run_json_with(
        &self,
        endpoint_id: &str,
        input: &Value,
        options: &RunOptions,
    ) -> Result<RunOutput<Value>, Error> {
        let body = serialize_input(endpoint_id, input, &[])?;
        self.run_with_raw(endpoint_id, body, options).await
    }

    pub(crate) async fn run_with_raw<O: DeserializeOwned>(
        &self,
        endpoint_id: &str,
        body: Payload,
        options: &RunOptions,
    ) -> Result<RunOutput<O>, Error> {
        let endpoint_id = endpoint_id.trim_matches('/');
        // Options are checked before anything is uploaded or sent.
        let headers = request_headers(
            options.start_timeout,
            None,
            options.runner_hint.as_deref(),
            &options.platform,
        )?;
        let (body, secrets) = self
            .prepare_input(endpoint_id, body, options.upload_local_files)
            .await?;
        let call = self.run_call(endpoint_id, body, headers, secrets);
        let reply = self.call(&call).await?;
        let request_id = reply.request_id;
        let output = serde_json::from_slice(&reply.body).map_err(|source| Error::Decode {
            operation: Operation::Run,
            request_id: request_id.clone(),
            status: reply.status,
            source,
            body_excerpt: self.excerpt_for(&call, &reply.body),
        })?;
        tracing::debug!(request_id = request_id.as_deref(), "run answered");
        Ok(RunOutput { output, request_id })
    }
}

/// Whether a status answer carries the request's log lines (`?logs=1`):
/// `client.status(&handle, Logs::Include)`. A `bool` converts (`true` is `Include`), so
/// `status(&handle, true)` keeps working.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Logs {
    /// Status only (fal's default).
    #[default]
    Omit,
    /// Status with the log lines so far (all of them for `status`, new ones per event for
    /// `status_stream`).
    Include,
}

impl From<bool> for Logs {
    fn from(include: bool) -> Self {
        if include { Logs::Include } else { Logs::Omit }
    }
}
