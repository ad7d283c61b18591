//! The edge cache: responses stored in memory under a byte bound, looked up by cache
//! key (extended by the headers a response varies on), with request collapsing and
//! purges.
//!
//! Storage is a moka cache weighed in bytes (TinyLFU admission, so a flood of
//! one-off keys cannot push out popular objects). `Vary` is handled the way Varnish
//! does it: the primary key remembers which request headers its response varies on,
//! and the stored entry's key adds their values.

mod entry;
mod fill;
mod key;
mod serve;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use http::HeaderMap;
use http::header::HeaderName;
use tokio::sync::watch;

pub use entry::{Entry, Freshness, StorePlan};
pub use fill::{Fill, FillBody};
pub use key::{CacheKey, normalize_accept_encoding};
pub use serve::{response_from_entry, viewer_conditional_headers};

use crate::config::CacheSettings;

/// The edge's HTTP cache. One per edge, kept across config reloads.
pub struct HttpCache {
    settings: CacheSettings,
    entries: moka::sync::Cache<String, Arc<Entry>>,
    /// Primary key → the request headers its responses vary on.
    vary: moka::sync::Cache<String, Arc<[HeaderName]>>,
    /// URL → the entry keys stored for it (every variant and policy key), so a URL's
    /// copies can be dropped without scanning the cache. Bounded; keys of evicted
    /// entries linger until their URL is dropped.
    by_url: moka::sync::Cache<String, Arc<std::sync::Mutex<Vec<String>>>>,
    /// Primary keys being fetched from the origin: the receivers wake when the fetch
    /// ends (stored or not).
    in_flight: std::sync::Mutex<HashMap<String, watch::Receiver<()>>>,
    pub stats: CacheStats,
}

/// Counters for `/status` and metrics.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub refresh_hits: AtomicU64,
    pub stale_served: AtomicU64,
    pub collapsed: AtomicU64,
    pub stored: AtomicU64,
    pub purged: AtomicU64,
}

/// The caller's part in fetching a key that is not in the cache.
pub enum Claim {
    /// Fetch it; waiting requests wake when the guard is dropped.
    Leader(FetchGuard),
    /// Someone else is fetching it: wait, then look again.
    Follower(watch::Receiver<()>),
}

/// Held by the one request fetching a key; dropping it wakes the requests waiting for
/// that key, whether the response was stored or not.
pub struct FetchGuard {
    cache: Arc<HttpCache>,
    key: String,
    _done: watch::Sender<()>,
}

impl Drop for FetchGuard {
    fn drop(&mut self) {
        if let Ok(mut map) = self.cache.in_flight.lock() {
            map.remove(&self.key);
        }
    }
}

impl HttpCache {
    pub fn new(settings: CacheSettings) -> Arc<HttpCache> {
        let entries = moka::sync::Cache::builder()
            .max_capacity(settings.max_bytes)
            .weigher(|key: &String, e: &Arc<Entry>| e.weight().saturating_add(key.len() as u32))
            .build();
        Arc::new(HttpCache {
            settings,
            entries,
            vary: moka::sync::Cache::new(100_000),
            by_url: moka::sync::Cache::new(200_000),
            in_flight: Default::default(),
            stats: CacheStats::default(),
        })
    }

    pub fn settings(&self) -> CacheSettings {
        self.settings
    }

    /// The entry for `key` that matches the request's varied headers, if any.
    pub fn lookup(&self, key: &CacheKey, request_headers: &HeaderMap) -> Option<Arc<Entry>> {
        match self.vary.get(&key.primary) {
            Some(names) => self
                .entries
                .get(&variant_key(&key.primary, &names, request_headers)),
            None => self.entries.get(&key.primary),
        }
    }

    /// Stores `entry`, replacing what was there for the same variant.
    pub fn insert(&self, entry: Arc<Entry>) {
        if entry.body.len() as u64 > self.settings.max_object_bytes {
            return;
        }
        let full = if entry.vary.is_empty() {
            self.vary.invalidate(&entry.key);
            entry.key.clone()
        } else {
            let names: Vec<HeaderName> = entry.vary.iter().map(|(n, _)| n.clone()).collect();
            let mut varied = HeaderMap::new();
            for (name, value) in &entry.vary {
                if let Some(v) = value {
                    varied.insert(name.clone(), v.clone());
                }
            }
            let full = variant_key(&entry.key, &names, &varied);
            self.vary.insert(entry.key.clone(), names.into());
            full
        };
        self.stats.stored.fetch_add(1, Ordering::Relaxed);
        let keys = self.by_url.get_with(entry.url.clone(), Default::default);
        if let Ok(mut keys) = keys.lock()
            && !keys.contains(&full)
        {
            keys.push(full.clone());
        }
        self.entries.insert(full, entry);
    }

