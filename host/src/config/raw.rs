//! The config file as written: serde structs that mirror the TOML, before validation.
//!
//! Every table rejects unknown fields so a typo is an error, not a silently ignored key.
//! Fields that other parts of the file refer to, or that name files, keep their source
//! span so validation errors can point at the line.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default)]
    pub listeners: RawListeners,
    #[serde(default)]
    pub tls: RawTls,
    #[serde(default)]
    pub certificates: BTreeMap<Spanned<String>, RawCertificate>,
    #[serde(default)]
    pub origins: BTreeMap<Spanned<String>, RawOrigin>,
    #[serde(default)]
    pub origin_groups: BTreeMap<Spanned<String>, RawOriginGroup>,
    #[serde(default)]
    pub origin_request_policies: BTreeMap<Spanned<String>, RawOriginRequestPolicy>,
    #[serde(default)]
    pub functions: BTreeMap<Spanned<String>, RawFunction>,
    #[serde(default)]
    pub distributions: Vec<RawDistribution>,
    #[serde(default)]
    pub debug: RawDebug,
    #[serde(default)]
    pub admin: RawAdmin,
    #[serde(default)]
    pub access_log: RawAccessLog,
    #[serde(default)]
    pub server: RawServer,
    #[serde(default)]
    pub cache: RawCache,
    #[serde(default)]
    pub cache_policies: BTreeMap<Spanned<String>, RawCachePolicy>,
    #[serde(default)]
    pub network_acls: RawNetworkAcls,
}

/// `[network_acls]`: ordered allow/deny rules per listener.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNetworkAcls {
    #[serde(default)]
    pub http: Vec<RawNaclRule>,
    #[serde(default)]
    pub https: Vec<RawNaclRule>,
    #[serde(default)]
    pub admin: Vec<RawNaclRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNaclRule {
    pub action: Spanned<String>,
    pub cidr: Spanned<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    /// Bytes the cache may hold in memory, in MiB.
    pub max_size_mb: Option<Spanned<u64>>,
    /// Largest response body that is stored, in MiB; larger ones are streamed uncached.
    pub max_object_mb: Option<Spanned<u64>>,
}

/// A CloudFront-style cache policy: TTL bounds and what goes into the cache key.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCachePolicy {
    pub min_ttl: Option<Spanned<u64>>,
    pub default_ttl: Option<Spanned<u64>>,
    pub max_ttl: Option<Spanned<u64>>,
    pub headers: Option<RawKeySelection>,
    pub cookies: Option<RawKeySelection>,
    pub query_strings: Option<RawKeySelection>,
    pub normalize_accept_encoding: Option<bool>,
    pub stale_while_revalidate: Option<u64>,
    pub stale_if_error: Option<u64>,
}

