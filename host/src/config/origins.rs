//! Typed settings of origin pools, origin groups and origin request policies.

use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, HeaderValue};

use super::OriginId;

/// An origin pool: members requests are balanced over, and how they are reached.
#[derive(Debug, Clone)]
pub struct OriginPoolConfig {
    pub members: Vec<OriginMember>,
    pub balance: Balance,
    /// Active health checks; `None` means members are only judged by live traffic.
    pub health_check: Option<HealthCheck>,
    /// Passive ejection of members that keep failing; `None` turns it off.
    pub outlier_detection: Option<OutlierDetection>,
    pub retries: RetryPolicy,
    pub timeouts: OriginTimeouts,
    pub tls: OriginTls,
    /// Speak HTTP/2 to members: negotiated by ALPN for `https`, prior knowledge for `http`.
    pub http2: bool,
    /// Requests one member may have in flight; a member at the limit is skipped.
    pub max_requests_per_member: usize,
    /// Idle keep-alive connections kept per member. As many as may be in flight by
    /// default: fewer makes every burst above it open and close origin connections.
    pub max_idle_per_member: usize,
}

impl OriginPoolConfig {
    /// A round-robin pool of `members` with default settings.
    pub fn new(members: Vec<OriginMember>) -> Self {
        Self {
            members,
            balance: Balance::default(),
            health_check: None,
            outlier_detection: Some(OutlierDetection::default()),
            retries: RetryPolicy::default(),
            timeouts: OriginTimeouts::default(),
            tls: OriginTls::default(),
            http2: false,
            max_requests_per_member: 1024,
            max_idle_per_member: 1024,
        }
    }
}

impl Default for OriginPoolConfig {
    fn default() -> Self {
        Self::new(Vec::new())
    }
}

#[derive(Debug, Clone)]
pub struct OriginMember {
    /// `http://host:port` or `https://host:port` (no path).
    pub url: http::Uri,
    /// Relative share of requests (≥ 1).
    pub weight: u32,
}

/// How a pool picks a member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Balance {
    /// Smooth weighted round-robin.
    #[default]
    RoundRobin,
    /// The member with the fewest requests in flight relative to its weight.
    LeastOutstanding,
    /// Weighted rendezvous hashing: the same key keeps going to the same member while
    /// it is available, and only the keys of a member that leaves move.
    Hash(HashOn),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashOn {
    /// The request's cache key (host, path and query unless functions contribute one).
    CacheKey,
    /// A request header's value (requests without it fall back to the cache key).
    Header(HeaderName),
}

/// Active health checking: a GET to `path` on every member each `interval`.
#[derive(Debug, Clone)]
pub struct HealthCheck {
    pub path: http::uri::PathAndQuery,
    /// Host header (and HTTP/2 `:authority`) of checks; the member's host:port if unset.
    pub host: Option<http::uri::Authority>,
    pub interval: Duration,
    pub timeout: Duration,
    /// Consecutive passes that make an unhealthy member healthy again.
    pub healthy_threshold: u32,
    /// Consecutive failures that make a healthy member unhealthy.
    pub unhealthy_threshold: u32,
    /// Statuses that count as a pass.
    pub expected_status: Vec<u16>,
}

/// Passive health: members that keep failing real requests are ejected for a while.
#[derive(Debug, Clone, Copy)]
pub struct OutlierDetection {
    /// Consecutive 5xx answers that eject a member (0 = never for this reason).
    pub consecutive_5xx: u32,
    /// Consecutive connect failures, resets and timeouts that eject a member (0 = never).
    pub consecutive_connect_errors: u32,
    /// First ejection time; each further ejection doubles it, up to `max_ejection`.
    pub base_ejection: Duration,
    pub max_ejection: Duration,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        Self {
            consecutive_5xx: 5,
            consecutive_connect_errors: 3,
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
        }
    }
}

/// When a failed attempt is tried again on another member.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Further attempts after the first (0 = no retries).
    pub max_retries: u32,
    /// Statuses that are retried (idempotent requests only).
    pub retry_on_status: Vec<u16>,
    /// Retries may add at most this share of the pool's requests...
    pub budget_percent: u32,
    /// ...beyond a reserve of this many, so a quiet pool can still retry.
    pub min_retries: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_retries: 1,
            retry_on_status: vec![502, 503, 504],
            budget_percent: 20,
            min_retries: 10,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct OriginTimeouts {
    /// To establish the TCP (and TLS) connection.
    pub connect: Duration,
    /// From sending the request to the response head.
    pub first_byte: Duration,
    /// Longest pause between two chunks of the response body.
    pub idle: Duration,
}

impl Default for OriginTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(5),
            first_byte: Duration::from_secs(30),
            idle: Duration::from_secs(60),
        }
    }
}

/// How `https` members are verified.
#[derive(Debug, Clone, Default)]
pub struct OriginTls {
    /// PEM bundle of trusted roots; the built-in web roots when absent.
    pub ca: Option<PathBuf>,
    /// Name sent as SNI and verified against the certificate; the member's host when absent.
    pub server_name: Option<String>,
}

/// A CloudFront-style origin group: requests go to `primary`, and go to `secondary`
/// when the primary answers a failover status, cannot be reached or times out.
#[derive(Debug, Clone)]
pub struct OriginGroupConfig {
    pub primary: OriginId,
    pub secondary: OriginId,
    pub failover_status: Vec<u16>,
}

/// Which parts of the viewer request reach the origin.
#[derive(Debug, Clone, Default)]
pub struct OriginRequestPolicy {
    pub headers: Forward,
    pub cookies: Forward,
    pub query_strings: Forward,
    pub host: HostRule,
    /// Set on every origin request (replacing a viewer header of the same name).
    pub add_headers: Vec<(HeaderName, HeaderValue)>,
}

/// Forward none, all, or only the named items (header names compare
/// case-insensitively, cookie and query string names exactly).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Forward {
    None,
    #[default]
    All,
    Allow(Vec<String>),
}

/// The Host header the origin receives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum HostRule {
    /// The viewer's Host.
    #[default]
    Viewer,
    /// The member's own host and port.
    Origin,
    /// This value.
    Fixed(HeaderValue),
}
