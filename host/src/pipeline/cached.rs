//! The cache phase of a behavior with a cache policy: look up, then answer from the
//! cache (fresh, or stale while a refresh runs), revalidate with the origin, or fetch
//! a miss — one origin request for all concurrent misses of a key.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::SystemTime;

use bytes::Bytes;
use http::header::{self, HeaderMap};
use http::{Method, Response, StatusCode};
use http_body_util::BodyExt;

use super::body::{EdgeBody, ViewerBody};
use super::fetch::Origin;
use super::{Explain, ResultType};
use crate::cache::{
    COLLAPSE_WAIT, CacheKey, Claim, Entry, FetchGuard, Fill, FillBody, Freshness, HttpCache,
    StorePlan, normalize_accept_encoding, response_from_entry, viewer_conditional_headers,
};
use crate::config::CachePolicy;
use crate::error::RequestError;
use crate::wasm::{FunctionRun, Hook, RequestView};

/// A response and the request view response hooks should see.
pub(super) type Answer = (Response<EdgeBody>, Option<RequestView>);

/// Answers a GET or HEAD under `policy`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn respond<B>(
    origin: &Origin<'_>,
    policy: &CachePolicy,
    runs: &mut [FunctionRun],
    mut view: RequestView,
    body: B,
    function_part: Option<String>,
    explain: &mut Explain,
) -> Result<Answer, RequestError>
where
    B: ViewerBody,
{
    let cache = &origin.snapshot.cache;
    if policy.normalize_accept_encoding {
        normalize_accept_encoding(&mut view.parts.headers);
    }
    let key = CacheKey::new(
        policy,
        &view.host,
        &view.parts.uri,
        &view.parts.headers,
        function_part.as_deref(),
    );
    explain.cache_key = Some(key.primary.clone());
    let mut waited = false;
    loop {
        let now = SystemTime::now();
        if let Some(entry) = cache.lookup(&key, &view.parts.headers) {
            match entry.freshness(&view.parts.headers, now) {
                Freshness::Fresh => {
                    cache.stats.hits.fetch_add(1, Ordering::Relaxed);
                    explain.result = ResultType::Hit;
                    return Ok(from_cache(runs, &entry, view, now));
                }
                Freshness::Stale {
                    staleness,
                    validators,
                } => {
                    if staleness < entry.stale_while_revalidate {
                        if let Some(guard) = cache.try_lead(&key.primary) {
                            refresh_in_background(origin, policy, &view, &entry, validators, guard);
                        }
                        cache.stats.stale_served.fetch_add(1, Ordering::Relaxed);
                        explain.result = ResultType::Hit;
                        explain.cache_note = Some("stale-while-revalidate");
                        return Ok(from_cache(runs, &entry, view, now));
                    }
                    return revalidate(
                        origin, policy, runs, view, body, &entry, staleness, validators, key,
                        explain,
                    )
                    .await;
                }
            }
        }
        if !fills_cache(&view) || waited {
            return miss(origin, policy, runs, view, body, key, None, explain).await;
        }
        match cache.claim(&key.primary) {
            Claim::Leader(guard) => {
                return miss(origin, policy, runs, view, body, key, Some(guard), explain).await;
            }
            Claim::Follower(mut done) => {
                cache.stats.collapsed.fetch_add(1, Ordering::Relaxed);
                // Ends when the leader's fetch ends (its guard drops), stored or not.
                let _ = tokio::time::timeout(COLLAPSE_WAIT, done.changed()).await;
                waited = true;
            }
        }
    }
}

/// Whether the origin's answer to this request may fill the cache: a full GET (a ranged
/// miss is forwarded as is and not stored).
fn fills_cache(view: &RequestView) -> bool {
    view.parts.method == Method::GET && !view.parts.headers.contains_key(header::RANGE)
}

