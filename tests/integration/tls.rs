//! TLS termination: certificates chosen by SNI (exact, wildcard, default, refused),
//! ALPN and protocol versions, with a real rustls client.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use rustls::HandshakeKind;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use wedge_tests::{TestEdge, peer_names, send_on, tls_connect, tls_connect_with, wait_until};

use crate::TWO_SITES;

#[tokio::test]
async fn each_site_gets_its_own_certificate_by_sni() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    for name in ["www.example.test", "api.example.test"] {
        let tls = tls_connect(edge.https_addr(), &edge.tls_options(Some(name), &[]))
            .await
            .unwrap();
        assert_eq!(
            peer_names(&tls),
            vec![name.to_owned()],
            "certificate for {name}"
        );
    }
}

#[tokio::test]
async fn wildcard_certificate_serves_one_label_below() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let tls = tls_connect(
        edge.https_addr(),
        &edge.tls_options(Some("img.wild.test"), &[]),
    )
    .await
    .unwrap();
    assert_eq!(peer_names(&tls), vec!["*.wild.test".to_owned()]);
}

#[tokio::test]
async fn unknown_or_missing_sni_gets_the_default_certificate() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    // No SNI at all: the client verifies against the default certificate's name.
    let tls = tls_connect(edge.https_addr(), &edge.tls_options(None, &[]))
        .await
        .unwrap();
    assert_eq!(peer_names(&tls), vec!["www.example.test".to_owned()]);

    // With an unknown name the server still answers with www's certificate, which a
    // verifying client rejects for that name: the handshake reaches certificate checks.
    let err = tls_connect(
        edge.https_addr(),
        &edge.tls_options(Some("unknown.example.test"), &[]),
    )
    .await
    .unwrap_err();
    assert!(
        format!("{err:#}").to_lowercase().contains("certificate"),
        "{err:#}"
    );
}

#[tokio::test]
async fn unknown_sni_is_refused_when_configured() {
    let config = TWO_SITES.replace("default_certificate = \"www\"", "unknown_sni = \"refuse\"");
    let edge = TestEdge::start(&config).await.unwrap();
    let err = tls_connect(
        edge.https_addr(),
        &edge.tls_options(Some("unknown.example.test"), &[]),
    )
    .await
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("alert"),
        "handshake should be refused with an alert, got {err:#}"
    );
    let no_sni = edge.tls_options(None, &[]);
    assert!(
        tls_connect(edge.https_addr(), &no_sni).await.is_err(),
        "no SNI is refused too"
    );
    // Known names still work.
    assert!(
        tls_connect(
            edge.https_addr(),
            &edge.tls_options(Some("api.example.test"), &[])
        )
        .await
        .is_ok()
    );
}

#[tokio::test]
async fn alpn_offers_h2_and_http11() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let tls = tls_connect(
        edge.https_addr(),
        &edge.tls_options(Some("www.example.test"), &[b"h2", b"http/1.1"]),
    )
    .await
    .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let tls = tls_connect(
        edge.https_addr(),
        &edge.tls_options(Some("www.example.test"), &[b"http/1.1"]),
    )
    .await
    .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn a_client_offering_only_http10_is_served() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let mut tls = tls_connect(
        edge.https_addr(),
        &edge.tls_options(Some("www.example.test"), &[b"http/1.0"]),
    )
    .await
    .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.0"[..]));
    tls.write_all(b"GET /echo HTTP/1.0\r\nHost: www.example.test\r\n\r\n")
        .await
        .unwrap();
    // HTTP/1.0 without keep-alive: the answer ends with the connection.
    let mut answer = Vec::new();
    tls.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.0 200"), "{answer}");
    assert_eq!(edge.origin.last().unwrap().path, "/echo");
}

#[tokio::test]
async fn tls12_and_tls13_are_both_accepted() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let o = edge.tls_options(Some("www.example.test"), &[]);
    let t12 = tls_connect_with(edge.https_addr(), &o, &[&rustls::version::TLS12])
        .await
        .unwrap();
    assert_eq!(
        t12.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_2)
    );
    let t13 = tls_connect_with(edge.https_addr(), &o, &[&rustls::version::TLS13])
        .await
        .unwrap();
    assert_eq!(
        t13.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
}

#[tokio::test]
async fn old_tls_versions_are_refused() {
    // A raw TLS 1.1 ClientHello (record version 0x0302, client version 0x0302): the
    // server must answer with an alert, never a ServerHello.
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let mut tcp = tokio::net::TcpStream::connect(edge.https_addr())
        .await
        .unwrap();
    let mut hello = vec![0x03, 0x02];
    hello.extend_from_slice(&[0u8; 32]); // random
    hello.push(0); // session id
    hello.extend_from_slice(&[0x00, 0x02, 0x00, 0x2f]); // TLS_RSA_WITH_AES_128_CBC_SHA
    hello.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0x00, (hello.len() >> 8) as u8, hello.len() as u8];
    handshake.extend_from_slice(&hello);
    let mut record = vec![
        0x16,
        0x03,
        0x02,
        (handshake.len() >> 8) as u8,
        handshake.len() as u8,
    ];
    record.extend_from_slice(&handshake);
    tcp.write_all(&record).await.unwrap();
    let mut first = [0u8; 1];
    let n = tcp.read(&mut first).await.unwrap_or(0);
    assert!(
        n == 0 || first[0] == 0x15,
        "expected an alert or a closed connection, got record type {:#x}",
        first[0]
    );
}

