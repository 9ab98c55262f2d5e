//! A server-side proxy for fal's front-end clients (feature `proxy`): an axum handler speaking
//! the protocol of fal's `@fal-ai/server-proxy`, so a browser app using fal's JS client with
//! `proxyUrl` (or a Rust client with [`ClientBuilder::proxy_url`](crate::client::ClientBuilder::proxy_url))
//! can call fal without ever holding the key.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use fal_models::proxy::FalProxy;
//! let proxy = FalProxy::builder_from_env()? // FAL_KEY
//!     .allow_endpoints(["fal-ai/flux/**", "fal-ai/fast-sdxl"])
//!     // Your users' check: a session cookie, a bearer token, an API gateway's header.
//!     .authorize(|caller: &axum::http::request::Parts| {
//!         let ok = caller.headers.get("x-user-session").is_some();
//!         async move { ok }
//!     })?;
//! let app: axum::Router = axum::Router::new().route(
//!     fal_models::proxy::DEFAULT_PROXY_ROUTE,
//!     axum::routing::any(move |request| {
//!         let proxy = proxy.clone();
//!         async move { proxy.handle(request).await }
//!     }),
//! );
//! # let _ = app; Ok(()) }
//! ```
//!
//! Per request: the target is the `x-fal-target-url` header; only `https` URLs on fal's hosts
//! are forwarded (`fal.run`, `queue.fal.run`, and `rest.fal.ai/storage/upload/..`, as the
//! official proxy allows; more origins only when you add them); anything else is a 400 and
//! nothing is sent. The forwarded request carries the key, the caller's `x-fal-*` headers,
//! content type, accept and user agent, and `x-fal-client-proxy`; nothing else of the caller's
//! (never its cookies or its own `Authorization`). The answer comes back as it is, streamed
//! (server-sent events included).
//!
//! Who may spend your key is a choice the builder makes you take: it ends in
//! [`authorize`](FalProxyBuilder::authorize) (an async closure that sees the caller's request
//! head, `false` is a `401 Unauthorized`, as fal's `isAuthenticated`) or
//! [`allow_any_caller`](FalProxyBuilder::allow_any_caller) (fal's
//! `allowUnauthorizedRequests`, its default, which it warns about); there is no open default.
//! [`allow_endpoints`](FalProxyBuilder::allow_endpoints) restricts the endpoints (glob
//! patterns, `*` within a segment, `**` across; fal's `allowedEndpoints`): a POST's path must
//! match one (or be one with `/stream` after it), and a status, result or cancel URL must be
//! of an allowed app; a token minted through the proxy (`rest.fal.ai/tokens/`) may only name
//! apps of the list. Without a list every endpoint is allowed, as in fal's proxy.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::request::Parts;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use futures::future::BoxFuture;
use reqwest::Url;

use crate::error::Error;
use crate::http::protocol::TARGET_URL_HEADER;
use crate::http::protocol::app_alias;

/// The route fal's JS client expects by default.
pub const DEFAULT_PROXY_ROUTE: &str = "/api/fal/proxy";

/// The default largest request body forwarded (inputs are JSON; files go to storage
/// directly): 32 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 32 << 20;

/// The caller check of [`FalProxyBuilder::authorize`].
type Authorize = Arc<dyn Fn(&Parts) -> BoxFuture<'static, bool> + Send + Sync>;

/// The proxy handler. Clones share one connection pool. Its `Debug` never shows the key.
/// Built with [`FalProxy::builder`].
#[derive(Clone)]
pub struct FalProxy {
    http: reqwest::Client,
    authorization: HeaderValue,
    /// Extra `scheme://host[:port]` origins allowed as targets (tests, a mock, a gateway).
    extra_origins: Vec<String>,
    response_head_timeout: Option<Duration>,
    /// Endpoint patterns; empty: every endpoint.
    endpoints: Vec<String>,
    /// `None`: any caller (chosen with `allow_any_caller`).
    authorize: Option<Authorize>,
    body_limit: usize,
}

