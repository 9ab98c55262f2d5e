//! fal storage on loopback: the token route, CDN v3 uploads (single and multipart), the
//! upload routes the official clients use, and the files themselves, served back at their URL.
//!
//! Routes and shapes, and where they come from:
//!
//! - `POST /storage/auth/token?storage_type=fal-cdn-v3` -> `{token, token_type, base_url,
//!   expires_at}` (fal_client `CDNTokenManager`; `src/storage.rs` of this crate).
//! - `POST {base_url}/files/upload` with the raw bytes, `Authorization: {token_type} {token}`,
//!   `X-Fal-File-Name` -> `{access_url}` (fal_client `_upload_v3`; `src/storage.rs`).
//! - `POST {base_url}/files/upload/multipart` -> `{access_url, uploadId}`; parts
//!   `PUT {access_url}/multipart/{uploadId}/{n}` answer with an `ETag` header;
//!   `POST {access_url}/multipart/{uploadId}/complete` with `{parts: [{partNumber, etag}]}`
//!   (fal_client `MultipartUpload`; `src/storage.rs`).
//! - `POST /storage/upload/initiate?storage_type=...` with `{content_type, file_name}` ->
//!   `{upload_url, file_url}`, then `PUT {upload_url}` with the bytes (fal-js `storage.ts`
//!   `initiateUpload`; fal_client `_upload_via_storage` with `storage_type=gcs`).
//! - `POST /storage/upload/initiate-multipart?...` -> `{upload_url, file_url}`; parts
//!   `PUT {upload_url path}/{n}{upload_url query}` answer `{partNumber, etag}` as JSON (fal-js
//!   reads the part answer's body), then `POST {upload_url path}/complete{query}` (fal-js
//!   `multipartUpload`).
//! - `GET /files/{key}/{name}` serves the file with its content type.
//! - `GET /.well-known/fal-mock/endpoints` (the mock's own): endpoint ids and a valid input each.
//!
//! The pre-signed upload URLs carry a `signature` query parameter (the official JS client
//! sends no `Authorization` there, like a signed cloud-storage URL).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{HeaderMap, Method, Response, header};
use serde_json::{Value, json};

use super::{detail, json_response, lock};

/// Files the mock stores (uploads and example outputs), and uploads in progress.
#[derive(Default)]
pub(super) struct Store {
    files: std::sync::Mutex<HashMap<String, StoredFile>>,
    uploads: std::sync::Mutex<HashMap<String, MultipartUpload>>,
    next: AtomicU64,
    /// The CDN token handed out by the token route (one per server).
    pub(super) token: String,
}

#[derive(Clone)]
struct StoredFile {
    content_type: String,
    /// `None` until the upload arrives (a pre-signed URL was handed out).
    data: Option<bytes::Bytes>,
    /// The `signature` query value a pre-signed upload must carry.
    signature: String,
}

struct MultipartUpload {
    /// The file the parts become (`{key}/{name}`).
    path: String,
    parts: BTreeMap<u32, bytes::Bytes>,
}

impl Store {
    pub(super) fn new(seed: u64) -> Store {
        Store {
            token: format!("mock-cdn-token-{seed:016x}"),
            ..Store::default()
        }
    }

    fn next_key(&self, prefix: &str) -> String {
        format!(
            "{prefix}{:06x}",
            self.next.fetch_add(1, Ordering::Relaxed) + 1
        )
    }

    /// Reserves `files/{key}/{name}` and returns that path.
    fn reserve(&self, name: &str, content_type: &str, data: Option<bytes::Bytes>) -> String {
        let key = self.next_key("u");
        let path = format!("{key}/{}", sanitize(name));
        let signature = format!("{:016x}", fnv(path.as_bytes()) ^ fnv(self.token.as_bytes()));
        lock(&self.files).insert(
            path.clone(),
            StoredFile {
                content_type: content_type.to_owned(),
                data,
                signature,
            },
        );
        path
    }

    /// Stores a file and returns its path under `/files/`.
    pub(super) fn put(&self, name: &str, content_type: &str, data: bytes::Bytes) -> String {
        self.reserve(name, content_type, Some(data))
    }

    /// The bytes and content type of a stored file.
    pub(super) fn get(&self, path: &str) -> Option<(String, bytes::Bytes)> {
        let files = lock(&self.files);
        let file = files.get(path)?;
        Some((file.content_type.clone(), file.data.clone()?))
    }

    fn signature(&self, path: &str) -> Option<String> {
        lock(&self.files).get(path).map(|f| f.signature.clone())
    }
}

