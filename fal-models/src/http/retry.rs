//! When to retry, and how long to wait: exponential backoff with jitter, `Retry-After` honoured.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How the client retries failed HTTP exchanges.
///
/// Retried: transport errors (connection refused/reset, body cut short, HTTP timeouts),
/// `408`, `409`, `429` (waiting at least `Retry-After`) and the gateway errors `502`, `503`, `504`.
/// Never retried: the `504` fal sends when a request's start deadline passed
/// (`X-Fal-Request-Timeout-Type: user`), any other status, and undecodable bodies.
///
/// A submit (or sync run, or stream) is paid and not idempotent: it is resent only when the
/// failure proves the request never reached fal's app (a failed connect, nginx's own `503` page
/// without `x-fal-request-id`) or is a refusal (`429`, `408`, `409`, with or without a request
/// id, after `Retry-After`); see `paid_retry` in the source for the evidence. A connection that failed
/// *after* the request was sent, or a retryable status from behind the ingress, is ambiguous:
/// fal may have queued (and will bill) the job. It is not replayed unless
/// [`retry_ambiguous_submits`](Self::retry_ambiguous_submits) is set; the error is
/// [`Error::AmbiguousSubmit`](crate::Error::AmbiguousSubmit).
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub(crate) max_retries: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) multiplier: f64,
    pub(crate) jitter: bool,
    pub(crate) max_retry_after: Duration,
    pub(crate) retry_ambiguous_submits: bool,
}

impl Default for RetryPolicy {
    /// 3 retries, 500 ms doubling up to 10 s, with jitter, `Retry-After` up to 60 s,
    /// ambiguous submits not replayed.
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
            multiplier: 2.0,
            jitter: true,
            max_retry_after: Duration::from_secs(60),
            retry_ambiguous_submits: false,
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..Self::default()
        }
    }

    /// How many times a failed exchange is retried (so at most `n + 1` attempts).
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }

    /// The wait before the first retry.
    pub fn initial_backoff(mut self, d: Duration) -> Self {
        self.initial_backoff = d;
        self
    }

    /// The longest computed wait between retries (`Retry-After` may ask for more).
    pub fn max_backoff(mut self, d: Duration) -> Self {
        self.max_backoff = d;
        self
    }

    /// The growth factor of the wait between consecutive retries (at least 1).
    pub fn multiplier(mut self, m: f64) -> Self {
        self.multiplier = m.max(1.0);
        self
    }

    /// Whether each wait is randomised to between half and all of the computed backoff, so
    /// that many clients do not retry in lockstep.
    pub fn jitter(mut self, on: bool) -> Self {
        self.jitter = on;
        self
    }

    /// The longest `Retry-After` the client will wait; a longer one ends the retries with the
    /// `429`/`503` error (which carries the `Retry-After` fal asked for).
    pub fn max_retry_after(mut self, d: Duration) -> Self {
        self.max_retry_after = d;
        self
    }

    /// Replay a submit or sync run whose connection failed after the request was sent.
    /// This can start, and bill, the same job twice; off by default.
    pub fn retry_ambiguous_submits(mut self, on: bool) -> Self {
        self.retry_ambiguous_submits = on;
        self
    }

    /// The wait before retry number `retry` (1-based), before applying `Retry-After`.
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let exp = self.multiplier.powi(retry.saturating_sub(1).min(64) as i32);
        let base = self.initial_backoff.as_secs_f64() * exp;
        let capped = base.min(self.max_backoff.as_secs_f64());
        let secs = if self.jitter {
            // Equal jitter: keep half, randomise the other half.
            capped / 2.0 + capped / 2.0 * random_unit()
        } else {
            capped
        };
        Duration::from_secs_f64(secs.max(0.0))
    }

    /// The wait before retry number `retry`, honouring the server's `Retry-After`.
    /// `None` when the server asks for longer than [`max_retry_after`](Self::max_retry_after).
    pub(crate) fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Option<Duration> {
        match retry_after {
            Some(ra) if ra > self.max_retry_after => None,
            Some(ra) => Some(ra),
            None => Some(self.backoff(retry)),
        }
    }
}

/// What a retryable answer to a paid call (submit, sync run) says about the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PaidRetry {
    /// The request was provably stopped before fal's app: no job exists, resending is safe.
    NeverReachedApp,
    /// The request may have reached the app (a job may exist): resending could duplicate it.
    OutcomeUnknown,
}

