//! What the generated file types implement (re-exported as `fal_models::files::RemoteFile`).

/// A file in an endpoint's output: generated types with a `url` field (`File`, `Image`,
/// `VideoFile`, ...) implement it, so `fal_models::Client::download` checks what they declare.
pub trait RemoteFile {
    /// Where the file is: an `https:` URL or a `data:` URI.
    fn url(&self) -> &str;
    /// The declared media type, if the output gives one.
    fn content_type(&self) -> Option<&str> {
        None
    }
    /// The declared size in bytes, if the output gives one.
    fn file_size(&self) -> Option<u64> {
        None
    }
}
