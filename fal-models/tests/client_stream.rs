//! Streaming endpoints over loopback: partial outputs then the typed output, faults (a paid
//! call is not replayed, an ingress error is, a silent stream times out with its request id),
//! the connection closed when the stream is dropped, bad inputs, and the bundled example; and
//! binary streams (`stream_bytes`): raw chunks as they arrive with their type and request id,
//! the same faults and bounds, `stream` refusing a binary answer with a typed error, and no key
//! or token in their errors.

mod client_common;

#[allow(dead_code)] // `main` is for `cargo run --example`
#[path = "../examples/stream.rs"]
mod stream_example;

#[allow(dead_code)] // `main` is for `cargo run --example`
#[path = "../examples/stream_audio.rs"]
mod stream_audio_example;

use std::time::Duration;

use client_common::{ECHO_ID, EchoInput, echo_mock, expected_output};
use fal_models::Error;
use fal_models::client::{StreamEvent, StreamOptions};
use fal_models::error::{Operation, TimeoutKind};
use fal_models::mock::{BINARY_CHUNK_LEN, DEFAULT_BINARY_CHUNKS, Fault, MockServer};
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
    // 3 s: the bound covers connecting, the server's validation and the first partial too,
    // which a loaded machine can take half a second for; the 30 s interval keeps the second
    // partial well past it.
    let options = StreamOptions::default().total(Some(Duration::from_secs(3)));
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

// ---- Binary streams (`stream_bytes`): raw chunks as they arrive. ----

/// The chunks' bytes joined, checked against the mock's numbered chunks.
fn assert_mock_chunks(body: &[u8], n: usize) {
    assert_eq!(body.len(), n * BINARY_CHUNK_LEN, "every byte arrived once");
    for (i, chunk) in body.chunks(BINARY_CHUNK_LEN).enumerate() {
        let line = format!("fal-mock chunk {}/{n}\n", i + 1);
        assert!(chunk.starts_with(line.as_bytes()), "chunk {i} out of order");
    }
}

#[tokio::test]
async fn bytes_arrive_in_chunks_with_their_content_type_and_request_id() {
    let server = MockServer::builder()
        .endpoint("fal-ai/maya/stream", json!({}))
        .binary_stream("fal-ai/maya/stream", "audio/mpeg", 5)
        .stream_interval(Duration::from_millis(30))
        .start()
        .await
        .unwrap();
    let options = StreamOptions::default().accept("audio/mpeg");
    let mut audio = server.client().stream_bytes_json_with(
        "fal-ai/maya/stream",
        json!({"text": "hi"}),
        options,
    );
    assert_eq!(
        audio.request_id(),
        None,
        "nothing is sent before the first poll"
    );
    let mut chunks = Vec::new();
    while let Some(chunk) = audio.next().await {
        chunks.push(chunk.unwrap());
    }
    // The mock sends five chunks 30 ms apart; transport may split one, never join them all.
    assert!(chunks.len() >= 2, "{} chunks", chunks.len());
    assert_mock_chunks(&chunks.concat(), 5);
    assert_eq!(audio.content_type(), Some("audio/mpeg"));
    assert!(
        audio
            .request_id()
            .is_some_and(|id| id.contains("6d6f-636b")),
        "{:?}",
        audio.request_id()
    );
    let requests = server.requests();
    assert_eq!(server.count(Operation::Stream), 1);
    assert_eq!(requests[0].path, "/fal-ai/maya/stream");
    assert_eq!(requests[0].header("accept"), Some("audio/mpeg"));
    assert_eq!(requests[0].json(), Some(json!({"text": "hi"})));
}