    /// Claims the fetch of `primary`: the first caller leads, later ones follow until
    /// the leader's guard drops.
    pub fn claim(self: &Arc<Self>, primary: &str) -> Claim {
        let mut map = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rx) = map.get(primary) {
            return Claim::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(());
        map.insert(primary.to_owned(), rx);
        Claim::Leader(FetchGuard {
            cache: self.clone(),
            key: primary.to_owned(),
            _done: tx,
        })
    }

    /// Like [`claim`](Self::claim) but never waits: `None` when a fetch is already on.
    pub fn try_lead(self: &Arc<Self>, primary: &str) -> Option<FetchGuard> {
        match self.claim(primary) {
            Claim::Leader(guard) => Some(guard),
            Claim::Follower(_) => None,
        }
    }

    /// Drops every stored copy of `url` (`host/path?query`); returns how many.
    pub fn invalidate_url(&self, url: &str) -> u64 {
        let Some(keys) = self.by_url.remove(url) else {
            return 0;
        };
        let keys = keys.lock().map(|k| k.clone()).unwrap_or_default();
        let mut removed = 0;
        for k in keys {
            if self.entries.remove(&k).is_some() {
                removed += 1;
            }
        }
        removed
    }

    /// Removes entries: by cache key (its every variant), by URL (`host/path?query`,
    /// any scheme prefix ignored), or by URL prefix. Returns how many went.
    pub fn purge(&self, target: &PurgeTarget) -> u64 {
        // A scan rather than the URL index: purges are rare, and the index may have
        // lost a URL to its own bound.
        let mut purged = 0;
        let doomed: Vec<Arc<String>> = self
            .entries
            .iter()
            .filter(|(_, e)| match target {
                PurgeTarget::Key(k) => &e.key == k,
                PurgeTarget::Url(u) => e.url == strip_scheme(u),
                PurgeTarget::Prefix(p) => e.url.starts_with(strip_scheme(p)),
                PurgeTarget::All => true,
            })
            .map(|(k, _)| k)
            .collect();
        for k in doomed {
            self.entries.invalidate(k.as_str());
            purged += 1;
        }
        self.stats.purged.fetch_add(purged, Ordering::Relaxed);
        purged
    }

    /// Entries and bytes held (after pending evictions are applied).
    pub fn usage(&self) -> (u64, u64) {
        self.entries.run_pending_tasks();
        (self.entries.entry_count(), self.entries.weighted_size())
    }

    /// The JSON shown in `/status`.
    pub fn status_json(&self) -> serde_json::Value {
        let (entries, bytes) = self.usage();
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "entries": entries,
            "bytes": bytes,
            "max_bytes": self.settings.max_bytes,
            "hits": n(&self.stats.hits),
            "misses": n(&self.stats.misses),
            "refresh_hits": n(&self.stats.refresh_hits),
            "stale_served": n(&self.stats.stale_served),
            "collapsed": n(&self.stats.collapsed),
            "stored": n(&self.stats.stored),
            "purged": n(&self.stats.purged),
        })
    }
}

/// How long a collapsed request waits for the leader before fetching itself.
pub const COLLAPSE_WAIT: Duration = Duration::from_secs(30);

/// What a purge removes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurgeTarget {
    Key(String),
    Url(String),
    Prefix(String),
    All,
}

fn strip_scheme(u: &str) -> &str {
    u.strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
        .unwrap_or(u)
}

fn variant_key(primary: &str, names: &[HeaderName], headers: &HeaderMap) -> String {
    let mut full = String::with_capacity(primary.len() + 32);
    full.push_str(primary);
    for name in names {
        full.push('\u{1e}');
        full.push_str(name.as_str());
        full.push('=');
        for (i, v) in headers.get_all(name).iter().enumerate() {
            if i > 0 {
                full.push(',');
            }
            full.push_str(&String::from_utf8_lossy(v.as_bytes()));
        }
    }
    full
}
