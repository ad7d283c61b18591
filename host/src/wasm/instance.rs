//! One function's part in one request: its instance, created lazily at the first hook
//! it implements (already configured: see [`super::preinit`]) or taken from the idle
//! ones of a function that allows it (see [`super::idle`]), and used for every later
//! hook of that request.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{Resource, ResourceTable};
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder, Trap, UpdateDeadline};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::bindings::wedge::function::types::Decision;
use super::epoch::{self, EPOCH_TICK};
use super::exports::Exports;
use super::function::{FunctionError, Hook, HookOutcome, LoadedFunction};
use super::idle::IdleInstances;
use super::memo::{Effect, Outcome, Recording, Returned, Slot};
use super::request::{REQUEST_REP, RequestView};
use super::response::{RESPONSE_REP, ResponseView};
use crate::config::FunctionId;
use crate::util::RequestId;

/// Per-instance host state: what the current hook may see, and the instance's limits.
pub struct HostState {
    pub(crate) request: Option<RequestView>,
    pub(crate) response: Option<ResponseView>,
    /// Set while recording an outcome for the decision cache.
    pub(crate) recording: Option<Recording>,
    pub(crate) function: FunctionId,
    pub(crate) request_id: RequestId,
    /// Bytes of the buffered request body this function may read.
    pub(crate) inspect_body: usize,
    /// Rate-limit and rule counters shared across instances.
    pub(crate) services: Arc<super::services::Services>,
    /// Epoch ticks the current hook has run, and how many it may.
    ticks: u64,
    budget: u64,
    table: ResourceTable,
    /// Built on the guest's first WASI call: most hooks make none, and building one
    /// (clocks, random sources) was 3 % of a fresh instance.
    wasi: Option<WasiCtx>,
    limits: Limits,
}

/// The store's memory and table limits, remembering how far memory grew beyond its
/// initial size: an instance that grew a lot is not kept for reuse, so one large request
/// neither leaves its pages resident nor shrinks what later requests may allocate.
struct Limits {
    inner: StoreLimits,
    /// Bytes the instance's memories grew by after they were created.
    grown: usize,
}

impl wasmtime::ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        // Creating a memory (a component may have several) asks from 0: that is its
        // initial size, not growth.
        if allowed && current > 0 {
            self.grown += desired - current;
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// How far an instance's memory may have grown past its initial size and still be
/// reused (the pages a pool slot keeps resident anyway).
const REUSE_MAX_GROWTH: usize = super::engine::KEEP_RESIDENT;

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: self.wasi.get_or_insert_with(|| WasiCtx::builder().build()),
            table: &mut self.table,
        }
    }
}

/// A store for one instance of `f`, with its memory cap and CPU deadline armed.
pub(crate) fn new_store(f: &LoadedFunction, request_id: RequestId) -> Store<HostState> {
    let limits = Limits {
        inner: StoreLimitsBuilder::new()
            .memory_size(f.limits.memory_bytes as usize)
            .trap_on_grow_failure(true)
            .build(),
        grown: 0,
    };
    let state = HostState {
        request: None,
        response: None,
        recording: None,
        function: f.id.clone(),
        request_id,
        services: f.engine.services().clone(),
        inspect_body: f.inspect_body,
        ticks: 0,
        budget: f
            .limits
            .timeout
            .as_micros()
            .div_ceil(EPOCH_TICK.as_micros()) as u64,
        table: ResourceTable::new(),
        wasi: None,
        limits,
    };
    let mut store = Store::new(f.engine.engine(), state);
    store.limiter(|s| &mut s.limits);
    // Every tick a guest runs past, yield to the executor so other requests on this
    // worker make progress; once the hook's budget is spent, interrupt it.
    store.epoch_deadline_callback(|mut ctx| {
        let s = ctx.data_mut();
        s.ticks += 1;
        Ok(if s.ticks > s.budget {
            UpdateDeadline::Interrupt
        } else {
            UpdateDeadline::Yield(1)
        })
    });
    store
}

/// The result of one hook call, for the explain record and Server-Timing.
#[derive(Debug, Clone)]
pub struct HookTrace {
    pub function: FunctionId,
    pub hook: Hook,
    /// `continue`, `respond`, `key`, `edited`, `reused`, or the failure kind.
    pub outcome: &'static str,
    pub micros: u64,
}

