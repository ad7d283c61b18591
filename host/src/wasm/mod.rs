//! The function runtime: one wasmtime engine, functions loaded as components, and a
//! fresh, limited instance per request (or an idle one, for functions that declare
//! their hooks keep no state across requests).
//!
//! One file per concern: [`engine`] (engine, epochs, pooling), [`function`] (loading,
//! import allowlist), [`instance`] (running hooks), `idle` (instances kept between
//! requests), `memo` (decision reuse), and one file per WIT interface the host implements
//! ([`request`] for `types`, [`log`] for `log`, [`services`] for `ratelimit` and
//! `rule-metrics`).

mod artifacts;
pub mod engine;
mod epoch;
mod exports;
pub mod function;
mod headers;
mod idle;
pub mod instance;
mod log;
mod memo;
mod preinit;
pub mod request;
pub mod response;
pub mod services;

pub use engine::{EngineSettings, WasmEngine};
pub use function::{
    FunctionError, Hook, HookOutcome, HookSet, LoadError, LoadedFunction, SyntheticResponse,
};
pub use instance::{FunctionRun, HookTrace};
pub use request::{RequestState, RequestView};
pub use response::ResponseView;

/// Host bindings generated from `wit/wedge.wit`.
pub(crate) mod bindings {
    wasmtime::component::bindgen!({
        world: "function",
        path: "../wit",
        // Every host call may trap, so a bad handle or a broken invariant ends the
        // guest instead of panicking the host.
        imports: { default: trappable },
        // Exports are called with `call_async` on fibers, so WASI's stream calls (a
        // guest writing to stderr, say) can run on the tokio task serving the request.
        exports: { default: async },
        with: {
            "wedge:function/types.request": crate::wasm::request::RequestView,
            "wedge:function/types.response": crate::wasm::response::ResponseView,
        },
    });
}
