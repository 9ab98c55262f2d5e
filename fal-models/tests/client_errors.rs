//! Typed errors over real HTTP: 422 field details in both of fal's shapes, fal's error type,
//! failed jobs, and no key in any error or `Debug` output.

mod client_common;

use client_common::*;
use fal_models::Error;
use fal_models::error::{LocSegment, Operation};
use fal_models::mock::{Fault, JobFailure};

#[tokio::test]
async fn invalid_input_is_a_422_with_field_details() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    let input = EchoInput {
        prompt: String::new(),
        duration: Some(5),
    };
    let err = client.submit(&input).await.unwrap_err();
    assert_eq!(err.status(), Some(422));
    let mut fields: Vec<_> = err
        .validation_errors()
        .iter()
        .map(|f| (f.field(), f.kind.clone(), f.msg.clone()))
        .collect();
    fields.sort();
    assert_eq!(
        fields,
        [
            (
                "duration".into(),
                "literal_error".into(),
                "Input should be 4 or 8".into()
            ),
            (
                "prompt".into(),
                "string_too_short".into(),
                "String should have at least 1 character".into()
            ),
        ]
    );
    assert_eq!(err.validation_errors()[0].loc[0], LocSegment::from("body"));
    let text = err.to_string();
    assert!(
        text.contains("HTTP 422") && text.contains("duration: Input should be 4 or 8"),
        "{text}"
    );
    assert_eq!(server.count(Operation::Submit), 1, "422 is not retried");
    assert_eq!(server.job_count(), 0);

    // The same validation on the sync run host.
    let err = client.run(&input).await.unwrap_err();
    assert_eq!(err.validation_errors().len(), 2);
}

#[tokio::test]
async fn a_text_detail_and_the_error_type_header_are_kept() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    server.inject(
        Operation::Submit,
        Fault::Respond {
            status: 422,
            headers: vec![("X-Fal-Error-Type".into(), "content_policy_violation".into())],
            body: r#"{"detail": "The prompt was flagged by the content checker"}"#.into(),
        },
    );
    let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, 422);
    assert_eq!(api.message, "The prompt was flagged by the content checker");
    assert!(api.fields.is_empty());
    assert_eq!(err.error_type(), Some("content_policy_violation"));
    assert!(
        err.to_string().contains("[content_policy_violation]"),
        "{err}"
    );
}

#[tokio::test]
async fn a_non_json_error_body_is_kept_as_an_excerpt() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    let page = format!("<html>{}</html>", "x".repeat(2000));
    server.inject(
        Operation::Submit,
        Fault::Respond {
            status: 400,
            headers: vec![],
            body: page,
        },
    );
    let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert!(api.body_excerpt.starts_with("<html>xxx"));
    assert_eq!(api.body_excerpt.chars().count(), 512);
    // With no JSON message, the excerpt is the message (not the status's reason phrase).
    // (cargo mutants: deleting `!` in "a non-empty excerpt is the message" survived.)
    assert_eq!(api.message, api.body_excerpt);
}

#[tokio::test]
async fn a_job_that_failed_validation_reports_its_fields_and_request_id() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    server.inject(
        Operation::Submit,
        Fault::FailJob(JobFailure::validation(
            "prompt",
            "Prompt flagged",
            "content_policy_violation",
        )),
    );
    let recorder = Recorder::default();
    let err = client
        .subscribe(EchoInput::new("x"))
        .on_progress(recorder.callback())
        .await
        .unwrap_err();
    let Error::JobFailed {
        request_id,
        message,
        error_type,
        result_error,
    } = &err
    else {
        panic!("{err:?}")
    };
    let Some(fal_models::client::Progress::Submitted(handle)) = recorder.events().first().cloned()
    else {
        panic!()
    };
    assert_eq!(request_id, handle.request_id());
    assert_eq!(message, "Prompt flagged");
    assert_eq!(error_type.as_deref(), Some("content_policy_violation"));
    assert_eq!(result_error.as_ref().unwrap().status, 422);
    assert_eq!(err.validation_errors()[0].field(), "prompt");
    assert_eq!(err.request_id(), Some(handle.request_id()));
    assert_eq!(
        recorder.trace().last().map(String::as_str),
        Some("completed")
    );
}

