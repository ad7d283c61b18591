//! Detector verdicts on single header values, remembered across requests.
//!
//! Some headers repeat from request to request: the User-Agent of every browser of one
//! build, the Referer of every asset of one page. Their verdicts depend on nothing but
//! the detector, the header and its value, so an ACL that lives on (an instance the
//! host reuses) inspects each repeating value once. A value is remembered from its
//! second sighting on (a doorkeeper of bare hashes sees the first), so values that
//! never repeat cost one hash and no copy. Entries are checked against the full value
//! (a hash collision only costs a miss), and both tables are emptied when full.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use crate::acl::Detector;

/// How many distinct (header, value) pairs are remembered.
const MAX_ENTRIES: usize = 512;

/// How many values seen once are kept track of.
const MAX_SEEN_ONCE: usize = 4096;

/// Longer values are not remembered (nor kept in memory).
const MAX_VALUE: usize = 1024;

#[derive(Default)]
pub(crate) struct HeaderVerdicts {
    tables: Mutex<Tables>,
}

#[derive(Default)]
struct Tables {
    entries: HashMap<u64, Entry, KeyIsHash>,
    seen_once: HashSet<u64, KeyIsHash>,
}

/// Keys are hashes already.
type KeyIsHash = BuildHasherDefault<PassThrough>;

#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    // Only `u64` keys are hashed; this is the trait's required fallback.
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

impl std::fmt::Debug for HeaderVerdicts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HeaderVerdicts")
    }
}

/// A header value as the table knew it when the request first asked: its hash, whether
/// it is remembered, and the verdicts remembered by then (read without the lock).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sighting {
    key: u64,
    remembered: bool,
    known: u16,
    hits: u16,
}

impl Sighting {
    /// What `detector` had said about the value by the time of the sighting.
    pub(crate) fn verdict(self, detector: Detector) -> Option<bool> {
        let bit = bit(detector);
        (self.known & bit != 0).then_some(self.hits & bit != 0)
    }
}

struct Entry {
    /// `header`, a newline (never part of a header name or value), the value.
    name_value: Box<str>,
    /// Detectors that have looked at the value, and those among them that matched.
    known: u16,
    hits: u16,
}

impl Entry {
    fn is(&self, header: &str, value: &str) -> bool {
        self.name_value.len() == header.len() + 1 + value.len()
            && self.name_value.starts_with(header)
            && self.name_value.as_bytes()[header.len()] == b'\n'
            && self.name_value.ends_with(value)
    }
}

impl HeaderVerdicts {
    /// Notes one request's `value` of `header`: remembered from the second request that
    /// brings it on. Called once per request and header.
    pub(crate) fn sight(&self, header: &str, value: &str) -> Sighting {
        let mut sighting = Sighting {
            key: hash(header, value),
            remembered: false,
            known: 0,
            hits: 0,
        };
        if value.len() > MAX_VALUE {
            return sighting;
        }
        let key = sighting.key;
        let mut t = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = t.entries.get(&key).filter(|e| e.is(header, value)) {
            (sighting.known, sighting.hits) = (e.known, e.hits);
        } else if t.seen_once.remove(&key) {
            if t.entries.len() >= MAX_ENTRIES {
                t.entries.clear();
            }
            let entry = Entry {
                name_value: format!("{header}\n{value}").into(),
                known: 0,
                hits: 0,
            };
            t.entries.insert(key, entry);
        } else {
            if t.seen_once.len() >= MAX_SEEN_ONCE {
                t.seen_once.clear();
            }
            t.seen_once.insert(key);
            return sighting;
        }
        sighting.remembered = true;
        sighting
    }

    /// Remembers what `detector` said about `value` of `header` (as sighted).
    pub(crate) fn put(
        &self,
        s: Sighting,
        header: &str,
        value: &str,
        detector: Detector,
        hit: bool,
    ) {
        if !s.remembered {
            return;
        }
        let mut t = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        // Gone if the table was emptied or the entry replaced since the sighting.
        if let Some(e) = t.entries.get_mut(&s.key).filter(|e| e.is(header, value)) {
            let bit = bit(detector);
            e.known |= bit;
            if hit {
                e.hits |= bit;
            }
        }
    }
}

fn bit(d: Detector) -> u16 {
    1 << d as u16
}

/// A hash of the header name and value, eight bytes at a step (FxHash's mixing, with the
/// lengths mixed in so name and value cannot trade bytes, and the high bits folded down):
/// cheap in a wasm guest, and good enough where every remembered value is checked
/// against the whole value. (FNV-1a, a byte at a step, made hashing a long User-Agent a
/// visible part of every evaluation.)
fn hash(header: &str, value: &str) -> u64 {
    let mut h = mix(0, header.len() as u64);
    h = mix_bytes(h, header.as_bytes());
    h = mix(h, value.len() as u64);
    h = mix_bytes(h, value.as_bytes());
    h ^ (h >> 32)
}

fn mix_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        h = mix(h, u64::from_le_bytes(w.try_into().expect("eight bytes")));
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut last = [0u8; 8];
        last[..rest.len()].copy_from_slice(rest);
        h = mix(h, u64::from_le_bytes(last));
    }
    h
}

fn mix(h: u64, word: u64) -> u64 {
    (h.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_from_the_second_sighting_per_detector_header_and_value() {
        let m = HeaderVerdicts::default();
        let ua = "user-agent";
        let first = m.sight(ua, "x");
        m.put(first, ua, "x", Detector::Rce, true);
        let got = first.verdict(Detector::Rce);
        assert_eq!(got, None, "not on its first sighting");
        let second = m.sight(ua, "x");
        assert_eq!(second.verdict(Detector::Rce), None);
        m.put(second, ua, "x", Detector::Rce, true);
        m.put(second, ua, "x", Detector::Php, false);
        let third = m.sight(ua, "x");
        assert_eq!(third.verdict(Detector::Rce), Some(true));
        assert_eq!(third.verdict(Detector::Php), Some(false));
        assert_eq!(third.verdict(Detector::Xss), None);
        // An entry taken over by another value (as by a colliding one) takes no
        // verdicts meant for the value it replaced.
        m.put(third, ua, "y", Detector::Xss, true);
        assert_eq!(m.sight(ua, "x").verdict(Detector::Xss), None);
        for _ in 0..2 {
            let s = m.sight("referer", "x");
            assert_eq!(s.verdict(Detector::Rce), None);
            let s = m.sight(ua, "y");
            assert_eq!(s.verdict(Detector::Rce), None);
        }
    }

    #[test]
    fn stays_bounded() {
        let m = HeaderVerdicts::default();
        for i in 0..3 * MAX_SEEN_ONCE {
            for _ in 0..2 {
                m.sight("user-agent", &i.to_string());
            }
        }
        let t = m.tables.lock().unwrap();
        assert!(t.entries.len() <= MAX_ENTRIES && t.seen_once.len() <= MAX_SEEN_ONCE);
        drop(t);
        let long = "a".repeat(MAX_VALUE + 1);
        for _ in 0..3 {
            let s = m.sight("user-agent", &long);
            m.put(s, "user-agent", &long, Detector::Scanner, true);
            assert_eq!(s.verdict(Detector::Scanner), None);
        }
    }
}
