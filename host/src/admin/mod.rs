//! The admin listener: `/healthz` and `/status` (JSON) for operators.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::UNIX_EPOCH;

use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Method, Request, Response, StatusCode};
use serde_json::json;

use crate::edge::Edge;
use crate::pipeline::EdgeBody;

/// Serves the admin endpoints for one connection.
#[derive(Clone)]
pub struct AdminService {
    edge: Edge,
}

impl AdminService {
    pub fn new(edge: Edge) -> Self {
        Self { edge }
    }

    fn respond(&self, method: &Method, path: &str) -> Response<EdgeBody> {
        match (method, path) {
            (&Method::GET, "/healthz") => text(StatusCode::OK, "ok\n"),
            (&Method::GET, "/status") => {
                let body = serde_json::to_vec_pretty(&self.status()).unwrap_or_default();
                let mut resp = Response::new(EdgeBody::full(body));
                resp.headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                resp
            }
            (_, "/healthz" | "/status") => {
                text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n")
            }
            _ => text(StatusCode::NOT_FOUND, "not found\n"),
        }
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
        json!({
            "version": snapshot.version,
            "config": snapshot.config.source.as_ref().map(|p| p.display().to_string()),
            "functions": functions,
            "certificates": certificates,
            "distributions": snapshot.config.distributions.iter().map(|d| json!({ "id": d.id, "aliases": d.aliases })).collect::<Vec<_>>(),
        })
    }
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

impl<B> hyper::service::Service<Request<B>> for AdminService {
    type Response = Response<EdgeBody>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<EdgeBody>, Infallible>> + Send>>;

    fn call(&self, req: Request<B>) -> Self::Future {
        let resp = self.respond(req.method(), req.uri().path());
        Box::pin(async move { Ok(resp) })
    }
}
