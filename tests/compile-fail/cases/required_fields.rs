//! `Input::new` takes every required field: no input without its prompt.
use fal_models::fal_ai::sora_2::text_to_video::Input;

fn main() {
    let _ = Input::new();
}
