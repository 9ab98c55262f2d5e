//! A server-side proxy for fal's front-end clients (feature `proxy`): an axum handler speaking
//! the protocol of fal's `@fal-ai/server-proxy`, so a browser app using fal's JS client with
//! `proxyUrl` (or a Rust client with [`ClientBuilder::proxy_url`](crate::client::ClientBuilder::proxy_url))
//! can call fal without ever holding the key.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let proxy = fal_models::proxy::FalProxy::from_env()?; // FAL_KEY
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
//! (server-sent events included). Authenticating your own users is up to your router (a
//! middleware or extractor before this handler): as it stands the proxy spends your key for
//! anyone who can reach it.

use std::fmt;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Request, Response, StatusCode, header};
use reqwest::Url;

use crate::client::proxy::TARGET_URL_HEADER;
use crate::error::Error;

/// The route fal's JS client expects by default.
pub const DEFAULT_PROXY_ROUTE: &str = "/api/fal/proxy";

/// The largest request body forwarded (inputs are JSON; files go to storage directly).
const MAX_REQUEST_BODY: usize = 32 << 20;

/// The proxy handler. Clones share one connection pool. Its `Debug` never shows the key.
#[derive(Clone)]
pub struct FalProxy {
    http: reqwest::Client,
    authorization: HeaderValue,
    /// Extra `scheme://host[:port]` origins allowed as targets (tests, a mock, a gateway).
    extra_origins: Vec<String>,
    response_head_timeout: Option<Duration>,
}

impl fmt::Debug for FalProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FalProxy")
            .field("key", &"<redacted>")
            .field("extra_origins", &self.extra_origins)
            .finish_non_exhaustive()
    }
}

impl FalProxy {
    /// A proxy that adds this key.
    pub fn new(key: &str) -> Result<Self, Error> {
        let mut authorization = HeaderValue::from_str(&format!("Key {key}")).map_err(|_| {
            Error::Config("the API key contains characters not allowed in a header".into())
        })?;
        authorization.set_sensitive(true);
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::Config(format!("HTTP client: {e}")))?;
        Ok(FalProxy {
            http,
            authorization,
            extra_origins: Vec::new(),
            // A sync run's head comes with its output.
            response_head_timeout: Some(Duration::from_secs(600)),
        })
    }

    /// A proxy with the key from `FAL_KEY` (or `FAL_KEY_ID` + `FAL_KEY_SECRET`).
    pub fn from_env() -> Result<Self, Error> {
        let key = std::env::var("FAL_KEY")
            .ok()
            .filter(|k| !k.trim().is_empty())
            .or_else(
                || match (std::env::var("FAL_KEY_ID"), std::env::var("FAL_KEY_SECRET")) {
                    (Ok(id), Ok(secret)) => Some(format!("{}:{}", id.trim(), secret.trim())),
                    _ => None,
                },
            );
        Self::new(key.ok_or(Error::MissingKey)?.trim())
    }

    /// Also forwards to this origin (`http://127.0.0.1:8080`): for a mock server or your own
    /// gateway. Fails for anything but a bare `scheme://host[:port]`.
    pub fn allow_origin(mut self, origin: &str) -> Result<Self, Error> {
        let url =
            Url::parse(origin).map_err(|_| Error::Config(format!("invalid origin {origin:?}")))?;
        if url.path() != "/" || url.query().is_some() || url.host().is_none() {
            return Err(Error::Config(format!("not a bare origin: {origin:?}")));
        }
        self.extra_origins.push(url.origin().ascii_serialization());
        Ok(self)
    }

    /// The longest wait for fal's response head (default 10 min, as a sync run may take).
    pub fn response_head_timeout(mut self, d: Option<Duration>) -> Self {
        self.response_head_timeout = d;
        self
    }

    /// Whether the proxy forwards to this URL.
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
            Some("rest.fal.ai") => url.path().starts_with("/storage/upload/"),
            _ => false,
        }
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
        let body = match axum::body::to_bytes(body, MAX_REQUEST_BODY).await {
            Ok(body) => body,
            Err(_) => return plain(StatusCode::PAYLOAD_TOO_LARGE, "request body too large"),
        };
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

fn plain(status: StatusCode, text: &str) -> Response<Body> {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from(text.to_owned()))
        .expect("a valid response")
}
