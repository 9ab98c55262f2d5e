//! Webhook deliveries: the delivery type and verification of fal's Ed25519 signatures.
//!
//! Submit a request with the `fal_webhook` query parameter ([`WEBHOOK_QUERY_PARAM`]) and fal
//! `POST`s a [`Delivery`] to that URL when the request finishes. Before trusting it, verify it
//! with a [`Verifier`]:
//!
//! ```no_run
//! # async fn demo(headers: http::HeaderMap, body: bytes::Bytes) -> Result<(), Box<dyn std::error::Error>> {
//! use fal_models::webhook::Verifier;
//!
//! let verifier = Verifier::builder().build()?; // share it: it caches fal's keys
//! let delivery = verifier.verify_delivery(&headers, &body).await?;
//! // let output = delivery.output::<fal_models::fal_ai::flux::dev::Input>()?;
//! # Ok(()) }
//! ```
//!
//! The signature scheme: fal signs
//! `request_id + "\n" + user_id + "\n" + timestamp + "\n" + hex(sha256(raw body))` with Ed25519;
//! the first three come from the `X-Fal-Webhook-Request-Id`, `X-Fal-Webhook-User-Id` and
//! `X-Fal-Webhook-Timestamp` headers, the hex signature from `X-Fal-Webhook-Signature`. The
//! public keys are published as a JWKS at [`DEFAULT_JWKS_URL`]; a delivery is valid when the
//! signature verifies against any of them and the timestamp is within 300 s of now.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ed25519_dalek::{Signature, VerifyingKey};
use http::HeaderMap;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Endpoint;

/// The query parameter of a queue submission that names the webhook URL.
pub const WEBHOOK_QUERY_PARAM: &str = "fal_webhook";
/// Where fal publishes its webhook signing keys.
pub const DEFAULT_JWKS_URL: &str = "https://rest.fal.ai/.well-known/jwks.json";
/// Fetched keys are used for at most this long (24 h).
pub const MAX_JWKS_CACHE_AGE: Duration = Duration::from_secs(24 * 60 * 60);
/// A delivery whose timestamp is further than this from now is rejected (300 s).
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// Header: the id of the request the delivery is about.
pub const HEADER_REQUEST_ID: &str = "x-fal-webhook-request-id";
/// Header: the id of the user who submitted the request.
pub const HEADER_USER_ID: &str = "x-fal-webhook-user-id";
/// Header: when the delivery was signed, in seconds since the Unix epoch.
pub const HEADER_TIMESTAMP: &str = "x-fal-webhook-timestamp";
/// Header: the hex-encoded Ed25519 signature.
pub const HEADER_SIGNATURE: &str = "x-fal-webhook-signature";

/// If no key verifies a signature and the cached keys are older than this, they are fetched
/// again once (keys may have rotated).
const REFETCH_AFTER: Duration = Duration::from_secs(60);
/// A JWKS larger than this is rejected.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// Why a webhook delivery was rejected or could not be checked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// A required header is absent.
    #[error("webhook header {0} is missing")]
    MissingHeader(&'static str),
    /// A header is present but unusable.
    #[error("webhook header {header} is invalid: {reason}")]
    InvalidHeader {
        /// The header name.
        header: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The timestamp is too far from now (a replay, or a badly wrong clock).
    #[error(
        "webhook timestamp {timestamp} is {}s away from now ({now}); at most {tolerance_secs}s is accepted",
        timestamp.abs_diff(*now)
    )]
    StaleTimestamp {
        /// The timestamp of the delivery (Unix seconds).
        timestamp: i64,
        /// The current time (Unix seconds).
        now: i64,
        /// The tolerance in seconds.
        tolerance_secs: u64,
    },
    /// The signature does not verify against any key.
    #[error("webhook signature does not verify against any of the {keys} key(s) of the JWKS")]
    InvalidSignature {
        /// How many keys were tried.
        keys: usize,
    },
    /// The JWKS could not be fetched.
    #[error("fetching the webhook JWKS from {url}: {reason}")]
    JwksFetch {
        /// The JWKS URL.
        url: String,
        /// What failed.
        reason: String,
    },
    /// The JWKS is malformed or holds no usable Ed25519 key.
    #[error("invalid webhook JWKS ({origin}): {reason}")]
    InvalidJwks {
        /// Where it came from (its URL, or `static`).
        origin: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The (verified) body is not a delivery.
    #[error("the webhook body is not a fal delivery: {0}")]
    Body(#[source] serde_json::Error),
    /// The delivery (same request id and timestamp) was already verified by this verifier
    /// within the tolerance window: a replay (see [`VerifierBuilder::replay_guard`]).
    #[error(
        "webhook delivery for request {request_id} at {timestamp} was already received (replay)"
    )]
    Replayed {
        /// The request id of the delivery.
        request_id: String,
        /// Its timestamp (Unix seconds).
        timestamp: i64,
    },
    /// The verifier was configured with an unusable setting.
    #[error("invalid webhook verifier configuration: {0}")]
    Config(String),
}

