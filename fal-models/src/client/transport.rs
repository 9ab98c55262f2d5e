//! One HTTP exchange with fal, retried by the policy, with failures turned into typed errors.

use reqwest::header::{self, HeaderMap};
use reqwest::{Method, Response};
use serde_json::Value;

use super::Client;
use crate::error::{ApiError, Error, FieldError, Operation, TimeoutKind};
use crate::http::bounds::{self, Bounds, ExchangeFault, Watch};
use crate::http::protocol::{
    ERROR_TYPE_HEADER, REQUEST_ID_HEADER, REQUEST_TIMEOUT_TYPE_HEADER, TARGET_URL_HEADER,
};
use crate::http::redact::Redactor;
use crate::http::retry::{Failed, PaidRetry, Retries, RetryUse, paid_retry, parse_retry_after};

/// The longest body excerpt an error carries.
pub(crate) const EXCERPT_CHARS: usize = 512;

/// The largest queue answer read whole (status with all logs, a result with inline data URIs).
pub(crate) const MAX_QUEUE_BODY: u64 = 64 << 20;

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
    /// idempotent: a replay after the request reached fal's app can start a second (paid) job.
    pub paid_endpoint: Option<String>,
    /// The time bounds of each attempt.
    pub bounds: Bounds,
    /// Secrets of this call besides the key (secret input values), scrubbed from its errors.
    pub secrets: Redactor,
    /// Set when an attempt failed after its request may have reached the server (so a later
    /// answer may describe the effect of that earlier attempt: a cancel's `ALREADY_COMPLETED`).
    pub maybe_delivered: std::sync::atomic::AtomicBool,
}

/// A successful answer with its whole body.
pub(crate) struct Reply {
    pub status: u16,
    /// `x-fal-request-id` of the answer (scrubbed), read for paid calls only (a sync run
    /// returns it with the output).
    pub request_id: Option<String>,
    pub body: Vec<u8>,
}

enum Success {
    Body(Reply),
    /// The answer, its body unread, with the watch its head came under.
    Open(Response, Watch),
}

/// A failed attempt that may be retried.
enum Failure {
    Transport(ExchangeFault),
    Status(Box<ApiError>),
}

impl Client {
    /// Sends `call` (retrying per policy) and reads the whole body of the successful answer.
    pub(crate) async fn call(&self, call: &Call) -> Result<Reply, Error> {
        use tracing::Instrument;
        match self
            .execute(call, true)
            .instrument(super::trace::call_span(call))
            .await?
        {
            Success::Body(reply) => Ok(reply),
            Success::Open(..) => unreachable!("execute reads the body when asked to"),
        }
    }

    /// Sends `call` (retrying per policy) and returns the successful answer with its body unread,
    /// and the watch its head came under, for the reading of the body to go on with.
    pub(crate) async fn open(&self, call: &Call) -> Result<(Response, Watch), Error> {
        use tracing::Instrument;
        match self
            .execute(call, false)
            .instrument(super::trace::call_span(call))
            .await?
        {
            Success::Open(response, watch) => Ok((response, watch)),
            Success::Body(_) => unreachable!("execute leaves the body unread when asked to"),
        }
    }

