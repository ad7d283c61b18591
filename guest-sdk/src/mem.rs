//! `memcmp` eight bytes at a time, for every comparison of strings and byte slices in a
//! function.
//!
//! Rust compares strings and slices (`==`, `starts_with`, `ends_with`, map lookups by
//! string) through the C library's `memcmp`. wasi-libc's compares one byte at a time,
//! which compiled to about 12 instructions a byte: a WAF request spent ~3.9k
//! instructions in it, ~1.6k of them in each comparison of a User-Agent with the one it
//! remembered. Defined here, the linker takes this one instead of the C library's
//! (as with `write` in `stdio`).

/// Compares `n` bytes at `a` and `b` as `memcmp(3)` does: zero when equal, otherwise
/// the difference of the first differing bytes (as unsigned values).
///
/// # Safety
///
/// `a` and `b` must each point to `n` readable bytes.
// Raw reads only: a slice comparison here would call `memcmp` again.
#[cfg_attr(not(target_os = "wasi"), allow(dead_code))]
unsafe fn compare(a: *const u8, b: *const u8, n: usize) -> i32 {
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n, and both point to n readable bytes.
        let (x, y) = unsafe {
            (
                a.add(i).cast::<u64>().read_unaligned(),
                b.add(i).cast::<u64>().read_unaligned(),
            )
        };
        if x != y {
            // Little-endian: the lowest set bit of the difference is in the first byte
            // that differs.
            i += ((x ^ y).trailing_zeros() / 8) as usize;
            break;
        }
        i += 8;
    }
    while i < n {
        // SAFETY: i < n.
        let (x, y) = unsafe { (*a.add(i), *b.add(i)) };
        if x != y {
            return i32::from(x) - i32::from(y);
        }
        i += 1;
    }
    0
}

/// The replacements; only in a Wasm build (natively they would replace the real ones).
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod libc_calls {
    use core::ffi::{c_int, c_void};

    /// The C library's `memcmp(3)`.
    ///
    /// # Safety
    ///
    /// `a` and `b` must each point to `n` readable bytes.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn memcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int {
        // SAFETY: the caller's promise.
        unsafe { super::compare(a.cast(), b.cast(), n) }
    }

    /// `bcmp(3)`: `memcmp` where only equality matters (what LLVM calls for `==`).
    ///
    /// # Safety
    ///
    /// As [`memcmp`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn bcmp(a: *const c_void, b: *const c_void, n: usize) -> c_int {
        // SAFETY: the caller's promise.
        unsafe { super::compare(a.cast(), b.cast(), n) }
    }
}

#[cfg(test)]
mod tests {
    use super::compare;

    fn sign(a: &[u8], b: &[u8]) -> i32 {
        assert_eq!(a.len(), b.len());
        // SAFETY: both slices hold a.len() bytes.
        unsafe { compare(a.as_ptr(), b.as_ptr(), a.len()) }.signum()
    }

    #[test]
    fn orders_like_the_byte_slices_do() {
        let base: Vec<u8> = (0..40u8).map(|i| i.wrapping_mul(37)).collect();
        for len in 0..base.len() {
            let a = &base[..len];
            assert_eq!(sign(a, a), 0, "equal at {len}");
            for at in 0..len {
                for delta in [1u8, 0x80, 0xff] {
                    let mut b = a.to_vec();
                    b[at] = b[at].wrapping_add(delta);
                    let want = a.cmp(&b[..]) as i32;
                    assert_eq!(sign(a, &b), want, "len {len}, byte {at}, +{delta}");
                    assert_eq!(sign(&b, a), -want, "len {len}, byte {at}, +{delta}");
                }
            }
        }
    }

    #[test]
    fn the_first_difference_decides_and_bytes_are_unsigned() {
        // Differences in two words' bytes 2 and 5: byte 2 decides.
        assert!(sign(b"ab\x01defgh", b"ab\x02def\x00h") < 0);
        assert!(sign(b"\xff", b"\x01") > 0);
        assert_eq!(sign(b"", b""), 0);
    }
}
