//! A snapshot: everything one request needs (config, routes, loaded functions, origin
//! pools), built whole off the request path and swapped in atomically.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cache::HttpCache;
use crate::config::{Config, ConfigError, FunctionId, OriginId};
use crate::origin::{OriginPool, OriginShared};
use crate::router::Router;
use crate::tls::{CertError, CertificateSet, LoadedCertificate};
use crate::wasm::{LoadError, LoadedFunction, WasmEngine};

/// Why a configuration could not be turned into a running snapshot.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{0}")]
    Config(#[from] ConfigError),
    // The inner error is part of the message, not a `source`, so chains that print
    // sources (`{:#}`) do not repeat it.
    #[error("function `{id}`: {error}")]
    Function { id: FunctionId, error: LoadError },
    #[error("certificate `{id}`: {error}")]
    Certificate { id: String, error: CertError },
    #[error("origin `{id}`: {error}")]
    Origin { id: OriginId, error: String },
}

/// One consistent version of the edge's configuration and everything loaded from it.
pub struct Snapshot {
    pub version: u64,
    pub config: Config,
    pub router: Router,
    pub functions: HashMap<FunctionId, Arc<LoadedFunction>>,
    pub origins: HashMap<OriginId, Arc<OriginPool>>,
    pub certificates: Arc<CertificateSet>,
    /// Origin clients and member health, handed on to the snapshots that follow.
    pub origin_shared: Arc<OriginShared>,
    /// The edge's HTTP cache; carried from snapshot to snapshot so reloads keep it.
    pub cache: Arc<HttpCache>,
}

impl Snapshot {
    /// Validates `config`, loads its certificates and compiles its functions. Blocking
    /// and CPU-heavy: run it on a blocking thread.
    pub fn build(
        engine: &WasmEngine,
        config: Config,
        origin_shared: Arc<OriginShared>,
        cache: Option<Arc<HttpCache>>,
        version: u64,
    ) -> Result<Snapshot, SnapshotError> {
        let problems = config.validate();
        if !problems.is_empty() {
            let file = config
                .source
                .clone()
                .unwrap_or_else(|| PathBuf::from("<config>"));
            return Err(ConfigError {
                file,
                problems: problems
                    .into_iter()
                    .map(|p| crate::config::Located {
                        line: 0,
                        column: 0,
                        field: p.field,
                        message: p.message,
                    })
                    .collect(),
            }
            .into());
        }
        let mut certificates = Vec::new();
        for (id, files) in &config.certificates {
            let cert = LoadedCertificate::load(id.clone(), files).map_err(|error| {
                SnapshotError::Certificate {
                    id: id.to_string(),
                    error,
                }
            })?;
            certificates.push(Arc::new(cert));
        }
        let certificates = Arc::new(CertificateSet::new(
            certificates,
            config.tls.default_certificate.as_ref(),
            config.tls.unknown_sni,
        ));
        let mut functions = HashMap::new();
        for (id, fc) in &config.functions {
            let f = LoadedFunction::load(engine, id.clone(), fc).map_err(|error| {
                SnapshotError::Function {
                    id: id.clone(),
                    error,
                }
            })?;
            functions.insert(id.clone(), Arc::new(f));
        }
        let mut origins = HashMap::new();
        for (id, oc) in &config.origins {
            let pool = OriginPool::new(id.clone(), oc, &origin_shared).map_err(|error| {
                SnapshotError::Origin {
                    id: id.clone(),
                    error,
                }
            })?;
            origins.insert(id.clone(), Arc::new(pool));
        }
        let router = Router::new(&config);
        // A reload keeps the cache unless its size limits changed.
        let cache = match cache {
            Some(c) if c.settings() == config.cache => c,
            _ => HttpCache::new(config.cache),
        };

        Ok(Snapshot {
            version,
            config,
            router,
            functions,
            origins,
            certificates,
            origin_shared,
            cache,
        })
    }
}
