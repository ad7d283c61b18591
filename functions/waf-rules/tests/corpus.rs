//! Detection and false-positive rates of the managed rule set on `../shared/corpora`
//! (attack payloads and CRS v4 regression rows) and on generated ordinary requests,
//! evaluated natively through the same ACL code the component runs. Skips, saying so,
//! when the corpora are not there; `WEDGE_CORPORA` points elsewhere.
//!
//! ```sh
//! cargo test --manifest-path functions/Cargo.toml -p waf-rules --release --test corpus -- --nocapture
//! ```
//!
//! `WAF_EVAL_DUMP=<file>` also writes every replayed case with wedge's verdict as JSON
//! lines (`benches/waf/modsec_compare.py` replays them through nginx + ModSecurity).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use waf_rules::acl::{Acl, NoRates, Settings};
use waf_rules::request::Inspect;

/// One request to replay.
struct Case {
    group: String,
    attack: bool,
    method: String,
    uri: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    label: String,
}

fn corpora() -> Option<PathBuf> {
    let dir = std::env::var_os("WEDGE_CORPORA")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpora")
        });
    dir.join("waf_payloads.jsonl").exists().then_some(dir)
}

/// Percent-encodes what cannot appear raw in a request line (all of it for raw
/// payloads; only spaces, quotes, brackets, `#` and non-ASCII for query-ready ones).
fn encode(s: &str, all: bool) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        let keep = if all {
            b.is_ascii_alphanumeric() || b"-._~".contains(&b)
        } else {
            b > 0x20 && b < 0x7f && !b"\"<>#`{}|\\^".contains(&b)
        };
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn browser_headers() -> Vec<(String, String)> {
    vec![
        ("host".into(), "api.localhost".into()),
        ("user-agent".into(), "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0 Safari/537.36".into()),
        ("accept".into(), "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8".into()),
        ("accept-language".into(), "en-GB,en;q=0.9,de;q=0.8".into()),
        ("accept-encoding".into(), "gzip, deflate, br".into()),
    ]
}

fn load(dir: &std::path::Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let text = std::fs::read_to_string(dir.join("waf_payloads.jsonl")).expect("readable");
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).expect("json");
        let payload = r["payload"].as_str().unwrap_or_default();
        let kind = r["kind"].as_str().unwrap_or_default();
        let raw = r["encoding"].as_str() == Some("raw");
        let group = if kind == "benign" {
            "payloads:benign-hard".to_owned()
        } else {
            format!("payloads:{kind}")
        };
        cases.push(Case {
            group,
            attack: r["expect_detect"].as_bool() == Some(true),
            method: "GET".into(),
            uri: format!("/search?q={}", encode(payload, raw)),
            headers: browser_headers(),
            body: None,
            label: payload.chars().take(120).collect(),
        });
    }
    let text = std::fs::read_to_string(dir.join("crs_tests.jsonl")).expect("readable");
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).expect("json");
        let family = r["family"].as_u64().unwrap_or(0);
        if r["paranoia_level"].as_u64() != Some(1) || !matches!(family, 913 | 930..=933 | 941 | 942)
        {
            continue;
        }
        let Some(expect) = r["expect_detect"].as_bool() else {
            continue;
        };
        let mut headers: Vec<(String, String)> = r["headers"]
            .as_object()
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str().unwrap_or("").to_owned()))
                    .collect()
            })
            .unwrap_or_default();
        let body = r["body"].as_str().map(|b| b.as_bytes().to_vec());
        if body.is_some() && !headers.iter().any(|(k, _)| k == "content-type") {
            headers.push((
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            ));
        }
        let uri = r["uri"].as_str().unwrap_or("/").to_owned();
        cases.push(Case {
            group: format!("crs:{family}"),
            attack: expect,
            method: r["method"].as_str().unwrap_or("GET").to_owned(),
            label: format!(
                "{} {} {}",
                r["rule_id"],
                uri.chars().take(100).collect::<String>(),
                r["body"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(100)
                    .collect::<String>()
            ),
            uri,
            headers,
            body,
        });
    }
    cases.extend(generated_benign());
    cases
}

