//! Upload files to fal storage (the fal CDN, `storage_type=fal-cdn-v3`) and get back a URL
//! that any endpoint accepts as a file input.
//!
//! ```no_run
//! # async fn demo() -> Result<(), fal_models::storage::StorageError> {
//! use fal_models::storage::{Storage, UploadOptions};
//!
//! let storage = Storage::builder().key(std::env::var("FAL_KEY").unwrap()).build()?;
//! let url = storage.upload_path("cat.png", &UploadOptions::default()).await?;
//! println!("{url}");
//! # Ok(()) }
//! ```
//!
//! Protocol:
//!
//! 1. `POST {rest_base_url}/storage/auth/token?storage_type=fal-cdn-v3` with the API key and
//!    body `{}` returns `{token, token_type, base_url, expires_at}`; the token is cached until
//!    shortly before it expires (see [`StorageBuilder::token_refresh_margin`]).
//! 2. Files up to the multipart threshold (100 MB by default): `POST {base_url}/files/upload`
//!    with the raw bytes returns `{access_url}`.
//! 3. Larger files: `POST {base_url}/files/upload/multipart` returns `{access_url, uploadId}`;
//!    parts (10 MB by default) go to `PUT {access_url}/multipart/{uploadId}/{n}` with bounded
//!    parallelism, each part retried; `POST {access_url}/multipart/{uploadId}/complete` with
//!    `{parts: [{partNumber, etag}]}` finishes the upload.
//!
//! Without a key, through a fal server proxy ([`StorageBuilder::through_proxy`], what a
//! [`Client`](crate::Client) built with `proxy_url` and no key uses): as fal-js does
//! (`storage.ts`, `initiateUpload`), `POST {rest}/storage/upload/initiate?storage_type=fal-cdn-v3`
//! (or `initiate-multipart`) with `{content_type, file_name}` goes through the proxy, which
//! adds the key, and answers `{upload_url, file_url}`; the bytes are `PUT` to the signed
//! `upload_url` directly (parts to `{upload_url path}/{n}?{query}`, then
//! `POST {upload_url path}/complete?{query}`), never through the proxy.
//!
//! The API key and the storage tokens never appear in `Debug` or `Display` output or in errors.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::{Stream, StreamExt, TryStreamExt, stream};
use reqwest::StatusCode;
use reqwest::header::{AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, ETAG, HeaderValue};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt};
use tracing::Instrument;

use crate::http::retry::{Failed, Retries, RetryPolicy, RetryUse, Wait};

/// The fal REST API, which issues storage tokens.
pub const DEFAULT_REST_BASE_URL: &str = "https://rest.fal.ai";
/// The storage type requested from the token endpoint.
pub const STORAGE_TYPE: &str = "fal-cdn-v3";
/// Files strictly larger than this many bytes are uploaded in parts (100 MB).
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 100 * 1024 * 1024;
/// The size of one part of a multipart upload (10 MB).
pub const DEFAULT_PART_SIZE: usize = 10 * 1024 * 1024;
/// How many parts (or, for [`Storage::resolve_local_files`], files) are uploaded at once.
pub const DEFAULT_CONCURRENCY: usize = 4;
/// How many times a failed request (part, single upload) is retried.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Header carrying the original file name of an upload.
pub const FILE_NAME_HEADER: &str = "X-Fal-File-Name";
/// Header carrying the object lifecycle preference of an upload.
pub const LIFECYCLE_HEADER: &str = "X-Fal-Object-Lifecycle-Preference";
/// The lifecycle header fal's CDN reads; sent with the same value as [`LIFECYCLE_HEADER`]
/// (fal's official clients send both).
pub const LIFECYCLE_HEADER_CDN: &str = "X-Fal-Object-Lifecycle";
/// The largest answer body read whole (token, upload result).
const MAX_RESPONSE_BODY: u64 = 1 << 20;

/// A token whose `expires_at` cannot be parsed is used for this long.
const FALLBACK_TOKEN_TTL: Duration = Duration::from_secs(5 * 60);
/// Error bodies quoted in errors are cut to this many characters.
const MAX_ERROR_BODY: usize = 500;

