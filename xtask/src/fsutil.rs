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
    let name = path
        .file_name()
        .context("a file path has a file name")?
        .to_string_lossy();
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

/// Every `*.rs` below `dir`, recursively and sorted.
pub fn rs_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    anyhow::ensure!(dir.is_dir(), "reading {}: not a folder", dir.display());
    let mut files = all_files(dir)?;
    files.retain(|p| p.extension().is_some_and(|e| e == "rs"));
    Ok(files)
}

/// Every file below `dir`, recursively and sorted (none when `dir` does not exist).
pub fn all_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if !dir.is_dir() {
        return Ok(out);
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).with_context(|| format!("reading {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Removes the empty folders below `dir` (not `dir` itself).
pub fn remove_empty_dirs(dir: &Path) -> std::io::Result<()> {
    fn walk(d: &Path) -> std::io::Result<bool> {
        let mut empty = true;
        for entry in std::fs::read_dir(d)? {
            let path = entry?.path();
            if !(path.is_dir() && walk(&path)? && std::fs::remove_dir(&path).is_ok()) {
                empty = false;
            }
        }
        Ok(empty)
    }
    if dir.is_dir() {
        walk(dir)?;
    }
    Ok(())
}

/// One change to a file in an all-or-nothing [`apply_all`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Create or replace the file with these bytes.
    Write(PathBuf, Vec<u8>),
    /// Remove the file.
    Remove(PathBuf),
}

impl Change {
    pub fn path(&self) -> &Path {
        match self {
            Change::Write(p, _) | Change::Remove(p) => p,
        }
    }
}

/// Applies every change or none. First every new file is written in full to a temporary name
/// beside its target (and every old file is read, to be able to put it back); only when all of
/// that worked are the temporary files renamed over their targets and the removals done. A
/// failure names the file; before the renames it leaves the tree as it was, and a failure
/// among the renames (rare: same folder, no new space needed) puts back the files already
/// replaced.
pub fn apply_all(changes: &[Change]) -> anyhow::Result<()> {
    apply_all_inner(changes, None)
}

/// [`apply_all`] with a simulated failure at the `fail_at`-th commit step (for tests only:
/// a real rename failure after staging succeeded cannot be produced on demand).
fn apply_all_inner(changes: &[Change], fail_at: Option<usize>) -> anyhow::Result<()> {
    // 1. The old contents, to restore on a failure among the renames.
    let mut backups: Vec<Option<Vec<u8>>> = Vec::with_capacity(changes.len());
    for change in changes {
        let path = change.path();
        match std::fs::read(path) {
            Ok(bytes) => backups.push(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => backups.push(None),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("reading {} before replacing it", path.display()));
            }
        }
    }
    // 2. Stage every write under a temporary name; undo everything on the first failure.
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    let mut staged: Vec<Option<PathBuf>> = Vec::with_capacity(changes.len());
    let cleanup = |staged: &[Option<PathBuf>], created_dirs: &[PathBuf]| {
        for tmp in staged.iter().flatten() {
            let _ = std::fs::remove_file(tmp);
        }
        for dir in created_dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    };
    for change in changes {
        let Change::Write(path, contents) = change else {
            staged.push(None);
            continue;
        };
        let result = (|| -> std::io::Result<PathBuf> {
            let dir = path
                .parent()
                .ok_or_else(|| std::io::Error::other("no parent folder"))?;
            let mut missing = Vec::new();
            let mut d = dir;
            while !d.exists() {
                missing.push(d.to_path_buf());
                match d.parent() {
                    Some(p) => d = p,
                    None => break,
                }
            }
            for m in missing.into_iter().rev() {
                std::fs::create_dir(&m)?;
                created_dirs.push(m);
            }
            let name = path
                .file_name()
                .ok_or_else(|| std::io::Error::other("no file name"))?
                .to_string_lossy();
            let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
            let mut file = std::fs::File::create(&tmp)?;
            staged.push(Some(tmp.clone()));
            file.write_all(contents)?;
            file.sync_all()?;
            Ok(tmp)
        })();
        if let Err(e) = result {
            cleanup(&staged, &created_dirs);
            return Err(e)
                .with_context(|| format!("writing {} (nothing was changed)", path.display()));
        }
    }
    // 3. Commit: renames and removals; on a failure, put back what was already done.
    for (i, change) in changes.iter().enumerate() {
        let done = if fail_at == Some(i) {
            Err(std::io::Error::other("simulated failure"))
        } else {
            match (change, &staged[i]) {
                (Change::Write(path, _), Some(tmp)) => std::fs::rename(tmp, path),
                (Change::Remove(path), _) => match std::fs::remove_file(path) {
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                    other => other,
                },
                (Change::Write(..), None) => unreachable!("every write was staged"),
            }
        };
        if let Err(e) = done {
            let mut unrestored = Vec::new();
            for (j, undo) in changes[..i].iter().enumerate() {
                let restored = match &backups[j] {
                    Some(old) => write_atomic(undo.path(), old).map_err(|e| e.to_string()),
                    None => std::fs::remove_file(undo.path()).map_err(|e| e.to_string()),
                };
                if restored.is_err() {
                    unrestored.push(undo.path().display().to_string());
                }
            }
            cleanup(&staged[i..], &[]);
            for dir in created_dirs.iter().rev() {
                let _ = std::fs::remove_dir(dir);
            }
            let verb = if matches!(change, Change::Write(..)) {
                "replacing"
            } else {
                "removing"
            };
            let state = if unrestored.is_empty() {
                "the files changed before it were put back".to_owned()
            } else {
                format!("could not put back: {}", unrestored.join(", "))
            };
            return Err(e).with_context(|| format!("{verb} {} ({state})", change.path().display()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("xtask-fsutil-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Every file below `dir` with its bytes (temporary files included, so leftovers show).
    fn snapshot(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    out.push((p.clone(), b"<dir>".to_vec()));
                    stack.push(p);
                } else {
                    out.push((p.clone(), std::fs::read(&p).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    fn setup(dir: &Path) -> Vec<Change> {
        std::fs::write(dir.join("a.rs"), "old a").unwrap();
        std::fs::write(dir.join("gone.rs"), "old gone").unwrap();
        std::fs::write(dir.join("z.rs"), "old z").unwrap();
        vec![
            Change::Write(dir.join("a.rs"), b"new a".to_vec()),
            Change::Remove(dir.join("gone.rs")),
            Change::Write(dir.join("new/deep/b.rs"), b"new b".to_vec()),
            Change::Write(dir.join("z.rs"), b"new z".to_vec()),
        ]
    }

    #[test]
    fn all_changes_apply() {
        let dir = temp("apply");
        apply_all(&setup(&dir)).unwrap();
        assert_eq!(std::fs::read(dir.join("a.rs")).unwrap(), b"new a");
        assert!(!dir.join("gone.rs").exists());
        assert_eq!(std::fs::read(dir.join("new/deep/b.rs")).unwrap(), b"new b");
        assert_eq!(std::fs::read(dir.join("z.rs")).unwrap(), b"new z");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_staging_failure_changes_nothing_and_names_the_file() {
        let dir = temp("stage");
        let mut changes = setup(&dir);
        // A file where a folder must be: the write below it cannot be staged.
        std::fs::write(dir.join("blocked"), "a file").unwrap();
        changes.insert(3, Change::Write(dir.join("blocked/c.rs"), b"c".to_vec()));
        let before = snapshot(&dir);
        let err = format!("{:#}", apply_all(&changes).unwrap_err());
        assert!(err.contains("blocked/c.rs"), "{err}");
        assert_eq!(
            snapshot(&dir),
            before,
            "no file changed, no temporary or folder left"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unreadable_target_changes_nothing_and_names_it() {
        let dir = temp("unreadable");
        let mut changes = setup(&dir);
        // A folder where a file must be replaced.
        std::fs::create_dir_all(dir.join("y.rs/inner")).unwrap();
        changes.push(Change::Write(dir.join("y.rs"), b"y".to_vec()));
        let before = snapshot(&dir);
        let err = format!("{:#}", apply_all(&changes).unwrap_err());
        assert!(err.contains("y.rs"), "{err}");
        assert_eq!(snapshot(&dir), before);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_failure_among_the_renames_puts_back_what_was_done() {
        for fail_at in 0..4 {
            let dir = temp(&format!("commit{fail_at}"));
            let changes = setup(&dir);
            let before = snapshot(&dir);
            let err = format!(
                "{:#}",
                apply_all_inner(&changes, Some(fail_at)).unwrap_err()
            );
            assert!(
                err.contains(&changes[fail_at].path().display().to_string()),
                "{err}"
            );
            assert!(err.contains("put back"), "{err}");
            assert_eq!(snapshot(&dir), before, "failing at step {fail_at}");
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
