//! Naming behaviours that the unit tests in `naming.rs` left open (found by `cargo mutants`:
//! these mutants of naming.rs survived them). Written against what a name means, not its exact
//! spelling where that is a matter of taste.

use fal_codegen::naming::{dedupe_names, int_variant, str_variant};

#[test]
fn only_a_pair_of_numbers_is_a_ratio() {
    assert_eq!(str_variant("16:9", "AspectRatio"), "Ratio16x9");
    for value in ["auto:9", "16:auto", "a:b"] {
        let name = str_variant(value, "AspectRatio");
        assert!(!name.starts_with("Ratio"), "{value} -> {name}");
    }
}

#[test]
fn frame_rate_hints_read_as_fps() {
    // Each spelling of the hint on its own.
    for hint in ["Fps", "frame_rate", "FrameRate"] {
        assert_eq!(int_variant(24, hint), "Fps24", "hint {hint}");
    }
    assert_eq!(int_variant(24, "NumFrames"), "V24");
}

#[test]
fn dedupe_counts_past_two() {
    let mut names = vec!["Auto".to_owned(); 4];
    dedupe_names(&mut names);
    assert_eq!(names, ["Auto", "Auto2", "Auto3", "Auto4"]);
}
