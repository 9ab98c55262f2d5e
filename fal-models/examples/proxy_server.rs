//! A Rust back end for fal's front-end clients: serves fal's server-proxy protocol on
//! `/api/fal/proxy`, adding the key server-side. Point fal's JS client at it with
//! `fal.config({ proxyUrl: "/api/fal/proxy" })`, or a Rust client with
//! `Client::builder().without_key().proxy_url("http://host/api/fal/proxy")`.
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --features proxy --example proxy_server
//! ```

use axum::Router;
use axum::routing::any;
use fal_models::proxy::{DEFAULT_PROXY_ROUTE, FalProxy};

/// The app: fal's proxy route. Put your own authentication in front of it.
pub fn router(proxy: FalProxy) -> Router {
    Router::new().route(
        DEFAULT_PROXY_ROUTE,
        any(move |request| {
            let proxy = proxy.clone();
            async move { proxy.handle(request).await }
        }),
    )
}

async fn try_main() -> Result<(), Box<dyn std::error::Error>> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!(
        "proxy on http://{}{DEFAULT_PROXY_ROUTE}",
        listener.local_addr()?
    );
    axum::serve(listener, router(FalProxy::from_env()?)).await?;
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
