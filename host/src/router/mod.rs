//! Routing: from a request's host and path to the distribution and behavior that handle it.
//!
//! Hosts are looked up exactly, then by one-label wildcard, then by a catch-all `*`;
//! within a distribution, ordered behaviors are tried first to last and the default
//! behavior takes the rest, as in CloudFront. Patterns match the path with dot
//! segments, escapes and repeated slashes resolved ([`path::for_matching`]).

pub mod path;

use std::collections::HashMap;
use std::sync::Arc;

use crate::config::{Behavior, Config, Distribution};

/// A compiled routing table.
#[derive(Debug, Default)]
pub struct Router {
    distributions: Vec<Arc<Distribution>>,
    /// Per distribution: the default behavior's name, then the ordered behaviors' names.
    names: Vec<(Arc<str>, Vec<Arc<str>>)>,
    exact: HashMap<String, usize>,
    wildcard: HashMap<String, usize>,
    catch_all: Option<usize>,
}

/// The result of routing one request.
#[derive(Debug, Clone)]
pub struct Route {
    pub distribution: Arc<Distribution>,
    /// Index into the distribution's ordered behaviors; `None` for the default behavior.
    pub behavior_index: Option<usize>,
    /// `<distribution>/<path pattern>`, for logs and metrics.
    pub name: Arc<str>,
}

impl Route {
    pub fn behavior(&self) -> &Behavior {
        match self.behavior_index {
            Some(i) => &self.distribution.behaviors[i],
            None => &self.distribution.default_behavior,
        }
    }

    /// A short name for logs and metrics: `<distribution>/<path pattern>`.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Router {
    /// Builds the table; when two distributions claim a host, the first one keeps it.
    pub fn new(config: &Config) -> Self {
        let mut router = Router::default();
        for (i, d) in config.distributions.iter().enumerate() {
            router.distributions.push(Arc::new(d.clone()));
            let name = |b: &Behavior| Arc::<str>::from(format!("{}/{}", d.id, b.path_pattern));
            router.names.push((
                name(&d.default_behavior),
                d.behaviors.iter().map(name).collect(),
            ));
            for alias in &d.aliases {
                if alias.is_catch_all() {
                    router.catch_all.get_or_insert(i);
                } else if let Some(suffix) = alias.wildcard_suffix() {
                    router.wildcard.entry(suffix.to_owned()).or_insert(i);
                } else {
                    router.exact.entry(alias.as_str().to_owned()).or_insert(i);
                }
            }
        }
        router
    }

    /// Finds the behavior for `host` (lower-case, no port) and `path` (no query, as
    /// received: it is resolved here for matching).
    pub fn route(&self, host: &str, path: &str) -> Option<Route> {
        let index = self
            .exact
            .get(host)
            .or_else(|| {
                host.split_once('.')
                    .and_then(|(_, suffix)| self.wildcard.get(suffix))
            })
            .copied()
            .or(self.catch_all)?;
        let distribution = self.distributions[index].clone();
        let path = path::for_matching(path);
        let path = path.as_ref();
        let behavior_index = distribution
            .behaviors
            .iter()
            .position(|b| b.path_pattern.matches(path));
        let (default_name, names) = &self.names[index];
        let name = behavior_index.map_or(default_name, |i| &names[i]).clone();
        Some(Route {
            distribution,
            behavior_index,
            name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DistributionId, HostPattern, OriginId, PathPattern};

    fn behavior(pattern: &str, origin: &str) -> Behavior {
        Behavior {
            path_pattern: PathPattern::new(pattern).unwrap(),
            origin: OriginId::new(origin).unwrap(),
            origin_request_policy: None,
            functions: vec![],
            cache_policy: None,
        }
    }

    fn dist(id: &str, aliases: &[&str], ordered: Vec<Behavior>) -> Distribution {
        Distribution {
            id: DistributionId::new(id).unwrap(),
            aliases: aliases
                .iter()
                .map(|a| HostPattern::new(a).unwrap())
                .collect(),
            behaviors: ordered,
            default_behavior: behavior("*", "default"),
        }
    }

    #[test]
    fn hosts_then_ordered_patterns_then_default() {
        let config = Config {
            distributions: vec![
                dist(
                    "www",
                    &["www.example.com"],
                    vec![behavior("/api/*", "api"), behavior("/api/v1/*", "never")],
                ),
                dist("wild", &["*.example.com"], vec![]),
                dist("any", &["*"], vec![]),
            ],
            ..Config::default()
        };
        let router = Router::new(&config);
        let r = router.route("www.example.com", "/api/v1/x").unwrap();
        assert_eq!(
            r.behavior().origin.as_str(),
            "api",
            "first matching pattern wins"
        );
        let r = router.route("www.example.com", "/index.html").unwrap();
        assert_eq!(r.behavior_index, None);
        assert_eq!(
            router
                .route("img.example.com", "/")
                .unwrap()
                .distribution
                .id
                .as_str(),
            "wild"
        );
        assert_eq!(
            router
                .route("a.b.example.com", "/")
                .unwrap()
                .distribution
                .id
                .as_str(),
            "any"
        );
        assert_eq!(
            router
                .route("other.org", "/")
                .unwrap()
                .distribution
                .id
                .as_str(),
            "any"
        );
    }

    #[test]
    fn unknown_host_without_catch_all_has_no_route() {
        let config = Config {
            distributions: vec![dist("www", &["www.example.com"], vec![])],
            ..Config::default()
        };
        assert!(Router::new(&config).route("example.com", "/").is_none());
    }
}
