//! `cargo xtask sync` end to end against fal-mock's platform listing (`GET /v1/models`) on
//! loopback, and offline with `--listing FILE`: adds, refreshes, retires and un-retires, a
//! second sync changes no byte, and every guard fails the sync without writing anything.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fal_models::mock::{Fault, MockServer};
use serde_json::{Value, json};
use support::{TestDir, run, temp_dir, write_json, xtask};

/// A fal document for `id` in `category`; `version` changes its input's description.
fn doc(id: &str, category: &str, version: u32) -> Value {
    let mut d = support::document(
        id,
        json!({
            "Input": {"type": "object", "required": ["prompt"], "properties": {
                "prompt": {"type": "string", "description": format!("The prompt (v{version}).")}}},
            "Output": {"type": "object", "properties": {"url": {"type": "string"}}}
        }),
    );
    d["info"]["x-fal-metadata"]["category"] = json!(category);
    d
}

/// A snapshot folder of the mock: documents and `listing.txt`.
fn snapshot(name: &str, docs: &[Value], listed: &[&str]) -> TestDir {
    let dir = temp_dir(name);
    for (i, d) in docs.iter().enumerate() {
        write_json(&dir.join(format!("doc{i}.json")), d);
    }
    std::fs::write(dir.join("listing.txt"), listed.join("\n") + "\n").unwrap();
    dir
}

/// Ten endpoints `t/e0`..`t/e9`, two categories.
fn ids() -> Vec<String> {
    (0..10).map(|i| format!("t/e{i}")).collect()
}

fn docs(version: u32) -> Vec<Value> {
    ids()
        .iter()
        .enumerate()
        .map(|(i, id)| {
            doc(
                id,
                if i % 2 == 0 {
                    "text-to-image"
                } else {
                    "text-to-video"
                },
                version,
            )
        })
        .collect()
}

/// The mock on its own runtime (kept alive with it).
struct Mock {
    server: MockServer,
    _rt: tokio::runtime::Runtime,
}

impl Mock {
    fn start(snapshot: &Path) -> Mock {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let server = rt
            .block_on(
                MockServer::builder()
                    .require_key("sync-key")
                    .platform_snapshot(snapshot)
                    .unwrap()
                    .start(),
            )
            .unwrap();
        Mock { server, _rt: rt }
    }

    fn api_url(&self) -> String {
        format!("{}/v1", self.server.rest_url())
    }
}

/// Runs `cargo xtask sync` on `schemas` against the mock, three models a page.
fn sync(mock: &Mock, schemas: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut cmd = xtask();
    cmd.args([
        "sync",
        "--no-regen",
        "--page-size",
        "3",
        "--retry-delay-ms",
        "10",
    ])
    .args(["--api-url", &mock.api_url()])
    .arg("--schemas-dir")
    .arg(schemas)
    .args(extra)
    .env("FAL_KEY", "sync-key");
    if !extra.contains(&"--date") {
        cmd.args(["--date", "2026-06-11"]);
    }
    run(&mut cmd)
}

/// Every file below `dir` with its bytes.
fn files(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.insert(
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
    }
    out
}

fn read(schemas: &Path, id: &str) -> Value {
    serde_json::from_slice(&std::fs::read(schemas.join(format!("{id}.json"))).unwrap()).unwrap()
}

fn retired(schemas: &Path, id: &str) -> Option<String> {
    read(schemas, id)["info"]["x-fal-retired"]
        .as_str()
        .map(str::to_owned)
}

/// A catalogue of the ten endpoints, synced from the mock.
fn synced_catalogue(name: &str) -> TestDir {
    let ids = ids();
    let listed: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mock = Mock::start(&snapshot(&format!("{name}-snap"), &docs(1), &listed));
    let schemas = temp_dir(name);
    let (code, out, err) = sync(&mock, &schemas, &[]);
    assert_eq!(code, 0, "{out}{err}");
    schemas
}

