//! What the WAF costs per request: the function's part alone (fresh instance, config,
//! viewer-request with the managed rule set) on an ordinary and on an attack request,
//! and whole requests in-process through `Edge::handle` with and without it.

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::Full;
use std::sync::Arc;
use wedge::Edge;
use wedge::config::{Config, FunctionConfig, FunctionId};
use wedge::pipeline::ConnectionInfo;
use wedge::wasm::{EngineSettings, FunctionRun, Hook, HookOutcome, LoadedFunction, WasmEngine};
use wedge_benches::{client, mobile_request, request_id, view};
use wedge_tests::function;

/// The benign request with an SQL injection in its query.
fn attack_request() -> http::request::Parts {
    let mut p = mobile_request();
    p.uri = "/products/shoes?color=red%27%20OR%20%271%27%3D%271&size=42"
        .parse()
        .unwrap();
    p
}

fn function_part(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let engine = WasmEngine::new(&EngineSettings::default()).unwrap();
    let id = request_id();
    let mut group = c.benchmark_group("waf");
    let waf = FunctionConfig {
        decision_cache: 0,
        config: serde_json::json!({ "managed": "block" }),
        ..FunctionConfig::new(function("waf"))
    };
    let waf =
        Arc::new(LoadedFunction::load(&engine, FunctionId::new("waf").unwrap(), &waf).unwrap());
    let off = FunctionConfig {
        decision_cache: 0,
        config: serde_json::json!({}),
        ..FunctionConfig::new(function("waf"))
    };
    let off =
        Arc::new(LoadedFunction::load(&engine, FunctionId::new("waf-off").unwrap(), &off).unwrap());
    let pass = FunctionConfig {
        decision_cache: 0,
        ..FunctionConfig::new(function("hostile"))
    };
    let pass =
        Arc::new(LoadedFunction::load(&engine, FunctionId::new("pass").unwrap(), &pass).unwrap());
    for (name, f, parts, respond) in [
        ("pass-through/benign", &pass, mobile_request(), false),
        ("no-rules/benign", &off, mobile_request(), false),
        ("managed/benign", &waf, mobile_request(), false),
        ("managed/attack", &waf, attack_request(), true),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut run = FunctionRun::new(f.clone(), id);
                let (_, outcome, _) =
                    rt.block_on(run.request(Hook::ViewerRequest, view(parts.clone())));
                assert_eq!(matches!(outcome.unwrap(), HookOutcome::Respond(_)), respond);
            })
        });
    }
    group.finish();
}

fn whole_request(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let text = format!(
        r#"
[origins.app]
members = [{{ url = "http://127.0.0.1:9" }}]
[functions.answer]
module = "{answer}"
[functions.waf]
module = "{waf}"
config = {{ managed = "block" }}
[[distributions]]
id = "www"
aliases = ["www.example.test"]
[[distributions.behaviors]]
path_pattern = "/respond/waf*"
origin = "app"
functions = ["waf", "answer"]
[distributions.default_behavior]
origin = "app"
functions = ["answer"]
"#,
        answer = function("hostile").display(),
        waf = function("waf").display()
    );
    let config = Config::from_toml(&text, "bench.toml".as_ref(), ".".as_ref()).unwrap();
    let edge = rt.block_on(Edge::new(config)).unwrap();
    let conn = ConnectionInfo {
        client_addr: client(),
        scheme: "https",
        sni: Some("www.example.test".into()),
        tls_version: None,
        tls_cipher: None,
    };
    let mut group = c.benchmark_group("waf-pipeline");
    for (name, path, status) in [
        ("handle/respond-only", "/respond?color=red&size=42", 418),
        ("handle/waf+respond", "/respond/waf?color=red&size=42", 418),
        (
            "handle/waf-blocks",
            "/respond/waf?color=red%27%20OR%20%271%27%3D%271",
            403,
        ),
    ] {
        let parts = mobile_request();
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut p = parts.clone();
                p.uri = path.parse().unwrap();
                let req = http::Request::from_parts(p, Full::<Bytes>::default());
                let resp = rt.block_on(edge.handle(&conn, req));
                assert_eq!(resp.status(), status);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, function_part, whole_request);
criterion_main!(benches);
