//! A stored response and its freshness: RFC 9111 rules from `http-cache-semantics`,
//! with the cache policy's TTL bounds applied on top.
//!
//! The policy's TTLs are folded in by evaluating freshness on a copy of the origin's
//! headers whose `s-maxage` is the clamped lifetime (a shared cache obeys `s-maxage`
//! over `max-age` and `Expires`), so every other rule — `no-cache`, `must-revalidate`,
//! `Age`, `Date`, validators — still comes from the crate. Viewers get the origin's
//! headers unchanged.

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri};
use http_cache_semantics::{
    AfterResponse, BeforeRequest, CacheOptions, CachePolicy as Semantics, RequestLike, ResponseLike,
};

use crate::config::CachePolicy;

/// One cached response.
#[derive(Debug)]
pub struct Entry {
    pub status: StatusCode,
    /// The origin's headers (after origin-response hooks), hop-by-hop ones removed.
    pub headers: HeaderMap,
    pub body: Bytes,
    /// Primary key and URL it was stored under (for purges).
    pub key: String,
    pub url: String,
    /// Request headers the response varies on, with the values it was stored for.
    pub vary: Vec<(HeaderName, Option<HeaderValue>)>,
    semantics: Semantics,
    /// Freshness lifetime after the policy's clamping.
    lifetime: Duration,
    /// Until when the entry is fresh: the crate's verdict, precomputed, since with the
    /// key pinning everything else it depends on the clock alone.
    fresh_until: SystemTime,
    /// When it was stored and how old it was then (the origin's `Age` included).
    stored_at: SystemTime,
    age_at_store: Duration,
    pub stale_while_revalidate: Duration,
    pub stale_if_error: Duration,
}

/// How a stored entry can be used for a request right now.
#[derive(Debug)]
pub enum Freshness {
    Fresh,
    /// Past its lifetime by `staleness`; `validators` (If-None-Match,
    /// If-Modified-Since) let the origin answer 304.
    Stale {
        staleness: Duration,
        validators: HeaderMap,
    },
}

/// The stand-in request freshness is evaluated against: the key already pins host,
/// path, query and the varied headers, so only those headers are compared again.
struct KeyedRequest<'a> {
    headers: &'a HeaderMap,
}

impl RequestLike for KeyedRequest<'_> {
    fn uri(&self) -> Uri {
        Uri::from_static("/")
    }
    fn is_same_uri(&self, _other: &Uri) -> bool {
        true
    }
    fn method(&self) -> &Method {
        &Method::GET
    }
    fn headers(&self) -> &HeaderMap {
        self.headers
    }
}

struct Head<'a> {
    status: StatusCode,
    headers: &'a HeaderMap,
}

impl ResponseLike for Head<'_> {
    fn status(&self) -> StatusCode {
        self.status
    }
    fn headers(&self) -> &HeaderMap {
        self.headers
    }
}

fn options() -> CacheOptions {
    CacheOptions {
        shared: true,
        ..CacheOptions::default()
    }
}

/// Everything needed to store a response once its body has arrived.
#[derive(Debug)]
pub struct StorePlan {
    status: StatusCode,
    headers: HeaderMap,
    vary: Vec<(HeaderName, Option<HeaderValue>)>,
    semantics: Semantics,
    lifetime: Duration,
    now: SystemTime,
    stale_while_revalidate: Duration,
    stale_if_error: Duration,
}

