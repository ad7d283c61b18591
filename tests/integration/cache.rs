//! The edge cache: freshness per RFC 9111 with policy TTLs, Vary, revalidation,
//! collapsing, stale-while-revalidate and stale-if-error, ranges, conditionals, purges,
//! the byte bound, and keys that include the device class.

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::Full;
use wedge::stub_origin::StubFault;
use wedge_tests::{TestEdge, http_get, send, wait_until};

const SITE: &str = r#"
[cache]
max_size_mb = 1
max_object_mb = 1

[cache_policies.standard]
default_ttl = 3600

[cache_policies.by-device]
headers = { behavior = "allowlist", names = ["x-device-class"] }

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

[[distributions.behaviors]]
path_pattern = "/static/*"
origin = "stub"
functions = ["device-class"]
cache_policy = "by-device"

[[distributions.behaviors]]
path_pattern = "/echo*"
origin = "stub"

[distributions.default_behavior]
origin = "stub"
cache_policy = "standard"
"#;

const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
const DESKTOP: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";

async fn get(edge: &TestEdge, path: &str, headers: &[(&str, &str)]) -> http::Response<Bytes> {
    http_get(edge.http_addr(), "www.test", path, headers)
        .await
        .unwrap()
}

fn x_cache(resp: &http::Response<Bytes>) -> &str {
    resp.headers()["x-cache"].to_str().unwrap()
}

fn served(resp: &http::Response<Bytes>) -> String {
    String::from_utf8_lossy(resp.body()).into_owned()
}

