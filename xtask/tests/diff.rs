//! `cargo xtask diff`: one fixture pair per rule with its exact findings, the report formats,
//! exit codes, and the git mode.

mod support;

use std::path::Path;

use serde_json::Value;
use support::{ENDPOINT, document, fixtures, run, temp_dir, write_json, xtask};

/// Every rule id the diff can report: each must have a fixture folder of the same name.
const RULES: &[&str] = &[
    "endpoint-removed",
    "document-invalid",
    "input-required-property-added",
    "input-property-became-required",
    "input-enum-value-removed",
    "input-type-changed",
    "input-constraint-tightened",
    "output-property-removed",
    "output-property-became-optional",
    "output-property-became-nullable",
    "output-type-changed",
    "output-optional-property-removed",
    "input-property-removed",
    "input-nullable-removed",
    "default-changed",
    "output-enum-value-added",
    "document-problem",
    "endpoint-added",
    "input-property-added",
    "input-property-became-optional",
    "input-nullable-added",
    "input-enum-value-added",
    "input-type-widened",
    "input-constraint-loosened",
    "output-property-added",
    "output-property-became-required",
    "output-property-became-non-nullable",
    "output-enum-value-removed",
    "output-type-narrowed",
    "type-renamed",
    "deprecated-added",
    "description-changed",
];

/// Writes one side of a fixture as `<dest>/test/endpoint.json`: `<side>.json` holds the
/// component schemas (wrapped into a document) or a whole document; `<side>.raw` is copied
/// byte for byte (for unreadable documents); neither means the endpoint is absent.
fn materialise(case: &Path, side: &str, dest: &Path) {
    std::fs::create_dir_all(dest).unwrap();
    let target = dest.join(format!("{ENDPOINT}.json"));
    let json = case.join(format!("{side}.json"));
    let raw = case.join(format!("{side}.raw"));
    if json.exists() {
        let value: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let doc = if value.get("openapi").is_some() {
            value
        } else {
            document(ENDPOINT, value)
        };
        write_json(&target, &doc);
    } else if raw.exists() {
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(&raw, &target).unwrap();
    }
}

/// Runs `xtask diff old new --format json` and returns (exit code, report).
fn diff_json(old: &Path, new: &Path, extra: &[&str]) -> (i32, Value) {
    let (code, stdout, stderr) = run(xtask()
        .args(["diff", "--format", "json"])
        .args(extra)
        .arg(old)
        .arg(new));
    assert!(code == 0 || code == 1, "diff failed ({code}): {stderr}");
    (
        code,
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}")),
    )
}

/// One line per finding: `LEVEL rule semver path | message` (`-` for an empty path).
fn finding_lines(report: &Value, dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for endpoint in report["endpoints"].as_array().unwrap() {
        for f in endpoint["findings"].as_array().unwrap() {
            let path = f["path"].as_str().unwrap();
            let message = f["message"]
                .as_str()
                .unwrap()
                .replace(&dir.display().to_string(), "$DIR");
            lines.push(format!(
                "{} {} {} {} | {message}",
                f["level"].as_str().unwrap(),
                f["rule"].as_str().unwrap(),
                f["semver"].as_str().unwrap(),
                if path.is_empty() { "-" } else { path },
            ));
        }
    }
    lines
}

