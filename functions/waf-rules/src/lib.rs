//! The `waf` function's engine as a plain library: the web ACL ([`acl`]: config,
//! compiled rules, evaluation), the request view ([`request`]), text transformations
//! ([`transform`]), the detectors ([`sqli`], [`xss`], [`detect`]) with their substring
//! search (`text`), and verdicts remembered for repeating fields (`memo`). It
//! makes no host calls of its own (rate limits go through [`acl::Host`]), so it builds
//! natively for unit tests and the corpus evaluation as well as into the component.

pub mod acl;
pub mod detect;
mod memo;
pub mod request;
pub mod sqli;
mod text;
pub mod transform;
pub mod xss;