/// What went wrong while uploading. Messages name the step, the URL and the part that failed;
/// they never contain the API key or a storage token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// No API key was given and `FAL_KEY` is not set.
    #[error("no fal API key: call StorageBuilder::key or set the FAL_KEY environment variable")]
    MissingKey,
    /// The builder was given an unusable setting.
    #[error("invalid storage configuration: {0}")]
    Config(String),
    /// The request could not be sent or its response could not be read.
    #[error("{step}: request to {url} failed: {source}")]
    Http {
        /// The step that failed, e.g. `uploading part 3`.
        step: String,
        /// The URL requested.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("{step}: {url} answered {status}: {body}")]
    Status {
        /// The step that failed.
        step: String,
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: StatusCode,
        /// The start of the response body (key and token scrubbed).
        body: String,
        /// The `Retry-After` the server asked for, if any.
        retry_after: Option<Duration>,
    },
    /// A bound of the exchange passed (no response head, or the body went silent).
    #[error("{step}: {url}: {what}")]
    Timeout {
        /// The step that failed.
        step: String,
        /// The URL requested.
        url: String,
        /// Which bound.
        what: String,
    },
    /// The file changed while it was uploaded (its size or modification time differs from
    /// what was measured before): nothing is reported as uploaded.
    #[error("{path} changed while it was uploaded ({detail}); upload it again once it is stable")]
    Changed {
        /// The file.
        path: String,
        /// What differs.
        detail: String,
    },
    /// The server answered 2xx but the response is not what the protocol says.
    #[error("{step}: unexpected response from {url}: {detail}")]
    Response {
        /// The step that failed.
        step: String,
        /// The URL requested.
        url: String,
        /// What was wrong with it.
        detail: String,
    },
    /// Reading the local file or reader failed.
    #[error("reading {what}: {source}")]
    Io {
        /// The path (or `reader`) being read.
        what: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A multipart upload part still failed after all retries.
    #[error("multipart upload part {part} failed after {attempts} attempt(s): {source}")]
    Part {
        /// The 1-based part number.
        part: u32,
        /// How many attempts were made.
        attempts: u32,
        /// The last error.
        #[source]
        source: Box<StorageError>,
    },
}

impl StorageError {
    /// Whether retrying the same request may succeed (transport errors, 408, 429, 5xx).
    fn is_retryable(&self) -> bool {
        match self {
            StorageError::Http { .. } | StorageError::Timeout { .. } => true,
            StorageError::Status { status, .. } => RetryUse::Upload.retries_status(status.as_u16()),
            _ => false,
        }
    }

    fn is_auth_failure(&self) -> bool {
        matches!(self, StorageError::Status { status, .. } if is_auth_status(*status))
    }

    /// The server's `Retry-After` of an error status.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            StorageError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

impl StorageError {
    /// An equal error for a caller that shared a failed token fetch (a transport error cannot
    /// be cloned: it becomes its text, still retryable).
    fn shared_copy(&self) -> StorageError {
        match self {
            StorageError::Http { step, url, source } => StorageError::Timeout {
                step: step.clone(),
                url: url.clone(),
                what: format!("{source} (a concurrent token fetch)"),
            },
            StorageError::Status {
                step,
                url,
                status,
                body,
                retry_after,
            } => StorageError::Status {
                step: step.clone(),
                url: url.clone(),
                status: *status,
                body: body.clone(),
                retry_after: *retry_after,
            },
            StorageError::Timeout { step, url, what } => StorageError::Timeout {
                step: step.clone(),
                url: url.clone(),
                what: what.clone(),
            },
            StorageError::Response { step, url, detail } => StorageError::Response {
                step: step.clone(),
                url: url.clone(),
                detail: detail.clone(),
            },
            other => StorageError::Config(other.to_string()),
        }
    }
}

fn is_auth_status(status: StatusCode) -> bool {
    status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN
}

/// A string that never shows up in `Debug` output.
#[derive(Clone)]
struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Options of one upload.
#[derive(Debug, Clone, Default)]
pub struct UploadOptions {
    /// The file name sent as `X-Fal-File-Name`; [`Storage::upload_path`] defaults it to the
    /// path's file name.
    pub file_name: Option<String>,
    /// The content type; defaults to one guessed from the file name, else
    /// `application/octet-stream`.
    pub content_type: Option<String>,
    /// How long fal keeps the object, sent as
    /// `X-Fal-Object-Lifecycle-Preference: {"expiration_duration_seconds": N}`.
    pub expires_in: Option<Duration>,
}

impl UploadOptions {
    /// Options with nothing set.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the file name sent as `X-Fal-File-Name`.
    pub fn file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = Some(name.into());
        self
    }
    /// Sets the content type.
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }
    /// Asks fal to delete the object after `lifetime` (whole seconds).
    pub fn expires_in(mut self, lifetime: Duration) -> Self {
        self.expires_in = Some(lifetime);
        self
    }

    fn resolved_content_type(&self) -> String {
        if let Some(ct) = &self.content_type {
            return ct.clone();
        }
        self.file_name
            .as_deref()
            .map(|n| crate::http::media::content_type_from_path(Path::new(n)))
            .unwrap_or("application/octet-stream")
            .to_string()
    }
}

/// Builds a [`Storage`]; see [`Storage::builder`].
#[derive(Default)]
pub struct StorageBuilder {
    key: Option<Secret>,
    rest_base_url: Option<String>,
    upload_base_url: Option<String>,
    http: Option<reqwest::Client>,
    multipart_threshold: Option<u64>,
    part_size: Option<usize>,
    concurrency: Option<usize>,
    max_retries: Option<u32>,
    retry_backoff: Option<Duration>,
    retry: Option<RetryPolicy>,
    token_refresh_margin: Option<Duration>,
    clock: Option<Clock>,
    bounds: Option<crate::http::bounds::Bounds>,
    proxy: Option<Proxied>,
}

/// Initiating uploads through a fal server proxy.
#[derive(Clone)]
struct Proxied {
    url: String,
    headers: Vec<(reqwest::header::HeaderName, HeaderValue)>,
}

