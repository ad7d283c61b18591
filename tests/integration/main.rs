//! wedge's integration tests: one binary, a module per feature. Every test starts real
//! listeners on free ports in front of an in-process stub origin that records requests.

mod cache;
/// The device classifier's own unit tests, compiled natively (guest crates are
/// cdylibs for wasm32-wasip2 and cannot be linked for the host).
#[allow(dead_code)]
#[path = "../../functions/device-class/src/classify.rs"]
mod classify;
mod config_golden;
mod decisions;
mod device_class;
mod embedding;
mod example_cache_key;
mod example_header_forwarding;
mod example_redirects;
mod example_security_headers;
mod functions;
mod hardening;
mod instance_reuse;
mod lifecycle;
mod observability;
mod origin_policies;
mod origin_pools;
mod origin_tls;
mod proxy;
mod reload;
mod routing;
mod tls;
mod waf;

/// Two sites with their own certificates, device-class on www, a wildcard site.
pub const TWO_SITES: &str = r#"
[tls]
default_certificate = "www"

[certificates.www]
cert = "{certs}/www.pem"
key = "{certs}/www.key"

[certificates.api]
cert = "{certs}/api.pem"
key = "{certs}/api.key"

[certificates.wild]
cert = "{certs}/wild.pem"
key = "{certs}/wild.key"

[origins.stub]
members = [{ url = "{stub}" }]

[functions.device-class]
module = "{functions}/device_class.wasm"

[[distributions]]
id = "www"
aliases = ["www.example.test"]

[distributions.default_behavior]
origin = "stub"
functions = ["device-class"]

[[distributions]]
id = "api"
aliases = ["api.example.test", "*.wild.test"]

[distributions.default_behavior]
origin = "stub"
"#;
