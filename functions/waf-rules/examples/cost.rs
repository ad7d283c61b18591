//! Native cost of evaluating the managed rule set on one ordinary request.
//! `cargo run --release -p waf-rules --example cost`

use std::time::Instant;
use waf_rules::acl::{Acl, NoRates, Settings};
use waf_rules::request::Inspect;

fn main() {
    let headers: Vec<(&str, &str)> = vec![
        ("host", "www.example.test"),
        ("user-agent", "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36"),
        ("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
        ("accept-language", "en-GB,en;q=0.9"),
        ("accept-encoding", "gzip, deflate, br"),
        ("cookie", "session=4f6b2c1e9a; theme=dark"),
    ];
    let n = 20_000;
    let t = Instant::now();
    for _ in 0..n {
        let s: Settings = serde_json_like();
        let _ = Acl::new(s).unwrap();
    }
    println!(
        "config + compile: {:.2} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let acl = Acl::new(serde_json_like()).unwrap();
    let t = Instant::now();
    for _ in 0..n {
        let view = Inspect::new(
            "GET",
            "/products/shoes",
            Some("color=red&size=42"),
            "www.example.test",
            headers.clone(),
            "198.51.100.7".parse().ok(),
            None,
        );
        assert!(acl.evaluate(&view, &mut NoRates).block.is_none());
    }
    println!(
        "evaluate: {:.2} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    for d in [
        "sqli",
        "xss",
        "traversal",
        "rfi",
        "rce",
        "php",
        "scanner",
        "protocol",
    ] {
        let s: Settings = serde_json::from_str(&format!(r#"{{"rules":[{{"id":"x","action":"block","statement":{{"detect":{{"detector":"{d}"}}}}}}]}}"#)).unwrap();
        let acl = Acl::new(s).unwrap();
        let t = Instant::now();
        for _ in 0..n {
            let view = Inspect::new(
                "GET",
                "/products/shoes",
                Some("color=red&size=42"),
                "www.example.test",
                headers.clone(),
                "198.51.100.7".parse().ok(),
                None,
            );
            assert!(acl.evaluate(&view, &mut NoRates).block.is_none());
        }
        println!("{d}: {:.2} µs", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    }
    let t = Instant::now();
    for _ in 0..n {
        let view = Inspect::new(
            "GET",
            "/products/shoes",
            Some("color=red&size=42"),
            "www.example.test",
            headers.clone(),
            "198.51.100.7".parse().ok(),
            None,
        );
        std::hint::black_box(view);
    }
    println!(
        "view only: {:.2} µs",
        t.elapsed().as_secs_f64() * 1e6 / n as f64
    );
    let view = Inspect::new(
        "GET",
        "/products/shoes",
        Some("color=red&size=42"),
        "www.example.test",
        headers.clone(),
        "198.51.100.7".parse().ok(),
        None,
    );
    for v in view.values(&waf_rules::request::Field::Headers) {
        for (name, f) in [
            ("sqli", waf_rules::sqli::is_sqli as fn(&str) -> bool),
            ("xss", waf_rules::xss::is_xss),
            ("trav", waf_rules::detect::is_traversal),
            ("rce", waf_rules::detect::is_rce),
            ("php", waf_rules::detect::is_php),
        ] {
            let t = Instant::now();
            for _ in 0..2000 {
                std::hint::black_box(f(std::hint::black_box(&v)));
            }
            println!(
                "{name} on {:.30}: {:.2} µs",
                v,
                t.elapsed().as_secs_f64() * 1e6 / 2000.0
            );
        }
    }
}

fn serde_json_like() -> Settings {
    Settings {
        managed: waf_rules::acl::Managed::Block,
        managed_priority: 1000,
        overrides: Default::default(),
        rules: Vec::new(),
        block_response: Default::default(),
        body_limit: 8192,
        forward_labels: true,
    }
}
