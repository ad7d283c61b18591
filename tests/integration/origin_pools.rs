//! Origin pools against several stub origins that fail, hang, reset and come back:
//! retries and their limits, passive ejection, active health checks, balancing,
//! origin groups, request limits and the idle timeout.
//!
//! Nothing here asserts speed: timeouts are set far apart from the faults they catch,
//! and health changes are awaited as conditions with generous upper bounds.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use wedge::stub_origin::{StubFault, StubOrigin};
use wedge_tests::{TestEdge, http_get, send, wait_until};

const HOST: &str = "www.example.test";

async fn stub() -> StubOrigin {
    StubOrigin::start(([127, 0, 0, 1], 0).into()).await.unwrap()
}

/// A URL on which nothing listens (connections are refused).
fn dead_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    url
}

/// Starts an edge whose default behavior uses `origin`, with `{a}`, `{b}`, `{c}` and
/// `{dead}` replaced by the given URLs.
async fn edge(origins: &str, origin: &str, urls: &[(&str, String)]) -> TestEdge {
    let mut config = format!(
        "{origins}\n[[distributions]]\nid = \"www\"\naliases = [\"{HOST}\"]\n\
         [distributions.default_behavior]\norigin = \"{origin}\"\n"
    );
    for (k, v) in urls {
        config = config.replace(&format!("{{{k}}}"), v);
    }
    TestEdge::start(&config).await.unwrap()
}

async fn get(edge: &TestEdge, path: &str) -> Response<Bytes> {
    http_get(edge.http_addr(), HOST, path, &[]).await.unwrap()
}

async fn request(edge: &TestEdge, method: &str, path: &str, body: &'static str) -> Response<Bytes> {
    let req = Request::builder()
        .method(method)
        .uri(path)
        .header("host", HOST)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap();
    send(edge.http_addr(), None, req).await.unwrap()
}

fn served_by(resp: &Response<Bytes>) -> String {
    resp.headers()
        .get("x-stub-origin")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

/// Requests a stub received other than health checks.
fn traffic(s: &StubOrigin) -> usize {
    s.received().iter().filter(|r| r.path != "/health").count()
}

async fn status(edge: &TestEdge) -> serde_json::Value {
    let resp = http_get(edge.admin_addr(), "admin", "/status", &[])
        .await
        .unwrap();
    serde_json::from_slice(resp.body()).unwrap()
}

/// The `/status` entry of the member at `url`.
async fn member(edge: &TestEdge, url: &str) -> serde_json::Value {
    let s = status(edge).await;
    s["origins"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["members"].as_array().unwrap().clone())
        .find(|m| m["url"] == url)
        .unwrap_or_else(|| panic!("no member {url} in {s}"))
}

#[tokio::test]
async fn a_failing_member_is_retried_around_then_ejected() {
    let (a, b) = (stub().await, stub().await);
    a.set_fault(Some(StubFault::Status(503)));
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }, { url = "{b}" }]
[origins.pool.outlier_detection]
consecutive_5xx = 2
base_ejection_ms = 600000
"#,
        "pool",
        &[("a", a.url()), ("b", b.url())],
    )
    .await;
    for _ in 0..10 {
        let resp = get(&e, "/echo").await;
        assert_eq!(resp.status(), 200, "the 503 is retried on the other member");
        assert_eq!(served_by(&resp), b.addr.to_string());
    }
    // Two 503s in a row ejected it: it saw exactly two requests.
    assert_eq!(traffic(&a), 2);
    assert_eq!(traffic(&b), 10);
    let m = member(&e, &a.url()).await;
    assert_eq!(m["available"], false);
    assert_eq!(m["ejections"], 1);
    assert!(m["ejected_for_ms"].as_u64().unwrap() > 0);
    let ejections = format!(
        "wedge_origin_member_ejections_total{{origin=\"pool\",member=\"{}\"}}",
        a.url()
    );
    assert_eq!(e.metric(&ejections).await, 1.0);
    assert_eq!(
        e.metric(r#"wedge_origin_retries_total{origin="pool"}"#)
            .await,
        2.0
    );
}

