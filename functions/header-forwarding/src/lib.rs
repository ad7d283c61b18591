//! header-forwarding: decides which viewer headers reach the origin (`on_origin_request`).
//!
//! - `allow`: the request headers to forward (case-insensitive); every other header is
//!   removed. Leave it out to forward all headers. Headers the host manages (`host`,
//!   framing and hop-by-hop ones) are never touched, and the host adds
//!   `X-Forwarded-*` and `Via` after this function runs.
//! - `keep_cookies`: `Cookie` is removed unless this is `true` (default `false`), whatever
//!   `allow` says; listing `cookie` in `allow` is refused as ambiguous.
//! - `add`: headers set on every origin request, replacing a viewer's value.
//!
//! ```toml
//! [functions.header-forwarding]
//! module = "header_forwarding.wasm"
//! config = { allow = ["accept", "accept-language", "x-device-class"], add = { x-edge = "wedge" } }
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;
use wedge_sdk::{Config, ConfigError, Decision, Function, Request};

/// Headers the host manages and ignores removals of; never filtered, never added.
const HOST_MANAGED: &[&str] = &[
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// `[functions.<id>.config]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Settings {
    allow: Option<Vec<String>>,
    keep_cookies: bool,
    add: BTreeMap<String, String>,
}

/// The function: the validated, lower-cased settings.
pub struct HeaderForwarding {
    /// `None`: forward every header.
    allow: Option<Vec<String>>,
    keep_cookies: bool,
    /// `add` as the `name:value` lines of a header block, built once (names are tokens
    /// and values printable ASCII, so every line reads back as written).
    add: String,
}

#[wedge_sdk::function]
impl Function for HeaderForwarding {
    // Hooks keep nothing on `self` between requests, so the host may reuse instances.
    const REUSE_INSTANCE: bool = true;

    fn new(config: &Config) -> Result<Self, ConfigError> {
        let settings: Settings = config.parse()?;
        let allow = match settings.allow {
            None => None,
            Some(names) => {
                let mut allow = Vec::with_capacity(names.len());
                for (i, name) in names.iter().enumerate() {
                    let field = format!("allow.{i}");
                    check_name(&field, name)?;
                    let name = name.to_ascii_lowercase();
                    if name == "cookie" {
                        return Err(ConfigError::new(
                            field,
                            "cookies are controlled by `keep_cookies`, not `allow`",
                        ));
                    }
                    allow.push(name);
                }
                Some(allow)
            }
        };
        let mut add = String::new();
        for (name, value) in settings.add {
            let field = format!("add.{name}");
            check_name(&field, &name)?;
            let name = name.to_ascii_lowercase();
            if HOST_MANAGED.contains(&name.as_str()) {
                return Err(ConfigError::new(
                    field,
                    "this header is managed by the host",
                ));
            }
            if !value
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            {
                return Err(ConfigError::new(
                    field,
                    "header values must be printable ASCII (tabs allowed)",
                ));
            }
            add.push_str(&name);
            add.push(':');
            add.push_str(&value);
            add.push('\n');
        }
        Ok(HeaderForwarding {
            allow,
            keep_cookies: settings.keep_cookies,
            add,
        })
    }

    fn on_origin_request(&mut self, req: &mut Request) -> Decision {
        if let Some(allow) = &self.allow {
            for name in req.header_names() {
                let keep = HOST_MANAGED.contains(&name.as_str())
                    || (name == "cookie" && self.keep_cookies)
                    || allow.contains(&name);
                if !keep {
                    req.remove_header(&name);
                }
            }
        }
        if !self.keep_cookies {
            req.remove_header("cookie");
        }
        if !self.add.is_empty() {
            req.set_header_block(&self.add);
        }
        Decision::Continue
    }
}

/// Refuses names that are not HTTP field names (RFC 9110 tokens).
fn check_name(field: &str, name: &str) -> Result<(), ConfigError> {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(token) {
        return Err(ConfigError::new(
            field,
            format!("`{name}` is not a valid header name"),
        ));
    }
    Ok(())
}
