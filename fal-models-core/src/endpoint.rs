//! The link between a generated input type and its fal endpoint.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// An endpoint's typed input: it knows which endpoint it is sent to and what comes back.
///
/// Every generated `Input` implements this trait, so an input can only ever be sent to its
/// own endpoint, and `Client::subscribe(input)` returns the matching typed output.
/// Implement it by hand (or with `fal_codegen::Config` in a build script) for your own fal app.
pub trait Endpoint: Serialize + Send + Sync {
    /// The fal endpoint id, for example `fal-ai/sora-2/text-to-video`.
    const ENDPOINT_ID: &'static str;
    /// The typed result of a completed request.
    type Output: DeserializeOwned + Send + 'static;
    /// The wire names of the input's fields (at any depth) whose values are credentials, such
    /// as a user's own provider key. Their values are redacted in `Debug` and scrubbed from
    /// every error and log line the client produces. Generated inputs list them; the default
    /// is none (the client still scrubs fields named like credentials).
    const SECRET_FIELDS: &'static [&'static str] = &[];
}
