//! `subscribe` over real HTTP: typed output, progress events (stream and poll), reconnects of a
//! broken status stream, the overall timeout that cancels the job, and submit options.

mod client_common;

use std::time::Duration;

use client_common::*;
use fal_models::Error;
use fal_models::client::{Priority, Progress, SubscribeOptions};
use fal_models::error::{Operation, TimeoutKind};
use fal_models::mock::{Fault, MockServer};
use serde_json::json;

const TRACE: [&str; 7] = [
    "submitted",
    "queue:1",
    "queue:0",
    "progress",
    "log:mock: step 1 of 2",
    "log:mock: step 2 of 2",
    "completed",
];

#[tokio::test]
async fn subscribe_streams_progress_and_returns_the_typed_output() {
    let server = echo_mock()
        .queue_steps(2)
        .progress_steps(2)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let recorder = Recorder::default();
    let out = client
        .subscribe(EchoInput::new("a cat"))
        .on_progress(recorder.callback())
        .await
        .unwrap();
    assert_eq!(out, expected_output());
    assert_eq!(recorder.trace(), TRACE);
    assert_eq!(server.count(Operation::Submit), 1);
    assert_eq!(server.count(Operation::StatusStream), 1);
    assert_eq!(server.count(Operation::Status), 0);
    assert_eq!(server.count(Operation::Result), 1);
    let Progress::Submitted(handle) = &recorder.events()[0] else {
        panic!()
    };
    assert_eq!(handle.endpoint_id(), ECHO_ID);
}

#[tokio::test]
async fn a_subscribe_no_one_watches_asks_for_no_log_fill() {
    // A stream that opens on a running job is followed by one full status, so that no line
    // written before it opened is lost: only when the lines are told to someone.
    for watched in [false, true] {
        let server = echo_mock()
            .queue_steps(0)
            .progress_steps(2)
            .start()
            .await
            .unwrap();
        let client = server.client();
        let recorder = Recorder::default();
        let subscribe = client.subscribe(EchoInput::new("a cat"));
        let out = if watched {
            subscribe.on_progress(recorder.callback()).await
        } else {
            subscribe.await
        };
        assert_eq!(out.unwrap(), expected_output());
        assert_eq!(server.count(Operation::StatusStream), 1);
        assert_eq!(
            server.count(Operation::Status),
            usize::from(watched),
            "watched: {watched}"
        );
    }
}

#[tokio::test]
async fn subscribe_can_poll_instead_and_reports_each_log_line_once() {
    let server = echo_mock()
        .queue_steps(2)
        .progress_steps(2)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let recorder = Recorder::default();
    let options = SubscribeOptions::new()
        .poll(Duration::from_millis(1))
        .on_progress(recorder.callback());
    let out = client
        .subscribe_with(EchoInput::new("a cat"), options)
        .await
        .unwrap();
    assert_eq!(out, expected_output());
    // Polled statuses repeat all lines so far; each is delivered once.
    assert_eq!(recorder.trace(), TRACE);
    assert_eq!(server.count(Operation::StatusStream), 0);
    assert_eq!(server.count(Operation::Status), 5);
    assert!(
        server
            .requests()
            .iter()
            .filter(|r| r.operation == Some(Operation::Status))
            .all(|r| r.query.as_deref() == Some("logs=1"))
    );
}

#[tokio::test]
async fn without_logs_no_lines_are_asked_for() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(2)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let recorder = Recorder::default();
    client
        .subscribe(EchoInput::new("x"))
        .logs(false)
        .on_progress(recorder.callback())
        .await
        .unwrap();
    assert_eq!(recorder.trace(), ["submitted", "progress", "completed"]);
    let stream = server
        .requests()
        .into_iter()
        .find(|r| r.operation == Some(Operation::StatusStream))
        .unwrap();
    assert_eq!(stream.query, None);
}

