//! The functions' global allocator: blocks of up to 1 KiB are recycled through free lists,
//! one per power-of-two size, in front of the C library's `malloc`.
//!
//! A function allocates and frees the same few small things for every request (decoded
//! fields, keys, edits), and wasi-libc's dlmalloc cost ~290 instructions a `malloc`/`free`
//! pair compiled to Wasm: ~5.8k of the WAF's ~39k per never-seen request. Taking a block
//! off a list and putting it back is a handful. Freed blocks stay on their list for later
//! requests rather than going back to `malloc`; an instance whose memory grew far past its
//! snapshot is not reused by the host anyway. Turn this off with `default-features = false`
//! to use your own `#[global_allocator]`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::ptr;

/// Size classes 16, 32, ..., 1024 bytes.
const CLASSES: usize = 7;
const SMALLEST_SHIFT: u32 = 4;
const LARGEST: usize = 1 << (SMALLEST_SHIFT as usize + CLASSES - 1);
/// Blocks are taken from `malloc` with this alignment, so any block of a class serves any
/// request of that class aligned up to it; more strictly aligned requests bypass the lists.
const BLOCK_ALIGN: usize = 16;

/// A free block, linked through its first word.
struct FreeBlock {
    next: *mut FreeBlock,
}

/// The allocator: the head of each size class's free list.
pub struct Recycling {
    heads: UnsafeCell<[*mut FreeBlock; CLASSES]>,
}

// SAFETY: a function runs on one thread (wasm32-wasip2 without the threads proposal, which
// the `cfg` on the global instance requires), so the lists are never touched concurrently.
unsafe impl Sync for Recycling {}

impl Recycling {
    /// An allocator with empty lists.
    pub const fn new() -> Self {
        Self {
            heads: UnsafeCell::new([ptr::null_mut(); CLASSES]),
        }
    }

    fn head(&self, class: usize) -> *mut *mut FreeBlock {
        // SAFETY: in bounds (class < CLASSES); single-threaded (see `Sync`).
        unsafe { (*self.heads.get()).as_mut_ptr().add(class) }
    }
}

impl Default for Recycling {
    fn default() -> Self {
        Self::new()
    }
}

/// The size class of `layout`, or `None` when it is too large or too strictly aligned
/// for the lists.
fn class_of(layout: Layout) -> Option<usize> {
    let size = layout.size();
    if size > LARGEST || layout.align() > BLOCK_ALIGN {
        return None;
    }
    let size = size.max(1 << SMALLEST_SHIFT);
    Some((usize::BITS - (size - 1).leading_zeros() - SMALLEST_SHIFT) as usize)
}

fn block_layout(class: usize) -> Layout {
    // SAFETY: a power of two of at most 1 KiB, and a valid power-of-two alignment.
    unsafe { Layout::from_size_align_unchecked(1 << (class as u32 + SMALLEST_SHIFT), BLOCK_ALIGN) }
}

unsafe impl GlobalAlloc for Recycling {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(class) = class_of(layout) else {
            // SAFETY: forwarded as received.
            return unsafe { from_malloc(layout) };
        };
        let head = self.head(class);
        // SAFETY: the list holds blocks of this class that nothing else references.
        unsafe {
            let block = *head;
            if block.is_null() {
                return from_malloc(block_layout(class));
            }
            *head = (*block).next;
            block.cast()
        }
    }

    #[inline(never)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(class) = class_of(layout) else {
            // SAFETY: it came from `System.alloc` with this layout (see `alloc`).
            return unsafe { to_free(ptr, layout) };
        };
        let block = ptr.cast::<FreeBlock>();
        let head = self.head(class);
        // SAFETY: the caller gives the block up; it is at least 16 bytes, 16-aligned.
        unsafe {
            (*block).next = *head;
            *head = block;
        }
    }

    #[inline(never)]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller guarantees a valid layout for new_size with this alignment.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        match (class_of(layout), class_of(new_layout)) {
            // Still fits its block.
            (Some(old), Some(new)) if old == new => ptr,
            // SAFETY: forwarded as received.
            (None, None) => unsafe { System.realloc(ptr, layout, new_size) },
            _ => {
                // SAFETY: a fresh block for new_layout; the old one is valid for
                // layout.size() bytes and given back after the copy.
                unsafe {
                    let moved = self.alloc(new_layout);
                    if !moved.is_null() {
                        ptr::copy_nonoverlapping(ptr, moved, layout.size().min(new_size));
                        self.dealloc(ptr, layout);
                    }
                    moved
                }
            }
        }
    }
}

