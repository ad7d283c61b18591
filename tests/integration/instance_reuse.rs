//! Instance reuse: a function that declares its hooks keep no state across requests
//! runs later requests on an instance an earlier request used; `max_instance_reuse`
//! caps (or turns off) that, and an instance whose hook failed is never reused.

use std::sync::atomic::Ordering::Relaxed;

use wedge::config::{FunctionConfig, FunctionLimits};
use wedge::util::RequestId;
use wedge::wasm::{EngineSettings, FunctionRun, Hook, RequestView, WasmEngine};
use wedge_tests::{TestEdge, function, load_function, request_view, viewer_request};

const RECYCLE: &str = r#"
[origins.stub]
members = [{ url = "{stub}" }]

[functions.reused]
module = "{functions}/recycle.wasm"
limits = { timeout_ms = 500 }

[functions.capped]
module = "{functions}/recycle.wasm"
max_instance_reuse = 2

[functions.fresh]
module = "{functions}/recycle.wasm"
max_instance_reuse = 0

[[distributions]]
id = "reused"
aliases = ["reused.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["reused"]

[[distributions]]
id = "capped"
aliases = ["capped.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["capped"]

[[distributions]]
id = "fresh"
aliases = ["fresh.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["fresh"]
"#;

/// Sends `GET path` to `host`; returns the status and, when the request reached the
/// origin, how many requests the function's instance had served by then.
async fn served(edge: &TestEdge, host: &str, path: &str) -> (u16, Option<u64>) {
    let before = edge.origin.received().len();
    let status = edge.http(host, path, &[]).await.status().as_u16();
    if edge.origin.received().len() == before {
        return (status, None);
    }
    let seen = edge.origin.last().unwrap();
    let n = seen
        .header("x-instance-requests")
        .map(|v| v.parse().unwrap());
    (status, n)
}

async fn counts(edge: &TestEdge, host: &str, requests: usize) -> Vec<u64> {
    let mut out = Vec::new();
    for _ in 0..requests {
        let (status, n) = served(edge, host, "/echo").await;
        assert_eq!(status, 200);
        out.push(n.expect("the request reached the origin"));
    }
    out
}

/// Instances created and reused for function `id`, as `/status` reports them.
async fn stats(edge: &TestEdge, id: &str) -> (u64, u64) {
    let (_, status) = edge.admin("GET", "/status", None).await;
    let functions = status["functions"].as_array().expect("functions listed");
    let f = functions
        .iter()
        .find(|f| f["id"] == id)
        .expect("the function is listed");
    let count = |name: &str| f["stats"][name].as_u64().expect("a counter");
    (count("instances"), count("instances_reused"))
}

/// The instance count the `recycle` fixture stamped on a request.
fn stamped(view: &RequestView) -> &str {
    view.parts.headers["x-instance-requests"].to_str().unwrap()
}

#[tokio::test]
async fn a_reusable_function_serves_later_requests_on_the_same_instance() {
    let edge = TestEdge::start(RECYCLE).await.unwrap();
    assert_eq!(counts(&edge, "reused.test", 4).await, [1, 2, 3, 4]);
    assert_eq!(
        stats(&edge, "reused").await,
        (1, 3),
        "one instance, reused three times"
    );
}

#[tokio::test]
async fn max_instance_reuse_caps_the_requests_per_instance_or_turns_reuse_off() {
    let edge = TestEdge::start(RECYCLE).await.unwrap();
    assert_eq!(counts(&edge, "capped.test", 5).await, [1, 2, 1, 2, 1]);
    assert_eq!(stats(&edge, "capped").await, (3, 2));
    assert_eq!(counts(&edge, "fresh.test", 3).await, [1, 1, 1]);
    assert_eq!(stats(&edge, "fresh").await, (3, 0));
}

#[tokio::test]
async fn an_instance_whose_hook_trapped_or_timed_out_is_not_reused() {
    let edge = TestEdge::start(RECYCLE).await.unwrap();
    assert_eq!(counts(&edge, "reused.test", 2).await, [1, 2]);
    assert_eq!(served(&edge, "reused.test", "/trap").await, (500, None));
    assert_eq!(
        counts(&edge, "reused.test", 2).await,
        [1, 2],
        "a fresh instance"
    );
    assert_eq!(served(&edge, "reused.test", "/loop").await, (500, None));
    assert_eq!(
        counts(&edge, "reused.test", 1).await,
        [1],
        "a fresh instance"
    );
    // The trap and the timeout each hit a reused instance (the third request of the
    // first and of the second instance), which was then dropped: three instances, four
    // reuses.
    assert_eq!(stats(&edge, "reused").await, (3, 4));
}

#[tokio::test]
async fn an_instance_whose_memory_grew_is_not_reused() {
    let edge = TestEdge::start(RECYCLE).await.unwrap();
    assert_eq!(counts(&edge, "reused.test", 1).await, [1]);
    // The stub origin has no /grow (404); what matters is that the hook ran.
    assert_eq!(served(&edge, "reused.test", "/grow").await, (404, Some(2)));
    assert_eq!(
        counts(&edge, "reused.test", 2).await,
        [1, 2],
        "a fresh instance"
    );
}

/// A request dropped while its hook runs leaves the guest mid-call: its instance is
/// thrown away, not given to the next request.
#[tokio::test]
async fn an_instance_left_mid_call_by_a_dropped_request_is_not_reused() {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    let engine = WasmEngine::new(&EngineSettings::default()).unwrap();
    let config = FunctionConfig {
        // Long enough that the loop is still running when it is dropped.
        limits: FunctionLimits {
            timeout: std::time::Duration::from_secs(30),
            ..FunctionLimits::default()
        },
        ..FunctionConfig::new(function("recycle"))
    };
    let f = load_function(&engine, "recycle", &config);
    let get = |path: &str| request_view(http::Request::get(path).body(()).unwrap(), "t.test");
    assert_eq!(stamped(&viewer_request(&f, get("/echo")).await), "1");
    {
        let mut run = wedge::wasm::FunctionRun::new(f.clone(), wedge::util::RequestId::next());
        let stuck = run.request(wedge::wasm::Hook::ViewerRequest, get("/loop"));
        let mut stuck = std::pin::pin!(stuck);
        // One poll takes the idle instance and enters the endless loop, which yields
        // to the executor at the next epoch tick.
        let poll = stuck.as_mut().poll(&mut Context::from_waker(Waker::noop()));
        assert!(matches!(poll, Poll::Pending));
    }
    let next = viewer_request(&f, get("/echo")).await;
    assert_eq!(stamped(&next), "1", "a fresh instance");
    assert_eq!(f.stats.instances.load(Relaxed), 2);
    assert_eq!(f.stats.instances_reused.load(Relaxed), 1);
}

/// Real functions that declare reuse get it: their first request must not look like
/// growth (a component's memories are created at their initial size, which can be large).
#[tokio::test]
async fn device_class_and_the_waf_are_reused() {
    let engine = WasmEngine::new(&EngineSettings::default()).unwrap();
    for (module, config) in [
        ("device-class", serde_json::json!({})),
        ("waf", serde_json::json!({ "managed": "block" })),
    ] {
        let config = FunctionConfig {
            decision_cache: 0,
            config,
            ..FunctionConfig::new(function(module))
        };
        let f = load_function(&engine, module, &config);
        for _ in 0..3 {
            let req = http::Request::get("/products?color=red")
                .header(
                    "user-agent",
                    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)",
                )
                .body(())
                .unwrap();
            viewer_request(&f, request_view(req, "t.test")).await;
        }
        let counts = (
            f.stats.instances.load(Relaxed),
            f.stats.instances_reused.load(Relaxed),
        );
        assert_eq!(counts, (1, 2), "{module}");
    }
}

const EXAMPLES: &str = r#"
[origins.stub]
members = [{ url = "{stub}" }]

[functions.redirects]
module = "{functions}/redirects.wasm"
decision_cache = 0
config = { https = false, canonical_host = "examples.test" }

[functions.cache-key]
module = "{functions}/cache_key.wasm"
decision_cache = 0

[functions.header-forwarding]
module = "{functions}/header_forwarding.wasm"
decision_cache = 0
config = { allow = ["accept"], add = { x-edge = "wedge" } }

[functions.security-headers]
module = "{functions}/security_headers.wasm"
decision_cache = 0

[[distributions]]
id = "examples"
aliases = ["examples.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["redirects", "cache-key", "header-forwarding", "security-headers"]
"#;

/// The other example functions declare reuse too, for hooks other than viewer-request
/// (cache-key, origin-request, viewer-response): with decision reuse off, each runs every
/// request, on its one instance from the second request on, and still does its work.
#[tokio::test]
async fn the_example_functions_are_reused_at_every_hook() {
    let edge = TestEdge::start(EXAMPLES).await.unwrap();
    for i in 0..3 {
        let resp = edge
            .http(
                "examples.test",
                "/echo",
                &[("accept", "text/html"), ("x-drop", "1")],
            )
            .await;
        assert_eq!(resp.status(), 200, "request {i}");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        let seen = edge.origin.last().unwrap();
        assert_eq!(seen.header("x-edge"), Some("wedge"), "request {i}");
        assert_eq!(seen.header("x-drop"), None, "request {i}");
    }
    for id in [
        "redirects",
        "cache-key",
        "header-forwarding",
        "security-headers",
    ] {
        assert_eq!(stats(&edge, id).await, (1, 2), "{id}");
    }
}

/// A full pool makes room: instances kept idle for reuse are dropped so that a request
/// needing a fresh instance gets one (here the pool has four slots, one of them idle
/// and three held by requests in flight).
#[tokio::test]
async fn a_full_pool_drops_idle_instances_for_requests_that_need_one() {
    let engine = WasmEngine::new(&EngineSettings {
        max_instances: 4,
        ..EngineSettings::default()
    })
    .unwrap();
    let reusable = load_function(
        &engine,
        "reusable",
        &FunctionConfig::new(function("recycle")),
    );
    let fresh = FunctionConfig {
        max_instance_reuse: 0,
        ..FunctionConfig::new(function("recycle"))
    };
    let fresh = load_function(&engine, "fresh", &fresh);
    let get = || request_view(http::Request::get("/").body(()).unwrap(), "t.test");
    viewer_request(&reusable, get()).await;
    let mut in_flight = Vec::new();
    for _ in 0..4 {
        // A run keeps its instance until it is dropped (the request's end).
        let mut run = FunctionRun::new(fresh.clone(), RequestId::next());
        let (_, outcome, _) = run.request(Hook::ViewerRequest, get()).await;
        outcome.expect("an instance, the idle one dropped for the last");
        in_flight.push(run);
    }
    assert_eq!(fresh.stats.instances.load(Relaxed), 4);
    // The pool is full of live requests now; the next one cannot have an instance.
    let mut run = FunctionRun::new(reusable.clone(), RequestId::next());
    let (_, outcome, _) = run.request(Hook::ViewerRequest, get()).await;
    assert!(outcome.is_err(), "no slot left and nothing idle to drop");
}
