//! Progress as a `Stream`: [`Subscribe::events`] yields the progress events of a subscribe
//! and then its output, so a caller can consume them in a loop with borrowed state (no
//! `'static` callback, no channel of its own).
//!
//! ```no_run
//! # async fn demo(client: fal_models::Client) -> Result<(), fal_models::Error> {
//! use futures::StreamExt;
//! use fal_models::client::SubscribeEvent;
//! let mut log = Vec::new(); // borrowed below, not moved into a callback
//! let mut events = client
//!     .subscribe_json("fal-ai/flux/dev", serde_json::json!({"prompt": "a cat"}))
//!     .events();
//! while let Some(event) = events.next().await {
//!     match event? {
//!         SubscribeEvent::Progress(p) => log.push(format!("{p:?}")),
//!         SubscribeEvent::Output(out) => println!("{out}"),
//!     }
//! }
//! # Ok(()) }
//! ```

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::channel::mpsc;
use futures::stream::{Stream, StreamExt};
use serde::de::DeserializeOwned;

use super::{Progress, Subscribe};
use crate::error::Error;

/// The awaited subscribe.
type SubscribeFuture<'c, O> = Pin<Box<dyn Future<Output = Result<O, Error>> + Send + 'c>>;

/// One item of [`SubscribeEvents`].
#[derive(Debug)]
pub enum SubscribeEvent<O> {
    /// A progress event (the same events `on_progress` receives), in order.
    Progress(Progress),
    /// The output; always the last item of a successful subscribe.
    Output(O),
}

/// The events of a subscribe, then its output (or its error). Dropping it stops waiting, as
/// dropping the subscribe future does (the job is not cancelled on fal).
#[must_use = "streams do nothing unless polled"]
pub struct SubscribeEvents<'c, O> {
    future: Option<SubscribeFuture<'c, O>>,
    progress: mpsc::UnboundedReceiver<Progress>,
    finished: Option<Result<O, Error>>,
}

impl<O> Unpin for SubscribeEvents<'_, O> {}

impl<O> std::fmt::Debug for SubscribeEvents<'_, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscribeEvents")
            .field("running", &self.future.is_some())
            .finish_non_exhaustive()
    }
}

impl<'c, O: DeserializeOwned + Send + 'static> Subscribe<'c, O> {
    /// Runs the subscribe as a stream of progress events ending with the output. Replaces a
    /// callback set with `on_progress`.
    pub fn events(self) -> SubscribeEvents<'c, O> {
        let (sender, progress) = mpsc::unbounded();
        let future = self
            .on_progress(move |event| {
                // The receiver lives as long as the stream; a dropped stream drops this too.
                let _ = sender.unbounded_send(event);
            })
            .into_future();
        SubscribeEvents {
            future: Some(future),
            progress,
            finished: None,
        }
    }
}

impl<O> Stream for SubscribeEvents<'_, O> {
    type Item = Result<SubscribeEvent<O>, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        loop {
            // Events first, so every event comes before the output it led to.
            if let Poll::Ready(Some(event)) = self.progress.poll_next_unpin(cx) {
                return Poll::Ready(Some(Ok(SubscribeEvent::Progress(event))));
            }
            match self.future.as_mut() {
                Some(future) => match future.as_mut().poll(cx) {
                    Poll::Ready(result) => {
                        // Dropping the future drops the callback, hence the sender: the
                        // receiver drains what is left, then ends.
                        self.future = None;
                        self.finished = Some(result);
                    }
                    Poll::Pending => return Poll::Pending,
                },
                None => {
                    return Poll::Ready(
                        self.finished.take().map(|r| r.map(SubscribeEvent::Output)),
                    );
                }
            }
        }
    }
}
