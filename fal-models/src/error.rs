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
        /// fal answered with a success status before the body broke off: the job exists, but
        /// its request id did not arrive.
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
            "fal accepted the request to {endpoint_id}{id} but the answer broke off before its request \
             id arrived ({reason}); not replayed to avoid a duplicate paid job (find it in your fal dashboard)"
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

/// The one scrubbing point: every text this crate builds from something a server sent (body
/// excerpts, header values, request ids, job errors, field locations, log lines, trace fields)
/// passes through [`Redactor::scrub`].
///
/// It knows the API key, the storage token and any secret input values (Sora 2's `api_key`,
/// say). Rather than a list of encoded forms, it *decodes while matching*: each character of a
/// secret may appear raw, percent-encoded (`%3a` or `%3A`, per UTF-8 byte), as a JSON `\u`
/// escape of any hex case (a surrogate pair beyond the BMP), or as a JSON short escape (`\"`,
/// `\\`, `\/`), each escape behind any number of backslashes (a body echoed inside a JSON
/// string, twice). Any mix of these, character by character, is found and replaced whole.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    /// Every secret, as characters, longest first (so a secret containing another is replaced
    /// whole).
    secrets: Vec<Vec<char>>,
}

/// What a secret is replaced with.
pub(crate) const REDACTED: &str = "<redacted>";

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// A redactor for these secrets (empty ones are ignored).
    pub(crate) fn new<'s>(secrets: impl IntoIterator<Item = &'s str>) -> Self {
        let mut r = Redactor::default();
        for s in secrets {
            r.add(s);
        }
        r
    }

    /// Adds a secret.
    pub(crate) fn add(&mut self, secret: &str) {
        // Very short values would redact ordinary words; a real secret is longer.
        if secret.len() < 4 {
            return;
        }
        let chars: Vec<char> = secret.chars().collect();
        if !self.secrets.contains(&chars) {
            self.secrets.push(chars);
            self.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }

    /// `other`'s secrets as well.
    pub(crate) fn merged(&self, other: &Redactor) -> Redactor {
        let mut r = self.clone();
        for s in &other.secrets {
            if !r.secrets.contains(s) {
                r.secrets.push(s.clone());
            }
        }
        r.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        r
    }

    /// `text` with every encoding of every secret replaced by `<redacted>`.
    pub(crate) fn scrub(&self, text: &str) -> String {
        if self.secrets.is_empty() {
            return text.to_owned();
        }
        let bytes = text.as_bytes();
        let mut out = String::with_capacity(text.len());
        let (mut at, mut copied) = (0, 0);
        while at < bytes.len() {
            // A match starts on an ASCII byte or a UTF-8 lead byte, so slicing there is safe.
            let found = text.is_char_boundary(at).then(|| {
                self.secrets
                    .iter()
                    .find_map(|secret| match_secret(bytes, at, secret))
            });
            match found.flatten() {
                Some(end) => {
                    out.push_str(&text[copied..at]);
                    out.push_str(REDACTED);
                    at = end;
                    copied = end;
                }
                None => at += 1,
            }
        }
        out.push_str(&text[copied..]);
        out
    }

    /// Scrubs, then cuts to at most `max` characters (scrubbing first, so no prefix of a
    /// secret survives at the cut).
    pub(crate) fn excerpt(&self, bytes: &[u8], max: usize) -> String {
        self.scrub(&String::from_utf8_lossy(bytes))
            .chars()
            .take(max)
            .collect()
    }

    /// A header value as text, scrubbed (a server may echo anything in any header).
    pub(crate) fn header(&self, value: &reqwest::header::HeaderValue) -> String {
        self.scrub(&String::from_utf8_lossy(value.as_bytes()))
    }

    /// Whether `text` holds any secret in any encoding.
    pub(crate) fn finds(&self, text: &str) -> bool {
        self.scrub(text) != text
    }
}

/// Where the encoded `secret` that starts at `at` ends, if one does.
fn match_secret(text: &[u8], at: usize, secret: &[char]) -> Option<usize> {
    let Some((&c, rest)) = secret.split_first() else {
        return Some(at);
    };
    let mut lens = [0usize; 8];
    let n = encodings_of(text, at, c, &mut lens);
    lens[..n]
        .iter()
        .find_map(|len| match_secret(text, at + len, rest))
}

