//! Temporary tokens: a server holding the key mints a short-lived token for one app; code that
//! must not hold the key (a browser, a phone) streams that app with the token alone.
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example temporary_token
//! ```

use std::time::Duration;

use fal_models::{Client, Error};
use serde_json::{Value, json};

/// Mints a token with `server` (which has the key), then streams with a client built from the
/// token and `server`'s URLs; returns the final output.
pub async fn run(server: &Client, run_url: &str) -> Result<Value, Error> {
    let token = server
        .mint_token(&["fal-ai/flux-krea-lora"], Duration::from_secs(120))
        .await?;
    let keyless = Client::builder()
        .temporary_token(token)
        .run_url(run_url)
        .build()?;
    keyless
        .stream_json(
            "fal-ai/flux-krea-lora",
            json!({"prompt": "a lighthouse at dusk"}),
        )
        .output()
        .await
}

async fn try_main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Client::from_env()?;
    let run_url = std::env::var("FAL_RUN_URL").unwrap_or_else(|_| "https://fal.run".into());
    println!("{}", run(&server, &run_url).await?);
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
