//! A streaming endpoint: partial outputs as the model produces them, then the final output
//! (`POST fal.run/{endpoint id}/stream`, server-sent events).
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example stream
//! ```

use fal_models::client::StreamEvent;
use fal_models::{Client, Error};
use futures::StreamExt;
use serde_json::{Value, json};

/// Streams an image generation; returns how many partial outputs arrived and the final output.
pub async fn run(client: &Client) -> Result<(usize, Value), Error> {
    let input = json!({"prompt": "a red fox in fresh snow, morning light"});
    let mut events = client.stream_json("fal-ai/flux-krea-lora", input);
    let mut partials = 0;
    while let Some(event) = events.next().await {
        match event? {
            StreamEvent::Partial(partial) => {
                partials += 1;
                eprintln!(
                    "partial {partials}: {} fields",
                    partial.as_object().map_or(0, |o| o.len())
                );
            }
            StreamEvent::Done(output) => return Ok((partials, output)),
        }
    }
    unreachable!("a stream ends with Done or an error")
}

async fn try_main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    let (partials, output) = run(&client).await?;
    println!("{partials} partial outputs; final: {output}");
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
