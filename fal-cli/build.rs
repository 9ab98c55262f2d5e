//! Packs the catalogue (`../schemas`, or `FAL_CLI_SCHEMAS`) into the binary: one minified
//! document per line, gzip-compressed (14 MB of documents become under 1 MB). A package built
//! outside the workspace (crates.io) uses `catalogue.jsonl.gz` beside this file instead.

use std::io::Write as _;
use std::path::{Path, PathBuf};

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("catalogue.jsonl.gz");
    println!("cargo:rerun-if-env-changed=FAL_CLI_SCHEMAS");
    let schemas = std::env::var_os("FAL_CLI_SCHEMAS")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest.join("../schemas"));
    if !schemas.is_dir() {
        let vendored = manifest.join("catalogue.jsonl.gz");
        println!("cargo:rerun-if-changed={}", vendored.display());
        std::fs::copy(&vendored, &out).unwrap_or_else(|e| {
            panic!(
                "no catalogue: neither {} (set FAL_CLI_SCHEMAS) nor {}: {e}",
                schemas.display(),
                vendored.display()
            )
        });
        return;
    }
    println!("cargo:rerun-if-changed={}", schemas.display());
    let mut files = Vec::new();
    collect(&schemas, &mut files);
    files.sort();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let doc: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        serde_json::to_writer(&mut gz, &doc).unwrap();
        gz.write_all(b"\n").unwrap();
    }
    std::fs::write(&out, gz.finish().unwrap()).unwrap();
}
