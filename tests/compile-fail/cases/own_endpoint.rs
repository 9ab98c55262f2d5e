//! An input can only be sent to its own endpoint: the client's answer to a Sora text-to-video
//! input is that endpoint's `Output`, not image-to-video's.
use fal_models::Endpoint;
use fal_models::fal_ai::sora_2::{image_to_video, text_to_video};

type ImageToVideoOutput = <image_to_video::Input as Endpoint>::Output;

async fn call(client: &fal_models::Client) {
    let input = text_to_video::Input::new("a cat");
    let _: ImageToVideoOutput = client.run(&input).await.unwrap();
}

fn main() {
    let _ = call;
}
