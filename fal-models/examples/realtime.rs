//! A realtime session: several inputs over one WebSocket, an output for each (msgpack frames).
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --features realtime --example realtime
//! ```

use fal_models::client::realtime::{RealtimeOptions, Reconnect};
use fal_models::{Client, Error};
use serde_json::{Value, json};

/// Sends three prompts and collects the outputs. `base_url` overrides `wss://fal.run`.
///
/// Each input waits for its output here, so every input matters: the default queue keeps them
/// all. An interactive app that sends on every keystroke would rather pace its inputs and keep
/// only the latest (`.throttle(Duration::from_millis(128)).send_policy(SendPolicy::LatestWins)`,
/// what fal's JS client does).
pub async fn run(client: &Client, base_url: Option<&str>) -> Result<Vec<Value>, Error> {
    // A lost connection is opened again up to 3 times, 250 ms apart and doubling (the default,
    // spelled out); inputs not yet written go out on the new connection.
    let mut options = RealtimeOptions::default().reconnect(Reconnect::default());
    if let Some(url) = base_url {
        options = options.base_url(url);
    }
    let mut session = client
        .realtime_with("fal-ai/fast-lcm-diffusion", options)
        .await?;
    let mut outputs = Vec::new();
    for prompt in ["a fox", "a fox in snow", "a fox in snow at dusk"] {
        session.send(&json!({"prompt": prompt})).await?;
        if let Some(output) = session.recv().await? {
            outputs.push(output);
        }
    }
    session.close().await?;
    Ok(outputs)
}

async fn try_main() -> Result<(), Box<dyn std::error::Error>> {
    let client = Client::from_env()?;
    for output in run(&client, None).await? {
        println!("{output}");
    }
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
