//! The calls the compile-fail cases get wrong, done right: they compile (deprecated items are
//! allowed here, and warn elsewhere).
#![allow(deprecated)]
use fal_models::Endpoint;
use fal_models::fal_ai::sora_2::{image_to_video, text_to_video};

async fn call(client: &fal_models::Client) {
    let input = text_to_video::Input::new("a cat")
        .duration(text_to_video::Duration::Seconds8)
        .aspect_ratio(text_to_video::AspectRatio::Ratio16_9);
    let _: <text_to_video::Input as Endpoint>::Output = client.run(&input).await.unwrap();
    let input = image_to_video::Input::new("a cat", "https://example.com/cat.png");
    let _: <image_to_video::Input as Endpoint>::Output = client.run(&input).await.unwrap();
}

fn main() {
    let _ = call;
    let input = text_to_video::Input::new("a cat");
    assert_eq!(input.prompt, "a cat"); // fields are public to read
    let _ = fal_models::fal_ai::meshy::v6::text_to_3d::Input::new("a chest").is_a_t_pose(true);
    let _ = fal_models::fal_ai::mochi_v1::Input::new("a cat");
}
