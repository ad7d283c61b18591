//! Listeners and connections: accept, terminate TLS, serve HTTP/1.1 and HTTP/2 with
//! hyper, and drain gracefully on shutdown. Idle HTTP/1.1 connections are parked
//! without hyper's buffers ([`park`]), and the memory they free is trimmed (`crate::trim`).

mod park;
mod write_timeout;

use write_timeout::WriteTimeout;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulConnection;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::task::TaskTracker;

use crate::config::{Listeners, ServerLimits};
use crate::edge::{Edge, EdgeError};
use crate::pipeline::ConnectionInfo;
use crate::tls::ServerTls;

/// How long a viewer has to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How long in-flight requests may take to finish after shutdown begins.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(10);

/// Listeners bound but not yet serving. Bind to port 0 and read the addresses back
/// to run on free ports.
#[derive(Debug, Default)]
pub struct BoundListeners {
    pub http: Option<TcpListener>,
    pub https: Option<TcpListener>,
    pub admin: Option<TcpListener>,
}

impl BoundListeners {
    pub async fn bind(listeners: &Listeners) -> Result<Self, EdgeError> {
        async fn bind(addr: Option<SocketAddr>) -> Result<Option<TcpListener>, EdgeError> {
            match addr {
                None => Ok(None),
                Some(addr) => TcpListener::bind(addr)
                    .await
                    .map(Some)
                    .map_err(|source| EdgeError::Bind { addr, source }),
            }
        }
        Ok(Self {
            http: bind(listeners.http).await?,
            https: bind(listeners.https).await?,
            admin: bind(listeners.admin).await?,
        })
    }
}

/// A serving edge. Dropping it does not stop it; call [`Running::shutdown`].
pub struct Running {
    pub http: Option<SocketAddr>,
    pub https: Option<SocketAddr>,
    pub admin: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    accept_loops: JoinSet<()>,
    connections: TaskTracker,
}

impl Running {
    /// Stops accepting, then waits up to [`DRAIN_DEADLINE`] for in-flight requests.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.accept_loops.join_next().await.is_some() {}
        self.connections.close();
        if tokio::time::timeout(DRAIN_DEADLINE, self.connections.wait())
            .await
            .is_err()
        {
            tracing::warn!("drain deadline passed with requests still in flight");
        }
    }
}

pub(crate) fn start(edge: Edge, listeners: BoundListeners) -> Running {
    let (stop, stop_rx) = watch::channel(false);
    let connections = TaskTracker::new();
    let mut accept_loops = JoinSet::new();
    let addr = |l: &Option<TcpListener>| l.as_ref().and_then(|l| l.local_addr().ok());
    let (http, https, admin) = (
        addr(&listeners.http),
        addr(&listeners.https),
        addr(&listeners.admin),
    );
    let snapshot = edge.snapshot();
    let (limits, acls) = (snapshot.config.server, snapshot.config.network_acls.clone());
    let guard = |rules: Vec<crate::nacl::NaclRule>, listener: &'static str| Guard {
        rules: rules.into(),
        listener,
        edge: edge.clone(),
    };
    let builder = Arc::new(builders(&limits));
    // One budget of connections shared by the viewer listeners (not the admin one).
    let slots = Arc::new(Semaphore::new(limits.max_connections));

    let parking = limits.park_idle_after.map(|after| {
        Arc::new(park::Parking {
            after,
            idle_limit: limits.header_read_timeout,
            edge: edge.clone(),
        })
    });

    if let Some(l) = listeners.http {
        let (edge, builder, stop, parking) = (
            edge.clone(),
            builder.clone(),
            stop_rx.clone(),
            parking.clone(),
        );
        let header_read_timeout = limits.header_read_timeout;
        accept_loops.spawn(accept_loop(
            l,
            stop_rx.clone(),
            connections.clone(),
            guard(acls.http.clone(), "http"),
            Some(slots.clone()),
            move |tcp, peer| {
                let svc = edge.service(ConnectionInfo::plain(peer));
                let (builder, stop, parking) = (builder.clone(), stop.clone(), parking.clone());
                async move {
                    let parking = parking.as_deref();
                    serve_plain(&builder, parking, header_read_timeout, stop, tcp, svc).await
                }
            },
        ));
    }
    if let Some(l) = listeners.https {
        let acceptor = edge.tls_config();
        let (edge, builder, stop, parking) = (
            edge.clone(),
            builder.clone(),
            stop_rx.clone(),
            parking.clone(),
        );
        accept_loops.spawn(accept_loop(
            l,
            stop_rx.clone(),
            connections.clone(),
            guard(acls.https.clone(), "https"),
            Some(slots.clone()),
            move |tcp, peer| {
                let (edge, acceptor, builder, stop, parking) = (
                    edge.clone(),
                    acceptor.clone(),
                    builder.clone(),
                    stop.clone(),
                    parking.clone(),
                );
                serve_tls(edge, acceptor, builder, stop, parking, tcp, peer)
            },
        ));
    }
    if let Some(l) = listeners.admin {
        let (edge, builder, stop) = (edge.clone(), builder.clone(), stop_rx.clone());
        accept_loops.spawn(accept_loop(
            l,
            stop_rx.clone(),
            connections.clone(),
            guard(acls.admin.clone(), "admin"),
            None,
            move |tcp, peer| {
                let svc = crate::admin::AdminService::new(edge.clone()).with_peer(peer);
                let (builder, stop) = (builder.clone(), stop.clone());
                async move { serve(&builder.detect, stop, tcp, svc).await }
            },
        ));
    }
    Running {
        http,
        https,
        admin,
        stop,
        accept_loops,
        connections,
    }
}

