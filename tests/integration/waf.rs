//! The `waf` function through the host: managed rules block injections with 403 and the
//! rule id, count mode lets them through labelled, ordinary requests pass, a rate rule
//! answers 429 with Retry-After from host-kept counters, per-rule metrics; and network
//! ACLs refuse connections at accept.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use wedge_tests::{TestEdge, send};

const CONFIG: &str = r#"
[origins.stub]
members = [{ url = "{stub}" }]

[functions.waf]
module = "{functions}/waf.wasm"
inspect_body_kb = 4
config = { managed = "block" }

[functions.waf-count]
module = "{functions}/waf.wasm"
config = { managed = "block", overrides = { managed-sqli = "count" } }

[functions.waf-rate]
module = "{functions}/waf.wasm"

[functions.waf-rate.config]
rules = [
  { id = "office", priority = 1, action = "allow", statement = { ip_set = ["192.0.2.0/24"] } },
  { id = "no-admin", priority = 2, action = "block", labels = ["site:admin"], statement = { match = { field = "path", op = "starts_with", value = "/admin", transforms = ["url_decode", "lowercase"] } }, response = { status = 404, body = "nothing here\n" } },
  { id = "login-rate", priority = 3, action = "block", statement = { and = [ { match = { field = "path", op = "exact", value = "/login" } }, { rate = { key = "header:x-user", window_ms = 3600000, limit = 3 } } ] } },
]

[functions.waf-args]
module = "{functions}/waf.wasm"

[functions.waf-args.config]
managed = "block"
rules = [{ id = "no-debug", priority = 1, action = "block", statement = { match = { field = "args", op = "exact", value = "debug" } } }]

