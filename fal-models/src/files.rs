//! File inputs and outputs: `data:` URIs both ways, local files in URL fields, and streaming
//! downloads with progress and content checks.
//!
//! Generated inputs take files as URL strings (`image_url`, `image_urls`, `first_frame_url`,
//! ...). Any such field accepts:
//!
//! - a URL (`https://...`), used as is;
//! - a `data:` URI, built with [`data_uri`] (fine for small files; fal decodes it);
//! - a local file, marked with [`local`] (`file:///abs/path/cat.png`), which
//!   [`resolve_local_files`] uploads to fal storage and replaces with the uploaded URL before the
//!   request is submitted.
//!
//! ```no_run
//! # async fn demo(storage: fal_models::storage::Storage) -> Result<(), fal_models::files::FilesError> {
//! use fal_models::files;
//!
//! let mut input = serde_json::json!({
//!     "prompt": "a cat in space",
//!     "image_url": files::local("cat.png"),
//!     "image_urls": [files::local("a.png"), files::data_uri(b"...", "image/png")],
//! });
//! files::resolve_local_files(&storage, &mut input).await?;
//! # Ok(()) }
//! ```
//!
//! Outputs come back as URLs; [`download_to_path`] and [`download_to_writer`] stream them (or
//! decode `data:` URIs) and check the declared content type and size.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use futures::{StreamExt, TryStreamExt};
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tracing::Instrument;

use crate::http::retry::{Failed, Retries, RetryPolicy, RetryUse};
use crate::storage::{Storage, StorageError, UploadOptions};

/// What went wrong with a file input or download. Messages name the URL (long `data:` URIs
/// shortened) or path involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FilesError {
    /// A `data:` URI could not be decoded.
    #[error("invalid data: URI {uri}: {reason}")]
    InvalidDataUri {
        /// The start of the URI.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// What was given to download is not an `http(s)` or `data:` URL (checked before any
    /// request, so it fails at once and is never retried).
    #[error("cannot download {value:?}: {reason}")]
    NotAUrl {
        /// The value (its start, for a long one).
        value: String,
        /// Why it is not one.
        reason: String,
    },
    /// A `file://` URL does not name a local path.
    #[error("invalid local file URL {url}: {reason}")]
    InvalidLocalUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The download request failed before a response arrived.
    #[error("downloading {url}: {source}")]
    Http {
        /// The URL.
        url: String,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The server answered with an error status.
    #[error("downloading {url}: server answered {status}")]
    Status {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: StatusCode,
    },
    /// The content type differs from the expected one.
    #[error("downloading {url}: expected content type {expected}, got {actual}")]
    ContentTypeMismatch {
        /// The URL.
        url: String,
        /// The expected media type.
        expected: String,
        /// The media type received.
        actual: String,
    },
    /// The size differs from the expected one (declared `file_size` or `Content-Length`).
    #[error("downloading {url}: expected {expected} bytes ({origin}), got {actual}")]
    SizeMismatch {
        /// The URL.
        url: String,
        /// Where the expectation comes from (`declared file size`, `Content-Length`).
        origin: &'static str,
        /// The expected size.
        expected: u64,
        /// The size received (or announced).
        actual: u64,
    },
    /// The file changed on the server (or offers no validator) while a download into a writer
    /// was being resumed: the bytes written so far belong to another version, and a writer
    /// cannot start over. Nothing of the new version was written.
    #[error(
        "downloading {url}: the file changed on the server after {received} bytes (or has no ETag/Last-Modified to resume by); discard what was written"
    )]
    Changed {
        /// The URL.
        url: String,
        /// Bytes written before the change was seen.
        received: u64,
    },
    /// The body ended before all announced bytes arrived.
    #[error("downloading {url}: truncated after {received} of {expected} bytes{}", cause_suffix(.source))]
    Truncated {
        /// The URL.
        url: String,
        /// Bytes received.
        received: u64,
        /// Bytes announced.
        expected: u64,
        /// The transport error that ended the body, if any.
        #[source]
        source: Option<reqwest::Error>,
    },
    /// Reading the body failed midway (size unknown).
    #[error("downloading {url}: reading the body failed after {received} bytes: {source}")]
    Body {
        /// The URL.
        url: String,
        /// Bytes received.
        received: u64,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// A bound of the download passed (no response head in time, or the body went silent).
    #[error("downloading {url}: {what} after {received} bytes")]
    Stalled {
        /// The URL.
        url: String,
        /// Bytes received.
        received: u64,
        /// Which bound.
        what: String,
    },
    /// A local file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// The operation (`creating`, `writing`, `renaming to`, ...).
        what: &'static str,
        /// The path involved.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Uploading a local file referenced by a `file://` URL failed.
    #[error("uploading local file {path}: {source}")]
    Upload {
        /// The local path.
        path: String,
        /// The upload error.
        #[source]
        source: StorageError,
    },
}

