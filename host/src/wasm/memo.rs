//! Reusing hook outcomes: a function with one hook that declares what that hook depends
//! on (`viewer-request-inputs`, `cache-key-inputs`, `viewer-response-inputs`: header
//! names and `:path`-style request parts, up to the whole request) is run once per
//! distinct set of values; later requests with the same values get the recorded outcome
//! replayed without an instance — request edits and decision, key part, or response
//! edits, and the log lines and rule counts the run produced. While recording, any read
//! outside the declared inputs (or a refused edit) taints the outcome, which is then
//! neither stored nor reused (and logged once). A run that asks a shared rate-limit
//! counter is not stored either, quietly: its answer changes from one request to the next.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use http::{HeaderMap, HeaderName, HeaderValue};

use super::bindings::wedge::function::log::Level;
use super::function::{HookOutcome, SyntheticResponse};
use super::request::RequestView;
use crate::config::FunctionId;

/// Keys longer than this (very long User-Agents, a whole request with a large body) are
/// not cached.
const MAX_KEY_BYTES: usize = 4096;

/// The most bytes of log lines and rule names one outcome keeps for replay; a run that
/// produces more is not stored.
const MAX_EFFECT_BYTES: usize = 4096;

/// Bytes of key, edits, effects and answer one unit of `decision_cache` capacity stands
/// for: a larger outcome (a whole request's key, a synthetic answer's body) counts once
/// per started block, so the cache's memory stays bounded by its entry count times this,
/// whatever functions declare and answer.
const BYTES_PER_ENTRY: usize = 512;

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

/// An effect of a run beyond its edits, replayed with its outcome.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    /// A line the function logged (already cut to the longest kept message).
    Log(Level, String),
    /// A rule the function counted (`rule-metrics.matched`).
    RuleMatched { rule: String, action: String },
}

impl Effect {
    fn cost(&self) -> usize {
        match self {
            Effect::Log(_, message) => message.len(),
            Effect::RuleMatched { rule, action } => rule.len() + action.len(),
        }
    }
}

/// Something a hook's outcome may depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
    Header(HeaderName),
    Part(Part),
}

/// A request part an input may name (`:path`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    Method,
    Path,
    Query,
    /// The query with every parameter value that is a bare token (letters, digits, `_`,
    /// `-`) counted as the same value: for a function whose outcome never depends on
    /// which bare token a parameter holds (the WAF, whose detectors skip them, unless its
    /// rules say otherwise), so that cache-busters, ids and click ids do not make every
    /// request new.
    /// Declaring it covers reading the query.
    QueryShape,
    Host,
    Scheme,
    /// Every header, names and values: declaring it covers reading any one of them.
    Headers,
    ClientIp,
    Sni,
    /// The part of the body the function may read.
    Body,
}

impl Part {
    const ALL: [Part; 10] = [
        Part::Method,
        Part::Path,
        Part::Query,
        Part::QueryShape,
        Part::Host,
        Part::Scheme,
        Part::Headers,
        Part::ClientIp,
        Part::Sni,
        Part::Body,
    ];

    /// The part's name, as declared (after the `:`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            Part::Method => "method",
            Part::Path => "path",
            Part::Query => "query",
            Part::QueryShape => "query-shape",
            Part::Host => "host",
            Part::Scheme => "scheme",
            Part::Headers => "headers",
            Part::ClientIp => "client-ip",
            Part::Sni => "sni",
            Part::Body => "body",
        }
    }
}

impl Input {
    /// The input as declared (`user-agent`, `:query-shape`).
    pub(crate) fn name(&self) -> String {
        match self {
            Input::Header(h) => h.as_str().to_owned(),
            Input::Part(p) => format!(":{}", p.name()),
        }
    }

    /// Parses a declared input: a header name, or one of the `:part` names.
    pub(crate) fn parse(name: &str) -> Result<Input, String> {
        if let Some(part) = name.strip_prefix(':') {
            return Part::ALL
                .into_iter()
                .find(|p| p.name() == part)
                .map(Input::Part)
                .ok_or_else(|| {
                    let known: Vec<&str> = Part::ALL.iter().map(|p| p.name()).collect();
                    format!("unknown input `{name}` (known: :{})", known.join(", :"))
                });
        }
        HeaderName::from_bytes(name.as_bytes())
            .map(Input::Header)
            .map_err(|_| format!("invalid header name `{name}`"))
    }
}

