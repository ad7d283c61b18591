//! A test harness for function authors: load functions with their config, send requests
//! through the real pipeline to a recording stub origin, and assert on the response and
//! on what the origin received. `wedge test SPEC.toml` runs the same from a file
//! ([`spec`]).
//!
//! ```no_run
//! # async fn t() -> Result<(), Box<dyn std::error::Error>> {
//! use wedge::testing::Harness;
//! let run = Harness::new()
//!     .function("device-class", "target/functions/wasm32-wasip2/release/device_class.wasm")
//!     .start()
//!     .await?;
//! let resp = run.send(http::Request::get("/echo").header("user-agent", "curl/8.5.0").body("")?).await;
//! assert_eq!(resp.status(), 200);
//! assert_eq!(run.origin().last().unwrap().header("x-device-class"), Some("bot"));
//! # Ok(()) }
//! ```

pub mod spec;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};

use crate::config::{
    Behavior, Config, DebugConfig, Distribution, DistributionId, FunctionConfig, FunctionId,
    HostPattern, NameError, OnError, OriginId, OriginMember, OriginPoolConfig, PathPattern,
};
use crate::pipeline::ConnectionInfo;
use crate::stub_origin::StubOrigin;
use crate::{Edge, EdgeError};

/// Why a harness could not start.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(transparent)]
    Name(#[from] NameError),
    #[error("stub origin: {0}")]
    Origin(#[from] std::io::Error),
    #[error(transparent)]
    Edge(#[from] EdgeError),
}

/// Builds an edge with one catch-all behavior running the given functions, in order,
/// in front of a fresh stub origin.
#[derive(Debug, Default)]
pub struct Harness {
    functions: Vec<(String, FunctionConfig)>,
}

impl Harness {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a function with no config.
    pub fn function(self, id: &str, module: impl Into<PathBuf>) -> Self {
        self.function_with_config(id, module, serde_json::json!({}))
    }

    /// Adds a function with its config (what `[functions.<id>.config]` would hold).
    pub fn function_with_config(
        mut self,
        id: &str,
        module: impl Into<PathBuf>,
        config: serde_json::Value,
    ) -> Self {
        let mut f = FunctionConfig::new(module);
        f.config = config;
        self.functions.push((id.to_owned(), f));
        self
    }

    /// Sets what happens when the most recently added function fails.
    pub fn on_error(mut self, on_error: OnError) -> Self {
        if let Some((_, f)) = self.functions.last_mut() {
            f.on_error = on_error;
        }
        self
    }

    /// Starts the stub origin and loads the functions (config errors surface here).
    pub async fn start(self) -> Result<TestRun, HarnessError> {
        let origin = StubOrigin::start(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let stub = OriginId::from_str("stub")?;
        let mut config = Config {
            debug: DebugConfig {
                explain_header: true,
                server_timing: true,
            },
            ..Config::default()
        };
        let url = origin
            .url()
            .parse()
            .map_err(|e| std::io::Error::other(format!("stub URL: {e}")))?;
        config.origins.insert(
            stub.clone(),
            OriginPoolConfig::new(vec![OriginMember { url, weight: 1 }]),
        );
        let mut ids = Vec::new();
        for (id, f) in self.functions {
            let id = FunctionId::from_str(&id)?;
            config.functions.insert(id.clone(), f);
            ids.push(id);
        }
        config.distributions.push(Distribution {
            id: DistributionId::from_str("test")?,
            aliases: vec![HostPattern::new("*")?],
            behaviors: vec![],
            default_behavior: Behavior {
                path_pattern: PathPattern::any(),
                origin: stub,
                origin_request_policy: None,
                functions: ids,
                cache_policy: None,
            },
        });
        let edge = Edge::new(config).await?;
        Ok(TestRun { edge, origin })
    }
}

/// A started harness.
pub struct TestRun {
    edge: Edge,
    origin: StubOrigin,
}

impl TestRun {
    /// Sends a request through the pipeline as if from 192.0.2.10 over plain HTTP
    /// (`Host: test.local` unless the request sets one) and collects the response.
    pub async fn send<B: Into<Bytes>>(&self, req: Request<B>) -> Response<Bytes> {
        self.send_from(
            ConnectionInfo::plain(SocketAddr::from(([192, 0, 2, 10], 50000))),
            req,
        )
        .await
    }

    /// Like [`TestRun::send`] with the connection facts given (scheme, SNI, client).
    pub async fn send_from<B: Into<Bytes>>(
        &self,
        conn: ConnectionInfo,
        req: Request<B>,
    ) -> Response<Bytes> {
        let (mut parts, body) = req.into_parts();
        if parts.uri.authority().is_none() && !parts.headers.contains_key(http::header::HOST) {
            parts.headers.insert(
                http::header::HOST,
                http::HeaderValue::from_static("test.local"),
            );
        }
        let resp = self
            .edge
            .handle(&conn, Request::from_parts(parts, Full::new(body.into())))
            .await;
        let (parts, body) = resp.into_parts();
        let bytes = match body.collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => Bytes::from(format!("<body error: {e}>")),
        };
        Response::from_parts(parts, bytes)
    }

    /// The stub origin: what it received.
    pub fn origin(&self) -> &StubOrigin {
        &self.origin
    }

    /// The edge under test.
    pub fn edge(&self) -> &Edge {
        &self.edge
    }
}
