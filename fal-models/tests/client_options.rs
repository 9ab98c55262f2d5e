//! Platform headers on submit, subscribe, run and stream, as the mock receives them; a sync run
//! that returns its request id; the start deadline on a sync run; header values refused before
//! anything is sent.

mod client_common;

use std::time::Duration;

use client_common::{ECHO_ID, EchoInput, echo_mock, expected_output};
use fal_models::Error;
use fal_models::client::{
    PlatformOptions, RunOptions, StreamOptions, SubmitOptions, SubscribeOptions,
};
use fal_models::error::{Operation, TimeoutKind};
use fal_models::mock::{Fault, RecordedRequest};
use serde_json::json;

fn platform() -> PlatformOptions {
    PlatformOptions::new()
        .no_retry()
        .store_io(false)
        .disable_fallbacks()
        .object_expiration(Duration::from_millis(3_600_500))
        .initial_acl(json!({"default": "hide", "rules": [{"user": "u1", "decision": "allow"}]}))
        .header("x-trace-id", "t-1")
        .unwrap()
}

fn assert_platform_headers(sent: &RecordedRequest) {
    assert_eq!(sent.header("x-fal-no-retry"), Some("1"));
    assert_eq!(sent.header("x-fal-store-io"), Some("0"));
    assert_eq!(sent.header("x-fal-disable-fallbacks"), Some("true"));
    let lifecycle = json!({
        "expiration_duration_seconds": 3601,
        "initial_acl": {"default": "hide", "rules": [{"user": "u1", "decision": "allow"}]}
    });
    for name in [
        "x-fal-object-lifecycle-preference",
        "x-fal-object-lifecycle",
    ] {
        let sent: serde_json::Value = serde_json::from_str(sent.header(name).unwrap()).unwrap();
        assert_eq!(sent, lifecycle, "{name}");
    }
    assert_eq!(sent.header("x-trace-id"), Some("t-1"));
    assert_eq!(sent.header("authorization"), Some("Key mock-key"));
}

fn sent(server: &fal_models::mock::MockServer, op: Operation) -> RecordedRequest {
    server
        .requests()
        .into_iter()
        .find(|r| r.operation == Some(op))
        .unwrap_or_else(|| panic!("no {op} request"))
}

#[tokio::test]
async fn submit_and_subscribe_send_the_platform_headers() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    let options = SubmitOptions::new().platform(platform());
    client
        .submit_json(ECHO_ID, &json!({"prompt": "a cat"}), &options)
        .await
        .unwrap();
    assert_platform_headers(&sent(&server, Operation::Submit));

    server.clear_requests();
    let out = client
        .subscribe(EchoInput::new("a cat"))
        .options(SubscribeOptions::new().submit_options(SubmitOptions::new().platform(platform())))
        .await
        .unwrap();
    assert_eq!(out, expected_output());
    assert_platform_headers(&sent(&server, Operation::Submit));
    // Only the submit carries them: reads of the job are not new requests to fal's app.
    assert_eq!(
        sent(&server, Operation::Result).header("x-fal-no-retry"),
        None
    );
}

#[tokio::test]
async fn subscribe_takes_platform_options_directly_and_keeps_its_other_options() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    let out = client
        .subscribe(EchoInput::new("a cat"))
        .start_timeout(Duration::from_secs(30))
        .platform(platform())
        .runner_hint("session-9")
        .await
        .unwrap();
    assert_eq!(out, expected_output());
    let submit = sent(&server, Operation::Submit);
    assert_platform_headers(&submit);
    // The setter replaced only the platform headers, not the other submit options.
    assert_eq!(submit.header("x-fal-request-timeout"), Some("30"));
    assert_eq!(submit.header("x-fal-runner-hint"), Some("session-9"));
    assert_eq!(
        sent(&server, Operation::Result).header("x-fal-store-io"),
        None
    );

    // The same through SubscribeOptions, and with events().
    server.clear_requests();
    let mut events = client
        .subscribe(EchoInput::new("a dog"))
        .options(SubscribeOptions::new().platform(platform()))
        .events();
    let mut outputs = 0;
    while let Some(event) = futures::StreamExt::next(&mut events).await {
        if let fal_models::client::SubscribeEvent::Output(out) = event.unwrap() {
            assert_eq!(out, expected_output());
            outputs += 1;
        }
    }
    assert_eq!(outputs, 1);
    assert_platform_headers(&sent(&server, Operation::Submit));
}

#[tokio::test]
async fn run_with_sends_its_headers_and_returns_the_request_id() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    let options = RunOptions::new()
        .start_timeout(Duration::from_secs(30))
        .runner_hint("session-7")
        .platform(platform());
    let run = client
        .run_with(&EchoInput::new("a cat"), &options)
        .await
        .unwrap();
    assert_eq!(run.output, expected_output());
    let id = run
        .request_id
        .expect("the mock's run answers carry a request id");
    assert!(id.contains("6d6f-636b"), "{id}");
    let sent = sent(&server, Operation::Run);
    assert_platform_headers(&sent);
    assert_eq!(sent.header("x-fal-request-timeout"), Some("30"));
    assert_eq!(sent.header("x-fal-runner-hint"), Some("session-7"));

    let plain = client
        .run_json_with(ECHO_ID, &json!({"prompt": "b"}), &RunOptions::new())
        .await
        .unwrap();
    assert_eq!(plain.output["seed"], 42);
    assert!(plain.request_id.is_some_and(|other| other != id));
}

