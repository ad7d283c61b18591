//! Decision reuse: a function that declares its viewer-request inputs runs once per
//! distinct input; later requests get its recorded edits and decision replayed. Reads
//! outside the declaration are caught and stop reuse.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use wedge_tests::{TestEdge, send};

const MEMO: &str = r#"
[origins.stub]
members = [{ url = "{stub}" }]

[functions.memo]
module = "{functions}/memo.wasm"

[functions.memo-off]
module = "{functions}/memo.wasm"
decision_cache = 0

[[distributions]]
id = "on"
aliases = ["on.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["memo"]

[[distributions]]
id = "off"
aliases = ["off.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["memo-off"]
"#;

/// Sends a request and returns the nonce the function stamped on it (from the origin's
/// view, or from the response when the function answered).
async fn nonce(edge: &TestEdge, host: &str, input: &str) -> String {
    let req = Request::get("/echo")
        .header("host", host)
        .header("x-input", input)
        .header("x-remove-me", "1")
        .body(Full::<Bytes>::default())
        .unwrap();
    let resp = send(edge.http_addr(), None, req).await.unwrap();
    assert_eq!(resp.status(), 200);
    if let Some(n) = resp.headers().get("x-nonce") {
        return n.to_str().unwrap().to_owned();
    }
    let seen = edge.origin.last().unwrap();
    assert_eq!(
        seen.header("x-remove-me"),
        None,
        "the recorded removal is replayed too"
    );
    seen.header("x-nonce").unwrap().to_owned()
}

#[tokio::test]
async fn same_inputs_reuse_the_decision_and_different_inputs_do_not() {
    let edge = TestEdge::start(MEMO).await.unwrap();
    // A key's first sighting runs unrecorded (the doorkeeper), the second is recorded,
    // the third and later are replays.
    let a0 = nonce(&edge, "on.test", "a").await;
    let a1 = nonce(&edge, "on.test", "a").await;
    let a2 = nonce(&edge, "on.test", "a").await;
    let a3 = nonce(&edge, "on.test", "a").await;
    let b = nonce(&edge, "on.test", "b").await;
    assert_ne!(a0, a1, "the first sighting is not stored");
    assert_eq!(a1, a2, "the recorded outcome is replayed");
    assert_eq!(a2, a3);
    assert_ne!(a1, b, "another input runs the function");
}

#[tokio::test]
async fn synthetic_answers_are_reused_too() {
    let edge = TestEdge::start(MEMO).await.unwrap();
    nonce(&edge, "on.test", "answer").await;
    let recorded = nonce(&edge, "on.test", "answer").await;
    assert_eq!(recorded, nonce(&edge, "on.test", "answer").await);
    assert!(edge.origin.received().is_empty());
}

#[tokio::test]
async fn reading_outside_the_declared_inputs_stops_reuse() {
    let edge = TestEdge::start(MEMO).await.unwrap();
    let p1 = nonce(&edge, "on.test", "peek").await;
    let p2 = nonce(&edge, "on.test", "peek").await;
    let p3 = nonce(&edge, "on.test", "peek").await;
    assert!(
        p1 != p2 && p2 != p3,
        "a function that read the path is run every time"
    );
}

#[tokio::test]
async fn reuse_can_be_turned_off() {
    let edge = TestEdge::start(MEMO).await.unwrap();
    let a1 = nonce(&edge, "off.test", "a").await;
    let a2 = nonce(&edge, "off.test", "a").await;
    assert_ne!(a1, a2);
}
