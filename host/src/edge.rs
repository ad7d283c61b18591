//! The embedding API: an [`Edge`] built from a config file or structs, served on its
//! configured listeners, on listeners you own, or mounted as a service in your server.

use std::convert::Infallible;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use arc_swap::ArcSwap;
use http::{Request, Response};

use crate::access_log::AccessLog;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::pipeline::{self, ConnectionInfo, EdgeBody, ViewerBody};
use crate::reload::ReloadStatus;
use crate::server::{self, BoundListeners, Running};
use crate::snapshot::{Snapshot, SnapshotError};
use crate::tls::{self, SniResolver};
use crate::wasm::{EngineSettings, WasmEngine};

/// Why an edge could not start.
#[derive(Debug, thiserror::Error)]
pub enum EdgeError {
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("wasm engine: {0}")]
    Engine(String),
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A running edge's shared state. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Edge {
    shared: Arc<Shared>,
}

struct Shared {
    engine: WasmEngine,
    snapshot: ArcSwap<Snapshot>,
    resolver: Arc<SniResolver>,
    tls: Arc<rustls::ServerConfig>,
    next_version: AtomicU64,
    reload_status: std::sync::Mutex<ReloadStatus>,
    metrics: Metrics,
    access_log: Option<AccessLog>,
    /// Serialises reloads so two triggers never build snapshots at once.
    reloading: tokio::sync::Mutex<()>,
}

impl Edge {
    /// Loads and validates the config file, its certificates and functions.
    pub async fn from_config_file(path: impl AsRef<Path>) -> Result<Edge, EdgeError> {
        let path = path.as_ref().to_owned();
        let config = tokio::task::spawn_blocking(move || Config::from_file(&path))
            .await
            .map_err(|e| EdgeError::Engine(e.to_string()))?
            .map_err(SnapshotError::from)?;
        Edge::new(config).await
    }

    /// Builds an edge from config structs (validated here).
    pub async fn new(config: Config) -> Result<Edge, EdgeError> {
        tokio::task::spawn_blocking(move || Edge::new_blocking(config))
            .await
            .map_err(|e| EdgeError::Engine(e.to_string()))?
    }

    /// [`Edge::new`] for callers outside an async context (compiles functions on this thread).
    pub fn new_blocking(config: Config) -> Result<Edge, EdgeError> {
        let engine = WasmEngine::new(&EngineSettings::default())
            .map_err(|e| EdgeError::Engine(format!("{e:#}")))?;
        let snapshot = Snapshot::build(&engine, config, crate::origin::shared(), None, 1)?;
        let access_log = match &snapshot.config.access_log {
            Some(target) => Some(
                AccessLog::open(target)
                    .map_err(|e| EdgeError::Engine(format!("access log {target:?}: {e}")))?,
            ),
            None => None,
        };
        let resolver = Arc::new(SniResolver::new(snapshot.certificates.clone()));
        let tls = tls::server_config(resolver.clone())?;
        let mut metrics = Metrics::default();
        metrics.set_origins(snapshot.origins.values());
        metrics.register_services(engine.services());
        metrics.register_engine(engine.clone());
        Ok(Edge {
            shared: Arc::new(Shared {
                engine,
                snapshot: ArcSwap::from_pointee(snapshot),
                resolver,
                tls,
                next_version: AtomicU64::new(2),
                reload_status: Default::default(),
                metrics,
                access_log,
                reloading: Default::default(),
            }),
        })
    }

    /// Re-reads the config file this edge was built from (and the modules and
    /// certificates it names) and swaps in the result. On error the current snapshot
    /// keeps serving and the error is kept for `/status`.
    pub async fn reload_from_source(&self) -> Result<u64, EdgeError> {
        let Some(path) = self.snapshot().config.source.clone() else {
            let e = EdgeError::Engine("this edge was not built from a config file".into());
            self.record_reload(Err(&e));
            return Err(e);
        };
        let loaded = tokio::task::spawn_blocking(move || Config::from_file(&path)).await;
        match loaded {
            Ok(Ok(config)) => self.reload(config).await,
            Ok(Err(e)) => {
                let e = EdgeError::Snapshot(SnapshotError::from(e));
                self.record_reload(Err(&e));
                Err(e)
            }
            Err(e) => Err(EdgeError::Engine(e.to_string())),
        }
    }