#[tokio::test]
async fn a_broken_status_stream_is_reopened_without_repeating_logs() {
    let server = echo_mock()
        .queue_steps(1)
        .progress_steps(4)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let recorder = Recorder::default();
    server.inject_times(Operation::StatusStream, Fault::StreamDrop, 2);
    let out = client
        .subscribe(EchoInput::new("x"))
        .on_progress(recorder.callback())
        .await
        .unwrap();
    assert_eq!(out, expected_output());
    let trace = recorder.trace();
    assert_eq!(
        trace.iter().filter(|t| *t == "reconnect").count(),
        2,
        "{trace:?}"
    );
    let logs: Vec<_> = trace
        .iter()
        .filter(|t| t.starts_with("log:"))
        .cloned()
        .collect();
    assert_eq!(
        logs,
        (1..=4)
            .map(|i| format!("log:mock: step {i} of 4"))
            .collect::<Vec<_>>()
    );
    assert_eq!(trace.last().map(String::as_str), Some("completed"));
    assert_eq!(server.count(Operation::StatusStream), 3);
    assert_eq!(server.count(Operation::Submit), 1);
}

#[tokio::test]
async fn a_status_stream_that_keeps_breaking_ends_with_an_error_naming_the_request() {
    let server = echo_mock().queue_steps(50).start().await.unwrap();
    let client = server.client();
    server.inject_times(Operation::StatusStream, Fault::Reset, 1000);
    let err = client.subscribe(EchoInput::new("x")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                operation: Operation::StatusStream,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.request_id().is_some());
    assert_eq!(server.count(Operation::Submit), 1);
    // 1 + 3 reconnects, each opening with 1 + 3 attempts; a status check between reconnects.
    assert_eq!(server.count(Operation::StatusStream), 16);
    assert_eq!(server.count(Operation::Status), 3);
}

#[tokio::test]
async fn a_stream_open_failure_is_retried() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    server.inject(Operation::StatusStream, Fault::ServerError(503));
    server.inject(Operation::StatusStream, Fault::Reset);
    assert_eq!(
        client.subscribe(EchoInput::new("x")).await.unwrap(),
        expected_output()
    );
    assert_eq!(server.count(Operation::Submit), 1);
    // Two failed opens, then the stream that delivered the result: a client that fell back
    // to polling would have opened it fewer times.
    assert_eq!(server.count(Operation::StatusStream), 3);
}

#[tokio::test]
async fn a_server_without_the_stream_endpoint_is_polled() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let client = server.client();
    server.inject(Operation::StatusStream, Fault::ServerError(404));
    assert_eq!(
        client.subscribe(EchoInput::new("x")).await.unwrap(),
        expected_output()
    );
    assert!(server.count(Operation::Status) >= 1);
}

#[tokio::test]
async fn the_overall_timeout_cancels_the_job_on_fal() {
    let server = echo_mock()
        .queue_steps(1000)
        .stream_interval(Duration::from_millis(20))
        .start()
        .await
        .unwrap();
    let client = server.client();
    let recorder = Recorder::default();
    let err = client
        .subscribe(EchoInput::new("x"))
        .timeout(Duration::from_secs(1))
        .on_progress(recorder.callback())
        .await
        .unwrap_err();
    let Error::Timeout {
        kind,
        request_id,
        cancelled,
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*kind, TimeoutKind::Subscribe);
    assert!(*cancelled);
    let Progress::Submitted(handle) = &recorder.events()[0] else {
        panic!()
    };
    assert_eq!(request_id.as_deref(), Some(handle.request_id()));
    assert_eq!(server.is_cancelled(handle.request_id()), Some(true));
    assert_eq!(server.count(Operation::Cancel), 1);
    assert!(err.to_string().contains("cancelled"), "{err}");
}

#[tokio::test]
async fn the_timeout_can_leave_the_job_running() {
    let server = echo_mock()
        .queue_steps(1000)
        .stream_interval(Duration::from_millis(20))
        .start()
        .await
        .unwrap();
    let client = server.client();
    let options = SubscribeOptions::new()
        .timeout(Duration::from_millis(500))
        .cancel_on_timeout(false);
    let err = client
        .subscribe_with(EchoInput::new("x"), options)
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::Timeout {
            kind: TimeoutKind::Subscribe,
            cancelled: false,
            ..
        }
    ));
    assert_eq!(server.count(Operation::Cancel), 0);
}

