//! A stub origin for development and tests: answers `/echo` with a JSON description of
//! the request it received, records every request, and injects faults on request:
//!
//! | path | answer |
//! |---|---|
//! | `/echo`, `/echo/...` | 200, JSON `{method, path, query, headers, body_bytes}` |
//! | `/status/<code>` | that status, a short text body |
//! | `/delay/<ms>` | waits, then answers like `/echo` |
//! | `/slow/<ms>` | 200, a body sent in 5 chunks `<ms>` apart |
//! | `/truncate` | promises 1024 bytes, sends 100, closes the connection |
//! | `/reset` | closes the connection without answering |
//! | `/static/...` | 200, `Cache-Control: public, max-age=60`, an ETag (honours `If-None-Match`) |
//! | `/cache/...` | 200; query `cc`, `etag`, `lm`, `vary` set those headers, `size=N` pads the body, `delay=ms` waits first |
//! | `/health` | 200 `ok` (for health checks) |
//! | `/` | a small HTML page; anything else 404 |
//!
//! Every answer carries `x-stub-origin: <addr>` so a client can tell stubs apart. A
//! fault set with [`StubOrigin::set_fault`] overrides every path (the request is still
//! recorded) until cleared: the way tests take a member down and bring it back.
//! The record keeps the most recent requests only ([`RECORD_LIMIT`] by default, none for
//! `wedge dev` and `wedge stub-origin`), so a long-running stub does not grow without end.
//! Cacheable answers (`/static`, `/cache`) carry `x-served: N`, a count of responses
//! the stub has made, so tests can tell a cached copy from a fresh one.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use std::time::Duration;

use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::StreamBody;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;

/// Largest request body the stub reads and records.
const MAX_BODY: usize = 1 << 20;

/// Requests [`StubOrigin::start`] remembers; older ones are forgotten first.
pub const RECORD_LIMIT: usize = 10_000;

/// A request as the stub origin received it.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub version: http::Version,
    /// Header names lower-case, in received order.
    pub headers: Vec<(String, String)>,
    pub body: Bytes,
}

impl RecordedRequest {
    /// First value of header `name` (lower-case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A fault the stub applies to every request while set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StubFault {
    /// Answer this status.
    Status(u16),
    /// Never answer (until the client gives up).
    Hang,
    /// Close the connection without answering.
    Reset,
}

/// A running stub origin on a local port.
#[derive(Clone)]
pub struct StubOrigin {
    pub addr: SocketAddr,
    received: Arc<Mutex<Record>>,
    fault: Arc<Mutex<Option<StubFault>>>,
    task: Arc<tokio::task::AbortHandle>,
}

/// The most recent requests, up to a limit.
struct Record {
    requests: VecDeque<RecordedRequest>,
    limit: usize,
}

impl Record {
    fn push(&mut self, request: RecordedRequest) {
        if self.limit == 0 {
            return;
        }
        if self.requests.len() == self.limit {
            self.requests.pop_front();
        }
        self.requests.push_back(request);
    }
}

impl StubOrigin {
    /// Starts on `addr` (use port 0 for a free port), remembering the last
    /// [`RECORD_LIMIT`] requests.
    pub async fn start(addr: SocketAddr) -> std::io::Result<StubOrigin> {
        Self::start_recording(addr, RECORD_LIMIT).await
    }

