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

/// A limit on how long a stream may keep its reader waiting: armed the first time a poll
/// finds nothing ready (most bodies arrive without a wait and never allocate a timer),
/// pushed back whenever data comes.
#[derive(Debug)]
pub struct IdleTimer {
    idle: std::time::Duration,
    timer: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl IdleTimer {
    pub fn new(idle: std::time::Duration) -> Self {
        Self { idle, timer: None }
    }

    /// The limit.
    pub fn idle(&self) -> std::time::Duration {
        self.idle
    }

    /// Data came: the wait starts over.
    pub fn progressed(&mut self) {
        if let Some(timer) = self.timer.as_mut() {
            timer
                .as_mut()
                .reset(tokio::time::Instant::now() + self.idle);
        }
    }

    /// Nothing is ready: whether the wait has now lasted the limit (if not, `cx` is woken
    /// when it has).
    pub fn poll_expired(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        use std::future::Future;
        let idle = self.idle;
        self.timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)))
            .as_mut()
            .poll(cx)
            .is_ready()
    }
}