#[tokio::test]
async fn subscribe_passes_webhook_priority_and_start_deadline() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    client
        .subscribe(EchoInput::new("x"))
        .webhook("https://hooks.example.com/done")
        .priority(Priority::Low)
        .start_timeout(Duration::from_millis(2500))
        .runner_hint("r1")
        .await
        .unwrap();
    let submit = &server.requests()[0];
    assert_eq!(
        submit.query.as_deref(),
        Some("fal_webhook=https%3A%2F%2Fhooks.example.com%2Fdone")
    );
    assert_eq!(submit.header("x-fal-queue-priority"), Some("low"));
    assert_eq!(submit.header("x-fal-request-timeout"), Some("3"));
    assert_eq!(submit.header("x-fal-runner-hint"), Some("r1"));
}

#[tokio::test]
async fn subscribe_json_works_for_any_endpoint() {
    let server = MockServer::builder()
        .endpoint("someone/else/model", json!({"text": "hi"}))
        .start()
        .await
        .unwrap();
    let out = server
        .client()
        .subscribe_json("someone/else/model", json!({"anything": 1}))
        .await
        .unwrap();
    assert_eq!(out, json!({"text": "hi"}));
}

#[tokio::test]
async fn subscribe_reports_an_invalid_input_without_waiting() {
    let server = echo_mock().start().await.unwrap();
    let err = server
        .client()
        .subscribe(EchoInput::new(""))
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(422));
    assert_eq!(server.count(Operation::StatusStream), 0);
}

#[cfg(feature = "sora")]
#[tokio::test]
async fn generated_bindings_plug_straight_in() {
    use fal_models::fal_ai::sora_2::text_to_video::{Duration as Seconds, Input};
    let server = MockServer::builder()
        .schemas_dir(schemas_dir())
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = server.client();
    let input = Input::new("a cat surfing at dusk").duration(Seconds::Seconds8);
    let out = client.subscribe(input.clone()).await.unwrap();
    assert!(out.video.url.starts_with("https://"), "{}", out.video.url);
    let submit = server
        .requests()
        .into_iter()
        .find(|r| r.operation == Some(Operation::Submit))
        .unwrap();
    assert_eq!(submit.path, "/fal-ai/sora-2/text-to-video");
    assert_eq!(submit.json().unwrap()["duration"], json!(8));
    // Status and result under owner/alias.
    assert!(
        server
            .requests()
            .iter()
            .skip(1)
            .all(|r| r.path.starts_with("/fal-ai/sora-2/requests/"))
    );
    let ran = client.run(&input).await.unwrap();
    assert_eq!(ran.video.url, out.video.url);
}

