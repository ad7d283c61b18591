//! Origin request policies: which viewer headers, cookies and query string parameters
//! reach the origin, and headers added to every origin request. Applied before the
//! origin-request hooks, so functions see (and may still change) what will be sent.
//! The Host rule is applied when forwarding, where the member is known.

use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};
use http::uri::{PathAndQuery, Uri};

use crate::config::{Behavior, Forward, OriginRequestPolicy};
use crate::snapshot::Snapshot;

/// Headers that describe the request body; a policy never strips them.
const BODY_HEADERS: [HeaderName; 4] = [
    header::CONTENT_LENGTH,
    header::TRANSFER_ENCODING,
    header::CONTENT_TYPE,
    header::CONTENT_ENCODING,
];

/// The origin request policy `behavior` names, if any.
pub(super) fn of<'a>(
    snapshot: &'a Snapshot,
    behavior: &Behavior,
) -> Option<&'a OriginRequestPolicy> {
    behavior
        .origin_request_policy
        .as_ref()
        .and_then(|id| snapshot.config.origin_request_policies.get(id))
}

/// Applies the behavior's policy, if it names one, to the request head.
pub(super) fn apply(snapshot: &Snapshot, behavior: &Behavior, parts: &mut http::request::Parts) {
    if let Some(policy) = of(snapshot, behavior) {
        apply_policy(policy, parts);
    }
}

fn apply_policy(policy: &OriginRequestPolicy, parts: &mut http::request::Parts) {
    if policy.headers != Forward::All {
        filter_headers(&mut parts.headers, &policy.headers);
    }
    match &policy.cookies {
        Forward::All => {}
        Forward::None => {
            parts.headers.remove(header::COOKIE);
        }
        Forward::Allow(names) => filter_cookies(&mut parts.headers, names),
    }
    if policy.query_strings != Forward::All
        && let Some(query) = parts.uri.query()
    {
        let kept = match &policy.query_strings {
            Forward::Allow(names) => query
                .split('&')
                .filter(|pair| {
                    let name = pair.split('=').next().unwrap_or("");
                    names.iter().any(|n| n == name)
                })
                .collect::<Vec<_>>()
                .join("&"),
            _ => String::new(),
        };
        set_query(&mut parts.uri, &kept);
    }
    for (name, value) in &policy.add_headers {
        parts.headers.insert(name.clone(), value.clone());
    }
}

/// Keeps body headers, the cookie header (cookies have their own rule) and, for an
/// allowlist, the listed headers.
fn filter_headers(headers: &mut HeaderMap, rule: &Forward) {
    let keep = |name: &HeaderName| {
        BODY_HEADERS.contains(name)
            || name == header::COOKIE
            || matches!(rule, Forward::Allow(names) if names.iter().any(|n| n == name.as_str()))
    };
    let mut kept = HeaderMap::with_capacity(headers.len());
    let mut current: Option<HeaderName> = None;
    for (name, value) in std::mem::take(headers) {
        if let Some(n) = name {
            current = Some(n);
        }
        if let Some(n) = &current
            && keep(n)
        {
            kept.append(n.clone(), value);
        }
    }
    *headers = kept;
}

/// Keeps only the listed cookies; drops the header when none is left.
fn filter_cookies(headers: &mut HeaderMap, names: &[String]) {
    let mut kept = Vec::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(s) = value.to_str() else { continue };
        for pair in s.split(';').map(str::trim).filter(|p| !p.is_empty()) {
            let name = pair.split('=').next().unwrap_or("").trim();
            if names.iter().any(|n| n == name) {
                kept.push(pair.to_owned());
            }
        }
    }
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, v);
    }
}

fn set_query(uri: &mut Uri, query: &str) {
    let pq = if query.is_empty() {
        uri.path().to_owned()
    } else {
        format!("{}?{query}", uri.path())
    };
    let mut parts = std::mem::take(uri).into_parts();
    if let Ok(pq) = pq.parse::<PathAndQuery>() {
        parts.path_and_query = Some(pq);
    }
    if let Ok(u) = Uri::from_parts(parts) {
        *uri = u;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::HostRule;

    fn parts(uri: &str, headers: &[(&str, &str)]) -> http::request::Parts {
        let mut b = http::Request::get(uri);
        for (n, v) in headers {
            b = b.header(*n, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    #[test]
    fn allowlists_and_added_headers() {
        let policy = OriginRequestPolicy {
            headers: Forward::Allow(vec!["accept-language".into()]),
            cookies: Forward::Allow(vec!["session".into()]),
            query_strings: Forward::Allow(vec!["page".into()]),
            host: HostRule::Viewer,
            add_headers: vec![(
                HeaderName::from_static("x-edge"),
                HeaderValue::from_static("wedge"),
            )],
        };
        let mut p = parts(
            "/list?page=2&utm_source=x&page=3",
            &[
                ("accept-language", "fr"),
                ("user-agent", "curl"),
                ("content-type", "text/plain"),
                ("cookie", "tracking=1; session=abc"),
                ("cookie", "other=2"),
                ("x-edge", "spoofed"),
            ],
        );
        apply_policy(&policy, &mut p);
        assert_eq!(p.uri, "/list?page=2&page=3");
        assert_eq!(p.headers["accept-language"], "fr");
        assert!(p.headers.get("user-agent").is_none());
        assert_eq!(p.headers["content-type"], "text/plain");
        assert_eq!(p.headers["cookie"], "session=abc");
        assert_eq!(p.headers.get_all("x-edge").iter().count(), 1);
        assert_eq!(p.headers["x-edge"], "wedge");
    }

    #[test]
    fn none_strips_everything_but_the_body_headers() {
        let policy = OriginRequestPolicy {
            headers: Forward::None,
            cookies: Forward::None,
            query_strings: Forward::None,
            ..Default::default()
        };
        let mut p = parts(
            "https://example.test/a?b=c",
            &[
                ("accept", "*/*"),
                ("cookie", "a=b"),
                ("content-length", "0"),
            ],
        );
        apply_policy(&policy, &mut p);
        assert_eq!(p.uri, "https://example.test/a");
        assert_eq!(p.headers.len(), 1);
        assert!(p.headers.contains_key("content-length"));
    }
}
