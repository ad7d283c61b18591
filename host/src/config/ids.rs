//! Validated names: ids for config entries, host patterns and path patterns.

use std::fmt;

use serde::Serialize;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NameError(pub String);

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        // Shared text: ids are cloned per request (traces, metrics labels), so a clone
        // must not allocate.
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// Validates `s`: 1–64 characters of `a-z`, `0-9`, `-` and `_`, starting with a letter or digit.
            pub fn new(s: &str) -> Result<Self, NameError> {
                validate_id(s)?;
                Ok(Self(std::sync::Arc::from(s)))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = NameError;
            fn from_str(s: &str) -> Result<Self, NameError> {
                Self::new(s)
            }
        }
    };
}

id_type!(
    /// Names an origin pool.
    OriginId
);
id_type!(
    /// Names an origin request policy.
    PolicyId
);
id_type!(
    /// Names a function.
    FunctionId
);
id_type!(
    /// Names a certificate.
    CertificateId
);
id_type!(
    /// Names a cache policy.
    CachePolicyId
);
id_type!(
    /// Names a distribution (a site: its host names and behaviors).
    DistributionId
);

fn validate_id(s: &str) -> Result<(), NameError> {
    let ok_first = s
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    let ok_rest = s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if s.is_empty() || s.len() > 64 || !ok_first || !ok_rest {
        return Err(NameError(format!(
            "invalid id `{s}`: use 1-64 characters of a-z, 0-9, '-' and '_', starting with a letter or digit"
        )));
    }
    Ok(())
}

/// A host name a distribution answers for: exact (`www.example.com`), a one-label
/// wildcard (`*.example.com`), or `*` for any host.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct HostPattern(String);

impl HostPattern {
    pub fn new(s: &str) -> Result<Self, NameError> {
        let lower = s.to_ascii_lowercase();
        if lower == "*" {
            return Ok(Self(lower));
        }
        let name = lower.strip_prefix("*.").unwrap_or(&lower);
        let valid_label = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        if name.is_empty() || name.len() > 253 || !name.split('.').all(valid_label) {
            return Err(NameError(format!(
                "invalid host name `{s}`: expected a DNS name such as `www.example.com`, a wildcard such as `*.example.com`, or `*`"
            )));
        }
        Ok(Self(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The suffix after `*.` for a one-label wildcard.
    pub fn wildcard_suffix(&self) -> Option<&str> {
        self.0.strip_prefix("*.")
    }

    pub fn is_catch_all(&self) -> bool {
        self.0 == "*"
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A CloudFront path pattern: `*` matches any run of characters (including `/`),
/// `?` exactly one; everything else matches itself, case-sensitively.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PathPattern(String);

impl PathPattern {
    pub fn new(s: &str) -> Result<Self, NameError> {
        if s.is_empty() || s.len() > 255 {
            return Err(NameError(format!(
                "invalid path pattern `{s}`: must be 1-255 characters"
            )));
        }
        if !(s.starts_with('/') || s.starts_with('*')) {
            return Err(NameError(format!(
                "invalid path pattern `{s}`: must start with `/` or `*`"
            )));
        }
        if let Some(c) = s.chars().find(|c| c.is_control() || c.is_whitespace()) {
            return Err(NameError(format!(
                "invalid path pattern `{s}`: contains the character {c:?}"
            )));
        }
        Ok(Self(s.to_owned()))
    }

    /// The pattern that matches every path (a distribution's default behavior).
    pub fn any() -> Self {
        Self("*".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `path` (without query) matches this pattern.
    pub fn matches(&self, path: &str) -> bool {
        glob_match(self.0.as_bytes(), path.as_bytes())
    }
}

impl fmt::Display for PathPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Iterative wildcard matcher with single backtrack point: linear in practice and never
/// exponential, whatever the pattern.
fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_patterns_follow_cloudfront_rules() {
        let p = |s: &str| PathPattern::new(s).unwrap();
        assert!(p("/images/*.jpg").matches("/images/a/b.jpg"));
        assert!(!p("/images/*.jpg").matches("/images/a.png"));
        assert!(p("/echo").matches("/echo"));
        assert!(!p("/echo").matches("/echo/x"));
        assert!(p("/echo*").matches("/echo/x"));
        assert!(p("/a?c").matches("/abc"));
        assert!(!p("/a?c").matches("/ac"));
        assert!(p("*").matches("/anything"));
        assert!(!p("/Images/*").matches("/images/x"));
        assert!(PathPattern::new("images/*").is_err());
        assert!(PathPattern::new("/a b").is_err());
    }

    #[test]
    fn ids_and_hosts_are_validated() {
        assert!(OriginId::new("stub-1").is_ok());
        assert!(OriginId::new("Stub").is_err());
        assert!(OriginId::new("").is_err());
        assert_eq!(
            HostPattern::new("WWW.Example.com").unwrap().as_str(),
            "www.example.com"
        );
        assert_eq!(
            HostPattern::new("*.example.com").unwrap().wildcard_suffix(),
            Some("example.com")
        );
        assert!(HostPattern::new("exa mple.com").is_err());
        assert!(HostPattern::new("a.*.com").is_err());
    }
}
