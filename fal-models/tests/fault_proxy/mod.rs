//! A raw TCP fault proxy for faults a server framework cannot express: it sits in front of a
//! real loopback server, reads each HTTP/1.1 request itself, and for the requests a rule picks
//! resets the connection (before or after forwarding), answers in the upstream's place,
//! truncates, garbles, slows or never answers. One request per connection (`Connection:
//! close`), so every fault hits exactly one exchange.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the proxy does with one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Forward and relay the answer unchanged.
    Forward,
    /// Close the connection without forwarding.
    ResetBefore,
    /// Forward (the upstream acts), then close without answering.
    ResetAfter,
    /// Answer this instead of forwarding: status, headers, body.
    Respond(u16, Vec<(String, String)>, String),
    /// Forward (the upstream acts), then answer this instead of its answer: status, headers,
    /// body (a gateway's error page sent after forwarding).
    ForwardThenRespond(u16, Vec<(String, String)>, String),
    /// Forward, then answer this status with `x-fal-request-id` and a JSON body (a failure
    /// behind the ingress, after the upstream acted).
    ForwardThenFail(u16),
    /// Forward, relay the head and half the body, close.
    Truncate,
    /// Forward, answer `200` with a body that is not JSON.
    Malformed,
    /// Forward, relay the head and half the body, wait, relay the rest.
    Slow(Duration),
    /// Read the request and never answer (the connection stays open).
    Never,
}

/// One request seen by the proxy.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
}

type Rule = Box<dyn Fn(usize, &Seen) -> Action + Send + Sync>;

pub struct FaultProxy {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Requests that reached the upstream.
    forwarded: Arc<AtomicUsize>,
}

impl FaultProxy {
    /// Starts a proxy to `upstream` (`host:port`); `rule(n, request)` picks the action for the
    /// `n`-th request (0-based) seen.
    pub async fn start(
        upstream: String,
        rule: impl Fn(usize, &Seen) -> Action + Send + Sync + 'static,
    ) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let forwarded: Arc<AtomicUsize> = Arc::default();
        let rule: Arc<Rule> = Arc::new(Box::new(rule));
        let (seen2, forwarded2) = (seen.clone(), forwarded.clone());
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                };
                let (upstream, rule, seen, forwarded) = (
                    upstream.clone(),
                    rule.clone(),
                    seen2.clone(),
                    forwarded2.clone(),
                );
                tokio::spawn(async move {
                    let _ = serve(client, &upstream, &rule, &seen, &forwarded).await;
                });
            }
        });
        FaultProxy {
            url,
            seen,
            forwarded,
        }
    }

    /// Requests seen (faulted or not).
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests reached the upstream.
    pub fn forwarded(&self) -> usize {
        self.forwarded.load(Ordering::SeqCst)
    }
}

/// Reads one request: head (up to the blank line) and a `Content-Length` body.
async fn read_request(stream: &mut TcpStream) -> std::io::Result<(Vec<u8>, Seen)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other("closed before a request"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let len = content_length(&head).unwrap_or(0);
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut first = head.lines().next().unwrap_or("").split(' ');
    let seen = Seen {
        method: first.next().unwrap_or("").to_owned(),
        path: first.next().unwrap_or("").to_owned(),
    };
    // Rewrite the head: one exchange per connection, upstream closes after answering.
    let mut lines: Vec<&str> = head
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .filter(|l| !l.is_empty())
        .collect();
    lines.push("connection: close");
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&buf[head_end..]);
    Ok((out, seen))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn content_length(head: &str) -> Option<usize> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())?
    })
}

async fn forward(upstream: &str, request: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).await?;
    up.write_all(request).await?;
    let mut response = Vec::new();
    up.read_to_end(&mut response).await?;
    Ok(response)
}

/// Splits a response into head and body, decoding a chunked body.
fn split(response: &[u8]) -> (String, Vec<u8>) {
    let end = find(response, b"\r\n\r\n")
        .map(|i| i + 4)
        .unwrap_or(response.len());
    let head = String::from_utf8_lossy(&response[..end]).into_owned();
    let mut body = response[end..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        while let Some(i) = find(rest, b"\r\n") {
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..i]).trim(), 16).unwrap_or(0);
            if size == 0 {
                break;
            }
            out.extend_from_slice(&rest[i + 2..(i + 2 + size).min(rest.len())]);
            rest = &rest[(i + 2 + size + 2).min(rest.len())..];
        }
        body = out;
    }
    (head, body)
}