impl fmt::Debug for StorageBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StorageBuilder")
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .field("rest_base_url", &self.rest_base_url)
            .field("upload_base_url", &self.upload_base_url)
            .field("multipart_threshold", &self.multipart_threshold)
            .field("part_size", &self.part_size)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl StorageBuilder {
    /// The fal API key (`FAL_KEY`); sent as `Authorization: Key {key}` to the token endpoint
    /// only. Without it, [`build`](Self::build) reads the `FAL_KEY` environment variable.
    pub fn key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(Secret(key.into()));
        self
    }
    /// The REST API base URL (default [`DEFAULT_REST_BASE_URL`]).
    pub fn rest_base_url(mut self, url: impl Into<String>) -> Self {
        self.rest_base_url = Some(url.into());
        self
    }
    /// Uploads go to this base URL instead of the `base_url` the token endpoint returns.
    pub fn upload_base_url(mut self, url: impl Into<String>) -> Self {
        self.upload_base_url = Some(url.into());
        self
    }
    /// The HTTP client to use (share the one of the queue client).
    pub fn http(mut self, client: reqwest::Client) -> Self {
        self.http = Some(client);
        self
    }
    /// Files strictly larger than this are uploaded in parts (default 100 MB).
    pub fn multipart_threshold(mut self, bytes: u64) -> Self {
        self.multipart_threshold = Some(bytes);
        self
    }
    /// The size of each part but the last (default 10 MB).
    pub fn part_size(mut self, bytes: usize) -> Self {
        self.part_size = Some(bytes);
        self
    }
    /// How many parts or files are uploaded at the same time (default 4).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = Some(n);
        self
    }
    /// How many times a failed part or upload is retried (default 3); replaces the
    /// [`retry`](Self::retry) policy's `max_retries`.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = Some(n);
        self
    }
    /// The delay before the first retry, doubled for each further one (default 500 ms);
    /// replaces the [`retry`](Self::retry) policy's `initial_backoff`.
    pub fn retry_backoff(mut self, delay: Duration) -> Self {
        self.retry_backoff = Some(delay);
        self
    }
    /// The retry policy of every request (token, upload, parts, completion): the crate's one
    /// [`RetryPolicy`] (default [`RetryPolicy::default`]: 3 retries, 500 ms doubling up to
    /// 10 s with jitter, `Retry-After` up to 60 s). [`Client::storage`](crate::Client::storage)
    /// passes the client's.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }
    /// A token is refreshed this long before its `expires_at` (default 60 s).
    pub fn token_refresh_margin(mut self, margin: Duration) -> Self {
        self.token_refresh_margin = Some(margin);
        self
    }
    /// The time bounds of each request (default [`Bounds::default`](crate::http::bounds::Bounds)).
    /// A body-carrying upload's response-head bound grows by one second per 256 KiB sent,
    /// since the head only arrives after the body is out.
    pub fn bounds(mut self, bounds: crate::http::bounds::Bounds) -> Self {
        self.bounds = Some(bounds);
        self
    }

    /// Initiates uploads through this fal server proxy (`x-fal-target-url`, fal's
    /// `@fal-ai/server-proxy` protocol) instead of with a key, sending `headers` to it only
    /// (your caller credentials); the bytes go to the signed upload URL directly. No key is
    /// needed then.
    pub fn through_proxy(
        mut self,
        proxy_url: impl Into<String>,
        headers: Vec<(reqwest::header::HeaderName, HeaderValue)>,
    ) -> Self {
        self.proxy = Some(Proxied {
            url: proxy_url.into(),
            headers,
        });
        self
    }

    /// Replaces the wall clock used for token expiry (for tests).
    pub fn clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Builds the storage client.
    pub fn build(self) -> Result<Storage, StorageError> {
        let key = match (self.key, &self.proxy) {
            (Some(k), _) => k,
            // The proxy adds the key.
            (None, Some(_)) => Secret(String::new()),
            (None, None) => Secret(std::env::var("FAL_KEY").map_err(|_| StorageError::MissingKey)?),
        };
        if key.0.trim().is_empty() && self.proxy.is_none() {
            return Err(StorageError::MissingKey);
        }
        let part_size = self.part_size.unwrap_or(DEFAULT_PART_SIZE);
        if part_size == 0 {
            return Err(StorageError::Config("part_size must be positive".into()));
        }
        let concurrency = self.concurrency.unwrap_or(DEFAULT_CONCURRENCY);
        if concurrency == 0 {
            return Err(StorageError::Config("concurrency must be positive".into()));
        }
        let rest = trim_base(
            self.rest_base_url
                .as_deref()
                .unwrap_or(DEFAULT_REST_BASE_URL),
        );
        reqwest::Url::parse(&rest)
            .map_err(|e| StorageError::Config(format!("rest_base_url {rest:?}: {e}")))?;
        let upload_base_url = match self.upload_base_url {
            Some(u) => {
                let u = trim_base(&u);
                reqwest::Url::parse(&u)
                    .map_err(|e| StorageError::Config(format!("upload_base_url {u:?}: {e}")))?;
                Some(u)
            }
            None => None,
        };
        // 500 ms doubling (up to 10 s), with jitter; `Retry-After` up to 60 s.
        let mut retry = self
            .retry
            .unwrap_or_else(|| RetryPolicy::default().max_retries(DEFAULT_MAX_RETRIES));
        if let Some(n) = self.max_retries {
            retry = retry.max_retries(n);
        }
        if let Some(d) = self.retry_backoff {
            retry = retry.initial_backoff(d);
        }
        Ok(Storage {
            inner: Arc::new(Inner {
                http: self.http.unwrap_or_default(),
                key,
                rest_base_url: rest,
                upload_base_url,
                multipart_threshold: self
                    .multipart_threshold
                    .unwrap_or(DEFAULT_MULTIPART_THRESHOLD),
                part_size,
                concurrency,
                max_retries: retry.max_retries,
                retry_backoff: retry.initial_backoff,
                retry,
                refresh_margin: self.token_refresh_margin.unwrap_or(Duration::from_secs(60)),
                clock: self.clock.unwrap_or_else(|| Arc::new(SystemTime::now)),
                bounds: self.bounds.unwrap_or_default(),
                token: tokio::sync::Mutex::new(TokenSlot::default()),
                token_fetches: AtomicU64::new(0),
                proxy: self.proxy,
            }),
        })
    }
}

fn trim_base(url: &str) -> String {
    url.trim_end_matches('/').to_string()
}

/// Uploads files to fal storage. Cheap to clone; clones share the token cache.
#[derive(Clone)]
pub struct Storage {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    key: Secret,
    rest_base_url: String,
    upload_base_url: Option<String>,
    multipart_threshold: u64,
    part_size: usize,
    concurrency: usize,
    max_retries: u32,
    retry_backoff: Duration,
    /// The waits between attempts (from `max_retries` and `retry_backoff`).
    retry: RetryPolicy,
    refresh_margin: Duration,
    clock: Clock,
    bounds: crate::http::bounds::Bounds,
    /// Held while a token is fetched: one fetch at a time, and whoever waited takes its result.
    token: tokio::sync::Mutex<TokenSlot>,
    /// How many token fetches have ended (so a waiter knows one ended while it waited).
    token_fetches: AtomicU64,
    proxy: Option<Proxied>,
}

/// The token cache: the token, or the last failure to fetch one.
#[derive(Default)]
struct TokenSlot {
    token: Option<Token>,
    /// When the last fetch failed, and (a copy of) how: handed to the callers that waited for
    /// that fetch, and for a short while to new ones, instead of fetching again.
    failed: Option<(tokio::time::Instant, StorageError)>,
}

impl fmt::Debug for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = &self.inner;
        f.debug_struct("Storage")
            .field("key", &i.key)
            .field("rest_base_url", &i.rest_base_url)
            .field("upload_base_url", &i.upload_base_url)
            .field("multipart_threshold", &i.multipart_threshold)
            .field("part_size", &i.part_size)
            .field("concurrency", &i.concurrency)
            .field("max_retries", &i.max_retries)
            .finish_non_exhaustive()
    }
}

/// The closing event of an upload (in its span): never the URL, which grants access.
fn upload_outcome(
    result: &Result<String, StorageError>,
    attempts: Option<u32>,
    redactor: &crate::http::redact::Redactor,
) {
    match result {
        Ok(_) => tracing::debug!(attempts, "upload: finished"),
        Err(e) => tracing::warn!(reason = %redactor.scrub(&e.to_string()), "upload: failed"),
    }
}

/// A cached storage token.
#[derive(Clone)]
struct Token {
    authorization: Secret,
    /// The token alone (scrubbed from errors in every form).
    raw: Secret,
    base_url: String,
    /// The token is refreshed from this instant on.
    refresh_at: SystemTime,
}

#[derive(Deserialize)]
struct TokenResponse {
    token: String,
    token_type: String,
    base_url: String,
    #[serde(default)]
    expires_at: serde_json::Value,
}

#[derive(Deserialize)]
struct AccessUrl {
    access_url: String,
}

/// How a multipart upload started: on the CDN with a token, or with a signed URL.
#[derive(Deserialize)]
#[serde(untagged)]
enum MultipartStart {
    Cdn {
        access_url: String,
        #[serde(rename = "uploadId")]
        upload_id: String,
    },
    Signed {
        upload_url: String,
        file_url: String,
    },
}

/// The answer of `storage/upload/initiate`.
#[derive(Deserialize)]
struct Initiated {
    upload_url: String,
    file_url: String,
}

