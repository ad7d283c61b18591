//! The request path: route, viewer-request functions, forward to the origin pool, answer.
//!
//! Phases (see the README's architecture section):
//! 1. **route** — host and path pick a distribution's behavior; an unknown host is 421.
//! 2. **viewer-request** — the behavior's functions run in order in fresh instances;
//!    each may edit the request or answer it. A failing function follows its `on_error`.
//! 3. **forward** — hop-by-hop headers go, forwarding headers come, and the request is
//!    sent to the next member of the behavior's origin pool.
//! 4. **answer** — the origin's response streams back with hop-by-hop headers removed.

mod body;
mod context;
pub mod proxy_headers;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, Uri, Version};
use http_body::Body;
use http_body_util::BodyExt;

pub use body::EdgeBody;
pub use context::ConnectionInfo;

use crate::config::OnError;
use crate::error::RequestError;
use crate::snapshot::Snapshot;
use crate::wasm::function::DEFAULT_WRITE_LIMIT;
use crate::wasm::{HookOutcome, RequestView, SyntheticResponse};

/// How long the origin has to start answering.
const ORIGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Handles one request against `snapshot`. Never fails: errors become responses.
pub async fn handle<B>(
    snapshot: Arc<Snapshot>,
    conn: &ConnectionInfo,
    req: Request<B>,
) -> Response<EdgeBody>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<crate::BoxError>,
{
    let request_id = new_request_id();
    match proxy(&snapshot, conn, req, &request_id).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::warn!(request_id = %request_id, reason = e.reason(), "{e}");
            error_response(&e)
        }
    }
}

async fn proxy<B>(
    snapshot: &Snapshot,
    conn: &ConnectionInfo,
    req: Request<B>,
    request_id: &Arc<str>,
) -> Result<Response<EdgeBody>, RequestError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<crate::BoxError>,
{
    let (mut parts, body) = req.into_parts();
    let host_value = viewer_host(&parts)?;
    let host = host_without_port(&host_value)?;
    let route = snapshot
        .router
        .route(&host, parts.uri.path())
        .ok_or_else(|| RequestError::UnknownHost(host.clone()))?;
    let behavior = route.behavior();

    if !behavior.functions.is_empty() {
        let mut view = RequestView {
            parts,
            client_ip: conn.client_ip(),
            sni: conn.sni.clone(),
            scheme: conn.scheme,
            host,
            written: 0,
            write_limit: DEFAULT_WRITE_LIMIT,
        };
        for id in &behavior.functions {
            let function = snapshot
                .functions
                .get(id)
                .ok_or_else(|| RequestError::Internal(format!("function `{id}` is not loaded")))?;
            let (returned, outcome) = function.on_viewer_request(view, request_id).await;
            view = returned;
            match outcome {
                Ok(HookOutcome::Continue) => {}
                Ok(HookOutcome::Respond(r)) => return Ok(synthetic_response(r)),
                Err(e) => {
                    tracing::error!(request_id = %request_id, function = %id, "{e}");
                    match function.on_error {
                        OnError::Continue => {}
                        OnError::Block => return Err(RequestError::FunctionBlocked(e)),
                        OnError::Error => return Err(RequestError::FunctionFailed(e)),
                    }
                }
            }
        }
        parts = view.parts;
    }

    let pool = snapshot.origins.get(&behavior.origin).ok_or_else(|| {
        RequestError::Internal(format!("origin `{}` is not loaded", behavior.origin))
    })?;
    let member = pool
        .pick()
        .ok_or_else(|| RequestError::NoOrigin(pool.id.to_string()))?;
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|pq| pq.as_str())
        .unwrap_or("/");
    parts.uri = Uri::builder()
        .scheme(member.scheme.clone())
        .authority(member.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .map_err(|e| RequestError::Internal(format!("cannot build origin URI: {e}")))?;
    let viewer_version = parts.version;
    proxy_headers::strip_hop_by_hop(&mut parts.headers);
    proxy_headers::add_forwarding(
        &mut parts.headers,
        conn.client_ip(),
        conn.scheme,
        &host_value,
        viewer_version,
    );
    parts.headers.insert(header::HOST, host_value);
    parts.version = Version::HTTP_11;

    let origin_req = Request::from_parts(parts, body.map_err(Into::into).boxed_unsync());
    let origin = pool.id.to_string();
    let resp = match tokio::time::timeout(ORIGIN_TIMEOUT, snapshot.client.request(origin_req)).await
    {
        Err(_) => return Err(RequestError::OriginTimeout { origin }),
        Ok(Err(e)) => {
            return Err(RequestError::Origin {
                origin,
                message: error_chain(&e),
            });
        }
        Ok(Ok(resp)) => resp,
    };
    let (mut rparts, rbody) = resp.into_parts();
    proxy_headers::strip_hop_by_hop(&mut rparts.headers);
    rparts
        .headers
        .append(header::VIA, proxy_headers::via_value(rparts.version));
    rparts.version = viewer_version;
    Ok(Response::from_parts(rparts, EdgeBody::Origin(rbody)))
}

/// The host the viewer asked for, as sent (may carry a port): the URI authority for
/// HTTP/2 and absolute-form requests, otherwise the Host header.
fn viewer_host(parts: &http::request::Parts) -> Result<HeaderValue, RequestError> {
    if let Some(authority) = parts.uri.authority() {
        return HeaderValue::from_str(authority.as_str()).map_err(|_| RequestError::MissingHost);
    }
    parts
        .headers
        .get(header::HOST)
        .cloned()
        .ok_or(RequestError::MissingHost)
}

/// Lower-case host without port; IPv6 literals keep their brackets.
fn host_without_port(value: &HeaderValue) -> Result<String, RequestError> {
    let s = value.to_str().map_err(|_| RequestError::MissingHost)?;
    let authority: http::uri::Authority = s.parse().map_err(|_| RequestError::MissingHost)?;
    Ok(authority.host().to_ascii_lowercase())
}

fn synthetic_response(r: SyntheticResponse) -> Response<EdgeBody> {
    let mut resp = Response::new(EdgeBody::full(r.body));
    *resp.status_mut() = r.status;
    *resp.headers_mut() = r.headers;
    resp
}

/// The response for a request the edge could not complete.
pub fn error_response(e: &RequestError) -> Response<EdgeBody> {
    let status = e.status();
    let body = format!(
        "{} {}\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let mut resp = Response::new(EdgeBody::full(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert("x-wedge-error", HeaderValue::from_static(e.reason()));
    resp
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// A request id unique within this process run: start time and a counter, in hex.
fn new_request_id() -> Arc<str> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    static EPOCH: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    });
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Arc::from(format!("{epoch:08x}-{n:08x}"))
}
