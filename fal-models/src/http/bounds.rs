//! Time and size limits of one HTTP exchange, shared by every part of the crate that talks to
//! a server (queue, status stream, storage, downloads, webhook key fetch).
//!
//! An exchange has four time bounds: **connect** (TCP + TLS; set on the `reqwest::Client` the
//! crate builds, and covered by the response-head bound when you bring your own client),
//! **response head** (from sending until the status line and headers arrived), **idle** (the
//! longest silence between two body chunks) and **total** (the whole exchange, body included).
//! A body read whole also has a **size** limit, enforced while reading, so a huge answer never
//! sits in memory.
//!
//! `send` (or `send_for_whole`) and `read_body` apply them, each exchange's time bounds under
//! one timer, its [`Watch`]; everything else builds on those.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use reqwest::{Client, Request, RequestBuilder, Response};
use tokio::time::{Instant, Sleep};

/// The time bounds of one HTTP exchange. `None` means unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Bounds {
    /// TCP (and TLS) connect.
    pub connect: Option<Duration>,
    /// From sending the request until the response head arrived.
    pub response_head: Option<Duration>,
    /// The longest silence between two chunks of the body.
    pub idle: Option<Duration>,
    /// The whole exchange, body included.
    pub total: Option<Duration>,
}

impl Default for Bounds {
    /// Connect 10 s, response head 60 s, idle 60 s, total 5 min.
    fn default() -> Self {
        Bounds {
            connect: Some(Duration::from_secs(10)),
            response_head: Some(Duration::from_secs(60)),
            idle: Some(Duration::from_secs(60)),
            total: Some(Duration::from_secs(300)),
        }
    }
}

impl Bounds {
    /// No bound at all (not recommended outside tests).
    pub fn unbounded() -> Self {
        Bounds {
            connect: None,
            response_head: None,
            idle: None,
            total: None,
        }
    }

    /// Sets the connect bound.
    pub fn connect(mut self, d: Option<Duration>) -> Self {
        self.connect = d;
        self
    }

    /// Sets the response-head bound.
    pub fn response_head(mut self, d: Option<Duration>) -> Self {
        self.response_head = d;
        self
    }

    /// Sets the idle bound.
    pub fn idle(mut self, d: Option<Duration>) -> Self {
        self.idle = d;
        self
    }

    /// Sets the total bound.
    pub fn total(mut self, d: Option<Duration>) -> Self {
        self.total = d;
        self
    }
}

/// Why a bounded exchange failed before a complete answer was in.
#[derive(Debug)]
pub(crate) enum ExchangeFault {
    /// The transport failed (refused, reset, TLS, reqwest's own total timeout).
    Transport(reqwest::Error),
    /// No response head within [`Bounds::response_head`].
    HeadTimeout,
    /// The body went silent for longer than [`Bounds::idle`].
    IdleTimeout,
    /// The exchange took longer than [`Bounds::total`] (enforced here for an answer read whole
    /// after [`send_for_whole`]; otherwise reqwest's own timeout, a `Transport` fault).
    TotalTimeout,
    /// The body is longer than the limit.
    TooLarge(u64),
}

impl ExchangeFault {
    /// Whether the request certainly never left this machine (so even a paid call may be
    /// resent): only a failed connect says so.
    pub(crate) fn never_sent(&self) -> bool {
        matches!(self, ExchangeFault::Transport(e) if e.is_connect())
    }

    /// Whether a time bound ended the exchange.
    pub(crate) fn is_timeout(&self) -> bool {
        match self {
            ExchangeFault::Transport(e) => e.is_timeout(),
            ExchangeFault::HeadTimeout
            | ExchangeFault::IdleTimeout
            | ExchangeFault::TotalTimeout => true,
            ExchangeFault::TooLarge(_) => false,
        }
    }
}

