//! `fal-ai/sora-2/image-to-video/pro`: waiting by polling instead of the status stream, with
//! options given up front.
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example sora_2_image_to_video_pro
//! ```

use std::time::Duration;

use fal_models::client::SubscribeOptions;
use fal_models::fal_ai::sora_2::image_to_video::pro::Input;
use fal_models::{Client, Error};

/// Subscribes, polling every second (for networks that cut long-lived responses).
pub async fn run(client: &Client) -> Result<String, Error> {
    let input = Input::new(
        "The skydiver opens the parachute; the camera swings up to the canopy",
        "https://storage.googleapis.com/falserverless/example_inputs/sora-2-i2v-input.png",
    );
    let options = SubscribeOptions::new()
        .poll(Duration::from_secs(1))
        .timeout(Duration::from_secs(30 * 60));
    let out = client.subscribe_with(input, options).await?;
    Ok(out.video.url)
}

async fn try_main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
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
