//! Image-to-video takes the prompt first, then the image: the image alone is not enough.
use fal_models::fal_ai::sora_2::image_to_video::Input;

fn main() {
    let _ = Input::new("https://example.com/cat.png");
}
