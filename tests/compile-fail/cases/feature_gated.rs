//! A family whose feature is off does not exist, and rustc names the feature that gates it.
use fal_models::fal_ai::flux::dev::Input;

fn main() {
    let _ = Input::new("a cat");
}