impl StorePlan {
    /// Whether and how a response to `request_headers` may be stored under `policy`;
    /// `None` when it must not be (no-store, private, Authorization, `Vary: *`,
    /// `Set-Cookie`, uncacheable status, a partial response, or nothing to reuse).
    pub fn new(
        policy: &CachePolicy,
        request_headers: &HeaderMap,
        status: StatusCode,
        response_headers: &HeaderMap,
        now: SystemTime,
    ) -> Option<StorePlan> {
        if status == StatusCode::PARTIAL_CONTENT || status == StatusCode::NOT_MODIFIED {
            return None;
        }
        // One viewer's cookie must never be handed to the next (as nginx and Varnish
        // default to): a response that sets one is passed through, not stored.
        if response_headers.contains_key(header::SET_COOKIE) {
            return None;
        }
        let vary_names = vary_names(response_headers)?;
        let vary: Vec<(HeaderName, Option<HeaderValue>)> = vary_names
            .into_iter()
            .map(|n| {
                let v = request_headers.get(&n).cloned();
                (n, v)
            })
            .collect();
        // Storability sees the real request (Authorization matters); freshness later
        // sees only what the key does not already pin.
        let real = http::Request::get("/").body(()).ok()?;
        let (mut real, ()) = real.into_parts();
        real.headers = request_headers.clone();
        let origin_view = Semantics::new_options(
            &real,
            &Head {
                status,
                headers: response_headers,
            },
            now,
            options(),
        );
        if !origin_view.is_storable() {
            return None;
        }
        let directives = Directives::parse(response_headers);
        let origin_lifetime = if let Some(s) = directives.s_maxage.or(directives.max_age) {
            Duration::from_secs(s)
        } else if response_headers.contains_key(header::EXPIRES) {
            origin_view.time_to_live(now) + origin_view.age(now)
        } else {
            policy.default_ttl
        };
        let lifetime = origin_lifetime.clamp(policy.min_ttl, policy.max_ttl.max(policy.min_ttl));
        let stale_while_revalidate = directives
            .stale_while_revalidate
            .map_or(policy.stale_while_revalidate, Duration::from_secs);
        let stale_if_error = directives
            .stale_if_error
            .map_or(policy.stale_if_error, Duration::from_secs);
        let has_validator = response_headers.contains_key(header::ETAG)
            || response_headers.contains_key(header::LAST_MODIFIED);
        if lifetime.is_zero()
            && !has_validator
            && stale_while_revalidate.is_zero()
            && stale_if_error.is_zero()
        {
            return None;
        }
        let semantics = semantics_for(status, response_headers, &vary, lifetime, now);
        Some(StorePlan {
            status,
            headers: response_headers.clone(),
            vary,
            semantics,
            lifetime,
            now,
            stale_while_revalidate,
            stale_if_error,
        })
    }

    /// The entry once the whole body is known.
    pub fn into_entry(self, key: String, url: String, body: Bytes) -> Entry {
        let fresh_until = self.now + self.semantics.time_to_live(self.now);
        let age_at_store = self.semantics.age(self.now);
        Entry {
            fresh_until,
            stored_at: self.now,
            age_at_store,
            status: self.status,
            headers: self.headers,
            body,
            key,
            url,
            vary: self.vary,
            semantics: self.semantics,
            lifetime: self.lifetime,
            stale_while_revalidate: self.stale_while_revalidate,
            stale_if_error: self.stale_if_error,
        }
    }
}

fn semantics_for(
    status: StatusCode,
    response_headers: &HeaderMap,
    vary: &[(HeaderName, Option<HeaderValue>)],
    lifetime: Duration,
    now: SystemTime,
) -> Semantics {
    let mut request_headers = HeaderMap::new();
    for (name, value) in vary {
        if let Some(v) = value {
            request_headers.insert(name.clone(), v.clone());
        }
    }
    let mut headers = response_headers.clone();
    let mut cc: Vec<String> = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty() && !d.to_ascii_lowercase().starts_with("s-maxage"))
        .collect();
    cc.push(format!("s-maxage={}", lifetime.as_secs()));
    if let Ok(v) = HeaderValue::from_str(&cc.join(", ")) {
        headers.insert(header::CACHE_CONTROL, v);
    }
    Semantics::new_options(
        &KeyedRequest {
            headers: &request_headers,
        },
        &Head {
            status,
            headers: &headers,
        },
        now,
        options(),
    )
}

impl Entry {
    /// Whether this entry can answer a request carrying `request_headers` now.
    pub fn freshness(&self, request_headers: &HeaderMap, now: SystemTime) -> Freshness {
        if now < self.fresh_until {
            return Freshness::Fresh;
        }
        let lookup = self.vary_only(request_headers);
        match self
            .semantics
            .before_request(&KeyedRequest { headers: &lookup }, now)
        {
            BeforeRequest::Fresh(_) => Freshness::Fresh,
            BeforeRequest::Stale { request, .. } => {
                let mut validators = HeaderMap::new();
                for name in [header::IF_NONE_MATCH, header::IF_MODIFIED_SINCE] {
                    if let Some(v) = request.headers.get(&name) {
                        validators.insert(name, v.clone());
                    }
                }
                Freshness::Stale {
                    staleness: self.age_at(now).saturating_sub(self.lifetime),
                    validators,
                }
            }
        }
    }

