//! Routing: hosts to distributions, ordered path patterns, the default behavior, and
//! round-robin over an origin pool.

use bytes::Bytes;
use wedge::stub_origin::StubOrigin;
use wedge_tests::{TestEdge, http_get};

const ROUTES: &str = r#"
[origins.stub]
members = [{ url = "{stub}" }]

[origins.other]
members = [{ url = "{stub}" }]

[[distributions]]
id = "www"
aliases = ["www.example.test"]

[[distributions.behaviors]]
path_pattern = "/echo/special*"
origin = "other"

[[distributions.behaviors]]
path_pattern = "/echo/*.json"
origin = "stub"

[distributions.default_behavior]
origin = "stub"
"#;

async fn get(addr: std::net::SocketAddr, host: &str, path: &str) -> http::Response<Bytes> {
    http_get(addr, host, path, &[]).await.unwrap()
}

#[tokio::test]
async fn requests_reach_the_origin_with_path_and_query() {
    let edge = TestEdge::start(ROUTES).await.unwrap();
    let resp = get(
        edge.http_addr(),
        "www.example.test",
        "/echo/a.json?x=1&y=%20",
    )
    .await;
    assert_eq!(resp.status(), 200);
    let seen = edge.origin.last().unwrap();
    assert_eq!(seen.path, "/echo/a.json");
    assert_eq!(seen.query.as_deref(), Some("x=1&y=%20"));
    let echo = TestEdge::echo(&resp);
    assert_eq!(echo["query"], "x=1&y=%20");
}

#[tokio::test]
async fn unknown_host_is_misdirected() {
    let edge = TestEdge::start(ROUTES).await.unwrap();
    let resp = get(edge.http_addr(), "nobody.example.test", "/").await;
    assert_eq!(resp.status(), 421);
    assert_eq!(resp.headers()["x-wedge-error"], "unknown-host");
    assert!(
        edge.origin.received().is_empty(),
        "nothing reaches the origin"
    );
}

#[tokio::test]
async fn host_matching_ignores_case_and_port() {
    let edge = TestEdge::start(ROUTES).await.unwrap();
    let resp = get(edge.http_addr(), "WWW.Example.Test:8080", "/echo").await;
    assert_eq!(resp.status(), 200);
}

/// [`ROUTES`] with the `/echo/special*` behavior's origin a stub of its own, returned
/// beside the edge: two origins tell which behavior handled a request.
async fn with_special_origin() -> (StubOrigin, TestEdge) {
    let special = StubOrigin::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let config = ROUTES.replace(
        "[origins.other]\nmembers = [{ url = \"{stub}\" }]",
        &format!(
            "[origins.other]\nmembers = [{{ url = \"{}\" }}]",
            special.url()
        ),
    );
    let edge = TestEdge::start(&config).await.unwrap();
    (special, edge)
}

#[tokio::test]
async fn first_matching_pattern_wins_and_default_takes_the_rest() {
    let (special, edge) = with_special_origin().await;
    get(edge.http_addr(), "www.example.test", "/echo/special/x.json").await;
    assert_eq!(
        special.received().len(),
        1,
        "ordered behavior /echo/special* matched first"
    );
    assert_eq!(edge.origin.received().len(), 0);
    get(edge.http_addr(), "www.example.test", "/echo/x.json").await;
    get(edge.http_addr(), "www.example.test", "/anything/else").await;
    assert_eq!(special.received().len(), 1);
    assert_eq!(edge.origin.received().len(), 2);
}

/// Dot segments, escapes and doubled slashes cannot steer a request past the behavior
/// its resolved path belongs to; the origin still gets the path as sent.
#[tokio::test]
async fn patterns_match_the_resolved_path() {
    let (special, edge) = with_special_origin().await;
    for path in [
        "/public/../echo/special/x",
        "/echo/./special/x",
        "/%65cho/special/x",
        "/public/%2e%2e/echo/special/x",
        "/echo%2Fspecial/x",
        "//echo//special/x",
    ] {
        special.clear();
        // The stub does not resolve paths itself: whatever it answers, it records.
        get(edge.http_addr(), "www.example.test", path).await;
        let seen = special.received();
        assert_eq!(seen.len(), 1, "{path} takes the /echo/special* behavior");
        assert_eq!(seen[0].path, path, "the origin gets the path as sent");
    }
    assert!(edge.origin.received().is_empty());
}

#[tokio::test]
async fn pool_members_share_requests_round_robin() {
    let a = StubOrigin::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let b = StubOrigin::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let config = format!(
        r#"
[origins.pool]
members = [{{ url = "{}" }}, {{ url = "{}", weight = 2 }}]

[[distributions]]
id = "www"
aliases = ["*"]
[distributions.default_behavior]
origin = "pool"
"#,
        a.url(),
        b.url()
    );
    let edge = TestEdge::start(&config).await.unwrap();
    for _ in 0..9 {
        assert_eq!(
            get(edge.http_addr(), "any.example.test", "/echo")
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        (a.received().len(), b.received().len()),
        (3, 6),
        "weights 1:2"
    );
}

#[tokio::test]
async fn dead_origin_is_a_bad_gateway() {
    let dead = StubOrigin::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let url = dead.url();
    dead.stop();
    // Wait until the port really refuses connections (the listener task is aborted).
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(dead.addr).await.is_err() {
            break;
        }
        tokio::task::yield_now().await;
    }
    let config = ROUTES.replace("{stub}", &url);
    let edge = TestEdge::start(&config).await.unwrap();
    let resp = get(edge.http_addr(), "www.example.test", "/echo").await;
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["x-wedge-error"], "origin-connect-error");
}
