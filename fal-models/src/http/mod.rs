//! The HTTP layer under the client, storage, downloads and the webhook key fetch: the time and
//! size bounds of one exchange ([`bounds`]), when to retry and how long to wait ([`retry`]), the
//! scrubber of secrets ([`redact`]), what of a URL may be logged ([`trace`]), the server-sent
//! events reader ([`sse`]) and fal's wire names and URL rules ([`protocol`], shared with the
//! mock).
//!
//! It imports nothing from the modules above it (`client`, `storage`, `files`, `webhook`,
//! `error`, `mock`): they build on it, never the other way round.

pub mod bounds;
pub(crate) mod media;
pub(crate) mod protocol;
pub(crate) mod redact;
pub(crate) mod retry;
pub(crate) mod sse;
pub(crate) mod trace;