    /// Starts on `addr`, remembering the last `limit` requests (0: none, for a stub that
    /// only answers).
    pub async fn start_recording(addr: SocketAddr, limit: usize) -> std::io::Result<StubOrigin> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(Mutex::new(Record {
            requests: VecDeque::new(),
            limit,
        }));
        let served: Arc<AtomicU64> = Arc::default();
        let fault: Arc<Mutex<Option<StubFault>>> = Arc::default();
        let log = received.clone();
        let faults = fault.clone();
        let counter = served.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let (log, faults, counter) = (log.clone(), faults.clone(), counter.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let (log, faults, counter) = (log.clone(), faults.clone(), counter.clone());
                        async move {
                            let forced = faults.lock().ok().and_then(|f| *f);
                            let mut resp = handle(req, log, forced, counter).await?;
                            if let Ok(v) = HeaderValue::from_str(&addr.to_string()) {
                                resp.headers_mut().insert("x-stub-origin", v);
                            }
                            Ok::<_, Fault>(resp)
                        }
                    });
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Ok(StubOrigin {
            addr,
            received,
            fault,
            task: Arc::new(task.abort_handle()),
        })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far (the most recent, up to the record's limit), oldest
    /// first.
    pub fn received(&self) -> Vec<RecordedRequest> {
        self.received
            .lock()
            .map(|r| r.requests.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The most recent request received.
    pub fn last(&self) -> Option<RecordedRequest> {
        self.received
            .lock()
            .ok()
            .and_then(|r| r.requests.back().cloned())
    }

    /// Requests received whose path is `path`.
    pub fn count(&self, path: &str) -> usize {
        self.received().iter().filter(|r| r.path == path).count()
    }

    /// Applies `fault` to every request from now on; `None` restores normal answers.
    pub fn set_fault(&self, fault: Option<StubFault>) {
        if let Ok(mut f) = self.fault.lock() {
            *f = fault;
        }
    }

    /// Forgets the requests received so far.
    pub fn clear(&self) {
        if let Ok(mut r) = self.received.lock() {
            r.requests.clear();
        }
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

/// Response bodies of the stub: whole, or streamed for the slow and truncated faults.
type StubBody = UnsyncBoxBody<Bytes, crate::BoxError>;

/// Why the stub dropped a connection on purpose.
#[derive(Debug, thiserror::Error)]
#[error("stub origin fault: {0}")]
struct Fault(&'static str);

async fn handle(
    req: Request<Incoming>,
    log: Arc<Mutex<Record>>,
    forced: Option<StubFault>,
    served: Arc<AtomicU64>,
) -> Result<Response<StubBody>, Fault> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                "text/plain",
                "body too large\n".into(),
            ));
        }
    };
    let recorded = RecordedRequest {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        version: parts.version,
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    if let Ok(mut log) = log.lock() {
        log.push(recorded.clone());
    }
    match forced {
        Some(StubFault::Status(code)) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            return Ok(reply(
                status,
                "text/plain",
                format!("forced {code}\n").into(),
            ));
        }
        Some(StubFault::Hang) => std::future::pending::<()>().await,
        Some(StubFault::Reset) => return Err(Fault("forced reset")),
        None => {}
    }
    let path = recorded.path.as_str();
    if path.starts_with("/static/") || path.starts_with("/cache/") {
        // `delay=ms` holds the answer back (to overlap concurrent misses).
        if let Some(ms) = recorded
            .query
            .as_deref()
            .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("delay=")))
            .and_then(|ms| ms.parse::<u64>().ok())
        {
            tokio::time::sleep(Duration::from_millis(ms.min(10_000))).await;
        }
        let served = served.fetch_add(1, Ordering::SeqCst) + 1;
        return Ok(cacheable(&recorded, served));
    }
    if path == "/health" {
        return Ok(reply(StatusCode::OK, "text/plain", "ok\n".into()));
    }
    if let Some(resp) = fault(path).await? {
        return Ok(resp);
    }
    if path == "/echo" || path.starts_with("/echo/") || path.starts_with("/delay/") {
        let mut headers = serde_json::Map::new();
        for (name, value) in &recorded.headers {
            // Repeated headers are joined as a proxy would fold them.
            match headers.get_mut(name) {
                Some(serde_json::Value::String(prev)) => {
                    prev.push_str(", ");
                    prev.push_str(value);
                }
                _ => {
                    headers.insert(name.clone(), json!(value));
                }
            }
        }
        let body = json!({
            "method": recorded.method,
            "path": recorded.path,
            "query": recorded.query,
            "headers": headers,
            "body_bytes": recorded.body.len(),
        });
        let bytes = serde_json::to_vec_pretty(&body).unwrap_or_default();
        return Ok(reply(StatusCode::OK, "application/json", bytes.into()));
    }
    if path == "/" {
        return Ok(reply(
            StatusCode::OK,
            "text/html; charset=utf-8",
            Bytes::from_static(INDEX),
        ));
    }
    Ok(reply(
        StatusCode::NOT_FOUND,
        "text/plain",
        "not found on the stub origin\n".into(),
    ))
}

