//! Naming behaviours that the unit tests in `naming.rs` left open (found by `cargo mutants`:
//! these mutants of naming.rs survived them). Written against what a name means, not its exact
//! spelling where that is a matter of taste.

use fal_codegen::naming::{int_variant, str_variant, unique_by_value};

#[test]
fn only_a_pair_of_numbers_is_a_ratio() {
    assert_eq!(str_variant("16:9", "AspectRatio"), "Ratio16_9");
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
fn clashing_names_are_told_apart_by_their_own_values() {
    // Four values that read alike: the first keeps its name, the others are spelled from their
    // own value (never numbered by position), and a reserved name is never handed out.
    let candidates: Vec<(String, String)> = ["auto", "auto ", "Auto", "AUTO"]
        .iter()
        .map(|v| ("Auto".to_owned(), (*v).to_owned()))
        .collect();
    let names = unique_by_value(&candidates, &["Unknown"]);
    // `"Auto"` spelled exactly is `Auto` again (taken), so its bytes in hex follow.
    assert_eq!(names, ["Auto", "AutoU20", "X4175746F", "AUTO"]);
    let unique: std::collections::BTreeSet<&String> = names.iter().collect();
    assert_eq!(unique.len(), names.len());
    // The name of a value does not depend on its neighbours' order beyond who came first.
    let reversed: Vec<(String, String)> = candidates.iter().rev().cloned().collect();
    let again = unique_by_value(&reversed, &["Unknown"]);
    assert_eq!(again[0], "Auto");
    assert!(
        unique_by_value(
            &[("Unknown".to_owned(), "unknown".to_owned())],
            &["Unknown"]
        )[0] != "Unknown"
    );
}

/// A name made only of the endpoint id's words keeps its last word: dropping the module
/// prefix never empties a name (nor gives it back whole because every word matched).
/// (Mutants of `without_module_prefix`'s loop bound survived the unit tests.)
#[test]
fn a_name_of_only_module_words_keeps_its_last_word() {
    use fal_codegen::naming::without_module_prefix;
    assert_eq!(
        without_module_prefix("KlingVideo", "fal-ai/kling-video/v3/pro"),
        "Video"
    );
    assert_eq!(
        without_module_prefix("KlingVideoV3Pro", "fal-ai/kling-video/v3/pro"),
        "Pro"
    );
}
