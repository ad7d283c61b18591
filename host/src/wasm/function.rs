//! Loading a function (compile, check its imports, pre-link) and running its hooks in a
//! fresh, limited instance.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use wasmtime::component::{Component, Resource, ResourceTable};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::FunctionPre;
use super::bindings::wedge::function::types::{Decision, FunctionInfo, Response};
use super::engine::{EPOCH_TICK, WasmEngine};
use super::memo::{DecisionCache, Recording};
use super::request::{REQUEST_REP, RequestView};
use crate::config::{FunctionConfig, FunctionId, FunctionLimits, OnError};

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
/// Bytes of headers a function may write into a request or synthetic response.
pub const DEFAULT_WRITE_LIMIT: usize = 32 << 10;

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
    #[error("{path}: describing itself failed: {message}")]
    Describe { path: PathBuf, message: String },
    #[error("{path}: does not implement the wedge function world: {message}")]
    Link { path: PathBuf, message: String },
}

/// Why a hook did not produce a decision.
#[derive(Debug, thiserror::Error)]
pub enum FunctionError {
    #[error("function {function}: could not instantiate: {message}")]
    Instantiate {
        function: FunctionId,
        message: String,
    },
    #[error("function {function}: exceeded its CPU deadline of {limit:?}")]
    Timeout {
        function: FunctionId,
        limit: Duration,
    },
    #[error("function {function}: trapped: {message}")]
    Trap {
        function: FunctionId,
        message: String,
    },
    #[error("function {function}: invalid response: {message}")]
    InvalidResponse {
        function: FunctionId,
        message: String,
    },
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

/// A function compiled, checked and ready to instantiate.
pub struct LoadedFunction {
    pub id: FunctionId,
    pub module: PathBuf,
    pub on_error: OnError,
    pub limits: FunctionLimits,
    /// Hex SHA-256 of the module bytes.
    pub content_hash: String,
    pub loaded_at: SystemTime,
    pre: FunctionPre<HostState>,
    engine: WasmEngine,
    decisions: Option<DecisionCache>,
    viewer_request_inputs: Option<Vec<HeaderName>>,
}

impl std::fmt::Debug for LoadedFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedFunction")
            .field("id", &self.id)
            .field("module", &self.module)
            .finish()
    }
}

