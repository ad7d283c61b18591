//! `wedge test SPEC.toml`: function tests as data. A spec lists the functions (in
//! order, with config) and cases: a request, and what the viewer and the origin must
//! see. Paths in the spec are relative to it.
//!
//! ```toml
//! [[function]]
//! id = "device-class"
//! module = "../target/functions/wasm32-wasip2/release/device_class.wasm"
//!
//! [[case]]
//! name = "an iPhone is mobile"
//! path = "/echo"
//! headers = { user-agent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X)" }
//! expect = { status = 200, origin_headers = { cloudfront-is-mobile-viewer = "true" } }
//! ```

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;

use super::Harness;
use crate::pipeline::ConnectionInfo;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Spec {
    #[serde(default)]
    function: Vec<SpecFunction>,
    #[serde(default)]
    case: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecFunction {
    id: String,
    module: String,
    #[serde(default)]
    config: Option<toml::Table>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: String,
    #[serde(default = "default_method")]
    method: String,
    #[serde(default = "default_path")]
    path: String,
    #[serde(default)]
    host: Option<String>,
    /// `http` (default) or `https`.
    #[serde(default)]
    scheme: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    body: String,
    #[serde(default)]
    expect: Expect,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    status: Option<u16>,
    /// Response headers the viewer must get (value "" = must be absent).
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body_contains: Option<String>,
    /// Whether the request must reach the origin.
    origin_contacted: Option<bool>,
    origin_path: Option<String>,
    origin_query: Option<String>,
    /// Request headers the origin must receive (value "" = must be absent).
    #[serde(default)]
    origin_headers: BTreeMap<String, String>,
}

fn default_method() -> String {
    "GET".into()
}

fn default_path() -> String {
    "/echo".into()
}

/// The outcome of a spec run: a report line per case, and how many failed.
pub struct SpecReport {
    pub lines: Vec<String>,
    pub failed: usize,
    pub passed: usize,
}

/// Loads and runs a spec file.
pub async fn run_file(path: &Path) -> anyhow::Result<SpecReport> {
    let text =
        std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let spec: Spec = toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.message()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut harness = Harness::new();
    for f in &spec.function {
        let config = serde_json::to_value(f.config.clone().unwrap_or_default())?;
        harness = harness.function_with_config(&f.id, base.join(&f.module), config);
    }
    let run = harness
        .start()
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let mut report = SpecReport {
        lines: Vec::new(),
        failed: 0,
        passed: 0,
    };
    for case in &spec.case {
        let before = run.origin().received().len();
        let mut req = http::Request::builder()
            .method(case.method.as_str())
            .uri(case.path.as_str());
        req = req.header("host", case.host.as_deref().unwrap_or("test.local"));
        for (n, v) in &case.headers {
            req = req.header(n.as_str(), v.as_str());
        }
        let req = req
            .body(case.body.clone())
            .map_err(|e| anyhow::anyhow!("case {:?}: {e}", case.name))?;
        let mut conn = ConnectionInfo::plain(SocketAddr::from(([192, 0, 2, 10], 50000)));
        if case.scheme.as_deref() == Some("https") {
            conn.scheme = "https";
        }
        let resp = run.send_from(conn, req).await;
        let received = run.origin().received();
        let seen = received.get(before..).and_then(|r| r.last());
        let problems = check(&case.expect, &resp, seen);
        if problems.is_empty() {
            report.passed += 1;
            report.lines.push(format!("ok    {}", case.name));
        } else {
            report.failed += 1;
            report.lines.push(format!(
                "FAIL  {}\n      {}",
                case.name,
                problems.join("\n      ")
            ));
        }
    }
    Ok(report)
}

fn check(
    expect: &Expect,
    resp: &http::Response<bytes::Bytes>,
    seen: Option<&crate::stub_origin::RecordedRequest>,
) -> Vec<String> {
    let mut problems = Vec::new();
    if let Some(status) = expect.status
        && resp.status().as_u16() != status
    {
        problems.push(format!(
            "status: expected {status}, got {}",
            resp.status().as_u16()
        ));
    }
    for (name, want) in &expect.headers {
        let got = resp
            .headers()
            .get(name.as_str())
            .and_then(|v| v.to_str().ok());
        match (want.as_str(), got) {
            ("", None) => {}
            ("", Some(g)) => problems.push(format!(
                "response header {name}: expected absent, got {g:?}"
            )),
            (w, Some(g)) if w == g => {}
            (w, g) => problems.push(format!("response header {name}: expected {w:?}, got {g:?}")),
        }
    }
    if let Some(needle) = &expect.body_contains
        && !String::from_utf8_lossy(resp.body()).contains(needle.as_str())
    {
        problems.push(format!("body: expected to contain {needle:?}"));
    }
    if let Some(contacted) = expect.origin_contacted
        && contacted != seen.is_some()
    {
        problems.push(format!(
            "origin contacted: expected {contacted}, got {}",
            seen.is_some()
        ));
    }
    let needs_origin = expect.origin_path.is_some()
        || expect.origin_query.is_some()
        || !expect.origin_headers.is_empty();
    match seen {
        None if needs_origin => problems.push("origin: expected a request, none arrived".into()),
        None => {}
        Some(seen) => {
            if let Some(p) = &expect.origin_path
                && &seen.path != p
            {
                problems.push(format!("origin path: expected {p:?}, got {:?}", seen.path));
            }
            if let Some(q) = &expect.origin_query
                && seen.query.as_deref() != Some(q.as_str())
            {
                problems.push(format!(
                    "origin query: expected {q:?}, got {:?}",
                    seen.query
                ));
            }
            for (name, want) in &expect.origin_headers {
                match (want.as_str(), seen.header(name)) {
                    ("", None) => {}
                    ("", Some(g)) => {
                        problems.push(format!("origin header {name}: expected absent, got {g:?}"))
                    }
                    (w, Some(g)) if w == g => {}
                    (w, g) => {
                        problems.push(format!("origin header {name}: expected {w:?}, got {g:?}"))
                    }
                }
            }
        }
    }
    problems
}

impl SpecReport {
    /// The report as text, with a summary line.
    pub fn render(&self) -> String {
        let mut out = self.lines.join("\n");
        let _ = write!(out, "\n\n{} passed, {} failed", self.passed, self.failed);
        out
    }
}
