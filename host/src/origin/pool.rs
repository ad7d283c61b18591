//! An origin pool at run time: its members with their clients and health, the
//! balancer, the retry budget and the active health checker.
//!
//! The checker is a task owned by the pool: it holds only the members (not the pool),
//! and is aborted when the pool is dropped, i.e. when the last request using the
//! snapshot that built it has finished. Member health itself outlives the pool (see
//! [`super::OriginShared`]): the next snapshot's pool and checker carry on with it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Empty};
use serde_json::json;

use super::balance::{Balancer, Candidate, hash_of};
use super::budget::RetryBudget;
use super::client::OriginClient;
use super::health::{MemberState, Outcome};
use super::shared::OriginShared;
use crate::config::{Balance, HashOn, HealthCheck, OriginId, OriginPoolConfig, OutlierDetection};

/// One member: where it is, how to reach it, and how it is doing.
#[derive(Debug)]
pub struct PoolMember {
    pub scheme: http::uri::Scheme,
    pub authority: http::uri::Authority,
    /// `authority` as a Host header value, for `host = "origin"` policies.
    pub host: Option<http::HeaderValue>,
    pub weight: u32,
    pub state: Arc<MemberState>,
    pub client: OriginClient,
    identity: u64,
}

impl PoolMember {
    /// `scheme://authority`, for logs and `/status`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.authority)
    }
}

/// Why a pool had no member for a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// Every member is failing its health checks or ejected (or already tried).
    Unhealthy,
    /// The available members are all at `max_requests_per_member`.
    Busy,
}

#[derive(Debug)]
pub struct OriginPool {
    pub id: OriginId,
    pub config: OriginPoolConfig,
    members: Arc<[PoolMember]>,
    balancer: Balancer,
    pub budget: RetryBudget,
    /// Retries sent, and failovers from this pool to a group's secondary.
    pub retries: AtomicU64,
    pub failovers: AtomicU64,
    checker: OnceLock<AbortOnDrop>,
}

impl OriginPool {
    /// Builds the pool; fails when a member's client cannot be built (unreadable CA).
    pub fn new(
        id: OriginId,
        config: &OriginPoolConfig,
        shared: &OriginShared,
    ) -> Result<Self, String> {
        let mut members = Vec::with_capacity(config.members.len());
        for m in &config.members {
            let (Some(scheme), Some(authority)) = (m.url.scheme(), m.url.authority()) else {
                continue;
            };
            let state = shared.member_state(&id, &format!("{scheme}://{authority}"));
            if config.health_check.is_none() {
                // A verdict from checks a reload removed would never be revised.
                state.clear_checks();
            }
            members.push(PoolMember {
                scheme: scheme.clone(),
                authority: authority.clone(),
                host: http::HeaderValue::from_str(authority.as_str()).ok(),
                weight: m.weight.max(1),
                state,
                client: shared.clients.client_for(config, &m.url)?,
                identity: hash_of(&format!("{scheme}://{authority}")),
            });
        }
        let weights: Vec<u32> = members.iter().map(|m| m.weight).collect();
        let pool = Self {
            id,
            balancer: Balancer::new(&config.balance, &weights),
            budget: RetryBudget::new(&config.retries),
            config: config.clone(),
            members: members.into(),
            retries: AtomicU64::new(0),
            failovers: AtomicU64::new(0),
            checker: OnceLock::new(),
        };
        // Outside a runtime (a blocking embedder), checks start with the first request.
        if tokio::runtime::Handle::try_current().is_ok() {
            pool.start_checks();
        }
        Ok(pool)
    }

    pub fn members(&self) -> &[PoolMember] {
        &self.members
    }

