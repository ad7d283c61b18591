//! floor-proxy: the least a TLS-terminating reverse proxy on wedge's stack does (hyper,
//! hyper-util's pooled client, rustls with aws-lc-rs, two tokio workers), with nothing of
//! wedge's own. `benches/load/compare.py --scenarios floor` runs it beside wedge's ceiling
//! so the cost of wedge's proxy path is measured against its stack in the same run.
//!
//! ```text
//! floor-proxy <listen addr> <cert.pem> <key.pem> <origin host:port>
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::{Context, Result};
use http::Uri;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, cert, key, origin] = args.as_slice() else {
        anyhow::bail!("usage: floor-proxy <listen addr> <cert.pem> <key.pem> <origin host:port>");
    };
    let listen: SocketAddr = listen.parse().context("listen address")?;
    let chain = CertificateDer::pem_file_iter(cert)
        .context("certificate")?
        .collect::<Result<Vec<_>, _>>()
        .context("certificate")?;
    let key = PrivateKeyDer::from_pem_file(key).context("private key")?;
    let mut tls = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    tls.alpn_protocols = vec![b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(tls));
    let origin: Arc<str> = origin.as_str().into();

    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?
        .block_on(serve(listen, acceptor, origin))
}

async fn serve(listen: SocketAddr, acceptor: TlsAcceptor, origin: Arc<str>) -> Result<()> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Client<_, Incoming> = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build(connector);
    let listener = TcpListener::bind(listen).await?;
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        let acceptor = acceptor.clone();
        let client = client.clone();
        let origin = origin.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let service = service_fn(move |mut req: hyper::Request<Incoming>| {
                let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
                let uri: Uri = format!("http://{origin}{path}")
                    .parse()
                    .expect("origin URI");
                *req.uri_mut() = uri;
                client.request(req)
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), service)
                .await;
        });
    }
}
