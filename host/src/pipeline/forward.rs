//! Forwarding to an origin pool or origin group: pick a member, send with timeouts,
//! retry where it is safe, fail over to a group's secondary, and feed every outcome to
//! the member's passive health.
//!
//! Safety rules (Envoy's and CloudFront's):
//! - A body streams and is not buffered: once an attempt has started sending it, the
//!   request is not sent again. A connect failure sends nothing, so the next attempt
//!   gets the body intact.
//! - A connect failure may be retried for any method; a timeout, a broken connection
//!   or a `retry_on_status` answer only for idempotent methods whose body (if any) was
//!   not sent.
//! - Retries go to members not tried yet, at most `max_retries`, within the pool's
//!   retry budget.
//! - A group fails over for GET, HEAD and OPTIONS when the primary's last attempt
//!   answered a failover status, could not connect, broke or timed out, or the
//!   primary had no available member.

use std::sync::atomic::Ordering;

use http::header::{self, HeaderValue};
use http::uri::{Authority, PathAndQuery};
use http::{HeaderMap, Method, Request, Response, Uri, Version};

use super::body::{EdgeBody, ViewerBody};
use super::context::ConnectionInfo;
use super::proxy_headers;
use crate::config::{Behavior, HostRule};
use crate::error::RequestError;
use crate::origin::{
    InFlight, OriginBody, OriginPool, Outcome, RequestBody, Unavailable, UpstreamBody, error_chain,
};
use crate::snapshot::Snapshot;

/// How one attempt ended, when it did not produce a response to return.
enum Failure {
    NoMember(Unavailable),
    Connect(String),
    Timeout,
    Broken(String),
    /// The viewer's request body stalled (`true`) or broke off: not the member's doing.
    Viewer(bool),
    /// A response the pool wanted to retry or fail over from; returned if nothing
    /// better comes.
    Status(Box<(Response<hyper::body::Incoming>, InFlight)>),
}

/// The request head, kept so that it can be sent again. What does not depend on the
/// member is worked out once here, not per attempt.
struct Head {
    method: Method,
    path_and_query: PathAndQuery,
    /// Cloned for attempts that may be followed by another; the last one takes them.
    headers: HeaderMap,
    /// The Host to send (the viewer's, or the policy's fixed one), and the URI
    /// authority that carries it (HTTP/2's `:authority`) when it parses as one.
    host: HeaderValue,
    authority: Option<Authority>,
    /// Send each member its own host and port instead.
    member_host: bool,
}

/// Sends the request to the behavior's origin pool or group.
pub(super) async fn forward<B>(
    snapshot: &Snapshot,
    behavior: &Behavior,
    conn: &ConnectionInfo,
    mut parts: http::request::Parts,
    body: B,
    host_value: HeaderValue,
    cache_key: Option<&str>,
) -> Result<Response<EdgeBody>, RequestError>
where
    B: ViewerBody,
{
    let (primary, secondary) = resolve(snapshot, behavior)?;
    let viewer_version = parts.version;
    proxy_headers::strip_hop_by_hop(&mut parts.headers);
    proxy_headers::add_forwarding(
        &mut parts.headers,
        conn.client_ip_value(),
        conn.scheme,
        &host_value,
        viewer_version,
    );
    let path_and_query = parts
        .uri
        .path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"));
    let host_rule = super::origin_policy::of(snapshot, behavior).map(|p| &p.host);
    let host = match host_rule {
        Some(HostRule::Fixed(v)) => v.clone(),
        _ => host_value,
    };
    let authority = host.to_str().ok().and_then(|h| h.parse().ok());
    let mut head = Head {
        method: parts.method,
        path_and_query,
        headers: parts.headers,
        host,
        authority,
        member_host: host_rule == Some(&HostRule::Origin),
    };
    let body = RequestBody::new(body);

    // The primary (with the statuses it fails over on, in a group), then the secondary.
    let stages = [
        (Some(primary), secondary.map(|(_, statuses)| statuses)),
        (secondary.map(|(pool, _)| pool), None),
    ];
    let failover_method = matches!(head.method, Method::GET | Method::HEAD | Method::OPTIONS);
    let mut last = Failure::NoMember(Unavailable::Unhealthy);
    let mut last_pool = primary;
    for (stage, (pool, failover_status)) in stages.into_iter().enumerate() {
        let Some(pool) = pool else { break };
        if stage > 0 {
            primary.failovers.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                group = %behavior.origin,
                from = %primary.id,
                to = %pool.id,
                reason = failure_reason(&last),
                "origin group failing over"
            );
        }
        last_pool = pool;
        let key = pool.hash_key(
            &head.headers,
            cache_key,
            &head.host,
            head.path_and_query.as_str(),
        );
        // A secondary still to come needs the head too.
        let head_needed_after = stage == 0 && failover_method && secondary.is_some();
        let result = send_to_pool(pool, &mut head, &body, &key, head_needed_after).await;
        let may_fail_over = failover_method && body.unsent();
        match result {
            // A failover status is held back while a secondary may still answer.
            Ok((resp, in_flight))
                if may_fail_over
                    && failover_status
                        .as_ref()
                        .is_some_and(|s| s.contains(&resp.status().as_u16())) =>
            {
                last = Failure::Status(Box::new((resp, in_flight)));
            }
            Ok((resp, in_flight)) => return Ok(finish(pool, resp, in_flight, viewer_version)),
            Err(f) => last = f,
        }
        let fails_over = match &last {
            Failure::Status(held) => failover_status
                .as_ref()
                .is_some_and(|s| s.contains(&held.0.status().as_u16())),
            // The viewer's doing: another pool would fare no better.
            Failure::Viewer(_) => false,
            _ => true,
        };
        if !(may_fail_over && fails_over && failover_status.is_some()) {
            break;
        }
    }
    let origin = last_pool.id.to_string();
    Err(match last {
        Failure::Status(held) => {
            let (resp, in_flight) = *held;
            return Ok(finish(last_pool, resp, in_flight, viewer_version));
        }
        Failure::NoMember(Unavailable::Unhealthy) => RequestError::NoHealthyOrigin(origin),
        Failure::NoMember(Unavailable::Busy) => RequestError::OriginBusy(origin),
        Failure::Connect(message) => RequestError::OriginConnect { origin, message },
        Failure::Timeout => RequestError::OriginTimeout { origin },
        Failure::Broken(message) => RequestError::Origin { origin, message },
        Failure::Viewer(stalled) => RequestError::ViewerBody { stalled },
    })
}

