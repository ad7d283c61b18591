//! Reusing viewer-request outcomes: a function that declares the headers its decision
//! depends on (`viewer-request-inputs`) is run once per distinct set of values; later
//! requests with the same values get the recorded header edits and decision replayed
//! without an instance. While recording, any read outside the declared inputs (or a
//! refused edit) taints the outcome, which is then neither stored nor reused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};

use super::function::{HookOutcome, SyntheticResponse};
use super::request::RequestView;
use crate::config::FunctionId;

/// Keys longer than this (very long User-Agents, say) are not cached.
const MAX_KEY_BYTES: usize = 4096;

/// One header edit made by a function.
#[derive(Debug, Clone)]
pub(crate) enum Edit {
    Set(HeaderName, HeaderValue),
    Append(HeaderName, HeaderValue),
    Remove(HeaderName),
}

impl Edit {
    fn cost(&self) -> usize {
        match self {
            Edit::Set(n, v) | Edit::Append(n, v) => n.as_str().len() + v.len(),
            Edit::Remove(_) => 0,
        }
    }

    fn apply(&self, headers: &mut HeaderMap) {
        match self {
            Edit::Set(n, v) => {
                headers.insert(n.clone(), v.clone());
            }
            Edit::Append(n, v) => {
                headers.append(n.clone(), v.clone());
            }
            Edit::Remove(n) => {
                headers.remove(n);
            }
        }
    }
}

/// What a hook did, observed while it ran.
#[derive(Debug)]
pub(crate) struct Recording {
    inputs: Arc<[HeaderName]>,
    pub(crate) edits: Vec<Edit>,
    /// The first thing read outside the declared inputs, if any.
    pub(crate) tainted: Option<String>,
}

impl Recording {
    pub(crate) fn new(inputs: Arc<[HeaderName]>) -> Self {
        Self {
            inputs,
            edits: Vec::new(),
            tainted: None,
        }
    }

    /// Notes a read of something other than a header.
    pub(crate) fn read(&mut self, what: &str) {
        if self.tainted.is_none() {
            self.tainted = Some(what.to_owned());
        }
    }

    /// Notes a read of header `name`.
    pub(crate) fn read_header(&mut self, name: &str) {
        let declared = self
            .inputs
            .iter()
            .any(|h| h.as_str().eq_ignore_ascii_case(name));
        if !declared {
            self.read(&format!("header `{name}`"));
        }
    }
}

/// The outcome of one recorded run.
#[derive(Debug)]
struct Outcome {
    edits: Vec<Edit>,
    respond: Option<SyntheticResponse>,
}

/// Bits in the doorkeeper: how many distinct recent keys it remembers.
const DOORKEEPER_BITS: usize = 1 << 16;

/// Remembers which keys were seen recently, so that only a key's second sighting pays
/// for recording and storing its outcome (TinyLFU's "doorkeeper"). With traffic where
/// most keys never repeat (every User-Agent new), inserting each one would cost more
/// than the cache saves; a Bloom-like bit set costs a hash and one atomic.
struct Doorkeeper {
    bits: Box<[AtomicU64]>,
    marked: AtomicU64,
}

impl Doorkeeper {
    fn new() -> Self {
        Self {
            bits: (0..DOORKEEPER_BITS / 64)
                .map(|_| AtomicU64::new(0))
                .collect(),
            marked: AtomicU64::new(0),
        }
    }

    /// Marks `key` as seen; true if it was seen before (since the last reset).
    fn seen_before(&self, key: &[u8]) -> bool {
        use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
        let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(key) as usize;
        let (word, bit) = ((h / 64) % self.bits.len(), 1u64 << (h % 64));
        let before = self.bits[word].fetch_or(bit, Ordering::Relaxed);
        if before & bit != 0 {
            return true;
        }
        // Once an eighth of the bits are set, false positives grow: start over.
        if self.marked.fetch_add(1, Ordering::Relaxed) as usize > DOORKEEPER_BITS / 8 {
            self.marked.store(0, Ordering::Relaxed);
            for w in self.bits.iter() {
                w.store(0, Ordering::Relaxed);
            }
        }
        false
    }
}

/// A bounded cache of outcomes for one function.
pub(crate) struct DecisionCache {
    pub(crate) inputs: Arc<[HeaderName]>,
    outcomes: moka::sync::Cache<Box<[u8]>, Arc<Outcome>>,
    doorkeeper: Doorkeeper,
    warned: AtomicBool,
}

impl DecisionCache {
    pub(crate) fn new(inputs: Vec<HeaderName>, entries: u64) -> Self {
        Self {
            inputs: inputs.into(),
            outcomes: moka::sync::Cache::new(entries),
            doorkeeper: Doorkeeper::new(),
            warned: AtomicBool::new(false),
        }
    }

    /// The cache key for a request: each declared header's values, in declaration
    /// order, with absent and empty told apart. None when too long to cache.
    pub(crate) fn key(&self, headers: &HeaderMap) -> Option<Box<[u8]>> {
        let mut key = Vec::with_capacity(256);
        for name in self.inputs.iter() {
            for value in headers.get_all(name) {
                key.push(1);
                key.extend_from_slice(value.as_bytes());
            }
            key.push(0);
        }
        (key.len() <= MAX_KEY_BYTES).then(|| key.into_boxed_slice())
    }

    /// Whether a run for `key` is worth recording: only from its second sighting on.
    pub(crate) fn worth_recording(&self, key: &[u8]) -> bool {
        self.doorkeeper.seen_before(key)
    }

    /// Replays a stored outcome onto `view`. None on a miss, or when the replay would
    /// exceed the request's write budget (the function then runs as usual).
    pub(crate) fn replay(&self, key: &[u8], view: &mut RequestView) -> Option<HookOutcome> {
        let outcome = self.outcomes.get(key)?;
        let cost: usize = outcome.edits.iter().map(Edit::cost).sum();
        if view.written.saturating_add(cost) > view.write_limit {
            return None;
        }
        view.written += cost;
        for edit in &outcome.edits {
            edit.apply(&mut view.parts.headers);
        }
        Some(match &outcome.respond {
            None => HookOutcome::Continue,
            Some(r) => HookOutcome::Respond(r.clone()),
        })
    }

    /// Stores what a run did, unless it read outside its declared inputs.
    pub(crate) fn store(
        &self,
        function: &FunctionId,
        key: Box<[u8]>,
        recording: Recording,
        outcome: &HookOutcome,
    ) {
        if let Some(what) = recording.tainted {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    function = %function,
                    "declares its viewer-request inputs but read {what}; its decisions are not reused for such requests"
                );
            }
            return;
        }
        let respond = match outcome {
            HookOutcome::Continue => None,
            HookOutcome::Respond(r) => Some(r.clone()),
        };
        self.outcomes.insert(
            key,
            Arc::new(Outcome {
                edits: recording.edits,
                respond,
            }),
        );
    }
}
