//! Bad input at the connection level: malformed requests and oversized headers are
//! refused cleanly and the edge keeps serving.

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use wedge_tests::{TestEdge, tls_connect, wait_until};

use crate::TWO_SITES;

/// Writes `bytes` on `io` and reads until the edge closes.
async fn exchange<S>(mut io: S, bytes: &[u8]) -> String
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    io.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = io.read_to_end(&mut out).await;
    String::from_utf8_lossy(&out).into_owned()
}

async fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> String {
    exchange(TcpStream::connect(addr).await.unwrap(), bytes).await
}

#[tokio::test]
async fn malformed_request_lines_get_400() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let resp = raw(edge.http_addr(), b"GARBAGE\x01 / HTTP/1.1\r\n\r\n").await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let resp = raw(
        edge.http_addr(),
        b"GET / HTTP/1.1\r\nHost: api.example.test\r\nbad header line\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    // Still serving.
    let ok = raw(
        edge.http_addr(),
        b"GET /echo HTTP/1.1\r\nHost: api.example.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
}

#[tokio::test]
async fn oversized_headers_get_431() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let big = "a".repeat(100 << 10);
    let req = format!("GET /echo HTTP/1.1\r\nHost: api.example.test\r\nX-Big: {big}\r\n\r\n");
    let resp = raw(edge.http_addr(), req.as_bytes()).await;
    assert!(
        resp.starts_with("HTTP/1.1 431"),
        "{}",
        &resp[..resp.len().min(200)]
    );
    assert!(edge.origin.received().is_empty());
}

/// `max_header_bytes` (65536 by default) is exact over plain HTTP (where hyper may read
/// the whole head at once) and TLS (16 KiB records): a head of exactly that size is
/// served, one byte more gets 431.
#[tokio::test]
async fn the_header_size_limit_is_exact_over_plain_http_and_tls() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let head = |size: usize| {
        let start = "GET /echo HTTP/1.1\r\nHost: api.example.test\r\nConnection: close\r\nX-Big: ";
        let pad = size - start.len() - 4;
        format!("{start}{}\r\n\r\n", "a".repeat(pad))
    };
    let opts = edge.tls_options(Some("api.example.test"), &[b"http/1.1"]);
    for (size, status) in [(65_536, "HTTP/1.1 200"), (65_537, "HTTP/1.1 431")] {
        let req = head(size);
        assert_eq!(req.len(), size);
        let plain = raw(edge.http_addr(), req.as_bytes()).await;
        let tls = tls_connect(edge.https_addr(), &opts).await.unwrap();
        let tls = exchange(tls, req.as_bytes()).await;
        for (over, resp) in [("plain", plain), ("TLS", tls)] {
            assert!(
                resp.starts_with(status),
                "{over}, {size} bytes: {}",
                &resp[..resp.len().min(100)]
            );
        }
    }
}

#[tokio::test]
async fn two_host_headers_get_400_and_reach_no_origin() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let resp = raw(
        edge.http_addr(),
        b"GET /echo HTTP/1.1\r\nHost: api.example.test\r\nHost: evil.example\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    assert!(resp.contains("x-wedge-error: duplicate-host"), "{resp}");
    assert!(edge.origin.received().is_empty());
}

#[tokio::test]
async fn connect_and_trace_get_405_and_reach_no_origin() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    for request in [
        &b"TRACE /echo HTTP/1.1\r\nHost: api.example.test\r\nConnection: close\r\n\r\n"[..],
        b"CONNECT api.example.test:443 HTTP/1.1\r\nHost: api.example.test:443\r\nConnection: close\r\n\r\n",
    ] {
        let resp = raw(edge.http_addr(), request).await;
        assert!(resp.starts_with("HTTP/1.1 405"), "{resp}");
        assert!(
            resp.contains("allow: GET, HEAD, OPTIONS, PUT, POST, PATCH, DELETE"),
            "{resp}"
        );
    }
    assert!(edge.origin.received().is_empty());
}

#[tokio::test]
async fn requests_without_a_host_get_400() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let resp = raw(edge.http_addr(), b"GET /echo HTTP/1.0\r\n\r\n").await;
    assert!(
        resp.starts_with("HTTP/1.0 400") || resp.starts_with("HTTP/1.1 400"),
        "{resp}"
    );
}