// ---------------------------------------------------------------------------------------------
// Delivery

/// The outcome reported by a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeliveryStatus {
    /// The request completed; `payload` holds its output.
    #[serde(rename = "OK")]
    Ok,
    /// The request failed; `error` (and possibly `payload`) says why.
    #[serde(rename = "ERROR")]
    Error,
}

/// The body fal `POST`s to a webhook URL.
///
/// Parse it as `Delivery` (payload kept as JSON) and decode the payload with
/// [`output`](Delivery::output) or [`decode`](Delivery::decode); an `ERROR` delivery's payload
/// is error details, not the endpoint's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery<T = serde_json::Value> {
    /// The queue request id.
    pub request_id: String,
    /// The id of the underlying gateway request (differs from `request_id` when fal retried).
    #[serde(default)]
    pub gateway_request_id: Option<String>,
    /// `OK` or `ERROR`.
    pub status: DeliveryStatus,
    /// The output (`OK`) or error details (`ERROR`), if any.
    #[serde(default = "none")]
    pub payload: Option<T>,
    /// Why the request failed (`ERROR`).
    #[serde(default)]
    pub error: Option<String>,
    /// Set when the request succeeded but fal could not serialize its output.
    #[serde(default)]
    pub payload_error: Option<String>,
}

fn none<T>() -> Option<T> {
    None
}

/// Why a delivery does not yield an output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The request failed.
    #[error("request {request_id} failed: {}", error.as_deref().unwrap_or("(no error message)"))]
    Failed {
        /// The request id.
        request_id: String,
        /// fal's error message.
        error: Option<String>,
        /// Error details, if fal sent any.
        details: Option<serde_json::Value>,
    },
    /// The request succeeded but fal could not deliver its output.
    #[error(
        "request {request_id} completed but its payload could not be delivered: {payload_error}"
    )]
    PayloadError {
        /// The request id.
        request_id: String,
        /// fal's explanation.
        payload_error: String,
    },
    /// An `OK` delivery without a payload.
    #[error("request {request_id} completed but the delivery has no payload")]
    MissingPayload {
        /// The request id.
        request_id: String,
    },
    /// The payload does not match the endpoint's output type.
    #[error("decoding the payload of request {request_id} as the output of {endpoint}: {source}")]
    Decode {
        /// The request id.
        request_id: String,
        /// The endpoint id.
        endpoint: &'static str,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
}

impl<T> Delivery<T> {
    /// Whether the request completed successfully.
    pub fn is_ok(&self) -> bool {
        self.status == DeliveryStatus::Ok
    }
}

impl Delivery<serde_json::Value> {
    /// Parses a delivery body without verifying it (use [`Verifier::verify_delivery`] for
    /// untrusted input).
    pub fn from_slice(body: &[u8]) -> Result<Self, WebhookError> {
        serde_json::from_slice(body).map_err(WebhookError::Body)
    }

