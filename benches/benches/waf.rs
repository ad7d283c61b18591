//! What the WAF costs per request: the function's part alone (viewer-request with the
//! managed rule set, and with custom regex rules, in a fresh or a reused instance) on an
//! ordinary and on an attack request (and, reused, with a User-Agent never seen before, or
//! with the decision cache on and every request new),
//! pre-initialised and configured per instance; and whole requests in-process through
//! `Edge::handle` with and without it.

use bytes::Bytes;
use std::sync::Arc;

use criterion::measurement::WallTime;
use criterion::{BatchSize, BenchmarkGroup, Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use wedge::Edge;
use wedge::config::Config;
use wedge::util::RequestId;
use wedge::wasm::{EngineSettings, FunctionRun, Hook, HookOutcome, LoadedFunction, WasmEngine};
use wedge_benches::{Load, mobile_request, request_id, view};
use wedge_tests::function;

/// The benign request with an SQL injection in its query.
fn attack_request() -> http::request::Parts {
    let mut p = mobile_request();
    p.uri = "/products/shoes?color=red%27%20OR%20%271%27%3D%271&size=42"
        .parse()
        .unwrap();
    p
}

/// Custom rules in the README's style, three of them regexes, in front of the managed set.
fn custom_rules() -> serde_json::Value {
    let regex = |id: &str, field: &str, value: &str| {
        serde_json::json!({
            "id": id, "action": "block",
            "statement": { "match": { "field": field, "op": "regex", "value": value,
                                      "transforms": ["url_decode", "lowercase"] } }
        })
    };
    serde_json::json!({
        "managed": "block",
        "rules": [
            { "id": "office", "action": "allow", "statement": { "ip_set": ["192.0.2.0/24", "2001:db8::/32"] } },
            regex("old-clients", "header:user-agent", r"^(?:curl|wget|python-requests)/[0-9.]+$"),
            regex("admin-paths", "path", r"^/(?:admin|wp-admin|phpmyadmin|\.git|\.env)(?:/|$)"),
            regex("ids", "args", r"\b(?:[0-9]{16}|[a-f0-9]{64})\b"),
        ]
    })
}

/// Rows whose ordinary request is new every time (the n-th made by `vary`), built outside
/// the timed part as the other rows clone theirs; the function must let it through.
struct EachNew<'a> {
    rt: &'a tokio::runtime::Runtime,
    id: RequestId,
}

impl EachNew<'_> {
    fn bench(
        &self,
        group: &mut BenchmarkGroup<'_, WallTime>,
        name: &str,
        function: &Arc<LoadedFunction>,
        vary: impl Fn(u64, &mut http::request::Parts),
    ) {
        let mut n = 0u64;
        group.bench_function(name, |b| {
            b.iter_batched(
                || {
                    n += 1;
                    let mut parts = mobile_request();
                    vary(n, &mut parts);
                    view(parts)
                },
                |request| {
                    let mut run = FunctionRun::new(function.clone(), self.id);
                    let (_, outcome, _) =
                        self.rt.block_on(run.request(Hook::ViewerRequest, request));
                    assert!(matches!(outcome.unwrap(), HookOutcome::Continue));
                },
                BatchSize::SmallInput,
            )
        });
    }
}

