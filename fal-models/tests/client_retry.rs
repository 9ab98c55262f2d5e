//! Retries over real HTTP: which failures are retried (and how often), `Retry-After`, the
//! start-deadline 504 that must not be retried, and submits that must not be replayed.

mod client_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use client_common::*;
use fal_models::client::RetryPolicy;
use fal_models::error::{Operation, TimeoutKind};
use fal_models::mock::{Fault, MockServer};
use fal_models::{Client, Error};

async fn completed_job(
    server: &MockServer,
    client: &Client,
) -> fal_models::client::RequestHandle<EchoOutput> {
    let handle = client.submit(&EchoInput::new("x")).await.unwrap();
    while !client.status(&handle, false).await.unwrap().is_completed() {}
    server.clear_requests();
    handle
}

#[tokio::test]
async fn gateway_errors_and_408_409_429_are_retried_until_success() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let handle = completed_job(&server, &client).await;
    for status in [408, 409, 429, 502, 503, 504] {
        server.clear_requests();
        server.inject(Operation::Result, Fault::ServerError(status));
        assert_eq!(
            client.result(&handle).await.unwrap(),
            expected_output(),
            "after {status}"
        );
        assert_eq!(
            server.count(Operation::Result),
            2,
            "one retry after {status}"
        );
    }
}

#[tokio::test]
async fn other_statuses_are_not_retried() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let handle = completed_job(&server, &client).await;
    for status in [400, 401, 403, 404, 500] {
        server.clear_requests();
        server.inject(Operation::Result, Fault::ServerError(status));
        let err = client.result(&handle).await.unwrap_err();
        assert_eq!(err.status(), Some(status));
        assert_eq!(
            server.count(Operation::Result),
            1,
            "no retry after {status}"
        );
    }
}

#[tokio::test]
async fn retries_stop_after_max_retries_with_the_last_error() {
    let server = echo_mock().start().await.unwrap();
    let client = server
        .client_builder()
        .retry(
            RetryPolicy::default()
                .max_retries(2)
                .initial_backoff(Duration::from_millis(1))
                .jitter(false),
        )
        .build()
        .unwrap();
    server.inject_times(Operation::Submit, Fault::IngressError(503), 10);
    let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(server.count(Operation::Submit), 3);
    assert_eq!(server.job_count(), 0);

    let never = server
        .client_builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    server.clear_requests();
    let err = never.submit(&EchoInput::new("x")).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(server.count(Operation::Submit), 1);
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    server.inject(
        Operation::Submit,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let started = Instant::now();
    client.submit(&EchoInput::new("x")).await.unwrap();
    // The policy's own backoff is 5 ms: only Retry-After explains a one-second wait.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.count(Operation::Submit), 2);
    assert_eq!(server.job_count(), 1);
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_ends_retries_and_reports_it() {
    let server = echo_mock().start().await.unwrap();
    let client = server
        .client_builder()
        .retry(RetryPolicy::default().max_retry_after(Duration::from_secs(5)))
        .build()
        .unwrap();
    server.inject(
        Operation::Submit,
        Fault::TooManyRequests {
            retry_after_secs: 3600,
        },
    );
    let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
    let Error::Api(api) = &err else {
        panic!("{err:?}")
    };
    assert_eq!(api.status, 429);
    assert_eq!(api.retry_after, Some(Duration::from_secs(3600)));
    assert_eq!(server.count(Operation::Submit), 1);
}

/// `max_retry_after` is the longest wait the client accepts, inclusive: a `Retry-After` of
/// exactly the limit is waited out and the call resent. (cargo mutants: `>=` for `>` in
/// `RetryPolicy::delay` survived.)
#[tokio::test]
async fn a_retry_after_equal_to_the_limit_is_waited_out() {
    let server = echo_mock().start().await.unwrap();
    let client = server
        .client_builder()
        .retry(RetryPolicy::default().max_retry_after(Duration::from_secs(1)))
        .build()
        .unwrap();
    server.inject(
        Operation::Submit,
        Fault::TooManyRequests {
            retry_after_secs: 1,
        },
    );
    let started = Instant::now();
    client.submit(&EchoInput::new("x")).await.unwrap();
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(server.count(Operation::Submit), 2);
    assert_eq!(server.job_count(), 1);
}

#[tokio::test]
async fn the_user_start_deadline_504_is_a_timeout_and_never_retried() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let client = server.client();
    server.inject(Operation::Submit, Fault::StartDeadline);
    let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
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
    assert_eq!(server.count(Operation::Submit), 1);

    let handle = completed_job(&server, &client).await;
    server.inject(Operation::Result, Fault::StartDeadline);
    let err = client.result(&handle).await.unwrap_err();
    let Error::Timeout {
        kind: TimeoutKind::StartDeadline,
        request_id,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(request_id.as_deref(), Some(handle.request_id()));
    assert_eq!(server.count(Operation::Result), 1);
}

#[tokio::test]
async fn dropped_connections_on_reads_are_retried() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let handle = completed_job(&server, &client).await;
    server.inject_times(Operation::Status, Fault::Reset, 2);
    assert!(client.status(&handle, true).await.unwrap().is_completed());
    assert_eq!(server.count(Operation::Status), 3);
    server.inject(Operation::Cancel, Fault::Reset);
    client.cancel(&handle).await.unwrap();
    assert_eq!(server.count(Operation::Cancel), 2);
}

#[tokio::test]
async fn a_truncated_result_body_is_retried() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let handle = completed_job(&server, &client).await;
    server.inject(Operation::Result, Fault::TruncatedBody);
    assert_eq!(client.result(&handle).await.unwrap(), expected_output());
    assert_eq!(server.count(Operation::Result), 2);
}

