//! What the mock answers for an accepted input: the document's example output made to look like
//! fal's answer. Every file-shaped value (an object with a `url`, fal's `File`/`Image`/`Video`/
//! `Audio`, or a `*_url` string) gets a URL of a file of a plausible type, even where the
//! document's example has none (`"url": "example"` downloads nothing), and the counts the input
//! sets (`num_images: 4`) give that many items.

use serde_json::{Map, Value, json};

/// Host of the URLs given to file-shaped outputs the document has no URL for. `.invalid` never
/// resolves: with local output files on (fal-mock's default) they become files the mock serves.
const PLACEHOLDER_HOST: &str = "https://fal-mock.invalid/files";

/// Largest count honoured from an input (fal's own limits are lower; this bounds memory).
const MAX_COUNT: u64 = 64;

/// Inputs that set how many items the output's one list of files holds, whatever it is named.
const GENERIC_COUNTS: &[&str] = &[
    "num_outputs",
    "num_samples",
    "num_generations",
    "num_variations",
    "batch_size",
];

fn is_url(s: &str) -> bool {
    s.starts_with("https://") || s.starts_with("http://") || s.starts_with("data:")
}

/// The media type a key name suggests (`images`, `video`, `audio_url`, `model_mesh`, ...).
fn type_from_key(key: &str) -> Option<&'static str> {
    let key = key.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| key.contains(w));
    Some(if has(&["video", "mp4", "clip", "gif"]) {
        if key.contains("gif") {
            "image/gif"
        } else {
            "video/mp4"
        }
    } else if has(&["wav"]) {
        "audio/wav"
    } else if has(&[
        "audio", "speech", "music", "voice", "sound", "song", "mp3", "vocal",
    ]) {
        "audio/mpeg"
    } else if has(&["glb", "mesh", "3d", "gltf"]) {
        "model/gltf-binary"
    } else if has(&[
        "image",
        "mask",
        "frame",
        "thumbnail",
        "depth",
        "photo",
        "sketch",
        "texture",
        "png",
        "jpg",
        "jpeg",
        "normal_map",
        "map",
    ]) {
        "image/png"
    } else if has(&["json", "config"]) {
        "application/json"
    } else if has(&["srt", "subtitle", "caption", "transcript", "txt", "text"]) {
        "text/plain"
    } else if has(&["lora", "weights", "safetensors", "checkpoint"]) {
        "application/octet-stream"
    } else {
        return None;
    })
}

/// The media type an endpoint's category suggests for its outputs (`text-to-image` makes
/// images).
fn type_from_category(category: &str) -> &'static str {
    let made = category.rsplit("-to-").next().unwrap_or(category);
    match made {
        m if m.contains("image") || m == "upscale" => "image/png",
        m if m.contains("video") => "video/mp4",
        m if m.contains("audio") || m.contains("speech") || m.contains("music") => "audio/mpeg",
        m if m.contains("3d") => "model/gltf-binary",
        m if m.contains("json") || m.contains("text") => "application/json",
        _ => "application/octet-stream",
    }
}

fn extension_of(content_type: &str) -> &'static str {
    match content_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "video/mp4" => "mp4",
        "video/webm" => "webm",
        "video/quicktime" => "mov",
        "audio/mpeg" => "mp3",
        "audio/wav" | "audio/x-wav" => "wav",
        "model/gltf-binary" => "glb",
        "application/json" => "json",
        "text/plain" => "txt",
        "application/zip" => "zip",
        _ => "bin",
    }
}

/// The type of a file name's extension, when it has a known one (the crate's one table).
fn type_from_name(name: &str) -> Option<&'static str> {
    crate::http::media::content_type_of_name(name)
}

/// Gives every file-shaped value without a URL in `output` a placeholder URL whose file name
/// has the extension of its declared (or plausible) content type, and fixes a `content_type`
/// or `file_name` that is not one. `category` is the document's (`text-to-image`, ...).
pub(super) fn fill_files(output: &mut Value, category: &str) {
    let fallback = type_from_category(category);
    fill(output, None, fallback);
}