// The fast paths (a list's head taken or replaced) are inlined where Rust allocates; the
// C library's paths stay out of line, which keeps the code that inlining adds small.
#[cold]
#[inline(never)]
unsafe fn from_malloc(layout: Layout) -> *mut u8 {
    // SAFETY: the caller's layout, valid and non-zero in size.
    unsafe { System.alloc(layout) }
}

#[cold]
#[inline(never)]
unsafe fn to_free(ptr: *mut u8, layout: Layout) {
    // SAFETY: ptr came from `from_malloc(layout)`.
    unsafe { System.dealloc(ptr, layout) }
}

#[cfg(all(
    feature = "allocator",
    target_arch = "wasm32",
    target_os = "wasi",
    not(target_feature = "atomics")
))]
#[global_allocator]
static ALLOCATOR: Recycling = Recycling::new();

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_map_to_the_smallest_class_that_holds_them() {
        let class = |size, align| class_of(Layout::from_size_align(size, align).unwrap());
        assert_eq!(class(0, 1), Some(0));
        assert_eq!(class(16, 8), Some(0));
        assert_eq!(class(17, 1), Some(1));
        assert_eq!(class(32, 4), Some(1));
        assert_eq!(class(1000, 8), Some(6));
        assert_eq!(class(1024, 16), Some(6));
        assert_eq!(class(1025, 1), None);
        assert_eq!(class(8, 32), None);
    }

    #[test]
    fn a_freed_block_is_handed_out_again_and_keeps_its_bytes_apart() {
        let a = Recycling::new();
        let small = Layout::from_size_align(24, 8).unwrap();
        unsafe {
            let p = a.alloc(small);
            let q = a.alloc(small);
            assert_ne!(p, q);
            p.write_bytes(0xAA, 24);
            q.write_bytes(0xBB, 24);
            assert_eq!(*p.add(23), 0xAA);
            a.dealloc(p, small);
            // Last in, first out, for a request of the same class.
            let r = a.alloc(Layout::from_size_align(30, 2).unwrap());
            assert_eq!(r, p);
            assert_eq!(*q.add(23), 0xBB);
            a.dealloc(r, Layout::from_size_align(30, 2).unwrap());
            a.dealloc(q, small);
        }
    }

    #[test]
    fn realloc_keeps_the_contents_across_classes_and_to_large_blocks() {
        let a = Recycling::new();
        unsafe {
            let mut layout = Layout::from_size_align(10, 1).unwrap();
            let mut p = a.alloc(layout);
            for i in 0..10 {
                *p.add(i) = i as u8;
            }
            // Within the class: the same block.
            assert_eq!(a.realloc(p, layout, 16), p);
            for new_size in [40, 700, 5000, 9000, 100] {
                p = a.realloc(p, layout, new_size);
                assert!(!p.is_null());
                layout = Layout::from_size_align(new_size, 1).unwrap();
                for i in 0..10 {
                    assert_eq!(*p.add(i), i as u8, "after growing to {new_size}");
                }
            }
            a.dealloc(p, layout);
        }
    }

    #[test]
    fn strictly_aligned_requests_bypass_the_lists() {
        let a = Recycling::new();
        let layout = Layout::from_size_align(64, 64).unwrap();
        unsafe {
            let p = a.alloc(layout);
            assert_eq!(p as usize % 64, 0);
            a.dealloc(p, layout);
        }
    }
}