type Group<'a> = (&'a OriginPool, Option<(&'a OriginPool, &'a [u16])>);

/// The pool a behavior names, or a group's primary and secondary.
fn resolve<'a>(snapshot: &'a Snapshot, behavior: &Behavior) -> Result<Group<'a>, RequestError> {
    let pool = |id| {
        snapshot
            .origins
            .get(id)
            .map(|p| p.as_ref())
            .ok_or_else(|| RequestError::Internal(format!("origin `{id}` is not loaded")))
    };
    if let Some(group) = snapshot.config.origin_groups.get(&behavior.origin) {
        let secondary = (pool(&group.secondary)?, group.failover_status.as_slice());
        return Ok((pool(&group.primary)?, Some(secondary)));
    }
    Ok((pool(&behavior.origin)?, None))
}

/// Tries the pool's members: the first attempt and the retries the rules allow.
/// `head_needed_after`: the caller may send the head elsewhere once this returns.
async fn send_to_pool(
    pool: &OriginPool,
    head: &mut Head,
    body: &RequestBody,
    key: &str,
    head_needed_after: bool,
) -> Result<(Response<hyper::body::Incoming>, InFlight), Failure> {
    let policy = &pool.config.retries;
    let idempotent = matches!(
        head.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE
    );
    pool.budget.deposit();
    let mut tried = Tried::default();
    let mut last: Option<Failure> = None;
    loop {
        let (index, in_flight) = match pool.pick(key, tried.as_slice()) {
            Ok(picked) => picked,
            // Nothing left to retry on: the last real failure stands.
            Err(u) => return Err(last.unwrap_or(Failure::NoMember(u))),
        };
        tried.push(index);
        let member = &pool.members()[index];
        // Only an attempt that may be followed by another sends a copy of the headers.
        let may_retry =
            tried.len() <= policy.max_retries as usize && tried.len() < pool.members().len();
        let headers = if may_retry || head_needed_after {
            head.headers.clone()
        } else {
            std::mem::take(&mut head.headers)
        };
        let req = build_request(head, member, headers, body.attempt()).map_err(Failure::Broken)?;
        let sent = first_byte(
            pool.config.timeouts.first_byte,
            body,
            member.client.request(req),
        )
        .await;
        let (failure, retry_ok) = match sent {
            Ok(Ok(resp)) => {
                let status = resp.status().as_u16();
                let outcome = if status >= 500 {
                    Outcome::ServerError
                } else {
                    Outcome::Success
                };
                pool.record(index, outcome);
                if !policy.retry_on_status.contains(&status) || !idempotent || !body.unsent() {
                    return Ok((resp, in_flight));
                }
                (Failure::Status(Box::new((resp, in_flight))), true)
            }
            // The viewer's body stalled or broke off: nothing to hold against the member,
            // and nothing left to send anywhere else.
            Ok(Err(ref e)) if let Some(v) = crate::pipeline::ViewerBodyError::find(e) => {
                let stalled = matches!(v, crate::pipeline::ViewerBodyError::Stalled(_));
                (Failure::Viewer(stalled), false)
            }
            Ok(Err(e)) if e.is_connect() => {
                pool.record(index, Outcome::ConnectError);
                // Nothing was sent: safe to retry whatever the method.
                (Failure::Connect(error_chain(&e)), body.unsent())
            }
            Ok(Err(e)) => {
                pool.record(index, Outcome::ConnectError);
                (
                    Failure::Broken(error_chain(&e)),
                    idempotent && body.unsent(),
                )
            }
            Err(_) => {
                pool.record(index, Outcome::ConnectError);
                (Failure::Timeout, idempotent && body.unsent())
            }
        };
        let reason = failure_reason(&failure);
        last = Some(failure);
        if !retry_ok || tried.len() > policy.max_retries as usize {
            break;
        }
        if !pool.budget.withdraw() {
            tracing::warn!(origin = %pool.id, member = %member.url(), reason, "retry budget spent; not retrying");
            break;
        }
        pool.retries.fetch_add(1, Ordering::Relaxed);
        tracing::info!(origin = %pool.id, member = %member.url(), reason, attempt = tried.len(), "retrying on another member");
    }
    Err(last.unwrap_or(Failure::NoMember(Unavailable::Unhealthy)))
}

