//! Test support: paths of the functions built by build.rs, a throwaway PKI, an edge on
//! free ports in front of a recording stub origin, and real TLS/HTTP clients.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use bytes::Bytes;
use http::{Request, Response, Version};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::RootCertStore;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use wedge::stub_origin::StubOrigin;
use wedge::{Edge, Running};

/// Path of a function built by build.rs (`device-class` → `device_class.wasm`).
pub fn function(name: &str) -> PathBuf {
    function_in(Path::new(env!("WEDGE_FUNCTIONS_DIR")), name)
}

/// The compiled function `name` in another build's directory `dir`.
pub fn function_in(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{}.wasm", name.replace('-', "_")))
}

/// Function `id` loaded from `config` into `engine`, ready to run outside an edge.
pub fn load_function(
    engine: &wedge::wasm::WasmEngine,
    id: &str,
    config: &wedge::config::FunctionConfig,
) -> Arc<wedge::wasm::LoadedFunction> {
    let id = wedge::config::FunctionId::new(id).expect("a valid function id");
    Arc::new(wedge::wasm::LoadedFunction::load(engine, id, config).expect("the function loads"))
}

/// `req` as a function sees it: from 127.0.0.1, over HTTPS, for `host`.
pub fn request_view(req: Request<()>, host: &str) -> wedge::wasm::RequestView {
    let parts = req.into_parts().0;
    wedge::wasm::RequestView::new(parts, [127, 0, 0, 1].into(), None, "https", host.into())
}

/// Runs `f`'s viewer-request hook on `view` as a request of its own; the request as the
/// hook left it (panics if the hook failed).
pub async fn viewer_request(
    f: &Arc<wedge::wasm::LoadedFunction>,
    view: wedge::wasm::RequestView,
) -> wedge::wasm::RequestView {
    let mut run = wedge::wasm::FunctionRun::new(f.clone(), wedge::util::RequestId::next());
    let (view, outcome, _) = run.request(wedge::wasm::Hook::ViewerRequest, view).await;
    outcome.expect("viewer-request ran");
    view
}

/// The corpora folder beside the repository, if present.
pub fn corpora() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpora");
    dir.is_dir().then_some(dir)
}

/// A certificate authority in a temporary directory that issues leaf certificates.
pub struct Pki {
    pub dir: tempfile::TempDir,
    issuer: Issuer<'static, KeyPair>,
    pub roots: Arc<RootCertStore>,
}

impl Pki {
    pub fn new() -> anyhow::Result<Pki> {
        let dir = tempfile::tempdir()?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        params
            .distinguished_name
            .push(DnType::CommonName, "wedge test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = params.self_signed(&key)?;
        let mut roots = RootCertStore::empty();
        roots.add(ca.der().clone())?;
        std::fs::write(dir.path().join("ca.pem"), ca.pem())?;
        Ok(Pki {
            dir,
            issuer: Issuer::new(params, key),
            roots: Arc::new(roots),
        })
    }

    /// Issues a certificate for `names` and writes `<id>.pem` and `<id>.key`.
    pub fn issue(&self, id: &str, names: &[&str]) -> anyhow::Result<(PathBuf, PathBuf)> {
        let key = KeyPair::generate()?;
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())?;
        params.distinguished_name.push(DnType::CommonName, names[0]);
        let cert = params.signed_by(&key, &self.issuer)?;
        let (cert_path, key_path) = (
            self.dir.path().join(format!("{id}.pem")),
            self.dir.path().join(format!("{id}.key")),
        );
        std::fs::write(&cert_path, cert.pem())?;
        std::fs::write(&key_path, key.serialize_pem())?;
        Ok((cert_path, key_path))
    }
}

/// An edge on free ports, with its PKI, config directory and a stub origin.
pub struct TestEdge {
    pub edge: Edge,
    pub running: Running,
    pub pki: Pki,
    pub origin: StubOrigin,
    pub config_path: PathBuf,
}

