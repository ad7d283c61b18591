//! The web ACL: config (serde), compiled rules, and their evaluation against a request.
//! Plain Rust with no host calls except through [`Host`], so the same code runs in the
//! component and natively in tests and the corpus evaluation.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Deserialize;

use crate::memo::Sighting;
use crate::request::{Field, Inspect, Source};
use crate::transform::{self, Transform};
use crate::{detect, sqli, xss};

/// What a matching rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Stop evaluating; let the request through.
    Allow,
    /// Stop evaluating; answer with the block response.
    Block,
    /// Record the match (labels, log, metrics) and go on.
    Count,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Block => "block",
            Action::Count => "count",
        }
    }
}

/// How the managed rule set runs: one line of config switches it on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Managed {
    #[default]
    Off,
    Block,
    Count,
}

/// `[functions.waf.config]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The managed rule set: `"off"` (default), `"block"` or `"count"`.
    #[serde(default)]
    pub managed: Managed,
    /// Priority of the managed rules among yours (lower runs first). Default 1000.
    #[serde(default = "default_managed_priority")]
    pub managed_priority: i32,
    /// Per managed rule id, an action replacing the set's (`{ "managed-rce" = "count" }`).
    #[serde(default)]
    pub overrides: BTreeMap<String, Action>,
    /// Your rules.
    #[serde(default)]
    pub rules: Vec<RuleConfig>,
    /// The answer for blocked requests (rules may have their own).
    #[serde(default)]
    pub block_response: ResponseConfig,
    /// Bytes of request body inspected (the rest is not). Default 8192, at most 1 MiB.
    #[serde(default = "default_body_limit")]
    pub body_limit: u32,
    /// Add `x-wedge-waf-labels` to the request the origin gets when rules counted or
    /// labelled it. Default true.
    #[serde(default = "yes")]
    pub forward_labels: bool,
}

fn default_managed_priority() -> i32 {
    1000
}
fn default_body_limit() -> u32 {
    8192
}
fn yes() -> bool {
    true
}

/// One rule of the ACL.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub id: String,
    /// Lower runs first; ties keep config order.
    #[serde(default)]
    pub priority: i32,
    pub action: Action,
    pub statement: Statement,
    /// Labels added to the request when the rule matches (later rules can match them).
    #[serde(default)]
    pub labels: Vec<String>,
    /// Overrides `block_response` for this rule.
    #[serde(default)]
    pub response: Option<ResponseConfig>,
}

/// A custom block response.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseConfig {
    pub status: u16,
    pub body: String,
    pub headers: BTreeMap<String, String>,
}

impl Default for ResponseConfig {
    fn default() -> Self {
        ResponseConfig {
            status: 403,
            body: "Forbidden\n".to_owned(),
            headers: BTreeMap::new(),
        }
    }
}

/// What a rule matches.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Statement {
    /// The client address is in one of these CIDR blocks (v4 or v6).
    IpSet(Vec<String>),
    /// A field (after transforms) compared with a string or a regex.
    Match(MatchConfig),
    /// The length of a field compared with a size.
    Size(SizeConfig),
    /// One of the detectors over fields (default fields: the detector's own).
    Detect(DetectConfig),
    /// A label an earlier rule added.
    Label(String),
    /// More than `limit` requests with the same key within `window_ms` (counted by the
    /// host across all requests). Put it last in an `and` to scope it down.
    Rate(RateConfig),
    And(Vec<Statement>),
    Or(Vec<Statement>),
    Not(Box<Statement>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    pub field: Field,
    #[serde(default)]
    pub transforms: Vec<Transform>,
    pub op: MatchOp,
    pub value: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchOp {
    Exact,
    Contains,
    StartsWith,
    EndsWith,
    Regex,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeConfig {
    pub field: Field,
    pub op: SizeOp,
    pub size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SizeOp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    pub detector: Detector,
    #[serde(default)]
    pub fields: Option<Vec<Field>>,
}

/// The built-in detectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detector {
    Sqli,
    Xss,
    Traversal,
    Rfi,
    Rce,
    Php,
    Scanner,
    Protocol,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateConfig {
    /// `"ip"`, `"path"` or `"header:<name>"`.
    pub key: RateKey,
    pub window_ms: u32,
    pub limit: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum RateKey {
    Ip,
    Path,
    Header(String),
}

impl TryFrom<String> for RateKey {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "ip" => Ok(RateKey::Ip),
            "path" => Ok(RateKey::Path),
            _ => match s.strip_prefix("header:") {
                Some(h) if !h.is_empty() => Ok(RateKey::Header(h.to_ascii_lowercase())),
                _ => Err(format!(
                    "`{s}` is not a rate key (\"ip\", \"path\" or \"header:<name>\")"
                )),
            },
        }
    }
}

/// The result of a rate check from the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateVerdict {
    pub allowed: bool,
    pub retry_after_ms: u32,
}

/// What the ACL needs from its environment.
pub trait Host {
    /// Counts one request for `key` in a window; says whether it is within `limit`.
    fn rate_hit(&mut self, key: &str, window_ms: u32, limit: u32) -> RateVerdict;
}

/// A host without rate counters (every hit allowed): for native evaluation, tests and
/// benchmarks.
pub struct NoRates;

impl Host for NoRates {
    fn rate_hit(&mut self, _: &str, _: u32, _: u32) -> RateVerdict {
        RateVerdict {
            allowed: true,
            retry_after_ms: 0,
        }
    }
}

/// Why a config is refused: field path and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub field: String,
    pub message: String,
}

fn problem(field: impl Into<String>, message: impl Into<String>) -> ConfigProblem {
    ConfigProblem {
        field: field.into(),
        message: message.into(),
    }
}

// ---------------------------------------------------------------- compiled form

