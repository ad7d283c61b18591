//! What the edge knows about the connection a request arrived on.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use http::HeaderValue;

/// Facts about the viewer's connection, fixed for all its requests.
#[derive(Debug, Clone)]
pub struct ConnectionInfo {
    client_addr: SocketAddr,
    /// The client's IP as text, formatted once per connection rather than for the
    /// `X-Forwarded-For` of every request on it.
    client_ip_value: HeaderValue,
    /// `"http"` or `"https"`.
    pub scheme: &'static str,
    /// The SNI name the viewer sent, lower-case.
    pub sni: Option<Arc<str>>,
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
            client_ip_value: ip_value(client_addr.ip()),
            scheme: "http",
            sni: None,
            tls_version: None,
            tls_cipher: None,
        }
    }

    /// An HTTPS connection from `client_addr`, with what its handshake negotiated.
    pub fn https(
        client_addr: SocketAddr,
        sni: Option<Arc<str>>,
        tls_version: Option<&'static str>,
        tls_cipher: Option<&'static str>,
    ) -> Self {
        Self {
            scheme: "https",
            sni,
            tls_version,
            tls_cipher,
            ..Self::plain(client_addr)
        }
    }

    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    pub fn client_ip(&self) -> IpAddr {
        self.client_addr.ip()
    }

    /// [`Self::client_ip`] as a header value (`192.0.2.10`, `2001:db8::1`).
    pub fn client_ip_value(&self) -> &HeaderValue {
        &self.client_ip_value
    }
}

fn ip_value(ip: IpAddr) -> HeaderValue {
    HeaderValue::try_from(ip.to_string()).expect("an IP address is a valid header value")
}

impl Default for ConnectionInfo {
    fn default() -> Self {
        Self::plain(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
    }
}
