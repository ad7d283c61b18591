//! security-headers: the usual security response headers on everything that goes to the
//! viewer (`on_viewer_response`), replacing the origin's values, and removes headers that
//! advertise the origin's software.
//!
//! | setting | header | default |
//! |---|---|---|
//! | `hsts`, `hsts_max_age`, `hsts_include_subdomains`, `hsts_preload` | `Strict-Transport-Security` (HTTPS responses only, as RFC 6797 asks) | `max-age=31536000; includeSubDomains` |
//! | `nosniff` | `X-Content-Type-Options: nosniff` | on |
//! | `frame_options` | `X-Frame-Options` (`DENY`, `SAMEORIGIN`, or `""` for none) | `SAMEORIGIN` |
//! | `referrer_policy` | `Referrer-Policy` (`""` for none) | `strict-origin-when-cross-origin` |
//! | `content_security_policy` | `Content-Security-Policy` (`""` for none) | `default-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'` |
//! | `remove` | removed from the response | `["server", "x-powered-by"]` |
//!
//! ```toml
//! [functions.security-headers]
//! module = "security_headers.wasm"
//! config = { hsts_max_age = 63072000, hsts_preload = true, frame_options = "DENY" }
//! ```

use serde::Deserialize;
use wedge_sdk::{Config, ConfigError, Function, Request, ResponseHead};

/// One year: what HSTS preload lists require at least.
const YEAR: u64 = 31_536_000;
/// Two years: the longest `hsts_max_age` accepted.
const MAX_AGE_LIMIT: u64 = 2 * YEAR;

/// The values `Referrer-Policy` may list.
const REFERRER_POLICIES: &[&str] = &[
    "no-referrer",
    "no-referrer-when-downgrade",
    "origin",
    "origin-when-cross-origin",
    "same-origin",
    "strict-origin",
    "strict-origin-when-cross-origin",
    "unsafe-url",
];

/// `[functions.<id>.config]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Settings {
    hsts: bool,
    hsts_max_age: u64,
    hsts_include_subdomains: bool,
    hsts_preload: bool,
    nosniff: bool,
    frame_options: String,
    referrer_policy: String,
    content_security_policy: String,
    remove: Vec<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            hsts: true,
            hsts_max_age: YEAR,
            hsts_include_subdomains: true,
            hsts_preload: false,
            nosniff: true,
            frame_options: "SAMEORIGIN".into(),
            referrer_policy: "strict-origin-when-cross-origin".into(),
            content_security_policy:
                "default-src 'self'; object-src 'none'; base-uri 'self'; frame-ancestors 'self'"
                    .into(),
            remove: vec!["server".into(), "x-powered-by".into()],
        }
    }
}

/// The function: the headers to set and to remove, built once from config.
pub struct SecurityHeaders {
    /// The headers to set on HTTPS responses (HSTS included) and on plain-HTTP ones, as
    /// the `name:value` lines of a header block (every value is checked to be one line).
    https: String,
    http: String,
    remove: Vec<String>,
}

#[wedge_sdk::function]
impl Function for SecurityHeaders {
    // Hooks keep nothing on `self` between requests, so the host may reuse instances.
    const REUSE_INSTANCE: bool = true;

    fn new(config: &Config) -> Result<Self, ConfigError> {
        let s: Settings = config.parse()?;
        if s.hsts_max_age > MAX_AGE_LIMIT {
            return Err(ConfigError::new(
                "hsts_max_age",
                format!(
                    "{} is more than two years ({MAX_AGE_LIMIT})",
                    s.hsts_max_age
                ),
            ));
        }
        let hsts = if s.hsts {
            if s.hsts_preload && (s.hsts_max_age < YEAR || !s.hsts_include_subdomains) {
                return Err(ConfigError::new(
                    "hsts_preload",
                    format!(
                        "preload needs hsts_max_age of at least {YEAR} (one year) and hsts_include_subdomains = true"
                    ),
                ));
            }
            let mut value = format!("max-age={}", s.hsts_max_age);
            if s.hsts_include_subdomains {
                value.push_str("; includeSubDomains");
            }
            if s.hsts_preload {
                value.push_str("; preload");
            }
            Some(value)
        } else {
            None
        };

        let mut set = Vec::new();
        if s.nosniff {
            set.push(("x-content-type-options", "nosniff".to_owned()));
        }
        let frame = s.frame_options.to_ascii_uppercase();
        match frame.as_str() {
            "" => {}
            "DENY" | "SAMEORIGIN" => set.push(("x-frame-options", frame)),
            _ => {
                return Err(ConfigError::new(
                    "frame_options",
                    format!(
                        "`{}` is not `DENY`, `SAMEORIGIN` or `\"\"` (none)",
                        s.frame_options
                    ),
                ));
            }
        }
        if !s.referrer_policy.is_empty() {
            let policy = s.referrer_policy.to_ascii_lowercase();
            if let Some(bad) = policy
                .split(',')
                .map(str::trim)
                .find(|p| !REFERRER_POLICIES.contains(p))
            {
                return Err(ConfigError::new(
                    "referrer_policy",
                    format!("`{bad}` is not a referrer policy"),
                ));
            }
            set.push(("referrer-policy", policy));
        }
        if !s.content_security_policy.is_empty() {
            if !s
                .content_security_policy
                .bytes()
                .all(|b| (b' '..=b'~').contains(&b))
            {
                return Err(ConfigError::new(
                    "content_security_policy",
                    "must be printable ASCII on one line",
                ));
            }
            set.push(("content-security-policy", s.content_security_policy));
        }

        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        let mut remove = Vec::with_capacity(s.remove.len());
        for (i, name) in s.remove.iter().enumerate() {
            if name.is_empty() || !name.bytes().all(token) {
                return Err(ConfigError::new(
                    format!("remove.{i}"),
                    format!("`{name}` is not a valid header name"),
                ));
            }
            remove.push(name.to_ascii_lowercase());
        }
        let lines = |set: &[(&str, String)]| {
            set.iter()
                .map(|(name, value)| format!("{name}:{value}\n"))
                .collect::<String>()
        };
        let http = lines(&set);
        let https = match hsts {
            Some(hsts) => lines(&[("strict-transport-security", hsts)]) + &http,
            None => http.clone(),
        };
        Ok(SecurityHeaders {
            https,
            http,
            remove,
        })
    }

    // The edits depend on the scheme alone (HSTS only over HTTPS), so the host may
    // replay them instead of running the function for every response.
    const VIEWER_RESPONSE_INPUTS: Option<&'static [&'static str]> = Some(&[":scheme"]);

    fn on_viewer_response(&mut self, req: &Request, resp: &mut ResponseHead) {
        for name in &self.remove {
            resp.remove_header(name);
        }
        let set = if req.scheme() == "https" {
            &self.https
        } else {
            &self.http
        };
        if !set.is_empty() {
            resp.set_header_block(set);
        }
    }
}
