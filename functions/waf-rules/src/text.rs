//! Substring search for what detectors look for in every value: needle lists in one
//! pass (`Needles`), and single short needles without a searcher's set-up cost
//! ([`has`], [`positions`]: `str::contains(&str)` builds a two-way searcher per call,
//! which natively hides behind a SIMD fast path but in the wasm guest cost more than the
//! scan itself).

use std::sync::OnceLock;

use aho_corasick::automaton::Automaton;
use aho_corasick::dfa::{self, DFA};
use aho_corasick::{AhoCorasick, Anchored, MatchKind, StartKind};

/// A list of needles found in one pass over a value: an Aho-Corasick automaton, built
/// on first use (at configuration: see `detect::prepare`, so that it is in the function's
/// snapshot). One pass instead of a substring searcher per needle per value (which cost
/// more than everything else the WAF does on an ordinary request). The crate's own search,
/// whose prefilter skips to a needle's rare bytes: a walk of the DFA, as for
/// [`NeedleSets`], took more instructions on these lists.
pub(crate) struct Needles {
    list: &'static [&'static str],
    automaton: OnceLock<AhoCorasick>,
}

impl Needles {
    pub(crate) const fn new(list: &'static [&'static str]) -> Needles {
        Needles {
            list,
            automaton: OnceLock::new(),
        }
    }

    /// Builds the automaton now if it is not built yet.
    pub(crate) fn prepare(&self) {
        self.automaton();
    }

    fn automaton(&self) -> &AhoCorasick {
        self.automaton
            .get_or_init(|| AhoCorasick::new(self.list).expect("needle lists are valid"))
    }

    /// Whether a needle occurs in `hay` at a position `accept(position, needle)` agrees
    /// to.
    pub(crate) fn find(&self, hay: &str, mut accept: impl FnMut(usize, &str) -> bool) -> bool {
        self.automaton()
            .find_overlapping_iter(hay)
            .any(|m| accept(m.start(), self.list[m.pattern().as_usize()]))
    }

    /// Whether any needle occurs in `hay`.
    pub(crate) fn contains(&self, hay: &str) -> bool {
        self.automaton().is_match(hay)
    }
}

