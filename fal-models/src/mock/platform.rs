//! fal's platform API listing, `GET /v1/models` on the REST address: what `cargo xtask sync`
//! and `fetch --all` read.
//!
//! Query: `status` (`active`, the default; any other status lists nothing: the mock knows
//! active endpoints only), `expand=openapi-3.0` (each model's document as `openapi`, or fal's
//! `{"error": {"code": "expansion_failed", ..}}` for a listed endpoint without one),
//! `endpoint_id` (repeatable), `category`, `limit` (1 to [`MAX_LIMIT`], default
//! [`DEFAULT_LIMIT`]) and `cursor` (from the previous page's `next_cursor`). The answer is
//! `{"models": [..], "has_more", "next_cursor"}`, models sorted by id. It needs the key, as
//! fal's does. Faults are per page number ([`super::MockServer::inject_listing_fault`]).

use std::collections::BTreeMap;
use std::path::Path;

use axum::body::Body;
use axum::http::Response;
use serde_json::{Value, json};

use super::{Fault, MockError};

/// Models per page when the query gives no `limit`.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest `limit` accepted.
pub const MAX_LIMIT: usize = 500;

/// One model of the listing.
#[derive(Debug, Clone)]
pub(super) struct Model {
    category: String,
    /// `None`: listed, but fal has no document (`expansion_failed`).
    document: Option<Value>,
}

/// The models the listing serves, by endpoint id.
#[derive(Debug, Clone, Default)]
pub(super) struct Catalogue {
    models: BTreeMap<String, Model>,
}

impl Catalogue {
    /// A model per document.
    pub(super) fn from_documents<'a>(docs: impl IntoIterator<Item = &'a Value>) -> Catalogue {
        let mut out = Catalogue::default();
        for doc in docs {
            // The id the queue serves the document under (`EndpointSpec`'s rule).
            if let Some(id) = super::schema::endpoint_id(doc) {
                out.models.insert(
                    id,
                    Model {
                        category: super::schema::category(doc),
                        document: Some(doc.clone()),
                    },
                );
            }
        }
        out
    }

    /// A snapshot folder: its documents (every `*.json` below it, any file name, the id read
    /// as the queue reads it: `info.x-fal-metadata.endpointId`, else the submit path) and, when there is one, `listing.txt`: the ids
    /// listed (one a line), which then decides what is listed; a listed id without a document
    /// is an `expansion_failed` entry.
    pub(super) fn from_snapshot(dir: &Path) -> Result<Catalogue, MockError> {
        let mut files = Vec::new();
        super::collect_json_files(dir, &mut files)?;
        files.sort();
        let mut docs = Vec::new();
        for file in &files {
            let text = std::fs::read_to_string(file)
                .map_err(|e| MockError(format!("{}: {e}", file.display())))?;
            let doc: Value = serde_json::from_str(&text)
                .map_err(|e| MockError(format!("{}: {e}", file.display())))?;
            docs.push(doc);
        }
        let mut catalogue = Catalogue::from_documents(&docs);
        let listing = dir.join("listing.txt");
        if listing.exists() {
            let text = std::fs::read_to_string(&listing)
                .map_err(|e| MockError(format!("{}: {e}", listing.display())))?;
            let mut listed = BTreeMap::new();
            for id in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let model = catalogue.models.remove(id).unwrap_or(Model {
                    category: String::new(),
                    document: None,
                });
                listed.insert(id.to_owned(), model);
            }
            catalogue.models = listed;
        }
        Ok(catalogue)
    }

    pub(super) fn len(&self) -> usize {
        self.models.len()
    }
}

/// Whether a request is for the listing.
pub(super) fn is_listing_path(path: &str) -> bool {
    path.trim_end_matches('/') == "/v1/models"
}

/// The page a query asks for, and its number (1 for the first page), or a 400 answer.
pub(super) struct PageQuery {
    pub(super) number: usize,
    offset: usize,
    limit: usize,
    expand: bool,
    status_active: bool,
    ids: Vec<String>,
    category: Option<String>,
}

