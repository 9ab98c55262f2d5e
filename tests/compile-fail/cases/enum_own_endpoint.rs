//! Types belong to their endpoint: image-to-video's `AspectRatio` is not text-to-video's.
use fal_models::fal_ai::sora_2::{image_to_video, text_to_video};

fn main() {
    let _: text_to_video::AspectRatio = image_to_video::AspectRatio::Ratio16_9;
}
