//! Header methods shared by [`crate::Request`] and [`crate::ResponseHead`]: their WIT
//! resources offer the same header calls, so one definition serves both.

/// Every header of a request or response, fetched in one host call as one string
/// ([`Request::header_block`](crate::Request::header_block)); [`iter`](HeaderBlock::iter)
/// reads (name, value) pairs out of it without copying.
#[derive(Debug, Clone, Default)]
pub struct HeaderBlock(String);

impl HeaderBlock {
    pub(crate) fn new(text: String) -> Self {
        HeaderBlock(text)
    }

    /// Every header as (lower-case name, value): names grouped, each name's values in
    /// order; values that are not visible ASCII are left out, as in `headers`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        pairs(&self.0)
    }
}

/// The (name, value) pairs of header-block text, read in place.
pub(crate) fn pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    // The host writes `name:value\n` per header; a name holds no colon and neither part
    // a newline. Both separators are looked for eight bytes at a time (`str::lines` and
    // `split_once` went through `memchr` and a `memcmp` per separator: in Wasm, most of
    // the WAF's cost of reading a request; a byte loop for the colon, ~500 instructions
    // a header).
    let bytes = text.as_bytes();
    let mut at = 0;
    core::iter::from_fn(move || {
        while at < bytes.len() {
            let start = at;
            let colon = find_colon_or_newline(bytes, start);
            if colon == bytes.len() {
                at = colon;
                return None;
            }
            if bytes[colon] == b'\n' {
                // A line without a colon: not a header.
                at = colon + 1;
                continue;
            }
            let end = find_newline(bytes, colon + 1);
            at = end + 1;
            // Both ends are ASCII separators (or the text's end): char boundaries.
            return Some((&text[start..colon], &text[colon + 1..end]));
        }
        None
    })
}

/// Whether `name` can stand on a line of a block as a name: no colon, no newline.
pub(crate) fn fits_a_line_as_name(name: &str) -> bool {
    find_colon_or_newline(name.as_bytes(), 0) == name.len()
}

