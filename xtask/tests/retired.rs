//! A retired endpoint (`info.x-fal-retired`) as a user sees it: the code still compiles, every
//! use of its items warns with the note naming the endpoint and the date, and the generated code
//! itself compiles without a warning.

mod support;

use fal_codegen::{Config, Document};

fn golden(name: &str) -> Document {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../codegen/tests/golden")
        .join(format!("{name}.json"));
    Document::parse(
        format!("golden/{name}.json"),
        &std::fs::read_to_string(&path).unwrap(),
    )
    .unwrap()
}

#[test]
fn a_user_of_a_retired_endpoint_gets_the_deprecation_warning() {
    let generated = Config::new().generate(&[golden("retired"), golden("share_a")]);
    assert!(generated.failed.is_empty(), "{:?}", generated.failed);
    let user = r#"
use crate::generated::test::retired::{AspectRatio, Input};

pub fn call() -> serde_json::Value {
    let input = Input::new("a cat").aspect_ratio(AspectRatio::Ratio16_9);
    let active = crate::generated::test::share::a::Input::new(
        crate::generated::types::File::new("https://x/y.png"),
    );
    serde_json::json!([serde_json::to_value(input).unwrap(), serde_json::to_value(active).unwrap()])
}
"#;
    let build = support::build_user_crate("retired-user", &generated.single_file(), user);
    assert!(build.success, "the user crate compiles:\n{}", build.stderr);
    let warnings: Vec<&str> = build
        .stderr
        .lines()
        .filter(|l| l.contains("warning"))
        .collect();
    let note = "fal no longer lists test/retired since 2026-06-11";
    for item in [
        "struct `generated::test::retired::Input`",
        "generated::test::retired::AspectRatio",
    ] {
        assert!(
            warnings
                .iter()
                .any(|w| w.starts_with("src/user.rs") && w.contains(item) && w.contains(note)),
            "no deprecation warning for {item}:\n{}",
            build.stderr
        );
    }
    assert!(
        !warnings.iter().any(|w| w.contains("share::a")),
        "an active endpoint does not warn:\n{}",
        build.stderr
    );
    assert!(
        !warnings.iter().any(|w| w.starts_with("src/generated.rs")),
        "the generated code itself is warning-free:\n{}",
        build.stderr
    );
}
