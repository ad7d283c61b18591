//! What the request and response resources share: header reads, the list of headers
//! the host manages, checked edits, and the write budget.

use http::HeaderMap;
use http::header::{HeaderName, HeaderValue};

use super::bindings::wedge::function::types::EditError;

/// Framing and hop-by-hop headers, managed by the host in both directions.
const HOST_MANAGED: &[&str] = &[
    "connection",
    "content-length",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether functions may not touch `name`; on requests `host` too (it drove routing).
pub(crate) fn managed(name: &HeaderName, request: bool) -> bool {
    HOST_MANAGED.contains(&name.as_str()) || (request && name == http::header::HOST)
}

/// First value of `name`, if present and UTF-8.
pub(crate) fn first(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Every UTF-8 value of `name`, in order.
pub(crate) fn all(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_owned)
        .collect()
}

/// Names present, lower-case, each once.
pub(crate) fn names(headers: &HeaderMap) -> Vec<String> {
    headers.keys().map(|k| k.as_str().to_owned()).collect()
}

/// Every header with a UTF-8 value as (name, value): names grouped, values in order.
pub(crate) fn pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
        .collect()
}

/// [`pairs`] as one string, `name:value\n` per header (`header-block`): one string to
/// lower into the guest instead of two per header.
pub(crate) fn block(headers: &HeaderMap) -> String {
    let mut out = String::with_capacity(headers.len() * 32);
    block_into(&mut out, headers);
    out
}

/// Appends [`block`]'s lines to `out`.
pub(crate) fn block_into(out: &mut String, headers: &HeaderMap) {
    for (n, v) in headers {
        if let Ok(v) = v.to_str() {
            out.push_str(n.as_str());
            out.push(':');
            out.push_str(v);
            out.push('\n');
        }
    }
}

/// The `name:value` lines of a block a function wrote (`set-header-block`), each split
/// at its first colon; `None` for a line without one.
pub(crate) fn block_lines(block: &str) -> impl Iterator<Item = Option<(&str, &str)>> {
    block
        .split_terminator('\n')
        .map(|line| line.split_once(':'))
}

/// Applies `set` (one `set-header`) to each line of `block` in order (`set-header-block`),
/// stopping at the first refused line with its index and why.
pub(crate) fn set_lines(
    block: &str,
    mut set: impl FnMut(String, String) -> wasmtime::Result<Result<(), EditError>>,
) -> wasmtime::Result<Result<(), (u32, EditError)>> {
    for (i, line) in (0..).zip(block_lines(block)) {
        let Some((name, value)) = line else {
            return Ok(Err((i, EditError::InvalidName)));
        };
        if let Err(e) = set(name.into(), value.into())? {
            return Ok(Err((i, e)));
        }
    }
    Ok(Ok(()))
}

/// The first value of each name of `names`, one name per line (`header-each`; a final
/// newline names one more, empty, header).
pub(crate) fn first_each(headers: &HeaderMap, names: &str) -> Vec<Option<String>> {
    names.split('\n').map(|name| first(headers, name)).collect()
}

/// A header a function may remove, if `name` is valid and not host-managed.
pub(crate) fn removable(name: &str, request: bool) -> Option<HeaderName> {
    HeaderName::from_bytes(name.as_bytes())
        .ok()
        .filter(|n| !managed(n, request))
}

/// Adds `bytes` to `written`, refusing to pass `limit`.
pub(crate) fn charge(written: &mut usize, limit: usize, bytes: usize) -> Result<(), EditError> {
    let total = written.saturating_add(bytes);
    if total > limit {
        return Err(EditError::TooLarge);
    }
    *written = total;
    Ok(())
}

/// Validates a header edit and charges it to the budget.
pub(crate) fn checked_edit(
    name: &str,
    value: String,
    request: bool,
    written: &mut usize,
    limit: usize,
) -> Result<(HeaderName, HeaderValue), EditError> {
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| EditError::InvalidName)?;
    if managed(&name, request) {
        return Err(EditError::Forbidden);
    }
    // The value lifted out of the guest becomes the header's bytes without a copy (the
    // same validation as `from_str`).
    let value = HeaderValue::from_maybe_shared(bytes::Bytes::from(value))
        .map_err(|_| EditError::InvalidValue)?;
    charge(written, limit, name.as_str().len() + value.len())?;
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_block_holds_what_pairs_returns_one_line_each() {
        let mut h = HeaderMap::new();
        h.append("accept", HeaderValue::from_static("text/html"));
        h.append("cookie", HeaderValue::from_static("a=1"));
        h.append("accept", HeaderValue::from_static("*/*;q=0.8"));
        h.append("x-raw", HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap());
        h.append("x-empty", HeaderValue::from_static(""));
        let block = block(&h);
        assert_eq!(
            block,
            "accept:text/html\naccept:*/*;q=0.8\ncookie:a=1\nx-empty:\n"
        );
        let lines: Vec<(String, String)> = block
            .lines()
            .map(|l| l.split_once(':').unwrap())
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect();
        assert_eq!(lines, pairs(&h));
    }

    #[test]
    fn a_written_block_splits_into_lines_at_their_first_colon() {
        let lines: Vec<_> = block_lines("a:1\nb:x:y\nc:\n").collect();
        assert_eq!(
            lines,
            [Some(("a", "1")), Some(("b", "x:y")), Some(("c", ""))]
        );
        assert_eq!(block_lines("").count(), 0);
        assert_eq!(block_lines("a:1\nno colon").last(), Some(None));
        let mut h = HeaderMap::new();
        h.append("accept", HeaderValue::from_static("a"));
        h.append("accept", HeaderValue::from_static("b"));
        assert_eq!(
            first_each(&h, "Accept\nx-absent\n"),
            [Some("a".to_owned()), None, None]
        );
    }
}
