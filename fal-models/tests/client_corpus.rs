//! The mock server against fal's real OpenAPI documents (read-only test data outside the repo,
//! at `FAL_CORPUS_DIR`, default `<workspace>/../shared/fal-corpus`): every document loads, the
//! validator accepts each endpoint's own example input and rejects broken ones, and the seed
//! endpoints answer with their documented example output over HTTP.

use std::path::PathBuf;

use fal_models::error::Operation;
use fal_models::mock::{EndpointSpec, MockServer};
use serde_json::{Value, json};

fn corpus_docs() -> Option<PathBuf> {
    let dir = std::env::var_os("FAL_CORPUS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fal-corpus")
        })
        .join("docs");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!(
            "skipping: no fal corpus at {} (set FAL_CORPUS_DIR)",
            dir.display()
        );
        None
    }
}

fn all_specs(dir: &PathBuf) -> Vec<(String, EndpointSpec)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            let spec = EndpointSpec::from_file(&p).unwrap_or_else(|e| panic!("{e}"));
            (p.file_name().unwrap().to_string_lossy().into_owned(), spec)
        })
        .collect()
}

#[test]
fn every_document_loads_and_accepts_its_own_example_input() {
    let Some(dir) = corpus_docs() else { return };
    let specs = all_specs(&dir);
    assert!(specs.len() > 500, "only {} documents", specs.len());
    let mut rejected = Vec::new();
    for (file, spec) in &specs {
        // The file name is the endpoint id with `/` written as `__`.
        assert_eq!(spec.endpoint_id().replace('/', "__") + ".json", *file);
        let errors = spec.validate(&spec.example_input());
        if !errors.is_empty() {
            rejected.push(format!("{file}: {errors:?}"));
        }
    }
    // A dozen documents have examples or defaults that break their own schema (a default `4`
    // for a string enum, an object example for a string); the mock skips those candidates.
    assert!(
        rejected.is_empty(),
        "{} rejected:\n{}",
        rejected.len(),
        rejected.join("\n")
    );
}

#[test]
fn the_validator_rejects_broken_inputs_of_real_documents() {
    let Some(dir) = corpus_docs() else { return };
    let spec =
        EndpointSpec::from_file(&dir.join("fal-ai__sora-2__text-to-video__pro.json")).unwrap();
    let errors = spec.validate(
        &json!({"prompt": "", "duration": 5, "resolution": "4k", "character_ids": ["a", "b", "c"]}),
    );
    let mut fields: Vec<_> = errors
        .iter()
        .map(|e| (e.field(), e.kind.as_str()))
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            ("character_ids".into(), "too_long"),
            ("duration".into(), "literal_error"),
            ("prompt".into(), "string_too_short"),
            ("resolution".into(), "literal_error"),
        ]
    );
    assert!(
        spec.validate(&json!({"prompt": "ok", "character_ids": null}))
            .is_empty()
    );
    assert_eq!(spec.validate(&json!({}))[0].kind, "missing");
}

#[tokio::test]
async fn seed_endpoints_from_the_corpus_answer_their_example_output() {
    let Some(dir) = corpus_docs() else { return };
    let seeds = [
        "fal-ai__pika__v2.2__text-to-video.json",
        "fal-ai__pika__v2.2__image-to-video.json",
        "fal-ai__veo3.1__reference-to-video.json",
        "fal-ai__veo3__fast.json",
        "fal-ai__veo3.1__fast__first-last-frame-to-video.json",
        "fal-ai__sora-2__text-to-video.json",
        "fal-ai__sora-2__image-to-video.json",
        "fal-ai__sora-2__text-to-video__pro.json",
        "fal-ai__sora-2__image-to-video__pro.json",
        "fal-ai__minimax__hailuo-02__standard__text-to-video.json",
        "fal-ai__minimax__hailuo-02__standard__image-to-video.json",
        "fal-ai__hunyuan-image__v3__text-to-image.json",
    ];
    let mut builder = MockServer::builder().queue_steps(0).progress_steps(1);
    for seed in seeds {
        builder = builder.schema_file(dir.join(seed)).unwrap();
    }
    let server = builder.start().await.unwrap();
    let client = server.client();
    for id in server.endpoint_ids() {
        let spec = server.endpoint(&id).unwrap();
        let out: Value = client
            .subscribe_json(&id, spec.example_input())
            .await
            .unwrap();
        assert_eq!(&out, spec.example_output(), "{id}");
        assert!(
            out.as_object().is_some_and(|o| !o.is_empty()),
            "{id}: empty example output"
        );
    }
    assert_eq!(server.count(Operation::Submit), seeds.len());
}
