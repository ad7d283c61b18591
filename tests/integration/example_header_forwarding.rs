//! The `header-forwarding` example: only allowlisted viewer headers reach the origin,
//! cookies only when kept, configured headers added; host-managed headers and the
//! host's own proxy headers are untouched.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use wedge_tests::{TestEdge, send};

const CONFIG: &str = r#"
[origins.stub]
members = [{ url = "{stub}" }]

[functions.strict]
module = "{functions}/header_forwarding.wasm"
config = { allow = ["Accept", "x-keep"], add = { x-edge = "wedge", X-Keep = "from-config" } }

[functions.cookies]
module = "{functions}/header_forwarding.wasm"
config = { keep_cookies = true, allow = ["accept"] }

[functions.defaults]
module = "{functions}/header_forwarding.wasm"

[[distributions]]
id = "strict"
aliases = ["strict.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["strict"]

[[distributions]]
id = "cookies"
aliases = ["cookies.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["cookies"]

[[distributions]]
id = "defaults"
aliases = ["defaults.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["defaults"]
"#;

const VIEWER_HEADERS: &[(&str, &str)] = &[
    ("accept", "text/html"),
    ("x-keep", "from-viewer"),
    ("x-drop", "1"),
    ("cookie", "session=secret"),
    ("user-agent", "test-agent"),
];

async fn post(edge: &TestEdge, host: &str, body: &'static str) -> http::Response<Bytes> {
    let mut req = Request::post("/echo?q=1").header("host", host);
    for (n, v) in VIEWER_HEADERS {
        req = req.header(*n, *v);
    }
    send(edge.http_addr(), None, req.body(Full::from(body)).unwrap())
        .await
        .unwrap()
}

#[tokio::test]
async fn only_allowlisted_headers_reach_the_origin() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    let resp = post(&edge, "strict.test", "hello").await;
    assert_eq!(resp.status(), 200);
    let seen = edge.origin.last().unwrap();
    assert_eq!(
        seen.header("accept"),
        Some("text/html"),
        "allowed (case-insensitive)"
    );
    assert_eq!(seen.header("x-keep"), Some("from-config"), "`add` replaces");
    assert_eq!(seen.header("x-edge"), Some("wedge"));
    for gone in ["x-drop", "cookie", "user-agent"] {
        assert_eq!(seen.header(gone), None, "{gone}");
    }
    // Host-managed headers survive, the body arrives, and the host's proxy headers are
    // added after the function.
    assert_eq!(seen.header("host"), Some("strict.test"));
    assert_eq!(seen.header("content-length"), Some("5"));
    assert_eq!(&seen.body[..], b"hello");
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert!(seen.header("via").is_some());
    // The echo body agrees with the recording.
    let echo = TestEdge::echo(&resp);
    assert_eq!(echo["body_bytes"], 5);
    assert_eq!(echo["headers"]["x-edge"], "wedge");
    assert!(echo["headers"].get("cookie").is_none());
}

#[tokio::test]
async fn keep_cookies_forwards_the_cookie_header() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    post(&edge, "cookies.test", "").await;
    let seen = edge.origin.last().unwrap();
    assert_eq!(seen.header("cookie"), Some("session=secret"));
    assert_eq!(seen.header("accept"), Some("text/html"));
    assert_eq!(seen.header("x-keep"), None);
}

#[tokio::test]
async fn without_allow_everything_but_cookies_is_forwarded() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    post(&edge, "defaults.test", "").await;
    let seen = edge.origin.last().unwrap();
    assert_eq!(seen.header("cookie"), None);
    for (name, value) in VIEWER_HEADERS.iter().filter(|(n, _)| *n != "cookie") {
        assert_eq!(seen.header(name), Some(*value), "{name}");
    }
}

#[tokio::test]
async fn bad_config_is_refused_at_load_naming_function_and_field() {
    for (from, to, field) in [
        (
            r#"allow = ["Accept", "x-keep"]"#,
            r#"allow = ["accept", "cookie"]"#,
            "allow.1",
        ),
        (
            r#"allow = ["Accept", "x-keep"]"#,
            r#"allow = ["bad name"]"#,
            "allow.0",
        ),
        (r#"x-edge = "wedge""#, r#"host = "evil.test""#, "add.host"),
        (
            r#"x-edge = "wedge""#,
            r#"x-edge = "line\nbreak""#,
            "add.x-edge",
        ),
        ("add = {", "added = {", "unknown field `added`"),
    ] {
        let bad = CONFIG.replace(from, to);
        assert_ne!(bad, CONFIG);
        let err = TestEdge::start(&bad)
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("function `strict`") && err.contains(field),
            "{field}: {err}"
        );
    }
}
