//! The `security-headers` example: security headers on responses from the origin (HSTS
//! only over HTTPS), configurable and validated.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use wedge_tests::{TestEdge, send};

const CONFIG: &str = r#"
[tls]
default_certificate = "www"

[certificates.www]
cert = "{certs}/www.pem"
key = "{certs}/www.key"

[origins.stub]
members = [{ url = "{stub}" }]

[functions.security-headers]
module = "{functions}/security_headers.wasm"

[functions.custom]
module = "{functions}/security_headers.wasm"
config = { hsts_max_age = 63072000, hsts_preload = true, frame_options = "deny", referrer_policy = "no-referrer, strict-origin", content_security_policy = "", nosniff = false, remove = ["Content-Type"] }

[[distributions]]
id = "www"
aliases = ["www.example.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["security-headers"]

[[distributions]]
id = "custom"
aliases = ["custom.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["custom"]
"#;

fn header<'a>(resp: &'a http::Response<Bytes>, name: &str) -> Option<&'a str> {
    resp.headers().get(name).map(|v| v.to_str().unwrap())
}

#[tokio::test]
async fn defaults_over_https() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    let resp = edge.get("www.example.test", "/echo", &[]).await.unwrap();
    assert_eq!(
        resp.status(),
        200,
        "the origin's answer still comes through"
    );
    assert_eq!(TestEdge::echo(&resp)["path"], "/echo");
    for (name, value) in [
        (
            "strict-transport-security",
            "max-age=31536000; includeSubDomains",
        ),
        ("x-content-type-options", "nosniff"),
        ("x-frame-options", "SAMEORIGIN"),
        ("referrer-policy", "strict-origin-when-cross-origin"),
        (
            "content-security-policy",
            "default-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'",
        ),
    ] {
        assert_eq!(header(&resp, name), Some(value), "{name}");
    }
    assert_eq!(header(&resp, "server"), None);
    assert_eq!(header(&resp, "x-powered-by"), None);
    assert!(
        header(&resp, "content-type").is_some(),
        "origin headers are kept"
    );

    // Every response, not only successful ones.
    let resp = edge.get("www.example.test", "/missing", &[]).await.unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(header(&resp, "x-content-type-options"), Some("nosniff"));
}

#[tokio::test]
async fn no_hsts_over_plain_http() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    let req = Request::get("/echo")
        .header("host", "www.example.test")
        .body(Full::default())
        .unwrap();
    let resp = send(edge.http_addr(), None, req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "strict-transport-security"), None);
    assert_eq!(header(&resp, "x-frame-options"), Some("SAMEORIGIN"));
}

#[tokio::test]
async fn custom_values_and_headers_turned_off() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    // custom.test has no certificate of its own; reach it over plain HTTP and check
    // the HTTPS-only header is left out there too.
    let req = Request::get("/echo")
        .header("host", "custom.test")
        .body(Full::default())
        .unwrap();
    let resp = send(edge.http_addr(), None, req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(header(&resp, "x-frame-options"), Some("DENY"));
    assert_eq!(
        header(&resp, "referrer-policy"),
        Some("no-referrer, strict-origin")
    );
    assert_eq!(header(&resp, "content-security-policy"), None);
    assert_eq!(header(&resp, "x-content-type-options"), None);
    assert_eq!(header(&resp, "strict-transport-security"), None);
    // `remove` replaces the default list: this origin header goes.
    assert_eq!(header(&resp, "content-type"), None);
    assert_eq!(TestEdge::echo(&resp)["path"], "/echo");
}

#[tokio::test]
async fn bad_config_is_refused_at_load_naming_function_and_field() {
    for (from, to, field) in [
        (
            "hsts_max_age = 63072000",
            "hsts_max_age = 63072001",
            "config field `hsts_max_age`",
        ),
        (
            "hsts_max_age = 63072000",
            "hsts_max_age = -1",
            "config field `hsts_max_age`",
        ),
        (
            "hsts_max_age = 63072000",
            "hsts_max_age = 86400",
            "config field `hsts_preload`",
        ),
        (
            r#""deny""#,
            r#""ALLOW-FROM https://a.test""#,
            "config field `frame_options`",
        ),
        (
            r#""no-referrer, strict-origin""#,
            r#""nope""#,
            "config field `referrer_policy`",
        ),
        (
            r#"["Content-Type"]"#,
            r#"["bad name"]"#,
            "config field `remove.0`",
        ),
        (
            "nosniff = false",
            "no_sniff = false",
            "unknown field `no_sniff`",
        ),
    ] {
        let bad = CONFIG.replace(from, to);
        assert_ne!(bad, CONFIG);
        let err = TestEdge::refused(&bad).await;
        assert!(
            err.contains("function `custom`") && err.contains(field),
            "{field}: {err}"
        );
    }
}