impl fmt::Debug for FalProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FalProxy")
            .field("key", &"<redacted>")
            .field("extra_origins", &self.extra_origins)
            .field("endpoints", &self.endpoints)
            .field("authorize", &self.authorize.is_some())
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

/// Configures a [`FalProxy`]; finished by [`authorize`](Self::authorize) or
/// [`allow_any_caller`](Self::allow_any_caller).
#[derive(Debug, Clone)]
pub struct FalProxyBuilder {
    proxy: FalProxy,
}

impl FalProxyBuilder {
    /// Also forwards to this origin (`http://127.0.0.1:8080`): for a mock server or your own
    /// gateway. Fails for anything but a bare `scheme://host[:port]`.
    pub fn allow_origin(mut self, origin: &str) -> Result<Self, Error> {
        let url =
            Url::parse(origin).map_err(|_| Error::Config(format!("invalid origin {origin:?}")))?;
        if url.path() != "/" || url.query().is_some() || url.host().is_none() {
            return Err(Error::Config(format!("not a bare origin: {origin:?}")));
        }
        self.proxy
            .extra_origins
            .push(url.origin().ascii_serialization());
        Ok(self)
    }

    /// Only these endpoints (glob patterns such as `fal-ai/flux/**`) may be called.
    pub fn allow_endpoints<I, S>(mut self, patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.proxy.endpoints.extend(
            patterns
                .into_iter()
                .map(|p| p.into().trim_matches('/').to_owned()),
        );
        self
    }

    /// The longest wait for fal's response head (default 10 min, as a sync run may take).
    pub fn response_head_timeout(mut self, d: Option<Duration>) -> Self {
        self.proxy.response_head_timeout = d;
        self
    }

    /// The largest request body forwarded (default [`DEFAULT_BODY_LIMIT`]); larger is a 413.
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.proxy.body_limit = bytes;
        self
    }

    /// Builds a proxy that forwards only for callers `check` accepts (it sees the request
    /// head: method, URI, headers, extensions); the others get `401 Unauthorized` and nothing
    /// is sent.
    pub fn authorize<F, Fut>(mut self, check: F) -> Result<FalProxy, Error>
    where
        F: Fn(&Parts) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = bool> + Send + 'static,
    {
        self.proxy.authorize = Some(Arc::new(move |parts| Box::pin(check(parts))));
        Ok(self.proxy)
    }

    /// Builds a proxy that forwards for anyone who can reach it: your key pays for every
    /// caller. Only behind your own authentication (a middleware before the handler).
    pub fn allow_any_caller(self) -> Result<FalProxy, Error> {
        tracing::warn!("proxy: built with allow_any_caller; anyone reaching it spends the key");
        Ok(self.proxy)
    }
}

impl FalProxy {
    /// A proxy builder that adds this key.
    pub fn builder(key: &str) -> Result<FalProxyBuilder, Error> {
        let mut authorization = HeaderValue::from_str(&format!("Key {key}")).map_err(|_| {
            Error::Config("the API key contains characters not allowed in a header".into())
        })?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(FalProxyBuilder {
            proxy: FalProxy {
                http,
                authorization,
                extra_origins: Vec::new(),
                // A sync run's head comes with its output.
                response_head_timeout: Some(Duration::from_secs(600)),
                endpoints: Vec::new(),
                authorize: None,
                body_limit: DEFAULT_BODY_LIMIT,
            },
        })
    }