    async fn execute(&self, call: &Call, read_body: bool) -> Result<Success, Error> {
        let policy = &self.inner.retry;
        let mut retries = Retries::new(policy, "");
        loop {
            let attempt = retries.attempt();
            tracing::debug!(attempt, "sending");
            let failure = match self.send_once(call, read_body).await {
                Err(e) => Failure::Transport(e),
                Ok((response, watch)) if response.status().is_success() => {
                    let status = response.status().as_u16();
                    if !read_body {
                        return Ok(Success::Open(response, watch));
                    }
                    let request_id = match call.paid_endpoint {
                        Some(_) => header_request_id(response.headers(), &self.redactor(call)),
                        None => None,
                    };
                    let limit = MAX_QUEUE_BODY;
                    match bounds::read_body_by(response, &call.bounds, limit, watch).await {
                        Ok(body) => {
                            return Ok(Success::Body(Reply {
                                status,
                                request_id,
                                body,
                            }));
                        }
                        Err((ExchangeFault::TooLarge(limit), _)) => {
                            return Err(Error::BodyTooLarge {
                                operation: call.op,
                                request_id: call.request_id.clone().or(request_id),
                                limit,
                            });
                        }
                        Err((e, partial)) if call.paid_endpoint.is_some() => {
                            let head = (status, request_id);
                            return self.salvage_paid_reply(call, &retries, head, e, partial);
                        }
                        Err((e, _)) => Failure::Transport(e),
                    }
                }
                // Boxed, as the back-off below: failures are rare, and inline their futures
                // would add to the size of every call's future, which is copied as it is built.
                Ok((response, watch)) => {
                    Box::pin(self.failed_status(call, response, watch, &retries, attempt)).await?
                }
            };

            // A paid call whose request may have reached fal is only replayed on opt-in.
            let failure = match failure {
                Failure::Transport(e)
                    if call.paid_endpoint.is_some()
                        && !e.never_sent()
                        && !policy.retry_ambiguous_submits =>
                {
                    return Err(self.ambiguous(call, &retries, None, e));
                }
                Failure::Transport(ExchangeFault::TooLarge(limit)) => {
                    return Err(Error::BodyTooLarge {
                        operation: call.op,
                        request_id: call.request_id.clone(),
                        limit,
                    });
                }
                other => other,
            };
            // A retryable status may come from behind the app after it acted (a gateway's
            // 503 after the cancel went through): like a lost answer, it leaves the effect
            // unknown.
            let delivered = match &failure {
                Failure::Transport(e) => !e.never_sent(),
                Failure::Status(_) => true,
            };
            if delivered {
                call.maybe_delivered
                    .store(true, std::sync::atomic::Ordering::Relaxed);
            }
            let retry_after = match &failure {
                Failure::Status(api) => api.retry_after,
                Failure::Transport(_) => None,
            };
            let reason = self.redactor(call).scrub(&failure_text(&failure));
            let error = match failure {
                Failure::Status(api) => Error::Api(api),
                Failure::Transport(e) => self.transport_error(call, e),
            };
            Box::pin(retries.back_off(Failed::new(error, reason).retry_after(retry_after))).await?;
        }
    }

    /// An answer with a failure status: the typed error when it ends the call (not retried,
    /// or a paid call whose outcome it leaves unknown), else the failure to retry.
    async fn failed_status(
        &self,
        call: &Call,
        response: Response,
        watch: Watch,
        retries: &Retries<'_>,
        attempt: u32,
    ) -> Result<Failure, Error> {
        let policy = &self.inner.retry;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // An error body is only read for its excerpt: 1 MiB is plenty.
        let body = bounds::read_body_by(response, &call.bounds, 1 << 20, watch)
            .await
            .unwrap_or_else(|(_, partial)| partial);
        if status == 504 && header_str(&headers, REQUEST_TIMEOUT_TYPE_HEADER) == Some("user") {
            return Err(Error::Timeout {
                kind: TimeoutKind::StartDeadline,
                request_id: call
                    .request_id
                    .clone()
                    .or_else(|| header_request_id(&headers, &self.redactor(call))),
                cancelled: false,
            });
        }
        let api = self.api_error(call, status, &headers, &body);
        let retry_use = match call.paid_endpoint {
            Some(_) => RetryUse::Paid,
            None => RetryUse::Read,
        };
        if !retry_use.retries_status(status) {
            return Err(Error::Api(Box::new(api)));
        }
        // A paid call is resent only when the answer proves the request was stopped
        // before fal's app (see `paid_retry`).
        if call.paid_endpoint.is_some()
            && !policy.retry_ambiguous_submits
            && paid_retry(status, &headers, &body) == PaidRetry::OutcomeUnknown
        {
            let reason = self
                .redactor(call)
                .scrub(&format!("HTTP {}: {}", api.status, api.message));
            let error = self.ambiguous_status(call, attempt, &headers, &api);
            return Err(retries.give_up(Failed::new(error, reason)));
        }
        Ok(Failure::Status(Box::new(api)))
    }

    /// One attempt. An answer to be read whole gets the total bound as a deadline, watched
    /// with its head and body under one timer (see [`bounds::send_for_whole`]); an answer
    /// handed on unread keeps reqwest's own timeout, which covers its body wherever it is read.
    async fn send_once(
        &self,
        call: &Call,
        whole: bool,
    ) -> Result<(Response, Watch), ExchangeFault> {
        // The request is moved into the send, which hands it to reqwest before its future
        // exists: nothing keeps room for it in this future while the answer is awaited.
        let request = self.build_request(call)?;
        let http = &self.inner.http;
        if whole {
            bounds::send_for_whole(http, request, &call.bounds).await
        } else {
            bounds::send_open(http, request, &call.bounds).await
        }
    }