#[tokio::test]
async fn wait_resumes_a_stored_handle_with_progress_and_timeout() {
    let server = echo_mock()
        .queue_steps(1)
        .progress_steps(2)
        .start()
        .await
        .unwrap();
    let handle = server.client().submit(&EchoInput::new("x")).await.unwrap();
    let stored = serde_json::to_string(&handle).unwrap();

    let resumed: fal_models::client::RequestHandle<EchoOutput> =
        serde_json::from_str(&stored).unwrap();
    let recorder = Recorder::default();
    let options = SubscribeOptions::new().on_progress(recorder.callback());
    let out = server.client().wait(&resumed, options).await.unwrap();
    assert_eq!(out, expected_output());
    // No `Submitted` (the submit happened elsewhere); the job was at queue position 0.
    assert_eq!(recorder.trace(), TRACE[2..]);
    assert_eq!(server.count(Operation::Submit), 1);

    // The timeout cancels a resumed job too.
    let slow = echo_mock()
        .queue_steps(1000)
        .stream_interval(Duration::from_millis(20))
        .start()
        .await
        .unwrap();
    let handle = slow.client().submit(&EchoInput::new("x")).await.unwrap();
    let err = slow
        .client()
        .wait(
            &handle,
            SubscribeOptions::new().timeout(Duration::from_millis(500)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                kind: TimeoutKind::Subscribe,
                cancelled: true,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(slow.is_cancelled(handle.request_id()), Some(true));
}

#[tokio::test]
async fn a_silent_stream_is_reopened_without_using_up_retries() {
    // Each connection sends one event, then stays silent longer than the idle timeout.
    let server = echo_mock()
        .queue_steps(4)
        .progress_steps(4)
        .stream_interval(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let client = server
        .client_builder()
        .stream_idle_timeout(Some(Duration::from_millis(500)))
        .build()
        .unwrap();
    let recorder = Recorder::default();
    let out = client
        .subscribe(EchoInput::new("x"))
        .on_progress(recorder.callback())
        .await
        .unwrap();
    assert_eq!(out, expected_output());
    let silent = recorder
        .trace()
        .iter()
        .filter(|t| *t == "reconnect")
        .count();
    assert!(
        silent > 3,
        "more silent reconnects ({silent}) than max_retries"
    );
    let logs: Vec<_> = recorder
        .trace()
        .into_iter()
        .filter(|t| t.starts_with("log:"))
        .collect();
    assert_eq!(logs.len(), 4, "{logs:?}");
}

#[tokio::test]
async fn one_client_reuses_its_connections() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    for _ in 0..10 {
        client.subscribe(EchoInput::new("x")).await.unwrap();
    }
    // 10 submits, 10 streams, 10 results: 30 requests over a couple of pooled connections.
    assert_eq!(server.requests().len(), 30);
    assert!(
        server.connection_count() <= 2,
        "{} connections",
        server.connection_count()
    );
}

#[tokio::test]
async fn subscribes_run_concurrently_on_spawned_tasks() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move { client.subscribe(EchoInput::new(&format!("cat {i}"))).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap(), expected_output());
    }
    assert_eq!(server.count(Operation::Submit), 8);
    assert_eq!(server.job_count(), 8);
}

#[tokio::test]
async fn reconnected_status_streams_lose_no_log_line_whatever_their_first_event_holds() {
    // fal's stream opens with all lines so far (as fal-js reads it); a stream that opens with
    // only the lines since it opened must not lose the ones written in between either.
    const LINES: usize = 300;
    for since_open in [false, true] {
        let server = echo_mock()
            .queue_steps(1)
            .progress_steps(LINES)
            .stream_interval(Duration::ZERO)
            .stream_logs_since_open(since_open)
            .start()
            .await
            .unwrap();
        let client = server
            .client_builder()
            .retry(
                fal_models::client::RetryPolicy::default()
                    .initial_backoff(Duration::from_millis(1))
                    .max_backoff(Duration::from_millis(5)),
            )
            .build()
            .unwrap();
        let recorder = Recorder::default();
        // Every connection breaks after a few events.
        server.inject_times(Operation::StatusStream, Fault::StreamDrop, 40);
        let out = client
            .subscribe(EchoInput::new("x"))
            .on_progress(recorder.callback())
            .await
            .unwrap();
        assert_eq!(out, expected_output());
        let trace = recorder.trace();
        let logs: Vec<_> = trace
            .iter()
            .filter(|t| t.starts_with("log:"))
            .cloned()
            .collect();
        let expected: Vec<_> = (1..=LINES)
            .map(|i| format!("log:mock: step {i} of {LINES}"))
            .collect();
        let missing = expected.iter().filter(|l| !logs.contains(l)).count();
        eprintln!(
            "since open {since_open}: {} lines delivered, {missing} missing, in order: {}",
            logs.len(),
            logs == expected
        );
        assert!(
            logs == expected,
            "since open {since_open}: every line once, in order: {missing} missing, {} delivered",
            logs.len()
        );
        assert!(server.count(Operation::StatusStream) > 10, "it reconnected");
    }
}

