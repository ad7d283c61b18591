//! `wedge-sdk`: write wedge edge functions in safe Rust.
//!
//! A function is a type with an `impl Function` block marked `#[wedge_sdk::function]`,
//! built with `cargo build --release --target wasm32-wasip2`. For each request that
//! reaches a behavior listing it, the host creates one fresh instance holding your type
//! as [`Function::new`] (or `Default`) built it, calls the hooks you wrote in request
//! order, and throws the instance away: fields of `self` carry state from one hook to
//! the next within a request, never across requests. A function whose hooks keep no
//! state at all can let the host reuse its instances instead
//! ([`Function::REUSE_INSTANCE`]), which saves most of a hook's cost.
//!
//! | hook | runs | may |
//! |---|---|---|
//! | [`Function::on_viewer_request`] | after routing, before the cache | edit the request, answer it |
//! | [`Function::cache_key`] | before the cache lookup | contribute to the cache key |
//! | [`Function::on_origin_request`] | on a cache miss, before the origin | edit the request, answer it |
//! | [`Function::on_origin_response`] | after the origin answers, before caching | edit status and headers |
//! | [`Function::on_viewer_response`] | before the response goes out | edit status and headers |
//!
//! ```no_run
//! use wedge_sdk::{Decision, Function, Request, Response};
//!
//! #[derive(Default)]
//! struct Gate;
//!
//! #[wedge_sdk::function]
//! impl Function for Gate {
//!     fn on_viewer_request(&mut self, req: &mut Request) -> Decision {
//!         if req.path().starts_with("/admin") {
//!             return Decision::Respond(Response::new(403).body("forbidden\n"));
//!         }
//!         req.set_header("x-gate", "passed");
//!         Decision::Continue
//!     }
//! }
//! ```
#![deny(missing_docs)]

mod allocator;
mod config;
mod head;
#[macro_use]
mod headers;
mod mem;
mod request;
mod response;
mod stdio;

pub use allocator::Recycling;
pub use config::{Config, ConfigError};
pub use head::RequestHead;
pub use headers::HeaderBlock;
pub use request::{EditError, Request};
pub use response::{Decision, Response, ResponseHead};
pub use wedge_sdk_macros::function;

/// Bindings generated from `wit/wedge.wit`; used by the export glue, not by authors.
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

/// The hook points, as the host names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    /// [`Function::on_viewer_request`].
    ViewerRequest,
    /// [`Function::cache_key`].
    CacheKey,
    /// [`Function::on_origin_request`].
    OriginRequest,
    /// [`Function::on_origin_response`].
    OriginResponse,
    /// [`Function::on_viewer_response`].
    ViewerResponse,
}