fn function_part(c: &mut Criterion) {
    let rt = wedge_benches::runtime();
    let id = request_id();
    let mut group = c.benchmark_group("waf");
    // The same functions loaded twice: configured once at load and snapshotted (the
    // default), and configured again in every instance.
    for (variant, preinitialize) in [("", true), ("configure-each/", false)] {
        let engine = WasmEngine::new(&EngineSettings {
            preinitialize,
            ..EngineSettings::default()
        })
        .unwrap();
        // `decisions`: the decision cache's size, 0 (off) but in the rows about it; the
        // others measure the function itself running.
        let load = |name: &str, module: &str, config: serde_json::Value, reuse: u32, decisions| {
            Load {
                module,
                config,
                reuse,
                decisions,
            }
            .load_into(&engine, name)
        };
        // Rows without a prefix: a fresh instance per request.
        let pass = load("pass", "hostile", serde_json::json!({}), 0, 0);
        let off = load("waf-off", "waf", serde_json::json!({}), 0, 0);
        let custom = load("waf-custom", "waf", custom_rules(), 0, 0);
        // The variants measure what they say, not a silent fallback.
        assert_eq!(custom.preinitialized(), preinitialize);
        let mut cases = vec![
            ("pass-through/benign", pass, mobile_request(), false),
            ("no-rules/benign", off, mobile_request(), false),
            (
                "managed+3-regex-rules/benign",
                custom,
                mobile_request(),
                false,
            ),
        ];
        if preinitialize {
            let managed = serde_json::json!({ "managed": "block" });
            let waf = load("waf", "waf", managed.clone(), 0, 0);
            cases.push(("managed/benign", waf.clone(), mobile_request(), false));
            cases.push(("managed/attack", waf, attack_request(), true));
            let reused = load("waf-reused", "waf", managed.clone(), u32::MAX, 0);
            let off_reused = load("waf-off-reused", "waf", serde_json::json!({}), u32::MAX, 0);
            cases.push((
                "reused-instance/no-rules/benign",
                off_reused,
                mobile_request(),
                false,
            ));
            cases.push((
                "reused-instance/managed/benign",
                reused.clone(),
                mobile_request(),
                false,
            ));
            cases.push((
                "reused-instance/managed/attack",
                reused,
                attack_request(),
                true,
            ));
            // The same request again: the host replays the recorded verdict (its log
            // line and rule count included) without running the function.
            let replayed = load("waf-replayed", "waf", managed.clone(), u32::MAX, 10_000);
            cases.push((
                "reused-decision/managed/benign",
                replayed.clone(),
                mobile_request(),
                false,
            ));
            cases.push((
                "reused-decision/managed/attack",
                replayed,
                attack_request(),
                true,
            ));
            // A new cache-buster token on every request: the query's shape repeats, so
            // after its second sighting the verdict is replayed.
            let missed = load("waf-missed", "waf", managed.clone(), u32::MAX, 10_000);
            let each_new = EachNew { rt: &rt, id };
            each_new.bench(
                &mut group,
                "reused-decision/managed/benign-new-query",
                &missed,
                |n, parts| {
                    parts.uri = format!("/products/shoes?color=red&size=42&r={n}")
                        .parse()
                        .unwrap();
                },
            );
            // A new search text on every request, with the decision cache on: the miss
            // path, its key built and the doorkeeper asked, then the run. (Compare
            // `reused-instance/managed/benign`, which has no decision cache.)
            each_new.bench(
                &mut group,
                "reused-decision/managed/benign-new-search",
                &missed,
                |n, parts| {
                    parts.uri = format!("/products/shoes?color=red&size=42&q=red+shoes+{n}")
                        .parse()
                        .unwrap();
                },
            );
            // Detector verdicts on a repeated User-Agent are remembered by the instance:
            // here every request brings a User-Agent it has not seen (the worst case).
            // The request is built outside the timed part, as the other rows clone theirs.
            let new_ua = load("waf-reused-new-ua", "waf", managed, u32::MAX, 0);
            each_new.bench(
                &mut group,
                "reused-instance/managed/benign-new-user-agent",
                &new_ua,
                |n, parts| {
                    let ua = format!("Mozilla/5.0 (Linux; Android 14; SM-S918B) Chrome/117.0.{n}.0 Mobile Safari/537.36");
                    parts.headers.insert("user-agent", ua.parse().unwrap());
                },
            );
        }
        for (name, f, parts, respond) in cases {
            group.bench_function(format!("{variant}{name}"), |b| {
                b.iter(|| {
                    let mut run = FunctionRun::new(f.clone(), id);
                    let (_, outcome, _) =
                        rt.block_on(run.request(Hook::ViewerRequest, view(parts.clone())));
                    assert_eq!(matches!(outcome.unwrap(), HookOutcome::Respond(_)), respond);
                })
            });
        }
    }
    group.finish();
}

fn whole_request(c: &mut Criterion) {
    let rt = wedge_benches::runtime();
    let text = format!(
        r#"
[origins.app]
members = [{{ url = "http://127.0.0.1:9" }}]
[functions.answer]
module = "{answer}"
[functions.waf]
module = "{waf}"
config = {{ managed = "block" }}
decision_cache = 0
[functions.waf-replayed]
module = "{waf}"
config = {{ managed = "block" }}
[[distributions]]
id = "www"
aliases = ["www.example.test"]
[[distributions.behaviors]]
path_pattern = "/respond/waf*"
origin = "app"
functions = ["waf", "answer"]
[[distributions.behaviors]]
path_pattern = "/respond/replayed*"
origin = "app"
functions = ["waf-replayed", "answer"]
[distributions.default_behavior]
origin = "app"
functions = ["answer"]
"#,
        answer = function("hostile").display(),
        waf = function("waf").display()
    );
    let config = Config::from_toml(&text, "bench.toml".as_ref(), ".".as_ref()).unwrap();
    let edge = rt.block_on(Edge::new(config)).unwrap();
    let conn = wedge_benches::connection();
    let mut group = c.benchmark_group("waf-pipeline");
    for (name, path, status) in [
        ("handle/respond-only", "/respond?color=red&size=42", 418),
        ("handle/waf+respond", "/respond/waf?color=red&size=42", 418),
        (
            "handle/waf-blocks",
            "/respond/waf?color=red%27%20OR%20%271%27%3D%271",
            403,
        ),
        (
            "handle/waf-replayed+respond",
            "/respond/replayed?color=red&size=42",
            418,
        ),
    ] {
        let parts = mobile_request();
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut p = parts.clone();
                p.uri = path.parse().unwrap();
                let req = http::Request::from_parts(p, Full::<Bytes>::default());
                let resp = rt.block_on(edge.handle(&conn, req));
                assert_eq!(resp.status(), status);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, function_part, whole_request);
criterion_main!(benches);
