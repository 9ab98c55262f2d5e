//! The minimum Rust version the README states (1.85), as far as it can be checked without a
//! 1.85 toolchain (CI has only the current stable): every workspace crate declares it, and
//! every locked dependency declares it or an older one (or none). Standard-library APIs newer
//! than `rust-version` in our own code are clippy's `incompatible_msrv` lint, denied in CI.

use std::process::Command;

use serde_json::Value;

const MSRV: (u64, u64) = (1, 85);

fn version(text: &str) -> (u64, u64) {
    let mut parts = text.split('.').map(|p| p.parse::<u64>().unwrap());
    (parts.next().unwrap(), parts.next().unwrap_or(0))
}

#[test]
fn every_crate_and_locked_dependency_fits_the_stated_minimum() {
    let output = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: Value = serde_json::from_slice(&output.stdout).unwrap();
    let members: Vec<&str> = metadata["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap())
        .collect();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    assert!(
        readme.contains(&format!("{}.{}", MSRV.0, MSRV.1)),
        "the README states the minimum this test checks"
    );
    let (mut checked, mut too_new) = (0, Vec::new());
    for package in metadata["packages"].as_array().unwrap() {
        let name = package["name"].as_str().unwrap();
        let declared = package["rust_version"].as_str();
        if members.contains(&package["id"].as_str().unwrap()) {
            assert_eq!(declared.map(version), Some(MSRV), "workspace crate {name}");
        }
        if let Some(declared) = declared {
            checked += 1;
            if version(declared) > MSRV {
                too_new.push(format!(
                    "{name} {} needs Rust {declared}",
                    package["version"]
                ));
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} packages declare a rust-version"
    );
    assert!(
        too_new.is_empty(),
        "locked dependencies newer than the stated minimum:\n{}",
        too_new.join("\n")
    );
}
