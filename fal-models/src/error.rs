//! Errors of the fal client: each variant says what failed, on which request, and what fal said.
//!
//! No variant ever holds the API key: errors carry status codes, fal's error type, the request id
//! and a short, key-scrubbed excerpt of the response body, never request headers.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Everything that can go wrong between building a client and reading a typed output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No API key: neither `FAL_KEY` nor `FAL_KEY_ID` + `FAL_KEY_SECRET` is set and none was given.
    #[error(
        "no fal API key: set FAL_KEY (or FAL_KEY_ID and FAL_KEY_SECRET) or pass one to the builder"
    )]
    MissingKey,

    /// The client configuration is invalid (bad base URL, bad header value, ...).
    #[error("invalid client configuration: {0}")]
    Config(String),

    /// fal answered with a non-success HTTP status.
    #[error("{0}")]
    Api(Box<ApiError>),

    /// The job ran and failed: its status was `COMPLETED` with an `error`.
    #[error("fal request {request_id} failed: {message}")]
    JobFailed {
        /// The request id of the failed job.
        request_id: String,
        /// The `error` text from the status.
        message: String,
        /// The `error_type` from the status, if any.
        error_type: Option<String>,
        /// The error the result endpoint returned for this job (field details live here).
        result_error: Option<Box<ApiError>>,
    },

    /// A deadline passed.
    #[error("{}", timeout_message(*.kind, .request_id.as_deref(), *.cancelled))]
    Timeout {
        /// Which deadline.
        kind: TimeoutKind,
        /// The request id, when the request had been submitted.
        request_id: Option<String>,
        /// Whether the job was cancelled on fal after the deadline passed.
        cancelled: bool,
    },

    /// The outcome of a submit (or sync run) is unknown: the request may have reached fal's
    /// app, which may have queued (and will bill) the job. It was not replayed, because a replay
    /// could start a second paid job. Either the connection failed after the request was sent,
    /// or fal answered with a gateway status (`502`, `503`, `504`) that does not show the
    /// request was stopped before the app (see [`RetryPolicy`](crate::client::RetryPolicy)).
    /// `429`, `408` and `409` are refusals: they are retried, and end in [`Error::Api`].
    /// Opt in to replays with
    /// [`RetryPolicy::retry_ambiguous_submits`](crate::client::RetryPolicy::retry_ambiguous_submits).
    #[error("{}", ambiguous_message(.endpoint_id, *.accepted, *.status, .request_id.as_deref(), .reason))]
    AmbiguousSubmit {
        /// The endpoint the input was submitted to.
        endpoint_id: String,
        /// How many attempts were made (more than 1 only when earlier attempts provably never
        /// reached the app).
        attempts: u32,
        /// fal answered with a success status before the body broke off: the job exists (its
        /// request id is in `request_id` when the answer's head carried one).
        accepted: bool,
        /// The HTTP status of the last answer, when one arrived.
        status: Option<u16>,
        /// The request id, when the answer carried one (`x-fal-request-id`): look the job up
        /// with it before submitting again.
        request_id: Option<String>,
        /// The headers of the last answer, secrets scrubbed.
        headers: Vec<(String, String)>,
        /// What happened, secrets scrubbed (the transport error or the start of the body).
        reason: String,
        /// The transport error, when the connection failed.
        #[source]
        source: Option<reqwest::Error>,
    },

    /// A response body was longer than the limit for its kind (read while arriving; nothing
    /// past the limit is kept).
    #[error("{operation}{}: the response body is longer than {limit} bytes", request_suffix(.request_id.as_deref()))]
    BodyTooLarge {
        /// The operation.
        operation: Operation,
        /// The request id, when known.
        request_id: Option<String>,
        /// The limit in bytes.
        limit: u64,
    },

    /// A local file (see [`crate::files::local`]) is in the input, but uploading local files
    /// was not asked for ([`SubmitOptions::upload_local_files`](crate::client::SubmitOptions::upload_local_files)).
    /// Nothing was sent.
    #[error(
        "the input to {endpoint_id} holds a local file but upload_local_files(true) was not set; nothing was sent"
    )]
    LocalFileNotAllowed {
        /// The endpoint the input was meant for.
        endpoint_id: String,
    },

    /// The HTTP exchange failed (connection refused, reset, TLS, body cut short) after all retries.
    #[error("{operation} failed{}: {source}", request_suffix(.request_id.as_deref()))]
    Transport {
        /// The operation (`submit`, `status`, `result`, ...).
        operation: Operation,
        /// The request id, when known.
        request_id: Option<String>,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },

    /// A response arrived but its body did not decode into the expected type.
    #[error(
        "{operation}{}: could not decode the HTTP {status} response: {source}; body starts with: {body_excerpt:?}",
        request_suffix(.request_id.as_deref())
    )]
    Decode {
        /// The operation whose response failed to decode.
        operation: Operation,
        /// The request id, when known.
        request_id: Option<String>,
        /// The HTTP status of the response.
        status: u16,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
        /// The first bytes of the body (at most 512 characters, with the key scrubbed).
        body_excerpt: String,
    },

    /// The input could not be serialized to JSON.
    #[error("could not serialize the input for {endpoint_id}: {source}")]
    Serialize {
        /// The endpoint the input was meant for.
        endpoint_id: String,
        /// The serialization error.
        #[source]
        source: serde_json::Error,
    },

    /// Uploading the input's local files to fal storage failed; nothing was submitted.
    #[error("uploading local files before submitting failed: {0}")]
    Upload(#[source] Box<crate::files::FilesError>),

    /// Downloading an output file failed (or it was not what the output declared).
    #[error("downloading an output file failed: {0}")]
    Download(#[source] Box<crate::files::FilesError>),

    /// The status stream ended before the job completed, and reconnecting did not help.
    #[error("the status stream of request {request_id} ended before the job completed")]
    StreamEnded {
        /// The request id.
        request_id: String,
    },

    /// A streaming endpoint answered a body that is neither server-sent events nor JSON (audio
    /// as it is generated, say). [`Client::stream`](crate::Client::stream) reads outputs, so it
    /// closed the connection without reading the body; read such a stream with
    /// [`Client::stream_bytes`](crate::Client::stream_bytes). The request reached the app and
    /// was not resent.
    #[error(
        "{operation}{}: the answer is {content_type:?}, neither events nor JSON; read it with Client::stream_bytes",
        request_suffix(.request_id.as_deref())
    )]
    UnexpectedContentType {
        /// The operation.
        operation: Operation,
        /// The request id, when known.
        request_id: Option<String>,
        /// The answer's `Content-Type` (at most 100 characters).
        content_type: String,
    },

    /// A realtime session failed: fal's `x-fal-error` (`error`, `reason`), or the socket.
    #[error("realtime session with {app}: {error}: {reason}")]
    Realtime {
        /// The app of the session.
        app: String,
        /// fal's error code (`TIMEOUT`, `Unauthorized`, ...), or `SOCKET`, `CONNECT`, `PROTOCOL`,
        /// `RECONNECT` (every reconnect attempt failed), `CLOSED` (a send after the end).
        error: String,
        /// What happened, secrets scrubbed.
        reason: String,
    },
}