fn cause_suffix(source: &Option<reqwest::Error>) -> String {
    match source {
        Some(e) => format!(": {e}"),
        None => String::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// data: URIs

/// Builds a `data:` URI (`data:{content_type};base64,...`) usable in any file URL field.
///
/// fal accepts data URIs for inputs; prefer uploading ([`crate::storage::Storage`]) for files
/// above a few megabytes, since the URI travels inside the request body.
pub fn data_uri(bytes: impl AsRef<[u8]>, content_type: &str) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes.as_ref());
    format!("data:{content_type};base64,{b64}")
}

/// A decoded `data:` URI.
#[derive(Clone, PartialEq, Eq)]
pub struct DataUri {
    /// The media type with its parameters (`text/plain;charset=US-ASCII` when absent).
    pub content_type: String,
    /// The decoded bytes.
    pub data: Vec<u8>,
}

impl fmt::Debug for DataUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DataUri")
            .field("content_type", &self.content_type)
            .field("len", &self.data.len())
            .finish()
    }
}

/// Whether `url` is a `data:` URI.
pub fn is_data_uri(url: &str) -> bool {
    url.get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("data:"))
}

/// Decodes a `data:` URI (RFC 2397): base64 (padded or not, standard or URL-safe alphabet) or
/// percent-encoded.
pub fn parse_data_uri(uri: &str) -> Result<DataUri, FilesError> {
    let err = |reason: &str| FilesError::InvalidDataUri {
        uri: short_url(uri),
        reason: reason.to_string(),
    };
    if !is_data_uri(uri) {
        return Err(err("does not start with data:"));
    }
    let rest = &uri[5..];
    let comma = rest
        .find(',')
        .ok_or_else(|| err("no comma before the data"))?;
    let (meta, payload) = (&rest[..comma], &rest[comma + 1..]);
    let (meta, is_base64) = match meta.rsplit_once(';') {
        Some((m, last)) if last.trim().eq_ignore_ascii_case("base64") => (m, true),
        _ => (meta, false),
    };
    let meta = meta.trim();
    let content_type = if meta.is_empty() {
        "text/plain;charset=US-ASCII".to_string()
    } else if meta.starts_with(';') {
        format!("text/plain{meta}")
    } else {
        meta.to_string()
    };
    let data = if is_base64 {
        let compact: String = percent_decode(payload)
            .map_err(|r| err(&r))?
            .into_iter()
            .filter(|b| !b.is_ascii_whitespace())
            .map(char::from)
            .collect();
        let config =
            GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent);
        GeneralPurpose::new(&base64::alphabet::STANDARD, config)
            .decode(&compact)
            .or_else(|_| GeneralPurpose::new(&base64::alphabet::URL_SAFE, config).decode(&compact))
            .map_err(|e| err(&format!("invalid base64: {e}")))?
    } else {
        percent_decode(payload).map_err(|r| err(&r))?
    };
    Ok(DataUri { content_type, data })
}

