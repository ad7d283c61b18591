//! Pooled HTTP clients for origins: plain or TLS (SNI, verification against the web
//! roots or a custom CA), HTTP/1.1 or HTTP/2, with per-member idle limits.
//!
//! Each member has its own client whose connector always dials that member, whatever
//! the request URI says. The URI's authority is then free to carry the Host the origin
//! should see, which HTTP/2 sends as `:authority` (a separate Host header would be
//! ignored there). SNI and certificate verification use `tls.server_name`, else the
//! member's host. Clients survive reloads (the [`ClientSet`] is handed from one
//! snapshot to the next), so a reload does not drop warm keep-alive connections.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, ServerName, pem::PemObject};
use tokio::net::TcpStream;
use tower_service::Service;

use crate::config::OriginPoolConfig;

/// Request bodies sent to origins (the viewer's body, whatever type it arrived as).
pub type OriginBody = UnsyncBoxBody<Bytes, crate::BoxError>;

/// One member's pooled client (keep-alive connections keyed by the Host sent).
pub type OriginClient = Client<HttpsConnector<MemberConnector>, OriginBody>;

/// Dials one member whatever URI it is asked for. Shared behind one `Arc`: the pooled
/// client clones its connector for every request.
#[derive(Clone)]
pub struct MemberConnector(Arc<MemberTarget>);

struct MemberTarget {
    http: HttpConnector,
    target: http::Uri,
}

impl Service<http::Uri> for MemberConnector {
    type Response = MemberStream;
    type Error = crate::BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<MemberStream, crate::BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Connects only: the clones are cheap.
        self.0.http.clone().poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, _: http::Uri) -> Self::Future {
        let fut = self.0.http.clone().call(self.0.target.clone());
        Box::pin(async move { fut.await.map(MemberStream).map_err(Into::into) })
    }
}

/// A TCP connection to a member. It reports no connection info: hyper-util would
/// otherwise copy the socket addresses (`HttpInfo`) into the extensions of every
/// response, three allocations a request that nothing here reads.
pub struct MemberStream(TokioIo<TcpStream>);

impl Drop for MemberStream {
    fn drop(&mut self) {
        // An origin connection closed (idle past the pool's timeout, or broken): its
        // buffers are freed now.
        crate::trim::freed();
    }
}

impl Connection for MemberStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for MemberStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for MemberStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// What identifies a member's client: the member and its connection settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ClientKey {
    member: http::Uri,
    https: bool,
    http2: bool,
    connect_timeout: Duration,
    max_idle: usize,
    /// The custom CA bundle's contents (so an edited file yields a new client).
    ca_pem: Option<Vec<u8>>,
    server_name: Option<String>,
}

/// The clients built so far, by connection settings.
#[derive(Default)]
pub struct ClientSet {
    clients: Mutex<HashMap<ClientKey, OriginClient>>,
}

impl std::fmt::Debug for ClientSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSet")
    }
}

impl ClientSet {
    /// The client for `member` of `pool`, built on first use. Fails when the pool's CA
    /// bundle cannot be read or holds no certificate.
    pub fn client_for(
        &self,
        pool: &OriginPoolConfig,
        member: &http::Uri,
    ) -> Result<OriginClient, String> {
        let https = member.scheme() == Some(&http::uri::Scheme::HTTPS);
        let ca_pem = match (&pool.tls.ca, https) {
            (Some(path), true) => Some(
                std::fs::read(path)
                    .map_err(|e| format!("cannot read CA bundle {}: {e}", path.display()))?,
            ),
            _ => None,
        };
        let key = ClientKey {
            member: member.clone(),
            https,
            http2: pool.http2,
            connect_timeout: pool.timeouts.connect,
            max_idle: pool.max_idle_per_member,
            ca_pem,
            server_name: pool.tls.server_name.clone().filter(|_| https),
        };
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = clients.get(&key) {
            return Ok(c.clone());
        }
        let client = build(&key)?;
        clients.insert(key, client.clone());
        Ok(client)
    }
}

fn build(key: &ClientKey) -> Result<OriginClient, String> {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(key.connect_timeout));
    http.enforce_http(false);
    let mut roots = RootCertStore::empty();
    match &key.ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| format!("CA bundle: {e}"))?;
                roots.add(cert).map_err(|e| format!("CA bundle: {e}"))?;
            }
            if roots.is_empty() {
                return Err("CA bundle holds no certificate".into());
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let builder = HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let name = match &key.server_name {
        Some(name) => name.clone(),
        None => key
            .member
            .host()
            .unwrap_or_default()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
    };
    let name = ServerName::try_from(name).map_err(|e| e.to_string())?;
    let builder = builder.with_server_name_resolver(FixedServerNameResolver::new(name));
    let member = MemberConnector(Arc::new(MemberTarget {
        http,
        target: key.member.clone(),
    }));
    let connector = if key.http2 {
        builder.enable_all_versions().wrap_connector(member)
    } else {
        builder.enable_http1().wrap_connector(member)
    };
    let mut client = Client::builder(TokioExecutor::new());
    client
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(key.max_idle)
        .pool_timer(hyper_util::rt::TokioTimer::new());
    // Plain-HTTP members speak HTTP/2 only with prior knowledge; over TLS, ALPN decides.
    if key.http2 && !key.https {
        client.http2_only(true);
    }
    Ok(client.build(connector))
}
