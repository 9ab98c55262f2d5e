//! Calls your own fal app with typed input and output.
//!
//! `FAL_KEY=... cargo run -p fal-app-example -- "a happy avocado"`
//! (or point `FAL_QUEUE_URL` at `fal-mock` to run it offline).

// A binary uses only part of the generated API.
#[allow(dead_code)]
mod apps {
    include!(concat!(env!("OUT_DIR"), "/fal_apps.rs"));
}

use apps::acme::sticker_maker::{Input, Style};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let prompt = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "a happy avocado".to_owned());
    let input = Input::new(prompt).style(Style::Kawaii).outline_px(12);
    let client = fal_models::Client::from_env()?;
    let output = client.subscribe(input).await?;
    println!("{}", output.image.url);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::apps::acme::sticker_maker::{Input, Output, Style};
    use fal_models::Endpoint;

    #[test]
    fn generated_input_knows_its_endpoint_and_serializes_what_was_set() {
        assert_eq!(<Input as Endpoint>::ENDPOINT_ID, "acme/sticker-maker");
        let input = Input::new("a cat").style(Style::Retro);
        assert_eq!(
            serde_json::to_value(&input).unwrap(),
            serde_json::json!({"prompt": "a cat", "style": "retro"})
        );
    }

    #[test]
    fn generated_output_decodes_fal_results() {
        let out: Output = serde_json::from_value(serde_json::json!({
            "image": {"url": "https://example.com/s.png", "width": 512, "extra": true}
        }))
        .unwrap();
        assert_eq!(out.image.width, Some(512));
    }
}
