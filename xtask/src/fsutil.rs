//! File helpers every task shares: finding documents and writing files atomically.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Every `*.json` below `dir`, recursively and sorted. Dot entries are skipped: they are
/// temporary files (a fetch in progress) or tool folders, never documents.
pub fn json_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            if entry.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            if entry.file_type()?.is_dir() {
                walk(&path, files)?;
            } else if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    files.sort();
    Ok(files)
}

/// Writes `contents` to a temporary name beside `path`, syncs it and renames it over `path`:
/// readers see the old file or the new one, never half of one. The temporary file is removed
/// when anything fails.
pub fn write_atomic(path: &Path, contents: impl AsRef<[u8]>) -> anyhow::Result<()> {
    let dir = path.parent().context("a file path has a parent")?;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let name = path.file_name().context("a file path has a file name")?.to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(contents.as_ref())?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(err) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(err).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

/// [`write_atomic`], only when the file's bytes differ (so cargo does not rebuild for nothing).
/// Returns whether it wrote.
pub fn write_if_changed(path: &Path, contents: impl AsRef<[u8]>) -> anyhow::Result<bool> {
    if std::fs::read(path).ok().as_deref() == Some(contents.as_ref()) {
        return Ok(false);
    }
    write_atomic(path, contents)?;
    Ok(true)
}
