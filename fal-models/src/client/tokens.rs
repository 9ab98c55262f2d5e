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
use crate::error::{Error, Operation};
use crate::http::protocol::app_alias;
use crate::http::redact::Redactor;

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

/// The future a [`TokenProvider`] returns.
pub type TokenFuture = futures::future::BoxFuture<'static, Result<TemporaryToken, Error>>;

/// Where temporary tokens come from when the client holds no key: an async closure (your
/// backend, which mints tokens with the key) called with the app and path the token is for,
/// such as `fal-ai/fast-lcm-diffusion/realtime` (fal-js's `tokenProvider`). With a lifetime,
/// a realtime session fetches the next token at 90 % of it, keeping its socket; without one it
/// fetches again only when fal refuses the token.
#[derive(Clone)]
pub struct TokenProvider {
    fetch: std::sync::Arc<dyn Fn(String) -> TokenFuture + Send + Sync>,
    lifetime: Option<Duration>,
}

impl fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenProvider")
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

impl TokenProvider {
    /// A provider whose tokens live `lifetime` (`None`: unknown, no scheduled refresh).
    pub fn new<F, Fut>(lifetime: Option<Duration>, fetch: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<TemporaryToken, Error>> + Send + 'static,
    {
        TokenProvider {
            fetch: std::sync::Arc::new(move |app| Box::pin(fetch(app))),
            lifetime: lifetime.filter(|d| !d.is_zero()),
        }
    }

    /// The lifetime its tokens are refreshed by.
    pub fn lifetime(&self) -> Option<Duration> {
        self.lifetime
    }

    /// Asks for a token for `app` (endpoint id and path).
    pub fn fetch(&self, app: &str) -> TokenFuture {
        (self.fetch)(app.to_owned())
    }
}

/// fal-js refreshes at 90 % of a token's lifetime and, after a failed refresh, tries again
/// after 5 % of it (realtime.ts, `scheduleTokenRefresh`).
#[cfg(feature = "realtime")]
const REFRESH_AT: f64 = 0.9;
#[cfg(feature = "realtime")]
const RETRY_AFTER: f64 = 0.05;

/// One session's token: fetched from a [`TokenProvider`], reused until 90 % of its lifetime
/// or until fal refuses it.
#[cfg(feature = "realtime")]
pub(crate) struct TokenCache {
    provider: TokenProvider,
    app: String,
    current: tokio::sync::Mutex<Option<(TemporaryToken, tokio::time::Instant)>>,
    /// When the next scheduled refresh is due (`None`: no lifetime, or no token yet).
    next_refresh: std::sync::Mutex<Option<tokio::time::Instant>>,
}

#[cfg(feature = "realtime")]
impl TokenCache {
    pub(crate) fn new(provider: TokenProvider, app: impl Into<String>) -> Self {
        TokenCache {
            provider,
            app: app.into(),
            current: Default::default(),
            next_refresh: Default::default(),
        }
    }

    /// The token to connect with: the current one unless `fresh` or near its end.
    pub(crate) async fn token(&self, fresh: bool) -> Result<TemporaryToken, Error> {
        let mut current = self.current.lock().await;
        let renew_after = self.provider.lifetime.map(|l| l.mul_f64(REFRESH_AT));
        if let Some((token, at)) = &*current {
            if !fresh && renew_after.is_none_or(|r| at.elapsed() < r) {
                return Ok(token.clone());
            }
        }
        let token = self.provider.fetch(&self.app).await?;
        self.store(&mut current, token.clone());
        Ok(token)
    }

    /// The scheduled refresh: a new token for the next connection, the socket untouched. A
    /// failure is retried after 5 % of the lifetime; the current token stays in use.
    pub(crate) async fn refresh(&self) {
        let Some(lifetime) = self.provider.lifetime else {
            return;
        };
        match self.provider.fetch(&self.app).await {
            Ok(token) => {
                let mut current = self.current.lock().await;
                self.store(&mut current, token);
                tracing::debug!(app = %self.app, "token refreshed before its expiry");
            }
            Err(e) => {
                tracing::warn!(app = %self.app, error = %e, "token refresh failed; retrying");
                *lock(&self.next_refresh) =
                    Some(tokio::time::Instant::now() + lifetime.mul_f64(RETRY_AFTER));
            }
        }
    }

    /// When [`refresh`](Self::refresh) is due.
    pub(crate) fn next_refresh(&self) -> Option<tokio::time::Instant> {
        *lock(&self.next_refresh)
    }

    fn store(
        &self,
        current: &mut Option<(TemporaryToken, tokio::time::Instant)>,
        token: TemporaryToken,
    ) {
        let now = tokio::time::Instant::now();
        *current = Some((token, now));
        *lock(&self.next_refresh) = self.provider.lifetime.map(|l| now + l.mul_f64(REFRESH_AT));
    }
}

#[cfg(feature = "realtime")]
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl ClientBuilder {
    /// Authenticates with a temporary token instead of a key (see [`crate::client::tokens`]).
    /// The client then holds no key.
    pub fn temporary_token(mut self, token: TemporaryToken) -> Self {
        self.key = KeySource::Without;
        self.token = Some(token);
        self
    }

    /// Authenticates with tokens from `provider` instead of a key: realtime sessions and
    /// streaming calls ask it for a token for their app (see [`TokenProvider`]). The client
    /// then holds no key.
    pub fn token_provider(mut self, provider: TokenProvider) -> Self {
        self.key = KeySource::Without;
        self.token_provider = Some(provider);
        self
    }
}

impl Client {
    /// The temporary token this client was built with, if any.
    pub(crate) fn temporary_token(&self) -> Option<&TemporaryToken> {
        self.inner.token.as_ref()
    }

    /// Where this client's tokens for `app` come from: its [`TokenProvider`], its temporary
    /// token (no lifetime known), or tokens minted with its key (or through its proxy) for
    /// 120 s, as fal's clients mint them.
    pub(crate) fn token_source(&self) -> Result<TokenProvider, Error> {
        if let Some(provider) = &self.inner.token_provider {
            return Ok(provider.clone());
        }
        if let Some(token) = self.temporary_token() {
            let token = token.clone();
            return Ok(TokenProvider::new(None, move |_| {
                let token = token.clone();
                async move { Ok(token) }
            }));
        }
        if !self.can_mint() {
            return Err(Error::MissingKey);
        }
        let client = self.clone();
        Ok(TokenProvider::new(
            Some(DEFAULT_TOKEN_EXPIRATION),
            move |app| {
                let client = client.clone();
                async move { client.mint_token(&[&app], DEFAULT_TOKEN_EXPIRATION).await }
            },
        ))
    }

    /// A key, or a proxy that adds one (fal-js sends `/tokens/` through its proxy: auth.ts
    /// `getTemporaryAuthToken` uses `dispatchRequest`, which routes through `proxyUrl`).
    fn can_mint(&self) -> bool {
        self.inner.authorization.is_some() || self.inner.proxy_url.is_some()
    }

    /// Mints a temporary token for these apps (endpoint ids or `owner/alias`), valid for
    /// `expiration` (whole seconds, at least one). Needs the key, or a proxy
    /// ([`ClientBuilder::proxy_url`]) that adds it.
    pub async fn mint_token(
        &self,
        apps: &[&str],
        expiration: Duration,
    ) -> Result<TemporaryToken, Error> {
        if !self.can_mint() {
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
