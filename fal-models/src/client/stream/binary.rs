//! Binary streams: an endpoint that streams raw bytes (fal's audio streams answer audio as it
//! is generated) read chunk by chunk as the chunks arrive, the body never buffered whole.
//! fal's JS client treats every answer that is not `text/event-stream` this way.
//!
//! The request is the one [`Client::stream`] sends (same URL, input preparation, token, retry
//! rule and bounds), only the `Accept` header differs: `*/*` unless
//! [`StreamOptions::accept`] names a type.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, Stream, StreamExt};
use serde_json::Value;

use super::{
    StreamOptions, body_fault, bounded_total, open, record_request_id, shown_content_type,
};
use crate::Endpoint;
use crate::client::{Client, Payload, serialize_input};
use crate::error::Error;
use crate::http::redact::Redactor;

/// The `Accept` of a binary stream when the options name none: whatever the endpoint streams.
const ANY: &str = "*/*";

/// The raw chunks of a streaming endpoint's answer, as they arrive; see
/// [`Client::stream_bytes`]. Ends when the body ends, or after the first error. Dropping it
/// closes the connection.
pub struct ByteStream {
    chunks: BoxStream<'static, Result<Bytes, Error>>,
    request_id: Arc<OnceLock<String>>,
    content_type: Arc<OnceLock<String>>,
}

impl std::fmt::Debug for ByteStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByteStream")
            .field("request_id", &self.request_id.get())
            .field("content_type", &self.content_type.get())
            .finish_non_exhaustive()
    }
}

impl ByteStream {
    /// fal's `x-fal-request-id` of this call, once the response head arrived (after the
    /// first item).
    pub fn request_id(&self) -> Option<&str> {
        self.request_id.get().map(String::as_str)
    }

    /// The answer's `Content-Type` (`audio/mpeg`, ...), once the response head arrived (after
    /// the first item). At most 100 characters, secrets scrubbed.
    pub fn content_type(&self) -> Option<&str> {
        self.content_type.get().map(String::as_str)
    }
}

impl Stream for ByteStream {
    type Item = Result<Bytes, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.chunks.poll_next_unpin(cx)
    }
}

impl Client {
    /// Streams `input`'s endpoint as raw bytes: each chunk of the answer as it arrives, for
    /// endpoints that stream binary data rather than events, such as audio generated as it is
    /// spoken. Nothing is sent until the stream is first polled.
    ///
    /// Bounds and rules are those of [`stream`](Self::stream): the response head within the
    /// run timeout, then at most [`StreamOptions::idle`] (15 s) between two chunks and the
    /// optional [`total`](StreamOptions::total); a request that may have reached the app is
    /// never resent; a non-success status is an [`Error::Api`]. The body is passed on as it
    /// is, whatever its type (an event stream too: these are its raw bytes);
    /// [`ByteStream::content_type`] says what it is.
    ///
    /// ```no_run
    /// # async fn demo(client: fal_models::Client) -> Result<(), fal_models::Error> {
    /// use futures::StreamExt;
    /// use fal_models::client::StreamOptions;
    /// let input = serde_json::json!({
    ///     "text": "Hello there.",
    ///     "prompt": "Warm male voice, conversational pacing.",
    ///     "output_format": "mp3",
    /// });
    /// let options = StreamOptions::default().accept("audio/mpeg");
    /// let mut audio = client.stream_bytes_json_with("fal-ai/maya/stream", input, options);
    /// let mut mp3 = Vec::new();
    /// while let Some(chunk) = audio.next().await {
    ///     mp3.extend_from_slice(&chunk?); // or hand it to a player as it arrives
    /// }
    /// eprintln!("{} bytes of {:?}, request {:?}", mp3.len(), audio.content_type(), audio.request_id());
    /// # Ok(()) }
    /// ```
    pub fn stream_bytes<E: Endpoint>(&self, input: &E) -> ByteStream {
        self.stream_bytes_with(input, StreamOptions::default())
    }

