//! `fal-ai/sora-2/text-to-video/pro`: progress (queue position, logs) and an overall timeout.
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example sora_2_text_to_video_pro
//! ```

use std::time::Duration;

use fal_models::client::Progress;
use fal_models::fal_ai::sora_2::text_to_video::pro::Input;
use fal_models::{Client, Error};

/// Subscribes with a progress callback; if the video is not ready within 20 minutes, the job is
/// cancelled on fal and the error says so (with the request id).
pub async fn run(client: &Client) -> Result<String, Error> {
    let input = Input::new("A lighthouse keeper's dog watching a storm roll in, cinematic");
    let out = client
        .subscribe(input)
        .timeout(Duration::from_secs(20 * 60))
        .on_progress(|event| match event {
            Progress::Submitted(handle) => eprintln!("submitted: {}", handle.request_id()),
            Progress::InQueue { position } => eprintln!("in queue at {position:?}"),
            Progress::InProgress => eprintln!("running"),
            Progress::Log(line) => eprintln!("log: {}", line.message),
            Progress::Completed { .. } => eprintln!("done"),
            other => eprintln!("{other:?}"),
        })
        .await?;
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
