//! HTTP GET with retries on transient failures (connection errors, timeouts, a body cut short,
//! 429 and 5xx), reading the whole body before anything is written.

use std::time::Duration;

use reqwest::blocking::Client;
use reqwest::header::{AUTHORIZATION, HeaderValue, RETRY_AFTER};

/// A blocking client with the retry policy of `cargo xtask fetch`.
pub struct Http {
    client: Client,
    attempts: u32,
    first_delay: Duration,
}

/// A complete response.
pub struct Response {
    /// HTTP status code.
    pub status: u16,
    /// The whole body.
    pub body: Vec<u8>,
}

/// Longest wait honoured from a `Retry-After` header.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

impl Http {
    /// A client: `attempts` tries per request, waiting `first_delay`, then twice as long, ...
    pub fn new(attempts: u32, first_delay: Duration, timeout: Duration) -> anyhow::Result<Http> {
        let client = Client::builder()
            .timeout(timeout)
            .user_agent(concat!("fal-models-xtask/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Http {
            client,
            attempts: attempts.max(1),
            first_delay,
        })
    }

    /// GETs `url` (with `Authorization: Key <key>` when given). Returns the final response,
    /// whatever its status, or the last transport error once the attempts are spent.
    pub fn get(&self, url: &reqwest::Url, key: Option<&str>) -> anyhow::Result<Response> {
        let mut delay = self.first_delay;
        let mut attempt = 1;
        loop {
            let outcome = self.once(url, key);
            let retry_after = match &outcome {
                Ok((response, _)) if !transient(response.status) => return outcome.map(|(r, _)| r),
                Ok((_, retry_after)) => *retry_after,
                Err(_) => None,
            };
            if attempt >= self.attempts {
                return match outcome {
                    Ok((response, _)) => Ok(response),
                    Err(err) => Err(err.context(format!("after {attempt} attempts"))),
                };
            }
            std::thread::sleep(retry_after.map_or(delay, |r| r.min(MAX_RETRY_AFTER).max(delay)));
            delay *= 2;
            attempt += 1;
        }
    }

    fn once(
        &self,
        url: &reqwest::Url,
        key: Option<&str>,
    ) -> anyhow::Result<(Response, Option<Duration>)> {
        let mut request = self.client.get(url.clone());
        if let Some(key) = key {
            let mut value = HeaderValue::from_str(&format!("Key {key}"))?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        let response = request
            .send()
            .map_err(|e| anyhow::anyhow!("GET {}: {}", redact(url), chain(&e)))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        // A connection dropped mid-body fails here: the caller never sees a partial body.
        let body = response
            .bytes()
            .map_err(|e| anyhow::anyhow!("GET {}: reading the body: {}", redact(url), chain(&e)))?;
        Ok((
            Response {
                status,
                body: body.to_vec(),
            },
            retry_after,
        ))
    }
}

fn transient(status: u16) -> bool {
    matches!(status, 408 | 429 | 500 | 502 | 503 | 504)
}

/// The URL without its query (endpoint lists can be long; cursors are noise).
fn redact(url: &reqwest::Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.to_string()
}

/// An error with its sources (reqwest's own message hides the cause).
fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
