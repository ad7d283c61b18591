//! Cache settings and CloudFront-style cache policies: TTL bounds, what enters the
//! cache key, and stale-serving defaults.

use std::time::Duration;

use toml::Spanned;

use super::load::Converter;
use super::raw::{RawCache, RawCachePolicy, RawKeySelection};

/// Size limits of the edge cache (shared by every behavior that caches).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheSettings {
    /// Bytes of responses (bodies plus headers) the cache may hold.
    pub max_bytes: u64,
    /// Largest body stored; larger responses are streamed to the viewer uncached.
    pub max_object_bytes: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        Self {
            max_bytes: 256 << 20,
            max_object_bytes: 16 << 20,
        }
    }
}

/// How long responses stay fresh and which parts of a request tell them apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachePolicy {
    /// Floor on the freshness lifetime the origin asks for.
    pub min_ttl: Duration,
    /// Lifetime when the origin gives none (no max-age, s-maxage or Expires).
    pub default_ttl: Duration,
    /// Ceiling on the freshness lifetime the origin asks for.
    pub max_ttl: Duration,
    pub headers: KeySelection,
    pub cookies: KeySelection,
    pub query_strings: KeySelection,
    /// Reduce `Accept-Encoding` to `br`, `gzip` or nothing, in the key and towards the
    /// origin, so equivalent browsers share one entry.
    pub normalize_accept_encoding: bool,
    /// Serve a stale entry this long past its lifetime while one request refreshes it
    /// (the origin's `stale-while-revalidate` wins when present).
    pub stale_while_revalidate: Duration,
    /// Serve a stale entry this long past its lifetime when the origin fails (the
    /// origin's `stale-if-error` wins when present).
    pub stale_if_error: Duration,
}

impl Default for CachePolicy {
    /// CloudFront's `CachingOptimized`-like defaults: 1 day by default, up to 1 year.
    fn default() -> Self {
        Self {
            min_ttl: Duration::ZERO,
            default_ttl: Duration::from_secs(86_400),
            max_ttl: Duration::from_secs(31_536_000),
            headers: KeySelection::None,
            cookies: KeySelection::None,
            query_strings: KeySelection::All,
            normalize_accept_encoding: true,
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
        }
    }
}

/// Which names (headers, cookies or query parameters) enter the cache key. Names of
/// headers and cookies compare case-insensitively and case-sensitively respectively,
/// as HTTP defines them; query parameter names case-sensitively.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum KeySelection {
    #[default]
    None,
    Allowlist(Vec<String>),
    All,
    AllExcept(Vec<String>),
}

impl KeySelection {
    /// Whether `name` enters the key.
    pub fn includes(&self, name: &str, case_insensitive: bool) -> bool {
        let listed = |names: &[String]| {
            names.iter().any(|n| {
                if case_insensitive {
                    n.eq_ignore_ascii_case(name)
                } else {
                    n == name
                }
            })
        };
        match self {
            KeySelection::None => false,
            KeySelection::All => true,
            KeySelection::Allowlist(names) => listed(names),
            KeySelection::AllExcept(names) => !listed(names),
        }
    }
}

impl Converter<'_> {
    pub(super) fn cache_settings(&mut self, raw: &RawCache) -> CacheSettings {
        let d = CacheSettings::default();
        let mut mib = |field: &str, v: &Option<Spanned<u64>>, default: u64| match v {
            None => default,
            Some(v) => {
                self.note(field, v);
                if *v.get_ref() == 0 {
                    self.fail(field.into(), "must be at least 1".into(), v.span());
                }
                v.get_ref().saturating_mul(1 << 20)
            }
        };
        let max_bytes = mib("cache.max_size_mb", &raw.max_size_mb, d.max_bytes);
        let max_object_bytes = mib(
            "cache.max_object_mb",
            &raw.max_object_mb,
            d.max_object_bytes,
        );
        CacheSettings {
            max_bytes,
            max_object_bytes,
        }
    }

    pub(super) fn cache_policy(&mut self, field: &str, raw: &RawCachePolicy) -> CachePolicy {
        let d = CachePolicy::default();
        let mut secs = |name: &str, v: &Option<Spanned<u64>>, default: Duration| match v {
            None => default,
            Some(v) => {
                self.note(&format!("{field}.{name}"), v);
                Duration::from_secs(*v.get_ref())
            }
        };
        let min_ttl = secs("min_ttl", &raw.min_ttl, Duration::ZERO);
        let max_ttl = secs("max_ttl", &raw.max_ttl, d.max_ttl.max(min_ttl));
        let default_ttl = secs(
            "default_ttl",
            &raw.default_ttl,
            d.default_ttl.clamp(min_ttl, max_ttl.max(min_ttl)),
        );
        let given = [&raw.default_ttl, &raw.max_ttl, &raw.min_ttl];
        if let Some(v) = given.into_iter().flatten().next()
            && !(min_ttl <= default_ttl && default_ttl <= max_ttl)
        {
            self.fail(
                format!("{field}.default_ttl"),
                "TTLs must satisfy min_ttl <= default_ttl <= max_ttl".into(),
                v.span(),
            );
        }
        let mut selection = |name: &str, v: &Option<RawKeySelection>, default: KeySelection| match v
        {
            None => default,
            Some(sel) => {
                let f = format!("{field}.{name}.behavior");
                let names = sel.names.clone();
                let parsed = self.parse(&f, &sel.behavior, |s| match s {
                    "none" | "all" if !names.is_empty() => {
                        Err(format!("\"{s}\" takes no names; remove `names`"))
                    }
                    "none" => Ok(KeySelection::None),
                    "all" => Ok(KeySelection::All),
                    "allowlist" | "all_except" if names.is_empty() => {
                        Err(format!("\"{s}\" needs `names`"))
                    }
                    "allowlist" => Ok(KeySelection::Allowlist(names.clone())),
                    "all_except" => Ok(KeySelection::AllExcept(names.clone())),
                    other => Err(format!(
                        "`{other}` is not one of \"none\", \"allowlist\", \"all\", \"all_except\""
                    )),
                });
                parsed.unwrap_or_default()
            }
        };
        let headers = selection("headers", &raw.headers, d.headers);
        let cookies = selection("cookies", &raw.cookies, d.cookies);
        let query_strings = selection("query_strings", &raw.query_strings, d.query_strings);
        CachePolicy {
            min_ttl,
            default_ttl,
            max_ttl,
            headers,
            cookies,
            query_strings,
            normalize_accept_encoding: raw
                .normalize_accept_encoding
                .unwrap_or(d.normalize_accept_encoding),
            stale_while_revalidate: raw
                .stale_while_revalidate
                .map_or(d.stale_while_revalidate, Duration::from_secs),
            stale_if_error: raw
                .stale_if_error
                .map_or(d.stale_if_error, Duration::from_secs),
        }
    }
}