fn percent_decode(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("invalid percent escape at byte {i}"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// A URL fit for an error message: `data:` URIs are cut after their header.
fn short_url(url: &str) -> String {
    if is_data_uri(url) && url.len() > 64 {
        let head = url.split(',').next().unwrap_or("data:");
        let head: String = head.chars().take(64).collect();
        format!("{head},... ({} chars)", url.len())
    } else {
        url.to_string()
    }
}

/// A download's URL must be `data:` or an `http(s)` URL that parses: anything else (a file
/// name, `"example"`, an `ftp://` URL) can never succeed, so no request and no retry.
fn check_download_url(url: &str) -> Result<(), FilesError> {
    if is_data_uri(url) {
        return Ok(());
    }
    let not_a_url = |reason: String| {
        let value: String = url.chars().take(80).collect();
        let value = if value.len() < url.len() {
            format!("{value}...")
        } else {
            value
        };
        Err(FilesError::NotAUrl { value, reason })
    };
    match reqwest::Url::parse(url) {
        Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(()),
        Ok(parsed) => not_a_url(format!(
            "the scheme is `{}`; only http(s) and data: URLs can be downloaded",
            parsed.scheme()
        )),
        Err(e) => not_a_url(format!("not an http(s) or data: URL ({e})")),
    }
}

// ---------------------------------------------------------------------------------------------
// Local files in URL fields

/// The `file://` URLs built by [`local`] in this process: the only strings ever read from disk.
/// A string that merely starts with `file://` (a user's prompt, say) is never one of them.
fn marked_local_urls() -> &'static std::sync::Mutex<std::collections::HashSet<String>> {
    static URLS: std::sync::OnceLock<std::sync::Mutex<std::collections::HashSet<String>>> =
        std::sync::OnceLock::new();
    URLS.get_or_init(Default::default)
}

/// Whether `url` was built by [`local`] / [`try_local`] in this process.
pub(crate) fn is_marked_local(url: &str) -> bool {
    marked_local_urls()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .contains(url)
}

/// Marks a local file for a URL field: returns its `file://` URL (absolute, percent-encoded).
///
/// Only URLs built here are ever read from disk: a string that merely starts with `file://`
/// (a prompt that mentions `file:///etc/passwd`) is sent as the text it is. Uploading is
/// explicit: submit with `upload_local_files(true)` (or call [`resolve_local_files`]); without
/// it, an input holding a local file is refused at submit, before anything is sent
/// ([`Error::LocalFileNotAllowed`](crate::Error::LocalFileNotAllowed)); fal itself cannot read
/// `file://` URLs.
///
/// # Panics
///
/// If `path` is relative and the current directory cannot be determined; use [`try_local`]
/// to handle that case.
pub fn local(path: impl AsRef<Path>) -> String {
    let path = path.as_ref();
    try_local(path).unwrap_or_else(|e| panic!("files::local({}): {e}", path.display()))
}

/// Like [`local`], returning an error instead of panicking.
pub fn try_local(path: impl AsRef<Path>) -> Result<String, FilesError> {
    let path = path.as_ref();
    let abs = std::path::absolute(path).map_err(|source| FilesError::Io {
        what: "making absolute",
        path: path.display().to_string(),
        source,
    })?;
    let url = reqwest::Url::from_file_path(&abs)
        .map(String::from)
        .map_err(|()| FilesError::InvalidLocalUrl {
            url: abs.display().to_string(),
            reason: "cannot be expressed as a file:// URL".into(),
        })?;
    marked_local_urls()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .insert(url.clone());
    Ok(url)
}

/// Whether `url` is a `file://` URL (as made by [`local`]).
pub fn is_local(url: &str) -> bool {
    url.get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("file://"))
}

