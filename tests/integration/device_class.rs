//! device-class through the real pipeline: agents of every class get CloudFront's headers,
//! and its accuracy on the labelled corpus (skipped when the corpus is absent).

use std::collections::BTreeMap;

use wedge::config::FunctionConfig;
use wedge::wasm::{EngineSettings, WasmEngine};
use wedge_tests::{TestEdge, corpora, function, load_function, request_view, viewer_request};

use crate::TWO_SITES;

const AGENTS: &[(&str, &str)] = &[
    (
        "desktop",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    ),
    (
        "desktop",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15",
    ),
    (
        "desktop",
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ),
    (
        "mobile",
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    ),
    (
        "mobile",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Mobile Safari/537.36",
    ),
    (
        "mobile",
        "Mozilla/5.0 (Linux; Android 13; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
    ),
    (
        "tablet",
        "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    ),
    (
        "tablet",
        "Mozilla/5.0 (Linux; Android 13; SM-X710) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    ),
    (
        "tablet",
        "Mozilla/5.0 (Linux; Android 11; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.2.1 like Chrome/124.0.6367.111 Safari/537.36",
    ),
    (
        "smarttv",
        "Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 TV Safari/537.36",
    ),
    (
        "smarttv",
        "Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/87.0.4280.88 Safari/537.36 WebAppManager",
    ),
    (
        "smarttv",
        "Mozilla/5.0 (Linux; Android 9; AFTKA Build/PS7624) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.230 Mobile Safari/537.36",
    ),
    (
        "bot",
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    ),
    (
        "bot",
        "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    ),
    ("bot", "curl/8.5.0"),
];

#[tokio::test]
async fn every_class_gets_cloudfront_headers() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    for (class, ua) in AGENTS {
        let resp = edge
            .get("www.example.test", "/echo", &[("user-agent", ua)])
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let h = &TestEdge::echo(&resp)["headers"];
        assert_eq!(h["x-device-class"], *class, "class of {ua}");
        let cf = if *class == "bot" { "desktop" } else { class };
        for c in ["desktop", "mobile", "tablet", "smarttv"] {
            let want = if c == cf { "true" } else { "false" };
            assert_eq!(
                h[format!("cloudfront-is-{c}-viewer")],
                want,
                "{c} header for {ua}"
            );
        }
    }
}

#[tokio::test]
async fn missing_user_agent_counts_as_desktop() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let resp = edge.get("www.example.test", "/echo", &[]).await.unwrap();
    let h = &TestEdge::echo(&resp)["headers"];
    assert_eq!(h["cloudfront-is-desktop-viewer"], "true");
}

#[tokio::test]
async fn viewer_supplied_device_headers_are_overwritten() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let resp = edge
        .get(
            "www.example.test",
            "/echo",
            &[
                ("user-agent", AGENTS[3].1),
                ("cloudfront-is-desktop-viewer", "true"),
            ],
        )
        .await
        .unwrap();
    let h = &TestEdge::echo(&resp)["headers"];
    assert_eq!(h["cloudfront-is-desktop-viewer"], "false");
    assert_eq!(h["cloudfront-is-mobile-viewer"], "true");
}

#[tokio::test]
async fn api_site_does_not_run_device_class() {
    let edge = TestEdge::start(TWO_SITES).await.unwrap();
    let resp = edge
        .get("api.example.test", "/echo", &[("user-agent", AGENTS[3].1)])
        .await
        .unwrap();
    assert!(
        TestEdge::echo(&resp)["headers"]
            .get("x-device-class")
            .is_none()
    );
}

/// Runs the compiled function over `ua_labelled.jsonl` and reports accuracy per class.
#[tokio::test]
async fn accuracy_on_the_labelled_corpus() {
    let Some(dir) = corpora() else {
        eprintln!("SKIPPED: ../shared/corpora not found; device-class accuracy not measured");
        return;
    };
    let text = std::fs::read_to_string(dir.join("ua_labelled.jsonl")).unwrap();
    let engine = WasmEngine::new(&EngineSettings::default()).unwrap();
    // No decision reuse: every agent runs through the component.
    let config = FunctionConfig {
        decision_cache: 0,
        ..FunctionConfig::new(function("device-class"))
    };
    let f = load_function(&engine, "device-class", &config);
    let mut per_class: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut right, mut total) = (0, 0);
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let (ua, want) = (row["ua"].as_str().unwrap(), row["class"].as_str().unwrap());
        let Ok(req) = http::Request::get("/").header("user-agent", ua).body(()) else {
            continue;
        };
        let view = request_view(req, "www.example.test");
        let view = viewer_request(&f, view).await;
        let got = view
            .parts
            .headers
            .get("x-device-class")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let e = per_class.entry(want.to_owned()).or_default();
        e.1 += 1;
        total += 1;
        if got == want {
            e.0 += 1;
            right += 1;
        }
    }
    let overall = right as f64 / total as f64;
    eprintln!("device-class accuracy on {total} agents: {overall:.4}");
    for (class, (r, n)) in &per_class {
        eprintln!("  {class:8} recall {:.4} ({r}/{n})", *r as f64 / *n as f64);
    }
    assert!(overall >= 0.965, "overall accuracy {overall:.4}");
    for (class, (r, n)) in &per_class {
        assert!(*r as f64 / *n as f64 >= 0.90, "{class} recall {r}/{n}");
    }
}