/// A response made from `entry`; origin hooks do not run for it.
fn from_cache(
    runs: &mut [FunctionRun],
    entry: &Entry,
    view: RequestView,
    now: SystemTime,
) -> Answer {
    super::finish_after(runs, Hook::OriginResponse);
    let resp = response_from_entry(entry, &view.parts.method, &view.parts.headers, now);
    let wants_response = runs.iter().any(|r| r.implements(Hook::ViewerResponse));
    (resp, wants_response.then_some(view))
}

/// Removes the viewer's conditional headers: they are answered from the cache, not by
/// the origin.
fn drop_conditionals(headers: &mut HeaderMap) {
    for name in viewer_conditional_headers() {
        headers.remove(name);
    }
}

/// A miss: fetch from the origin and, when the policy and response allow, store the
/// response as it streams to the viewer.
#[allow(clippy::too_many_arguments)]
async fn miss<B>(
    origin: &Origin<'_>,
    policy: &CachePolicy,
    runs: &mut [FunctionRun],
    mut view: RequestView,
    body: B,
    key: CacheKey,
    guard: Option<FetchGuard>,
    explain: &mut Explain,
) -> Result<Answer, RequestError>
where
    B: ViewerBody,
{
    let cache = &origin.snapshot.cache;
    cache.stats.misses.fetch_add(1, Ordering::Relaxed);
    let fills = fills_cache(&view);
    if fills {
        // The origin's full response is what gets stored.
        drop_conditionals(&mut view.parts.headers);
    }
    let request_headers = fills.then(|| view.parts.headers.clone());
    let fetched = origin
        .fetch(runs, view, body, Some(&key.primary), explain)
        .await?;
    explain.result = ResultType::Miss;
    let (Some(request_headers), true) = (request_headers, fetched.from_origin) else {
        return Ok((fetched.response, fetched.sent));
    };
    Ok((
        store_while_streaming(
            cache,
            policy,
            &request_headers,
            fetched.response,
            key,
            guard,
        ),
        fetched.sent,
    ))
}

/// Wraps the response body so it is stored once complete, when it may be stored.
fn store_while_streaming(
    cache: &Arc<HttpCache>,
    policy: &CachePolicy,
    request_headers: &HeaderMap,
    response: Response<EdgeBody>,
    key: CacheKey,
    guard: Option<FetchGuard>,
) -> Response<EdgeBody> {
    let plan = StorePlan::new(
        policy,
        request_headers,
        response.status(),
        response.headers(),
        SystemTime::now(),
    );
    let Some(plan) = plan else {
        return response;
    };
    let (parts, body) = response.into_parts();
    let fill = Fill {
        cache: cache.clone(),
        plan,
        key: key.primary,
        url: key.url,
    };
    let body = EdgeBody::Filling(Box::new(FillBody::new(body, fill, guard)));
    Response::from_parts(parts, body)
}