/// A body that can be produced again for a retry.
enum Source {
    Bytes(Bytes),
    /// A file, with the size and modification time measured before the upload: the bytes sent
    /// must be exactly these.
    Path(PathBuf, Measured),
}

/// What was measured of a file before uploading it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Measured {
    len: u64,
    modified: Option<SystemTime>,
}

impl Measured {
    fn of(meta: &std::fs::Metadata) -> Self {
        Measured {
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }

    /// Fails when the file at `path` is no longer what was measured.
    async fn still_holds(&self, path: &Path) -> Result<(), StorageError> {
        let what = path.display().to_string();
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|source| StorageError::Io {
                what: what.clone(),
                source,
            })?;
        let now = Measured::of(&meta);
        if now.len != self.len {
            return Err(StorageError::Changed {
                path: what,
                detail: format!("{} bytes measured, {} now", self.len, now.len),
            });
        }
        if now.modified != self.modified {
            return Err(StorageError::Changed {
                path: what,
                detail: "modified during the upload".into(),
            });
        }
        Ok(())
    }
}

impl Storage {
    /// Starts building a storage client.
    pub fn builder() -> StorageBuilder {
        StorageBuilder::default()
    }

    /// Uploads bytes and returns their URL.
    pub async fn upload_bytes(
        &self,
        data: impl Into<Bytes>,
        options: &UploadOptions,
    ) -> Result<String, StorageError> {
        let data: Bytes = data.into();
        if data.len() as u64 > self.inner.multipart_threshold {
            let size = self.inner.part_size;
            let parts = (0..data.len())
                .step_by(size)
                .map(|start| Ok(data.slice(start..(start + size).min(data.len()))))
                .collect::<Vec<_>>();
            self.upload_multipart(stream::iter(parts), options).await
        } else {
            self.upload_single(Source::Bytes(data), options).await
        }
    }

    /// Uploads everything `reader` yields and returns the URL.
    ///
    /// Up to the multipart threshold is buffered to decide between a single and a multipart
    /// upload; beyond it, at most `concurrency + 1` parts are held in memory. Prefer
    /// [`upload_path`](Self::upload_path) for files on disk: it streams single uploads.
    pub async fn upload_reader<R>(
        &self,
        reader: R,
        options: &UploadOptions,
    ) -> Result<String, StorageError>
    where
        R: AsyncRead + Unpin + Send,
    {
        let threshold = self.inner.multipart_threshold;
        let mut head = Vec::new();
        let mut reader = reader;
        (&mut reader)
            .take(threshold.saturating_add(1))
            .read_to_end(&mut head)
            .await
            .map_err(|source| StorageError::Io {
                what: "reader".into(),
                source,
            })?;
        if head.len() as u64 <= threshold {
            return self
                .upload_single(Source::Bytes(head.into()), options)
                .await;
        }
        let chained = std::io::Cursor::new(head).chain(reader);
        let parts = read_parts(chained, self.inner.part_size, "reader".into());
        self.upload_multipart(parts, options).await
    }

    /// Uploads a local file and returns its URL. The file name (`X-Fal-File-Name`) and content
    /// type default to ones derived from `path`.
    pub async fn upload_path(
        &self,
        path: impl AsRef<Path>,
        options: &UploadOptions,
    ) -> Result<String, StorageError> {
        let path = path.as_ref();
        let what = path.display().to_string();
        let mut options = options.clone();
        if options.file_name.is_none() {
            options.file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
        }
        if options.content_type.is_none() {
            options.content_type =
                Some(crate::http::media::content_type_from_path(path).to_string());
        }
        let meta = tokio::fs::metadata(path)
            .await
            .map_err(|source| StorageError::Io {
                what: what.clone(),
                source,
            })?;
        if !meta.is_file() {
            return Err(StorageError::Io {
                what,
                source: std::io::Error::other("not a regular file"),
            });
        }
        let measured = Measured::of(&meta);
        if meta.len() > self.inner.multipart_threshold {
            let file = tokio::fs::File::open(path)
                .await
                .map_err(|source| StorageError::Io {
                    what: what.clone(),
                    source,
                })?;
            // Exactly the measured bytes, and the file must still be as measured before the
            // upload is completed (a grown or rewritten file is an error, never a truncated
            // success).
            let parts = read_parts(file.take(measured.len), self.inner.part_size, what);
            self.upload_multipart_checked(parts, &options, Some((path, measured)))
                .await
        } else {
            let url = self
                .upload_single(Source::Path(path.to_path_buf(), measured), &options)
                .await?;
            measured.still_holds(path).await?;
            Ok(url)
        }
    }

    /// The configured parallelism (used by [`crate::files::resolve_local_files`]).
    pub(crate) fn concurrency(&self) -> usize {
        self.inner.concurrency
    }

    /// Forgets the cached storage token so that the next upload fetches a new one.
    pub async fn invalidate_token(&self) {
        self.inner.token.lock().await.token = None;
    }

    /// Returns the cached token or fetches a new one. Single flight with the result shared:
    /// concurrent callers wait for one fetch and take its token *or its failure*, so N callers
    /// against a silent token route cost one bound, not N in a row. A failure is also answered
    /// from memory for half the first backoff (never long enough to swallow a retry).
    async fn token(&self) -> Result<Token, StorageError> {
        if self.inner.proxy.is_some() {
            // No storage token through a proxy: each upload is initiated there and its signed
            // URL is its own credential. The attempts of the retry loop get this empty one.
            return Ok(Token {
                authorization: Secret(String::new()),
                raw: Secret(String::new()),
                base_url: String::new(),
                refresh_at: UNIX_EPOCH,
            });
        }
        let fetches_before = self.inner.token_fetches.load(Ordering::SeqCst);
        let mut slot = self.inner.token.lock().await;
        let now = (self.inner.clock)();
        if let Some(t) = slot.token.as_ref().filter(|t| now < t.refresh_at) {
            return Ok(t.clone());
        }
        if let Some((at, e)) = &slot.failed {
            let negative_ttl = self.inner.retry_backoff.min(Duration::from_secs(1)) / 2;
            if self.inner.token_fetches.load(Ordering::SeqCst) != fetches_before
                || at.elapsed() < negative_ttl
            {
                return Err(e.shared_copy());
            }
        }
        let result = self.fetch_token(now).await;
        self.inner.token_fetches.fetch_add(1, Ordering::SeqCst);
        match &result {
            Ok(t) => {
                slot.token = Some(t.clone());
                slot.failed = None;
            }
            Err(e) => slot.failed = Some((tokio::time::Instant::now(), e.shared_copy())),
        }
        result
    }