#[tokio::test]
async fn a_miss_then_hits_with_age() {
    let edge = TestEdge::start(SITE).await.unwrap();
    let path = "/cache/a?cc=public,%20max-age=600";
    let first = get(&edge, path, &[]).await;
    assert_eq!(first.status(), 200);
    assert_eq!(x_cache(&first), "Miss from wedge");
    for _ in 0..3 {
        let again = get(&edge, path, &[]).await;
        assert_eq!(x_cache(&again), "Hit from wedge");
        assert_eq!(served(&again), served(&first));
        assert!(again.headers().contains_key("age"));
        assert_eq!(again.headers()["cache-control"], "public, max-age=600");
    }
    assert_eq!(edge.origin.count("/cache/a"), 1);
    // Not every method is cached: a POST goes to the origin.
    let post = send(
        edge.http_addr(),
        None,
        Request::post(path)
            .header("host", "www.test")
            .body(Full::<Bytes>::default())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(x_cache(&post), "Miss from wedge");
    assert_eq!(edge.origin.count("/cache/a"), 2);
    // ... and, having succeeded, drops the cached copies of its URL (RFC 9111 §4.4).
    let after_post = get(&edge, path, &[]).await;
    assert_eq!(x_cache(&after_post), "Miss from wedge");
    assert_ne!(served(&after_post), served(&first));
    // Behaviors without a cache policy never cache.
    get(&edge, "/echo", &[]).await;
    let echo = get(&edge, "/echo", &[]).await;
    assert_eq!(x_cache(&echo), "Miss from wedge");
    assert_eq!(edge.origin.count("/echo"), 2);
}

/// Origin headers (as query), request headers, whether the second request is answered
/// from the cache.
type Row = (&'static str, &'static [(&'static str, &'static str)], bool);

#[tokio::test]
async fn freshness_matrix() {
    let edge = TestEdge::start(SITE).await.unwrap();
    let rows: &[Row] = &[
        ("cc=max-age=600", &[], true),
        ("cc=s-maxage=600,%20max-age=0", &[], true),
        ("cc=public", &[], true),
        // No lifetime from the origin: the policy's default TTL (3600 s).
        ("", &[], true),
        ("expires=x&cc=no-store", &[], false),
        ("cc=private,%20max-age=600", &[], false),
        ("cc=max-age=0", &[], false),
        // s-maxage 0 in a shared cache beats max-age.
        ("cc=max-age=600,%20s-maxage=0", &[], false),
        ("cc=max-age=600", &[("authorization", "Bearer x")], false),
        (
            "cc=public,%20max-age=600",
            &[("authorization", "Bearer x")],
            true,
        ),
        ("cc=max-age=600&vary=*", &[], false),
        // The viewer's no-cache does not bypass the edge (as CloudFront and nginx).
        ("cc=max-age=600", &[("cache-control", "no-cache")], true),
    ];
    for (i, (query, headers, cached)) in rows.iter().enumerate() {
        let path = format!("/cache/row{i}?{query}");
        let first = get(&edge, &path, headers).await;
        assert_eq!(x_cache(&first), "Miss from wedge", "row {i}: {query}");
        let second = get(&edge, &path, headers).await;
        let expected = if *cached {
            "Hit from wedge"
        } else {
            "Miss from wedge"
        };
        assert_eq!(x_cache(&second), expected, "row {i}: {query} {headers:?}");
        let origin_hits = edge.origin.count(&format!("/cache/row{i}"));
        assert_eq!(origin_hits, if *cached { 1 } else { 2 }, "row {i}");
    }
}

#[tokio::test]
async fn stale_entries_revalidate_with_the_validator_and_refresh_on_304() {
    let edge = TestEdge::start(SITE).await.unwrap();
    let path = "/cache/v?cc=no-cache&etag=%22v1%22";
    let first = get(&edge, path, &[]).await;
    assert_eq!(x_cache(&first), "Miss from wedge");
    let second = get(&edge, path, &[]).await;
    assert_eq!(x_cache(&second), "RefreshHit from wedge");
    assert_eq!(served(&second), served(&first), "the stored body is reused");
    let revalidation = edge.origin.last().unwrap();
    assert_eq!(revalidation.header("if-none-match"), Some("\"v1\""));
    // The viewer's own validator is answered by the edge.
    let conditional = get(&edge, path, &[("if-none-match", "\"v1\"")]).await;
    assert_eq!(conditional.status(), StatusCode::NOT_MODIFIED);
    assert!(conditional.body().is_empty());
}

#[tokio::test]
async fn responses_vary_on_the_headers_they_name() {
    let edge = TestEdge::start(SITE).await.unwrap();
    let path = "/cache/vary?cc=max-age=600&vary=accept-language";
    let en = get(&edge, path, &[("accept-language", "en")]).await;
    let fr = get(&edge, path, &[("accept-language", "fr")]).await;
    assert_eq!(x_cache(&fr), "Miss from wedge");
    assert_ne!(served(&en), served(&fr));
    let en_again = get(&edge, path, &[("accept-language", "en")]).await;
    assert_eq!(x_cache(&en_again), "Hit from wedge");
    assert_eq!(served(&en_again), served(&en));
    let fr_again = get(&edge, path, &[("accept-language", "fr")]).await;
    assert_eq!(served(&fr_again), served(&fr));
    assert_eq!(edge.origin.count("/cache/vary"), 2);
}

#[tokio::test]
async fn concurrent_misses_make_one_origin_request() {
    let edge = TestEdge::start(SITE).await.unwrap();
    let path = "/cache/collapse?cc=max-age=600&delay=300";
    let addr = edge.http_addr();
    let requests = (0..20)
        .map(|_| tokio::spawn(async move { http_get(addr, "www.test", path, &[]).await.unwrap() }));
    let mut bodies = Vec::new();
    for r in requests {
        let resp = r.await.unwrap();
        assert_eq!(resp.status(), 200);
        bodies.push(served(&resp));
    }
    assert_eq!(edge.origin.count("/cache/collapse"), 1);
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    let (_, status) = edge.admin("GET", "/status", None).await;
    assert_eq!(status["cache"]["misses"], 1, "{status}");
    assert_eq!(status["cache"]["hits"], 19, "{status}");
}

#[tokio::test]
async fn stale_if_error_serves_the_stale_copy_while_the_origin_is_down() {
    let edge = TestEdge::start(SITE).await.unwrap();
    let path = "/cache/sie?cc=max-age=0,%20stale-if-error=600&etag=%22e%22";
    let first = get(&edge, path, &[]).await;
    assert_eq!(first.status(), 200);
    edge.origin.set_fault(Some(StubFault::Status(503)));
    let stale = get(&edge, path, &[]).await;
    assert_eq!(stale.status(), 200);
    assert_eq!(x_cache(&stale), "Hit from wedge");
    assert_eq!(served(&stale), served(&first));
    // Without stale-if-error the origin's failure reaches the viewer.
    let plain = "/cache/nosie?cc=max-age=0&etag=%22e%22";
    edge.origin.set_fault(None);
    get(&edge, plain, &[]).await;
    edge.origin.set_fault(Some(StubFault::Status(503)));
    let failed = get(&edge, plain, &[]).await;
    assert_eq!(failed.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(x_cache(&failed), "Error from wedge");
}

#[tokio::test]
async fn stale_if_error_covers_an_origin_that_refuses_connections() {
    let edge = TestEdge::start(SITE).await.unwrap();
    let path = "/cache/refused?cc=max-age=0,%20stale-if-error=600&etag=%22r%22";
    let first = get(&edge, path, &[]).await;
    assert_eq!(first.status(), 200);
    // The same sites with their origin on a port nobody listens on; the cache
    // survives the reload.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let text =
        wedge_tests::render(SITE, &edge.pki, &edge.origin).replace(&edge.origin.url(), &dead);
    std::fs::write(&edge.config_path, text).unwrap();
    edge.edge.reload_from_source().await.unwrap();
    let stale = get(&edge, path, &[]).await;
    assert_eq!(stale.status(), 200, "{:?}", stale.headers());
    assert_eq!(x_cache(&stale), "Hit from wedge");
    assert_eq!(served(&stale), served(&first));
    // Without a stale copy the refusal is a 502 naming the reason.
    let miss = get(&edge, "/cache/never-seen", &[]).await;
    assert_eq!(miss.status(), StatusCode::BAD_GATEWAY);
    assert_eq!(miss.headers()["x-wedge-error"], "origin-connect-error");
}

#[tokio::test]
async fn stale_while_revalidate_answers_at_once_and_refreshes_behind() {
    let edge = TestEdge::start(SITE).await.unwrap();
    let path = "/cache/swr?cc=max-age=0,%20stale-while-revalidate=600&etag=%22s%22";
    let first = get(&edge, path, &[]).await;
    let stale = get(&edge, path, &[]).await;
    assert_eq!(x_cache(&stale), "Hit from wedge");
    assert_eq!(served(&stale), served(&first));
    // The refresh happens off the request path; wait for it to reach the origin.
    wait_until("the background refresh reaches the origin", || async {
        edge.origin.count("/cache/swr") >= 2
    })
    .await;
    assert_eq!(edge.origin.count("/cache/swr"), 2, "one background refresh");
    let refresh = edge.origin.last().unwrap();
    assert_eq!(refresh.path, "/cache/swr");
    assert_eq!(refresh.header("if-none-match"), Some("\"s\""));
    let (_, status) = edge.admin("GET", "/status", None).await;
    assert_eq!(status["cache"]["stale_served"], 1, "{status}");
}

#[tokio::test]
async fn ranges_and_head_are_answered_from_the_cached_object() {
    let edge = TestEdge::start(SITE).await.unwrap();
    let path = "/cache/range?cc=max-age=600&size=1000&etag=%22r%22";
    let full = get(&edge, path, &[]).await;
    assert_eq!(full.body().len(), 1000);
    let part = get(&edge, path, &[("range", "bytes=10-19")]).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.headers()["content-range"], "bytes 10-19/1000");
    assert_eq!(part.body(), &full.body()[10..20]);
    let tail = get(&edge, path, &[("range", "bytes=-5")]).await;
    assert_eq!(tail.body(), &full.body()[995..]);
    let beyond = get(&edge, path, &[("range", "bytes=5000-")]).await;
    assert_eq!(beyond.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    let head = send(
        edge.http_addr(),
        None,
        Request::head(path)
            .header("host", "www.test")
            .body(Full::<Bytes>::default())
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(x_cache(&head), "Hit from wedge");
    assert_eq!(head.headers()["content-length"], "1000");
    assert!(head.body().is_empty());
    assert_eq!(edge.origin.count("/cache/range"), 1);
}

#[tokio::test]
async fn purge_by_url_prefix_and_key() {
    let edge = TestEdge::start(SITE).await.unwrap();
    for p in ["/cache/p/1", "/cache/p/2", "/cache/q"] {
        get(&edge, p, &[]).await;
        assert_eq!(x_cache(&get(&edge, p, &[]).await), "Hit from wedge");
    }
    let (status, body) = edge
        .admin("POST", "/purge?url=https://www.test/cache/p/1", None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["purged"], 1);
    assert_eq!(
        x_cache(&get(&edge, "/cache/p/1", &[]).await),
        "Miss from wedge"
    );
    assert_eq!(
        x_cache(&get(&edge, "/cache/p/2", &[]).await),
        "Hit from wedge"
    );
    let (_, body) = edge
        .admin("POST", "/purge?prefix=www.test/cache/p/", None)
        .await;
    assert_eq!(body["purged"], 2);
    assert_eq!(
        x_cache(&get(&edge, "/cache/p/2", &[]).await),
        "Miss from wedge"
    );
    assert_eq!(
        x_cache(&get(&edge, "/cache/q", &[]).await),
        "Hit from wedge"
    );
    let (_, body) = edge
        .admin("POST", "/purge?key=www.test/cache/q", None)
        .await;
    assert_eq!(body["purged"], 1);
    assert_eq!(
        x_cache(&get(&edge, "/cache/q", &[]).await),
        "Miss from wedge"
    );
    let (status, _) = edge.admin("POST", "/purge", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = edge.admin("GET", "/purge?all", None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_flood_of_distinct_keys_stays_within_the_byte_bound() {
    let edge = TestEdge::start(SITE).await.unwrap();
    // 300 objects of 10 KB: three times the 1 MiB bound.
    for i in 0..300 {
        let resp = get(&edge, &format!("/cache/flood/{i}?size=10000"), &[]).await;
        assert_eq!(resp.body().len(), 10_000);
    }
    let (_, status) = edge.admin("GET", "/status", None).await;
    let bytes = status["cache"]["bytes"].as_u64().unwrap();
    assert!(bytes <= 1 << 20, "cache holds {bytes} bytes");
    assert!(status["cache"]["entries"].as_u64().unwrap() > 0);
    // An object over max_object_mb streams whole and is not kept.
    let big = "/cache/big?size=2000000";
    assert_eq!(get(&edge, big, &[]).await.body().len(), 2_000_000);
    let again = get(&edge, big, &[]).await;
    assert_eq!(again.body().len(), 2_000_000);
    assert_eq!(x_cache(&again), "Miss from wedge");
}

#[tokio::test]
async fn keys_include_the_device_class() {
    let edge = TestEdge::start(SITE).await.unwrap();
    let phone = get(&edge, "/static/app.css", &[("user-agent", IPHONE)]).await;
    let desk = get(&edge, "/static/app.css", &[("user-agent", DESKTOP)]).await;
    assert_eq!(x_cache(&phone), "Miss from wedge");
    assert_eq!(x_cache(&desk), "Miss from wedge");
    assert_ne!(served(&phone), served(&desk));
    let other_phone = get(
        &edge,
        "/static/app.css",
        &[("user-agent", "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Mobile Safari/537.36")],
    )
    .await;
    assert_eq!(x_cache(&other_phone), "Hit from wedge");
    assert_eq!(served(&other_phone), served(&phone));
    assert_eq!(edge.origin.count("/static/app.css"), 2);
}

#[tokio::test]
async fn hits_over_tls_and_http2() {
    let edge = TestEdge::start(SITE).await.unwrap();
    let tls = edge.tls_options(Some("www.example.test"), &[b"h2"]);
    let path = "/cache/h2?cc=max-age=600";
    let mut bodies = Vec::new();
    for expected in ["Miss from wedge", "Hit from wedge"] {
        let req = Request::get(path)
            .header("host", "www.example.test")
            .body(Full::<Bytes>::default())
            .unwrap();
        let resp = send(edge.https_addr(), Some(&tls), req).await.unwrap();
        assert_eq!(resp.version(), http::Version::HTTP_2);
        assert_eq!(x_cache(&resp), expected);
        bodies.push(served(&resp));
    }
    assert_eq!(bodies[0], bodies[1]);
}

#[tokio::test]
async fn a_reload_keeps_the_cache() {
    let edge = TestEdge::start(SITE).await.unwrap();
    get(&edge, "/cache/keep?cc=max-age=600", &[]).await;
    edge.edge.reload_from_source().await.unwrap();
    let after = get(&edge, "/cache/keep?cc=max-age=600", &[]).await;
    assert_eq!(x_cache(&after), "Hit from wedge");
}