    fn check_ok(&self) -> Result<&serde_json::Value, DeliveryError> {
        let request_id = self.request_id.clone();
        if self.status == DeliveryStatus::Error {
            return Err(DeliveryError::Failed {
                request_id,
                error: self.error.clone(),
                details: self.payload.clone().filter(|p| !p.is_null()),
            });
        }
        if let Some(payload_error) = &self.payload_error {
            return Err(DeliveryError::PayloadError {
                request_id,
                payload_error: payload_error.clone(),
            });
        }
        self.payload
            .as_ref()
            .filter(|p| !p.is_null())
            .ok_or(DeliveryError::MissingPayload { request_id })
    }

    /// The typed output of endpoint `E` (pass the endpoint's `Input` type), or why there is
    /// none.
    pub fn output<E: Endpoint>(&self) -> Result<E::Output, DeliveryError> {
        let payload = self.check_ok()?;
        E::Output::deserialize(payload).map_err(|source| DeliveryError::Decode {
            request_id: self.request_id.clone(),
            endpoint: E::ENDPOINT_ID,
            source,
        })
    }

    /// Converts into a delivery whose payload is `E`'s typed output.
    ///
    /// An `ERROR` delivery converts with `payload: None` (read the details from `payload`
    /// before converting, or use [`output`](Self::output)); an `OK` delivery whose payload does
    /// not decode is an error.
    pub fn decode<E: Endpoint>(self) -> Result<Delivery<E::Output>, DeliveryError> {
        let payload = match (self.status, &self.payload) {
            (DeliveryStatus::Ok, Some(p)) if !p.is_null() => Some(self.output::<E>()?),
            _ => None,
        };
        Ok(Delivery {
            request_id: self.request_id,
            gateway_request_id: self.gateway_request_id,
            status: self.status,
            payload,
            error: self.error,
            payload_error: self.payload_error,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Verification

/// The signed message for a delivery: `request_id\nuser_id\ntimestamp\nhex(sha256(body))`.
pub fn signed_message(request_id: &str, user_id: &str, timestamp: &str, body: &[u8]) -> String {
    let digest = hex::encode(Sha256::digest(body));
    format!("{request_id}\n{user_id}\n{timestamp}\n{digest}")
}

/// The authenticated facts of a verified delivery, from its headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// `X-Fal-Webhook-Request-Id`.
    pub request_id: String,
    /// `X-Fal-Webhook-User-Id`.
    pub user_id: String,
    /// `X-Fal-Webhook-Timestamp` (Unix seconds).
    pub timestamp: i64,
}

/// Parses a JWKS document and returns its Ed25519 keys (`kty: OKP`, `crv: Ed25519`, `x`
/// base64url, padded or not). Keys of other types are skipped; a document without any usable
/// Ed25519 key is an error.
pub fn parse_jwks(json: &[u8]) -> Result<Vec<VerifyingKey>, WebhookError> {
    parse_jwks_from(json, "static")
}

fn parse_jwks_from(json: &[u8], origin: &str) -> Result<Vec<VerifyingKey>, WebhookError> {
    let invalid = |reason: String| WebhookError::InvalidJwks {
        origin: origin.to_string(),
        reason,
    };
    let doc: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let entries = doc
        .get("keys")
        .and_then(|k| k.as_array())
        .ok_or_else(|| invalid("no \"keys\" array".into()))?;
    let b64 = GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let mut keys = Vec::new();
    let mut skipped = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let field = |name: &str| entry.get(name).and_then(|v| v.as_str());
        if field("kty") != Some("OKP") || field("crv") != Some("Ed25519") {
            skipped.push(format!(
                "key {i}: kty {:?}, crv {:?} is not OKP/Ed25519",
                field("kty"),
                field("crv")
            ));
            continue;
        }
        let Some(x) = field("x") else {
            skipped.push(format!("key {i}: no \"x\""));
            continue;
        };
        let bytes = match b64.decode(x) {
            Ok(b) => b,
            Err(e) => {
                skipped.push(format!("key {i}: \"x\" is not base64url: {e}"));
                continue;
            }
        };
        let Ok(bytes) = <[u8; 32]>::try_from(bytes.as_slice()) else {
            skipped.push(format!("key {i}: \"x\" is {} bytes, not 32", bytes.len()));
            continue;
        };
        match VerifyingKey::from_bytes(&bytes) {
            Ok(k) => keys.push(k),
            Err(_) => skipped.push(format!("key {i}: not a valid Ed25519 public key")),
        }
    }
    if keys.is_empty() {
        let detail = if skipped.is_empty() {
            "the key set is empty".to_string()
        } else {
            skipped.join("; ")
        };
        return Err(invalid(format!("no usable Ed25519 key ({detail})")));
    }
    Ok(keys)
}

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

enum KeySource {
    Url(String),
    Static(Vec<VerifyingKey>),
}

struct CachedKeys {
    keys: Arc<Vec<VerifyingKey>>,
    fetched_at: SystemTime,
}

/// Builds a [`Verifier`]; see [`Verifier::builder`].
#[derive(Default)]
pub struct VerifierBuilder {
    jwks_url: Option<String>,
    keys: Option<Vec<VerifyingKey>>,
    http: Option<reqwest::Client>,
    cache_ttl: Option<Duration>,
    tolerance: Option<Duration>,
    clock: Option<Clock>,
    bounds: Option<crate::http::bounds::Bounds>,
    replay_guard: bool,
}

impl fmt::Debug for VerifierBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierBuilder")
            .field("jwks_url", &self.jwks_url)
            .field("static_keys", &self.keys.as_ref().map(Vec::len))
            .field("cache_ttl", &self.cache_ttl)
            .field("tolerance", &self.tolerance)
            .finish_non_exhaustive()
    }
}