impl std::fmt::Display for ExchangeFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeFault::Transport(e) => write!(f, "{e}"),
            ExchangeFault::HeadTimeout => f.write_str("no response head within the bound"),
            ExchangeFault::IdleTimeout => f.write_str("the body went silent past the idle bound"),
            ExchangeFault::TotalTimeout => {
                f.write_str("the exchange took longer than its total bound")
            }
            ExchangeFault::TooLarge(limit) => write!(f, "the body is longer than {limit} bytes"),
        }
    }
}

/// Sends `request` with the total bound on the whole exchange and the response-head bound on
/// the wait for the head.
pub(crate) async fn send(
    request: RequestBuilder,
    bounds: &Bounds,
) -> Result<Response, ExchangeFault> {
    let (http, request) = request.build_split();
    let sending = send_open(&http, request.map_err(ExchangeFault::Transport)?, bounds);
    Ok(sending.await?.0)
}

/// [`send`] for a request already built, for an answer handed on unread: reqwest's own
/// timeout carries the total bound, which covers the body wherever it is read.
pub(crate) fn send_open(
    http: &Client,
    mut request: Request,
    bounds: &Bounds,
) -> impl Future<Output = Result<(Response, Watch), ExchangeFault>> + use<> {
    if let Some(total) = bounds.total {
        *request.timeout_mut() = Some(total);
    }
    let head = match (bounds.response_head, bounds.total) {
        (Some(h), Some(t)) => Some(h.min(t)),
        (h, t) => h.or(t),
    };
    send_watched(http, request, Watch::new(None), head)
}

/// Sends `request` for an answer to be read whole with [`read_body_by`]: the total bound
/// becomes a deadline this layer enforces, so the head and then each chunk wait under one
/// timer, the returned [`Watch`], instead of reqwest's besides ours. The head waits at most
/// the response-head bound, and never past the deadline.
pub(crate) fn send_for_whole(
    http: &Client,
    request: Request,
    bounds: &Bounds,
) -> impl Future<Output = Result<(Response, Watch), ExchangeFault>> + use<> {
    let watch = Watch::new(bounds.total.map(|t| Instant::now() + t));
    send_watched(http, request, watch, bounds.response_head)
}

/// Sends `request`, its head awaited under `watch` within `head`. (Not an `async fn`: the
/// request is handed to reqwest before the future is made, so the future keeps no room for
/// it.)
fn send_watched(
    http: &Client,
    request: Request,
    mut watch: Watch,
    head: Option<Duration>,
) -> impl Future<Output = Result<(Response, Watch), ExchangeFault>> + use<> {
    watch.begin(head, WaitFor::Head);
    let sending = http.execute(request);
    async move {
        let sent = watch.wait(sending).await?;
        Ok((sent.map_err(ExchangeFault::Transport)?, watch))
    }
}

/// What a bounded wait waits for: the fault when its own bound (not the deadline) passes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum WaitFor {
    /// The response head, within [`Bounds::response_head`].
    Head,
    /// The next chunk of a body, within [`Bounds::idle`].
    Chunk,
}

/// The one timer of an exchange. Each wait (for the head, then for each chunk) is bounded by
/// its own limit, counted from when it began, and by the exchange's deadline. Rather than a
/// timer per wait, one is armed by the first wait that does not finish at once, and moved
/// only when it fires before what is due by then: a body read in many chunks registers one
/// timer, not one per chunk (registering and clearing one cost more than reading a small
/// chunk).
#[derive(Debug)]
pub(crate) struct Watch {
    /// The bound of the current wait, from `since`.
    limit: Option<Duration>,
    since: Instant,
    waiting_for: WaitFor,
    /// The whole exchange's end.
    deadline: Option<Instant>,
    /// Armed at or before what is due; made when first needed.
    timer: Option<Pin<Box<Sleep>>>,
}

impl Watch {
    /// A watch whose waits never pass `deadline`.
    pub(crate) fn new(deadline: Option<Instant>) -> Watch {
        Watch {
            limit: None,
            since: Instant::now(),
            waiting_for: WaitFor::Chunk,
            deadline,
            timer: None,
        }
    }

