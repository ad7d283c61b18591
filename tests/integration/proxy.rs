//! Forwarding: proxy headers added, hop-by-hop headers removed in both directions,
//! request bodies streamed, over HTTP/1.1 and HTTP/2.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use wedge_tests::{TestEdge, send};

use crate::TWO_SITES;

#[tokio::test]
async fn forwarding_headers_are_added_and_hop_by_hop_removed() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let req = Request::post("/echo?q=1")
        .header("host", "api.example.test")
        .header("x-forwarded-for", "203.0.113.7")
        .header("connection", "keep-alive, x-drop-me")
        .header("x-drop-me", "secret")
        .header("keep-alive", "timeout=5")
        .header("te", "trailers")
        .header("proxy-authorization", "Basic Zm9vOmJhcg==")
        .header("x-keep-me", "yes")
        .body(Full::new(Bytes::from_static(b"hello origin")))
        .unwrap();
    let resp = send(edge.http_addr(), None, req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen = edge.origin.last().unwrap();
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("203.0.113.7, 127.0.0.1")
    );
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert_eq!(seen.header("x-forwarded-host"), Some("api.example.test"));
    assert_eq!(seen.header("via"), Some("1.1 wedge"));
    assert_eq!(seen.header("host"), Some("api.example.test"));
    assert_eq!(seen.header("x-keep-me"), Some("yes"));
    for gone in ["x-drop-me", "keep-alive", "te", "proxy-authorization"] {
        assert_eq!(seen.header(gone), None, "{gone} must not reach the origin");
    }
    assert_eq!(&seen.body[..], b"hello origin");
    assert_eq!(seen.method, "POST");
    assert!(
        resp.headers().get("via").is_some_and(|v| v == "1.1 wedge"),
        "Via on the response"
    );
}

#[tokio::test]
async fn https_over_http2_reaches_the_origin_as_http11_with_its_host() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let tls = edge.tls_options(Some("api.example.test"), &[b"h2"]);
    let req = Request::get("/echo?via=h2")
        .header("host", "api.example.test")
        .body(Full::default())
        .unwrap();
    let resp = send(edge.https_addr(), Some(&tls), req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let seen = edge.origin.last().unwrap();
    assert_eq!(seen.version, http::Version::HTTP_11);
    assert_eq!(seen.header("host"), Some("api.example.test"));
    assert_eq!(seen.header("x-forwarded-proto"), Some("https"));
    assert_eq!(seen.header("via"), Some("2 wedge"));
    assert_eq!(seen.query.as_deref(), Some("via=h2"));
}

#[tokio::test]
async fn https_over_http11_keeps_the_request_intact() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let resp = edge
        .get(
            "api.example.test",
            "/echo/deep/path?a=b&a=c",
            &[("accept", "application/json")],
        )
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_11);
    let echo = TestEdge::echo(&resp);
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/echo/deep/path");
    assert_eq!(echo["query"], "a=b&a=c");
    assert_eq!(echo["headers"]["accept"], "application/json");
    assert_eq!(echo["headers"]["x-forwarded-proto"], "https");
}
