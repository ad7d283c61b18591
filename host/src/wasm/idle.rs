//! Instances kept between requests, for functions that declare their hooks keep no
//! state across requests (`reuse-instance`): a request takes one instead of
//! instantiating, and gives it back when it is over.
//!
//! Idle instances hold pool slots, so all functions together may keep at most a quarter
//! of the pool idle ([`IdleBudget`]); the rest is always there for fresh instances, and
//! when the pool is full anyway the idle ones are dropped to make room.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use super::instance::Live;

/// One function's idle instances, most recently used last.
type IdleList = Mutex<Vec<Live>>;

/// How many instances may sit idle across all functions of one engine, and where they
/// are.
pub(crate) struct IdleBudget {
    max: usize,
    free: AtomicUsize,
    /// Every function's idle list (dropped functions' lists go away on their own).
    lists: Mutex<Vec<Weak<IdleList>>>,
}

impl IdleBudget {
    pub(crate) fn new(max_idle: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max_idle,
            free: AtomicUsize::new(max_idle),
            lists: Mutex::new(Vec::new()),
        })
    }

    /// Instances idle now, across all functions.
    pub(crate) fn idle(&self) -> usize {
        self.max.saturating_sub(self.free.load(Ordering::Relaxed))
    }

    /// Drops every idle instance of every function, freeing their pool slots for fresh
    /// instances; returns how many there were.
    pub(crate) fn evict_all(&self) -> usize {
        let lists: Vec<Arc<IdleList>> = {
            let lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
            lists.iter().filter_map(Weak::upgrade).collect()
        };
        let mut evicted = 0;
        for list in lists {
            // Dropped outside the lock: tearing down a store is not free.
            let dropped = std::mem::take(&mut *lock(&list));
            evicted += dropped.len();
            self.release(dropped.len());
        }
        evicted
    }

    /// Makes `list` one that [`IdleBudget::evict_all`] empties.
    fn register(&self, list: &Arc<IdleList>) {
        let mut lists = self.lists.lock().unwrap_or_else(|e| e.into_inner());
        // Functions unloaded since (reloads) leave dead entries behind.
        lists.retain(|l| l.strong_count() > 0);
        lists.push(Arc::downgrade(list));
    }

    fn reserve(&self) -> bool {
        self.free
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    fn release(&self, n: usize) {
        self.free.fetch_add(n, Ordering::AcqRel);
    }
}

/// Idle instances one function may keep, so that after a burst one function cannot hold
/// the whole budget (instances at the bottom of its stack would never be taken again).
/// A viewer-request hook needs about one instance per worker thread.
const MAX_IDLE_PER_FUNCTION: usize = 16;

/// One function's idle instances, most recently used first out (its memory is the
/// most likely to still be in cache).
pub(crate) struct IdleInstances {
    /// Requests one instance may serve before it is dropped.
    max_uses: u32,
    budget: Arc<IdleBudget>,
    idle: Arc<IdleList>,
}

impl IdleInstances {
    pub(crate) fn new(max_uses: u32, budget: Arc<IdleBudget>) -> Self {
        let idle = Arc::new(Mutex::new(Vec::new()));
        budget.register(&idle);
        Self {
            max_uses,
            budget,
            idle,
        }
    }

    /// An instance an earlier request finished with, if one is idle.
    pub(crate) fn take(&self) -> Option<Live> {
        let live = self.lock().pop()?;
        self.budget.release(1);
        Some(live)
    }

    /// Keeps `live` for a later request, unless it has served its share or the engine
    /// has enough idle instances already (then it is dropped and its slot freed).
    pub(crate) fn give_back(&self, live: Live) {
        if live.served >= self.max_uses || !self.budget.reserve() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() >= MAX_IDLE_PER_FUNCTION {
            drop(idle);
            self.budget.release(1);
            return;
        }
        idle.push(live);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Live>> {
        lock(&self.idle)
    }
}

fn lock(list: &IdleList) -> std::sync::MutexGuard<'_, Vec<Live>> {
    // A panic while holding the lock cannot leave the Vec inconsistent.
    list.lock().unwrap_or_else(|e| e.into_inner())
}

impl Drop for IdleInstances {
    fn drop(&mut self) {
        // Taken, not only counted: an eviction that already holds this list must not
        // release the same instances' share again.
        let dropped = std::mem::take(&mut *self.lock());
        self.budget.release(dropped.len());
    }
}