/// Reads the query, or the message of fal's 400 for a bad parameter ([`bad`]).
pub(super) fn parse_query(query: &str) -> Result<PageQuery, String> {
    let mut q = PageQuery {
        number: 1,
        offset: 0,
        limit: DEFAULT_LIMIT,
        expand: false,
        status_active: true,
        ids: Vec::new(),
        category: None,
    };
    let url = reqwest::Url::parse(&format!("http://mock/?{query}"))
        .map_err(|_| "the query does not parse".to_owned())?;
    for (k, v) in url.query_pairs() {
        match &*k {
            "expand" => q.expand |= v == "openapi-3.0",
            "status" => q.status_active = v == "active",
            "endpoint_id" => q.ids.push(v.into_owned()),
            "category" => q.category = Some(v.into_owned()),
            "limit" => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => q.limit = n,
                _ => return Err(format!("limit must be 1 to {MAX_LIMIT}")),
            },
            "cursor" => match v.strip_prefix("offset-").and_then(|n| n.parse().ok()) {
                Some(n) => q.offset = n,
                None => return Err("invalid cursor".to_owned()),
            },
            _ => {}
        }
    }
    q.number = q.offset / q.limit + 1;
    Ok(q)
}

/// fal's 400 for a bad query parameter.
pub(super) fn bad(message: &str) -> Response<Body> {
    super::json_response(
        400,
        &json!({"error": {"code": "invalid_request", "message": message}}),
    )
}

/// The page's answer.
pub(super) fn page(catalogue: &Catalogue, q: &PageQuery) -> Response<Body> {
    let selected: Vec<(&String, &Model)> = catalogue
        .models
        .iter()
        .filter(|_| q.status_active)
        .filter(|(id, _)| q.ids.is_empty() || q.ids.iter().any(|w| w == *id))
        .filter(|(_, m)| q.category.as_deref().is_none_or(|c| c == m.category))
        .collect();
    let end = (q.offset + q.limit).min(selected.len());
    let models: Vec<Value> = selected
        .get(q.offset.min(end)..end)
        .unwrap_or_default()
        .iter()
        .map(|(id, m)| {
            let mut entry = json!({
                "endpoint_id": id,
                "metadata": {
                    "display_name": id.rsplit('/').next().unwrap_or(id),
                    "category": m.category,
                    "description": "",
                    "status": "active",
                    "tags": [],
                    "updated_at": "2026-01-01T00:00:00Z",
                },
            });
            if q.expand {
                entry["openapi"] = m.document.clone().unwrap_or_else(|| {
                    json!({"error": {"code": "expansion_failed",
                        "message": "OpenAPI schema not available for this endpoint"}})
                });
            }
            entry
        })
        .collect();
    let has_more = end < selected.len();
    super::json_response(
        200,
        &json!({
            "models": models,
            "has_more": has_more,
            "next_cursor": has_more.then(|| format!("offset-{end}")),
        }),
    )
}

/// A fault for the listing: which page (1 for the first), how many more times.
#[derive(Debug, Clone)]
pub(super) struct PageFault {
    pub(super) page: usize,
    pub(super) fault: Fault,
    pub(super) remaining: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The listing names a document by the id the queue serves it under, also when the
    /// document has no `endpointId` (fal-schema's rule: its submit path).
    #[test]
    fn a_document_is_listed_under_the_id_the_queue_serves() {
        let doc = json!({
            "info": {"x-fal-metadata": {"category": "text-to-image"}},
            "paths": {"/acme/app": {"post": {"requestBody": {"content": {"application/json": {
                "schema": {"type": "object"}}}}}}}
        });
        let served = crate::mock::EndpointSpec::from_document(doc.clone()).unwrap();
        let catalogue = Catalogue::from_documents([&doc]);
        let ids: Vec<&String> = catalogue.models.keys().collect();
        assert_eq!(ids, [served.endpoint_id()]);
        assert_eq!(catalogue.models["acme/app"].category, "text-to-image");
    }
}