/// Decides whether a retryable status on a paid call (submit, sync run, stream) may be resent.
///
/// - `429`, `408`, `409`: **resent whatever headers they carry**, after `Retry-After`. They are
///   refusals, not failures of a job: fal's rate limiter answers `429` without queueing (its
///   docs: the client retries `run` at the concurrency limit), and both official clients retry
///   them blindly (`fal_client/client.py` `RETRY_CODES = [408, 409, 429]`; fal-js
///   `libs/client/src/retry.ts` `DEFAULT_RETRYABLE_STATUS_CODES`).
/// - `503` that is nginx's own error page (see [`is_nginx_error_page`]) and carries no
///   `x-fal-request-id`: **resent**. Of the gateway statuses only `503` is one nginx gives
///   *before* forwarding: it is what `limit_req`/`limit_conn` refuse with. nginx's `502` and
///   `504` come both before forwarding (connect refused or timed out) and after it ("upstream
///   prematurely closed", "upstream timed out ... while reading response header"), and the page
///   is the same, so they prove nothing. fal's Python client (`_is_ingress_error`:
///   502/503/504, no `x-fal-request-id`, body mentions `nginx`) resends those too; we are
///   stricter, never looser.
/// - Everything else: **not resent** (the error is
///   [`Error::AmbiguousSubmit`](crate::Error::AmbiguousSubmit) with the status, the scrubbed
///   headers and the request id when there is one): a `5xx` with `x-fal-request-id` (fal's
///   Python client: "clearly returned from our server"), any JSON body, an HTML page that is not
///   nginx's, nginx's `502`/`504`.
///
/// Reads (status, result, cancel) are idempotent and ignore this rule.
pub(crate) fn paid_retry(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> PaidRetry {
    match status {
        408 | 409 | 429 => PaidRetry::NeverReachedApp,
        503 if !headers.contains_key(super::protocol::REQUEST_ID_HEADER)
            && is_nginx_error_page(status, headers, body) =>
        {
            PaidRetry::NeverReachedApp
        }
        _ => PaidRetry::OutcomeUnknown,
    }
}

/// Whether an answer is nginx's built-in error page for `status` (`ngx_http_special_response`):
/// `Content-Type: text/html`, a body that starts with `<html>`, a `<title>` that starts with the
/// status code, and the `<hr><center>nginx` signature line. A JSON body, or another server's
/// HTML, is not.
pub(crate) fn is_nginx_error_page(
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> bool {
    let html = headers
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().to_ascii_lowercase().starts_with("text/html"));
    let text = String::from_utf8_lossy(&body[..body.len().min(4096)]).to_ascii_lowercase();
    html && text.trim_start().starts_with("<html")
        && text.contains(&format!("<title>{status} "))
        && text.contains("<hr><center>nginx")
}

/// What an exchange is, for the one retry loop shape every part of the crate uses (attempt,
/// classify, wait [`RetryPolicy::delay`], again): each use has its own rule for which answers
/// are worth another attempt. Transport failures are retried by every use, except that a paid
/// call is further held to [`paid_retry`] and to a connect that provably failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetryUse {
    /// Status, result, cancel, the status stream's head: idempotent.
    Read,
    /// Submit, sync run, stream: paid and not idempotent.
    Paid,
    /// Storage token, upload, multipart parts and completion.
    Upload,
    /// Output file downloads (resumed with `Range`).
    Download,
}

impl RetryUse {
    /// Whether an answer with `status` is worth another attempt.
    pub(crate) fn retries_status(self, status: u16) -> bool {
        match self {
            // fal's refusals and the gateway statuses; any other status is fal's verdict.
            RetryUse::Read | RetryUse::Paid => matches!(status, 408 | 409 | 429 | 502 | 503 | 504),
            // Storage: any server error, a refusal, and 401/403 (the token is fetched anew).
            RetryUse::Upload => status >= 500 || matches!(status, 401 | 403 | 408 | 429),
            // A file host: any server error or a refusal.
            RetryUse::Download => status >= 500 || matches!(status, 408 | 429),
        }
    }
}

/// A uniform number in `[0, 1)`, from the std hasher's random keys: enough for jitter, no
/// dependency.
fn random_unit() -> f64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// Parses `Retry-After`: delay seconds (`"3"`, `"1.5"`) or an HTTP date
/// (`"Wed, 21 Oct 2015 07:28:00 GMT"`).
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = parse_http_date(value)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    Some(Duration::from_secs(at.saturating_sub(now)))
}