/// Waits for `response` (the response head), giving up `limit` after the request body
/// has been sent: while a viewer is still uploading, the origin cannot be late (the
/// viewer's pauses have their own limit, `body_read_timeout_ms`).
async fn first_byte<F: std::future::Future>(
    limit: std::time::Duration,
    body: &RequestBody,
    response: F,
) -> Result<F::Output, tokio::time::error::Elapsed> {
    if body.is_finished() {
        return tokio::time::timeout(limit, response).await;
    }
    let mut response = std::pin::pin!(response);
    tokio::select! {
        out = &mut response => return Ok(out),
        () = body.finished() => {}
    }
    tokio::time::timeout(limit, response).await
}

fn build_request(
    head: &Head,
    member: &crate::origin::PoolMember,
    mut headers: HeaderMap,
    body: OriginBody,
) -> Result<Request<OriginBody>, String> {
    let (host, authority) = match &member.host {
        Some(own) if head.member_host => (own.clone(), Some(member.authority.clone())),
        _ => (head.host.clone(), head.authority.clone()),
    };
    // The member's client dials the member whatever the URI names, so the URI carries
    // the Host to send (HTTP/2's :authority).
    let mut uri = http::uri::Parts::default();
    uri.scheme = Some(member.scheme.clone());
    uri.authority = Some(authority.unwrap_or_else(|| member.authority.clone()));
    uri.path_and_query = Some(head.path_and_query.clone());
    let uri = Uri::from_parts(uri).map_err(|e| format!("cannot build origin URI: {e}"))?;
    headers.insert(header::HOST, host);
    let mut req = Request::new(body);
    *req.method_mut() = head.method.clone();
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11;
    *req.headers_mut() = headers;
    Ok(req)
}

/// The members one request has tried, on the stack for the usual few attempts.
#[derive(Default)]
struct Tried {
    inline: [usize; 4],
    len: usize,
    spilled: Vec<usize>,
}

impl Tried {
    fn push(&mut self, index: usize) {
        if self.len < self.inline.len() {
            self.inline[self.len] = index;
        } else {
            if self.spilled.is_empty() {
                self.spilled.extend_from_slice(&self.inline);
            }
            self.spilled.push(index);
        }
        self.len += 1;
    }

    fn len(&self) -> usize {
        self.len
    }

    fn as_slice(&self) -> &[usize] {
        if self.spilled.is_empty() {
            &self.inline[..self.len]
        } else {
            &self.spilled
        }
    }
}

/// Cleans the origin's response for the viewer.
fn finish(
    pool: &OriginPool,
    resp: Response<hyper::body::Incoming>,
    in_flight: InFlight,
    viewer_version: Version,
) -> Response<EdgeBody> {
    let (mut parts, body) = resp.into_parts();
    proxy_headers::strip_hop_by_hop(&mut parts.headers);
    // Room for Via and the edge's X-Cache: the map grows at most once.
    parts.headers.reserve(2);
    parts
        .headers
        .append(header::VIA, proxy_headers::via_value(parts.version));
    parts.version = viewer_version;
    let body = UpstreamBody::new(body, pool.config.timeouts.idle, in_flight);
    Response::from_parts(parts, EdgeBody::Upstream(body))
}

fn failure_reason(f: &Failure) -> &'static str {
    match f {
        Failure::NoMember(Unavailable::Unhealthy) => "no-healthy-member",
        Failure::NoMember(Unavailable::Busy) => "members-at-limit",
        Failure::Connect(_) => "connect-error",
        Failure::Timeout => "first-byte-timeout",
        Failure::Broken(_) => "connection-broken",
        Failure::Viewer(_) => "viewer-body",
        Failure::Status(..) => "status",
    }
}
