//! The queue operations over real HTTP against the mock server: submit, status (with and
//! without logs), status stream, result, cancel, run, the JSON variants, request handles, the
//! sub-path rule, and the headers and query the client sends.

mod client_common;

use client_common::*;
use fal_models::client::{CancelOutcome, Priority, RequestHandle, Status, SubmitOptions};
use fal_models::error::Operation;
use fal_models::{Client, Error};
use futures::StreamExt;
use serde_json::json;
use std::time::Duration;

#[tokio::test]
async fn submit_poll_result_walks_the_queue_and_returns_typed_output() {
    let server = echo_mock()
        .queue_steps(2)
        .progress_steps(2)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let handle = client.submit(&EchoInput::new("a cat")).await.unwrap();
    assert_eq!(handle.endpoint_id(), ECHO_ID);
    // fal's rule: status lives under owner/alias, without the sub-path.
    let base = format!(
        "{}/acme/video/requests/{}",
        server.queue_url(),
        handle.request_id()
    );
    assert_eq!(handle.status_url(), Some(format!("{base}/status").as_str()));

    let mut seen = Vec::new();
    loop {
        let status = client.status(&handle, true).await.unwrap();
        seen.push((
            status.status.clone(),
            status.queue_position,
            status.logs.len(),
        ));
        if status.is_completed() {
            assert!(status.metrics.is_some());
            break;
        }
    }
    assert_eq!(
        seen,
        [
            (Status::InQueue, Some(1), 0),
            (Status::InQueue, Some(0), 0),
            (Status::InProgress, None, 1),
            (Status::InProgress, None, 2),
            (Status::Completed, None, 2),
        ]
    );
    let out = client.result(&handle).await.unwrap();
    assert_eq!(out, expected_output());

    let submit = &server.requests()[0];
    assert_eq!(submit.operation, Some(Operation::Submit));
    assert_eq!(submit.path, "/acme/video/text-to-video");
    assert_eq!(submit.header("authorization"), Some("Key mock-key"));
    assert_eq!(submit.header("content-type"), Some("application/json"));
    assert!(
        submit
            .header("user-agent")
            .unwrap()
            .starts_with("fal-models-rust/")
    );
    assert_eq!(submit.json(), Some(json!({"prompt": "a cat"})));
}

#[tokio::test]
async fn status_without_logs_sends_no_logs_query_and_gets_no_lines() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(1)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let handle = client.submit(&EchoInput::new("x")).await.unwrap();
    let status = client.status(&handle, false).await.unwrap();
    assert_eq!(status.status, Status::InProgress);
    assert!(status.logs.is_empty());
    let with_logs = client.status(&handle, true).await.unwrap();
    assert_eq!(with_logs.status, Status::Completed);
    assert_eq!(with_logs.logs.len(), 1);
    let queries: Vec<_> = server
        .requests()
        .iter()
        .filter(|r| r.operation == Some(Operation::Status))
        .map(|r| r.query.clone())
        .collect();
    assert_eq!(queries, [None, Some("logs=1".to_owned())]);
}

#[tokio::test]
async fn status_stream_yields_each_state_with_new_logs_only_and_ends_after_completed() {
    let server = echo_mock()
        .queue_steps(1)
        .progress_steps(3)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let handle = client.submit(&EchoInput::new("x")).await.unwrap();
    let events: Vec<_> = client.status_stream(&handle, true).collect().await;
    let events: Vec<_> = events.into_iter().map(Result::unwrap).collect();
    let shape: Vec<_> = events
        .iter()
        .map(|e| {
            (
                e.status.as_str().to_owned(),
                e.logs.iter().map(|l| l.message.clone()).collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("IN_QUEUE".to_owned(), vec![]),
            (
                "IN_PROGRESS".to_owned(),
                vec!["mock: step 1 of 3".to_owned()]
            ),
            (
                "IN_PROGRESS".to_owned(),
                vec!["mock: step 2 of 3".to_owned()]
            ),
            (
                "IN_PROGRESS".to_owned(),
                vec!["mock: step 3 of 3".to_owned()]
            ),
            ("COMPLETED".to_owned(), vec![]),
        ]
    );
    let stream_request = server
        .requests()
        .into_iter()
        .find(|r| r.operation == Some(Operation::StatusStream))
        .unwrap();
    assert_eq!(
        stream_request.path,
        format!("/acme/video/requests/{}/status/stream", handle.request_id())
    );
    assert_eq!(stream_request.query.as_deref(), Some("logs=1"));
    assert_eq!(stream_request.header("accept"), Some("text/event-stream"));
}

#[tokio::test]
async fn cancel_requests_cancellation_then_reports_already_completed() {
    let server = echo_mock().queue_steps(5).start().await.unwrap();
    let client = server.client();
    let handle = client.submit(&EchoInput::new("x")).await.unwrap();
    assert_eq!(
        client.cancel(&handle).await.unwrap(),
        CancelOutcome::Requested
    );
    assert_eq!(server.is_cancelled(handle.request_id()), Some(true));
    let cancel = server
        .requests()
        .into_iter()
        .find(|r| r.operation == Some(Operation::Cancel))
        .unwrap();
    assert_eq!(cancel.method, "PUT");
    assert_eq!(
        cancel.path,
        format!("/acme/video/requests/{}/cancel", handle.request_id())
    );

    let done = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let client = done.client();
    let handle = client.submit(&EchoInput::new("x")).await.unwrap();
    assert_eq!(
        client.cancel(&handle).await.unwrap(),
        CancelOutcome::AlreadyCompleted
    );
}

#[tokio::test]
async fn result_before_completion_is_a_typed_400_with_the_request_id() {
    let server = echo_mock().queue_steps(3).start().await.unwrap();
    let client = server.client();
    let handle = client.submit(&EchoInput::new("x")).await.unwrap();
    let err = client.result(&handle).await.unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, 400);
    assert_eq!(api.operation, Operation::Result);
    assert_eq!(api.message, "Request is still in progress");
    assert_eq!(err.request_id(), Some(handle.request_id()));
    assert!(err.to_string().contains(handle.request_id()), "{err}");
}

