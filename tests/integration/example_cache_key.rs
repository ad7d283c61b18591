//! The `cache-key` example: lower-cased path, allowlisted and sorted query parameters and
//! the device class from `device-class`, as the host combines them (shown in
//! `x-wedge-explain`); the request itself goes to the origin unchanged.

use bytes::Bytes;
use wedge_tests::TestEdge;

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";

const CONFIG: &str = r#"
[debug]
explain_header = true

[origins.stub]
members = [{ url = "{stub}" }]

[functions.device-class]
module = "{functions}/device_class.wasm"

[functions.cache-key]
module = "{functions}/cache_key.wasm"
config = { query_allowlist = ["size", "color"] }

[functions.bare-key]
module = "{functions}/cache_key.wasm"

[[distributions]]
id = "shop"
aliases = ["shop.test"]

# cache-key without device-class before it: the class is whatever the request carries.
[[distributions.behaviors]]
path_pattern = "/echo/raw/*"
origin = "stub"
functions = ["cache-key"]

[distributions.default_behavior]
origin = "stub"
functions = ["device-class", "cache-key"]

[[distributions]]
id = "bare"
aliases = ["bare.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["bare-key"]
"#;

async fn get(
    edge: &TestEdge,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> http::Response<Bytes> {
    edge.http(host, path, headers).await
}

/// The combined cache key from `x-wedge-explain` (`...; cache-key="..."`).
fn cache_key(resp: &http::Response<Bytes>) -> String {
    let explain = resp.headers()["x-wedge-explain"].to_str().unwrap();
    let (_, key) = explain
        .split_once("; cache-key=")
        .unwrap_or_else(|| panic!("no cache key in {explain:?}"));
    key.trim_matches('"').to_owned()
}

#[tokio::test]
async fn key_is_lower_case_path_allowlisted_sorted_query_and_device_class() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    let resp = get(
        &edge,
        "shop.test",
        "/echo/Products/Shoes?utm_source=news&size=42&color=red&fbclid=x",
        &[("user-agent", IPHONE)],
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        cache_key(&resp),
        "/echo/products/shoes?color=red&size=42|mobile"
    );

    // The key is only a key: the origin gets the request as the viewer sent it.
    let seen = edge.origin.last().unwrap();
    assert_eq!(seen.path, "/echo/Products/Shoes");
    assert_eq!(
        seen.query.as_deref(),
        Some("utm_source=news&size=42&color=red&fbclid=x")
    );
    assert_eq!(seen.header("x-device-class"), Some("mobile"));
}

#[tokio::test]
async fn equivalent_requests_share_a_key_and_different_ones_do_not() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    let key = |path: &'static str, ua: &'static str| {
        let edge = &edge;
        async move { cache_key(&get(edge, "shop.test", path, &[("user-agent", ua)]).await) }
    };
    let desktop = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36";
    let a = key("/echo/a?color=red&size=1", desktop).await;
    assert_eq!(a, "/echo/a?color=red&size=1|desktop");
    assert_eq!(a, key("/ECHO/A?size=1&gclid=9&color=red", desktop).await);
    // Repeated parameters are all kept, in order of value.
    assert_eq!(
        key("/echo/a?size=2&color=red&size=1", desktop).await,
        "/echo/a?color=red&size=1&size=2|desktop"
    );
    // No allowlisted parameter: no `?`.
    assert_eq!(key("/echo/a?page=3", desktop).await, "/echo/a|desktop");
    assert_ne!(a, key("/echo/a?color=red&size=1", IPHONE).await);
}

#[tokio::test]
async fn missing_or_unknown_device_class_counts_as_desktop() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    let resp = get(&edge, "shop.test", "/echo/raw/x", &[]).await;
    assert_eq!(cache_key(&resp), "/echo/raw/x|desktop");
    let resp = get(
        &edge,
        "shop.test",
        "/echo/raw/x",
        &[("x-device-class", "Tablet")],
    )
    .await;
    assert_eq!(cache_key(&resp), "/echo/raw/x|tablet");
    let resp = get(
        &edge,
        "shop.test",
        "/echo/raw/x",
        &[("x-device-class", "my-own-class")],
    )
    .await;
    assert_eq!(cache_key(&resp), "/echo/raw/x|desktop");
}

#[tokio::test]
async fn without_config_no_query_parameter_is_kept() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    let resp = get(&edge, "bare.test", "/echo/X?color=red", &[]).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(cache_key(&resp), "/echo/x|desktop");
}

#[tokio::test]
async fn bad_config_is_refused_at_load_naming_function_and_field() {
    let bad = CONFIG.replace(r#"["size", "color"]"#, r#"["size", "a&b"]"#);
    let err = TestEdge::start(&bad)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("function `cache-key`") && err.contains("query_allowlist.1"),
        "{err}"
    );
    let typo = CONFIG.replace("query_allowlist", "query_allow");
    let err = TestEdge::start(&typo)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("function `cache-key`") && err.contains("unknown field `query_allow`"),
        "{err}"
    );
    eprintln!("{err}");
}
