//! Item 9 of the API v2 issue: every `serde_json::Value` in the generated types is either a
//! genuinely free-form schema or named by a diagnostic (file and JSON pointer). Checked over
//! every vendored document in `schemas/` (the real fal corpus) and on small documents.

use std::path::{Path, PathBuf};

use fal_codegen::{Document, Verdict, audit_values};


fn json_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("readable folder").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            json_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "json") {
            out.push(path);
        }
    }
}

#[test]
fn every_value_of_the_vendored_documents_is_free_form_or_diagnosed() {
    audit_folder(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas"));
}

/// The same over `$FAL_CORPUS_DIR/docs` (the corpus `schemas/` was imported from), when set.
#[test]
fn every_value_of_the_fal_corpus_is_free_form_or_diagnosed() {
    let Some(dir) = std::env::var_os("FAL_CORPUS_DIR") else {
        eprintln!("skipping: FAL_CORPUS_DIR is not set (schemas/ holds the same documents and is audited above)");
        return;
    };
    let docs = PathBuf::from(dir).join("docs");
    assert!(docs.is_dir(), "FAL_CORPUS_DIR is set but {} is not a folder", docs.display());
    audit_folder(&docs);
}

fn audit_folder(root: &Path) {
    let mut files = Vec::new();
    json_files(root, &mut files);
    assert!(files.len() > 100, "schemas/ holds {} documents", files.len());
    let docs: Vec<Document> = files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).expect("readable document");
            let rel = p.strip_prefix(root).unwrap_or(p).display().to_string();
            Document::parse(rel, &text).expect("corpus documents are JSON")
        })
        .collect();
    let audit = audit_values(&docs);
    let silent = audit.silent();
    eprintln!(
        "{} documents: {} JSON values, {} free-form {:?}, {} diagnosed, {} silent",
        docs.len(),
        audit.sites.len(),
        audit.free_form(),
        audit.by_rule(),
        audit.diagnosed(),
        silent.len()
    );
    for s in audit.sites.iter().filter(|s| std::env::var_os("VALUE_AUDIT_ALL").is_some() || !matches!(s.verdict, Verdict::FreeForm(_))) {
        eprintln!("  {s}");
    }
    assert!(
        silent.is_empty(),
        "{} JSON values fall back silently:\n{}",
        silent.len(),
        silent.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n")
    );
    // The corpus does hold free-form schemas; an audit that found none would check nothing.
    assert!(audit.free_form() > 0);
}

/// The golden documents hold the odd constructs (malformed items, dangling and recursive refs,
/// mixed enums, self-containing allOfs, deep nesting): none of them falls back silently.
#[test]
fn every_value_of_the_golden_documents_is_free_form_or_diagnosed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let mut files = Vec::new();
    json_files(&dir, &mut files);
    let mut sites = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).expect("readable document");
        let Ok(doc) = Document::parse(path.display().to_string(), &text) else { continue };
        let audit = audit_values(&[doc]);
        sites += audit.sites.len();
        let silent = audit.silent();
        assert!(silent.is_empty(), "{}:\n{}", path.display(), silent.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"));
    }
    assert!(sites > 5, "the golden documents hold {sites} JSON values");
}