/// An instance and its store.
pub(crate) struct Live {
    store: Store<HostState>,
    exports: Exports,
    /// Requests it has served, this one included.
    pub(crate) served: u32,
}

/// A function's state within one request.
pub struct FunctionRun {
    pub function: Arc<LoadedFunction>,
    live: Option<Live>,
    /// Set once a hook failed: the instance is not trusted with later hooks.
    failed: bool,
    request_id: RequestId,
}

impl FunctionRun {
    pub fn new(function: Arc<LoadedFunction>, request_id: RequestId) -> Self {
        Self {
            function,
            live: None,
            failed: false,
            request_id,
        }
    }

    pub fn implements(&self, hook: Hook) -> bool {
        self.function.hooks.contains(hook) && !self.failed
    }

    /// Ends the instance if the function has no hook after `hook`: its pool slot and
    /// memory go back (or it goes back to the idle ones) before the origin round trip
    /// instead of after it.
    pub fn finish_after(&mut self, hook: Hook) {
        if self.live.is_some() && !self.function.hooks.iter().any(|h| h > hook) {
            self.release();
        }
    }

    /// This request is done with the instance: keep it for a later request if the
    /// function allows reuse, nothing went wrong in it and its memory stayed near its
    /// initial size; else drop it.
    fn release(&mut self) {
        let Some(live) = self.live.take() else { return };
        if let Some(idle) = &self.function.idle
            && !self.failed
            && live.store.data().limits.grown <= REUSE_MAX_GROWTH
        {
            idle.give_back(live);
        }
    }

    /// A request hook: `on-viewer-request` or `on-origin-request`. For viewer-request,
    /// a stored outcome for the same declared inputs is replayed instead of running the
    /// function, where the function allows it.
    pub async fn request(
        &mut self,
        hook: Hook,
        view: RequestView,
    ) -> (RequestView, Result<HookOutcome, FunctionError>, HookTrace) {
        let started = Instant::now();
        let f = self.function.clone();
        let mut view = view.allow(f.limits.write_bytes);
        let slot = Slot::new(f.decisions.as_ref(), hook, &view);
        if let Some((outcome, recorded)) = slot.as_ref().and_then(|s| s.replay(&mut view)) {
            self.replay_effects(&recorded);
            let result = Ok(outcome);
            let trace = self.finish_call(hook, &result, "reused", true, started);
            return (view, result, trace);
        }
        // A key seen for the first time runs unrecorded (see the doorkeeper).
        let recording = slot.as_ref().and_then(Slot::recording);
        let (view, result, recording) = self.request_hook(hook, view, recording).await;
        if let (Some(slot), Ok(outcome), Some(recording)) = (slot, &result, recording) {
            slot.store(&f.id, recording, Returned::Decision(outcome));
        }
        let word = match &result {
            Ok(HookOutcome::Respond(_)) => "respond",
            _ => "continue",
        };
        let trace = self.finish_call(hook, &result, word, false, started);
        (view, result, trace)
    }

    /// `cache-key`: this function's part of the key.
    pub async fn cache_key(
        &mut self,
        view: RequestView,
    ) -> (
        RequestView,
        Result<Option<String>, FunctionError>,
        HookTrace,
    ) {
        let started = Instant::now();
        let f = self.function.clone();
        let slot = Slot::new(f.decisions.as_ref(), Hook::CacheKey, &view);
        if let Some((part, recorded)) = slot.as_ref().and_then(Slot::replay_key) {
            self.replay_effects(&recorded);
            let result = Ok(part);
            let trace = self.finish_call(Hook::CacheKey, &result, "reused", true, started);
            return (view, result, trace);
        }
        let recording = slot.as_ref().and_then(Slot::recording);
        let running = epoch::running();
        let (view, result, recording) = match self.check_out(Hook::CacheKey).await {
            Err(e) => (view, Err(e), None),
            Ok(mut live) => {
                let data = live.store.data_mut();
                data.request = Some(view.read_only());
                data.recording = recording;
                let call = live
                    .exports
                    .cache_key(&mut live.store, Resource::new_borrow(REQUEST_REP))
                    .await;
                let view = take_request(&mut live.store);
                let recording = live.store.data_mut().recording.take();
                self.live = Some(live);
                (
                    view,
                    call.map_err(|e| classify(&self.function, Hook::CacheKey, e)),
                    recording,
                )
            }
        };
        drop(running);
        if let (Some(slot), Ok(part), Some(recording)) = (slot, &result, recording) {
            slot.store(&f.id, recording, Returned::KeyPart(part));
        }
        let trace = self.finish_call(Hook::CacheKey, &result, "key", false, started);
        (view, result, trace)
    }