#[tokio::test]
async fn a_failed_job_is_reported_whole_when_no_one_watches_its_progress() {
    // Without a callback the status events are read only for their outcome; the error and its
    // type still come from the stream's last event.
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    server.inject(
        Operation::Submit,
        Fault::FailJob(JobFailure::validation(
            "prompt",
            "Prompt flagged",
            "content_policy_violation",
        )),
    );
    let err = client.subscribe(EchoInput::new("x")).await.unwrap_err();
    let Error::JobFailed {
        message,
        error_type,
        result_error,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(message, "Prompt flagged");
    assert_eq!(error_type.as_deref(), Some("content_policy_violation"));
    assert_eq!(result_error.as_ref().unwrap().status, 422);
}

#[tokio::test]
async fn a_job_with_an_internal_error_is_job_failed_with_the_result_status() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    server.inject(
        Operation::Submit,
        Fault::FailJob(JobFailure::internal("CUDA out of memory")),
    );
    let err = client
        .subscribe(EchoInput::new("x"))
        .poll(std::time::Duration::from_millis(1))
        .await
        .unwrap_err();
    let Error::JobFailed {
        message,
        result_error,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(message, "CUDA out of memory");
    assert_eq!(result_error.as_ref().unwrap().status, 500);
    assert_eq!(err.error_type(), Some("internal_error"));
    assert!(err.to_string().contains("CUDA out of memory"));
}

#[tokio::test]
async fn a_job_whose_start_deadline_passed_is_a_start_deadline_timeout() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    server.inject(
        Operation::Submit,
        Fault::FailJob(JobFailure::start_deadline()),
    );
    let err = client
        .subscribe(EchoInput::new("x"))
        .start_timeout(std::time::Duration::from_secs(5))
        .await
        .unwrap_err();
    let Error::Timeout {
        kind, request_id, ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(*kind, fal_models::error::TimeoutKind::StartDeadline);
    assert!(request_id.is_some());
    assert_eq!(
        server.count(Operation::Result),
        1,
        "the start-deadline 504 is not retried"
    );
    assert_eq!(
        server.requests()[0].header("x-fal-request-timeout"),
        Some("5")
    );
}

#[tokio::test]
async fn the_key_never_appears_in_debug_or_error_output() {
    const KEY: &str = "fal-secret-key-0123456789";
    let server = echo_mock().require_key(KEY).start().await.unwrap();
    let builder = server.client_builder().key(KEY);
    assert!(!format!("{builder:?}").contains(KEY));
    let client = builder.build().unwrap();
    assert!(!format!("{client:?}").contains(KEY), "{client:?}");

    let mut outputs = Vec::new();
    // An error body that echoes the key (a misbehaving proxy) is scrubbed.
    server.inject(
        Operation::Submit,
        Fault::Respond {
            status: 400,
            headers: vec![],
            body: format!(r#"{{"detail": "bad header Key {KEY}"}}"#),
        },
    );
    server.inject(Operation::Result, Fault::MalformedBody);
    let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert!(api.body_excerpt.contains("<redacted>"));
    outputs.push(format!("{err} {err:?}"));
    let handle = client.submit(&EchoInput::new("x")).await.unwrap();
    outputs.push(format!(
        "{handle:?} {}",
        serde_json::to_string(&handle).unwrap()
    ));
    let err = client.result(&handle).await.unwrap_err();
    outputs.push(format!("{err} {err:?}"));
    server.inject(Operation::Submit, Fault::ResetAfterHandling);
    let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
    outputs.push(format!("{err} {err:?}"));
    for output in outputs {
        assert!(!output.contains(KEY), "key leaked: {output}");
    }
    // A rejected key is the wrong client's own secret: a server echoing it (raw, JSON-escaped,
    // in a header) must not put it into that client's error either.
    const WRONG: &str = r#"wrong-"key"-4471"#;
    // (A server that accepts any key, so the injected answer is what comes back.)
    let echoing = echo_mock().start().await.unwrap();
    let wrong = echoing.client_builder().key(WRONG).build().unwrap();
    let escaped = serde_json::to_string(WRONG).unwrap();
    echoing.inject(
        Operation::Submit,
        Fault::Respond {
            status: 401,
            headers: vec![("x-fal-error-type".into(), WRONG.into())],
            body: format!(r#"{{"detail": "unknown key {escaped}", "error_type": {escaped}}}"#),
        },
    );
    let err = wrong.submit(&EchoInput::new("x")).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("<redacted>"),
        "the echo reached the error: {shown}"
    );
    let json_form = &escaped[1..escaped.len() - 1];
    assert!(
        !shown.contains(WRONG) && !shown.contains(json_form),
        "rejected key leaked: {shown}"
    );
}

// Redaction of credential fields in generated `Debug` is tested on compiled golden code
// (tests/golden_compile.rs, `secrets_are_redacted_in_debug`): no endpoint of the real catalogue
// has such a field (the hand-written Sora 2 seed had `api_key`, fal's document does not).

#[tokio::test]
async fn a_field_context_is_kept_and_never_shows_the_key() {
    use axum::response::IntoResponse;
    const KEY: &str = "fal-key-K0123456789abcdef";
    // The key's `K` as a JSON escape, which only decoding the body reveals.
    let body = r#"{"detail": [
        {"loc": ["body", "prompt"], "msg": "bad value", "type": "value_error",
         "ctx": {"given": "fal-key-\u004B0123456789abcdef"}},
        {"loc": ["body", "seed"], "msg": "too big", "type": "less_than", "ctx": {"lt": 10}}
    ]}"#;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move || async move {
        (
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            [("content-type", "application/json")],
            body,
        )
            .into_response()
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = fal_models::Client::builder()
        .key(KEY)
        .queue_url(&base)
        .build()
        .unwrap();
    let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
    let fields = err.validation_errors();
    assert_eq!(fields.len(), 2, "{err:?}");
    // Scrubbed (or dropped, when only its decoded form shows the key).
    assert!(!format!("{:?}", fields[0]).contains(KEY), "{:?}", fields[0]);
    assert_eq!(fields[1].ctx, Some(serde_json::json!({"lt": 10})));
    assert!(!format!("{err} {err:?}").contains(KEY), "{err:?}");
}
