//! Parking idle HTTP/1.1 connections: once a keep-alive connection has been idle for a
//! moment, hyper's connection state (its read and write buffers, ~16 KiB) is dropped and
//! only the TLS stream is kept; a new hyper connection picks it up when the viewer
//! sends again. Ten thousand idle viewers then cost a fraction of the memory, and busy
//! connections never park, so the request path pays nothing.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::server::TlsStream;

use crate::edge::{Edge, EdgeService};
use crate::pipeline::EdgeBody;

/// What the connection's IO and service have seen, to tell when hyper is idle.
#[derive(Default)]
struct Activity {
    /// Bumped on every read that returned data (or EOF).
    reads: AtomicU64,
    /// The last read returned `Pending`: hyper is waiting for the viewer.
    waiting: AtomicBool,
    /// Bytes written and not yet flushed.
    unflushed: AtomicBool,
    /// Requests whose response body has not been dropped by hyper yet.
    in_flight: AtomicUsize,
    /// Request bodies not yet read to their end: while one is open, hyper may still be
    /// reading or discarding it, so its state must not be dropped.
    open_bodies: AtomicUsize,
}

impl Activity {
    /// Whether hyper has answered everything, flushed, and waits for a new request.
    fn idle(&self) -> bool {
        self.waiting.load(Ordering::Relaxed)
            && !self.unflushed.load(Ordering::Relaxed)
            && self.in_flight.load(Ordering::Relaxed) == 0
            && self.open_bodies.load(Ordering::Relaxed) == 0
    }
}

/// When to park, and where to count it.
pub(super) struct Parking {
    /// Idle time in hyper before parking: long enough that a viewer sending request
    /// after request never parks (each park costs a new hyper connection later).
    pub after: Duration,
    /// How long a parked connection waits for its next request.
    pub idle_limit: Duration,
    pub edge: Edge,
}

/// Serves an HTTP/1.1 TLS connection, parking it whenever it idles; ends when the viewer
/// closes, the idle limit passes, or shutdown begins.
pub(super) async fn serve_h1(
    builder: &http1::Builder,
    parking: &Parking,
    mut stop: watch::Receiver<bool>,
    io: Box<TlsStream<TcpStream>>,
    svc: EdgeService,
) {
    let mut io = io;
    let mut buffered = Bytes::new();
    loop {
        // Boxed, so that while parked this future holds a pointer, not hyper's state.
        let served = Box::pin(serve_until_idle(
            builder, parking, &mut stop, io, buffered, &svc,
        ));
        (io, buffered) = match served.await {
            Some(parked) => parked,
            None => return,
        };
        if !buffered.is_empty() {
            // A partial request hyper had read: serve it at once.
            continue;
        }
        // Parked: the TLS stream alone waits for the viewer's next bytes. rustls holds no
        // unread plaintext here (hyper's last read came back empty-handed), so socket
        // readiness is the signal.
        let metrics = parking.edge.metrics();
        metrics.record_parked();
        let readable = tokio::time::timeout(parking.idle_limit, io.get_ref().0.readable());
        let woken = tokio::select! {
            ready = readable => match ready {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    tracing::debug!("parked connection failed: {e}");
                    false
                }
                Err(_) => {
                    tracing::debug!("idle connection closed after {:?}", parking.idle_limit);
                    false
                }
            },
            _ = stop.changed() => false,
        };
        metrics.record_unparked();
        if !woken {
            return;
        }
    }
}

