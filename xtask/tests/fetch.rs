//! `cargo xtask fetch` against a canned HTTP server on loopback.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use support::{document, run, temp_dir, write_json, xtask};

/// A request as the server saw it.
#[derive(Debug, Clone)]
struct Request {
    /// Path and query, as sent.
    target: String,
    /// Header lines, lower-cased names.
    headers: Vec<(String, String)>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Decoded query parameters.
    fn query(&self) -> Vec<(String, String)> {
        let query = self.target.split_once('?').map_or("", |(_, q)| q);
        query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (decode(k), decode(v))
            })
            .collect()
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).unwrap()
}

/// What the server answers.
enum Reply {
    /// A complete response.
    Full(u16, String),
    /// Headers announcing the whole body, then only its first half, then the connection closes.
    CutShort(String),
}

type Handler = Box<dyn FnMut(&Request) -> Reply + Send>;

/// A one-thread HTTP/1.1 server answering each connection with the handler's reply.
struct Server {
    base: String,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    fn start(mut handler: Handler) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let Some(request) = read_request(&stream) else {
                    continue;
                };
                log.lock().unwrap().push(request.clone());
                let reply = handler(&request);
                respond(stream, reply);
            }
        });
        Server { base, requests }
    }

    fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let target = line.split(' ').nth(1)?.to_owned();
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    Some(Request { target, headers })
}

fn respond(mut stream: TcpStream, reply: Reply) {
    let (status, body, cut) = match reply {
        Reply::Full(status, body) => (status, body, false),
        Reply::CutShort(body) => (200, body, true),
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let sent = if cut {
        &body.as_bytes()[..body.len() / 2]
    } else {
        body.as_bytes()
    };
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(sent);
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// A small document for `id`; `extra` adds an input property (to make versions differ).
fn doc(id: &str, extra: Option<&str>) -> Value {
    let mut props = json!({"prompt": {"type": "string", "description": "The prompt."}});
    if let Some(name) = extra {
        props[name] = json!({"type": "integer"});
    }
    document(
        id,
        json!({
            "Input": {"type": "object", "properties": props, "required": ["prompt"]},
            "Output": {"type": "object", "properties": {"url": {"type": "string"}}, "required": ["url"]},
        }),
    )
}

/// Serialises with object keys in reverse order, the way a server with unstable order might.
fn reversed(value: &Value) -> String {
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Object(map) => {
                out.push('{');
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                keys.reverse();
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::to_string(k).unwrap());
                    out.push(':');
                    write(&map[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// The canonical text: keys sorted at every level, two-space indent, final newline.
fn canonical(value: &Value) -> String {
    fn sort(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.clone(), sort(v)))
                        .collect(),
                )
            }
            Value::Array(items) => Value::Array(items.iter().map(sort).collect()),
            other => other.clone(),
        }
    }
    serde_json::to_string_pretty(&sort(value)).unwrap() + "\n"
}

/// `xtask fetch --no-regen --schemas-dir <dir> --openapi-url .. --api-url .. <args>`, fast retries.
fn fetch(server: &Server, schemas: &Path, args: &[&str]) -> (i32, String, String) {
    run(xtask()
        .args([
            "fetch",
            "--no-regen",
            "--attempts",
            "3",
            "--retry-delay-ms",
            "1",
            "--timeout-secs",
            "10",
        ])
        .arg("--schemas-dir")
        .arg(schemas)
        .args([
            "--openapi-url",
            &format!("{}/api/openapi/queue/openapi.json", server.base),
        ])
        .args(["--api-url", &format!("{}/v1", server.base)])
        .env_remove("FAL_KEY")
        .args(args))
}

