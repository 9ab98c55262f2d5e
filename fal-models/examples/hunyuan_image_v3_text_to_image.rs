//! `fal-ai/hunyuan-image/v3/text-to-image`: an image model; the output lists images.
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example hunyuan_image_v3_text_to_image
//! ```

use fal_models::fal_ai::hunyuan_image::v3::text_to_image::Input;
use fal_models::{Client, Error};

/// Subscribes and returns the first image URL.
pub async fn run(client: &Client) -> Result<String, Error> {
    let out = client
        .subscribe(Input::new(
            "200mm telephoto portrait through a crowd, candid laughter",
        ))
        .await?;
    eprintln!("seed {}, {} image(s)", out.seed, out.images.len());
    Ok(out
        .images
        .first()
        .map(|i| i.url.clone())
        .unwrap_or_default())
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