fn request_suffix(request_id: Option<&str>) -> String {
    request_id
        .map(|id| format!(" (request {id})"))
        .unwrap_or_default()
}

fn ambiguous_message(
    endpoint_id: &str,
    accepted: bool,
    status: Option<u16>,
    request_id: Option<&str>,
    reason: &str,
) -> String {
    let id = request_id
        .map(|id| format!(" (request {id})"))
        .unwrap_or_default();
    if accepted {
        format!(
            "fal accepted the request to {endpoint_id}{id} but its answer broke off ({reason}); not \
             replayed to avoid a duplicate paid job (find it in your fal dashboard)"
        )
    } else if let Some(status) = status {
        format!(
            "the outcome of the request to {endpoint_id}{id} is unknown: HTTP {status} did not show that \
             it was stopped before the app ({reason}); not replayed to avoid a duplicate paid job \
             (check the request id or your fal dashboard, or opt in to replays)"
        )
    } else {
        format!(
            "the request to {endpoint_id}{id} may have reached fal (the connection failed after sending: \
             {reason}); not replayed to avoid a duplicate paid job (check your fal dashboard, or opt in to replays)"
        )
    }
}

fn timeout_message(kind: TimeoutKind, request_id: Option<&str>, cancelled: bool) -> String {
    let what = match kind {
        TimeoutKind::StartDeadline => "the start deadline passed before fal started the job",
        TimeoutKind::Subscribe => "the overall subscribe timeout passed",
        TimeoutKind::Http => "an HTTP request timed out",
        TimeoutKind::StreamIdle => "the status stream sent nothing for too long",
        TimeoutKind::ResponseHead => "no response head arrived within the response-head bound",
        TimeoutKind::Idle => "the response body went silent past the idle bound",
    };
    let cancel = match (request_id, cancelled) {
        (Some(_), true) => "; the job was cancelled on fal",
        (Some(_), false) if kind == TimeoutKind::Subscribe => "; cancelling the job on fal failed",
        _ => "",
    };
    format!("{what}{}{cancel}", request_suffix(request_id))
}

