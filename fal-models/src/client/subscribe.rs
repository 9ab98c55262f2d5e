//! `subscribe`: submit, wait with progress events, fetch the result; cancel on fal at timeout.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::time::Duration;

use futures::StreamExt;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::queue::Detail;
use super::{
    CancelOutcome, Client, LogEntry, Payload, Priority, QueueStatus, RequestHandle, Status,
    SubmitOptions,
};
use crate::error::{Error, TimeoutKind};
use crate::http::retry::{Failed, Retries, Wait};

/// How `subscribe` waits for the job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum WaitMode {
    /// Follow the server-sent status stream (the default); reconnects if it breaks off.
    #[default]
    Stream,
    /// Ask for the status at this interval.
    Poll(Duration),
}

/// One progress event of a subscribed request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Progress {
    /// The input was accepted; this handle resumes the request if the waiting is interrupted.
    Submitted(RequestHandle),
    /// Waiting in the queue (sent when the position changes).
    InQueue {
        /// Position in the queue, when fal says.
        position: Option<u64>,
    },
    /// A runner picked the job up.
    InProgress,
    /// A new log line (each line is delivered once).
    Log(LogEntry),
    /// The job finished (the output or the job's error follows).
    Completed {
        /// fal's timing metrics, if any.
        metrics: Option<Value>,
    },
    /// fal reported a status this client does not know (kept verbatim). Waiting goes on, still
    /// within the idle and overall bounds.
    Other {
        /// The status as fal sent it.
        status: String,
    },
    /// The status stream broke off (or stayed silent past the idle timeout); the client checks
    /// the status and reconnects.
    Reconnecting {
        /// Consecutive failed connections so far (0 after a silent one).
        attempt: u32,
        /// Why the stream ended.
        reason: String,
    },
}

/// A progress callback.
pub type ProgressCallback = Box<dyn FnMut(Progress) + Send>;

/// Options of [`Client::subscribe`](crate::Client::subscribe).
pub struct SubscribeOptions {
    submit: SubmitOptions,
    wait: WaitMode,
    timeout: Option<Duration>,
    logs: bool,
    cancel_on_timeout: bool,
    on_progress: Option<ProgressCallback>,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            submit: SubmitOptions::default(),
            wait: WaitMode::Stream,
            timeout: None,
            logs: true,
            cancel_on_timeout: true,
            on_progress: None,
        }
    }
}

impl fmt::Debug for SubscribeOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubscribeOptions")
            .field("submit", &self.submit)
            .field("wait", &self.wait)
            .field("timeout", &self.timeout)
            .field("logs", &self.logs)
            .field("cancel_on_timeout", &self.cancel_on_timeout)
            .field(
                "on_progress",
                &self.on_progress.as_ref().map(|_| "<callback>"),
            )
            .finish()
    }
}

impl SubscribeOptions {
    /// Stream status, with logs, no timeout, no webhook.
    pub fn new() -> Self {
        Self::default()
    }

    /// Calls `f` for every progress event, in order, from the task awaiting the subscribe.
    /// To get a stream of events instead, send them into a channel from `f`.
    pub fn on_progress(mut self, f: impl FnMut(Progress) + Send + 'static) -> Self {
        self.on_progress = Some(Box::new(f));
        self
    }

    /// Waits by following the status stream (the default).
    pub fn stream(mut self) -> Self {
        self.wait = WaitMode::Stream;
        self
    }

    /// Waits by polling the status at `interval`.
    pub fn poll(mut self, interval: Duration) -> Self {
        self.wait = WaitMode::Poll(interval);
        self
    }

    /// The time allowed from the accepted submit until the output is in. When it passes, the
    /// job is cancelled on fal and the error is a [`TimeoutKind::Subscribe`] timeout.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = Some(d);
        self
    }

    /// Whether to ask for log lines (default yes).
    pub fn logs(mut self, on: bool) -> Self {
        self.logs = on;
        self
    }

    /// Whether to cancel the job on fal when the timeout passes (default yes).
    pub fn cancel_on_timeout(mut self, on: bool) -> Self {
        self.cancel_on_timeout = on;
        self
    }

    super::options::request_setters!((via submit) webhook, start_timeout, priority, runner_hint,
        upload_local_files, platform);

    /// Replaces all submit options.
    pub fn submit_options(mut self, options: SubmitOptions) -> Self {
        self.submit = options;
        self
    }
}

