//! The request path in-process: routing alone, whole requests through `Edge::handle`
//! whose last function answers (so no origin is involved), with and without
//! device-class in front, cache hits (the cache filled once from a local stub origin),
//! bare and with three functions, and requests proxied to a minimal keep-alive origin
//! on loopback (the origin's and the kernel's part included), bare and with device-class.

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use wedge::Edge;
use wedge::config::Config;
use wedge::router::Router;
use wedge_benches::mobile_request;
use wedge_tests::function;

fn config(stub: &str, tiny: &str) -> Config {
    let device = function("device-class").display().to_string();
    let hostile = function("hostile").display().to_string();
    let cache_key = function("cache-key").display().to_string();
    let security = function("security-headers").display().to_string();
    let mut text = format!(
        r#"
[origins.app]
members = [{{ url = "http://127.0.0.1:9" }}]
[origins.stub]
members = [{{ url = "{stub}" }}]
[origins.tiny]
members = [{{ url = "{tiny}" }}]
[functions.device-class]
module = "{device}"
[functions.answer]
module = "{hostile}"
[functions.cache-key]
module = "{cache_key}"
[functions.security-headers]
module = "{security}"
[cache_policies.all]
[[distributions]]
id = "cached"
aliases = ["cached.example.test"]
[[distributions.behaviors]]
path_pattern = "/bare/*"
origin = "stub"
cache_policy = "all"
[distributions.default_behavior]
origin = "stub"
functions = ["device-class", "cache-key", "security-headers"]
cache_policy = "all"
"#
    );
    text.push_str("[[distributions]]\nid = \"proxied\"\naliases = [\"proxied.example.test\"]\n[[distributions.behaviors]]\npath_pattern = \"/device/*\"\norigin = \"tiny\"\nfunctions = [\"device-class\"]\n[distributions.default_behavior]\norigin = \"tiny\"\n");
    // A realistic routing table: 20 sites, each with 5 ordered behaviors.
    for i in 0..20 {
        text.push_str(&format!("[[distributions]]\nid = \"site{i}\"\naliases = [\"site{i}.example.test\", \"*.site{i}.example.test\"]\n"));
        for p in ["/api/*", "/static/*", "/images/*.jpg", "/v?/*", "/respond*"] {
            text.push_str(&format!("[[distributions.behaviors]]\npath_pattern = \"{p}\"\norigin = \"app\"\nfunctions = [\"answer\"]\n"));
        }
        text.push_str("[distributions.default_behavior]\norigin = \"app\"\nfunctions = [\"device-class\", \"answer\"]\n");
    }
    text.push_str("[[distributions]]\nid = \"www\"\naliases = [\"www.example.test\"]\n[[distributions.behaviors]]\npath_pattern = \"/respond\"\norigin = \"app\"\nfunctions = [\"answer\"]\n[distributions.default_behavior]\norigin = \"app\"\nfunctions = [\"device-class\", \"answer\"]\n");
    Config::from_toml(&text, "bench.toml".as_ref(), ".".as_ref()).unwrap()
}

