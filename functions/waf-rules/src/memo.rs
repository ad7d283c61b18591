//! Detector verdicts on the fields of requests, remembered across requests.
//!
//! Much of a request repeats from one to the next: the User-Agent of every browser of
//! one build, the Referer of every asset of one page, a site's popular paths, a
//! visitor's cookies, the query of a popular search. A detector's verdict on a field
//! depends on nothing but the detector, the field and the text the field is read from
//! (its source: the path, the query, the Cookie header, ...), so an ACL that lives on (an
//! instance the host reuses) inspects each repeating source once per field and detector.
//! A source is remembered from its second sighting on (a doorkeeper of bare hashes sees
//! the first), so text that never repeats (a query with a cache-buster) costs one hash
//! and no copy. Entries are checked against the full text (a hash collision only costs
//! a miss), and both tables are emptied when full.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

use crate::acl::Detector;

/// How many distinct (field, source) pairs are remembered.
const MAX_ENTRIES: usize = 2048;

/// How many sources seen once are kept track of.
const MAX_SEEN_ONCE: usize = 8192;

/// Longer sources are not remembered (nor kept in memory).
const MAX_VALUE: usize = 1024;

#[derive(Default)]
pub(crate) struct FieldVerdicts {
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

impl std::fmt::Debug for FieldVerdicts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FieldVerdicts")
    }
}

/// A field's source as the table knew it when the request first asked: its hash, whether
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
    /// The field's slot in its ACL (see `acl::Detected`).
    field: usize,
    source: Box<str>,
    /// Detectors that have looked at the field, and those among them that matched.
    known: u16,
    hits: u16,
}

impl Entry {
    fn is(&self, field: usize, source: &str) -> bool {
        self.field == field && *self.source == *source
    }
}

impl FieldVerdicts {
    /// Notes one request's `source` of the field in slot `field`: remembered from the
    /// second request that brings it on. Called once per request and field.
    pub(crate) fn sight(&self, field: usize, source: &str) -> Sighting {
        let mut sighting = Sighting {
            key: hash(field, source),
            remembered: false,
            known: 0,
            hits: 0,
        };
        if source.len() > MAX_VALUE {
            return sighting;
        }
        let key = sighting.key;
        let mut t = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(e) = t.entries.get(&key).filter(|e| e.is(field, source)) {
            (sighting.known, sighting.hits) = (e.known, e.hits);
        } else if t.seen_once.remove(&key) {
            if t.entries.len() >= MAX_ENTRIES {
                t.entries.clear();
            }
            let entry = Entry {
                field,
                source: source.into(),
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

    /// Remembers what `detector` said about the field in slot `field` read from
    /// `source` (as sighted).
    pub(crate) fn put(
        &self,
        s: Sighting,
        field: usize,
        source: &str,
        detector: Detector,
        hit: bool,
    ) {
        if !s.remembered {
            return;
        }
        let mut t = self.tables.lock().unwrap_or_else(|p| p.into_inner());
        // Gone if the table was emptied or the entry replaced since the sighting.
        if let Some(e) = t.entries.get_mut(&s.key).filter(|e| e.is(field, source)) {
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

/// A hash of the field's slot and its source, eight bytes at a step (FxHash's mixing,
/// with the length mixed in and the high bits folded down): cheap in a wasm guest, and
/// good enough where every remembered source is checked against the whole text.
/// (FNV-1a, a byte at a step, made hashing a long User-Agent a visible part of every
/// evaluation.)
fn hash(field: usize, source: &str) -> u64 {
    let mut h = mix(0, field as u64);
    h = mix(h, source.len() as u64);
    h = mix_bytes(h, source.as_bytes());
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

    /// Slots of two fields, as an ACL would number them.
    const UA: usize = 3;
    const REFERER: usize = 4;

    #[test]
    fn remembers_from_the_second_sighting_per_detector_field_and_source() {
        let m = FieldVerdicts::default();
        let first = m.sight(UA, "x");
        m.put(first, UA, "x", Detector::Rce, true);
        let got = first.verdict(Detector::Rce);
        assert_eq!(got, None, "not on its first sighting");
        let second = m.sight(UA, "x");
        assert_eq!(second.verdict(Detector::Rce), None);
        m.put(second, UA, "x", Detector::Rce, true);
        m.put(second, UA, "x", Detector::Php, false);
        let third = m.sight(UA, "x");
        assert_eq!(third.verdict(Detector::Rce), Some(true));
        assert_eq!(third.verdict(Detector::Php), Some(false));
        assert_eq!(third.verdict(Detector::Xss), None);
        // An entry taken over by another source (as by a colliding one) takes no
        // verdicts meant for the source it replaced.
        m.put(third, UA, "y", Detector::Xss, true);
        assert_eq!(m.sight(UA, "x").verdict(Detector::Xss), None);
        for _ in 0..2 {
            let s = m.sight(REFERER, "x");
            assert_eq!(s.verdict(Detector::Rce), None);
            let s = m.sight(UA, "y");
            assert_eq!(s.verdict(Detector::Rce), None);
        }
    }

    #[test]
    fn stays_bounded() {
        let m = FieldVerdicts::default();
        for i in 0..3 * MAX_SEEN_ONCE {
            for _ in 0..2 {
                m.sight(UA, &i.to_string());
            }
        }
        let t = m.tables.lock().unwrap();
        assert!(t.entries.len() <= MAX_ENTRIES && t.seen_once.len() <= MAX_SEEN_ONCE);
        drop(t);
        let long = "a".repeat(MAX_VALUE + 1);
        for _ in 0..3 {
            let s = m.sight(UA, &long);
            m.put(s, UA, &long, Detector::Scanner, true);
            assert_eq!(s.verdict(Detector::Scanner), None);
        }
    }
}
