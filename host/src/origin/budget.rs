//! The retry budget: retries may add at most a share of a pool's requests, so a
//! struggling origin is not hit by a retry storm.
//!
//! A token bucket without a clock: every first attempt deposits `percent / 100` of a
//! token, every retry takes one. The bucket starts with, and holds at most,
//! `min_retries` tokens (at least one), so a quiet pool can still retry a few times
//! while under sustained load retries stay within the percentage.

use std::sync::atomic::{AtomicU32, Ordering};

use crate::config::RetryPolicy;

/// Tokens are kept in hundredths (the percentage is whole), so the bucket is one atomic:
/// every request deposits, and a lock there would serialise a pool's requests.
#[derive(Debug)]
pub struct RetryBudget {
    hundredths: AtomicU32,
    deposit: u32,
    cap: u32,
}

/// One token.
const TOKEN: u32 = 100;

impl RetryBudget {
    pub fn new(policy: &RetryPolicy) -> Self {
        Self {
            hundredths: AtomicU32::new(policy.min_retries.saturating_mul(TOKEN)),
            deposit: policy.budget_percent,
            cap: policy.min_retries.max(1).saturating_mul(TOKEN),
        }
    }

    /// Called once per request sent to the pool. A full bucket (the usual state) costs
    /// one load.
    pub fn deposit(&self) {
        let _ = self
            .hundredths
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                (t < self.cap).then(|| t.saturating_add(self.deposit).min(self.cap))
            });
    }

    /// Takes a token for one retry; false when the budget is spent.
    pub fn withdraw(&self) -> bool {
        self.hundredths
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |t| {
                t.checked_sub(TOKEN)
            })
            .is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserve_then_percentage() {
        let b = RetryBudget::new(&RetryPolicy {
            min_retries: 2,
            budget_percent: 25,
            ..RetryPolicy::default()
        });
        assert!(b.withdraw());
        assert!(b.withdraw());
        assert!(!b.withdraw());
        for _ in 0..3 {
            b.deposit();
        }
        assert!(!b.withdraw());
        b.deposit();
        assert!(b.withdraw());
    }
}