/// What a hook did, observed while it ran.
#[derive(Debug)]
pub(crate) struct Recording {
    inputs: Arc<[Input]>,
    pub(crate) edits: Vec<Edit>,
    effects: Vec<Effect>,
    effect_bytes: usize,
    /// The first thing read outside the declared inputs, if any.
    pub(crate) tainted: Option<String>,
    /// Whether the run asked something whose answer changes between requests with the
    /// same inputs (a rate-limit counter), said its outcome must not be reused
    /// (`do-not-reuse`), or had more effects than an outcome keeps: not a mistake in the
    /// declaration, but the outcome cannot be reused.
    pub(crate) volatile: bool,
}

impl Recording {
    pub(crate) fn new(inputs: Arc<[Input]>) -> Self {
        Self {
            inputs,
            edits: Vec::new(),
            effects: Vec::new(),
            effect_bytes: 0,
            tainted: None,
            volatile: false,
        }
    }

    /// Notes a read of a request part: fine when it is declared, a taint otherwise.
    pub(crate) fn read_part(&mut self, part: Part) {
        let declared = |p| self.inputs.contains(&Input::Part(p));
        if !(declared(part) || (part == Part::Query && declared(Part::QueryShape))) {
            self.taint(part.name());
        }
    }

    /// Notes something no declaration covers (the response, a rewrite, a refused edit):
    /// the run's outcome is not stored.
    pub(crate) fn taint(&mut self, what: &str) {
        if self.tainted.is_none() {
            self.tainted = Some(what.to_owned());
        }
    }

    /// Keeps an effect of the run for replay; one with too much to keep cannot be
    /// replayed.
    pub(crate) fn effect(&mut self, effect: Effect) {
        self.effect_bytes += effect.cost();
        if self.effect_bytes > MAX_EFFECT_BYTES {
            self.volatile = true;
            self.effects.clear();
            return;
        }
        self.effects.push(effect);
    }

    /// Notes a read of header `name`.
    pub(crate) fn read_header(&mut self, name: &str) {
        let declared = self.inputs.iter().any(|i| match i {
            Input::Header(h) => h.as_str().eq_ignore_ascii_case(name),
            Input::Part(p) => *p == Part::Headers,
        });
        if !declared && self.tainted.is_none() {
            self.tainted = Some(format!("header `{name}`"));
        }
    }
}

/// The outcome of one recorded run.
#[derive(Debug)]
pub(crate) struct Outcome {
    edits: Vec<Edit>,
    pub(crate) effects: Vec<Effect>,
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

/// Bits in the doorkeeper (32 KiB); it remembers `DOORKEEPER_BITS / 32` distinct recent
/// keys, then starts over.
const DOORKEEPER_BITS: usize = 1 << 18;

/// Remembers which keys were seen recently, so that only a key's second sighting pays
/// for recording and storing its outcome (TinyLFU's "doorkeeper"). With traffic where
/// most keys never repeat (every User-Agent new), inserting each one would cost more
/// than the cache saves; a Bloom filter of two bits a key costs a hash and two atomics.
/// Its false positives (a new key taken for a repeated one, recorded and stored for
/// nothing) stay under (1/16)² ≈ 0.4 %: it starts over before a sixteenth of its bits
/// are set (with one bit a key and an eighth, up to 12 % of new keys were stored).
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

    /// Marks the key hashed to `h` as seen; true if it was seen before (since the last
    /// reset).
    fn seen_before(&self, h: u64) -> bool {
        // Two bit positions from the hash's two halves.
        let mut seen = true;
        for half in [h as u32, (h >> 32) as u32] {
            let i = half as usize % DOORKEEPER_BITS;
            let bit = 1u64 << (i % 64);
            seen &= self.bits[i / 64].fetch_or(bit, Ordering::Relaxed) & bit != 0;
        }
        if seen {
            return true;
        }
        // Once about a sixteenth of the bits are set, start over.
        if self.marked.fetch_add(1, Ordering::Relaxed) as usize > DOORKEEPER_BITS / 32 {
            self.marked.store(0, Ordering::Relaxed);
            for w in self.bits.iter() {
                w.store(0, Ordering::Relaxed);
            }
        }
        false
    }
}

