//! An enum's variants are the document's values: Sora's durations are 4, 8, 12, 16 and 20 s.
use fal_models::fal_ai::sora_2::text_to_video::{Duration, Input};

fn main() {
    let _ = Input::new("a cat").duration(Duration::Seconds9);
}