    /// The request of one attempt, with the client's headers and the call's.
    fn build_request(&self, call: &Call) -> Result<reqwest::Request, ExchangeFault> {
        let inner = &self.inner;
        let (url, target) = super::proxy::route(inner, &call.url);
        // The request is built once and its headers set in place: each header added through
        // the builder moves the whole request. A header that does not parse (rare: a user's
        // own) still goes through the builder, which reports it when the request is built.
        let mut builder = inner.http.request(call.method.clone(), url);
        let mut target_value = None;
        if let Some(target) = target {
            match header::HeaderValue::from_str(target) {
                Ok(value) => target_value = Some(value),
                Err(_) => builder = builder.header(TARGET_URL_HEADER, target),
            }
        }
        let mut given = Vec::with_capacity(call.headers.len());
        for (name, value) in &call.headers {
            match (
                header::HeaderName::from_bytes(name.as_bytes()),
                header::HeaderValue::from_str(value),
            ) {
                (Ok(name), Ok(value)) => given.push((name, value)),
                _ => builder = builder.header(*name, value),
            }
        }
        let mut request = builder.build().map_err(ExchangeFault::Transport)?;
        let headers = request.headers_mut();
        headers.append(header::USER_AGENT, inner.user_agent.clone());
        if let Some(target) = target_value {
            headers.append(TARGET_URL_HEADER, target);
            for (name, value) in &inner.proxy_headers {
                headers.append(name, value.clone());
            }
        }
        if !call.headers.iter().any(|(name, _)| *name == "accept") {
            headers.append(
                header::ACCEPT,
                header::HeaderValue::from_static("application/json"),
            );
        }
        if let Some(auth) = &inner.authorization {
            headers.append(header::AUTHORIZATION, auth.clone());
        }
        // One value per name, the last given winning: a user header named like a typed one
        // (`PlatformOptions::header("x-fal-no-retry", ..)`) replaces it instead of doubling it.
        for (name, value) in given {
            headers.insert(name, value);
        }
        if let Some(body) = &call.body {
            headers.append(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("application/json"),
            );
            *request.body_mut() = Some(body.clone().into());
        }
        Ok(request)
    }

    /// A paid call got a success status but its body broke off: the job exists (and is paid).
    /// A submit whose request id can be read from what arrived keeps it (the caller rebuilds the
    /// URLs from it); otherwise, submit and sync run alike, the error says the job was accepted,
    /// with the status and the head's request id, rather than run it again.
    fn salvage_paid_reply(
        &self,
        call: &Call,
        retries: &Retries<'_>,
        (status, request_id): (u16, Option<String>),
        error: ExchangeFault,
        partial: Vec<u8>,
    ) -> Result<Success, Error> {
        if call.op == Operation::Submit {
            if let Some(id) = find_request_id(&String::from_utf8_lossy(&partial)) {
                let id = self.redactor(call).scrub(&id);
                let body = serde_json::to_vec(&serde_json::json!({ "request_id": id }))
                    .expect("a JSON object serializes");
                return Ok(Success::Body(Reply {
                    status,
                    request_id,
                    body,
                }));
            }
        }
        Err(self.ambiguous(call, retries, Some((status, request_id)), error))
    }

    /// The error of a paid call whose outcome is unknown: the request was sent and then its
    /// connection failed, before a head (`accepted` `None`) or after a success head. Logged as
    /// the last attempt, like any failed attempt that is not retried.
    fn ambiguous(
        &self,
        call: &Call,
        retries: &Retries<'_>,
        accepted: Option<(u16, Option<String>)>,
        fault: ExchangeFault,
    ) -> Error {
        let attempts = retries.attempt();
        let reason = self.redactor(call).scrub(&fault.to_string());
        let (status, request_id) = match &accepted {
            Some((status, id)) => (Some(*status), id.clone()),
            None => (None, None),
        };
        let error = Error::AmbiguousSubmit {
            endpoint_id: call.paid_endpoint.clone().unwrap_or_default(),
            attempts,
            accepted: accepted.is_some(),
            status,
            request_id,
            headers: Vec::new(),
            reason: reason.clone(),
            // A reqwest error prints its URL, which may hold a temporary token.
            source: match fault {
                ExchangeFault::Transport(e) => Some(e.without_url()),
                _ => None,
            },
        };
        retries.give_up(Failed::new(error, reason))
    }

    fn ambiguous_status(
        &self,
        call: &Call,
        attempts: u32,
        headers: &HeaderMap,
        api: &ApiError,
    ) -> Error {
        let redactor = self.redactor(call);
        Error::AmbiguousSubmit {
            endpoint_id: call.paid_endpoint.clone().unwrap_or_default(),
            attempts,
            accepted: false,
            status: Some(api.status),
            request_id: api.request_id.clone(),
            headers: scrubbed_headers(headers, &redactor),
            reason: api.message.clone(),
            source: None,
        }
    }

