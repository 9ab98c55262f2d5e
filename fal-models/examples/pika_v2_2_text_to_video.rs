//! `fal-ai/pika/v2.2/text-to-video`: progress events as a stream (a channel fed by the
//! callback), consumed by another task.
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example pika_v2_2_text_to_video
//! ```

use fal_models::client::Progress;
use fal_models::fal_ai::pika::v2_2::text_to_video::Input;
use fal_models::{Client, Error};
use futures::StreamExt;

/// Subscribes while a second task prints the progress events it receives.
pub async fn run(client: &Client) -> Result<String, Error> {
    let (events, mut received) = futures::channel::mpsc::unbounded::<Progress>();
    let printer = tokio::spawn(async move {
        let mut count = 0;
        while let Some(event) = received.next().await {
            eprintln!("progress: {event:?}");
            count += 1;
        }
        count
    });
    let input = Input::new("Sunlight on a woman running along a tree-lined street, slow motion");
    let out = client
        .subscribe(input)
        .on_progress(move |event| {
            let _ = events.unbounded_send(event);
        })
        .await?;
    // The callback (and its sender) is dropped with the finished subscribe: the stream ends.
    let count = printer.await.expect("the printer task");
    eprintln!("{count} progress events");
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
