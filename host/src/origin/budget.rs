//! The retry budget: retries may add at most a share of a pool's requests, so a
//! struggling origin is not hit by a retry storm.
//!
//! A token bucket without a clock: every first attempt deposits `percent / 100` of a
//! token, every retry takes one. The bucket starts with, and holds at most,
//! `min_retries` tokens (at least one), so a quiet pool can still retry a few times
//! while under sustained load retries stay within the percentage.

use std::sync::Mutex;

use crate::config::RetryPolicy;

#[derive(Debug)]
pub struct RetryBudget {
    tokens: Mutex<f64>,
    deposit: f64,
    cap: f64,
}

impl RetryBudget {
    pub fn new(policy: &RetryPolicy) -> Self {
        Self {
            tokens: Mutex::new(f64::from(policy.min_retries)),
            deposit: f64::from(policy.budget_percent) / 100.0,
            cap: f64::from(policy.min_retries.max(1)),
        }
    }

    /// Called once per request sent to the pool.
    pub fn deposit(&self) {
        let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        *t = (*t + self.deposit).min(self.cap);
    }

    /// Takes a token for one retry; false when the budget is spent.
    pub fn withdraw(&self) -> bool {
        let mut t = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
        if *t >= 1.0 {
            *t -= 1.0;
            true
        } else {
            false
        }
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