[[distributions]]
id = "args"
aliases = ["args.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["waf-args"]

[[distributions]]
id = "block"
aliases = ["block.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["waf"]

[[distributions]]
id = "count"
aliases = ["count.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["waf-count"]

[[distributions]]
id = "rate"
aliases = ["rate.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["waf-rate"]
"#;

async fn get(
    edge: &TestEdge,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> http::Response<Bytes> {
    edge.http(host, path, headers).await
}

/// How many of `function`'s viewer-request hook calls ended with `outcome`
/// (`wedge_function_hooks_total`).
async fn hook_calls(edge: &TestEdge, function: &str, outcome: &str) -> f64 {
    let series = format!(
        r#"wedge_function_hooks_total{{function="{function}",hook="viewer-request",outcome="{outcome}"}}"#
    );
    edge.metric(&series).await
}

#[tokio::test]
async fn managed_rules_block_an_sqli_in_the_query_with_403_and_the_rule_id() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    let resp = get(
        &edge,
        "block.test",
        "/echo?id=1%27%20OR%20%271%27%3D%271",
        &[],
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["x-wedge-waf-rule"], "managed-sqli");
    let resp = get(
        &edge,
        "block.test",
        "/echo?q=%3Cscript%3Ealert(1)%3C/script%3E",
        &[],
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["x-wedge-waf-rule"], "managed-xss");
    let resp = get(
        &edge,
        "block.test",
        "/echo?file=..%2F..%2F..%2Fetc%2Fpasswd",
        &[],
    )
    .await;
    assert_eq!(resp.headers()["x-wedge-waf-rule"], "managed-traversal");
    let resp = get(
        &edge,
        "block.test",
        "/echo",
        &[("user-agent", "sqlmap/1.7.2#stable (https://sqlmap.org)")],
    )
    .await;
    assert_eq!(resp.headers()["x-wedge-waf-rule"], "managed-scanner");
    // None of those reached the origin.
    assert!(edge.origin.received().is_empty());

    // Blocks are counted per rule in /metrics.
    let blocks =
        r#"wedge_function_rule_matches_total{function="waf",rule="managed-sqli",action="block"}"#;
    assert_eq!(edge.metric(blocks).await, 1.0);
}

#[tokio::test]
async fn a_repeated_request_gets_the_recorded_verdict_and_is_counted_each_time() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    let sqli = "/echo?id=1%27%20OR%20%271%27%3D%271";
    // First sighting and recorded run, then replays: every one blocked and counted.
    for i in 0..4 {
        let resp = get(&edge, "block.test", sqli, &[("x-try", "same")]).await;
        assert_eq!(resp.status(), 403, "request {i}");
        assert_eq!(resp.headers()["x-wedge-waf-rule"], "managed-sqli");
    }
    let blocks =
        r#"wedge_function_rule_matches_total{function="waf",rule="managed-sqli",action="block"}"#;
    assert_eq!(edge.metric(blocks).await, 4.0, "replays count the rule");
    assert_eq!(hook_calls(&edge, "waf", "respond").await, 2.0);
    assert_eq!(hook_calls(&edge, "waf", "reused").await, 2.0);
    // Any other header value is another request: the function runs again.
    let resp = get(&edge, "block.test", sqli, &[("x-try", "other")]).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(hook_calls(&edge, "waf", "respond").await, 3.0);
    // Ordinary requests are replayed too, and still reach the origin.
    for _ in 0..3 {
        let resp = get(&edge, "block.test", "/echo?q=shoes", &[]).await;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(hook_calls(&edge, "waf", "reused").await, 3.0);
    assert_eq!(edge.origin.received().len(), 3);
}

#[tokio::test]
async fn a_verdict_is_reused_across_bare_query_values_unless_they_can_change_it() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    // Queries that differ only in bare tokens (a cache-buster, an id): the managed rules
    // find nothing in those, so the recorded verdict serves them all.
    for (i, q) in [
        "id=a1&page=x",
        "id=b-2&page=y",
        "id=c_3&page=z",
        "id=D4&page=w",
    ]
    .iter()
    .enumerate()
    {
        let resp = get(&edge, "block.test", &format!("/echo?{q}"), &[]).await;
        assert_eq!(resp.status(), 200, "request {i}");
    }
    assert_eq!(hook_calls(&edge, "waf", "continue").await, 2.0);
    assert_eq!(hook_calls(&edge, "waf", "reused").await, 2.0);
    // The same shape holding an attack is another key.
    let resp = get(
        &edge,
        "block.test",
        "/echo?id=1%27%20OR%201%3D1&page=x",
        &[],
    )
    .await;
    assert_eq!(resp.status(), 403);
    // An entity's `&` makes the whole query worth a look, bare values included: those
    // verdicts are not reused.
    for n in ["k1", "k2", "k3", "k4"] {
        let resp = get(&edge, "block.test", &format!("/echo?n={n}&lt=1"), &[]).await;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(hook_calls(&edge, "waf", "continue").await, 6.0);
    assert_eq!(hook_calls(&edge, "waf", "reused").await, 2.0);

    // A rule that matches argument values tells bare tokens apart: its function keys on
    // the exact query, so `debug` is never answered with another value's verdict, and
    // the same query is still reused.
    for _ in 0..3 {
        let resp = get(&edge, "args.test", "/echo?mode=fast", &[]).await;
        assert_eq!(resp.status(), 200);
    }
    assert_eq!(hook_calls(&edge, "waf-args", "reused").await, 1.0);
    let resp = get(&edge, "args.test", "/echo?mode=debug", &[]).await;
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["x-wedge-waf-rule"], "no-debug");
}

async fn post(
    edge: &TestEdge,
    host: &str,
    path: &str,
    ctype: &str,
    body: Vec<u8>,
) -> http::Response<Bytes> {
    let req = Request::post(path)
        .header("host", host)
        .header("content-type", ctype)
        .body(Full::from(body))
        .unwrap();
    send(edge.http_addr(), None, req).await.unwrap()
}

#[tokio::test]
async fn bodies_are_inspected_up_to_the_cap_and_still_reach_the_origin_whole() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    let form = "application/x-www-form-urlencoded";
    let resp = post(
        &edge,
        "block.test",
        "/echo",
        form,
        b"user=admin&pass=x%27%20or%20%271%27%3D%271".to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers()["x-wedge-waf-rule"], "managed-sqli");
    let resp = post(
        &edge,
        "block.test",
        "/echo",
        "application/json",
        br#"{"comment":"<svg onload=alert(1)>"}"#.to_vec(),
    )
    .await;
    assert_eq!(resp.headers()["x-wedge-waf-rule"], "managed-xss");
    // A large ordinary body passes, all of it, though only 4 KiB were inspected; an
    // attack beyond the cap is not seen (the documented trade-off).
    let mut big = b"note=".to_vec();
    big.extend(std::iter::repeat_n(b'a', 100_000));
    big.extend_from_slice(b"&q=1%27%20or%20%271%27%3D%271");
    let resp = post(&edge, "block.test", "/echo", form, big.clone()).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(TestEdge::echo(&resp)["body_bytes"], big.len());
    // A function without `inspect_body_kb` is not given the body.
    let resp = post(
        &edge,
        "count.test",
        "/echo",
        form,
        b"q=%3Cscript%3Ealert(1)%3C/script%3E".to_vec(),
    )
    .await;
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn ordinary_requests_pass_untouched() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    for path in [
        "/echo?q=O%27Reilly%20books&page=2",
        "/echo?q=select%20your%20size%20from%20the%20list",
        "/echo/blog/2024/05/how-to-select-a-database",
        "/echo?redirect=https%3A%2F%2Fwww.example.com%2Faccount",
    ] {
        let resp = get(
            &edge,
            "block.test",
            path,
            &[("cookie", "_ga=GA1.2.3.4; theme=dark")],
        )
        .await;
        assert_eq!(resp.status(), 200, "{path}");
        let echo = TestEdge::echo(&resp);
        assert!(
            echo["headers"].get("x-wedge-waf-labels").is_none(),
            "{path}: {echo}"
        );
    }
}

#[tokio::test]
async fn count_mode_lets_the_request_through_with_its_labels() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    let resp = get(
        &edge,
        "count.test",
        "/echo?id=1%20UNION%20SELECT%20password%20FROM%20users",
        &[],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let echo = TestEdge::echo(&resp);
    let labels = echo["headers"]["x-wedge-waf-labels"].as_str().unwrap();
    assert!(
        labels.contains("managed-sqli") && labels.contains("wedge:managed:sqli"),
        "{labels}"
    );
    // Rules not overridden still block.
    let resp = get(
        &edge,
        "count.test",
        "/echo?q=%3Cscript%3Ealert(1)%3C/script%3E",
        &[],
    )
    .await;
    assert_eq!(resp.status(), 403);
    let counted = r#"wedge_function_rule_matches_total{function="waf-count",rule="managed-sqli",action="count"}"#;
    assert_eq!(edge.metric(counted).await, 1.0);
}

#[tokio::test]
async fn custom_rules_with_their_own_response_and_a_rate_limit_with_retry_after() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    let resp = get(&edge, "rate.test", "/ADMIN%2Fusers", &[]).await;
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.body().as_ref(), b"nothing here\n");
    assert_eq!(resp.headers()["x-wedge-waf-rule"], "no-admin");

    // Counted across requests (each has its own instance): 3 pass, the 4th is refused.
    for i in 0..3 {
        let resp = get(&edge, "rate.test", "/login", &[("x-user", "alice")]).await;
        assert_eq!(
            resp.status(),
            404,
            "request {i} reaches the origin (no /login there)"
        );
    }
    let resp = get(&edge, "rate.test", "/login", &[("x-user", "alice")]).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["x-wedge-waf-rule"], "login-rate");
    let retry: u64 = resp.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    // Another key has its own count; other paths are outside the rule's scope.
    assert_ne!(
        get(&edge, "rate.test", "/login", &[("x-user", "bob")])
            .await
            .status(),
        429
    );
    assert_ne!(
        get(&edge, "rate.test", "/echo", &[("x-user", "alice")])
            .await
            .status(),
        429
    );
}