impl TestEdge {
    /// Starts an edge from TOML text. In the text, `{certs}` is the PKI directory (holding
    /// `www.pem`/`www.key` for www.example.test and `api.pem`/`api.key` for
    /// api.example.test), `{functions}` the built functions, `{stub}` the stub origin URL.
    /// Listeners are replaced by free ports.
    pub async fn start(config: &str) -> anyhow::Result<TestEdge> {
        let pki = Pki::new()?;
        pki.issue("www", &["www.example.test"])?;
        pki.issue("api", &["api.example.test"])?;
        pki.issue("wild", &["*.wild.test"])?;
        let origin = StubOrigin::start(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
        let text = render(config, &pki, &origin);
        let config_path = pki.dir.path().join("wedge.toml");
        std::fs::write(&config_path, &text)?;
        let mut cfg = wedge::config::Config::from_file(&config_path)?;
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        cfg.listeners.http = Some(any);
        cfg.listeners.https = (!cfg.certificates.is_empty()).then_some(any);
        cfg.listeners.admin = Some(any);
        let edge = Edge::new(cfg).await?;
        let running = edge.start().await?;
        Ok(TestEdge {
            edge,
            running,
            pki,
            origin,
            config_path,
        })
    }

    pub fn http_addr(&self) -> SocketAddr {
        self.running.http.expect("http listener")
    }

    pub fn https_addr(&self) -> SocketAddr {
        self.running.https.expect("https listener")
    }

    /// Client TLS options trusting this edge's CA, with `sni` (none: no SNI) and the
    /// ALPN protocols offered.
    pub fn tls_options(&self, sni: Option<&str>, alpn: &[&[u8]]) -> TlsOptions {
        TlsOptions {
            sni: sni.map(str::to_owned),
            roots: self.pki.roots.clone(),
            alpn: alpn.iter().map(|a| a.to_vec()).collect(),
        }
    }

    pub fn admin_addr(&self) -> SocketAddr {
        self.running.admin.expect("admin listener")
    }

    /// GET `path` on `host` over HTTPS (SNI = host) with HTTP/1.1 and the given headers.
    pub async fn get(
        &self,
        host: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<Response<Bytes>> {
        let mut req = Request::get(path).header("host", host);
        for (n, v) in headers {
            req = req.header(*n, *v);
        }
        let tls = self.tls_options(Some(host), &[b"http/1.1"]);
        send(self.https_addr(), Some(&tls), req.body(Full::default())?).await
    }

    /// GET `path` on `host` over plain HTTP/1.1 (a new connection) with the given headers.
    pub async fn http(&self, host: &str, path: &str, headers: &[(&str, &str)]) -> Response<Bytes> {
        http_get(self.http_addr(), host, path, headers)
            .await
            .expect("request through the edge")
    }

    /// A request to the admin listener, with a bearer token if given: the status and the
    /// JSON body (`Null` when it is not JSON).
    pub async fn admin(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
    ) -> (http::StatusCode, serde_json::Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "admin");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        let req = req.body(Full::<Bytes>::default()).expect("valid request");
        let resp = send(self.admin_addr(), None, req)
            .await
            .expect("admin request");
        let json = serde_json::from_slice(resp.body()).unwrap_or(serde_json::Value::Null);
        (resp.status(), json)
    }

    /// The Prometheus text of the admin listener's `/metrics`.
    pub async fn metrics(&self) -> String {
        let resp = http_get(self.admin_addr(), "admin", "/metrics", &[])
            .await
            .expect("metrics request");
        String::from_utf8_lossy(resp.body()).into_owned()
    }

    /// One sample of `/metrics`: `series` is the metric name with its labels exactly
    /// as exported (`wedge_connections_total{result="accepted"}`); 0 when absent.
    pub async fn metric(&self, series: &str) -> f64 {
        let text = self.metrics().await;
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .map_or(0.0, |v| v.trim().parse().expect("a numeric sample"))
    }

    /// The error an edge refuses `config` with (panics if it starts).
    pub async fn refused(config: &str) -> String {
        TestEdge::start(config)
            .await
            .err()
            .expect("refused")
            .to_string()
    }

    /// The JSON the stub origin's `/echo` returned in `resp`.
    pub fn echo(resp: &Response<Bytes>) -> serde_json::Value {
        serde_json::from_slice(resp.body()).expect("echo body is JSON")
    }
}

/// Fills the `{certs}`, `{functions}` and `{stub}` placeholders.
pub fn render(config: &str, pki: &Pki, origin: &StubOrigin) -> String {
    config
        .replace("{certs}", &pki.dir.path().display().to_string())
        .replace("{functions}", env!("WEDGE_FUNCTIONS_DIR"))
        .replace("{stub}", &origin.url())
}

/// How a test client connects over TLS.
#[derive(Clone)]
pub struct TlsOptions {
    pub sni: Option<String>,
    pub roots: Arc<RootCertStore>,
    pub alpn: Vec<Vec<u8>>,
}

/// Opens a TLS connection with rustls, sending `sni` (or none).
pub async fn tls_connect(
    addr: SocketAddr,
    opts: &TlsOptions,
) -> anyhow::Result<TlsStream<TcpStream>> {
    tls_connect_with(
        addr,
        opts,
        &[&rustls::version::TLS13, &rustls::version::TLS12],
    )
    .await
}

/// Like [`tls_connect`], restricted to the given protocol versions.
pub async fn tls_connect_with(
    addr: SocketAddr,
    opts: &TlsOptions,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> anyhow::Result<TlsStream<TcpStream>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)?
        .with_root_certificates(opts.roots.clone())
        .with_no_client_auth();
    config.alpn_protocols = opts.alpn.clone();
    // Without SNI rustls still needs a name to verify against; verification is then
    // done against that name while no SNI extension is sent.
    let (name, send_sni) = match &opts.sni {
        Some(n) => (n.clone(), true),
        None => ("www.example.test".to_owned(), false),
    };
    config.enable_sni = send_sni;
    let tcp = TcpStream::connect(addr).await?;
    let server_name = ServerName::try_from(name)?;
    Ok(TlsConnector::from(Arc::new(config))
        .connect(server_name, tcp)
        .await?)
}

