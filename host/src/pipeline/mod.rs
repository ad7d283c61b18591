//! The request path, phase by phase (documented like pingora's `ProxyHttp`):
//!
//! 1. **route** — host and path pick a distribution's behavior. Unknown host: 421.
//! 2. **viewer-request** — the behavior's functions that implement it, in order. Each
//!    may edit the request (headers, path, query) or answer it; an answer skips
//!    everything after, including viewer-response hooks (as Lambda@Edge does).
//! 3. **cache-key** — functions contribute parts of the cache key.
//! 4. **cache** — behaviors with a cache policy answer GET and HEAD from the cache
//!    when they can (`cached`); hits skip the origin hooks.
//! 5. **origin-request** — may edit or answer; an answer still gets viewer-response hooks.
//! 6. **forward** — to the next member of the origin pool, proxy headers fixed.
//! 7. **origin-response** — may edit the origin's status and headers, before the
//!    response is stored.
//! 8. **viewer-response** — may edit status and headers of whatever goes out.
//!
//! One instance per function per request serves all of its hooks. A function that
//! fails follows its `on_error`: `error` (500), `block` (503), or `continue` (its later
//! hooks are skipped, the request goes on).

mod body;
mod cached;
mod context;
mod explain;
mod fetch;
mod forward;
mod origin_policy;
pub mod proxy_headers;

use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Method, Request, Response};
use http_body::Body as _;

pub use body::{EdgeBody, ViewerBody, ViewerBodyError};
pub use context::ConnectionInfo;
pub use explain::{Explain, ResultType};

use crate::cache::CacheKey;
use crate::config::OnError;
use crate::error::RequestError;
use crate::snapshot::Snapshot;
use crate::util::RequestId;
use crate::wasm::{
    FunctionError, FunctionRun, Hook, HookOutcome, RequestView, ResponseView, SyntheticResponse,
};
use fetch::Origin;

/// Longest wait for the start of a body a function inspects: a viewer that stalls gets
/// its request inspected with what arrived.
const INSPECT_BODY_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

const X_CACHE: header::HeaderName = header::HeaderName::from_static("x-cache");

/// Handles one request against `snapshot`. Never fails: errors become responses.
pub async fn handle<B>(
    snapshot: Arc<Snapshot>,
    conn: &ConnectionInfo,
    req: Request<B>,
) -> (Response<EdgeBody>, Explain, RequestId)
where
    B: ViewerBody,
{
    let request_id = RequestId::next();
    let mut explain = Explain::default();
    if snapshot.config.access_log.is_some() {
        explain.access = Some(access_facts(&req));
    }
    let mut resp = match proxy(&snapshot, conn, req, request_id, &mut explain).await {
        Ok(resp) => resp,
        Err(e) => {
            tracing::warn!(request_id = %request_id, reason = e.reason(), "{e}");
            explain.result = ResultType::Error;
            error_response(&e)
        }
    };
    // CloudFront counts an error status from the origin as an error, not a miss.
    if explain.result == ResultType::Miss && resp.status().as_u16() >= 400 {
        explain.result = ResultType::Error;
    }
    resp.headers_mut().insert(X_CACHE, explain.result.x_cache());
    explain.decorate(snapshot.config.debug, resp.headers_mut());
    (resp, explain, request_id)
}

