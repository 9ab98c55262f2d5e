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

/// How a failed attempt is followed by the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Counted against `max_retries`; the next attempt comes after the backoff (with jitter) or
    /// the server's `Retry-After`, up to `max_retry_after`.
    Backoff,
    /// Counted, but the next attempt comes at once: the failure is fixed by what the attempt
    /// itself changed (a refused storage token, dropped so the next attempt fetches a new one).
    Now,
    /// Neither counted nor waited for: not a failure of the service (a status stream that only
    /// stayed silent; the next connection comes at once).
    Free,
}

/// One failed attempt, as [`Retries`] sees it: the error to return if it is the last, the
/// scrubbed reason for the log line, and the server's `Retry-After`.
#[derive(Debug)]
pub(crate) struct Failed<E> {
    pub error: E,
    /// What went wrong, for the log line: scrubbed of every secret by the caller.
    pub reason: String,
    pub retry_after: Option<Duration>,
    pub wait: Wait,
    /// What failed, in the log line: `"{label}{what} failed"` (default `attempt`).
    pub what: &'static str,
    /// Bytes received so far (downloads), logged as `received`.
    pub received: Option<u64>,
}

impl<E> Failed<E> {
    /// A counted failure that waits the backoff (or `retry_after`).
    pub(crate) fn new(error: E, reason: impl Into<String>) -> Self {
        Failed {
            error,
            reason: reason.into(),
            retry_after: None,
            wait: Wait::Backoff,
            what: "attempt",
            received: None,
        }
    }

    pub(crate) fn retry_after(mut self, retry_after: Option<Duration>) -> Self {
        self.retry_after = retry_after;
        self
    }

    pub(crate) fn wait(mut self, wait: Wait) -> Self {
        self.wait = wait;
        self
    }

    pub(crate) fn what(mut self, what: &'static str) -> Self {
        self.what = what;
        self
    }

    pub(crate) fn received(mut self, bytes: u64) -> Self {
        self.received = Some(bytes);
        self
    }
}

/// The one retry driver of the crate: every retry loop (queue calls, storage token and
/// uploads, downloads, the status stream's reconnects) counts its attempts, decides, logs and
/// waits here, by one [`RetryPolicy`]. A loop keeps what is its own (what an attempt is, which
/// answers its [`RetryUse`] retries, the paid-call rule, a download's resume), and hands each
/// failure to [`back_off`](Self::back_off) (or [`decide`](Self::decide) when it has something
/// to do between the decision and the wait):
///
/// - failure number `n` (counted, see [`Wait`]) is the last when `n > max_retries`;
/// - otherwise the wait is the backoff (exponential, capped, with jitter) or the server's
///   `Retry-After`; a `Retry-After` longer than `max_retry_after` makes it the last;
/// - each failure is logged at `warn`: `"{label}{what} failed; retrying"` with `attempt`,
///   `retry_in_ms` and the reason, or `"{label}{what} failed"` with `giving_up = true` for the
///   last. A failure a loop will not retry on its own rule (an ambiguous paid call) is logged
///   as the last through [`give_up`](Self::give_up).
#[derive(Debug)]
pub(crate) struct Retries<'p> {
    policy: &'p RetryPolicy,
    label: &'static str,
    /// Counted failures since the start (or the last [`reset`](Self::reset)).
    failures: u32,
}

impl<'p> Retries<'p> {
    /// `label` prefixes the log lines (`"storage: "`, `"download: "`; `""` for queue calls).
    pub(crate) fn new(policy: &'p RetryPolicy, label: &'static str) -> Self {
        Retries {
            policy,
            label,
            failures: 0,
        }
    }

    /// The number of the attempt under way (1-based): counted failures so far, plus one.
    pub(crate) fn attempt(&self) -> u32 {
        self.failures + 1
    }

    /// Starts the count of consecutive failures afresh (an attempt made progress).
    pub(crate) fn reset(&mut self) {
        self.failures = 0;
    }