    /// Drops the cached token if it is still `auth` (another task may have refreshed it).
    async fn drop_token(&self, auth: &Secret) {
        let mut slot = self.inner.token.lock().await;
        if slot
            .token
            .as_ref()
            .is_some_and(|t| t.authorization.0 == auth.0)
        {
            slot.token = None;
        }
    }

    async fn fetch_token(&self, now: SystemTime) -> Result<Token, StorageError> {
        let step = "fetching a storage token";
        let url = format!(
            "{}/storage/auth/token?storage_type={STORAGE_TYPE}",
            self.inner.rest_base_url
        );
        let req = self
            .inner
            .http
            .post(&url)
            .header(
                AUTHORIZATION,
                header_value(&format!("Key {}", self.inner.key.0))?,
            )
            .header(CONTENT_TYPE, "application/json")
            .body("{}");
        let resp = self.exchange(step, &url, req, 0, None).await?;
        let body: TokenResponse = self.json_body(step, &url, resp, None).await?;
        let ttl_end = parse_expiry(&body.expires_at).unwrap_or(now + FALLBACK_TOKEN_TTL);
        let refresh_at = ttl_end
            .checked_sub(self.inner.refresh_margin)
            .unwrap_or(UNIX_EPOCH);
        let base_url = match &self.inner.upload_base_url {
            Some(u) => u.clone(),
            None => trim_base(&body.base_url),
        };
        if reqwest::Url::parse(&base_url).is_err() {
            return Err(StorageError::Response {
                step: step.into(),
                url,
                detail: format!("base_url {base_url:?} is not a URL"),
            });
        }
        Ok(Token {
            raw: Secret(body.token.clone()),
            authorization: Secret(format!("{} {}", body.token_type, body.token)),
            base_url,
            refresh_at,
        })
    }

    fn upload_headers(
        &self,
        req: reqwest::RequestBuilder,
        token: &Token,
        content_type: &str,
        options: &UploadOptions,
    ) -> Result<reqwest::RequestBuilder, StorageError> {
        let mut req = req
            .header(AUTHORIZATION, header_value(&token.authorization.0)?)
            .header(CONTENT_TYPE, header_value(content_type)?);
        if let Some(name) = &options.file_name {
            req = req.header(FILE_NAME_HEADER, header_value(&sanitize_file_name(name))?);
        }
        if let Some(lifetime) = options.expires_in {
            let seconds = crate::http::protocol::expiration_seconds(lifetime)
                .ok_or_else(|| StorageError::Config("expires_in must be more than zero".into()))?;
            let pref = serde_json::json!({ "expiration_duration_seconds": seconds });
            let pref = header_value(&pref.to_string())?;
            req = req
                .header(LIFECYCLE_HEADER, pref.clone())
                .header(LIFECYCLE_HEADER_CDN, pref);
        }
        Ok(req)
    }

    /// Runs `attempt` up to `1 + max_retries` times through the crate's retry driver
    /// ([`Retries`]): backing off (with jitter, or the server's `Retry-After`) between
    /// retryable failures, and, after a 401/403, dropping the cached token and trying again at
    /// once with a new one.
    async fn with_retries<F, Fut, T>(&self, mut attempt: F) -> (Result<T, StorageError>, u32)
    where
        F: FnMut(Token) -> Fut,
        Fut: Future<Output = Result<T, StorageError>>,
    {
        let mut retries = Retries::new(&self.inner.retry, "storage: ");
        loop {
            let attempts = retries.attempt();
            let token = match self.token().await {
                Ok(t) => t,
                // A rejected key stays rejected; other token failures are retried.
                Err(e) if e.is_retryable() && !e.is_auth_failure() => {
                    let (reason, retry_after) =
                        (self.redactor(None).scrub(&e.to_string()), e.retry_after());
                    let failed = Failed::new(e, reason)
                        .what("token request")
                        .retry_after(retry_after);
                    match retries.back_off(failed).await {
                        Ok(()) => continue,
                        Err(e) => return (Err(e), attempts),
                    }
                }
                Err(e) => return (Err(e), attempts),
            };
            let auth = token.authorization.clone();
            // Failure texts are scrubbed of the key and this token before they are logged.
            let redactor = self.redactor(Some(&token));
            match attempt(token).await {
                Ok(v) => return (Ok(v), attempts),
                Err(e) if e.is_retryable() => {
                    let reason = redactor.scrub(&e.to_string());
                    let failed = if e.is_auth_failure() {
                        // The next attempt fetches a new token.
                        self.drop_token(&auth).await;
                        Failed::new(e, reason)
                            .what("attempt with a refused token")
                            .wait(Wait::Now)
                    } else {
                        let retry_after = e.retry_after();
                        Failed::new(e, reason).retry_after(retry_after)
                    };
                    if let Err(e) = retries.back_off(failed).await {
                        return (Err(e), attempts);
                    }
                }
                Err(e) => return (Err(e), attempts),
            }
        }
    }

    /// Every secret this storage may meet: the key (also as `Key <key>`) and the token.
    fn redactor(&self, token: Option<&Token>) -> crate::http::redact::Redactor {
        let key = &self.inner.key.0;
        let mut r = crate::http::redact::Redactor::new([key.as_str()]);
        if let Some(t) = token {
            r.add(&t.raw.0);
            r.add(&t.authorization.0);
        }
        r
    }