    /// The watch of what follows on the same exchange (a stream's events after its head), under
    /// `deadline`, with the timer this one armed: one timer for both, not one each.
    pub(crate) fn then(self, deadline: Option<Instant>) -> Watch {
        Watch {
            limit: None,
            deadline,
            ..self
        }
    }

    /// Starts a wait bounded by `limit` from now (and by the deadline).
    pub(crate) fn begin(&mut self, limit: Option<Duration>, waiting_for: WaitFor) {
        self.limit = limit;
        self.waiting_for = waiting_for;
        if limit.is_some() {
            self.since = Instant::now();
        }
    }

    /// When the current wait must end, and whether that is the deadline.
    fn due(&self) -> Option<(Instant, bool)> {
        match (self.limit.map(|l| self.since + l), self.deadline) {
            (Some(b), Some(d)) if d <= b => Some((d, true)),
            (Some(b), _) => Some((b, false)),
            (None, Some(d)) => Some((d, true)),
            (None, None) => None,
        }
    }

    /// `future` within the current wait's bound and the deadline.
    pub(crate) async fn wait<F: Future>(&mut self, future: F) -> Result<F::Output, ExchangeFault> {
        let mut future = std::pin::pin!(future);
        std::future::poll_fn(|cx| self.poll_wait(future.as_mut(), cx)).await
    }

    /// [`wait`](Self::wait) as a poll. The wait began at the last [`begin`](Self::begin), not
    /// at this poll.
    pub(crate) fn poll_wait<F: Future>(
        &mut self,
        future: Pin<&mut F>,
        cx: &mut Context<'_>,
    ) -> Poll<Result<F::Output, ExchangeFault>> {
        if let Poll::Ready(output) = future.poll(cx) {
            return Poll::Ready(Ok(output));
        }
        let Some((at, total)) = self.due() else {
            return Poll::Pending;
        };
        let timer = match &mut self.timer {
            Some(timer) => {
                // Moved earlier only when this wait's bound is shorter than the one armed.
                if at < timer.deadline() {
                    timer.as_mut().reset(at);
                }
                timer
            }
            None => self.timer.insert(Box::pin(tokio::time::sleep_until(at))),
        };
        while timer.as_mut().poll(cx).is_ready() {
            if Instant::now() >= at {
                return Poll::Ready(Err(match (total, self.waiting_for) {
                    (true, _) => ExchangeFault::TotalTimeout,
                    (false, WaitFor::Head) => ExchangeFault::HeadTimeout,
                    (false, WaitFor::Chunk) => ExchangeFault::IdleTimeout,
                }));
            }
            // Fired for an earlier wait: this one is due later.
            timer.as_mut().reset(at);
        }
        Poll::Pending
    }

    /// The next chunk of a body, or `None` at its end, within the idle bound (and the deadline).
    pub(crate) async fn next_chunk(
        &mut self,
        response: &mut Response,
        idle: Option<Duration>,
    ) -> Result<Option<bytes::Bytes>, ExchangeFault> {
        self.begin(idle, WaitFor::Chunk);
        self.wait(response.chunk())
            .await?
            .map_err(ExchangeFault::Transport)
    }
}

/// Reads a whole body within the idle bound and at most `limit` bytes (checked against
/// `Content-Length` first, then while reading). On failure returns what arrived before it.
pub(crate) async fn read_body(
    response: Response,
    bounds: &Bounds,
    limit: u64,
) -> Result<Vec<u8>, (ExchangeFault, Vec<u8>)> {
    read_body_by(response, bounds, limit, Watch::new(None)).await
}