#[tokio::test]
async fn connect_errors_are_retried_for_any_method_with_the_body_intact() {
    let b = stub().await;
    let origins = r#"
[origins.pool]
members = [{ url = "{dead}" }, { url = "{b}" }]
"#;
    let urls = [("dead", dead_url()), ("b", b.url())];
    // Round-robin starts with the first member: the dead one. Nothing was sent, so even
    // a POST goes on to b, body and all.
    let e = edge(origins, "pool", &urls).await;
    let resp = request(&e, "POST", "/echo", "payload").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(TestEdge::echo(&resp)["body_bytes"], 7);
    assert_eq!(&b.last().unwrap().body[..], b"payload");
}

#[tokio::test]
async fn a_body_once_sent_is_not_sent_again() {
    let (a, b) = (stub().await, stub().await);
    a.set_fault(Some(StubFault::Reset));
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }, { url = "{b}" }]
"#,
        "pool",
        &[("a", a.url()), ("b", b.url())],
    )
    .await;
    // PUT is idempotent, but a read the body before dropping the connection.
    let resp = request(&e, "PUT", "/echo", "payload").await;
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers()["x-wedge-error"], "origin-error");
    assert_eq!(&resp.body()[..], b"502 Bad Gateway\n");
    assert_eq!(&a.last().unwrap().body[..], b"payload");
    assert_eq!(traffic(&b), 0);
}

#[tokio::test]
async fn only_idempotent_requests_are_retried_after_sending() {
    let (a, b) = (stub().await, stub().await);
    for fault in [StubFault::Status(503), StubFault::Reset] {
        a.set_fault(Some(fault));
        a.clear();
        b.clear();
        let e = edge(
            r#"
[origins.pool]
members = [{ url = "{a}" }, { url = "{b}" }]
"#,
            "pool",
            &[("a", a.url()), ("b", b.url())],
        )
        .await;
        let resp = request(&e, "POST", "/echo", "").await;
        match fault {
            StubFault::Status(_) => assert_eq!(resp.status(), 503, "the origin's answer"),
            _ => {
                assert_eq!(resp.status(), 502);
                assert_eq!(resp.headers()["x-wedge-error"], "origin-error");
            }
        }
        assert_eq!(traffic(&a), 1);
        assert_eq!(traffic(&b), 0, "POST is not retried once sent ({fault:?})");
        // DELETE is idempotent: the one that goes to a is retried on b.
        for _ in 0..2 {
            assert_eq!(request(&e, "DELETE", "/echo", "").await.status(), 200);
        }
        assert_eq!(traffic(&a), 2);
        assert_eq!(traffic(&b), 2);
    }
}

#[tokio::test]
async fn a_hanging_member_times_out_and_is_retried() {
    let (a, b) = (stub().await, stub().await);
    a.set_fault(Some(StubFault::Hang));
    let origins = r#"
[origins.pool]
members = [{ url = "{a}" }, { url = "{b}" }]
first_byte_timeout_ms = 300

[origins.single]
members = [{ url = "{a}" }]
first_byte_timeout_ms = 300
"#;
    let urls = [("a", a.url()), ("b", b.url())];
    let e = edge(origins, "pool", &urls).await;
    let resp = get(&e, "/echo").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(served_by(&resp), b.addr.to_string());

    let e = edge(origins, "single", &urls).await;
    let resp = get(&e, "/echo").await;
    assert_eq!(resp.status(), 504);
    assert_eq!(resp.headers()["x-wedge-error"], "origin-timeout");
    assert_eq!(&resp.body()[..], b"504 Gateway Timeout\n");
}

#[tokio::test]
async fn the_retry_budget_bounds_retries() {
    let (a, b) = (stub().await, stub().await);
    a.set_fault(Some(StubFault::Status(503)));
    b.set_fault(Some(StubFault::Status(503)));
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }, { url = "{b}" }]
retries = { max_retries = 1, budget_percent = 0, min_retries = 1 }
outlier_detection = { enabled = false }
"#,
        "pool",
        &[("a", a.url()), ("b", b.url())],
    )
    .await;
    for _ in 0..4 {
        assert_eq!(get(&e, "/echo").await.status(), 503);
    }
    // One retry from the reserve, then none: 4 requests, 5 attempts.
    assert_eq!(traffic(&a) + traffic(&b), 5);
}

