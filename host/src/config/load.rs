//! Turns TOML text into a [`Config`], with errors that name the file, line and field.

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::raw::{RawBehavior, RawConfig};
use super::*;

/// A config that could not be used. Displays as `file:line:column: field: message`,
/// one line per problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Located>,
}

/// One problem with its position (line and column are 1-based; 0 when unknown).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub line: usize,
    pub column: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file.display())?;
            if p.line > 0 {
                write!(f, ":{}:{}", p.line, p.column)?;
            }
            if !p.field.is_empty() {
                write!(f, ": {}", p.field)?;
            }
            write!(f, ": {}", p.message)?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl ConfigError {
    pub(crate) fn single(file: &Path, field: &str, message: impl Into<String>) -> Self {
        ConfigError {
            file: file.to_owned(),
            problems: vec![Located {
                line: 0,
                column: 0,
                field: field.into(),
                message: message.into(),
            }],
        }
    }
}

pub(super) fn from_file(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::single(path, "", format!("cannot read config: {e}")))?;
    let base = path.parent().map(Path::to_owned).unwrap_or_default();
    let mut config = from_toml(&text, path, &base)?;
    config.source = Some(path.to_owned());
    Ok(config)
}

pub(super) fn from_toml(text: &str, file: &Path, base_dir: &Path) -> Result<Config, ConfigError> {
    let lines = LineIndex::new(text);
    let raw: RawConfig = parse(text).map_err(|(field, message, span)| {
        let (line, column) = span.map(|s| lines.position(s.start)).unwrap_or((0, 0));
        ConfigError {
            file: file.to_owned(),
            problems: vec![Located {
                line,
                column,
                field,
                message,
            }],
        }
    })?;
    let mut conv = Converter {
        base_dir,
        spans: HashMap::new(),
        problems: Vec::new(),
    };
    let config = conv.convert(raw);
    let mut problems = conv.problems;
    for p in config.validate() {
        // An entry already reported as malformed was dropped during conversion; don't
        // report the knock-on effect (an empty pool, a dangling reference) as well.
        if problems
            .iter()
            .any(|(field, _, _)| field.starts_with(&p.field) || p.field.starts_with(field.as_str()))
        {
            continue;
        }
        let span = conv.spans.get(&p.field).cloned();
        problems.push((p.field, p.message, span));
    }
    if problems.is_empty() {
        return Ok(config);
    }
    let mut located: Vec<Located> = problems
        .into_iter()
        .map(|(field, message, span)| {
            let (line, column) = span.map(|s| lines.position(s.start)).unwrap_or((0, 0));
            Located {
                line,
                column,
                field,
                message,
            }
        })
        .collect();
    located.sort_by_key(|p| (p.line, p.column));
    Err(ConfigError {
        file: file.to_owned(),
        problems: located,
    })
}

/// Deserializes, reporting the field path of a syntax or type error.
fn parse(text: &str) -> Result<RawConfig, (String, String, Option<Range<usize>>)> {
    let de = toml::Deserializer::parse(text)
        .map_err(|e| (String::new(), first_line(e.message()), e.span()))?;
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." { String::new() } else { path };
        let inner = e.into_inner();
        (field, first_line(inner.message()), inner.span())
    })
}

fn first_line(s: &str) -> String {
    s.trim().lines().next().unwrap_or_default().to_owned()
}

type Pending = (String, String, Option<Range<usize>>);

/// Converts raw to typed, recording the span of every field it reads so that problems
/// found later by [`Config::validate`] can be located too.
pub(super) struct Converter<'a> {
    base_dir: &'a Path,
    spans: HashMap<String, Range<usize>>,
    problems: Vec<Pending>,
}

