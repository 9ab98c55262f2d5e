//! `client.status(&handle, Logs::Include)` says what it asks for; a `bool` still converts, so
//! `status(&handle, true)` keeps working.

use fal_models::client::Logs;
use fal_models::error::Operation;
use fal_models::mock::MockServer;
use serde_json::json;

#[tokio::test]
async fn logs_include_asks_for_the_lines_and_omit_does_not() {
    let server = MockServer::builder()
        .endpoint("test/echo", json!({"ok": true}))
        .queue_steps(0)
        .progress_steps(3)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let handle = client
        .submit_json("test/echo", &json!({}), &Default::default())
        .await
        .unwrap();
    let without = client.status(&handle, Logs::Omit).await.unwrap();
    assert!(without.logs.is_empty());
    let with = client.status(&handle, Logs::Include).await.unwrap();
    assert!(!with.logs.is_empty(), "{with:?}");
    client.status(&handle, true).await.unwrap();
    let queries: Vec<_> = server
        .requests()
        .iter()
        .filter(|r| r.operation == Some(Operation::Status))
        .map(|r| r.query.clone())
        .collect();
    assert_eq!(
        queries,
        [None, Some("logs=1".to_owned()), Some("logs=1".to_owned())]
    );
}