#[tokio::test]
async fn active_health_checks_take_a_member_out_and_bring_it_back() {
    let (a, b) = (stub().await, stub().await);
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }, { url = "{b}" }]
[origins.pool.health_check]
path = "/health"
host = "health.internal"
interval_ms = 20
timeout_ms = 20
healthy_threshold = 2
unhealthy_threshold = 2
"#,
        "pool",
        &[("a", a.url()), ("b", b.url())],
    )
    .await;
    a.set_fault(Some(StubFault::Status(500)));
    wait_until("a is unhealthy", || async {
        member(&e, &a.url()).await["healthy"] == false
    })
    .await;
    let m = member(&e, &a.url()).await;
    assert_eq!(m["last_check"], "500");
    let check = a
        .received()
        .into_iter()
        .find(|r| r.path == "/health")
        .unwrap();
    assert_eq!(check.header("host"), Some("health.internal"));
    assert_eq!(check.header("user-agent"), Some("wedge-health-check"));
    let healthy = |m: &StubOrigin| {
        format!(
            "wedge_origin_member_healthy{{origin=\"pool\",member=\"{}\"}}",
            m.url()
        )
    };
    assert_eq!(e.metric(&healthy(&a)).await, 0.0);
    assert_eq!(e.metric(&healthy(&b)).await, 1.0);
    let before = traffic(&a);
    for _ in 0..6 {
        let resp = get(&e, "/echo").await;
        assert_eq!(served_by(&resp), b.addr.to_string());
    }
    assert_eq!(traffic(&a), before, "no traffic to an unhealthy member");

    // It comes back.
    a.set_fault(None);
    wait_until("a is healthy again", || async {
        member(&e, &a.url()).await["healthy"] == true
    })
    .await;
    let mut seen_a = false;
    for _ in 0..4 {
        seen_a |= served_by(&get(&e, "/echo").await) == a.addr.to_string();
    }
    assert!(seen_a, "a takes traffic again");
}

#[tokio::test]
async fn all_members_unhealthy_is_a_503() {
    let a = stub().await;
    a.set_fault(Some(StubFault::Status(503)));
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }]
[origins.pool.health_check]
path = "/health"
interval_ms = 20
timeout_ms = 20
unhealthy_threshold = 1
"#,
        "pool",
        &[("a", a.url())],
    )
    .await;
    wait_until("a is unhealthy", || async {
        member(&e, &a.url()).await["healthy"] == false
    })
    .await;
    let resp = get(&e, "/echo").await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["x-wedge-error"], "no-healthy-origin");
}

#[tokio::test]
async fn origin_groups_fail_over_on_status_connect_error_and_timeout() {
    let (a, b) = (stub().await, stub().await);
    let origins = r#"
[origins.primary]
members = [{ url = "{a}" }]
first_byte_timeout_ms = 300
retries = { max_retries = 0 }

[origins.backup]
members = [{ url = "{b}" }]

[origins.gone]
members = [{ url = "{dead}" }]

[origin_groups.site]
primary = "primary"
secondary = "backup"
failover_status = [500, 503]

[origin_groups.dead-primary]
primary = "gone"
secondary = "backup"
"#;
    let urls = [("a", a.url()), ("b", b.url()), ("dead", dead_url())];
    let e = edge(origins, "site", &urls).await;
    // Healthy primary: no failover.
    assert_eq!(served_by(&get(&e, "/echo").await), a.addr.to_string());
    // A failover status.
    a.set_fault(Some(StubFault::Status(500)));
    let resp = get(&e, "/echo").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(served_by(&resp), b.addr.to_string());
    // POST does not fail over (CloudFront: GET, HEAD and OPTIONS only).
    let resp = request(&e, "POST", "/echo", "").await;
    assert_eq!(resp.status(), 500);
    assert_eq!(served_by(&resp), a.addr.to_string());
    // A status not configured for failover is the answer.
    a.set_fault(Some(StubFault::Status(502)));
    assert_eq!(get(&e, "/echo").await.status(), 502);
    // A hanging primary times out and fails over.
    a.set_fault(Some(StubFault::Hang));
    let resp = get(&e, "/echo").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(served_by(&resp), b.addr.to_string());
    let s = status(&e).await;
    let primary = s["origins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == "primary")
        .unwrap();
    assert_eq!(primary["failovers"], 2);
    assert_eq!(s["origin_groups"][0]["id"], "dead-primary");

    // A primary that refuses connections.
    let e = edge(origins, "dead-primary", &urls).await;
    let resp = get(&e, "/echo").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(served_by(&resp), b.addr.to_string());
}

#[tokio::test]
async fn least_outstanding_sends_around_a_busy_member() {
    let (a, b) = (stub().await, stub().await);
    a.set_fault(Some(StubFault::Hang));
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }, { url = "{b}" }]
balance = "least_outstanding"
"#,
        "pool",
        &[("a", a.url()), ("b", b.url())],
    )
    .await;
    // Park one request on a (it hangs), whichever member the first pick chose.
    let addr = e.http_addr();
    let mut parked = Vec::new();
    while traffic(&a) == 0 {
        parked.push(tokio::spawn(http_get(addr, HOST, "/echo", &[])));
        wait_until("a request arrived somewhere", || async {
            traffic(&a) + traffic(&b) >= parked.len()
        })
        .await;
    }
    wait_until("b is idle", || async {
        member(&e, &b.url()).await["outstanding"] == 0
    })
    .await;
    let b_before = traffic(&b);
    for _ in 0..5 {
        let resp = get(&e, "/echo").await;
        assert_eq!(served_by(&resp), b.addr.to_string());
    }
    assert_eq!(traffic(&b), b_before + 5);
    assert_eq!(traffic(&a), 1);
    assert_eq!(member(&e, &a.url()).await["outstanding"], 1);
    for p in parked {
        p.abort();
    }
}

