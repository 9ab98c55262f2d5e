//! A fake fal storage server (token endpoint, single and multipart uploads) on loopback, shared
//! by the storage and files tests.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use serde_json::{Value, json};

pub const KEY: &str = "key-id:key-secret-do-not-print";

/// One finished object (single upload or completed multipart upload).
#[derive(Clone, Debug)]
pub struct Object {
    pub data: Vec<u8>,
    pub content_type: Option<String>,
    pub file_name: Option<String>,
    pub lifecycle: Option<String>,
    /// `X-Fal-Object-Lifecycle`, the header fal's CDN reads.
    pub lifecycle_cdn: Option<String>,
    pub multipart: bool,
}

#[derive(Default)]
pub struct FakeState {
    pub base: String,
    /// `expires_at` of the tokens issued (JSON value); default far in the future.
    pub expires_at: Option<Value>,
    pub token_requests: u32,
    /// How many more token requests fail with 503.
    pub fail_token: u32,
    pub token_auth_headers: Vec<String>,
    /// Tokens the upload endpoints accept.
    pub valid_tokens: HashSet<String>,
    /// Every object by id.
    pub objects: BTreeMap<String, Object>,
    /// Uploads in progress: id -> (meta, parts by number).
    pub pending: HashMap<String, (Object, BTreeMap<u32, Vec<u8>>)>,
    /// Part number -> how many more attempts fail with 503.
    pub fail_part: HashMap<u32, u32>,
    /// Part number -> attempts seen.
    pub part_attempts: HashMap<u32, u32>,
    pub in_flight: u32,
    pub max_in_flight: u32,
    /// Authorization headers seen by the upload endpoints.
    pub upload_auth: Vec<String>,
    pub next_id: u32,
    /// Uploads wait for a second one in flight (see `await_a_second_in_flight`); for the
    /// parallelism tests.
    pub expect_parallel: bool,
    /// Run on every token request (a test changes a file between measuring and uploading).
    pub on_token: Option<Box<dyn Fn() + Send>>,
}

pub type Shared = Arc<Mutex<FakeState>>;

pub struct Fake {
    pub url: String,
    pub state: Shared,
}

pub async fn start() -> Fake {
    let state: Shared = Arc::default();
    let app = Router::new()
        .route("/storage/auth/token", post(token))
        .route("/files/upload", post(single))
        .route("/files/upload/multipart", post(start_multipart))
        .route("/obj/{id}/multipart/{upload}/{n}", put(part))
        .route("/obj/{id}/multipart/{upload}/complete", post(complete))
        // fal takes 10 MiB parts (the default part size) and larger single uploads.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    state.lock().unwrap().base = url.clone();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Fake { url, state }
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn token(
    State(s): State<Shared>,
    axum::extract::Query(q): axum::extract::Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = s.lock().unwrap();
    s.token_requests += 1;
    if let Some(hook) = &s.on_token {
        hook();
    }
    if s.fail_token > 0 {
        s.fail_token -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, "token service busy").into_response();
    }
    s.token_auth_headers
        .push(header(&headers, "authorization").unwrap_or_default());
    if q.get("storage_type").map(String::as_str) != Some("fal-cdn-v3") || &body[..] != b"{}" {
        return (StatusCode::BAD_REQUEST, "bad token request").into_response();
    }
    if header(&headers, "authorization").as_deref() != Some(&format!("Key {KEY}")) {
        return (StatusCode::UNAUTHORIZED, "bad key").into_response();
    }
    let token = format!("tok-{}", s.token_requests);
    s.valid_tokens.insert(token.clone());
    let expires_at = s
        .expires_at
        .clone()
        .unwrap_or(json!("2999-01-01T00:00:00Z"));
    axum::Json(json!({
        "token": token,
        "token_type": "Bearer",
        "base_url": s.base,
        "expires_at": expires_at,
    }))
    .into_response()
}

fn check_auth(s: &mut FakeState, headers: &HeaderMap) -> Result<(), StatusCode> {
    let auth = header(headers, "authorization").unwrap_or_default();
    s.upload_auth.push(auth.clone());
    match auth.strip_prefix("Bearer ") {
        Some(t) if s.valid_tokens.contains(t) => Ok(()),
        _ => Err(StatusCode::UNAUTHORIZED),
    }
}

fn meta(headers: &HeaderMap, multipart: bool) -> Object {
    Object {
        data: Vec::new(),
        content_type: header(headers, "content-type"),
        file_name: header(headers, "x-fal-file-name"),
        lifecycle: header(headers, "x-fal-object-lifecycle-preference"),
        lifecycle_cdn: header(headers, "x-fal-object-lifecycle"),
        multipart,
    }
}

