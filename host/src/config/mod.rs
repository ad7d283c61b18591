//! Typed, validated configuration: what the rest of the host runs on.
//!
//! A [`Config`] comes from a TOML file ([`Config::from_file`], errors name file, line and
//! field) or is built in code by an embedding program ([`Config::validate`] checks the
//! cross-references either way).

mod cache;
mod ids;
mod load;
mod origins;
mod raw;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use cache::{CachePolicy, CacheSettings, KeySelection};
pub use ids::{
    CachePolicyId, CertificateId, DistributionId, FunctionId, HostPattern, NameError, OriginId,
    PathPattern, PolicyId,
};
pub use load::{ConfigError, Located};
pub use origins::{
    Balance, Forward, HashOn, HealthCheck, HostRule, OriginGroupConfig, OriginMember,
    OriginPoolConfig, OriginRequestPolicy, OriginTimeouts, OriginTls, OutlierDetection,
    RetryPolicy,
};

/// The whole configuration of one edge.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The file this came from, if any (used in error messages and for reloads).
    pub source: Option<PathBuf>,
    pub listeners: Listeners,
    pub tls: TlsConfig,
    pub certificates: BTreeMap<CertificateId, CertificateFiles>,
    pub origins: BTreeMap<OriginId, OriginPoolConfig>,
    /// Failover pairs of pools; a behavior may name a group wherever it names a pool.
    pub origin_groups: BTreeMap<OriginId, OriginGroupConfig>,
    pub origin_request_policies: BTreeMap<PolicyId, OriginRequestPolicy>,
    pub functions: BTreeMap<FunctionId, FunctionConfig>,
    pub debug: DebugConfig,
    /// Bearer token the admin API requires (all endpoints but `/healthz`), if set.
    pub admin_token: Option<String>,
    /// Connection hardening for the viewer listeners (read at start).
    pub server: ServerLimits,
    /// Network ACLs per listener, applied at accept (read at start).
    pub network_acls: crate::nacl::NetworkAcls,
    /// Where the access log goes, if anywhere.
    pub access_log: Option<crate::access_log::AccessLogTarget>,
    /// Size limits of the edge cache.
    pub cache: CacheSettings,
    /// Cache policies behaviors may name.
    pub cache_policies: BTreeMap<CachePolicyId, CachePolicy>,
    /// Sites in order; the first whose aliases match the request host wins.
    pub distributions: Vec<Distribution>,
}

/// Limits on viewer connections. Each has a knob under `[server]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// Time a viewer has to send a request head; for HTTP/1.1 it also bounds how long an
    /// idle keep-alive connection waits for its next request (slowloris guard).
    pub header_read_timeout: Duration,
    /// Longest pause inside a request body; then the request fails with 408 (a slow-body
    /// client would otherwise hold its connection and an origin connection at will).
    pub body_read_timeout: Duration,
    /// Longest wait for a viewer to take response data; then the connection is closed
    /// (a viewer that stops reading would otherwise hold it and an origin connection).
    pub send_timeout: Duration,
    /// Idle time after which an HTTP/1.1 connection (TLS or plain) is parked (its HTTP buffers
    /// freed until the viewer sends again); `None`: never.
    pub park_idle_after: Option<Duration>,
    /// Largest request head (HTTP/1.1 buffer, HTTP/2 header list); larger gets 431.
    pub max_header_bytes: usize,
    /// Most header fields in an HTTP/1.1 request; more gets 431.
    pub max_headers: usize,
    /// Most concurrent viewer connections across the HTTP and HTTPS listeners; excess
    /// connections are closed at once and counted.
    pub max_connections: usize,
    /// Concurrent streams per HTTP/2 connection.
    pub h2_max_concurrent_streams: u32,
    /// Streams a client may reset before they are accepted, per connection: the guard
    /// against rapid-reset floods (CVE-2023-44487); beyond it the connection is closed.
    pub h2_max_pending_reset_streams: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(15),
            body_read_timeout: Duration::from_secs(60),
            send_timeout: Duration::from_secs(60),
            park_idle_after: Some(Duration::from_secs(2)),
            max_header_bytes: 64 << 10,
            max_headers: 100,
            max_connections: 10_000,
            h2_max_concurrent_streams: 256,
            h2_max_pending_reset_streams: 20,
        }
    }
}

/// Diagnostics added to responses. Both off by default: they reveal internals.
#[derive(Debug, Clone, Copy, Default)]
pub struct DebugConfig {
    /// Add `x-wedge-explain`: behavior matched, functions run, each decision and its time.
    pub explain_header: bool,
    /// Add `Server-Timing` entries for each function hook.
    pub server_timing: bool,
}

/// Where the edge listens. Each listener is optional.
#[derive(Debug, Clone, Default)]
pub struct Listeners {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
}