    /// Seconds for the `Age` header.
    pub fn age(&self, now: SystemTime) -> u64 {
        self.age_at(now).as_secs()
    }

    fn age_at(&self, now: SystemTime) -> Duration {
        self.age_at_store + now.duration_since(self.stored_at).unwrap_or_default()
    }

    /// After a conditional request: `Some(entry)` with the 304's headers merged in and
    /// a new lifetime when the 304 applies to this entry, `None` when it does not.
    pub fn refreshed(
        &self,
        policy: &CachePolicy,
        not_modified: &HeaderMap,
        now: SystemTime,
    ) -> Option<Entry> {
        let lookup = self.vary_request();
        let after = self.semantics.after_response(
            &KeyedRequest { headers: &lookup },
            &Head {
                status: StatusCode::NOT_MODIFIED,
                headers: not_modified,
            },
            now,
        );
        if !matches!(after, AfterResponse::NotModified(..)) {
            return None;
        }
        let mut headers = self.headers.clone();
        for name in not_modified.keys() {
            if KEEP_ON_REFRESH.contains(name) {
                continue;
            }
            headers.remove(name);
            for v in not_modified.get_all(name) {
                headers.append(name.clone(), v.clone());
            }
        }
        let plan = StorePlan::new(policy, &lookup, self.status, &headers, now)?;
        Some(plan.into_entry(self.key.clone(), self.url.clone(), self.body.clone()))
    }

    fn vary_request(&self) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in &self.vary {
            if let Some(v) = value {
                headers.insert(name.clone(), v.clone());
            }
        }
        headers
    }

    fn vary_only(&self, request_headers: &HeaderMap) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, _) in &self.vary {
            if let Some(v) = request_headers.get(name) {
                headers.insert(name.clone(), v.clone());
            }
        }
        headers
    }

    /// Bytes this entry takes, for the cache's size bound.
    pub fn weight(&self) -> u32 {
        let headers: usize = self
            .headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 32)
            .sum();
        let total = self.body.len() + headers * 2 + self.key.len() + self.url.len() + 512;
        total.min(u32::MAX as usize) as u32
    }
}

/// Headers a 304 must not overwrite in the stored response (they describe the
/// stored body, which the 304 does not carry).
const KEEP_ON_REFRESH: [HeaderName; 4] = [
    header::CONTENT_LENGTH,
    header::CONTENT_ENCODING,
    header::TRANSFER_ENCODING,
    header::CONTENT_RANGE,
];