/// The local path of a `file://` URL.
pub fn local_path(url: &str) -> Result<PathBuf, FilesError> {
    let invalid = |reason: &str| FilesError::InvalidLocalUrl {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let parsed = reqwest::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
    if parsed.scheme() != "file" {
        return Err(invalid("not a file:// URL"));
    }
    parsed
        .to_file_path()
        .map_err(|()| invalid("does not name a local path (a host other than localhost?)"))
}

/// Uploads every local file built by [`local`] anywhere in `value` (a serialized endpoint
/// input) and replaces each with the uploaded URL (other `file://` strings are left alone). Each distinct file is uploaded
/// once, `storage`'s concurrency many at a time. Returns the number of files uploaded.
///
/// Nothing in `value` changes unless every upload succeeds.
pub async fn resolve_local_files(
    storage: &Storage,
    value: &mut serde_json::Value,
) -> Result<usize, FilesError> {
    resolve_local_files_with(storage, value, &UploadOptions::default()).await
}

// An inherent method of `Storage` written here, so that storage (below) never imports files.
impl Storage {
    /// Uploads every local file referenced by a `file://` URL (see [`crate::files::local`]) in
    /// a serialized input and replaces the URL with the uploaded one; returns how many
    /// distinct files were uploaded. See [`resolve_local_files`].
    pub async fn resolve_local_files(
        &self,
        value: &mut serde_json::Value,
    ) -> Result<usize, FilesError> {
        resolve_local_files(self, value).await
    }
}

/// Like [`resolve_local_files`], with upload options applied to every file (e.g.
/// [`UploadOptions::expires_in`]); the file name and content type are always derived from
/// each path.
pub async fn resolve_local_files_with(
    storage: &Storage,
    value: &mut serde_json::Value,
    options: &UploadOptions,
) -> Result<usize, FilesError> {
    let options = UploadOptions {
        file_name: None,
        content_type: None,
        ..options.clone()
    };
    let options = &options;
    let mut found = BTreeMap::<String, Option<String>>::new();
    visit_strings(value, &mut |s| {
        if is_local(s) && is_marked_local(s) {
            found.entry(s.clone()).or_insert(None);
        }
    });
    if found.is_empty() {
        return Ok(0);
    }
    let jobs = found
        .keys()
        .map(|url| Ok::<_, FilesError>((url.clone(), local_path(url)?)))
        .collect::<Result<Vec<_>, _>>()?;
    let uploaded: Vec<(String, String)> = futures::stream::iter(jobs)
        .map(|(url, path)| async move {
            storage
                .upload_path(&path, options)
                .await
                .map(|remote| (url, remote))
                .map_err(|source| FilesError::Upload {
                    path: path.display().to_string(),
                    source,
                })
        })
        .buffer_unordered(storage.concurrency())
        .try_collect()
        .await?;
    let count = uploaded.len();
    for (local, remote) in uploaded {
        found.insert(local, Some(remote));
    }
    visit_strings(value, &mut |s| {
        if let Some(Some(remote)) = found.get(s.as_str()) {
            *s = remote.clone();
        }
    });
    Ok(count)
}

fn visit_strings(value: &mut serde_json::Value, f: &mut impl FnMut(&mut String)) {
    match value {
        serde_json::Value::String(s) => f(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|v| visit_strings(v, f)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|v| visit_strings(v, f)),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Downloads

/// A progress callback: `(bytes downloaded so far, total if known)`.
pub type Progress = Arc<dyn Fn(u64, Option<u64>) + Send + Sync>;

pub use fal_models_core::files::RemoteFile;

impl DownloadOptions {
    /// Options that check the content type and size `file` declares.
    pub fn expecting(file: &(impl RemoteFile + ?Sized)) -> Self {
        DownloadOptions {
            content_type: file.content_type().map(str::to_owned),
            size: file.file_size(),
            ..DownloadOptions::default()
        }
    }
}

/// Options of a download: expectations to check and a progress callback.
#[derive(Clone, Default)]
pub struct DownloadOptions {
    /// The expected media type (`image/png`; `image/*` matches any image). Parameters such as
    /// `charset` are ignored. A response without `Content-Type` is not rejected.
    pub content_type: Option<String>,
    /// The expected size in bytes (e.g. the output's declared `file_size`).
    pub size: Option<u64>,
    /// Called after every chunk written with `(downloaded, total)`.
    pub progress: Option<Progress>,
    /// The time bounds of each request (default: [`Bounds::default`](crate::http::bounds::Bounds)
    /// without a total bound, since files may be large; the idle bound catches a stalled body).
    pub bounds: Option<crate::http::bounds::Bounds>,
    /// How many times a transient failure (connect error, timeout, body cut short, `408`,
    /// `429`, `5xx`) is retried (default 3). A body cut short resumes with `Range` where the
    /// server allows it (a `206` from the byte reached); a server that ignores `Range` ends
    /// the download with [`FilesError::Truncated`]. Replaces the policy's `max_retries`.
    pub max_retries: Option<u32>,
    /// The retry policy: backoff, jitter, the longest `Retry-After` waited for (default
    /// [`RetryPolicy::default`]; [`Client::download`](crate::Client::download) passes the
    /// client's).
    pub retry: Option<RetryPolicy>,
}

impl fmt::Debug for DownloadOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DownloadOptions")
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .field("progress", &self.progress.as_ref().map(|_| "Fn"))
            .field("bounds", &self.bounds)
            .field("max_retries", &self.max_retries)
            .field("retry", &self.retry)
            .finish()
    }
}

impl DownloadOptions {
    /// No checks, no progress.
    pub fn new() -> Self {
        Self::default()
    }
    /// Checks the content type (see [`DownloadOptions::content_type`](#structfield.content_type)).
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }
    /// Checks the size.
    pub fn size(mut self, bytes: u64) -> Self {
        self.size = Some(bytes);
        self
    }
    /// The time bounds of each request.
    pub fn bounds(mut self, bounds: crate::http::bounds::Bounds) -> Self {
        self.bounds = Some(bounds);
        self
    }
    /// How many times a transient failure is retried.
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = Some(n);
        self
    }
    /// The retry policy (see [`DownloadOptions::retry`](#structfield.retry)).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = Some(policy);
        self
    }
    /// Reports progress to `f(downloaded, total)`.
    pub fn on_progress(mut self, f: impl Fn(u64, Option<u64>) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }
}