/// What to do when the viewer's SNI matches no certificate (or there is none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnknownSni {
    /// Serve the default certificate.
    #[default]
    DefaultCertificate,
    /// Fail the handshake.
    Refuse,
}

#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    pub default_certificate: Option<CertificateId>,
    pub unknown_sni: UnknownSni,
}

/// A certificate chain and its key, as PEM files. The names it serves come from the
/// certificate's subject alternative names.
#[derive(Debug, Clone)]
pub struct CertificateFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What happens to a request whose function traps or exceeds a limit. Every failure is
/// logged whichever is chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnError {
    /// Answer 500 Internal Server Error, as for any other server-side fault.
    #[default]
    Error,
    /// Fail closed: answer 503 Service Unavailable.
    Block,
    /// Fail open: go on as if the function had said continue.
    Continue,
}

/// Resource limits for one function's instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionLimits {
    /// CPU time a hook may run before it is interrupted.
    pub timeout: Duration,
    /// Largest linear memory the instance may grow to.
    pub memory_bytes: u64,
    /// Bytes of headers and paths one hook may write into the request or response.
    pub write_bytes: usize,
}

impl Default for FunctionLimits {
    fn default() -> Self {
        Self {
            timeout: Duration::from_millis(10),
            memory_bytes: 16 << 20,
            write_bytes: 32 << 10,
        }
    }
}

/// Upper bounds a function's limits may be raised to.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(5);
pub const MAX_MEMORY_BYTES: u64 = 512 << 20;

#[derive(Debug, Clone)]
pub struct FunctionConfig {
    pub module: PathBuf,
    pub on_error: OnError,
    pub limits: FunctionLimits,
    /// Outcomes kept for reuse when the function declares its viewer-request inputs
    /// (0 turns reuse off).
    pub decision_cache: u64,
    /// Requests one instance may serve in turn, when the function declares its hooks
    /// keep no state across requests (0: a fresh instance for every request).
    pub max_instance_reuse: u32,
    /// The function's own config (`[functions.<id>.config]`), handed to it as JSON.
    pub config: serde_json::Value,
    /// Bytes of the request body buffered for the function to read (0: none).
    pub inspect_body: usize,
}

/// Most request body a function may ask to inspect.
pub const MAX_INSPECT_BODY_KB: u64 = 1024;

/// Default size of a function's decision cache, in entries.
pub const DEFAULT_DECISION_CACHE: u64 = 10_000;

/// Default number of requests a reusable instance serves before it is replaced.
pub const DEFAULT_MAX_INSTANCE_REUSE: u32 = 10_000;

impl FunctionConfig {
    /// A function from `module` with default settings.
    pub fn new(module: impl Into<PathBuf>) -> Self {
        Self {
            module: module.into(),
            on_error: OnError::default(),
            limits: FunctionLimits::default(),
            decision_cache: DEFAULT_DECISION_CACHE,
            max_instance_reuse: DEFAULT_MAX_INSTANCE_REUSE,
            config: serde_json::Value::Object(Default::default()),
            inspect_body: 0,
        }
    }
}

/// A site: the host names it answers for and its behaviors.
#[derive(Debug, Clone)]
pub struct Distribution {
    pub id: DistributionId,
    pub aliases: Vec<HostPattern>,
    /// Ordered behaviors tried before the default one.
    pub behaviors: Vec<Behavior>,
    pub default_behavior: Behavior,
}

/// How requests matching a path pattern are handled.
#[derive(Debug, Clone)]
pub struct Behavior {
    pub path_pattern: PathPattern,
    /// An origin pool or origin group.
    pub origin: OriginId,
    /// What of the viewer request is forwarded; everything when `None`.
    pub origin_request_policy: Option<PolicyId>,
    /// Functions run in this order.
    pub functions: Vec<FunctionId>,
    /// How responses are cached; none: every request goes to the origin.
    pub cache_policy: Option<CachePolicyId>,
}

impl Behavior {
    /// A behavior sending every request matching `path_pattern` to `origin`, with no
    /// functions and no caching.
    pub fn new(path_pattern: PathPattern, origin: OriginId) -> Self {
        Self {
            path_pattern,
            origin,
            origin_request_policy: None,
            functions: Vec::new(),
            cache_policy: None,
        }
    }
}

