//! Forwarding to the origin pool: pick a member, rewrite the URI, fix the proxy
//! headers, send, and clean the response.

use std::time::Duration;

use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{Request, Response, Uri, Version};
use http_body::Body;
use http_body_util::BodyExt;

use super::body::EdgeBody;
use super::context::ConnectionInfo;
use super::proxy_headers;
use crate::config::Behavior;
use crate::error::RequestError;
use crate::snapshot::Snapshot;

/// How long the origin has to start answering.
const ORIGIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Sends the request to the next member of the behavior's pool.
pub(super) async fn forward<B>(
    snapshot: &Snapshot,
    behavior: &Behavior,
    conn: &ConnectionInfo,
    mut parts: http::request::Parts,
    body: B,
    host_value: HeaderValue,
) -> Result<Response<EdgeBody>, RequestError>
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<crate::BoxError>,
{
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