#[tokio::test]
async fn a_slow_body_beyond_the_request_timeout_times_out_then_succeeds_on_retry() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let client = server
        .client_builder()
        .request_timeout(Some(Duration::from_secs(2)))
        .build()
        .unwrap();
    let handle = completed_job(&server, &client).await;
    server.inject(Operation::Result, Fault::SlowBody(Duration::from_secs(20)));
    assert_eq!(client.result(&handle).await.unwrap(), expected_output());
    assert_eq!(server.count(Operation::Result), 2);

    // Always slow: after the retries, a typed HTTP timeout naming the request.
    server.clear_requests();
    server.inject_times(
        Operation::Result,
        Fault::SlowBody(Duration::from_secs(20)),
        10,
    );
    let err = client.result(&handle).await.unwrap_err();
    let Error::Timeout {
        kind: TimeoutKind::Http,
        request_id,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(request_id.as_deref(), Some(handle.request_id()));
    assert_eq!(server.count(Operation::Result), 4);
}

/// A read whose body goes silent for longer than `idle_timeout` ends in an idle timeout (not
/// the whole-request one) naming the request. (cargo mutants: deleting the idle arm of the
/// transport error mapping, which made it `TimeoutKind::Http`, survived.)
#[tokio::test]
async fn a_read_body_silent_past_the_idle_timeout_is_an_idle_timeout() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let client = server
        .client_builder()
        .idle_timeout(Some(Duration::from_millis(300)))
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let handle = completed_job(&server, &client).await;
    server.inject(Operation::Result, Fault::SlowBody(Duration::from_secs(20)));
    let err = client.result(&handle).await.unwrap_err();
    let Error::Timeout {
        kind: TimeoutKind::Idle,
        request_id,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(request_id.as_deref(), Some(handle.request_id()));
    assert_eq!(server.count(Operation::Result), 1);
}

#[tokio::test]
async fn a_slow_body_within_the_timeout_is_just_slow() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let handle = completed_job(&server, &client).await;
    server.inject(
        Operation::Result,
        Fault::SlowBody(Duration::from_millis(50)),
    );
    assert_eq!(client.result(&handle).await.unwrap(), expected_output());
    assert_eq!(server.count(Operation::Result), 1);
}

