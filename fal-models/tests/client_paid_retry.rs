//! The paid-call rule, counted on the wire: a submit, sync run or stream POST is resent only on
//! proof it never reached the app (nginx's own 503 page without `x-fal-request-id`) or on a
//! refusal (`429`, `408`, `409`, with or without a request id, after `Retry-After`). Every case
//! sends its answer from `fault_proxy`, a raw loopback server in front of the mock, which counts
//! the POSTs it saw and the ones that reached the app.

mod client_common;
mod fault_proxy;

use std::time::{Duration, Instant};

use client_common::{EchoInput, echo_mock, expected_output};
use fal_models::Error;
use fal_models::client::{Client, RetryPolicy, StreamEvent};
use fal_models::mock::MockServer;
use fault_proxy::{Action, FaultProxy};
use futures::StreamExt;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Submit,
    Run,
    Stream,
}

const OPS: [Op; 3] = [Op::Submit, Op::Run, Op::Stream];

fn h(k: &str, v: &str) -> (String, String) {
    (k.to_owned(), v.to_owned())
}

/// nginx's built-in error page for `status`, as `ngx_http_special_response` writes it.
fn nginx_page(status: u16, reason: &str) -> String {
    format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

fn html() -> (String, String) {
    h("content-type", "text/html")
}

/// Answers the first POST (every POST when `every`) with `first`, forwards everything else.
async fn behind_proxy(
    server: &MockServer,
    op: Op,
    first: Action,
    every: bool,
) -> (FaultProxy, Client) {
    let upstream = match op {
        Op::Submit => server.queue_url(),
        Op::Run | Op::Stream => server.run_url(),
    };
    let upstream = upstream.trim_start_matches("http://").to_owned();
    let proxy = FaultProxy::start(upstream, move |n, seen| {
        if (n == 0 || every) && seen.method == "POST" {
            first.clone()
        } else {
            Action::Forward
        }
    })
    .await;
    let builder = server.client_builder().retry(
        RetryPolicy::default()
            .max_retries(3)
            .initial_backoff(Duration::from_millis(10))
            .max_backoff(Duration::from_millis(50)),
    );
    let builder = match op {
        Op::Submit => builder.queue_url(proxy.url.clone()),
        Op::Run | Op::Stream => builder.run_url(proxy.url.clone()),
    };
    (proxy, builder.build().unwrap())
}

/// Runs the paid call; `Ok` when it produced the output.
async fn paid_call(client: &Client, op: Op) -> Result<(), Error> {
    match op {
        Op::Submit => client.submit(&EchoInput::new("x")).await.map(drop),
        Op::Run => {
            let out = client.run(&EchoInput::new("x")).await?;
            assert_eq!(out, expected_output());
            Ok(())
        }
        Op::Stream => {
            let mut events = client.stream(&EchoInput::new("x"));
            while let Some(event) = events.next().await {
                if let StreamEvent::Done(out) = event? {
                    assert_eq!(out, expected_output());
                }
            }
            Ok(())
        }
    }
}

struct Outcome {
    result: Result<(), Error>,
    /// POSTs the proxy saw.
    posts: usize,
    /// Requests that reached the app (each POST that did is a paid job).
    forwarded: usize,
    elapsed: Duration,
}

/// A case whose answer must be resent once: only the first POST gets it.
async fn run_case(op: Op, first: Action) -> Outcome {
    case(op, first, false).await
}

/// A case that must not be resent: every POST gets the answer (as a probe would see it, so a
/// client that resends shows every resend).
async fn run_every(op: Op, answer: Action) -> Outcome {
    case(op, answer, true).await
}

async fn case(op: Op, first: Action, every: bool) -> Outcome {
    let server = echo_mock().start().await.unwrap();
    let (proxy, client) = behind_proxy(&server, op, first, every).await;
    let started = Instant::now();
    let result = paid_call(&client, op).await;
    let elapsed = started.elapsed();
    let posts = proxy.seen().iter().filter(|s| s.method == "POST").count();
    // The figures, for reports (`--nocapture`).
    eprintln!(
        "{op:?}: {posts} POSTs, {} reached the app, {elapsed:?}, {}",
        proxy.forwarded(),
        match &result {
            Ok(()) => "ok".to_owned(),
            Err(e) => format!("{e}").chars().take(60).collect(),
        }
    );
    Outcome {
        result,
        posts,
        forwarded: proxy.forwarded(),
        elapsed,
    }
}

/// Asserts the call was not resent: one POST, an `AmbiguousSubmit` with the status.
fn assert_not_resent(op: Op, case: &str, out: &Outcome, status: u16) {
    assert_eq!(out.posts, 1, "{op:?} {case}: sent once, not resent");
    match &out.result {
        Err(Error::AmbiguousSubmit { status: got, .. }) => {
            assert_eq!(*got, Some(status), "{op:?} {case}")
        }
        other => panic!("{op:?} {case}: expected AmbiguousSubmit, got {other:?}"),
    }
}

#[tokio::test]
async fn nginx_502_and_504_pages_after_forwarding_are_not_resent() {
    for op in OPS {
        for (status, reason) in [(502, "Bad Gateway"), (504, "Gateway Time-out")] {
            let page = Action::ForwardThenRespond(status, vec![html()], nginx_page(status, reason));
            let out = run_every(op, page).await;
            assert_not_resent(op, &format!("nginx {status}"), &out, status);
            assert_eq!(out.forwarded, 1, "{op:?}: exactly one paid job");
        }
    }
}

#[tokio::test]
async fn a_generic_html_504_is_not_resent() {
    let page = "<!DOCTYPE html><html><head><title>Gateway timeout</title></head>\
                <body><h1>504</h1><p>The upstream did not answer in time.</p></body></html>";
    for op in OPS {
        let out = run_every(
            op,
            Action::ForwardThenRespond(504, vec![html()], page.into()),
        )
        .await;
        assert_not_resent(op, "generic HTML 504", &out, 504);
    }
}

#[tokio::test]
async fn a_json_502_mentioning_nginx_is_not_resent() {
    let body =
        r#"{"detail": "502 Bad Gateway from nginx: upstream prematurely closed connection"}"#;
    for op in OPS {
        let out = run_every(op, Action::Respond(502, vec![], body.into())).await;
        assert_not_resent(op, "JSON 502 mentioning nginx", &out, 502);
        // Even an HTML content type does not make a JSON body nginx's page.
        let out = run_every(op, Action::Respond(503, vec![html()], body.into())).await;
        assert_not_resent(op, "JSON 503 as text/html", &out, 503);
    }
}

#[tokio::test]
async fn nginx_pages_carrying_a_request_id_are_not_resent() {
    // The page alone would be resent (next test): only the request id stops it.
    for op in OPS {
        for status in [502, 503, 504] {
            let page = Action::Respond(
                status,
                vec![html(), h("x-fal-request-id", "req-behind-the-ingress")],
                nginx_page(status, "Error"),
            );
            let out = run_every(op, page).await;
            assert_not_resent(op, &format!("nginx {status} with request id"), &out, status);
            assert_eq!(
                out.result.as_ref().unwrap_err().request_id(),
                Some("req-behind-the-ingress"),
                "{op:?}: the request id reaches the caller"
            );
        }
    }
}

#[tokio::test]
async fn nginx_503_without_a_request_id_is_resent_once() {
    for op in OPS {
        let page = Action::Respond(
            503,
            vec![html()],
            nginx_page(503, "Service Temporarily Unavailable"),
        );
        let out = run_case(op, page).await;
        out.result.unwrap_or_else(|e| panic!("{op:?}: {e:?}"));
        assert_eq!(out.posts, 2, "{op:?}: one resend");
        assert_eq!(out.forwarded, 1, "{op:?}: one paid job");
    }
}

#[tokio::test]
async fn a_429_is_resent_after_retry_after_with_or_without_a_request_id() {
    for op in OPS {
        for with_id in [false, true] {
            let mut headers = vec![h("retry-after", "1")];
            if with_id {
                headers.push(h("x-fal-request-id", "req-rate-limited"));
            }
            let out = run_case(
                op,
                Action::Respond(429, headers, r#"{"detail":"Too many requests"}"#.into()),
            )
            .await;
            out.result
                .unwrap_or_else(|e| panic!("{op:?} 429 (id: {with_id}): {e:?}"));
            assert_eq!(out.posts, 2, "{op:?} 429 (id: {with_id}): one resend");
            assert_eq!(out.forwarded, 1, "{op:?}: one paid job");
            assert!(
                out.elapsed >= Duration::from_millis(950),
                "{op:?}: Retry-After 1 s honoured, resent after {:?}",
                out.elapsed
            );
        }
    }
}

#[tokio::test]
async fn a_408_or_409_with_a_request_id_is_resent() {
    for op in OPS {
        for status in [408, 409] {
            let out = run_case(
                op,
                Action::Respond(
                    status,
                    vec![h("x-fal-request-id", "req-refused")],
                    r#"{"detail":"try again"}"#.into(),
                ),
            )
            .await;
            out.result
                .unwrap_or_else(|e| panic!("{op:?} {status}: {e:?}"));
            assert_eq!(out.posts, 2, "{op:?} {status}: one resend");
        }
    }
}

#[tokio::test]
async fn a_retry_after_beyond_the_limit_ends_a_paid_call_with_the_429() {
    let server = echo_mock().start().await.unwrap();
    let (proxy, _) = behind_proxy(
        &server,
        Op::Submit,
        Action::Respond(429, vec![h("retry-after", "120")], "{}".into()),
        false,
    )
    .await;
    let client = server
        .client_builder()
        .queue_url(proxy.url.clone())
        .retry(RetryPolicy::default().max_retry_after(Duration::from_secs(5)))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
    assert_eq!(err.status(), Some(429), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(proxy.seen().len(), 1);
}

/// `Retry-After` as an HTTP date (RFC 9110), in every month: a date far beyond the limit ends
/// the paid call with the 429, unsent again, as the seconds form does. A month the parser did
/// not read would fall back to the backoff and resend. (cargo mutants: deleting a month of
/// `parse_http_date` survived every test.)
#[tokio::test]
async fn a_retry_after_date_in_any_month_is_read() {
    for month in [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ] {
        let server = echo_mock().start().await.unwrap();
        let date = format!("Thu, 01 {month} 2099 08:49:37 GMT");
        let (proxy, _) = behind_proxy(
            &server,
            Op::Submit,
            Action::Respond(429, vec![h("retry-after", &date)], "{}".into()),
            false,
        )
        .await;
        let client = server
            .client_builder()
            .queue_url(proxy.url.clone())
            .retry(
                RetryPolicy::default()
                    .max_retry_after(Duration::from_secs(5))
                    .initial_backoff(Duration::from_millis(1))
                    .jitter(false),
            )
            .build()
            .unwrap();
        let err = client.submit(&EchoInput::new("x")).await.unwrap_err();
        assert_eq!(err.status(), Some(429), "{date}: {err:?}");
        assert_eq!(proxy.seen().len(), 1, "{date}: not resent");
    }
}
