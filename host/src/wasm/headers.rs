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
    value: &str,
    request: bool,
    written: &mut usize,
    limit: usize,
) -> Result<(HeaderName, HeaderValue), EditError> {
    let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| EditError::InvalidName)?;
    if managed(&name, request) {
        return Err(EditError::Forbidden);
    }
    let value = HeaderValue::from_str(value).map_err(|_| EditError::InvalidValue)?;
    charge(written, limit, name.as_str().len() + value.len())?;
    Ok((name, value))
}
