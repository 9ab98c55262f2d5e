//! `.gitattributes`: vendored documents show in PR diffs, generated bindings are folded.

mod support;

use std::path::Path;

use support::run;

fn attributes(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let (code, stdout, stderr) = run(std::process::Command::new("git").arg("-C").arg(root).args([
        "check-attr",
        "-a",
        "--",
        path,
    ]));
    assert_eq!(code, 0, "{stderr}");
    stdout
}

#[test]
fn schemas_are_diffable_text_and_not_generated() {
    let attrs = attributes("schemas/fal-ai/sora-2/text-to-video/pro.json");
    for expected in ["diff: set", "eol: lf", "linguist-generated: unset"] {
        assert!(attrs.contains(expected), "missing {expected}: {attrs}");
    }
}

#[test]
fn generated_bindings_are_folded() {
    let attrs = attributes("fal-models/src/generated/fal_ai/sora_2.rs");
    assert!(attrs.contains("linguist-generated: set"), "{attrs}");
}
