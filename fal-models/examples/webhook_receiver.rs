//! A webhook receiver that verifies fal's signature and decodes the delivery into an
//! endpoint's typed output.
//!
//! ```text
//! cargo run -p fal-models --example webhook_receiver            # listens on 127.0.0.1:8080
//! PORT=9000 FAL_JWKS_URL=http://127.0.0.1:9001/.well-known/jwks.json cargo run -p fal-models --example webhook_receiver
//! ```
//!
//! Offline, against `fal-mock` (which signs its deliveries with its own key, published at the
//! `FAL_JWKS_URL` it prints): start both, then submit with
//! `fal_webhook=http://127.0.0.1:8080/fal/webhook`.
//!
//! Expose it publicly (a reverse proxy, a tunnel) and submit requests with
//! `fal_webhook=https://your.host/fal/webhook`. The receiver answers:
//!
//! - `200` for a verified delivery (also for a failed request: the delivery itself is fine);
//! - `401` when the signature, timestamp or headers do not check out;
//! - `400` when a verified body is not a delivery;
//! - `503` when fal's keys cannot be fetched, so that fal retries the delivery later.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use fal_models::Endpoint;
use fal_models::webhook::{DeliveryError, Verifier, WebhookError};
use serde::{Deserialize, Serialize};

/// Stands in for a generated input type, e.g. `fal_models::fal_ai::flux::dev::Input`: any type
/// implementing [`Endpoint`] selects the output type the payload decodes into.
#[derive(Serialize)]
struct TextToImage {
    prompt: String,
}

#[derive(Debug, Deserialize)]
struct Image {
    url: String,
}

#[derive(Debug, Deserialize)]
struct TextToImageOutput {
    images: Vec<Image>,
}

impl Endpoint for TextToImage {
    const ENDPOINT_ID: &'static str = "fal-ai/flux/dev";
    type Output = TextToImageOutput;
}

async fn receive(
    State(verifier): State<Verifier>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    // Verify on the raw bytes, before any parsing.
    let delivery = match verifier.verify_delivery(&headers, &body).await {
        Ok(d) => d,
        Err(e @ (WebhookError::JwksFetch { .. } | WebhookError::InvalidJwks { .. })) => {
            eprintln!("cannot check deliveries right now: {e}");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again later".into());
        }
        Err(e @ WebhookError::Body(_)) => {
            eprintln!("verified but unreadable delivery: {e}");
            return (StatusCode::BAD_REQUEST, e.to_string());
        }
        Err(e) => {
            eprintln!("rejected delivery: {e}");
            return (StatusCode::UNAUTHORIZED, "invalid signature".into());
        }
    };
    match delivery.output::<TextToImage>() {
        Ok(output) => {
            for image in &output.images {
                println!("{}: {}", delivery.request_id, image.url);
            }
        }
        Err(DeliveryError::Failed { error, details, .. }) => {
            println!("{} failed: {error:?} {details:?}", delivery.request_id);
        }
        Err(e) => println!("{e}"),
    }
    (StatusCode::OK, "ok".into())
}

/// The receiver's routes: `POST /fal/webhook`. (The test `tests/webhook_receiver.rs` serves
/// this same router.)
pub fn app(verifier: Verifier) -> Router {
    Router::new()
        .route("/fal/webhook", post(receive))
        .with_state(verifier)
}

async fn try_main() -> Result<(), Box<dyn std::error::Error>> {
    let mut builder = Verifier::builder();
    // `fal-mock` prints FAL_JWKS_URL: its deliveries are signed with its own key.
    if let Ok(url) = std::env::var("FAL_JWKS_URL") {
        builder = builder.jwks_url(url);
    }
    let verifier = builder.build()?;
    let app = app(verifier);
    let port = std::env::var("PORT").unwrap_or_else(|_| "8080".into());
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await?;
    println!("listening on http://{}/fal/webhook", listener.local_addr()?);
    axum::serve(listener, app).await?;
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