impl Converter<'_> {
    pub(super) fn note<T>(&mut self, field: &str, v: &Spanned<T>) {
        self.spans.insert(field.to_owned(), v.span());
    }

    pub(super) fn fail(&mut self, field: String, message: String, span: Range<usize>) {
        self.problems.push((field, message, Some(span)));
    }

    /// Parses a spanned string into `T`, recording a problem on failure.
    pub(super) fn parse<T, E: fmt::Display>(
        &mut self,
        field: &str,
        v: &Spanned<String>,
        f: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        self.note(field, v);
        match f(v.get_ref()) {
            Ok(t) => Some(t),
            Err(e) => {
                self.fail(field.to_owned(), e.to_string(), v.span());
                None
            }
        }
    }

    fn path(&mut self, field: &str, v: &Spanned<String>) -> PathBuf {
        self.note(field, v);
        let p = Path::new(v.get_ref());
        if p.is_absolute() {
            p.to_owned()
        } else {
            self.base_dir.join(p)
        }
    }

    fn convert(&mut self, raw: RawConfig) -> Config {
        let mut c = Config {
            debug: DebugConfig {
                explain_header: raw.debug.explain_header,
                server_timing: raw.debug.server_timing,
            },
            ..Config::default()
        };
        let addr = |s: &str| {
            s.parse::<std::net::SocketAddr>()
                .map_err(|_| format!("`{s}` is not an address such as 127.0.0.1:8080"))
        };
        if let Some(v) = &raw.listeners.http {
            c.listeners.http = self.parse("listeners.http", v, addr);
        }
        if let Some(v) = &raw.listeners.https {
            c.listeners.https = self.parse("listeners.https", v, addr);
        }
        if let Some(v) = &raw.listeners.admin {
            c.listeners.admin = self.parse("listeners.admin", v, addr);
        }
        let s = &raw.server;
        let d = ServerLimits::default();
        c.server = ServerLimits {
            header_read_timeout: s
                .header_read_timeout_ms
                .map_or(d.header_read_timeout, Duration::from_millis),
            body_read_timeout: s
                .body_read_timeout_ms
                .map_or(d.body_read_timeout, Duration::from_millis)
                .max(Duration::from_millis(1)),
            send_timeout: s
                .send_timeout_ms
                .map_or(d.send_timeout, Duration::from_millis)
                .max(Duration::from_millis(1)),
            park_idle_after: match s.park_idle_after_ms {
                None => d.park_idle_after,
                Some(0) => None,
                Some(ms) => Some(Duration::from_millis(ms)),
            },
            max_header_bytes: s.max_header_bytes.unwrap_or(d.max_header_bytes).max(8192),
            max_headers: s.max_headers.unwrap_or(d.max_headers).max(1),
            max_connections: s.max_connections.unwrap_or(d.max_connections).max(1),
            h2_max_concurrent_streams: s
                .h2_max_concurrent_streams
                .unwrap_or(d.h2_max_concurrent_streams)
                .max(1),
            h2_max_pending_reset_streams: s
                .h2_max_pending_reset_streams
                .unwrap_or(d.h2_max_pending_reset_streams),
        };
        for (name, list, out) in [
            ("http", &raw.network_acls.http, &mut c.network_acls.http),
            ("https", &raw.network_acls.https, &mut c.network_acls.https),
            ("admin", &raw.network_acls.admin, &mut c.network_acls.admin),
        ] {
            for (i, r) in list.iter().enumerate() {
                let at = format!("network_acls.{name}[{i}]");
                self.note(&format!("{at}.cidr"), &r.cidr);
                match crate::nacl::NaclRule::parse(r.action.get_ref(), r.cidr.get_ref()) {
                    Ok(rule) => out.push(rule),
                    Err((part, message)) => {
                        let span = if part == "action" {
                            r.action.span()
                        } else {
                            r.cidr.span()
                        };
                        self.fail(format!("{at}.{part}"), message, span);
                    }
                }
            }
        }
        if let Some(v) = &raw.access_log.path {
            self.note("access_log.path", v);
            c.access_log = Some(if v.get_ref() == "stdout" {
                crate::access_log::AccessLogTarget::Stdout
            } else {
                crate::access_log::AccessLogTarget::File(self.path("access_log.path", v))
            });
        }
        if let Some(v) = &raw.admin.token {
            self.note("admin.token", v);
            c.admin_token = Some(v.get_ref().clone());
        }
        if let Some(v) = &raw.tls.default_certificate {
            c.tls.default_certificate =
                self.parse("tls.default_certificate", v, CertificateId::new);
        }
        if let Some(v) = &raw.tls.unknown_sni {
            c.tls.unknown_sni = self
                .parse("tls.unknown_sni", v, |s| match s {
                    "default" => Ok(UnknownSni::DefaultCertificate),
                    "refuse" => Ok(UnknownSni::Refuse),
                    other => Err(format!("`{other}` is not one of \"default\", \"refuse\"")),
                })
                .unwrap_or_default();
        }
        if c.tls.unknown_sni == UnknownSni::DefaultCertificate
            && c.tls.default_certificate.is_none()
            && raw.tls.unknown_sni.is_some()
            && let Some(v) = &raw.tls.unknown_sni
        {
            self.fail(
                "tls.unknown_sni".into(),
                "\"default\" needs tls.default_certificate".into(),
                v.span(),
            );
        }
        for (name, cert) in &raw.certificates {
            let field = format!("certificates.{}", name.get_ref());
            let Some(id) = self.id(&field, name, CertificateId::new) else {
                continue;
            };
            let files = CertificateFiles {
                cert: self.path(&format!("{field}.cert"), &cert.cert),
                key: self.path(&format!("{field}.key"), &cert.key),
            };
            c.certificates.insert(id, files);
        }
        for (name, origin) in &raw.origins {
            let field = format!("origins.{}", name.get_ref());
            let Some(id) = self.id(&field, name, OriginId::new) else {
                continue;
            };
            let pool = self.origin_pool(&field, origin);
            c.origins.insert(id, pool);
        }
        for (name, group) in &raw.origin_groups {
            let field = format!("origin_groups.{}", name.get_ref());
            if let Some(id) = self.id(&field, name, OriginId::new) {
                self.note(&field, name);
                if let Some(g) = self.origin_group(&field, group) {
                    c.origin_groups.insert(id, g);
                }
            }
        }
        for (name, policy) in &raw.origin_request_policies {
            let field = format!("origin_request_policies.{}", name.get_ref());
            if let Some(id) = self.id(&field, name, PolicyId::new) {
                let p = self.origin_request_policy(&field, policy);
                c.origin_request_policies.insert(id, p);
            }
        }
        for (name, f) in &raw.functions {
            let field = format!("functions.{}", name.get_ref());
            let Some(id) = self.id(&field, name, FunctionId::new) else {
                continue;
            };
            let module = self.path(&format!("{field}.module"), &f.module);
            let on_error = match &f.on_error {
                None => OnError::default(),
                Some(v) => self
                    .parse(&format!("{field}.on_error"), v, |s| match s {
                        "error" => Ok(OnError::Error),
                        "block" => Ok(OnError::Block),
                        "continue" => Ok(OnError::Continue),
                        other => Err(format!(
                            "`{other}` is not one of \"error\", \"block\", \"continue\""
                        )),
                    })
                    .unwrap_or_default(),
            };
            let mut limits = FunctionLimits::default();
            if let Some(v) = &f.limits.timeout_ms {
                self.note(&format!("{field}.limits.timeout_ms"), v);
                limits.timeout = Duration::from_millis(*v.get_ref());
            }
            if let Some(v) = &f.limits.write_kb {
                self.note(&format!("{field}.limits.write_kb"), v);
                limits.write_bytes =
                    (v.get_ref().saturating_mul(1024)).min(usize::MAX as u64) as usize;
            }
            if let Some(v) = &f.limits.memory_mb {
                self.note(&format!("{field}.limits.memory_mb"), v);
                limits.memory_bytes = v.get_ref().saturating_mul(1 << 20);
            }
            c.functions.insert(
                id,
                FunctionConfig {
                    module,
                    on_error,
                    limits,
                    decision_cache: f.decision_cache.unwrap_or(DEFAULT_DECISION_CACHE),
                    max_instance_reuse: f.max_instance_reuse.unwrap_or(DEFAULT_MAX_INSTANCE_REUSE),
                    inspect_body: match &f.inspect_body_kb {
                        None => 0,
                        Some(v) => {
                            let at = format!("{field}.inspect_body_kb");
                            self.note(&at, v);
                            if *v.get_ref() > super::MAX_INSPECT_BODY_KB {
                                self.fail(
                                    at,
                                    format!("at most {}", super::MAX_INSPECT_BODY_KB),
                                    v.span(),
                                );
                            }
                            (*v.get_ref()).min(super::MAX_INSPECT_BODY_KB) as usize * 1024
                        }
                    },
                    config: f
                        .config
                        .as_ref()
                        .and_then(|t| serde_json::to_value(t).ok())
                        .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
                },
            );
        }
        c.cache = self.cache_settings(&raw.cache);
        for (name, policy) in &raw.cache_policies {
            let field = format!("cache_policies.{}", name.get_ref());
            if let Some(id) = self.id(&field, name, CachePolicyId::new) {
                let policy = self.cache_policy(&field, policy);
                c.cache_policies.insert(id, policy);
            }
        }
        for (i, d) in raw.distributions.iter().enumerate() {
            let field = format!("distributions[{i}]");
            let id = self.parse(&format!("{field}.id"), &d.id, DistributionId::new);
            self.note(&format!("{field}.aliases"), &d.aliases);
            let aliases: Vec<HostPattern> = d
                .aliases
                .get_ref()
                .iter()
                .enumerate()
                .filter_map(|(j, a)| {
                    self.parse(&format!("{field}.aliases[{j}]"), a, HostPattern::new)
                })
                .collect();
            let default_field = format!("{field}.default_behavior");
            if let Some(p) = &d.default_behavior.path_pattern {
                self.fail(
                    format!("{default_field}.path_pattern"),
                    "the default behavior matches every path; remove path_pattern".into(),
                    p.span(),
                );
            }
            let default_behavior = self.behavior(
                &default_field,
                &d.default_behavior,
                Some(PathPattern::any()),
            );
            let mut behaviors = Vec::new();
            for (j, b) in d.behaviors.iter().enumerate() {
                let bf = format!("{field}.behaviors[{j}]");
                if b.path_pattern.is_none() {
                    self.fail(
                        format!("{bf}.path_pattern"),
                        "missing path_pattern".into(),
                        b.origin.span(),
                    );
                }
                if let Some(b) = self.behavior(&bf, b, None) {
                    behaviors.push(b);
                }
            }
            if let (Some(id), Some(default_behavior)) = (id, default_behavior) {
                c.distributions.push(Distribution {
                    id,
                    aliases,
                    behaviors,
                    default_behavior,
                });
            }
        }
        c
    }

    fn id<T>(
        &mut self,
        field: &str,
        name: &Spanned<String>,
        f: impl FnOnce(&str) -> Result<T, NameError>,
    ) -> Option<T> {
        match f(name.get_ref()) {
            Ok(id) => Some(id),
            Err(e) => {
                self.problems
                    .push((field.to_owned(), e.to_string(), Some(name.span())));
                None
            }
        }
    }

    fn behavior(
        &mut self,
        field: &str,
        b: &RawBehavior,
        pattern: Option<PathPattern>,
    ) -> Option<Behavior> {
        let path_pattern = match (pattern, &b.path_pattern) {
            (Some(p), _) => Some(p),
            (None, Some(v)) => self.parse(&format!("{field}.path_pattern"), v, PathPattern::new),
            (None, None) => None,
        };
        let origin = self.parse(&format!("{field}.origin"), &b.origin, OriginId::new);
        let origin_request_policy = match &b.origin_request_policy {
            Some(v) => {
                Some(self.parse(&format!("{field}.origin_request_policy"), v, PolicyId::new)?)
            }
            None => None,
        };
        let functions: Vec<FunctionId> = b
            .functions
            .iter()
            .enumerate()
            .filter_map(|(k, f)| self.parse(&format!("{field}.functions[{k}]"), f, FunctionId::new))
            .collect();
        let cache_policy = match &b.cache_policy {
            Some(v) => Some(self.parse(&format!("{field}.cache_policy"), v, CachePolicyId::new)?),
            None => None,
        };
        Some(Behavior {
            path_pattern: path_pattern?,
            origin: origin?,
            origin_request_policy,
            functions,
            cache_policy,
        })
    }
}

mod origins;

/// An origin URL: scheme http or https, a host, an optional port, and no path or query.
pub(super) fn parse_origin_url(s: &str) -> Result<http::Uri, String> {
    let uri: http::Uri = s.parse().map_err(|e| format!("`{s}` is not a URL: {e}"))?;
    match uri.scheme_str() {
        Some("http") | Some("https") => {}
        _ => {
            return Err(format!(
                "`{s}`: origin URLs must start with http:// or https://"
            ));
        }
    }
    if uri.authority().is_none() {
        return Err(format!("`{s}`: origin URL has no host"));
    }
    if uri.path_and_query().is_some_and(|pq| pq.as_str() != "/") {
        return Err(format!("`{s}`: origin URLs take no path or query"));
    }
    Ok(uri)
}

/// Maps byte offsets to 1-based line and column.
struct LineIndex {
    starts: Vec<usize>,
}

impl LineIndex {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self { starts }
    }

    fn position(&self, offset: usize) -> (usize, usize) {
        let line = self.starts.partition_point(|&s| s <= offset);
        let column = offset - self.starts[line.saturating_sub(1)] + 1;
        (line, column)
    }
}
