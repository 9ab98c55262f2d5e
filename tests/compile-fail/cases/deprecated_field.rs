//! A field the document marks `deprecated: true` warns where it is used (an error here).
#![deny(deprecated)]
use fal_models::fal_ai::meshy::v6::text_to_3d::Input;

fn main() {
    let _ = Input::new("a chest").is_a_t_pose(true);
}