fn fill(value: &mut Value, key: Option<&str>, fallback: &'static str) {
    match value {
        Value::Object(map) => {
            if matches!(map.get("url"), Some(Value::String(_))) {
                fill_file_object(map, key, fallback);
            }
            for (k, item) in map.iter_mut() {
                match item {
                    Value::String(s) if k != "url" && is_url_key(k) && !is_url(s) => {
                        let content_type = type_from_key(k).unwrap_or(fallback);
                        *s = placeholder_url("output", content_type);
                    }
                    Value::Array(items) if is_urls_key(k) => {
                        for item in items {
                            if let Value::String(s) = item {
                                if !is_url(s) {
                                    let content_type = type_from_key(k).unwrap_or(fallback);
                                    *s = placeholder_url("output", content_type);
                                }
                            } else {
                                fill(item, Some(k), fallback);
                            }
                        }
                    }
                    _ => fill(item, Some(k), fallback),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                fill(item, key, fallback);
            }
        }
        _ => {}
    }
}

fn is_url_key(key: &str) -> bool {
    key.ends_with("_url") && !key.contains("thumbnail_url")
}

fn is_urls_key(key: &str) -> bool {
    key.ends_with("_urls")
}

fn placeholder_url(stem: &str, content_type: &str) -> String {
    format!("{PLACEHOLDER_HOST}/{stem}.{}", extension_of(content_type))
}

/// One of fal's file objects (`url` plus `content_type`, `file_name`, ...).
fn fill_file_object(map: &mut Map<String, Value>, key: Option<&str>, fallback: &'static str) {
    let declared = map
        .get("content_type")
        .and_then(Value::as_str)
        .filter(|t| t.contains('/') && !t.contains(' '))
        .map(str::to_owned);
    let named = map
        .get("file_name")
        .and_then(Value::as_str)
        .and_then(type_from_name);
    let url_named = map
        .get("url")
        .and_then(Value::as_str)
        .filter(|u| is_url(u))
        .and_then(|u| type_from_name(u.split(['?', '#']).next().unwrap_or(u)));
    let content_type = declared
        .clone()
        .or(named.map(str::to_owned))
        .or(url_named.map(str::to_owned))
        .unwrap_or_else(|| key.and_then(type_from_key).unwrap_or(fallback).to_owned());
    if let Some(Value::String(url)) = map.get_mut("url") {
        if !is_url(url) {
            let stem = key
                .map(|k| k.trim_end_matches('s'))
                .filter(|k| !k.is_empty())
                .unwrap_or("output");
            *url = placeholder_url(stem, &content_type);
        }
    }
    if declared.is_none() {
        if let Some(slot @ Value::String(_)) = map.get_mut("content_type") {
            *slot = json!(content_type);
        }
    }
    if let Some(Value::String(name)) = map.get_mut("file_name") {
        if type_from_name(name).is_none() {
            *name = format!("output.{}", extension_of(&content_type));
        }
    }
}

/// The pairs (input field, output list) where the input sets how many items the output list
/// holds: `num_images` -> `images`, `num_videos` -> `videos`, and a generic count
/// (`num_outputs`, `num_samples`, ...) -> the output's only list of files.
pub(super) fn count_fields(input_properties: &[String], output: &Value) -> Vec<(String, String)> {
    let Some(out) = output.as_object() else {
        return Vec::new();
    };
    let lists: Vec<&String> = out
        .iter()
        .filter(|(_, v)| {
            v.as_array()
                .and_then(|a| a.first())
                .is_some_and(|first| first.get("url").is_some() || first.is_string())
        })
        .map(|(k, _)| k)
        .collect();
    let mut pairs = Vec::new();
    for name in input_properties {
        let target = if let Some(what) = name.strip_prefix("num_") {
            lists
                .iter()
                .find(|k| {
                    k.as_str() == what || k.trim_end_matches('s') == what.trim_end_matches('s')
                })
                .copied()
        } else {
            None
        };
        let target = target.or_else(|| {
            (GENERIC_COUNTS.contains(&name.as_str()) && lists.len() == 1).then(|| lists[0])
        });
        if let Some(target) = target {
            pairs.push((name.clone(), target.clone()));
        }
    }
    pairs
}

/// The output for one input: lists named by `counts` resized to the count the input asks
/// for (extra items copy the first). Returns whether an item was added, so the caller can
/// give the copies files of their own.
pub(super) fn apply_counts(counts: &[(String, String)], input: &Value, output: &mut Value) -> bool {
    let mut added = false;
    for (field, list) in counts {
        let Some(n) = input.get(field).and_then(Value::as_u64) else {
            continue;
        };
        let n = n.clamp(1, MAX_COUNT) as usize;
        if let Some(Value::Array(items)) = output.get_mut(list) {
            if let Some(first) = items.first().cloned() {
                added |= n > items.len();
                items.resize(n, first);
            }
        }
    }
    added
}

/// The answer to an accepted input of `spec` (submit, sync run): [`EndpointSpec::output_for`],
/// where each added copy of a served file gets a file of its own, as fal's items have.
pub(super) fn answer(state: &super::State, spec: &super::EndpointSpec, input: &Value) -> Value {
    let (mut output, added) = spec.output_for(input);
    if added {
        let served = format!("{}/files/", state.queue_url);
        for (_, list) in spec.counts() {
            if let Some(Value::Array(items)) = output.get_mut(list) {
                for item in items.iter_mut().skip(1) {
                    let local = match &*item {
                        Value::String(u) => u.starts_with(&served),
                        other => other
                            .get("url")
                            .and_then(Value::as_str)
                            .is_some_and(|u| u.starts_with(&served)),
                    };
                    if local {
                        super::storage::localize_output(&state.store, &state.queue_url, item);
                    }
                }
            }
        }
    }
    output
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_objects_without_urls_get_typed_placeholders() {
        let mut out = json!({
            "images": [{"url": "example", "width": 1, "height": 1, "content_type": "image/jpeg"}],
            "video": {"url": "", "file_name": "example"},
            "audio_url": "example",
            "seed": 1
        });
        fill_files(&mut out, "text-to-image");
        assert_eq!(
            out["images"][0]["url"],
            "https://fal-mock.invalid/files/image.jpg"
        );
        assert_eq!(
            out["video"]["url"],
            "https://fal-mock.invalid/files/video.mp4"
        );
        assert_eq!(out["video"]["file_name"], "output.mp4");
        assert_eq!(
            out["audio_url"],
            "https://fal-mock.invalid/files/output.mp3"
        );
        assert_eq!(out["seed"], 1);
    }

    #[test]
    fn counts_follow_the_input_where_the_names_match() {
        let out = json!({"images": [{"url": "u"}], "seed": 1});
        let counts = count_fields(&["num_images".into(), "seed".into()], &out);
        assert_eq!(counts, vec![("num_images".to_owned(), "images".to_owned())]);
        let mut answered = out.clone();
        assert!(apply_counts(
            &counts,
            &json!({"num_images": 3}),
            &mut answered
        ));
        assert_eq!(answered["images"].as_array().unwrap().len(), 3);
        let generic = count_fields(&["num_outputs".into()], &out);
        assert_eq!(
            generic,
            vec![("num_outputs".to_owned(), "images".to_owned())]
        );
    }
}