/// Serves with a new hyper connection until it has been idle for `parking.after`; then
/// hands back the stream and any bytes read but not used. `None`: the connection ended.
async fn serve_until_idle(
    builder: &http1::Builder,
    parking: &Parking,
    stop: &mut watch::Receiver<bool>,
    io: Box<TlsStream<TcpStream>>,
    buffered: Bytes,
    svc: &EdgeService,
) -> Option<(Box<TlsStream<TcpStream>>, Bytes)> {
    let activity = Arc::new(Activity::default());
    let watched = Watched {
        buffered,
        inner: io,
        activity: activity.clone(),
    };
    let tracked = Tracked {
        inner: svc.clone(),
        activity: activity.clone(),
    };
    let mut conn = builder.serve_connection(TokioIo::new(watched), tracked);
    loop {
        let reads = activity.reads.load(Ordering::Relaxed);
        let check = tokio::time::sleep(parking.after);
        tokio::select! {
            result = &mut conn => {
                if let Err(e) = result {
                    tracing::debug!("connection ended with error: {e}");
                }
                return None;
            }
            _ = stop.changed() => {
                Pin::new(&mut conn).graceful_shutdown();
                if let Err(e) = conn.await {
                    tracing::debug!("connection ended with error: {e}");
                }
                return None;
            }
            // Parks only after a whole period with no reads: 1-2 periods of idleness.
            _ = check => {
                if activity.reads.load(Ordering::Relaxed) == reads && activity.idle() {
                    break;
                }
            }
        }
    }
    let parts = conn.into_parts();
    let watched = parts.io.into_inner();
    // Bytes hyper read but had not used come first, then any the wrapper still held.
    let buffered = if parts.read_buf.is_empty() {
        watched.buffered
    } else {
        [parts.read_buf, watched.buffered].concat().into()
    };
    Some((watched.inner, buffered))
}

/// The connection's IO: replays bytes taken back from an earlier hyper connection, and
/// records reads, waits and flushes.
struct Watched {
    buffered: Bytes,
    inner: Box<TlsStream<TcpStream>>,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if !this.buffered.is_empty() {
            let n = this.buffered.len().min(buf.remaining());
            buf.put_slice(&this.buffered[..n]);
            this.buffered.advance(n);
            this.activity.reads.fetch_add(1, Ordering::Relaxed);
            this.activity.waiting.store(false, Ordering::Relaxed);
            return Poll::Ready(Ok(()));
        }
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        let pending = result.is_pending();
        if !pending {
            this.activity.reads.fetch_add(1, Ordering::Relaxed);
        }
        this.activity.waiting.store(pending, Ordering::Relaxed);
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.activity.unflushed.store(true, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.activity.unflushed.store(true, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let result = Pin::new(&mut self.inner).poll_flush(cx);
        if let Poll::Ready(Ok(())) = result {
            self.activity.unflushed.store(false, Ordering::Relaxed);
        }
        result
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The edge's service, counting requests in flight until hyper drops their response
/// body (that is, has written it).
#[derive(Clone)]
struct Tracked {
    inner: EdgeService,
    activity: Arc<Activity>,
}

impl hyper::service::Service<http::Request<Incoming>> for Tracked {
    type Response = http::Response<TrackedBody>;
    type Error = std::convert::Infallible;
    type Future =
        Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send + 'static>>;

    fn call(&self, req: http::Request<Incoming>) -> Self::Future {
        let open = !req.body().is_end_stream();
        if open {
            self.activity.open_bodies.fetch_add(1, Ordering::Relaxed);
        }
        let req = req.map(|inner| RequestBody {
            inner,
            activity: open.then(|| self.activity.clone()),
        });
        self.activity.in_flight.fetch_add(1, Ordering::Relaxed);
        let guard = InFlight(self.activity.clone());
        let response = hyper::service::Service::call(&self.inner, req);
        Box::pin(async move {
            let response = response.await?;
            Ok(response.map(|body| TrackedBody {
                inner: body,
                _in_flight: guard,
            }))
        })
    }
}

/// A request body that stops counting as open once read to its end. One dropped before
/// its end stays open, so that connection is not parked (hyper still has to discard
/// the rest).
pub(super) struct RequestBody {
    inner: Incoming,
    /// Set while the body is open.
    activity: Option<Arc<Activity>>,
}

impl RequestBody {
    fn ended(&mut self) {
        if let Some(activity) = self.activity.take() {
            activity.open_bodies.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let frame = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(frame, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.ended();
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Counts one request in flight until dropped.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted in flight while hyper holds it.
pub(super) struct TrackedBody {
    inner: EdgeBody,
    _in_flight: InFlight,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = crate::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, crate::BoxError>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