/// Every file below `dir`, relative, sorted (temporary files included).
fn files(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, out);
            } else {
                out.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Serves `doc(id)` for every per-endpoint request, keys in reverse order.
fn per_endpoint_server() -> Server {
    Server::start(Box::new(|request| {
        let query = request.query();
        match query.as_slice() {
            [(k, id)]
                if k == "endpoint_id"
                    && request
                        .target
                        .starts_with("/api/openapi/queue/openapi.json?") =>
            {
                Reply::Full(200, reversed(&doc(id, None)))
            }
            _ => Reply::Full(404, r#"{"detail": "not found"}"#.into()),
        }
    }))
}

#[test]
fn single_endpoint_is_written_in_canonical_form() {
    let dir = temp_dir("fetch-single");
    let server = per_endpoint_server();
    let (code, stdout, stderr) = fetch(&server, &dir, &["fal-ai/veo3.1/fast"]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(
        stdout,
        "added      fal-ai/veo3.1/fast\n1 added, 0 changed, 0 unchanged, 0 failed\n"
    );
    assert_eq!(files(&dir), ["fal-ai/veo3.1/fast.json"]);
    let written = std::fs::read_to_string(dir.join("fal-ai/veo3.1/fast.json")).unwrap();
    assert_eq!(written, canonical(&doc("fal-ai/veo3.1/fast", None)));
    assert!(
        written.starts_with("{\n  \"components\": {\n"),
        "keys sorted: {written}"
    );
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(
        requests[0].query(),
        [("endpoint_id".to_owned(), "fal-ai/veo3.1/fast".to_owned())]
    );
    assert_eq!(requests[0].header("authorization"), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn refetching_an_unchanged_document_changes_nothing() {
    let dir = temp_dir("fetch-refetch");
    let server = per_endpoint_server();
    assert_eq!(fetch(&server, &dir, &["fal-ai/flux/dev"]).0, 0);
    let path = dir.join("fal-ai/flux/dev.json");
    let before = std::fs::read(&path).unwrap();
    // A rewrite is seen whatever the file system's clock granularity: the file is dated 2001
    // (any write dates it now) and a replacement by rename has another inode.
    let long_ago = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000);
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(long_ago)
        .unwrap();
    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
    let (code, stdout, _) = fetch(&server, &dir, &["fal-ai/flux/dev"]);
    assert_eq!(code, 0);
    assert_eq!(stdout, "0 added, 0 changed, 1 unchanged, 0 failed\n");
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let after = std::fs::metadata(&path).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&after),
        inode,
        "file replaced"
    );
    assert_eq!(
        after.modified().unwrap(),
        long_ago,
        "file rewritten in place"
    );
    // And `xtask diff` of the two versions finds nothing.
    let old = dir.join("before.json");
    std::fs::write(&old, &before).unwrap();
    let (code, stdout, _) = run(xtask()
        .args(["diff", "--format", "json"])
        .arg(&old)
        .arg(&path));
    assert_eq!(code, 0);
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["endpoints"], json!([]));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A platform API serving `fal-ai/a` (unchanged), `fal-ai/b` (changed) on page 1 and
/// `fal-ai/c` as an error entry plus `fal-ai/d` (new) on page 2.
fn platform_server() -> Server {
    Server::start(Box::new(|request| {
        if !request.target.starts_with("/v1/models?") {
            return Reply::Full(404, "{}".into());
        }
        let query = request.query();
        let cursor = query
            .iter()
            .find(|(k, _)| k == "cursor")
            .map(|(_, v)| v.as_str());
        let model = |id: &str, openapi: Value| json!({"endpoint_id": id, "metadata": {"status": "active"}, "openapi": openapi});
        let body = match cursor {
            None => json!({
                "models": [model("fal-ai/a", doc("fal-ai/a", None)), model("fal-ai/b", doc("fal-ai/b", Some("seed")))],
                "has_more": true,
                "next_cursor": "page 2",
            }),
            Some("page 2") => json!({
                "models": [
                    model("fal-ai/c", json!({"error": {"code": "expansion_failed", "message": "OpenAPI schema not available for this endpoint"}})),
                    model("fal-ai/d", doc("fal-ai/d", None)),
                    model("fal-ai/unasked", doc("fal-ai/unasked", None)),
                ],
                "has_more": false,
                "next_cursor": null,
            }),
            Some(_) => return Reply::Full(400, r#"{"error": "bad cursor"}"#.into()),
        };
        Reply::Full(200, reversed(&body))
    }))
}

#[test]
fn all_refreshes_every_vendored_document_through_the_paged_platform_api() {
    let dir = temp_dir("fetch-all");
    for id in ["fal-ai/a", "fal-ai/b", "fal-ai/c"] {
        write_json(&dir.join(format!("{id}.json")), &doc(id, None));
    }
    let c_before = std::fs::read(dir.join("fal-ai/c.json")).unwrap();
    let server = platform_server();
    let (code, stdout, stderr) = run(xtask()
        .args(["fetch", "--all", "--no-regen", "--attempts", "1"])
        .arg("--schemas-dir")
        .arg(&dir)
        .args(["--api-url", &format!("{}/v1", server.base)])
        .env("FAL_KEY", "test-key"));
    // `c` failed: exit 1, everything else written.
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(
        stdout,
        "changed    fal-ai/b\n\
         failed     fal-ai/c: fal answered an error instead of a document: OpenAPI schema not available for this endpoint (expansion_failed)\n\
         0 added, 1 changed, 1 unchanged, 1 failed\n"
    );
    assert_eq!(
        std::fs::read(dir.join("fal-ai/c.json")).unwrap(),
        c_before,
        "failed endpoint untouched"
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("fal-ai/b.json")).unwrap(),
        canonical(&doc("fal-ai/b", Some("seed")))
    );
    // Listed endpoints that were not asked for (`d`, `unasked`) are not written.
    assert_eq!(
        files(&dir),
        ["fal-ai/a.json", "fal-ai/b.json", "fal-ai/c.json"]
    );

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    for (request, cursor) in requests.iter().zip([None, Some("page 2")]) {
        assert_eq!(request.header("authorization"), Some("Key test-key"));
        let query = request.query();
        let ids: Vec<&str> = query
            .iter()
            .filter(|(k, _)| k == "endpoint_id")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(ids, ["fal-ai/a", "fal-ai/b", "fal-ai/c"]);
        assert!(query.contains(&("expand".into(), "openapi-3.0".into())));
        assert_eq!(
            query
                .iter()
                .find(|(k, _)| k == "cursor")
                .map(|(_, v)| v.as_str()),
            cursor
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bulk_ids_missing_from_the_listing_fail_and_new_ones_are_added() {
    let dir = temp_dir("fetch-bulk");
    let server = platform_server();
    let (code, stdout, _) = fetch(
        &server,
        &dir,
        &["--bulk", "--batch-size", "1", "fal-ai/d", "fal-ai/zzz"],
    );
    assert_eq!(code, 1);
    assert_eq!(
        stdout,
        "added      fal-ai/d\nfailed     fal-ai/zzz: not listed by the platform API\n1 added, 0 changed, 0 unchanged, 1 failed\n"
    );
    assert_eq!(files(&dir), ["fal-ai/d.json"]);
    // One batch per id, each following the cursor to the second page.
    assert_eq!(server.requests().len(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn responses_that_are_not_the_endpoints_document_are_refused() {
    let dir = temp_dir("fetch-not-doc");
    let server = Server::start(Box::new(|request| {
        let id = request
            .query()
            .into_iter()
            .find(|(k, _)| k == "endpoint_id")
            .map(|(_, v)| v)
            .unwrap_or_default();
        match id.as_str() {
            "fal-ai/html" => Reply::Full(200, "<html><body>Sign in</body></html>".into()),
            "fal-ai/other" => Reply::Full(200, doc("fal-ai/somebody-else", None).to_string()),
            "fal-ai/swagger" => Reply::Full(200, json!({"swagger": "2.0", "info": {}}).to_string()),
            "fal-ai/missing" => Reply::Full(404, r#"{"detail": "Endpoint not found"}"#.into()),
            _ => Reply::Full(200, doc(&id, None).to_string()),
        }
    }));
    let (code, stdout, _) = fetch(
        &server,
        &dir,
        &[
            "fal-ai/html",
            "fal-ai/other",
            "fal-ai/swagger",
            "fal-ai/missing",
            "fal-ai/fine",
        ],
    );
    assert_eq!(code, 1);
    assert_eq!(
        stdout,
        "added      fal-ai/fine\n\
         failed     fal-ai/html: not JSON: <html><body>Sign in</body></html>: expected value at line 1 column 1\n\
         failed     fal-ai/missing: HTTP 404: {\"detail\": \"Endpoint not found\"}\n\
         failed     fal-ai/other: the document is for endpoint \"fal-ai/somebody-else\", not \"fal-ai/other\"\n\
         failed     fal-ai/swagger: not an OpenAPI 3 document (no `openapi: 3.x`)\n\
         1 added, 0 changed, 0 unchanged, 4 failed\n"
    );
    assert_eq!(files(&dir), ["fal-ai/fine.json"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_connection_dropped_mid_body_is_retried_and_writes_nothing() {
    let dir = temp_dir("fetch-cut");
    // An older copy is in place: it must survive intact.
    write_json(&dir.join("fal-ai/cut.json"), &doc("fal-ai/cut", None));
    let before = std::fs::read(dir.join("fal-ai/cut.json")).unwrap();
    let server = Server::start(Box::new(|_| {
        Reply::CutShort(doc("fal-ai/cut", Some("seed")).to_string())
    }));
    let (code, stdout, _) = fetch(&server, &dir, &["fal-ai/cut"]);
    assert_eq!(code, 1);
    assert!(stdout.starts_with("failed     fal-ai/cut: "), "{stdout}");
    assert!(
        stdout.contains("reading the body") && stdout.contains("after 3 attempts"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("0 added, 0 changed, 0 unchanged, 1 failed\n"),
        "{stdout}"
    );
    assert_eq!(server.requests().len(), 3, "retried");
    assert_eq!(std::fs::read(dir.join("fal-ai/cut.json")).unwrap(), before);
    assert_eq!(files(&dir), ["fal-ai/cut.json"], "no temporary file left");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn transient_errors_are_retried_until_the_document_arrives() {
    let dir = temp_dir("fetch-retry");
    let mut calls = 0;
    let server = Server::start(Box::new(move |request| {
        calls += 1;
        let id = request
            .query()
            .into_iter()
            .find(|(k, _)| k == "endpoint_id")
            .map(|(_, v)| v)
            .unwrap_or_default();
        match calls {
            1 => Reply::Full(503, "busy".into()),
            2 => Reply::CutShort(doc(&id, None).to_string()),
            _ => Reply::Full(200, doc(&id, None).to_string()),
        }
    }));
    let (code, stdout, _) = fetch(&server, &dir, &["fal-ai/flaky"]);
    assert_eq!(code, 0, "{stdout}");
    assert_eq!(
        stdout,
        "added      fal-ai/flaky\n1 added, 0 changed, 0 unchanged, 0 failed\n"
    );
    assert_eq!(server.requests().len(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn endpoint_ids_that_would_escape_the_schemas_folder_are_refused() {
    let dir = temp_dir("fetch-traversal");
    let schemas = dir.join("schemas");
    std::fs::create_dir_all(&schemas).unwrap();
    let server = per_endpoint_server();
    let evil = [
        "../evil",
        "fal-ai/../../evil",
        "/etc/passwd",
        "fal-ai//x",
        "fal-ai/.hidden",
        "fal-ai\\..\\x",
        "single",
    ];
    let (code, stdout, _) = fetch(&server, &schemas, &evil);
    assert_eq!(code, 1);
    let failed: Vec<&str> = stdout.lines().filter(|l| l.starts_with("failed")).collect();
    assert_eq!(failed.len(), evil.len(), "{stdout}");
    assert!(
        failed.iter().all(|l| l.contains("refusing endpoint id")),
        "{stdout}"
    );
    assert!(stdout.ends_with("0 added, 0 changed, 0 unchanged, 7 failed\n"));
    assert!(server.requests().is_empty(), "no request for a refused id");
    assert_eq!(files(&dir), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn regen_runs_only_for_the_workspace_schemas_folder() {
    let dir = temp_dir("fetch-regen");
    let server = per_endpoint_server();
    let (code, stdout, stderr) = run(xtask()
        .args(["fetch", "--attempts", "1", "--schemas-dir"])
        .arg(&dir)
        .args([
            "--openapi-url",
            &format!("{}/api/openapi/queue/openapi.json", server.base),
        ])
        .arg("fal-ai/x"));
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stdout,
        format!(
            "added      fal-ai/x\n1 added, 0 changed, 0 unchanged, 0 failed\nregen skipped: {} is not this workspace's schemas/\n",
            dir.display()
        )
    );
    let _ = std::fs::remove_dir_all(&dir);
}