fn pipeline(c: &mut Criterion) {
    let rt = wedge_benches::runtime();
    let stub = rt
        .block_on(wedge::stub_origin::StubOrigin::start_recording(
            "127.0.0.1:0".parse().unwrap(),
            0,
        ))
        .unwrap();
    let tiny = rt.block_on(tiny_origin());
    let config = config(&stub.url(), &tiny);
    let router = Router::new(&config);
    let edge = rt.block_on(Edge::new(config)).unwrap();
    let conn = wedge_benches::connection();

    let mut group = c.benchmark_group("pipeline");
    group.bench_function("route/last-site-default", |b| {
        b.iter(|| router.route("www.example.test", "/products/shoes").unwrap())
    });
    group.bench_function("route/wildcard-ordered", |b| {
        b.iter(|| {
            router
                .route("img.site7.example.test", "/images/a/b.jpg")
                .unwrap()
        })
    });
    for (name, path) in [
        ("respond-only", "/respond"),
        ("device-class+respond", "/respond/device"),
    ] {
        let parts = mobile_request();
        group.bench_function(format!("handle/{name}"), |b| {
            b.iter(|| {
                let mut p = parts.clone();
                p.uri = path.parse().unwrap();
                let req = http::Request::from_parts(p, Full::<Bytes>::default());
                let resp = rt.block_on(edge.handle(&conn, req));
                assert_eq!(resp.status(), 418);
            })
        });
    }
    // A whole request to `host`: its status and X-Cache, the body read to its end.
    let (rt, edge, conn) = (&rt, &edge, &conn);
    let send = |host: &'static str, path: &str| {
        let mut parts = mobile_request();
        parts.uri = path.parse().unwrap();
        parts
            .headers
            .insert("host", http::HeaderValue::from_static(host));
        move || {
            let req = http::Request::from_parts(parts.clone(), Full::<Bytes>::default());
            rt.block_on(async {
                let resp = edge.handle(conn, req).await;
                let status = resp.status();
                let cache = resp.headers().get("x-cache").cloned();
                http_body_util::BodyExt::collect(resp.into_body())
                    .await
                    .unwrap();
                (status, cache)
            })
        }
    };
    for (name, path) in [
        ("cache-hit", "/bare/cache/x?cc=max-age=86400"),
        ("cache-hit+3-functions", "/cache/x?cc=max-age=86400"),
    ] {
        let send = send("cached.example.test", path);
        send(); // fills the cache
        group.bench_function(format!("handle/{name}"), |b| {
            b.iter(|| assert_eq!(send().1.unwrap(), "Hit from wedge"))
        });
    }
    for (name, path) in [
        ("proxy", "/1k.html"),
        ("proxy+device-class", "/device/1k.html"),
    ] {
        let send = send("proxied.example.test", path);
        group.bench_function(format!("handle/{name}"), |b| {
            b.iter(|| assert_eq!(send().0, 200))
        });
    }
    group.finish();
}

/// A keep-alive HTTP/1.1 origin on loopback answering every request with the same
/// 1 KiB page, as cheaply as it can (the load comparison's nginx origin in miniature).
async fn tiny_origin() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let mut response = b"HTTP/1.1 200 OK\r\nServer: tiny\r\nContent-Type: text/html\r\nContent-Length: 1024\r\nConnection: keep-alive\r\n\r\n".to_vec();
    response.extend_from_slice(&[b'x'; 1024]);
    let response: &'static [u8] = response.leak();
    tokio::spawn(async move {
        loop {
            let Ok((mut tcp, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let mut buf = Vec::with_capacity(4096);
                loop {
                    // Requests have no body: one head, one answer.
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match tcp.read_buf(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                    }
                    buf.clear();
                    if tcp.write_all(response).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    format!("http://{addr}")
}

/// Each example function's whole part in one request (all its hooks, in a reused
/// instance: every example declares `REUSE_INSTANCE`),
/// through the harness, against the answer-at-origin-request fixture so no network is
/// involved: the cost a behavior pays per function.
fn examples(c: &mut Criterion) {
    use wedge::testing::Harness;
    let rt = wedge_benches::runtime();
    let mut group = c.benchmark_group("example");
    let examples = [
        ("baseline", None, serde_json::json!({})),
        (
            "cache-key",
            Some("cache-key"),
            serde_json::json!({ "query_allowlist": ["color", "size"] }),
        ),
        (
            "header-forwarding",
            Some("header-forwarding"),
            serde_json::json!({ "allow": ["accept", "user-agent"], "add": { "x-edge": "wedge" } }),
        ),
        (
            "redirects",
            Some("redirects"),
            serde_json::json!({ "https": false, "trailing_slash": "off" }),
        ),
        (
            "security-headers",
            Some("security-headers"),
            serde_json::json!({}),
        ),
    ];
    for (name, module, config) in examples {
        let mut h = Harness::new();
        if let Some(m) = module {
            h = h.function_with_config(name, function(m), config);
        }
        // The lifecycle fixture answers /answer at origin-request: no origin needed.
        let h = h.function_with_config(
            "answer",
            function("lifecycle"),
            serde_json::json!({ "tag": "x" }),
        );
        let run = rt.block_on(h.start()).unwrap();
        let parts = mobile_request();
        group.bench_function(format!("{name}/whole-request"), |b| {
            b.iter(|| {
                let mut p = parts.clone();
                p.uri = "/answer".parse().unwrap();
                let resp = rt.block_on(run.send(http::Request::from_parts(p, Bytes::new())));
                assert_eq!(resp.status(), 202);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, pipeline, examples);
criterion_main!(benches);