    /// `on-origin-response` or `on-viewer-response`: edits `resp` in place.
    pub async fn response_hook(
        &mut self,
        hook: Hook,
        req: RequestView,
        resp: ResponseView,
    ) -> (
        RequestView,
        ResponseView,
        Result<(), FunctionError>,
        HookTrace,
    ) {
        let started = Instant::now();
        let allowance = self.function.limits.write_bytes;
        let f = self.function.clone();
        let slot = Slot::new(f.decisions.as_ref(), hook, &req);
        let mut resp = resp.allow(allowance);
        if let Some(recorded) = slot.as_ref().and_then(|s| s.replay_response(&mut resp)) {
            self.replay_effects(&recorded);
            let result = Ok(());
            let trace = self.finish_call(hook, &result, "reused", true, started);
            return (req, resp, result, trace);
        }
        let recording = slot.as_ref().and_then(Slot::recording);
        let running = epoch::running();
        let (req, resp, result, recording) = match self.check_out(hook).await {
            Err(e) => (req, resp, Err(e), None),
            Ok(mut live) => {
                let data = live.store.data_mut();
                data.request = Some(req.read_only());
                data.response = Some(resp);
                data.recording = recording;
                let (r, p) = (
                    Resource::new_borrow(REQUEST_REP),
                    Resource::new_borrow(RESPONSE_REP),
                );
                let call = live
                    .exports
                    .response_hook(&mut live.store, hook, r, p)
                    .await;
                let req = take_request(&mut live.store);
                let data = live.store.data_mut();
                let recording = data.recording.take();
                let resp = data
                    .response
                    .take()
                    .expect("the response stays in the store during a hook");
                self.live = Some(live);
                (
                    req,
                    resp,
                    call.map_err(|e| classify(&self.function, hook, e)),
                    recording,
                )
            }
        };
        drop(running);
        if let (Some(slot), Ok(()), Some(recording)) = (slot, &result, recording) {
            slot.store(&f.id, recording, Returned::Nothing);
        }
        let trace = self.finish_call(hook, &result, "edited", false, started);
        (req, resp, result, trace)
    }

    async fn request_hook(
        &mut self,
        hook: Hook,
        view: RequestView,
        recording: Option<Recording>,
    ) -> (
        RequestView,
        Result<HookOutcome, FunctionError>,
        Option<Recording>,
    ) {
        let running = epoch::running();
        let mut live = match self.check_out(hook).await {
            Ok(live) => live,
            Err(e) => return (view, Err(e), None),
        };
        let data = live.store.data_mut();
        data.request = Some(view.editable());
        data.recording = recording;
        let r = Resource::new_borrow(REQUEST_REP);
        let call = live.exports.request_hook(&mut live.store, hook, r).await;
        drop(running);
        let view = take_request(&mut live.store);
        let recording = live.store.data_mut().recording.take();
        self.live = Some(live);
        let result = match call {
            Err(e) => Err(classify(&self.function, hook, e)),
            Ok(Decision::Continue) => Ok(HookOutcome::Continue),
            Ok(Decision::Respond(r)) => self.function.synthetic(hook, r).map(HookOutcome::Respond),
        };
        (view, result, recording)
    }

    /// The instance for one call into the guest, with its CPU deadline re-armed: this
    /// request's, else an idle one, else a new one (configured if need be). The caller
    /// holds an [`epoch::running`] guard from before this until the call returns, and
    /// puts the instance back in `self.live` then, so a request dropped in the middle of
    /// a hook drops the instance with it: its half-updated state is never reused.
    async fn check_out(&mut self, hook: Hook) -> Result<Live, FunctionError> {
        let mut live = match self.live.take() {
            Some(live) => live,
            None => match self.function.idle.as_ref().and_then(IdleInstances::take) {
                Some(live) => self.reuse(live),
                // Boxed: a new instance is the rare path, and its future inline made
                // every hook call's future (moved several times a request) kilobytes larger.
                None => Box::pin(instantiate(&self.function, self.request_id, hook)).await?,
            },
        };
        live.store.data_mut().ticks = 0;
        live.store.set_epoch_deadline(1);
        Ok(live)
    }