/// A subscribe in preparation: set options, then `.await` it for the typed output.
#[must_use = "a Subscribe does nothing until awaited"]
pub struct Subscribe<'c, O> {
    client: &'c Client,
    endpoint_id: String,
    body: Result<Payload, Error>,
    options: SubscribeOptions,
    output: PhantomData<fn() -> O>,
}

impl<O> fmt::Debug for Subscribe<'_, O> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscribe")
            .field("endpoint_id", &self.endpoint_id)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<'c, O> Subscribe<'c, O> {
    pub(crate) fn new(client: &'c Client, endpoint_id: &str, body: Result<Payload, Error>) -> Self {
        Subscribe {
            client,
            endpoint_id: endpoint_id.to_owned(),
            body,
            options: SubscribeOptions::default(),
            output: PhantomData,
        }
    }

    /// Replaces all options.
    pub fn options(mut self, options: SubscribeOptions) -> Self {
        self.options = options;
        self
    }

    /// See [`SubscribeOptions::on_progress`].
    pub fn on_progress(mut self, f: impl FnMut(Progress) + Send + 'static) -> Self {
        self.options = self.options.on_progress(f);
        self
    }

    /// See [`SubscribeOptions::poll`].
    pub fn poll(mut self, interval: Duration) -> Self {
        self.options = self.options.poll(interval);
        self
    }

    /// See [`SubscribeOptions::stream`].
    pub fn stream(mut self) -> Self {
        self.options = self.options.stream();
        self
    }

    /// See [`SubscribeOptions::timeout`].
    pub fn timeout(mut self, d: Duration) -> Self {
        self.options = self.options.timeout(d);
        self
    }

    /// See [`SubscribeOptions::logs`].
    pub fn logs(mut self, on: bool) -> Self {
        self.options = self.options.logs(on);
        self
    }

    super::options::request_setters!((via options) webhook, start_timeout, priority, runner_hint,
        upload_local_files, platform);
}

impl<'c, O: DeserializeOwned + Send + 'static> IntoFuture for Subscribe<'c, O> {
    type Output = Result<O, Error>;
    type IntoFuture = Pin<Box<dyn Future<Output = Result<O, Error>> + Send + 'c>>;

    fn into_future(self) -> Self::IntoFuture {
        use tracing::Instrument;
        let span = tracing::info_span!(
            "fal.subscribe",
            endpoint_id = %self.endpoint_id,
            request_id = tracing::field::Empty,
        );
        Box::pin(
            async move {
                let body = self.body?;
                self.client
                    .subscribe_raw(&self.endpoint_id, body, self.options)
                    .await
            }
            .instrument(span),
        )
    }
}

/// The waiting part of [`SubscribeOptions`] (without the callback, which is not `Sync`).
#[derive(Clone, Copy)]
struct WaitPlan {
    wait: WaitMode,
    logs: bool,
    timeout: Option<Duration>,
    cancel_on_timeout: bool,
}

impl WaitPlan {
    fn of(options: &SubscribeOptions) -> Self {
        WaitPlan {
            wait: options.wait,
            logs: options.logs,
            timeout: options.timeout,
            cancel_on_timeout: options.cancel_on_timeout,
        }
    }
}

/// What identifies a log line: timestamp, level, source and text.
type LogKey = (Option<String>, Option<String>, Option<String>, String);

/// Turns statuses into progress events, each log line once.
#[derive(Default)]
struct Tracker {
    callback: Option<ProgressCallback>,
    /// How many times each log line (timestamp, level, source, message) was delivered.
    logs_seen: std::collections::HashMap<LogKey, usize>,
    /// Lines delivered from a full status ahead of the stream (see [`Logs::Fill`]): the stream
    /// may still send them as new, and then they are skipped once each.
    filled_ahead: std::collections::HashMap<LogKey, usize>,
    last: Option<(Status, Option<u64>)>,
}