/// DNS names in the certificate the server presented.
pub fn peer_names(tls: &TlsStream<TcpStream>) -> Vec<String> {
    let certs: &[CertificateDer<'_>] = tls.get_ref().1.peer_certificates().unwrap_or_default();
    let Some(leaf) = certs.first() else {
        return vec![];
    };
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).expect("valid certificate");
    let mut names = vec![];
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = n {
                names.push(d.to_string());
            }
        }
    }
    names
}

/// GET `path` from `host` over plain HTTP/1.1 with the given headers, on a new connection.
pub async fn http_get(
    addr: SocketAddr,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> anyhow::Result<Response<Bytes>> {
    let mut req = Request::get(path).header("host", host);
    for (n, v) in headers {
        req = req.header(*n, *v);
    }
    send(addr, None, req.body(Full::default())?).await
}

/// Sends one request over a new connection (TLS when `tls` is given), using HTTP/2 when
/// ALPN negotiates it and HTTP/1.1 otherwise, and collects the response body.
pub async fn send(
    addr: SocketAddr,
    tls: Option<&TlsOptions>,
    req: Request<Full<Bytes>>,
) -> anyhow::Result<Response<Bytes>> {
    match tls {
        None => {
            let tcp = TcpStream::connect(addr).await?;
            send_on(TokioIo::new(tcp), Version::HTTP_11, req).await
        }
        Some(opts) => {
            let tls = tls_connect(addr, opts).await?;
            let version = match tls.get_ref().1.alpn_protocol() {
                Some(b"h2") => Version::HTTP_2,
                _ => Version::HTTP_11,
            };
            send_on(TokioIo::new(tls), version, req).await
        }
    }
}

/// Sends `req` (with an absolute `http://` URI) over plain TCP as HTTP/2 with prior
/// knowledge (h2c).
pub async fn send_h2c(
    addr: SocketAddr,
    req: Request<Full<Bytes>>,
) -> anyhow::Result<Response<Bytes>> {
    let tcp = TcpStream::connect(addr).await?;
    send_on(TokioIo::new(tcp), Version::HTTP_2, req).await
}

/// Sends `req` on an open connection as HTTP/1.1 or HTTP/2 and collects the response.
pub async fn send_on<I>(
    io: TokioIo<I>,
    version: Version,
    mut req: Request<Full<Bytes>>,
) -> anyhow::Result<Response<Bytes>>
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let resp = if version == Version::HTTP_2 {
        // HTTP/2 carries the host in :authority, taken from an absolute URI.
        if let Some(host) = req.headers_mut().remove("host") {
            let uri = format!(
                "https://{}{}",
                host.to_str()?,
                req.uri()
                    .path_and_query()
                    .map(|p| p.as_str())
                    .unwrap_or("/")
            );
            *req.uri_mut() = uri.parse()?;
        }
        *req.version_mut() = Version::HTTP_2;
        let (mut sender, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), io).await?;
        tokio::spawn(conn);
        sender.send_request(req).await?
    } else {
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
        tokio::spawn(conn);
        sender.send_request(req).await?
    };
    let (parts, body) = resp.into_parts();
    let body = body
        .collect()
        .await
        .context("reading response body")?
        .to_bytes();
    Ok(Response::from_parts(parts, body))
}

/// Waits until `cond` holds, polling every 10 ms; fails after a generous bound (20 s),
/// so tests wait for events rather than for fixed times.
pub async fn wait_until<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..2000 {
        if cond().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}