    /// [`stream_bytes`](Self::stream_bytes) with options (`accept`, bounds, platform headers).
    pub fn stream_bytes_with<E: Endpoint>(&self, input: &E, options: StreamOptions) -> ByteStream {
        self.byte_stream(
            E::ENDPOINT_ID,
            serialize_input(E::ENDPOINT_ID, input, E::SECRET_FIELDS),
            options,
        )
    }

    /// [`stream_bytes`](Self::stream_bytes) for a JSON input to any endpoint.
    pub fn stream_bytes_json(&self, endpoint_id: &str, input: Value) -> ByteStream {
        self.stream_bytes_json_with(endpoint_id, input, StreamOptions::default())
    }

    /// [`stream_bytes_json`](Self::stream_bytes_json) with options.
    pub fn stream_bytes_json_with(
        &self,
        endpoint_id: &str,
        input: Value,
        options: StreamOptions,
    ) -> ByteStream {
        self.byte_stream(
            endpoint_id,
            serialize_input(endpoint_id, &input, &[]),
            options,
        )
    }

    fn byte_stream(
        &self,
        endpoint_id: &str,
        body: Result<Payload, Error>,
        options: StreamOptions,
    ) -> ByteStream {
        let request_id = Arc::new(OnceLock::new());
        let content_type = Arc::new(OnceLock::new());
        let state = State::Start(Box::new(Start {
            client: self.clone(),
            endpoint_id: endpoint_id.to_owned(),
            body,
            options: options.clone(),
            request_id: request_id.clone(),
            content_type: content_type.clone(),
        }));
        let span = tracing::info_span!(
            "fal.stream_bytes",
            endpoint_id,
            request_id = tracing::field::Empty,
        );
        let chunks = futures::stream::unfold(state, move |state| {
            use tracing::Instrument;
            next_chunk(state).instrument(span.clone())
        })
        .boxed();
        let chunks = match options.total {
            Some(total) => bounded_total(chunks, total, request_id.clone()),
            None => chunks,
        };
        ByteStream {
            chunks,
            request_id,
            content_type,
        }
    }
}

struct Start {
    client: Client,
    endpoint_id: String,
    body: Result<Payload, Error>,
    options: StreamOptions,
    request_id: Arc<OnceLock<String>>,
    content_type: Arc<OnceLock<String>>,
}

struct Reading {
    client: Client,
    secrets: Redactor,
    response: reqwest::Response,
    idle: Option<Duration>,
    /// The body's one timer (see [`Watch`](crate::http::bounds::Watch)).
    watch: crate::http::bounds::Watch,
    request_id: Option<String>,
}

enum State {
    Start(Box<Start>),
    Reading(Box<Reading>),
    Done,
}

type Item = Result<Bytes, Error>;

async fn next_chunk(state: State) -> Option<(Item, State)> {
    let mut r = match state {
        State::Done => return None,
        State::Reading(reading) => reading,
        State::Start(start) => {
            let Start {
                client,
                endpoint_id,
                body,
                options,
                request_id,
                content_type,
            } = *start;
            match open(&client, &endpoint_id, body, &options, ANY).await {
                Ok((response, watch, secrets)) => {
                    let id = record_request_id(&client, &secrets, &response, &request_id);
                    if let Some(kind) = response.headers().get(reqwest::header::CONTENT_TYPE) {
                        let kind = String::from_utf8_lossy(kind.as_bytes());
                        let _ = content_type.set(shown_content_type(&client, &secrets, &kind));
                    }
                    Box::new(Reading {
                        client,
                        secrets,
                        response,
                        idle: options.idle,
                        watch: watch.then(None),
                        request_id: id,
                    })
                }
                Err(e) => return Some((Err(e), State::Done)),
            }
        }
    };
    loop {
        match r.watch.next_chunk(&mut r.response, r.idle).await {
            // Nothing to hand on; the idle bound starts again with the next read.
            Ok(Some(chunk)) if chunk.is_empty() => continue,
            Ok(Some(chunk)) => return Some((Ok(chunk), State::Reading(r))),
            Ok(None) => return None,
            Err(fault) => {
                let err = body_fault(&r.client, &r.secrets, r.request_id.as_deref(), fault);
                return Some((Err(err), State::Done));
            }
        }
    }
}