impl VerifierBuilder {
    /// Fetches keys from this JWKS URL instead of [`DEFAULT_JWKS_URL`].
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = Some(url.into());
        self
    }
    /// Uses these keys and never fetches (tests, air-gapped receivers). See [`parse_jwks`].
    pub fn keys(mut self, keys: impl IntoIterator<Item = VerifyingKey>) -> Self {
        self.keys = Some(keys.into_iter().collect());
        self
    }
    /// The HTTP client used to fetch the JWKS.
    pub fn http(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }
    /// How long fetched keys are used; capped at [`MAX_JWKS_CACHE_AGE`] (the default).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = Some(ttl);
        self
    }
    /// How far the timestamp may be from now (default [`DEFAULT_TOLERANCE`]).
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = Some(tolerance);
        self
    }
    /// Replaces the wall clock (for tests).
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }
    /// The time bounds of the key fetch (default: connect, response head and idle 10 s,
    /// total 30 s). A hung key server ends in [`WebhookError::JwksFetch`] within them.
    pub fn bounds(mut self, bounds: crate::http::bounds::Bounds) -> Self {
        self.bounds = Some(bounds);
        self
    }
    /// Rejects a second delivery with the same request id and timestamp within the tolerance
    /// window ([`WebhookError::Replayed`]). Off by default.
    ///
    /// The threat: the signature covers the request id, user id, timestamp and body, so a
    /// captured delivery (from a proxy log, say) verifies again until its timestamp leaves the
    /// tolerance window (5 min by default). Without the guard, make your handler idempotent on
    /// the request id. The guard remembers deliveries in this process only (clones share it):
    /// behind several receiver instances, keep the request ids in shared storage instead.
    /// fal's retries of a failed delivery that reuse the timestamp are rejected too: answer
    /// the first one with a 2xx.
    pub fn replay_guard(mut self, on: bool) -> Self {
        self.replay_guard = on;
        self
    }

    /// Builds the verifier.
    pub fn build(self) -> Result<Verifier, WebhookError> {
        let source = match (self.keys, self.jwks_url) {
            (Some(_), Some(_)) => {
                return Err(WebhookError::Config(
                    "give either static keys or a JWKS URL, not both".into(),
                ));
            }
            (Some(keys), None) if keys.is_empty() => {
                return Err(WebhookError::Config("the static key set is empty".into()));
            }
            (Some(keys), None) => KeySource::Static(keys),
            (None, url) => {
                let url = url.unwrap_or_else(|| DEFAULT_JWKS_URL.to_string());
                reqwest::Url::parse(&url)
                    .map_err(|e| WebhookError::Config(format!("JWKS URL {url:?}: {e}")))?;
                KeySource::Url(url)
            }
        };
        Ok(Verifier {
            inner: Arc::new(VerifierInner {
                source,
                http: self.http.unwrap_or_default(),
                cache_ttl: self
                    .cache_ttl
                    .unwrap_or(MAX_JWKS_CACHE_AGE)
                    .min(MAX_JWKS_CACHE_AGE),
                tolerance: self.tolerance.unwrap_or(DEFAULT_TOLERANCE),
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemTime::now)),
                bounds: self.bounds.unwrap_or_else(|| {
                    let ten = Some(Duration::from_secs(10));
                    crate::http::bounds::Bounds::default()
                        .connect(ten)
                        .response_head(ten)
                        .idle(ten)
                        .total(Some(Duration::from_secs(30)))
                }),
                replay_guard: self.replay_guard.then(Default::default),
                cache: std::sync::Mutex::new(None),
                fetching: tokio::sync::Mutex::new(None),
                fetches: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }
}

/// Verifies webhook deliveries against fal's published keys. Cheap to clone; clones share the
/// key cache. Build one per process.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<VerifierInner>,
}