/// Reads one HTTP/1.1 response with a Content-Length body; returns its head and body
/// (bytes after it stay in the reader for the next response).
async fn read_response<S: tokio::io::AsyncRead + Unpin>(
    io: &mut tokio::io::BufReader<S>,
) -> (String, Vec<u8>) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt};
    let mut head = String::new();
    loop {
        let n = io.read_line(&mut head).await.unwrap();
        assert!(n > 0, "connection closed inside a response head: {head:?}");
        if head.ends_with("\r\n\r\n") {
            break;
        }
    }
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |v| v.trim().parse().unwrap());
    let mut body = vec![0; length];
    io.read_exact(&mut body).await.unwrap();
    (head, body)
}

/// Connections parked so far.
async fn parks(edge: &TestEdge) -> f64 {
    edge.metric("wedge_connection_parks_total").await
}

/// Connections accepted so far.
async fn accepted(edge: &TestEdge) -> f64 {
    edge.metric(r#"wedge_connections_total{result="accepted"}"#)
        .await
}

/// An edge that parks connections after 1 ms (with `server` settings added to its
/// `[server]` table), and an HTTP/1.1 TLS connection to it.
async fn parking_edge_and_connection(
    server: &str,
) -> (
    TestEdge,
    tokio::io::BufReader<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>,
) {
    let config = format!("[server]\npark_idle_after_ms = 1\n{server}\n{TWO_SITES}");
    let edge = TestEdge::start(&config).await.unwrap();
    let tls = tls_connect(
        edge.https_addr(),
        &edge.tls_options(Some("www.example.test"), &[b"http/1.1"]),
    )
    .await
    .unwrap();
    (edge, tokio::io::BufReader::new(tls))
}

#[tokio::test]
async fn idle_keep_alive_connections_are_parked_and_answer_again() {
    use tokio::io::AsyncWriteExt;
    let (edge, mut tls) = parking_edge_and_connection("").await;
    let get = b"GET /echo HTTP/1.1\r\nHost: www.example.test\r\n\r\n";
    tls.get_mut().write_all(get).await.unwrap();
    let (head, _) = read_response(&mut tls).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    wait_until("the connection is parked", || async {
        edge.metric("wedge_parked_connections").await == 1.0
    })
    .await;

    // Woken by two pipelined requests, a POST with a body and a GET: both answered, in
    // order, on the same connection.
    let parked = parks(&edge).await;
    let post = b"POST /echo HTTP/1.1\r\nHost: www.example.test\r\nContent-Length: 5\r\n\r\nhello";
    tls.get_mut()
        .write_all(&[&post[..], &get[..]].concat())
        .await
        .unwrap();
    let (head, body) = read_response(&mut tls).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let echoed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echoed["method"], "POST", "{echoed}");
    let (head, body) = read_response(&mut tls).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let echoed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echoed["method"], "GET", "{echoed}");

    // With the POST's body read to its end, the connection parks again, and answers.
    wait_until("the connection is parked again", || async {
        parks(&edge).await > parked
    })
    .await;
    tls.get_mut().write_all(get).await.unwrap();
    let (head, _) = read_response(&mut tls).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(accepted(&edge).await, 1.0, "one connection throughout");
}

