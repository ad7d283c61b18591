//! Loading a function: compile, check its imports, pre-link, ask what it implements,
//! validate its config. What a loaded function is used for per request lives in
//! [`super::instance`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use wasmtime::component::Component;

use super::bindings::FunctionPre;
use super::bindings::wedge::function::types::{FunctionInfo, Hook as WitHook, Synthetic};
use super::engine::WasmEngine;
use super::exports::HookIndices;
use super::idle::IdleInstances;
use super::instance::{HostState, new_store};
use super::memo::{DecisionCache, Input};
use super::preinit::{self, PreinitError};
use crate::config::{FunctionConfig, FunctionId, FunctionLimits, OnError};
use crate::util::RequestId;

/// Interfaces a function may import. Everything else (sockets, HTTP, ...) is refused at
/// load. Filesystem and CLI imports are allowed because Rust's standard library links
/// them, but the context grants no directories, no environment and no arguments.
const ALLOWED_IMPORT_PREFIXES: &[&str] = &[
    "wedge:function/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-",
    "wasi:filesystem/",
];

/// Largest body a function may answer with.
pub const MAX_SYNTHETIC_BODY: usize = 1 << 20;
/// Bytes of headers (and paths) a function may write into a request or response.
pub const DEFAULT_WRITE_LIMIT: usize = 32 << 10;

/// The hook points, in request order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    ViewerRequest,
    CacheKey,
    OriginRequest,
    OriginResponse,
    ViewerResponse,
}

impl Hook {
    pub fn as_str(self) -> &'static str {
        match self {
            Hook::ViewerRequest => "viewer-request",
            Hook::CacheKey => "cache-key",
            Hook::OriginRequest => "origin-request",
            Hook::OriginResponse => "origin-response",
            Hook::ViewerResponse => "viewer-response",
        }
    }

    fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// The set of hooks a function implements.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HookSet(u8);

impl HookSet {
    pub fn contains(self, hook: Hook) -> bool {
        self.0 & hook.bit() != 0
    }

    pub fn only(self, hook: Hook) -> bool {
        self.0 == hook.bit()
    }

    pub fn iter(self) -> impl Iterator<Item = Hook> {
        [
            Hook::ViewerRequest,
            Hook::CacheKey,
            Hook::OriginRequest,
            Hook::OriginResponse,
            Hook::ViewerResponse,
        ]
        .into_iter()
        .filter(move |h| self.contains(*h))
    }
}

/// Why a function could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: cannot read module: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid WebAssembly component: {message}")]
    Compile { path: PathBuf, message: String },
    #[error(
        "{path}: imports not allowed for a function: {imports} (allowed: wedge:function, wasi:io, wasi:clocks, wasi:random, wasi:cli stdio/environment/exit)"
    )]
    ForbiddenImports { path: PathBuf, imports: String },
    #[error("{path}: does not implement the wedge function world: {message}")]
    Link { path: PathBuf, message: String },
    #[error("{path}: describing itself failed: {message}")]
    Describe { path: PathBuf, message: String },
    #[error("config field `{field}`: {message}")]
    Config { field: String, message: String },
}

/// Why a hook did not produce a result.
#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    #[error("function {function}: could not instantiate: {message}")]
    Instantiate {
        function: FunctionId,
        message: String,
    },
    #[error("function {function}: {hook} exceeded its CPU deadline of {limit:?}")]
    Timeout {
        function: FunctionId,
        hook: &'static str,
        limit: Duration,
    },
    #[error("function {function}: {hook} trapped: {message}")]
    Trap {
        function: FunctionId,
        hook: &'static str,
        message: String,
    },
    #[error("function {function}: {hook} returned an invalid response: {message}")]
    InvalidResponse {
        function: FunctionId,
        hook: &'static str,
        message: String,
    },
}

impl FunctionError {
    /// A short word for logs, metrics and the explain header.
    pub fn kind(&self) -> &'static str {
        match self {
            FunctionError::Instantiate { .. } => "instantiate-error",
            FunctionError::Timeout { .. } => "timeout",
            FunctionError::Trap { .. } => "trap",
            FunctionError::InvalidResponse { .. } => "invalid-response",
        }
    }
}

/// A response a function answered with.
#[derive(Debug, Clone)]
pub struct SyntheticResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What a request hook decided.
#[derive(Debug)]
pub enum HookOutcome {
    Continue,
    Respond(SyntheticResponse),
}

