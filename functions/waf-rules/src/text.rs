//! Substring search for what detectors look for in every value: needle lists in one
//! pass (`Needles`), and single short needles without a searcher's set-up cost
//! ([`has`], [`positions`]: `str::contains(&str)` builds a two-way searcher per call,
//! which natively hides behind a SIMD fast path but in the wasm guest cost more than the
//! scan itself).

use std::sync::OnceLock;

use aho_corasick::AhoCorasick;

/// A list of needles found in one pass over a value: an Aho-Corasick automaton, built
/// on first use (at configuration: see `detect::prepare`, so that it is in the function's
/// snapshot). One pass instead of a substring searcher per needle per value (which cost
/// more than everything else the WAF does on an ordinary request).
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

/// Where `needle` (non-empty) starts in `hay`, left to right, overlapping occurrences
/// included.
pub(crate) fn positions<'a>(hay: &'a str, needle: &'a str) -> impl Iterator<Item = usize> + 'a {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    let first = n[0];
    h.iter()
        .enumerate()
        .filter(move |&(i, &b)| b == first && h[i..].starts_with(n))
        .map(|(i, _)| i)
}

/// Whether `needle` (non-empty) occurs in `hay`.
pub(crate) fn has(hay: &str, needle: &str) -> bool {
    positions(hay, needle).next().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    }
}