/// The connection builders, with the same limits (the detecting one without the exact
/// head-size limit, which hyper-util's builder lacks): one per protocol, for TLS where
/// ALPN has decided and for plain HTTP/1.1 (no preface sniffing by hyper; measurably
/// less memory per idle connection; HTTP/1.1 with hyper's own builder, whose
/// connections can be parked), and one detecting the protocol for a plain connection
/// whose first bytes may be the HTTP/2 preface.
struct Builders {
    detect: auto::Builder<TokioExecutor>,
    h1: hyper::server::conn::http1::Builder,
    h2: auto::Builder<TokioExecutor>,
    /// How long a write to the viewer may wait ([`write_timeout`]).
    send_timeout: Duration,
}

fn builders(limits: &ServerLimits) -> Builders {
    let detect = http_builder(limits);
    // The HTTP/1.1 limits `http_builder` sets on the detecting builder (a different
    // builder type, so the settings are spelled out for each), plus the exact head size
    // limit hyper-util's builder lacks.
    let mut h1 = hyper::server::conn::http1::Builder::new();
    h1.timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        // Exact: the buffer limit alone lets a head through that arrives in one read.
        .max_header_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    Builders {
        h1,
        h2: detect.clone().http2_only(),
        detect,
        send_timeout: limits.send_timeout,
    }
}

fn http_builder(limits: &ServerLimits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes)
        .max_headers(limits.max_headers);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(limits.max_header_bytes as u32)
        .max_concurrent_streams(limits.h2_max_concurrent_streams)
        .max_pending_accept_reset_streams(limits.h2_max_pending_reset_streams)
        // A silent peer is probed and, if it does not answer, its connection closed.
        .keep_alive_interval(Duration::from_secs(30))
        .keep_alive_timeout(Duration::from_secs(10));
    builder
}

/// A listener's network ACL and where to count refusals.
struct Guard {
    rules: Arc<[crate::nacl::NaclRule]>,
    listener: &'static str,
    edge: Edge,
}

