//! The request path without network: routing alone, and whole requests through
//! `Edge::handle` whose last function answers (so no origin is involved), with and
//! without device-class in front.

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use wedge::Edge;
use wedge::config::Config;
use wedge::pipeline::ConnectionInfo;
use wedge::router::Router;
use wedge_benches::{client, mobile_request};
use wedge_tests::function;

fn config() -> Config {
    let device = function("device-class").display().to_string();
    let hostile = function("hostile").display().to_string();
    let mut text = format!(
        r#"
[origins.app]
members = [{{ url = "http://127.0.0.1:9" }}]
[functions.device-class]
module = "{device}"
[functions.answer]
module = "{hostile}"
"#
    );
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
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let config = config();
    let router = Router::new(&config);
    let edge = rt.block_on(Edge::new(config)).unwrap();
    let conn = ConnectionInfo {
        client_addr: client(),
        scheme: "https",
        sni: Some("www.example.test".into()),
        tls_version: None,
        tls_cipher: None,
    };

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
    group.finish();
}

/// Each example function's whole part in one request (fresh instance, all its hooks),
/// through the harness, against the answer-at-origin-request fixture so no network is
/// involved: the cost a behavior pays per function.
fn examples(c: &mut Criterion) {
    use wedge::testing::Harness;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
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