/// Lower-case names in `Vary`; `None` for `Vary: *` (never reusable).
fn vary_names(headers: &HeaderMap) -> Option<Vec<HeaderName>> {
    let mut names = Vec::new();
    for v in headers.get_all(header::VARY) {
        for name in v.to_str().unwrap_or("*").split(',') {
            let name = name.trim();
            if name == "*" {
                return None;
            }
            if name.is_empty() {
                continue;
            }
            let name = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok()?;
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names.sort_by(|a: &HeaderName, b| a.as_str().cmp(b.as_str()));
    Some(names)
}

/// The `Cache-Control` response directives that set lifetimes.
#[derive(Debug, Default)]
struct Directives {
    max_age: Option<u64>,
    s_maxage: Option<u64>,
    stale_while_revalidate: Option<u64>,
    stale_if_error: Option<u64>,
}

impl Directives {
    fn parse(headers: &HeaderMap) -> Directives {
        let mut d = Directives::default();
        for v in headers.get_all(header::CACHE_CONTROL) {
            for directive in v.to_str().unwrap_or("").split(',') {
                let Some((name, value)) = directive.split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"').parse::<u64>().ok();
                match name.trim().to_ascii_lowercase().as_str() {
                    "max-age" => d.max_age = value,
                    "s-maxage" => d.s_maxage = value,
                    "stale-while-revalidate" => d.stale_while_revalidate = value,
                    "stale-if-error" => d.stale_if_error = value,
                    _ => {}
                }
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (n, v) in pairs {
            h.append(
                HeaderName::from_bytes(n.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn plan(policy: &CachePolicy, req: &[(&str, &str)], resp: &[(&str, &str)]) -> Option<Entry> {
        StorePlan::new(
            policy,
            &headers(req),
            StatusCode::OK,
            &headers(resp),
            SystemTime::now(),
        )
        .map(|p| p.into_entry("k".into(), "u".into(), Bytes::from_static(b"x")))
    }

    fn fresh_after(entry: &Entry, secs: u64) -> bool {
        let later = SystemTime::now() + Duration::from_secs(secs);
        matches!(entry.freshness(&HeaderMap::new(), later), Freshness::Fresh)
    }

    #[test]
    fn freshness_matrix() {
        let p = CachePolicy::default();
        let e = plan(&p, &[], &[("cache-control", "public, max-age=60")]).unwrap();
        assert!(fresh_after(&e, 30));
        assert!(!fresh_after(&e, 61));
        // s-maxage wins over max-age in a shared cache.
        let e = plan(&p, &[], &[("cache-control", "max-age=5, s-maxage=100")]).unwrap();
        assert!(fresh_after(&e, 50));
        // Age already spent counts.
        let e = plan(&p, &[], &[("cache-control", "max-age=60"), ("age", "50")]).unwrap();
        assert!(!fresh_after(&e, 20));
        // Never stored: no-store, private, Authorization without public, Vary: *.
        assert!(plan(&p, &[], &[("cache-control", "no-store")]).is_none());
        assert!(plan(&p, &[], &[("cache-control", "private, max-age=60")]).is_none());
        assert!(
            plan(
                &p,
                &[("authorization", "x")],
                &[("cache-control", "max-age=60")]
            )
            .is_none()
        );
        assert!(plan(&p, &[], &[("cache-control", "max-age=60"), ("vary", "*")]).is_none());
        assert!(
            plan(
                &p,
                &[],
                &[
                    ("cache-control", "public, max-age=60"),
                    ("set-cookie", "s=1")
                ]
            )
            .is_none()
        );
        // no-cache: stored, but every use is revalidated.
        let e = plan(
            &p,
            &[],
            &[("cache-control", "no-cache"), ("etag", "\"v1\"")],
        )
        .unwrap();
        assert!(!fresh_after(&e, 0));
        // No lifetime from the origin: the policy's default TTL.
        let e = plan(&p, &[], &[]).unwrap();
        assert!(fresh_after(&e, 3600));
        // The policy clamps the origin's lifetime.
        let bounded = CachePolicy {
            min_ttl: Duration::from_secs(100),
            max_ttl: Duration::from_secs(200),
            default_ttl: Duration::from_secs(150),
            ..CachePolicy::default()
        };
        let e = plan(&bounded, &[], &[("cache-control", "max-age=10")]).unwrap();
        assert!(fresh_after(&e, 50));
        let e = plan(&bounded, &[], &[("cache-control", "max-age=10000")]).unwrap();
        assert!(!fresh_after(&e, 300));
    }

    #[test]
    fn stale_gives_validators() {
        let p = CachePolicy::default();
        let e = plan(
            &p,
            &[],
            &[
                ("cache-control", "max-age=1"),
                ("etag", "\"v1\""),
                ("last-modified", "Tue, 01 Jan 2030 00:00:00 GMT"),
            ],
        )
        .unwrap();
        let later = SystemTime::now() + Duration::from_secs(10);
        match e.freshness(&HeaderMap::new(), later) {
            Freshness::Stale {
                validators,
                staleness,
            } => {
                assert_eq!(validators[header::IF_NONE_MATCH], "\"v1\"");
                assert!(staleness >= Duration::from_secs(8));
            }
            Freshness::Fresh => panic!("should be stale"),
        }
        let refreshed = e
            .refreshed(
                &p,
                &headers(&[("etag", "\"v1\""), ("cache-control", "max-age=100")]),
                later,
            )
            .unwrap();
        assert!(matches!(
            refreshed.freshness(&HeaderMap::new(), later + Duration::from_secs(50)),
            Freshness::Fresh
        ));
        assert!(
            e.refreshed(&p, &headers(&[("etag", "\"v2\"")]), later)
                .is_none()
        );
    }
}
