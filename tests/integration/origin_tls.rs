//! HTTPS origins: SNI and certificate verification against a custom CA, refusal of an
//! untrusted or misnamed certificate, and HTTP/2 negotiated by ALPN. The origin is a
//! second edge serving HTTPS with its own throwaway CA.

use wedge_tests::{TestEdge, http_get};

const ORIGIN_EDGE: &str = r#"
[tls]
default_certificate = "www"

[certificates.www]
cert = "{certs}/www.pem"
key = "{certs}/www.key"

[origins.stub]
members = [{ url = "{stub}" }]

[[distributions]]
id = "www"
aliases = ["www.example.test"]
[distributions.default_behavior]
origin = "stub"
"#;

const FRONT_EDGE: &str = r#"
[origins.trusted]
members = [{ url = "https://{origin}" }]
http2 = true
tls = { ca = "{ca}", server_name = "www.example.test" }

[origins.untrusted]
members = [{ url = "https://{origin}" }]
tls = { server_name = "www.example.test" }

[origins.misnamed]
members = [{ url = "https://{origin}" }]
tls = { ca = "{ca}", server_name = "other.example.test" }

[[distributions]]
id = "www"
aliases = ["www.example.test"]

[[distributions.behaviors]]
path_pattern = "/untrusted/*"
origin = "untrusted"

[[distributions.behaviors]]
path_pattern = "/misnamed/*"
origin = "misnamed"

[distributions.default_behavior]
origin = "trusted"
"#;

#[tokio::test]
async fn https_origins_are_verified_and_may_speak_http2() {
    let origin = TestEdge::start(ORIGIN_EDGE).await.unwrap();
    let ca = origin.pki.dir.path().join("ca.pem");
    let config = FRONT_EDGE
        .replace("{origin}", &origin.https_addr().to_string())
        .replace("{ca}", &ca.display().to_string());
    let front = TestEdge::start(&config).await.unwrap();

    let resp = http_get(front.http_addr(), "www.example.test", "/echo", &[])
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let got = origin.origin.last().unwrap();
    // The origin edge saw the request arrive over HTTP/2 (its Via entry) after ours.
    let via: Vec<&str> = got
        .headers
        .iter()
        .filter(|(n, _)| n == "via")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(via, ["1.1 wedge", "2 wedge"]);

    for path in ["/untrusted/echo", "/misnamed/echo"] {
        let resp = http_get(front.http_addr(), "www.example.test", path, &[])
            .await
            .unwrap();
        assert_eq!(resp.status(), 502, "{path}");
        assert_eq!(resp.headers()["x-wedge-error"], "origin-connect-error");
    }
    assert_eq!(
        origin.origin.received().len(),
        1,
        "refused before any request"
    );
}