fn access_facts<B>(req: &Request<B>) -> crate::access_log::AccessFacts {
    let header = |n: header::HeaderName| {
        req.headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    crate::access_log::AccessFacts {
        method: req.method().to_string(),
        host: viewer_host(req.uri(), req.headers())
            .ok()
            .and_then(|h| h.to_str().ok().map(str::to_owned))
            .unwrap_or_default(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().map(str::to_owned),
        referer: header(header::REFERER),
        user_agent: header(header::USER_AGENT),
        protocol_version: match req.version() {
            http::Version::HTTP_10 => "HTTP/1.0",
            http::Version::HTTP_2 => "HTTP/2.0",
            _ => "HTTP/1.1",
        },
        request_bytes: header(header::CONTENT_LENGTH).and_then(|v| v.parse().ok()),
    }
}

async fn proxy<B>(
    snapshot: &Arc<Snapshot>,
    conn: &ConnectionInfo,
    req: Request<B>,
    request_id: RequestId,
    explain: &mut Explain,
) -> Result<Response<EdgeBody>, RequestError>
where
    B: ViewerBody,
{
    let (parts, body) = req.into_parts();
    refuse_unserved_method(&parts.method)?;
    let body = body::GuardedBody::new(body, snapshot.config.server.body_read_timeout);
    let host_value = viewer_host(&parts.uri, &parts.headers)?;
    let host = host_without_port(&host_value)?;
    let route = snapshot
        .router
        .route(&host, parts.uri.path())
        .ok_or_else(|| RequestError::UnknownHost(host.clone()))?;
    let behavior = route.behavior();
    explain.behavior = Some(route.name.clone());

    let mut runs = runs_for(snapshot, behavior, request_id)?;
    let mut view = RequestView::new(parts, conn.client_ip(), conn.sni.clone(), conn.scheme, host);
    // A function that inspects bodies (`inspect_body_kb`) gets the start of this one,
    // read before the first hook; the whole body still goes to the origin.
    let inspect = runs
        .iter()
        .map(|r| r.function.inspect_body)
        .max()
        .unwrap_or(0);
    let body = if inspect > 0 && !body.is_end_stream() {
        let (prefix, body) =
            Box::pin(body::InspectedBody::read(body, inspect, INSPECT_BODY_WAIT)).await;
        view.body_prefix = Some(prefix);
        http_body_util::Either::Right(body)
    } else {
        http_body_util::Either::Left(body)
    };

    // The hook runners and the cache path are boxed where they are awaited: an async fn's
    // future holds every sub-future it awaits, and the whole request's future (allocated
    // and moved for every request) was 12.2 KB with them inline, 6.4 KB without; a path
    // that runs them pays for its own allocation only.
    // viewer-request: an answer ends the request here, response hooks included.
    if implemented(&runs, Hook::ViewerRequest) {
        let answered;
        (view, answered) = Box::pin(run_request_hooks(
            &mut runs,
            Hook::ViewerRequest,
            view,
            request_id,
            explain,
        ))
        .await?;
        if let Some(resp) = answered {
            return Ok(resp);
        }
    } else {
        finish_after(&mut runs, Hook::ViewerRequest);
    }

    // cache-key
    let mut key_parts = Vec::new();
    for run in runs.iter_mut().filter(|r| r.implements(Hook::CacheKey)) {
        let (v, result, trace) = Box::pin(run.cache_key(view)).await;
        view = v;
        explain.hooks.push(trace);
        match result {
            Ok(Some(part)) => key_parts.push(part),
            Ok(None) => {}
            Err(e) => on_error(run, e, request_id)?,
        }
    }
    let function_part = (!key_parts.is_empty()).then(|| combine_key_parts(key_parts));
    finish_after(&mut runs, Hook::CacheKey);

    let origin = Origin {
        snapshot,
        behavior,
        conn,
        host_value: &host_value,
        request_id,
    };
    let policy = behavior
        .cache_policy
        .as_ref()
        .and_then(|id| snapshot.config.cache_policies.get(id));
    let cacheable_method = matches!(view.parts.method, Method::GET | Method::HEAD);
    // cache, then origin-request, forward and origin-response as needed.
    let (resp, mut sent) = match policy {
        Some(policy) if cacheable_method => {
            Box::pin(cached::respond(
                &origin,
                policy,
                &mut runs,
                view,
                body,
                function_part,
                explain,
            ))
            .await?
        }
        _ => {
            // An unsafe method that succeeds makes the cached copies of its URL stale
            // (RFC 9111 §4.4).
            let url = policy.map(|_| CacheKey::url_of(&view.host, &view.parts.uri));
            let key = function_part.as_deref();
            let fetched = origin.fetch(&mut runs, view, body, key, explain).await?;
            explain.cache_key = function_part;
            let status = fetched.response.status();
            if let Some(url) = url
                && fetched.from_origin
                && (status.is_success() || status.is_redirection())
            {
                snapshot.cache.invalidate_url(&url);
            }
            (fetched.response, fetched.sent)
        }
    };
    // viewer-response
    if !implemented(&runs, Hook::ViewerResponse) {
        return Ok(resp);
    }
    Box::pin(run_response_hooks(
        &mut runs,
        Hook::ViewerResponse,
        &mut sent,
        resp,
        request_id,
        explain,
    ))
    .await
}

/// Whether a function of the request implements `hook`. Callers skip the hook runners
/// (and moving the request or response through them) when none does.
fn implemented(runs: &[FunctionRun], hook: Hook) -> bool {
    runs.iter().any(|r| r.implements(hook))
}

/// Runs a request hook on every function that implements it, in order, until one
/// answers; then releases the instances that have nothing left to do.
async fn run_request_hooks(
    runs: &mut [FunctionRun],
    hook: Hook,
    mut view: RequestView,
    request_id: RequestId,
    explain: &mut Explain,
) -> Result<(RequestView, Option<Response<EdgeBody>>), RequestError> {
    let mut answered = None;
    for run in runs.iter_mut().filter(|r| r.implements(hook)) {
        let (v, result, trace) = run.request(hook, view).await;
        view = v;
        explain.hooks.push(trace);
        match result {
            Ok(HookOutcome::Continue) => {}
            Ok(HookOutcome::Respond(r)) => {
                explain.result = ResultType::FunctionGeneratedResponse;
                answered = Some(synthetic_response(r));
                break;
            }
            Err(e) => on_error(run, e, request_id)?,
        }
    }
    finish_after(runs, hook);
    Ok((view, answered))
}

async fn run_response_hooks(
    runs: &mut [FunctionRun],
    hook: Hook,
    sent: &mut Option<RequestView>,
    resp: Response<EdgeBody>,
    request_id: RequestId,
    explain: &mut Explain,
) -> Result<Response<EdgeBody>, RequestError> {
    // Callers skip this when no function implements `hook`.
    let Some(mut req) = sent.take() else {
        return Ok(resp);
    };
    let (parts, body) = resp.into_parts();
    let mut view = ResponseView::new(parts);
    for run in runs.iter_mut().filter(|r| r.implements(hook)) {
        let (r, v, result, trace) = run.response_hook(hook, req, view).await;
        (req, view) = (r, v);
        explain.hooks.push(trace);
        if let Err(e) = result {
            on_error(run, e, request_id)?;
        }
    }
    *sent = Some(req);
    Ok(Response::from_parts(view.parts, body))
}

/// One function's key part is used as is; several are joined with `||`, with `|`
/// escaped inside parts, so that different splits of the same text never collide.
fn combine_key_parts(mut parts: Vec<String>) -> String {
    if parts.len() == 1 {
        return parts.remove(0);
    }
    let escaped: Vec<String> = parts
        .iter()
        .map(|p| p.replace('%', "%25").replace('|', "%7C"))
        .collect();
    escaped.join("||")
}

/// One not-yet-instantiated run per function of `behavior`, in order.
fn runs_for(
    snapshot: &Snapshot,
    behavior: &crate::config::Behavior,
    request_id: RequestId,
) -> Result<Vec<FunctionRun>, RequestError> {
    behavior
        .functions
        .iter()
        .map(|id| {
            let f = snapshot
                .functions
                .get(id)
                .ok_or_else(|| RequestError::Internal(format!("function `{id}` is not loaded")))?;
            Ok(FunctionRun::new(f.clone(), request_id))
        })
        .collect()
}

/// Returns the pool slots of functions with nothing left to do in this request.
fn finish_after(runs: &mut [FunctionRun], hook: Hook) {
    for run in runs {
        run.finish_after(hook);
    }
}

/// Logs a function failure and applies its `on_error`.
fn on_error(
    run: &FunctionRun,
    e: FunctionError,
    request_id: RequestId,
) -> Result<(), RequestError> {
    tracing::error!(request_id = %request_id, function = %run.function.id, kind = e.kind(), "{e}");
    match run.function.on_error {
        OnError::Continue => Ok(()),
        OnError::Block => Err(RequestError::FunctionBlocked(e)),
        OnError::Error => Err(RequestError::FunctionFailed(e)),
    }
}

/// The host the viewer asked for, as sent (may carry a port): the URI authority for
/// HTTP/2 and absolute-form requests, otherwise the Host header.
/// CONNECT (a tunnel, not a request for content) and TRACE (it would echo credentials
/// back across sites) are never passed to an origin, as neither CloudFront nor nginx
/// does.
fn refuse_unserved_method(method: &http::Method) -> Result<(), RequestError> {
    if method == http::Method::CONNECT || method == http::Method::TRACE {
        return Err(RequestError::MethodNotAllowed(method.clone()));
    }
    Ok(())
}

/// The host a request is for: the authority of an absolute-form target (which, as RFC
/// 9112 says, overrides Host), else the Host header, which must be there once.
fn viewer_host(uri: &http::Uri, headers: &http::HeaderMap) -> Result<HeaderValue, RequestError> {
    let mut hosts = headers.get_all(header::HOST).iter();
    let first = hosts.next();
    // Two Host lines could route by one and reach the origin with the other.
    if hosts.next().is_some() {
        return Err(RequestError::DuplicateHost);
    }
    if let Some(authority) = uri.authority() {
        return HeaderValue::from_str(authority.as_str()).map_err(|_| RequestError::MissingHost);
    }
    first.cloned().ok_or(RequestError::MissingHost)
}

/// Lower-case host without port; IPv6 literals keep their brackets.
fn host_without_port(value: &HeaderValue) -> Result<String, RequestError> {
    let s = value.to_str().map_err(|_| RequestError::MissingHost)?;
    // The usual plain name needs no authority parsing (nor its copy).
    let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-';
    if !s.is_empty() && s.bytes().all(plain) {
        return Ok(s.to_ascii_lowercase());
    }
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
    if let RequestError::MethodNotAllowed(_) = e {
        h.insert(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE"),
        );
    }
    resp
}