    /// Sends one request within the storage's bounds (the response-head bound grows with the
    /// body: one second per 256 KiB), and turns an error status into [`StorageError::Status`]
    /// with a scrubbed body excerpt and the server's `Retry-After`.
    async fn exchange(
        &self,
        step: &str,
        url: &str,
        req: reqwest::RequestBuilder,
        body_len: u64,
        token: Option<&Token>,
    ) -> Result<reqwest::Response, StorageError> {
        use crate::http::bounds::{self, ExchangeFault};
        let mut b = self.inner.bounds;
        let allowance = Duration::from_secs(body_len / (256 * 1024));
        b.response_head = b.response_head.map(|h| h + allowance);
        b.total = b.total.map(|t| t + allowance);
        let resp = bounds::send(req, &b).await.map_err(|fault| match fault {
            ExchangeFault::Transport(e) => http_err(step, url, e),
            other => StorageError::Timeout {
                step: step.into(),
                url: url.into(),
                what: other.to_string(),
            },
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = resp
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::http::retry::parse_retry_after);
        let bytes = bounds::read_body(resp, &b, 64 * 1024)
            .await
            .unwrap_or_else(|(_, partial)| partial);
        let mut body = self.redactor(token).excerpt(&bytes, MAX_ERROR_BODY);
        if body.is_empty() {
            body = "(empty body)".into();
        }
        Err(StorageError::Status {
            step: step.into(),
            url: url.into(),
            status,
            body,
            retry_after,
        })
    }

    /// Reads a JSON answer of at most 1 MiB within the idle bound.
    async fn json_body<T: serde::de::DeserializeOwned>(
        &self,
        step: &str,
        url: &str,
        resp: reqwest::Response,
        token: Option<&Token>,
    ) -> Result<T, StorageError> {
        use crate::http::bounds::{self, ExchangeFault};
        let bytes = bounds::read_body(resp, &self.inner.bounds, MAX_RESPONSE_BODY)
            .await
            .map_err(|(fault, _)| match fault {
                ExchangeFault::Transport(e) => http_err(step, url, e),
                other => StorageError::Response {
                    step: step.into(),
                    url: url.into(),
                    detail: other.to_string(),
                },
            })?;
        serde_json::from_slice(&bytes).map_err(|e| StorageError::Response {
            step: step.into(),
            url: url.into(),
            detail: self
                .redactor(token)
                .scrub(&format!("invalid JSON body: {e}")),
        })
    }

    async fn upload_single(
        &self,
        source: Source,
        options: &UploadOptions,
    ) -> Result<String, StorageError> {
        let content_type = options.resolved_content_type();
        let step = "uploading file";
        let size = match &source {
            Source::Bytes(b) => b.len() as u64,
            Source::Path(_, measured) => measured.len,
        };
        let span = tracing::info_span!("fal.upload", mode = "single", size);
        span.in_scope(|| tracing::debug!(content_type = %content_type, "upload: started"));
        let (result, attempts) = self
            .with_retries(|token| {
                let content_type = &content_type;
                let source = &source;
                async move {
                    if self.inner.proxy.is_some() {
                        return self.upload_initiated(source, content_type, options).await;
                    }
                    let url = format!("{}/files/upload", token.base_url);
                    let (body, len) = match source {
                        Source::Bytes(b) => (reqwest::Body::from(b.clone()), b.len() as u64),
                        Source::Path(p, measured) => {
                            (file_body(p, measured.len).await?, measured.len)
                        }
                    };
                    let req = self.upload_headers(
                        self.inner.http.post(&url),
                        &token,
                        content_type,
                        options,
                    )?;
                    let req = req.header(CONTENT_LENGTH, len).body(body);
                    let resp = match self.exchange(step, &url, req, len, Some(&token)).await {
                        Ok(resp) => resp,
                        Err(e) => {
                            // The body stream stops a file that changed while it was read:
                            // that is `Changed`, not a transport failure to retry.
                            if let Source::Path(p, measured) = source {
                                measured.still_holds(p).await?;
                            }
                            return Err(e);
                        }
                    };
                    let body: AccessUrl = self.json_body(step, &url, resp, Some(&token)).await?;
                    Ok(body.access_url)
                }
            })
            .instrument(span.clone())
            .await;
        span.in_scope(|| upload_outcome(&result, Some(attempts), &self.redactor(None)));
        result
    }

    /// Asks fal (through the proxy) for a signed upload URL: `initiate` or
    /// `initiate-multipart`; returns `(upload_url, file_url)`.
    async fn initiate(
        &self,
        kind: &str,
        content_type: &str,
        options: &UploadOptions,
    ) -> Result<(String, String), StorageError> {
        let proxy = self.inner.proxy.as_ref().expect("proxy mode");
        let step = "initiating upload";
        let target = format!(
            "{}/storage/upload/{kind}?storage_type={STORAGE_TYPE}",
            self.inner.rest_base_url
        );
        let file_name = options
            .file_name
            .as_deref()
            .map(sanitize_file_name)
            .unwrap_or_else(|| {
                let ext = content_type
                    .split('/')
                    .nth(1)
                    .and_then(|t| t.split([';', '-']).next())
                    .filter(|e| !e.is_empty())
                    .unwrap_or("bin");
                format!("upload.{ext}")
            });
        let mut req = self
            .inner
            .http
            .post(&proxy.url)
            .header(
                crate::http::protocol::TARGET_URL_HEADER,
                header_value(&target)?,
            )
            .json(&serde_json::json!({"content_type": content_type, "file_name": file_name}));
        for (name, value) in &proxy.headers {
            req = req.header(name, value.clone());
        }
        if let Some(lifetime) = options.expires_in {
            let seconds = crate::http::protocol::expiration_seconds(lifetime)
                .ok_or_else(|| StorageError::Config("expires_in must be more than zero".into()))?;
            let pref = serde_json::json!({ "expiration_duration_seconds": seconds });
            req = req.header(LIFECYCLE_HEADER_CDN, header_value(&pref.to_string())?);
        }
        let resp = self.exchange(step, &target, req, 0, None).await?;
        let body: Initiated = self.json_body(step, &target, resp, None).await?;
        Ok((body.upload_url, body.file_url))
    }

    /// A single upload through the proxy: initiate there, `PUT` the bytes to the signed URL.
    async fn upload_initiated(
        &self,
        source: &Source,
        content_type: &str,
        options: &UploadOptions,
    ) -> Result<String, StorageError> {
        let (upload_url, file_url) = self.initiate("initiate", content_type, options).await?;
        let step = "uploading file";
        let (body, len) = match source {
            Source::Bytes(b) => (reqwest::Body::from(b.clone()), b.len() as u64),
            Source::Path(p, measured) => (file_body(p, measured.len).await?, measured.len),
        };
        let req = self
            .inner
            .http
            .put(&upload_url)
            .header(CONTENT_TYPE, header_value(content_type)?)
            .header(CONTENT_LENGTH, len)
            .body(body);
        let shown = upload_url.split('?').next().unwrap_or_default().to_owned();
        self.exchange(step, &shown, req, len, None).await?;
        Ok(file_url)
    }

    async fn upload_multipart<S>(
        &self,
        parts: S,
        options: &UploadOptions,
    ) -> Result<String, StorageError>
    where
        S: Stream<Item = Result<Bytes, StorageError>> + Send,
    {
        self.upload_multipart_checked(parts, options, None).await
    }

    /// A multipart upload; with `file`, the file must still be as measured (and exactly its
    /// measured length must have been read) before the upload is completed.
    async fn upload_multipart_checked<S>(
        &self,
        parts: S,
        options: &UploadOptions,
        file: Option<(&Path, Measured)>,
    ) -> Result<String, StorageError>
    where
        S: Stream<Item = Result<Bytes, StorageError>> + Send,
    {
        let span = tracing::info_span!(
            "fal.upload",
            mode = "multipart",
            size = tracing::field::Empty,
            parts = tracing::field::Empty,
        );
        let result = self
            .multipart_steps(parts, options, file)
            .instrument(span.clone())
            .await;
        if let Ok((_, size, parts)) = &result {
            span.record("size", size).record("parts", parts);
        }
        let result = result.map(|(url, _, _)| url);
        span.in_scope(|| upload_outcome(&result, None, &self.redactor(None)));
        result
    }

    /// The steps of a multipart upload; the URL, the bytes sent and the number of parts.
    async fn multipart_steps<S>(
        &self,
        parts: S,
        options: &UploadOptions,
        file: Option<(&Path, Measured)>,
    ) -> Result<(String, u64, usize), StorageError>
    where
        S: Stream<Item = Result<Bytes, StorageError>> + Send,
    {
        let content_type = options.resolved_content_type();
        tracing::debug!(
            content_type = %content_type,
            part_size = self.inner.part_size,
            "upload: started"
        );
        let step = "initiating multipart upload";
        let (start, _) = self
            .with_retries(|token| {
                let content_type = &content_type;
                async move {
                    if self.inner.proxy.is_some() {
                        let (upload_url, file_url) = self
                            .initiate("initiate-multipart", content_type, options)
                            .await?;
                        return Ok(MultipartStart::Signed {
                            upload_url,
                            file_url,
                        });
                    }
                    let url = format!("{}/files/upload/multipart", token.base_url);
                    let req = self.upload_headers(
                        self.inner.http.post(&url),
                        &token,
                        content_type,
                        options,
                    )?;
                    let resp = self.exchange(step, &url, req, 0, Some(&token)).await?;
                    self.json_body::<MultipartStart>(step, &url, resp, Some(&token))
                        .await
                }
            })
            .await;
        // Parts go to `{base}/{n}{query}`, the completion to `{base}/complete{query}`: the CDN
        // multipart URL, or the signed URL's path and query (fal-js `multipartUpload`).
        let (access_url, upload_base, query) = match start? {
            MultipartStart::Cdn {
                access_url,
                upload_id,
            } => {
                let access_url = trim_base(&access_url);
                let base = format!("{access_url}/multipart/{upload_id}");
                (access_url, base, String::new())
            }
            MultipartStart::Signed {
                upload_url,
                file_url,
            } => {
                let (base, query) = match upload_url.split_once('?') {
                    Some((base, query)) => (base.to_owned(), format!("?{query}")),
                    None => (upload_url.clone(), String::new()),
                };
                (file_url, trim_base(&base), query)
            }
        };

        let sent = std::sync::atomic::AtomicU64::new(0);
        let mut etags: Vec<(u32, String)> = parts
            .enumerate()
            .map(|(i, part)| {
                let n = i as u32 + 1;
                let (upload_base, query) = (&upload_base, &query);
                let content_type = &content_type;
                let sent = &sent;
                async move {
                    let data = part?;
                    sent.fetch_add(data.len() as u64, std::sync::atomic::Ordering::Relaxed);
                    self.upload_part(upload_base, query, n, data, content_type)
                        .await
                }
            })
            .buffer_unordered(self.inner.concurrency)
            .try_collect()
            .await?;
        if etags.is_empty() {
            return Err(StorageError::Io {
                what: "multipart upload".into(),
                source: std::io::Error::other("the source yielded no data"),
            });
        }
        etags.sort_by_key(|(n, _)| *n);
        let sent = sent.into_inner();
        if let Some((path, measured)) = file {
            if sent != measured.len {
                return Err(StorageError::Changed {
                    path: path.display().to_string(),
                    detail: format!("{} bytes measured, {sent} read", measured.len),
                });
            }
            measured.still_holds(path).await?;
        }

        let step = "completing multipart upload";
        let url = format!("{upload_base}/complete{query}");
        let body = serde_json::json!({
            "parts": etags
                .iter()
                .map(|(n, etag)| serde_json::json!({ "partNumber": n, "etag": etag }))
                .collect::<Vec<_>>(),
        });
        let (done, _) = self
            .with_retries(|token| {
                let url = &url;
                let body = &body;
                async move {
                    let req = self
                        .with_token(self.inner.http.post(url), &token)?
                        .json(body);
                    let resp = self.exchange(step, url, req, 0, Some(&token)).await?;
                    // The response may repeat the access URL; the one from the start is final.
                    Ok(self
                        .json_body::<AccessUrl>(step, url, resp, Some(&token))
                        .await
                        .map(|a| a.access_url)
                        .ok())
                }
            })
            .await;
        Ok((done?.unwrap_or(access_url), sent, etags.len()))
    }

    /// The storage token's `Authorization`, when there is one (a signed URL needs none).
    fn with_token(
        &self,
        req: reqwest::RequestBuilder,
        token: &Token,
    ) -> Result<reqwest::RequestBuilder, StorageError> {
        if token.authorization.0.is_empty() {
            return Ok(req);
        }
        Ok(req.header(AUTHORIZATION, header_value(&token.authorization.0)?))
    }

    async fn upload_part(
        &self,
        upload_base: &str,
        query: &str,
        n: u32,
        data: Bytes,
        content_type: &str,
    ) -> Result<(u32, String), StorageError> {
        let url = format!("{upload_base}/{n}{query}");
        let step = format!("uploading part {n}");
        let (result, attempts) = self
            .with_retries(|token| {
                let (url, step, data) = (&url, &step, data.clone());
                async move {
                    let len = data.len() as u64;
                    let req = self
                        .with_token(self.inner.http.put(url), &token)?
                        .header(CONTENT_TYPE, header_value(content_type)?)
                        .header(CONTENT_LENGTH, len)
                        .body(data);
                    let resp = self.exchange(step, url, req, len, Some(&token)).await?;
                    let etag = resp
                        .headers()
                        .get(ETAG)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string)
                        .ok_or_else(|| StorageError::Response {
                            step: step.clone(),
                            url: url.clone(),
                            detail: "no ETag header in the response".into(),
                        })?;
                    Ok(etag)
                }
            })
            .await;
        match result {
            Ok(etag) => {
                tracing::trace!(
                    part = n,
                    size = data.len() as u64,
                    attempts,
                    "upload: part sent"
                );
                Ok((n, etag))
            }
            Err(e) => Err(StorageError::Part {
                part: n,
                attempts,
                source: Box::new(e),
            }),
        }
    }
}

