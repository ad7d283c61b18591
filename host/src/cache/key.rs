//! Cache keys: what a cache policy selects from the request (host, path, query,
//! headers, cookies), the functions' contributions, and normalised `Accept-Encoding`.

use std::fmt::Write;

use http::HeaderMap;
use http::header::{ACCEPT_ENCODING, COOKIE, HeaderName, HeaderValue};

use crate::config::{CachePolicy, KeySelection};

/// A request's primary cache key and the URL it stands for (for purges by URL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey {
    /// Host, path, and the query, headers and cookies the policy selects, plus the
    /// functions' part. Responses with `Vary` extend it at lookup (see `HttpCache`).
    pub primary: String,
    /// `host/path?query` as requested, without scheme.
    pub url: String,
}

/// Separates the key's sections; cannot occur in a URL, header value or cookie.
const SEP: char = '\u{1f}';

impl CacheKey {
    /// The key of a request for `host` and `uri` with `headers`, under `policy`;
    /// `function_part` is what the functions' cache-key hooks returned.
    pub fn new(
        policy: &CachePolicy,
        host: &str,
        uri: &http::Uri,
        headers: &HeaderMap,
        function_part: Option<&str>,
    ) -> CacheKey {
        let path = uri.path();
        let url = Self::url_of(host, uri);
        let mut primary = String::with_capacity(url.len() + 32);
        primary.push_str(host);
        primary.push_str(path);
        let params = selected_query(&policy.query_strings, uri.query());
        if !params.is_empty() {
            primary.push('?');
            primary.push_str(&params.join("&"));
        }
        if policy.headers != KeySelection::None {
            let mut names: Vec<&HeaderName> = headers
                .keys()
                .filter(|n| *n != COOKIE && policy.headers.includes(n.as_str(), true))
                .collect();
            names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            for name in names {
                let _ = write!(primary, "{SEP}h:{}=", name.as_str());
                join_values(&mut primary, headers.get_all(name).iter());
            }
        }
        if policy.cookies != KeySelection::None {
            let mut cookies: Vec<(&str, &str)> = headers
                .get_all(COOKIE)
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(';'))
                .filter_map(|c| c.trim().split_once('='))
                .filter(|(name, _)| policy.cookies.includes(name, false))
                .collect();
            cookies.sort();
            for (name, value) in cookies {
                let _ = write!(primary, "{SEP}c:{name}={value}");
            }
        }
        if policy.normalize_accept_encoding
            && let Some(ae) = headers.get(ACCEPT_ENCODING).and_then(|v| v.to_str().ok())
        {
            let _ = write!(primary, "{SEP}ae:{ae}");
        }
        if let Some(part) = function_part {
            let _ = write!(primary, "{SEP}fn:{part}");
        }
        CacheKey { primary, url }
    }
}

impl CacheKey {
    /// `host/path?query`: how entries are named for purges and invalidation.
    pub fn url_of(host: &str, uri: &http::Uri) -> String {
        let path = uri.path();
        let mut url = String::with_capacity(host.len() + path.len() + 16);
        url.push_str(host);
        url.push_str(path);
        if let Some(q) = uri.query() {
            url.push('?');
            url.push_str(q);
        }
        url
    }
}

/// The query parameters that enter the key, sorted by name (stable, so repeated
/// names keep their order): `?b=1&a=2` and `?a=2&b=1` share an entry.
fn selected_query<'a>(selection: &KeySelection, query: Option<&'a str>) -> Vec<&'a str> {
    let Some(query) = query else {
        return Vec::new();
    };
    let mut params: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| selection.includes(p.split_once('=').map_or(*p, |(n, _)| n), false))
        .collect();
    params.sort_by_key(|p| p.split_once('=').map_or(*p, |(n, _)| n));
    params
}

fn join_values<'a>(out: &mut String, values: impl Iterator<Item = &'a HeaderValue>) {
    for (i, v) in values.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&String::from_utf8_lossy(v.as_bytes()));
    }
}

