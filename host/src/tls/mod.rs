//! TLS termination: certificates loaded from PEM files, chosen per handshake by SNI.
//!
//! [`certs`] loads and inspects certificates; [`resolver`] picks one per handshake and can
//! be swapped atomically on reload, so the listener's `ServerConfig` never changes.

pub mod certs;
pub mod resolver;
pub mod stream;

use std::sync::Arc;

use rustls::ServerConfig;

pub use certs::{CertError, LoadedCertificate};
pub use resolver::{CertificateSet, SniResolver};
pub use stream::ServerTls;

/// ALPN protocols offered to viewers, preferred first. `http/1.0` is served by the
/// HTTP/1.1 connection type: without it, a client offering only that (`curl --http1.0`,
/// old tools) would be refused with `no_application_protocol`, as RFC 7301 requires of a
/// server with no protocol in common.
pub const ALPN: &[&[u8]] = &[b"h2", b"http/1.1", b"http/1.0"];

/// A rustls server config for the HTTPS listener: TLS 1.3 and 1.2 only, ALPN h2,
/// http/1.1 and http/1.0, certificates from `resolver`.
pub fn server_config(resolver: Arc<SniResolver>) -> Result<Arc<ServerConfig>, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
