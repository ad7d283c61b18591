//! `wedge-sdk`: write wedge edge functions in safe Rust.
//!
//! A function is a type implementing [`Function`], exported with [`export_function!`]
//! and built with `cargo build --release --target wasm32-wasip2`. The host creates a
//! fresh instance of it for each request that reaches a behavior listing it, calls
//! its hooks, and throws the instance away: state kept in `self` lives for one request.
//!
//! ```no_run
//! use wedge_sdk::{Decision, Function, Request, Response};
//!
//! #[derive(Default)]
//! struct Gate;
//!
//! impl Function for Gate {
//!     fn on_viewer_request(&mut self, req: &mut Request) -> Decision {
//!         if req.path().starts_with("/admin") {
//!             return Decision::Respond(Response::new(403).body("forbidden\n"));
//!         }
//!         req.set_header("x-gate", "passed");
//!         Decision::Continue
//!     }
//! }
//!
//! wedge_sdk::export_function!(Gate);
//! ```
#![deny(missing_docs)]

mod request;
mod response;

pub use request::{HeaderError, Request};
pub use response::{Decision, Response};

/// Bindings generated from `wit/wedge.wit`; used by [`export_function!`], not by authors.
#[doc(hidden)]
#[allow(missing_docs)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "function",
        path: "../wit",
        pub_export_macro: true,
        export_macro_name: "__export_function_world",
        default_bindings_module: "wedge_sdk::bindings",
    });
}

/// An edge function: override the hooks you need; the others keep their defaults.
///
/// One value of your type is created (with [`Default`]) per request, before its first
/// hook runs, so fields can carry state from one hook to the next within a request.
pub trait Function: Default + 'static {
    /// The request headers [`Function::on_viewer_request`] depends on, if it depends on
    /// nothing else: not the path, query, method, host, client address or any other
    /// header, and no state beyond the request. Declaring them lets the host reuse the
    /// hook's outcome (its header edits and decision) for requests with the same values
    /// of these headers without instantiating the function, which makes such functions
    /// nearly free. If the hook reads anything else anyway, the host notices, logs it,
    /// and stops reusing that outcome. Default: `None` (run for every request).
    ///
    /// ```
    /// # #[derive(Default)] struct DeviceClass;
    /// impl wedge_sdk::Function for DeviceClass {
    ///     const VIEWER_REQUEST_INPUTS: Option<&'static [&'static str]> =
    ///         Some(&["user-agent", "sec-ch-ua-mobile"]);
    /// }
    /// ```
    const VIEWER_REQUEST_INPUTS: Option<&'static [&'static str]> = None;

    /// Runs after routing, before the cache and the origin, for every request the
    /// behavior receives. Edit the request in place (headers), or answer it yourself.
    ///
    /// Default: [`Decision::Continue`] without touching the request.
    fn on_viewer_request(&mut self, req: &mut Request) -> Decision {
        let _ = req;
        Decision::Continue
    }
}

/// Writes a line to the host's log, tagged with the function and the request id.
pub mod log {
    use crate::bindings::wedge::function::log::{Level, log};

    /// Logs at debug level.
    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }
    /// Logs at info level.
    pub fn info(message: &str) {
        log(Level::Info, message);
    }
    /// Logs at warn level.
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }
    /// Logs at error level.
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// Glue used by [`export_function!`]; not part of the public API.
#[doc(hidden)]
pub mod __private {
    use crate::bindings::wedge::function::types as wit;
    use crate::{Function, Request};

    pub fn describe<F: Function>() -> wit::FunctionInfo {
        wit::FunctionInfo {
            viewer_request_inputs: F::VIEWER_REQUEST_INPUTS
                .map(|names| names.iter().map(|n| n.to_ascii_lowercase()).collect()),
        }
    }

    pub fn viewer_request<F: Function>(state: &mut F, req: &wit::Request) -> wit::Decision {
        let mut req = Request::new(req);
        state.on_viewer_request(&mut req).into_wit()
    }
}

/// Exports a type implementing [`Function`] as this component's hooks.
///
/// ```no_run
/// # #[derive(Default)] struct MyFunction;
/// # impl wedge_sdk::Function for MyFunction {}
/// wedge_sdk::export_function!(MyFunction);
/// ```
#[macro_export]
macro_rules! export_function {
    ($ty:ty) => {
        const _: () = {
            struct __WedgeExport;

            ::std::thread_local! {
                static __WEDGE_STATE: ::core::cell::RefCell<::core::option::Option<$ty>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            fn __with_state<R>(f: impl FnOnce(&mut $ty) -> R) -> R {
                __WEDGE_STATE.with(|cell| {
                    let mut slot = cell.borrow_mut();
                    f(slot.get_or_insert_with(<$ty as ::core::default::Default>::default))
                })
            }

            impl $crate::bindings::exports::wedge::function::hooks::Guest for __WedgeExport {
                fn describe() -> $crate::bindings::wedge::function::types::FunctionInfo {
                    $crate::__private::describe::<$ty>()
                }

                fn on_viewer_request(
                    req: &$crate::bindings::wedge::function::types::Request,
                ) -> $crate::bindings::wedge::function::types::Decision {
                    __with_state(|state| $crate::__private::viewer_request(state, req))
                }
            }

            $crate::bindings::__export_function_world!(__WedgeExport with_types_in $crate::bindings);
        };
    };
}