#[tokio::test]
async fn a_sync_run_past_its_start_deadline_is_a_typed_timeout_and_not_rerun() {
    let server = echo_mock().start().await.unwrap();
    server.inject(Operation::Run, Fault::StartDeadline);
    let options = RunOptions::new().start_timeout(Duration::from_secs(2));
    let err = server
        .client()
        .run_json_with(ECHO_ID, &json!({"prompt": "a"}), &options)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                kind: TimeoutKind::StartDeadline,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.count(Operation::Run), 1);
}

#[tokio::test]
async fn a_run_whose_answer_breaks_off_names_its_request_and_is_not_rerun() {
    let server = echo_mock().start().await.unwrap();
    server.inject(Operation::Run, Fault::TruncatedBody);
    let err = server
        .client()
        .run_json_with(ECHO_ID, &json!({"prompt": "a"}), &RunOptions::new())
        .await
        .unwrap_err();
    match &err {
        Error::AmbiguousSubmit {
            accepted: true,
            request_id: Some(_),
            ..
        } => {}
        other => panic!("expected an accepted, ambiguous run: {other:?}"),
    }
    assert_eq!(server.count(Operation::Run), 1);
    assert_eq!(server.run_count(), 1);
}

#[tokio::test]
async fn run_and_run_with_fill_an_ambiguous_run_the_same() {
    // One sync-run path: `run` is `run_with` without options, so an answer that breaks off
    // after its head gives the same error either way (status, request id, attempts).
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    let mut seen = Vec::new();
    for with_options in [false, true] {
        server.inject(Operation::Run, Fault::TruncatedBody);
        let input = json!({"prompt": "a"});
        let err = if with_options {
            client
                .run_json_with(ECHO_ID, &input, &RunOptions::new())
                .await
                .map(|_| ())
                .unwrap_err()
        } else {
            client
                .run_json(ECHO_ID, &input)
                .await
                .map(|_| ())
                .unwrap_err()
        };
        let Error::AmbiguousSubmit {
            endpoint_id,
            attempts,
            accepted,
            status,
            request_id,
            headers,
            reason,
            source,
        } = &err
        else {
            panic!("expected an ambiguous run: {err:?}");
        };
        seen.push((
            endpoint_id.clone(),
            *attempts,
            *accepted,
            *status,
            request_id.is_some(),
            headers.clone(),
            reason.clone(),
            source.is_some(),
        ));
    }
    assert_eq!(seen[0], seen[1], "run and run_with differ");
    let (_, attempts, accepted, status, has_id, ..) = &seen[0];
    assert_eq!(
        (*attempts, *accepted, *status, *has_id),
        (1, true, Some(200), true)
    );
    assert_eq!(server.run_count(), 2);
}

#[tokio::test]
async fn stream_sends_the_platform_headers() {
    let server = echo_mock().start().await.unwrap();
    let options = StreamOptions::default().platform(platform());
    let out = server
        .client()
        .stream_with(&EchoInput::new("a"), options)
        .output()
        .await
        .unwrap();
    assert_eq!(out, expected_output());
    assert_platform_headers(&sent(&server, Operation::Stream));
}

#[test]
fn bad_header_names_values_and_authorization_are_refused() {
    assert!(matches!(
        PlatformOptions::new().header("bad name", "v"),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        PlatformOptions::new().header("x-ok", "line\nbreak"),
        Err(Error::Config(_))
    ));
    let err = PlatformOptions::new()
        .header("Authorization", "Key other")
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
}

#[tokio::test]
async fn a_start_timeout_of_one_second_or_less_is_refused_before_anything_is_sent() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    for d in [Duration::ZERO, Duration::from_secs(1)] {
        let err = client
            .run_with(&EchoInput::new("a"), &RunOptions::new().start_timeout(d))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{d:?}: {err:?}");
        let err = client
            .submit_with(&EchoInput::new("a"), &SubmitOptions::new().start_timeout(d))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{d:?}: {err:?}");
    }
    assert!(server.requests().is_empty(), "nothing was sent");
    client
        .run_with(
            &EchoInput::new("a"),
            &RunOptions::new().start_timeout(Duration::from_millis(1500)),
        )
        .await
        .unwrap();
    assert_eq!(
        sent(&server, Operation::Run).header("x-fal-request-timeout"),
        Some("2")
    );
}

#[tokio::test]
async fn an_object_expiration_of_zero_is_refused_not_sent_as_never() {
    let server = echo_mock().start().await.unwrap();
    let options =
        RunOptions::new().platform(PlatformOptions::new().object_expiration(Duration::ZERO));
    let err = server
        .client()
        .run_with(&EchoInput::new("a"), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err:?}");
    assert!(server.requests().is_empty(), "nothing was sent");
    let storage = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap()
        .storage()
        .unwrap();
    let err = storage
        .upload_bytes(
            &b"abc"[..],
            &fal_models::storage::UploadOptions::new().expires_in(Duration::ZERO),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, fal_models::storage::StorageError::Config(_)),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_user_header_named_like_a_typed_one_is_sent_once() {
    let server = echo_mock().start().await.unwrap();
    let options = RunOptions::new().platform(
        PlatformOptions::new()
            .no_retry()
            .header("x-fal-no-retry", "1")
            .unwrap()
            .header("X-Fal-Store-IO", "0")
            .unwrap()
            .store_io(true),
    );
    server
        .client()
        .run_with(&EchoInput::new("a"), &options)
        .await
        .unwrap();
    let run = sent(&server, Operation::Run);
    let count = |name: &str| run.headers.iter().filter(|(k, _)| k == name).count();
    assert_eq!(count("x-fal-no-retry"), 1, "{:?}", run.headers);
    assert_eq!(count("x-fal-store-io"), 1, "{:?}", run.headers);
    assert_eq!(
        run.header("x-fal-store-io"),
        Some("0"),
        "the user's header wins"
    );
}