#[tokio::test]
async fn admin_reports_health_and_status() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let resp = raw(
        edge.admin_addr(),
        b"GET /healthz HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        resp.starts_with("HTTP/1.1 200") && resp.ends_with("ok\n"),
        "{resp}"
    );
    let resp = raw(
        edge.admin_addr(),
        b"GET /status HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n",
    )
    .await;
    let body = resp.split("\r\n\r\n").nth(1).unwrap();
    let status: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(status["version"], 1);
    assert_eq!(status["functions"][0]["id"], "device-class");
    assert_eq!(status["functions"][0]["sha256"].as_str().unwrap().len(), 64);
    let names: Vec<_> = status["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["names"][0].as_str().unwrap().to_owned())
        .collect();
    assert!(
        names.contains(&"www.example.test".to_owned()) && names.contains(&"*.wild.test".to_owned()),
        "{names:?}"
    );
}

fn with_server(limits: &str) -> String {
    format!("[server]\n{limits}\n{TWO_SITES}")
}

/// Reads until the server closes the connection; `None` if it is still open after a
/// generous bound (so a failure cannot hang the suite).
async fn read_until_closed(tcp: &mut TcpStream) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tcp.read_to_end(&mut out),
    )
    .await
    .ok()
    .map(|_| out)
}

/// A keep-alive connection that has completed one request.
async fn connection_after_one_request(addr: std::net::SocketAddr) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /echo HTTP/1.1\r\nHost: api.example.test\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 12];
    tcp.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"HTTP/1.1 200");
    tcp
}

/// A viewer that stops halfway through its request body gets 408 once it has paused for
/// `body_read_timeout_ms`; the origin's first-byte clock (far shorter here) does not run
/// while the body is still coming, and the stall is not held against the member (one
/// connect-class failure would eject it, and the next request would find no origin).
#[tokio::test]
async fn a_stalled_request_body_gets_408_and_is_not_held_against_the_origin() {
    let config = with_server("body_read_timeout_ms = 300").replace(
        "[origins.stub]\nmembers = [{ url = \"{stub}\" }]\n",
        "[origins.stub]\nmembers = [{ url = \"{stub}\" }]\nfirst_byte_timeout_ms = 50\n\
         [origins.stub.outlier_detection]\nconsecutive_connect_errors = 1\nconsecutive_5xx = 1\n",
    );
    assert!(config.contains("first_byte_timeout_ms"));
    let edge = TestEdge::start(&config).await.unwrap();
    let mut tcp = TcpStream::connect(edge.http_addr()).await.unwrap();
    tcp.write_all(
        b"POST /echo HTTP/1.1\r\nHost: api.example.test\r\nContent-Length: 100\r\n\r\nten bytes.",
    )
    .await
    .unwrap();
    // Never send the other 90 bytes: the edge must answer and let go.
    let out = read_until_closed(&mut tcp)
        .await
        .expect("a stalled body is cut off");
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(out.contains("x-wedge-error: request-body-timeout"), "{out}");

    let next = raw(
        edge.http_addr(),
        b"GET /echo HTTP/1.1\r\nHost: api.example.test\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        next.starts_with("HTTP/1.1 200"),
        "the member was not ejected: {next}"
    );
}

/// A body that arrives slowly but steadily is forwarded whole, however long it takes
/// against the origin's first-byte timeout.
#[tokio::test]
async fn a_slow_steady_upload_outlasts_the_first_byte_timeout() {
    let config = with_server("body_read_timeout_ms = 10000").replace(
        "[origins.stub]\nmembers = [{ url = \"{stub}\" }]\n",
        "[origins.stub]\nmembers = [{ url = \"{stub}\" }]\nfirst_byte_timeout_ms = 50\n",
    );
    let edge = TestEdge::start(&config).await.unwrap();
    let mut tcp = TcpStream::connect(edge.http_addr()).await.unwrap();
    tcp.write_all(
        b"POST /echo HTTP/1.1\r\nHost: api.example.test\r\nContent-Length: 30\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    for _ in 0..3 {
        // Each pause is longer than the first-byte timeout, all far below the body's.
        tokio::time::sleep(std::time::Duration::from_millis(120)).await;
        tcp.write_all(b"0123456789").await.unwrap();
    }
    let out = read_until_closed(&mut tcp).await.expect("an answer");
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(
        &edge.origin.last().unwrap().body[..],
        b"012345678901234567890123456789"
    );
}

