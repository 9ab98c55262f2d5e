//! The catalogue carried in the binary: every vendored fal document (build.rs packs them).

use std::io::Read as _;

use serde_json::Value;

static PACKED: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/catalogue.jsonl.gz"));

/// One endpoint of the catalogue.
pub struct Entry {
    pub id: String,
    pub category: String,
    /// A short name made from the id (`fal-ai/flux/dev` is "Flux Dev").
    pub name: String,
    /// The document's one-line description (`about`), if it has one.
    pub description: String,
    pub document: Value,
}

/// Every document, in id order.
pub fn documents() -> Result<Vec<Value>, String> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(PACKED)
        .read_to_string(&mut text)
        .map_err(|e| format!("the embedded catalogue is damaged: {e}"))?;
    text.lines()
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_str(l).map_err(|e| format!("the embedded catalogue: {e}")))
        .collect()
}

fn meta<'a>(doc: &'a Value, key: &str) -> &'a str {
    doc.pointer(&format!("/info/x-fal-metadata/{key}"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// A display name from an endpoint id: the segments after the owner, words capitalised.
pub fn display_name(id: &str) -> String {
    let mut segments = id.split('/');
    if id.contains('/') {
        segments.next(); // the owner (fal-ai, bytedance, ...)
    }
    segments
        .flat_map(|s| s.split(['-', '_']))
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn entry_of(document: Value) -> Entry {
    let id = meta(&document, "endpointId").to_owned();
    Entry {
        name: display_name(&id),
        category: meta(&document, "category").to_owned(),
        description: meta(&document, "about")
            .lines()
            .next()
            .unwrap_or("")
            .trim()
            .to_owned(),
        id,
        document,
    }
}

pub fn entries() -> Result<Vec<Entry>, String> {
    Ok(documents()?.into_iter().map(entry_of).collect())
}

/// The endpoint `id`, or an error that names close ids.
pub fn entry(id: &str) -> Result<Entry, String> {
    let id = id.trim_matches('/');
    let all = entries()?;
    let close: Vec<String> = all
        .iter()
        .filter(|e| {
            let last = id.rsplit('/').next().unwrap_or(id);
            e.id.contains(last) || id.contains(&e.id)
        })
        .take(8)
        .map(|e| e.id.clone())
        .collect();
    all.into_iter().find(|e| e.id == id).ok_or_else(|| {
        let mut msg = format!("no endpoint `{id}` in the catalogue");
        if !close.is_empty() {
            msg.push_str(&format!("; close ones: {}", close.join(", ")));
        }
        msg.push_str(" (`falx list --search TEXT` finds more)");
        msg
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_whole_catalogue_is_inside() {
        let all = entries().unwrap();
        assert!(all.len() > 100, "{}", all.len());
        let flux = entry("fal-ai/flux/dev").unwrap();
        assert_eq!(flux.category, "text-to-image");
        assert_eq!(flux.name, "Flux Dev");
        let err = entry("fal-ai/flux/devv").err().unwrap();
        assert!(err.contains("no endpoint"), "{err}");
    }
}
