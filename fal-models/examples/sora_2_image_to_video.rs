//! `fal-ai/sora-2/image-to-video`: submit now, resume later from a stored request handle.
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example sora_2_image_to_video
//! ```

use fal_models::client::{Logs, Progress, RequestHandle, SubscribeOptions};
use fal_models::fal_ai::sora_2::image_to_video::{Input, Output};
use fal_models::{Client, Error};

/// Submits, stores the handle as JSON (it holds no key), then resumes from the stored JSON
/// with a fresh client: checks the status once, then waits with progress (`Client::wait`)
/// for the typed result.
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
    // One look at where it stands, with the log lines so far.
    let status = client.status(&resumed, Logs::Include).await?;
    for line in &status.logs {
        eprintln!("log: {}", line.message);
    }
    // Then wait for it with progress (queue position, new log lines), as subscribe does.
    let options = SubscribeOptions::new().on_progress(|p| match p {
        Progress::InQueue { position } => eprintln!("in queue: {position:?}"),
        Progress::Log(line) => eprintln!("log: {}", line.message),
        _ => {}
    });
    Ok(client.wait(&resumed, options).await?.video.url)
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
