//! A Rust back end for fal's front-end clients: serves fal's server-proxy protocol on
//! `/api/fal/proxy`, adding the key server-side. Point fal's JS client at it with
//! `fal.config({ proxyUrl: "/api/fal/proxy" })`, or a Rust client with
//! `Client::builder().without_key().proxy_url("http://host/api/fal/proxy")`.
//!
//! Only the endpoints in `FAL_PROXY_ENDPOINTS` (comma-separated glob patterns, such as
//! `fal-ai/flux/**`) may be called, and only by callers sending
//! `Authorization: Bearer $FAL_PROXY_CALLER_SECRET` (stand-in for your users' sessions; fal's JS
//! client adds it with a `requestMiddleware`).
//!
//! ```text
//! FAL_KEY=... FAL_PROXY_ENDPOINTS='fal-ai/flux/**' FAL_PROXY_CALLER_SECRET=s3cret \
//!   cargo run -p fal-models --features proxy --example proxy_server
//! ```
//!
//! `FAL_PROXY_ADDR` (default `127.0.0.1:3000`) is where it listens; `FAL_PROXY_ORIGINS`
//! (comma-separated `scheme://host:port`) adds origins to forward to, such as fal-mock's.

use axum::Router;
use axum::http::request::Parts;
use axum::routing::any;
use fal_models::proxy::{DEFAULT_PROXY_ROUTE, FalProxy, FalProxyBuilder};

/// The app: fal's proxy route.
pub fn router(proxy: FalProxy) -> Router {
    Router::new().route(
        DEFAULT_PROXY_ROUTE,
        any(move |request| {
            let proxy = proxy.clone();
            async move { proxy.handle(request).await }
        }),
    )
}

/// The proxy: these endpoints only, for callers presenting `Bearer {secret}`.
pub fn configure(
    builder: FalProxyBuilder,
    endpoints: &[&str],
    secret: String,
) -> Result<FalProxy, fal_models::Error> {
    let expected = format!("Bearer {secret}");
    builder
        .allow_endpoints(endpoints.iter().copied())
        .authorize(move |caller: &Parts| {
            let ok = caller
                .headers
                .get("authorization")
                .is_some_and(|v| v.as_bytes() == expected.as_bytes());
            async move { ok }
        })
}

async fn try_main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoints = std::env::var("FAL_PROXY_ENDPOINTS")?;
    let endpoints: Vec<&str> = endpoints.split(',').map(str::trim).collect();
    let secret = std::env::var("FAL_PROXY_CALLER_SECRET")?;
    let mut builder = FalProxy::builder_from_env()?;
    // Further origins to forward to (fal-mock in conformance/run.sh), comma-separated.
    for origin in std::env::var("FAL_PROXY_ORIGINS")
        .unwrap_or_default()
        .split(',')
    {
        if !origin.trim().is_empty() {
            builder = builder.allow_origin(origin.trim())?;
        }
    }
    let proxy = configure(builder, &endpoints, secret)?;
    let addr = std::env::var("FAL_PROXY_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!(
        "proxy on http://{}{DEFAULT_PROXY_ROUTE}",
        listener.local_addr()?
    );
    axum::serve(listener, router(proxy)).await?;
    Ok(())
}

/// Prints the error's text (`error: no fal API key: set FAL_KEY ...`), not its Debug form as
/// `main() -> Result` would (`Error: MissingKey`).
#[tokio::main]
async fn main() -> std::process::ExitCode {
    match try_main().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
