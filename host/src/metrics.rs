//! Prometheus metrics for `/metrics`: requests by behavior and status, latency, and
//! per-function invocations, outcomes and durations. Kept by the edge, not the
//! snapshot, so counters survive reloads. Origin health and counters are read from the
//! serving snapshot's pools at scrape time (they restart with a reload's new pools).

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeLabelValue, EncodeMetric, LabelValueEncoder,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::config::FunctionId;
use crate::origin::OriginPool;
use crate::pipeline::ResultType;
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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HandshakeLabels {
    result: &'static str,
    /// The negotiated protocol version, `-` when the handshake did not finish.
    version: &'static str,
}

/// Numbers the [`Metrics`] of a process.
static NEXT_METRICS_ID: AtomicU64 = AtomicU64::new(0);

/// Most handles a thread keeps; it starts over past this.
const HANDLES_MAX: usize = 4096;

thread_local! {
    /// The counter and histogram of each label set this thread has recorded: a request
    /// records its behavior and hooks without hashing label sets into the families
    /// (SipHash, a lock and string comparisons each). The handles share the families'
    /// metrics, so `/metrics` is unchanged, series included (made on first use).
    static HANDLES: RefCell<HashMap<HandleKey, Handle, BuildHasherDefault<AddrHasher>>> =
        RefCell::new(HashMap::default());
}

/// A label set by identity: the metrics it belongs to, a shared name by address (the
/// handle holds the name, so no other name can take that address while it is cached),
/// and a status, or a hook and outcome (static strings, by address and length).
#[derive(PartialEq, Eq, Hash)]
struct HandleKey {
    metrics: u64,
    name: usize,
    a: (usize, usize),
    b: (usize, usize),
}

struct Handle {
    _name: Held,
    count: Counter,
    time: Histogram,
}

/// The name a handle keeps alive.
enum Held {
    Behavior { _name: Arc<str> },
    Function { _id: FunctionId },
}

