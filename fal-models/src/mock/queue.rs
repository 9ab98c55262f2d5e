//! The queue protocol: submit, status (and its stream), result, cancel, and the sync run.
//!
//! Wire shapes and where they come from (fal's docs and the official clients' types):
//!
//! - Submit answer `{status: "IN_QUEUE", request_id, response_url, status_url, cancel_url,
//!   queue_position}`: fal's queue docs (<https://fal.ai/docs/model-endpoints/queue>) and the
//!   Python client, which reads the three URLs from it (`fal_client/client.py`, `submit`).
//! - Status answer and stream event: `status`, `request_id`, the three URLs (fal-js
//!   `types/common.ts` `BaseQueueStatus`, whose `isQueueStatus` tests `response_url`),
//!   `queue_position` while `IN_QUEUE`, `logs` always present: `null` unless logs were asked for
//!   (`?logs=1`), then a list (fal_client `_parse_status` reads `data["logs"]` for `IN_PROGRESS`
//!   and `COMPLETED`), `metrics: {inference_time}` once `COMPLETED` (fal-js `Metrics`), and
//!   `error` / `error_type` for a failed request (fal_client `Completed`).
//! - Log entry `{message, level, source: "USER", timestamp}`: fal-js `RequestLog`.
//! - Cancel: `202 {status: "CANCELLATION_REQUESTED"}`, `400 {status: "ALREADY_COMPLETED"}` and
//!   `404` for an unknown request: fal's cancel docs
//!   (<https://fal.ai/docs/inference-api/queue/cancel>, statuses `CANCELLATION_REQUESTED`,
//!   `ALREADY_COMPLETED`, `NOT_FOUND`; the status codes from the queue docs).
//! - `x-fal-request-id` on the answers (fal-js `response.ts` reads it into `result().requestId`;
//!   fal_client `_is_ingress_error` takes its presence as "this answer is fal's, not a proxy's").

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::http::{Response, header};
use serde_json::{Value, json};

use super::{
    EndpointSpec, Fault, JobFailure, State, detail, json_response, lock, start_deadline_response,
};
use crate::error::Operation;
use crate::http::protocol::{ERROR_TYPE_HEADER, REQUEST_ID_HEADER, queue_app_path};

pub(super) struct Job {
    pub(super) endpoint_id: String,
    pub(super) output: Value,
    pub(super) step: usize,
    pub(super) queue_steps: usize,
    pub(super) progress_steps: usize,
    pub(super) cancelled: bool,
    pub(super) failure: Option<JobFailure>,
}

impl Job {
    pub(super) fn completed(&self) -> bool {
        self.cancelled || self.step >= self.queue_steps + self.progress_steps
    }

    /// The status at the current step, with log lines from `first_log` on; advances one step.
    /// Returns the answer, the number of log lines so far and whether the job is done.
    fn observe(
        &mut self,
        queue_url: &str,
        request_id: &str,
        logs: bool,
        first_log: usize,
    ) -> (Value, usize, bool) {
        let completed = self.completed();
        let (status, log_count) = if completed {
            let ran = self.step.saturating_sub(self.queue_steps);
            let count = if self.cancelled {
                ran.min(self.progress_steps)
            } else {
                self.progress_steps
            };
            ("COMPLETED", count)
        } else if self.step < self.queue_steps {
            ("IN_QUEUE", 0)
        } else {
            ("IN_PROGRESS", self.step - self.queue_steps + 1)
        };
        let base = request_url(queue_url, &self.endpoint_id, request_id);
        let mut body = json!({
            "status": status,
            "request_id": request_id,
            "response_url": base,
            "status_url": format!("{base}/status"),
            "cancel_url": format!("{base}/cancel"),
            "logs": Value::Null,
        });
        if status == "IN_QUEUE" {
            body["queue_position"] = json!(self.queue_steps - 1 - self.step);
        }
        if logs {
            let lines: Vec<Value> = (first_log.min(log_count)..log_count)
                .map(|i| log_entry(i, self.progress_steps))
                .collect();
            body["logs"] = Value::Array(lines);
        }
        if completed {
            body["metrics"] = json!({ "inference_time": 0.01 });
            if self.cancelled {
                body["error"] = json!("Request was cancelled");
                body["error_type"] = json!("request_cancelled");
            } else if let Some(failure) = &self.failure {
                body["error"] = json!(failure.message);
                body["error_type"] = json!(failure.error_type);
            }
        } else {
            self.step += 1;
        }
        (body, log_count, completed)
    }
}