    /// Counts `failed` and decides: `Ok(wait)` to try again after `wait` (not yet waited), or
    /// `Err(error)` when it was the last. Logs the failure either way.
    pub(crate) fn decide<E>(&mut self, failed: Failed<E>) -> Result<Duration, E> {
        let attempt = self.attempt();
        let wait = match failed.wait {
            Wait::Free => Some(Duration::ZERO),
            Wait::Now | Wait::Backoff => {
                self.failures += 1;
                if attempt > self.policy.max_retries {
                    None
                } else if failed.wait == Wait::Now {
                    Some(Duration::ZERO)
                } else {
                    self.policy.delay(attempt, failed.retry_after)
                }
            }
        };
        self.log(attempt, &failed, wait);
        wait.ok_or(failed.error)
    }

    /// [`decide`](Self::decide), then waits: `Ok(())` to try again, `Err(error)` when it was
    /// the last.
    pub(crate) async fn back_off<E>(&mut self, failed: Failed<E>) -> Result<(), E> {
        let wait = self.decide(failed)?;
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        Ok(())
    }

    /// A failure the loop does not retry on its own rule (a paid call whose request may have
    /// reached fal): logged as the last attempt; its error.
    pub(crate) fn give_up<E>(&self, failed: Failed<E>) -> E {
        self.log(self.attempt(), &failed, None);
        failed.error
    }

    fn log<E>(&self, attempt: u32, failed: &Failed<E>, wait: Option<Duration>) {
        let (label, what, reason) = (self.label, failed.what, &failed.reason);
        match wait {
            // Not a failure of the service: worth a line, not a warning.
            Some(_) if failed.wait == Wait::Free => tracing::info!(
                attempt,
                received = failed.received,
                reason = %reason,
                "{label}{what} failed; retrying"
            ),
            Some(wait) => tracing::warn!(
                attempt,
                received = failed.received,
                retry_in_ms = wait.as_millis() as u64,
                reason = %reason,
                "{label}{what} failed; retrying"
            ),
            None => tracing::warn!(
                attempt,
                received = failed.received,
                giving_up = true,
                reason = %reason,
                "{label}{what} failed"
            ),
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
    fn the_driver_counts_backs_off_honours_retry_after_and_gives_up() {
        let p = RetryPolicy::default()
            .max_retries(2)
            .initial_backoff(Duration::from_millis(100))
            .jitter(false)
            .max_retry_after(Duration::from_secs(5));
        let mut r = Retries::new(&p, "");
        assert_eq!(r.attempt(), 1);
        // A silent stream: neither counted nor waited for.
        assert_eq!(
            r.decide(Failed::new((), "").wait(Wait::Free)),
            Ok(Duration::ZERO)
        );
        assert_eq!(r.attempt(), 1);
        // A counted failure waits the backoff; `Retry-After` wins over it.
        assert_eq!(
            r.decide(Failed::new((), "")),
            Ok(Duration::from_millis(100))
        );
        assert_eq!(r.attempt(), 2);
        let ra = Some(Duration::from_secs(3));
        assert_eq!(
            r.decide(Failed::new((), "").retry_after(ra)),
            Ok(Duration::from_secs(3))
        );
        // Past max_retries: the error, even for a failure retried at once.
        assert_eq!(r.decide(Failed::new(7, "").wait(Wait::Now)), Err(7));
        // Progress starts the count afresh; a refused token is retried at once, counted.
        r.reset();
        assert_eq!(
            r.decide(Failed::new((), "").wait(Wait::Now)),
            Ok(Duration::ZERO)
        );
        assert_eq!(r.attempt(), 2);
        // A `Retry-After` past max_retry_after ends the retries at once.
        let mut r = Retries::new(&p, "");
        let ra = Some(Duration::from_secs(6));
        assert_eq!(r.decide(Failed::new(1, "").retry_after(ra)), Err(1));
        assert_eq!(Retries::new(&p, "").give_up(Failed::new(2, "")), 2);
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
