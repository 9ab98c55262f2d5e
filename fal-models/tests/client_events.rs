//! Progress as a stream: events in order, then the output, consumed with borrowed state; a
//! failed job ends the stream with its error after its events; a dropped stream stops waiting.

mod client_common;

use client_common::{ECHO_ID, EchoInput, echo_mock, expected_output};
use fal_models::Error;
use fal_models::client::{Progress, SubscribeEvent};
use fal_models::error::Operation;
use fal_models::mock::{Fault, JobFailure};
use futures::StreamExt;
use serde_json::json;

#[tokio::test]
async fn events_then_the_output_into_borrowed_state() {
    let server = echo_mock()
        .queue_steps(2)
        .progress_steps(2)
        .start()
        .await
        .unwrap();
    let client = server.client();
    // A local Vec, borrowed mutably by the loop: no 'static callback needed.
    let mut trace: Vec<String> = Vec::new();
    let mut output = None;
    let mut events = client.subscribe(EchoInput::new("a cat")).events();
    while let Some(event) = events.next().await {
        match event.unwrap() {
            SubscribeEvent::Progress(p) => trace.push(match p {
                Progress::Submitted(_) => "submitted".into(),
                Progress::InQueue { .. } => "queue".into(),
                Progress::InProgress => "progress".into(),
                Progress::Log(_) => "log".into(),
                Progress::Completed { .. } => "completed".into(),
                other => format!("{other:?}"),
            }),
            SubscribeEvent::Output(out) => {
                assert!(output.is_none(), "one output");
                output = Some(out);
            }
        }
    }
    assert_eq!(output, Some(expected_output()));
    assert_eq!(trace.first().map(String::as_str), Some("submitted"));
    assert_eq!(trace.last().map(String::as_str), Some("completed"));
    assert!(
        trace.contains(&"queue".to_owned()) && trace.contains(&"progress".to_owned()),
        "{trace:?}"
    );
    assert_eq!(trace.iter().filter(|t| *t == "log").count(), 2, "{trace:?}");
}

#[tokio::test]
async fn a_failed_job_ends_the_stream_with_its_error_after_its_events() {
    let server = echo_mock().start().await.unwrap();
    server.inject(
        Operation::Submit,
        Fault::FailJob(JobFailure::internal("boom")),
    );
    let items: Vec<_> = server
        .client()
        .subscribe_json(ECHO_ID, json!({"prompt": "a"}))
        .events()
        .collect()
        .await;
    let (last, before) = items.split_last().unwrap();
    assert!(matches!(last, Err(Error::JobFailed { .. })), "{last:?}");
    assert!(matches!(
        before.first(),
        Some(Ok(SubscribeEvent::Progress(Progress::Submitted(_))))
    ));
    assert!(
        before
            .iter()
            .all(|e| matches!(e, Ok(SubscribeEvent::Progress(_))))
    );
}

#[tokio::test]
async fn dropping_the_stream_stops_waiting() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    let mut events = client.subscribe(EchoInput::new("a")).events();
    let first = events.next().await.unwrap().unwrap();
    let SubscribeEvent::Progress(Progress::Submitted(dropped)) = first else {
        panic!("the first event is the submit: {first:?}")
    };
    drop(events);
    let polls_at_drop = polls_of(&server, dropped.request_id());
    // The evidence is a twin, not a sleep: a second subscribe on the same server, submitted
    // after the dropped one, waits for its job and fetches its result. Whatever drove the
    // dropped one (a background task, a leaked poll loop) has had as long, and a head start.
    let mut twin = client.subscribe(EchoInput::new("b")).events();
    let mut twin_id = String::new();
    let mut out = None;
    while let Some(event) = twin.next().await {
        match event.unwrap() {
            SubscribeEvent::Progress(Progress::Submitted(h)) => twin_id = h.request_id().to_owned(),
            SubscribeEvent::Output(o) => out = Some(o),
            _ => {}
        }
    }
    assert_eq!(out, Some(expected_output()));
    assert_eq!(server.job_count(), 2);
    assert_eq!(
        server.count(Operation::Result),
        1,
        "only the twin's result was fetched"
    );
    // At most the status request already on its way when the stream was dropped reaches
    // the server; none after it (the twin needed its status and its result).
    let polls = polls_of(&server, dropped.request_id());
    assert!(
        polls <= polls_at_drop + 1,
        "{polls} requests for the dropped subscribe ({polls_at_drop} at the drop)"
    );
    assert!(
        polls_of(&server, &twin_id) >= 2,
        "the twin waited and fetched"
    );
}

/// Requests on `request_id`'s status, result or stream paths.
fn polls_of(server: &fal_models::mock::MockServer, request_id: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.path.contains(request_id))
        .count()
}