    /// An idle instance, taken on by this request.
    fn reuse(&self, mut live: Live) -> Live {
        live.store.data_mut().request_id = self.request_id;
        live.served += 1;
        self.function
            .stats
            .instances_reused
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        live
    }

    /// Does again, for this request, what the run whose outcome is being replayed did
    /// besides its edits: its log lines (with this request's id) and rule counts.
    fn replay_effects(&self, recorded: &Outcome) {
        for effect in &recorded.effects {
            match effect {
                Effect::Log(level, message) => {
                    super::log::emit(&self.function.id, self.request_id, *level, message)
                }
                Effect::RuleMatched { rule, action } => self
                    .function
                    .engine
                    .services()
                    .rule_matched(self.function.id.as_str(), rule, action),
            }
        }
    }

    /// The end of a hook call: a failure marks the instance untrusted; the call is traced
    /// (`ok_word` when it succeeded, the error's kind otherwise) and counted.
    fn finish_call<T>(
        &mut self,
        hook: Hook,
        result: &Result<T, FunctionError>,
        ok_word: &'static str,
        reused: bool,
        started: Instant,
    ) -> HookTrace {
        self.failed |= result.is_err();
        let word = match result {
            Ok(_) => ok_word,
            Err(e) => e.kind(),
        };
        let trace = self.trace(hook, word, started);
        self.count(result, reused, &trace);
        trace
    }

    fn trace(&self, hook: Hook, outcome: &'static str, started: Instant) -> HookTrace {
        HookTrace {
            function: self.function.id.clone(),
            hook,
            outcome,
            micros: started.elapsed().as_micros() as u64,
        }
    }

    /// Counts a finished hook call.
    fn count<T>(&self, result: &Result<T, FunctionError>, reused: bool, trace: &HookTrace) {
        self.function
            .stats
            .record(result.as_ref().map(|_| ()), reused, trace.micros);
    }
}

impl Drop for FunctionRun {
    fn drop(&mut self) {
        self.release();
    }
}

fn take_request(store: &mut Store<HostState>) -> RequestView {
    store
        .data_mut()
        .request
        .take()
        .expect("the request view stays in the store during a hook")
}

/// One attempt at an instance of `f`, in a store of its own.
async fn instantiate_in_new_store(
    f: &LoadedFunction,
    request_id: RequestId,
) -> (Store<HostState>, wasmtime::Result<Exports>) {
    let mut store = new_store(f, request_id);
    store.set_epoch_deadline(1);
    let instance = f.pre.instance_pre().instantiate_async(&mut store).await;
    (store, instance.map(|i| Exports::new(i, f.exports)))
}

/// A new instance of `f`, configured unless it starts from a snapshot. (Not a method:
/// the future must not hold a `&FunctionRun`, which is not `Sync`.)
async fn instantiate(
    f: &LoadedFunction,
    request_id: RequestId,
    hook: Hook,
) -> Result<Live, FunctionError> {
    let (mut store, exports) = match instantiate_in_new_store(f, request_id).await {
        // The pool is full: idle instances kept for reuse give way to live requests.
        (_, Err(e))
            if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>()
                .is_some()
                && f.engine.idle_budget().evict_all() > 0 =>
        {
            instantiate_in_new_store(f, request_id).await
        }
        attempt => attempt,
    };
    let exports = exports.map_err(|e| classify(f, hook, e))?;
    if f.configure_each_instance {
        let configured = exports.configure(&mut store, &f.config_json).await;
        match configured {
            Ok(Ok(())) => {}
            Ok(Err(refused)) => {
                return Err(FunctionError::Instantiate {
                    function: f.id.clone(),
                    message: super::LoadError::from(refused).to_string(),
                });
            }
            Err(e) => return Err(classify(f, hook, e)),
        }
    }
    f.stats
        .instances
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Ok(Live {
        store,
        exports,
        served: 1,
    })
}

/// A failed call into the guest: a timeout if its deadline interrupted it, else a trap.
fn classify(f: &LoadedFunction, hook: Hook, e: wasmtime::Error) -> FunctionError {
    let function = f.id.clone();
    if let Some(Trap::Interrupt) = e.downcast_ref::<Trap>() {
        return FunctionError::Timeout {
            function,
            hook: hook.as_str(),
            limit: f.limits.timeout,
        };
    }
    FunctionError::Trap {
        function,
        hook: hook.as_str(),
        message: format!("{e:#}"),
    }
}