/// Counters for one loaded function, shown in `/status`.
#[derive(Debug, Default)]
pub struct FunctionStats {
    /// Hook calls that ran in an instance.
    pub invocations: AtomicU64,
    /// Viewer-request outcomes replayed without an instance.
    pub reused: AtomicU64,
    /// Instances created.
    pub instances: AtomicU64,
    /// Requests served by an instance an earlier request used (reusable functions).
    pub instances_reused: AtomicU64,
    pub traps: AtomicU64,
    pub timeouts: AtomicU64,
    /// Other failures: instantiation, config, invalid responses.
    pub errors: AtomicU64,
    /// Total microseconds spent in hooks (instances included).
    pub micros: AtomicU64,
}

impl FunctionStats {
    pub(crate) fn record(&self, result: Result<(), &FunctionError>, reused: bool, micros: u64) {
        let counter = match (result, reused) {
            (Ok(()), true) => &self.reused,
            (Ok(()), false) => &self.invocations,
            (Err(FunctionError::Trap { .. }), _) => &self.traps,
            (Err(FunctionError::Timeout { .. }), _) => &self.timeouts,
            (Err(_), _) => &self.errors,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// A JSON snapshot of the counters.
    pub fn to_json(&self) -> serde_json::Value {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "invocations": g(&self.invocations),
            "reused": g(&self.reused),
            "instances": g(&self.instances),
            "instances_reused": g(&self.instances_reused),
            "traps": g(&self.traps),
            "timeouts": g(&self.timeouts),
            "errors": g(&self.errors),
            "micros": g(&self.micros),
        })
    }
}

/// A function compiled, checked and ready to instantiate.
pub struct LoadedFunction {
    pub id: FunctionId,
    pub module: PathBuf,
    pub on_error: OnError,
    pub limits: FunctionLimits,
    /// Bytes of the request body buffered for it to read (0: none).
    pub inspect_body: usize,
    /// Hex SHA-256 of the module bytes.
    pub content_hash: String,
    pub loaded_at: SystemTime,
    /// The hooks it implements.
    pub hooks: HookSet,
    /// Whether it reads its config.
    pub takes_config: bool,
    /// Whether each instance must be configured before its first hook: a function that
    /// takes config is configured once at load and snapshotted instead, unless the
    /// snapshot could not be made.
    pub(crate) configure_each_instance: bool,
    pub stats: FunctionStats,
    /// The config as JSON text, handed to each instance.
    pub(crate) config_json: Arc<str>,
    pub(crate) pre: FunctionPre<HostState>,
    /// Where `pre`'s component exports each hook.
    pub(crate) exports: HookIndices,
    pub(crate) engine: WasmEngine,
    pub(crate) decisions: Option<DecisionCache>,
    /// Instances kept between requests, when the function declares its hooks keep no
    /// state across requests and `max_instance_reuse` allows it.
    pub(crate) idle: Option<IdleInstances>,
}

impl std::fmt::Debug for LoadedFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedFunction")
            .field("id", &self.id)
            .field("module", &self.module)
            .finish()
    }
}

/// What instances of a component start from: the component linked, and where it exports
/// each hook.
type Linked = (FunctionPre<HostState>, HookIndices);

/// Links `component` (from the module at `path`) for instantiation.
fn link(engine: &WasmEngine, path: &Path, component: &Component) -> Result<Linked, LoadError> {
    let refused = |message| LoadError::Link {
        path: path.to_owned(),
        message,
    };
    let pre = engine
        .linker()
        .instantiate_pre(component)
        .and_then(FunctionPre::new)
        .map_err(|e| refused(format!("{e:#}")))?;
    Ok((pre, HookIndices::new(component).map_err(refused)?))
}

