//! redirects: canonical URLs at the edge (`on_viewer_request`), in one hop.
//!
//! - `https` (default `true`): requests that arrived over plain HTTP go to
//!   `https://host/path?query` (the default port; the viewer's HTTP port is dropped).
//! - `canonical_host` (default none): requests for any other host go to this one
//!   (`www.example.com`, or `www.example.com:8443` to name a port).
//! - `trailing_slash` (default `"off"`): `"add"` redirects `/docs` to `/docs/`, `"remove"`
//!   redirects `/docs/` to `/docs`. Only directory-like paths are touched: those whose
//!   last segment has no dot (`/style.css` and `/v1.2/` are left alone), and never `/`.
//! - `status` (default `301`): `301`, `302`, `307` or `308` (307 and 308 keep the method
//!   and body of a `POST`).
//!
//! The query string is kept. When only the path changes the `Location` is relative
//! (`/docs/?q=1`), which keeps the viewer's port.
//!
//! ```toml
//! [functions.redirects]
//! module = "redirects.wasm"
//! config = { canonical_host = "www.example.com", trailing_slash = "add", status = 308 }
//! ```

use serde::Deserialize;
use wedge_sdk::{Config, ConfigError, Decision, Function, Request, Response};

/// What to do with a trailing slash on directory-like paths.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum TrailingSlash {
    Add,
    Remove,
    #[default]
    Off,
}

/// `[functions.<id>.config]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Settings {
    https: bool,
    canonical_host: Option<String>,
    trailing_slash: TrailingSlash,
    status: u16,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            https: true,
            canonical_host: None,
            trailing_slash: TrailingSlash::Off,
            status: 301,
        }
    }
}

/// The function: the validated settings.
pub struct Redirects {
    https: bool,
    /// Lower-case host name, and the `host[:port]` to put in `Location`.
    canonical: Option<(String, String)>,
    trailing_slash: TrailingSlash,
    status: u16,
}

#[wedge_sdk::function]
impl Function for Redirects {
    // Hooks keep nothing on `self` between requests, so the host may reuse instances.
    const REUSE_INSTANCE: bool = true;

    fn new(config: &Config) -> Result<Self, ConfigError> {
        let s: Settings = config.parse()?;
        if ![301, 302, 307, 308].contains(&s.status) {
            return Err(ConfigError::new(
                "status",
                format!(
                    "{} is not a redirect status (301, 302, 307 or 308)",
                    s.status
                ),
            ));
        }
        let canonical = match s.canonical_host {
            None => None,
            Some(host) => Some(parse_host(&host).ok_or_else(|| {
                ConfigError::new(
                    "canonical_host",
                    format!("`{host}` is not a host name (like `www.example.com`, optionally with `:port`)"),
                )
            })?),
        };
        Ok(Redirects {
            https: s.https,
            canonical,
            trailing_slash: s.trailing_slash,
            status: s.status,
        })
    }

    fn on_viewer_request(&mut self, req: &mut Request) -> Decision {
        let scheme = req.scheme();
        let host = req.host();
        let path = req.path();

        let to_https = self.https && scheme == "http";
        let to_host = match &self.canonical {
            Some((name, authority)) if *name != host => Some(authority.clone()),
            _ => None,
        };
        let new_path = normalise_slash(&path, self.trailing_slash);
        if !to_https && to_host.is_none() && new_path.is_none() {
            return Decision::Continue;
        }

        let path = new_path.unwrap_or(path);
        let mut location = if to_https || to_host.is_some() || !is_safe_relative(&path) {
            let scheme = if to_https { "https" } else { scheme.as_str() };
            format!("{scheme}://{}{path}", to_host.unwrap_or(host))
        } else {
            path
        };
        if let Some(query) = req.query().filter(|q| !q.is_empty()) {
            location.push('?');
            location.push_str(&query);
        }
        Decision::Respond(Response::redirect(self.status, &location))
    }
}

/// The path with the trailing slash added or removed, if that changes it.
fn normalise_slash(path: &str, mode: TrailingSlash) -> Option<String> {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return None; // `/` (or `//`): the root stays as it is
    }
    let last = trimmed.rsplit('/').next().unwrap_or(trimmed);
    if last.contains('.') {
        return None; // a file, not a directory
    }
    match mode {
        TrailingSlash::Add if !path.ends_with('/') => Some(format!("{path}/")),
        TrailingSlash::Remove if path.ends_with('/') => Some(trimmed.to_owned()),
        _ => None,
    }
}

/// Whether `path` can be sent as a relative `Location`: `//evil.example/` (or
/// `/\evil.example/`, which browsers read the same way) would send the viewer to
/// another site.
fn is_safe_relative(path: &str) -> bool {
    !(path.starts_with("//") || path.starts_with("/\\"))
}

/// `host` or `host:port` → (lower-case host name, the authority for `Location`).
fn parse_host(value: &str) -> Option<(String, String)> {
    let value = value.to_ascii_lowercase();
    let (name, port) = match value.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (value.as_str(), None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if name.len() > 253 || !name.split('.').all(label_ok) {
        return None;
    }
    if let Some(port) = port {
        match port.parse::<u16>() {
            Ok(p) if p != 0 && !port.starts_with('0') => {}
            _ => return None,
        }
    }
    Some((name.to_owned(), value.clone()))
}
