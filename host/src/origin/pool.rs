//! Weighted round-robin over a pool's members.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::{OriginId, OriginPoolConfig};

/// One member: its scheme and authority, ready to prefix a path.
#[derive(Debug, Clone)]
pub struct PoolMember {
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    pub weight: u32,
}

/// A pool picks members in a smooth weighted rotation: with weights 2 and 1 the order
/// is A, B, A, A, B, A... rather than A, A, B.
#[derive(Debug)]
pub struct OriginPool {
    pub id: OriginId,
    pub members: Vec<PoolMember>,
    schedule: Vec<usize>,
    next: AtomicUsize,
}

impl OriginPool {
    pub fn new(id: OriginId, config: &OriginPoolConfig) -> Self {
        let members: Vec<PoolMember> = config
            .members
            .iter()
            .filter_map(|m| {
                Some(PoolMember {
                    scheme: m.url.scheme()?.clone(),
                    authority: m.url.authority()?.clone(),
                    weight: m.weight.max(1),
                })
            })
            .collect();
        let schedule = smooth_schedule(&members.iter().map(|m| m.weight).collect::<Vec<_>>());
        Self {
            id,
            members,
            schedule,
            next: AtomicUsize::new(0),
        }
    }

    /// The next member in rotation, or `None` for an empty pool.
    pub fn pick(&self) -> Option<&PoolMember> {
        if self.schedule.is_empty() {
            return None;
        }
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.members.get(self.schedule[n % self.schedule.len()])
    }
}

/// Nginx-style smooth weighted round-robin, unrolled into one cycle of indices.
fn smooth_schedule(weights: &[u32]) -> Vec<usize> {
    let total: i64 = weights.iter().map(|&w| w as i64).sum();
    // Bound the cycle so absurd weights cannot allocate without limit.
    let cycle = total.clamp(0, 10_000) as usize;
    let mut current = vec![0i64; weights.len()];
    let mut out = Vec::with_capacity(cycle);
    for _ in 0..cycle {
        for (c, &w) in current.iter_mut().zip(weights) {
            *c += w as i64;
        }
        let Some(best) = (0..weights.len()).max_by_key(|&i| (current[i], std::cmp::Reverse(i)))
        else {
            break;
        };
        current[best] -= total;
        out.push(best);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_weighted_rotation() {
        assert_eq!(smooth_schedule(&[1, 1]), vec![0, 1]);
        assert_eq!(smooth_schedule(&[2, 1]), vec![0, 1, 0]);
        let s = smooth_schedule(&[5, 1, 1]);
        assert_eq!(s.iter().filter(|&&i| i == 0).count(), 5);
        assert_eq!(s.len(), 7);
    }
}
