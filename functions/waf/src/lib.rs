//! waf: a web application firewall in the spirit of AWS WAF. A web ACL of rules is
//! evaluated by priority on `on_viewer_request`; each rule has a statement (IP sets,
//! string/regex matches with transformations, size constraints, detectors, labels,
//! rate limits, and/or/not) and an action (allow, block, count). A managed rule set of
//! the detectors is switched on with `managed = "block"`.
//!
//! ```toml
//! [functions.waf]
//! module = "waf.wasm"
//! config = { managed = "block", overrides = { managed-rce = "count" } }
//! ```
//!
//! The rules engine and the detectors live in the `waf-rules` crate (plain Rust that
//! also builds natively); this file only adapts the host's request and services to it.

use waf_rules::acl::{Acl, Action, Host, RateVerdict, Settings};
use wedge_sdk::{Config, ConfigError, Decision, Function, Hook, Request, Response};

/// The function: the compiled ACL.
pub struct Waf {
    acl: Acl,
}

/// Rate counters and rule metrics through the host.
struct HostCalls;

impl Host for HostCalls {
    fn rate_hit(&mut self, key: &str, window_ms: u32, limit: u32) -> RateVerdict {
        let v = wedge_sdk::ratelimit::hit(key, window_ms, limit);
        RateVerdict {
            allowed: v.allowed,
            retry_after_ms: v.retry_after_ms,
        }
    }
}

#[wedge_sdk::function]
impl Function for Waf {
    // Between requests the ACL keeps only detector verdicts on fields (paths, queries,
    // cookies, headers) it has seen (see `waf_rules::memo`): the same answers it would
    // work out again, so the host may reuse instances.
    const REUSE_INSTANCE: bool = true;

    fn new(config: &Config) -> Result<Self, ConfigError> {
        let settings: Settings = config.parse()?;
        let acl = Acl::new(settings).map_err(|p| ConfigError::new(p.field, p.message))?;
        Ok(Waf { acl })
    }

    // The verdict depends on these alone (and on rate counters, whose runs the host
    // never reuses), so the host replays it, with its log line and rule counts, for a
    // request it has seen before. The client's address and the body only where a rule
    // reads them; and, unless a rule tells bare argument values apart, the query's
    // shape, so that a request differing only in a cache-buster or an id reuses the
    // verdict too (the rare request whose verdict still depends on those says so).
    fn inputs(&self, hook: Hook) -> Option<Vec<String>> {
        if hook != Hook::ViewerRequest {
            return None;
        }
        let query = if self.acl.tells_bare_values_apart() {
            ":query"
        } else {
            ":query-shape"
        };
        let mut inputs = vec![":method", ":path", query, ":host", ":headers"];
        if self.acl.reads_client_ip {
            inputs.push(":client-ip");
        }
        if self.acl.reads_body {
            inputs.push(":body");
        }
        Some(inputs.into_iter().map(String::from).collect())
    }

    fn on_viewer_request(&mut self, req: &mut Request) -> Decision {
        // Method, path, query, host and headers in one host call, read in place.
        let head = req.head();
        let (method, path, query, host) = (head.method(), head.path(), head.query(), head.host());
        // Asked of the host only when a rule looks at it (IP sets, per-address rates).
        let ip = if self.acl.reads_client_ip {
            req.client_ip().parse().ok()
        } else {
            None
        };
        // The host buffers the body's start only when `inspect_body_kb` is set for this
        // function; rules see at most `body_limit` bytes of it.
        let body = if self.acl.reads_body {
            req.body()
        } else {
            None
        };
        let body = body
            .as_deref()
            .map(|b| &b[..b.len().min(self.acl.body_limit)]);
        let view = waf_rules::request::Inspect::new(
            method,
            path,
            query,
            host,
            head.headers().collect(),
            ip,
            body,
        );
        // Under `:query-shape` only: whether a run asks depends on the names alone (see
        // `bare_values_matter`), which the key holds, so a stored verdict is never one
        // that should not have been.
        if !self.acl.tells_bare_values_apart() && self.acl.bare_values_matter(query) {
            req.do_not_reuse();
        }
        let verdict = self.acl.evaluate(&view, &mut HostCalls);
        for m in &verdict.matches {
            wedge_sdk::rule_metrics::matched(&m.rule, m.action.as_str());
        }
        if let Some(block) = verdict.block {
            wedge_sdk::log::warn(&format!(
                "waf block rule={} status={} labels={} method={} path={}",
                block.rule,
                block.status,
                verdict.labels.join(","),
                method,
                path
            ));
            let mut resp = Response::new(block.status).body(block.body);
            for (k, v) in &block.headers {
                resp = resp.header(k, v);
            }
            return Decision::Respond(resp);
        }
        let counted: Vec<&str> = verdict
            .matches
            .iter()
            .filter(|m| m.action == Action::Count)
            .map(|m| m.rule.as_str())
            .collect();
        if !counted.is_empty() {
            wedge_sdk::log::info(&format!(
                "waf count rules={} labels={} path={}",
                counted.join(","),
                verdict.labels.join(","),
                path
            ));
        }
        if self.acl.forward_labels && (!verdict.labels.is_empty() || !counted.is_empty()) {
            let mut value = counted.join(",");
            for l in &verdict.labels {
                value.push(if value.is_empty() { ' ' } else { ',' });
                value.push_str(l);
            }
            req.set_header("x-wedge-waf-labels", value.trim());
        }
        Decision::Continue
    }
}
