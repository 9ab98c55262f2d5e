//! One HTTP exchange with fal, retried by the policy, with failures turned into typed errors.

use std::time::Duration;

use reqwest::header::{self, HeaderMap};
use reqwest::{Method, Response};
use serde_json::Value;

use super::Client;
use super::retry::{is_retryable_status, parse_retry_after};
use crate::error::{ApiError, Error, FieldError, Operation, TimeoutKind};

/// The longest body excerpt an error carries.
const EXCERPT_CHARS: usize = 512;

/// Everything needed to send (and resend) one request.
pub(crate) struct Call {
    pub op: Operation,
    pub method: Method,
    pub url: String,
    pub body: Option<Vec<u8>>,
    pub headers: Vec<(&'static str, String)>,
    /// Known request id, so every error names the job.
    pub request_id: Option<String>,
    /// Set for submit and run: the endpoint, for [`Error::AmbiguousSubmit`]. These calls are not
    /// idempotent: a replay after the request was sent can start a second (paid) job.
    pub paid_endpoint: Option<String>,
    pub timeout: Option<Duration>,
}

/// A successful answer with its whole body.
pub(crate) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

enum Success {
    Body(Reply),
    Open(Response),
}

/// A failed attempt that may be retried.
enum Failure {
    Transport(reqwest::Error),
    Status(Box<ApiError>),
}

impl Client {
    /// Sends `call` (retrying per policy) and reads the whole body of the successful answer.
    pub(crate) async fn call(&self, call: &Call) -> Result<Reply, Error> {
        match self.execute(call, true).await? {
            Success::Body(reply) => Ok(reply),
            Success::Open(_) => unreachable!("execute reads the body when asked to"),
        }
    }

    /// Sends `call` (retrying per policy) and returns the successful answer with its body unread.
    pub(crate) async fn open(&self, call: &Call) -> Result<Response, Error> {
        match self.execute(call, false).await? {
            Success::Open(response) => Ok(response),
            Success::Body(_) => unreachable!("execute leaves the body unread when asked to"),
        }
    }

    async fn execute(&self, call: &Call, read_body: bool) -> Result<Success, Error> {
        let policy = &self.inner.retry;
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let failure = match self.send_once(call).await {
                Err(e) => Failure::Transport(e),
                Ok(response) if response.status().is_success() => {
                    let status = response.status().as_u16();
                    if !read_body {
                        return Ok(Success::Open(response));
                    }
                    match read_all(response).await {
                        Ok(body) => return Ok(Success::Body(Reply { status, body })),
                        Err((e, partial)) if call.paid_endpoint.is_some() => {
                            return self.salvage_paid_reply(call, attempt, status, e, partial);
                        }
                        Err((e, _)) => Failure::Transport(e),
                    }
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let headers = response.headers().clone();
                    let body = read_all(response)
                        .await
                        .unwrap_or_else(|(_, partial)| partial);
                    if status == 504
                        && header_str(&headers, "x-fal-request-timeout-type") == Some("user")
                    {
                        return Err(Error::Timeout {
                            kind: TimeoutKind::StartDeadline,
                            request_id: call
                                .request_id
                                .clone()
                                .or_else(|| header_request_id(&headers)),
                            cancelled: false,
                        });
                    }
                    let api = self.api_error(call, status, &headers, &body);
                    if !is_retryable_status(status) {
                        return Err(Error::Api(Box::new(api)));
                    }
                    Failure::Status(Box::new(api))
                }
            };

            // A paid call whose request may have reached fal is only replayed on opt-in.
            let failure = match failure {
                Failure::Transport(e)
                    if call.paid_endpoint.is_some()
                        && !e.is_connect()
                        && !policy.retry_ambiguous_submits =>
                {
                    return Err(self.ambiguous(call, attempt, false, e));
                }
                other => other,
            };
            let retry_after = match &failure {
                Failure::Status(api) => api.retry_after,
                Failure::Transport(_) => None,
            };
            let delay = if attempt > policy.max_retries {
                None
            } else {
                policy.delay(attempt, retry_after)
            };
            let Some(delay) = delay else {
                return Err(match failure {
                    Failure::Status(api) => Error::Api(api),
                    Failure::Transport(e) => self.transport_error(call, e),
                });
            };
            tokio::time::sleep(delay).await;
        }
    }

