//! A minimal server-sent events reader: yields the `data` of each event, nothing else.
//!
//! fal's status stream sends one JSON document per event; comments, `event:`, `id:` and `retry:`
//! lines carry nothing we need.

use std::collections::VecDeque;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use super::bounds::{ExchangeFault, WaitFor, Watch};

/// The largest event either stream reads (the status stream's statuses, the output stream's
/// outputs): one event is one status with its log lines, or one output with its inline data
/// URIs, so an event may be as large as a queue answer read whole (64 MiB), and no larger however
/// long it goes on. One limit for both: a result the queue returns whole must not be refused
/// when the same output comes as an event.
pub(crate) const MAX_EVENT: u64 = 64 << 20;

/// Reads the events of a response body: the body's chunks within the idle bound (one
/// mechanism, a [`Watch`]), split by [`SseDecoder`], an event longer than [`MAX_EVENT`]
/// refused. The response stays with the caller (which may read it otherwise).
#[derive(Debug)]
pub(crate) struct SseReader {
    idle: Option<Duration>,
    watch: Watch,
    decoder: SseDecoder,
    pending: VecDeque<String>,
    ended: bool,
    /// A wait for the next chunk has begun (and its idle bound with it).
    waiting: bool,
}

impl SseReader {
    /// A reader whose body may stay silent at most `idle` between two chunks; `opened` is the
    /// watch its head came under (see [`Watch::then`]).
    pub(crate) fn new(idle: Option<Duration>, opened: Watch) -> Self {
        SseReader {
            idle,
            watch: opened.then(None),
            decoder: SseDecoder::default(),
            pending: VecDeque::new(),
            ended: false,
            waiting: false,
        }
    }

    /// The data of the next event of `body`; `None` once the body ended (after a last event
    /// that lacked its closing blank line).
    pub(crate) async fn next(
        &mut self,
        body: &mut reqwest::Response,
    ) -> Result<Option<String>, ExchangeFault> {
        std::future::poll_fn(|cx| self.poll_next(body, cx)).await
    }

    /// [`next`](Self::next) as a poll, for a hand-written stream: nothing borrows `body`
    /// between polls.
    pub(crate) fn poll_next(
        &mut self,
        body: &mut reqwest::Response,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Option<String>, ExchangeFault>> {
        loop {
            if let Some(data) = self.pending.pop_front() {
                return Poll::Ready(Ok(Some(data)));
            }
            if self.ended {
                return Poll::Ready(Ok(None));
            }
            // The idle bound counts from the first poll of a wait, not from each wake-up.
            if !self.waiting {
                self.watch.begin(self.idle, WaitFor::Chunk);
                self.waiting = true;
            }
            // A new `chunk` future each poll: dropping a pending one loses nothing.
            let chunk = std::pin::pin!(body.chunk());
            let chunk = match ready!(self.watch.poll_wait(chunk, cx)) {
                Ok(chunk) => chunk.map_err(ExchangeFault::Transport),
                Err(fault) => Err(fault),
            };
            self.waiting = false;
            match chunk? {
                Some(chunk) => {
                    self.pending.extend(self.decoder.push(&chunk));
                    if self.decoder.buffered() as u64 > MAX_EVENT {
                        return Poll::Ready(Err(ExchangeFault::TooLarge(MAX_EVENT)));
                    }
                }
                None => {
                    self.ended = true;
                    self.pending.extend(self.decoder.finish());
                }
            }
        }
    }
}

/// Accumulates bytes and splits off complete events.
#[derive(Debug, Default)]
pub(crate) struct SseDecoder {
    buffer: Vec<u8>,
}

impl SseDecoder {
    /// Feeds a chunk; returns the `data` of every event the chunk completed.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        // Only the new bytes (and the 3 before them, for a separator split across chunks) can
        // complete an event: no rescanning of a long pending event.
        let mut from = self.buffer.len().saturating_sub(3);
        self.buffer.extend_from_slice(chunk);
        let mut events = Vec::new();
        // The events are read where they lie; the buffer drops them all at once at the end.
        let mut consumed = 0;
        while let Some((at, sep)) = find_event_end(&self.buffer[from..]) {
            let end = from + at;
            if let Some(data) = event_data(&self.buffer[consumed..end]) {
                events.push(data);
            }
            consumed = end + sep;
            from = consumed;
        }
        self.buffer.drain(..consumed);
        events
    }