#[tokio::test]
async fn a_member_at_its_request_limit_is_skipped_then_503() {
    let a = stub().await;
    a.set_fault(Some(StubFault::Hang));
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }]
max_requests_per_member = 1
"#,
        "pool",
        &[("a", a.url())],
    )
    .await;
    let parked = tokio::spawn(http_get(e.http_addr(), HOST, "/echo", &[]));
    wait_until("the first request is in flight", || async {
        traffic(&a) == 1
    })
    .await;
    let resp = get(&e, "/echo").await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["x-wedge-error"], "origin-overloaded");
    parked.abort();
}

#[tokio::test]
async fn hashing_keeps_a_user_on_one_member() {
    let stubs = [stub().await, stub().await, stub().await];
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }, { url = "{b}" }, { url = "{c}" }]
balance = "hash"
hash_on = "header:x-user"
"#,
        "pool",
        &[
            ("a", stubs[0].url()),
            ("b", stubs[1].url()),
            ("c", stubs[2].url()),
        ],
    )
    .await;
    let mut members_used = std::collections::HashSet::new();
    for user in 0..12 {
        let user = format!("user-{user}");
        let mut seen = std::collections::HashSet::new();
        for path in ["/echo/1", "/echo/2", "/echo/3"] {
            let resp = http_get(e.http_addr(), HOST, path, &[("x-user", &user)])
                .await
                .unwrap();
            seen.insert(served_by(&resp));
        }
        assert_eq!(seen.len(), 1, "{user} stays on one member");
        members_used.extend(seen);
    }
    assert!(members_used.len() >= 2, "users spread over members");
}

#[tokio::test]
async fn an_idle_origin_body_is_cut_off() {
    let a = stub().await;
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }]
idle_timeout_ms = 100
"#,
        "pool",
        &[("a", a.url())],
    )
    .await;
    // Chunks 10 s apart against a 100 ms idle timeout: the body breaks off.
    let result = http_get(e.http_addr(), HOST, "/slow/10000", &[]).await;
    assert!(
        result.is_err(),
        "the truncated body is an error for the viewer"
    );
}

#[tokio::test]
async fn http2_to_a_plain_origin_uses_prior_knowledge() {
    let a = stub().await;
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }]
http2 = true
"#,
        "pool",
        &[("a", a.url())],
    )
    .await;
    assert_eq!(get(&e, "/echo").await.status(), 200);
    assert_eq!(a.last().unwrap().version, http::Version::HTTP_2);
}

#[tokio::test]
async fn a_reload_stops_the_old_health_checker() {
    let a = stub().await;
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }]
[origins.pool.health_check]
path = "/health"
interval_ms = 20
timeout_ms = 20
"#,
        "pool",
        &[("a", a.url())],
    )
    .await;
    let checks = || a.received().iter().filter(|r| r.path == "/health").count();
    wait_until("checks run", || async { checks() >= 2 }).await;
    // Reload without the health check: the checks stop.
    let mut config = e.edge.snapshot().config.clone();
    config
        .origins
        .values_mut()
        .for_each(|p| p.health_check = None);
    e.edge.reload(config).await.unwrap();
    // The old checker is aborted when the old snapshot is dropped; wait until no
    // check arrives for a while (50 intervals), with a generous bound.
    let mut last = checks();
    let mut quiet = 0;
    for _ in 0..2000 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = checks();
        if now == last {
            quiet += 1;
            if quiet == 50 {
                return;
            }
        } else {
            quiet = 0;
            last = now;
        }
    }
    panic!("health checks kept running after the reload");
}