/// Reduces `Accept-Encoding` to the encodings a CDN stores variants for, as CloudFront
/// does: `br,gzip`, `br`, `gzip`, or no header. Encodings refused with `q=0` do not
/// count.
pub fn normalize_accept_encoding(headers: &mut HeaderMap) {
    let Some(value) = headers.get(ACCEPT_ENCODING) else {
        return;
    };
    let (mut br, mut gzip) = (false, false);
    for token in value.to_str().unwrap_or("").split(',') {
        let mut parts = token.split(';');
        let coding = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let refused = parts.any(|p| {
            p.trim()
                .strip_prefix("q=")
                .and_then(|q| q.trim().parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        match coding.as_str() {
            "br" if !refused => br = true,
            "gzip" | "x-gzip" if !refused => gzip = true,
            _ => {}
        }
    }
    let normal = match (br, gzip) {
        (true, true) => "br,gzip",
        (true, false) => "br",
        (false, true) => "gzip",
        (false, false) => {
            headers.remove(ACCEPT_ENCODING);
            return;
        }
    };
    headers.insert(ACCEPT_ENCODING, HeaderValue::from_static(normal));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(policy: &CachePolicy, uri: &str, headers: &[(&str, &str)]) -> String {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        CacheKey::new(policy, "h", &uri.parse().unwrap(), &map, None).primary
    }

    #[test]
    fn query_selection_and_order() {
        let all = CachePolicy::default();
        assert_eq!(key(&all, "/p?b=1&a=2", &[]), key(&all, "/p?a=2&b=1", &[]));
        assert_ne!(key(&all, "/p?a=1", &[]), key(&all, "/p?a=2", &[]));
        let none = CachePolicy {
            query_strings: KeySelection::None,
            ..CachePolicy::default()
        };
        assert_eq!(key(&none, "/p?a=1", &[]), key(&none, "/p", &[]));
        let allow = CachePolicy {
            query_strings: KeySelection::Allowlist(vec!["v".into()]),
            ..CachePolicy::default()
        };
        assert_eq!(
            key(&allow, "/p?v=1&utm=x", &[]),
            key(&allow, "/p?utm=y&v=1", &[])
        );
        assert_ne!(key(&allow, "/p?v=1", &[]), key(&allow, "/p?v=2", &[]));
        let except = CachePolicy {
            query_strings: KeySelection::AllExcept(vec!["utm".into()]),
            ..CachePolicy::default()
        };
        assert_eq!(
            key(&except, "/p?a=1&utm=x", &[]),
            key(&except, "/p?a=1", &[])
        );
    }

    #[test]
    fn headers_and_cookies() {
        let policy = CachePolicy {
            headers: KeySelection::Allowlist(vec!["X-Device-Class".into()]),
            cookies: KeySelection::Allowlist(vec!["lang".into()]),
            ..CachePolicy::default()
        };
        let a = key(
            &policy,
            "/",
            &[("x-device-class", "mobile"), ("user-agent", "a")],
        );
        let b = key(
            &policy,
            "/",
            &[("x-device-class", "mobile"), ("user-agent", "b")],
        );
        let c = key(&policy, "/", &[("x-device-class", "desktop")]);
        assert_eq!(a, b);
        assert_ne!(a, c);
        let d = key(&policy, "/", &[("cookie", "session=1; lang=en")]);
        let e = key(&policy, "/", &[("cookie", "lang=en; session=2")]);
        let f = key(&policy, "/", &[("cookie", "lang=fr")]);
        assert_eq!(d, e);
        assert_ne!(d, f);
    }

    #[test]
    fn accept_encoding_normalised() {
        let mut h = HeaderMap::new();
        h.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static("gzip, deflate, br;q=1"),
        );
        normalize_accept_encoding(&mut h);
        assert_eq!(h[ACCEPT_ENCODING], "br,gzip");
        h.insert(
            ACCEPT_ENCODING,
            HeaderValue::from_static("gzip;q=0, identity"),
        );
        normalize_accept_encoding(&mut h);
        assert!(h.get(ACCEPT_ENCODING).is_none());
        h.insert(ACCEPT_ENCODING, HeaderValue::from_static("x-gzip"));
        normalize_accept_encoding(&mut h);
        assert_eq!(h[ACCEPT_ENCODING], "gzip");
    }
}