/// Several needle lists found together: one pass over a value tells which lists have a
/// needle in it (a bit per list, in order), where a pass per list read the value once
/// for each. A DFA without prefilter (these lists' needles start with common bytes), which
/// walks a value in a third of the instructions of the NFA the crate would choose for this
/// many needles (the tables, built at configuration, are in the snapshot).
pub(crate) struct NeedleSets {
    lists: &'static [&'static [&'static str]],
    automaton: OnceLock<(DFA, Vec<u8>)>,
}

impl NeedleSets {
    pub(crate) const fn new(lists: &'static [&'static [&'static str]]) -> NeedleSets {
        NeedleSets {
            lists,
            automaton: OnceLock::new(),
        }
    }

    /// Builds the automaton now if it is not built yet.
    pub(crate) fn prepare(&self) {
        self.automaton();
    }

    fn automaton(&self) -> &(DFA, Vec<u8>) {
        self.automaton.get_or_init(|| {
            let automaton = dfa::Builder::new()
                .match_kind(MatchKind::Standard)
                .start_kind(StartKind::Unanchored)
                .prefilter(false)
                .build(self.lists.iter().flat_map(|l| l.iter()))
                .expect("needle lists are valid");
            let list_of = (0u8..)
                .zip(self.lists)
                .flat_map(|(i, l)| l.iter().map(move |_| i))
                .collect();
            (automaton, list_of)
        })
    }

    /// Bit `i` set when a needle of list `i` occurs in `hay`. Our walk over the concrete
    /// DFA: the crate's searches reach the automaton through a trait object, a call per
    /// byte, which in the guest cost several times the transition.
    pub(crate) fn which(&self, hay: &str) -> u32 {
        let (dfa, list_of) = self.automaton();
        let every = (1u32 << self.lists.len()) - 1;
        let mut found = 0;
        let mut state = dfa
            .start_state(Anchored::No)
            .expect("built for unanchored searches");
        for &byte in hay.as_bytes() {
            state = dfa.next_state(Anchored::No, state, byte);
            if !dfa.is_special(state) {
                continue;
            }
            if dfa.is_match(state) {
                // A match state has every needle that ends here (standard semantics: its
                // suffixes' too), as an overlapping search reports them.
                for i in 0..dfa.match_len(state) {
                    found |= 1 << list_of[dfa.match_pattern(state, i).as_usize()];
                }
                if found == every {
                    break;
                }
            } else if dfa.is_dead(state) {
                break;
            }
        }
        found
    }
}

/// Where `needle` (non-empty) starts in `hay`, left to right, overlapping occurrences
/// included. The needle's first byte is looked for eight bytes at a step, and only there
/// is the rest compared (a byte-at-a-time filter cost most of a long value's RCE and PHP
/// checks in the guest).
pub(crate) fn positions<'a>(hay: &'a str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let first = n[0];
    let mut from = 0;
    std::iter::from_fn(move || {
        while let Some(i) = find_byte(h, from, first) {
            from = i + 1;
            if starts_with(&h[i..], n) {
                return Some(i);
            }
        }
        from = h.len();
        None
    })
}

/// `hay.starts_with(needle)` as a byte loop: needles are short, and a slice comparison
/// calls `memcmp` (in Wasm, a function of the module) for each candidate.
fn starts_with(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && hay.iter().zip(needle).all(|(a, b)| a == b)
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// Nonzero when a byte of `x` is zero; the lowest flagged byte is exact (a borrow may
/// flag bytes above it).
fn zero_byte(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Where the first `byte` of `hay` at or after `from` is, eight bytes at a step.
pub(crate) fn find_byte(hay: &[u8], from: usize, byte: u8) -> Option<usize> {
    let pattern = ONES * u64::from(byte);
    let rest = hay.get(from..)?;
    let mut words = rest.chunks_exact(8);
    let mut at = from;
    for word in &mut words {
        let x = u64::from_le_bytes(word.try_into().expect("eight bytes")) ^ pattern;
        let zeros = zero_byte(x);
        if zeros != 0 {
            return Some(at + (zeros.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    let tail = words.remainder().iter().position(|&b| b == byte)?;
    Some(at + tail)
}

/// `s` up to its first `byte` (ASCII), all of `s` without one: `s.split(c).next()` as a
/// byte loop (a char split sets a `memchr` up, which in the guest costs more than the
/// short words this is for).
pub(crate) fn before_first(s: &str, byte: u8) -> &str {
    let end = s.bytes().position(|b| b == byte).unwrap_or(s.len());
    &s[..end]
}

/// `s` after its last byte among `bytes` (ASCII), all of `s` without one:
/// `s.rsplit(c).next()` as a byte loop.
#[expect(
    clippy::manual_contains,
    reason = "`bytes.contains` calls `memchr` for every byte of `s`; `bytes` has one or two"
)]
pub(crate) fn after_last<'a>(s: &'a str, bytes: &[u8]) -> &'a str {
    let start = s
        .bytes()
        .rposition(|b| bytes.iter().any(|&x| x == b))
        .map_or(0, |i| i + 1);
    &s[start..]
}

/// A look-up table of `bytes`: scans that pass over most bytes test each with one load
/// (a `match` on several bytes, or a slice's `contains`, which calls `memchr`, cost
/// several times that a byte in the guest).
pub(crate) const fn byte_table(bytes: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
}

/// `s` with its ASCII capitals lower-cased, eight bytes at a step (`to_ascii_lowercase`
/// goes a byte at a time in the guest, and every value the detectors read is lowered).
/// Short values go a byte at a time still: the word loop's set-up and the UTF-8 check
/// of the result cost more than it saves below a few words.
pub(crate) fn ascii_lowercase(s: &str) -> String {
    if s.len() < 32 {
        return s.to_ascii_lowercase();
    }
    let mut out = s.as_bytes().to_vec();
    let mut words = out.chunks_exact_mut(8);
    for w in &mut words {
        let x = u64::from_le_bytes((&*w).try_into().expect("eight bytes"));
        w.copy_from_slice(&lower_word(x).to_le_bytes());
    }
    words.into_remainder().make_ascii_lowercase();
    String::from_utf8(out).expect("only ASCII letters changed")
}

/// The bytes `A`–`Z` of `x` lower-cased: per byte, the high bit of its low seven bits plus
/// `0x80 - b'A'` says `>= b'A'`, plus `0x80 - b'Z' - 1` says `> b'Z'` (no carries: the
/// sums stay below `0x100`); bytes with the high bit set are not ASCII and stay.
fn lower_word(x: u64) -> u64 {
    let low = x & !HIGHS;
    let from_a = low + ONES * u64::from(0x80 - b'A');
    let past_z = low + ONES * u64::from(0x80 - b'Z' - 1);
    let capitals = from_a & !past_z & !x & HIGHS;
    x | (capitals >> 2)
}

/// Whether `hay` holds `byte` (an ASCII byte: `str::contains(char)` sets a `memchr` up per
/// call, which in the guest costs more than the scan of a short value).
pub(crate) fn has_byte(hay: &str, byte: u8) -> bool {
    find_byte(hay.as_bytes(), 0, byte).is_some()
}

/// Whether `needle` (non-empty) occurs in `hay`.
pub(crate) fn has(hay: &str, needle: &str) -> bool {
    positions(hay, needle).next().is_some()
}

/// Whether `s` holds a `%` and whether it holds a NUL, in one pass eight bytes at a step
/// (two `contains(char)` calls set a `memchr` up each, per value, which in Wasm cost more
/// than the scan on most values).
pub(crate) fn percent_and_nul(s: &str) -> (bool, bool) {
    const PERCENTS: u64 = ONES * b'%' as u64;
    let bytes = s.as_bytes();
    let (mut percent, mut nul) = (false, false);
    let mut words = bytes.chunks_exact(8);
    for w in &mut words {
        let word = u64::from_le_bytes(w.try_into().expect("eight bytes"));
        percent |= zero_byte(word ^ PERCENTS) != 0;
        nul |= zero_byte(word) != 0;
        if percent && nul {
            return (true, true);
        }
    }
    for &b in words.remainder() {
        percent |= b == b'%';
        nul |= b == 0;
    }
    (percent, nul)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_and_nul_agree_with_contains() {
        let long = "abcdefgh".repeat(5);
        for s in [
            "",
            "%",
            "\0",
            "a%b\0c",
            "abcdefgh%",
            "abcdefg\0",
            "%abcdefghijklmnop",
            "é%€",
            "no marks at all here",
            &long,
        ] {
            assert_eq!(
                percent_and_nul(s),
                (s.contains('%'), s.contains('\0')),
                "{s:?}"
            );
        }
        for i in 0..20 {
            let mut v = vec![b'x'; 20];
            v[i] = 0;
            let s = String::from_utf8(v).unwrap();
            assert_eq!(percent_and_nul(&s), (false, true), "NUL at {i}");
        }
    }

    #[test]
    fn needle_lists_find_every_occurrence() {
        static SETS: NeedleSets = NeedleSets::new(&[&["abc", "b"], &["bcd", "xy"], &["cd"]]);
        let naive = |hay: &str| {
            (0u32..)
                .zip(SETS.lists)
                .filter(|(_, l)| l.iter().any(|n| hay.contains(n)))
                .fold(0, |bits, (i, _)| bits | 1 << i)
        };
        static LIST: Needles = Needles::new(&["abc", "b", "bcd", "xy", "cd"]);
        for hay in [
            "", "a", "abcd", "xbcd", "cd", "xxy", "zzz", "b", "éabcé", "ab cd",
        ] {
            assert_eq!(SETS.which(hay), naive(hay), "{hay:?}");
            assert_eq!(LIST.contains(hay), naive(hay) != 0, "{hay:?}");
            // Every occurrence, overlapping ones too, at its start.
            let mut seen = Vec::new();
            LIST.find(hay, |at, needle| {
                seen.push((at, needle.to_owned()));
                false
            });
            seen.sort();
            let mut all = Vec::new();
            for &n in LIST.list {
                all.extend(
                    (0..hay.len())
                        .filter(|&i| hay.as_bytes()[i..].starts_with(n.as_bytes()))
                        .map(|i| (i, n.to_owned())),
                );
            }
            all.sort();
            assert_eq!(seen, all, "{hay:?}");
        }
    }

    #[test]
    fn lowers_as_str_does() {
        let every: String = (0u8..128).map(char::from).collect();
        for s in [
            "",
            "ABC",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 ZZ@[`{",
            "ÉCOLE Straße ÀÖ",
            every.as_str(),
            &every[3..],
            &every[90..],
        ] {
            assert_eq!(ascii_lowercase(s), s.to_ascii_lowercase(), "{s:?}");
        }
    }

    #[test]
    fn finds_what_str_finds() {
        for (hay, needle) in [
            ("a<?php", "<?"),
            ("no", "<?"),
            ("x::int::text", "::"),
            ("ééé::x", "::"),
            ("", "ab"),
            ("ab", "ab"),
            ("a", "ab"),
        ] {
            assert_eq!(has(hay, needle), hay.contains(needle), "{hay} / {needle}");
            let ours: Vec<usize> = positions(hay, needle).collect();
            let theirs: Vec<usize> = hay.match_indices(needle).map(|(i, _)| i).collect();
            assert_eq!(ours, theirs, "{hay} / {needle}");
        }
        assert_eq!(positions("@@@", "@@").collect::<Vec<_>>(), [0, 1]);
        // Every needle and position around the eight-byte steps.
        let hay = "ab:cd<?ef;gh|ij:\"kl() {mn$(op)qr`st`uv<?php x;";
        for start in 0..hay.len() {
            for len in 1..=6.min(hay.len() - start) {
                let needle = &hay[start..start + len];
                for h in [hay, &hay[start..], &hay[..start + len], &hay[start / 2..]] {
                    let ours: Vec<usize> = positions(h, needle).collect();
                    let theirs: Vec<usize> = (0..h.len())
                        .filter(|&i| h[i..].starts_with(needle))
                        .collect();
                    assert_eq!(ours, theirs, "{h:?} / {needle:?}");
                }
            }
        }
        assert_eq!(find_byte(b"abc", 3, b'c'), None);
        assert_eq!(find_byte(b"abc", 4, b'c'), None);
        assert_eq!(find_byte(b"aaaaaaaaaaac", 2, b'c'), Some(11));
        for s in ["", ".", "a.b", "a.b.c", "ab.", ".ab", "é.x/y\\z"] {
            assert_eq!(
                before_first(s, b'.'),
                s.split('.').next().unwrap_or(s),
                "{s:?}"
            );
            assert_eq!(
                after_last(s, b"."),
                s.rsplit('.').next().unwrap_or(s),
                "{s:?}"
            );
            let theirs = s.rsplit(['/', '\\']).next().unwrap_or(s);
            assert_eq!(after_last(s, b"/\\"), theirs, "{s:?}");
        }
        for h in ["", "&", "a&b&&c", "&&&&&&&&&&&&&&&&&", "abcdefgh&ijklmnop&"] {
            let theirs: Vec<usize> = h.match_indices('&').map(|(i, _)| i).collect();
            assert_eq!(positions(h, "&").collect::<Vec<_>>(), theirs, "{h:?}");
        }
    }
}