#[test]
fn every_fixture_pair_gives_exactly_its_expected_findings() {
    let root = fixtures("diff");
    let mut cases: Vec<_> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    for rule in RULES {
        assert!(
            root.join(rule).is_dir(),
            "rule {rule} has no fixture folder"
        );
    }
    assert!(cases.len() > RULES.len(), "quirk fixtures missing");
    let mut failures = Vec::new();
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy();
        let dir = temp_dir(&format!("diff-{name}"));
        materialise(case, "old", &dir.join("old"));
        materialise(case, "new", &dir.join("new"));
        let (_, report) = diff_json(&dir.join("old"), &dir.join("new"), &[]);
        let actual = finding_lines(&report, &dir);
        let expected: Vec<String> = std::fs::read_to_string(case.join("expected.txt"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        if actual != expected {
            failures.push(format!(
                "{name}:\n  expected {expected:#?}\n  actual   {actual:#?}"
            ));
        }
        // A case named after a rule must show that rule.
        if RULES.contains(&&*name) && !actual.iter().any(|l| l.split(' ').nth(1) == Some(&*name)) {
            failures.push(format!("{name}: the rule itself was not reported"));
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Three endpoints with INFO, ERR and WARN changes, as old/new folders.
fn three_endpoints(dir: &Path) {
    let input = |extra: Value| {
        let mut props = serde_json::json!({"prompt": {"type": "string"}});
        props
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::json!({"type": "object", "properties": props, "required": ["prompt"]})
    };
    let output = serde_json::json!({"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]});
    let pairs = [
        (
            "a/info",
            serde_json::json!({}),
            serde_json::json!({"seed": {"type": "integer"}}),
        ),
        (
            "b/err",
            serde_json::json!({"size": {"type": "string", "enum": ["s", "m"]}}),
            serde_json::json!({"size": {"type": "string", "enum": ["s"]}}),
        ),
        (
            "c/warn",
            serde_json::json!({"steps": {"type": "integer", "default": 1}}),
            serde_json::json!({"steps": {"type": "integer", "default": 2}}),
        ),
    ];
    for (id, old, new) in pairs {
        let old = document(
            id,
            serde_json::json!({"Input": input(old), "Output": output}),
        );
        let new = document(
            id,
            serde_json::json!({"Input": input(new), "Output": output}),
        );
        write_json(&dir.join(format!("old/{id}.json")), &old);
        write_json(&dir.join(format!("new/{id}.json")), &new);
    }
}

#[test]
fn markdown_groups_by_endpoint_breaking_first_and_folds_info_only_endpoints() {
    let dir = temp_dir("diff-markdown");
    three_endpoints(&dir);
    let (code, stdout, stderr) = run(xtask()
        .args(["diff", "--format", "markdown"])
        .arg(dir.join("old"))
        .arg(dir.join("new")));
    assert_eq!(code, 0, "{stderr}");
    let headings: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("### ") || l.starts_with("<details>"))
        .collect();
    assert_eq!(
        headings,
        [
            "### 🔴 `b/err` (ERR, fal-models major)",
            "### 🟡 `c/warn` (WARN, fal-models patch)",
            "<details><summary>1 endpoint(s) with INFO changes only</summary>",
            "### 🔵 `a/info` (INFO, fal-models minor)",
        ]
    );
    assert!(
        stdout.contains(
            "| ERR | `input-enum-value-removed` | `input.size` | removed \"m\" | major |"
        ),
        "{stdout}"
    );
    assert!(stdout.contains(
        "3 compared, 3 changed, 0 added, 0 removed; 1 ERR, 1 WARN, 1 INFO; fal-models: major"
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn text_format_lists_each_finding_under_its_endpoint() {
    let dir = temp_dir("diff-text");
    three_endpoints(&dir);
    let (code, stdout, _) = run(xtask()
        .arg("diff")
        .arg(dir.join("old"))
        .arg(dir.join("new")));
    assert_eq!(code, 0);
    let expected = format!(
        "b/err (ERR, major)\n  ERR  input-enum-value-removed [major] input.size: removed \"m\"\n\
         \x20 rust [major] removed variant Size::M\n\
         c/warn (WARN, patch)\n  WARN default-changed [patch] input.steps: default 1 → 2\n\
         a/info (INFO, minor)\n  INFO input-property-added [minor] input.seed: optional property added (integer)\n\
         \x20 rust [minor] added field Input.seed: Option<i64>\n\
         \x20 rust [minor] added setter Input::seed: fn(mut self, value: i64) -> Self\n\
         {} → {}: 3 compared, 3 changed, 0 added, 0 removed; 1 ERR, 1 WARN, 1 INFO; fal-models: major\n",
        dir.join("old").display(),
        dir.join("new").display()
    );
    assert_eq!(stdout, expected);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fail_on_sets_exit_code_one_and_errors_exit_two() {
    let dir = temp_dir("diff-exit");
    three_endpoints(&dir);
    let (old, new) = (dir.join("old"), dir.join("new"));
    let code = |extra: &[&str], old: &Path, new: &Path| {
        run(xtask().arg("diff").args(extra).arg(old).arg(new)).0
    };
    assert_eq!(code(&[], &old, &new), 0);
    assert_eq!(code(&["--fail-on", "ERR"], &old, &new), 1);
    assert_eq!(code(&["--fail-on", "WARN"], &old, &new), 1);
    // Only the WARN endpoint: fails on WARN, not on ERR.
    let (wold, wnew) = (old.join("c/warn.json"), new.join("c/warn.json"));
    assert_eq!(code(&["--fail-on", "ERR"], &wold, &wnew), 0);
    assert_eq!(code(&["--fail-on", "WARN"], &wold, &wnew), 1);
    // No changes at all.
    assert_eq!(code(&["--fail-on", "WARN"], &old, &old), 0);
    // Errors: a missing folder, a folder against a file.
    let (c, _, stderr) = run(xtask()
        .arg("diff")
        .arg(dir.join("missing"))
        .arg(dir.join("missing2")));
    assert_eq!(c, 2);
    assert!(stderr.contains("missing"), "{stderr}");
    assert_eq!(code(&[], &old, &wnew), 2);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn two_files_compare_as_one_endpoint_whatever_their_names() {
    let dir = temp_dir("diff-files");
    three_endpoints(&dir);
    let old = dir.join("before.json");
    std::fs::copy(dir.join("old/b/err.json"), &old).unwrap();
    let (code, report) = diff_json(&old, &dir.join("new/b/err.json"), &["--fail-on", "ERR"]);
    assert_eq!(code, 1);
    assert_eq!(
        finding_lines(&report, &dir),
        ["ERR input-enum-value-removed major input.size | removed \"m\""]
    );
    assert_eq!(report["endpoints"][0]["endpoint"], "b/err");
    let _ = std::fs::remove_dir_all(&dir);
}

fn git(repo: &Path, args: &[&str]) {
    let (code, _, stderr) = run(std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args([
            "-c",
            "user.name=test",
            "-c",
            "user.email=test@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args));
    assert_eq!(code, 0, "git {args:?}: {stderr}");
}

#[test]
fn git_mode_compares_a_revision_with_the_working_tree() {
    let dir = temp_dir("diff-git");
    three_endpoints(&dir);
    let repo = dir.join("repo");
    std::fs::create_dir_all(repo.join("schemas/b")).unwrap();
    git(&repo, &["init", "-q"]);
    std::fs::copy(dir.join("old/b/err.json"), repo.join("schemas/b/err.json")).unwrap();
    git(&repo, &["add", "schemas"]);
    git(&repo, &["commit", "-q", "-m", "old"]);
    std::fs::copy(dir.join("new/b/err.json"), repo.join("schemas/b/err.json")).unwrap();
    // A second endpoint only in the working tree.
    std::fs::create_dir_all(repo.join("schemas/c")).unwrap();
    std::fs::copy(
        dir.join("new/c/warn.json"),
        repo.join("schemas/c/warn.json"),
    )
    .unwrap();

    let report = |extra: &[&str]| {
        let (code, stdout, stderr) = run(xtask()
            .args(["diff", "--format", "json", "--repo"])
            .arg(&repo)
            .args(extra));
        assert_eq!(code, 0, "{stderr}");
        let report: Value = serde_json::from_str(&stdout).unwrap();
        finding_lines(&report, &dir)
    };
    let expected = [
        "ERR input-enum-value-removed major input.size | removed \"m\"",
        "INFO endpoint-added minor - | endpoint added",
    ];
    assert_eq!(report(&[]), expected);
    assert_eq!(report(&["--base", "HEAD"]), expected);

    // The committed version is a revision too: committing the change leaves HEAD~1 → tree.
    git(&repo, &["add", "schemas"]);
    git(&repo, &["commit", "-q", "-m", "new"]);
    assert_eq!(report(&[]), Vec::<String>::new());
    assert_eq!(report(&["--base", "HEAD~1"]), expected);
    assert_eq!(report(&["--base", "HEAD~1", "--head", "HEAD"]), expected);
    // Backwards between revisions: the working tree plays no part.
    std::fs::remove_dir_all(repo.join("schemas")).unwrap();
    assert_eq!(
        report(&["--base", "HEAD", "--head", "HEAD~1"]),
        [
            "ERR endpoint-removed major - | endpoint removed",
            "INFO input-enum-value-added minor input.size | added \"m\"",
        ]
    );

    let (code, _, stderr) = run(xtask()
        .args(["diff", "--base", "no-such-rev", "--repo"])
        .arg(&repo));
    assert_eq!(code, 2);
    assert!(stderr.contains("no-such-rev"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `count` endpoints whose output `a` and `b` both became nullable and `c` was removed.
fn many_breaking_endpoints(dir: &Path, count: usize) {
    let input = serde_json::json!({"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]});
    let props = |nullable: bool| {
        let ty = if nullable {
            serde_json::json!({"anyOf": [{"type": "string"}, {"type": "null"}]})
        } else {
            serde_json::json!({"type": "string"})
        };
        serde_json::json!({"a": ty, "b": ty})
    };
    for i in 0..count {
        let id = format!("owner/endpoint-{i:04}");
        let mut old_props = props(false);
        old_props["c"] = serde_json::json!({"type": "integer"});
        let old = serde_json::json!({"type": "object", "properties": old_props, "required": ["a", "b", "c"]});
        let new = serde_json::json!({"type": "object", "properties": props(true), "required": ["a", "b"]});
        write_json(
            &dir.join(format!("old/{id}.json")),
            &document(&id, serde_json::json!({"Input": input, "Output": old})),
        );
        write_json(
            &dir.join(format!("new/{id}.json")),
            &document(&id, serde_json::json!({"Input": input, "Output": new})),
        );
    }
}

#[test]
fn markdown_shares_a_row_between_siblings_and_fits_a_github_comment() {
    let dir = temp_dir("diff-markdown-big");
    many_breaking_endpoints(&dir, 400);
    let (code, stdout, _) = run(xtask()
        .args(["diff", "--format", "markdown"])
        .arg(dir.join("old"))
        .arg(dir.join("new")));
    assert_eq!(code, 0);
    let first = stdout.split("### ").nth(1).unwrap();
    assert_eq!(
        first,
        "🔴 `owner/endpoint-0000` (ERR, fal-models major)\n\n\
         | Level | Rule | Where | Change | Rust |\n|---|---|---|---|---|\n\
         | ERR | `output-property-became-nullable` | `output.{a, b}` | may now be null | major |\n\
         | ERR | `output-property-removed` | `output.c` | required property removed | major |\n\n\
         | Rust API | Item | Signature | Rust |\n|---|---|---|---|\n\
         | removed field | `Output.c` | `i64` | major |\n\
         | changed field | `Output.a` | `String` → `Option<String>` | major |\n\
         | changed field | `Output.b` | `String` → `Option<String>` | major |\n\
         | changed constructor | `Output::new` | `fn(a: impl Into<String>, b: impl Into<String>, c: i64) -> Self` → `fn(a: Option<String>, b: Option<String>) -> Self` | major |\n\n"
    );
    assert!(stdout.len() < 65_536, "{} bytes", stdout.len());
    let shown = stdout.matches("### ").count();
    assert!(shown > 50 && shown < 400, "{shown} shown");
    assert!(
        stdout.ends_with(&format!(
            "\n… {} more endpoint(s) not shown (comment size limit): run `cargo xtask diff` for the full report.\n",
            400 - shown
        )),
        "{}",
        &stdout[stdout.len() - 300..]
    );
    // The JSON report keeps one finding per property.
    let (_, report) = diff_json(&dir.join("old"), &dir.join("new"), &[]);
    assert_eq!(
        report["summary"]["by_rule"]["output-property-became-nullable"],
        800
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The pull-request workflow calls this command with flags it accepts, relies on its exit codes
/// (0 clean, 1 ERR, 2 failure), and pins every action to a commit.
#[test]
fn the_schema_review_workflow_matches_the_command() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let workflow =
        std::fs::read_to_string(root.join(".github/workflows/schema-review.yml")).unwrap();
    let line = workflow
        .lines()
        .find(|l| l.trim_start().starts_with("cargo xtask diff"))
        .expect("the workflow runs cargo xtask diff");
    let args: Vec<&str> = line.split_whitespace().skip(2).collect();
    assert_eq!(
        args,
        [
            "diff",
            "--base",
            "\"$BASE\"",
            "--format",
            "markdown",
            "--fail-on",
            "ERR",
            ">",
            "report.md"
        ]
    );
    assert!(workflow.contains("breaking-change-ok"));
    // The same flags against folders: exit 1 on ERR, markdown out.
    let dir = temp_dir("diff-workflow");
    three_endpoints(&dir);
    let (code, stdout, _) = run(xtask()
        .args(["diff", "--format", "markdown", "--fail-on", "ERR"])
        .arg(dir.join("old"))
        .arg(dir.join("new")));
    assert_eq!(code, 1);
    assert!(stdout.starts_with("## fal schema changes"), "{stdout}");
    for file in ["ci.yml", "schema-review.yml"] {
        let text = std::fs::read_to_string(root.join(".github/workflows").join(file)).unwrap();
        for uses in text.lines().filter_map(|l| l.split("uses: ").nth(1)) {
            let sha = uses
                .split('@')
                .nth(1)
                .unwrap_or("")
                .split(' ')
                .next()
                .unwrap();
            assert!(
                sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
                "{file}: `{uses}` is not pinned to a commit"
            );
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
