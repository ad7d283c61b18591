//! Hands memory that closed and parked connections, and compiling functions, freed back
//! to the operating system.
//!
//! A connection's buffers and state are tens of kilobytes, and glibc's allocator keeps
//! freed pages that sit between live allocations resident: only `malloc_trim` releases
//! them. Without it, a burst of thousands of concurrent requests left the process at its
//! peak RSS for good (hundreds of MB, see the README's Performance). A background thread
//! calls it at most once a second, and only after a viewer connection closed or parked,
//! an origin connection closed or a function was compiled since its last call; with 10,000 parked connections a
//! call took under a millisecond and cut about 2 KB of RSS per connection.

use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Memory was freed in bulk since the last trim.
static FREED: AtomicBool = AtomicBool::new(false);

/// How often the trimming thread looks whether there is something to trim.
const INTERVAL: Duration = Duration::from_secs(1);

/// Notes that memory went back to the allocator in bulk (a connection closed or parked,
/// a function was compiled), starting the trimming thread on first use.
pub(crate) fn freed() {
    static START: Once = Once::new();
    // Load first: under load the flag is usually set already, and a plain load keeps
    // the cache line shared between the workers.
    if !FREED.load(Ordering::Relaxed) {
        FREED.store(true, Ordering::Relaxed);
    }
    START.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("wedge-trim".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(INTERVAL);
                    if FREED.swap(false, Ordering::Relaxed) {
                        release_free_pages();
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::warn!("cannot start the memory trimming thread: {e}");
        }
    });
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_pages() {
    unsafe extern "C" {
        /// glibc: releases free memory at the top of the heap and whole free pages
        /// anywhere in every arena; `pad` bytes are left at the top.
        fn malloc_trim(pad: usize) -> std::ffi::c_int;
    }
    // SAFETY: malloc_trim takes the allocator's own locks and only returns free pages.
    unsafe { malloc_trim(0) };
}

/// Other allocators return freed memory on their own terms.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_pages() {}
