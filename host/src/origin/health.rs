//! Member health: the active checker's verdict and passive outlier ejection.
//!
//! A member is *available* when the active check (if any) says healthy and it is not
//! ejected. Members start healthy: a new pool serves at once, and the first check runs
//! immediately. State is kept across reloads for members that stay. Ejection lasts `base_ejection · 2^(n-1)` for the n-th ejection in a row
//! (capped at `max_ejection`); a success after re-admission resets n.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::config::{HealthCheck, OutlierDetection};

/// How one attempt at a member ended, as far as its health is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Any status below 500.
    Success,
    /// A 5xx answer.
    ServerError,
    /// Could not connect, the connection broke, or no answer in time.
    ConnectError,
}

/// Live state of one member, shared by requests and the health checker.
#[derive(Debug, Default)]
pub struct MemberState {
    /// Requests in flight (until their response body ends).
    pub outstanding: AtomicUsize,
    /// The active checker's verdict (true without active checks).
    healthy: AtomicBool,
    /// Set while ejected, so the hot path checks the clock only then.
    ejected: AtomicBool,
    /// Set while any failure streak or ejection streak is counting: a success on a
    /// clean member then has nothing to reset and takes no lock.
    streaking: AtomicBool,
    inner: Mutex<Inner>,
    pub requests: AtomicU64,
    pub failures: AtomicU64,
    pub ejections: AtomicU64,
}

#[derive(Debug, Default)]
struct Inner {
    check_passes: u32,
    check_failures: u32,
    consecutive_5xx: u32,
    consecutive_connect: u32,
    ejected_until: Option<Instant>,
    /// Ejections in a row; sets the next ejection's length.
    ejection_streak: u32,
    last_check: Option<String>,
}

impl MemberState {
    pub fn new() -> Self {
        Self {
            healthy: AtomicBool::new(true),
            ..Self::default()
        }
    }

    /// Whether requests may go to this member now.
    pub fn available(&self, now: Instant) -> bool {
        self.available_with(|| now)
    }

    /// [`Self::available`], reading the clock only for an ejected member.
    pub fn available_with(&self, now: impl FnOnce() -> Instant) -> bool {
        self.healthy.load(Ordering::Relaxed)
            && !(self.ejected.load(Ordering::Relaxed) && self.is_ejected(now()))
    }

    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Forgets the active checks' verdict (their pool no longer checks actively).
    pub fn clear_checks(&self) {
        let mut inner = self.lock();
        inner.check_passes = 0;
        inner.check_failures = 0;
        inner.last_check = None;
        self.healthy.store(true, Ordering::Relaxed);
    }

    fn is_ejected(&self, now: Instant) -> bool {
        if !self.ejected.load(Ordering::Relaxed) {
            return false;
        }
        let mut inner = self.lock();
        match inner.ejected_until {
            Some(until) if now < until => true,
            _ => {
                // Ejection over: re-admit, keeping the streak until a success.
                inner.ejected_until = None;
                self.ejected.store(false, Ordering::Relaxed);
                false
            }
        }
    }

    /// Remaining ejection time, if ejected.
    pub fn ejected_for(&self, now: Instant) -> Option<Duration> {
        self.lock()
            .ejected_until
            .and_then(|u| u.checked_duration_since(now))
            .filter(|d| !d.is_zero())
    }