#[tokio::test]
async fn the_mock_streams_bytes_of_the_type_a_request_accepts() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    // A typed input, an `Accept` naming a binary type: the mock's default chunks.
    let options = StreamOptions::default().accept("audio/wav");
    let mut audio = client.stream_bytes_with(&EchoInput::new("a cat"), options);
    let mut body = Vec::new();
    while let Some(chunk) = audio.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    assert_mock_chunks(&body, DEFAULT_BINARY_CHUNKS);
    assert_eq!(audio.content_type(), Some("audio/wav"));

    // The default `Accept: */*` on an event stream: its raw bytes, typed as what they are.
    let mut raw = client.stream_bytes(&EchoInput::new("a cat"));
    let mut body = Vec::new();
    while let Some(chunk) = raw.next().await {
        body.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(raw.content_type(), Some("text/event-stream"));
    assert!(
        body.starts_with(b"data: {"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(server.requests()[1].header("accept"), Some("*/*"));
}

#[tokio::test]
async fn a_chunk_is_handed_on_before_the_next_one_is_sent() {
    // The server sends its second chunk only after the test saw the first: a client that
    // buffered the body would wait forever (the bound below then fails the test).
    let (seen_tx, seen_rx) = tokio::sync::oneshot::channel::<()>();
    let url = chunked_server(move |mut socket| async move {
        write_chunk(&mut socket, b"first").await;
        let _ = seen_rx.await;
        write_chunk(&mut socket, b"second").await;
        let _ = socket.write_all(b"0\r\n\r\n").await;
        hold_open(&mut socket).await;
    })
    .await;
    let client = raw_client(&url);
    let mut audio = client.stream_bytes_json("acme/x", json!({}));
    let first = tokio::time::timeout(Duration::from_secs(60), audio.next())
        .await
        .expect("the first chunk arrived on its own");
    assert_eq!(first.unwrap().unwrap(), &b"first"[..]);
    assert_eq!(audio.request_id(), Some("raw-1"));
    assert_eq!(audio.content_type(), Some("audio/pcm"));
    seen_tx.send(()).unwrap();
    assert_eq!(audio.next().await.unwrap().unwrap(), &b"second"[..]);
    assert!(audio.next().await.is_none());
}

#[tokio::test]
async fn a_silent_byte_stream_ends_with_an_idle_timeout_naming_the_request() {
    let server = echo_mock()
        .binary_stream(ECHO_ID, "audio/mpeg", 3)
        .stream_interval(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    // A generous bound: the first chunk must still arrive within it on a loaded machine.
    let options = StreamOptions::default().idle(Some(Duration::from_secs(1)));
    let mut audio = server
        .client()
        .stream_bytes_with(&EchoInput::new("a cat"), options);
    let first = audio.next().await.unwrap().unwrap();
    assert!(first.starts_with(b"fal-mock chunk 1/3"));
    let err = audio.next().await.unwrap().unwrap_err();
    match &err {
        Error::Timeout {
            kind: TimeoutKind::Idle,
            request_id: Some(id),
            ..
        } => assert_eq!(Some(id.as_str()), audio.request_id()),
        other => panic!("expected an idle timeout, got {other:?}"),
    }
    assert!(audio.next().await.is_none(), "nothing after the error");
    assert_eq!(server.count(Operation::Stream), 1, "not resent");
}

#[tokio::test]
async fn a_total_bound_ends_a_byte_stream_that_keeps_talking() {
    let server = echo_mock()
        .binary_stream(ECHO_ID, "audio/mpeg", 3)
        .stream_interval(Duration::from_secs(60))
        .start()
        .await
        .unwrap();
    // No idle bound; the total (generous, so that the first chunk arrives within it on a
    // loaded machine) ends the 60 s wait for the second.
    let options = StreamOptions::default()
        .idle(None)
        .total(Some(Duration::from_secs(3)));
    let mut audio = server
        .client()
        .stream_bytes_with(&EchoInput::new("a cat"), options);
    assert!(audio.next().await.unwrap().is_ok());
    let err = audio.next().await.unwrap().unwrap_err();
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
    assert!(audio.next().await.is_none());
}

#[tokio::test]
async fn a_byte_stream_is_not_resent_after_the_app_may_have_seen_it() {
    let server = echo_mock()
        .binary_stream(ECHO_ID, "audio/mpeg", 2)
        .start()
        .await
        .unwrap();
    let client = server.client();
    server.inject(Operation::Stream, Fault::ServerError(503));
    let err = client
        .stream_bytes(&EchoInput::new("a cat"))
        .next()
        .await
        .unwrap()
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
    let chunks: Vec<_> = client
        .stream_bytes(&EchoInput::new("a cat"))
        .collect()
        .await;
    let body: Vec<u8> = chunks
        .into_iter()
        .map(Result::unwrap)
        .collect::<Vec<_>>()
        .concat();
    assert_mock_chunks(&body, 2);
    assert_eq!(
        server.count(Operation::Stream),
        2,
        "the ingress answered before the app: resent once"
    );

    // A bad input is fal's 422, nothing streams.
    let err = client
        .stream_bytes_json(ECHO_ID, json!({"duration": 5}))
        .next()
        .await
        .unwrap()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Api(api) if api.status == 422),
        "{err:?}"
    );
}

#[tokio::test]
async fn dropping_a_byte_stream_closes_the_connection() {
    let (closed_tx, closed_rx) = tokio::sync::oneshot::channel();
    let url = chunked_server(move |mut socket| async move {
        write_chunk(&mut socket, b"one chunk, then silence").await;
        // The stream stays open: only the client can end it now.
        hold_open(&mut socket).await;
        let _ = closed_tx.send(());
    })
    .await;
    let client = raw_client(&url);
    let mut audio = client.stream_bytes_json("acme/x", json!({}));
    assert_eq!(
        audio.next().await.unwrap().unwrap(),
        &b"one chunk, then silence"[..]
    );
    drop(audio);
    tokio::time::timeout(Duration::from_secs(30), closed_rx)
        .await
        .expect("the server saw the connection close")
        .unwrap();
}

#[tokio::test]
async fn stream_refuses_a_binary_answer_with_a_typed_error_and_sends_once() {
    let server = echo_mock()
        .binary_stream(ECHO_ID, "audio/mpeg", 3)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let mut events = client.stream(&EchoInput::new("a cat"));
    let err = events.next().await.unwrap().unwrap_err();
    match &err {
        Error::UnexpectedContentType {
            operation: Operation::Stream,
            request_id: Some(id),
            content_type,
        } => {
            assert_eq!(content_type, "audio/mpeg");
            assert_eq!(Some(id.as_str()), events.request_id());
            assert_eq!(err.request_id(), Some(id.as_str()));
        }
        other => panic!("expected UnexpectedContentType, got {other:?}"),
    }
    assert!(err.to_string().contains("stream_bytes"), "{err}");
    assert!(events.next().await.is_none());
    assert_eq!(server.count(Operation::Stream), 1, "not resent");

    // An `Accept` the mock answers in binary, on `stream_json`: the same error.
    let options = StreamOptions::default().accept("audio/wav");
    let plain = echo_mock().start().await.unwrap();
    let err = plain
        .client()
        .stream_json_with(ECHO_ID, json!({"prompt": "a cat"}), options)
        .output()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnexpectedContentType { content_type, .. } if content_type == "audio/wav"),
        "{err:?}"
    );
}

