//! `fal-ai/minimax/hailuo-02/standard/image-to-video`: the untyped JSON variant, for inputs
//! built at run time (or endpoints without bindings).
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example minimax_hailuo_02_standard_image_to_video
//! ```

use fal_models::fal_ai::minimax::hailuo_02::standard::image_to_video::ENDPOINT_ID;
use fal_models::{Client, Error};
use serde_json::json;

/// Subscribes with a JSON input and reads the URL from the JSON output.
pub async fn run(client: &Client) -> Result<String, Error> {
    let input = json!({
        "prompt": "Man walked into winter cave with polar bear",
        "image_url": "https://storage.googleapis.com/falserverless/model_tests/minimax/1749891352437225630-389852416840474630_1749891352.png",
    });
    let out = client.subscribe_json(ENDPOINT_ID, input).await?;
    Ok(out["video"]["url"].as_str().unwrap_or_default().to_owned())
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
