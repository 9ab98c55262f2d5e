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
            ExchangeFault::HeadTimeout | ExchangeFault::IdleTimeout => true,
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

/// The next chunk of a body, or `None` at its end, within the idle bound.
pub(crate) async fn next_chunk(
    response: &mut Response,
    idle: Option<Duration>,
) -> Result<Option<bytes::Bytes>, ExchangeFault> {
    let chunk = match idle {
        Some(idle) => tokio::time::timeout(idle, response.chunk())
            .await
            .map_err(|_| ExchangeFault::IdleTimeout)?,
        None => response.chunk().await,
    };
    chunk.map_err(ExchangeFault::Transport)
}

/// Reads a whole body within the idle bound and at most `limit` bytes (checked against
/// `Content-Length` first, then while reading). On failure returns what arrived before it.
pub(crate) async fn read_body(
    mut response: Response,
    bounds: &Bounds,
    limit: u64,
) -> Result<Vec<u8>, (ExchangeFault, Vec<u8>)> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Err((ExchangeFault::TooLarge(limit), Vec::new()));
    }
    let mut body = Vec::new();
    loop {
        match next_chunk(&mut response, bounds.idle).await {
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