    /// A proxy builder with the key from `FAL_KEY` (or `FAL_KEY_ID` + `FAL_KEY_SECRET`).
    pub fn builder_from_env() -> Result<FalProxyBuilder, Error> {
        let key = std::env::var("FAL_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty())
            .or_else(
                || match (std::env::var("FAL_KEY_ID"), std::env::var("FAL_KEY_SECRET")) {
                    (Ok(id), Ok(secret)) => Some(format!("{}:{}", id.trim(), secret.trim())),
                    _ => None,
                },
            );
        Self::builder(key.ok_or(Error::MissingKey)?.trim())
    }

    /// Whether the proxy forwards to this URL (its host; the endpoint list is checked per
    /// request, with the method).
    pub fn allows(&self, target: &str) -> bool {
        let Ok(url) = Url::parse(target) else {
            return false;
        };
        if url.username() != "" || url.password().is_some() {
            return false;
        }
        let origin = url.origin().ascii_serialization();
        if self.extra_origins.contains(&origin) {
            return true;
        }
        if url.scheme() != "https" || url.port().is_some() {
            return false;
        }
        match url.host_str() {
            Some("fal.run" | "queue.fal.run") => true,
            Some("rest.fal.ai") => is_rest_path(url.path()),
            _ => false,
        }
    }

    /// Whether a `method` request to `target` passes the endpoint list (and, for a token,
    /// whether every app it names does).
    fn endpoint_allowed(&self, method: &axum::http::Method, url: &Url, body: &[u8]) -> bool {
        if self.endpoints.is_empty() {
            return true;
        }
        let path = url.path().trim_matches('/');
        if path == "tokens" {
            let apps: Option<Vec<String>> = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| {
                    v.get("allowed_apps")?.as_array().map(|a| {
                        a.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                });
            return apps.is_some_and(|apps| {
                !apps.is_empty()
                    && apps.iter().all(|app| {
                        self.endpoints
                            .iter()
                            .any(|p| glob(app_alias(p), app_alias(app)))
                    })
            });
        }
        if is_rest_path(url.path()) {
            return true; // storage uploads name no endpoint
        }
        if method == axum::http::Method::POST {
            let submitted = path.strip_suffix("/stream").unwrap_or(path);
            return self
                .endpoints
                .iter()
                .any(|p| glob(p, path) || glob(p, submitted));
        }
        // Status, result, cancel: `{app}/requests/{id}..`, of an allowed app.
        let app = path.split("/requests/").next().unwrap_or(path);
        self.endpoints
            .iter()
            .any(|p| glob(&app_prefix(p), &app_prefix(app)))
    }

    /// Handles one request (mount it on any method of your proxy route).
    pub async fn handle(&self, request: Request<Body>) -> Response<Body> {
        let (parts, body) = request.into_parts();
        let Some(target) = parts
            .headers
            .get(TARGET_URL_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
        else {
            return plain(
                StatusCode::BAD_REQUEST,
                "missing the x-fal-target-url header",
            );
        };
        if !self.allows(&target) {
            tracing::warn!(target = %target.split('?').next().unwrap_or_default(), "proxy: target refused");
            return plain(StatusCode::BAD_REQUEST, "target not allowed");
        }
        // fal's order (server-proxy index.ts): the target, the endpoint, then the caller.
        let body = match axum::body::to_bytes(body, self.body_limit).await {
            Ok(body) => body,
            Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
        };
        let url = Url::parse(&target).expect("allows parsed it");
        if !self.endpoint_allowed(&parts.method, &url, &body) {
            tracing::warn!(path = %url.path(), "proxy: endpoint not allowed");
            return plain(StatusCode::BAD_REQUEST, "endpoint not allowed");
        }
        if let Some(authorize) = &self.authorize {
            if !authorize(&parts).await {
                return plain(StatusCode::UNAUTHORIZED, "Unauthorized");
            }
        }
        let mut forward = self
            .http
            .request(parts.method.clone(), &target)
            .header(header::AUTHORIZATION, self.authorization.clone())
            .header(
                "x-fal-client-proxy",
                concat!("fal-models-rust-proxy/", env!("CARGO_PKG_VERSION")),
            );
        for (name, value) in &parts.headers {
            let name = name.as_str();
            let pass = (name.starts_with("x-fal-") && name != TARGET_URL_HEADER)
                || matches!(name, "content-type" | "accept" | "user-agent");
            if pass {
                forward = forward.header(name, value.clone());
            }
        }
        if parts.method != axum::http::Method::GET {
            forward = forward.body(body);
        }
        let sent = match self.response_head_timeout {
            Some(limit) => tokio::time::timeout(limit, forward.send()).await.ok(),
            None => Some(forward.send().await),
        };
        let answer = match sent {
            Some(Ok(answer)) => answer,
            Some(Err(e)) => {
                tracing::warn!(error = %e.without_url(), "proxy: fal unreachable");
                return plain(StatusCode::BAD_GATEWAY, "fal could not be reached");
            }
            None => return plain(StatusCode::GATEWAY_TIMEOUT, "fal did not answer in time"),
        };
        let mut response = Response::builder().status(answer.status().as_u16());
        for (name, value) in answer.headers() {
            if !matches!(
                name.as_str(),
                "content-length" | "content-encoding" | "transfer-encoding" | "connection"
            ) {
                response = response.header(name.as_str(), value.clone());
            }
        }
        response
            .body(Body::from_stream(answer.bytes_stream()))
            .unwrap_or_else(|_| plain(StatusCode::BAD_GATEWAY, "fal's answer could not be relayed"))
    }
}

/// fal's REST paths the proxy forwards: storage uploads (fal's default patterns) and tokens.
fn is_rest_path(path: &str) -> bool {
    path.starts_with("/storage/upload/") || path.trim_end_matches('/') == "/tokens"
}

/// The app part of an endpoint id or pattern: `owner/alias` (`workflows/owner/alias`).
fn app_prefix(id: &str) -> String {
    let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
    let n = if matches!(parts.first(), Some(&"workflows" | &"comfy")) {
        3
    } else {
        2
    };
    parts[..n.min(parts.len())].join("/")
}

/// Glob match: `**` any characters, `*` any but `/`, the rest literal (fal's picomatch
/// patterns, without character classes).
fn glob(pattern: &str, text: &str) -> bool {
    fn go(p: &[u8], t: &[u8]) -> bool {
        match p {
            [] => t.is_empty(),
            [b'*', b'*', rest @ ..] => {
                // `**/` may match nothing, the slash included.
                rest.strip_prefix(b"/").is_some_and(|after| go(after, t))
                    || (0..=t.len()).any(|i| go(rest, &t[i..]))
            }
            [b'*', rest @ ..] => (0..=t.len())
                .take_while(|&i| i == 0 || t[i - 1] != b'/')
                .any(|i| go(rest, &t[i..])),
            [c, rest @ ..] => t.first() == Some(c) && go(rest, &t[1..]),
        }
    }
    // `a/**` matches `a` itself, as picomatch does.
    let base = pattern.strip_suffix("/**");
    base.is_some_and(|b| b == text) || go(pattern.as_bytes(), text.as_bytes())
}

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(text.to_owned()))
        .expect("a valid response")
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs_match_as_fals_patterns() {
        assert!(glob("fal-ai/flux/**", "fal-ai/flux/dev"));
        assert!(glob("fal-ai/flux/**", "fal-ai/flux/dev/image-to-image"));
        assert!(glob("fal-ai/flux/**", "fal-ai/flux"));
        assert!(!glob("fal-ai/flux/**", "fal-ai/flux-pro"));
        assert!(glob("fal-ai/*", "fal-ai/fast-sdxl"));
        assert!(!glob("fal-ai/*", "fal-ai/flux/dev"));
        assert!(glob("fal-ai/fast-sdxl", "fal-ai/fast-sdxl"));
        assert!(!glob("fal-ai/fast-sdxl", "fal-ai/fast-sdxl/x"));
        assert!(glob("**", "anything/at/all"));
    }
}
