//! A submitted request, by id: serializable so a job can be resumed from another process.

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::Endpoint;
use crate::http::redact::Redactor;

/// A request submitted to fal's queue: endpoint id, request id and the URLs fal returned.
///
/// Its JSON and `Debug` hold no secret (the key stays in the [`Client`](crate::Client)); it
/// serializes to JSON and can be stored and resumed later with any client:
/// `client.result(&handle)`. A handle `submit` returned also remembers, in memory only, the
/// secret values of its input, so the errors of later calls on it are scrubbed of them too. The type parameter
/// is the output type that `result` decodes into; [`untyped`](Self::untyped) and
/// [`typed`](Self::typed) convert.
///
/// ```
/// # use fal_models::client::RequestHandle;
/// let handle = RequestHandle::new("fal-ai/sora-2/text-to-video/pro", "764cabcf-b745");
/// let json = serde_json::to_string(&handle).unwrap();
/// let back: RequestHandle = serde_json::from_str(&json).unwrap();
/// assert_eq!(back.request_id(), "764cabcf-b745");
/// ```
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub struct RequestHandle<O = serde_json::Value> {
    endpoint_id: String,
    request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cancel_url: Option<String>,
    /// The input's secret values (never serialized, never shown).
    #[serde(skip)]
    secrets: Redactor,
    #[serde(skip)]
    output: PhantomData<fn() -> O>,
}

impl RequestHandle {
    /// A handle for a bare request id (URLs are rebuilt from the endpoint id when used).
    pub fn new(endpoint_id: impl Into<String>, request_id: impl Into<String>) -> Self {
        RequestHandle {
            endpoint_id: endpoint_id.into(),
            request_id: request_id.into(),
            status_url: None,
            response_url: None,
            cancel_url: None,
            secrets: Redactor::default(),
            output: PhantomData,
        }
    }
}

impl<O> RequestHandle<O> {
    /// A typed handle for a bare request id of endpoint `E`.
    pub fn for_endpoint<E: Endpoint<Output = O>>(request_id: impl Into<String>) -> Self {
        RequestHandle::new(E::ENDPOINT_ID, request_id).typed()
    }

    pub(crate) fn with_urls(
        mut self,
        status_url: Option<String>,
        response_url: Option<String>,
        cancel_url: Option<String>,
    ) -> Self {
        self.status_url = status_url;
        self.response_url = response_url;
        self.cancel_url = cancel_url;
        self
    }

    pub(crate) fn with_secrets(mut self, secrets: Redactor) -> Self {
        self.secrets = secrets;
        self
    }

    /// The secret values of the submitted input (empty for a handle built or read back).
    pub(crate) fn secrets(&self) -> &Redactor {
        &self.secrets
    }

    /// The endpoint id the request was submitted to.
    pub fn endpoint_id(&self) -> &str {
        &self.endpoint_id
    }

    /// fal's request id.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The status URL fal returned at submit, if known.
    pub fn status_url(&self) -> Option<&str> {
        self.status_url.as_deref()
    }

    /// The result URL fal returned at submit, if known.
    pub fn response_url(&self) -> Option<&str> {
        self.response_url.as_deref()
    }

    /// The cancel URL fal returned at submit, if known.
    pub fn cancel_url(&self) -> Option<&str> {
        self.cancel_url.as_deref()
    }

    /// The same request, decoding its result as `T`.
    pub fn typed<T>(self) -> RequestHandle<T> {
        RequestHandle {
            endpoint_id: self.endpoint_id,
            request_id: self.request_id,
            status_url: self.status_url,
            response_url: self.response_url,
            cancel_url: self.cancel_url,
            secrets: self.secrets,
            output: PhantomData,
        }
    }

    /// The same request, decoding its result as JSON.
    pub fn untyped(self) -> RequestHandle {
        self.typed()
    }
}

impl<O> Clone for RequestHandle<O> {
    fn clone(&self) -> Self {
        RequestHandle {
            endpoint_id: self.endpoint_id.clone(),
            request_id: self.request_id.clone(),
            status_url: self.status_url.clone(),
            response_url: self.response_url.clone(),
            cancel_url: self.cancel_url.clone(),
            secrets: self.secrets.clone(),
            output: PhantomData,
        }
    }
}

impl<O> PartialEq for RequestHandle<O> {
    fn eq(&self, other: &Self) -> bool {
        self.endpoint_id == other.endpoint_id
            && self.request_id == other.request_id
            && self.status_url == other.status_url
            && self.response_url == other.response_url
            && self.cancel_url == other.cancel_url
    }
}

impl<O> Eq for RequestHandle<O> {}

impl<O> fmt::Debug for RequestHandle<O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestHandle")
            .field("endpoint_id", &self.endpoint_id)
            .field("request_id", &self.request_id)
            .field("status_url", &self.status_url)
            .field("response_url", &self.response_url)
            .field("cancel_url", &self.cancel_url)
            .finish()
    }
}