/// Whether `value` can stand on a line of a block: no newline.
pub(crate) fn fits_a_line(value: &str) -> bool {
    find_newline(value.as_bytes(), 0) == value.len()
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// Each byte of `byte` repeated in a word.
const fn splat(byte: u8) -> u64 {
    ONES * byte as u64
}

/// The high bit of every zero byte of `x`, and perhaps of bytes above the lowest zero
/// (borrows): the lowest flagged byte is always exact.
fn zero_bytes(x: u64) -> u64 {
    x.wrapping_sub(ONES) & !x & 0x8080_8080_8080_8080
}

/// The index of the first byte of `bytes` from `from` on that `flags` marks in a word
/// (eight bytes at a step; the last word padded with zero bytes, which `flags` must not
/// mark), or `bytes.len()`.
#[inline(always)]
fn find(bytes: &[u8], from: usize, flags: impl Fn(u64) -> u64) -> usize {
    let at = |i: usize, word: [u8; 8]| {
        let found = flags(u64::from_le_bytes(word));
        (found != 0).then(|| i + (found.trailing_zeros() / 8) as usize)
    };
    let mut i = from;
    while i + 8 <= bytes.len() {
        if let Some(hit) = at(i, bytes[i..i + 8].try_into().expect("eight bytes")) {
            return hit;
        }
        i += 8;
    }
    // The last bytes, padded (a copy per call, not per word: a variable-length copy in
    // every step cost the WAF ~10 % of its hook).
    let rest = &bytes[i.min(bytes.len())..];
    let mut last = [0u8; 8];
    last[..rest.len()].copy_from_slice(rest);
    at(i, last).unwrap_or(bytes.len())
}

/// The index of the first `\n` in `bytes` from `from` on, or `bytes.len()`.
pub(crate) fn find_newline(bytes: &[u8], from: usize) -> usize {
    find(bytes, from, |w| zero_bytes(w ^ splat(b'\n')))
}

/// The index of the first `:` or `\n` in `bytes` from `from` on, or `bytes.len()`. (Each
/// mask's lowest flagged byte is exact, so their union's is too.)
fn find_colon_or_newline(bytes: &[u8], from: usize) -> usize {
    find(bytes, from, |w| {
        zero_bytes(w ^ splat(b':')) | zero_bytes(w ^ splat(b'\n'))
    })
}

/// Expands, inside an `impl` of a type with an `inner` WIT resource, to the header
/// reads and edits.
macro_rules! header_methods {
    () => {
        /// First value of a header (case-insensitive name), if present and UTF-8.
        pub fn header(&self, name: &str) -> Option<String> {
            self.inner.header(name)
        }

        /// The first value of each of `names`, in order, in one host call: cheaper than
        /// a [`header`](Self::header) call per name (a call across the boundary costs
        /// more than reading a short header).
        ///
        /// ```ignore
        /// let [ua, mobile] = req.header_each(["user-agent", "sec-ch-ua-mobile"]);
        /// ```
        pub fn header_each<const N: usize>(&self, names: [&str; N]) -> [Option<String>; N] {
            let mut joined = String::with_capacity(names.iter().map(|n| n.len() + 1).sum());
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    joined.push('\n');
                }
                joined.push_str(name);
            }
            let values = self.inner.header_each(&joined);
            if values.len() != N {
                // A name held a newline and read as two: ask one by one instead.
                return names.map(|n| self.header(n));
            }
            let mut values = values.into_iter();
            std::array::from_fn(|_| values.next().flatten())
        }

        /// Every value of a header, in order.
        pub fn header_all(&self, name: &str) -> Vec<String> {
            self.inner.header_all(name)
        }

        /// Names of the headers present, lower-case.
        pub fn header_names(&self) -> Vec<String> {
            self.inner.header_names()
        }

        /// Every header as (lower-case name, value), names grouped and each name's values
        /// in order, fetched in one host call
        /// (cheaper than `header_names` and `header_all` per name when you need them
        /// all); values that are not visible ASCII are left out. To read them without a
        /// copy each, use [`header_block`](Self::header_block).
        pub fn headers(&self) -> Vec<(String, String)> {
            self.header_block()
                .iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect()
        }

        /// Every header in one string crossing from the host (the `headers` call lowers
        /// two strings per header into the function's memory; this lowers one in all);
        /// read the pairs with [`HeaderBlock::iter`](crate::HeaderBlock::iter).
        pub fn header_block(&self) -> $crate::HeaderBlock {
            $crate::HeaderBlock::new(self.inner.header_block())
        }

        /// Sets a header, replacing any values. A refused edit is logged to the host
        /// log; use `try_set_header` to handle it yourself.
        pub fn set_header(&mut self, name: &str, value: &str) {
            if let Err(e) = self.try_set_header(name, value) {
                $crate::request::log_refused("set_header", name, e);
            }
        }

        /// Sets a header, replacing any values, reporting a refused edit.
        pub fn try_set_header(&mut self, name: &str, value: &str) -> Result<(), $crate::EditError> {
            self.inner.set_header(name, value).map_err(Into::into)
        }

        /// Sets several headers, each replacing any values, in one host call: cheaper
        /// than a [`set_header`](Self::set_header) call each. A refused edit is logged
        /// and ends the batch (the edits before it stay); use `try_set_headers` to
        /// handle it yourself.
        pub fn set_headers(&mut self, headers: &[(&str, &str)]) {
            if let Err((name, e)) = self.try_set_headers(headers) {
                $crate::request::log_refused("set_headers", name, e);
            }
        }

        /// [`set_headers`](Self::set_headers), reporting the first refused edit and the
        /// name it was for.
        pub fn try_set_headers<'h>(
            &mut self,
            headers: &[(&'h str, &'h str)],
        ) -> Result<(), (&'h str, $crate::EditError)> {
            // `name:value` lines: a name with a colon or a newline, or a value with a
            // newline, would read as other lines, so the batch stops before it.
            let mut block =
                String::with_capacity(headers.iter().map(|(n, v)| n.len() + v.len() + 2).sum());
            let mut refused = None;
            let mut sent = 0;
            for &(name, value) in headers {
                if !$crate::headers::fits_a_line_as_name(name) {
                    refused = Some((name, $crate::EditError::InvalidName));
                    break;
                }
                if !$crate::headers::fits_a_line(value) {
                    refused = Some((name, $crate::EditError::InvalidValue));
                    break;
                }
                block.push_str(name);
                block.push(':');
                block.push_str(value);
                block.push('\n');
                sent += 1;
            }
            if sent > 0
                && let Err((line, e)) = self.inner.set_header_block(&block)
            {
                let name = headers.get(line as usize).map_or("", |(n, _)| *n);
                return Err((name, e.into()));
            }
            refused.map_or(Ok(()), Err)
        }

        /// Sets the headers of `block`, lines `name:value\n` as
        /// [`header_block`](Self::header_block) returns them, in one host call with no
        /// text to build: for edits fixed in advance (a `concat!` of lines, say). A
        /// refused line is logged and ends the batch (the lines before it stay).
        pub fn set_header_block(&mut self, block: &str) {
            if let Err((line, e)) = self.try_set_header_block(block) {
                let name = block.lines().nth(line).and_then(|l| l.split(':').next());
                $crate::request::log_refused("set_header_block", name.unwrap_or(""), e);
            }
        }

        /// [`set_header_block`](Self::set_header_block), reporting the first refused line
        /// (its index from 0) and why.
        pub fn try_set_header_block(
            &mut self,
            block: &str,
        ) -> Result<(), (usize, $crate::EditError)> {
            self.inner
                .set_header_block(block)
                .map_err(|(line, e)| (line as usize, e.into()))
        }

        /// Adds a header value, keeping existing ones. A refused edit is logged.
        pub fn append_header(&mut self, name: &str, value: &str) {
            if let Err(e) = self.inner.append_header(name, value) {
                $crate::request::log_refused("append_header", name, e.into());
            }
        }

        /// Removes every value of a header (host-managed headers are left alone).
        pub fn remove_header(&mut self, name: &str) {
            self.inner.remove_header(name)
        }
    };
}