impl Error {
    /// The fal request id this error belongs to, when the request had been submitted.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api(api) => api.request_id.as_deref(),
            Error::JobFailed { request_id, .. } | Error::StreamEnded { request_id } => {
                Some(request_id)
            }
            Error::Timeout { request_id, .. }
            | Error::Transport { request_id, .. }
            | Error::Decode { request_id, .. }
            | Error::AmbiguousSubmit { request_id, .. }
            | Error::BodyTooLarge { request_id, .. } => request_id.as_deref(),
            Error::UnexpectedContentType { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status fal answered with, for [`Error::Api`] and [`Error::Decode`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(api) => Some(api.status),
            Error::Decode { status, .. } => Some(*status),
            Error::AmbiguousSubmit { status, .. } => *status,
            _ => None,
        }
    }

    /// The per-field validation errors of a 422 (from the submit or from a failed job).
    pub fn validation_errors(&self) -> &[FieldError] {
        match self {
            Error::Api(api) => &api.fields,
            Error::JobFailed {
                result_error: Some(api),
                ..
            } => &api.fields,
            _ => &[],
        }
    }

    /// fal's error type (`X-Fal-Error-Type` header or `error_type`), when fal gave one.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            Error::Api(api) => api.error_type.as_deref(),
            Error::JobFailed {
                error_type,
                result_error,
                ..
            } => error_type
                .as_deref()
                .or_else(|| result_error.as_ref().and_then(|e| e.error_type.as_deref())),
            _ => None,
        }
    }
}

/// The client operation an error happened in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// `POST {queue}/{endpoint id}`.
    Submit,
    /// `GET .../requests/{id}/status`.
    Status,
    /// `GET .../requests/{id}/status/stream`.
    StatusStream,
    /// `GET .../requests/{id}`.
    Result,
    /// `PUT .../requests/{id}/cancel`.
    Cancel,
    /// `POST {run}/{endpoint id}`.
    Run,
    /// `POST {run}/{endpoint id}/stream` (server-sent partial outputs).
    Stream,
    /// `POST {rest}/tokens/` (minting a temporary token).
    Token,
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Operation::Submit => "submit",
            Operation::Status => "status",
            Operation::StatusStream => "status stream",
            Operation::Result => "result",
            Operation::Cancel => "cancel",
            Operation::Run => "run",
            Operation::Stream => "stream",
            Operation::Token => "token",
        })
    }
}

