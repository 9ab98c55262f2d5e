//! `Input` is `#[non_exhaustive]`: no struct literal outside the crate, not even with `..base`,
//! so a field fal adds later is not a breaking change.
use fal_models::fal_ai::sora_2::text_to_video::Input;

fn main() {
    let _ = Input {
        prompt: "a cat".into(),
        ..Input::new("a dog")
    };
}
