//! Prometheus metrics for `/metrics`: requests by behavior and status, latency, and
//! per-function invocations, outcomes and durations. Kept by the edge, not the
//! snapshot, so counters survive reloads.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::wasm::HookTrace;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    behavior: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BehaviorLabels {
    behavior: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    function: String,
    hook: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookTimeLabels {
    function: String,
    hook: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// The edge's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<BehaviorLabels, Histogram>,
    hooks: Family<HookLabels, Counter>,
    hook_time: Family<HookTimeLabels, Histogram>,
    reloads: Family<ResultLabels, Counter>,
    connections: Family<ResultLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("wedge");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<BehaviorLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.0001, 2.0, 18))
        });
        let hooks = Family::<HookLabels, Counter>::default();
        let hook_time = Family::<HookTimeLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000002, 2.0, 16))
        });
        let reloads = Family::<ResultLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by behavior and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to response headers, by behavior",
            latency.clone(),
        );
        registry.register("function_hooks", "Function hook calls, by function, hook and outcome (continue, respond, reused, trap, timeout, ...)", hooks.clone());
        registry.register(
            "function_hook_duration_seconds",
            "Function hook duration, instance creation included",
            hook_time.clone(),
        );
        registry.register("reloads", "Snapshot reloads, by result", reloads.clone());
        let connections = Family::<ResultLabels, Counter>::default();
        registry.register(
            "connections",
            "Viewer connections, accepted or refused at the limit",
            connections.clone(),
        );
        Self {
            registry,
            requests,
            latency,
            hooks,
            hook_time,
            reloads,
            connections,
        }
    }
}

impl Metrics {
    /// Records one answered request and the hooks it ran.
    pub fn record_request(&self, behavior: &str, status: u16, seconds: f64, hooks: &[HookTrace]) {
        self.requests
            .get_or_create(&RequestLabels {
                behavior: behavior.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&BehaviorLabels {
                behavior: behavior.to_owned(),
            })
            .observe(seconds);
        for h in hooks {
            let function = h.function.to_string();
            self.hooks
                .get_or_create(&HookLabels {
                    function: function.clone(),
                    hook: h.hook.as_str(),
                    outcome: h.outcome,
                })
                .inc();
            self.hook_time
                .get_or_create(&HookTimeLabels {
                    function,
                    hook: h.hook.as_str(),
                })
                .observe(h.micros as f64 / 1e6);
        }
    }

    pub fn record_reload(&self, ok: bool) {
        self.reloads
            .get_or_create(&ResultLabels {
                result: if ok { "ok" } else { "refused" },
            })
            .inc();
    }

    pub fn record_connection(&self, accepted: bool) {
        self.connections
            .get_or_create(&ResultLabels {
                result: if accepted { "accepted" } else { "refused" },
            })
            .inc();
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}
