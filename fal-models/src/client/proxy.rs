//! Sending through your own server: with [`ClientBuilder::proxy_url`] every request the client
//! makes to fal (queue, run, stream, token minting) goes to that URL instead, same method and
//! body, with the real URL in `x-fal-target-url`: the protocol of fal's `@fal-ai/server-proxy`
//! and of `fal_models::proxy` (feature `proxy`). The server adds the key, so such a client is usually built with
//! [`ClientBuilder::without_key`]. Uploads to fal storage and downloads do not go through it.

use super::{ClientBuilder, Inner, normalize_base};
use crate::error::Error;

/// The header naming the real target of a proxied request (fal's name).
pub use crate::http::protocol::TARGET_URL_HEADER;

impl ClientBuilder {
    /// Sends every fal request to this URL with `x-fal-target-url` (see [`crate::client::proxy`]).
    pub fn proxy_url(mut self, url: impl Into<String>) -> Self {
        self.proxy_url = Some(url.into());
        self
    }

    /// Sends this header on every request to the proxy, and nowhere else (not to fal, not to
    /// signed upload URLs): the caller's credentials for the proxy's own check. Fails for a
    /// name or value HTTP does not allow.
    pub fn proxy_header(mut self, name: &str, value: &str) -> Result<Self, Error> {
        let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::Config(format!("invalid header name {name:?}")))?;
        let mut value = reqwest::header::HeaderValue::from_str(value)
            .map_err(|_| Error::Config(format!("invalid value for header {name}")))?;
        value.set_sensitive(true);
        self.proxy_headers.push((name, value));
        Ok(self)
    }
}

/// The proxy URL, checked as a base URL.
pub(super) fn checked(url: Option<String>) -> Result<Option<String>, Error> {
    url.map(|u| normalize_base(&u)).transpose()
}

/// Where to send a request for `url`, and the target header if it goes through the proxy.
pub(super) fn route<'u>(inner: &'u Inner, url: &'u str) -> (&'u str, Option<&'u str>) {
    match &inner.proxy_url {
        Some(proxy) => (proxy.as_str(), Some(url)),
        None => (url, None),
    }
}