/// How a status carries logs.
#[derive(Clone, Copy)]
enum Logs {
    /// Lines that may repeat lines already delivered (a polled status, or the first event of a
    /// stream connection, which may or may not hold all lines so far): a line is delivered
    /// when it occurs more often here than it was delivered before. Matching by timestamp and
    /// content, not by position, so a reconnect neither repeats nor loses lines.
    Overlapping,
    /// Only new lines (later events of one stream connection), except those delivered ahead
    /// by a [`Logs::Fill`].
    Delta,
    /// A full status (all lines so far) taken after a stream connection's first event: like
    /// `Overlapping`, and the lines it delivers are remembered, since the stream's next events
    /// may carry them again as new.
    Fill,
}

impl Tracker {
    /// Whether anyone is told the progress. When not, there is nothing to build events for,
    /// and a status is read only as far as the waiting needs ([`Detail::Outcome`]).
    fn watched(&self) -> bool {
        self.callback.is_some()
    }

    fn emit(&mut self, event: Progress) {
        if let Some(cb) = &mut self.callback {
            cb(event);
        }
    }

    fn observe(&mut self, status: &QueueStatus, logs: Logs) {
        // Everything below only decides what to tell the callback.
        if !self.watched() {
            return;
        }
        let key = (status.status.clone(), status.queue_position);
        // A fill only contributes lines: the stream reports the state changes, in order.
        let changed = !matches!(logs, Logs::Fill) && self.last.as_ref() != Some(&key);
        if changed {
            match &status.status {
                Status::InQueue => self.emit(Progress::InQueue {
                    position: status.queue_position,
                }),
                Status::InProgress => self.emit(Progress::InProgress),
                Status::Other(other) => self.emit(Progress::Other {
                    status: other.clone(),
                }),
                Status::Completed => {}
            }
        }
        let mut in_this_event = std::collections::HashMap::new();
        for line in &status.logs {
            let key = (
                line.timestamp.clone(),
                line.level.clone(),
                line.source.clone(),
                line.message.clone(),
            );
            let seen = self.logs_seen.entry(key.clone()).or_insert(0);
            let fresh = match logs {
                Logs::Delta => match self.filled_ahead.get_mut(&key) {
                    Some(n) if *n > 0 => {
                        *n -= 1;
                        false
                    }
                    _ => true,
                },
                Logs::Overlapping | Logs::Fill => {
                    let n = in_this_event.entry(key.clone()).or_insert(0usize);
                    *n += 1;
                    *n > *seen
                }
            };
            if fresh {
                *seen += 1;
                if matches!(logs, Logs::Fill) {
                    *self.filled_ahead.entry(key).or_insert(0) += 1;
                }
                self.emit(Progress::Log(line.clone()));
            }
        }
        if changed && status.is_completed() {
            self.emit(Progress::Completed {
                metrics: status.metrics.clone(),
            });
        }
        if !matches!(logs, Logs::Fill) {
            self.last = Some(key);
        }
    }
}

impl Client {
    pub(crate) async fn subscribe_raw<O: DeserializeOwned>(
        &self,
        endpoint_id: &str,
        body: Payload,
        mut options: SubscribeOptions,
    ) -> Result<O, Error> {
        let handle = self.submit_raw(endpoint_id, body, &options.submit).await?;
        tracing::Span::current().record("request_id", handle.request_id());
        tracing::debug!(request_id = handle.request_id(), "submitted");
        let mut tracker = Tracker {
            callback: options.on_progress.take(),
            ..Tracker::default()
        };
        if tracker.watched() {
            tracker.emit(Progress::Submitted(handle.clone()));
        }
        self.wait_tracked(&handle.typed(), WaitPlan::of(&options), tracker)
            .await
    }

    /// Waits for a request submitted earlier (say, by another process that stored the
    /// handle) like [`subscribe`](Self::subscribe) does: progress events (without
    /// `Submitted`), stream or poll, timeout with cancel. The submit options are ignored.
    pub async fn wait<O: DeserializeOwned>(
        &self,
        handle: &RequestHandle<O>,
        mut options: SubscribeOptions,
    ) -> Result<O, Error> {
        let tracker = Tracker {
            callback: options.on_progress.take(),
            ..Tracker::default()
        };
        self.wait_tracked(handle, WaitPlan::of(&options), tracker)
            .await
    }