/// A problem found by [`Config::validate`]: the dotted field path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Config {
    /// Reads, parses and validates a TOML config file. Relative paths in it are
    /// resolved against the file's directory.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        load::from_file(path.as_ref())
    }

    /// Parses and validates TOML text; `origin` names it in errors and `base_dir`
    /// resolves relative paths.
    pub fn from_toml(text: &str, origin: &Path, base_dir: &Path) -> Result<Config, ConfigError> {
        load::from_toml(text, origin, base_dir)
    }

    /// Checks cross-references and rules that span several entries. Returns every
    /// problem found, not just the first.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut problem =
            |field: String, message: String| problems.push(Problem { field, message });

        if let Some(id) = &self.tls.default_certificate
            && !self.certificates.contains_key(id)
        {
            problem(
                "tls.default_certificate".into(),
                format!(
                    "no certificate named `{id}` (known: {})",
                    keys(&self.certificates)
                ),
            );
        }
        if let Some(addr) = self.listeners.admin
            && !addr.ip().is_loopback()
            && self.admin_token.is_none()
        {
            problem(
                "listeners.admin".into(),
                format!(
                    "{addr} is not a loopback address: set admin.token to expose the admin API"
                ),
            );
        }
        if self.admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            problem("admin.token".into(), "use at least 16 characters".into());
        }
        if self.listeners.https.is_some() && self.certificates.is_empty() {
            problem(
                "listeners.https".into(),
                "an HTTPS listener needs at least one [certificates.<id>] entry".into(),
            );
        }
        for (id, origin) in &self.origins {
            if origin.members.is_empty() {
                problem(
                    format!("origins.{id}.members"),
                    "an origin pool needs at least one member".into(),
                );
            }
        }
        for (id, g) in &self.origin_groups {
            if self.origins.contains_key(id) {
                problem(
                    format!("origin_groups.{id}"),
                    format!("`{id}` already names an origin pool"),
                );
            }
            for (field, pool) in [("primary", &g.primary), ("secondary", &g.secondary)] {
                if !self.origins.contains_key(pool) {
                    problem(
                        format!("origin_groups.{id}.{field}"),
                        format!(
                            "no origin pool named `{pool}` (known: {})",
                            keys(&self.origins)
                        ),
                    );
                }
            }
            if g.primary == g.secondary {
                problem(
                    format!("origin_groups.{id}.secondary"),
                    "the secondary must differ from the primary".into(),
                );
            }
        }
        let mut seen_ids = std::collections::HashSet::new();
        for (i, d) in self.distributions.iter().enumerate() {
            if !seen_ids.insert(&d.id) {
                problem(
                    format!("distributions[{i}].id"),
                    format!("duplicate distribution id `{}`", d.id),
                );
            }
            if d.aliases.is_empty() {
                problem(
                    format!("distributions[{i}].aliases"),
                    "a distribution needs at least one alias".into(),
                );
            }
            let behaviors = d
                .behaviors
                .iter()
                .enumerate()
                .map(|(j, b)| (format!("distributions[{i}].behaviors[{j}]"), b));
            let default = std::iter::once((
                format!("distributions[{i}].default_behavior"),
                &d.default_behavior,
            ));
            for (path, b) in behaviors.chain(default) {
                if !self.origins.contains_key(&b.origin)
                    && !self.origin_groups.contains_key(&b.origin)
                {
                    problem(
                        format!("{path}.origin"),
                        format!(
                            "no origin named `{}` (known: {})",
                            b.origin,
                            keys(&self.origins)
                        ),
                    );
                }
                if let Some(p) = &b.cache_policy
                    && !self.cache_policies.contains_key(p)
                {
                    problem(
                        format!("{path}.cache_policy"),
                        format!(
                            "no cache policy named `{p}` (known: {})",
                            keys(&self.cache_policies)
                        ),
                    );
                }
                if let Some(p) = &b.origin_request_policy
                    && !self.origin_request_policies.contains_key(p)
                {
                    problem(
                        format!("{path}.origin_request_policy"),
                        format!(
                            "no origin request policy named `{p}` (known: {})",
                            keys(&self.origin_request_policies)
                        ),
                    );
                }
                for (k, f) in b.functions.iter().enumerate() {
                    if !self.functions.contains_key(f) {
                        problem(
                            format!("{path}.functions[{k}]"),
                            format!("no function named `{f}` (known: {})", keys(&self.functions)),
                        );
                    }
                }
            }
        }
        for (id, f) in &self.functions {
            if f.limits.timeout.is_zero() || f.limits.timeout > MAX_TIMEOUT {
                problem(
                    format!("functions.{id}.limits.timeout_ms"),
                    format!("must be between 1 and {}", MAX_TIMEOUT.as_millis()),
                );
            }
            if f.limits.write_bytes == 0 || f.limits.write_bytes > 1 << 20 {
                problem(
                    format!("functions.{id}.limits.write_kb"),
                    "must be between 1 and 1024".into(),
                );
            }
            if f.limits.memory_bytes < (1 << 20) || f.limits.memory_bytes > MAX_MEMORY_BYTES {
                problem(
                    format!("functions.{id}.limits.memory_mb"),
                    format!("must be between 1 and {}", MAX_MEMORY_BYTES >> 20),
                );
            }
        }
        problems
    }
}

fn keys<K: std::fmt::Display, V>(map: &BTreeMap<K, V>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.keys()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
