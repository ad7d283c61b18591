//! Host services shared by every instance of every function: rate-limit counters (the
//! `ratelimit` interface) and per-rule match counters (`rule-metrics`). An instance
//! lives for one request, so anything counted across requests has to live here. Kept by
//! the engine, so counters survive reloads.

use std::collections::HashMap;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::bindings::wedge::function::{ratelimit, rule_metrics};
use super::instance::HostState;
use super::memo::Effect;

/// Shards of the rate table: requests for different keys rarely wait on one lock.
const SHARDS: usize = 16;
/// Keys kept per shard (65,536 in all): a flood of distinct keys cannot grow memory
/// without bound; expired windows are dropped first, then arbitrary ones.
const KEYS_PER_SHARD: usize = 4096;
/// Longest key kept (the function's key is cut beyond it).
const MAX_KEY: usize = 512;
/// Distinct (function, rule, action) label sets exported; later ones count as rule
/// `other`, so a function cannot blow up the metrics with made-up rule names.
const MAX_RULE_SERIES: usize = 1024;

#[derive(Debug, Clone, Copy)]
struct Window {
    start_ms: u64,
    window_ms: u64,
    count: u32,
}

/// Labels of `wedge_function_rule_matches_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RuleLabels {
    pub function: String,
    pub rule: String,
    pub action: String,
}

/// The shared counters.
pub struct Services {
    epoch: Instant,
    shards: Vec<Mutex<HashMap<Box<str>, Window>>>,
    /// Rule matches by function, rule and action (registered with the edge's metrics).
    pub rule_matches: Family<RuleLabels, Counter>,
    rule_series: Mutex<usize>,
}

impl Default for Services {
    fn default() -> Self {
        Services {
            epoch: Instant::now(),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            rule_matches: Family::default(),
            rule_series: Mutex::new(0),
        }
    }
}

/// The outcome of one counted hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    pub allowed: bool,
    pub count: u32,
    pub retry_after_ms: u32,
}

impl Services {
    /// Counts one hit of `key` (already namespaced by function) in a fixed window that
    /// starts at the key's first hit after the previous window ended.
    pub fn hit(&self, key: &str, window_ms: u32, limit: u32) -> Hit {
        let now = self.epoch.elapsed().as_millis() as u64;
        self.hit_at(key, window_ms, limit, now)
    }

    fn hit_at(&self, key: &str, window_ms: u32, limit: u32, now: u64) -> Hit {
        let window_ms = u64::from(window_ms.max(1));
        let mut h = DefaultHasher::new();
        key.hash(&mut h);
        let shard = &self.shards[h.finish() as usize % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if !map.contains_key(key) && map.len() >= KEYS_PER_SHARD {
            map.retain(|_, w| now < w.start_ms + w.window_ms);
            if map.len() >= KEYS_PER_SHARD {
                // Still full of live windows (a flood of distinct keys): forget any one,
                // in O(1), rather than scan for the oldest under the lock.
                if let Some(victim) = map.keys().next().cloned() {
                    map.remove(&victim);
                }
            }
        }
        let w = map.entry(Box::from(key)).or_insert(Window {
            start_ms: now,
            window_ms,
            count: 0,
        });
        if now >= w.start_ms + w.window_ms || w.window_ms != window_ms {
            *w = Window {
                start_ms: now,
                window_ms,
                count: 0,
            };
        }
        w.count = w.count.saturating_add(1);
        let allowed = w.count <= limit;
        Hit {
            allowed,
            count: w.count,
            retry_after_ms: if allowed {
                0
            } else {
                (w.start_ms + w.window_ms - now) as u32
            },
        }
    }

    /// Counts one rule match for the metrics.
    pub fn rule_matched(&self, function: &str, rule: &str, action: &str) {
        let mut labels = RuleLabels {
            function: function.to_owned(),
            rule: rule.chars().take(64).collect(),
            action: action.chars().take(16).collect(),
        };
        // Series already present are counted without taking the lock's slow path.
        let fresh = {
            let mut series = self.rule_series.lock().unwrap_or_else(|p| p.into_inner());
            let exists = self.rule_matches.get(&labels).is_some();
            if !exists && *series >= MAX_RULE_SERIES {
                true
            } else {
                if !exists {
                    *series += 1;
                }
                false
            }
        };
        if fresh {
            labels.rule = "other".into();
        }
        self.rule_matches.get_or_create(&labels).inc();
    }
}

fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl ratelimit::Host for HostState {
    fn hit(
        &mut self,
        key: String,
        window_ms: u32,
        limit: u32,
    ) -> wasmtime::Result<ratelimit::Verdict> {
        // A shared counter's answer changes from request to request: never replay it.
        if let Some(rec) = &mut self.recording {
            rec.volatile = true;
        }
        let namespaced = format!("{}\0{}", self.function.as_str(), cut(&key, MAX_KEY));
        let hit = self.services.hit(&namespaced, window_ms, limit);
        Ok(ratelimit::Verdict {
            allowed: hit.allowed,
            count: hit.count,
            retry_after_ms: hit.retry_after_ms,
        })
    }
}

impl rule_metrics::Host for HostState {
    fn matched(&mut self, rule: String, action: String) -> wasmtime::Result<()> {
        self.services
            .rule_matched(self.function.as_str(), &rule, &action);
        // A replayed outcome counts again.
        if let Some(rec) = &mut self.recording {
            rec.effect(Effect::RuleMatched { rule, action });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_windows_allow_up_to_the_limit_then_say_when_to_retry() {
        let s = Services::default();
        for i in 1..=3 {
            let h = s.hit_at("k", 1000, 3, 10);
            assert!(h.allowed, "hit {i}");
            assert_eq!(h.count, i);
        }
        let h = s.hit_at("k", 1000, 3, 400);
        assert!(!h.allowed);
        assert_eq!(h.retry_after_ms, 610);
        // Another key has its own window; the window ends and counting restarts.
        assert!(s.hit_at("other", 1000, 3, 400).allowed);
        assert!(s.hit_at("k", 1000, 3, 1010).allowed);
    }

    #[test]
    fn the_table_stays_bounded() {
        let s = Services::default();
        for i in 0..(SHARDS * KEYS_PER_SHARD * 2) {
            s.hit_at(&format!("key{i}"), 60_000, 1, 0);
        }
        let total: usize = s.shards.iter().map(|m| m.lock().unwrap().len()).sum();
        assert!(total <= SHARDS * KEYS_PER_SHARD);
    }

    #[test]
    fn rule_series_are_capped() {
        let s = Services::default();
        for i in 0..(MAX_RULE_SERIES + 10) {
            s.rule_matched("waf", &format!("r{i}"), "block");
        }
        let other = RuleLabels {
            function: "waf".into(),
            rule: "other".into(),
            action: "block".into(),
        };
        assert_eq!(s.rule_matches.get_or_create(&other).get(), 10);
    }
}
