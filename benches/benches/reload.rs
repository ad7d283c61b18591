//! Reload latency: from a changed file to the new snapshot serving, with the module's
//! compiled artifact already cached (a config or certificate change, or a module seen
//! before) and cold (a module never compiled: every iteration writes new bytes).

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use wedge::Edge;
use wedge_tests::function;

/// The module with a custom section appended, so its content hash is new.
fn variant(base: &[u8], n: u64) -> Vec<u8> {
    let name = b"wedge-bench";
    let payload = n.to_le_bytes();
    let body_len = 1 + name.len() + payload.len();
    let mut out = base.to_vec();
    out.push(0); // custom section
    out.push(body_len as u8);
    out.push(name.len() as u8);
    out.extend_from_slice(name);
    out.extend_from_slice(&payload);
    out
}

fn reload(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("device_class.wasm");
    let base = std::fs::read(function("device-class")).unwrap();
    std::fs::write(&module, &base).unwrap();
    let config = dir.path().join("wedge.toml");
    std::fs::write(
        &config,
        "[origins.o]\nmembers = [{ url = \"http://127.0.0.1:9\" }]\n[functions.device-class]\nmodule = \"device_class.wasm\"\n[[distributions]]\nid = \"d\"\naliases = [\"*\"]\n[distributions.default_behavior]\norigin = \"o\"\nfunctions = [\"device-class\"]\n",
    )
    .unwrap();
    let edge: Edge = rt.block_on(Edge::from_config_file(&config)).unwrap();

    let mut group = c.benchmark_group("reload");
    group.sample_size(20);
    // Two variants alternate: after the first round both are in the artifact cache.
    let warm = [variant(&base, u64::MAX), variant(&base, u64::MAX - 1)];
    let mut i = 0usize;
    group.bench_function("file-write-to-serving/precompiled", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                i += 1;
                let started = Instant::now();
                std::fs::write(&module, &warm[i % 2]).unwrap();
                rt.block_on(edge.reload_from_source()).unwrap();
                total += started.elapsed();
            }
            total
        })
    });
    let mut n = 0u64;
    group.bench_function("file-write-to-serving/cold-compile", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                n += 1;
                let bytes = variant(&base, n + std::process::id() as u64 * 1_000_000);
                let started = Instant::now();
                std::fs::write(&module, &bytes).unwrap();
                rt.block_on(edge.reload_from_source()).unwrap();
                total += started.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, reload);
criterion_main!(benches);