    /// Records a success on a member with no streak to reset, the usual case, with no
    /// lock and no clock; false (nothing recorded) when [`Self::record`] must do it.
    pub fn record_clean_success(&self) -> bool {
        if self.streaking.load(Ordering::Relaxed) {
            return false;
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Records a live request's outcome; returns true when it ejected the member.
    /// `may_eject` is false when this is the pool's last available member: ejecting it
    /// would turn an origin's bad answers into the edge refusing every request.
    pub fn record(
        &self,
        outcome: Outcome,
        od: Option<&OutlierDetection>,
        now: Instant,
        may_eject: bool,
    ) -> bool {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if outcome != Outcome::Success {
            self.failures.fetch_add(1, Ordering::Relaxed);
        }
        let mut inner = self.lock();
        match outcome {
            Outcome::Success => {
                inner.consecutive_5xx = 0;
                inner.consecutive_connect = 0;
                if inner.ejected_until.is_none() {
                    inner.ejection_streak = 0;
                    self.streaking.store(false, Ordering::Relaxed);
                }
                return false;
            }
            Outcome::ServerError => inner.consecutive_5xx += 1,
            Outcome::ConnectError => inner.consecutive_connect += 1,
        }
        self.streaking.store(true, Ordering::Relaxed);
        let Some(od) = od else { return false };
        let tripped = (od.consecutive_5xx > 0 && inner.consecutive_5xx >= od.consecutive_5xx)
            || (od.consecutive_connect_errors > 0
                && inner.consecutive_connect >= od.consecutive_connect_errors);
        if !tripped || !may_eject || inner.ejected_until.is_some_and(|u| now < u) {
            return false;
        }
        inner.consecutive_5xx = 0;
        inner.consecutive_connect = 0;
        inner.ejection_streak = inner.ejection_streak.saturating_add(1);
        let factor = 1u32 << (inner.ejection_streak - 1).min(16);
        let time = od.base_ejection.saturating_mul(factor).min(od.max_ejection);
        inner.ejected_until = Some(now + time);
        self.ejected.store(true, Ordering::Relaxed);
        self.ejections.fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Records an active check; returns the new verdict when it changed.
    pub fn record_check(&self, passed: bool, detail: String, hc: &HealthCheck) -> Option<bool> {
        let mut inner = self.lock();
        inner.last_check = Some(detail);
        let healthy = self.healthy.load(Ordering::Relaxed);
        if passed {
            inner.check_failures = 0;
            inner.check_passes = inner.check_passes.saturating_add(1);
            if !healthy && inner.check_passes >= hc.healthy_threshold {
                self.healthy.store(true, Ordering::Relaxed);
                return Some(true);
            }
        } else {
            inner.check_passes = 0;
            inner.check_failures = inner.check_failures.saturating_add(1);
            if healthy && inner.check_failures >= hc.unhealthy_threshold {
                self.healthy.store(false, Ordering::Relaxed);
                return Some(false);
            }
        }
        None
    }

    /// The last active check's result ("200", "connect error: ...").
    pub fn last_check(&self) -> Option<String> {
        self.lock().last_check.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn od() -> OutlierDetection {
        OutlierDetection {
            consecutive_5xx: 2,
            consecutive_connect_errors: 1,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(25),
        }
    }

    #[test]
    fn ejection_with_doubling_backoff_and_reset_on_success() {
        let m = MemberState::new();
        let od = od();
        let t0 = Instant::now();
        assert!(!m.record(Outcome::ServerError, Some(&od), t0, true));
        assert!(m.available(t0));
        assert!(m.record(Outcome::ServerError, Some(&od), t0, true));
        assert!(!m.available(t0 + Duration::from_secs(9)));
        // Back after 10 s; failing again at once ejects for 20 s, then capped at 25 s.
        let t1 = t0 + Duration::from_secs(10);
        assert!(m.available(t1));
        assert!(m.record(Outcome::ConnectError, Some(&od), t1, true));
        assert!(!m.available(t1 + Duration::from_secs(19)));
        let t2 = t1 + Duration::from_secs(20);
        assert!(m.available(t2));
        assert!(m.record(Outcome::ConnectError, Some(&od), t2, true));
        assert_eq!(m.ejected_for(t2), Some(Duration::from_secs(25)));
        // A success after re-admission resets the streak: the next ejection is 10 s.
        let t3 = t2 + Duration::from_secs(25);
        assert!(m.available(t3));
        m.record(Outcome::Success, Some(&od), t3, true);
        assert!(m.record(Outcome::ConnectError, Some(&od), t3, true));
        assert_eq!(m.ejected_for(t3), Some(Duration::from_secs(10)));
        assert_eq!(m.ejections.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn the_last_available_member_is_not_ejected() {
        let m = MemberState::new();
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(!m.record(Outcome::ConnectError, Some(&od()), t0, false));
        }
        assert!(m.available(t0));
        // Once another member is available again, the streak ejects it.
        assert!(m.record(Outcome::ConnectError, Some(&od()), t0, true));
    }

    #[test]
    fn active_thresholds() {
        let hc = HealthCheck {
            path: http::uri::PathAndQuery::from_static("/"),
            host: None,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            expected_status: vec![200],
        };
        let m = MemberState::new();
        assert_eq!(m.record_check(false, "503".into(), &hc), None);
        assert_eq!(m.record_check(false, "503".into(), &hc), None);
        assert_eq!(m.record_check(false, "503".into(), &hc), Some(false));
        assert!(!m.available(Instant::now()));
        assert_eq!(m.record_check(true, "200".into(), &hc), None);
        assert_eq!(m.record_check(true, "200".into(), &hc), Some(true));
        assert!(m.available(Instant::now()));
    }
}