/// An edge function. Write the hooks you need in an `impl Function for T` block marked
/// `#[wedge_sdk::function]`; the others keep their defaults and are never called.
pub trait Function: Sized + 'static {
    /// Filled in by `#[wedge_sdk::function]`: the hooks the impl block defines.
    const HOOKS: &'static [Hook] = &[];
    /// Filled in by `#[wedge_sdk::function]`: whether the impl block defines `new`.
    const TAKES_CONFIG: bool = false;

    /// The request headers and parts [`Function::on_viewer_request`] depends on, if it
    /// depends on nothing else (no state beyond the request): header names, and
    /// `:method`, `:path`, `:query`, `:host`, `:scheme`, `:client-ip`, `:sni`, `:body`
    /// and `:headers` (every header) for those parts. When viewer-request is the
    /// function's only hook, the host then reuses the hook's outcome (its header edits,
    /// decision, log lines and rule counts) for requests with the same values without
    /// instantiating the function, which makes it nearly free. If the hook reads
    /// anything else anyway, the host notices, logs it, and does not reuse that
    /// outcome; a run that asks a rate-limit counter is never reused. Default: `None`.
    ///
    /// ```
    /// # #[derive(Default)] struct DeviceClass;
    /// #[wedge_sdk::function]
    /// impl wedge_sdk::Function for DeviceClass {
    ///     const VIEWER_REQUEST_INPUTS: Option<&'static [&'static str]> =
    ///         Some(&["user-agent", "sec-ch-ua-mobile"]);
    /// #   fn on_viewer_request(&mut self, _: &mut wedge_sdk::Request) -> wedge_sdk::Decision { wedge_sdk::Decision::Continue }
    /// }
    /// ```
    const VIEWER_REQUEST_INPUTS: Option<&'static [&'static str]> = None;

    /// What [`Function::cache_key`] depends on, as for
    /// [`VIEWER_REQUEST_INPUTS`](Function::VIEWER_REQUEST_INPUTS): header names and
    /// `:method`, `:path`, `:query`, `:host`, `:scheme`. When cache-key is the only hook,
    /// the host reuses the key part for requests with the same values. Default: `None`.
    const CACHE_KEY_INPUTS: Option<&'static [&'static str]> = None;

    /// What [`Function::on_viewer_response`] depends on (request parts only; reading
    /// the response stops reuse). When viewer-response is the only hook, the host
    /// replays its response edits for requests with the same values, which is how a
    /// function that sets the same headers on everything costs almost nothing.
    /// Default: `None`.
    const VIEWER_RESPONSE_INPUTS: Option<&'static [&'static str]> = None;

    /// Whether the hooks keep no state from one request to the next: `self` holds only
    /// what [`Function::new`] built (and whatever a hook leaves behind is never read by
    /// a later request). The host may then run a request on an instance an earlier
    /// request used, once that request is over, instead of starting a fresh one: a
    /// fresh instance costs several microseconds per request, a reused one almost
    /// nothing. Never two requests at a time; an instance whose hook failed is thrown
    /// away, and the operator can cap or turn off reuse (`max_instance_reuse`).
    /// Default: `false` (a fresh instance for every request).
    ///
    /// Declare it only if it is true: with it, a field a hook sets on `self` is still
    /// set when the next viewer's request arrives, and an origin hook may run on an
    /// instance whose viewer-request hook served another request (a background cache
    /// refresh runs only the origin hooks), so carry no state between hooks either. An
    /// instance whose memory grew well past its initial size is not reused.
    ///
    /// ```
    /// # #[derive(Default)] struct Stateless;
    /// #[wedge_sdk::function]
    /// impl wedge_sdk::Function for Stateless {
    ///     const REUSE_INSTANCE: bool = true;
    /// #   fn on_viewer_request(&mut self, _: &mut wedge_sdk::Request) -> wedge_sdk::Decision { wedge_sdk::Decision::Continue }
    /// }
    /// ```
    const REUSE_INSTANCE: bool = false;

    /// Builds the function's state from its config (`[functions.<id>.config]` in the
    /// host's TOML). The host calls it at load, so an error here stops the config from
    /// loading, naming the function and your field; it then snapshots the memory of the
    /// configured instance, and every request's instance starts from a copy of that
    /// state. So do the expensive work here (parse, compile regexes, build tables): it
    /// is paid once per load, not per request. Do not keep host handles, the time of
    /// day or random values from here: they belong to the load, and the snapshot (cached
    /// on disk for the same module and config) keeps them, hash seeds included. Leave it out for
    /// functions without config: the attribute then uses `Default` and refuses any
    /// config.
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct Settings { header: String, #[serde(default)] value: Option<String> }
    ///
    /// struct AddHeader(Settings);
    ///
    /// #[wedge_sdk::function]
    /// impl wedge_sdk::Function for AddHeader {
    ///     fn new(config: &wedge_sdk::Config) -> Result<Self, wedge_sdk::ConfigError> {
    ///         let s: Settings = config.parse()?;
    ///         if s.header.is_empty() {
    ///             return Err(wedge_sdk::ConfigError::new("header", "must not be empty"));
    ///         }
    ///         Ok(AddHeader(s))
    ///     }
    ///     fn on_viewer_request(&mut self, req: &mut wedge_sdk::Request) -> wedge_sdk::Decision {
    ///         req.set_header(&self.0.header, self.0.value.as_deref().unwrap_or("1"));
    ///         wedge_sdk::Decision::Continue
    ///     }
    /// }
    /// ```
    fn new(config: &Config) -> Result<Self, ConfigError>;

    /// What `hook` depends on, declared by the configured function: for a function whose
    /// inputs follow from its config (the headers it is told to read, say). The host asks
    /// once after [`Function::new`] and uses this instead of the constants
    /// ([`VIEWER_REQUEST_INPUTS`](Function::VIEWER_REQUEST_INPUTS) and the others), which
    /// are the default answer. Besides the inputs listed there, `:query-shape` stands for
    /// the query with every parameter value that is a bare token (letters, digits, `_`,
    /// `-`) counted as one value: declare it only if no such value changes the outcome,
    /// or call [`Request::do_not_reuse`] in the runs where one may. Whether a run calls it
    /// must itself depend only on what the declaration keys on: the host stores nothing
    /// for such a run, but replays an outcome stored for the same key by a run that did
    /// not call it. Only a function that takes config (defines `new`) is asked.
    ///
    /// ```
    /// #[derive(serde::Deserialize)]
    /// struct Echo { header: String }
    ///
    /// #[wedge_sdk::function]
    /// impl wedge_sdk::Function for Echo {
    ///     fn new(config: &wedge_sdk::Config) -> Result<Self, wedge_sdk::ConfigError> {
    ///         config.parse()
    ///     }
    ///     // Run once per distinct value of the configured header, then replayed.
    ///     fn inputs(&self, hook: wedge_sdk::Hook) -> Option<Vec<String>> {
    ///         (hook == wedge_sdk::Hook::ViewerRequest).then(|| vec![self.header.clone()])
    ///     }
    ///     fn on_viewer_request(&mut self, req: &mut wedge_sdk::Request) -> wedge_sdk::Decision {
    ///         let value = req.header(&self.header).unwrap_or_default();
    ///         req.set_header("x-echo", &value);
    ///         wedge_sdk::Decision::Continue
    ///     }
    /// }
    /// ```
    fn inputs(&self, hook: Hook) -> Option<Vec<String>> {
        __private::declared_inputs::<Self>(hook)
    }

    /// Runs after routing, before the cache, for every request the behavior receives.
    /// Edit the request in place (headers, path, query), or answer it yourself.
    ///
    /// Default: [`Decision::Continue`] without touching the request.
    ///
    /// ```
    /// # #[derive(Default)] struct TrailingSlash;
    /// #[wedge_sdk::function]
    /// impl wedge_sdk::Function for TrailingSlash {
    ///     fn on_viewer_request(&mut self, req: &mut wedge_sdk::Request) -> wedge_sdk::Decision {
    ///         let path = req.path();
    ///         if !path.ends_with('/') && !path.rsplit('/').next().unwrap_or("").contains('.') {
    ///             let location = format!("{path}/");
    ///             return wedge_sdk::Decision::Respond(wedge_sdk::Response::redirect(301, &location));
    ///         }
    ///         wedge_sdk::Decision::Continue
    ///     }
    /// }
    /// ```
    fn on_viewer_request(&mut self, req: &mut Request) -> Decision {
        let _ = req;
        Decision::Continue
    }

    /// Runs before the cache lookup; returns this function's part of the cache key, or
    /// `None` for no opinion. The host combines the parts of all functions (in order)
    /// with the cache policy's key.
    ///
    /// Default: `None`.
    ///
    /// ```
    /// # #[derive(Default)] struct LowerCaseKey;
    /// #[wedge_sdk::function]
    /// impl wedge_sdk::Function for LowerCaseKey {
    ///     fn cache_key(&mut self, req: &Request) -> Option<String> {
    ///         Some(req.path().to_ascii_lowercase())
    ///     }
    /// }
    /// # use wedge_sdk::Request;
    /// ```
    fn cache_key(&mut self, req: &Request) -> Option<String> {
        let _ = req;
        None
    }

    /// Runs on a cache miss, just before the request goes to the origin (after the
    /// origin request policy). Edit the request, or answer it.
    ///
    /// Default: [`Decision::Continue`].
    ///
    /// ```
    /// # #[derive(Default)] struct StripCookies;
    /// #[wedge_sdk::function]
    /// impl wedge_sdk::Function for StripCookies {
    ///     fn on_origin_request(&mut self, req: &mut wedge_sdk::Request) -> wedge_sdk::Decision {
    ///         req.remove_header("cookie");
    ///         wedge_sdk::Decision::Continue
    ///     }
    /// }
    /// ```
    fn on_origin_request(&mut self, req: &mut Request) -> Decision {
        let _ = req;
        Decision::Continue
    }

    /// Runs when the origin's response arrives, before it is cached: edit its status
    /// and headers. `req` is the request as sent to the origin (read-only).
    ///
    /// Default: leaves the response as it is.
    ///
    /// ```
    /// # #[derive(Default)] struct NoServerHeader;
    /// #[wedge_sdk::function]
    /// impl wedge_sdk::Function for NoServerHeader {
    ///     fn on_origin_response(&mut self, _req: &wedge_sdk::Request, resp: &mut wedge_sdk::ResponseHead) {
    ///         resp.remove_header("server");
    ///     }
    /// }
    /// ```
    fn on_origin_response(&mut self, req: &Request, resp: &mut ResponseHead) {
        let _ = (req, resp);
    }

    /// Runs before any response goes to the viewer (from the origin, the cache or an
    /// origin-request answer): edit its status and headers.
    ///
    /// Default: leaves the response as it is.
    ///
    /// ```
    /// # #[derive(Default)] struct Hsts;
    /// #[wedge_sdk::function]
    /// impl wedge_sdk::Function for Hsts {
    ///     fn on_viewer_response(&mut self, _req: &wedge_sdk::Request, resp: &mut wedge_sdk::ResponseHead) {
    ///         resp.set_header("strict-transport-security", "max-age=63072000");
    ///     }
    /// }
    /// ```
    fn on_viewer_response(&mut self, req: &Request, resp: &mut ResponseHead) {
        let _ = (req, resp);
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

/// Rate limiting with counters the host keeps across all requests (instance memory lasts
/// one request, so a limit cannot be counted inside the function).
pub mod ratelimit {
    use crate::bindings::wedge::function::ratelimit;

    /// The state of a key's window after counting one hit.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct Verdict {
        /// Whether this hit is within the limit.
        pub allowed: bool,
        /// Hits in the current window, this one included.
        pub count: u32,
        /// When over the limit: milliseconds until the window ends.
        pub retry_after_ms: u32,
    }

    /// Counts one hit for `key` in a fixed window of `window_ms` milliseconds and says
    /// whether it is within `limit`. Keys are private to the calling function.
    ///
    /// ```no_run
    /// # fn f(req: &wedge_sdk::Request) -> wedge_sdk::Decision {
    /// let v = wedge_sdk::ratelimit::hit(&req.client_ip(), 60_000, 100);
    /// if !v.allowed {
    ///     let secs = v.retry_after_ms.div_ceil(1000).to_string();
    ///     return wedge_sdk::Decision::Respond(
    ///         wedge_sdk::Response::new(429).header("retry-after", &secs));
    /// }
    /// # wedge_sdk::Decision::Continue }
    /// ```
    pub fn hit(key: &str, window_ms: u32, limit: u32) -> Verdict {
        let v = ratelimit::hit(key, window_ms, limit);
        Verdict {
            allowed: v.allowed,
            count: v.count,
            retry_after_ms: v.retry_after_ms,
        }
    }
}

/// Per-rule counters for rule-evaluating functions, exported by the host as
/// `wedge_function_rule_matches_total{function, rule, action}`.
pub mod rule_metrics {
    /// Counts one match of `rule` that took `action`.
    pub fn matched(rule: &str, action: &str) {
        crate::bindings::wedge::function::rule_metrics::matched(rule, action);
    }
}

/// Glue used by `#[wedge_sdk::function]`; not part of the public API.
#[doc(hidden)]
pub mod __private {
    use std::cell::RefCell;

    use crate::bindings::wedge::function::types as wit;
    use crate::{Config, Function, Hook, Request, ResponseHead};

    /// What `F`'s constants declare `hook` depends on ([`Function::inputs`]' default).
    pub fn declared_inputs<F: Function>(hook: Hook) -> Option<Vec<String>> {
        let names = match hook {
            Hook::ViewerRequest => F::VIEWER_REQUEST_INPUTS,
            Hook::CacheKey => F::CACHE_KEY_INPUTS,
            Hook::ViewerResponse => F::VIEWER_RESPONSE_INPUTS,
            Hook::OriginRequest | Hook::OriginResponse => None,
        };
        names.map(|names| names.iter().map(|n| (*n).to_owned()).collect())
    }

    /// What `F` declares: configured (`slot` filled), what [`Function::inputs`] says;
    /// else the constants.
    pub fn describe<F: Function>(slot: &RefCell<Option<F>>) -> wit::FunctionInfo {
        let state = slot.borrow();
        let inputs = |hook| {
            lower(match state.as_ref() {
                Some(state) => state.inputs(hook),
                None => declared_inputs::<F>(hook),
            })
        };
        wit::FunctionInfo {
            hooks: F::HOOKS
                .iter()
                .map(|h| match h {
                    Hook::ViewerRequest => wit::Hook::ViewerRequest,
                    Hook::CacheKey => wit::Hook::CacheKey,
                    Hook::OriginRequest => wit::Hook::OriginRequest,
                    Hook::OriginResponse => wit::Hook::OriginResponse,
                    Hook::ViewerResponse => wit::Hook::ViewerResponse,
                })
                .collect(),
            takes_config: F::TAKES_CONFIG,
            viewer_request_inputs: inputs(Hook::ViewerRequest),
            cache_key_inputs: inputs(Hook::CacheKey),
            viewer_response_inputs: inputs(Hook::ViewerResponse),
            reuse_instance: F::REUSE_INSTANCE,
        }
    }

    fn lower(names: Option<Vec<String>>) -> Option<Vec<String>> {
        names.map(|names| names.iter().map(|n| n.to_ascii_lowercase()).collect())
    }

    pub fn configure<F: Function>(
        slot: &RefCell<Option<F>>,
        json: &str,
    ) -> Result<(), wit::ConfigError> {
        let config = Config::from_json(json).map_err(|e| e.into_wit())?;
        let state = F::new(&config);
        crate::stdio::flush();
        *slot.borrow_mut() = Some(state.map_err(|e| e.into_wit())?);
        Ok(())
    }

    /// Runs `f` on the instance's state, building it from an empty config first if the
    /// host did not configure it (functions without config).
    pub fn with<F: Function, R>(slot: &RefCell<Option<F>>, f: impl FnOnce(&mut F) -> R) -> R {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            match F::new(&Config::empty()) {
                Ok(state) => *slot = Some(state),
                Err(e) => panic!("function state could not be built: {e}"),
            }
        }
        let out = match slot.as_mut() {
            Some(state) => f(state),
            None => unreachable!("state was just built"),
        };
        crate::stdio::flush();
        out
    }

    pub fn viewer_request<F: Function>(state: &mut F, req: &wit::Request) -> wit::Decision {
        state.on_viewer_request(&mut Request::new(req)).into_wit()
    }

    pub fn cache_key<F: Function>(state: &mut F, req: &wit::Request) -> Option<String> {
        state.cache_key(&Request::new(req))
    }

    pub fn origin_request<F: Function>(state: &mut F, req: &wit::Request) -> wit::Decision {
        state.on_origin_request(&mut Request::new(req)).into_wit()
    }

    pub fn origin_response<F: Function>(state: &mut F, req: &wit::Request, resp: &wit::Response) {
        state.on_origin_response(&Request::new(req), &mut ResponseHead::new(resp))
    }

    pub fn viewer_response<F: Function>(state: &mut F, req: &wit::Request, resp: &wit::Response) {
        state.on_viewer_response(&Request::new(req), &mut ResponseHead::new(resp))
    }
}

