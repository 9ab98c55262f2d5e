//! `cargo xtask release` on a scratch workspace with its own git history: the CHANGELOG
//! section (grouped, breaking first), the version from the verdicts, every published crate
//! bumped together, and a major bump refused without `--major`.

mod support;

use std::path::Path;
use std::process::Command;

use serde_json::json;
use support::{document, run, temp_dir, write_json, xtask};

fn git(dir: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args([
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

fn doc(id: &str) -> serde_json::Value {
    document(
        id,
        json!({
            "Input": {"type": "object", "required": ["prompt"], "properties": {"prompt": {"type": "string"}}},
            "Output": {"type": "object", "required": ["url"], "properties": {"url": {"type": "string"}}}
        }),
    )
}

fn workspace(name: &str) -> support::TestDir {
    let dir = temp_dir(name);
    let w = |rel: &str, text: &str| {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    };
    w(
        "Cargo.toml",
        "[workspace.dependencies]\nfal-models-core = { version = \"=0.1.0\", path = \"fal-models-core\" }\nserde = \"1\"\n",
    );
    w(
        "fal-models/Cargo.toml",
        "[package]\nname = \"fal-models\"\nversion = \"0.1.0\"\n\n[dependencies]\nfal-models-shard-0 = { version = \"=0.1.0\", path = \"../shards/shard-0\", optional = true }\n",
    );
    w(
        "fal-models-core/Cargo.toml",
        "[package]\nname = \"fal-models-core\"\nversion = \"0.1.0\"\n",
    );
    w(
        "shards/shard-0/Cargo.toml",
        "[package]\nname = \"fal-models-shard-0\"\nversion = \"0.1.0\"\n",
    );
    w(
        "Cargo.lock",
        "[[package]]\nname = \"fal-models\"\nversion = \"0.1.0\"\n\n[[package]]\nname = \"serde\"\nversion = \"0.1.0\"\n",
    );
    for id in ["t/a", "t/b"] {
        write_json(&dir.join(format!("schemas/{id}.json")), &doc(id));
    }
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "v0.1.0"]);
    git(&dir, &["tag", "v0.1.0"]);
    dir
}

fn release(dir: &Path, extra: &[&str]) -> (i32, String, String) {
    run(xtask()
        .arg("--workspace")
        .arg(dir)
        .args(["release", "--date", "2026-06-11"])
        .args(extra))
}

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap()
}

#[test]
fn additions_and_retirements_are_a_minor_release_with_notes() {
    let dir = workspace("release-minor");
    write_json(&dir.join("schemas/t/c.json"), &doc("t/c"));
    let mut b = doc("t/b");
    b["info"]["x-fal-retired"] = json!("2026-06-11");
    write_json(&dir.join("schemas/t/b.json"), &b);
    let (code, out, err) = release(&dir, &["--print-version"]);
    assert_eq!((code, out.trim()), (0, "0.1.1 (minor)"), "{err}");
    let (code, out, err) = release(&dir, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let log = read(&dir, "CHANGELOG.md");
    assert!(
        log.starts_with("# Changelog\n\n## 0.1.1 (2026-06-11)\n"),
        "{log}"
    );
    let retired = log.find("### Retired").expect(&log);
    let added = log.find("### Added").expect(&log);
    assert!(retired < added, "{log}");
    assert!(
        log.contains("- `t/b` (`fal_models::t::b`, feature `t`, minor)"),
        "{log}"
    );
    assert!(
        log.contains("endpoint-retired: fal no longer lists it since 2026-06-11"),
        "{log}"
    );
    assert!(
        log.contains("- `t/c` (`fal_models::t::c`, feature `t`, minor)"),
        "{log}"
    );
    for (rel, line) in [
        ("fal-models/Cargo.toml", "version = \"0.1.1\""),
        (
            "fal-models/Cargo.toml",
            "version = \"=0.1.1\", path = \"../shards/shard-0\"",
        ),
        ("fal-models-core/Cargo.toml", "version = \"0.1.1\""),
        ("shards/shard-0/Cargo.toml", "version = \"0.1.1\""),
        ("Cargo.toml", "fal-models-core = { version = \"=0.1.1\""),
        ("Cargo.lock", "name = \"fal-models\"\nversion = \"0.1.1\""),
        ("Cargo.lock", "name = \"serde\"\nversion = \"0.1.0\""),
    ] {
        assert!(read(&dir, rel).contains(line), "{rel} lacks {line:?}");
    }
}

#[test]
fn a_breaking_change_needs_major_and_breaking_comes_first() {
    let dir = workspace("release-major");
    // t/a loses its required output field (breaking); t/b is removed without being retired.
    let mut a = doc("t/a");
    a["components"]["schemas"]["Output"] =
        json!({"type": "object", "properties": {"seed": {"type": "integer"}}});
    write_json(&dir.join("schemas/t/a.json"), &a);
    write_json(&dir.join("schemas/t/c.json"), &doc("t/c"));
    let before = read(&dir, "fal-models/Cargo.toml");
    let (code, _, err) = release(&dir, &[]);
    assert_ne!(code, 0);
    assert!(err.contains("pass --major"), "{err}");
    assert_eq!(
        read(&dir, "fal-models/Cargo.toml"),
        before,
        "nothing written"
    );
    assert!(!dir.join("CHANGELOG.md").exists());
    let (code, out, err) = release(&dir, &["--major"]);
    assert_eq!(code, 0, "{out}{err}");
    let log = read(&dir, "CHANGELOG.md");
    assert!(log.contains("## 0.2.0 (2026-06-11)"), "{log}");
    let breaking = log.find("### Breaking changes").expect(&log);
    assert!(breaking < log.find("### Added").expect(&log), "{log}");
    assert!(log.contains("Rust: removed field Output.url"), "{log}");
    assert!(read(&dir, "fal-models-core/Cargo.toml").contains("version = \"0.2.0\""));
}

#[test]
fn pruning_a_retired_endpoint_is_listed_as_pruned() {
    let dir = workspace("release-prune");
    let mut b = doc("t/b");
    b["info"]["x-fal-retired"] = json!("2026-01-27");
    write_json(&dir.join("schemas/t/b.json"), &b);
    git(&dir, &["commit", "-qam", "retire t/b"]);
    git(&dir, &["tag", "v0.1.1"]);
    std::fs::remove_file(dir.join("schemas/t/b.json")).unwrap();
    let (code, out, err) = release(&dir, &["--major", "--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("Since v0.1.1: 1 pruned (major release)"),
        "{out}"
    );
    assert!(
        out.contains("### Pruned (retired endpoints removed)\n\n- `t/b`"),
        "{out}"
    );
    assert!(!out.contains("### Breaking"), "{out}");
    assert!(!dir.join("CHANGELOG.md").exists(), "dry run");
}