#[cfg(test)]
mod tests {
    use super::HeaderBlock;

    #[test]
    fn a_header_block_reads_back_as_pairs_values_with_colons_and_empty_ones_kept() {
        let block =
            HeaderBlock::new("accept:a\naccept:b\nreferer:https://x.test/a:b\nx-empty:\n".into());
        let pairs: Vec<(&str, &str)> = block.iter().collect();
        assert_eq!(
            pairs,
            [
                ("accept", "a"),
                ("accept", "b"),
                ("referer", "https://x.test/a:b"),
                ("x-empty", "")
            ]
        );
        assert_eq!(HeaderBlock::default().iter().count(), 0);
    }

    #[test]
    fn a_header_block_reads_back_whatever_the_lengths_and_stray_lines() {
        // Names and values of every length around the eight-byte steps, a last line
        // without a newline, a line without a colon, and `\r` kept as part of a value.
        let text =
            |len: usize| -> String { (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect() };
        for len in 0..40 {
            let value = text(len);
            let name = format!("x-{}", text(len % 19));
            let text = format!("x-a:{value}\nno colon here\n{name}:{value}:\r\nx-c:{value}");
            let block = HeaderBlock::new(text);
            let pairs: Vec<(&str, &str)> = block.iter().collect();
            let with_colon = format!("{value}:\r");
            assert_eq!(
                pairs,
                [
                    ("x-a", value.as_str()),
                    (name.as_str(), with_colon.as_str()),
                    ("x-c", value.as_str())
                ],
                "value length {len}"
            );
            let stray = format!("{name}\n{value}");
            assert_eq!(HeaderBlock::new(stray).iter().count(), 0, "{len}");
        }
    }
}