/// A response with this status line, the upstream's other headers, and `body`.
fn rebuild(head: &str, status: Option<u16>, body: &[u8], extra: &[(String, String)]) -> Vec<u8> {
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let status_line = match status {
        Some(s) => format!("HTTP/1.1 {s} X"),
        None => lines.next().unwrap_or("HTTP/1.1 200 OK").to_owned(),
    };
    if status.is_some() {
        lines.next();
    }
    let mut out = status_line;
    for l in lines {
        let k = l
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if ["content-length", "transfer-encoding", "connection"].contains(&k.as_str()) {
            continue;
        }
        if status.is_some() && k == "content-type" {
            continue;
        }
        out.push_str("\r\n");
        out.push_str(l);
    }
    if status.is_some() {
        out.push_str("\r\ncontent-type: application/json");
    }
    for (k, v) in extra {
        out.push_str(&format!("\r\n{k}: {v}"));
    }
    out.push_str(&format!(
        "\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    ));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

async fn serve(
    mut client: TcpStream,
    upstream: &str,
    rule: &Rule,
    seen: &Mutex<Vec<Seen>>,
    forwarded: &AtomicUsize,
) -> std::io::Result<()> {
    let (request, this) = read_request(&mut client).await?;
    let n = {
        let mut seen = seen.lock().unwrap();
        seen.push(this.clone());
        seen.len() - 1
    };
    let action = rule(n, &this);
    let go = || async {
        forwarded.fetch_add(1, Ordering::SeqCst);
        forward(upstream, &request).await
    };
    match action {
        Action::ResetBefore => Ok(()),
        Action::Never => {
            std::future::pending::<()>().await;
            Ok(())
        }
        Action::Respond(status, headers, body) => {
            client.write_all(&respond(status, &headers, &body)).await
        }
        Action::ForwardThenRespond(status, headers, body) => {
            go().await?;
            client.write_all(&respond(status, &headers, &body)).await
        }
        Action::Forward => {
            let response = go().await?;
            client.write_all(&response).await
        }
        Action::ResetAfter => {
            go().await?;
            Ok(())
        }
        Action::ForwardThenFail(status) => {
            let (_, body) = split(&go().await?);
            let id = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["request_id"].as_str().map(str::to_owned))
                .unwrap_or_else(|| "proxy-forwarded-0001".into());
            let body = br#"{"detail": "upstream failed after the request was forwarded"}"#;
            let bytes = rebuild(
                "HTTP/1.1 200 OK\r\n\r\n",
                Some(status),
                body,
                &[("x-fal-request-id".into(), id)],
            );
            client.write_all(&bytes).await
        }
        Action::Malformed => {
            go().await?;
            let bytes = rebuild(
                "HTTP/1.1 200 OK\r\n\r\n",
                Some(200),
                b"{\"request_id\": <html>502 Bad Gateway</html>",
                &[],
            );
            client.write_all(&bytes).await
        }
        Action::Truncate | Action::Slow(_) => {
            let (head, body) = split(&go().await?);
            let whole = rebuild(&head, None, &body, &[]);
            let cut = whole.len() - body.len() + body.len() / 2;
            client.write_all(&whole[..cut]).await?;
            client.flush().await?;
            if let Action::Slow(d) = action {
                tokio::time::sleep(d).await;
                client.write_all(&whole[cut..]).await?;
            }
            Ok(())
        }
    }
}

/// A response of our own making; the given content type wins over the JSON default.
fn respond(status: u16, headers: &[(String, String)], body: &str) -> Vec<u8> {
    let head = format!("HTTP/1.1 {status} X\r\n\r\n");
    let bytes = rebuild(&head, Some(status), body.as_bytes(), headers);
    if headers.iter().any(|(k, _)| k == "content-type") {
        let text =
            String::from_utf8_lossy(&bytes).replacen("\r\ncontent-type: application/json", "", 1);
        return text.into_bytes();
    }
    bytes
}
