//! Where the two versions come from: a git revision's `schemas/`, the working tree, a folder
//! or a single file. Every document is keyed by its path relative to the folder, without
//! `.json`, so `schemas/fal-ai/sora-2/text-to-video.json` pairs with the same path elsewhere.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

use super::model;
use super::rules::Version;

/// The documents of one side, by key.
pub struct Snapshot {
    /// How the side is named in reports (`HEAD`, `working tree`, a path).
    pub label: String,
    /// Loaded documents by key.
    pub docs: BTreeMap<String, Version>,
    /// The parsed JSON of the readable documents by key, for generating their Rust API.
    pub json: BTreeMap<String, serde_json::Value>,
}

impl Snapshot {
    /// An empty side (no `schemas/` at all).
    pub fn empty(label: String) -> Snapshot {
        Snapshot {
            label,
            docs: BTreeMap::new(),
            json: BTreeMap::new(),
        }
    }

    fn insert(&mut self, key: String, name: &str, bytes: &[u8]) {
        match serde_json::from_slice::<serde_json::Value>(bytes) {
            Ok(value) => {
                self.docs
                    .insert(key.clone(), Version::Doc(Box::new(model::load(&value))));
                self.json.insert(key, value);
            }
            Err(err) => {
                self.docs.insert(
                    key,
                    Version::Invalid(format!("{name}: not a JSON document: {err}")),
                );
            }
        }
    }
}

/// Reads a folder recursively (every `*.json`, skipping dot files such as fetch's temp files).
pub fn folder(dir: &Path, label: String) -> anyhow::Result<Snapshot> {
    let files =
        crate::fsutil::json_files(dir).with_context(|| format!("reading {}", dir.display()))?;
    let mut snapshot = Snapshot::empty(label);
    for file in files {
        let relative = file.strip_prefix(dir).expect("walked below dir");
        let key = key_of(&relative.to_string_lossy());
        let bytes = std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
        snapshot.insert(key, &file.display().to_string(), &bytes);
    }
    Ok(snapshot)
}

/// Reads one file as a one-document snapshot under `key`.
pub fn file(path: &Path, key: &str) -> anyhow::Result<Snapshot> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut snapshot = Snapshot::empty(path.display().to_string());
    snapshot.insert(key.to_owned(), &path.display().to_string(), &bytes);
    Ok(snapshot)
}

/// Reads `schemas/` as of git revision `rev` of `repo`.
pub fn git(repo: &Path, rev: &str) -> anyhow::Result<Snapshot> {
    let commit = run_git(
        repo,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ],
    )
    .with_context(|| format!("`{rev}` is not a commit of {}", repo.display()))?;
    let commit = String::from_utf8_lossy(&commit).trim().to_owned();
    let listing = run_git(
        repo,
        &[
            "ls-tree",
            "-r",
            "-z",
            "--name-only",
            &commit,
            "--",
            "schemas/",
        ],
    )?;
    let paths: Vec<String> = listing
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .filter(|p| p.ends_with(".json") && !p.rsplit('/').next().unwrap_or("").starts_with('.'))
        .collect();
    let blobs = cat_files(repo, &commit, &paths)?;
    let mut snapshot = Snapshot::empty(rev.to_owned());
    for (path, bytes) in paths.iter().zip(blobs) {
        let key = key_of(path.strip_prefix("schemas/").unwrap_or(path));
        snapshot.insert(key, &format!("{rev}:{path}"), &bytes);
    }
    Ok(snapshot)
}

fn key_of(relative: &str) -> String {
    let relative = relative.replace('\\', "/");
    relative
        .strip_suffix(".json")
        .unwrap_or(&relative)
        .to_owned()
}

fn run_git(repo: &Path, args: &[&str]) -> anyhow::Result<Vec<u8>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .context("running git")?;
    if !output.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output.stdout)
}

/// Reads many blobs with one `git cat-file --batch` instead of a process per file.
fn cat_files(repo: &Path, commit: &str, paths: &[String]) -> anyhow::Result<Vec<Vec<u8>>> {
    if paths.is_empty() {
        return Ok(Vec::new());
    }
    let mut child = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["cat-file", "--batch"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .context("running git cat-file")?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let requests: String = paths.iter().map(|p| format!("{commit}:{p}\n")).collect();
    // Written from a thread: git answers while we still write, and both pipes can fill up.
    let writer = std::thread::spawn(move || stdin.write_all(requests.as_bytes()));
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut blobs = Vec::with_capacity(paths.len());
    for path in paths {
        let mut header = String::new();
        out.read_line(&mut header)?;
        let size: usize = match header.trim_end().split(' ').collect::<Vec<_>>().as_slice() {
            [_, "blob", size] => size.parse().context("git cat-file header")?,
            _ => bail!(
                "git cat-file: cannot read {commit}:{path}: {}",
                header.trim_end()
            ),
        };
        let mut blob = vec![0; size + 1];
        out.read_exact(&mut blob)?;
        blob.pop(); // the newline after each blob
        blobs.push(blob);
    }
    writer
        .join()
        .expect("writer thread")
        .context("writing to git cat-file")?;
    child.wait()?;
    Ok(blobs)
}
