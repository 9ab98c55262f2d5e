//! fal-mock answers like fal for every endpoint of the catalogue: a sync run of each
//! document's example input gives an output whose every file URL downloads from the mock (the
//! README's "downloads work"), with the content type the output declares.
//!
//! The whole `schemas/` catalogue, in process, through the untyped JSON path
//! (`run_json`), so the typed catalogue need not be compiled.

use std::path::Path;

use fal_models::mock::MockServer;
use serde_json::Value;

/// Every value of `output` that is a file's URL: any `http(s)` string, and whatever sits at a
/// `url` key or a `*_url` key (a value there that is not a URL is a file that fails to download).
fn file_urls(
    value: &Value,
    key: Option<&str>,
    declared: Option<&str>,
    out: &mut Vec<(String, Option<String>)>,
) {
    match value {
        Value::Object(map) => {
            let declared = map.get("content_type").and_then(Value::as_str);
            for (k, v) in map {
                let d = if k == "url" { declared } else { None };
                file_urls(v, Some(k), d, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                file_urls(item, key, None, out);
            }
        }
        Value::String(s) => {
            let url_key = key.is_some_and(|k| {
                k == "url"
                    || (k.ends_with("_url") && !k.contains("thumbnail"))
                    || k.ends_with("_urls")
            });
            if url_key || s.starts_with("http://") || s.starts_with("https://") {
                out.push((s.clone(), declared.map(str::to_owned)));
            }
        }
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_file_in_every_example_output_downloads_from_the_mock() {
    let schemas = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas");
    let server = MockServer::builder()
        .schemas_dir(&schemas)
        .expect("the catalogue loads")
        .local_output_files(true)
        .start()
        .await
        .expect("mock starts");
    let client = server.client();
    let http = reqwest::Client::new();
    let ids = server.endpoint_ids();
    let (mut endpoints_ok, mut total, mut downloaded) = (0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    for id in &ids {
        let input = server.endpoint(id).expect("listed").example_input();
        // Streaming endpoints answer events: their output is the last one.
        let answered = if id.ends_with("/stream") {
            client.stream_json(id, input).output().await
        } else {
            client.run_json(id, &input).await
        };
        let output = match answered {
            Ok(output) => output,
            Err(e) => {
                failures.push(format!("{id}: run failed: {e}"));
                continue;
            }
        };
        let mut urls = Vec::new();
        file_urls(&output, None, None, &mut urls);
        let mut all = true;
        for (url, declared) in urls {
            total += 1;
            let fetched = if url.starts_with("http") {
                match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => {
                        let served = r
                            .headers()
                            .get("content-type")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("")
                            .to_owned();
                        let body = r.bytes().await.unwrap_or_default();
                        match &declared {
                            Some(d) if !served.starts_with(d.as_str()) => {
                                Err(format!("served as {served}, declared {d}"))
                            }
                            _ if body.is_empty() => Err("empty body".to_owned()),
                            _ => Ok(()),
                        }
                    }
                    Ok(r) => Err(format!("status {}", r.status())),
                    Err(e) => Err(e.to_string()),
                }
            } else {
                Err("not a URL".to_owned())
            };
            match fetched {
                Ok(()) => downloaded += 1,
                Err(why) => {
                    all = false;
                    failures.push(format!("{id}: {url:?}: {why}"));
                }
            }
        }
        if all {
            endpoints_ok += 1;
        }
    }
    println!(
        "mock survey: {downloaded} of {total} file URLs download; {endpoints_ok} of {} endpoints \
         have every file URL downloading",
        ids.len()
    );
    for failure in failures.iter().take(20) {
        println!("  {failure}");
    }
    assert!(ids.len() > 100, "the whole catalogue is served");
    assert!(total >= ids.len() / 2, "most outputs hold files ({total})");
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        failures.first()
    );
}

/// `num_images` is honoured: fal answers as many images as asked for, each its own file.
#[tokio::test]
async fn the_count_an_input_sets_is_the_number_of_files_answered() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/fal-ai/flux/dev.json");
    let server = MockServer::builder()
        .schema_file(&doc)
        .expect("flux/dev loads")
        .local_output_files(true)
        .start()
        .await
        .expect("mock starts");
    let client = server.client();
    let out = client
        .run_json(
            "fal-ai/flux/dev",
            &serde_json::json!({"prompt": "a cat", "num_images": 3}),
        )
        .await
        .expect("run");
    let images = out["images"].as_array().expect("images");
    assert_eq!(images.len(), 3, "{out}");
    let urls: std::collections::HashSet<_> =
        images.iter().map(|i| i["url"].as_str().unwrap()).collect();
    assert_eq!(urls.len(), 3, "each image is its own file: {out}");
    for url in urls {
        let (content_type, bytes) = server.file(url).expect("served");
        assert_eq!(content_type, "image/jpeg");
        assert!(bytes.starts_with(&[0xff, 0xd8]), "a JPEG's magic bytes");
    }
}
