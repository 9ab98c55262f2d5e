//! Content types of file names: the one table of extensions (uploads name their parts with it,
//! the mock serves its files with it).

use std::path::Path;

/// Guesses a content type from a file extension; `application/octet-stream` when unknown.
pub(crate) fn content_type_from_path(path: &Path) -> &'static str {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(content_type_of_name)
        .unwrap_or("application/octet-stream")
}

/// The media type a file name's extension stands for, when it is a known one: the one table
/// of extensions (uploads name their parts with it, the mock serves its files with it).
pub(crate) fn content_type_of_name(name: &str) -> Option<&'static str> {
    let (_, ext) = name.rsplit_once('.')?;
    Some(match ext.to_ascii_lowercase().as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" | "jfif" => "image/jpeg",
        "webp" => "image/webp",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "tif" | "tiff" => "image/tiff",
        "avif" => "image/avif",
        "heic" => "image/heic",
        "svg" => "image/svg+xml",
        "mp4" | "m4v" => "video/mp4",
        "mov" => "video/quicktime",
        "webm" => "video/webm",
        "mkv" => "video/x-matroska",
        "avi" => "video/x-msvideo",
        "mp3" => "audio/mpeg",
        "wav" => "audio/wav",
        "ogg" => "audio/ogg",
        "flac" => "audio/flac",
        "m4a" => "audio/mp4",
        "aac" => "audio/aac",
        "json" => "application/json",
        "txt" | "srt" => "text/plain",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "glb" => "model/gltf-binary",
        "gltf" => "model/gltf+json",
        "obj" => "model/obj",
        _ => return None,
    })
}