/// A viewer that asks for a large response and then reads nothing is cut off once a
/// write has waited `send_timeout_ms`, and the origin's response is let go (the member
/// has nothing in flight any more); what reached the viewer is short of the whole.
#[tokio::test]
async fn a_viewer_that_stops_reading_is_cut_off() {
    let edge = TestEdge::start(&with_server("send_timeout_ms = 200"))
        .await
        .unwrap();
    let outstanding = format!(
        "wedge_origin_member_outstanding{{origin=\"stub\",member=\"{}\"}}",
        edge.origin.url()
    );
    let mut tcp = TcpStream::connect(edge.http_addr()).await.unwrap();
    // 32 MiB: far more than the socket buffers on both sides hold.
    tcp.write_all(
        b"GET /cache/big?size=33554432&cc=no-store HTTP/1.1\r\nHost: api.example.test\r\n\r\n",
    )
    .await
    .unwrap();
    wait_until("the response is under way", || async {
        edge.metric(&outstanding).await == 1.0
    })
    .await;
    wait_until("the edge lets the stalled response go", || async {
        edge.metric(&outstanding).await == 0.0
    })
    .await;
    let got = read_until_closed(&mut tcp).await.unwrap_or_default();
    assert!(
        got.len() < 32 << 20,
        "the response was cut short: {} bytes",
        got.len()
    );
}

#[tokio::test]
async fn slow_request_heads_are_cut_off() {
    let edge = TestEdge::start(&with_server("header_read_timeout_ms = 200"))
        .await
        .unwrap();
    let mut tcp = TcpStream::connect(edge.http_addr()).await.unwrap();
    tcp.write_all(b"GET /echo HTTP/1.1\r\nHost: api.example.test\r\n")
        .await
        .unwrap();
    // Never finish the head: the edge must give up.
    let out = read_until_closed(&mut tcp)
        .await
        .expect("connection still open");
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    assert!(edge.origin.received().is_empty());
}

#[tokio::test]
async fn too_many_header_fields_get_431() {
    let edge = TestEdge::start(&with_server("max_headers = 10"))
        .await
        .unwrap();
    let mut req = String::from("GET /echo HTTP/1.1\r\nHost: api.example.test\r\n");
    for i in 0..20 {
        req.push_str(&format!("X-H{i}: v\r\n"));
    }
    req.push_str("\r\n");
    let resp = raw(edge.http_addr(), req.as_bytes()).await;
    assert!(resp.starts_with("HTTP/1.1 431"), "{resp}");
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_and_counted() {
    let edge = TestEdge::start(&with_server("max_connections = 2"))
        .await
        .unwrap();
    // Two connections hold both slots (a completed request proves each was accepted).
    let held = [
        connection_after_one_request(edge.http_addr()).await,
        connection_after_one_request(edge.http_addr()).await,
    ];
    let resp = raw(
        edge.http_addr(),
        b"GET /echo HTTP/1.1\r\nHost: api.example.test\r\n\r\n",
    )
    .await;
    assert!(
        resp.is_empty(),
        "third connection must be closed unanswered: {resp}"
    );
    let metrics = edge.edge.metrics().render();
    assert!(
        metrics.contains(r#"wedge_connections_total{result="refused"} 1"#),
        "{metrics}"
    );
    drop(held);
}

#[tokio::test]
async fn idle_keep_alive_connections_are_closed() {
    let edge = TestEdge::start(&with_server("header_read_timeout_ms = 200"))
        .await
        .unwrap();
    let mut tcp = connection_after_one_request(edge.http_addr()).await;
    // Stay idle: the server must close the connection.
    assert!(
        read_until_closed(&mut tcp).await.is_some(),
        "idle connection still open"
    );
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_stops_accepting() {
    let TestEdge {
        running,
        origin,
        pki,
        edge,
        ..
    } = TestEdge::start(TWO_SITES).await.unwrap();
    let addr = running.http.unwrap();
    let slow = tokio::spawn(async move {
        let req = http::Request::get("/delay/300")
            .header("host", "api.example.test")
            .body(http_body_util::Full::<bytes::Bytes>::default())
            .unwrap();
        wedge_tests::send(addr, None, req).await
    });
    // Wait until the slow request has reached the origin, then shut down.
    wait_until("the slow request reaches the origin", || async {
        !origin.received().is_empty()
    })
    .await;
    assert_eq!(origin.received().len(), 1);
    running.shutdown().await;
    let resp = slow.await.unwrap().unwrap();
    assert_eq!(resp.status(), 200, "the in-flight request completed");
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "no longer accepting"
    );
    drop((pki, edge));
}
