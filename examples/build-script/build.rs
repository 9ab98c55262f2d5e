//! Generates typed bindings for the documents in `openapi/` (your own fal apps) into OUT_DIR.

use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    println!("cargo::rerun-if-changed=openapi");
    let mut docs = Vec::new();
    for entry in std::fs::read_dir("openapi").expect("openapi/ exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|e| e == "json") {
            match fal_codegen::Document::load(&path) {
                Ok(doc) => docs.push(doc),
                Err(e) => println!("cargo::warning={e}"),
            }
        }
    }
    let generated = fal_codegen::Config::new().generate(&docs);
    // Problems in a document never stop the build: the spot is typed as a JSON value.
    for d in generated.diagnostics.iter().chain(&generated.failed) {
        println!("cargo::warning={d}");
    }
    std::fs::write(out.join("fal_apps.rs"), generated.single_file()).expect("write bindings");
}