#[derive(Debug)]
enum Cond {
    Ip(Vec<(IpAddr, u8)>),
    Match {
        field: Field,
        transforms: Vec<Transform>,
        op: MatchOp,
        value: String,
        regex: Option<regex::Regex>,
    },
    Size {
        field: Field,
        op: SizeOp,
        size: u64,
    },
    Detect(Detector, Vec<Detected>),
    Label(String),
    Rate {
        key: RateKey,
        window_ms: u32,
        limit: u32,
    },
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

/// A field a detector reads, and its slot: its index among the ACL's distinct detected
/// fields, by which an evaluation keeps the field's values and the verdicts on it (the
/// same field in several rules shares one slot).
#[derive(Debug)]
struct Detected {
    field: Field,
    slot: usize,
}

impl Detected {
    fn list(fields: Vec<Field>) -> Vec<Detected> {
        fields
            .into_iter()
            .map(|field| Detected { field, slot: 0 })
            .collect()
    }
}

/// How many detectors there are (the per-evaluation verdict table's width).
const DETECTORS: usize = 8;
const _: () = assert!(Detector::Protocol as usize + 1 == DETECTORS);

#[derive(Debug)]
struct Rule {
    id: String,
    priority: i32,
    action: Action,
    cond: Cond,
    labels: Vec<String>,
    response: Option<ResponseConfig>,
}

/// A compiled web ACL.
#[derive(Debug)]
pub struct Acl {
    rules: Vec<Rule>,
    block: ResponseConfig,
    pub body_limit: usize,
    pub forward_labels: bool,
    /// Whether any rule reads the body (so the host need not be asked for it).
    pub reads_body: bool,
    /// Whether any rule looks at the client's address (likewise).
    pub reads_client_ip: bool,
    /// Whether some rule tells apart bare argument values (see [`Acl::bare_values_matter`]).
    tells_bare_values_apart: bool,
    /// Whether a detector reads the whole query.
    detects_in_query: bool,
    /// How many distinct fields detectors read (see [`Detected`]).
    detected_fields: usize,
    /// Detector verdicts on fields whose source was seen before.
    verdicts: crate::memo::FieldVerdicts,
}

/// One rule that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub rule: String,
    pub action: Action,
}

/// The outcome of evaluating the ACL.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Every rule that matched, in evaluation order (the terminating one last).
    pub matches: Vec<Match>,
    pub labels: Vec<String>,
    /// Set when a rule blocked: the response to send.
    pub block: Option<BlockResponse>,
}

/// A block, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockResponse {
    pub rule: String,
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

/// The managed rule set: id, detector, labels. Each detector brings its own fields.
pub const MANAGED: &[(&str, Detector, &str)] = &[
    (
        "managed-scanner",
        Detector::Scanner,
        "wedge:managed:scanner",
    ),
    (
        "managed-protocol",
        Detector::Protocol,
        "wedge:managed:protocol",
    ),
    (
        "managed-traversal",
        Detector::Traversal,
        "wedge:managed:traversal",
    ),
    ("managed-rfi", Detector::Rfi, "wedge:managed:rfi"),
    ("managed-rce", Detector::Rce, "wedge:managed:rce"),
    ("managed-php", Detector::Php, "wedge:managed:php"),
    ("managed-xss", Detector::Xss, "wedge:managed:xss"),
    ("managed-sqli", Detector::Sqli, "wedge:managed:sqli"),
];

fn default_fields(d: Detector) -> Vec<Field> {
    use Field::*;
    match d {
        // Referer and User-Agent hold URLs and product tokens whose punctuation reads as
        // SQL too easily; their arguments are what matter, and those are in `args` when
        // they reach this site.
        Detector::Sqli => vec![Args, ArgNames, Cookies, Path, Body],
        // The whole query too: a raw `&` in a payload (`<img src=&#106;...`) splits it
        // into arguments that are harmless one by one.
        Detector::Xss => vec![
            Args,
            ArgNames,
            Cookies,
            Path,
            Query,
            Header("referer".into()),
            Header("user-agent".into()),
            Body,
        ],
        Detector::Traversal => vec![Path, Args, Cookies, Body],
        Detector::Rfi => vec![Args, Body],
        // Not argument names: `id`, `pwd` and `uname` are ordinary ones.
        // Headers where commands travel (Shellshock rides User-Agent and Referer); the
        // Accept family is syntax-heavy and never reaches a shell.
        Detector::Rce => vec![
            Args,
            Cookies,
            Header("user-agent".into()),
            Header("referer".into()),
            Header("x-forwarded-for".into()),
            Body,
        ],
        Detector::Php => vec![Args, ArgNames, Cookies, Body, Header("user-agent".into())]
            .into_iter()
            .chain(UPLOAD_NAME_HEADERS.map(|h| Header(h.into())))
            .collect(),
        Detector::Scanner => vec![Header("user-agent".into())],
        Detector::Protocol => vec![Args],
    }
}

