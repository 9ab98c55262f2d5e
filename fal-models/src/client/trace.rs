//! `tracing` spans and events of the client. Nothing is recorded unless the application
//! installs a subscriber. Fields never hold the key, a temporary token or a secret input: URLs
//! are logged without their query (where a token or webhook URL may sit), and failure texts go
//! through the call's redactor.
//!
//! Spans: `fal.call` per HTTP exchange with its retries (`op`, `path`, `request_id`),
//! `fal.stream` per streaming call. Events: `sending` (with `attempt`) at debug, a failed
//! attempt at warn with `retry_in_ms` or `giving_up` (logged by the retry driver,
//! [`Retries`](crate::http::retry::Retries)), timeouts and stream ends at debug.

use tracing::Span;

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