/// A queue whose status stream sends one status this client does not know (`ARCHIVED`) and
/// ends, as fal ends the stream of a finished request; the result is there.
async fn unknown_status_queue() -> String {
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let urls = base.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let base = urls.clone();
        async move {
            let path = req.uri().path().to_owned();
            let json = |v: serde_json::Value| {
                ([("content-type", "application/json")], v.to_string()).into_response()
            };
            if req.method() == axum::http::Method::POST {
                return json(json!({
                    "request_id": "r1",
                    "status_url": format!("{base}/acme/video/requests/r1/status"),
                    "response_url": format!("{base}/acme/video/requests/r1"),
                    "cancel_url": format!("{base}/acme/video/requests/r1/cancel"),
                }));
            }
            if path.ends_with("/status/stream") {
                let event = "data: {\"status\": \"ARCHIVED\", \"request_id\": \"r1\"}\n\n";
                return ([("content-type", "text/event-stream")], event).into_response();
            }
            if path.ends_with("/status") {
                return json(json!({"status": "ARCHIVED", "request_id": "r1"}));
            }
            json(json!({"video": {"url": "https://example.com/out.mp4"}, "seed": 42}))
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

#[tokio::test]
async fn a_status_stream_ending_on_an_unknown_status_ends_subscribe_without_a_timeout() {
    let base = unknown_status_queue().await;
    let client = fal_models::Client::builder()
        .key("k")
        .queue_url(&base)
        .build()
        .unwrap();
    // No subscribe timeout: the bound here only makes a hang fail the test.
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        client.subscribe(EchoInput::new("a")),
    )
    .await
    .expect("subscribe ended")
    .unwrap();
    assert_eq!(out, expected_output());
}

/// A polled queue: `PREPARING` (unknown, not over: the result answers "still in progress") for
/// three polls, then `ARCHIVED` (unknown, over: the result is there). Counts result requests.
/// A queue whose status is PREPARING for three polls, then ARCHIVED (both unknown to the
/// client); its result endpoint says "still in progress" (400) until then, `over` after.
async fn unknown_status_polled_queue(
    over: (u16, serde_json::Value),
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use axum::response::IntoResponse;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let urls = base.clone();
    let polls = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(AtomicUsize::new(0));
    let counted = results.clone();
    let app = axum::Router::new().fallback(move |req: axum::extract::Request| {
        let (base, polls, results) = (urls.clone(), polls.clone(), counted.clone());
        let (over_status, over_body) = over.clone();
        async move {
            let path = req.uri().path().to_owned();
            let json = |code: u16, v: serde_json::Value| {
                (
                    axum::http::StatusCode::from_u16(code).unwrap(),
                    [("content-type", "application/json")],
                    v.to_string(),
                )
                    .into_response()
            };
            if req.method() == axum::http::Method::POST {
                return json(
                    200,
                    json!({
                        "request_id": "r1",
                        "status_url": format!("{base}/acme/video/requests/r1/status"),
                        "response_url": format!("{base}/acme/video/requests/r1"),
                        "cancel_url": format!("{base}/acme/video/requests/r1/cancel"),
                    }),
                );
            }
            let over = polls.load(Ordering::SeqCst) > 3;
            if path.ends_with("/status") {
                let n = polls.fetch_add(1, Ordering::SeqCst) + 1;
                let status = if n > 3 { "ARCHIVED" } else { "PREPARING" };
                return json(200, json!({"status": status, "request_id": "r1"}));
            }
            results.fetch_add(1, Ordering::SeqCst);
            if !over {
                return json(400, json!({"detail": "Request is still in progress"}));
            }
            json(over_status, over_body)
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    (base, results)
}

#[tokio::test]
async fn polling_an_unknown_status_asks_the_result_once_per_status_and_ends_when_it_is_over() {
    let (base, results) = unknown_status_polled_queue((
        200,
        json!({"video": {"url": "https://example.com/out.mp4"}, "seed": 42}),
    ))
    .await;
    let client = fal_models::Client::builder()
        .key("k")
        .queue_url(&base)
        .build()
        .unwrap();
    // No subscribe timeout: the bound here only makes a hang fail the test.
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        client
            .subscribe(EchoInput::new("a"))
            .poll(Duration::from_millis(10)),
    )
    .await
    .expect("subscribe ended without a timeout of its own")
    .unwrap();
    assert_eq!(out, expected_output());
    // One probe for PREPARING (still in progress), one for ARCHIVED (over), then the result:
    // not one per poll.
    assert_eq!(results.load(std::sync::atomic::Ordering::SeqCst), 3);
}

#[tokio::test]
async fn polling_an_unknown_status_ends_on_a_result_error_that_is_not_still_in_progress() {
    // Only fal's 400 "still in progress" means the request goes on: any other error of the
    // result endpoint is its outcome. (Asked once per unknown status, a client that took every
    // 400 for "in progress" would poll ARCHIVED for ever.)
    let (base, results) =
        unknown_status_polled_queue((400, json!({"detail": "the input was refused"}))).await;
    let client = fal_models::Client::builder()
        .key("k")
        .queue_url(&base)
        .build()
        .unwrap();
    // No subscribe timeout: the bound here only makes a hang fail the test.
    let err = tokio::time::timeout(
        Duration::from_secs(30),
        client
            .subscribe(EchoInput::new("a"))
            .poll(Duration::from_millis(10)),
    )
    .await
    .expect("subscribe ended without a timeout of its own")
    .unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, 400);
    assert_eq!(api.message, "the input was refused");
    assert_eq!(err.request_id(), Some("r1"));
    // The PREPARING probe, the ARCHIVED probe, then the result.
    assert_eq!(results.load(std::sync::atomic::Ordering::SeqCst), 3);
}

/// The `attempt` of each `Reconnecting` event, in order.
fn reconnect_attempts(recorder: &Recorder) -> Vec<u32> {
    recorder
        .events()
        .into_iter()
        .filter_map(|p| match p {
            Progress::Reconnecting { attempt, .. } => Some(attempt),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn reconnecting_events_count_the_consecutive_failed_connections() {
    // Each connection delivers an event, then breaks: one failed connection in a row each time.
    let server = echo_mock()
        .queue_steps(1)
        .progress_steps(4)
        .start()
        .await
        .unwrap();
    server.inject_times(Operation::StatusStream, Fault::StreamDrop, 2);
    let recorder = Recorder::default();
    server
        .client()
        .subscribe(EchoInput::new("x"))
        .on_progress(recorder.callback())
        .await
        .unwrap();
    assert_eq!(reconnect_attempts(&recorder), [1, 1]);

    // No connection opens: 1, 2, 3 in a row, then the error (the default max_retries is 3).
    let server = echo_mock().queue_steps(50).start().await.unwrap();
    server.inject_times(Operation::StatusStream, Fault::Reset, 1000);
    let recorder = Recorder::default();
    server
        .client()
        .subscribe(EchoInput::new("x"))
        .on_progress(recorder.callback())
        .await
        .unwrap_err();
    assert_eq!(reconnect_attempts(&recorder), [1, 2, 3]);
}

#[tokio::test]
async fn a_broken_status_stream_is_reopened_after_the_policys_backoff() {
    let server = echo_mock()
        .queue_steps(1)
        .progress_steps(4)
        .start()
        .await
        .unwrap();
    let policy = fal_models::client::RetryPolicy::default()
        .initial_backoff(Duration::from_millis(250))
        .jitter(false);
    let client = server.client_builder().retry(policy).build().unwrap();
    server.inject_times(Operation::StatusStream, Fault::StreamDrop, 2);
    let started = std::time::Instant::now();
    let out = client.subscribe(EchoInput::new("x")).await.unwrap();
    assert_eq!(out, expected_output());
    // Each connection delivered an event before it broke: the first backoff, 250 ms, twice.
    assert!(
        started.elapsed() >= Duration::from_millis(500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.count(Operation::StatusStream), 3);
}

#[tokio::test]
async fn choosing_the_stream_keeps_the_options_set_before() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(2)
        .start()
        .await
        .unwrap();
    let recorder = Recorder::default();
    server
        .client()
        .subscribe(EchoInput::new("x"))
        .poll(Duration::from_millis(10))
        .logs(false)
        .on_progress(recorder.callback())
        .stream()
        .await
        .unwrap();
    assert_eq!(recorder.trace(), ["submitted", "progress", "completed"]);
    assert_eq!(server.count(Operation::StatusStream), 1);
    assert_eq!(server.count(Operation::Status), 0);
    let stream = server
        .requests()
        .into_iter()
        .find(|r| r.operation == Some(Operation::StatusStream))
        .unwrap();
    assert_eq!(stream.query, None, "no logs asked for");
}