/// Plain-HTTP/1.1 connections park like TLS ones; HTTP/2 with prior knowledge, told
/// apart by its preface, is still served on the same listener.
#[tokio::test]
async fn plain_http_connections_park_and_prior_knowledge_http2_still_works() {
    use tokio::io::AsyncWriteExt;
    let config = format!("[server]\npark_idle_after_ms = 1\n{TWO_SITES}");
    let edge = TestEdge::start(&config).await.unwrap();
    let tcp = tokio::net::TcpStream::connect(edge.http_addr())
        .await
        .unwrap();
    let mut tcp = tokio::io::BufReader::new(tcp);
    let get = b"GET /echo HTTP/1.1\r\nHost: www.example.test\r\n\r\n";
    tcp.get_mut().write_all(get).await.unwrap();
    let (head, _) = read_response(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    wait_until("the plain connection is parked", || async {
        parks(&edge).await > 0.0
    })
    .await;
    tcp.get_mut().write_all(get).await.unwrap();
    let (head, body) = read_response(&mut tcp).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let echoed: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(echoed["method"], "GET", "{echoed}");

    let req = http::Request::get("http://www.example.test/echo")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = wedge_tests::send_h2c(edge.http_addr(), req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.version(), http::Version::HTTP_2);
    assert_eq!(accepted(&edge).await, 2.0, "two connections");
}

/// A request whose body the edge answers without reading (no behavior for its host)
/// leaves the connection free to park once hyper has discarded the body.
#[tokio::test]
async fn a_request_body_left_unread_does_not_keep_a_connection_from_parking() {
    use tokio::io::AsyncWriteExt;
    let (edge, mut tls) = parking_edge_and_connection("").await;
    let post = b"POST /echo HTTP/1.1\r\nHost: nowhere.test\r\nContent-Length: 5\r\n\r\nhello";
    tls.get_mut().write_all(post).await.unwrap();
    let (head, _) = read_response(&mut tls).await;
    assert!(head.starts_with("HTTP/1.1 4"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    wait_until("the connection is parked", || async {
        parks(&edge).await > 0.0
    })
    .await;
    let get = b"GET /echo HTTP/1.1\r\nHost: www.example.test\r\n\r\n";
    tls.get_mut().write_all(get).await.unwrap();
    let (head, _) = read_response(&mut tls).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
}

/// A viewer that sends half a request head and stops is closed after the header read
/// timeout, parking or not: a parked connection woken by a partial head is not parked
/// again (which would restart the slowloris guard every round).
#[tokio::test]
async fn a_partial_request_head_is_not_kept_alive_by_parking() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (edge, mut tls) = parking_edge_and_connection("header_read_timeout_ms = 300").await;
    tls.get_mut()
        .write_all(b"GET /echo HTTP/1.1\r\nHost: www.example.test\r\n\r\n")
        .await
        .unwrap();
    let (head, _) = read_response(&mut tls).await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    wait_until("the connection is parked", || async {
        parks(&edge).await > 0.0
    })
    .await;
    tls.get_mut()
        .write_all(b"GET /echo HTTP/1.1\r\nHo")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        tls.read_to_end(&mut rest),
    )
    .await;
    assert!(closed.is_ok(), "the connection stayed open");
    assert_eq!(parks(&edge).await, 1.0, "not parked again with half a head");
}

/// Functions see the server name the viewer sent, after a full handshake and after a
/// resumed one, over TLS 1.3 and 1.2 (the viewer's TLS stream takes the name from the
/// certificate resolver, which rustls consults on resumption too).
#[tokio::test]
async fn functions_see_the_sni_of_full_and_resumed_handshakes() {
    // TWO_SITES with the lifecycle fixture on api.example.test's default behavior.
    let config = format!(
        "{TWO_SITES}functions = [\"lifecycle\"]\n\n[functions.lifecycle]\n\
         module = \"{{functions}}/lifecycle.wasm\"\nconfig = {{ tag = \"sni\" }}\n"
    );
    let edge = TestEdge::start(&config).await.unwrap();
    let opts = edge.tls_options(Some("api.example.test"), &[b"http/1.1"]);
    for version in [&rustls::version::TLS13, &rustls::version::TLS12] {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut client = rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(opts.roots.clone())
            .with_no_client_auth();
        client.alpn_protocols = opts.alpn.clone();
        // One client config for both connections: its session cache resumes the second.
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        for expected in [HandshakeKind::Full, HandshakeKind::Resumed] {
            let tcp = TcpStream::connect(edge.https_addr()).await.unwrap();
            let name = ServerName::try_from("api.example.test").unwrap();
            let tls = connector.connect(name, tcp).await.unwrap();
            assert_eq!(
                tls.get_ref().1.handshake_kind(),
                Some(expected),
                "{version:?}"
            );
            let req = http::Request::get("/echo")
                .header("host", "api.example.test")
                .body(Full::<Bytes>::default())
                .unwrap();
            let resp = send_on(TokioIo::new(tls), http::Version::HTTP_11, req)
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{version:?} {expected:?}");
            let seen = edge.origin.last().unwrap();
            assert_eq!(
                seen.header("x-viewer-sni"),
                Some("api.example.test"),
                "{version:?} {expected:?}: the function saw the SNI"
            );
        }
    }
}

/// Handshakes are counted by result and protocol version: what an operator watches for
/// clients that cannot connect (old versions, no shared cipher, plain HTTP on 443).
#[tokio::test]
async fn handshakes_are_counted_by_result_and_version() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let opts = edge.tls_options(Some("www.example.test"), &[]);
    tls_connect_with(edge.https_addr(), &opts, &[&rustls::version::TLS13])
        .await
        .unwrap();
    tls_connect_with(edge.https_addr(), &opts, &[&rustls::version::TLS12])
        .await
        .unwrap();
    let mut plain = TcpStream::connect(edge.https_addr()).await.unwrap();
    plain
        .write_all(b"GET / HTTP/1.1\r\nHost: www.example.test\r\n\r\n")
        .await
        .unwrap();
    let mut rest = Vec::new();
    let _ = plain.read_to_end(&mut rest).await;
    for (series, want) in [
        (
            r#"wedge_tls_handshakes_total{result="ok",version="TLSv1_3"}"#,
            1.0,
        ),
        (
            r#"wedge_tls_handshakes_total{result="ok",version="TLSv1_2"}"#,
            1.0,
        ),
        (
            r#"wedge_tls_handshakes_total{result="failed",version="-"}"#,
            1.0,
        ),
    ] {
        wait_until(series, || async { edge.metric(series).await == want }).await;
    }
}