/// One log line as fal writes it (fal-js `RequestLog`: `source` is `"USER"`).
fn log_entry(i: usize, of: usize) -> Value {
    json!({
        "message": format!("mock: step {} of {of}", i + 1),
        "level": "INFO",
        "source": "USER",
        "timestamp": format!("2026-01-01T00:00:{:02}.000000", i % 60),
    })
}

/// `{queue}/{owner}/{alias}/requests/{id}`: fal serves requests under `owner/alias` only.
pub(super) fn request_url(queue_url: &str, endpoint_id: &str, request_id: &str) -> String {
    format!(
        "{queue_url}/{}/requests/{request_id}",
        queue_app_path(endpoint_id)
    )
}

/// A fresh request id, in the UUID layout fal uses.
pub(super) fn new_request_id(state: &State) -> String {
    let n = state.next_id.fetch_add(1, Ordering::Relaxed);
    format!(
        "{n:08x}-6d6f-636b-0000-{:012x}",
        n.wrapping_mul(0x9e37_79b9) & 0xffff_ffff_ffff
    )
}

fn validation_response(errors: &[crate::error::FieldError]) -> Response<Body> {
    json_response(422, &json!({ "detail": errors }))
}

/// The input of a paid call (submit, run, stream) that fal would accept: valid JSON that
/// passes the endpoint's input schema. Otherwise the answer fal gives: 404 for an unknown app
/// (`name` as the caller spelled it), 422 for a body that is not JSON or is invalid.
pub(super) fn accepted_input<'a>(
    spec: Option<&'a Arc<EndpointSpec>>,
    name: &str,
    body: &[u8],
) -> Result<(&'a Arc<EndpointSpec>, Value), Box<Response<Body>>> {
    let Some(spec) = spec else {
        return Err(Box::new(detail(
            404,
            &format!("Application '{name}' not found"),
        )));
    };
    let input = parse_input(body)?;
    let errors = spec.validate(&input);
    if !errors.is_empty() {
        return Err(Box::new(validation_response(&errors)));
    }
    Ok((spec, input))
}

/// The request body as JSON, or fal's 422 for a body that is not JSON.
pub(super) fn parse_input(body: &[u8]) -> Result<Value, Box<Response<Body>>> {
    serde_json::from_slice(body).map_err(|e| {
        Box::new(json_response(
            422,
            &json!({ "detail": [{
                "loc": ["body"], "msg": format!("JSON decode error: {e}"), "type": "json_invalid"
            }]}),
        ))
    })
}

/// The `fal_webhook` query parameter, percent-decoded.
pub(super) fn webhook_param(query: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let value = pair.strip_prefix(crate::webhook::WEBHOOK_QUERY_PARAM)?;
        let value = value.strip_prefix('=')?;
        Some(percent_decode(value))
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    out.push(b);
                    i += 3;
                    continue;
                }
                out.push(b'%');
            }
            b'+' => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(super) fn submit(
    state: &Arc<State>,
    endpoint_id: &str,
    body: &[u8],
    query: &str,
    fault: Option<&Fault>,
) -> Response<Body> {
    let (spec, input) = match accepted_input(state.endpoints.get(endpoint_id), endpoint_id, body) {
        Ok(accepted) => accepted,
        Err(response) => return *response,
    };
    let request_id = new_request_id(state);
    let failure = match fault {
        Some(Fault::FailJob(failure)) => Some(failure.clone()),
        _ => None,
    };
    lock(&state.jobs).insert(
        request_id.clone(),
        Job {
            endpoint_id: endpoint_id.to_owned(),
            output: super::outputs::answer(state, spec, &input),
            step: 0,
            queue_steps: state.queue_steps,
            progress_steps: state.progress_steps,
            cancelled: false,
            failure,
        },
    );
    if let Some(url) = webhook_param(query) {
        super::webhooks::spawn_delivery(state.clone(), request_id.clone(), url);
    }
    let base = request_url(&state.queue_url, endpoint_id, &request_id);
    let mut response = json_response(
        200,
        &json!({
            "status": "IN_QUEUE",
            "request_id": request_id,
            "response_url": base,
            "status_url": format!("{base}/status"),
            "cancel_url": format!("{base}/cancel"),
            "queue_position": state.queue_steps.saturating_sub(1),
        }),
    );
    set_request_id(&mut response, &request_id);
    response
}

