//! Origin request policies: which headers, cookies and query parameters reach the
//! origin, the Host rule and added headers; origin-request hooks run after the policy.

use wedge_tests::{TestEdge, http_get};

const CONFIG: &str = r#"
[origins.stub]
members = [{ url = "{stub}" }]

[origin_request_policies.strict]
headers = ["Accept-Language", "x-policy"]
cookies = ["session"]
query_strings = ["page"]
host = "origin"
add_headers = { "x-policy" = "policy" }

[origin_request_policies.nothing]
headers = "none"
cookies = "none"
query_strings = "none"
host = "backend.internal"

[functions.after]
module = "{functions}/header_forwarding.wasm"
config = { add = { x-policy = "function" } }

[[distributions]]
id = "strict"
aliases = ["strict.test"]
[distributions.default_behavior]
origin = "stub"
origin_request_policy = "strict"

[[distributions]]
id = "nothing"
aliases = ["nothing.test"]
[distributions.default_behavior]
origin = "stub"
origin_request_policy = "nothing"

[[distributions]]
id = "hooks"
aliases = ["hooks.test"]
[distributions.default_behavior]
origin = "stub"
origin_request_policy = "strict"
functions = ["after"]

[[distributions]]
id = "plain"
aliases = ["plain.test"]
[distributions.default_behavior]
origin = "stub"
"#;

const VIEWER: [(&str, &str); 4] = [
    ("accept-language", "fr"),
    ("user-agent", "test-agent"),
    ("cookie", "tracking=1; session=abc"),
    ("x-policy", "spoofed"),
];

#[tokio::test]
async fn an_allowlist_policy_forwards_only_what_it_names() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    let resp = http_get(
        edge.http_addr(),
        "strict.test",
        "/echo?page=2&utm=x",
        &VIEWER,
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let got = edge.origin.last().unwrap();
    assert_eq!(got.query.as_deref(), Some("page=2"));
    assert_eq!(got.header("accept-language"), Some("fr"));
    assert_eq!(got.header("user-agent"), None);
    assert_eq!(got.header("cookie"), Some("session=abc"));
    assert_eq!(
        got.header("x-policy"),
        Some("policy"),
        "added, replacing the viewer's"
    );
    // host = "origin": the member's own authority.
    assert_eq!(
        got.header("host"),
        Some(edge.origin.addr.to_string().as_str())
    );
    // The edge's proxy headers are added after the policy.
    assert_eq!(got.header("x-forwarded-host"), Some("strict.test"));
    assert!(got.header("x-forwarded-for").is_some());
}

#[tokio::test]
async fn a_none_policy_forwards_no_viewer_headers_cookies_or_query() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    http_get(edge.http_addr(), "nothing.test", "/echo?page=2", &VIEWER)
        .await
        .unwrap();
    let got = edge.origin.last().unwrap();
    assert_eq!(got.query, None);
    assert_eq!(got.header("host"), Some("backend.internal"));
    for name in ["accept-language", "user-agent", "cookie", "x-policy"] {
        assert_eq!(got.header(name), None, "{name}");
    }
}

#[tokio::test]
async fn origin_request_hooks_run_after_the_policy() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    http_get(edge.http_addr(), "hooks.test", "/echo", &VIEWER)
        .await
        .unwrap();
    let got = edge.origin.last().unwrap();
    assert_eq!(got.header("x-policy"), Some("function"));
    assert_eq!(got.header("user-agent"), None, "the policy still applied");
}

#[tokio::test]
async fn without_a_policy_everything_is_forwarded() {
    let edge = TestEdge::start(CONFIG).await.unwrap();
    http_get(
        edge.http_addr(),
        "plain.test",
        "/echo?page=2&utm=x",
        &VIEWER,
    )
    .await
    .unwrap();
    let got = edge.origin.last().unwrap();
    assert_eq!(got.query.as_deref(), Some("page=2&utm=x"));
    assert_eq!(got.header("cookie"), Some("tracking=1; session=abc"));
    assert_eq!(got.header("host"), Some("plain.test"));
    assert_eq!(got.header("x-policy"), Some("spoofed"));
}
