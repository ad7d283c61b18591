//! The `redirects` example: HTTP to HTTPS, canonical host and trailing slash, combined
//! into one redirect with the configured status; canonical requests reach the origin.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wedge_tests::{TestEdge, send};

const CONFIG: &str = r#"
[tls]
default_certificate = "www"

[certificates.www]
cert = "{certs}/www.pem"
key = "{certs}/www.key"

[origins.stub]
members = [{ url = "{stub}" }]

[functions.redirects]
module = "{functions}/redirects.wasm"
config = { canonical_host = "www.example.test", trailing_slash = "add" }

[functions.plain-redirects]
module = "{functions}/redirects.wasm"
config = { https = false, canonical_host = "Canonical.test:8080", trailing_slash = "remove", status = 308 }

[[distributions]]
id = "www"
aliases = ["www.example.test", "example.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["redirects"]

[[distributions]]
id = "plain"
aliases = ["plain.test", "canonical.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["plain-redirects"]
"#;

async fn http(edge: &TestEdge, method: &str, host: &str, path: &str) -> http::Response<Bytes> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", host)
        .body(Full::from("body"))
        .unwrap();
    send(edge.http_addr(), None, req).await.unwrap()
}

fn location(resp: &http::Response<Bytes>) -> &str {
    resp.headers()["location"].to_str().unwrap()
}

#[tokio::test]
async fn http_goes_to_https_on_the_canonical_host_with_slash_in_one_hop() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    for (host, path, to) in [
        (
            "www.example.test",
            "/echo?x=1&y=2",
            "https://www.example.test/echo/?x=1&y=2",
        ),
        ("example.test", "/echo/", "https://www.example.test/echo/"),
        (
            "www.example.test",
            "/echo/app.js",
            "https://www.example.test/echo/app.js",
        ),
        ("www.example.test", "/", "https://www.example.test/"),
    ] {
        let resp = http(&edge, "GET", host, path).await;
        assert_eq!(resp.status(), 301, "{host}{path}");
        assert_eq!(location(&resp), to, "{host}{path}");
    }
    assert!(edge.origin.received().is_empty());
}

#[tokio::test]
async fn canonical_https_requests_reach_the_origin_and_others_get_a_relative_redirect() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    let resp = edge
        .get("www.example.test", "/echo/?x=1", &[])
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(TestEdge::echo(&resp)["query"], "x=1");
    // Files are not directories; the origin has no such file.
    let resp = edge
        .get("www.example.test", "/assets/v2/app.js", &[])
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    assert_eq!(edge.origin.last().unwrap().path, "/assets/v2/app.js");
    assert_eq!(edge.origin.received().len(), 2);

    // Only the path changes: a relative Location keeps the viewer's port.
    let resp = edge
        .get("www.example.test", "/echo/docs?page=2", &[])
        .await
        .unwrap();
    assert_eq!(resp.status(), 301);
    assert_eq!(location(&resp), "/echo/docs/?page=2");
    assert_eq!(edge.origin.received().len(), 2);
}

#[tokio::test]
async fn configured_status_host_port_and_slash_removal() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    // https = false: plain HTTP is fine, only the host and the slash change.
    let resp = http(&edge, "GET", "plain.test", "/echo/docs/?a=1").await;
    assert_eq!(resp.status(), 308);
    assert_eq!(location(&resp), "http://canonical.test:8080/echo/docs?a=1");
    let resp = http(&edge, "POST", "canonical.test", "/echo/docs/").await;
    assert_eq!(resp.status(), 308);
    assert_eq!(location(&resp), "/echo/docs");
    assert!(edge.origin.received().is_empty());

    // Already canonical, the root, and dotted last segments go through untouched.
    for path in ["/echo/docs", "/", "/echo/v1.2/"] {
        let resp = http(&edge, "POST", "canonical.test", path).await;
        assert_ne!(resp.status(), 308, "{path}");
        let seen = edge.origin.last().unwrap();
        assert_eq!((seen.method.as_str(), seen.path.as_str()), ("POST", path));
        assert_eq!(&seen.body[..], b"body");
    }
}

#[tokio::test]
async fn a_path_that_looks_like_another_host_never_becomes_a_relative_location() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    // `Location: //evil.test/x` would send the viewer to evil.test.
    let mut tcp = tokio::net::TcpStream::connect(edge.http_addr())
        .await
        .unwrap();
    tcp.write_all(
        b"GET //evil.test/x/ HTTP/1.1\r\nhost: canonical.test\r\nconnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut raw = String::new();
    tcp.read_to_string(&mut raw).await.unwrap();
    assert!(raw.starts_with("HTTP/1.1 308"), "{raw}");
    assert!(
        raw.to_ascii_lowercase()
            .contains("\r\nlocation: http://canonical.test//evil.test/x\r\n"),
        "{raw}"
    );
}

#[tokio::test]
async fn bad_config_is_refused_at_load_naming_function_and_field() {
    for (from, to, field) in [
        ("status = 308", "status = 303", "config field `status`"),
        (
            r#""remove""#,
            r#""sometimes""#,
            "config field `trailing_slash`",
        ),
        (
            r#""Canonical.test:8080""#,
            r#""not a host""#,
            "config field `canonical_host`",
        ),
        (
            r#""Canonical.test:8080""#,
            r#""canonical.test:99999""#,
            "config field `canonical_host`",
        ),
    ] {
        let bad = CONFIG.replace(from, to);
        assert_ne!(bad, CONFIG);
        let err = TestEdge::refused(&bad).await;
        assert!(
            err.contains("function `plain-redirects`") && err.contains(field),
            "{field}: {err}"
        );
    }
}
