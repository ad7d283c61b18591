//! What the edge knows about the connection a request arrived on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Facts about the viewer's connection, fixed for all its requests.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    pub client_addr: SocketAddr,
    /// `"http"` or `"https"`.
    pub scheme: &'static str,
    /// The SNI name the viewer sent, lower-case.
    pub sni: Option<std::sync::Arc<str>>,
    /// Negotiated TLS version (`TLSv1.3`), if TLS.
    pub tls_version: Option<&'static str>,
    /// Negotiated cipher suite (`TLS13_AES_128_GCM_SHA256`), if TLS.
    pub tls_cipher: Option<&'static str>,
}

impl ConnectionInfo {
    /// A plain-HTTP connection from `client_addr`.
    pub fn plain(client_addr: SocketAddr) -> Self {
        Self {
            client_addr,
            scheme: "http",
            sni: None,
            tls_version: None,
            tls_cipher: None,
        }
    }

    pub fn client_ip(&self) -> IpAddr {
        self.client_addr.ip()
    }
}

impl Default for ConnectionInfo {
    fn default() -> Self {
        Self::plain(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }
}
