//! Standard output and error go to the host's log, and the environment is empty, without
//! WASI: the SDK defines the two C library calls Rust's `std` reaches them through.
//!
//! Left to the C library, `write` (behind `print!`, `eprint!` and panic messages) and
//! `getenv` (behind `std::env::var`, which the panic handler calls) bring in 19 WASI
//! imports: streams, pollables, terminals, the environment and `exit`. The host links
//! them, but a component pays for every import each time an instance starts (wasmtime
//! builds a trampoline and a function reference for each), so every function paid for
//! them on every request. Defined here, the linker takes these instead of the C
//! library's, and the imports are gone unless the function uses other WASI calls itself
//! (clocks and random numbers still work).
//!
//! What a function writes to standard output is logged at info level, standard error
//! (panic messages included) at warn, one log line per line written; a line still open
//! when a hook returns is logged then, under that request. The host gives functions no
//! files, sockets or environment variables: `write` to any other descriptor fails with
//! `EBADF`, and `getenv` finds nothing.

/// A line longer than this is logged in pieces (the host cuts each log line at 4 KiB).
#[cfg_attr(not(target_os = "wasi"), allow(dead_code))]
const MAX_LINE: usize = 4096;

/// The replacements; only in a Wasm build (natively they would replace the real ones).
#[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
mod libc_calls {
    use core::ffi::{c_char, c_int, c_void};
    use std::sync::Mutex;

    use super::log_lines;
    use crate::bindings::wedge::function::log::{Level, log};

    /// wasi-libc's `EBADF`.
    const EBADF: c_int = 8;

    unsafe extern "C" {
        fn __errno_location() -> *mut c_int;
    }

    /// Text written to stdout (0) and stderr (1) since their last newline.
    static PARTIAL_LINES: Mutex<[Vec<u8>; 2]> = Mutex::new([Vec::new(), Vec::new()]);

    /// The log level of each stream's lines.
    const LEVELS: [Level; 2] = [Level::Info, Level::Warn];

    fn log_line(stream: usize, line: &[u8]) {
        log(LEVELS[stream], &String::from_utf8_lossy(line));
    }

    /// The C library's `write(2)`: standard output and error are logged a line at a time;
    /// a function has no other descriptors, so anything else fails with `EBADF`.
    ///
    /// # Safety
    ///
    /// `buf` must point to `len` readable bytes, as for `write(2)`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn write(fd: c_int, buf: *const c_void, len: usize) -> isize {
        let stream = match fd {
            1 => 0,
            2 => 1,
            _ => {
                // SAFETY: wasi-libc's errno location is valid for the program's lifetime.
                unsafe { *__errno_location() = EBADF };
                return -1;
            }
        };
        if len == 0 {
            return 0;
        }
        // SAFETY: the caller passes `len` readable bytes at `buf`.
        let bytes = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) };
        let mut partial = PARTIAL_LINES.lock().unwrap_or_else(|e| e.into_inner());
        log_lines(&mut partial[stream], bytes, |line| log_line(stream, line));
        len as isize
    }

    /// Logs the lines still open on standard output and error.
    pub(super) fn flush() {
        let mut partial = PARTIAL_LINES.lock().unwrap_or_else(|e| e.into_inner());
        for (stream, pending) in partial.iter_mut().enumerate() {
            if !pending.is_empty() {
                log_line(stream, pending);
                pending.clear();
            }
        }
    }

    /// The C library's `getenv(3)`: a function has no environment variables.
    ///
    /// # Safety
    ///
    /// Never dereferences `name`.
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn getenv(_name: *const c_char) -> *mut c_char {
        core::ptr::null_mut()
    }
}

/// Logs what was printed since the last newline, so that a line left open is logged
/// under the request that wrote it (called after each hook and after configuring).
pub(crate) fn flush() {
    #[cfg(all(target_arch = "wasm32", target_os = "wasi"))]
    {
        // `std` holds standard output's open line in its own buffer first.
        let _ = std::io::Write::flush(&mut std::io::stdout());
        libc_calls::flush();
    }
}

/// Appends `bytes` to `pending` and hands every complete line (without its newline) to
/// `emit`; a line reaching `MAX_LINE` bytes is handed over as it stands.
#[cfg_attr(not(target_os = "wasi"), allow(dead_code))]
fn log_lines(pending: &mut Vec<u8>, bytes: &[u8], mut emit: impl FnMut(&[u8])) {
    for &b in bytes {
        if b == b'\n' {
            emit(pending);
            pending.clear();
        } else {
            pending.push(b);
            if pending.len() >= MAX_LINE {
                emit(pending);
                pending.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{MAX_LINE, log_lines};

    fn lines(pending: &mut Vec<u8>, bytes: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        log_lines(pending, bytes, |l| {
            out.push(String::from_utf8_lossy(l).into_owned())
        });
        out
    }

    #[test]
    fn writes_are_logged_a_whole_line_at_a_time() {
        let mut pending = Vec::new();
        assert!(lines(&mut pending, b"thread panicked at ").is_empty());
        assert_eq!(
            lines(&mut pending, b"src/lib.rs:3:\nboom\nnext"),
            ["thread panicked at src/lib.rs:3:", "boom"]
        );
        assert_eq!(pending, b"next");
        assert_eq!(lines(&mut pending, b"\n\n"), ["next", ""]);
    }

    #[test]
    fn an_endless_line_is_logged_in_pieces() {
        let mut pending = Vec::new();
        let out = lines(&mut pending, &vec![b'x'; MAX_LINE * 2 + 5]);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|l| l.len() == MAX_LINE));
        assert_eq!(pending.len(), 5);
    }
}