#[tokio::test]
async fn run_posts_to_the_run_host_and_returns_typed_output() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    let out = client.run(&EchoInput::new("x")).await.unwrap();
    assert_eq!(out, expected_output());
    let json = client
        .run_json(ECHO_ID, &json!({"prompt": "y"}))
        .await
        .unwrap();
    assert_eq!(json["seed"], 42);
    let runs = server.requests();
    assert_eq!(runs.len(), 2);
    assert!(
        runs.iter()
            .all(|r| r.operation == Some(Operation::Run) && r.path == "/acme/video/text-to-video")
    );
}

#[tokio::test]
async fn json_variants_work_for_endpoints_without_bindings() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let handle = client
        .submit_json(ECHO_ID, &json!({"prompt": "z"}), &SubmitOptions::new())
        .await
        .unwrap();
    let out = client.result(&handle).await.unwrap();
    assert_eq!(
        out,
        json!({"video": {"url": "https://example.com/out.mp4"}, "seed": 42})
    );
    let typed = client.result(&handle.typed::<EchoOutput>()).await.unwrap();
    assert_eq!(typed, expected_output());
}

#[tokio::test]
async fn submit_options_become_fal_headers_and_the_webhook_query() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    let options = SubmitOptions::new()
        .webhook("https://hooks.example.com/fal?x=1&y=2")
        .start_timeout(Duration::from_secs(30))
        .priority(Priority::Low)
        .runner_hint("runner-7");
    client
        .submit_with(&EchoInput::new("x"), &options)
        .await
        .unwrap();
    let submit = &server.requests()[0];
    assert_eq!(
        submit.query.as_deref(),
        Some("fal_webhook=https%3A%2F%2Fhooks.example.com%2Ffal%3Fx%3D1%26y%3D2")
    );
    assert_eq!(submit.header("x-fal-request-timeout"), Some("30"));
    assert_eq!(submit.header("x-fal-queue-priority"), Some("low"));
    assert_eq!(submit.header("x-fal-runner-hint"), Some("runner-7"));
    // The option headers do not displace the default `Accept` (cargo mutants: `!=` for `==`
    // in the "caller set an accept header" check of `send_once` survived).
    assert_eq!(submit.header("accept"), Some("application/json"));
}

#[tokio::test]
async fn a_stored_handle_resumes_in_another_client_without_the_key_in_it() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let handle = server.client().submit(&EchoInput::new("x")).await.unwrap();
    let stored = serde_json::to_string(&handle).unwrap();
    assert!(!stored.contains("mock-key"), "{stored}");
    assert!(stored.contains(handle.request_id()));

    let other = server.client();
    let resumed: RequestHandle<EchoOutput> = serde_json::from_str(&stored).unwrap();
    assert_eq!(resumed, handle);
    assert_eq!(other.result(&resumed).await.unwrap(), expected_output());

    // From a bare request id, the URLs are rebuilt by the owner/alias rule.
    let bare = RequestHandle::<EchoOutput>::for_endpoint::<EchoInput>(handle.request_id());
    assert_eq!(bare.status_url(), None);
    assert_eq!(other.result(&bare).await.unwrap(), expected_output());
    assert_eq!(
        other.status(&bare, false).await.unwrap().status,
        Status::Completed
    );
    let last = server.requests().pop().unwrap();
    assert_eq!(
        last.path,
        format!("/acme/video/requests/{}/status", handle.request_id())
    );
}

#[tokio::test]
async fn handle_urls_on_another_host_are_not_trusted_with_the_key() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let elsewhere = echo_mock().start().await.unwrap();
    let client = server.client();
    let handle = client.submit(&EchoInput::new("x")).await.unwrap();
    let mut json = serde_json::to_value(&handle).unwrap();
    let evil = format!(
        "{}/acme/video/requests/{}",
        elsewhere.queue_url(),
        handle.request_id()
    );
    json["response_url"] = json!(evil);
    json["status_url"] = json!(format!("{evil}/status"));
    let tampered: RequestHandle<EchoOutput> = serde_json::from_value(json).unwrap();
    assert_eq!(client.result(&tampered).await.unwrap(), expected_output());
    assert_eq!(
        client.status(&tampered, false).await.unwrap().status,
        Status::Completed
    );
    assert!(
        elsewhere.requests().is_empty(),
        "the key went to a foreign host"
    );
}

