//! `fal-ai/pika/v2.2/image-to-video`: telling the failure cases apart.
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example pika_v2_2_image_to_video
//! ```

use fal_models::fal_ai::pika::v2_2::image_to_video::Input;
use fal_models::{Client, Error};

/// Subscribes and explains a failure by kind before passing it on.
pub async fn run(client: &Client) -> Result<String, Error> {
    let input = Input::new(
        "a woman looking into camera slowly smiling",
        "https://storage.googleapis.com/falserverless/web-examples/pika/pika%202.2/pika_input.png",
    );
    match client.subscribe(input).await {
        Ok(out) => Ok(out.video.url),
        Err(err) => {
            match &err {
                Error::Api(api) if !api.fields.is_empty() => {
                    for field in &api.fields {
                        eprintln!("invalid input `{}`: {}", field.field(), field.msg);
                    }
                }
                Error::JobFailed {
                    request_id,
                    message,
                    ..
                } => {
                    eprintln!("job {request_id} failed: {message}");
                }
                Error::AmbiguousSubmit { .. } => {
                    eprintln!(
                        "the submit may have reached fal; check the dashboard before retrying"
                    );
                }
                Error::Timeout { request_id, .. } => {
                    eprintln!("timed out (request {request_id:?})")
                }
                other => eprintln!("failed: {other}"),
            }
            Err(err)
        }
    }
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