/// Hashes [`HandleKey`]s, a few machine words: multiply-rotate, no SipHash needed
/// for addresses nobody outside chooses.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(u64::from(b));
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn finish(&self) -> u64 {
        self.0
    }
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
    tls_handshakes: Family<HandshakeLabels, Counter>,
    /// Idle HTTP/1.1 connections parked now, and parks so far.
    parked: Gauge,
    parks: Counter,
    cache_results: Family<ResultLabels, Counter>,
    /// `cache_results` by result type, looked up once each (on first use, so a result
    /// never seen still has no series).
    result_counters: [OnceLock<Counter>; ResultType::COUNT],
    nacl_denied: Family<ListenerLabels, Counter>,
    /// The behavior label of requests no behavior took.
    unrouted: Name,
    /// Tells this edge's cached handles (see [`HANDLES`]) from another's.
    id: u64,
    origins: Arc<OriginCollector>,
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
        let tls_handshakes = Family::<HandshakeLabels, Counter>::default();
        registry.register(
            "tls_handshakes",
            "Viewer TLS handshakes, by result (ok, failed, timeout) and protocol version",
            tls_handshakes.clone(),
        );
        let (parked, parks) = (Gauge::default(), Counter::default());
        registry.register(
            "parked_connections",
            "Idle HTTP/1.1 viewer connections parked without their HTTP buffers",
            parked.clone(),
        );
        registry.register(
            "connection_parks",
            "Times an idle HTTP/1.1 viewer connection was parked",
            parks.clone(),
        );
        let cache_results = Family::<ResultLabels, Counter>::default();
        registry.register(
            "cache_results",
            "Requests by CloudFront result type (Hit, RefreshHit, Miss, Error, FunctionGeneratedResponse)",
            cache_results.clone(),
        );
        let origins = Arc::new(OriginCollector::default());
        registry.register_collector(Box::new(origins.clone()));
        let nacl_denied = Family::<ListenerLabels, Counter>::default();
        registry.register(
            "nacl_denied_connections",
            "Connections a network ACL refused at accept, by listener",
            nacl_denied.clone(),
        );
        Self {
            origins,
            cache_results,
            result_counters: Default::default(),
            registry,
            nacl_denied,
            requests,
            latency,
            hooks,
            hook_time,
            reloads,
            connections,
            tls_handshakes,
            parked,
            parks,
            unrouted: Name(Arc::from("-")),
            id: NEXT_METRICS_ID.fetch_add(1, Ordering::Relaxed),
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
        let behavior = behavior.unwrap_or(&self.unrouted.0);
        HANDLES.with_borrow_mut(|handles| {
            if handles.len() >= HANDLES_MAX {
                handles.clear();
            }
            let key = HandleKey {
                metrics: self.id,
                name: behavior.as_ptr() as usize,
                a: (usize::from(status), 0),
                b: (0, 0),
            };
            let h = handles.entry(key).or_insert_with(|| Handle {
                _name: Held::Behavior {
                    _name: behavior.clone(),
                },
                count: self
                    .requests
                    .get_or_create(&RequestLabels {
                        behavior: Name(behavior.clone()),
                        status,
                    })
                    .clone(),
                time: self
                    .latency
                    .get_or_create(&BehaviorLabels {
                        behavior: Name(behavior.clone()),
                    })
                    .clone(),
            });
            h.count.inc();
            h.time.observe(seconds);
            for t in hooks {
                let hook = t.hook.as_str();
                let key = HandleKey {
                    metrics: self.id,
                    name: t.function.as_str().as_ptr() as usize,
                    a: (hook.as_ptr() as usize, hook.len()),
                    b: (t.outcome.as_ptr() as usize, t.outcome.len()),
                };
                let h = handles.entry(key).or_insert_with(|| Handle {
                    _name: Held::Function {
                        _id: t.function.clone(),
                    },
                    count: self
                        .hooks
                        .get_or_create(&HookLabels {
                            function: t.function.clone(),
                            hook,
                            outcome: t.outcome,
                        })
                        .clone(),
                    time: self
                        .hook_time
                        .get_or_create(&HookTimeLabels {
                            function: t.function.clone(),
                            hook,
                        })
                        .clone(),
                });
                h.count.inc();
                h.time.observe(t.micros as f64 / 1e6);
            }
        });
    }

    /// Counts a request's result type (`Hit`, `Miss`, ...); each type's counter is
    /// looked up in the family once.
    pub(crate) fn record_result_type(&self, result: ResultType) {
        self.result_counters[result.index()]
            .get_or_init(|| {
                self.cache_results
                    .get_or_create(&ResultLabels {
                        result: result.as_str(),
                    })
                    .clone()
            })
            .inc();
    }

    /// Exports the function services' counters (`wedge_function_rule_matches_total`).
    /// Reports how full `engine`'s instance pool is on each scrape.
    pub(crate) fn register_engine(&mut self, engine: crate::wasm::engine::WasmEngine) {
        self.registry
            .register_collector(Box::new(PoolCollector { engine }));
    }

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

    /// Counts a viewer TLS handshake: `result` is `ok`, `failed` or `timeout`; `version`
    /// the protocol version it settled on (`TLSv1_3`), if it got that far.
    pub fn record_tls_handshake(&self, result: &'static str, version: Option<&'static str>) {
        self.tls_handshakes
            .get_or_create(&HandshakeLabels {
                result,
                version: version.unwrap_or("-"),
            })
            .inc();
    }

    /// Counts an idle connection parked; [`Self::record_unparked`] when it wakes or ends.
    pub fn record_parked(&self) {
        self.parks.inc();
        self.parked.inc();
    }

    pub fn record_unparked(&self) {
        self.parked.dec();
    }

    /// Points the origin metrics at the pools of the snapshot now serving.
    pub fn set_origins<'a>(&self, pools: impl IntoIterator<Item = &'a Arc<OriginPool>>) {
        let mut v: Vec<_> = pools.into_iter().cloned().collect();
        v.sort_by(|a, b| a.id.cmp(&b.id));
        *self
            .origins
            .pools
            .write()
            .unwrap_or_else(|p| p.into_inner()) = v;
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MemberLabels {
    origin: String,
    member: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OriginLabels {
    origin: String,
}

/// Reads origin health and counters from the current pools on each scrape.
#[derive(Debug, Default)]
struct OriginCollector {
    pools: std::sync::RwLock<Vec<Arc<OriginPool>>>,
}

impl Collector for OriginCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        use std::sync::atomic::Ordering::Relaxed;
        let pools = self.pools.read().unwrap_or_else(|p| p.into_inner());
        let now = std::time::Instant::now();
        type Read = fn(&crate::origin::PoolMember, std::time::Instant) -> u64;
        let member_metrics: [(&str, &str, MetricType, Read); 6] = [
            (
                "origin_member_healthy",
                "1 when the member passes its active health checks",
                MetricType::Gauge,
                |m, _| u64::from(m.state.healthy()),
            ),
            (
                "origin_member_available",
                "1 when the member takes requests (healthy and not ejected)",
                MetricType::Gauge,
                |m, now| u64::from(m.state.available(now)),
            ),
            (
                "origin_member_outstanding",
                "Requests in flight to the member",
                MetricType::Gauge,
                |m, _| m.state.outstanding.load(Relaxed) as u64,
            ),
            (
                "origin_member_requests",
                "Attempts sent to the member",
                MetricType::Counter,
                |m, _| m.state.requests.load(Relaxed),
            ),
            (
                "origin_member_failures",
                "Attempts that failed (5xx, connect error, timeout)",
                MetricType::Counter,
                |m, _| m.state.failures.load(Relaxed),
            ),
            (
                "origin_member_ejections",
                "Times the member was ejected by outlier detection",
                MetricType::Counter,
                |m, _| m.state.ejections.load(Relaxed),
            ),
        ];
        for (name, help, kind, read) in member_metrics {
            let mut metric = encoder.encode_descriptor(name, help, None, kind)?;
            for pool in pools.iter() {
                for m in pool.members() {
                    let labels = MemberLabels {
                        origin: pool.id.to_string(),
                        member: m.url(),
                    };
                    let family = metric.encode_family(&labels)?;
                    let v = read(m, now);
                    match kind {
                        MetricType::Counter => ConstCounter::new(v).encode(family)?,
                        _ => ConstGauge::new(v as i64).encode(family)?,
                    }
                }
            }
        }
        type PoolRead = fn(&OriginPool) -> u64;
        let pool_metrics: [(&str, &str, PoolRead); 2] = [
            ("origin_retries", "Retries sent to the pool", |p| {
                p.retries.load(Relaxed)
            }),
            (
                "origin_failovers",
                "Requests an origin group moved from this pool to its secondary",
                |p| p.failovers.load(Relaxed),
            ),
        ];
        for (name, help, read) in pool_metrics {
            let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
            for pool in pools.iter() {
                let labels = OriginLabels {
                    origin: pool.id.to_string(),
                };
                ConstCounter::new(read(pool)).encode(metric.encode_family(&labels)?)?;
            }
        }
        Ok(())
    }
}