pub(super) fn set_request_id(response: &mut Response<Body>, request_id: &str) {
    if let Ok(value) = header::HeaderValue::from_str(request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
}

pub(super) fn run(state: &State, endpoint_id: &str, body: &[u8]) -> Response<Body> {
    let (spec, input) = match accepted_input(state.endpoints.get(endpoint_id), endpoint_id, body) {
        Ok(accepted) => accepted,
        Err(response) => return *response,
    };
    state.runs.fetch_add(1, Ordering::Relaxed);
    json_response(200, &super::outputs::answer(state, spec, &input))
}

/// The result answer of a finished job: its output, or its failure as fal sends it.
pub(super) fn result_response(job: &Job) -> Response<Body> {
    match &job.failure {
        Some(failure) if failure.start_deadline => start_deadline_response(),
        Some(failure) => {
            let mut response = json_response(failure.status, &json!({ "detail": failure.detail }));
            if let Some(kind) = failure
                .error_type
                .as_deref()
                .and_then(|t| header::HeaderValue::from_str(t).ok())
            {
                response.headers_mut().insert(ERROR_TYPE_HEADER, kind);
            }
            response
        }
        None => json_response(200, &job.output),
    }
}

pub(super) fn on_request(
    state: &Arc<State>,
    app: &str,
    request_id: &str,
    operation: Operation,
    logs: bool,
    stream_drop: bool,
) -> Response<Body> {
    let mut jobs = lock(&state.jobs);
    // fal serves requests under `owner/alias` only: the full endpoint path is a 404 there.
    let Some(job) = jobs
        .get_mut(request_id)
        .filter(|job| queue_app_path(&job.endpoint_id) == app)
    else {
        return detail(
            404,
            &format!("Request '{request_id}' not found under '{app}'"),
        );
    };
    match operation {
        Operation::Status => {
            json_response(200, &job.observe(&state.queue_url, request_id, logs, 0).0)
        }
        Operation::StatusStream => {
            drop(jobs);
            status_stream(state.clone(), request_id.to_owned(), logs, stream_drop)
        }
        Operation::Result => {
            if !job.completed() {
                return detail(400, "Request is still in progress");
            }
            if job.cancelled {
                return detail(400, "Request was cancelled");
            }
            result_response(job)
        }
        Operation::Cancel => {
            if job.completed() {
                json_response(400, &json!({ "status": "ALREADY_COMPLETED" }))
            } else {
                job.cancelled = true;
                json_response(202, &json!({ "status": "CANCELLATION_REQUESTED" }))
            }
        }
        _ => detail(405, "Method Not Allowed"),
    }
}

/// Server-sent events: one status per step (the first with all logs so far, or with
/// `stream_logs_since_open` only those written since the stream opened; later ones with new
/// lines only) until `COMPLETED`.
fn status_stream(
    state: Arc<State>,
    request_id: String,
    logs: bool,
    drop_early: bool,
) -> Response<Body> {
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<String, Infallible>>();
    tokio::spawn(async move {
        // Since open: the first event holds no line (those written up to it are before the
        // stream), later ones the new lines.
        let mut logs_sent = if state.stream_logs_since_open {
            usize::MAX
        } else {
            0
        };
        loop {
            let observed = lock(&state.jobs)
                .get_mut(&request_id)
                .map(|job| job.observe(&state.queue_url, &request_id, logs, logs_sent));
            let Some((event, log_count, completed)) = observed else {
                break;
            };
            logs_sent = log_count;
            if tx.unbounded_send(Ok(format!("data: {event}\n\n"))).is_err()
                || completed
                || drop_early
            {
                break;
            }
            if state.stream_interval.is_zero() {
                // A zero sleep still waits for the timer wheel (about 1 ms).
                tokio::task::yield_now().await;
            } else {
                tokio::time::sleep(state.stream_interval).await;
            }
        }
    });
    Response::builder()
        .status(200)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(rx))
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_param_is_percent_decoded() {
        assert_eq!(
            webhook_param("a=1&fal_webhook=http%3A%2F%2F127.0.0.1%3A9%2Fhook").as_deref(),
            Some("http://127.0.0.1:9/hook")
        );
        assert_eq!(webhook_param("fal_webhookx=1"), None);
        assert_eq!(percent_decode("100%"), "100%");
    }
}