/// A stale entry outside its stale-while-revalidate window: ask the origin whether it
/// still holds (304 refreshes it), and fall back to it within stale-if-error.
#[allow(clippy::too_many_arguments)]
async fn revalidate<B>(
    origin: &Origin<'_>,
    policy: &CachePolicy,
    runs: &mut [FunctionRun],
    mut view: RequestView,
    body: B,
    entry: &Arc<Entry>,
    staleness: std::time::Duration,
    validators: HeaderMap,
    key: CacheKey,
    explain: &mut Explain,
) -> Result<Answer, RequestError>
where
    B: ViewerBody,
{
    let cache = &origin.snapshot.cache;
    let method = view.parts.method.clone();
    // The viewer's headers as sent answer its conditionals from the entry; the origin
    // gets them without those, plus the entry's validators.
    let viewer_headers = view.parts.headers.clone();
    drop_conditionals(&mut view.parts.headers);
    let request_headers = view.parts.headers.clone();
    view.parts.headers.extend(validators);
    let may_serve_stale = staleness < entry.stale_if_error;
    // Response hooks need the request even when the origin fails.
    let fallback_sent = (may_serve_stale
        && runs.iter().any(|r| r.implements(Hook::ViewerResponse)))
    .then(|| view.head_copy());
    let fetched = origin
        .fetch(runs, view, body, Some(&key.primary), explain)
        .await;
    let now = SystemTime::now();
    // stale-if-error: the stale copy stands in for a failing origin.
    let origin_failed = match &fetched {
        Ok(f) => f.response.status().is_server_error(),
        Err(e) => e.is_origin_failure(),
    };
    if may_serve_stale && origin_failed {
        if let Err(e) = &fetched {
            tracing::warn!(request_id = %origin.request_id, "serving stale: {e}");
        }
        cache.stats.stale_served.fetch_add(1, Ordering::Relaxed);
        explain.result = ResultType::Hit;
        explain.cache_note = Some("stale-if-error");
        let resp = response_from_entry(entry, &method, &viewer_headers, now);
        return Ok((resp, fallback_sent));
    }
    let fetched = fetched?;
    if fetched.from_origin && fetched.response.status() == StatusCode::NOT_MODIFIED {
        let refreshed = entry
            .refreshed(policy, fetched.response.headers(), now)
            .map(Arc::new)
            .unwrap_or_else(|| entry.clone());
        cache.insert(refreshed.clone());
        cache.stats.refresh_hits.fetch_add(1, Ordering::Relaxed);
        explain.result = ResultType::RefreshHit;
        let resp = response_from_entry(&refreshed, &method, &viewer_headers, now);
        return Ok((resp, fetched.sent));
    }
    cache.stats.misses.fetch_add(1, Ordering::Relaxed);
    explain.result = ResultType::Miss;
    if !fetched.from_origin || method != Method::GET {
        return Ok((fetched.response, fetched.sent));
    }
    let resp = store_while_streaming(cache, policy, &request_headers, fetched.response, key, None);
    Ok((resp, fetched.sent))
}

/// Refreshes `entry` off the request path (stale-while-revalidate). The refresh is a
/// request of its own: function instances of its own (fresh, or idle ones of functions
/// that declare reuse) run its origin hooks.
fn refresh_in_background(
    origin: &Origin<'_>,
    policy: &CachePolicy,
    view: &RequestView,
    entry: &Arc<Entry>,
    validators: HeaderMap,
    guard: FetchGuard,
) {
    let snapshot = origin.snapshot.clone();
    let behavior = origin.behavior.clone();
    let conn = origin.conn.clone();
    let host_value = origin.host_value.clone();
    let request_id = origin.request_id;
    let policy = policy.clone();
    let entry = entry.clone();
    let mut view = view.head_copy();
    view.parts.method = Method::GET;
    drop_conditionals(&mut view.parts.headers);
    view.parts.headers.remove(header::RANGE);
    let request_headers = view.parts.headers.clone();
    view.parts.headers.extend(validators);
    tokio::spawn(async move {
        let origin = Origin {
            snapshot: &snapshot,
            behavior: &behavior,
            conn: &conn,
            host_value: &host_value,
            request_id,
        };
        let Ok(mut runs) = super::runs_for(&snapshot, &behavior, request_id) else {
            return;
        };
        let mut explain = Explain::default();
        let body = http_body_util::Empty::<Bytes>::new();
        let cache = snapshot.cache.clone();
        match origin
            .fetch(&mut runs, view, body, Some(&entry.key), &mut explain)
            .await
        {
            Ok(fetched) if fetched.from_origin => {
                let resp = fetched.response;
                if resp.status() == StatusCode::NOT_MODIFIED {
                    if let Some(refreshed) =
                        entry.refreshed(&policy, resp.headers(), SystemTime::now())
                    {
                        cache.insert(Arc::new(refreshed));
                    }
                    return;
                }
                if resp.status().is_server_error() {
                    return;
                }
                let key = CacheKey {
                    primary: entry.key.clone(),
                    url: entry.url.clone(),
                };
                let resp = store_while_streaming(
                    &cache,
                    &policy,
                    &request_headers,
                    resp,
                    key,
                    Some(guard),
                );
                // Reading the body to its end stores it.
                let _ = resp.into_body().collect().await;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(request_id = %request_id, "background refresh failed: {e}"),
        }
    });
}
