//! The status stream as a hand-written [`Stream`]: connect once, then one status per event.
//!
//! Hand-written rather than `futures::stream::unfold` because `subscribe` reads every event
//! of it: an unfold builds a new step future per event and moves its state in and out of
//! it, where this polls the open body in place.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures::Stream;

use super::Client;
use super::queue::{Detail, QueueStatus};
use super::transport::{self, Call};
use crate::error::{Error, Operation, TimeoutKind};
use crate::http::bounds::{ExchangeFault, Watch};
use crate::http::redact::Redactor;
use crate::http::sse::SseReader;

/// A request's status events; ends after `COMPLETED` or the first error.
pub(crate) struct StatusStream {
    state: State,
}

// `Reading` is the large variant and the one the stream spends its life in: boxing it would
// add an allocation per connection and buy nothing.
#[allow(clippy::large_enum_variant)]
enum State {
    /// Boxed: it lives once per connection, and inline its size would be the stream's. It
    /// ends in the stream [`StatusStream::opened`] makes, whose state this one takes.
    Connecting(Pin<Box<dyn Future<Output = StatusStream> + Send>>),
    Reading(Reading),
    /// Connecting failed: this is the one item.
    Failed(Error),
    Done,
}

/// An open status stream.
struct Reading {
    /// The client's secrets and the handle's (its input's).
    redactor: Redactor,
    request_id: String,
    detail: Detail,
    response: reqwest::Response,
    events: SseReader,
}

impl StatusStream {
    /// Connects with `call` (a status-stream GET) when first polled; reads each status to
    /// `detail`.
    pub(crate) fn new(
        client: Client,
        call: Call,
        request_id: String,
        detail: Detail,
    ) -> StatusStream {
        let connect = async move {
            let opened = client.open(&call).await;
            StatusStream::opened(&client, &call, request_id, detail, opened)
        };
        StatusStream {
            state: State::Connecting(Box::pin(connect)),
        }
    }

    /// The stream of a connection already opened with `call` (or of the error that opening
    /// it ended with, as its one item).
    pub(crate) fn opened(
        client: &Client,
        call: &Call,
        request_id: String,
        detail: Detail,
        opened: Result<(reqwest::Response, Watch), Error>,
    ) -> StatusStream {
        let state = match opened {
            Ok(opened) => State::Reading(Reading::new(client, call, request_id, detail, opened)),
            Err(e) => State::Failed(e),
        };
        StatusStream { state }
    }
}

impl Stream for StatusStream {
    type Item = Result<QueueStatus, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            match &mut self.state {
                State::Done => return Poll::Ready(None),
                State::Failed(_) => {
                    let State::Failed(e) = std::mem::replace(&mut self.state, State::Done) else {
                        unreachable!("matched above")
                    };
                    return Poll::Ready(Some(Err(e)));
                }
                State::Connecting(connect) => {
                    self.state = ready!(connect.as_mut().poll(cx)).state;
                }
                State::Reading(r) => {
                    let event = ready!(r.events.poll_next(&mut r.response, cx));
                    let item = r.status(event);
                    if !matches!(&item, Ok(status) if !status.is_completed()) {
                        self.state = State::Done;
                    }
                    return Poll::Ready(Some(item));
                }
            }
        }
    }
}

impl Reading {
    fn new(
        client: &Client,
        call: &Call,
        request_id: String,
        detail: Detail,
        (response, watch): (reqwest::Response, Watch),
    ) -> Reading {
        Reading {
            redactor: client.redactor(call),
            events: SseReader::new(client.inner.stream_idle_timeout, watch),
            request_id,
            detail,
            response,
        }
    }

    /// The status an event carries, or why there is none. (The request id is copied into
    /// errors only: not once per event.)
    fn status(&self, event: Result<Option<String>, ExchangeFault>) -> Result<QueueStatus, Error> {
        match event {
            Ok(Some(data)) => match QueueStatus::read(&data, self.detail, &self.redactor) {
                Ok(status) => Ok(status),
                Err(source) => Err(Error::Decode {
                    operation: Operation::StatusStream,
                    request_id: Some(self.request_id.clone()),
                    status: 200,
                    source,
                    body_excerpt: self
                        .redactor
                        .excerpt(data.as_bytes(), transport::EXCERPT_CHARS),
                }),
            },
            Ok(None) => Err(Error::StreamEnded {
                request_id: self.request_id.clone(),
            }),
            // Silence is the stream's own bound (`stream_idle_timeout`).
            Err(
                ExchangeFault::IdleTimeout
                | ExchangeFault::HeadTimeout
                | ExchangeFault::TotalTimeout,
            ) => Err(Error::Timeout {
                kind: TimeoutKind::StreamIdle,
                request_id: Some(self.request_id.clone()),
                cancelled: false,
            }),
            Err(ExchangeFault::TooLarge(limit)) => Err(Error::BodyTooLarge {
                operation: Operation::StatusStream,
                request_id: Some(self.request_id.clone()),
                limit,
            }),
            Err(ExchangeFault::Transport(source)) => Err(Error::Transport {
                operation: Operation::StatusStream,
                request_id: Some(self.request_id.clone()),
                source,
            }),
        }
    }
}