#[test]
fn sync_adds_refreshes_retires_and_unretires_and_a_second_sync_changes_nothing() {
    let ids = ids();
    let schemas = temp_dir("sync-life");
    // January: nine endpoints, one more listed without a document.
    let mut listed: Vec<&str> = ids[..9].iter().map(String::as_str).collect();
    listed.push("t/nodoc");
    let mock = Mock::start(&snapshot("sync-life-jan", &docs(1)[..9], &listed));
    let (code, out, err) = sync(&mock, &schemas, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("9 added, 0 changed, 0 retired"), "{out}");
    assert!(
        out.contains("no document t/nodoc: fal has no document"),
        "{out}"
    );
    assert!(!schemas.join("t/nodoc.json").exists(), "not imported");
    assert_eq!(
        read(&schemas, "t/e0"),
        docs(1)[0],
        "stored as fal served it"
    );

    // The same listing again: not a byte changes.
    let before = files(&schemas);
    let (code, out, _) = sync(&mock, &schemas, &[]);
    assert_eq!(code, 0);
    assert!(out.contains("0 files changed"), "{out}");
    assert_eq!(
        files(&schemas),
        before,
        "second sync is byte for byte a no-op"
    );

    // June: e0 changed, e1 gone, e9 new.
    let mut june = docs(1);
    june[0] = doc("t/e0", "text-to-image", 2);
    let listed: Vec<&str> = ids
        .iter()
        .filter(|i| *i != "t/e1")
        .map(String::as_str)
        .collect();
    let mock = Mock::start(&snapshot("sync-life-jun", &june, &listed));
    let (code, out, err) = sync(&mock, &schemas, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("added      t/e9"), "{out}");
    assert!(out.contains("changed    t/e0"), "{out}");
    assert!(out.contains("retired    t/e1 (since 2026-06-11)"), "{out}");
    assert_eq!(retired(&schemas, "t/e1").as_deref(), Some("2026-06-11"));
    assert_eq!(read(&schemas, "t/e0"), june[0]);
    // Retired, not deleted: the rest of its document is untouched.
    let mut unmarked = read(&schemas, "t/e1");
    unmarked["info"]
        .as_object_mut()
        .unwrap()
        .remove("x-fal-retired");
    assert_eq!(unmarked, docs(1)[1]);
    let before = files(&schemas);
    let (_, out, _) = sync(&mock, &schemas, &["--date", "2026-07-01"]);
    assert!(out.contains("0 files changed"), "{out}");
    assert_eq!(
        files(&schemas),
        before,
        "a retired endpoint keeps its first date"
    );

    // e1 comes back.
    let listed: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mock = Mock::start(&snapshot("sync-life-back", &june, &listed));
    let (code, out, err) = sync(&mock, &schemas, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("unretired  t/e1\n"),
        "only its marker changed: {out}"
    );
    assert_eq!(retired(&schemas, "t/e1"), None);
    assert_eq!(read(&schemas, "t/e1"), docs(1)[1]);
}