/// `/static/...` and `/cache/...`: bodies with the caching headers tests and the dev
/// demo need.
fn cacheable(req: &RecordedRequest, served: u64) -> Response<StubBody> {
    let params: Vec<(String, String)> =
        form_urlencoded::parse(req.query.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    };
    let (cc, etag, lm, vary) = if req.path.starts_with("/static/") {
        let etag = format!(
            "\"{}\"",
            &crate::util::sha256_hex(req.path.as_bytes())[..16]
        );
        (
            Some("public, max-age=60".to_owned()),
            Some(etag),
            None,
            None,
        )
    } else {
        (param("cc"), param("etag"), param("lm"), param("vary"))
    };
    if let (Some(etag), Some(inm)) = (&etag, req.header("if-none-match"))
        && inm.split(',').any(|t| t.trim() == etag)
    {
        let mut resp = reply(StatusCode::NOT_MODIFIED, "text/plain", Bytes::new());
        resp.headers_mut().remove(CONTENT_TYPE);
        set(&mut resp, "etag", Some(etag.clone()));
        set(&mut resp, "cache-control", cc);
        set(&mut resp, "x-served", Some(served.to_string()));
        return resp;
    }
    let mut body = format!("{} served {served}\n", req.path).into_bytes();
    if let Some(size) = param("size").and_then(|s| s.parse::<usize>().ok()) {
        body.resize(size.min(64 << 20), b'.');
    }
    let mut resp = reply(StatusCode::OK, "text/plain", body.into());
    set(&mut resp, "cache-control", cc);
    set(&mut resp, "etag", etag);
    set(&mut resp, "last-modified", lm);
    set(&mut resp, "vary", vary);
    set(&mut resp, "x-served", Some(served.to_string()));
    resp
}

fn set(resp: &mut Response<StubBody>, name: &'static str, value: Option<String>) {
    if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
        resp.headers_mut().insert(name, v);
    }
}

const INDEX: &[u8] = b"<!doctype html><title>wedge stub origin</title><h1>wedge stub origin</h1><p>Try <a href=\"/echo\">/echo</a>.</p>\n";

/// The injected faults; `None` for ordinary paths.
async fn fault(path: &str) -> Result<Option<Response<StubBody>>, Fault> {
    let number = |prefix: &str| {
        path.strip_prefix(prefix)
            .and_then(|n| n.parse::<u64>().ok())
    };
    if let Some(code) = number("/status/") {
        let status = StatusCode::from_u16(code as u16).unwrap_or(StatusCode::BAD_REQUEST);
        return Ok(Some(reply(
            status,
            "text/plain",
            format!("status {}\n", status.as_u16()).into(),
        )));
    }
    if let Some(ms) = number("/delay/") {
        tokio::time::sleep(Duration::from_millis(ms.min(60_000))).await;
        return Ok(None);
    }
    if let Some(ms) = number("/slow/") {
        let gap = Duration::from_millis(ms.min(10_000));
        let chunks = futures_util::stream::unfold(0u8, move |i| async move {
            if i == 5 {
                return None;
            }
            if i > 0 {
                tokio::time::sleep(gap).await;
            }
            Some((
                Ok::<_, crate::BoxError>(Frame::data(Bytes::from(format!("chunk {i}\n")))),
                i + 1,
            ))
        });
        let mut resp = Response::new(StreamBody::new(chunks).boxed_unsync());
        resp.headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        return Ok(Some(resp));
    }
    match path {
        "/reset" => Err(Fault("reset")),
        "/truncate" => {
            let parts = futures_util::stream::iter([
                Ok(Frame::data(Bytes::from(vec![b'x'; 100]))),
                Err::<Frame<Bytes>, crate::BoxError>(Box::new(Fault("truncated"))),
            ]);
            let mut resp = Response::new(StreamBody::new(parts).boxed_unsync());
            resp.headers_mut()
                .insert(CONTENT_LENGTH, HeaderValue::from_static("1024"));
            Ok(Some(resp))
        }
        _ => Ok(None),
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<StubBody> {
    let mut resp = Response::new(
        Full::new(body)
            .map_err(|never| match never {})
            .boxed_unsync(),
    );
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str) -> RecordedRequest {
        RecordedRequest {
            method: "GET".into(),
            path: path.into(),
            query: None,
            version: http::Version::HTTP_11,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    #[test]
    fn the_record_keeps_the_most_recent_requests_up_to_its_limit() {
        let mut record = Record {
            requests: VecDeque::new(),
            limit: 2,
        };
        for path in ["/a", "/b", "/c"] {
            record.push(request(path));
        }
        let paths: Vec<&str> = record.requests.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, ["/b", "/c"]);

        let mut none = Record {
            requests: VecDeque::new(),
            limit: 0,
        };
        none.push(request("/a"));
        assert!(none.requests.is_empty());
    }
}
