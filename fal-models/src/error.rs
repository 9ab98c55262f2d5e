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

    /// The submit (or sync run) may have reached fal: the connection failed after the request
    /// was sent. It was not replayed, because a replay could start (and bill) a second job. Opt
    /// in with [`RetryPolicy::retry_ambiguous_submits`](crate::client::RetryPolicy::retry_ambiguous_submits).
    #[error("{}", ambiguous_message(.endpoint_id, *.accepted, .source))]
    AmbiguousSubmit {
        /// The endpoint the input was submitted to.
        endpoint_id: String,
        /// How many attempts were made (more than 1 only when earlier attempts failed before
        /// anything was sent).
        attempts: u32,
        /// fal answered with a success status before the body broke off: the job exists, but
        /// its request id did not arrive.
        accepted: bool,
        /// The transport error.
        #[source]
        source: reqwest::Error,
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
}

fn request_suffix(request_id: Option<&str>) -> String {
    request_id
        .map(|id| format!(" (request {id})"))
        .unwrap_or_default()
}

fn ambiguous_message(endpoint_id: &str, accepted: bool, source: &reqwest::Error) -> String {
    if accepted {
        format!(
            "fal accepted the request to {endpoint_id} but the answer broke off before its request \
             id arrived ({source}); not replayed to avoid a duplicate paid job (find it in your fal dashboard)"
        )
    } else {
        format!(
            "the request to {endpoint_id} may have reached fal (the connection failed after sending: \
             {source}); not replayed to avoid a duplicate paid job (check your fal dashboard, or opt in to replays)"
        )
    }
}

fn timeout_message(kind: TimeoutKind, request_id: Option<&str>, cancelled: bool) -> String {
    let what = match kind {
        TimeoutKind::StartDeadline => "the start deadline passed before fal started the job",
        TimeoutKind::Subscribe => "the overall subscribe timeout passed",
        TimeoutKind::Http => "an HTTP request timed out",
        TimeoutKind::StreamIdle => "the status stream sent nothing for too long",
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
            | Error::Decode { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// The HTTP status fal answered with, for [`Error::Api`] and [`Error::Decode`].
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(api) => Some(api.status),
            Error::Decode { status, .. } => Some(*status),
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