#[tokio::test]
async fn a_malformed_body_is_a_decode_error_with_an_excerpt_and_not_retried() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let client = server.client();
    let handle = completed_job(&server, &client).await;
    server.inject(Operation::Result, Fault::MalformedBody);
    let err = client.result(&handle).await.unwrap_err();
    let Error::Decode {
        operation,
        status,
        body_excerpt,
        request_id,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((*operation, *status), (Operation::Result, 200));
    assert!(body_excerpt.contains("502 Bad Gateway"), "{body_excerpt}");
    assert_eq!(request_id.as_deref(), Some(handle.request_id()));
    assert_eq!(server.count(Operation::Result), 1);
}

#[tokio::test]
async fn a_submit_dropped_after_sending_is_not_replayed() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    server.inject(Operation::Submit, Fault::ResetAfterHandling);
    let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
    let Error::AmbiguousSubmit {
        endpoint_id,
        attempts,
        accepted: false,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!((endpoint_id.as_str(), *attempts), (ECHO_ID, 1));
    assert!(err.to_string().contains("not replayed"), "{err}");
    assert_eq!(
        server.count(Operation::Submit),
        1,
        "a second submit was sent"
    );
    assert_eq!(server.job_count(), 1, "the job fal queued");

    // Dropped before fal acted: the client cannot tell the difference, so the same answer.
    server.clear_requests();
    server.inject(Operation::Submit, Fault::Reset);
    assert!(matches!(
        client.submit(&EchoInput::new("x")).await,
        Err(Error::AmbiguousSubmit { .. })
    ));
    assert_eq!(server.count(Operation::Submit), 1);

    // The same for a sync run.
    server.inject(Operation::Run, Fault::ResetAfterHandling);
    assert!(matches!(
        client.run(&EchoInput::new("x")).await,
        Err(Error::AmbiguousSubmit { .. })
    ));
    assert_eq!(server.count(Operation::Run), 1);
}

#[tokio::test]
async fn replaying_ambiguous_submits_is_opt_in() {
    let server = echo_mock().start().await.unwrap();
    let client = server
        .client_builder()
        .retry(
            RetryPolicy::default()
                .initial_backoff(Duration::from_millis(1))
                .retry_ambiguous_submits(true),
        )
        .build()
        .unwrap();
    server.inject(Operation::Submit, Fault::ResetAfterHandling);
    client.submit(&EchoInput::new("x")).await.unwrap();
    assert_eq!(server.count(Operation::Submit), 2);
    assert_eq!(server.job_count(), 2, "opting in accepts the duplicate job");
}

#[tokio::test]
async fn a_submit_whose_answer_broke_off_keeps_the_request_id() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let client = server.client();
    server.inject(Operation::Submit, Fault::TruncatedBody);
    let handle = client.submit(&EchoInput::new("x")).await.unwrap();
    assert_eq!(server.count(Operation::Submit), 1);
    assert_eq!(server.job_count(), 1);
    assert_eq!(handle.status_url(), None, "rebuilt from the id");
    assert_eq!(client.result(&handle).await.unwrap(), expected_output());
}

#[tokio::test]
async fn a_submit_accepted_without_its_request_id_says_so_and_is_not_replayed() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    // Cut before `request_id` arrives.
    server.inject(Operation::Submit, Fault::TruncatedBodyAfter(10));
    let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
    let Error::AmbiguousSubmit { accepted, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(*accepted);
    assert!(err.to_string().contains("fal accepted"), "{err}");
    assert_eq!(server.count(Operation::Submit), 1);
    assert_eq!(server.job_count(), 1);
}

