// TEMPORARY profiling driver, never commit.
use waf_rules::acl::{Acl, NoRates, Settings};
use waf_rules::request::Inspect;
fn main() {
    let ua = "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36";
    let s: Settings = serde_json::from_str(r#"{"managed":"block"}"#).unwrap();
    let acl = Acl::new(s).unwrap();
    let n: usize = std::env::args().nth(1).map(|a| a.parse().unwrap()).unwrap_or(1000);
    let mode = std::env::args().nth(2).unwrap_or("search".into());
    let queries: Vec<String> = (0..n).map(|i| if mode == "search" { format!("q=red+shoes+uris-{i}&page=search") } else { format!("q=uris-{i}&page=search") }).collect();
    for q in &queries {
        let headers: Vec<(&str, &str)> = vec![("host", "bench.test"), ("user-agent", ua)];
        let view = Inspect::new("GET", "/1k.html", Some(q), "bench.test", headers, None, None);
        std::hint::black_box(acl.evaluate(&view, &mut NoRates));
    }
}