/// 64-bit FNV-1a: a stable, dependency-free tag for signatures (not a secret: this is a mock).
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A part's ETag: FNV over its length, its ends and every 4096th byte. A sample, not a
/// digest: hashing every byte of a 100 MB upload costs seconds in a debug build, and the tag
/// only has to tell the parts of one upload apart.
fn part_tag(data: &[u8]) -> String {
    let head = &data[..data.len().min(4096)];
    let tail = &data[data.len().saturating_sub(4096)..];
    let sample: Vec<u8> = data.iter().step_by(4096).copied().collect();
    let tag = fnv(&(data.len() as u64).to_le_bytes())
        ^ fnv(head).rotate_left(1)
        ^ fnv(tail).rotate_left(2)
        ^ fnv(&sample).rotate_left(3);
    format!("\"{tag:016x}\"")
}

/// A file name safe in a URL path segment.
fn sanitize(name: &str) -> String {
    let cleaned: String = name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.trim_matches('.').is_empty() {
        "file.bin".into()
    } else {
        cleaned
    }
}

/// Whether the queue host should route this path here rather than to the queue.
pub(super) fn is_storage_path(path: &str) -> bool {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    matches!(first, "storage" | "files" | ".well-known")
}

/// The parts of one storage request.
pub(super) struct StorageRequest<'a> {
    pub(super) method: &'a Method,
    pub(super) path: &'a str,
    pub(super) query: &'a str,
    pub(super) headers: &'a HeaderMap,
    pub(super) body: bytes::Bytes,
}

