//! `fal-ai/minimax/hailuo-02/standard/text-to-video`: a client configured by hand (key, retry
//! policy, timeouts) instead of from the environment.
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example minimax_hailuo_02_standard_text_to_video
//! ```

use std::time::Duration;

use fal_models::client::RetryPolicy;
use fal_models::fal_ai::minimax::hailuo_02::standard::text_to_video::Input;
use fal_models::{Client, Error};

/// Subscribes with a client that retries up to 5 times, starting at 1 s.
pub async fn run(client: &Client) -> Result<String, Error> {
    let out = client
        .subscribe(Input::new(
            "A galactic smuggler walks through a neon-lit spaceport",
        ))
        .await?;
    Ok(out.video.url)
}

async fn try_main() -> Result<(), Box<dyn std::error::Error>> {
    let key = std::env::var("FAL_KEY")?;
    let client = Client::builder()
        .key(key)
        .urls_from_env()
        .retry(
            RetryPolicy::default()
                .max_retries(5)
                .initial_backoff(Duration::from_secs(1)),
        )
        .request_timeout(Some(Duration::from_secs(30)))
        .build()?;
    println!("{}", run(&client).await?);
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