    async fn send_once(&self, call: &Call) -> Result<Response, reqwest::Error> {
        let inner = &self.inner;
        let mut request = inner
            .http
            .request(call.method.clone(), &call.url)
            .header(header::USER_AGENT, inner.user_agent.clone());
        if !call.headers.iter().any(|(name, _)| *name == "accept") {
            request = request.header(header::ACCEPT, "application/json");
        }
        if let Some(auth) = &inner.authorization {
            request = request.header(header::AUTHORIZATION, auth.clone());
        }
        for (name, value) in &call.headers {
            request = request.header(*name, value);
        }
        if let Some(body) = &call.body {
            request = request
                .header(header::CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        if let Some(timeout) = call.timeout {
            request = request.timeout(timeout);
        }
        request.send().await
    }

    /// A paid call got a success status but its body broke off: the job exists. If the request
    /// id can be read from what arrived, keep it (the caller rebuilds the URLs from it).
    fn salvage_paid_reply(
        &self,
        call: &Call,
        attempt: u32,
        status: u16,
        error: reqwest::Error,
        partial: Vec<u8>,
    ) -> Result<Success, Error> {
        if call.op == Operation::Submit {
            if let Some(id) = find_request_id(&String::from_utf8_lossy(&partial)) {
                let body = serde_json::to_vec(&serde_json::json!({ "request_id": id }))
                    .expect("a JSON object serializes");
                return Ok(Success::Body(Reply { status, body }));
            }
        }
        Err(self.ambiguous(call, attempt, true, error))
    }

    fn ambiguous(
        &self,
        call: &Call,
        attempts: u32,
        accepted: bool,
        source: reqwest::Error,
    ) -> Error {
        Error::AmbiguousSubmit {
            endpoint_id: call.paid_endpoint.clone().unwrap_or_default(),
            attempts,
            accepted,
            source,
        }
    }

    fn transport_error(&self, call: &Call, e: reqwest::Error) -> Error {
        if e.is_timeout() {
            Error::Timeout {
                kind: TimeoutKind::Http,
                request_id: call.request_id.clone(),
                cancelled: false,
            }
        } else {
            Error::Transport {
                operation: call.op,
                request_id: call.request_id.clone(),
                source: e,
            }
        }
    }

    /// Decodes fal's error answer: `{"detail": "text"}`, `{"detail": [{"loc", "msg", "type"}]}`,
    /// or anything else (kept as an excerpt).
    fn api_error(&self, call: &Call, status: u16, headers: &HeaderMap, body: &[u8]) -> ApiError {
        let text = self.scrub(body);
        let excerpt: String = text.chars().take(EXCERPT_CHARS).collect();
        let json: Option<Value> = serde_json::from_str(&text).ok();
        let mut fields = Vec::new();
        let mut message = None;
        if let Some(json) = &json {
            match json.get("detail") {
                Some(Value::String(text)) => message = Some(text.clone()),
                Some(Value::Array(items)) => {
                    fields = items
                        .iter()
                        .filter_map(|item| serde_json::from_value::<FieldError>(item.clone()).ok())
                        .collect();
                }
                Some(other) => message = Some(other.to_string()),
                None => {
                    message = ["message", "error", "status"]
                        .iter()
                        .find_map(|k| json.get(*k).and_then(Value::as_str).map(str::to_owned));
                }
            }
        }
        let message = message
            .or_else(|| {
                (!fields.is_empty()).then(|| {
                    fields
                        .iter()
                        .map(|f| format!("{}: {}", f.field(), f.msg))
                        .collect::<Vec<_>>()
                        .join("; ")
                })
            })
            .or_else(|| (!excerpt.is_empty()).then(|| excerpt.clone()))
            .unwrap_or_else(|| {
                reqwest::StatusCode::from_u16(status)
                    .ok()
                    .and_then(|s| s.canonical_reason())
                    .unwrap_or("no body")
                    .to_owned()
            });
        let error_type = header_str(headers, "x-fal-error-type")
            .map(str::to_owned)
            .or_else(|| {
                json.as_ref()
                    .and_then(|j| j.get("error_type"))
                    .and_then(Value::as_str)
                    .map(str::to_owned)
            });
        ApiError {
            operation: call.op,
            status,
            error_type,
            request_id: call
                .request_id
                .clone()
                .or_else(|| header_request_id(headers)),
            message,
            fields,
            retry_after: header_str(headers, "retry-after").and_then(parse_retry_after),
            body_excerpt: excerpt,
        }
    }

    /// A body as text with the key (should a proxy echo it) replaced by `<redacted>`.
    fn scrub(&self, body: &[u8]) -> String {
        let text = String::from_utf8_lossy(body);
        match self.inner.key.as_ref().map(|k| k.expose()) {
            Some(key) if !key.is_empty() => text.replace(key, "<redacted>"),
            _ => text.into_owned(),
        }
    }

    /// The start of a body for an error message, scrubbed of the key.
    pub(crate) fn excerpt(&self, body: &[u8]) -> String {
        // Scrub before cutting, so no prefix of the key survives at the cut.
        self.scrub(body).chars().take(EXCERPT_CHARS).collect()
    }
}

/// Reads a whole body; on failure returns what arrived before it.
async fn read_all(mut response: Response) -> Result<Vec<u8>, (reqwest::Error, Vec<u8>)> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => return Ok(body),
            Err(e) => return Err((e, body)),
        }
    }
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

fn header_request_id(headers: &HeaderMap) -> Option<String> {
    header_str(headers, "x-fal-request-id").map(str::to_owned)
}

/// Finds `"request_id": "<id>"` in a possibly cut-off JSON text.
pub(crate) fn find_request_id(text: &str) -> Option<String> {
    let after_key = &text[text.find("\"request_id\"")? + "\"request_id\"".len()..];
    let after_colon = after_key.trim_start().strip_prefix(':')?.trim_start();
    let value = after_colon.strip_prefix('"')?;
    let end = value.find('"')?;
    let id = &value[..end];
    (!id.is_empty() && !id.contains('\\')).then(|| id.to_owned())
}

#[cfg(test)]
mod tests {
    use super::find_request_id;

    #[test]
    fn request_id_found_in_cut_json_only_when_complete() {
        assert_eq!(
            find_request_id(r#"{"status":"IN_QUEUE", "request_id" : "abc-1", "resp"#).as_deref(),
            Some("abc-1")
        );
        assert_eq!(find_request_id(r#"{"request_id": "abc-"#), None);
        assert_eq!(find_request_id(r#"{"status":"IN_QUEUE""#), None);
    }
}
