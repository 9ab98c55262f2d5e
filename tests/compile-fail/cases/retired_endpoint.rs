//! An endpoint fal no longer lists keeps compiling, with a warning naming it and the date
//! (an error here).
#![deny(deprecated)]
use fal_models::fal_ai::mochi_v1::Input;

fn main() {
    let _ = Input::new("a cat");
}