/// [`read_body`] under the exchange's [`Watch`] (from [`send_for_whole`]).
pub(crate) async fn read_body_by(
    mut response: Response,
    bounds: &Bounds,
    limit: u64,
    mut watch: Watch,
) -> Result<Vec<u8>, (ExchangeFault, Vec<u8>)> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err((ExchangeFault::TooLarge(limit), Vec::new()));
    }
    let mut body = Vec::new();
    loop {
        match watch.next_chunk(&mut response, bounds.idle).await {
            Ok(Some(chunk)) => {
                if body.len() as u64 + chunk.len() as u64 > limit {
                    return Err((ExchangeFault::TooLarge(limit), body));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err((e, body)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::time::sleep;

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    /// Waits `n` seconds under `watch`, bounded by `limit` from now: how long it took, or the
    /// fault and when it came.
    async fn wait_for(
        watch: &mut Watch,
        limit: u64,
        n: u64,
    ) -> Result<Duration, (ExchangeFault, Duration)> {
        let started = Instant::now();
        watch.begin(Some(secs(limit)), WaitFor::Chunk);
        match watch.wait(sleep(secs(n))).await {
            Ok(()) => Ok(started.elapsed()),
            Err(fault) => Err((fault, started.elapsed())),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn each_wait_has_its_whole_bound_though_the_timer_was_armed_by_an_earlier_one() {
        let mut watch = Watch::new(None);
        // The first wait arms the one timer at 10 s; the second began at 8 s and may last
        // until 18 s, so the timer firing at 10 s must not end it.
        assert_eq!(wait_for(&mut watch, 10, 8).await.unwrap(), secs(8));
        assert_eq!(wait_for(&mut watch, 10, 9).await.unwrap(), secs(9));
        // A wait past its bound ends at the bound, counted from its own start.
        let (fault, after) = wait_for(&mut watch, 10, 11).await.unwrap_err();
        assert!(matches!(fault, ExchangeFault::IdleTimeout), "{fault}");
        assert_eq!(after, secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn a_shorter_bound_than_the_armed_one_still_ends_its_wait() {
        let mut watch = Watch::new(None);
        watch.begin(Some(secs(60)), WaitFor::Head);
        watch.wait(sleep(secs(1))).await.unwrap();
        let (fault, after) = wait_for(&mut watch, 2, 3).await.unwrap_err();
        assert!(matches!(fault, ExchangeFault::IdleTimeout), "{fault}");
        assert_eq!(after, secs(2));
        // The head's own fault names the head.
        let mut watch = Watch::new(None);
        watch.begin(Some(secs(5)), WaitFor::Head);
        let fault = watch.wait(sleep(secs(6))).await.unwrap_err();
        assert!(matches!(fault, ExchangeFault::HeadTimeout), "{fault}");
    }

    #[tokio::test(start_paused = true)]
    async fn what_follows_a_head_keeps_its_timer_but_has_its_own_bounds() {
        // The head came under a 60 s bound and a deadline at 5 s; the stream after it has
        // neither: its chunks are bounded by their own idle bound only.
        let start = Instant::now();
        let mut head = Watch::new(Some(start + secs(5)));
        head.begin(Some(secs(60)), WaitFor::Head);
        head.wait(sleep(secs(1))).await.unwrap();
        let mut stream = head.then(None);
        assert_eq!(wait_for(&mut stream, 20, 10).await.unwrap(), secs(10));
        let (fault, after) = wait_for(&mut stream, 2, 3).await.unwrap_err();
        assert!(matches!(fault, ExchangeFault::IdleTimeout), "{fault}");
        assert_eq!(after, secs(2));
        // A wait longer than the head's old bound is not cut by the timer armed for it.
        assert_eq!(wait_for(&mut stream, 100, 70).await.unwrap(), secs(70));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_ends_a_body_whose_every_chunk_came_in_time() {
        let start = Instant::now();
        let mut watch = Watch::new(Some(start + secs(15)));
        wait_for(&mut watch, 10, 8).await.unwrap();
        let (fault, _) = wait_for(&mut watch, 10, 9).await.unwrap_err();
        assert!(matches!(fault, ExchangeFault::TotalTimeout), "{fault}");
        assert_eq!(start.elapsed(), secs(15));
    }
}
