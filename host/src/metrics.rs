//! Prometheus metrics for `/metrics`: requests by behavior and status, latency, and
//! per-function invocations, outcomes and durations. Kept by the edge, not the
//! snapshot, so counters survive reloads.

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::config::FunctionId;
use crate::wasm::HookTrace;

/// A shared label value: building a label set per request clones it without allocating.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Name(Arc<str>);

impl EncodeLabelValue for Name {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, &self.0)
    }
}

impl EncodeLabelValue for FunctionId {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        std::fmt::Write::write_str(encoder, self.as_str())
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    behavior: Name,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BehaviorLabels {
    behavior: Name,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookLabels {
    function: FunctionId,
    hook: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HookTimeLabels {
    function: FunctionId,
    hook: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: &'static str,
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
    nacl_denied: Family<ListenerLabels, Counter>,
    /// The behavior label of requests no behavior took.
    unrouted: Name,
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
        let nacl_denied = Family::<ListenerLabels, Counter>::default();
        registry.register(
            "nacl_denied_connections",
            "Connections a network ACL refused at accept, by listener",
            nacl_denied.clone(),
        );
        Self {
            registry,
            nacl_denied,
            requests,
            latency,
            hooks,
            hook_time,
            reloads,
            connections,
            unrouted: Name(Arc::from("-")),
        }
    }
}

impl Metrics {
    /// Records one answered request and the hooks it ran.
    /// `behavior` is `None` for requests no behavior took (unknown host, no host).
    pub fn record_request(
        &self,
        behavior: Option<&Arc<str>>,
        status: u16,
        seconds: f64,
        hooks: &[HookTrace],
    ) {
        let behavior = behavior.map_or_else(|| self.unrouted.clone(), |b| Name(b.clone()));
        self.requests
            .get_or_create(&RequestLabels {
                behavior: behavior.clone(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&BehaviorLabels { behavior })
            .observe(seconds);
        for h in hooks {
            let hook = h.hook.as_str();
            self.hooks
                .get_or_create(&HookLabels {
                    function: h.function.clone(),
                    hook,
                    outcome: h.outcome,
                })
                .inc();
            self.hook_time
                .get_or_create(&HookTimeLabels {
                    function: h.function.clone(),
                    hook,
                })
                .observe(h.micros as f64 / 1e6);
        }
    }

    /// Exports the function services' counters (`wedge_function_rule_matches_total`).
    pub(crate) fn register_services(&mut self, services: &crate::wasm::services::Services) {
        self.registry.register(
            "function_rule_matches",
            "Rule matches reported by functions (a WAF), by function, rule and action",
            services.rule_matches.clone(),
        );
    }

    /// Counts a connection a network ACL refused, by listener.
    pub fn record_nacl_denied(&self, listener: &'static str) {
        self.nacl_denied
            .get_or_create(&ListenerLabels { listener })
            .inc();
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