    fn transport_error(&self, call: &Call, fault: ExchangeFault) -> Error {
        let kind = match &fault {
            ExchangeFault::HeadTimeout => Some(TimeoutKind::ResponseHead),
            ExchangeFault::IdleTimeout => Some(TimeoutKind::Idle),
            f if f.is_timeout() => Some(TimeoutKind::Http),
            _ => None,
        };
        if let Some(kind) = kind {
            return Error::Timeout {
                kind,
                request_id: call.request_id.clone(),
                cancelled: false,
            };
        }
        match fault {
            ExchangeFault::Transport(source) => Error::Transport {
                operation: call.op,
                request_id: call.request_id.clone(),
                source,
            },
            ExchangeFault::TooLarge(limit) => Error::BodyTooLarge {
                operation: call.op,
                request_id: call.request_id.clone(),
                limit,
            },
            ExchangeFault::HeadTimeout
            | ExchangeFault::IdleTimeout
            | ExchangeFault::TotalTimeout => {
                unreachable!("timeouts are handled above")
            }
        }
    }

    /// The client's redactor with the call's own secrets added.
    pub(crate) fn redactor(&self, call: &Call) -> Redactor {
        self.inner.redactor.merged(&call.secrets)
    }

    /// Decodes fal's error answer: `{"detail": "text"}`, `{"detail": [{"loc", "msg", "type"}]}`,
    /// or anything else (kept as an excerpt).
    fn api_error(&self, call: &Call, status: u16, headers: &HeaderMap, body: &[u8]) -> ApiError {
        let redactor = self.redactor(call);
        let text = redactor.scrub(&String::from_utf8_lossy(body));
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
        let error_type = header_str(headers, ERROR_TYPE_HEADER)
            .map(|t| redactor.scrub(t))
            .or_else(|| {
                json.as_ref()
                    .and_then(|j| j.get("error_type"))
                    .and_then(Value::as_str)
                    .map(|t| redactor.scrub(t))
            });
        // Decoding undoes escapes the scrubber could not see (`\u0041`): scrub the decoded text too.
        let message = redactor.scrub(&message);
        for field in &mut fields {
            field.msg = redactor.scrub(&field.msg);
            field.kind = redactor.scrub(&field.kind);
            for segment in &mut field.loc {
                if let crate::error::LocSegment::Key(key) = segment {
                    *key = redactor.scrub(key);
                }
            }
            if field.ctx.as_ref().is_some_and(|c| {
                let text = c.to_string();
                redactor.scrub(&text) != text
            }) {
                field.ctx = None;
            }
        }
        ApiError {
            operation: call.op,
            status,
            error_type,
            request_id: call
                .request_id
                .clone()
                .or_else(|| header_request_id(headers, &redactor)),
            message,
            fields,
            retry_after: header_str(headers, "retry-after").and_then(parse_retry_after),
            body_excerpt: excerpt,
        }
    }

    /// The start of a body for an error message, scrubbed of every secret of the client and
    /// of the call.
    pub(crate) fn excerpt_for(&self, call: &Call, body: &[u8]) -> String {
        self.redactor(call).excerpt(body, EXCERPT_CHARS)
    }
}

/// What went wrong in an attempt, for a log line (scrubbed by the caller).
fn failure_text(failure: &Failure) -> String {
    match failure {
        Failure::Transport(fault) => fault.to_string(),
        Failure::Status(api) => format!("HTTP {}: {}", api.status, api.message),
    }
}

/// Response headers as text, each value scrubbed.
fn scrubbed_headers(headers: &HeaderMap, redactor: &Redactor) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), redactor.header(v)))
        .collect()
}

pub(crate) fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The `x-fal-request-id` of an answer, scrubbed: it is shown in errors, spans and handles, and a
/// server may echo anything in it.
pub(crate) fn header_request_id(headers: &HeaderMap, redactor: &Redactor) -> Option<String> {
    header_str(headers, REQUEST_ID_HEADER).map(|id| redactor.scrub(id))
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

    /// An id recovered from a cut-off answer is one a later status call can use: never empty,
    /// never one cut at an escaped quote (its end is not known without decoding the string).
    #[test]
    fn request_id_never_recovered_empty_or_cut_at_an_escape() {
        assert_eq!(find_request_id(r#"{"request_id": "", "status"#), None);
        assert_eq!(find_request_id(r#"{"request_id": "ab\"cd", "st"#), None);
        assert_eq!(
            find_request_id(r#"{"request_id":"abc""#).as_deref(),
            Some("abc")
        );
    }
}