/// What a download produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Downloaded {
    /// Bytes written.
    pub bytes: u64,
    /// The content type received, if any.
    pub content_type: Option<String>,
}

/// Downloads `url` (or decodes a `data:` URI) into the file at `path`.
///
/// The body streams into a temporary file beside `path`, which is synced, checked (size against
/// `Content-Length` and [`DownloadOptions::size`], content type) and only then renamed to
/// `path`. On any failure the temporary file is removed and `path` is left untouched.
pub async fn download_to_path(
    http: &reqwest::Client,
    url: &str,
    path: impl AsRef<Path>,
    options: &DownloadOptions,
) -> Result<Downloaded, FilesError> {
    let path = path.as_ref();
    let io = |what: &'static str, p: &Path| {
        let p = p.display().to_string();
        move |source| FilesError::Io {
            what,
            path: p,
            source,
        }
    };
    let name = path.file_name().ok_or_else(|| FilesError::Io {
        what: "downloading to",
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "no file name"),
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let tmp = dir.join(temp_name(name));
    let file = tokio::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .await
        .map_err(io("creating", &tmp))?;
    // Removes the temporary file on error and if this future is dropped midway.
    let mut guard = TempFile(Some(tmp.clone()));
    let result = async {
        let mut writer = tokio::io::BufWriter::with_capacity(256 * 1024, file);
        let done = stream_into(http, url, &mut writer, Some(rewind_file), options, &tmp).await?;
        writer.flush().await.map_err(io("writing", &tmp))?;
        let file = writer.into_inner();
        file.sync_all().await.map_err(io("syncing", &tmp))?;
        drop(file);
        tokio::fs::rename(&tmp, path)
            .await
            .map_err(io("renaming to", path))?;
        Ok(done)
    }
    .await;
    if result.is_ok() {
        guard.0 = None; // renamed into place
    }
    drop(guard);
    result
}

/// Empties a download's temporary file, so a download whose file changed on the server starts
/// over instead of stitching two versions.
fn rewind_file(
    w: &mut tokio::io::BufWriter<tokio::fs::File>,
) -> futures::future::BoxFuture<'_, std::io::Result<()>> {
    Box::pin(async move {
        use tokio::io::AsyncSeekExt;
        w.flush().await?;
        let file = w.get_mut();
        file.set_len(0).await?;
        file.seek(std::io::SeekFrom::Start(0)).await?;
        Ok(())
    })
}

/// Starts a destination over (see [`rewind_file`]); `None` for a writer that cannot.
type Rewind<W> = for<'w> fn(&'w mut W) -> futures::future::BoxFuture<'w, std::io::Result<()>>;

/// A temporary file removed when dropped, unless disarmed.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Downloads `url` (or decodes a `data:` URI) into `writer`, streaming.
///
/// The same checks as [`download_to_path`] apply, but bytes already written before a failure
/// (e.g. a truncated body) stay written: discard the writer's content on error.
pub async fn download_to_writer<W>(
    http: &reqwest::Client,
    url: &str,
    writer: &mut W,
    options: &DownloadOptions,
) -> Result<Downloaded, FilesError>
where
    W: AsyncWrite + Unpin,
{
    let done = stream_into(http, url, writer, None, options, Path::new("<writer>")).await?;
    writer.flush().await.map_err(|source| FilesError::Io {
        what: "writing",
        path: "<writer>".into(),
        source,
    })?;
    Ok(done)
}

