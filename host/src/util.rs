//! Small helpers shared by several modules.

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A request id unique within this process run, shown as `<start time>-<counter>` in
/// hex. Copy and formatted only when something logs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestId(u64);

impl RequestId {
    pub fn next() -> Self {
        static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        RequestId(COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let start = *START.get_or_init(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
        write!(f, "{start:08x}-{:08x}", self.0)
    }
}

/// A limit on how long one wait may last: a body that sends nothing, a socket that takes
/// nothing. Each wait is timed from its start (the first poll that found nothing ready),
/// not from the last data, so time the other side spent not asking does not count. The
/// timer is allocated on the first wait only: most bodies arrive without one.
#[derive(Debug)]
pub struct IdleTimer {
    idle: std::time::Duration,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
    /// A wait is under way (its deadline is set).
    waiting: bool,
}

impl IdleTimer {
    pub fn new(idle: std::time::Duration) -> Self {
        Self {
            idle,
            timer: None,
            waiting: false,
        }
    }

    /// The limit.
    pub fn idle(&self) -> std::time::Duration {
        self.idle
    }

    /// Data moved: the wait, if any, is over.
    pub fn progressed(&mut self) {
        self.waiting = false;
    }

    /// Nothing is ready: whether this wait has now lasted the limit (if not, `cx` is
    /// woken when it will have).
    pub fn poll_expired(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        use std::future::Future;
        if !self.waiting {
            self.waiting = true;
            let deadline = tokio::time::Instant::now() + self.idle;
            match self.timer.as_mut() {
                Some(timer) => timer.as_mut().reset(deadline),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
        self.timer
            .as_mut()
            .is_some_and(|timer| timer.as_mut().poll(cx).is_ready())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::{Context, Waker};
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn an_idle_timer_times_each_wait_from_its_start() {
        let mut cx = Context::from_waker(Waker::noop());
        let mut timer = IdleTimer::new(Duration::from_millis(100));
        assert!(!timer.poll_expired(&mut cx));
        tokio::time::advance(Duration::from_millis(60)).await;
        assert!(!timer.poll_expired(&mut cx));
        tokio::time::advance(Duration::from_millis(50)).await;
        assert!(timer.poll_expired(&mut cx), "110 ms into one wait");

        // Data came, then nobody asked for a long while: the next wait starts afresh.
        timer.progressed();
        tokio::time::advance(Duration::from_secs(5)).await;
        assert!(!timer.poll_expired(&mut cx));
        tokio::time::advance(Duration::from_millis(99)).await;
        assert!(!timer.poll_expired(&mut cx));
        tokio::time::advance(Duration::from_millis(2)).await;
        assert!(timer.poll_expired(&mut cx));
    }
}