async fn accept_loop<F, Fut>(
    listener: TcpListener,
    mut stop: watch::Receiver<bool>,
    connections: TaskTracker,
    guard: Guard,
    limit: Option<Arc<Semaphore>>,
    on_conn: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    // The network ACL first: a denied peer costs no TLS, no slot.
                    if !crate::nacl::permits(&guard.rules, peer.ip()) {
                        guard.edge.metrics().record_nacl_denied(guard.listener);
                        tracing::debug!(%peer, listener = guard.listener, "connection denied by network ACL");
                        drop(tcp);
                        continue;
                    }
                    // Past the connection limit, close at once: cheaper than queueing.
                    let permit = match &limit {
                        None => None,
                        Some(slots) => match slots.clone().try_acquire_owned() {
                            Ok(p) => {
                                guard.edge.metrics().record_connection(true);
                                Some(p)
                            }
                            Err(_) => {
                                guard.edge.metrics().record_connection(false);
                                tracing::debug!(%peer, "connection refused: max_connections reached");
                                drop(tcp);
                                continue;
                            }
                        },
                    };
                    let _ = tcp.set_nodelay(true);
                    let conn = on_conn(tcp, peer);
                    connections.spawn(async move {
                        conn.await;
                        drop(permit);
                        crate::trim::freed();
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

/// Serves one TLS connection: the handshake, then HTTP/1.1 or HTTP/2 as ALPN chose.
async fn serve_tls(
    edge: Edge,
    acceptor: Arc<rustls::ServerConfig>,
    builder: Arc<Builders>,
    stop: watch::Receiver<bool>,
    parking: Option<Arc<park::Parking>>,
    tcp: TcpStream,
    peer: SocketAddr,
) {
    // Each step is boxed: their states are large (the handshake's over 1 KB), and
    // inline they would size this future, which a connection keeps all its life.
    let tls = match Box::pin(accept_tls(&acceptor, tcp, builder.send_timeout)).await {
        Ok(tls) => tls,
        Err((result, e)) => {
            edge.metrics().record_tls_handshake(result, None);
            return tracing::debug!(%peer, "{e}");
        }
    };
    let session = tls.get_ref();
    let tls_version = session.protocol_version().and_then(|v| v.as_str());
    edge.metrics().record_tls_handshake("ok", tls_version);
    let conn = ConnectionInfo::https(
        peer,
        session.server_name().cloned(),
        tls_version,
        session
            .negotiated_cipher_suite()
            .and_then(|s| s.suite().as_str()),
    );
    // ALPN already chose the protocol: serve it directly, with no preface sniffing and
    // a smaller per-connection state.
    let h2 = session.alpn_protocol() == Some(b"h2");
    let svc = edge.service(conn);
    if h2 {
        let svc = park::Tracked::plain(svc);
        Box::pin(serve(&builder.h2, stop, tls, svc)).await
    } else {
        let served = park::serve_h1(&builder.h1, parking.as_deref(), stop, tls, svc);
        Box::pin(served).await
    }
}

/// The TLS handshake, within [`HANDSHAKE_TIMEOUT`]; the stream comes with the slow-read
/// guard. A failure comes with its metric label (`failed`, `timeout`) and a message.
async fn accept_tls(
    config: &Arc<rustls::ServerConfig>,
    tcp: TcpStream,
    send_timeout: Duration,
) -> Result<Box<WriteTimeout<ServerTls>>, (&'static str, String)> {
    let handshake = ServerTls::accept(config.clone(), tcp);
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(tls)) => Ok(Box::new(WriteTimeout::new(tls, send_timeout))),
        Ok(Err(e)) => Err(("failed", format!("TLS handshake failed: {e}"))),
        Err(_) => Err(("timeout", "TLS handshake timed out".into())),
    }
}

/// The connection preface of HTTP/2 with prior knowledge.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Serves a plain-HTTP connection: HTTP/1.1 as over TLS (hyper's HTTP/1.1 builder, its
/// exact header size limit, parking), or prior-knowledge HTTP/2, told apart by the
/// first bytes (peeked, not consumed).
async fn serve_plain(
    builder: &Builders,
    parking: Option<&park::Parking>,
    header_read_timeout: Duration,
    mut stop: watch::Receiver<bool>,
    tcp: TcpStream,
    svc: crate::edge::EdgeService,
) {
    let mut first = [0u8; H2_PREFACE.len()];
    // A viewer that sends nothing gets the header read timeout, as from hyper.
    let peeked = tokio::select! {
        p = tokio::time::timeout(header_read_timeout, tcp.peek(&mut first)) => p,
        _ = stop.changed() => return,
    };
    let n = match peeked {
        Ok(Ok(n)) if n > 0 => n,
        Ok(Ok(_)) => return,
        Ok(Err(e)) => return tracing::debug!("plain connection failed: {e}"),
        Err(_) => return tracing::debug!("no request before the header read timeout"),
    };
    let tcp = WriteTimeout::new(tcp, builder.send_timeout);
    if H2_PREFACE.starts_with(&first[..n]) {
        // HTTP/2, or too few bytes yet to tell: the detecting builder reads on.
        let svc = park::Tracked::plain(svc);
        return Box::pin(serve(&builder.detect, stop, tcp, svc)).await;
    }
    let served = park::serve_h1(&builder.h1, parking, stop, Box::new(tcp), svc);
    Box::pin(served).await
}

/// Serves one connection; when shutdown begins, finishes in-flight requests and closes.
async fn serve<I, S, B>(
    builder: &auto::Builder<TokioExecutor>,
    stop: watch::Receiver<bool>,
    io: I,
    svc: S,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    S: hyper::service::Service<
            http::Request<hyper::body::Incoming>,
            Response = http::Response<B>,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = bytes::Bytes, Error = crate::BoxError> + Send + 'static,
{
    until_shutdown(builder.serve_connection(TokioIo::new(io), svc), stop).await;
}

/// Runs a hyper connection to its end; when shutdown begins, lets in-flight requests
/// finish and closes.
async fn until_shutdown<C>(conn: C, mut stop: watch::Receiver<bool>)
where
    C: GracefulConnection,
    C::Error: std::fmt::Display,
{
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection ended with error: {e}");
    }
}
