//! Reusing hook outcomes: a function with one hook that declares what that hook depends
//! on (`viewer-request-inputs`, `cache-key-inputs`, `viewer-response-inputs`: header
//! names and `:path`-style request parts) is run once per distinct set of values; later
//! requests with the same values get the recorded outcome replayed without an
//! instance — request edits and decision, key part, or response edits. While
//! recording, any read outside the declared inputs (or a refused edit) taints the
//! outcome, which is then neither stored nor reused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};

use super::function::{HookOutcome, SyntheticResponse};
use super::request::RequestView;
use crate::config::FunctionId;

/// Keys longer than this (very long User-Agents, say) are not cached.
const MAX_KEY_BYTES: usize = 4096;

/// One edit made by a function: a header edit, or a response status.
#[derive(Debug, Clone)]
pub(crate) enum Edit {
    Set(HeaderName, HeaderValue),
    Append(HeaderName, HeaderValue),
    Remove(HeaderName),
    Status(http::StatusCode),
}

impl Edit {
    fn cost(&self) -> usize {
        match self {
            Edit::Set(n, v) | Edit::Append(n, v) => n.as_str().len() + v.len(),
            Edit::Remove(_) | Edit::Status(_) => 0,
        }
    }

    fn apply(&self, headers: &mut HeaderMap, status: Option<&mut http::StatusCode>) {
        match self {
            Edit::Status(s) => {
                if let Some(status) = status {
                    *status = *s;
                }
            }
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

/// Something a hook's outcome may depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    Header(HeaderName),
    /// `:method`, `:path`, `:query`, `:host` or `:scheme`.
    Part(&'static str),
}

impl Input {
    /// Parses a declared input: a header name, or one of the `:part` names.
    pub(crate) fn parse(name: &str) -> Result<Input, String> {
        if let Some(part) = name.strip_prefix(':') {
            return PARTS
                .iter()
                .find(|p| **p == part)
                .map(|p| Input::Part(p))
                .ok_or_else(|| {
                    format!(
                        "unknown input `{name}` (known: :method, :path, :query, :host, :scheme)"
                    )
                });
        }
        HeaderName::from_bytes(name.as_bytes())
            .map(Input::Header)
            .map_err(|_| format!("invalid header name `{name}`"))
    }
}

/// The request parts an input may name (as the request resource's reads call them).
const PARTS: [&str; 5] = ["method", "path", "query", "host", "scheme"];

/// What a hook did, observed while it ran.
#[derive(Debug)]
pub(crate) struct Recording {
    inputs: Arc<[Input]>,
    pub(crate) edits: Vec<Edit>,
    /// The first thing read outside the declared inputs, if any.
    pub(crate) tainted: Option<String>,
}

impl Recording {
    pub(crate) fn new(inputs: Arc<[Input]>) -> Self {
        Self {
            inputs,
            edits: Vec::new(),
            tainted: None,
        }
    }

    /// Notes a read of something other than a header (`path`, `client-ip`, the
    /// response, ...): fine when it is a declared part, a taint otherwise.
    pub(crate) fn read(&mut self, what: &str) {
        if self.tainted.is_some() {
            return;
        }
        if self
            .inputs
            .iter()
            .any(|i| matches!(i, Input::Part(p) if *p == what))
        {
            return;
        }
        self.tainted = Some(what.to_owned());
    }

    /// Notes a read of header `name`.
    pub(crate) fn read_header(&mut self, name: &str) {
        let declared = self.inputs.iter().any(|i| match i {
            Input::Header(h) => h.as_str().eq_ignore_ascii_case(name),
            Input::Part(_) => false,
        });
        if !declared && self.tainted.is_none() {
            self.tainted = Some(format!("header `{name}`"));
        }
    }
}

/// The outcome of one recorded run.
#[derive(Debug)]
struct Outcome {
    edits: Vec<Edit>,
    respond: Option<SyntheticResponse>,
    /// The part a cache-key hook returned.
    key_part: Option<String>,
}

/// What a hook returned, for storing with its edits.
pub(crate) enum Returned<'a> {
    Decision(&'a HookOutcome),
    KeyPart(&'a Option<String>),
    Nothing,
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

/// A bounded cache of outcomes for one function's one hook.
pub(crate) struct DecisionCache {
    /// The hook whose outcomes are kept.
    pub(crate) hook: super::Hook,
    pub(crate) inputs: Arc<[Input]>,
    outcomes: moka::sync::Cache<Box<[u8]>, Arc<Outcome>>,
    doorkeeper: Doorkeeper,
    warned: AtomicBool,
}

impl DecisionCache {
    pub(crate) fn new(hook: super::Hook, inputs: Vec<Input>, entries: u64) -> Self {
        Self {
            hook,
            inputs: inputs.into(),
            outcomes: moka::sync::Cache::new(entries),
            doorkeeper: Doorkeeper::new(),
            warned: AtomicBool::new(false),
        }
    }

    /// The cache key for a request: each declared input's values, in declaration
    /// order, with absent and empty told apart. None when too long to cache.
    fn key(&self, view: &RequestView) -> Option<Vec<u8>> {
        let mut key = Vec::with_capacity(256);
        for input in self.inputs.iter() {
            match input {
                Input::Header(name) => {
                    for value in view.parts.headers.get_all(name) {
                        key.push(1);
                        key.extend_from_slice(value.as_bytes());
                    }
                }
                Input::Part(part) => {
                    let value: &str = match *part {
                        "method" => view.parts.method.as_str(),
                        "path" => view.parts.uri.path(),
                        "query" => match view.parts.uri.query() {
                            Some(q) => {
                                key.push(1);
                                q
                            }
                            None => "",
                        },
                        "host" => &view.host,
                        _ => view.scheme,
                    };
                    key.push(1);
                    key.extend_from_slice(value.as_bytes());
                }
            }
            key.push(0);
        }
        // Boxed (shrunk) only when stored: a lookup needs no second allocation.
        (key.len() <= MAX_KEY_BYTES).then_some(key)
    }

    /// Whether a run for `key` is worth recording: only from its second sighting on.
    fn worth_recording(&self, key: &[u8]) -> bool {
        self.doorkeeper.seen_before(key)
    }

    /// Replays a stored outcome onto `view`. None on a miss, or when the replay would
    /// exceed the request's write budget (the function then runs as usual).
    fn replay(&self, key: &[u8], view: &mut RequestView) -> Option<HookOutcome> {
        let outcome = self.outcomes.get(key)?;
        let cost: usize = outcome.edits.iter().map(Edit::cost).sum();
        if view.written.saturating_add(cost) > view.write_limit {
            return None;
        }
        view.written += cost;
        for edit in &outcome.edits {
            edit.apply(&mut view.parts.headers, None);
        }
        Some(match &outcome.respond {
            None => HookOutcome::Continue,
            Some(r) => HookOutcome::Respond(r.clone()),
        })
    }

    /// The stored key part of a cache-key hook: `None` on a miss.
    fn replay_key(&self, key: &[u8]) -> Option<Option<String>> {
        self.outcomes.get(key).map(|o| o.key_part.clone())
    }

    /// Replays stored response edits onto `resp`; false on a miss or when they would
    /// exceed the response's write budget (the function then runs as usual).
    fn replay_response(&self, key: &[u8], resp: &mut super::response::ResponseView) -> bool {
        let Some(outcome) = self.outcomes.get(key) else {
            return false;
        };
        let cost: usize = outcome.edits.iter().map(Edit::cost).sum();
        if resp.written.saturating_add(cost) > resp.write_limit {
            return false;
        }
        resp.written += cost;
        for edit in &outcome.edits {
            edit.apply(&mut resp.parts.headers, Some(&mut resp.parts.status));
        }
        true
    }

    /// Stores what a run did, unless it read outside its declared inputs.
    pub(crate) fn store(
        &self,
        function: &FunctionId,
        key: Vec<u8>,
        recording: Recording,
        returned: Returned<'_>,
    ) {
        if let Some(what) = recording.tainted {
            if !self.warned.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    function = %function,
                    "declares its {} inputs but read {what}; its outcomes are not reused for such requests",
                    self.hook.as_str()
                );
            }
            return;
        }
        let (respond, key_part) = match returned {
            Returned::Decision(HookOutcome::Respond(r)) => (Some(r.clone()), None),
            Returned::KeyPart(part) => (None, part.clone()),
            Returned::Decision(HookOutcome::Continue) | Returned::Nothing => (None, None),
        };
        self.outcomes.insert(
            key.into_boxed_slice(),
            Arc::new(Outcome {
                edits: recording.edits,
                respond,
                key_part,
            }),
        );
    }
}

/// One request's place in a function's decision cache for one hook: the key, and from
/// it the replay, the decision to record (doorkeeper) and the store.
pub(crate) struct Slot<'a> {
    cache: &'a DecisionCache,
    key: Vec<u8>,
}

impl<'a> Slot<'a> {
    /// The slot when `cache` keeps outcomes of `hook` and the request's inputs make a
    /// key short enough to keep.
    pub(crate) fn new(
        cache: Option<&'a DecisionCache>,
        hook: super::Hook,
        view: &RequestView,
    ) -> Option<Slot<'a>> {
        let cache = cache.filter(|c| c.hook == hook)?;
        let key = cache.key(view)?;
        Some(Slot { cache, key })
    }

    /// The stored outcome of a request hook, replayed onto `view` (see
    /// [`DecisionCache::replay`]).
    pub(crate) fn replay(&self, view: &mut RequestView) -> Option<HookOutcome> {
        self.cache.replay(&self.key, view)
    }

    /// The stored key part of a cache-key hook.
    pub(crate) fn replay_key(&self) -> Option<Option<String>> {
        self.cache.replay_key(&self.key)
    }

    /// The stored response edits, replayed onto `resp`.
    pub(crate) fn replay_response(&self, resp: &mut super::response::ResponseView) -> bool {
        self.cache.replay_response(&self.key, resp)
    }

    /// A recorder for this run, from the key's second sighting on.
    pub(crate) fn recording(&self) -> Option<Recording> {
        self.cache
            .worth_recording(&self.key)
            .then(|| Recording::new(self.cache.inputs.clone()))
    }

    /// Stores what a recorded run did.
    pub(crate) fn store(self, function: &FunctionId, recording: Recording, returned: Returned<'_>) {
        self.cache.store(function, self.key, recording, returned);
    }
}
