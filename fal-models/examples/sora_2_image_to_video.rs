//! `fal-ai/sora-2/image-to-video`: submit now, resume later from a stored request handle.
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example sora_2_image_to_video
//! ```

use std::time::Duration;

use fal_models::client::RequestHandle;
use fal_models::fal_ai::sora_2::image_to_video::{Input, Output};
use fal_models::{Client, Error};

/// Submits, stores the handle as JSON (it holds no key), then resumes from the stored JSON
/// with a fresh client: polls the status and fetches the typed result.
pub async fn run(client: &Client) -> Result<String, Error> {
    let input = Input::new(
        "The skydiver grins and waves at the camera as clouds rush past",
        "https://storage.googleapis.com/falserverless/example_inputs/sora-2-i2v-input.png",
    );
    let handle = client.submit(&input).await?;
    let stored = serde_json::to_string(&handle).expect("a handle serializes");
    eprintln!("stored handle: {stored}");

    // ... later, possibly in another process:
    let resumed: RequestHandle<Output> = serde_json::from_str(&stored).expect("the stored handle");
    let client = client.clone();
    loop {
        let status = client.status(&resumed, true).await?;
        for line in &status.logs {
            eprintln!("log: {}", line.message);
        }
        if status.is_completed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Ok(client.result(&resumed).await?.video.url)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    println!("{}", run(&client).await?);
    Ok(())
}
