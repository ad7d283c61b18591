//! A stub origin for development and tests: answers `/echo` with a JSON description of
//! the request it received, and records every request.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::json;
use tokio::net::TcpListener;

/// Largest request body the stub reads and records.
const MAX_BODY: usize = 1 << 20;

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

/// A running stub origin on a local port.
#[derive(Clone)]
pub struct StubOrigin {
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<RecordedRequest>>>,
    task: Arc<tokio::task::AbortHandle>,
}

impl StubOrigin {
    /// Starts on `addr` (use port 0 for a free port).
    pub async fn start(addr: SocketAddr) -> std::io::Result<StubOrigin> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let received: Arc<Mutex<Vec<RecordedRequest>>> = Arc::default();
        let log = received.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let _ = tcp.set_nodelay(true);
                let log = log.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(req, log.clone()));
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), svc)
                        .await;
                });
            }
        });
        Ok(StubOrigin {
            addr,
            received,
            task: Arc::new(task.abort_handle()),
        })
    }

    /// `http://127.0.0.1:port`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, oldest first.
    pub fn received(&self) -> Vec<RecordedRequest> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The most recent request received.
    pub fn last(&self) -> Option<RecordedRequest> {
        self.received.lock().ok().and_then(|r| r.last().cloned())
    }

    pub fn stop(&self) {
        self.task.abort();
    }
}

async fn handle(
    req: Request<Incoming>,
    log: Arc<Mutex<Vec<RecordedRequest>>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
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
    let path = recorded.path.as_str();
    if path == "/echo" || path.starts_with("/echo/") {
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

const INDEX: &[u8] = b"<!doctype html><title>wedge stub origin</title><h1>wedge stub origin</h1><p>Try <a href=\"/echo\">/echo</a>.</p>\n";

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}