/// The lengths of the encodings of `c` that start at `at` (raw, `%XX`, escapes); returns how
/// many were written to `out`.
fn encodings_of(text: &[u8], at: usize, c: char, out: &mut [usize; 8]) -> usize {
    let mut n = 0;
    let mut push = |len: usize| {
        if n < out.len() && !out[..n].contains(&len) {
            out[n] = len;
            n += 1;
        }
    };
    let rest = &text[at..];
    let mut utf8 = [0u8; 4];
    let raw = c.encode_utf8(&mut utf8).as_bytes();
    if rest.starts_with(raw) {
        push(raw.len());
    }
    // Percent-encoded, byte by byte, either hex case.
    if raw.iter().enumerate().all(|(i, b)| {
        rest.get(3 * i) == Some(&b'%')
            && rest
                .get(3 * i + 1..3 * i + 3)
                .and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok())
                == Some(*b)
    }) {
        push(3 * raw.len());
    }
    // Escapes behind a run of backslashes (one per level of JSON string nesting).
    let slashes = rest.iter().take_while(|b| **b == b'\\').count();
    if slashes > 0 {
        let after = &rest[slashes..];
        let short = match c {
            '"' | '/' => Some(c as u8),
            '\u{8}' => Some(b'b'),
            '\u{c}' => Some(b'f'),
            '\n' => Some(b'n'),
            '\r' => Some(b'r'),
            '\t' => Some(b't'),
            _ => None,
        };
        if short.is_some() && after.first() == short.as_ref() {
            push(slashes + 1);
        }
        if c == '\\' {
            // A backslash escaped once (2), twice (4) or three times (8).
            for len in [2, 4, 8] {
                if slashes >= len {
                    push(len);
                }
            }
        }
        if let Some(len) = unicode_escape(rest, slashes, c) {
            push(len);
        }
    }
    n
}

/// The length of `\uXXXX` (behind `slashes` backslashes; a surrogate pair for `c` beyond the
/// BMP) encoding `c` at the start of `rest`.
fn unicode_escape(rest: &[u8], slashes: usize, c: char) -> Option<usize> {
    let unit = |at: usize| -> Option<u16> {
        if rest.get(at..at + slashes)?.iter().any(|b| *b != b'\\')
            || rest.get(at + slashes)? != &b'u'
        {
            return None;
        }
        let hex = std::str::from_utf8(rest.get(at + slashes + 1..at + slashes + 5)?).ok()?;
        u16::from_str_radix(hex, 16).ok()
    };
    let mut units = [0u16; 2];
    let want = c.encode_utf16(&mut units);
    let one = slashes + 5;
    for (i, u) in want.iter().enumerate() {
        if unit(i * one)? != *u {
            return None;
        }
    }
    Some(one * want.len())
}

/// Names of input fields whose values are credentials (Sora 2's `api_key`: the user's own
/// OpenAI key). Their string values are scrubbed from errors like the fal key.
pub(crate) fn is_secret_field(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n == "api_key"
        || n == "apikey"
        || n == "token"
        || n == "secret"
        || n == "password"
        || n.ends_with("_api_key")
        || n.ends_with("_token")
        || n.ends_with("_secret")
        || n.ends_with("_password")
}

/// Every string value of a secret field anywhere in `value`.
pub(crate) fn secret_values(value: &serde_json::Value, out: &mut Vec<String>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                match v {
                    serde_json::Value::String(s) if is_secret_field(k) => out.push(s.clone()),
                    other => secret_values(other, out),
                }
            }
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| secret_values(v, out)),
        _ => {}
    }
}

#[cfg(test)]
mod redactor_tests {
    use super::*;

    #[test]
    fn scrubs_raw_json_escaped_percent_and_header_forms() {
        let key = "id:se\"cr/et\\x";
        let r = Redactor::new([key]);
        let json = serde_json::to_string(key).unwrap();
        for text in [
            format!("Key {key}"),
            format!("{{\"auth\":{json}}}"),
            "id%3Ase%22cr%2Fet%5Cx".to_owned(),
            "id%3ase%22cr%2fet%5cx".to_owned(),
            serde_json::to_string(&format!("{{\"auth\":{json}}}")).unwrap(),
            // One character \u-escaped, in either hex case; all of them; twice nested.
            "id\\u003ase\\\"cr/et\\\\x".to_owned(),
            "id:se\\u0022cr\\/et\\u005Cx".to_owned(),
            key.chars()
                .map(|c| format!("\\u{:04x}", c as u32))
                .collect(),
            key.chars()
                .map(|c| format!("\\\\u{:04X}", c as u32))
                .collect(),
            // Mixed: percent, escape and raw.
            "id%3a\\u0073e\"cr%2Fet\\x".to_owned(),
        ] {
            let out = r.scrub(&text);
            assert_eq!(out.matches(REDACTED).count(), 1, "{text} -> {out}");
            assert!(
                !out.contains("cr") && !out.contains("et"),
                "{text} -> {out}"
            );
        }
        assert_eq!(r.scrub("nothing here"), "nothing here");
        assert_eq!(
            r.scrub("id:se\"cr/et"),
            "id:se\"cr/et",
            "a prefix is not the secret"
        );
        // Non-ASCII secrets: raw, percent-encoded UTF-8, \u escapes (a surrogate pair).
        let r = Redactor::new(["pässword-𝄞"]);
        for text in [
            "pässword-𝄞",
            "p%C3%A4ssword-%f0%9d%84%9e",
            "p\\u00e4ssword-\\ud834\\udd1e",
        ] {
            assert_eq!(r.scrub(text), REDACTED, "{text}");
        }
        assert_eq!(r.scrub("x pässword-𝄞 é"), "x <redacted> é");
    }

    #[test]
    fn finds_secret_fields_at_any_depth() {
        let v = serde_json::json!({"prompt": "p", "api_key": "sk-1", "x": [{"hf_token": "t-2"}], "tokens": 3});
        let mut out = Vec::new();
        secret_values(&v, &mut out);
        out.sort();
        assert_eq!(out, ["sk-1", "t-2"]);
    }
}