#[tokio::test]
async fn byte_stream_errors_show_no_key_or_token() {
    const KEY: &str = "marker-key-5c1d";
    const TOKEN: &str = "marker-token-9e2b";
    // Echoes the whole request (its URL holds the token, its head the key) in a 400, or cuts
    // a binary body short after one chunk.
    let url = echo_or_cut_server().await;
    let with_key = fal_models::Client::builder()
        .key(KEY)
        .run_url(&url)
        .build()
        .unwrap();
    let with_token = fal_models::Client::builder()
        .temporary_token(fal_models::client::TemporaryToken::new(TOKEN))
        .run_url(&url)
        .build()
        .unwrap();
    let mut errors = Vec::new();
    for client in [&with_key, &with_token] {
        for id in ["acme/echo", "acme/cut"] {
            let items: Vec<_> = client.stream_bytes_json(id, json!({})).collect().await;
            errors.extend(items.into_iter().filter_map(Result::err));
        }
    }
    assert_eq!(errors.len(), 4, "{errors:?}");
    // `stream` refusing an answer whose content type echoes the secrets; `stream_bytes`
    // showing that type.
    let mut shown = Vec::new();
    for client in [&with_key, &with_token] {
        let items: Vec<_> = client.stream_json("acme/typed", json!({})).collect().await;
        errors.extend(items.into_iter().filter_map(Result::err));
        let mut bytes = client.stream_bytes_json("acme/typed", json!({}));
        assert_eq!(bytes.next().await.unwrap().unwrap(), &b"hello"[..]);
        let content_type = bytes.content_type().unwrap().to_owned();
        assert!(content_type.starts_with("audio/x-echo"), "{content_type}");
        shown.push(format!("{content_type} {bytes:?}"));
    }
    assert!(
        matches!(&errors[4], Error::UnexpectedContentType { .. }),
        "{:?}",
        errors[4]
    );
    // The echo reached the errors: the scrubber had something to remove.
    for err in [&errors[0], &errors[2], &errors[4], &errors[5]] {
        assert!(format!("{err:?}").contains("<redacted>"), "{err:?}");
    }
    for text in &shown {
        assert!(text.contains("<redacted>"), "{text}");
        assert!(!text.contains(KEY) && !text.contains(TOKEN), "{text}");
    }
    assert!(matches!(&errors[0], Error::Api(api) if api.status == 400));
    assert!(
        matches!(&errors[1], Error::Transport { .. }),
        "{:?}",
        errors[1]
    );
    for err in &errors {
        let mut text = format!("{err} {err:?}");
        let mut source = std::error::Error::source(err);
        while let Some(s) = source {
            text.push_str(&format!(" {s} {s:?}"));
            source = s.source();
        }
        assert!(!text.contains(KEY) && !text.contains(TOKEN), "{text}");
    }
}