struct VerifierInner {
    source: KeySource,
    http: reqwest::Client,
    cache_ttl: Duration,
    tolerance: Duration,
    clock: Clock,
    bounds: crate::http::bounds::Bounds,
    /// Deliveries seen: (request id, timestamp) -> timestamp, pruned past the tolerance.
    replay_guard: Option<std::sync::Mutex<std::collections::HashMap<(String, i64), i64>>>,
    /// The cached keys: read without waiting for a fetch in flight.
    cache: std::sync::Mutex<Option<CachedKeys>>,
    /// Held while fetching: one fetch at a time (single flight), outside the cache lock. Holds
    /// the last failed fetch (when, and how), which whoever waited for it shares.
    fetching: tokio::sync::Mutex<Option<(tokio::time::Instant, WebhookError)>>,
    /// How many key fetches have ended (so a waiter knows one ended while it waited).
    fetches: std::sync::atomic::AtomicU64,
}

/// How long a failed key fetch is answered from memory to callers that did not wait for it.
const JWKS_NEGATIVE_TTL: Duration = Duration::from_secs(1);

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        let mut d = f.debug_struct("Verifier");
        match &i.source {
            KeySource::Url(u) => d.field("jwks_url", u),
            KeySource::Static(k) => d.field("static_keys", &k.len()),
        };
        d.field("cache_ttl", &i.cache_ttl)
            .field("tolerance", &i.tolerance)
            .finish_non_exhaustive()
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, WebhookError> {
    let value = headers.get(name).ok_or(WebhookError::MissingHeader(name))?;
    let value = value.to_str().map_err(|_| WebhookError::InvalidHeader {
        header: name,
        reason: "not visible ASCII".into(),
    })?;
    if value.is_empty() {
        return Err(WebhookError::MissingHeader(name));
    }
    Ok(value)
}

impl Verifier {
    /// Starts building a verifier (defaults: keys from [`DEFAULT_JWKS_URL`], cached 24 h,
    /// 300 s tolerance).
    pub fn builder() -> VerifierBuilder {
        VerifierBuilder::default()
    }