pub(super) fn handle(state: &super::State, req: StorageRequest<'_>) -> Response<Body> {
    let store = &state.store;
    let base = &state.queue_url;
    let segments: Vec<&str> = req.path.trim_matches('/').split('/').collect();
    let header = |name: &str| req.headers.get(name).and_then(|v| v.to_str().ok());
    let bearer_ok = header(header::AUTHORIZATION.as_str())
        .and_then(|a| a.strip_prefix("Bearer "))
        .is_some_and(|t| t == store.token);
    let query_param = |name: &str| {
        req.query
            .split('&')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))
    };
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", [".well-known", "jwks.json"]) => json_response(200, &state.signer.jwks()),
        // Not fal's: lets a script in any language find the endpoints and a valid input each.
        ("GET", [".well-known", "fal-mock", "endpoints"]) => {
            let mut endpoints: Vec<Value> = state
                .endpoints
                .values()
                .map(|spec| {
                    json!({ "endpoint_id": spec.endpoint_id(),
                            "example_input": spec.example_input() })
                })
                .collect();
            endpoints.sort_by(|a, b| a["endpoint_id"].as_str().cmp(&b["endpoint_id"].as_str()));
            json_response(200, &Value::Array(endpoints))
        }
        ("POST", ["storage", "auth", "token"]) => {
            if let Some(denied) = super::check_key(state, req.headers) {
                return denied;
            }
            json_response(
                200,
                &json!({
                    "token": store.token,
                    "token_type": "Bearer",
                    "base_url": base,
                    "expires_at": rfc3339(SystemTime::now() + Duration::from_secs(3600)),
                }),
            )
        }
        (
            "POST",
            [
                "storage",
                "upload",
                kind @ ("initiate" | "initiate-multipart"),
            ],
        ) => {
            if let Some(denied) = super::check_key(state, req.headers) {
                return denied;
            }
            let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
                return detail(422, "expected {\"content_type\", \"file_name\"}");
            };
            let content_type = body["content_type"]
                .as_str()
                .unwrap_or("application/octet-stream");
            let name = body["file_name"].as_str().unwrap_or("upload.bin");
            let path = store.reserve(name, content_type, None);
            let signature = store.signature(&path).unwrap_or_default();
            let upload_url = if *kind == "initiate" {
                format!("{base}/files/{path}?signature={signature}")
            } else {
                let upload_id = store.next_key("m");
                lock(&store.uploads).insert(
                    upload_id.clone(),
                    MultipartUpload {
                        path: path.clone(),
                        parts: BTreeMap::new(),
                    },
                );
                format!("{base}/files/{path}/multipart/{upload_id}?signature={signature}")
            };
            json_response(
                200,
                &json!({ "upload_url": upload_url, "file_url": format!("{base}/files/{path}") }),
            )
        }
        ("POST", ["files", "upload"]) => {
            if !bearer_ok {
                return detail(401, "CDN upload needs `Authorization: Bearer <token>`");
            }
            let content_type = header("content-type").unwrap_or("application/octet-stream");
            let name = header("x-fal-file-name").unwrap_or("upload.bin");
            let path = store.put(name, content_type, req.body);
            json_response(
                200,
                &json!({ "access_url": format!("{base}/files/{path}") }),
            )
        }
        ("POST", ["files", "upload", "multipart"]) => {
            if !bearer_ok {
                return detail(401, "CDN upload needs `Authorization: Bearer <token>`");
            }
            let content_type = header("content-type").unwrap_or("application/octet-stream");
            let name = header("x-fal-file-name").unwrap_or("upload.bin");
            let path = store.reserve(name, content_type, None);
            let upload_id = store.next_key("m");
            lock(&store.uploads).insert(
                upload_id.clone(),
                MultipartUpload {
                    path: path.clone(),
                    parts: BTreeMap::new(),
                },
            );
            json_response(
                200,
                &json!({ "access_url": format!("{base}/files/{path}"), "uploadId": upload_id }),
            )
        }
        ("GET" | "HEAD", ["files", key, name]) => match store.get(&format!("{key}/{name}")) {
            Some((content_type, data)) => Response::builder()
                .status(200)
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(data))
                .expect("a valid response"),
            None => detail(404, "File not found"),
        },
        ("PUT", ["files", key, name]) => {
            let path = format!("{key}/{name}");
            if !bearer_ok && query_param("signature") != store.signature(&path).as_deref() {
                return detail(403, "upload URL signature does not match");
            }
            let mut files = lock(&store.files);
            let Some(file) = files.get_mut(&path) else {
                return detail(404, "no upload was initiated for this URL");
            };
            file.data = Some(req.body);
            json_response(200, &json!({}))
        }
        ("PUT", ["files", key, name, "multipart", upload_id, part]) => {
            let path = format!("{key}/{name}");
            if !bearer_ok && query_param("signature") != store.signature(&path).as_deref() {
                return detail(403, "upload URL signature does not match");
            }
            let Ok(n) = part.parse::<u32>() else {
                return detail(400, "part number is not a number");
            };
            let etag = part_tag(&req.body);
            let mut uploads = lock(&store.uploads);
            let Some(upload) = uploads.get_mut(*upload_id).filter(|u| u.path == path) else {
                return detail(404, "unknown multipart upload");
            };
            upload.parts.insert(n, req.body);
            let mut response = json_response(200, &json!({ "partNumber": n, "etag": etag }));
            if let Ok(value) = header::HeaderValue::from_str(&etag) {
                response.headers_mut().insert(header::ETAG, value);
            }
            response
        }
        ("POST", ["files", key, name, "multipart", upload_id, "complete"]) => {
            let path = format!("{key}/{name}");
            if !bearer_ok && query_param("signature") != store.signature(&path).as_deref() {
                return detail(403, "upload URL signature does not match");
            }
            complete(store, base, &path, upload_id, &req.body)
        }
        _ => detail(404, "Not Found"),
    }
}

/// Joins the parts named in the body (all parts in order when it names none).
fn complete(store: &Store, base: &str, path: &str, upload_id: &str, body: &[u8]) -> Response<Body> {
    let Some(upload) = lock(&store.uploads)
        .remove(upload_id)
        .filter(|u| u.path == path)
    else {
        return detail(404, "unknown multipart upload");
    };
    let listed: Vec<(u32, String)> = serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|b| b.get("parts").and_then(Value::as_array).cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| {
            let n = p.get("partNumber")?.as_u64()?;
            Some((u32::try_from(n).ok()?, p.get("etag")?.as_str()?.to_owned()))
        })
        .collect();
    let mut numbers: Vec<u32> = listed.iter().map(|(n, _)| *n).collect();
    if numbers.is_empty() {
        numbers = upload.parts.keys().copied().collect();
    }
    numbers.sort_unstable();
    let mut data = Vec::new();
    for n in &numbers {
        let Some(part) = upload.parts.get(n) else {
            return detail(400, &format!("part {n} was never uploaded"));
        };
        let expected = part_tag(part);
        if let Some((_, etag)) = listed.iter().find(|(m, _)| m == n) {
            if etag.trim_matches('"') != expected.trim_matches('"') {
                return detail(400, &format!("part {n}: ETag {etag} does not match"));
            }
        }
        data.extend_from_slice(part);
    }
    if let Some(file) = lock(&store.files).get_mut(path) {
        file.data = Some(data.into());
    }
    json_response(
        200,
        &json!({ "access_url": format!("{base}/files/{path}") }),
    )
}