/// A client of a raw test server (any key; retries as by default).
fn raw_client(url: &str) -> fal_models::Client {
    fal_models::Client::builder()
        .key("k")
        .run_url(url)
        .build()
        .unwrap()
}

/// A server that reads one request per connection, sends a chunked `audio/pcm` head with
/// request id `raw-1`, then lets `body` write the chunks.
async fn chunked_server<F, Fut>(body: F) -> String
where
    F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        read_request(&mut socket).await;
        let head = "HTTP/1.1 200 OK\r\ncontent-type: audio/pcm\r\nx-fal-request-id: raw-1\r\ntransfer-encoding: chunked\r\n\r\n";
        socket.write_all(head.as_bytes()).await.unwrap();
        body(socket).await;
    });
    url
}

async fn write_chunk(socket: &mut tokio::net::TcpStream, data: &[u8]) {
    let mut frame = format!("{:x}\r\n", data.len()).into_bytes();
    frame.extend_from_slice(data);
    frame.extend_from_slice(b"\r\n");
    socket.write_all(&frame).await.unwrap();
}

/// Reads until the client closes the connection.
async fn hold_open(socket: &mut tokio::net::TcpStream) {
    let mut buf = [0u8; 1024];
    while let Ok(n) = socket.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
}

/// `/acme/echo/stream`: a 400 whose JSON detail and headers echo the request head (URL and
/// key); `/acme/typed/stream`: a 200 whose content type echoes them; `/acme/cut/stream`: a
/// binary head, one chunk, then the connection breaks.
async fn echo_or_cut_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let request = read_request(&mut socket).await;
            let head = String::from_utf8_lossy(&request).into_owned();
            let head = head.split("\r\n\r\n").next().unwrap_or("").to_owned();
            if head.starts_with("POST /acme/typed/stream") {
                // The key and the token (in the request line) in the content type.
                let auth = head
                    .lines()
                    .find_map(|l| l.strip_prefix("authorization: "))
                    .unwrap_or("");
                let line = head.lines().next().unwrap_or("");
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: audio/x-echo; auth=\"{auth}\"; line=\"{line}\"\r\nx-fal-request-id: raw-1\r\ncontent-length: 5\r\nconnection: close\r\n\r\nhello"
                );
                let _ = socket.write_all(answer.as_bytes()).await;
                let _ = socket.shutdown().await;
                continue;
            }
            if head.starts_with("POST /acme/cut/stream") {
                let answer = "HTTP/1.1 200 OK\r\ncontent-type: audio/mpeg\r\nx-fal-request-id: raw-1\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n";
                let _ = socket.write_all(answer.as_bytes()).await;
                tokio::time::sleep(Duration::from_millis(50)).await;
                drop(socket); // no terminating chunk: a broken body
                continue;
            }
            let detail = serde_json::to_string(&json!({ "detail": head })).unwrap();
            let echoed_line = head.lines().next().unwrap_or("").to_owned();
            let answer = format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\nx-fal-request-id: raw-1\r\nx-echo: {echoed_line}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{detail}",
                detail.len()
            );
            let _ = socket.write_all(answer.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
    });
    url
}