    /// Waits for the output within the options' timeout; cancels the job on fal when it passes.
    async fn wait_tracked<O: DeserializeOwned>(
        &self,
        handle: &RequestHandle<O>,
        options: WaitPlan,
        mut tracker: Tracker,
    ) -> Result<O, Error> {
        match options.timeout {
            None => {
                self.wait_for_output(handle, options.wait, options.logs, &mut tracker)
                    .await
            }
            // Boxed: inline, its timer and its own waiting would add to every subscribe's
            // future, timed or not.
            Some(limit) => Box::pin(self.wait_timed(handle, options, limit, tracker)).await,
        }
    }

    /// [`wait_tracked`](Self::wait_tracked) with a timeout.
    async fn wait_timed<O: DeserializeOwned>(
        &self,
        handle: &RequestHandle<O>,
        options: WaitPlan,
        limit: Duration,
        mut tracker: Tracker,
    ) -> Result<O, Error> {
        let waiting = self.wait_for_output(handle, options.wait, options.logs, &mut tracker);
        match tokio::time::timeout(limit, waiting).await {
            Ok(outcome) => outcome,
            Err(_) => {
                let cancelled = options.cancel_on_timeout
                    && matches!(
                        Box::pin(self.cancel(handle)).await,
                        Ok(CancelOutcome::Requested)
                    );
                tracing::warn!(
                    request_id = handle.request_id(),
                    cancelled,
                    "subscribe timed out"
                );
                Err(Error::Timeout {
                    kind: TimeoutKind::Subscribe,
                    request_id: Some(handle.request_id().to_owned()),
                    cancelled,
                })
            }
        }
    }

    async fn wait_for_output<O: DeserializeOwned>(
        &self,
        handle: &RequestHandle<O>,
        wait: WaitMode,
        logs: bool,
        tracker: &mut Tracker,
    ) -> Result<O, Error> {
        // The rare paths (polling, the failure lookup, and in the callers the cancel on timeout,
        // the log fill, the status check between connections and the fall back to polling)
        // are boxed: inline, each would add its future's size to every subscribe's future,
        // which is copied as it is built.
        let done = match wait {
            WaitMode::Poll(interval) => {
                Box::pin(self.poll_until_done(handle, logs, interval, tracker)).await?
            }
            WaitMode::Stream => self.stream_until_done(handle, logs, tracker).await?,
        };
        let Some(message) = done.error else {
            return self.result(handle).await;
        };
        // A failed job: the result endpoint has the real error (field details, HTTP status).
        let result_error = match Box::pin(self.result(&handle.clone().untyped())).await {
            Err(Error::Api(api)) => Some(api),
            Err(
                e @ Error::Timeout {
                    kind: TimeoutKind::StartDeadline,
                    ..
                },
            ) => return Err(e),
            _ => None,
        };
        Err(Error::JobFailed {
            request_id: handle.request_id().to_owned(),
            message,
            error_type: done.error_type,
            result_error,
        })
    }

    async fn poll_until_done<O>(
        &self,
        handle: &RequestHandle<O>,
        logs: bool,
        interval: Duration,
        tracker: &mut Tracker,
    ) -> Result<QueueStatus, Error> {
        let mut probed: Option<String> = None;
        loop {
            let status = self.status(handle, logs).await?;
            tracker.observe(&status, Logs::Overlapping);
            if status.is_completed() {
                return Ok(status);
            }
            // A status this client does not know may be a terminal one fal added: the result
            // endpoint tells (fal answers 400 "still in progress" until the request is over).
            // Asked once per unknown status, so a new non-terminal state costs one request.
            if let Status::Other(name) = &status.status {
                if probed.as_deref() != Some(name.as_str()) {
                    probed = Some(name.clone());
                    if self.request_is_over(handle).await {
                        tracing::info!(status = %status.status, "the request is over in an unknown status");
                        return Ok(status);
                    }
                }
            }
            tokio::time::sleep(interval).await;
        }
    }

    /// Whether the result endpoint has the request's outcome (an output or its error), not
    /// "still in progress". A transport failure proves nothing: `false`.
    async fn request_is_over<O>(&self, handle: &RequestHandle<O>) -> bool {
        match self.result(&handle.clone().untyped()).await {
            Ok(_) => true,
            Err(Error::Api(api)) => {
                !(api.status == 400
                    && api
                        .body_excerpt
                        .to_ascii_lowercase()
                        .contains("in progress"))
            }
            Err(_) => false,
        }
    }

