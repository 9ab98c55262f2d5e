//! Streaming endpoints over loopback: partial outputs then the typed output, faults (a paid
//! call is not replayed, an ingress error is, a silent stream times out with its request id),
//! the connection closed when the stream is dropped, bad inputs, and the bundled example.

mod client_common;

#[allow(dead_code)] // `main` is for `cargo run --example`
#[path = "../examples/stream.rs"]
mod stream_example;

use std::time::Duration;

use client_common::{ECHO_ID, EchoInput, echo_mock, expected_output};
use fal_models::Error;
use fal_models::client::{StreamEvent, StreamOptions};
use fal_models::error::{Operation, TimeoutKind};
use fal_models::mock::{Fault, MockServer};
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn typed_stream_yields_partials_then_the_output() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    let mut events = client.stream(&EchoInput::new("a cat"));
    assert_eq!(
        events.request_id(),
        None,
        "nothing is sent before the first poll"
    );
    let mut partials = Vec::new();
    let mut done = None;
    while let Some(event) = events.next().await {
        match event.unwrap() {
            StreamEvent::Partial(p) => partials.push(p),
            StreamEvent::Done(out) => done = Some(out),
        }
    }
    assert_eq!(done, Some(expected_output()));
    // The example output has two fields: one partial with the first, then the whole output.
    assert_eq!(partials.len(), 2, "{partials:?}");
    assert_eq!(partials[0].as_object().unwrap().len(), 1);
    assert_eq!(
        partials[1],
        json!({"video": {"url": "https://example.com/out.mp4"}, "seed": 42})
    );
    assert!(
        events
            .request_id()
            .is_some_and(|id| id.contains("6d6f-636b"))
    );

    let requests = server.requests();
    assert_eq!(server.count(Operation::Stream), 1);
    let sent = &requests[0];
    assert_eq!(sent.path, format!("/{ECHO_ID}/stream"));
    assert_eq!(sent.header("accept"), Some("text/event-stream"));
    assert_eq!(sent.json(), Some(json!({"prompt": "a cat"})));
}

#[tokio::test]
async fn output_skips_partials_and_ids_ending_in_stream_are_used_as_is() {
    let server = MockServer::builder()
        .endpoint(
            "fal-ai/maya/stream",
            json!({"audio": {"url": "https://x/a.mp3"}}),
        )
        .start()
        .await
        .unwrap();
    let out = server
        .client()
        .stream_json("fal-ai/maya/stream", json!({"text": "hello"}))
        .output()
        .await
        .unwrap();
    assert_eq!(out, json!({"audio": {"url": "https://x/a.mp3"}}));
    assert_eq!(server.requests()[0].path, "/fal-ai/maya/stream");
}

#[tokio::test]
async fn a_server_error_is_not_replayed_but_an_ingress_error_is() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();

    server.inject(Operation::Stream, Fault::ServerError(503));
    let err = client
        .stream(&EchoInput::new("a cat"))
        .output()
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::AmbiguousSubmit {
                status: Some(503),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        server.count(Operation::Stream),
        1,
        "a paid call is not resent"
    );

    server.clear_requests();
    server.inject(Operation::Stream, Fault::IngressError(503));
    let out = client
        .stream(&EchoInput::new("a cat"))
        .output()
        .await
        .unwrap();
    assert_eq!(out, expected_output());
    assert_eq!(
        server.count(Operation::Stream),
        2,
        "the ingress answered before the app: resent once"
    );
}

#[tokio::test]
async fn a_silent_stream_ends_with_an_idle_timeout_naming_the_request() {
    let server = echo_mock().start().await.unwrap();
    server.inject(Operation::Stream, Fault::SlowBody(Duration::from_secs(20)));
    let options = StreamOptions::default().idle(Some(Duration::from_millis(300)));
    let mut events = server
        .client()
        .stream_json_with(ECHO_ID, json!({"prompt": "a cat"}), options);
    let mut seen = 0;
    let err = loop {
        match events.next().await.expect("the stream ends with an error") {
            Ok(_) => seen += 1,
            Err(e) => break e,
        }
    };
    assert!(seen <= 1, "only the first half of the body arrived");
    match err {
        Error::Timeout {
            kind: TimeoutKind::Idle,
            request_id: Some(id),
            ..
        } => {
            assert_eq!(Some(id.as_str()), events.request_id());
        }
        other => panic!("expected an idle timeout, got {other:?}"),
    }
    assert!(events.next().await.is_none(), "nothing after the error");
}

#[tokio::test]
async fn a_total_bound_ends_a_stream_that_keeps_talking() {
    let server = echo_mock()
        .stream_interval(Duration::from_secs(30))
        .start()
        .await
        .unwrap();
    let options = StreamOptions::default().total(Some(Duration::from_millis(500)));
    let mut events = server
        .client()
        .stream_with(&EchoInput::new("a cat"), options);
    assert!(matches!(
        events.next().await,
        Some(Ok(StreamEvent::Partial(_)))
    ));
    let err = events.next().await.unwrap().unwrap_err();
    assert!(
        matches!(
            err,
            Error::Timeout {
                kind: TimeoutKind::Http,
                request_id: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn bad_inputs_get_fal_errors_and_nothing_streams() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    let err = client
        .stream_json(ECHO_ID, json!({"duration": 5}))
        .output()
        .await
        .unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, 422);
    let fields: Vec<String> = api.fields.iter().map(|f| f.field()).collect();
    assert!(fields.iter().any(|f| f.contains("prompt")), "{fields:?}");

    let err = client
        .stream_json("acme/unknown", json!({}))
        .output()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api(api) if api.status == 404),
        "{err:?}"
    );

    // A local file without the opt-in is refused before anything is sent.
    let requests = server.requests().len();
    let input = json!({"prompt": fal_models::files::local("/etc/hostname")});
    let err = client
        .stream_json(ECHO_ID, input)
        .output()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::LocalFileNotAllowed { .. }), "{err:?}");
    assert_eq!(server.requests().len(), requests);
}

