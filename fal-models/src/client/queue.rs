//! The queue protocol's data: statuses, logs, submit options, and the URL rule for request paths.

use std::fmt;
use std::time::Duration;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::error::Error;

/// The state of a queued request. Unknown states decode to [`Status::Other`] instead of failing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Status {
    /// Waiting for a runner.
    InQueue,
    /// Running.
    InProgress,
    /// Finished, successfully or not (a failed job has [`QueueStatus::error`] set).
    Completed,
    /// A state this client does not know yet, kept verbatim.
    Other(String),
}

impl Status {
    /// The wire name (`IN_QUEUE`, ...).
    pub fn as_str(&self) -> &str {
        match self {
            Status::InQueue => "IN_QUEUE",
            Status::InProgress => "IN_PROGRESS",
            Status::Completed => "COMPLETED",
            Status::Other(s) => s,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Status {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Read in place: a known state (every event of every stream) allocates nothing.
        struct StatusVisitor;
        impl Visitor<'_> for StatusVisitor {
            type Value = Status;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a request state")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Status, E> {
                Ok(match s {
                    "IN_QUEUE" => Status::InQueue,
                    "IN_PROGRESS" => Status::InProgress,
                    "COMPLETED" => Status::Completed,
                    _ => Status::Other(s.to_owned()),
                })
            }
        }
        d.deserialize_str(StatusVisitor)
    }
}

/// One answer of the status endpoint (or one event of the status stream).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct QueueStatus {
    /// The request's state.
    pub status: Status,
    /// The request id, when fal includes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Position in the queue while [`Status::InQueue`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_position: Option<u64>,
    /// Log lines (only when asked for with `logs=1`; in a stream event, only the new ones).
    #[serde(
        default,
        deserialize_with = "lenient_logs",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub logs: Vec<LogEntry>,
    /// Timing metrics, e.g. `{"inference_time": 1.2}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Value>,
    /// Set when a completed job failed; the details come from the result endpoint.
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub error: Option<String>,
    /// fal's classification of [`error`](Self::error).
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub error_type: Option<String>,
    /// The result URL, when fal includes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_url: Option<String>,
}

/// How much of a status to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Detail {
    /// All of it: what a caller is given.
    Full,
    /// Only what ends a wait: the state and a failed job's error. For a `subscribe` whose
    /// progress no one watches: its log lines, metrics and URLs would be read, scrubbed and
    /// dropped unseen, on every event.
    Outcome,
}

/// The fields of a status that [`Detail::Outcome`] reads (the others are skipped unread).
#[derive(Deserialize)]
struct Outcome {
    status: Status,
    #[serde(default, deserialize_with = "lenient_text")]
    error: Option<String>,
    #[serde(default, deserialize_with = "lenient_text")]
    error_type: Option<String>,
}

impl QueueStatus {
    /// Reads a status document to `detail`, scrubbed of `redactor`'s secrets.
    pub(crate) fn read(
        document: &str,
        detail: Detail,
        redactor: &crate::http::redact::Redactor,
    ) -> serde_json::Result<QueueStatus> {
        let status = match detail {
            Detail::Full => serde_json::from_str(document)?,
            Detail::Outcome => {
                let Outcome {
                    status,
                    error,
                    error_type,
                } = serde_json::from_str(document)?;
                QueueStatus {
                    status,
                    request_id: None,
                    queue_position: None,
                    logs: Vec::new(),
                    metrics: None,
                    error,
                    error_type,
                    response_url: None,
                }
            }
        };
        Ok(status.scrubbed(redactor))
    }

    /// The status with every text a server wrote into it scrubbed of secrets (a job's error can
    /// quote its input; a log line anything).
    pub(crate) fn scrubbed(mut self, redactor: &crate::http::redact::Redactor) -> Self {
        let scrub = |t: &mut Option<String>| {
            if let Some(text) = t {
                redactor.scrub_in_place(text);
            }
        };
        scrub(&mut self.request_id);
        scrub(&mut self.error);
        scrub(&mut self.error_type);
        scrub(&mut self.response_url);
        for line in &mut self.logs {
            redactor.scrub_in_place(&mut line.message);
            scrub(&mut line.level);
            scrub(&mut line.source);
            scrub(&mut line.timestamp);
        }
        if let Some(m) = &self.metrics {
            if redactor.finds(&m.to_string()) {
                self.metrics = None;
            }
        }
        self
    }

