//! Per-function cost on a realistic request: the viewer-request hook in a fresh
//! instance, in a reused instance (functions that declare their hooks stateless), and
//! as a reused decision (functions that declare their inputs).

use criterion::{Criterion, criterion_group, criterion_main};
use wedge::wasm::{EngineSettings, FunctionRun, WasmEngine};
use wedge_benches::{Load, mobile_request, request_id, view};

fn functions(c: &mut Criterion) {
    let rt = wedge_benches::runtime();
    let engine = WasmEngine::new(&EngineSettings::default()).unwrap();
    let id = request_id();
    let mut group = c.benchmark_group("function");
    // (name, module, decision cache entries, requests per instance, what is measured)
    let cases = [
        ("device-class", "device-class", 0, 0, "fresh-instance"),
        ("device-class", "device-class", 0, 10_000, "reused-instance"),
        ("device-class", "device-class", 10_000, 0, "reused-decision"),
        ("pass-through", "hostile", 0, 0, "fresh-instance"),
        ("pass-through", "recycle", 0, u32::MAX, "reused-instance"),
    ];
    for (name, module, cache, reuse, mode) in cases {
        let f = Load {
            module,
            config: serde_json::json!({}),
            reuse,
            decisions: cache,
        }
        .load_into(&engine, name);
        let parts = mobile_request();
        group.bench_function(format!("{name}/{mode}"), |b| {
            b.iter(|| {
                let v = view(parts.clone());
                let mut run = FunctionRun::new(f.clone(), id);
                let (_, outcome, _) = rt.block_on(run.request(wedge::wasm::Hook::ViewerRequest, v));
                outcome.unwrap()
            })
        });
    }
    group.bench_function("baseline/clone-request", |b| {
        b.iter(|| view(mobile_request()))
    });
    group.finish();
}

criterion_group!(benches, functions);
criterion_main!(benches);