    /// The key for `balance = "hash"`: the configured header, else the cache key, else
    /// the viewer host with path and query. Empty (and free) for other strategies.
    pub fn hash_key(
        &self,
        headers: &http::HeaderMap,
        cache_key: Option<&str>,
        host: &http::HeaderValue,
        path_and_query: &str,
    ) -> String {
        let Balance::Hash(on) = &self.config.balance else {
            return String::new();
        };
        if let HashOn::Header(name) = on
            && let Some(v) = headers.get(name).and_then(|v| v.to_str().ok())
        {
            return v.to_owned();
        }
        match cache_key {
            Some(k) => k.to_owned(),
            None => format!("{}{path_and_query}", host.to_str().unwrap_or("")),
        }
    }

    /// Picks an available member not in `exclude` and counts a request in flight on it.
    pub fn pick(&self, key: &str, exclude: &[usize]) -> Result<(usize, InFlight), Unavailable> {
        self.start_checks();
        // The clock is read only if an ejected member needs it.
        let now = std::cell::OnceCell::new();
        let now = || *now.get_or_init(Instant::now);
        let max = self.config.max_requests_per_member;
        let candidate = |i: usize| {
            let m = &self.members[i];
            let outstanding = m.state.outstanding.load(Ordering::Relaxed);
            Candidate {
                weight: m.weight,
                outstanding,
                identity: m.identity,
                // A soft limit: concurrent picks may overshoot it by a few.
                usable: !exclude.contains(&i) && outstanding < max && m.state.available_with(now),
            }
        };
        match self.balancer.pick(self.members.len(), candidate, key) {
            Some(i) => Ok((
                i,
                InFlight::new(
                    self.members.clone(),
                    i,
                    self.id.clone(),
                    self.config.outlier_detection,
                ),
            )),
            None => {
                // Told apart only on this rare path: members up but all at their limit.
                let any_available = self
                    .members
                    .iter()
                    .enumerate()
                    .any(|(i, m)| !exclude.contains(&i) && m.state.available_with(now));
                Err(if any_available {
                    Unavailable::Busy
                } else {
                    Unavailable::Unhealthy
                })
            }
        }
    }

    /// Feeds a live request's outcome to passive health.
    pub fn record(&self, member: usize, outcome: Outcome) {
        record_outcome(
            &self.id,
            &self.members,
            member,
            self.config.outlier_detection.as_ref(),
            outcome,
        );
    }

    /// Starts the active checker if the pool has one and it is not running yet.
    pub fn start_checks(&self) {
        let Some(hc) = &self.config.health_check else {
            return;
        };
        self.checker.get_or_init(|| {
            let (members, hc, id) = (self.members.clone(), hc.clone(), self.id.clone());
            let task = tokio::spawn(async move {
                let mut tick = tokio::time::interval(hc.interval);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    check_round(&id, &members, &hc).await;
                }
            });
            AbortOnDrop(task.abort_handle())
        });
    }

    /// The pool's state for `/status`.
    pub fn status(&self) -> serde_json::Value {
        let now = Instant::now();
        let members: Vec<_> = self
            .members
            .iter()
            .map(|m| {
                let s = &m.state;
                json!({
                    "url": m.url(),
                    "weight": m.weight,
                    "healthy": s.healthy(),
                    "available": s.available(now),
                    "ejected_for_ms": s.ejected_for(now).map(|d| d.as_millis() as u64),
                    "outstanding": s.outstanding.load(Ordering::Relaxed),
                    "requests": s.requests.load(Ordering::Relaxed),
                    "failures": s.failures.load(Ordering::Relaxed),
                    "ejections": s.ejections.load(Ordering::Relaxed),
                    "last_check": s.last_check(),
                })
            })
            .collect();
        let balance = match &self.config.balance {
            Balance::RoundRobin => "round_robin".to_owned(),
            Balance::LeastOutstanding => "least_outstanding".to_owned(),
            Balance::Hash(HashOn::CacheKey) => "hash:cache_key".to_owned(),
            Balance::Hash(HashOn::Header(h)) => format!("hash:header:{h}"),
        };
        json!({
            "id": self.id,
            "balance": balance,
            "health_check": self.config.health_check.as_ref().map(|hc| json!({
                "path": hc.path.as_str(),
                "interval_ms": hc.interval.as_millis() as u64,
            })),
            "retries": self.retries.load(Ordering::Relaxed),
            "failovers": self.failovers.load(Ordering::Relaxed),
            "members": members,
        })
    }
}