#[tokio::test]
async fn a_bad_waf_config_is_refused_naming_the_field() {
    let bad = CONFIG.replace(
        r#"config = { managed = "block" }"#,
        r#"config = { managed = "block", overrides = { managed-sqlx = "count" } }"#,
    );
    let err = TestEdge::start(&bad)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("overrides.managed-sqlx") && err.contains("managed-sqli"),
        "{err}"
    );
    let bad = CONFIG.replace(
        r#"ip_set = ["192.0.2.0/24"]"#,
        r#"ip_set = ["192.0.2.0/33"]"#,
    );
    let err = TestEdge::start(&bad)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("rules[0].statement.ip_set[0]"), "{err}");
}

const NACL: &str = r#"
[origins.stub]
members = [{ url = "{stub}" }]

[network_acls]
http = [{ action = "allow", cidr = "10.0.0.0/8" }, { action = "deny", cidr = "127.0.0.0/8" }]
admin = [{ action = "allow", cidr = "127.0.0.1" }]

[[distributions]]
id = "site"
aliases = ["*"]
[distributions.default_behavior]
origin = "stub"
"#;

#[tokio::test]
async fn network_acls_refuse_connections_from_denied_blocks_and_count_them() {
    let edge = TestEdge::start(NACL).await.unwrap();
    let req = Request::get("/echo")
        .header("host", "site.test")
        .body(Full::default())
        .unwrap();
    // The connection is accepted by the kernel, then closed before any HTTP is read.
    assert!(send(edge.http_addr(), None, req).await.is_err());
    // The admin listener's ACL allows loopback; it reports the refusal.
    let denied = r#"wedge_nacl_denied_connections_total{listener="http"}"#;
    assert_eq!(edge.metric(denied).await, 1.0);
    assert!(edge.origin.received().is_empty());

    let bad = NACL.replace(r#"cidr = "127.0.0.0/8""#, r#"cidr = "127.0.0.0/40""#);
    let err = TestEdge::start(&bad)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("network_acls.http[1].cidr"), "{err}");
}

#[tokio::test]
async fn wedge_dev_runs_the_managed_waf_first_on_every_api_behavior() {
    let addrs = wedge::dev::DevAddrs {
        http: "127.0.0.1:0".parse().unwrap(),
        https: "127.0.0.1:0".parse().unwrap(),
        admin: "127.0.0.1:0".parse().unwrap(),
    };
    let functions = wedge_tests::function("waf");
    let text = wedge::dev::render_config(
        &addrs,
        std::path::Path::new("/certs"),
        functions.parent().unwrap(),
        &["http://127.0.0.1:9".into(), "http://127.0.0.1:10".into()],
    );
    let dev = wedge::config::Config::from_toml(
        &text,
        std::path::Path::new("wedge-dev.toml"),
        std::path::Path::new("/"),
    )
    .unwrap();
    let api = dev
        .distributions
        .iter()
        .find(|d| d.id.as_str() == "api")
        .unwrap();
    for b in api.behaviors.iter().chain([&api.default_behavior]) {
        let names: Vec<&str> = b.functions.iter().map(|f| f.as_str()).collect();
        assert_eq!(names, ["waf", "device-class"]);
    }
    let waf = dev
        .functions
        .iter()
        .find(|(id, _)| id.as_str() == "waf")
        .unwrap()
        .1;
    assert_eq!(waf.config, serde_json::json!({ "managed": "block" }));
}