/// Appends one value to a key: a 1 byte, then the value (header values, paths, hosts and
/// the like hold neither the 1 nor the 0 that ends each input).
fn value(key: &mut Vec<u8>, value: impl AsRef<[u8]>) {
    key.push(1);
    key.extend_from_slice(value.as_ref());
}

/// Appends `query` with the value of each `name=value` pair that is a bare token (one or
/// more ASCII letters, digits, `_` or `-`: nothing to decode) replaced by a 2 byte, which
/// no query holds; everything else is kept as sent.
fn query_shape(key: &mut Vec<u8>, query: &str) {
    let bare = |v: &[u8]| {
        !v.is_empty()
            && v.iter()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
    };
    for (i, pair) in query.as_bytes().split(|&b| b == b'&').enumerate() {
        if i > 0 {
            key.push(b'&');
        }
        match pair.iter().position(|&b| b == b'=') {
            Some(eq) if bare(&pair[eq + 1..]) => {
                key.extend_from_slice(&pair[..=eq]);
                key.push(2);
            }
            _ => key.extend_from_slice(pair),
        }
    }
}

/// A request's key in a decision cache: its inputs' bytes, and their hash, worked out
/// once and used by both the doorkeeper and the cache's table (which hashes only that).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    hash: u64,
    bytes: Box<[u8]>,
}

impl std::hash::Hash for Key {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// An outcome's share of its cache's capacity (see [`BYTES_PER_ENTRY`]).
fn weight(key: &Key, outcome: &Arc<Outcome>) -> u32 {
    let edits: usize = outcome.edits.iter().map(Edit::cost).sum();
    let effects: usize = outcome.effects.iter().map(Effect::cost).sum();
    let answer = outcome.respond.as_ref().map_or(0, |r| {
        r.body.len()
            + r.headers
                .iter()
                .map(|(n, v)| n.as_str().len() + v.len())
                .sum::<usize>()
    });
    let key_part = outcome.key_part.as_ref().map_or(0, String::len);
    let bytes = key.bytes.len() + edits + effects + answer + key_part;
    u32::try_from(bytes / BYTES_PER_ENTRY + 1).unwrap_or(u32::MAX)
}

/// A bounded cache of outcomes for one function's one hook.
pub(crate) struct DecisionCache {
    /// The hook whose outcomes are kept.
    pub(crate) hook: super::Hook,
    pub(crate) inputs: Arc<[Input]>,
    /// Keyed by a fast seeded hash (foldhash, as hashbrown uses) of the key's bytes, made
    /// once per request ([`Key`]): SipHash over a whole-request key of hundreds of bytes,
    /// once here and once in the doorkeeper, cost more than the rest of a lookup.
    outcomes: moka::sync::Cache<Key, Arc<Outcome>, foldhash::fast::RandomState>,
    hasher: foldhash::fast::RandomState,
    doorkeeper: Doorkeeper,
    warned: AtomicBool,
    /// Bytes of the buffered body the function may read (`:body` keys on those only).
    inspect_body: usize,
}

impl DecisionCache {
    /// A cache of about `entries` outcomes (see [`BYTES_PER_ENTRY`]) for `hook`.
    pub(crate) fn new(
        hook: super::Hook,
        inputs: Vec<Input>,
        entries: u64,
        inspect_body: usize,
    ) -> Self {
        Self {
            hook,
            inputs: inputs.into(),
            outcomes: moka::sync::Cache::builder()
                .max_capacity(entries)
                .weigher(weight)
                .build_with_hasher(Default::default()),
            hasher: Default::default(),
            doorkeeper: Doorkeeper::new(),
            warned: AtomicBool::new(false),
            inspect_body,
        }
    }

    /// The cache key for a request: each declared input's values, in declaration
    /// order, with absent and empty told apart. None when too long to cache. Built in a
    /// per-thread buffer, then copied once at its exact size (growing a fresh vector
    /// to a whole request's key reallocated it up to glibc's large chunks).
    fn key(&self, view: &RequestView) -> Option<Key> {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with_borrow_mut(|key| {
            key.clear();
            let built = self.key_into(view, key).then(|| Key {
                hash: std::hash::BuildHasher::hash_one(&self.hasher, &key[..]),
                bytes: Box::from(&key[..]),
            });
            // A huge head (too long to key anyway) does not stay allocated per thread.
            if key.capacity() > 4 * MAX_KEY_BYTES {
                *key = Vec::new();
            }
            built
        })
    }