#[tokio::test]
async fn the_audio_stream_example_writes_every_chunk_to_its_file() {
    // fal's maya/stream document from the corpus (`FAL_CORPUS_DIR`, required when set), so
    // the example's input passes fal's validation; without a corpus, any input is accepted.
    let root = std::env::var_os("FAL_CORPUS_DIR").filter(|v| !v.is_empty());
    let required = root.is_some();
    let doc = root
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fal-corpus")
        })
        .join("docs/fal-ai__maya__stream.json");
    let builder = if doc.is_file() {
        MockServer::builder().schema_file(&doc).unwrap()
    } else {
        assert!(
            !required,
            "FAL_CORPUS_DIR is set but {} is absent",
            doc.display()
        );
        eprintln!(
            "no corpus at {}: the example's input is not validated",
            doc.display()
        );
        MockServer::builder().endpoint("fal-ai/maya/stream", json!({}))
    };
    let server = builder
        .binary_stream("fal-ai/maya/stream", "audio/mpeg", 6)
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("speech.mp3");
    let streamed = stream_audio_example::run(&server.client(), &path)
        .await
        .unwrap();
    assert_eq!(streamed.bytes, 6 * BINARY_CHUNK_LEN as u64);
    assert!(streamed.chunks >= 2, "{streamed:?}");
    assert_eq!(streamed.content_type.as_deref(), Some("audio/mpeg"));
    assert!(streamed.request_id.is_some());
    assert_mock_chunks(&std::fs::read(&path).unwrap(), 6);
    if doc.is_file() {
        // The document is what judged the example's input: without `prompt` it is refused.
        let err = server
            .client()
            .stream_bytes_json("fal-ai/maya/stream", json!({"text": "hi"}))
            .next()
            .await
            .unwrap()
            .unwrap_err();
        assert!(
            matches!(&err, Error::Api(api) if api.status == 422),
            "{err:?}"
        );
    }
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

/// fal runs a request up to its app's `request_timeout` (one hour by default) and a model may
/// pause between partials; the default bound must not cut such a stream (fal-js declares 15 s
/// but never enforces it; Python has none). Paused time: the 20 s pauses pass at once.
#[tokio::test(start_paused = true)]
async fn the_default_bound_keeps_a_stream_that_pauses_between_chunks() {
    let server = echo_mock()
        .binary_stream(ECHO_ID, "audio/mpeg", 3)
        .stream_interval(Duration::from_secs(20))
        .start()
        .await
        .unwrap();
    let mut audio = server.client().stream_bytes(&EchoInput::new("a cat"));
    let mut chunks = 0;
    while let Some(chunk) = audio.next().await {
        chunk.expect("no idle timeout for a 20 s pause");
        chunks += 1;
    }
    assert_eq!(chunks, 3);
    assert_eq!(
        StreamOptions::default().idle,
        Some(fal_models::client::stream::DEFAULT_STREAM_IDLE)
    );
}

#[tokio::test]
async fn a_token_provider_client_streams_with_a_token_for_the_stream_route() {
    let server = echo_mock().start().await.unwrap();
    let backend = server
        .client_builder()
        .rest_url(server.rest_url())
        .build()
        .unwrap();
    let asked = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = asked.clone();
    let provider = fal_models::client::TokenProvider::new(None, move |app: String| {
        seen.lock().unwrap().push(app.clone());
        let backend = backend.clone();
        async move { backend.mint_token(&[&app], Duration::from_secs(60)).await }
    });
    let client = fal_models::Client::builder()
        .token_provider(provider)
        .run_url(server.run_url())
        .build()
        .unwrap();
    let out = client.stream(&EchoInput::new("a")).output().await.unwrap();
    assert_eq!(out, expected_output());
    assert_eq!(
        asked.lock().unwrap().as_slice(),
        [format!("{ECHO_ID}/stream")]
    );
    let sent = server
        .requests()
        .into_iter()
        .find(|r| r.operation == Some(Operation::Stream))
        .unwrap();
    assert_eq!(sent.header("authorization"), None, "no key, a token");
}
