//! `fal-ai/sora-2/text-to-video`: the shortest path from a prompt to a video.
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example sora_2_text_to_video
//! ```
//! Offline: run `cargo run -p fal-models --features mock --bin fal-mock`, export what it
//! prints (`FAL_QUEUE_URL`, `FAL_RUN_URL`, `FAL_KEY`), then run the example.

use fal_models::fal_ai::sora_2::text_to_video::{Duration, Input};
use fal_models::{Client, Error};

/// Submits, waits (following the status stream, retrying what is safe to retry) and returns
/// the video URL.
pub async fn run(client: &Client) -> Result<String, Error> {
    let input = Input::new("a cat surfing at dusk").duration(Duration::Seconds8);
    let out = client.subscribe(input).await?;
    Ok(out.video.url)
}

async fn try_main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?; // FAL_KEY
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
