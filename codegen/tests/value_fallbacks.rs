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
        eprintln!(
            "skipping: FAL_CORPUS_DIR is not set (schemas/ holds the same documents and is audited above)"
        );
        return;
    };
    let docs = PathBuf::from(dir).join("docs");
    assert!(
        docs.is_dir(),
        "FAL_CORPUS_DIR is set but {} is not a folder",
        docs.display()
    );
    audit_folder(&docs);
}

fn audit_folder(root: &Path) {
    let mut files = Vec::new();
    json_files(root, &mut files);
    assert!(
        files.len() > 100,
        "schemas/ holds {} documents",
        files.len()
    );
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
    for s in audit.sites.iter().filter(|s| {
        std::env::var_os("VALUE_AUDIT_ALL").is_some() || !matches!(s.verdict, Verdict::FreeForm(_))
    }) {
        eprintln!("  {s}");
    }
    assert!(
        silent.is_empty(),
        "{} JSON values fall back silently:\n{}",
        silent.len(),
        silent
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
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
        let Ok(doc) = Document::parse(path.display().to_string(), &text) else {
            continue;
        };
        let audit = audit_values(&[doc]);
        sites += audit.sites.len();
        let silent = audit.silent();
        assert!(
            silent.is_empty(),
            "{}:\n{}",
            path.display(),
            silent
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    assert!(sites > 5, "the golden documents hold {sites} JSON values");
}

/// A small deterministic generator of schemas built from the constructs the lowering treats
/// specially, well-formed or not (unions with and without null, merges, refs good, dangling,
/// foreign and to themselves, tuples, maps, `type` lists, `false`, null-only, typeless
/// constraints, malformed keywords), nested a few levels.
struct Schemas(u64);

impl Schemas {
    fn pick(&mut self, n: u64) -> u64 {
        // xorshift64: the same documents on every run.
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn schema(&mut self, depth: usize) -> serde_json::Value {
        use serde_json::json;
        let n = if depth >= 4 {
            self.pick(14)
        } else {
            self.pick(48)
        };
        let d = depth + 1;
        let mut s = match n {
            0 => json!({}),
            1 => json!(true),
            2 => json!(false),
            3 => json!({"type": "string"}),
            4 => json!({"type": "integer"}),
            5 => json!({"type": "null"}),
            6 => json!({"type": "object"}),
            7 => json!({"type": "array"}),
            8 => json!({"type": "weird"}),
            9 => json!({"enum": ["a", 1]}),
            10 => json!({"enum": [null]}),
            11 => json!({"format": "uri"}),
            12 => json!({"$ref": "#/components/schemas/C0"}),
            13 => json!({"$ref": "#/components/schemas/Missing"}),
            14 => json!({"anyOf": [self.schema(d), self.schema(d)]}),
            15 => json!({"anyOf": [self.schema(d), {"type": "null"}]}),
            16 => json!({"oneOf": [self.schema(d), self.schema(d), {"type": "null"}]}),
            17 => json!({"allOf": [self.schema(d)]}),
            18 => json!({"allOf": [self.schema(d), self.schema(d)]}),
            19 => json!({"type": "array", "items": self.schema(d)}),
            20 => json!({"type": "array", "prefixItems": [self.schema(d), self.schema(d)]}),
            21 => json!({"type": "object", "additionalProperties": self.schema(d)}),
            22 => {
                json!({"type": "object", "properties": {"a": self.schema(d), "b": self.schema(d)}})
            }
            23 => json!({"type": ["string", "null"]}),
            24 => json!({"type": ["array", "object"], "items": self.schema(d)}),
            25 => json!({"type": ["null"]}),
            26 => json!({"items": self.schema(d)}),
            27 => json!({"additionalProperties": self.schema(d)}),
            28 => json!({"type": "array", "items": {"0": {"type": "number"}}}),
            29 => json!({"enum": ["x", "y", null]}),
            30 => json!({"const": null}),
            31 => json!({"anyOf": [{"type": "string"}, {"enum": ["a"]}, self.schema(d)]}),
            32 => json!({"type": "object", "properties": []}),
            33 => json!({"type": "object", "additionalProperties": "x"}),
            34 => json!({"type": "object", "properties": {}, "additionalProperties": false}),
            35 => json!({"type": "array", "prefixItems": []}),
            36 => json!({"type": "array", "prefixItems": {"a": 1}}),
            37 => json!({"type": "array", "items": false}),
            38 => {
                json!({"allOf": [{"$ref": "#/components/schemas/C1"}, {"properties": {"z": self.schema(d)}}]})
            }
            39 => json!({"$ref": "#/components/schemas/C1"}),
            40 => json!({"type": ["integer", "number", "null"]}),
            41 => json!({"minimum": 3}),
            42 => json!({"not": {}}),
            43 => json!({"$ref": "https://example.com/schema"}),
            44 => json!({"anyOf": []}),
            45 => json!({"allOf": [true, {"type": "object"}]}),
            46 => {
                json!({"oneOf": [{"type": "array", "items": self.schema(d)}, {"type": "array", "items": self.schema(d)}]})
            }
            _ => {
                json!({"type": "object", "additionalProperties": {"anyOf": [self.schema(d), {"type": "null"}]}})
            }
        };
        if self.pick(6) == 0 {
            if let Some(o) = s.as_object_mut() {
                o.insert("nullable".into(), json!(true));
            }
        }
        s
    }

    fn document(&mut self, i: usize) -> serde_json::Value {
        let mut props = serde_json::Map::new();
        for k in 0..4 {
            props.insert(format!("p{k}"), self.schema(0));
        }
        let (output, c0, c1) = (self.schema(1), self.schema(1), self.schema(1));
        serde_json::json!({
            "info": {"x-fal-metadata": {"endpointId": format!("test/e{i}")}},
            "paths": {
                format!("/test/e{i}"): {"post": {"requestBody": {"content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Input"}}}}}},
                format!("/test/e{i}/requests/{{request_id}}"): {"get": {"responses": {"200": {"content": {
                    "application/json": {"schema": output}}}}}}
            },
            "components": {"schemas": {"Input": {"type": "object", "properties": props}, "C0": c0, "C1": c1}}
        })
    }
}

/// Generated documents full of odd constructs: every JSON value is free-form or diagnosed, and
/// every diagnostic names a JSON pointer that exists in its document.
#[test]
fn generated_documents_of_odd_constructs_fall_back_only_with_a_diagnostic() {
    let mut schemas = Schemas(0x9E37_79B9_7F4A_7C15);
    let mut sites = 0;
    let mut diagnosed = 0;
    for i in 0..600 {
        let json = schemas.document(i);
        let doc = Document::parse(format!("generated/e{i}.json"), &json.to_string()).expect("JSON");
        let generated = fal_codegen::Config::new().generate(std::slice::from_ref(&doc));
        assert!(generated.failed.is_empty(), "{:?}", generated.failed);
        for d in &generated.diagnostics {
            assert!(
                json.pointer(&d.pointer).is_some(),
                "{d}: the pointer names nothing in\n{json}"
            );
        }
        let audit = audit_values(&[doc]);
        sites += audit.sites.len();
        diagnosed += audit.diagnosed();
        let silent = audit.silent();
        assert!(
            silent.is_empty(),
            "{}\nin {json}",
            silent
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    // The generator does reach both kinds.
    assert!(
        sites > 1000 && diagnosed > 300 && sites - diagnosed > 300,
        "{sites} values, {diagnosed} diagnosed"
    );
}
