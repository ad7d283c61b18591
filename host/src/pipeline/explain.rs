//! The per-request explain record: which behavior matched and what each function hook
//! did and cost, as an `x-wedge-explain` header and `Server-Timing` entries.

use std::fmt::Write;

use http::HeaderMap;
use http::header::HeaderValue;

use crate::config::DebugConfig;
use crate::wasm::HookTrace;

/// CloudFront's result type of a request (`x-edge-result-type`, `x-cache`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResultType {
    /// Answered from the cache (fresh, or stale as allowed).
    Hit,
    /// Answered from the cache after the origin confirmed it (304).
    RefreshHit,
    /// From the origin.
    #[default]
    Miss,
    /// A function answered.
    FunctionGeneratedResponse,
    /// The edge failed the request, or the origin answered 4xx/5xx.
    Error,
}

impl ResultType {
    /// How many result types there are; [`Self::index`] numbers them.
    pub(crate) const COUNT: usize = 5;

    pub(crate) fn index(self) -> usize {
        match self {
            ResultType::Hit => 0,
            ResultType::RefreshHit => 1,
            ResultType::Miss => 2,
            ResultType::FunctionGeneratedResponse => 3,
            ResultType::Error => 4,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResultType::Hit => "Hit",
            ResultType::RefreshHit => "RefreshHit",
            ResultType::Miss => "Miss",
            ResultType::FunctionGeneratedResponse => "FunctionGeneratedResponse",
            ResultType::Error => "Error",
        }
    }

    /// The `x-cache` header, as CloudFront words it.
    pub fn x_cache(self) -> HeaderValue {
        // `const` blocks: `from_static` checks every byte when it runs per request.
        match self {
            ResultType::Hit => const { HeaderValue::from_static("Hit from wedge") },
            ResultType::RefreshHit => const { HeaderValue::from_static("RefreshHit from wedge") },
            ResultType::Miss => const { HeaderValue::from_static("Miss from wedge") },
            ResultType::FunctionGeneratedResponse => {
                const { HeaderValue::from_static("FunctionGeneratedResponse from wedge") }
            }
            ResultType::Error => const { HeaderValue::from_static("Error from wedge") },
        }
    }
}

/// What happened to one request, collected as it goes.
#[derive(Debug, Default)]
pub struct Explain {
    pub behavior: Option<std::sync::Arc<str>>,
    pub hooks: Vec<HookTrace>,
    pub cache_key: Option<String>,
    /// Why a cached response was served stale, if it was.
    pub cache_note: Option<&'static str>,
    /// CloudFront's result type.
    pub result: ResultType,
    /// Request facts for the access log, captured only when it is on.
    pub access: Option<crate::access_log::AccessFacts>,
}

impl Explain {
    /// Adds the headers `debug` asks for.
    pub fn decorate(&self, debug: DebugConfig, headers: &mut HeaderMap) {
        if debug.explain_header {
            let mut s = format!(
                "behavior={}; result={}",
                self.behavior.as_deref().unwrap_or("-"),
                self.result.as_str()
            );
            if let Some(note) = self.cache_note {
                let _ = write!(s, " ({note})");
            }
            for h in &self.hooks {
                let _ = write!(
                    s,
                    "; {}:{}={} {}us",
                    h.function,
                    h.hook.as_str(),
                    h.outcome,
                    h.micros
                );
            }
            if let Some(key) = &self.cache_key {
                let _ = write!(s, "; cache-key={key:?}");
            }

            if let Ok(v) = HeaderValue::from_str(&s) {
                headers.insert("x-wedge-explain", v);
            }
        }
        if debug.server_timing {
            for h in &self.hooks {
                let entry = format!(
                    "fn-{}-{};dur={:.3};desc=\"{} {}\"",
                    h.function,
                    h.hook.as_str(),
                    h.micros as f64 / 1000.0,
                    h.hook.as_str(),
                    h.outcome
                );
                if let Ok(v) = HeaderValue::from_str(&entry) {
                    headers.append("server-timing", v);
                }
            }
        }
    }
}