async fn single(State(s): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(status) = begin_upload(&s, &headers, None).await {
        return (status, "token expired").into_response();
    }
    let mut s = s.lock().unwrap();
    s.in_flight -= 1;
    s.next_id += 1;
    let id = format!("o{}", s.next_id);
    let mut obj = meta(&headers, false);
    obj.data = body.to_vec();
    s.objects.insert(id.clone(), obj);
    axum::Json(json!({ "access_url": format!("{}/obj/{id}", s.base) })).into_response()
}

async fn start_multipart(State(s): State<Shared>, headers: HeaderMap) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(status) = check_auth(&mut s, &headers) {
        return (status, "token expired").into_response();
    }
    s.next_id += 1;
    let id = format!("o{}", s.next_id);
    let upload = format!("up{}", s.next_id);
    s.pending
        .insert(upload.clone(), (meta(&headers, true), BTreeMap::new()));
    axum::Json(json!({ "access_url": format!("{}/obj/{id}", s.base), "uploadId": upload }))
        .into_response()
}

/// The start of every upload of bytes (a single upload, or part `part`): the token checked,
/// the attempt and the upload in flight counted, then [`await_a_second_in_flight`].
async fn begin_upload(
    s: &Shared,
    headers: &HeaderMap,
    part: Option<u32>,
) -> Result<(), StatusCode> {
    {
        let mut g = s.lock().unwrap();
        check_auth(&mut g, headers)?;
        if let Some(n) = part {
            *g.part_attempts.entry(n).or_default() += 1;
        }
        g.in_flight += 1;
        g.max_in_flight = g.max_in_flight.max(g.in_flight);
    }
    await_a_second_in_flight(s).await;
    Ok(())
}

/// With `expect_parallel`, until two uploads (parts, or single uploads) were in flight at once,
/// waits (up to a generous 5 s) for a second one: a client that uploads in parallel sends it at
/// once, a serial one never does. Counted, not timed: no window a loaded machine could miss.
async fn await_a_second_in_flight(s: &Shared) {
    let waited = std::time::Instant::now();
    while s.lock().unwrap().expect_parallel
        && s.lock().unwrap().max_in_flight < 2
        && waited.elapsed() < std::time::Duration::from_secs(5)
    {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

async fn part(
    State(s): State<Shared>,
    Path((_id, upload, n)): Path<(String, String, u32)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(status) = begin_upload(&s, &headers, Some(n)).await {
        return (status, "token expired").into_response();
    }
    let mut g = s.lock().unwrap();
    g.in_flight -= 1;
    if let Some(left) = g.fail_part.get_mut(&n).filter(|left| **left > 0) {
        *left -= 1;
        return (StatusCode::SERVICE_UNAVAILABLE, format!("part {n} flaked")).into_response();
    }
    let Some((_, parts)) = g.pending.get_mut(&upload) else {
        return (StatusCode::NOT_FOUND, "no such upload").into_response();
    };
    parts.insert(n, body.to_vec());
    ([("etag", format!("\"etag-{n}-{}\"", body.len()))], "").into_response()
}

async fn complete(
    State(s): State<Shared>,
    Path((id, upload)): Path<(String, String)>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let mut s = s.lock().unwrap();
    if let Err(status) = check_auth(&mut s, &headers) {
        return (status, "token expired").into_response();
    }
    let Some((mut obj, parts)) = s.pending.remove(&upload) else {
        return (StatusCode::NOT_FOUND, "no such upload").into_response();
    };
    let listed = body["parts"].as_array().cloned().unwrap_or_default();
    if listed.len() != parts.len() {
        return (StatusCode::BAD_REQUEST, "part count mismatch").into_response();
    }
    for (i, p) in listed.iter().enumerate() {
        let n = p["partNumber"].as_u64().unwrap() as u32;
        let data = &parts[&n];
        if n != i as u32 + 1 || p["etag"] != json!(format!("\"etag-{n}-{}\"", data.len())) {
            return (StatusCode::BAD_REQUEST, format!("bad part entry {p}")).into_response();
        }
        obj.data.extend_from_slice(data);
    }
    s.objects.insert(id.clone(), obj);
    axum::Json(json!({ "access_url": format!("{}/obj/{id}", s.base) })).into_response()
}

/// Deterministic test data.
pub fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}
