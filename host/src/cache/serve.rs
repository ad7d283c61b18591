//! Answering from a stored entry: `Age`, conditional requests (304), `HEAD`, and byte
//! ranges cut from the stored full object (206, or 416 when unsatisfiable).

use std::time::SystemTime;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, Response, StatusCode};

use super::Entry;
use crate::pipeline::EdgeBody;

/// The viewer's conditional and range headers: they are answered from the cache, so a
/// fill or revalidation must not pass them to the origin.
pub fn viewer_conditional_headers() -> [header::HeaderName; 5] {
    [
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_MATCH,
        header::IF_UNMODIFIED_SINCE,
        header::IF_RANGE,
    ]
}

/// The response for a request (`method`, `headers`) answered from `entry` at `now`.
pub fn response_from_entry(
    entry: &Entry,
    method: &Method,
    request_headers: &HeaderMap,
    now: SystemTime,
) -> Response<EdgeBody> {
    let mut headers = entry.headers.clone();
    headers.insert(header::AGE, HeaderValue::from(entry.age(now)));
    let ok = entry.status == StatusCode::OK;

    if ok && not_modified(entry, request_headers) {
        let mut resp = Response::new(EdgeBody::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        for name in [
            header::CACHE_CONTROL,
            header::CONTENT_LOCATION,
            header::DATE,
            header::ETAG,
            header::EXPIRES,
            header::VARY,
            header::LAST_MODIFIED,
            header::AGE,
        ] {
            for v in headers.get_all(&name) {
                resp.headers_mut().append(name.clone(), v.clone());
            }
        }
        return resp;
    }

    let len = entry.body.len() as u64;
    let range = if ok && *method == Method::GET && if_range_holds(entry, request_headers) {
        request_headers
            .get(header::RANGE)
            .and_then(|v| v.to_str().ok())
            .map(|r| parse_range(r, len))
    } else {
        None
    };
    if ok {
        headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    }
    let (status, body) = match range {
        Some(RangeAnswer::Satisfiable(start, end)) => {
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {start}-{end}/{len}"))
                    .expect("digits are valid"),
            );
            (
                StatusCode::PARTIAL_CONTENT,
                entry.body.slice(start as usize..=end as usize),
            )
        }
        Some(RangeAnswer::Unsatisfiable) => {
            headers.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{len}")).expect("digits are valid"),
            );
            (StatusCode::RANGE_NOT_SATISFIABLE, bytes::Bytes::new())
        }
        Some(RangeAnswer::Ignore) | None => (entry.status, entry.body.clone()),
    };
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    let body = if *method == Method::HEAD {
        EdgeBody::empty()
    } else {
        EdgeBody::full(body)
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}

/// `If-None-Match` (weak comparison) or, without it, `If-Modified-Since` (the exact
/// `Last-Modified` text, which is what browsers send back).
fn not_modified(entry: &Entry, request: &HeaderMap) -> bool {
    if let Some(inm) = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    {
        let Some(etag) = entry
            .headers
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let weak = |t: &str| t.trim().trim_start_matches("W/").to_owned();
        return inm.trim() == "*" || inm.split(',').any(|t| weak(t) == weak(etag));
    }
    match (
        request.get(header::IF_MODIFIED_SINCE),
        entry.headers.get(header::LAST_MODIFIED),
    ) {
        (Some(ims), Some(lm)) => ims == lm,
        _ => false,
    }
}

/// `If-Range` holds when absent or equal to the strong ETag or the Last-Modified date.
fn if_range_holds(entry: &Entry, request: &HeaderMap) -> bool {
    let Some(if_range) = request.get(header::IF_RANGE) else {
        return true;
    };
    let strong_etag = entry
        .headers
        .get(header::ETAG)
        .filter(|e| !e.as_bytes().starts_with(b"W/"));
    Some(if_range) == strong_etag || Some(if_range) == entry.headers.get(header::LAST_MODIFIED)
}

#[derive(Debug, PartialEq, Eq)]
enum RangeAnswer {
    /// Inclusive first and last byte.
    Satisfiable(u64, u64),
    Unsatisfiable,
    /// Not a single byte range we serve (several ranges, another unit): send it all.
    Ignore,
}

fn parse_range(value: &str, len: u64) -> RangeAnswer {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return RangeAnswer::Ignore;
    };
    if spec.contains(',') {
        return RangeAnswer::Ignore;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Ignore;
    };
    let (first, last) = (first.trim(), last.trim());
    let parsed = match (first.is_empty(), last.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match last.parse::<u64>() {
            Ok(0) => return RangeAnswer::Unsatisfiable,
            Ok(n) => Some((len.saturating_sub(n), len.saturating_sub(1))),
            Err(_) => None,
        },
        (false, true) => first
            .parse::<u64>()
            .ok()
            .map(|a| (a, len.saturating_sub(1))),
        (false, false) => match (first.parse::<u64>(), last.parse::<u64>()) {
            (Ok(a), Ok(b)) if a <= b => Some((a, b.min(len.saturating_sub(1)))),
            _ => None,
        },
        (true, true) => None,
    };
    match parsed {
        None => RangeAnswer::Ignore,
        Some((a, _)) if len == 0 || a >= len => RangeAnswer::Unsatisfiable,
        Some((a, b)) => RangeAnswer::Satisfiable(a, b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(
            parse_range("bytes=0-9", 100),
            RangeAnswer::Satisfiable(0, 9)
        );
        assert_eq!(
            parse_range("bytes=90-", 100),
            RangeAnswer::Satisfiable(90, 99)
        );
        assert_eq!(
            parse_range("bytes=-10", 100),
            RangeAnswer::Satisfiable(90, 99)
        );
        assert_eq!(
            parse_range("bytes=50-500", 100),
            RangeAnswer::Satisfiable(50, 99)
        );
        assert_eq!(parse_range("bytes=100-", 100), RangeAnswer::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), RangeAnswer::Ignore);
        assert_eq!(parse_range("items=0-1", 100), RangeAnswer::Ignore);
        assert_eq!(parse_range("bytes=5-1", 100), RangeAnswer::Ignore);
    }
}