impl Acl {
    /// Compiles settings; errors name the config field.
    pub fn new(s: Settings) -> Result<Acl, ConfigProblem> {
        let mut rules = Vec::new();
        for (i, r) in s.rules.into_iter().enumerate() {
            let at = format!("rules[{i}]");
            if r.id.is_empty() || r.id.starts_with("managed-") {
                return Err(problem(
                    format!("{at}.id"),
                    "must be non-empty and not start with `managed-`",
                ));
            }
            if rules.iter().any(|x: &Rule| x.id == r.id) {
                return Err(problem(
                    format!("{at}.id"),
                    format!("duplicate rule id `{}`", r.id),
                ));
            }
            if let Some(resp) = &r.response {
                check_response(resp, &format!("{at}.response"))?;
            }
            let cond = compile(r.statement, &format!("{at}.statement"))?;
            rules.push(Rule {
                id: r.id,
                priority: r.priority,
                action: r.action,
                cond,
                labels: r.labels,
                response: r.response,
            });
        }
        for id in s.overrides.keys() {
            if !MANAGED.iter().any(|(m, _, _)| m == id) {
                let known: Vec<&str> = MANAGED.iter().map(|m| m.0).collect();
                return Err(problem(
                    format!("overrides.{id}"),
                    format!("no managed rule `{id}` (known: {})", known.join(", ")),
                ));
            }
        }
        if s.managed != Managed::Off {
            let action = if s.managed == Managed::Block {
                Action::Block
            } else {
                Action::Count
            };
            for (id, d, label) in MANAGED {
                let fields = default_fields(*d);
                rules.push(Rule {
                    id: (*id).to_owned(),
                    priority: s.managed_priority,
                    action: s.overrides.get(*id).copied().unwrap_or(action),
                    cond: Cond::Detect(*d, Detected::list(fields)),
                    labels: vec![(*label).to_owned()],
                    response: None,
                });
            }
        }
        // Stable: equal priorities keep config order (managed rules after yours).
        rules.sort_by_key(|r| r.priority);
        let mut detected = Vec::new();
        for r in &mut rules {
            r.cond.assign_slots(&mut detected);
        }
        // The detectors' automata are built now, so that they are in the function's
        // snapshot, but only when some rule will use them.
        if rules.iter().any(|r| r.cond.detects()) {
            crate::xss::prepare();
            crate::detect::prepare();
        }
        check_response(&s.block_response, "block_response")?;
        if s.body_limit > 1 << 20 {
            return Err(problem("body_limit", "at most 1048576 bytes"));
        }
        let reads_body = rules.iter().any(|r| r.cond.reads_body());
        let reads_client_ip = rules.iter().any(|r| r.cond.reads_client_ip());
        let tells_bare_values_apart = rules.iter().any(|r| r.cond.tells_bare_values_apart());
        let detects_in_query = rules.iter().any(|r| {
            r.cond.any(&|c| {
                matches!(c, Cond::Detect(_, fields) if fields.iter().any(|d| d.field == Field::Query))
            })
        });
        Ok(Acl {
            rules,
            block: s.block_response,
            body_limit: s.body_limit as usize,
            forward_labels: s.forward_labels,
            reads_body,
            reads_client_ip,
            tells_bare_values_apart,
            detects_in_query,
            detected_fields: detected.len(),
            verdicts: Default::default(),
        })
    }

    /// Whether the verdict on a request with this query can depend on which bare token
    /// (letters, digits, `_`, `-`) an argument holds, rather than only on there being
    /// one. Detectors find nothing in a bare value, so only a rule that matches or
    /// measures the query or the arguments, or looks for scanners in them, tells two
    /// apart ([`Acl::tells_bare_values_apart`]); or a detector reading the whole query,
    /// which it does only where an entity's `&` may have split a payload. That depends
    /// only on the text right after each `&`, an argument's name, so two queries that
    /// differ only in bare values always get the same answer here. (The host reuses
    /// verdicts across requests that differ only in such tokens where this is false.)
    pub fn bare_values_matter(&self, query: Option<&str>) -> bool {
        self.tells_bare_values_apart
            || (self.detects_in_query && query.is_some_and(query_has_entity))
    }

    /// Whether some rule tells bare argument values apart in every request (see
    /// [`Acl::bare_values_matter`]).
    pub fn tells_bare_values_apart(&self) -> bool {
        self.tells_bare_values_apart
    }

    /// Evaluates the rules in priority order.
    pub fn evaluate(&self, req: &Inspect<'_>, host: &mut dyn Host) -> Verdict {
        let mut v = Verdict::default();
        let mut cache = Cache {
            seen: vec![Seen::NotYet; self.detected_fields * DETECTORS],
            fields: std::iter::repeat_with(FieldValues::default)
                .take(self.detected_fields)
                .collect(),
            verdicts: &self.verdicts,
        };
        for rule in &self.rules {
            let mut rate_block = None;
            if !eval(
                &rule.cond,
                req,
                host,
                &v.labels,
                &mut rate_block,
                &rule.id,
                &mut cache,
            ) {
                continue;
            }
            for l in &rule.labels {
                if !v.labels.contains(l) {
                    v.labels.push(l.clone());
                }
            }
            v.matches.push(Match {
                rule: rule.id.clone(),
                action: rule.action,
            });
            match rule.action {
                Action::Count => continue,
                Action::Allow => return v,
                Action::Block => {
                    let mut resp = match (&rule.response, rate_block) {
                        (Some(r), _) => to_block(&rule.id, r),
                        // A rate rule without its own response answers 429.
                        (None, Some(_)) => BlockResponse {
                            rule: rule.id.clone(),
                            status: 429,
                            body: "Too Many Requests\n".into(),
                            headers: Vec::new(),
                        },
                        (None, None) => to_block(&rule.id, &self.block),
                    };
                    if let Some(ms) = rate_block {
                        resp.headers
                            .push(("retry-after".into(), ms.div_ceil(1000).max(1).to_string()));
                    }
                    resp.headers
                        .push(("x-wedge-waf-rule".into(), rule.id.clone()));
                    v.block = Some(resp);
                    return v;
                }
            }
        }
        v
    }
}

impl Cond {
    /// Whether anything in this statement satisfies `leaf`.
    fn any(&self, leaf: &dyn Fn(&Cond) -> bool) -> bool {
        match self {
            Cond::And(v) | Cond::Or(v) => v.iter().any(|c| c.any(leaf)),
            Cond::Not(c) => c.any(leaf),
            c => leaf(c),
        }
    }

    /// Whether a detector runs anywhere in this statement.
    fn detects(&self) -> bool {
        self.any(&|c| matches!(c, Cond::Detect(..)))
    }

    /// Whether this statement looks at the body.
    fn reads_body(&self) -> bool {
        self.any(&|c| match c {
            Cond::Match { field, .. } | Cond::Size { field, .. } => *field == Field::Body,
            Cond::Detect(_, fields) => fields.iter().any(|d| d.field == Field::Body),
            _ => false,
        })
    }

    /// Whether this statement can tell two bare argument values apart.
    fn tells_bare_values_apart(&self) -> bool {
        let bare_args = |f: &Field| matches!(f, Field::Query | Field::Args);
        self.any(&|c| match c {
            Cond::Match { field, .. } | Cond::Size { field, .. } => bare_args(field),
            Cond::Detect(Detector::Scanner, fields) => fields.iter().any(|d| bare_args(&d.field)),
            _ => false,
        })
    }

