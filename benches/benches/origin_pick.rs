//! Cost of choosing an origin member (health, limit and in-flight accounting included)
//! per balancing strategy and pool size.

use criterion::{Criterion, criterion_group, criterion_main};
use wedge::config::{Balance, HashOn, OriginId, OriginMember, OriginPoolConfig};
use wedge::origin::{OriginPool, OriginShared};

fn pick(c: &mut Criterion) {
    let shared = OriginShared::default();
    let mut group = c.benchmark_group("origin_pick");
    let strategies = [
        ("round_robin", Balance::RoundRobin),
        ("least_outstanding", Balance::LeastOutstanding),
        ("hash", Balance::Hash(HashOn::CacheKey)),
    ];
    for members in [2usize, 16] {
        for (name, balance) in &strategies {
            let config = OriginPoolConfig {
                balance: balance.clone(),
                ..OriginPoolConfig::new(
                    (0..members)
                        .map(|i| OriginMember {
                            url: format!("http://10.0.0.{i}:8080").parse().unwrap(),
                            weight: 1 + (i as u32 % 3),
                        })
                        .collect(),
                )
            };
            let pool = OriginPool::new(OriginId::new("bench").unwrap(), &config, &shared).unwrap();
            group.bench_function(format!("{name}/{members}"), |b| {
                b.iter(|| pool.pick("www.example.com/images/cat.jpg", &[]).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, pick);
criterion_main!(benches);
