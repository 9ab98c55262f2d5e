//! A cancel whose first answer was lost: the retry hears `ALREADY_COMPLETED`, and the status
//! says a plain `COMPLETED` (no cancellation marker). The first attempt may have done the
//! cancelling, so the client must not claim `AlreadyCompleted`.

mod fault_proxy;

use axum::http::StatusCode;
use axum::routing::{get, put};
use fal_models::client::{CancelOutcome, Client, RequestHandle, RetryPolicy};
use fault_proxy::{Action, FaultProxy};

async fn queue(status: &'static str) -> String {
    let app = axum::Router::new()
        .route(
            "/acme/video/requests/{id}/cancel",
            put(|| async { (StatusCode::BAD_REQUEST, r#"{"status":"ALREADY_COMPLETED"}"#) }),
        )
        .route(
            "/acme/video/requests/{id}/status",
            get(move || async move { ([("content-type", "application/json")], status) }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

async fn cancel_after_a_lost_answer(status: &'static str) -> (CancelOutcome, Vec<String>) {
    let upstream = queue(status).await;
    // The first cancel reaches the queue and its answer is lost.
    let proxy = FaultProxy::start(upstream, |n, seen| {
        if n == 0 && seen.method == "PUT" {
            Action::ResetAfter
        } else {
            Action::Forward
        }
    })
    .await;
    let client = Client::builder()
        .key("k-123456")
        .queue_url(&proxy.url)
        .retry(RetryPolicy::default().initial_backoff(std::time::Duration::from_millis(5)))
        .build()
        .unwrap();
    let handle = RequestHandle::<serde_json::Value>::new("acme/video", "req-1");
    let outcome = client.cancel(&handle).await.unwrap();
    let seen = proxy
        .seen()
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect();
    (outcome, seen)
}

#[tokio::test]
async fn a_lost_cancel_answer_then_a_plain_completed_says_it_may_have_applied() {
    let (outcome, seen) = cancel_after_a_lost_answer(r#"{"status":"COMPLETED"}"#).await;
    assert_eq!(outcome, CancelOutcome::MayHaveApplied, "{seen:?}");
    assert_eq!(seen.len(), 3, "cancel, cancel again, status: {seen:?}");
}

#[tokio::test]
async fn a_lost_cancel_answer_then_a_cancelled_status_says_requested() {
    let (outcome, _) = cancel_after_a_lost_answer(
        r#"{"status":"COMPLETED","error":"Request was cancelled","error_type":"request_cancelled"}"#,
    )
    .await;
    assert_eq!(outcome, CancelOutcome::Requested);
}

/// Either cancellation marker alone is enough: fal's `error_type` `request_cancelled` with any
/// error text, or an error text saying "cancelled" with no `error_type`. (cargo mutants:
/// requiring both markers survived the test above, which sends both.)
#[tokio::test]
async fn a_lost_cancel_answer_then_either_cancellation_marker_alone_says_requested() {
    for status in [
        r#"{"status":"COMPLETED","error":"Job stopped","error_type":"request_cancelled"}"#,
        r#"{"status":"COMPLETED","error_type":"request_cancelled"}"#,
        r#"{"status":"COMPLETED","error":"Request was CANCELLED by the user"}"#,
    ] {
        let (outcome, seen) = cancel_after_a_lost_answer(status).await;
        assert_eq!(outcome, CancelOutcome::Requested, "{status}: {seen:?}");
    }
}
