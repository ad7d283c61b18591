//! Pre-initialisation: a function's `configure` runs once, at load, and its memory is
//! snapshotted into a new component (wasmtime-wizer), so every per-request instance
//! starts from a copy-on-write image that is already configured instead of parsing its
//! config and building its tables (a WAF's rule set, say) again for every request.

use wasmtime::Store;
use wasmtime::component::{Instance, Lift, WasmList};
use wasmtime_wizer::{ComponentInstanceState, Wizer};

use super::bindings::Function as Bindings;
use super::bindings::wedge::function::types::ConfigError;
use super::engine::WasmEngine;
use super::instance::HostState;

/// Why a snapshot could not be made.
pub(crate) enum PreinitError {
    /// The function refused its config.
    Config(ConfigError),
    /// Instrumenting, running or snapshotting failed.
    Failed(String),
}

impl<E: std::fmt::Display> From<E> for PreinitError {
    fn from(e: E) -> Self {
        PreinitError::Failed(format!("{e:#}"))
    }
}

/// Instruments `bytes`, instantiates it in `store`, configures it with `config_json`
/// and returns the component whose initial state is that configured instance.
pub(crate) async fn configured_snapshot(
    engine: &WasmEngine,
    bytes: &[u8],
    content_hash: &str,
    config_json: &str,
    mut store: Store<HostState>,
) -> Result<Vec<u8>, PreinitError> {
    let wizer = Wizer::new();
    let (cx, instrumented) = wizer.instrument_component(bytes)?;
    let component = engine.compile(&instrumented, &format!("{content_hash}-instrumented"))?;
    let instance = engine
        .linker()
        .instantiate_pre(&component)?
        .instantiate_async(&mut store)
        .await?;
    let bindings = Bindings::new(&mut store, &instance)?;
    if let Err(refused) = bindings
        .wedge_function_hooks()
        .call_configure(&mut store, config_json)
        .await?
    {
        return Err(PreinitError::Config(refused));
    }
    // Reading the state back runs only wizer's own accessors: no deadline for them.
    store.set_epoch_deadline(u64::MAX / 2);
    let mut state = Access {
        store: &mut store,
        instance,
        failed: None,
    };
    let snapshot = wizer.snapshot_component(&cx, &mut state).await?;
    match state.failed {
        None => Ok(snapshot),
        Some(message) => Err(PreinitError::Failed(message)),
    }
}

/// Lets wizer read the instrumented instance's memories and globals through the
/// accessor functions it added. (wasmtime-wizer has its own, behind a `wasmtime`
/// feature that would switch on GC, threads and more in our engine, and it panics
/// where this one reports a failure and falls back.)
struct Access<'a> {
    store: &'a mut Store<HostState>,
    instance: Instance,
    /// The first accessor that could not be called (the trait has no error path).
    failed: Option<String>,
}

impl Access<'_> {
    async fn call<R: Lift + Send + Sync + 'static, T: Default>(
        &mut self,
        interface: &str,
        func: &str,
        read: impl FnOnce(&mut Store<HostState>, R) -> T,
    ) -> T {
        match self.try_call(interface, func, read).await {
            Ok(value) => value,
            Err(e) => {
                self.failed
                    .get_or_insert_with(|| format!("reading {interface}#{func}: {e:#}"));
                T::default()
            }
        }
    }

    async fn try_call<R: Lift + Send + Sync + 'static, T>(
        &mut self,
        interface: &str,
        func: &str,
        read: impl FnOnce(&mut Store<HostState>, R) -> T,
    ) -> wasmtime::Result<T> {
        let store = &mut *self.store;
        let (_, iface) = self
            .instance
            .get_export(&mut *store, None, interface)
            .ok_or_else(|| wasmtime::format_err!("no such export"))?;
        let (_, index) = self
            .instance
            .get_export(&mut *store, Some(&iface), func)
            .ok_or_else(|| wasmtime::format_err!("no such export"))?;
        let typed = self
            .instance
            .get_typed_func::<(), (R,)>(&mut *store, index)?;
        let (value,) = typed.call_async(&mut *store, ()).await?;
        Ok(read(store, value))
    }
}

impl ComponentInstanceState for Access<'_> {
    async fn call_func_ret_list_u8(
        &mut self,
        instance: &str,
        func: &str,
        contents: impl FnOnce(&[u8]) + Send,
    ) {
        self.call(instance, func, |store, list: WasmList<u8>| {
            contents(list.as_le_slice(&*store))
        })
        .await
    }

    async fn call_func_ret_s32(&mut self, instance: &str, func: &str) -> i32 {
        self.call(instance, func, |_, v| v).await
    }

    async fn call_func_ret_s64(&mut self, instance: &str, func: &str) -> i64 {
        self.call(instance, func, |_, v| v).await
    }

    async fn call_func_ret_f32(&mut self, instance: &str, func: &str) -> u32 {
        self.call(instance, func, |_, v: f32| v.to_bits()).await
    }

    async fn call_func_ret_f64(&mut self, instance: &str, func: &str) -> u64 {
        self.call(instance, func, |_, v: f64| v.to_bits()).await
    }
}
