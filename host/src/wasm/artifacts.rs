//! The on-disk cache of compiled functions: one artifact per content key and engine
//! compatibility, written atomically, and held under a size cap by removing the least
//! recently used artifacts whenever a new one is written.
//!
//! Every new function build and every new config of a configured function adds an
//! artifact (0.5–3 MB), so without a cap a long `wedge dev` session, a test suite or a
//! server whose WAF rules change every hour fills the disk.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Default cap on the directory's artifacts (`WEDGE_CACHE_MAX_MB` overrides it).
const DEFAULT_MAX_BYTES: u64 = 512 << 20;

/// Temporary files older than this are left over from a writer that died.
const STALE_TEMPORARY: Duration = Duration::from_secs(3600);

/// Where artifacts live and how much they may take.
pub(crate) struct ArtifactCache {
    dir: PathBuf,
    max_bytes: u64,
    /// Suffix of every name: artifacts of other engine configurations (other wedge
    /// versions sharing the directory) never match, and age out like any other.
    compatibility: u64,
}

impl ArtifactCache {
    /// The cache at `$WEDGE_CACHE_DIR`, else `$XDG_CACHE_HOME/wedge`, else
    /// `~/.cache/wedge`, capped at `$WEDGE_CACHE_MAX_MB` (512 by default); `None` when
    /// there is no such directory to use.
    pub(crate) fn from_env(compatibility: u64) -> Option<Self> {
        let dir = if let Some(dir) = std::env::var_os("WEDGE_CACHE_DIR") {
            PathBuf::from(dir)
        } else if let Some(dir) = std::env::var_os("XDG_CACHE_HOME") {
            PathBuf::from(dir).join("wedge")
        } else {
            PathBuf::from(std::env::var_os("HOME")?).join(".cache/wedge")
        };
        let max_bytes = match std::env::var("WEDGE_CACHE_MAX_MB") {
            Ok(mb) => match mb.trim().parse::<u64>() {
                Ok(mb) => mb << 20,
                Err(_) => {
                    tracing::warn!(
                        "WEDGE_CACHE_MAX_MB={mb:?} is not a number of MiB; using the default 512"
                    );
                    DEFAULT_MAX_BYTES
                }
            },
            Err(_) => DEFAULT_MAX_BYTES,
        };
        Some(Self::new(dir, max_bytes, compatibility))
    }

    pub(crate) fn new(dir: PathBuf, max_bytes: u64, compatibility: u64) -> Self {
        Self {
            dir,
            max_bytes,
            compatibility,
        }
    }

    /// The artifact stored under `key`, if there is one; marks it used, so it is among
    /// the last to be removed.
    pub(crate) fn get(&self, key: &str) -> Option<PathBuf> {
        let path = self.path(key);
        if !path.exists() {
            return None;
        }
        // The modification time is the recency the cap goes by (access times are often
        // not kept); a file that cannot be touched is only evicted sooner.
        if let Ok(file) = std::fs::File::options().write(true).open(&path) {
            let _ = file.set_modified(SystemTime::now());
        }
        Some(path)
    }

    /// Stores `bytes` under `key` (a reader never sees half a file), then removes the
    /// least recently used artifacts while the directory is over its cap. False when it
    /// could not be written (a read-only directory, a full disk), which only costs
    /// compiling again later.
    pub(crate) fn put(&self, key: &str, bytes: &[u8]) -> bool {
        if std::fs::create_dir_all(&self.dir).is_err() {
            return false;
        }
        let path = self.path(key);
        // Write then rename; the counter keeps two loads of one module in this process
        // from sharing a temporary file.
        static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
        if std::fs::write(&tmp, bytes).is_err() || std::fs::rename(&tmp, &path).is_err() {
            let _ = std::fs::remove_file(&tmp);
            return false;
        }
        let removed = prune(&self.dir, self.max_bytes, &path);
        if removed > 0 {
            tracing::info!(
                "artifact cache {}: removed {removed} least recently used artifact(s) to stay under {} MiB",
                self.dir.display(),
                self.max_bytes >> 20
            );
        }
        true
    }