    /// Whether this statement looks at the client's address.
    fn reads_client_ip(&self) -> bool {
        self.any(&|c| {
            matches!(
                c,
                Cond::Ip(_)
                    | Cond::Rate {
                        key: RateKey::Ip,
                        ..
                    }
            )
        })
    }

    /// Gives each detected field its slot among `distinct`, adding the new ones.
    fn assign_slots(&mut self, distinct: &mut Vec<Field>) {
        match self {
            Cond::Detect(_, fields) => {
                for d in fields {
                    d.slot = match distinct.iter().position(|f| *f == d.field) {
                        Some(i) => i,
                        None => {
                            distinct.push(d.field.clone());
                            distinct.len() - 1
                        }
                    };
                }
            }
            Cond::And(v) | Cond::Or(v) => v.iter_mut().for_each(|c| c.assign_slots(distinct)),
            Cond::Not(c) => c.assign_slots(distinct),
            _ => {}
        }
    }
}

fn to_block(rule: &str, r: &ResponseConfig) -> BlockResponse {
    BlockResponse {
        rule: rule.to_owned(),
        status: r.status,
        body: r.body.clone(),
        headers: r
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn check_response(r: &ResponseConfig, at: &str) -> Result<(), ConfigProblem> {
    if !(200..=599).contains(&r.status) {
        return Err(problem(format!("{at}.status"), "must be 200-599"));
    }
    for name in r.headers.keys() {
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err(problem(format!("{at}.headers.{name}"), "not a header name"));
        }
    }
    Ok(())
}

fn compile(s: Statement, at: &str) -> Result<Cond, ConfigProblem> {
    Ok(match s {
        Statement::IpSet(list) => {
            let mut nets = Vec::new();
            for (i, c) in list.iter().enumerate() {
                nets.push(parse_cidr(c).ok_or_else(|| {
                    problem(
                        format!("{at}.ip_set[{i}]"),
                        format!("`{c}` is not an IP address or CIDR block"),
                    )
                })?);
            }
            Cond::Ip(nets)
        }
        Statement::Match(m) => {
            let regex = if m.op == MatchOp::Regex {
                Some(
                    regex::RegexBuilder::new(&m.value)
                        .size_limit(1 << 20)
                        .build()
                        .map_err(|e| {
                            problem(format!("{at}.match.value"), format!("invalid regex: {e}"))
                        })?,
                )
            } else {
                None
            };
            Cond::Match {
                field: m.field,
                transforms: m.transforms,
                op: m.op,
                value: m.value,
                regex,
            }
        }
        Statement::Size(z) => Cond::Size {
            field: z.field,
            op: z.op,
            size: z.size,
        },
        Statement::Detect(d) => {
            let fields = d.fields.unwrap_or_else(|| default_fields(d.detector));
            Cond::Detect(d.detector, Detected::list(fields))
        }
        Statement::Label(l) => Cond::Label(l),
        Statement::Rate(r) => {
            if r.window_ms == 0 || r.window_ms > 3_600_000 {
                return Err(problem(
                    format!("{at}.rate.window_ms"),
                    "must be 1..=3600000",
                ));
            }
            if r.limit == 0 {
                return Err(problem(format!("{at}.rate.limit"), "must be at least 1"));
            }
            Cond::Rate {
                key: r.key,
                window_ms: r.window_ms,
                limit: r.limit,
            }
        }
        Statement::And(v) => Cond::And(
            v.into_iter()
                .enumerate()
                .map(|(i, s)| compile(s, &format!("{at}.and[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Statement::Or(v) => Cond::Or(
            v.into_iter()
                .enumerate()
                .map(|(i, s)| compile(s, &format!("{at}.or[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Statement::Not(s) => Cond::Not(Box::new(compile(*s, &format!("{at}.not"))?)),
    })
}

/// `10.0.0.0/8`, `2001:db8::/32`, or a single address.
pub fn parse_cidr(s: &str) -> Option<(IpAddr, u8)> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a.parse::<IpAddr>().ok()?, Some(l.parse::<u8>().ok()?)),
        None => (s.parse::<IpAddr>().ok()?, None),
    };
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = len.unwrap_or(max);
    (len <= max).then_some((addr, len))
}

/// Whether `ip` is inside `net/len` (v4-mapped v6 addresses count as v4).
pub fn in_cidr(ip: IpAddr, net: IpAddr, len: u8) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let mask = if len == 0 {
                0
            } else {
                u128::MAX << (128 - len)
            };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

/// Within one evaluation, detector results per (detector, field) and the values of each
/// field, prepared once for the detectors: the managed set and custom rules often ask the
/// same question, and several detectors read the same field.
struct Cache<'c, 'r> {
    /// By slot and detector.
    seen: Vec<Seen>,
    /// By slot, filled in as detectors ask.
    fields: Vec<FieldValues<'r>>,
    verdicts: &'c crate::memo::FieldVerdicts,
}

/// A detector's verdict on a field within one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    NotYet,
    Clean,
    Hit,
}

/// What one evaluation has worked out about one field, each part on first use.
#[derive(Default)]
struct FieldValues<'r> {
    /// What the remembered verdicts know of the field.
    memo: Option<Memo<'r>>,
    values: Option<Vec<Cow<'r, str>>>,
    /// Each value as detectors read it.
    prepared: Option<Vec<Prepared>>,
}

/// What the remembered verdicts can say about a field in one request.
#[derive(Debug, Clone, Copy)]
enum Memo<'r> {
    /// The field has no values: no detector finds anything in it.
    Absent,
    /// Read from one source, as the table knew it.
    Sighted(Sighting, &'r str),
    /// Read from several parts of the request: not remembered.
    Unknown,
}

/// A value as the detectors read it, worked out once however many detectors read it.
struct Prepared {
    /// Nothing any detector looks at: empty, or a whole query without an entity's `&`.
    skip: bool,
    /// A bare token (letters, digits, `_`, `-`: `red`, `42`, a session id) carries none of
    /// the attacks; only the scanner detector looks at it, and the PHP one where it names
    /// an uploaded file (a PHP session file, `sess_…`).
    bare: bool,
    /// Decoded again where it holds `%` (double encoding).
    decoded: Option<String>,
    /// The decoded value without the NULs that would split keywords, where it has any
    /// (the SQL reader instead reads a NUL as the space it stands for).
    without_nuls: Option<String>,
    /// Lower-cased `without_nuls` (or the decoded value), made on first use.
    lower: std::cell::OnceCell<String>,
    /// What the command, PHP and scanner detectors look for in `lower`, found in one
    /// pass on first use.
    marks: std::cell::OnceCell<detect::Marks>,
}

/// Whether an entity's `&` may have split a payload across the arguments of `query`
/// (`<img src=&#106;...`): only then is the whole query worth a look. (Looked for at each
/// `&` rather than as seven substring searches.)
fn query_has_entity(query: &str) -> bool {
    crate::text::positions(query, "&").any(|i| {
        let next = &query[i + 1..];
        // (What can follow, by its first byte, before seven comparisons.)
        if !matches!(
            next.bytes().next(),
            Some(b'#' | b'%' | b'l' | b'g' | b'q' | b'c')
        ) {
            return false;
        }
        ["#", "%23", "lt", "gt", "quot", "colon", "lpar"]
            .iter()
            .any(|e| next.starts_with(e))
    })
}

impl Prepared {
    fn new(f: &Field, raw: &str) -> Prepared {
        // The whole query is only worth a look when an entity's `&` split a payload across
        // arguments; the arguments are checked anyway.
        let skip = raw.is_empty() || (*f == Field::Query && !query_has_entity(raw));
        let bare = raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'));
        // Values arrive decoded once (query and form parsing); decode again for double
        // encoding. `+` stays: it was read as a space already where it meant one. (A bare
        // token has neither `%` nor NULs.)
        let (percent, nul) = if skip || bare {
            (false, false)
        } else {
            crate::text::percent_and_nul(raw)
        };
        let decoded = percent.then(|| transform::url_decode_again(raw));
        let d = decoded.as_deref().unwrap_or(raw);
        // Decoding can make a NUL (`%00`), not remove one.
        let nul = nul || (decoded.is_some() && d.contains('\0'));
        let without_nuls = nul.then(|| d.replace('\0', ""));
        Prepared {
            skip,
            bare,
            decoded,
            without_nuls,
            lower: Default::default(),
            marks: Default::default(),
        }
    }

    /// What the SQL reader reads: decoded, NULs kept.
    fn for_sql<'a>(&'a self, raw: &'a str) -> &'a str {
        self.decoded.as_deref().unwrap_or(raw)
    }

    /// What the other detectors read: decoded, without NULs.
    fn text<'a>(&'a self, raw: &'a str) -> &'a str {
        self.without_nuls
            .as_deref()
            .unwrap_or_else(|| self.for_sql(raw))
    }

    /// [`Prepared::text`], lower-cased.
    fn lower(&self, raw: &str) -> &str {
        self.lower
            .get_or_init(|| crate::text::ascii_lowercase(self.text(raw)))
    }

    /// The [`detect::Marks`] of [`Prepared::lower`].
    fn marks(&self, raw: &str) -> detect::Marks {
        *self.marks.get_or_init(|| detect::marks(self.lower(raw)))
    }
}

impl<'c, 'r> Cache<'c, 'r> {
    /// The values of `d`'s field, read from the request the first time.
    fn values(&mut self, req: &'r Inspect<'_>, d: &'c Detected) -> &[Cow<'r, str>] {
        self.fields[d.slot]
            .values
            .get_or_insert_with(|| req.values(&d.field))
    }

    /// The values of `d`'s field and, for each, how detectors read it.
    fn prepared(
        &mut self,
        req: &'r Inspect<'_>,
        d: &'c Detected,
    ) -> (&[Cow<'r, str>], &[Prepared]) {
        let entry = &mut self.fields[d.slot];
        let values = entry.values.get_or_insert_with(|| req.values(&d.field));
        let f = &d.field;
        let prepared = entry.prepared.get_or_insert_with(|| {
            let mut prepared: Vec<Prepared> = values.iter().map(|v| Prepared::new(f, v)).collect();
            // The path decoded and as sent usually read the same once decoded again:
            // detectors then inspect that text once.
            if *f == Field::Path
                && let ([first, second], [p0, p1]) = (&values[..], &mut prepared[..])
                && p0.for_sql(first) == p1.for_sql(second)
            {
                p1.skip = true;
            }
            prepared
        });
        (values, prepared)
    }

    /// What the remembered verdicts know of `d`'s field, its source sighted once per
    /// evaluation.
    fn memo(&mut self, req: &'r Inspect<'_>, d: &Detected) -> Memo<'r> {
        let verdicts = self.verdicts;
        *self.fields[d.slot]
            .memo
            .get_or_insert_with(|| match req.source(&d.field) {
                Source::Absent => Memo::Absent,
                Source::Text(s) => Memo::Sighted(verdicts.sight(d.slot, s), s),
                Source::Scattered => Memo::Unknown,
            })
    }
}

fn eval<'c, 'r>(
    c: &'c Cond,
    req: &'r Inspect<'_>,
    host: &mut dyn Host,
    labels: &[String],
    rate_block: &mut Option<u32>,
    rule_id: &str,
    cache: &mut Cache<'c, 'r>,
) -> bool {
    match c {
        Cond::Ip(nets) => req
            .client_ip
            .is_some_and(|ip| nets.iter().any(|(n, l)| in_cidr(ip, *n, *l))),
        Cond::Match {
            field,
            transforms,
            op,
            value,
            regex,
        } => req.values(field).iter().any(|v| {
            let t = transform::apply(v, transforms);
            match op {
                MatchOp::Exact => t == *value,
                MatchOp::Contains => t.contains(value.as_str()),
                MatchOp::StartsWith => t.starts_with(value.as_str()),
                MatchOp::EndsWith => t.ends_with(value.as_str()),
                MatchOp::Regex => regex.as_ref().is_some_and(|r| r.is_match(&t)),
            }
        }),
        Cond::Size { field, op, size } => {
            let len = req.size(field);
            match op {
                SizeOp::Gt => len > *size,
                SizeOp::Ge => len >= *size,
                SizeOp::Lt => len < *size,
                SizeOp::Le => len <= *size,
                SizeOp::Eq => len == *size,
            }
        }
        Cond::Detect(d, fields) => fields.iter().any(|f| {
            let seen = f.slot * DETECTORS + *d as usize;
            match cache.seen[seen] {
                Seen::Hit => return true,
                Seen::Clean => return false,
                Seen::NotYet => {}
            }
            let hit = match d {
                Detector::Protocol => detect_protocol(req),
                // A form or JSON body was parsed into `args`; detectors look at its
                // values there, not at the raw text where `&` and `"` are syntax.
                _ if req.body_parsed && f.field == Field::Body => false,
                _ => detect_remembered(*d, f, req, cache),
            };
            cache.seen[seen] = if hit { Seen::Hit } else { Seen::Clean };
            hit
        }),
        Cond::Label(l) => labels.iter().any(|x| x == l),
        Cond::Rate {
            key,
            window_ms,
            limit,
        } => {
            let k = match key {
                RateKey::Ip => req.client_ip.map(|ip| ip.to_string()).unwrap_or_default(),
                RateKey::Path => req.path.to_owned(),
                RateKey::Header(h) => req.header(h).unwrap_or("").to_owned(),
            };
            let verdict = host.rate_hit(&format!("{rule_id}|{k}"), *window_ms, *limit);
            if !verdict.allowed {
                *rate_block = Some(verdict.retry_after_ms);
            }
            !verdict.allowed
        }
        Cond::And(v) => v
            .iter()
            .all(|c| eval(c, req, host, labels, rate_block, rule_id, cache)),
        Cond::Or(v) => v
            .iter()
            .any(|c| eval(c, req, host, labels, rate_block, rule_id, cache)),
        Cond::Not(c) => !eval(c, req, host, labels, rate_block, rule_id, cache),
    }
}

/// Headers that name the file an upload API stores the body under.
const UPLOAD_NAME_HEADERS: [&str; 4] = ["x-filename", "x-file-name", "x_filename", "x.filename"];

fn names_an_upload(f: &Field) -> bool {
    matches!(f, Field::Header(h) if UPLOAD_NAME_HEADERS.contains(&h.as_str()))
}

/// Remote inclusion: argument values and the parameters known PHP applications include
/// by name; in a markup body (one not parsed into arguments), the URLs inside it.
fn detect_rfi<'c, 'r>(req: &'r Inspect<'_>, f: &'c Detected, cache: &mut Cache<'c, 'r>) -> bool {
    match f.field {
        Field::Args => {
            req.args()
                .iter()
                .any(|(n, v)| detect::is_rfi_parameter(n, v))
                || detect_field(Detector::Rfi, &f.field, cache.prepared(req, f))
        }
        Field::Body => cache
            .values(req, f)
            .iter()
            .any(|b| detect::is_rfi_in_markup(b)),
        _ => detect_field(Detector::Rfi, &f.field, cache.prepared(req, f)),
    }
}

/// Detector `d`'s verdict on field `f`: none for a field without values, remembered for
/// the field's source if the ACL has seen it before, else worked out (and remembered if
/// the source repeats).
fn detect_remembered<'c, 'r>(
    d: Detector,
    f: &'c Detected,
    req: &'r Inspect<'_>,
    cache: &mut Cache<'c, 'r>,
) -> bool {
    let memo = cache.memo(req, f);
    match memo {
        Memo::Absent => return false,
        Memo::Sighted(s, _) => {
            if let Some(hit) = s.verdict(d) {
                return hit;
            }
        }
        Memo::Unknown => {}
    }
    let hit = match d {
        Detector::Rfi => detect_rfi(req, f, cache),
        _ => detect_field(d, &f.field, cache.prepared(req, f)),
    };
    if let Memo::Sighted(s, source) = memo {
        cache.verdicts.put(s, f.slot, source, d, hit);
    }
    hit
}

/// Runs detector `d` over the values of field `f`, as prepared for detectors.
fn detect_field(
    d: Detector,
    f: &Field,
    (values, prepared): (&[Cow<'_, str>], &[Prepared]),
) -> bool {
    // There a name alone is the attack: a script PHP would run, or a session file
    // (`is_php` knows those), which is a bare token.
    let upload_name = d == Detector::Php && names_an_upload(f);
    values.iter().zip(prepared).any(|(raw, p)| {
        if p.skip || (p.bare && d != Detector::Scanner && !upload_name) {
            return false;
        }
        match d {
            Detector::Sqli => sqli::is_sqli(p.for_sql(raw)),
            Detector::Xss => xss::is_xss(p.text(raw)),
            Detector::Traversal => {
                let text = p.text(raw);
                detect::is_traversal(text)
                    || (f != &Field::Path
                        && text.contains('&')
                        && detect::is_traversal(&transform::html_entity_decode(text)))
            }
            Detector::Protocol => false,
            Detector::Rfi => detect::is_rfi(p.lower(raw)),
            Detector::Rce => detect::is_rce_marked(p.lower(raw), p.marks(raw)),
            Detector::Php => {
                let lower = p.lower(raw);
                detect::is_php_marked(lower, p.marks(raw))
                    || (upload_name && detect::php_name(lower))
                    || (f == &Field::Body && detect::php_upload(lower))
            }
            Detector::Scanner => detect::is_scanner_marked(p.marks(raw)),
        }
    })
}

/// Protocol anomalies: CR/LF header injection in arguments, NULs in the path, a
/// request without a Host, a malformed Content-Length.
fn detect_protocol(req: &Inspect<'_>) -> bool {
    if crate::text::has(req.path, "%00") || req.path.contains('\0') {
        return true;
    }
    if let Some(cl) = req.header("content-length")
        && (cl.is_empty() || !cl.bytes().all(|b| b.is_ascii_digit()))
    {
        return true;
    }
    if req.header("host").is_none() && req.host.is_empty() {
        return true;
    }
    // Only a CR or LF, or an escape that may decode to one, can split a header.
    req.values(&Field::Args)
        .iter()
        .chain(req.values(&Field::ArgNames).iter())
        .filter(|v| v.contains(['%', '\r', '\n']))
        .any(|v| {
            detect::is_header_injection(&transform::url_decode_repeated(v).to_ascii_lowercase())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_matching() {
        let (n, l) = parse_cidr("10.0.0.0/8").unwrap();
        assert!(in_cidr("10.1.2.3".parse().unwrap(), n, l));
        assert!(!in_cidr("11.1.2.3".parse().unwrap(), n, l));
        assert!(in_cidr("::ffff:10.0.0.1".parse().unwrap(), n, l));
        let (n, l) = parse_cidr("2001:db8::/32").unwrap();
        assert!(in_cidr("2001:db8:1::1".parse().unwrap(), n, l));
        assert!(parse_cidr("10.0.0.0/33").is_none());
    }

    #[test]
    fn the_path_is_measured_as_sent_and_inspected_in_both_spellings() {
        let req = Inspect::new("GET", "/a%20b", None, "a.test", vec![], None, None);
        assert_eq!(req.size(&Field::Path), 6);
        assert_eq!(req.values(&Field::Path), ["/a b", "/a%20b"]);
        let req = Inspect::new("GET", "/ab", None, "a.test", vec![], None, None);
        assert_eq!(req.size(&Field::Path), 3);
        assert_eq!(req.values(&Field::Path), ["/ab"]);
    }

    #[test]
    fn the_body_and_the_client_address_are_asked_for_only_when_a_rule_looks_at_them() {
        let acl = |json: &str| Acl::new(serde_json::from_str(json).unwrap()).unwrap();
        assert!(managed_acl().reads_body && !managed_acl().reads_client_ip);
        let size = r#"{"rules":[{"id":"s","action":"block","statement":{"not":{"size":{"field":"body","op":"gt","size":10}}}}]}"#;
        assert!(acl(size).reads_body);
        assert!(!acl(&size.replace(r#""body""#, r#""path""#)).reads_body);
        let ip_set = r#"{"rules":[{"id":"a","action":"allow","statement":{"not":{"ip_set":["192.0.2.0/24"]}}}]}"#;
        assert!(acl(ip_set).reads_client_ip);
        let per_address = r#"{"rules":[{"id":"r","action":"block","statement":{"and":[{"match":{"field":"path","op":"exact","value":"/login"}},{"rate":{"key":"ip","window_ms":1000,"limit":5}}]}}]}"#;
        assert!(acl(per_address).reads_client_ip);
        let per_path = per_address.replace(r#""key":"ip""#, r#""key":"path""#);
        assert!(!acl(&per_path).reads_client_ip);
    }

    #[test]
    fn bare_argument_values_change_a_verdict_only_where_the_acl_says_they_may() {
        let acl = managed_acl();
        assert!(!acl.tells_bare_values_apart());
        assert!(!acl.bare_values_matter(Some("a=1&b=2")) && !acl.bare_values_matter(None));
        assert!(acl.bare_values_matter(Some("a=1&lt=2")));
        let verdict = |q: &str| {
            let headers = vec![("host", "a.test")];
            let req = Inspect::new("GET", "/s", Some(q), "a.test", headers, None, None);
            let v = acl.evaluate(&req, &mut NoRates);
            (v.block.map(|b| b.rule), v.matches, v.labels)
        };
        // Bare tokens that are attack words on their own, put where an ordinary one was,
        // beside attacks and harmless values.
        let tokens = [
            "x1",
            "union",
            "select",
            "or",
            "1",
            "--",
            "_",
            "script",
            "alert",
            "javascript",
            "passwd",
            "etc",
            "wget",
            "cmd",
            "phpinfo",
            "system",
            "eval",
            "sleep",
            "admin",
        ];
        for template in [
            "q=@&page=@",
            "@=@",
            "id=1%27%20OR%201%3D1&x=@",
            "q=%3Cscript%3Ealert(1)%3C%2Fscript%3E&v=@",
            "file=..%2F..%2Fetc%2Fpasswd&f=@",
            "c=%3Bcat%20%2Fetc%2Fpasswd&d=@&e=@",
            "a=@&b=hello%20world&c=@",
        ] {
            let first = verdict(&template.replace('@', tokens[0]));
            for t in tokens {
                let q = template.replace('@', t);
                assert!(!acl.bare_values_matter(Some(&q)), "{q}");
                assert_eq!(verdict(&q), first, "{q} against {}", tokens[0]);
            }
        }
        // An entity's `&` before a name makes the whole query worth a look, whatever the
        // bare values around it.
        for t in tokens {
            assert!(
                acl.bare_values_matter(Some(&format!("n={t}&lt={t}&x=1"))),
                "{t}"
            );
        }
        let custom = |statement: &str| {
            let json = format!(
                r#"{{"managed":"block","rules":[{{"id":"c","action":"block","statement":{statement}}}]}}"#
            );
            Acl::new(serde_json::from_str(&json).unwrap()).unwrap()
        };
        for reads_values in [
            r#"{"match":{"field":"args","op":"exact","value":"debug"}}"#,
            r#"{"not":{"size":{"field":"query","op":"lt","size":10}}}"#,
            r#"{"detect":{"detector":"scanner","fields":["args"]}}"#,
        ] {
            let acl = custom(reads_values);
            assert!(acl.tells_bare_values_apart(), "{reads_values}");
            assert!(acl.bare_values_matter(Some("a=1")), "{reads_values}");
        }
        let on_the_path = custom(r#"{"match":{"field":"path","op":"exact","value":"/x"}}"#);
        assert!(!on_the_path.tells_bare_values_apart());
    }

    fn managed_acl() -> Acl {
        let settings: Settings = serde_json::from_str(r#"{"managed":"block"}"#).unwrap();
        Acl::new(settings).unwrap()
    }

    /// The rule that blocks a request with one header besides Host, if any.
    fn blocked_by(
        acl: &Acl,
        method: &str,
        path: &str,
        header: &str,
        value: &str,
    ) -> Option<String> {
        let headers = vec![("host", "a.test"), (header, value)];
        let req = Inspect::new(method, path, None, "a.test", headers, None, None);
        acl.evaluate(&req, &mut NoRates).block.map(|b| b.rule)
    }

    #[test]
    fn upload_file_name_headers_refuse_scripts_php_would_run() {
        let acl = managed_acl();
        let upload = |header: &str, name: &str| blocked_by(&acl, "PUT", "/upload", header, name);
        for (header, name) in [
            ("x-filename", "shell.php"),
            ("x_filename", "fda.php7"),
            ("x.filename", "photo. php"),
            ("x-file-name", "sess_abcdefghijklmnopqrstuv"),
        ] {
            assert_eq!(
                upload(header, name).as_deref(),
                Some("managed-php"),
                "{header}: {name}"
            );
        }
        for name in ["photo.jpg", "report_2024.pdf", "php-manual.tar.gz"] {
            assert_eq!(upload("x-filename", name), None, "{name}");
        }
    }

    #[test]
    fn remembered_verdicts_decide_as_the_detectors_do() {
        let acl = managed_acl();
        let with = |header: &str, value: &str| blocked_by(&acl, "GET", "/", header, value);
        let browser = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        let shellshock = "() { :; }; /bin/bash -c 'cat /etc/passwd'";
        // Asked three times each (the first request only sighted, the second's answers
        // remembered, the third's read back), interleaved, and the same value in a
        // header where another verdict applies.
        for _ in 0..3 {
            assert_eq!(with("user-agent", browser), None);
            assert_eq!(
                with("user-agent", "sqlmap/1.7").as_deref(),
                Some("managed-scanner")
            );
            assert_eq!(
                with("user-agent", shellshock).as_deref(),
                Some("managed-rce")
            );
            assert_eq!(
                with("x-filename", "shell.php").as_deref(),
                Some("managed-php")
            );
            assert_eq!(with("referer", "shell.php"), None);
        }
        // Paths, queries and cookies, attacks and not, the same text in fields where
        // different verdicts apply, and fields read from more than one source (two
        // Cookie headers, a form body): each decided as an ACL that has seen nothing.
        type Case<'a> = (
            &'a str,
            Option<&'a str>,
            Vec<(&'a str, &'a str)>,
            Option<&'a [u8]>,
        );
        let form = ("content-type", "application/x-www-form-urlencoded");
        let cases: Vec<Case> = vec![
            (
                "/products/shoes",
                Some("color=red&size=42"),
                vec![("cookie", "s=1; t=dark")],
                None,
            ),
            ("/../../etc/passwd", None, vec![], None),
            ("/search", Some("q=1' OR '1'='1"), vec![], None),
            ("/search", Some("q=it's 1 or 2"), vec![], None),
            (
                "/",
                None,
                vec![("cookie", "s=<script>alert(1)</script>")],
                None,
            ),
            (
                "/",
                None,
                vec![("cookie", "a=1"), ("cookie", "b=../../etc/passwd")],
                None,
            ),
            (
                "/",
                Some("q=1' OR '1'='1"),
                vec![form],
                Some(b"a=1".as_slice()),
            ),
            (
                "/",
                Some("a=1"),
                vec![form],
                Some(b"q=1' OR '1'='1".as_slice()),
            ),
            ("/q=1' OR '1'='1", None, vec![], None),
            (
                "/",
                Some(""),
                vec![("referer", ""), ("cookie", "")],
                Some(b"".as_slice()),
            ),
        ];
        let decide = |acl: &Acl, (path, query, headers, body): &Case| {
            let mut headers = headers.clone();
            headers.push(("host", "a.test"));
            let req = Inspect::new("POST", path, *query, "a.test", headers, None, *body);
            acl.evaluate(&req, &mut NoRates).block.map(|b| b.rule)
        };
        for round in 0..3 {
            for case in &cases {
                let expected = decide(&managed_acl(), case);
                assert_eq!(decide(&acl, case), expected, "round {round}: {case:?}");
            }
        }
        assert_eq!(decide(&acl, &cases[0]), None);
        assert_eq!(
            decide(&acl, &cases[1]).as_deref(),
            Some("managed-traversal")
        );
        assert_eq!(decide(&acl, &cases[2]).as_deref(), Some("managed-sqli"));
    }

    #[test]
    fn json_unicode_escapes_next_to_non_ascii_text_are_read_without_panicking() {
        let headers = vec![("content-type", "application/json")];
        let body = "{\"a\":\"\\u000\u{e9}\", \"b\":\"\\u0041\"}".as_bytes();
        let req = Inspect::new("POST", "/", None, "a.test", headers, None, Some(body));
        let args: Vec<&str> = req.args().iter().map(|(_, v)| v.as_ref()).collect();
        assert!(args.contains(&"A"), "{args:?}");
        // Any escaped character, ASCII or not, is read whole.
        let body = "{\"a\":\"\\\u{e9}t\u{e9}\", \"b\":\"x\\\"y\"}".as_bytes();
        let headers = vec![("content-type", "application/json")];
        let req = Inspect::new("POST", "/", None, "a.test", headers, None, Some(body));
        let args: Vec<&str> = req.args().iter().map(|(_, v)| v.as_ref()).collect();
        assert_eq!(args, ["a", "\u{e9}t\u{e9}", "b", "x\"y"]);
    }

    #[test]
    fn arguments_are_capped_across_the_query_and_a_form_body_utf8_or_not() {
        let query: Vec<String> = (0..200).map(|i| format!("q{i}=1")).collect();
        let query = query.join("&");
        let mut body: Vec<u8> = (0..200)
            .flat_map(|i| format!("b{i}=2&").into_bytes())
            .collect();
        let form = vec![("content-type", "application/x-www-form-urlencoded")];
        let args = |body: &[u8]| {
            let req = Inspect::new(
                "POST",
                "/",
                Some(&query),
                "a.test",
                form.clone(),
                None,
                Some(body),
            );
            req.args().len()
        };
        assert_eq!(args(&body), 256);
        body.extend_from_slice(b"c=\xff");
        assert_eq!(args(&body), 256, "the same cap when the body is not UTF-8");
    }
}
