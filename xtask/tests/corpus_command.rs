//! `cargo xtask corpus <DIR>` itself (the README's conformance command), on a temporary folder
//! of three small documents: one clean, one with a dangling `$ref` (degraded), one unreadable.
//! `--no-build`: compiling the scratch crate is what CI's own `cargo xtask corpus` run on the
//! real corpus does.

mod support;

use std::path::Path;

use serde_json::{Value, json};
use support::{document, run, temp_dir, write_json, xtask};

fn corpus(dir: &Path, out: &Path) -> (i32, String, String, Value) {
    let report = out.join("report.json");
    let (code, stdout, stderr) = run(xtask()
        .args(["corpus", "--no-build"])
        .arg(dir)
        .arg("--out")
        .arg(out)
        .arg("--json")
        .arg(&report));
    let json = std::fs::read_to_string(&report)
        .map(|t| serde_json::from_str(&t).unwrap())
        .unwrap_or(Value::Null);
    (code, stdout, stderr, json)
}

fn clean(id: &str) -> Value {
    document(
        id,
        json!({
            "Input": {"type": "object", "required": ["prompt"], "properties": {
                "prompt": {"type": "string", "examples": ["a cat"]},
                "steps": {"type": "integer", "examples": [4]},
                // Free-form: a map of JSON values with no diagnostic.
                "options": {"type": "object"}}},
            "Output": {"type": "object", "required": ["url"], "properties": {
                "url": {"type": "string", "examples": ["https://example.com/a.png"]}}},
        }),
    )
}

fn dangling(id: &str) -> Value {
    document(
        id,
        json!({
            "Input": {"type": "object", "required": ["prompt"], "properties": {
                "prompt": {"type": "string"},
                "style": {"$ref": "#/components/schemas/NoSuchSchema"}}},
            "Output": {"type": "object", "properties": {"url": {"type": "string"}}},
        }),
    )
}

#[test]
fn the_report_counts_clean_degraded_and_failed_documents() {
    let dir = temp_dir("corpus-cmd");
    let docs = dir.join("docs");
    write_json(&docs.join("test__clean.json"), &clean("test/clean"));
    write_json(
        &docs.join("test__dangling.json"),
        &dangling("test/dangling"),
    );
    std::fs::write(docs.join("test__broken.json"), "{ not json").unwrap();
    let out = dir.join("out");

    let (code, stdout, stderr, report) = corpus(&docs, &out);
    assert_eq!(
        code, 1,
        "an unreadable document fails the run\n{stdout}{stderr}"
    );
    assert_eq!(report["documents"], 3, "{report:#}");
    assert_eq!(report["generated_clean"], 1, "{report:#}");
    assert_eq!(report["generated_degraded"], 1, "{report:#}");
    assert_eq!(report["failed"], 1, "{report:#}");
    assert_eq!(report["endpoints"], 2, "{report:#}");
    // The clean document's three examples (two inputs, one output) are found.
    assert!(
        report["examples_tried"].as_u64().unwrap() >= 3,
        "{report:#}"
    );
    assert_eq!(
        report["compiled"],
        Value::Null,
        "--no-build compiles nothing"
    );
    let degradations = report["degradations"].to_string();
    assert!(
        degradations.contains("test__dangling.json") && degradations.contains("/style"),
        "a degradation names its file and JSON pointer: {degradations}"
    );
    assert!(
        report["failures"].to_string().contains("test__broken.json"),
        "{report:#}"
    );
    // Every JSON value of the bindings is accounted for: the free-form `options` map, the
    // dangling `style` (diagnosed); none is silent.
    assert_eq!(
        (
            report["value_free_form"].as_u64(),
            report["value_diagnosed"].as_u64()
        ),
        (Some(1), Some(1)),
        "{report:#}"
    );
    assert_eq!(report["value_silent"], json!([]), "{report:#}");
    assert!(
        stdout.contains("Value fields:         1 free-form, 1 diagnosed, 0 silent"),
        "{stdout}"
    );
    // The printed report says the same.
    assert!(stdout.contains("documents:            3"), "{stdout}");
    assert!(stdout.contains("failed:               1"), "{stdout}");
    assert!(stdout.contains("test__dangling.json"), "{stdout}");
    // The scratch crate holds both endpoints' bindings and the example checks.
    let manifest = std::fs::read_to_string(out.join("crate/Cargo.toml")).unwrap();
    assert!(manifest.contains("fal-models"), "{manifest}");
    let checks = std::fs::read_to_string(out.join("crate/src/bin/examples_check.rs")).unwrap();
    assert!(
        checks.contains("a cat"),
        "the example checks carry the documents' examples"
    );

    // Without the unreadable document the run succeeds.
    std::fs::remove_file(docs.join("test__broken.json")).unwrap();
    let (code, stdout, stderr, report) = corpus(&docs, &out);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        (report["documents"].as_u64(), report["failed"].as_u64()),
        (Some(2), Some(0))
    );
    let _ = std::fs::remove_dir_all(&dir);
}