#[tokio::test]
async fn the_last_available_member_is_never_ejected() {
    let a = stub().await;
    a.set_fault(Some(StubFault::Status(500)));
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }]
outlier_detection = { consecutive_5xx = 2 }
"#,
        "pool",
        &[("a", a.url())],
    )
    .await;
    // The origin's own errors reach the viewer; the edge does not start refusing.
    for _ in 0..5 {
        assert_eq!(get(&e, "/echo").await.status(), 500);
    }
    assert_eq!(traffic(&a), 5);
    assert_eq!(member(&e, &a.url()).await["ejections"], 0);
    a.set_fault(None);
    assert_eq!(get(&e, "/echo").await.status(), 200);
}

#[tokio::test]
async fn a_reload_keeps_member_health() {
    let (a, b) = (stub().await, stub().await);
    a.set_fault(Some(StubFault::Status(503)));
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }, { url = "{b}" }]
outlier_detection = { consecutive_5xx = 1, base_ejection_ms = 600000 }
"#,
        "pool",
        &[("a", a.url()), ("b", b.url())],
    )
    .await;
    assert_eq!(get(&e, "/echo").await.status(), 200);
    assert_eq!(member(&e, &a.url()).await["available"], false);
    e.edge.reload_from_source().await.unwrap();
    // Still ejected under the new snapshot: no request reaches a.
    assert_eq!(member(&e, &a.url()).await["available"], false);
    for _ in 0..4 {
        assert_eq!(served_by(&get(&e, "/echo").await), b.addr.to_string());
    }
    assert_eq!(traffic(&a), 1);
}

#[tokio::test]
async fn a_member_dying_under_load_fails_no_get_and_comes_back() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let (a, b) = (stub().await, stub().await);
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }, { url = "{b}" }]
outlier_detection = { consecutive_connect_errors = 2, base_ejection_ms = 50, max_ejection_ms = 200 }
"#,
        "pool",
        &[("a", a.url()), ("b", b.url())],
    )
    .await;
    let stop = Arc::new(AtomicBool::new(false));
    let addr = e.http_addr();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let resp = http_get(addr, HOST, "/echo", &[]).await.unwrap();
                    statuses.push(resp.status().as_u16());
                }
                statuses
            })
        })
        .collect();
    wait_until("a serves", || async { traffic(&a) >= 5 }).await;
    // a starts dropping every connection, is ejected, re-admitted, ejected again...
    a.clear();
    a.set_fault(Some(StubFault::Reset));
    wait_until("a was ejected a few times", || async {
        member(&e, &a.url()).await["ejections"].as_u64().unwrap() >= 3
    })
    .await;
    // ... and comes back.
    a.set_fault(None);
    a.clear();
    wait_until("a serves again", || async { traffic(&a) >= 5 }).await;
    stop.store(true, Ordering::Relaxed);
    let mut statuses = Vec::new();
    for w in workers {
        statuses.extend(w.await.unwrap());
    }
    let failed = statuses.iter().filter(|&&s| s != 200).count();
    let s = status(&e).await;
    println!(
        "{} GETs while a member died and came back: {failed} failed, {} retries",
        statuses.len(),
        s["origins"][0]["retries"]
    );
    assert_eq!(
        failed, 0,
        "every GET to the dying member was retried on the other"
    );
}

#[tokio::test]
async fn a_body_that_stalls_counts_against_the_member() {
    let (a, b) = (stub().await, stub().await);
    let e = edge(
        r#"
[origins.pool]
members = [{ url = "{a}" }, { url = "{b}" }]
idle_timeout_ms = 100
outlier_detection = { consecutive_connect_errors = 1, base_ejection_ms = 600000 }
"#,
        "pool",
        &[("a", a.url()), ("b", b.url())],
    )
    .await;
    // The head arrives (200, a success), then the body stalls.
    // Chunks 10 s apart against a 100 ms idle timeout.
    assert!(
        http_get(e.http_addr(), HOST, "/slow/10000", &[])
            .await
            .is_err()
    );
    let m = member(&e, &a.url()).await;
    assert_eq!(m["ejections"], 1);
    assert_eq!(m["outstanding"], 0);
    assert_eq!(served_by(&get(&e, "/echo").await), b.addr.to_string());
}
