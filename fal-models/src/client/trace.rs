//! `tracing` spans and events of the client. Nothing is recorded unless the application
//! installs a subscriber. Fields never hold the key, a temporary token or a secret input: URLs
//! are logged without their query (where a token or webhook URL may sit), and failure texts go
//! through the call's redactor.
//!
//! Spans: `fal.call` per HTTP exchange with its retries (`op`, `path`, `request_id`),
//! `fal.stream` per streaming call. Events: `sending` (with `attempt`) at debug, a failed
//! attempt at warn with `retry_in_ms` or `giving_up`, timeouts and stream ends at debug.

use std::time::Duration;

use tracing::Span;

use super::Client;
use super::transport::Call;
use crate::http::trace::url_path;

/// The span of one exchange (all its attempts).
pub(crate) fn call_span(call: &Call) -> Span {
    tracing::info_span!(
        "fal.call",
        op = %call.op,
        path = url_path(&call.url),
        endpoint_id = call.paid_endpoint.as_deref(),
        request_id = call.request_id.as_deref(),
    )
}

/// A failed attempt: retried after `delay`, or the last one.
pub(crate) fn attempt_failed(
    client: &Client,
    call: &Call,
    attempt: u32,
    reason: &str,
    delay: Option<Duration>,
) {
    let reason = client.redactor(call).scrub(reason);
    match delay {
        Some(delay) => tracing::warn!(
            attempt,
            retry_in_ms = delay.as_millis() as u64,
            reason = %reason,
            "attempt failed; retrying"
        ),
        None => tracing::warn!(attempt, giving_up = true, reason = %reason, "attempt failed"),
    }
}