    async fn stream_until_done<O>(
        &self,
        handle: &RequestHandle<O>,
        logs: bool,
        tracker: &mut Tracker,
    ) -> Result<QueueStatus, Error> {
        // The reconnects are driven by the crate's one retry driver: consecutive failed
        // connections are counted against the policy's `max_retries` (a connection that
        // delivered an event starts the count afresh) and waited for by its backoff; a stream
        // that was only silent is neither counted nor waited for. What is the stream's own:
        // the status check between connections, and the fall back to polling.
        let mut retries = Retries::new(self.retry_policy(), "status stream: ");
        let detail = if tracker.watched() {
            Detail::Full
        } else {
            Detail::Outcome
        };
        loop {
            let mut stream = self.status_events_opened(handle, logs.into(), detail).await;
            let mut mode = Logs::Overlapping;
            let mut broke = None;
            let mut last = None;
            while let Some(item) = stream.next().await {
                match item {
                    Ok(status) => {
                        // Lines exist once the job started; a queued job has none to miss.
                        // (Nor does anyone when no one is told them.)
                        if logs
                            && tracker.watched()
                            && matches!(mode, Logs::Overlapping)
                            && status.status != Status::InQueue
                        {
                            // fal's stream opens with all lines so far (fal-js's `subscribe`
                            // appends every event's lines to an empty list "to match previous
                            // polling behavior"); a stream that opened with only the lines since
                            // it opened would lose those written since the last status we saw.
                            // A full status right after the first event fills any such gap, in
                            // order, before the event's own lines.
                            tracker.filled_ahead.clear();
                            let all = Box::pin(self.status(handle, true)).await?;
                            tracker.observe(&all, Logs::Fill);
                        }
                        tracker.observe(&status, mode);
                        mode = Logs::Delta;
                        retries.reset();
                        if status.is_completed() {
                            return Ok(status);
                        }
                        last = Some(status);
                    }
                    Err(e) => {
                        broke = Some(e);
                        break;
                    }
                }
            }
            // fal ends the status stream once the request is over; ended cleanly on a status
            // this client does not know, the request is over in that state: its result says
            // how (otherwise each reconnect would see the same status and end again, forever).
            let clean_end = matches!(broke, None | Some(Error::StreamEnded { .. }));
            if let (true, Some(status)) = (clean_end, &last) {
                if matches!(status.status, Status::Other(_)) {
                    tracing::info!(status = %status.status, "status stream ended on an unknown status");
                    return Ok(status.clone());
                }
            }
            let err = broke.unwrap_or_else(|| Error::StreamEnded {
                request_id: handle.request_id().to_owned(),
            });
            match &err {
                // No stream here (an older proxy, say): poll instead.
                Error::Api(api) if matches!(api.status, 404 | 405 | 501) => {
                    let interval = Duration::from_millis(500);
                    return Box::pin(self.poll_until_done(handle, logs, interval, tracker)).await;
                }
                Error::StreamEnded { .. }
                | Error::Transport { .. }
                | Error::Timeout {
                    kind:
                        TimeoutKind::StreamIdle
                        | TimeoutKind::Http
                        | TimeoutKind::ResponseHead
                        | TimeoutKind::Idle,
                    ..
                } => {}
                _ => return Err(err),
            }
            // A silent stream is not a failure: a long job may have nothing to report. The
            // status check below tells whether fal is still there.
            let silent = matches!(
                err,
                Error::Timeout {
                    kind: TimeoutKind::StreamIdle,
                    ..
                }
            );
            let reason = err.to_string();
            let failed = Failed::new(err, reason.clone())
                .what("connection")
                .wait(if silent { Wait::Free } else { Wait::Backoff });
            let wait = retries.decide(failed)?;
            tracker.emit(Progress::Reconnecting {
                // Consecutive failed connections so far.
                attempt: retries.attempt() - 1,
                reason,
            });
            // It may have completed while we were not listening.
            let status = Box::pin(self.status(handle, logs)).await?;
            tracker.observe(&status, Logs::Overlapping);
            if status.is_completed() {
                return Ok(status);
            }
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn status(lines: &[(&str, &str)]) -> QueueStatus {
        let logs: Vec<Value> = lines
            .iter()
            .map(|(ts, m)| serde_json::json!({"message": m, "timestamp": ts, "level": "INFO"}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "status": "IN_PROGRESS", "request_id": "r", "logs": logs
        }))
        .unwrap()
    }

    /// A tracker whose callback records the log lines it is told.
    fn recording() -> (Tracker, Arc<Mutex<Vec<String>>>) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        let tracker = Tracker {
            callback: Some(Box::new(move |p| {
                if let Progress::Log(l) = p {
                    sink.lock().unwrap().push(l.message);
                }
            })),
            ..Tracker::default()
        };
        (tracker, seen)
    }

