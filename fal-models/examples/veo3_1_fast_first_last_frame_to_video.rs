//! `fal-ai/veo3.1/fast/first-last-frame-to-video`: the building blocks under `subscribe`:
//! submit, follow the status stream yourself, fetch the result.
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example veo3_1_fast_first_last_frame_to_video
//! ```

use fal_models::fal_ai::veo3_1::fast::first_last_frame_to_video::Input;
use fal_models::{Client, Error};
use futures::StreamExt;

/// Submits, reads the server-sent status events until `COMPLETED`, then fetches the output.
pub async fn run(client: &Client) -> Result<String, Error> {
    let input = Input::new(
        "A woman looks into the camera, breathes in, then smiles",
        "https://storage.googleapis.com/falserverless/example_inputs/veo31-flf2v-input-1.jpeg",
        "https://storage.googleapis.com/falserverless/example_inputs/veo31-flf2v-input-2.jpeg",
    );
    let handle = client.submit(&input).await?;
    let mut events = client.status_stream(&handle, true);
    while let Some(status) = events.next().await {
        let status = status?;
        eprintln!("{} {:?}", status.status, status.queue_position);
        for line in &status.logs {
            eprintln!("  {}", line.message);
        }
    }
    Ok(client.result(&handle).await?.video.url)
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