/// Reads the function instance pool on each scrape.
struct PoolCollector {
    engine: crate::wasm::engine::WasmEngine,
}

impl std::fmt::Debug for PoolCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolCollector")
    }
}

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let usage = self.engine.pool_usage();
        let gauges = [
            (
                "function_instances",
                "Function instances allocated in the pool: running, or kept idle for reuse",
                usage.instances,
            ),
            (
                "function_idle_instances",
                "Instances of reusable functions kept idle for the next request",
                usage.idle,
            ),
            (
                "function_instance_capacity",
                "Instances the pool holds at most",
                usage.capacity,
            ),
            (
                "function_pool_unused_resident_bytes",
                "Memory of pool slots no instance uses, kept resident for the next one",
                usage.unused_resident_bytes,
            ),
        ];
        for (name, help, value) in gauges {
            let metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
            ConstGauge::new(value as i64).encode(metric)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_handles_count_in_their_own_metrics() {
        let (a, b) = (Metrics::default(), Metrics::default());
        let name: Arc<str> = Arc::from("site/*");
        a.record_request(Some(&name), 200, 0.001, &[]);
        a.record_request(Some(&name), 200, 0.001, &[]);
        b.record_request(Some(&name), 200, 0.001, &[]);
        b.record_request(Some(&name), 404, 0.001, &[]);
        // Another name with the same text is the same series.
        a.record_request(Some(&Arc::from("site/*")), 200, 0.001, &[]);
        a.record_request(None, 421, 0.001, &[]);
        let (a, b) = (a.render(), b.render());
        assert!(a.contains(r#"wedge_requests_total{behavior="site/*",status="200"} 3"#));
        assert!(a.contains(r#"wedge_requests_total{behavior="-",status="421"} 1"#));
        assert!(a.contains(r#"wedge_request_duration_seconds_count{behavior="site/*"} 3"#));
        assert!(b.contains(r#"wedge_requests_total{behavior="site/*",status="200"} 1"#));
        assert!(b.contains(r#"wedge_requests_total{behavior="site/*",status="404"} 1"#));
        assert!(!b.contains(r#"status="421""#));
    }

    #[test]
    fn cached_hook_handles_keep_outcomes_apart() {
        let m = Metrics::default();
        let trace = |outcome| HookTrace {
            function: FunctionId::new("device-class").unwrap(),
            hook: crate::wasm::Hook::ViewerRequest,
            outcome,
            micros: 3,
        };
        let name: Arc<str> = Arc::from("site/*");
        m.record_request(Some(&name), 200, 0.001, &[trace("continue")]);
        m.record_request(Some(&name), 200, 0.001, &[trace("reused")]);
        m.record_request(Some(&name), 200, 0.001, &[trace("reused")]);
        let out = m.render();
        let hooks = r#"wedge_function_hooks_total{function="device-class",hook="viewer-request""#;
        assert!(out.contains(&format!(r#"{hooks},outcome="continue"}} 1"#)));
        assert!(out.contains(&format!(r#"{hooks},outcome="reused"}} 2"#)));
        assert!(out.contains(
            r#"wedge_function_hook_duration_seconds_count{function="device-class",hook="viewer-request"} 3"#
        ));
    }
}
