//! `fal-ai/veo3/fast`: a synchronous run on `fal.run` (no queue, one long HTTP request).
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example veo3_fast
//! ```

use fal_models::fal_ai::veo3::fast::Input;
use fal_models::{Client, Error};

/// Runs the input synchronously and returns the video URL.
pub async fn run(client: &Client) -> Result<String, Error> {
    let input = Input::new("A street interview in New York; the passer-by laughs and answers");
    let out = client.run(&input).await?;
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
