//! `fal-ai/veo3.1/reference-to-video`: low queue priority, a start deadline and a webhook.
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example veo3_1_reference_to_video
//! ```

use std::time::Duration;

use fal_models::client::Priority;
use fal_models::fal_ai::veo3_1::reference_to_video::Input;
use fal_models::{Client, Error};

/// Subscribes at low priority; fal drops the job if it has not started within 10 minutes
/// (a [`fal_models::error::TimeoutKind::StartDeadline`] error), and also POSTs the result to
/// the webhook given in `FAL_WEBHOOK_URL`, if set.
pub async fn run(client: &Client) -> Result<String, Error> {
    let input = Input::new(
        "A ballerina dancing outside a circus tent on green grass",
        [
            "https://storage.googleapis.com/falserverless/example_inputs/veo31-r2v-input-1.png",
            "https://storage.googleapis.com/falserverless/example_inputs/veo31-r2v-input-2.png",
        ],
    );
    let mut subscribe = client
        .subscribe(input)
        .priority(Priority::Low)
        .start_timeout(Duration::from_secs(600));
    if let Ok(url) = std::env::var("FAL_WEBHOOK_URL") {
        subscribe = subscribe.webhook(url);
    }
    Ok(subscribe.await?.video.url)
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
