//! A binary stream: speech from `fal-ai/maya/stream`, written to a file chunk by chunk as the
//! model produces the audio (what fal's JS client does with a stream that is not
//! `text/event-stream`).
//!
//! ```text
//! FAL_KEY=... cargo run -p fal-models --example stream_audio -- hello.mp3
//! ```

use std::path::Path;

use fal_models::Client;
use fal_models::client::StreamOptions;
use futures::StreamExt;
use serde_json::json;
use tokio::io::AsyncWriteExt;

/// What one run streamed.
#[derive(Debug)]
pub struct Streamed {
    /// Chunks as they arrived.
    pub chunks: usize,
    /// Bytes written.
    pub bytes: u64,
    /// The answer's content type.
    pub content_type: Option<String>,
    /// fal's request id.
    pub request_id: Option<String>,
}

/// Streams the speech of one sentence into `path`.
pub async fn run(client: &Client, path: &Path) -> Result<Streamed, Box<dyn std::error::Error>> {
    let input = json!({
        "text": "Hello! This sentence is spoken while it is being generated.",
        "prompt": "Realistic female voice in the 30s with a british accent, warm timbre, conversational pacing.",
        "output_format": "mp3",
    });
    let options = StreamOptions::default().accept("audio/mpeg");
    let mut audio = client.stream_bytes_json_with("fal-ai/maya/stream", input, options);
    let mut file = tokio::fs::File::create(path).await?;
    let (mut chunks, mut bytes) = (0, 0);
    while let Some(chunk) = audio.next().await {
        // On an error the request id says which call it was (it is not resent: a paid call).
        let chunk = chunk?;
        file.write_all(&chunk).await?;
        chunks += 1;
        bytes += chunk.len() as u64;
        eprintln!("chunk {chunks}: {} bytes", chunk.len());
    }
    file.flush().await?;
    Ok(Streamed {
        chunks,
        bytes,
        content_type: audio.content_type().map(str::to_owned),
        request_id: audio.request_id().map(str::to_owned),
    })
}

async fn try_main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "speech.mp3".into());
    let client = Client::from_env()?;
    let streamed = run(&client, Path::new(&path)).await?;
    println!(
        "{path}: {} bytes in {} chunks ({}), request {}",
        streamed.bytes,
        streamed.chunks,
        streamed
            .content_type
            .as_deref()
            .unwrap_or("no content type"),
        streamed.request_id.as_deref().unwrap_or("?")
    );
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