fn temp_name(name: &std::ffi::OsStr) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        ".{}.{}-{nanos}-{n}.part",
        name.to_string_lossy(),
        std::process::id()
    )
}

fn media_type(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Whether `actual` satisfies `expected` (`type/subtype`, `type/*` or `*/*`).
fn content_type_matches(expected: &str, actual: &str) -> bool {
    let (e, a) = (media_type(expected), media_type(actual));
    if e == "*/*" || e == a {
        return true;
    }
    match e.strip_suffix("/*") {
        Some(main) => a.split('/').next() == Some(main),
        None => false,
    }
}

async fn stream_into<W>(
    http: &reqwest::Client,
    url: &str,
    writer: &mut W,
    rewind: Option<Rewind<W>>,
    options: &DownloadOptions,
    target: &Path,
) -> Result<Downloaded, FilesError>
where
    W: AsyncWrite + Unpin,
{
    let write_err = |source| FilesError::Io {
        what: "writing",
        path: target.display().to_string(),
        source,
    };
    let check_type = |actual: Option<&str>| -> Result<(), FilesError> {
        match (&options.content_type, actual) {
            (Some(expected), Some(actual)) if !content_type_matches(expected, actual) => {
                Err(FilesError::ContentTypeMismatch {
                    url: short_url(url),
                    expected: expected.clone(),
                    actual: actual.to_string(),
                })
            }
            _ => Ok(()),
        }
    };
    let check_size = |actual: u64, origin_of_actual: bool| -> Result<(), FilesError> {
        match options.size {
            Some(expected) if expected != actual => Err(FilesError::SizeMismatch {
                url: short_url(url),
                origin: if origin_of_actual {
                    "declared file size vs Content-Length"
                } else {
                    "declared file size"
                },
                expected,
                actual,
            }),
            _ => Ok(()),
        }
    };

    check_download_url(url)?;
    if is_data_uri(url) {
        let decoded = parse_data_uri(url)?;
        check_type(Some(&decoded.content_type))?;
        let len = decoded.data.len() as u64;
        check_size(len, false)?;
        writer.write_all(&decoded.data).await.map_err(write_err)?;
        if let Some(p) = &options.progress {
            p(len, Some(len));
        }
        return Ok(Downloaded {
            bytes: len,
            content_type: Some(decoded.content_type),
        });
    }

    // The URL without its query: a signed URL's signature stays out of the log.
    let span = tracing::info_span!(
        "fal.download",
        path = crate::http::trace::url_path(url),
        size = tracing::field::Empty,
    );
    let result = stream_http(
        http, url, writer, rewind, options, target, check_type, check_size,
    )
    .instrument(span.clone())
    .await;
    span.in_scope(|| match &result {
        Ok(done) => tracing::debug!(bytes = done.bytes, "download: finished"),
        Err(e) => tracing::warn!(reason = %crate::http::trace::without_queries(&e.to_string()), "download: failed"),
    });
    result
}

/// The HTTP part of [`stream_into`]: attempts, retries and `Range` resumes.
///
/// A resume sends `If-Range` with the first answer's strong `ETag` (else its `Last-Modified`):
/// a server whose file changed answers `200` with the whole new version, and the download
/// starts over from it (`rewind`) rather than appending the new version's tail to the old
/// one's head. Without a validator there is no resume: the next attempt starts over. A body
/// longer than the declared size (the output's `file_size`, else `Content-Length`) ends the
/// download at the chunk that passes it; nothing past it is written.
#[allow(clippy::too_many_arguments)]
async fn stream_http<W>(
    http: &reqwest::Client,
    url: &str,
    writer: &mut W,
    rewind: Option<Rewind<W>>,
    options: &DownloadOptions,
    target: &Path,
    check_type: impl Fn(Option<&str>) -> Result<(), FilesError>,
    check_size: impl Fn(u64, bool) -> Result<(), FilesError>,
) -> Result<Downloaded, FilesError>
where
    W: AsyncWrite + Unpin,
{
    let write_err = |source| FilesError::Io {
        what: "writing",
        path: target.display().to_string(),
        source,
    };
    use crate::http::bounds::{self, ExchangeFault};
    let bounds = options
        .bounds
        .unwrap_or_else(|| crate::http::bounds::Bounds::default().total(None));
    // The crate's one policy: by default 500 ms doubling (up to 10 s) with jitter,
    // `Retry-After` up to 60 s, 3 retries.
    let mut policy = options.retry.clone().unwrap_or_default();
    if let Some(n) = options.max_retries {
        policy = policy.max_retries(n);
    }
    let mut retries = Retries::new(&policy, "download: ");
    let mut received = 0u64;
    // Set by the first answer: the whole length and type.
    let mut content_length: Option<u64> = None;
    let mut content_type: Option<String> = None;
    // The first answer's validator, sent as `If-Range` on a resume.
    let mut validator: Option<String> = None;
    let mut started = false;
    loop {
        let attempt = retries.attempt();
        let mut request = http.get(url);
        if received > 0 && validator.is_none() {
            // Nothing proves a resumed tail would belong to the same file: start over.
            start_over(writer, rewind, url, &mut received, target).await?;
            tracing::info!(
                attempt,
                "download: no validator to resume by; starting over"
            );
        }
        if received > 0 {
            tracing::info!(
                attempt,
                from_byte = received,
                "download: resuming with Range and If-Range"
            );
            request = request
                .header(reqwest::header::RANGE, format!("bytes={received}-"))
                .header(
                    reqwest::header::IF_RANGE,
                    validator.clone().unwrap_or_default(),
                );
        } else {
            tracing::debug!(attempt, "download: requesting");
        }
        // One attempt: Ok(true) when the body is complete, Err(fault, retryable, retry_after).
        let outcome: Result<(), (FilesError, bool, Option<Duration>)> = async {
            let mut resp = bounds::send(request, &bounds).await.map_err(|fault| {
                let retry = !matches!(fault, ExchangeFault::TooLarge(_));
                (
                    fault_error(url, fault, received, content_length),
                    retry,
                    None,
                )
            })?;
            let status = resp.status();
            if !status.is_success() {
                let retry = RetryUse::Download.retries_status(status.as_u16());
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(crate::http::retry::parse_retry_after);
                return Err((
                    FilesError::Status {
                        url: url.to_string(),
                        status,
                    },
                    retry,
                    retry_after,
                ));
            }
            if received > 0 {
                // A resume: only a 206 from exactly the byte reached, of the same version,
                // continues the file.
                let resumes = status == reqwest::StatusCode::PARTIAL_CONTENT
                    && resp
                        .headers()
                        .get(reqwest::header::CONTENT_RANGE)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.strip_prefix("bytes "))
                        .and_then(|v| v.split('-').next())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        == Some(received)
                    && resp_validator(resp.headers())
                        .is_none_or(|v| Some(&v) == validator.as_ref());
                if !resumes {
                    // The file changed (If-Range failed: a 200 with the new version), or the
                    // server cannot resume: start over. A 200 is the new version whole.
                    start_over(writer, rewind, url, &mut received, target)
                        .await
                        .map_err(|e| (e, false, None))?;
                    if status != reqwest::StatusCode::OK {
                        return Err((
                            FilesError::Truncated {
                                url: url.to_string(),
                                received: 0,
                                expected: content_length.unwrap_or(0),
                                source: None,
                            },
                            true,
                            None,
                        ));
                    }
                    tracing::info!("download: the file changed on the server; starting over");
                }
            }
            if received == 0 {
                validator = resp_validator(resp.headers());
                content_type = resp
                    .headers()
                    .get(CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_string);
                check_type(content_type.as_deref()).map_err(|e| (e, false, None))?;
                content_length = resp.content_length();
                if let Some(announced) = content_length {
                    tracing::Span::current().record("size", announced);
                    check_size(announced, true).map_err(|e| (e, false, None))?;
                }
            }
            let total = content_length.or(options.size);
            // The declared size (else `Content-Length`) bounds the body while it arrives.
            let limit = options.size.or(content_length);
            if !started {
                started = true;
                if let Some(p) = &options.progress {
                    p(0, total);
                }
            }
            // One timer for the body, however many chunks it comes in.
            let mut watch = bounds::Watch::new(None);
            loop {
                match watch.next_chunk(&mut resp, bounds.idle).await {
                    Ok(Some(chunk)) => {
                        let after = received + chunk.len() as u64;
                        if let Some(limit) = limit.filter(|&limit| after > limit) {
                            return Err((
                                FilesError::SizeMismatch {
                                    url: short_url(url),
                                    origin: "declared file size (the body is longer)",
                                    expected: limit,
                                    actual: after,
                                },
                                false,
                                None,
                            ));
                        }
                        writer
                            .write_all(&chunk)
                            .await
                            .map_err(|e| (write_err(e), false, None))?;
                        received += chunk.len() as u64;
                        if let Some(p) = &options.progress {
                            p(received, total);
                        }
                    }
                    Ok(None) => break,
                    Err(fault) => {
                        return Err((
                            fault_error(url, fault, received, content_length),
                            true,
                            None,
                        ));
                    }
                }
            }
            if let Some(expected) = content_length.filter(|&expected| received < expected) {
                return Err((
                    FilesError::Truncated {
                        url: url.to_string(),
                        received,
                        expected,
                        source: None,
                    },
                    true,
                    None,
                ));
            }
            Ok(())
        }
        .await;
        match outcome {
            Ok(()) => break,
            // A writer cannot start over, and without a validator a resume could stitch.
            Err((e, true, _)) if received > 0 && validator.is_none() && rewind.is_none() => {
                return Err(e);
            }
            Err((e, true, retry_after)) => {
                let reason = crate::http::trace::without_queries(&e.to_string());
                let failed = Failed::new(e, reason)
                    .retry_after(retry_after)
                    .received(received);
                retries.back_off(failed).await?;
            }
            Err((e, false, _)) => return Err(e),
        }
    }
    check_size(received, false)?;
    Ok(Downloaded {
        bytes: received,
        content_type,
    })
}