    /// Writes the key into `key`; false when it is too long to cache.
    fn key_into(&self, view: &RequestView, key: &mut Vec<u8>) -> bool {
        for input in self.inputs.iter() {
            match input {
                Input::Header(name) => {
                    for v in view.parts.headers.get_all(name) {
                        value(key, v.as_bytes());
                    }
                }
                Input::Part(Part::Headers) => {
                    // Names and values in the map's order (insertion order by name):
                    // the same headers sent in another order make another key, which
                    // costs a run, never a wrong answer.
                    for (name, v) in view.parts.headers.iter() {
                        key.extend_from_slice(name.as_str().as_bytes());
                        key.push(b':');
                        key.extend_from_slice(v.as_bytes());
                        key.push(1);
                    }
                }
                // Tagged with its family, so a v4 and a v6 address never share bytes.
                Input::Part(Part::ClientIp) => match view.client_ip {
                    std::net::IpAddr::V4(ip) => {
                        key.push(4);
                        key.extend_from_slice(&ip.octets());
                    }
                    std::net::IpAddr::V6(ip) => {
                        key.push(6);
                        key.extend_from_slice(&ip.octets());
                    }
                },
                Input::Part(Part::Sni) => {
                    if let Some(sni) = &view.sni {
                        value(key, sni.as_bytes());
                    }
                }
                Input::Part(Part::Body) => {
                    // Only the part the function may read; checked for length before
                    // copying, as a body may be large.
                    let body = view.body_prefix.as_deref().unwrap_or_default();
                    let body = &body[..body.len().min(self.inspect_body)];
                    if key.len() + body.len() > MAX_KEY_BYTES {
                        return false;
                    }
                    // Length first: the body's bytes are arbitrary.
                    key.extend_from_slice(&(body.len() as u32).to_le_bytes());
                    key.extend_from_slice(body);
                }
                Input::Part(Part::Query) => {
                    // Absent and empty told apart.
                    if let Some(q) = view.parts.uri.query() {
                        value(key, q);
                    }
                }
                Input::Part(Part::QueryShape) => {
                    if let Some(q) = view.parts.uri.query() {
                        key.push(1);
                        query_shape(key, q);
                    }
                }
                Input::Part(Part::Method) => value(key, view.parts.method.as_str()),
                Input::Part(Part::Path) => value(key, view.parts.uri.path()),
                Input::Part(Part::Host) => value(key, &view.host),
                Input::Part(Part::Scheme) => value(key, view.scheme),
            }
            key.push(0);
        }
        key.len() <= MAX_KEY_BYTES
    }

    /// Replays a stored outcome onto `view`, with the effects the caller replays. None
    /// on a miss, or when the replay would exceed the request's write budget (the
    /// function then runs as usual).
    fn replay(&self, key: &Key, view: &mut RequestView) -> Option<(HookOutcome, Arc<Outcome>)> {
        let outcome = self.outcomes.get(key)?;
        let cost: usize = outcome.edits.iter().map(Edit::cost).sum();
        if view.written.saturating_add(cost) > view.write_limit {
            return None;
        }
        view.written += cost;
        for edit in &outcome.edits {
            edit.apply(&mut view.parts.headers, None);
        }
        let decision = match &outcome.respond {
            None => HookOutcome::Continue,
            Some(r) => HookOutcome::Respond(r.clone()),
        };
        Some((decision, outcome))
    }

    /// The stored key part of a cache-key hook: `None` on a miss.
    fn replay_key(&self, key: &Key) -> Option<(Option<String>, Arc<Outcome>)> {
        self.outcomes.get(key).map(|o| (o.key_part.clone(), o))
    }