/// Splits a reader into parts of `part_size` bytes (the last may be shorter), read lazily.
fn read_parts<R>(
    reader: R,
    part_size: usize,
    what: String,
) -> impl Stream<Item = Result<Bytes, StorageError>> + Send
where
    R: AsyncRead + Unpin + Send,
{
    stream::try_unfold((reader, what), move |(mut reader, what)| async move {
        let mut buf = Vec::with_capacity(part_size);
        (&mut reader)
            .take(part_size as u64)
            .read_to_end(&mut buf)
            .await
            .map_err(|source| StorageError::Io {
                what: what.clone(),
                source,
            })?;
        if buf.is_empty() {
            Ok(None)
        } else {
            Ok(Some((Bytes::from(buf), (reader, what))))
        }
    })
}

/// A streaming request body of exactly `len` bytes of `path`: a file that turns out shorter,
/// or longer, than measured fails the upload instead of storing other bytes.
async fn file_body(path: &Path, len: u64) -> Result<reqwest::Body, StorageError> {
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|source| StorageError::Io {
            what: path.display().to_string(),
            source,
        })?;
    let changed = |detail: String| std::io::Error::other(format!("the file changed: {detail}"));
    let chunks = stream::try_unfold((file, 0u64), move |(mut file, sent)| async move {
        let mut buf = vec![0u8; 64 * 1024];
        let n = file.read(&mut buf).await?;
        if n == 0 {
            if sent != len {
                return Err(changed(format!("{len} bytes measured, {sent} read")));
            }
            return Ok::<_, std::io::Error>(None);
        }
        let sent = sent + n as u64;
        if sent > len {
            return Err(changed(format!("longer than the {len} bytes measured")));
        }
        buf.truncate(n);
        Ok(Some((Bytes::from(buf), (file, sent))))
    });
    Ok(reqwest::Body::wrap_stream(chunks))
}

