//! `fal-mock` without `--schemas` runs from any folder: it serves `./schemas` when there is
//! one, else the catalogue of the checkout it was built from (before: `schemas: No such file
//! or directory`, and only from the repository root).

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

#[test]
fn fal_mock_started_elsewhere_serves_the_catalogue_and_prints_the_exports_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fal-mock"))
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("fal-mock starts");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        if line == "# fal-mock ready" {
            break;
        }
        lines.push(line);
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("export FAL_KEY=")),
        "{lines:?}"
    );
    let served = lines
        .iter()
        .find_map(|l| l.strip_prefix("# fal-mock serving "))
        .unwrap_or_else(|| panic!("no summary line: {lines:?}"));
    let count: usize = served.split(' ').next().unwrap().parse().unwrap();
    assert!(count > 100, "the whole catalogue: {served}");
}