    /// Whether the request reached [`Status::Completed`] (successfully or not).
    pub fn is_completed(&self) -> bool {
        self.status == Status::Completed
    }

    /// Whether the job completed because it was cancelled (`error_type` `request_cancelled`,
    /// or an error saying so).
    pub fn is_cancelled(&self) -> bool {
        self.is_completed()
            && (self.error_type.as_deref() == Some("request_cancelled")
                || self
                    .error
                    .as_deref()
                    .is_some_and(|e| e.to_ascii_lowercase().contains("cancelled")))
    }
}

/// One log line of a running request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogEntry {
    /// The text.
    #[serde(default)]
    pub message: String,
    /// `INFO`, `ERROR`, ... when given.
    #[serde(default, deserialize_with = "lenient_text")]
    pub level: Option<String>,
    /// `user`, `gateway`, ... when given.
    #[serde(default, deserialize_with = "lenient_text")]
    pub source: Option<String>,
    /// When the line was written (as fal sends it, usually RFC 3339).
    #[serde(default, deserialize_with = "lenient_text")]
    pub timestamp: Option<String>,
}

impl LogEntry {
    /// A log line with just a message (used by the mock server and tests).
    pub fn new(message: impl Into<String>) -> Self {
        LogEntry {
            message: message.into(),
            level: Some("INFO".into()),
            source: Some("user".into()),
            timestamp: None,
        }
    }
}

/// The scalar shapes a lenient visitor takes as "not what was expected": each gives `$none`.
macro_rules! not_this_shape {
    ($none:expr) => {
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
}

/// Logs arrive as a list; anything else (`null`, or an object as in fal's OpenAPI) is no logs.
/// An item is a line object or a bare message; an item that is neither, or whose message is
/// not text, is skipped. Read straight from the document, without a `Value` in between: it
/// runs on every status event.
fn lenient_logs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<LogEntry>, D::Error> {
    struct Lines;
    impl<'de> Visitor<'de> for Lines {
        type Value = Vec<LogEntry>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of log lines")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut lines = Vec::new();
            while let Some(Line(line)) = seq.next_element()? {
                lines.extend(line);
            }
            Ok(lines)
        }
        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            skip_map(map).map(|()| Vec::new())
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok(Vec::new())
        }
        not_this_shape!(Vec::new());
    }
    d.deserialize_any(Lines)
}

/// One item of a logs list: `None` when it is not a line.
struct Line(Option<LogEntry>);

impl<'de> Deserialize<'de> for Line {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct LineVisitor;
        impl<'de> Visitor<'de> for LineVisitor {
            type Value = Line;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a log line")
            }
            fn visit_str<E: de::Error>(self, message: &str) -> Result<Line, E> {
                self.visit_string(message.to_owned())
            }
            fn visit_string<E: de::Error>(self, message: String) -> Result<Line, E> {
                Ok(Line(Some(LogEntry {
                    message,
                    level: None,
                    source: None,
                    timestamp: None,
                })))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Line, A::Error> {
                let mut line = LogEntry {
                    message: String::new(),
                    level: None,
                    source: None,
                    timestamp: None,
                };
                let mut message_is_text = true;
                while let Some(key) = map.next_key::<LineField>()? {
                    match key {
                        LineField::Message => match map.next_value::<Value>()? {
                            Value::String(message) => {
                                line.message = message;
                                message_is_text = true;
                            }
                            _ => message_is_text = false,
                        },
                        LineField::Level => line.level = map.next_value::<LenientText>()?.0,
                        LineField::Source => line.source = map.next_value::<LenientText>()?.0,
                        LineField::Timestamp => {
                            line.timestamp = map.next_value::<LenientText>()?.0;
                        }
                        LineField::Other => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(Line(message_is_text.then_some(line)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Line, A::Error> {
                while seq.next_element::<de::IgnoredAny>()?.is_some() {}
                Ok(Line(None))
            }
            not_this_shape!(Line(None));
        }
        d.deserialize_any(LineVisitor)
    }
}

/// The keys of a log line object.
enum LineField {
    Message,
    Level,
    Source,
    Timestamp,
    Other,
}

impl<'de> Deserialize<'de> for LineField {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl Visitor<'_> for FieldVisitor {
            type Value = LineField;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a log line field")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<LineField, E> {
                Ok(match key {
                    "message" => LineField::Message,
                    "level" => LineField::Level,
                    "source" => LineField::Source,
                    "timestamp" => LineField::Timestamp,
                    _ => LineField::Other,
                })
            }
        }
        d.deserialize_identifier(FieldVisitor)
    }
}

fn skip_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map
        .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
        .is_some()
    {}
    Ok(())
}