    /// Replays stored response edits onto `resp` (the caller replays the outcome's
    /// effects); None on a miss or when they would exceed the response's write budget
    /// (the function then runs as usual).
    fn replay_response(
        &self,
        key: &Key,
        resp: &mut super::response::ResponseView,
    ) -> Option<Arc<Outcome>> {
        let outcome = self.outcomes.get(key)?;
        let cost: usize = outcome.edits.iter().map(Edit::cost).sum();
        if resp.written.saturating_add(cost) > resp.write_limit {
            return None;
        }
        resp.written += cost;
        for edit in &outcome.edits {
            edit.apply(&mut resp.parts.headers, Some(&mut resp.parts.status));
        }
        Some(outcome)
    }

    /// Stores what a run did, unless it read outside its declared inputs or is volatile
    /// (it asked a shared counter or said not to reuse it; see `Recording::volatile`).
    fn store(&self, function: &FunctionId, key: Key, recording: Recording, returned: Returned<'_>) {
        if recording.volatile {
            return;
        }
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
            key,
            Arc::new(Outcome {
                edits: recording.edits,
                effects: recording.effects,
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
    key: Key,
    /// Whether the doorkeeper saw the key before. Only such a key is looked up or
    /// recorded: a first sighting cannot be stored (outcomes are recorded from the
    /// second on), so distinct requests skip the cache altogether. After the doorkeeper
    /// starts over, a stored key runs once more before it is replayed again.
    seen: bool,
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
        let seen = cache.doorkeeper.seen_before(key.hash);
        Some(Slot { cache, key, seen })
    }

    /// The stored outcome of a request hook, replayed onto `view` (see
    /// [`DecisionCache::replay`]); the caller replays its effects.
    pub(crate) fn replay(&self, view: &mut RequestView) -> Option<(HookOutcome, Arc<Outcome>)> {
        self.seen.then(|| self.cache.replay(&self.key, view))?
    }

    /// The stored key part of a cache-key hook.
    pub(crate) fn replay_key(&self) -> Option<(Option<String>, Arc<Outcome>)> {
        self.seen.then(|| self.cache.replay_key(&self.key))?
    }

    /// The stored response edits, replayed onto `resp`.
    pub(crate) fn replay_response(
        &self,
        resp: &mut super::response::ResponseView,
    ) -> Option<Arc<Outcome>> {
        self.seen
            .then(|| self.cache.replay_response(&self.key, resp))?
    }

    /// A recorder for this run, from the key's second sighting on.
    pub(crate) fn recording(&self) -> Option<Recording> {
        self.seen.then(|| Recording::new(self.cache.inputs.clone()))
    }

    /// Stores what a recorded run did.
    pub(crate) fn store(self, function: &FunctionId, recording: Recording, returned: Returned<'_>) {
        self.cache.store(function, self.key, recording, returned);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(headers: &[(&str, &str)], body: &[u8]) -> RequestView {
        let mut req = http::Request::post("/p?q=1");
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let (parts, ()) = req.body(()).unwrap().into_parts();
        let ip = "192.0.2.7".parse().unwrap();
        let mut view = RequestView::new(parts, ip, None, "https", "site.test".into());
        view.body_prefix = Some(bytes::Bytes::copy_from_slice(body));
        view
    }

    fn whole_request_cache(inspect_body: usize) -> DecisionCache {
        let inputs = [
            ":method",
            ":path",
            ":query",
            ":client-ip",
            ":headers",
            ":body",
        ]
        .iter()
        .map(|n| Input::parse(n).unwrap())
        .collect();
        DecisionCache::new(super::super::Hook::ViewerRequest, inputs, 100, inspect_body)
    }

    #[test]
    fn the_doorkeeper_knows_a_key_the_second_time_and_rarely_mistakes_a_new_one() {
        let d = Doorkeeper::new();
        let hasher = foldhash::fast::RandomState::default();
        let h = |key: &[u8]| std::hash::BuildHasher::hash_one(&hasher, key);
        assert!(!d.seen_before(h(b"a")));
        assert!(d.seen_before(h(b"a")));
        let keys = DOORKEEPER_BITS / 32;
        let mistaken = (0..keys)
            .filter(|i| d.seen_before(h(format!("key {i}").as_bytes())))
            .count();
        // About 0.1 % expected over a fill from empty to a sixteenth.
        assert!(
            mistaken < keys / 100,
            "{mistaken} of {keys} new keys taken as seen"
        );
    }

    #[test]
    fn a_whole_request_key_tells_apart_every_header_and_the_readable_body() {
        let cache = whole_request_cache(4);
        let key = |h: &[(&str, &str)], b: &[u8]| cache.key(&view(h, b)).unwrap();
        let base = key(&[("a", "1"), ("b", "2")], b"body");
        assert_eq!(base, key(&[("a", "1"), ("b", "2")], b"body"));
        assert_ne!(base, key(&[("a", "1"), ("b", "3")], b"body"));
        assert_ne!(base, key(&[("a", "1"), ("c", "2")], b"body"));
        assert_ne!(base, key(&[("a", "1")], b"body"));
        assert_ne!(base, key(&[("a", "1"), ("b", "2")], b"bod"));
        // Past what the function may read, the body makes no difference.
        assert_eq!(base, key(&[("a", "1"), ("b", "2")], b"body and more"));
        // A body too large to key on makes the request uncacheable.
        let big = whole_request_cache(1 << 20);
        assert!(big.key(&view(&[], &[b'x'; MAX_KEY_BYTES])).is_none());
    }

    #[test]
    fn an_outcome_weighs_its_key_and_its_answer() {
        let outcome = |respond| {
            Arc::new(Outcome {
                edits: Vec::new(),
                effects: Vec::new(),
                respond,
                key_part: None,
            })
        };
        let key = Key {
            hash: 0,
            bytes: vec![0u8; 100].into(),
        };
        assert_eq!(weight(&key, &outcome(None)), 1);
        let blocked = SyntheticResponse {
            status: http::StatusCode::FORBIDDEN,
            headers: HeaderMap::new(),
            body: bytes::Bytes::from(vec![b'x'; 100 * 1024]),
        };
        assert_eq!(weight(&key, &outcome(Some(blocked))), 201);
    }

    #[test]
    fn reading_any_header_is_declared_by_headers_and_too_many_effects_stop_a_store() {
        let inputs: Arc<[Input]> = vec![Input::parse(":headers").unwrap()].into();
        let mut rec = Recording::new(inputs);
        rec.read_header("x-anything");
        rec.read_part(Part::Headers);
        assert_eq!(rec.tainted, None);
        rec.read_part(Part::Path);
        assert_eq!(rec.tainted.as_deref(), Some("path"));
        // Effects past the cap are not kept, and the run is not stored.
        let mut rec = Recording::new(Arc::from(vec![]));
        rec.effect(Effect::Log(Level::Info, "x".repeat(MAX_EFFECT_BYTES)));
        assert!(!rec.volatile);
        rec.effect(Effect::Log(Level::Info, "one more".into()));
        assert!(rec.volatile && rec.effects.is_empty());
    }

    #[test]
    fn the_query_shape_counts_bare_values_as_one_and_keeps_the_rest() {
        let inputs = vec![Input::parse(":query-shape").unwrap()];
        let cache = DecisionCache::new(super::super::Hook::ViewerRequest, inputs, 100, 0);
        let key = |uri: &str| {
            let (parts, ()) = http::Request::get(uri).body(()).unwrap().into_parts();
            let ip = "192.0.2.7".parse().unwrap();
            let view = RequestView::new(parts, ip, None, "https", "site.test".into());
            cache.key(&view).unwrap()
        };
        let base = key("/p?q=abc-1&page=search");
        assert_eq!(base, key("/p?q=Zz_9&page=other"));
        // Names, values to decode or with punctuation, empty values, pairs without a
        // value and an absent query are told apart.
        for other in [
            "/p?r=abc-1&page=search",
            "/p?q=a%20b&page=search",
            "/p?q=a+b&page=search",
            "/p?q=1.5&page=search",
            "/p?q=&page=search",
            "/p?q&page=search",
            "/p?page=search&q=abc-1",
            "/p?q=abc-1&page=search&",
            "/p",
            "/p?",
        ] {
            assert_ne!(base, key(other), "{other}");
        }
        assert_ne!(key("/p"), key("/p?"));
        // Declaring the shape covers reading the query, not the path.
        let mut rec = Recording::new(cache.inputs.clone());
        rec.read_part(Part::Query);
        assert_eq!(rec.tainted, None);
        rec.read_part(Part::Path);
        assert_eq!(rec.tainted.as_deref(), Some("path"));
    }
}
