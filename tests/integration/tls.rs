//! TLS termination: certificates chosen by SNI (exact, wildcard, default, refused),
//! ALPN and protocol versions, with a real rustls client.

use wedge_tests::{TestEdge, TlsOptions, peer_names, tls_connect, tls_connect_with};

use crate::TWO_SITES;

fn opts(edge: &TestEdge, sni: Option<&str>, alpn: &[&[u8]]) -> TlsOptions {
    TlsOptions {
        sni: sni.map(str::to_owned),
        roots: edge.pki.roots.clone(),
        alpn: alpn.iter().map(|a| a.to_vec()).collect(),
    }
}

#[tokio::test]
async fn each_site_gets_its_own_certificate_by_sni() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    for name in ["www.example.test", "api.example.test"] {
        let tls = tls_connect(edge.https_addr(), &opts(&edge, Some(name), &[]))
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
    let tls = tls_connect(edge.https_addr(), &opts(&edge, Some("img.wild.test"), &[]))
        .await
        .unwrap();
    assert_eq!(peer_names(&tls), vec!["*.wild.test".to_owned()]);
}

#[tokio::test]
async fn unknown_or_missing_sni_gets_the_default_certificate() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    // No SNI at all: the client verifies against the default certificate's name.
    let tls = tls_connect(edge.https_addr(), &opts(&edge, None, &[]))
        .await
        .unwrap();
    assert_eq!(peer_names(&tls), vec!["www.example.test".to_owned()]);

    // With an unknown name the server still answers with www's certificate, which a
    // verifying client rejects for that name: the handshake reaches certificate checks.
    let err = tls_connect(
        edge.https_addr(),
        &opts(&edge, Some("unknown.example.test"), &[]),
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
        &opts(&edge, Some("unknown.example.test"), &[]),
    )
    .await
    .unwrap_err();
    assert!(
        format!("{err:#}").contains("alert"),
        "handshake should be refused with an alert, got {err:#}"
    );
    let mut no_sni = opts(&edge, None, &[]);
    no_sni.sni = None;
    assert!(
        tls_connect(edge.https_addr(), &no_sni).await.is_err(),
        "no SNI is refused too"
    );
    // Known names still work.
    assert!(
        tls_connect(
            edge.https_addr(),
            &opts(&edge, Some("api.example.test"), &[])
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
        &opts(&edge, Some("www.example.test"), &[b"h2", b"http/1.1"]),
    )
    .await
    .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let tls = tls_connect(
        edge.https_addr(),
        &opts(&edge, Some("www.example.test"), &[b"http/1.1"]),
    )
    .await
    .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
}

#[tokio::test]
async fn tls12_and_tls13_are_both_accepted() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let o = opts(&edge, Some("www.example.test"), &[]);
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