    /// Bytes of the event not yet complete.
    pub(crate) fn buffered(&self) -> usize {
        self.buffer.len()
    }

    /// At end of stream: the data of a last event that lacked its closing blank line.
    pub(crate) fn finish(&mut self) -> Option<String> {
        let rest = std::mem::take(&mut self.buffer);
        event_data(&rest)
    }
}

/// Position and length of the first blank-line separator (`\n\n`, `\r\n\r\n` or `\r\r`).
fn find_event_end(buf: &[u8]) -> Option<(usize, usize)> {
    // Only a line break can start a separator: skip straight to each one.
    let mut from = 0;
    while let Some(offset) = memchr::memchr2(b'\n', b'\r', &buf[from..]) {
        let i = from + offset;
        let rest = &buf[i..];
        if rest.starts_with(b"\r\n\r\n") {
            return Some((i, 4));
        }
        if rest.starts_with(b"\n\n") || rest.starts_with(b"\r\r") {
            return Some((i, 2));
        }
        from = i + 1;
    }
    None
}

/// The joined `data:` lines of one event, or `None` if it has none. Bytes that are not UTF-8
/// become U+FFFD (a line break is never part of a UTF-8 sequence, so lines split the same
/// before and after that replacement).
fn event_data(event: &[u8]) -> Option<String> {
    let mut data: Option<Vec<u8>> = None;
    let mut rest = Some(event);
    while let Some(text) = rest {
        let line = match memchr::memchr2(b'\n', b'\r', text) {
            Some(end) => {
                rest = Some(&text[end + 1..]);
                &text[..end]
            }
            None => {
                rest = None;
                text
            }
        };
        let value = if line == b"data" {
            &[][..]
        } else if let Some(v) = line.strip_prefix(b"data:") {
            v.strip_prefix(b" ").unwrap_or(v)
        } else {
            continue;
        };
        match &mut data {
            Some(d) => {
                d.push(b'\n');
                d.extend_from_slice(value);
            }
            None => data = Some(value.to_vec()),
        }
    }
    data.map(|d| {
        String::from_utf8(d).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_events_across_chunks_and_ignores_comments() {
        let mut d = SseDecoder::default();
        assert!(d.push(b": keepalive\n\ndata: {\"a\"").is_empty());
        assert_eq!(
            d.push(b":1}\n\nevent: x\r\ndata:2\r\ndata: 3\r\n\r\n"),
            ["{\"a\":1}", "2\n3"]
        );
        assert!(d.push(b"data: tail").is_empty());
        assert_eq!(d.finish().as_deref(), Some("tail"));
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn bytes_that_are_not_utf8_become_replacement_characters_and_split_nothing() {
        let mut d = SseDecoder::default();
        assert_eq!(
            d.push(b"data: a\xff\ndata: \xe2\x82\n\n\xffdata: b\n\n"),
            ["a\u{fffd}\n\u{fffd}"]
        );
        assert_eq!(d.buffered(), 0);
    }

    #[test]
    fn a_separator_split_across_chunks_is_found() {
        let crlf: &[u8] = b"data: 1\r\n\r\ndata: 2\n\n";
        let lf: &[u8] = b"data: 1\n\ndata: 2\n\n";
        for (full, cut) in [(crlf, 8), (crlf, 9), (crlf, 10), (lf, 8), (lf, 7)] {
            let mut d = SseDecoder::default();
            assert!(d.push(&full[..cut]).is_empty());
            assert_eq!(d.push(&full[cut..]), ["1", "2"], "cut at {cut}");
            assert_eq!(d.buffered(), 0);
        }
    }
}