/// Exports `$ty` (which implements [`Function`]) as this component's hooks. Emitted by
/// `#[wedge_sdk::function]`; call it yourself only without the attribute.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_function {
    ($ty:ty) => {
        const _: () = {
            use $crate::bindings::exports::wedge::function::hooks::Guest;
            use $crate::bindings::wedge::function::types as wit;

            struct __WedgeExport;

            ::std::thread_local! {
                static __WEDGE_STATE: ::core::cell::RefCell<::core::option::Option<$ty>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            fn __with<R>(f: impl FnOnce(&mut $ty) -> R) -> R {
                __WEDGE_STATE.with(|slot| $crate::__private::with(slot, f))
            }

            impl Guest for __WedgeExport {
                fn describe() -> wit::FunctionInfo {
                    __WEDGE_STATE.with(|slot| $crate::__private::describe::<$ty>(slot))
                }
                fn configure(config: ::std::string::String) -> ::core::result::Result<(), wit::ConfigError> {
                    __WEDGE_STATE.with(|slot| $crate::__private::configure::<$ty>(slot, &config))
                }
                fn on_viewer_request(req: &wit::Request) -> wit::Decision {
                    __with(|s| $crate::__private::viewer_request(s, req))
                }
                fn cache_key(req: &wit::Request) -> ::core::option::Option<::std::string::String> {
                    __with(|s| $crate::__private::cache_key(s, req))
                }
                fn on_origin_request(req: &wit::Request) -> wit::Decision {
                    __with(|s| $crate::__private::origin_request(s, req))
                }
                fn on_origin_response(req: &wit::Request, resp: &wit::Response) {
                    __with(|s| $crate::__private::origin_response(s, req, resp))
                }
                fn on_viewer_response(req: &wit::Request, resp: &wit::Response) {
                    __with(|s| $crate::__private::viewer_response(s, req, resp))
                }
            }

            $crate::bindings::__export_function_world!(__WedgeExport with_types_in $crate::bindings);
        };
    };
}
