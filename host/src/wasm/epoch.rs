//! The epoch ticker behind function CPU deadlines: one thread advances every engine's
//! epoch each tick while guest code may be running, and sleeps once none has run for a
//! while, so an idle server makes no wakeups for it (ticking regardless cost ~1,000
//! wakeups and ~1.5 % of a core a second with nothing to do).
//!
//! Whatever runs guest code holds a [`Running`] guard for as long as it may: a hook
//! call, an instantiation, a load's `describe` and `configure`. The first guard after a
//! pause wakes the ticker; deadlines count ticks from there, so none is missed.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock};
use std::thread::Thread;
use std::time::Duration;

use wasmtime::{Engine, EngineWeak};

/// How often the epoch advances while guests run: the granularity of function CPU
/// deadlines, and how often a long-running guest yields to other requests.
pub const EPOCH_TICK: Duration = Duration::from_millis(1);

/// Ticks with no guest code running before the ticker sleeps. Under any steady traffic
/// it stays awake, so waking it costs at most one `unpark` per this many ticks.
const IDLE_TICKS: u32 = 50;

/// How long the sleeping ticker waits before it looks for dropped engines.
const SLEEP_RECHECK: Duration = Duration::from_secs(1);

/// Guards alive: guest code may be running.
static RUNNING: AtomicUsize = AtomicUsize::new(0);
/// The ticker is asleep (or about to be): a new guard must wake it.
static ASLEEP: AtomicBool = AtomicBool::new(false);
static TICKER: OnceLock<Ticker> = OnceLock::new();

struct Ticker {
    thread: Thread,
    engines: Mutex<Vec<EngineWeak>>,
}

/// Has `engine`'s epoch advanced by the ticker from now on (until it is dropped).
pub(crate) fn register(engine: &Engine) {
    let ticker = TICKER.get_or_init(|| {
        let handle = std::thread::Builder::new()
            .name("wedge-epoch".into())
            .spawn(run)
            .expect("spawning the epoch thread");
        Ticker {
            thread: handle.thread().clone(),
            engines: Mutex::new(Vec::new()),
        }
    });
    lock(ticker).push(engine.weak());
}

/// Marks guest code as possibly running until the guard is dropped.
#[must_use = "the ticker counts only while the guard lives"]
pub(crate) struct Running(());

/// A guard for running guest code; wakes the ticker if it sleeps.
pub(crate) fn running() -> Running {
    RUNNING.fetch_add(1, SeqCst);
    // Paired with the ticker's store of ASLEEP then load of RUNNING: one of the two
    // sees the other, so the ticker never sleeps through a guard.
    if ASLEEP.load(SeqCst)
        && let Some(ticker) = TICKER.get()
    {
        ticker.thread.unpark();
    }
    Running(())
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.fetch_sub(1, SeqCst);
    }
}

fn run() {
    let ticker = TICKER.wait();
    let mut idle = 0;
    loop {
        if RUNNING.load(SeqCst) > 0 {
            idle = 0;
        } else if idle < IDLE_TICKS {
            idle += 1;
        } else {
            ASLEEP.store(true, SeqCst);
            if RUNNING.load(SeqCst) == 0 {
                std::thread::park_timeout(SLEEP_RECHECK);
            }
            ASLEEP.store(false, SeqCst);
            lock(ticker).retain(|e| e.upgrade().is_some());
            // Look again: woken by a guard, it ticks at once; by the timeout, it sleeps.
            continue;
        }
        lock(ticker).retain(|weak| match weak.upgrade() {
            Some(engine) => {
                engine.increment_epoch();
                true
            }
            None => false,
        });
        std::thread::sleep(EPOCH_TICK);
    }
}

fn lock(ticker: &Ticker) -> std::sync::MutexGuard<'_, Vec<EngineWeak>> {
    // Nothing can panic while the list is held.
    ticker.engines.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasmtime::{Config, Instance, Module, Store, Trap};

    /// `(module (func (export "spin") (loop (br 0))))`: runs until interrupted.
    const SPIN: &[u8] = &[
        0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
        0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type: () -> ()
        0x03, 0x02, 0x01, 0x00, // one function of that type
        0x07, 0x08, 0x01, 0x04, b's', b'p', b'i', b'n', 0x00, 0x00, // export "spin"
        0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop { br 0 }
    ];

    #[test]
    fn a_guard_wakes_the_sleeping_ticker_and_deadlines_still_fire() {
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).unwrap();
        register(&engine);
        // Let the ticker fall asleep (other tests running guests may keep it awake; the
        // deadline below must fire either way).
        for _ in 0..5_000 {
            if ASLEEP.load(SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }

        let module = Module::new(&engine, SPIN).unwrap();
        let mut store = Store::new(&engine, ());
        store.set_epoch_deadline(2);
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let spin = instance
            .get_typed_func::<(), ()>(&mut store, "spin")
            .unwrap();
        let (done, result) = std::sync::mpsc::channel();
        // A thread of its own: if the deadline never fired it would spin for good, and
        // the test must fail rather than wait for it.
        std::thread::spawn(move || {
            let _guard = running();
            let _ = done.send(spin.call(&mut store, ()));
        });
        let err = result
            .recv_timeout(Duration::from_secs(30))
            .expect("the ticker never interrupted the spinning guest")
            .unwrap_err();
        assert_eq!(err.downcast_ref::<Trap>(), Some(&Trap::Interrupt));
    }
}