/// Per-instance host state: the request being handled and the instance's limits.
pub struct HostState {
    pub(crate) request: Option<RequestView>,
    /// Set while recording an outcome for the decision cache.
    pub(crate) recording: Option<Recording>,
    pub(crate) function: FunctionId,
    pub(crate) request_id: Arc<str>,
    table: ResourceTable,
    wasi: WasiCtx,
    limits: StoreLimits,
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl LoadedFunction {
    /// Reads, compiles and checks a function. CPU-heavy: call it off the request path.
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
        let component =
            Component::new(engine.engine(), &bytes).map_err(|e| LoadError::Compile {
                path: path.clone(),
                message: format!("{e:#}"),
            })?;
        check_imports(engine, &component, path)?;
        let instance_pre =
            engine
                .linker()
                .instantiate_pre(&component)
                .map_err(|e| LoadError::Link {
                    path: path.clone(),
                    message: format!("{e:#}"),
                })?;
        let pre = FunctionPre::new(instance_pre).map_err(|e| LoadError::Link {
            path: path.clone(),
            message: format!("{e:#}"),
        })?;
        let mut function = Self {
            id,
            module: path.clone(),
            on_error: config.on_error,
            limits: config.limits,
            content_hash,
            loaded_at: SystemTime::now(),
            pre,
            engine: engine.clone(),
            decisions: None,
            viewer_request_inputs: None,
        };
        let info = function.describe().map_err(|message| LoadError::Describe {
            path: path.clone(),
            message,
        })?;
        if let Some(names) = info.viewer_request_inputs {
            let inputs = names
                .iter()
                .map(|n| HeaderName::from_bytes(n.as_bytes()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| LoadError::Describe {
                    path: path.clone(),
                    message: format!("invalid header name in viewer-request inputs {names:?}"),
                })?;
            if config.decision_cache > 0 {
                function.decisions =
                    Some(DecisionCache::new(inputs.clone(), config.decision_cache));
            }
            function.viewer_request_inputs = Some(inputs);
        }
        Ok(function)
    }

    /// Asks the function what it declares about itself, in a throwaway instance on a
    /// thread of its own (so loading works from any context, async or not).
    fn describe(&self) -> Result<FunctionInfo, String> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    rt.block_on(async {
                        let mut store = self.new_store(None, &Arc::from("describe"));
                        let instance = self
                            .pre
                            .instantiate_async(&mut store)
                            .await
                            .map_err(|e| format!("{e:#}"))?;
                        instance
                            .wedge_function_hooks()
                            .call_describe(&mut store)
                            .await
                            .map_err(|e| format!("{e:#}"))
                    })
                })
                .join()
                .map_err(|_| "describe panicked".to_owned())?
        })
    }

    /// Runs `on-viewer-request` in a fresh instance. The request view always comes back,
    /// whatever the function did.
    ///
    /// For a function that declares its inputs, a stored outcome for the same input
    /// values is replayed instead of running it.
    pub async fn on_viewer_request(
        &self,
        mut view: RequestView,
        request_id: &Arc<str>,
    ) -> (RequestView, Result<HookOutcome, FunctionError>) {
        let Some(cache) = &self.decisions else {
            let (view, result, _) = self.run_viewer_request(view, request_id, None).await;
            return (view, result);
        };
        let Some(key) = cache.key(&view.parts.headers) else {
            let (view, result, _) = self.run_viewer_request(view, request_id, None).await;
            return (view, result);
        };
        if let Some(outcome) = cache.replay(&key, &mut view) {
            return (view, Ok(outcome));
        }
        let recording = Recording::new(cache.inputs.clone());
        let (view, result, recording) = self
            .run_viewer_request(view, request_id, Some(recording))
            .await;
        if let (Ok(outcome), Some(recording)) = (&result, recording) {
            cache.store(&self.id, key, recording, outcome);
        }
        (view, result)
    }

    /// The headers this function declared as the only inputs of its viewer-request hook.
    pub fn viewer_request_inputs(&self) -> Option<&[HeaderName]> {
        self.viewer_request_inputs.as_deref()
    }

    async fn run_viewer_request(
        &self,
        view: RequestView,
        request_id: &Arc<str>,
        recording: Option<Recording>,
    ) -> (
        RequestView,
        Result<HookOutcome, FunctionError>,
        Option<Recording>,
    ) {
        let mut store = self.new_store(Some(view), request_id);
        store.data_mut().recording = recording;
        let result = self.call_viewer_request(&mut store).await;
        let mut state = store.into_data();
        let view = state
            .request
            .take()
            .expect("the request view stays in the store during a hook");
        (view, result, state.recording)
    }

    async fn call_viewer_request(
        &self,
        store: &mut Store<HostState>,
    ) -> Result<HookOutcome, FunctionError> {
        let instance = self
            .pre
            .instantiate_async(&mut *store)
            .await
            .map_err(|e| self.classify(e))?;
        let decision = instance
            .wedge_function_hooks()
            .call_on_viewer_request(&mut *store, Resource::new_borrow(REQUEST_REP))
            .await
            .map_err(|e| self.classify(e))?;
        match decision {
            Decision::Continue => Ok(HookOutcome::Continue),
            Decision::Respond(r) => self.synthetic(r).map(HookOutcome::Respond),
        }
    }

    fn new_store(&self, view: Option<RequestView>, request_id: &Arc<str>) -> Store<HostState> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(self.limits.memory_bytes as usize)
            .trap_on_grow_failure(true)
            .build();
        let state = HostState {
            request: view,
            recording: None,
            function: self.id.clone(),
            request_id: request_id.clone(),
            table: ResourceTable::new(),
            wasi: WasiCtx::builder().build(),
            limits,
        };
        let mut store = Store::new(self.engine.engine(), state);
        store.limiter(|s| &mut s.limits);
        // Every tick the guest runs past, yield to the executor so other requests on
        // this worker thread make progress; once the budget is spent, interrupt it.
        let budget = self
            .limits
            .timeout
            .as_micros()
            .div_ceil(EPOCH_TICK.as_micros()) as u64;
        let mut ticks = 0u64;
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            ticks += 1;
            if ticks > budget {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });
        store
    }

    fn classify(&self, e: wasmtime::Error) -> FunctionError {
        let function = self.id.clone();
        if let Some(Trap::Interrupt) = e.downcast_ref::<Trap>() {
            return FunctionError::Timeout {
                function,
                limit: self.limits.timeout,
            };
        }
        FunctionError::Trap {
            function,
            message: format!("{e:#}"),
        }
    }

    fn synthetic(&self, r: Response) -> Result<SyntheticResponse, FunctionError> {
        let invalid = |message: String| FunctionError::InvalidResponse {
            function: self.id.clone(),
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