/// `2026-01-01T00:00:00+00:00` (what Python's `datetime.fromisoformat` and RFC 3339 read).
fn rfc3339(t: SystemTime) -> String {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Rewrites every `http(s)` URL string in an example output to a placeholder file the mock
/// serves (content type from a sibling `content_type` or from the extension), so that
/// downloads work offline. A sibling `file_size` is set to the placeholder's size.
pub(super) fn localize_output(store: &Store, base: &str, value: &mut Value) {
    match value {
        Value::Object(map) => {
            let declared = map
                .get("content_type")
                .and_then(Value::as_str)
                .map(str::to_owned);
            let mut placed = None;
            for (key, item) in map.iter_mut() {
                if let Value::String(url) = item {
                    if url.starts_with("https://") || url.starts_with("http://") {
                        let name = url
                            .split(['?', '#'])
                            .next()
                            .and_then(|u| u.rsplit('/').next())
                            .unwrap_or("file.bin")
                            .replace("%20", "_");
                        let content_type = declared
                            .clone()
                            .unwrap_or_else(|| content_type_of(&name).to_owned());
                        let data = placeholder(&content_type);
                        let len = data.len();
                        let path = store.put(&name, &content_type, data.into());
                        *url = format!("{base}/files/{path}");
                        if key == "url" {
                            placed = Some(len);
                        }
                    }
                } else {
                    localize_output(store, base, item);
                }
            }
            if let (Some(len), Some(size)) = (placed, map.get_mut("file_size")) {
                if size.is_number() {
                    *size = json!(len);
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                localize_output(store, base, item);
            }
        }
        _ => {}
    }
}

fn content_type_of(name: &str) -> &'static str {
    crate::http::media::content_type_of_name(name).unwrap_or("application/octet-stream")
}

/// A small file of the given type: a valid 1x1 PNG, or the type's magic bytes and filler.
fn placeholder(content_type: &str) -> Vec<u8> {
    const PNG_1X1: &[u8] = &[
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f,
        0x15, 0xc4, 0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00,
        0x01, 0x00, 0x00, 0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49,
        0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    let magic: &[u8] = match content_type {
        "image/png" => return PNG_1X1.to_vec(),
        "image/jpeg" => &[0xff, 0xd8, 0xff, 0xe0],
        "image/gif" => b"GIF89a",
        "image/webp" => b"RIFF\x1a\x00\x00\x00WEBPVP8 ",
        // An ISO BMFF `ftyp` box, as MP4 and QuickTime files start.
        "video/mp4" | "video/quicktime" => b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41",
        "application/json" => b"{}",
        _ => b"",
    };
    let mut data = magic.to_vec();
    if !content_type.starts_with("application/json") {
        data.extend_from_slice(b" fal-mock placeholder");
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00+00:00");
        let t = UNIX_EPOCH + Duration::from_secs(1_767_225_600 + 86_400 * 59 + 3661);
        assert_eq!(rfc3339(t), "2026-03-01T01:01:01+00:00");
    }

    #[test]
    fn example_urls_become_served_files() {
        let store = Store::new(1);
        let mut out = json!({"video": {"url": "https://x/a%20b/out.mp4", "file_size": 999},
                             "images": [{"url": "https://x/y.png", "content_type": "image/png"}],
                             "video_id": "https://not/a/file"});
        localize_output(&store, "http://m", &mut out);
        let url = out["video"]["url"].as_str().unwrap();
        assert!(
            url.starts_with("http://m/files/") && url.ends_with("/out.mp4"),
            "{url}"
        );
        let path = url.trim_start_matches("http://m/files/");
        let (kind, data) = store.get(path).unwrap();
        assert_eq!(kind, "video/mp4");
        assert_eq!(out["video"]["file_size"], json!(data.len()));
        let png = out["images"][0]["url"].as_str().unwrap();
        let (kind, data) = store
            .get(png.trim_start_matches("http://m/files/"))
            .unwrap();
        assert_eq!((kind.as_str(), &data[..4]), ("image/png", &b"\x89PNG"[..]));
        assert!(
            out["video_id"]
                .as_str()
                .unwrap()
                .starts_with("http://m/files/")
        );
    }

    #[test]
    fn file_names_are_made_safe() {
        assert_eq!(sanitize("../../etc/passwd"), "passwd");
        assert_eq!(sanitize("a cat.png"), "a_cat.png");
        assert_eq!(sanitize(".."), "file.bin");
    }
}
