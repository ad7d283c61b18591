//! Proxy headers: hop-by-hop headers removed in both directions, and the forwarding
//! headers origins expect (X-Forwarded-For/Proto/Host, Via) added.

use http::Version;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers that describe one connection, never forwarded (RFC 9110 §7.6.1).
/// `Connection` first: the headers it names go too.
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The index of a lower-case `name` in [`HOP_BY_HOP`]: one string match, cheaper
/// than comparing with each entry.
fn hop_by_hop_index(name: &str) -> Option<usize> {
    Some(match name {
        "connection" => 0,
        "keep-alive" => 1,
        "proxy-connection" => 2,
        "proxy-authenticate" => 3,
        "proxy-authorization" => 4,
        "te" => 5,
        "trailer" => 6,
        "transfer-encoding" => 7,
        "upgrade" => 8,
        _ => return None,
    })
}

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");

/// Removes hop-by-hop headers, including any the `Connection` header names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the names finds the few present (usually none, or `Connection`),
    // instead of a hashed lookup for every name on the list.
    let mut present = 0u16;
    for name in headers.keys() {
        if let Some(i) = hop_by_hop_index(name.as_str()) {
            present |= 1 << i;
        }
    }
    if present == 0 {
        return;
    }
    if present & 1 != 0 {
        let mut named = Vec::new();
        let tokens = headers
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim);
        for token in tokens {
            // Listed names are removed below anyway (`keep-alive` is the usual token).
            let listed = if token.bytes().any(|b| b.is_ascii_uppercase()) {
                hop_by_hop_index(&token.to_ascii_lowercase())
            } else {
                hop_by_hop_index(token)
            };
            match listed {
                Some(i) => present |= 1 << i,
                None => named.extend(HeaderName::from_bytes(token.as_bytes()).ok()),
            }
        }
        for name in named {
            headers.remove(name);
        }
    }
    for (i, name) in HOP_BY_HOP.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
}

/// The `Via` entry for a message received with `version`.
pub fn via_value(version: Version) -> HeaderValue {
    // `const` blocks: `from_static` checks every byte when it runs per request.
    match version {
        Version::HTTP_10 => const { HeaderValue::from_static("1.0 wedge") },
        Version::HTTP_2 => const { HeaderValue::from_static("2 wedge") },
        Version::HTTP_3 => const { HeaderValue::from_static("3 wedge") },
        _ => const { HeaderValue::from_static("1.1 wedge") },
    }
}

/// `X-Forwarded-Proto` for `scheme`.
fn proto_value(scheme: &'static str) -> HeaderValue {
    match scheme {
        "https" => const { HeaderValue::from_static("https") },
        "http" => const { HeaderValue::from_static("http") },
        other => HeaderValue::from_static(other),
    }
}

/// Adds the forwarding headers to a request on its way to the origin. `client_ip` is
/// the connection's (formatted once per connection: formatting an address per request
/// cost more than the rest of this function).
pub fn add_forwarding(
    headers: &mut HeaderMap,
    client_ip: &HeaderValue,
    scheme: &'static str,
    host: &HeaderValue,
    version: Version,
) {
    // Room for these and the Host set per attempt: the map grows at most once.
    headers.reserve(5);
    // One lookup finds a prior value to append to and the slot to replace it in.
    match headers.entry(X_FORWARDED_FOR) {
        header::Entry::Occupied(mut e) => {
            let value = match e.get().to_str() {
                Ok(prior) if !prior.trim().is_empty() => {
                    let client = client_ip.as_bytes();
                    let mut v = Vec::with_capacity(prior.len() + 2 + client.len());
                    v.extend_from_slice(prior.as_bytes());
                    v.extend_from_slice(b", ");
                    v.extend_from_slice(client);
                    HeaderValue::from_bytes(&v).ok()
                }
                _ => Some(client_ip.clone()),
            };
            if let Some(v) = value {
                e.insert(v);
            }
        }
        header::Entry::Vacant(e) => {
            e.insert(client_ip.clone());
        }
    }
    headers.insert(X_FORWARDED_PROTO, proto_value(scheme));
    headers.insert(X_FORWARDED_HOST, host.clone());
    headers.append(header::VIA, via_value(version));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Strips hop-by-hop headers from a map with `connection` and `extra` set, plus
    /// `x-secret` and `x-kept`, and checks only `x-kept` is left.
    fn strips_down_to_kept(connection: &'static str, extra: &[(&'static str, &'static str)]) {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static(connection));
        h.insert("x-secret", HeaderValue::from_static("1"));
        for (name, value) in extra {
            h.insert(*name, HeaderValue::from_static(value));
        }
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{connection}: {h:?}");
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn strips_listed_and_named_hop_by_hop_headers() {
        strips_down_to_kept(
            "keep-alive, x-secret",
            &[("keep-alive", "timeout=5"), ("te", "trailers")],
        );
    }

    #[test]
    fn connection_tokens_are_case_insensitive() {
        strips_down_to_kept(
            "Keep-Alive, X-Secret, , Upgrade",
            &[("keep-alive", "timeout=5"), ("upgrade", "h2c")],
        );
        // Nothing to strip: the map is left as it was.
        let mut h = HeaderMap::new();
        h.insert("x-kept", HeaderValue::from_static("1"));
        let before = h.clone();
        strip_hop_by_hop(&mut h);
        assert_eq!(h, before);
    }

    #[test]
    fn hop_by_hop_index_matches_the_list() {
        for (i, name) in HOP_BY_HOP.iter().enumerate() {
            assert_eq!(hop_by_hop_index(name.as_str()), Some(i));
        }
        assert_eq!(hop_by_hop_index("x-kept"), None);
    }

    #[test]
    fn appends_to_existing_forwarded_for() {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("203.0.113.9"));
        add_forwarding(
            &mut h,
            &HeaderValue::from_static("192.0.2.1"),
            "https",
            &HeaderValue::from_static("www.localhost"),
            Version::HTTP_2,
        );
        assert_eq!(h["x-forwarded-for"], "203.0.113.9, 192.0.2.1");
        assert_eq!(h["x-forwarded-proto"], "https");
        assert_eq!(h["x-forwarded-host"], "www.localhost");
        assert_eq!(h["via"], "2 wedge");
    }
}