#[test]
fn dry_run_prints_the_plan_and_writes_nothing() {
    let schemas = synced_catalogue("sync-dry");
    let ids = ids();
    let listed: Vec<&str> = ids[1..].iter().map(String::as_str).collect();
    let mock = Mock::start(&snapshot("sync-dry-snap", &docs(2), &listed));
    let before = files(&schemas);
    let (code, out, err) = sync(&mock, &schemas, &["--dry-run"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("retired    t/e0"), "{out}");
    assert!(out.contains("changed    t/e1"), "{out}");
    assert!(out.contains("dry run: nothing written"), "{out}");
    assert_eq!(files(&schemas), before);
}

#[test]
fn prune_deletes_retired_endpoints_and_says_which() {
    let schemas = synced_catalogue("sync-prune");
    let ids = ids();
    let listed: Vec<&str> = ids[1..].iter().map(String::as_str).collect();
    let mock = Mock::start(&snapshot("sync-prune-snap", &docs(1), &listed));
    let (code, out, err) = sync(&mock, &schemas, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(schemas.join("t/e0.json").exists(), "retired, not deleted");
    let (code, out, err) = sync(&mock, &schemas, &["--prune"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("pruned     t/e0"), "{out}");
    assert!(out.contains("1 pruned"), "{out}");
    assert!(!schemas.join("t/e0.json").exists());
    assert!(schemas.join("t/e1.json").exists());
}

#[test]
fn endpoints_without_a_document_are_reported_not_imported_and_not_retired() {
    let schemas = synced_catalogue("sync-nodoc");
    let ids = ids();
    let listed: Vec<&str> = ids.iter().map(String::as_str).collect();
    // e0 is listed, but fal has no document for it now.
    let mock = Mock::start(&snapshot("sync-nodoc-snap", &docs(1)[1..], &listed));
    let before = files(&schemas);
    let (code, out, err) = sync(&mock, &schemas, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("no document t/e0: fal has no document: OpenAPI schema not available for this endpoint (expansion_failed)"),
        "{out}"
    );
    assert_eq!(files(&schemas), before, "kept as it was, not retired");
}

/// Runs a sync whose listing the mock spoils with `fault` on page 2 (every attempt), and
/// checks that it fails naming `reason` and writes nothing.
fn spoiled_listing_fails(name: &str, fault: Fault, reason: &str) {
    let schemas = synced_catalogue(name);
    let ids = ids();
    let listed: Vec<&str> = ids[1..].iter().map(String::as_str).collect();
    let mock = Mock::start(&snapshot(&format!("{name}-snap"), &docs(2), &listed));
    mock.server.inject_listing_fault(2, fault, 100);
    let before = files(&schemas);
    let (code, out, err) = sync(&mock, &schemas, &["--attempts", "2"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("page 2") && err.contains(reason), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(files(&schemas), before, "nothing written, nothing retired");
}

#[test]
fn an_error_page_fails_the_sync() {
    spoiled_listing_fails("sync-500", Fault::ServerError(500), "HTTP 500");
}

#[test]
fn a_truncated_page_fails_the_sync() {
    spoiled_listing_fails("sync-cut", Fault::TruncatedBody, "reading the body");
}

#[test]
fn a_page_that_does_not_parse_fails_the_sync() {
    spoiled_listing_fails("sync-malformed", Fault::MalformedBody, "not JSON");
    let entry_without_id = Fault::Respond {
        status: 200,
        headers: Vec::new(),
        body: json!({"models": [{"name": "x"}], "has_more": false}).to_string(),
    };
    spoiled_listing_fails(
        "sync-noid",
        entry_without_id,
        "entries without an endpoint_id",
    );
}

#[test]
fn has_more_without_a_cursor_fails_the_sync() {
    let cut = Fault::Respond {
        status: 200,
        headers: Vec::new(),
        body: json!({"models": [], "has_more": true, "next_cursor": null}).to_string(),
    };
    spoiled_listing_fails("sync-nocursor", cut, "has_more without a next_cursor");
}

#[test]
fn a_429_is_waited_out_and_the_sync_completes() {
    let schemas = synced_catalogue("sync-429");
    let ids = ids();
    let listed: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mock = Mock::start(&snapshot("sync-429-snap", &docs(2), &listed));
    mock.server.inject_listing_fault(
        2,
        Fault::TooManyRequests {
            retry_after_secs: 0,
        },
        2,
    );
    let (code, out, err) = sync(&mock, &schemas, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 added, 10 changed"), "{out}");
}

#[test]
fn a_listing_of_one_category_is_refused() {
    let schemas = synced_catalogue("sync-category");
    let ids = ids();
    // Only the text-to-image half: as if the listing were filtered by category.
    let listed: Vec<&str> = ids.iter().step_by(2).map(String::as_str).collect();
    let mock = Mock::start(&snapshot("sync-category-snap", &docs(1), &listed));
    let before = files(&schemas);
    let (code, out, err) = sync(&mock, &schemas, &["--allow-mass-retire"]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(err.contains("filtered by category"), "{err}");
    assert_eq!(files(&schemas), before);
    // A base URL that filters is refused before any request.
    let (code, _, err) = run(xtask()
        .args(["sync", "--no-regen", "--api-url"])
        .arg(format!("{}?category=text-to-image", mock.api_url()))
        .arg("--schemas-dir")
        .arg(&schemas)
        .env("FAL_KEY", "sync-key"));
    assert_ne!(code, 0);
    assert!(err.contains("carries a query"), "{err}");
}

#[test]
fn more_than_a_fifth_vanishing_is_refused_unless_overridden() {
    let schemas = synced_catalogue("sync-mass");
    let ids = ids();
    let listed: Vec<&str> = ids[3..].iter().map(String::as_str).collect();
    let mock = Mock::start(&snapshot("sync-mass-snap", &docs(1), &listed));
    let before = files(&schemas);
    let (code, out, err) = sync(&mock, &schemas, &[]);
    assert_ne!(code, 0, "{out}{err}");
    assert!(
        err.contains("3 of the 10 active endpoints would be retired"),
        "{err}"
    );
    assert_eq!(files(&schemas), before);
    let (code, out, err) = sync(&mock, &schemas, &["--allow-mass-retire"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("3 retired"), "{out}");
    // Two of ten (20 %) is not more than a fifth.
    let schemas = synced_catalogue("sync-mass-2");
    let listed: Vec<&str> = ids[2..].iter().map(String::as_str).collect();
    let mock = Mock::start(&snapshot("sync-mass-2-snap", &docs(1), &listed));
    let (code, out, err) = sync(&mock, &schemas, &[]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn the_listing_needs_the_key() {
    let schemas = temp_dir("sync-key");
    let ids = ids();
    let listed: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mock = Mock::start(&snapshot("sync-key-snap", &docs(1), &listed));
    let (code, _, err) = run(xtask()
        .args(["sync", "--no-regen", "--api-url", &mock.api_url()])
        .arg("--schemas-dir")
        .arg(&schemas)
        .env("FAL_KEY", "wrong-key"));
    assert_ne!(code, 0);
    assert!(err.contains("HTTP 401"), "{err}");
    assert!(
        !err.contains("wrong-key"),
        "the key is never printed: {err}"
    );
}

#[test]
fn offline_listing_retires_the_unlisted_and_touches_nothing_else() {
    let schemas = synced_catalogue("sync-offline");
    let dir = temp_dir("sync-offline-listing");
    let file = dir.join("2026-06-11.txt");
    let ids = ids();
    let mut lines: Vec<&str> = ids[1..].iter().map(String::as_str).collect();
    lines.push("t/only-listed");
    std::fs::write(&file, lines.join("\n")).unwrap();
    let before = files(&schemas);
    let (code, out, err) = run(xtask()
        .args(["sync", "--no-regen", "--listing"])
        .arg(&file)
        .arg("--schemas-dir")
        .arg(&schemas));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("retired    t/e0 (since 2026-06-11)"), "{out}");
    assert!(out.contains("1 listed ids not vendored"), "{out}");
    let after = files(&schemas);
    let changed: Vec<&PathBuf> = after
        .keys()
        .filter(|k| before.get(*k) != after.get(*k))
        .collect();
    assert_eq!(changed, [&PathBuf::from("t/e0.json")]);
    // Listed again: un-retired, back to the bytes it had.
    std::fs::write(&file, ids.join("\n")).unwrap();
    let (code, out, err) = run(xtask()
        .args(["sync", "--no-regen", "--listing"])
        .arg(&file)
        .arg("--schemas-dir")
        .arg(&schemas));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("unretired  t/e0"), "{out}");
    assert_eq!(files(&schemas), before);
}

/// The mock's `GET /v1/models` itself: pages and cursors, `endpoint_id` (repeatable),
/// `category`, `expand`, `status`, `expansion_failed`, a bad cursor, the key.
#[test]
fn the_mock_listing_answers_like_fals() {
    let ids = ids();
    let mut listed: Vec<&str> = ids.iter().map(String::as_str).collect();
    listed.push("t/nodoc");
    let mock = Mock::start(&snapshot("sync-mock-api", &docs(1), &listed));
    let client = reqwest::blocking::Client::new();
    let get = |query: &str| -> (u16, Value) {
        let r = client
            .get(format!("{}/models?{query}", mock.api_url()))
            .header("Authorization", "Key sync-key")
            .send()
            .unwrap();
        (r.status().as_u16(), r.json().unwrap_or(Value::Null))
    };
    let ids_of = |v: &Value| -> Vec<String> {
        v["models"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["endpoint_id"].as_str().unwrap().to_owned())
            .collect()
    };
    // Pages of 4, following next_cursor, cover every model once.
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let q = match &cursor {
            Some(c) => format!("status=active&limit=4&cursor={c}"),
            None => "status=active&limit=4".into(),
        };
        let (status, page) = get(&q);
        assert_eq!(status, 200);
        seen.extend(ids_of(&page));
        assert!(
            page["models"][0].get("openapi").is_none(),
            "documents only with expand"
        );
        if page["has_more"] == json!(false) {
            assert!(page["next_cursor"].is_null());
            break;
        }
        cursor = Some(page["next_cursor"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen.len(), 11);
    let (_, page) = get("expand=openapi-3.0&endpoint_id=t/e1&endpoint_id=t/nodoc");
    assert_eq!(ids_of(&page), ["t/e1", "t/nodoc"]);
    assert_eq!(page["models"][0]["openapi"], docs(1)[1]);
    assert_eq!(
        page["models"][1]["openapi"]["error"]["code"],
        "expansion_failed"
    );
    assert_eq!(page["models"][0]["metadata"]["category"], "text-to-video");
    let (_, page) = get("category=text-to-video&limit=100");
    assert_eq!(ids_of(&page).len(), 5);
    let (_, page) = get("status=deprecated");
    assert_eq!(ids_of(&page).len(), 0);
    assert_eq!(get("cursor=nonsense").0, 400);
    let r = client
        .get(format!("{}/models", mock.api_url()))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
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
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `.github/workflows/catalogue-sync.yml` runs these xtask commands, and they do what its shell
/// relies on: sync changes the tree (git status is how the workflow sees it), the diff exits 0
/// with a markdown report, release prints the next version, and a second sync leaves the tree
/// clean (no pull request). Actions pinned, permissions minimal, the key a secret.
#[test]
fn the_catalogue_sync_workflow_matches_the_commands() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let workflow =
        std::fs::read_to_string(root.join(".github/workflows/catalogue-sync.yml")).unwrap();
    // Commands in `run:` scripts: not comments, step names or echoed text.
    let commands: Vec<String> = workflow
        .lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with("- name:") && !l.starts_with("echo"))
        .filter_map(|l| l.split("cargo xtask ").nth(1))
        .map(|rest| {
            let rest = rest.split(" ||").next().unwrap();
            rest.trim_end_matches(')').trim().to_owned()
        })
        .collect();
    assert_eq!(
        commands,
        [
            "sync",
            "diff --base HEAD --format markdown > \"$RUNNER_TEMP/report.md\"",
            "release --print-version",
        ]
    );
    assert!(workflow.contains("FAL_KEY: ${{ secrets.FAL_KEY }}"));
    assert!(workflow.contains("schedule:") && workflow.contains("workflow_dispatch:"));
    let permissions: Vec<&str> = workflow
        .split("permissions:\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.split('#').next().unwrap().trim())
        .collect();
    assert_eq!(permissions, ["contents: write", "pull-requests: write"]);
    for uses in workflow.lines().filter_map(|l| l.split("uses: ").nth(1)) {
        let sha = uses
            .split('@')
            .nth(1)
            .unwrap_or("")
            .split(' ')
            .next()
            .unwrap();
        assert!(
            sha.len() == 40 && sha.chars().all(|c| c.is_ascii_hexdigit()),
            "`{uses}` is not pinned"
        );
    }

    // The same commands on a scratch workspace with a release tag, against the mock.
    let dir = temp_dir("sync-workflow");
    for (rel, text) in [
        (
            "fal-models/Cargo.toml",
            "[package]\nname = \"fal-models\"\nversion = \"0.1.0\"\n",
        ),
        (
            "fal-models-core/Cargo.toml",
            "[package]\nname = \"fal-models-core\"\nversion = \"0.1.0\"\n",
        ),
    ] {
        std::fs::create_dir_all(dir.join(rel).parent().unwrap()).unwrap();
        std::fs::write(dir.join(rel), text).unwrap();
    }
    for (i, d) in docs(1).iter().enumerate().take(9) {
        write_json(&dir.join(format!("schemas/t/e{i}.json")), d);
    }
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "v0.1.0"]);
    git(&dir, &["tag", "v0.1.0"]);
    let ids = ids();
    let listed: Vec<&str> = ids.iter().map(String::as_str).collect();
    let mock = Mock::start(&snapshot("sync-workflow-snap", &docs(1), &listed));
    let xtask_in = |args: &[&str]| {
        let mut cmd = xtask();
        cmd.arg("--workspace")
            .arg(&dir)
            .args(args)
            .env("FAL_KEY", "sync-key");
        run(&mut cmd)
    };
    // The workflow's `sync`, pointed at the mock (regen needs the real workspace).
    let sync_args = ["sync", "--api-url", &mock.api_url(), "--no-regen"];
    let (code, out, err) = xtask_in(&sync_args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        !git(&dir, &["status", "--porcelain"]).is_empty(),
        "the workflow sees a change"
    );
    let (code, report, err) = xtask_in(&["diff", "--base", "HEAD", "--format", "markdown"]);
    assert_eq!(code, 0, "{err}");
    assert!(
        report.starts_with("## fal schema changes") && report.contains("t/e9"),
        "{report}"
    );
    let (code, version, err) = xtask_in(&["release", "--print-version"]);
    assert_eq!((code, version.trim()), (0, "0.1.1 (minor)"), "{err}");
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "sync"]);
    let (code, out, err) = xtask_in(&sync_args);
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(
        git(&dir, &["status", "--porcelain"]),
        "",
        "nothing new: no pull request"
    );
}

/// `fetch --all` leaves retired endpoints alone: fal does not list them, and a refetch must
/// not drop their marker.
#[test]
fn fetch_all_skips_retired_endpoints() {
    let schemas = synced_catalogue("sync-fetch-all");
    let ids = ids();
    let listed: Vec<&str> = ids[1..].iter().map(String::as_str).collect();
    let mock = Mock::start(&snapshot("sync-fetch-all-snap", &docs(1), &listed));
    let (code, out, err) = sync(&mock, &schemas, &[]);
    assert_eq!(code, 0, "{out}{err}");
    let before = files(&schemas);
    let (code, out, err) = run(xtask()
        .args(["fetch", "--all", "--no-regen", "--api-url", &mock.api_url()])
        .arg("--schemas-dir")
        .arg(&schemas)
        .env("FAL_KEY", "sync-key"));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("skipped 1 retired endpoints"), "{out}");
    assert_eq!(files(&schemas), before);
}