#[tokio::test]
async fn a_malformed_event_is_a_decode_error_with_the_request_id() {
    let (url, _server) =
        raw_server(|_| async move { b"data: {\"partial\": 1}\n\ndata: {not json\n\n".to_vec() })
            .await;
    let client = fal_models::Client::builder()
        .key("k")
        .run_url(&url)
        .build()
        .unwrap();
    let mut events = client.stream_json("acme/x", json!({}));
    assert!(matches!(
        events.next().await,
        Some(Ok(StreamEvent::Partial(_)))
    ));
    let err = events.next().await.unwrap().unwrap_err();
    assert!(
        matches!(&err, Error::Decode { operation: Operation::Stream, request_id: Some(id), .. } if id == "raw-1"),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_event_that_never_ends_is_cut_at_the_size_bound() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counter = sent.clone();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        read_request(&mut socket).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-fal-request-id: raw-1\r\nconnection: close\r\n\r\ndata: \"";
        socket.write_all(head.as_bytes()).await.unwrap();
        // 1 MiB at a time of one string that never closes, up to 128 MiB.
        let block = vec![b'a'; 1 << 20];
        for _ in 0..128 {
            if socket.write_all(&block).await.is_err() {
                return;
            }
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let client = fal_models::Client::builder()
        .key("k")
        .run_url(&url)
        .build()
        .unwrap();
    let err = client
        .stream_json("acme/x", json!({}))
        .output()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::BodyTooLarge { operation: Operation::Stream, request_id: Some(id), .. } if id == "raw-1"),
        "{err:?}"
    );
    assert!(
        sent.load(std::sync::atomic::Ordering::Relaxed) < 128,
        "the client stopped reading before the server was done"
    );
}

#[tokio::test]
async fn dropping_the_stream_closes_the_connection() {
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        read_request(&mut socket).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nx-fal-request-id: raw-1\r\ntransfer-encoding: chunked\r\n\r\n";
        let event = "data: {\"n\": 1}\n\n";
        let chunk = format!("{head}{:x}\r\n{event}\r\n", event.len());
        socket.write_all(chunk.as_bytes()).await.unwrap();
        // The stream stays open: only the client can end it now.
        let mut buf = [0u8; 1024];
        let closed = loop {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break true,
                Ok(_) => continue,
            }
        };
        let _ = closed_tx.send(closed);
    });
    let client = fal_models::Client::builder()
        .key("k")
        .run_url(&url)
        .build()
        .unwrap();
    let mut events = client.stream_json("acme/x", json!({}));
    assert_eq!(
        events.next().await.unwrap().unwrap(),
        StreamEvent::Partial(json!({"n": 1}))
    );
    drop(events);
    let closed = tokio::time::timeout(Duration::from_secs(30), closed_rx)
        .await
        .expect("the server saw the connection close")
        .unwrap();
    assert!(closed);
}

#[tokio::test]
async fn a_plain_json_answer_is_the_output() {
    let (url, _server) = raw_server(|_| async move { b"{\"text\": \"whole\"}".to_vec() }).await;
    let client = fal_models::Client::builder()
        .key("k")
        .run_url(&url)
        .build()
        .unwrap();
    // `raw_server` answers `application/json` when the body does not start with `data:`.
    let events: Vec<_> = client.stream_json("acme/x", json!({})).collect().await;
    let events: Vec<StreamEvent<Value>> = events.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        events,
        [
            StreamEvent::Partial(json!({"text": "whole"})),
            StreamEvent::Done(json!({"text": "whole"}))
        ]
    );
}

#[tokio::test]
async fn the_stream_example_runs_against_the_mock() {
    let server = MockServer::builder()
        .endpoint(
            "fal-ai/flux-krea-lora",
            json!({"images": [{"url": "https://x/fox.png"}], "seed": 7, "prompt": "a fox"}),
        )
        .start()
        .await
        .unwrap();
    let (partials, output) = stream_example::run(&server.client()).await.unwrap();
    assert_eq!(partials, 3);
    assert_eq!(output["images"][0]["url"], "https://x/fox.png");
}

/// Reads one request's head and body (by Content-Length).
async fn read_request(socket: &mut tokio::net::TcpStream) -> Vec<u8> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = socket.read(&mut buf).await.unwrap();
        if n == 0 {
            return data;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if data.len() >= end + 4 + length {
                return data;
            }
        }
    }
}

/// A one-connection-at-a-time server answering every request with `body` (as an event stream
/// when it starts with `data:`, else as JSON), request id `raw-1`.
async fn raw_server<F, Fut>(body: F) -> (String, tokio::task::JoinHandle<()>)
where
    F: Fn(Vec<u8>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Vec<u8>> + Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let request = read_request(&mut socket).await;
            let body = body(request).await;
            let kind = if body.starts_with(b"data:") {
                "text/event-stream"
            } else {
                "application/json"
            };
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {kind}\r\nx-fal-request-id: raw-1\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&body).await;
            let _ = socket.shutdown().await;
        }
    });
    (url, task)
}
