//! Choosing a member: smooth weighted round-robin, least outstanding requests, or
//! weighted rendezvous hashing. Every strategy skips members the caller rules out
//! (unhealthy, ejected, at their request limit, already tried).

use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::Balance;

/// Per-pool balancing state.
#[derive(Debug)]
pub struct Balancer {
    kind: Kind,
    next: AtomicUsize,
}

#[derive(Debug)]
enum Kind {
    RoundRobin { schedule: Vec<usize> },
    LeastOutstanding,
    Hash,
}

/// What the balancer needs to know about a member at pick time.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    pub weight: u32,
    pub outstanding: usize,
    /// A stable identity (the member's URL) so a key maps to the same member across
    /// reloads and reorderings.
    pub identity: u64,
    pub usable: bool,
}

impl Balancer {
    pub fn new(balance: &Balance, weights: &[u32]) -> Self {
        let kind = match balance {
            Balance::RoundRobin => Kind::RoundRobin {
                schedule: smooth_schedule(weights),
            },
            Balance::LeastOutstanding => Kind::LeastOutstanding,
            Balance::Hash(_) => Kind::Hash,
        };
        Self {
            kind,
            next: AtomicUsize::new(0),
        }
    }

    /// The index of the chosen usable candidate among `n`, described on demand by
    /// `candidate` (no per-pick allocation). `key` is used by hashing only.
    pub fn pick(
        &self,
        n: usize,
        candidate: impl Fn(usize) -> Candidate,
        key: &str,
    ) -> Option<usize> {
        match &self.kind {
            Kind::RoundRobin { schedule } => {
                if schedule.is_empty() {
                    return None;
                }
                // Walk the cycle from the next slot so unusable members hand their turn on.
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                (0..schedule.len())
                    .map(|i| schedule[(start + i) % schedule.len()])
                    .find(|&m| m < n && candidate(m).usable)
            }
            Kind::LeastOutstanding => {
                if n == 0 {
                    return None;
                }
                // Start the scan at a rotating offset so ties spread instead of piling
                // onto the first member.
                let start = self.next.fetch_add(1, Ordering::Relaxed);
                let mut best: Option<(usize, Candidate)> = None;
                for i in (0..n).map(|i| (start + i) % n) {
                    let c = candidate(i);
                    if !c.usable {
                        continue;
                    }
                    // Fewest in flight per unit of weight: a/wa < b/wb ⇔ a·wb < b·wa.
                    let better = best.as_ref().is_none_or(|(_, b)| {
                        (c.outstanding as u64) * u64::from(b.weight)
                            < (b.outstanding as u64) * u64::from(c.weight)
                    });
                    if better {
                        best = Some((i, c));
                    }
                }
                best.map(|(i, _)| i)
            }
            Kind::Hash => {
                let k = hash_of(&key);
                (0..n)
                    .map(|i| (i, candidate(i)))
                    .filter(|(_, c)| c.usable)
                    .map(|(i, c)| (i, rendezvous_score(k, c.identity, c.weight)))
                    .max_by(|a, b| a.1.total_cmp(&b.1))
                    .map(|(i, _)| i)
            }
        }
    }
}

/// A stable 64-bit hash (SipHash with fixed keys: the same on every run and host).
pub fn hash_of<T: Hash + ?Sized>(v: &T) -> u64 {
    #[allow(deprecated)]
    let mut h = std::hash::SipHasher::new();
    v.hash(&mut h);
    h.finish()
}

/// Weighted rendezvous (highest random weight) score: `-w / ln(u)` with `u` uniform in
/// (0, 1) from the key and member; a member gets keys in proportion to its weight.
fn rendezvous_score(key: u64, member: u64, weight: u32) -> f64 {
    let h = hash_of(&(key, member));
    // 53 random bits into (0, 1), never 0 or 1.
    let u = ((h >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
    -f64::from(weight) / u.ln()
}

/// Nginx-style smooth weighted round-robin, unrolled into one cycle of indices: with
/// weights 2 and 1 the order is A, B, A rather than A, A, B.
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
    use crate::config::HashOn;

    fn cands(weights: &[u32]) -> Vec<Candidate> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| Candidate {
                weight: w,
                outstanding: 0,
                identity: hash_of(&format!("m{i}")),
                usable: true,
            })
            .collect()
    }

    #[test]
    fn smooth_weighted_rotation() {
        assert_eq!(smooth_schedule(&[1, 1]), vec![0, 1]);
        assert_eq!(smooth_schedule(&[2, 1]), vec![0, 1, 0]);
        let s = smooth_schedule(&[5, 1, 1]);
        assert_eq!(s.iter().filter(|&&i| i == 0).count(), 5);
        assert_eq!(s.len(), 7);
    }

    #[test]
    fn round_robin_skips_unusable_members() {
        let b = Balancer::new(&Balance::RoundRobin, &[1, 1, 1]);
        let mut c = cands(&[1, 1, 1]);
        c[1].usable = false;
        let picks: Vec<_> = (0..6)
            .map(|_| b.pick(c.len(), |i| c[i], "").unwrap())
            .collect();
        assert!(!picks.contains(&1));
        assert!(picks.contains(&0) && picks.contains(&2));
        c.iter_mut().for_each(|c| c.usable = false);
        assert_eq!(b.pick(c.len(), |i| c[i], ""), None);
    }

    #[test]
    fn least_outstanding_prefers_the_idlest_per_weight() {
        let b = Balancer::new(&Balance::LeastOutstanding, &[1, 1, 2]);
        let mut c = cands(&[1, 1, 2]);
        c[0].outstanding = 3;
        c[1].outstanding = 1;
        c[2].outstanding = 3; // 1.5 per unit of weight
        for _ in 0..5 {
            assert_eq!(b.pick(c.len(), |i| c[i], ""), Some(1));
        }
        c[1].outstanding = 2; // now 2 > 1.5
        assert_eq!(b.pick(c.len(), |i| c[i], ""), Some(2));
    }

    #[test]
    fn hashing_is_sticky_weighted_and_moves_only_a_leaving_members_keys() {
        let b = Balancer::new(&Balance::Hash(HashOn::CacheKey), &[1, 1, 2]);
        let mut c = cands(&[1, 1, 2]);
        let keys: Vec<String> = (0..4000).map(|i| format!("/k/{i}")).collect();
        let before: Vec<usize> = keys
            .iter()
            .map(|k| b.pick(c.len(), |i| c[i], k).unwrap())
            .collect();
        // Sticky.
        assert_eq!(b.pick(c.len(), |i| c[i], &keys[7]), Some(before[7]));
        // Weighted: the weight-2 member gets about half.
        let share = before.iter().filter(|&&m| m == 2).count() as f64 / keys.len() as f64;
        assert!((0.45..0.55).contains(&share), "share {share}");
        // Member 0 leaves: only its keys move.
        c[0].usable = false;
        for (k, &was) in keys.iter().zip(&before) {
            let now = b.pick(c.len(), |i| c[i], k).unwrap();
            if was != 0 {
                assert_eq!(now, was);
            }
        }
    }
}
