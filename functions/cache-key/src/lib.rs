//! cache-key: contributes `path?query|device` to the cache key, so that requests that
//! differ only in ways the origin ignores share one cache entry.
//!
//! - the path is lower-cased (ASCII);
//! - only query parameters named in `query_allowlist` are kept (names match exactly,
//!   values are kept as received), sorted by name then value; with none kept the `?`
//!   is left out;
//! - the device class comes from `x-device-class`, which `device-class` sets when it
//!   runs earlier in the behavior. Absent or unknown values count as `desktop`, so a
//!   viewer cannot split the cache by sending made-up classes.
//!
//! ```toml
//! [functions.cache-key]
//! module = "cache_key.wasm"
//! config = { query_allowlist = ["color", "size"] }
//! ```
//!
//! `GET /Products/Shoes?size=42&utm_source=x&color=red` from a phone gives
//! `/products/shoes?color=red&size=42|mobile`.

use serde::Deserialize;
use wedge_sdk::{Config, ConfigError, Function, Request};

/// The classes `device-class` sets in `x-device-class`.
const CLASSES: &[&str] = &["desktop", "mobile", "tablet", "smarttv", "bot"];

/// `[functions.<id>.config]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Settings {
    /// Query parameter names that take part in the key; default none.
    query_allowlist: Vec<String>,
}

/// The function: the validated allowlist.
pub struct CacheKey {
    allow: Vec<String>,
}

#[wedge_sdk::function]
impl Function for CacheKey {
    // Hooks keep nothing on `self` between requests, so the host may reuse instances.
    const REUSE_INSTANCE: bool = true;

    fn new(config: &Config) -> Result<Self, ConfigError> {
        let settings: Settings = config.parse()?;
        for (i, name) in settings.query_allowlist.iter().enumerate() {
            if name.is_empty()
                || name.contains(['&', '=', '#', '|'])
                || name.contains(char::is_whitespace)
            {
                return Err(ConfigError::new(
                    format!("query_allowlist.{i}"),
                    format!(
                        "`{name}` is not a query parameter name (empty, or contains whitespace, `&`, `=`, `#` or `|`)"
                    ),
                ));
            }
        }
        Ok(CacheKey {
            allow: settings.query_allowlist,
        })
    }

    // The key depends on the path, the query and the device class alone, so the host
    // may reuse it for requests that agree on those.
    const CACHE_KEY_INPUTS: Option<&'static [&'static str]> =
        Some(&[":path", ":query", "x-device-class"]);

    fn cache_key(&mut self, req: &Request) -> Option<String> {
        let mut key = req.path().to_ascii_lowercase();
        let query = req.query().unwrap_or_default();
        let mut kept: Vec<(&str, &str)> = query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .filter(|(name, _)| self.allow.iter().any(|a| a == name))
            .collect();
        kept.sort_unstable();
        for (i, (name, value)) in kept.iter().enumerate() {
            key.push(if i == 0 { '?' } else { '&' });
            key.push_str(name);
            // `?flag` and `?flag=` are the same parameter to most origins.
            if !value.is_empty() {
                key.push('=');
                key.push_str(value);
            }
        }
        key.push('|');
        key.push_str(&device_class(req));
        Some(key)
    }
}

/// The viewer's device class as `device-class` recorded it; `desktop` when absent or
/// not one of its classes.
fn device_class(req: &Request) -> String {
    let class = req
        .header("x-device-class")
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    if CLASSES.contains(&class.as_str()) {
        class
    } else {
        "desktop".to_owned()
    }
}