/// Ordinary traffic: real-looking paths, searches, JSON bodies and form posts, with
/// the apostrophes, ampersands, angle brackets and SQL-ish words real people type.
fn generated_benign() -> Vec<Case> {
    let paths = [
        "/",
        "/index.html",
        "/products/shoes/running",
        "/api/v1/users/42",
        "/static/app.3f2a1c.js",
        "/images/logo@2x.png",
        "/blog/2024/05/how-to-select-a-database",
        "/docs/getting-started/",
        "/cart",
        "/checkout/step-2",
        "/search",
        "/api/v2/orders/9f8e7d6c/items",
        "/fonts/inter.woff2",
        "/en-gb/help/returns-and-refunds",
        "/wp-content/uploads/2023/01/photo.jpg",
        "/account/settings",
        "/feed.xml",
        "/robots.txt",
        "/sitemap.xml",
        "/api/graphql",
        "/download/report-2024-q1.pdf",
    ];
    let searches = [
        "running shoes",
        "O'Reilly books",
        "rock 'n' roll",
        "tom & jerry",
        "how to select from a list",
        "drop shipping",
        "union station chicago",
        "1 or 2 bedrooms",
        "c++ tutorial",
        "5 < 10 > 3",
        "\"exact phrase\"",
        "best price (2024)",
        "where is my order?",
        "café au lait",
        "niño",
        "delete account",
        "update iphone",
        "insert coin",
        "order by price",
        "script writing course",
        "alert system for cars",
        "javascript tutorial",
        "table lamp",
        "null pointer exception java",
        "1=1 meaning",
        "cat food",
        "ls 500 lexus",
        "50% off",
        "ben & jerry's",
        "she said 'hi'",
        "a-b testing",
        "SELECT model",
        "wget for windows",
        "php developer jobs",
        "eval function python",
        "what is sql injection",
        "x-men",
        "mother's day gifts",
        "don't stop me now",
        "#hashtag",
        "user@example.com",
        "+44 20 7946 0958",
        "rm -rf explained",
        "C:\\Users docs",
        "100$ gift card",
        "Ihre kleine Schwester",
        "ça va",
        "日本語",
        "a/b/c",
        "3.5mm jack",
        "1/2 cup sugar",
        "24/7 support",
    ];
    let jsons = [
        r#"{"name":"Ada Lovelace","email":"ada@example.com","age":36}"#,
        r#"{"query":"query { user(id: 42) { name orders { id total } } }"}"#,
        r#"{"items":[{"sku":"A-100","qty":2},{"sku":"B-7","qty":1}],"coupon":"SPRING24"}"#,
        r#"{"comment":"I can't believe it's not butter! <3","rating":5}"#,
        r#"{"title":"Select the best option","body":"Drop us a line if you have questions; we'll update the FAQ."}"#,
        r#"{"password":"c0rrect-h0rse-battery-staple","remember":true}"#,
        r#"{"address":{"street":"1 O'Connell St","city":"Dublin"}}"#,
    ];
    let forms = [
        "username=alice&password=s3cret%21&remember=on",
        "q=hello+world&page=2&sort=price_asc",
        "message=Hi%2C+I%27d+like+to+order+2+items+%26+a+gift+card.&email=bob%40example.org",
        "first_name=Se%C3%A1n&last_name=O%27Brien&country=IE",
        "comment=Great+post%21+The+part+about+%3Cdiv%3E+layout+was+useful.",
        "redirect=https%3A%2F%2Fwww.example.com%2Faccount&token=abc123",
        "amount=19.99&currency=EUR&note=for+the+1%2F2+share",
    ];
    let mut out = Vec::new();
    let mut n = 0;
    for (i, p) in paths.iter().enumerate() {
        for (j, s) in searches.iter().enumerate() {
            if (i + j) % 3 != 0 {
                continue;
            }
            n += 1;
            let mut headers = browser_headers();
            headers.push((
                "cookie".into(),
                format!(
                    "_ga=GA1.2.{}.1700000000; session=eyJ1c2VyIjo0Mn0.{n}; theme=dark",
                    1000 + n
                ),
            ));
            headers.push((
                "referer".into(),
                format!("https://www.example.com{p}?from=nav&q={}", encode(s, true)),
            ));
            out.push(Case {
                group: "generated:benign".into(),
                attack: false,
                method: "GET".into(),
                uri: format!(
                    "{p}?q={}&page={}&utm_source=newsletter",
                    encode(s, true),
                    j % 5 + 1
                ),
                headers,
                body: None,
                label: format!("GET {p} q={s}"),
            });
        }
    }
    for (i, body) in jsons.iter().chain(forms.iter()).enumerate() {
        for p in &paths[..10] {
            let mut headers = browser_headers();
            let json = body.starts_with('{');
            headers.push((
                "content-type".into(),
                if json {
                    "application/json".into()
                } else {
                    "application/x-www-form-urlencoded".into()
                },
            ));
            out.push(Case {
                group: "generated:benign".into(),
                attack: false,
                method: if i % 4 == 3 {
                    "PUT".into()
                } else {
                    "POST".into()
                },
                uri: p.to_string(),
                headers,
                body: Some(body.as_bytes().to_vec()),
                label: format!("POST {p} {body}"),
            });
        }
    }
    out
}