fn header_value(value: &str) -> Result<HeaderValue, StorageError> {
    // The message must not quote `value`: it may be a credential.
    HeaderValue::from_str(value)
        .map_err(|_| StorageError::Config("a header value contains invalid characters".into()))
}

/// Replaces what cannot go into a header value (non-ASCII, control characters) with `_`.
fn sanitize_file_name(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn http_err(step: &str, url: &str, source: reqwest::Error) -> StorageError {
    StorageError::Http {
        step: step.into(),
        url: url.into(),
        source: source.without_url(),
    }
}

/// Parses `expires_at`: an RFC 3339 / ISO 8601 date-time (no offset means UTC) or a number of
/// seconds since the Unix epoch.
fn parse_expiry(value: &serde_json::Value) -> Option<SystemTime> {
    match value {
        serde_json::Value::Number(n) => {
            let secs = n.as_f64()?;
            (secs.is_finite() && secs >= 0.0).then(|| UNIX_EPOCH + Duration::from_secs_f64(secs))
        }
        serde_json::Value::String(s) => parse_iso8601(s),
        _ => None,
    }
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.frac][Z|±HH:MM|±HHMM]`.
pub(crate) fn parse_iso8601(s: &str) -> Option<SystemTime> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut scaled: String = frac[..digits].chars().take(9).collect();
        while scaled.len() < 9 {
            scaled.push('0');
        }
        nanos = scaled.parse().ok()?;
        rest = &frac[digits..];
    }
    let offset_secs: i64 = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = rest[1..].replace(':', "");
            if hm.len() != 4 || !hm.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let h: i64 = hm[..2].parse().ok()?;
            let m: i64 = hm[2..].parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    if secs < 0 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::new(secs as u64, nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The date as time since the epoch.
    fn t(s: &str) -> Option<Duration> {
        parse_iso8601(s).map(|t| t.duration_since(UNIX_EPOCH).unwrap())
    }

    #[test]
    fn iso8601_forms() {
        assert_eq!(t("1970-01-01T00:00:00Z"), Some(Duration::ZERO));
        assert_eq!(
            t("2024-02-29T12:30:15Z"),
            Some(Duration::from_secs(1_709_209_815))
        );
        assert_eq!(
            t("2024-02-29T14:30:15+02:00"),
            Some(Duration::from_secs(1_709_209_815))
        );
        assert_eq!(
            t("2024-02-29 12:30:15"),
            Some(Duration::from_secs(1_709_209_815))
        );
        assert_eq!(
            t("2024-02-29T12:30:15.250000+00:00"),
            Some(Duration::new(1_709_209_815, 250_000_000))
        );
        assert_eq!(
            t("2024-02-29T10:30:15-0200"),
            Some(Duration::from_secs(1_709_209_815))
        );
        assert_eq!(t("not a date"), None);
        assert_eq!(t("2024-13-01T00:00:00Z"), None);
        assert_eq!(t("2024-01-01T00:00:00Q"), None);
    }

    #[test]
    fn iso8601_refuses_short_and_misshapen_dates_without_panicking() {
        for s in [
            "",
            "2024",
            "2024-01-01",
            "2024-01-01T00:00",
            "2024x01-01T00:00:00Z",
            "2024-01x01T00:00:00Z",
            "2024-01-01x00:00:00Z",
            "2024-01-01T00x00:00Z",
            "2024-01-01T00:00x00Z",
            "2024-00-01T00:00:00Z",
            "2024-01-00T00:00:00Z",
            "2024-01-32T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "2024-01-01T00:00:61Z",
            "2024-01-01T00:00:00.Z",
            "2024-01-01T00:00:00+1:00",
        ] {
            assert_eq!(parse_iso8601(s), None, "{s:?}");
        }
    }

    #[test]
    fn iso8601_takes_field_maxima_a_leap_second_and_offsets_with_minutes() {
        assert_eq!(
            t("2024-12-31T23:59:59Z"),
            Some(Duration::from_secs(1_735_689_599))
        );
        // 23:59:60 is the first second of the next day.
        assert_eq!(
            t("2024-02-29T23:59:60Z"),
            Some(Duration::from_secs(1_709_251_200))
        );
        for s in ["2024-02-29T18:00:15+05:30", "2024-02-29T06:45:15-05:45"] {
            assert_eq!(t(s), Some(Duration::from_secs(1_709_209_815)), "{s}");
        }
    }

    #[test]
    fn debug_hides_key() {
        let s = Storage::builder().key("secret-key-123").build().unwrap();
        assert!(!format!("{s:?}").contains("secret-key-123"));
        let b = Storage::builder().key("secret-key-123");
        assert!(!format!("{b:?}").contains("secret-key-123"));
    }
}
