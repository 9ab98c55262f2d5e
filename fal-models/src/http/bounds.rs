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
//! `send` and `read_body` apply them; everything else builds on those two.

use std::time::Duration;

use reqwest::{RequestBuilder, Response};
use tokio::time::Instant;

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
    let request = match bounds.total {
        Some(total) => request.timeout(total),
        None => request,
    };
    let head = match (bounds.response_head, bounds.total) {
        (Some(h), Some(t)) => Some(h.min(t)),
        (h, t) => h.or(t),
    };
    match head {
        Some(limit) => match tokio::time::timeout(limit, request.send()).await {
            Ok(r) => r.map_err(ExchangeFault::Transport),
            Err(_) => Err(ExchangeFault::HeadTimeout),
        },
        None => request.send().await.map_err(ExchangeFault::Transport),
    }
}

/// Sends `request` for an answer to be read whole with [`read_body_by`]: the total bound
/// becomes a deadline this layer enforces, so each wait (the head, then each chunk) runs under
/// one timer instead of reqwest's besides ours. The head waits at most the response-head bound,
/// and never past the deadline.
pub(crate) async fn send_for_whole(
    request: RequestBuilder,
    bounds: &Bounds,
) -> Result<(Response, Option<Instant>), ExchangeFault> {
    let deadline = bounds.total.map(|t| Instant::now() + t);
    let sent = within(
        bounds.response_head,
        deadline,
        request.send(),
        ExchangeFault::HeadTimeout,
    )
    .await?;
    Ok((sent.map_err(ExchangeFault::Transport)?, deadline))
}

/// `future` within `bound` (else `fault`) and before `deadline` (else
/// [`ExchangeFault::TotalTimeout`]): one timer, at whichever comes first.
async fn within<F: std::future::Future>(
    bound: Option<Duration>,
    deadline: Option<Instant>,
    future: F,
    fault: ExchangeFault,
) -> Result<F::Output, ExchangeFault> {
    let by_bound = bound.map(|b| Instant::now() + b);
    let (at, total) = match (by_bound, deadline) {
        (Some(b), Some(d)) if d <= b => (d, true),
        (Some(b), _) => (b, false),
        (None, Some(d)) => (d, true),
        (None, None) => return Ok(future.await),
    };
    tokio::time::timeout_at(at, future).await.map_err(|_| {
        if total {
            ExchangeFault::TotalTimeout
        } else {
            fault
        }
    })
}

/// The next chunk of a body, or `None` at its end, within the idle bound.
pub(crate) async fn next_chunk(
    response: &mut Response,
    idle: Option<Duration>,
) -> Result<Option<bytes::Bytes>, ExchangeFault> {
    next_chunk_by(response, idle, None).await
}

/// [`next_chunk`], and before `deadline`.
async fn next_chunk_by(
    response: &mut Response,
    idle: Option<Duration>,
    deadline: Option<Instant>,
) -> Result<Option<bytes::Bytes>, ExchangeFault> {
    within(idle, deadline, response.chunk(), ExchangeFault::IdleTimeout)
        .await?
        .map_err(ExchangeFault::Transport)
}

/// Reads a whole body within the idle bound and at most `limit` bytes (checked against
/// `Content-Length` first, then while reading). On failure returns what arrived before it.
pub(crate) async fn read_body(
    response: Response,
    bounds: &Bounds,
    limit: u64,
) -> Result<Vec<u8>, (ExchangeFault, Vec<u8>)> {
    read_body_by(response, bounds, limit, None).await
}

/// [`read_body`], and before `deadline` (from [`send_for_whole`]).
pub(crate) async fn read_body_by(
    mut response: Response,
    bounds: &Bounds,
    limit: u64,
    deadline: Option<Instant>,
) -> Result<Vec<u8>, (ExchangeFault, Vec<u8>)> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err((ExchangeFault::TooLarge(limit), Vec::new()));
    }
    let mut body = Vec::new();
    loop {
        match next_chunk_by(&mut response, bounds.idle, deadline).await {
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