#[tokio::test]
async fn a_submit_cut_off_with_an_empty_or_escaped_request_id_is_not_given_a_guessed_one() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // The answer's head says 200 (fal accepted the job), then the body breaks off after a
    // `request_id` that is empty, or whose escape the cut-off text cannot be decoded past.
    for cut in [
        r#"{"request_id": "", "status": "IN_QUEUE""#,
        r#"{"request_id": "req\"1", "status": "IN_QUEUE""#,
    ] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let connections = Arc::new(AtomicUsize::new(0));
        let counted = connections.clone();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                counted.fetch_add(1, Ordering::SeqCst);
                // The whole request (head and JSON body), then the cut answer.
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    let n = socket.read(&mut buf).await.unwrap();
                    data.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&data).to_lowercase();
                    let Some(end) = text.find("\r\n\r\n") else {
                        assert!(n > 0, "the request ended early");
                        continue;
                    };
                    let length: usize = text[..end]
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .map_or(0, |v| v.trim().parse().unwrap());
                    if n == 0 || data.len() >= end + 4 + length {
                        break;
                    }
                }
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 400\r\n\r\n{cut}"
                );
                socket.write_all(answer.as_bytes()).await.unwrap();
                // Dropped: the body ends 400 - len bytes short.
            }
        });
        let client = Client::builder().key("k").queue_url(&base).build().unwrap();
        let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
        let Error::AmbiguousSubmit {
            accepted,
            request_id,
            ..
        } = &err
        else {
            panic!("{cut}: {err:?}")
        };
        assert!(*accepted, "{cut}: {err:?}");
        assert_eq!(*request_id, None, "{cut}");
        assert_eq!(connections.load(Ordering::SeqCst), 1, "{cut}: not replayed");
    }
}

#[tokio::test]
async fn a_submit_that_never_connected_is_retried() {
    // A port held by a bound socket that does not listen: every connect is refused, so
    // nothing was sent and retrying cannot duplicate a job. (A freed port could be taken by
    // another test meanwhile.)
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let refused = socket.local_addr().unwrap();
    // Each connection attempt resolves the host once: the resolver counts the attempts.
    let resolver = Arc::new(CountingResolver {
        addr: refused,
        lookups: AtomicUsize::new(0),
    });
    let http = reqwest::Client::builder()
        .dns_resolver(resolver.clone())
        .build()
        .unwrap();
    let client = Client::builder()
        .key("k")
        .queue_url(format!("http://never.test:{}", refused.port()))
        .http_client(http)
        .retry(
            RetryPolicy::default()
                .max_retries(2)
                .initial_backoff(Duration::from_millis(1)),
        )
        .build()
        .unwrap();
    let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
    let Error::Transport {
        operation: Operation::Submit,
        source,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert!(source.is_connect());
    assert_eq!(
        resolver.lookups.load(Ordering::SeqCst),
        3,
        "1 attempt + 2 retries"
    );
    drop(socket);
}

struct CountingResolver {
    addr: std::net::SocketAddr,
    lookups: AtomicUsize,
}

impl reqwest::dns::Resolve for CountingResolver {
    fn resolve(&self, _: reqwest::dns::Name) -> reqwest::dns::Resolving {
        self.lookups.fetch_add(1, Ordering::SeqCst);
        let addr = self.addr;
        Box::pin(async move { Ok(Box::new(std::iter::once(addr)) as reqwest::dns::Addrs) })
    }
}

#[tokio::test]
async fn reads_retry_with_backoff_between_attempts() {
    let server = echo_mock()
        .queue_steps(0)
        .progress_steps(0)
        .start()
        .await
        .unwrap();
    let policy = RetryPolicy::default()
        .max_retries(3)
        .initial_backoff(Duration::from_millis(100))
        .multiplier(2.0)
        .jitter(false);
    let client = server.client_builder().retry(policy).build().unwrap();
    let handle = completed_job(&server, &client).await;
    server.inject_times(Operation::Result, Fault::ServerError(503), 3);
    let started = Instant::now();
    client.result(&handle).await.unwrap();
    // 100 + 200 + 400 ms of backoff.
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.count(Operation::Result), 4);
}

#[tokio::test]
async fn a_sync_run_is_retried_on_429_and_nginx_503() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    server.inject(
        Operation::Run,
        Fault::TooManyRequests {
            retry_after_secs: 0,
        },
    );
    server.inject(Operation::Run, Fault::IngressError(503));
    assert_eq!(
        client.run(&EchoInput::new("x")).await.unwrap(),
        expected_output()
    );
    assert_eq!(server.count(Operation::Run), 3);
    assert_eq!(server.run_count(), 1);
}