    #[test]
    fn lines_filled_ahead_of_a_stream_are_not_repeated_by_its_deltas() {
        let (mut tracker, seen) = recording();
        tracker.observe(&status(&[("1", "a")]), Logs::Overlapping);
        // A reconnect whose first event holds only the line since it opened (`c`; `b` was
        // written in between): the full status fills `b`, then `c`, in order.
        tracker.observe(&status(&[("1", "a"), ("2", "b"), ("3", "c")]), Logs::Fill);
        tracker.observe(&status(&[("3", "c")]), Logs::Overlapping);
        // Later deltas: new lines, each delivered as often as it occurs.
        tracker.observe(&status(&[("4", "d")]), Logs::Delta);
        tracker.observe(&status(&[("5", "e"), ("5", "e")]), Logs::Delta);
        assert_eq!(*seen.lock().unwrap(), ["a", "b", "c", "d", "e", "e"]);
        // Filled lines sent again as new by the stream are skipped once each.
        let (mut t, seen) = recording();
        t.observe(&status(&[("1", "a"), ("2", "b")]), Logs::Fill);
        t.observe(&status(&[("1", "a")]), Logs::Overlapping);
        t.observe(&status(&[("2", "b"), ("3", "c")]), Logs::Delta);
        assert_eq!(*seen.lock().unwrap(), ["a", "b", "c"], "only c is new");
    }

    #[test]
    fn a_filled_line_is_skipped_once_and_delivered_when_it_occurs_again() {
        let (mut tracker, seen) = recording();
        // The fill delivers `a`; the stream's first event has no lines yet.
        tracker.observe(&status(&[("1", "a")]), Logs::Fill);
        tracker.observe(&status(&[]), Logs::Overlapping);
        // The stream sends the filled `a` as new: skipped. Then the same line occurs again
        // (identical lines repeat as often as they occur): delivered, and so is the next one.
        tracker.observe(&status(&[("1", "a")]), Logs::Delta);
        tracker.observe(&status(&[("1", "a")]), Logs::Delta);
        tracker.observe(&status(&[("1", "a")]), Logs::Delta);
        assert_eq!(*seen.lock().unwrap(), ["a", "a", "a"]);
    }

    #[test]
    fn logs_are_delivered_once_across_reconnects_without_losing_lines() {
        let (mut tracker, seen) = recording();
        // First connection: a cumulative first event, then a delta.
        tracker.observe(&status(&[("1", "a"), ("2", "b")]), Logs::Overlapping);
        tracker.observe(&status(&[("3", "c")]), Logs::Delta);
        // Reconnect: its first event holds only recent lines (not all so far), one new.
        tracker.observe(&status(&[("3", "c"), ("4", "d")]), Logs::Overlapping);
        // A polled status with everything: only the new line.
        tracker.observe(
            &status(&[("1", "a"), ("2", "b"), ("3", "c"), ("4", "d"), ("5", "e")]),
            Logs::Overlapping,
        );
        // The same text at two different times is two lines; identical lines repeat as often
        // as they occur.
        tracker.observe(
            &status(&[("6", "tick"), ("6", "tick"), ("7", "tick")]),
            Logs::Delta,
        );
        tracker.observe(
            &status(&[("5", "e"), ("6", "tick"), ("6", "tick"), ("7", "tick")]),
            Logs::Overlapping,
        );
        assert_eq!(
            *seen.lock().unwrap(),
            ["a", "b", "c", "d", "e", "tick", "tick", "tick"]
        );
    }
}