#[tokio::test]
async fn workflow_ids_keep_their_prefix_in_request_paths() {
    let server = fal_models::mock::MockServer::builder()
        .endpoint("workflows/acme/flow/v2", json!({"ok": true}))
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let handle = client
        .submit_json("workflows/acme/flow/v2", &json!({}), &SubmitOptions::new())
        .await
        .unwrap();
    let bare = RequestHandle::new("workflows/acme/flow/v2", handle.request_id());
    assert_eq!(client.result(&bare).await.unwrap(), json!({"ok": true}));
    let last = server.requests().pop().unwrap();
    assert_eq!(
        last.path,
        format!("/workflows/acme/flow/requests/{}", handle.request_id())
    );
}

#[tokio::test]
async fn unknown_status_values_decode_instead_of_failing() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    let handle = client.submit(&EchoInput::new("x")).await.unwrap();
    server.inject(Operation::Status, fal_models::mock::Fault::Respond {
        status: 200,
        headers: vec![],
        body: r#"{"status": "PAUSED_FOR_MAINTENANCE", "request_id": "r", "logs": null, "new_field": 1}"#.into(),
    });
    let status = client.status(&handle, true).await.unwrap();
    assert_eq!(
        status.status,
        Status::Other("PAUSED_FOR_MAINTENANCE".into())
    );
    assert!(!status.is_completed());
}

/// A status prints, and serializes, as the wire name it was decoded from, unknown ones verbatim.
/// (cargo mutants: an empty `Display` survived every test.)
#[test]
fn statuses_print_and_serialize_as_their_wire_names() {
    for (status, wire) in [
        (Status::InQueue, "IN_QUEUE"),
        (Status::InProgress, "IN_PROGRESS"),
        (Status::Completed, "COMPLETED"),
        (Status::Other("PAUSED".into()), "PAUSED"),
    ] {
        assert_eq!(status.to_string(), wire);
        assert_eq!(serde_json::to_value(&status).unwrap(), json!(wire));
        assert_eq!(
            serde_json::from_value::<Status>(json!(wire)).unwrap(),
            status
        );
    }
}

#[tokio::test]
async fn a_caller_supplied_reqwest_client_is_used() {
    let server = echo_mock().start().await.unwrap();
    // Only the caller's client knows where `fal-queue.test` is: a request reaching the mock
    // proves it went through that client (the transport sets the User-Agent for any client).
    let queue: std::net::SocketAddr = server
        .queue_url()
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let http = reqwest::Client::builder()
        .resolve("fal-queue.test", queue)
        .build()
        .unwrap();
    let url = format!("http://fal-queue.test:{}", queue.port());
    let client = server
        .client_builder()
        .queue_url(&url)
        .http_client(http)
        .user_agent("my-app/1.0")
        .build()
        .unwrap();
    client.submit(&EchoInput::new("x")).await.unwrap();
    assert_eq!(server.count(Operation::Submit), 1);
    assert_eq!(
        server.requests()[0].header("user-agent"),
        Some("my-app/1.0")
    );
}

#[test]
fn bad_configuration_is_a_config_error() {
    assert!(matches!(
        Client::builder().key("k").queue_url("not a url").build(),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Client::builder().key("bad\nkey").build(),
        Err(Error::Config(_))
    ));
}

#[tokio::test]
async fn a_silent_status_stream_ends_with_an_idle_timeout_naming_the_request() {
    let server = echo_mock()
        .queue_steps(5)
        .stream_interval(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    let client = server
        .client_builder()
        .stream_idle_timeout(Some(Duration::from_secs(1)))
        .build()
        .unwrap();
    let handle = client.submit(&EchoInput::new("x")).await.unwrap();
    let started = std::time::Instant::now();
    let mut events: Vec<_> = client.status_stream(&handle, true).collect().await;
    // The server sends one status, then nothing for 60 s: whatever arrived before the silence
    // (one status, or none on a slow machine) is in-queue, and the stream ends with the idle
    // timeout, not before the idle second and not with the 60 s silence waited out.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_secs(30),
        "{elapsed:?}"
    );
    let Some(Err(Error::Timeout {
        kind: fal_models::error::TimeoutKind::StreamIdle,
        request_id,
        ..
    })) = events.pop()
    else {
        panic!("the stream ends with the idle timeout: {events:?}")
    };
    assert_eq!(request_id.as_deref(), Some(handle.request_id()));
    assert!(events.len() <= 1, "{events:?}");
    for event in &events {
        assert_eq!(event.as_ref().unwrap().status, Status::InQueue);
    }
}
