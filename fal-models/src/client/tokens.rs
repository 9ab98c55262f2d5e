//! Temporary tokens: a short-lived JWT, minted with the key on a server (`POST {rest}/tokens/`
//! with `{allowed_apps, token_expiration}`), that lets code which must not hold the key (a
//! browser, a phone, a sandbox) call the listed apps until it expires.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fal_models::Error> {
//! use std::time::Duration;
//! // On the server, with the key:
//! let server = fal_models::Client::from_env()?;
//! let token = server.mint_token(&["fal-ai/flux-krea-lora"], Duration::from_secs(120)).await?;
//! // Elsewhere, without the key:
//! let client = fal_models::Client::builder().temporary_token(token).build()?;
//! let out = client.stream_json("fal-ai/flux-krea-lora", serde_json::json!({"prompt": "a fox"}))
//!     .output().await?;
//! # Ok(()) }
//! ```
//!
//! A token client sends the token as fal's own clients do, as the `fal_jwt_token` query
//! parameter, on streaming calls ([`Client::stream`]); that is the HTTP mode fal's JS and Python
//! clients use tokens for. Queue and `run` calls of a token client carry no credentials.

use std::fmt;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::transport::Call;
use super::{Client, ClientBuilder, KeySource};
use crate::error::{Error, Operation, Redactor};

/// fal's clients mint realtime and browser-stream tokens for 120 s.
pub const DEFAULT_TOKEN_EXPIRATION: Duration = Duration::from_secs(120);

/// A temporary fal token (a JWT). Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct TemporaryToken(String);

impl TemporaryToken {
    /// Wraps a token received from your server.
    pub fn new(token: impl Into<String>) -> Self {
        TemporaryToken(token.into())
    }

    /// The token itself, to hand to the code that will use it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for TemporaryToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TemporaryToken(<redacted>)")
    }
}

/// The part of an endpoint id fal's token service names an app by: the alias
/// (`fal-ai/flux/dev` is `flux`), as fal's clients send it.
pub fn app_alias(endpoint_id: &str) -> &str {
    let mut parts = endpoint_id.trim_matches('/').split('/');
    let first = parts.next().unwrap_or_default();
    parts.next().unwrap_or(first)
}

impl ClientBuilder {
    /// Authenticates with a temporary token instead of a key (see [`crate::client::tokens`]).
    /// The client then holds no key.
    pub fn temporary_token(mut self, token: TemporaryToken) -> Self {
        self.key = KeySource::Without;
        self.token = Some(token);
        self
    }
}

impl Client {
    /// The temporary token this client was built with, if any.
    pub(crate) fn temporary_token(&self) -> Option<&TemporaryToken> {
        self.inner.token.as_ref()
    }

    /// Mints a temporary token for these apps (endpoint ids or `owner/alias`), valid for
    /// `expiration` (whole seconds, at least one). Needs the key.
    pub async fn mint_token(
        &self,
        apps: &[&str],
        expiration: Duration,
    ) -> Result<TemporaryToken, Error> {
        if self.inner.authorization.is_none() {
            return Err(Error::MissingKey);
        }
        if apps.is_empty() {
            return Err(Error::Config("a token needs at least one app".into()));
        }
        let seconds = expiration.as_secs().max(1);
        let allowed: Vec<&str> = apps.iter().map(|a| app_alias(a)).collect();
        let body = serde_json::to_vec(&serde_json::json!({
            "allowed_apps": allowed,
            "token_expiration": seconds,
        }))
        .expect("a JSON object serializes");
        let call = Call {
            op: Operation::Token,
            method: Method::POST,
            url: format!("{}/tokens/", self.inner.rest_url),
            body: Some(body),
            headers: Vec::new(),
            request_id: None,
            paid_endpoint: None,
            bounds: self.inner.bounds,
            secrets: Redactor::default(),
            maybe_delivered: Default::default(),
        };
        let reply = self.call(&call).await?;
        let decode_error = |source| Error::Decode {
            operation: Operation::Token,
            request_id: None,
            status: reply.status,
            source,
            // The answer is a secret: never quote it.
            body_excerpt: String::new(),
        };
        let value: Value = serde_json::from_slice(&reply.body).map_err(decode_error)?;
        // A bare JSON string; older proxies wrap it as `{"detail": ..}`, some as `{"token": ..}`.
        let token = match &value {
            Value::String(t) => Some(t.clone()),
            Value::Object(map) => ["token", "detail"]
                .iter()
                .find_map(|k| map.get(*k).and_then(Value::as_str).map(str::to_owned)),
            _ => None,
        };
        match token.filter(|t| !t.is_empty()) {
            Some(token) => Ok(TemporaryToken(token)),
            None => Err(decode_error(serde::de::Error::custom(
                "expected the token as a JSON string",
            ))),
        }
    }
}
