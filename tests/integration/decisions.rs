//! Decision reuse: a function that declares its viewer-request inputs runs once per
//! distinct input; later requests get its recorded edits and decision replayed. Reads
//! outside the declaration are caught and stop reuse.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use wedge_tests::{TestEdge, send};

const MEMO: &str = r#"
[origins.stub]
members = [{ url = "{stub}" }]

[functions.memo]
module = "{functions}/memo.wasm"

[functions.memo-off]
module = "{functions}/memo.wasm"
decision_cache = 0

[functions.memo-shape]
module = "{functions}/memo.wasm"
config = { inputs = ["x-input", ":query-shape"] }

[[distributions]]
id = "shape"
aliases = ["shape.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["memo-shape"]

[[distributions]]
id = "on"
aliases = ["on.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["memo"]

[[distributions]]
id = "off"
aliases = ["off.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["memo-off"]
"#;

/// Sends a request and returns the nonce the function stamped on it (from the origin's
/// view, or from the response when the function answered).
async fn nonce(edge: &TestEdge, host: &str, input: &str) -> String {
    nonce_at(edge, host, "/echo", input).await
}

/// [`nonce`] for a request to `uri`.
async fn nonce_at(edge: &TestEdge, host: &str, uri: &str, input: &str) -> String {
    let req = Request::get(uri)
        .header("host", host)
        .header("x-input", input)
        .header("x-remove-me", "1")
        .body(Full::<Bytes>::default())
        .unwrap();
    let resp = send(edge.http_addr(), None, req).await.unwrap();
    assert_eq!(resp.status(), 200);
    if let Some(n) = resp.headers().get("x-nonce") {
        return n.to_str().unwrap().to_owned();
    }
    let seen = edge.origin.last().unwrap();
    assert_eq!(
        seen.header("x-remove-me"),
        None,
        "the recorded removal is replayed too"
    );
    seen.header("x-nonce").unwrap().to_owned()
}

#[tokio::test]
async fn same_inputs_reuse_the_decision_and_different_inputs_do_not() {
    let edge = TestEdge::start(MEMO).await.unwrap();
    // A key's first sighting runs unrecorded (the doorkeeper), the second is recorded,
    // the third and later are replays.
    let a0 = nonce(&edge, "on.test", "a").await;
    let a1 = nonce(&edge, "on.test", "a").await;
    let a2 = nonce(&edge, "on.test", "a").await;
    let a3 = nonce(&edge, "on.test", "a").await;
    let b = nonce(&edge, "on.test", "b").await;
    assert_ne!(a0, a1, "the first sighting is not stored");
    assert_eq!(a1, a2, "the recorded outcome is replayed");
    assert_eq!(a2, a3);
    assert_ne!(a1, b, "another input runs the function");
}

#[tokio::test]
async fn synthetic_answers_are_reused_too() {
    let edge = TestEdge::start(MEMO).await.unwrap();
    nonce(&edge, "on.test", "answer").await;
    let recorded = nonce(&edge, "on.test", "answer").await;
    assert_eq!(recorded, nonce(&edge, "on.test", "answer").await);
    assert!(edge.origin.received().is_empty());
}

#[tokio::test]
async fn reading_outside_the_declared_inputs_stops_reuse() {
    let edge = TestEdge::start(MEMO).await.unwrap();
    let p1 = nonce(&edge, "on.test", "peek").await;
    let p2 = nonce(&edge, "on.test", "peek").await;
    let p3 = nonce(&edge, "on.test", "peek").await;
    assert!(
        p1 != p2 && p2 != p3,
        "a function that read the path is run every time"
    );
}

#[tokio::test]
async fn a_run_that_asks_not_to_be_reused_is_not() {
    let edge = TestEdge::start(MEMO).await.unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(nonce(&edge, "on.test", "volatile").await);
    }
    assert!(seen.windows(2).all(|w| w[0] != w[1]), "{seen:?}");
}

#[tokio::test]
async fn a_configured_query_shape_counts_bare_values_as_one() {
    let edge = TestEdge::start(MEMO).await.unwrap();
    let at = |uri: &'static str| nonce_at(&edge, "shape.test", uri, "query");
    at("/echo?id=a1&page=x").await;
    let recorded = at("/echo?id=a1&page=x").await;
    // Other bare values, same shape: the recorded outcome.
    assert_eq!(recorded, at("/echo?id=b-2&page=Y_3").await);
    assert_eq!(recorded, at("/echo?id=c3&page=z").await);
    // Another shape (a value with a space, another name, no query) runs the function.
    for other in ["/echo?id=a%201&page=x", "/echo?id=a1&p=x", "/echo"] {
        assert_ne!(recorded, at(other).await, "{other}");
    }
    // `/status` says what each function's reuse is keyed on.
    let (_, status) = edge.admin("GET", "/status", None).await;
    let reused = |id: &str| {
        status["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .unwrap()["reused_decisions"]
            .clone()
    };
    assert_eq!(
        reused("memo-shape"),
        serde_json::json!({ "hook": "viewer-request", "inputs": ["x-input", ":query-shape"] })
    );
    assert_eq!(reused("memo-off"), serde_json::Value::Null);
}

#[tokio::test]
async fn reuse_can_be_turned_off() {
    let edge = TestEdge::start(MEMO).await.unwrap();
    let a1 = nonce(&edge, "off.test", "a").await;
    let a2 = nonce(&edge, "off.test", "a").await;
    assert_ne!(a1, a2);
}

const KEY_AND_HEADERS: &str = r#"
[debug]
explain_header = true

[origins.stub]
members = [{ url = "{stub}" }]

[functions.cache-key]
module = "{functions}/cache_key.wasm"
config = { query_allowlist = ["v"] }

[functions.security-headers]
module = "{functions}/security_headers.wasm"

[[distributions]]
id = "site"
aliases = ["site.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["cache-key", "security-headers"]
"#;

async fn explained(edge: &TestEdge, path: &str, device: &str) -> http::Response<Bytes> {
    let req = Request::get(path)
        .header("host", "site.test")
        .header("x-device-class", device)
        .body(Full::<Bytes>::default())
        .unwrap();
    send(edge.http_addr(), None, req).await.unwrap()
}

fn explain(resp: &http::Response<Bytes>) -> String {
    resp.headers()["x-wedge-explain"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn cache_key_parts_and_response_edits_are_reused() {
    let edge = TestEdge::start(KEY_AND_HEADERS).await.unwrap();
    // First sighting, then recorded, then replayed.
    for _ in 0..2 {
        let first = explained(&edge, "/echo/A?v=1&x=2", "mobile").await;
        assert!(explain(&first).contains("cache-key:cache-key=key"));
    }
    let replayed = explained(&edge, "/echo/A?v=1&x=2", "mobile").await;
    let text = explain(&replayed);
    assert!(text.contains("cache-key:cache-key=reused"), "{text}");
    assert!(
        text.contains("security-headers:viewer-response=reused"),
        "{text}"
    );
    assert!(text.contains("cache-key=\"/echo/a?v=1|mobile\""), "{text}");
    // The replayed response edits are the function's: set and removed headers.
    assert_eq!(replayed.headers()["x-frame-options"], "SAMEORIGIN");
    assert_eq!(replayed.headers()["x-content-type-options"], "nosniff");
    assert!(replayed.headers().get("server").is_none());
    // Plain HTTP: no HSTS, as when the function runs.
    assert!(
        replayed
            .headers()
            .get("strict-transport-security")
            .is_none()
    );
    // Another input (the device class) is not a replay of the first.
    let other = explained(&edge, "/echo/A?v=1&x=2", "tablet").await;
    let text = explain(&other);
    assert!(text.contains("cache-key:cache-key=key"), "{text}");
    assert!(text.contains("|tablet"), "{text}");
}
