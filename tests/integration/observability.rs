//! What operators see: Prometheus metrics and the JSON access log.

use bytes::Bytes;
use wedge_tests::{TestEdge, http_get, wait_until};

const SITE: &str = r#"
[access_log]
path = "{certs}/access.log"

[certificates.www]
cert = "{certs}/www.pem"
key = "{certs}/www.key"

[origins.stub]
members = [{ url = "{stub}" }]

[functions.device-class]
module = "{functions}/device_class.wasm"

[[distributions]]
id = "www"
aliases = ["www.test", "www.example.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["device-class"]
"#;

async fn get(addr: std::net::SocketAddr, host: &str, path: &str) -> http::Response<Bytes> {
    let headers = [
        (
            "user-agent",
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)",
        ),
        ("referer", "https://ref.test/"),
    ];
    http_get(addr, host, path, &headers).await.unwrap()
}

#[tokio::test]
async fn metrics_count_requests_and_function_hooks() {
    let edge = TestEdge::start(SITE).await.unwrap();
    for _ in 0..3 {
        get(edge.http_addr(), "www.test", "/echo").await;
    }
    get(edge.http_addr(), "www.test", "/missing").await;
    let metrics = get(edge.admin_addr(), "admin", "/metrics").await;
    let text = String::from_utf8_lossy(metrics.body());
    assert!(
        text.contains(r#"wedge_requests_total{behavior="www/*",status="200"} 3"#),
        "{text}"
    );
    assert!(
        text.contains(r#"wedge_requests_total{behavior="www/*",status="404"} 1"#),
        "{text}"
    );
    assert!(text.contains(r#"wedge_function_hooks_total{function="device-class",hook="viewer-request",outcome="continue"}"#), "{text}");
    assert!(
        text.contains("wedge_request_duration_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn metrics_show_how_full_the_instance_pool_is() {
    let edge = TestEdge::start(SITE).await.unwrap();
    assert_eq!(edge.metric("wedge_function_idle_instances").await, 0.0);
    assert_eq!(edge.metric("wedge_function_instance_capacity").await, 512.0);
    get(edge.http_addr(), "www.test", "/echo").await;
    // device-class declares reuse: its instance stays in the pool, idle, for the next
    // request (it is given back before the origin is asked).
    assert_eq!(edge.metric("wedge_function_idle_instances").await, 1.0);
    assert!(edge.metric("wedge_function_instances").await >= 1.0);
}

#[tokio::test]
async fn every_request_gets_one_json_access_log_line() {
    let edge = TestEdge::start(SITE).await.unwrap();
    get(edge.http_addr(), "www.test", "/echo?q=1").await;
    get(edge.http_addr(), "nobody.test", "/").await;
    let path = edge.pki.dir.path().join("access.log");
    // The log is written by its own thread; wait (bounded) for both lines.
    let read = || {
        std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    wait_until("both access log lines are written", || async {
        read().len() >= 2
    })
    .await;
    let lines = read();
    assert_eq!(lines.len(), 2, "{lines:?}");
    let first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(first["cs-method"], "GET");
    assert_eq!(first["cs(Host)"], "www.test");
    assert_eq!(first["cs-uri-stem"], "/echo");
    assert_eq!(first["cs-uri-query"], "q=1");
    assert_eq!(first["sc-status"], 200);
    assert_eq!(first["c-ip"], "127.0.0.1");
    assert_eq!(first["cs(Referer)"], "https://ref.test/");
    assert_eq!(first["x-edge-result-type"], "Miss");
    assert_eq!(first["x-wedge-behavior"], "www/*");
    assert_eq!(
        first["x-wedge-functions"][0],
        "device-class:viewer-request=continue"
    );
    assert_eq!(first["cs-protocol"], "http");
    assert!(first["date"].as_str().unwrap().len() == 10 && first["x-edge-request-id"].is_string());
    let second: serde_json::Value = serde_json::from_str(&lines[1]).unwrap();
    assert_eq!(second["sc-status"], 421);
    assert_eq!(second["x-edge-result-type"], "Error");
    assert!(first["ssl-protocol"].is_null() && first["ssl-cipher"].is_null());

    // Over TLS, the negotiated version and cipher suite are logged too.
    let resp = edge.get("www.example.test", "/echo", &[]).await.unwrap();
    assert_eq!(resp.status(), 200);
    wait_until("the TLS request's line is written", || async {
        read().len() >= 3
    })
    .await;
    let third: serde_json::Value = serde_json::from_str(&read()[2]).unwrap();
    assert_eq!(third["cs-protocol"], "https");
    assert_eq!(third["ssl-protocol"], "TLSv1_3");
    let cipher = third["ssl-cipher"].as_str().unwrap();
    assert!(cipher.starts_with("TLS13_"), "{cipher}");
}