/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
fn parse_http_date(s: &str) -> Option<u64> {
    let mut parts = s.split_whitespace();
    let _weekday = parts.next()?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: i64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u64>());
    let (h, m, sec) = (hms.next()?.ok()?, hms.next()?.ok()?, hms.next()?.ok()?);
    if parts.next()? != "GMT" {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let (y, mo) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * mo + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + (h * 3600 + m * 60 + sec) as i64).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_seconds_and_dates() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after(" 0.25 "),
            Some(Duration::from_millis(250))
        );
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon"), None);
    }

    /// January and February count as months 11 and 12 of the year before (the civil-days
    /// algorithm's March-based year): a date in them lands on its own day, leap day included,
    /// next to the year's turn. (cargo mutants: the year offset of that branch survived.)
    #[test]
    fn http_dates_in_january_and_february_are_exact_to_the_second() {
        for (date, unix) in [
            ("Fri, 31 Dec 1999 23:59:59 GMT", 946_684_799),
            ("Sat, 01 Jan 2000 00:00:00 GMT", 946_684_800),
            ("Tue, 29 Feb 2000 12:34:56 GMT", 951_827_696),
            ("Wed, 01 Mar 2000 00:00:00 GMT", 951_868_800),
            ("Thu, 01 Feb 2024 23:59:59 GMT", 1_706_831_999),
        ] {
            assert_eq!(parse_http_date(date), Some(unix), "{date}");
        }
    }

    #[test]
    fn paid_calls_are_resent_on_refusals_and_nginx_503_without_a_request_id_only() {
        use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue};
        let page = |status: u16| {
            format!(
                "<html>\r\n<head><title>{status} X</title></head>\r\n<body>\r\n<center><h1>{status} X</h1></center>\r\n<hr><center>nginx/1.25.3</center>\r\n</body>\r\n</html>\r\n"
            )
        };
        let headers = |ct: &str, id: bool| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            if id {
                h.insert("x-fal-request-id", HeaderValue::from_static("r-1"));
            }
            h
        };
        let html = headers("text/html", false);
        use PaidRetry::{NeverReachedApp as Resend, OutcomeUnknown as Keep};
        assert_eq!(paid_retry(503, &html, page(503).as_bytes()), Resend);
        for status in [429, 408, 409] {
            for id in [false, true] {
                assert_eq!(
                    paid_retry(status, &headers("application/json", id), b"{}"),
                    Resend
                );
            }
        }
        // The request id, the status, the content type and the page itself are each needed.
        assert_eq!(
            paid_retry(503, &headers("text/html", true), page(503).as_bytes()),
            Keep
        );
        assert_eq!(paid_retry(502, &html, page(502).as_bytes()), Keep);
        assert_eq!(paid_retry(504, &html, page(504).as_bytes()), Keep);
        assert_eq!(
            paid_retry(
                503,
                &headers("application/json", false),
                page(503).as_bytes()
            ),
            Keep
        );
        assert_eq!(
            paid_retry(503, &html, page(502).as_bytes()),
            Keep,
            "another status's page"
        );
        assert_eq!(
            paid_retry(503, &html, br#"{"detail":"nginx said no"}"#),
            Keep
        );
        assert_eq!(
            paid_retry(503, &html, b"<html><h1>503</h1>Varnish</html>"),
            Keep
        );
        assert_eq!(paid_retry(500, &html, page(500).as_bytes()), Keep);
    }

    #[test]
    fn each_use_retries_its_own_statuses() {
        use RetryUse::*;
        for status in [408, 409, 429, 502, 503, 504] {
            assert!(
                Read.retries_status(status) && Paid.retries_status(status),
                "{status}"
            );
        }
        for status in [400, 401, 403, 404, 422, 500] {
            assert!(!Read.retries_status(status), "{status}");
        }
        for status in [401, 403, 408, 429, 500, 502, 503, 504, 599] {
            assert!(Upload.retries_status(status), "{status}");
        }
        for status in [408, 429, 500, 503] {
            assert!(Download.retries_status(status), "{status}");
        }
        for status in [401, 403, 404, 409, 416] {
            assert!(!Download.retries_status(status), "{status}");
        }
        assert!(!Upload.retries_status(404) && !Upload.retries_status(409));
    }

    #[test]
    fn backoff_grows_caps_and_jitters_within_half() {
        let p = RetryPolicy::default()
            .initial_backoff(Duration::from_millis(100))
            .max_backoff(Duration::from_millis(350))
            .jitter(false);
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(3), Duration::from_millis(350));
        let j = p.clone().jitter(true);
        for retry in 1..6 {
            // With jitter on, each wait lies in [half, all] of the computed backoff, and the
            // waits actually vary (jitter off would give 200 identical values).
            let full = p.backoff(retry);
            let waits: std::collections::BTreeSet<Duration> =
                (0..200).map(|_| j.backoff(retry)).collect();
            assert!(
                waits.len() > 100,
                "jitter varies the wait: {} distinct",
                waits.len()
            );
            let (lo, hi) = (*waits.first().unwrap(), *waits.last().unwrap());
            assert!(
                lo >= full / 2 && hi <= full,
                "{lo:?}..{hi:?} outside {full:?}/2..{full:?}"
            );
            // Both halves of the range are used.
            assert!(lo < full * 3 / 4 && hi > full * 3 / 4, "{lo:?}..{hi:?}");
        }
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(2))),
            Some(Duration::from_secs(2))
        );
        assert_eq!(p.delay(1, Some(Duration::from_secs(61))), None);
    }
}
