//! Webhook deliveries: when a submit carries `fal_webhook`, the job runs on its own (one step
//! per stream interval) and its result is POSTed to that URL, signed like fal signs it, with
//! retries.
//!
//! Format and headers (fal's webhook docs, <https://fal.ai/docs/model-endpoints/webhooks>, and
//! `src/webhook.rs`, which verifies them): body `{request_id, gateway_request_id, status: "OK",
//! payload}` or `{..., status: "ERROR", error, payload: {detail}}`; headers
//! `X-Fal-Webhook-Request-Id`, `-User-Id`, `-Timestamp` (Unix seconds) and `-Signature` (hex
//! Ed25519 over `request_id \n user_id \n timestamp \n hex(sha256(body))`). The mock's public
//! key is published as a JWKS at `{queue_url}/.well-known/jwks.json` (fal's is at
//! `https://rest.fal.ai/.well-known/jwks.json`).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ed25519_dalek::{Signer as _, SigningKey};
use serde_json::{Value, json};

use super::{State, lock};
use crate::webhook::{
    HEADER_REQUEST_ID, HEADER_SIGNATURE, HEADER_TIMESTAMP, HEADER_USER_ID, signed_message,
};

/// The user id the mock puts in `X-Fal-Webhook-User-Id`.
pub const MOCK_USER_ID: &str = "mock-user";

/// The mock's signing key and its key id.
pub(super) struct Signer {
    key: SigningKey,
}

impl Signer {
    /// A fresh key per server (derived from the clock and the process id: a mock's key need
    /// not be secret, only different from fal's).
    pub(super) fn new(seed: u64) -> Signer {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(format!("fal-mock signing key {seed}").as_bytes());
        Signer {
            key: SigningKey::from_bytes(&digest.into()),
        }
    }

    pub(super) fn verifying_key(&self) -> ed25519_dalek::VerifyingKey {
        self.key.verifying_key()
    }

    /// The JWKS document with the one public key (RFC 8037 `OKP` / `Ed25519`).
    pub(super) fn jwks(&self) -> Value {
        let x = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.key.verifying_key().as_bytes());
        json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": "fal-mock-1",
                           "use": "sig", "alg": "EdDSA" }] })
    }

    /// The four headers of a delivery of `body`.
    fn headers(&self, request_id: &str, body: &[u8]) -> Vec<(&'static str, String)> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            .to_string();
        let message = signed_message(request_id, MOCK_USER_ID, &timestamp, body);
        let signature = hex::encode(self.key.sign(message.as_bytes()).to_bytes());
        vec![
            (HEADER_REQUEST_ID, request_id.to_owned()),
            (HEADER_USER_ID, MOCK_USER_ID.to_owned()),
            (HEADER_TIMESTAMP, timestamp),
            (HEADER_SIGNATURE, signature),
        ]
    }
}

/// One attempt to deliver a webhook.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct WebhookAttempt {
    /// The request the delivery is about.
    pub request_id: String,
    /// Where it was sent.
    pub url: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    /// Why the attempt failed without an answer, or why it was not made.
    pub error: Option<String>,
}

impl WebhookAttempt {
    /// Whether the receiver accepted the delivery (a 2xx answer).
    pub fn delivered(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Webhook settings of a mock server.
#[derive(Debug, Clone)]
pub(super) struct WebhookSettings {
    pub(super) retries: u32,
    pub(super) backoff: Duration,
    pub(super) any_host: bool,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        WebhookSettings {
            retries: 3,
            backoff: Duration::from_millis(100),
            any_host: false,
        }
    }
}

/// Whether `url` points at this machine (deliveries elsewhere need `any_host`).
fn is_loopback(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    let host = url.host_str().unwrap_or("");
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Runs the job to completion in the background and delivers its result to `url`.
pub(super) fn spawn_delivery(state: Arc<State>, request_id: String, url: String) {
    tokio::spawn(async move {
        // Advance the job as a status poller would, one step per interval.
        let body = loop {
            tokio::time::sleep(state.stream_interval.max(Duration::from_millis(1))).await;
            let mut jobs = lock(&state.jobs);
            let Some(job) = jobs.get_mut(&request_id) else {
                return;
            };
            if job.completed() {
                if job.cancelled {
                    return; // a cancelled request has no result to deliver
                }
                break delivery_body(&request_id, job);
            }
            job.step += 1;
        };
        deliver(&state, &request_id, &url, body).await;
    });
}

fn delivery_body(request_id: &str, job: &super::queue::Job) -> Vec<u8> {
    let body = match &job.failure {
        None => json!({ "request_id": request_id, "gateway_request_id": request_id,
                        "status": "OK", "payload": job.output }),
        Some(failure) => json!({ "request_id": request_id, "gateway_request_id": request_id,
                                 "status": "ERROR",
                                 "error": format!("Invalid status code: {}", failure.status),
                                 "payload": { "detail": failure.detail } }),
    };
    serde_json::to_vec(&body).expect("JSON serializes")
}

async fn deliver(state: &State, request_id: &str, url: &str, body: Vec<u8>) {
    let settings = &state.webhooks;
    let record = |attempt, status, error| {
        lock(&state.webhook_log).push(WebhookAttempt {
            request_id: request_id.to_owned(),
            url: url.to_owned(),
            attempt,
            status,
            error,
        });
    };
    if !settings.any_host && !is_loopback(url) {
        let why = "not delivered: not a loopback address (see `webhooks_to_any_host`)";
        record(0, None, Some(why.to_owned()));
        return;
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let mut backoff = settings.backoff;
    for attempt in 1..=settings.retries + 1 {
        // Signed afresh per attempt: the timestamp must stay within the receiver's tolerance.
        let mut request = http
            .post(url)
            .header("content-type", "application/json")
            .body(body.clone());
        for (name, value) in state.signer.headers(request_id, &body) {
            request = request.header(name, value);
        }
        match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                record(attempt, Some(status), None);
                if response.status().is_success() {
                    return;
                }
            }
            Err(e) => record(attempt, None, Some(e.without_url().to_string())),
        }
        if attempt <= settings.retries {
            tokio::time::sleep(backoff).await;
            backoff = backoff.saturating_mul(2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_jwks_holds_the_verifying_key() {
        let signer = Signer::new(7);
        let jwks = serde_json::to_vec(&signer.jwks()).unwrap();
        let keys = crate::webhook::parse_jwks(&jwks).unwrap();
        assert_eq!(keys, [signer.verifying_key()]);
    }

    #[test]
    fn only_loopback_receivers_by_default() {
        assert!(is_loopback("http://127.0.0.1:9/hook"));
        assert!(is_loopback("http://localhost/hook"));
        assert!(is_loopback("http://[::1]:8080/"));
        assert!(!is_loopback("https://hooks.example.com/done"));
        assert!(!is_loopback("not a url"));
    }
}