#[tokio::test]
async fn a_paid_call_failed_behind_the_ingress_is_not_replayed() {
    let server = echo_mock().start().await.unwrap();
    let client = server.client();
    for status in [502, 503, 504] {
        server.clear_requests();
        let jobs_before = server.job_count();
        server.inject(Operation::Submit, Fault::ForwardThenFail(status));
        let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
        let Error::AmbiguousSubmit {
            status: got,
            request_id,
            headers,
            ..
        } = &err
        else {
            panic!("{err:?}");
        };
        assert_eq!(*got, Some(status));
        assert!(request_id.is_some(), "the request id reaches the caller");
        // The answer's headers come with it (cargo mutants: an empty or renamed header list
        // survived).
        assert!(
            headers
                .iter()
                .any(|(k, v)| k == "x-fal-request-id" && Some(v) == request_id.as_ref()),
            "{headers:?}"
        );
        assert_eq!(
            server.count(Operation::Submit),
            1,
            "not replayed after {status}"
        );
        assert_eq!(server.job_count(), jobs_before + 1, "exactly one job");
    }
    // An app-level JSON 5xx is not ingress evidence either; nor is nginx's 502 page, which
    // nginx also sends after forwarding.
    for fault in [Fault::ServerError(503), Fault::IngressError(502)] {
        server.clear_requests();
        server.inject(Operation::Submit, fault);
        let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
        assert!(matches!(err, Error::AmbiguousSubmit { .. }), "{err:?}");
        assert_eq!(server.count(Operation::Submit), 1);
    }
    // A sync run that timed out in the app is never run again.
    server.clear_requests();
    let runs = server.run_count();
    server.inject(Operation::Run, Fault::ForwardThenFail(504));
    let err = client.run(&EchoInput::new("x")).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::AmbiguousSubmit {
                status: Some(504),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.count(Operation::Run), 1);
    assert_eq!(server.run_count(), runs + 1);
}

/// The documented defaults (README: "Retries use exponential backoff with jitter"; the
/// `Default` doc: 3 retries, 500 ms doubling up to 10 s, jitter, `Retry-After` up to 60 s,
/// ambiguous submits not replayed), each spelled through the public setters.
#[test]
fn the_default_policy_retries_three_times_with_jittered_doubling_backoff() {
    let documented = RetryPolicy::none()
        .max_retries(3)
        .initial_backoff(Duration::from_millis(500))
        .max_backoff(Duration::from_secs(10))
        .multiplier(2.0)
        .jitter(true)
        .max_retry_after(Duration::from_secs(60))
        .retry_ambiguous_submits(false);
    assert_eq!(RetryPolicy::default(), documented);
    assert_ne!(RetryPolicy::default(), documented.clone().jitter(false));
}

/// Each setter changes the policy (a no-op setter would leave the default in force), and
/// `none()` is the default with no retries. The multiplier is clamped to at least 1. (cargo
/// mutants: `multiplier` and `max_retry_after` returning the default policy, and `none()` keeping
/// the default's 3 retries, survived the tests that only use the default values.)
#[test]
fn every_policy_setter_takes_effect() {
    let d = RetryPolicy::default;
    let changed = [
        d().max_retries(7),
        d().initial_backoff(Duration::from_millis(1)),
        d().max_backoff(Duration::from_secs(1)),
        d().multiplier(3.0),
        d().jitter(false),
        d().max_retry_after(Duration::from_secs(1)),
        d().retry_ambiguous_submits(true),
    ];
    for (i, policy) in changed.iter().enumerate() {
        assert_ne!(*policy, d(), "setter {i} left the default");
        for (j, other) in changed.iter().enumerate() {
            assert_eq!(i == j, policy == other, "setters {i} and {j}");
        }
    }
    assert_eq!(RetryPolicy::none(), d().max_retries(0));
    assert_ne!(RetryPolicy::none(), d());
    assert_eq!(d().multiplier(0.5), d().multiplier(1.0), "at least 1");
    assert_ne!(d().multiplier(1.0), d());
}