/// One round: every member checked concurrently.
async fn check_round(id: &OriginId, members: &[PoolMember], hc: &HealthCheck) {
    futures_util::future::join_all(members.iter().map(|m| check_member(id, m, hc))).await;
}

async fn check_member(id: &OriginId, m: &PoolMember, hc: &HealthCheck) {
    // The member's client dials the member; the URI names the Host to check with.
    let host = hc.host.as_ref().unwrap_or(&m.authority);
    let uri = http::Uri::builder()
        .scheme(m.scheme.clone())
        .authority(host.clone())
        .path_and_query(hc.path.clone())
        .build();
    let Ok(uri) = uri else { return };
    let req = Request::get(uri)
        .header(header::HOST, host.as_str())
        .header(header::USER_AGENT, "wedge-health-check")
        .body(Empty::<Bytes>::new().map_err(|e| match e {}).boxed_unsync());
    let Ok(req) = req else { return };
    let attempt = async {
        let resp = m.client.request(req).await?;
        let status = resp.status().as_u16();
        // Read the (small) body so the connection can be reused.
        let _ = resp.into_body().collect().await;
        Ok::<u16, hyper_util::client::legacy::Error>(status)
    };
    let (passed, detail) = match tokio::time::timeout(hc.timeout, attempt).await {
        Err(_) => (false, "timeout".to_owned()),
        Ok(Err(e)) => (false, format!("error: {}", super::error_chain(&e))),
        Ok(Ok(status)) => (hc.expected_status.contains(&status), status.to_string()),
    };
    if let Some(healthy) = m.state.record_check(passed, detail.clone(), hc) {
        if healthy {
            tracing::info!(origin = %id, member = %m.url(), "origin member healthy again");
        } else {
            tracing::warn!(origin = %id, member = %m.url(), last = %detail, "origin member unhealthy");
        }
    }
}

/// Feeds an outcome to a member's passive health; logs ejections. The last available
/// member is never ejected (Envoy's panic threshold would route to it anyway).
fn record_outcome(
    id: &OriginId,
    members: &[PoolMember],
    member: usize,
    od: Option<&OutlierDetection>,
    outcome: Outcome,
) {
    let m = &members[member];
    if outcome == Outcome::Success && m.state.record_clean_success() {
        return;
    }
    let now = Instant::now();
    let may_eject = outcome != Outcome::Success
        && members
            .iter()
            .enumerate()
            .any(|(i, other)| i != member && other.state.available(now));
    if m.state.record(outcome, od, now, may_eject) {
        tracing::warn!(
            origin = %id,
            member = %m.url(),
            ejected_ms = m.state.ejected_for(now).map_or(0, |d| d.as_millis() as u64),
            "origin member ejected after consecutive failures"
        );
    }
}

/// A request in flight on a member; counted until dropped (with the response body).
#[derive(Debug)]
pub struct InFlight {
    members: Arc<[PoolMember]>,
    index: usize,
    origin: OriginId,
    outlier_detection: Option<OutlierDetection>,
}

impl InFlight {
    fn new(
        members: Arc<[PoolMember]>,
        index: usize,
        origin: OriginId,
        outlier_detection: Option<OutlierDetection>,
    ) -> Self {
        members[index]
            .state
            .outstanding
            .fetch_add(1, Ordering::Relaxed);
        Self {
            members,
            index,
            origin,
            outlier_detection,
        }
    }

    /// The response body broke off or went idle: a connection failure for passive
    /// health, although the head had counted as a success.
    pub fn body_failed(self) {
        record_outcome(
            &self.origin,
            &self.members,
            self.index,
            self.outlier_detection.as_ref(),
            Outcome::ConnectError,
        );
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.members[self.index]
            .state
            .outstanding
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Aborts the checker task with the pool.
#[derive(Debug)]
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