fn run(acl: &Acl, c: &Case, limit: usize) -> Option<String> {
    let (path, query) = match c.uri.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (c.uri.as_str(), None),
    };
    let body = c.body.as_deref().map(|b| &b[..b.len().min(limit)]);
    let view = Inspect::new(
        &c.method,
        path,
        query,
        "localhost",
        c.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect(),
        "192.0.2.10".parse().ok(),
        body,
    );
    acl.evaluate(&view, &mut NoRates).block.map(|b| b.rule)
}

#[test]
fn detection_and_false_positives() {
    let Some(dir) = corpora() else {
        eprintln!(
            "SKIPPED: ../shared/corpora not found (set WEDGE_CORPORA); no detection figures measured"
        );
        return;
    };
    let settings: Settings = serde_json::from_str(r#"{"managed":"block"}"#).unwrap();
    let acl = Acl::new(settings).unwrap();
    let cases = load(&dir);
    let verbose = std::env::var_os("WAF_EVAL_VERBOSE").is_some();
    let no_body = std::env::var_os("WAF_EVAL_NO_BODY").is_some();
    let limit = if no_body { 0 } else { acl.body_limit };
    // group -> (attack rows, blocked, benign rows, blocked benign)
    let mut stats: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    let started = Instant::now();
    for c in &cases {
        let blocked = run(&acl, c, limit);
        let s = stats.entry(c.group.clone()).or_default();
        if c.attack {
            s[0] += 1;
            s[1] += blocked.is_some() as usize;
            if blocked.is_none() && verbose {
                println!("MISS {} :: {}", c.group, c.label);
            }
        } else {
            s[2] += 1;
            s[3] += blocked.is_some() as usize;
            if let Some(rule) = blocked
                && verbose
            {
                println!("FP   {} [{rule}] :: {}", c.group, c.label);
            }
        }
    }
    let per_request = started.elapsed().as_secs_f64() * 1e6 / cases.len() as f64;
    if let Some(path) = std::env::var_os("WAF_EVAL_DUMP") {
        // Every replayed case and wedge's verdict (evaluated again, outside the timing).
        let mut out = String::new();
        for c in &cases {
            let rule = run(&acl, c, limit);
            let case = serde_json::json!({
                "group": c.group, "attack": c.attack, "method": c.method, "uri": c.uri,
                "headers": c.headers, "body": c.body.as_deref().map(String::from_utf8_lossy),
                "label": c.label, "wedge_blocked": rule.is_some(), "wedge_rule": rule,
            });
            out.push_str(&format!("{case}\n"));
        }
        std::fs::write(&path, out).expect("WAF_EVAL_DUMP writable");
        println!("wrote {} cases to {}", cases.len(), path.to_string_lossy());
    }
    let mut total = [0usize; 4];
    let mut crs = [0usize; 4];
    println!("| group | attacks | detected | rate | benign | false positives | FP rate |");
    println!("|---|---|---|---|---|---|---|");
    for (g, s) in &stats {
        for k in 0..4 {
            total[k] += s[k];
            if g.starts_with("crs:") {
                crs[k] += s[k];
            }
        }
        println!(
            "| {g} | {} | {} | {:.3} | {} | {} | {:.1} % |",
            s[0],
            s[1],
            ratio(s[1], s[0]),
            s[2],
            s[3],
            100.0 * ratio(s[3], s[2])
        );
    }
    println!(
        "| CRS PL1 rows | {} | {} | {:.3} | {} | {} | {:.1} % |",
        crs[0],
        crs[1],
        ratio(crs[1], crs[0]),
        crs[2],
        crs[3],
        100.0 * ratio(crs[3], crs[2])
    );
    println!(
        "| all | {} | {} | {:.3} | {} | {} | {:.2} % |",
        total[0],
        total[1],
        ratio(total[1], total[0]),
        total[2],
        total[3],
        100.0 * ratio(total[3], total[2])
    );
    println!(
        "native evaluation: {per_request:.1} µs per request (mean over {} requests)",
        cases.len()
    );
    // The goals of issue 8, against nginx + ModSecurity + CRS 3.3.4 at PL1 (0.966 of all
    // attack rows, 0.63 of the CRS PL1 rows, 16 of 207 hard negatives). CRS rows marked
    // not-to-detect are that one rule's negative tests (many are attacks another rule
    // should catch), so the false-positive bound is asserted on ordinary traffic.
    let g = |k: &str| stats.get(k).copied().unwrap_or_default();
    assert!(
        ratio(total[1], total[0]) > 0.98,
        "overall detection below ModSecurity's"
    );
    assert!(
        ratio(crs[1], crs[0]) > 0.78,
        "CRS PL1 detection below 0.78 (ModSecurity: 0.63)"
    );
    // Above ModSecurity in every family (measured on the same requests by
    // benches/waf/modsec_compare.py); CRS 913's three rows both catch.
    for (family, modsecurity) in [
        ("payloads:sqli", 8574.0 / 8620.0),
        ("payloads:xss", 0.992),
        ("payloads:traversal", 0.919),
        ("crs:930", 0.241),
        ("crs:931", 0.667),
        ("crs:932", 0.646),
        ("crs:933", 0.764),
        ("crs:941", 0.733),
        ("crs:942", 0.503),
    ] {
        let s = g(family);
        assert!(
            ratio(s[1], s[0]) > modsecurity,
            "{family} detection {:.3} not above ModSecurity's {modsecurity}",
            ratio(s[1], s[0])
        );
    }
    assert!(g("crs:913")[0] > 0, "no scanner rows read");
    assert_eq!(g("crs:913")[1], g("crs:913")[0], "a scanner row missed");
    assert!(
        g("payloads:benign-hard")[3] <= 1,
        "hard-negative false positives above 1 of 207 (ModSecurity: 16)"
    );
    assert_eq!(
        g("generated:benign")[3],
        0,
        "false positives on ordinary requests"
    );
    // The 13 left are CRS negative rows that are attacks (see README).
    assert!(
        total[3] <= 13,
        "more than 13 false positives over all benign rows"
    );
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}
