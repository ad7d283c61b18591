//! The request's method, path, query, host and headers, read in one host call
//! ([`Request::head`](crate::Request::head)).
//!
//! Each host call that returns a string costs a crossing into the host and, for the
//! string, a call back into the function to allocate it: reading these five parts one
//! by one was a fifth of what a WAF's hook cost the host. Here they arrive as one string
//! and are read in place.

use crate::headers::{find_newline, pairs};

/// The request head as one string: `<method> <path>[?<query>] <host>` on the first line,
/// then a `name:value` line per header.
#[derive(Debug, Clone)]
pub struct RequestHead {
    text: String,
    /// End of the method, of the path, of the path and query, of the host (the first
    /// line's end).
    method_end: usize,
    path_end: usize,
    target_end: usize,
    host_end: usize,
}

impl RequestHead {
    pub(crate) fn new(text: String) -> Self {
        let bytes = text.as_bytes();
        let host_end = find_newline(bytes, 0);
        let first_line = &bytes[..host_end];
        let space = |from: usize| {
            first_line[from..]
                .iter()
                .position(|&b| b == b' ')
                .map_or(host_end, |p| from + p)
        };
        let method_end = space(0);
        let target_start = (method_end + 1).min(host_end);
        let target_end = space(target_start);
        let path_end = first_line[target_start..target_end]
            .iter()
            .position(|&b| b == b'?')
            .map_or(target_end, |p| target_start + p);
        RequestHead {
            text,
            method_end,
            path_end,
            target_end,
            host_end,
        }
    }

    /// The method, as received (`GET`).
    pub fn method(&self) -> &str {
        &self.text[..self.method_end]
    }

    /// The path without the query string, as received.
    pub fn path(&self) -> &str {
        let start = (self.method_end + 1).min(self.path_end);
        &self.text[start..self.path_end]
    }

    /// The query string without `?`, if the request had one.
    pub fn query(&self) -> Option<&str> {
        (self.path_end < self.target_end).then(|| &self.text[self.path_end + 1..self.target_end])
    }

    /// The host the viewer asked for, lower-case, without port.
    pub fn host(&self) -> &str {
        let start = (self.target_end + 1).min(self.host_end);
        &self.text[start..self.host_end]
    }

    /// Every header as (lower-case name, value), as
    /// [`HeaderBlock::iter`](crate::HeaderBlock::iter) reads them.
    pub fn headers(&self) -> impl Iterator<Item = (&str, &str)> {
        let rest = (self.host_end + 1).min(self.text.len());
        pairs(&self.text[rest..])
    }
}

#[cfg(test)]
mod tests {
    use super::RequestHead;

    #[test]
    fn the_parts_read_back_from_the_head() {
        let head = RequestHead::new(
            "POST /a%20b?q=1&x=? shop.test\naccept:*/*\nreferer:https://x.test/a:b\n".into(),
        );
        assert_eq!(head.method(), "POST");
        assert_eq!(head.path(), "/a%20b");
        assert_eq!(head.query(), Some("q=1&x=?"));
        assert_eq!(head.host(), "shop.test");
        let headers: Vec<_> = head.headers().collect();
        assert_eq!(
            headers,
            [("accept", "*/*"), ("referer", "https://x.test/a:b")]
        );
    }

    #[test]
    fn an_empty_query_a_missing_host_and_no_headers() {
        let head = RequestHead::new("GET /p? \n".into());
        assert_eq!(
            (head.method(), head.path(), head.query(), head.host()),
            ("GET", "/p", Some(""), "")
        );
        assert_eq!(head.headers().count(), 0);
        let head = RequestHead::new("GET / h.test\n".into());
        assert_eq!((head.path(), head.query()), ("/", None));
        // Never panics, whatever arrives.
        for text in ["", "GET", "GET /x", "\n", "  \n:\n"] {
            let head = RequestHead::new(text.into());
            let _ = (head.method(), head.path(), head.query(), head.host());
            let _ = head.headers().count();
        }
    }
}
