//! Hot reload: a new snapshot (config, functions, certificates) is built whole off the
//! request path and swapped in atomically; requests in flight finish on the snapshot
//! they started with. Triggers: file changes ([`watch`]), SIGHUP (`wedge serve`), and
//! `POST /reload` on the admin listener. A broken file is refused with a log line and an
//! entry in `/status`, and the old snapshot keeps serving.

mod watch;

use std::time::SystemTime;

pub use watch::{Watch, watch};

/// What the last reloads did, for `/status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReloadStatus {
    /// Reloads that succeeded and failed since start.
    pub succeeded: u64,
    pub failed: u64,
    /// When the current snapshot was swapped in (Unix seconds; 0 = at start).
    pub last_success_unix: u64,
    /// The last refused reload, if it is more recent than the last success.
    pub last_error: Option<String>,
    pub last_error_unix: u64,
}

impl ReloadStatus {
    pub(crate) fn record(&mut self, result: Result<u64, String>) {
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        match result {
            Ok(version) => {
                self.succeeded += 1;
                self.last_success_unix = now;
                self.last_error = None;
                tracing::info!(version, "reloaded: new snapshot serving");
            }
            Err(e) => {
                self.failed += 1;
                tracing::error!("reload refused, previous snapshot keeps serving: {e}");
                self.last_error = Some(e);
                self.last_error_unix = now;
            }
        }
    }
}