/// Text fields that fal sometimes sends as other JSON: kept as their JSON text.
fn lenient_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    LenientText::deserialize(d).map(|t| t.0)
}

/// A text, or any other JSON as its JSON text; `null` is none. A string (nearly always) is
/// taken as it is, without a `Value` in between.
struct LenientText(Option<String>);

impl<'de> Deserialize<'de> for LenientText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = LenientText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text or any JSON")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LenientText, E> {
                Ok(LenientText(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<LenientText, E> {
                Ok(LenientText(Some(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LenientText, E> {
                Ok(LenientText(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<LenientText, E> {
                Ok(LenientText(None))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LenientText, E> {
                Ok(LenientText(Some(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LenientText, E> {
                Ok(LenientText(Some(Value::from(v).to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LenientText, E> {
                Ok(LenientText(Some(Value::from(v).to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LenientText, E> {
                Ok(LenientText(Some(Value::from(v).to_string())))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<LenientText, A::Error> {
                let value = Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
                Ok(LenientText(Some(value.to_string())))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<LenientText, A::Error> {
                let value = Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(LenientText(Some(value.to_string())))
            }
        }
        d.deserialize_any(TextVisitor)
    }
}

/// What submit returns.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct SubmitResponse {
    pub request_id: String,
    #[serde(default)]
    pub status_url: Option<String>,
    #[serde(default)]
    pub response_url: Option<String>,
    #[serde(default)]
    pub cancel_url: Option<String>,
}

/// The queue priority of a submitted request (`X-Fal-Queue-Priority`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Priority {
    /// The default.
    #[default]
    Normal,
    /// Served after `normal` requests.
    Low,
}

impl Priority {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Normal => "normal",
            Priority::Low => "low",
        }
    }
}

/// Options of a submit (and of the submit inside `subscribe`).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SubmitOptions {
    /// fal POSTs the result to this URL when the job completes (`?fal_webhook=`).
    pub webhook_url: Option<String>,
    /// If the job has not started within this time, fal drops it (`X-Fal-Request-Timeout`,
    /// whole seconds, rounded up),
    /// and the request fails with [`TimeoutKind::StartDeadline`](crate::error::TimeoutKind).
    pub start_timeout: Option<Duration>,
    /// Queue priority (`X-Fal-Queue-Priority`).
    pub priority: Option<Priority>,
    /// Runner hint for session affinity (`X-Fal-Runner-Hint`).
    pub runner_hint: Option<String>,
    /// Upload every local file named in the input (`file://` URLs, see
    /// [`crate::files::local`]) to fal storage first, and send the uploaded URLs instead.
    pub upload_local_files: bool,
    /// Platform headers (`x-fal-no-retry`, `X-Fal-Store-IO`, object lifecycle, your own).
    pub platform: super::options::PlatformOptions,
}

impl SubmitOptions {
    /// Default options: no webhook, no start deadline, normal priority.
    pub fn new() -> Self {
        Self::default()
    }

    super::options::request_setters!((set) webhook, start_timeout, priority, runner_hint,
        upload_local_files, platform);
}

/// Whole seconds for fal's headers, rounded up (a deadline is never shortened).
pub(crate) fn header_seconds(d: Duration) -> String {
    (d.as_secs() + u64::from(d.subsec_nanos() > 0)).to_string()
}

/// The `x-fal-request-timeout` value of a start timeout: fal takes only more than one second
/// (fal_client `_headers.py` `add_timeout_header` refuses `<= 1`), so anything else is an
/// error before anything is sent.
pub(crate) fn start_timeout_header(d: Duration) -> Result<(&'static str, String), Error> {
    if d <= Duration::from_secs(1) {
        return Err(Error::Config(format!(
            "start_timeout must be more than 1 s (fal's minimum), got {d:?}"
        )));
    }
    Ok(("x-fal-request-timeout", header_seconds(d)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_status_and_odd_logs_still_decode() {
        let s: QueueStatus = serde_json::from_str(
            r#"{"status":"PAUSED","logs":{"x":1},"error":{"code":1},"queue_position":null}"#,
        )
        .unwrap();
        assert_eq!(s.status, Status::Other("PAUSED".into()));
        assert!(s.logs.is_empty());
        assert_eq!(s.error.as_deref(), Some(r#"{"code":1}"#));
        let s: QueueStatus = serde_json::from_str(
            r#"{"status":"IN_PROGRESS","logs":[{"message":"a","level":"INFO","source":"user","timestamp":"t"},"b",{"message":"c","level":null}]}"#,
        )
        .unwrap();
        let messages: Vec<_> = s.logs.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(messages, ["a", "b", "c"]);
    }

    #[test]
    fn reading_only_the_outcome_keeps_the_state_and_a_failed_jobs_error_scrubbed() {
        let redactor = crate::http::redact::Redactor::new(["s3cr3t-key"]);
        let documents = [
            r#"{"status":"IN_PROGRESS","request_id":"r","logs":[{"message":"a"}],"response_url":"u"}"#,
            r#"{"status":"COMPLETED","error":"bad key s3cr3t-key","error_type":"internal_error","metrics":{"inference_time":1}}"#,
            r#"{"status":"COMPLETED","error":{"code":1},"error_type":null,"logs":null}"#,
            r#"{"status":"PAUSED","queue_position":3}"#,
        ];
        for doc in documents {
            let full = QueueStatus::read(doc, Detail::Full, &redactor).unwrap();
            let outcome = QueueStatus::read(doc, Detail::Outcome, &redactor).unwrap();
            assert_eq!(
                (&outcome.status, &outcome.error, &outcome.error_type),
                (&full.status, &full.error, &full.error_type),
                "{doc}"
            );
            // The rest is not read.
            assert!(
                outcome.logs.is_empty() && outcome.metrics.is_none(),
                "{doc}"
            );
            assert_eq!((outcome.request_id, outcome.response_url), (None, None));
            assert_eq!(outcome.queue_position, None);
        }
        let failed = QueueStatus::read(documents[1], Detail::Outcome, &redactor).unwrap();
        assert_eq!(failed.error.as_deref(), Some("bad key <redacted>"));
        // What is read is still checked: a document that is not a status is an error.
        assert!(QueueStatus::read(r#"{"error":"x"}"#, Detail::Outcome, &redactor).is_err());
        assert!(
            QueueStatus::read(r#"{"status":"X","logs":[}"#, Detail::Outcome, &redactor).is_err()
        );
    }

    #[test]
    fn a_log_item_that_is_not_a_line_is_skipped_and_odd_fields_kept_as_text() {
        let s: QueueStatus = serde_json::from_str(
            r#"{"status":"IN_PROGRESS","logs":[
                {"message":null}, {"message":5}, 7, true, null, [{"message":"nested"}],
                {"level":3, "source":{"b":1,"a":[2]}, "timestamp":1.5, "extra":{"x":[1]}},
                {"message":"first","message":"last"}, {"message":{"x":1},"message":"text again"}
            ]}"#,
        )
        .unwrap();
        let lines: Vec<_> = s
            .logs
            .iter()
            .map(|l| {
                let t = |t: &Option<String>| t.clone().unwrap_or_else(|| "-".into());
                format!(
                    "{}|{}|{}|{}",
                    l.message,
                    t(&l.level),
                    t(&l.source),
                    t(&l.timestamp)
                )
            })
            .collect();
        assert_eq!(
            lines,
            [
                r#"|3|{"a":[2],"b":1}|1.5"#,
                "last|-|-|-",
                "text again|-|-|-"
            ]
        );
        // Not a list: no lines, whatever it is; a malformed document is still an error.
        for logs in ["null", "\"text\"", "3", r#"{"message":"m"}"#] {
            let doc = format!(r#"{{"status":"IN_QUEUE","logs":{logs}}}"#);
            let s: QueueStatus = serde_json::from_str(&doc).unwrap();
            assert!(s.logs.is_empty(), "{logs}");
        }
        assert!(
            serde_json::from_str::<QueueStatus>(r#"{"status":"X","logs":[{"message":}]}"#).is_err()
        );
    }
}