    /// The engine compatibility hash that names this cache's artifacts.
    pub(crate) fn compatibility(&self) -> u64 {
        self.compatibility
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir
            .join(format!("{key}-{:016x}.cwasm", self.compatibility))
    }
}

/// Removes the least recently modified artifacts in `dir` until those left take at most
/// `max_bytes` (never `keep`, the one just written), and temporary files a dead writer
/// left behind. Returns how many artifacts went.
fn prune(dir: &Path, max_bytes: u64, keep: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let now = SystemTime::now();
    let mut artifacts = Vec::new();
    let mut total = 0u64;
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.contains(".tmp") {
            if now.duration_since(modified).unwrap_or_default() > STALE_TEMPORARY {
                let _ = std::fs::remove_file(&path);
            }
            continue;
        }
        if !name.ends_with(".cwasm") {
            continue;
        }
        total += meta.len();
        if path != keep {
            artifacts.push((modified, meta.len(), path));
        }
    }
    artifacts.sort_by_key(|(modified, _, _)| *modified);
    let mut removed = 0;
    for (_, len, path) in artifacts {
        if total <= max_bytes {
            break;
        }
        // An artifact in use stays mapped until its functions are dropped; removing
        // the name frees the space afterwards.
        if std::fs::remove_file(&path).is_ok() {
            total -= len;
            removed += 1;
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn artifact(dir: &Path, name: &str, len: usize, age_secs: u64) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, vec![0u8; len]).unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(age_secs))
            .unwrap();
        path
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn pruning_removes_the_least_recently_used_until_under_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        artifact(dir.path(), "a-1.cwasm", 400, 400);
        artifact(dir.path(), "b-1.cwasm", 400, 300);
        artifact(dir.path(), "c-1.cwasm", 400, 200);
        let new = artifact(dir.path(), "d-1.cwasm", 400, 0);
        artifact(dir.path(), "notes.txt", 10_000, 1000);

        assert_eq!(prune(dir.path(), 1000, &new), 2);
        assert_eq!(names(dir.path()), ["c-1.cwasm", "d-1.cwasm", "notes.txt"]);
        // Under the cap: nothing more goes.
        assert_eq!(prune(dir.path(), 1000, &new), 0);
    }

    #[test]
    fn the_artifact_just_written_stays_even_over_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        artifact(dir.path(), "old-1.cwasm", 100, 100);
        let new = artifact(dir.path(), "big-1.cwasm", 5000, 1000);
        assert_eq!(prune(dir.path(), 1000, &new), 1);
        assert_eq!(names(dir.path()), ["big-1.cwasm"]);
    }

    #[test]
    fn stale_temporaries_are_removed_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let new = artifact(dir.path(), "a-1.cwasm", 10, 0);
        artifact(dir.path(), "a-1.tmp77-0", 10, 2 * 3600);
        artifact(dir.path(), "b-1.tmp78-0", 10, 5);
        prune(dir.path(), 1 << 20, &new);
        assert_eq!(names(dir.path()), ["a-1.cwasm", "b-1.tmp78-0"]);
    }

    #[test]
    fn a_hit_marks_the_artifact_recently_used() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArtifactCache::new(dir.path().to_owned(), 1000, 7);
        let first = cache.path("first");
        std::fs::write(&first, vec![0u8; 400]).unwrap();
        let file = std::fs::File::options().write(true).open(&first).unwrap();
        file.set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        artifact(dir.path(), &format!("second-{:016x}.cwasm", 7), 400, 1800);

        assert_eq!(cache.get("first"), Some(first.clone()));
        assert!(cache.get("absent").is_none());
        // A third artifact pushes the directory over the cap: the one not used for
        // half an hour goes, not the one just read.
        assert!(cache.put("third", &[0u8; 400]));
        assert_eq!(
            names(dir.path()),
            [
                format!("first-{:016x}.cwasm", 7),
                format!("third-{:016x}.cwasm", 7)
            ]
        );
    }
}