    /// What the last reloads did.
    pub fn reload_status(&self) -> ReloadStatus {
        self.shared
            .reload_status
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    fn record_reload(&self, result: Result<u64, &EdgeError>) {
        self.shared.metrics.record_reload(result.is_ok());
        if let Ok(mut status) = self.shared.reload_status.lock() {
            status.record(result.map_err(|e| e.to_string()));
        }
    }

    /// Validates and loads `config` off the request path, then swaps it in atomically.
    /// On error the current snapshot keeps serving.
    pub async fn reload(&self, config: Config) -> Result<u64, EdgeError> {
        let _one_at_a_time = self.shared.reloading.lock().await;
        let result = self.build_and_swap(config).await;
        self.record_reload(result.as_ref().map(|v| *v));
        result
    }

    async fn build_and_swap(&self, config: Config) -> Result<u64, EdgeError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let version = this.shared.next_version.fetch_add(1, Ordering::Relaxed);
            let current = this.shared.snapshot.load();
            let (origins, cache) = (current.origin_shared.clone(), current.cache.clone());
            let snapshot =
                Snapshot::build(&this.shared.engine, config, origins, Some(cache), version)?;
            this.shared.resolver.replace(snapshot.certificates.clone());
            this.shared.metrics.set_origins(snapshot.origins.values());
            this.shared.snapshot.store(Arc::new(snapshot));
            Ok(version)
        })
        .await
        .map_err(|e| EdgeError::Engine(e.to_string()))?
    }

    /// The snapshot currently serving.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    /// The rustls config of the HTTPS listener (certificates by SNI), for serving TLS
    /// on your own listener.
    pub fn tls_config(&self) -> Arc<rustls::ServerConfig> {
        self.shared.tls.clone()
    }

    /// Handles one request as if it arrived on `conn`.
    pub async fn handle<B>(&self, conn: &ConnectionInfo, req: Request<B>) -> Response<EdgeBody>
    where
        B: ViewerBody,
    {
        let started = std::time::Instant::now();
        let (resp, explain, request_id) = pipeline::handle(self.snapshot(), conn, req).await;
        let seconds = started.elapsed().as_secs_f64();

        let status = resp.status().as_u16();
        self.shared.metrics.record_request(
            explain.behavior.as_ref(),
            status,
            seconds,
            &explain.hooks,
        );
        self.shared.metrics.record_result_type(explain.result);
        if let (Some(log), Some(facts)) = (&self.shared.access_log, &explain.access) {
            let bytes = resp
                .headers()
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            let functions = explain
                .hooks
                .iter()
                .map(|h| format!("{}:{}={}", h.function, h.hook.as_str(), h.outcome))
                .collect();
            let entry = crate::access_log::entry(
                facts,
                conn,
                status,
                bytes,
                seconds,
                explain.result.as_str(),
                &request_id.to_string(),
                explain.behavior.as_deref(),
                functions,
            );
            log.write(&entry);
        }
        resp
    }

    /// The edge's metrics (served at `/metrics` on the admin listener).
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// A hyper (and tower) service handling requests of one connection.
    pub fn service(&self, conn: ConnectionInfo) -> EdgeService {
        EdgeService {
            edge: self.clone(),
            conn: Arc::new(conn),
        }
    }

    /// Binds the listeners named in the config and serves until shut down.
    pub async fn start(&self) -> Result<Running, EdgeError> {
        let listeners = self.snapshot().config.listeners.clone();
        let bound = BoundListeners::bind(&listeners).await?;
        Ok(self.start_on(bound))
    }

    /// Serves on listeners the caller has bound.
    pub fn start_on(&self, listeners: BoundListeners) -> Running {
        server::start(self.clone(), listeners)
    }
}

/// A per-connection service: implements both `hyper::service::Service` and
/// `tower_service::Service`.
#[derive(Clone)]
pub struct EdgeService {
    edge: Edge,
    conn: Arc<ConnectionInfo>,
}

pub(crate) type ServiceFuture =
    Pin<Box<dyn Future<Output = Result<Response<EdgeBody>, Infallible>> + Send>>;

impl EdgeService {
    fn call_inner<B>(&self, req: Request<B>) -> ServiceFuture
    where
        B: ViewerBody,
    {
        let edge = self.edge.clone();
        let conn = self.conn.clone();
        Box::pin(async move { Ok(edge.handle(&conn, req).await) })
    }
}

impl<B> hyper::service::Service<Request<B>> for EdgeService
where
    B: ViewerBody,
{
    type Response = Response<EdgeBody>;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn call(&self, req: Request<B>) -> Self::Future {
        self.call_inner(req)
    }
}

impl<B> tower_service::Service<Request<B>> for EdgeService
where
    B: ViewerBody,
{
    type Response = Response<EdgeBody>;
    type Error = Infallible;
    type Future = ServiceFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        self.call_inner(req)
    }
}