    /// Verifies a delivery's signature: `headers` as received (an `axum`/`http` header map)
    /// and the raw, unparsed body bytes.
    pub async fn verify(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, WebhookError> {
        let request_id = header(headers, HEADER_REQUEST_ID)?;
        let user_id = header(headers, HEADER_USER_ID)?;
        let timestamp_raw = header(headers, HEADER_TIMESTAMP)?;
        let signature_hex = header(headers, HEADER_SIGNATURE)?;

        let timestamp: i64 =
            timestamp_raw
                .trim()
                .parse()
                .map_err(|_| WebhookError::InvalidHeader {
                    header: HEADER_TIMESTAMP,
                    reason: "not an integer number of seconds".into(),
                })?;
        let now = unix_seconds((self.inner.clock)());
        if timestamp.abs_diff(now) > self.inner.tolerance.as_secs() {
            return Err(WebhookError::StaleTimestamp {
                timestamp,
                now,
                tolerance_secs: self.inner.tolerance.as_secs(),
            });
        }
        let signature =
            hex::decode(signature_hex.trim()).map_err(|e| WebhookError::InvalidHeader {
                header: HEADER_SIGNATURE,
                reason: format!("not hex: {e}"),
            })?;
        let signature = <[u8; 64]>::try_from(signature.as_slice()).map_err(|_| {
            WebhookError::InvalidHeader {
                header: HEADER_SIGNATURE,
                reason: format!("{} bytes, an Ed25519 signature has 64", signature.len()),
            }
        })?;
        let signature = Signature::from_bytes(&signature);
        let message = signed_message(request_id, user_id, timestamp_raw, body);

        let verified = Verified {
            request_id: request_id.to_string(),
            user_id: user_id.to_string(),
            timestamp,
        };
        let (keys, age) = self.keys(false).await?;
        if any_verifies(&keys, message.as_bytes(), &signature) {
            return self.check_replay(verified, now);
        }
        // Keys may have rotated since they were fetched: fetch once more, at most once a
        // minute (so forged signatures cannot make us hammer the key server).
        if matches!(self.inner.source, KeySource::Url(_)) && age > REFETCH_AFTER {
            let (keys, _) = self.keys(true).await?;
            if any_verifies(&keys, message.as_bytes(), &signature) {
                return self.check_replay(verified, now);
            }
            return Err(WebhookError::InvalidSignature { keys: keys.len() });
        }
        Err(WebhookError::InvalidSignature { keys: keys.len() })
    }

    /// With the replay guard on, rejects a (request id, timestamp) already seen.
    fn check_replay(&self, verified: Verified, now: i64) -> Result<Verified, WebhookError> {
        let Some(guard) = &self.inner.replay_guard else {
            return Ok(verified);
        };
        let mut seen = guard.lock().unwrap_or_else(|p| p.into_inner());
        let window = self.inner.tolerance.as_secs() as i64;
        seen.retain(|_, ts| ts.abs_diff(now) <= window as u64);
        let key = (verified.request_id.clone(), verified.timestamp);
        if seen.contains_key(&key) {
            return Err(WebhookError::Replayed {
                request_id: verified.request_id,
                timestamp: verified.timestamp,
            });
        }
        seen.insert(key, verified.timestamp);
        Ok(verified)
    }

    /// Verifies a delivery (see [`verify`](Self::verify)) and parses its body.
    pub async fn verify_delivery(
        &self,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Delivery, WebhookError> {
        self.verify(headers, body).await?;
        Delivery::from_slice(body)
    }

    /// The current keys and their age; fetched when absent, too old, or `refresh`.
    async fn keys(
        &self,
        refresh: bool,
    ) -> Result<(Arc<Vec<VerifyingKey>>, Duration), WebhookError> {
        let url = match &self.inner.source {
            KeySource::Static(keys) => return Ok((Arc::new(keys.clone()), Duration::ZERO)),
            KeySource::Url(url) => url,
        };
        if let Some(hit) = self.cached(refresh) {
            return Ok(hit);
        }
        // Single flight with the result shared: one fetch at a time; whoever waited finds the
        // fresh keys in the cache, or takes the failure of the fetch it waited for (so N
        // verifications against a silent key server end after one bound, not N in a row).
        // Verifications with usable cached keys never wait here.
        use std::sync::atomic::Ordering;
        let fetches_before = self.inner.fetches.load(Ordering::SeqCst);
        let mut failed = self.inner.fetching.lock().await;
        if let Some(hit) = self.cached(refresh) {
            return Ok(hit);
        }
        if let Some((at, e)) = failed.as_ref() {
            if self.inner.fetches.load(Ordering::SeqCst) != fetches_before
                || at.elapsed() < JWKS_NEGATIVE_TTL
            {
                return Err(e.shared_copy());
            }
        }
        let now = (self.inner.clock)();
        // On failure the old entry stays, but past its lifetime it is never used again.
        let fetched = self.fetch_jwks(url).await;
        self.inner.fetches.fetch_add(1, Ordering::SeqCst);
        let keys = match fetched {
            Ok(keys) => {
                *failed = None;
                Arc::new(keys)
            }
            Err(e) => {
                *failed = Some((tokio::time::Instant::now(), e.shared_copy()));
                return Err(e);
            }
        };
        *self.inner.cache.lock().unwrap_or_else(|p| p.into_inner()) = Some(CachedKeys {
            keys: keys.clone(),
            fetched_at: now,
        });
        Ok((keys, Duration::ZERO))
    }

    /// The cached keys and their age when usable: younger than the cache lifetime, or (for a
    /// `refresh` after a failed verification) fetched within the last minute.
    fn cached(&self, refresh: bool) -> Option<(Arc<Vec<VerifyingKey>>, Duration)> {
        let cache = self.inner.cache.lock().unwrap_or_else(|p| p.into_inner());
        let c = cache.as_ref()?;
        let now = (self.inner.clock)();
        // A clock that went backwards makes the age unknown: refetch.
        let age = now.duration_since(c.fetched_at).ok()?;
        let fresh_enough = if refresh {
            age <= REFETCH_AFTER
        } else {
            age < self.inner.cache_ttl
        };
        fresh_enough.then(|| (c.keys.clone(), age))
    }

    async fn fetch_jwks(&self, url: &str) -> Result<Vec<VerifyingKey>, WebhookError> {
        let fetch_err = |reason: String| WebhookError::JwksFetch {
            url: url.to_string(),
            reason,
        };
        use crate::http::bounds::{self, ExchangeFault};
        let describe = |fault: ExchangeFault| match fault {
            ExchangeFault::Transport(e) => e.without_url().to_string(),
            ExchangeFault::TooLarge(_) => format!("larger than {MAX_JWKS_BYTES} bytes"),
            other => other.to_string(),
        };
        let request = self
            .inner
            .http
            .get(url)
            .header(http::header::ACCEPT, "application/json");
        let resp = bounds::send(request, &self.inner.bounds)
            .await
            .map_err(|f| fetch_err(describe(f)))?;
        if !resp.status().is_success() {
            return Err(fetch_err(format!("server answered {}", resp.status())));
        }
        // The limit holds while reading, with or without Content-Length.
        let body = bounds::read_body(resp, &self.inner.bounds, MAX_JWKS_BYTES as u64)
            .await
            .map_err(|(f, _)| fetch_err(describe(f)))?;
        parse_jwks_from(&body, url)
    }
}

impl WebhookError {
    /// An equal error for a verification that shared a failed key fetch.
    fn shared_copy(&self) -> WebhookError {
        match self {
            WebhookError::JwksFetch { url, reason } => WebhookError::JwksFetch {
                url: url.clone(),
                reason: reason.clone(),
            },
            WebhookError::InvalidJwks { origin, reason } => WebhookError::InvalidJwks {
                origin: origin.clone(),
                reason: reason.clone(),
            },
            other => WebhookError::Config(other.to_string()),
        }
    }
}

fn any_verifies(keys: &[VerifyingKey], message: &[u8], signature: &Signature) -> bool {
    keys.iter()
        .any(|k| k.verify_strict(message, signature).is_ok())
}

fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}