/// Which deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TimeoutKind {
    /// fal's start deadline (`X-Fal-Request-Timeout`) passed before the job started: a 504 with
    /// `X-Fal-Request-Timeout-Type: user`. Never retried.
    StartDeadline,
    /// The overall timeout of `subscribe` passed; the job is cancelled on fal.
    Subscribe,
    /// One HTTP request exceeded the client's request timeout (after retries).
    Http,
    /// The status stream was silent for longer than the stream idle timeout (after reconnects).
    StreamIdle,
    /// No response head arrived within the response-head bound (after retries).
    ResponseHead,
    /// A response body went silent for longer than the idle bound (after retries).
    Idle,
}

/// A non-success HTTP answer from fal, decoded as far as fal's formats allow.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApiError {
    /// The operation that got this answer.
    pub operation: Operation,
    /// The HTTP status.
    pub status: u16,
    /// The `X-Fal-Error-Type` header, or the body's `error_type`.
    pub error_type: Option<String>,
    /// The request id, when known.
    pub request_id: Option<String>,
    /// A one-line message: `detail` when it is text, else the joined field messages, else the
    /// body excerpt.
    pub message: String,
    /// Field errors of a 422 `{"detail": [{"loc", "msg", "type"}]}`.
    pub fields: Vec<FieldError>,
    /// The `Retry-After` fal asked for, if any.
    pub retry_after: Option<Duration>,
    /// The first bytes of the body (at most 512 characters, with the key scrubbed).
    pub body_excerpt: String,
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed with HTTP {}", self.operation, self.status)?;
        if let Some(t) = &self.error_type {
            write!(f, " [{t}]")?;
        }
        if let Some(id) = &self.request_id {
            write!(f, " (request {id})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// One entry of a 422 `detail` list: which input field is wrong and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FieldError {
    /// Where the error is, e.g. `["body", "duration"]` or `["body", "image_urls", 0]`.
    #[serde(default)]
    pub loc: Vec<LocSegment>,
    /// The human-readable message.
    #[serde(default)]
    pub msg: String,
    /// The machine-readable kind, e.g. `missing`, `literal_error`.
    #[serde(default, rename = "type")]
    pub kind: String,
    /// Extra context fal sent (`ctx`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctx: Option<serde_json::Value>,
}

impl FieldError {
    /// Builds a field error (used by the mock server and by tests).
    pub fn new(loc: Vec<LocSegment>, msg: impl Into<String>, kind: impl Into<String>) -> Self {
        FieldError {
            loc,
            msg: msg.into(),
            kind: kind.into(),
            ctx: None,
        }
    }

    /// The field path without the leading `body`, joined with dots: `image_urls.0`.
    pub fn field(&self) -> String {
        let skip = usize::from(matches!(self.loc.first(), Some(LocSegment::Key(k)) if k == "body"));
        self.loc[skip..]
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// One step of a [`FieldError::loc`]: an object key or an array index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LocSegment {
    /// An array index.
    Index(u64),
    /// An object key.
    Key(String),
}

impl fmt::Display for LocSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocSegment::Index(i) => write!(f, "{i}"),
            LocSegment::Key(k) => f.write_str(k),
        }
    }
}

impl From<&str> for LocSegment {
    fn from(s: &str) -> Self {
        LocSegment::Key(s.to_owned())
    }
}

impl From<usize> for LocSegment {
    fn from(i: usize) -> Self {
        LocSegment::Index(i as u64)
    }
}

/// Names of input fields whose values are credentials (a user's own provider key). Their
/// string values are scrubbed from errors like the fal key. The rule is fal-schema's, the one
/// the generator uses to redact `Debug` and to list `Endpoint::SECRET_FIELDS`, so an untyped
/// call scrubs what a typed one would (the schema half, `format: password`, reaches the client
/// through `SECRET_FIELDS`).
pub(crate) fn is_secret_field(name: &str) -> bool {
    fal_schema::is_secret_name(name)
}
