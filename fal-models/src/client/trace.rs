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

/// The path of a URL without scheme, host or query: `/fal-ai/flux/dev`.
pub(crate) fn url_path(url: &str) -> &str {
    let without_query = url.split(['?', '#']).next().unwrap_or_default();
    match without_query.find("://") {
        Some(i) => {
            let rest = &without_query[i + 3..];
            rest.find('/').map_or("/", |p| &rest[p..])
        }
        None => without_query,
    }
}

/// `text` with the query of every URL in it removed (`https://h/p?sig=x` -> `https://h/p?..`):
/// a signed download URL's signature, a token, stay out of logs.
pub(crate) fn without_queries(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_url = false;
    let mut skipping = false;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if !in_url && rest.starts_with("://") {
            in_url = true;
        }
        let ends_url = c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`');
        if ends_url {
            in_url = false;
            skipping = false;
        } else if in_url && c == '?' && !skipping {
            skipping = true;
            out.push_str("?..");
        }
        if !skipping {
            out.push(c);
        }
        rest = &rest[c.len_utf8()..];
    }
    out
}

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

#[cfg(test)]
mod tests {
    #[test]
    fn url_path_drops_host_and_query() {
        assert_eq!(
            super::url_path("https://fal.run/a/b?fal_jwt_token=x"),
            "/a/b"
        );
        assert_eq!(super::url_path("http://127.0.0.1:9/"), "/");
        assert_eq!(super::url_path("http://h"), "/");
    }

    #[test]
    fn without_queries_keeps_paths_and_drops_queries() {
        assert_eq!(
            super::without_queries("GET https://cdn/x.png?sig=abc&t=1 failed (is it there?)"),
            "GET https://cdn/x.png?.. failed (is it there?)"
        );
        assert_eq!(
            super::without_queries("\"http://h/a?k=v\" ok"),
            "\"http://h/a?..\" ok"
        );
    }
}
