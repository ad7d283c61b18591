//! Conversion of the `[origins]`, `[origin_groups]` and `[origin_request_policies]`
//! tables, each value checked where it is written.

use std::time::Duration;

use http::{HeaderName, HeaderValue};
use toml::Spanned;

use super::super::raw::{RawOrigin, RawOriginGroup, RawOriginRequestPolicy};
use super::super::*;
use super::{Converter, parse_origin_url};

/// Longest timeout or interval any origin setting accepts (one hour).
const MAX_MS: u64 = 3_600_000;

impl Converter<'_> {
    pub(super) fn origin_pool(&mut self, field: &str, origin: &RawOrigin) -> OriginPoolConfig {
        self.note(&format!("{field}.members"), &origin.members);
        let mut pool = OriginPoolConfig::default();
        for (i, m) in origin.members.get_ref().iter().enumerate() {
            let mf = format!("{field}.members[{i}]");
            if m.weight == 0 {
                self.fail(
                    format!("{mf}.weight"),
                    "weight must be at least 1".into(),
                    m.url.span(),
                );
            }
            if let Some(url) = self.parse(&format!("{mf}.url"), &m.url, parse_origin_url) {
                pool.members.push(OriginMember {
                    url,
                    weight: m.weight.max(1),
                });
            }
        }
        let hash_on = match &origin.hash_on {
            None => HashOn::CacheKey,
            Some(v) => self
                .parse(&format!("{field}.hash_on"), v, |s| match s {
                    "cache_key" => Ok(HashOn::CacheKey),
                    _ => s
                        .strip_prefix("header:")
                        .and_then(|h| HeaderName::from_bytes(h.trim().as_bytes()).ok())
                        .map(HashOn::Header)
                        .ok_or_else(|| format!("`{s}` is not \"cache_key\" or \"header:<name>\"")),
                })
                .unwrap_or(HashOn::CacheKey),
        };
        if let Some(v) = &origin.balance {
            pool.balance = self
                .parse(&format!("{field}.balance"), v, |s| match s {
                    "round_robin" => Ok(Balance::RoundRobin),
                    "least_outstanding" => Ok(Balance::LeastOutstanding),
                    "hash" => Ok(Balance::Hash(hash_on.clone())),
                    other => Err(format!(
                        "`{other}` is not one of \"round_robin\", \"least_outstanding\", \"hash\""
                    )),
                })
                .unwrap_or_default();
        }
        if let Some(v) = &origin.hash_on
            && !matches!(pool.balance, Balance::Hash(_))
        {
            self.fail(
                format!("{field}.hash_on"),
                "hash_on needs balance = \"hash\"".into(),
                v.span(),
            );
        }
        pool.http2 = origin.http2.unwrap_or(false);
        if let Some(v) = &origin.max_requests_per_member {
            pool.max_requests_per_member = self
                .bounded(&format!("{field}.max_requests_per_member"), v, 1, 1_000_000)
                .map_or(pool.max_requests_per_member, |n| n as usize);
        }
        if let Some(v) = &origin.max_idle_per_member {
            pool.max_idle_per_member = self
                .bounded(&format!("{field}.max_idle_per_member"), v, 0, 100_000)
                .map_or(pool.max_idle_per_member, |n| n as usize);
        }
        let t = &mut pool.timeouts;
        for (name, slot, v) in [
            (
                "connect_timeout_ms",
                &mut t.connect,
                &origin.connect_timeout_ms,
            ),
            (
                "first_byte_timeout_ms",
                &mut t.first_byte,
                &origin.first_byte_timeout_ms,
            ),
            ("idle_timeout_ms", &mut t.idle, &origin.idle_timeout_ms),
        ] {
            if let Some(v) = v
                && let Some(d) = self.millis(&format!("{field}.{name}"), v)
            {
                *slot = d;
            }
        }
        if let Some(tls) = &origin.tls {
            if let Some(v) = &tls.ca {
                pool.tls.ca = Some(self.path(&format!("{field}.tls.ca"), v));
            }
            if let Some(v) = &tls.server_name {
                pool.tls.server_name = self.parse(&format!("{field}.tls.server_name"), v, |s| {
                    rustls::pki_types::ServerName::try_from(s)
                        .map(|_| s.to_owned())
                        .map_err(|_| format!("`{s}` is not a DNS name or IP address"))
                });
            }
            if !pool
                .members
                .iter()
                .any(|m| m.url.scheme_str() == Some("https"))
                && let Some(v) = tls.ca.as_ref().or(tls.server_name.as_ref())
            {
                self.fail(
                    format!("{field}.tls"),
                    "tls settings need at least one https:// member".into(),
                    v.span(),
                );
            }
        }
        if let Some(hc) = &origin.health_check {
            pool.health_check = self.health_check(&format!("{field}.health_check"), hc);
        }
        if let Some(od) = &origin.outlier_detection {
            let of = format!("{field}.outlier_detection");
            let raw = od.get_ref();
            let mut o = OutlierDetection::default();
            o.consecutive_5xx = raw.consecutive_5xx.unwrap_or(o.consecutive_5xx);
            o.consecutive_connect_errors = raw
                .consecutive_connect_errors
                .unwrap_or(o.consecutive_connect_errors);
            if let Some(v) = &raw.base_ejection_ms {
                o.base_ejection = self
                    .millis(&format!("{of}.base_ejection_ms"), v)
                    .unwrap_or(o.base_ejection);
            }
            match &raw.max_ejection_ms {
                Some(v) => {
                    o.max_ejection = self
                        .millis(&format!("{of}.max_ejection_ms"), v)
                        .unwrap_or(o.max_ejection);
                    if o.max_ejection < o.base_ejection {
                        self.fail(
                            format!("{of}.max_ejection_ms"),
                            "must not be less than base_ejection_ms".into(),
                            v.span(),
                        );
                    }
                }
                // Unset, the cap never undercuts the base.
                None => o.max_ejection = o.max_ejection.max(o.base_ejection),
            }
            pool.outlier_detection = (raw.enabled != Some(false)).then_some(o);
        }
        if let Some(r) = &origin.retries {
            let rf = format!("{field}.retries");
            let raw = r.get_ref();
            let p = &mut pool.retries;
            if let Some(v) = &raw.max_retries {
                p.max_retries = self
                    .bounded(&format!("{rf}.max_retries"), v, 0, 5)
                    .map_or(p.max_retries, |n| n as u32);
            }
            if let Some(v) = &raw.budget_percent {
                p.budget_percent = self
                    .bounded(&format!("{rf}.budget_percent"), v, 0, 100)
                    .map_or(p.budget_percent, |n| n as u32);
            }
            p.min_retries = raw.min_retries.unwrap_or(p.min_retries);
            if let Some(v) = &raw.retry_on_status {
                p.retry_on_status = self.statuses(&format!("{rf}.retry_on_status"), v, 500);
            }
        }
        pool
    }

    fn health_check(
        &mut self,
        field: &str,
        hc: &Spanned<super::super::raw::RawHealthCheck>,
    ) -> Option<HealthCheck> {
        let raw = hc.get_ref();
        let mut check = HealthCheck {
            path: http::uri::PathAndQuery::from_static("/"),
            host: None,
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(2),
            healthy_threshold: 2,
            unhealthy_threshold: 3,
            expected_status: vec![200],
        };
        // Bad values are reported and replaced by defaults, so that every problem in the
        // table is reported at once.
        if let Some(v) = &raw.path
            && let Some(path) = self.parse(&format!("{field}.path"), v, |s| {
                if !s.starts_with('/') {
                    return Err(format!("`{s}` must start with /"));
                }
                s.parse::<http::uri::PathAndQuery>()
                    .map_err(|e| format!("`{s}`: {e}"))
            })
        {
            check.path = path;
        }
        if let Some(v) = &raw.host {
            check.host = self.parse(&format!("{field}.host"), v, |s| {
                s.parse::<http::uri::Authority>()
                    .ok()
                    .filter(|a| a.as_str() == s)
                    .ok_or_else(|| format!("`{s}` is not a host name"))
            });
        }
        if let Some(v) = &raw.interval_ms
            && let Some(d) = self.millis(&format!("{field}.interval_ms"), v)
        {
            check.interval = d;
        }
        if let Some(v) = &raw.timeout_ms
            && let Some(d) = self.millis(&format!("{field}.timeout_ms"), v)
        {
            check.timeout = d;
        }
        if check.timeout > check.interval {
            let span = raw.timeout_ms.as_ref().map_or(hc.span(), |v| v.span());
            self.fail(
                format!("{field}.timeout_ms"),
                format!(
                    "must not exceed interval_ms ({})",
                    check.interval.as_millis()
                ),
                span,
            );
        }
        for (name, slot, v) in [
            (
                "healthy_threshold",
                &mut check.healthy_threshold,
                &raw.healthy_threshold,
            ),
            (
                "unhealthy_threshold",
                &mut check.unhealthy_threshold,
                &raw.unhealthy_threshold,
            ),
        ] {
            if let Some(v) = v
                && let Some(n) = self.bounded(&format!("{field}.{name}"), v, 1, 100)
            {
                *slot = n as u32;
            }
        }
        if let Some(v) = &raw.expected_status {
            check.expected_status = self.statuses(&format!("{field}.expected_status"), v, 100);
        }
        Some(check)
    }

    pub(super) fn origin_group(
        &mut self,
        field: &str,
        g: &RawOriginGroup,
    ) -> Option<OriginGroupConfig> {
        let primary = self.parse(&format!("{field}.primary"), &g.primary, OriginId::new);
        let secondary = self.parse(&format!("{field}.secondary"), &g.secondary, OriginId::new);
        let failover_status = match &g.failover_status {
            Some(v) => self.statuses(&format!("{field}.failover_status"), v, 400),
            None => vec![500, 502, 503, 504],
        };
        Some(OriginGroupConfig {
            primary: primary?,
            secondary: secondary?,
            failover_status,
        })
    }

    pub(super) fn origin_request_policy(
        &mut self,
        field: &str,
        p: &RawOriginRequestPolicy,
    ) -> OriginRequestPolicy {
        let mut policy = OriginRequestPolicy::default();
        for (name, slot, v, lower) in [
            ("headers", &mut policy.headers, &p.headers, true),
            ("cookies", &mut policy.cookies, &p.cookies, false),
            (
                "query_strings",
                &mut policy.query_strings,
                &p.query_strings,
                false,
            ),
        ] {
            if let Some(v) = v {
                let f = format!("{field}.{name}");
                self.note(&f, v);
                match forward_list(v.get_ref(), lower, name == "headers") {
                    Ok(fw) => *slot = fw,
                    Err(m) => self.fail(f, m, v.span()),
                }
            }
        }
        if let Some(v) = &p.host {
            policy.host = self
                .parse(&format!("{field}.host"), v, |s| match s {
                    "viewer" => Ok(HostRule::Viewer),
                    "origin" => Ok(HostRule::Origin),
                    _ => s
                        .parse::<http::uri::Authority>()
                        .ok()
                        .filter(|a| a.as_str() == s)
                        .and_then(|_| HeaderValue::from_str(s).ok())
                        .map(HostRule::Fixed)
                        .ok_or_else(|| {
                            format!("`{s}` is not \"viewer\", \"origin\" or a host name")
                        }),
                })
                .unwrap_or_default();
        }
        for (name, value) in &p.add_headers {
            let f = format!("{field}.add_headers.{}", name.get_ref());
            let n = self.parse(&f, name, |s| {
                HeaderName::from_bytes(s.as_bytes())
                    .map_err(|_| format!("`{s}` is not a header name"))
            });
            let v = self.parse(&f, value, |s| {
                HeaderValue::from_str(s).map_err(|_| format!("`{s}` is not a valid header value"))
            });
            if let (Some(n), Some(v)) = (n, v) {
                policy.add_headers.push((n, v));
            }
        }
        policy
    }

    /// A duration in milliseconds between 1 and an hour.
    fn millis(&mut self, field: &str, v: &Spanned<u64>) -> Option<Duration> {
        self.bounded(field, v, 1, MAX_MS).map(Duration::from_millis)
    }

    fn bounded(
        &mut self,
        field: &str,
        v: &Spanned<impl Into<u64> + Copy>,
        min: u64,
        max: u64,
    ) -> Option<u64> {
        self.note(field, v);
        let n: u64 = (*v.get_ref()).into();
        if n < min || n > max {
            self.fail(
                field.into(),
                format!("must be between {min} and {max}"),
                v.span(),
            );
            return None;
        }
        Some(n)
    }

    /// A list of HTTP statuses, each at least `min`.
    fn statuses(&mut self, field: &str, v: &Spanned<Vec<u16>>, min: u16) -> Vec<u16> {
        self.note(field, v);
        let (ok, bad): (Vec<u16>, Vec<u16>) =
            v.get_ref().iter().partition(|&&s| (min..=599).contains(&s));
        if let Some(s) = bad.first() {
            self.fail(
                field.into(),
                format!("{s} is not a status between {min} and 599"),
                v.span(),
            );
        }
        ok
    }
}

/// `"none"`, `"all"` or a list of names.
fn forward_list(v: &toml::Value, lower: bool, headers: bool) -> Result<Forward, String> {
    match v {
        toml::Value::String(s) if s == "none" => Ok(Forward::None),
        toml::Value::String(s) if s == "all" => Ok(Forward::All),
        toml::Value::Array(items) => {
            let mut names = Vec::new();
            for item in items {
                let Some(s) = item.as_str() else {
                    return Err(format!("{item} is not a name"));
                };
                if headers && HeaderName::from_bytes(s.as_bytes()).is_err() {
                    return Err(format!("`{s}` is not a header name"));
                }
                names.push(if lower {
                    s.to_ascii_lowercase()
                } else {
                    s.to_owned()
                });
            }
            Ok(Forward::Allow(names))
        }
        other => Err(format!(
            "{other} is not \"none\", \"all\" or a list of names"
        )),
    }
}