/// Which headers, cookies or query parameters enter the key.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeySelection {
    /// `none`, `allowlist`, `all` or `all_except`.
    pub behavior: Spanned<String>,
    #[serde(default)]
    pub names: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub header_read_timeout_ms: Option<u64>,
    pub body_read_timeout_ms: Option<u64>,
    pub send_timeout_ms: Option<u64>,
    pub park_idle_after_ms: Option<u64>,
    pub max_header_bytes: Option<usize>,
    pub max_headers: Option<usize>,
    pub max_connections: Option<usize>,
    pub h2_max_concurrent_streams: Option<u32>,
    pub h2_max_pending_reset_streams: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccessLog {
    /// `"stdout"` or a file path (appended to). Absent: no access log.
    pub path: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAdmin {
    /// Bearer token for the admin API; required to bind it to a non-loopback address.
    pub token: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListeners {
    pub http: Option<Spanned<String>>,
    pub https: Option<Spanned<String>>,
    pub admin: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// Certificate id served when the viewer sends no SNI or an unknown name.
    pub default_certificate: Option<Spanned<String>>,
    /// `"default"` (serve the default certificate) or `"refuse"` (fail the handshake).
    pub unknown_sni: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCertificate {
    /// PEM file with the certificate chain, leaf first.
    pub cert: Spanned<String>,
    /// PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Spanned<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOrigin {
    pub members: Spanned<Vec<RawMember>>,
    /// `"round_robin"` (default), `"least_outstanding"` or `"hash"`.
    pub balance: Option<Spanned<String>>,
    /// For `balance = "hash"`: `"cache_key"` (default) or `"header:<name>"`.
    pub hash_on: Option<Spanned<String>>,
    pub http2: Option<bool>,
    pub max_requests_per_member: Option<Spanned<u64>>,
    pub max_idle_per_member: Option<Spanned<u64>>,
    pub connect_timeout_ms: Option<Spanned<u64>>,
    pub first_byte_timeout_ms: Option<Spanned<u64>>,
    pub idle_timeout_ms: Option<Spanned<u64>>,
    pub tls: Option<RawOriginTls>,
    pub health_check: Option<Spanned<RawHealthCheck>>,
    /// Absent: the defaults; `enabled = false` turns passive ejection off.
    pub outlier_detection: Option<Spanned<RawOutlier>>,
    pub retries: Option<Spanned<RawRetries>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOriginTls {
    pub ca: Option<Spanned<String>>,
    pub server_name: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHealthCheck {
    pub path: Option<Spanned<String>>,
    pub host: Option<Spanned<String>>,
    pub interval_ms: Option<Spanned<u64>>,
    pub timeout_ms: Option<Spanned<u64>>,
    pub healthy_threshold: Option<Spanned<u32>>,
    pub unhealthy_threshold: Option<Spanned<u32>>,
    pub expected_status: Option<Spanned<Vec<u16>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOutlier {
    pub enabled: Option<bool>,
    pub consecutive_5xx: Option<u32>,
    pub consecutive_connect_errors: Option<u32>,
    pub base_ejection_ms: Option<Spanned<u64>>,
    pub max_ejection_ms: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetries {
    pub max_retries: Option<Spanned<u32>>,
    pub retry_on_status: Option<Spanned<Vec<u16>>>,
    pub budget_percent: Option<Spanned<u32>>,
    pub min_retries: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOriginGroup {
    pub primary: Spanned<String>,
    pub secondary: Spanned<String>,
    /// Default: 500, 502, 503, 504.
    pub failover_status: Option<Spanned<Vec<u16>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOriginRequestPolicy {
    /// `"none"`, `"all"` or a list of names; absent means `"all"`.
    pub headers: Option<Spanned<toml::Value>>,
    pub cookies: Option<Spanned<toml::Value>>,
    pub query_strings: Option<Spanned<toml::Value>>,
    /// `"viewer"` (default), `"origin"`, or a host name to send.
    pub host: Option<Spanned<String>>,
    #[serde(default)]
    pub add_headers: BTreeMap<Spanned<String>, Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMember {
    pub url: Spanned<String>,
    #[serde(default = "default_weight")]
    pub weight: u32,
}

fn default_weight() -> u32 {
    1
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFunction {
    /// Path of the compiled component (`.wasm`).
    pub module: Spanned<String>,
    /// `"error"` (500, the default), `"block"` (503) or `"continue"` (fail open).
    pub on_error: Option<Spanned<String>>,
    #[serde(default)]
    pub limits: RawLimits,
    /// Entries of reusable outcomes (for functions that declare their inputs); 0 = off.
    pub decision_cache: Option<u64>,
    /// Requests one instance may serve when the function declares it keeps no state
    /// across requests; 0 = a fresh instance for every request.
    pub max_instance_reuse: Option<u32>,
    /// KiB of the request body buffered for the function to inspect (0 = none, the default).
    pub inspect_body_kb: Option<Spanned<u64>>,
    /// The function's own settings, passed to it as JSON and validated by it at load.
    pub config: Option<toml::Table>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDebug {
    #[serde(default)]
    pub explain_header: bool,
    #[serde(default)]
    pub server_timing: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub timeout_ms: Option<Spanned<u64>>,
    pub memory_mb: Option<Spanned<u64>>,
    pub write_kb: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDistribution {
    pub id: Spanned<String>,
    /// Host names this distribution answers for (`www.example.com`, `*.example.com`).
    pub aliases: Spanned<Vec<Spanned<String>>>,
    pub default_behavior: RawBehavior,
    /// Ordered behaviors; the first whose `path_pattern` matches wins.
    #[serde(default)]
    pub behaviors: Vec<RawBehavior>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBehavior {
    /// CloudFront path pattern (`*` any run of characters, `?` one character).
    /// Required on ordered behaviors, forbidden on the default one.
    pub path_pattern: Option<Spanned<String>>,
    pub origin: Spanned<String>,
    pub origin_request_policy: Option<Spanned<String>>,
    #[serde(default)]
    pub functions: Vec<Spanned<String>>,
    /// Names a `[cache_policies.<id>]`; absent: responses are not cached.
    pub cache_policy: Option<Spanned<String>>,
}