/// The strong `ETag` of an answer, else its `Last-Modified` (a weak `ETag` cannot validate a
/// range: RFC 9110, 13.1.5).
fn resp_validator(headers: &reqwest::header::HeaderMap) -> Option<String> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    text(reqwest::header::ETAG)
        .filter(|e| !e.starts_with("W/") && !e.is_empty())
        .or_else(|| text(reqwest::header::LAST_MODIFIED).filter(|v| !v.is_empty()))
        .map(str::to_owned)
}

/// Drops what was written so the download starts over; a writer that cannot is an error.
async fn start_over<W>(
    writer: &mut W,
    rewind: Option<Rewind<W>>,
    url: &str,
    received: &mut u64,
    target: &Path,
) -> Result<(), FilesError> {
    let Some(rewind) = rewind else {
        return Err(FilesError::Changed {
            url: short_url(url),
            received: *received,
        });
    };
    rewind(writer).await.map_err(|source| FilesError::Io {
        what: "restarting",
        path: target.display().to_string(),
        source,
    })?;
    *received = 0;
    Ok(())
}

/// A failed exchange of a download as a [`FilesError`].
fn fault_error(
    url: &str,
    fault: crate::http::bounds::ExchangeFault,
    received: u64,
    content_length: Option<u64>,
) -> FilesError {
    use crate::http::bounds::ExchangeFault;
    match (fault, content_length) {
        (ExchangeFault::Transport(e), _) if received == 0 && content_length.is_none() => {
            FilesError::Http {
                url: url.to_string(),
                source: e.without_url(),
            }
        }
        (ExchangeFault::Transport(e), Some(expected)) => FilesError::Truncated {
            url: url.to_string(),
            received,
            expected,
            source: Some(e.without_url()),
        },
        (ExchangeFault::Transport(e), None) => FilesError::Body {
            url: url.to_string(),
            received,
            source: e.without_url(),
        },
        (other, _) => FilesError::Stalled {
            url: url.to_string(),
            received,
            what: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_match() {
        assert!(content_type_matches("image/png", "image/png"));
        assert!(content_type_matches(
            "image/png",
            "IMAGE/PNG; charset=binary"
        ));
        assert!(content_type_matches("image/*", "image/webp"));
        assert!(content_type_matches("*/*", "video/mp4"));
        assert!(!content_type_matches("image/png", "image/jpeg"));
        assert!(!content_type_matches("image/*", "video/mp4"));
    }

    #[test]
    fn short_url_cuts_data_uris() {
        let long = data_uri(vec![0u8; 1000], "image/png");
        let s = short_url(&long);
        assert!(s.starts_with("data:image/png;base64,..."), "{s}");
        assert!(s.len() < 80);
    }
}
