//! Writing documents into `schemas/`: endpoint id checks, validation that a response really is
//! the queue document of the endpoint asked for, one canonical form, atomic replacement.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde_json::{Map, Value};

/// The path of `id`'s document below `schemas`, refusing ids that could leave the folder or
/// that fal could not have issued (`..`, absolute paths, empty segments, odd characters).
pub fn document_path(schemas: &Path, id: &str) -> anyhow::Result<PathBuf> {
    let segments: Vec<&str> = id.split('/').collect();
    let valid_segment = |s: &&str| {
        !s.is_empty()
            && *s != "."
            && *s != ".."
            && !s.starts_with('.')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    if segments.len() < 2 || !segments.iter().all(valid_segment) {
        bail!(
            "refusing endpoint id {id:?}: expected owner/name[/path] of letters, digits, `-`, `_`, `.`"
        );
    }
    let (last, dirs) = segments.split_last().expect("at least two segments");
    let mut path = schemas.to_path_buf();
    path.extend(dirs);
    // Appended, not `set_extension`: `fal-ai/veo3.1` keeps its `.1`.
    path.push(format!("{last}.json"));
    Ok(path)
}

/// Checks that `doc` is a fal queue document for `id`.
pub fn validate(doc: &Value, id: &str) -> anyhow::Result<()> {
    if let Some(error) = doc.get("error") {
        bail!(
            "fal answered an error instead of a document: {}",
            error_text(error)
        );
    }
    let Some(obj) = doc.as_object() else {
        bail!("not a JSON object")
    };
    match obj.get("openapi").and_then(Value::as_str) {
        Some(version) if version.starts_with("3.") => {}
        _ => bail!("not an OpenAPI 3 document (no `openapi: 3.x`)"),
    }
    match doc
        .pointer("/info/x-fal-metadata/endpointId")
        .and_then(Value::as_str)
    {
        Some(found) if found == id => {}
        Some(found) => bail!("the document is for endpoint {found:?}, not {id:?}"),
        None => bail!("no info.x-fal-metadata.endpointId"),
    }
    let paths = doc.get("paths").and_then(Value::as_object);
    let has = |path: String, method: &str| {
        paths
            .and_then(|p| p.get(&path))
            .and_then(|p| p.get(method))
            .is_some()
    };
    if !has(format!("/{id}"), "post") || !has(format!("/{id}/requests/{{request_id}}"), "get") {
        bail!("not a queue document: no POST /{id} and GET /{id}/requests/{{request_id}}");
    }
    Ok(())
}

/// fal's `{"code", "message"}` error, or the JSON as is.
pub fn error_text(error: &Value) -> String {
    match (
        error.get("code").and_then(Value::as_str),
        error.get("message").and_then(Value::as_str),
    ) {
        (Some(code), Some(message)) => format!("{message} ({code})"),
        (None, Some(message)) => message.to_owned(),
        _ => error.to_string(),
    }
}

/// The one form documents are stored in: keys sorted at every level (fal's order changes
/// between fetches), two-space indentation, a final newline.
pub fn canonical(doc: &Value) -> String {
    let mut text = serde_json::to_string_pretty(&sorted(doc)).expect("a Value always serialises");
    text.push('\n');
    text
}

fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sorted(v)))
                    .collect::<Map<_, _>>(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

/// What storing a document did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// No document before.
    Added,
    /// Replaced a different document.
    Changed,
    /// The same document was already there (the file is left untouched).
    Unchanged,
}

/// Stores `doc` at `path` unless an equal document is already there. The file is written to a
/// temporary name beside it and renamed over, so readers see the old or the new file, never
/// half of one.
pub fn store(path: &Path, doc: &Value) -> anyhow::Result<Stored> {
    let (stored, bytes) = plan(path, doc)?;
    if let Some(bytes) = bytes {
        crate::fsutil::write_atomic(path, bytes)?;
    }
    Ok(stored)
}

/// What [`store`] would do, without writing: the outcome and, unless unchanged, the canonical
/// bytes to write (`cargo xtask sync` applies many of these at once with
/// [`crate::fsutil::apply_all`]).
pub fn plan(path: &Path, doc: &Value) -> anyhow::Result<(Stored, Option<Vec<u8>>)> {
    let text = canonical(doc);
    let existing = match std::fs::read(path) {
        Ok(bytes) => Some(bytes),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err).with_context(|| format!("reading {}", path.display())),
    };
    if let Some(bytes) = &existing {
        // Equal content counts as unchanged even if the old file is not in canonical form:
        // a refetch must not produce a diff.
        let same = bytes == text.as_bytes()
            || serde_json::from_slice::<Value>(bytes).is_ok_and(|old| old == *doc);
        if same {
            return Ok((Stored::Unchanged, None));
        }
    }
    let stored = if existing.is_some() {
        Stored::Changed
    } else {
        Stored::Added
    };
    Ok((stored, Some(text.into_bytes())))
}

/// Endpoint ids of the documents vendored below `schemas` (their paths without `.json`).
pub fn vendored_ids(schemas: &Path) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    if schemas.is_dir() {
        let files = crate::fsutil::json_files(schemas)
            .with_context(|| format!("reading {}", schemas.display()))?;
        for path in files {
            let relative = path
                .strip_prefix(schemas)
                .unwrap_or(&path)
                .with_extension("");
            let id: Vec<String> = relative
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            ids.push(id.join("/"));
        }
    }
    ids.sort();
    Ok(ids)
}
