//! The admin listener: `/healthz`, `/status` (JSON), `/metrics`, `POST /reload` and
//! `POST /purge?url=|prefix=|key=|all` (cache purges).
//!
//! It binds to loopback unless a bearer token is configured (`admin.token`); with a
//! token, every endpoint but `/healthz` requires `Authorization: Bearer <token>`.
//! Refusals are 401 and logged.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::UNIX_EPOCH;

use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::cache::PurgeTarget;
use crate::edge::Edge;
use crate::pipeline::EdgeBody;

/// Serves the admin endpoints for one connection.
#[derive(Clone)]
pub struct AdminService {
    edge: Edge,
    peer: Option<std::net::SocketAddr>,
}

impl AdminService {
    pub fn new(edge: Edge) -> Self {
        Self { edge, peer: None }
    }

    /// Records the peer for the log lines of refused requests.
    pub fn with_peer(mut self, peer: std::net::SocketAddr) -> Self {
        self.peer = Some(peer);
        self
    }

    async fn respond(
        self,
        method: Method,
        path: String,
        query: Option<String>,
        auth: Option<HeaderValue>,
    ) -> Response<EdgeBody> {
        if path != "/healthz" && !self.authorized(auth.as_ref()) {
            tracing::warn!(peer = ?self.peer, path, "admin request refused: missing or wrong bearer token");
            let mut resp = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
            resp.headers_mut()
                .insert("www-authenticate", HeaderValue::from_static("Bearer"));
            return resp;
        }
        match (&method, path.as_str()) {
            (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
            (&Method::GET, "/status") => json_response(StatusCode::OK, &self.status()),
            (&Method::GET, "/metrics") => {
                let mut resp = Response::new(EdgeBody::full(self.edge.metrics().render()));
                resp.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static(
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    ),
                );
                resp
            }
            (&Method::POST, "/reload") => match self.edge.reload_from_source().await {
                Ok(version) => json_response(
                    StatusCode::OK,
                    &json!({ "reloaded": true, "version": version }),
                ),
                Err(e) => json_response(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &json!({ "reloaded": false, "error": e.to_string() }),
                ),
            },
            (&Method::POST, "/purge") => self.purge(query.as_deref()),
            (_, "/healthz" | "/status" | "/metrics" | "/reload" | "/purge") => {
                text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
    }

    /// Removes cache entries named by exactly one of `url` (`host/path?query`, scheme
    /// optional), `prefix` (of such URLs), `key` (a cache key as `x-wedge-explain`
    /// shows it) or `all`.
    fn purge(&self, query: Option<&str>) -> Response<EdgeBody> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let target = match pairs.as_slice() {
            [(k, v)] if k == "url" && !v.is_empty() => PurgeTarget::Url(v.clone()),
            [(k, v)] if k == "prefix" && !v.is_empty() => PurgeTarget::Prefix(v.clone()),
            [(k, v)] if k == "key" && !v.is_empty() => PurgeTarget::Key(v.clone()),
            [(k, _)] if k == "all" => PurgeTarget::All,
            _ => {
                return json_response(
                    StatusCode::BAD_REQUEST,
                    &json!({ "error": "give exactly one of url=, prefix=, key= or all" }),
                );
            }
        };
        let purged = self.edge.snapshot().cache.purge(&target);
        tracing::info!(?target, purged, "cache purge");
        json_response(StatusCode::OK, &json!({ "purged": purged }))
    }

    fn authorized(&self, auth: Option<&HeaderValue>) -> bool {
        let snapshot = self.edge.snapshot();
        let Some(token) = &snapshot.config.admin_token else {
            return true;
        };
        let presented = auth
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        constant_time_eq(presented.as_bytes(), token.as_bytes())
    }

    fn status(&self) -> serde_json::Value {
        let snapshot = self.edge.snapshot();
        let secs = |t: std::time::SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        };
        let mut functions: Vec<_> = snapshot
            .functions
            .values()
            .map(|f| {
                json!({
                    "id": f.id,
                    "module": f.module.display().to_string(),
                    "sha256": f.content_hash,
                    "loaded_at_unix": secs(f.loaded_at),
                    "on_error": f.on_error,
                    "hooks": f.hooks.iter().map(|h| h.as_str()).collect::<Vec<_>>(),
                    "preinitialized": f.preinitialized(),
                    "reused_decisions": f.reused_decisions().map(|(hook, inputs)| {
                        json!({ "hook": hook.as_str(), "inputs": inputs })
                    }),
                    "stats": f.stats.to_json(),
                })
            })
            .collect();
        functions.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        let certificates: Vec<_> = snapshot
            .certificates
            .certificates
            .iter()
            .map(|c| json!({ "id": c.id, "names": c.names, "not_after_unix": secs(c.not_after) }))
            .collect();
        let mut origins: Vec<_> = snapshot.origins.values().map(|p| p.status()).collect();
        origins.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        let groups: Vec<_> = snapshot
            .config
            .origin_groups
            .iter()
            .map(|(id, g)| {
                json!({
                    "id": id,
                    "primary": g.primary,
                    "secondary": g.secondary,
                    "failover_status": g.failover_status,
                })
            })
            .collect();
        json!({
            "version": snapshot.version,
            "config": snapshot.config.source.as_ref().map(|p| p.display().to_string()),
            "reload": self.edge.reload_status(),
            "functions": functions,
            "certificates": certificates,
            "cache": snapshot.cache.status_json(),
            "origins": origins,
            "origin_groups": groups,
            "distributions": snapshot.config.distributions.iter().map(|d| json!({ "id": d.id, "aliases": d.aliases })).collect::<Vec<_>>(),
        })
    }
}

/// Compares without an early exit, so response timing does not reveal the token.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn text(status: StatusCode, body: &'static str) -> Response<EdgeBody> {
    let mut resp = Response::new(EdgeBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    resp
}

fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<EdgeBody> {
    let body = serde_json::to_vec_pretty(value).unwrap_or_default();
    let mut resp = Response::new(EdgeBody::full(body));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp
}

impl<B> hyper::service::Service<Request<B>> for AdminService {
    type Response = Response<EdgeBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<EdgeBody>, Infallible>> + Send>>;

    fn call(&self, req: Request<B>) -> Self::Future {
        let this = self.clone();
        let (method, path, query, auth) = (
            req.method().clone(),
            req.uri().path().to_owned(),
            req.uri().query().map(str::to_owned),
            req.headers().get(AUTHORIZATION).cloned(),
        );
        Box::pin(async move { Ok(this.respond(method, path, query, auth).await) })
    }
}