impl LoadedFunction {
    /// Reads, compiles and checks a function, and validates its config in a throwaway
    /// instance. CPU-heavy: call it off the request path.
    pub fn load(
        engine: &WasmEngine,
        id: FunctionId,
        config: &FunctionConfig,
    ) -> Result<Self, LoadError> {
        let path = &config.module;
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.clone(),
            source,
        })?;
        let content_hash = crate::util::sha256_hex(&bytes);
        let component = engine
            .compile(&bytes, &content_hash)
            .map_err(|e| LoadError::Compile {
                path: path.clone(),
                message: format!("{e:#}"),
            })?;
        check_imports(engine, &component, path)?;
        let (pre, exports) = link(engine, path, &component)?;
        let config_json: Arc<str> =
            Arc::from(serde_json::to_string(&config.config).unwrap_or_else(|_| "{}".into()));
        let mut function = Self {
            id,
            module: path.clone(),
            on_error: config.on_error,
            limits: config.limits,
            inspect_body: config.inspect_body,
            content_hash,
            loaded_at: SystemTime::now(),
            hooks: HookSet::default(),
            takes_config: false,
            configure_each_instance: false,
            stats: FunctionStats::default(),
            config_json,
            pre,
            exports,
            engine: engine.clone(),
            decisions: None,
            idle: None,
        };
        let (info, snapshot) = function.describe_and_configure(&bytes)?;
        function.takes_config = info.takes_config;
        if info.reuse_instance && config.max_instance_reuse > 0 {
            function.idle = Some(IdleInstances::new(
                config.max_instance_reuse,
                engine.idle_budget().clone(),
            ));
        }
        function.configure_each_instance = info.takes_config && snapshot.is_none();
        if let Some(linked) = snapshot {
            (function.pre, function.exports) = linked;
        }
        for hook in info.hooks {
            function.hooks.0 |= Hook::from(hook).bit();
        }
        let declared = [
            (Hook::ViewerRequest, info.viewer_request_inputs),
            (Hook::CacheKey, info.cache_key_inputs),
            (Hook::ViewerResponse, info.viewer_response_inputs),
        ];
        for (hook, names) in declared {
            let Some(names) = names else { continue };
            let inputs = names
                .iter()
                .map(|n| Input::parse(n))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| LoadError::Describe {
                    path: path.clone(),
                    message: format!("{} inputs: {e}", hook.as_str()),
                })?;
            // Reuse is only sound when nothing else in the instance depends on the run.
            if config.decision_cache > 0 && function.hooks.only(hook) {
                function.decisions = Some(DecisionCache::new(
                    hook,
                    inputs,
                    config.decision_cache,
                    config.inspect_body,
                ));
            }
        }
        Ok(function)
    }

    /// The hook whose outcomes the host reuses and the inputs it keys them on, as the
    /// (configured) function declared them; `None` when nothing is reused.
    pub fn reused_decisions(&self) -> Option<(Hook, Vec<String>)> {
        let cache = self.decisions.as_ref()?;
        Some((cache.hook, cache.inputs.iter().map(|i| i.name()).collect()))
    }

    /// Whether its instances start from a snapshot taken after configuring it at load
    /// (see [`preinit`]) rather than being configured one by one.
    pub fn preinitialized(&self) -> bool {
        self.takes_config && !self.configure_each_instance
    }

    /// Asks the function what it implements and lets it check its config, on a thread
    /// of its own (so loading works from any context). For a function that takes config
    /// it also returns the pre-initialised component, linked, when one could be made, and
    /// what the configured function declares.
    fn describe_and_configure(
        &self,
        bytes: &[u8],
    ) -> Result<(FunctionInfo, Option<Linked>), LoadError> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| self.describe_error(e))?
                        .block_on(self.describe(bytes))
                })
                .join()
                .map_err(|_| self.describe_error("the describing thread panicked"))?
        })
    }

    async fn describe(&self, bytes: &[u8]) -> Result<(FunctionInfo, Option<Linked>), LoadError> {
        let failed = |e: wasmtime::Error| self.describe_error(format_args!("{e:#}"));
        // Instantiating, describing and configuring (here or in the snapshotter) run
        // guest code under a deadline.
        let _running = super::epoch::running();
        let mut store = new_store(self, RequestId::next());
        let instance = self
            .pre
            .instantiate_async(&mut store)
            .await
            .map_err(failed)?;
        let hooks = instance.wedge_function_hooks();
        let info = hooks.call_describe(&mut store).await.map_err(failed)?;
        let snapshot = if info.takes_config && self.engine.preinitializes() {
            self.preinitialize(bytes).await?
        } else {
            None
        };
        // Without a snapshot the config is checked here, the way each instance gets it.
        if snapshot.is_none() && (info.takes_config || self.config_json.as_ref() != "{}") {
            hooks
                .call_configure(&mut store, &self.config_json)
                .await
                .map_err(failed)??;
        }
        // Configured, a function may declare inputs its config decides (the WAF's
        // depend on its rules): those are the ones that count. A snapshot is linked here
        // once, for this and for every instance after it.
        let snapshot = match snapshot {
            Some(component) => Some(link(&self.engine, &self.module, &component)?),
            None => None,
        };
        let info = match (&snapshot, info.takes_config) {
            (_, false) => info,
            (None, true) => hooks.call_describe(&mut store).await.map_err(failed)?,
            (Some((pre, _)), true) => {
                let mut store = new_store(self, RequestId::next());
                let instance = pre.instantiate_async(&mut store).await.map_err(failed)?;
                instance
                    .wedge_function_hooks()
                    .call_describe(&mut store)
                    .await
                    .map_err(failed)?
            }
        };
        Ok((info, snapshot))
    }

    /// The component whose initial state is this function configured with its config,
    /// from the artifact cache or made now; `None` (with a warning) when the
    /// snapshotter cannot handle the component, which is then configured per instance.
    async fn preinitialize(&self, bytes: &[u8]) -> Result<Option<Component>, LoadError> {
        // Keyed by module, config and memory limit: an artifact exists only if this
        // config was accepted before, within this limit.
        let key = crate::util::sha256_hex(
            format!(
                "{}\n{}\n{}",
                self.content_hash, self.config_json, self.limits.memory_bytes
            )
            .as_bytes(),
        ) + "-configured";
        if let Some(component) = self.engine.cached(&key) {
            return Ok(Some(component));
        }
        let store = new_store(self, RequestId::next());
        let made = preinit::configured_snapshot(
            &self.engine,
            bytes,
            &self.content_hash,
            &self.config_json,
            store,
        )
        .await
        .and_then(|snapshot| Ok(self.engine.compile_to_cache(&key, &snapshot)?));
        match made {
            Ok(component) => Ok(Some(component)),
            Err(PreinitError::Config(refused)) => Err(refused.into()),
            Err(PreinitError::Failed(message)) => {
                tracing::warn!(
                    function = %self.id,
                    "{}: cannot pre-initialise, configuring every instance instead: {message}",
                    self.module.display()
                );
                Ok(None)
            }
        }
    }

    fn describe_error(&self, message: impl std::fmt::Display) -> LoadError {
        LoadError::Describe {
            path: self.module.clone(),
            message: message.to_string(),
        }
    }

    /// Checks and converts a function's synthetic response.
    pub(crate) fn synthetic(
        &self,
        hook: Hook,
        r: Synthetic,
    ) -> Result<SyntheticResponse, FunctionError> {
        let invalid = |message: String| FunctionError::InvalidResponse {
            function: self.id.clone(),
            hook: hook.as_str(),
            message,
        };
        let status = StatusCode::from_u16(r.status)
            .ok()
            .filter(|s| (200..=599).contains(&s.as_u16()))
            .ok_or_else(|| invalid(format!("status {} is not between 200 and 599", r.status)))?;
        if r.body.len() > MAX_SYNTHETIC_BODY {
            return Err(invalid(format!(
                "body of {} bytes exceeds {MAX_SYNTHETIC_BODY}",
                r.body.len()
            )));
        }
        let mut headers = HeaderMap::new();
        let mut written = 0usize;
        for (name, value) in r.headers {
            written += name.len() + value.len();
            if written > DEFAULT_WRITE_LIMIT {
                return Err(invalid(format!(
                    "headers exceed {DEFAULT_WRITE_LIMIT} bytes"
                )));
            }
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("invalid header name {name:?}")))?;
            let v = HeaderValue::from_str(&value)
                .map_err(|_| invalid(format!("invalid value for header {name}")))?;
            headers.append(n, v);
        }
        Ok(SyntheticResponse {
            status,
            headers,
            body: Bytes::from(r.body),
        })
    }
}

impl From<WitHook> for Hook {
    fn from(h: WitHook) -> Self {
        match h {
            WitHook::ViewerRequest => Hook::ViewerRequest,
            WitHook::CacheKey => Hook::CacheKey,
            WitHook::OriginRequest => Hook::OriginRequest,
            WitHook::OriginResponse => Hook::OriginResponse,
            WitHook::ViewerResponse => Hook::ViewerResponse,
        }
    }
}

impl From<super::bindings::wedge::function::types::ConfigError> for LoadError {
    fn from(e: super::bindings::wedge::function::types::ConfigError) -> Self {
        LoadError::Config {
            field: e.field,
            message: e.message,
        }
    }
}

fn check_imports(engine: &WasmEngine, component: &Component, path: &Path) -> Result<(), LoadError> {
    let ty = component.component_type();
    let forbidden: Vec<&str> = ty
        .imports(engine.engine())
        .map(|(name, _)| name)
        .filter(|name| !ALLOWED_IMPORT_PREFIXES.iter().any(|p| name.starts_with(p)))
        .collect();
    if forbidden.is_empty() {
        Ok(())
    } else {
        Err(LoadError::ForbiddenImports {
            path: path.to_owned(),
            imports: forbidden.join(", "),
        })
    }
}
