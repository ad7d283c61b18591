//! Parking idle HTTP/1.1 connections: once a keep-alive connection has been idle for a
//! moment, hyper's connection state (its read and write buffers, ~16 KiB) is dropped and
//! only the TLS or TCP stream is kept; a new hyper connection picks it up when the viewer
//! sends again. Ten thousand idle viewers then cost a fraction of the memory, and busy
//! connections never park, so the request path pays nothing. Also the service wrapper
//! every listener uses, so the pipeline is built for one request body type.

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
use tokio::time::Instant;

use crate::edge::{Edge, EdgeService, ServiceFuture};
use crate::pipeline::EdgeBody;
use crate::tls::ServerTls;

/// What the connection's IO and service have seen, to tell when hyper is idle.
#[derive(Default)]
struct Activity {
    /// Bumped on every read that returned data (or EOF).
    reads: AtomicU64,
    /// `reads` when the last request was dispatched or its body read to the end: reads
    /// beyond it are the start of a request hyper has not dispatched yet.
    settled_reads: AtomicU64,
    /// Requests dispatched on this hyper connection.
    requests: AtomicU64,
    /// The last read returned `Pending`: hyper is waiting for the viewer.
    waiting: AtomicBool,
    /// Bytes written and not yet flushed.
    unflushed: AtomicBool,
    /// Requests whose response body has not been dropped by hyper yet.
    in_flight: AtomicUsize,
    /// Request bodies not yet read to their end nor dropped: while one is open, the
    /// service may still be reading it through hyper, so hyper's state must stay.
    open_bodies: AtomicUsize,
}

impl Activity {
    /// Whether hyper has answered everything, flushed, and waits for a request of which
    /// it has read nothing (a partial request head keeps hyper, and its header timer).
    fn idle(&self) -> bool {
        self.waiting.load(Ordering::Relaxed)
            && !self.unflushed.load(Ordering::Relaxed)
            && self.in_flight.load(Ordering::Relaxed) == 0
            && self.open_bodies.load(Ordering::Relaxed) == 0
            && self.reads.load(Ordering::Relaxed) == self.settled_reads.load(Ordering::Relaxed)
    }

    /// Everything read so far belongs to requests hyper has dispatched.
    fn settle(&self) {
        self.settled_reads
            .store(self.reads.load(Ordering::Relaxed), Ordering::Relaxed);
    }
}

/// A connection's stream that can be parked: plain TCP or TLS over it.
pub(super) trait ParkableIo: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The socket underneath, whose readiness wakes a parked connection.
    fn socket(&self) -> &TcpStream;

    /// Frees buffers that hold nothing, before a long wait (TLS: its record buffers).
    fn release_idle_buffers(&mut self) {}
}

impl ParkableIo for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

impl ParkableIo for ServerTls {
    fn socket(&self) -> &TcpStream {
        ServerTls::socket(self)
    }

    fn release_idle_buffers(&mut self) {
        ServerTls::release_idle_buffers(self)
    }
}

/// When to park, and where to count it.
pub(super) struct Parking {
    /// Idle time in hyper before parking: long enough that a viewer sending request
    /// after request never parks (each park costs a new hyper connection later).
    pub after: Duration,
    /// How long a connection may wait for its next request, parked or not.
    pub idle_limit: Duration,
    pub edge: Edge,
}

/// Serves an HTTP/1.1 connection (over TLS or plain TCP) and parks it whenever it
/// idles (if `parking` is given); ends when the viewer closes, the idle limit passes,
/// or shutdown begins.
pub(super) async fn serve_h1<I: ParkableIo>(
    builder: &http1::Builder,
    parking: Option<&Parking>,
    mut stop: watch::Receiver<bool>,
    mut io: Box<I>,
    svc: EdgeService,
) {
    let Some(parking) = parking else {
        let conn = builder.serve_connection(TokioIo::new(io), Tracked::plain(svc));
        // Boxed: inline, hyper's connection state would size this future, and so every
        // parked connection's task, too.
        return Box::pin(super::until_shutdown(conn, stop)).await;
    };
    let mut buffered = Bytes::new();
    // When the idle limit runs out: counted from the end of the last round that served
    // a request, so bytes that wake a connection without a request do not extend it.
    let mut deadline = None;
    loop {
        // Boxed, so that while parked this future holds a pointer, not hyper's state.
        let served = Box::pin(serve_until_idle(
            builder, parking, &mut stop, io, buffered, &svc,
        ));
        let Some(round) = served.await else { return };
        io = round.io;
        buffered = round.buffered;
        let deadline = match deadline {
            Some(d) if round.requests == 0 => d,
            _ => *deadline.insert(Instant::now() + parking.idle_limit),
        };
        if !buffered.is_empty() {
            // Pipelined bytes read with the last request: serve them at once.
            continue;
        }
        // Parked: the stream alone waits for the viewer's next bytes. Nothing unread is
        // buffered above the socket here (hyper's last read came back empty-handed; over
        // TLS, no decrypted bytes wait in the stream), so socket readiness is the signal.
        let metrics = parking.edge.metrics();
        metrics.record_parked();
        io.release_idle_buffers();
        crate::trim::freed();
        let readable = tokio::time::timeout_at(deadline, io.socket().readable());
        let woken = tokio::select! {
            ready = readable => match ready {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    tracing::debug!("parked connection failed: {e}");
                    false
                }
                Err(_) => {
                    tracing::debug!("idle connection closed (idle limit {:?})", parking.idle_limit);
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

/// What a hyper connection handed back when it was parked.
struct Round<I> {
    io: Box<I>,
    /// Bytes read but not used (a pipelined request).
    buffered: Bytes,
    /// Requests it dispatched.
    requests: u64,
}

/// Serves with a new hyper connection until it has been idle for `parking.after`;
/// `None`: the connection ended.
async fn serve_until_idle<I: ParkableIo>(
    builder: &http1::Builder,
    parking: &Parking,
    stop: &mut watch::Receiver<bool>,
    io: Box<I>,
    buffered: Bytes,
    svc: &EdgeService,
) -> Option<Round<I>> {
    let activity = Arc::new(Activity::default());
    let watched = Watched {
        buffered,
        inner: io,
        activity: activity.clone(),
    };
    let tracked = Tracked::watching(svc.clone(), activity.clone());
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
    Some(Round {
        io: watched.inner,
        buffered,
        requests: activity.requests.load(Ordering::Relaxed),
    })
}

/// The connection's IO: replays bytes taken back from an earlier hyper connection, and
/// records reads, waits and flushes.
struct Watched<I> {
    buffered: Bytes,
    inner: Box<I>,
    activity: Arc<Activity>,
}

impl<I: ParkableIo> AsyncRead for Watched<I> {
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

impl<I: ParkableIo> AsyncWrite for Watched<I> {
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

/// The edge's service as every listener serves it: requests reach the pipeline with
/// one body type ([`RequestBody`]); on a parkable connection it also counts requests
/// in flight until hyper drops their response body (that is, has written it).
#[derive(Clone)]
pub(super) struct Tracked {
    inner: EdgeService,
    activity: Option<Arc<Activity>>,
}

impl Tracked {
    /// For connections that are never parked.
    pub(super) fn plain(inner: EdgeService) -> Self {
        Tracked {
            inner,
            activity: None,
        }
    }

    fn watching(inner: EdgeService, activity: Arc<Activity>) -> Self {
        Tracked {
            inner,
            activity: Some(activity),
        }
    }
}

impl hyper::service::Service<http::Request<Incoming>> for Tracked {
    type Response = http::Response<TrackedBody>;
    type Error = std::convert::Infallible;
    type Future = TrackedFuture;

    fn call(&self, req: http::Request<Incoming>) -> Self::Future {
        let open = !req.body().is_end_stream();
        if let Some(activity) = &self.activity {
            activity.requests.fetch_add(1, Ordering::Relaxed);
            activity.in_flight.fetch_add(1, Ordering::Relaxed);
            activity.settle();
            if open {
                activity.open_bodies.fetch_add(1, Ordering::Relaxed);
            }
        }
        let req = req.map(|inner| RequestBody {
            inner,
            activity: self.activity.as_ref().filter(|_| open).cloned(),
        });
        TrackedFuture {
            inner: hyper::service::Service::call(&self.inner, req),
            in_flight: self.activity.clone().map(InFlight),
        }
    }
}

/// The edge's response future, handing its in-flight count on to the response body.
pub(super) struct TrackedFuture {
    inner: ServiceFuture,
    in_flight: Option<InFlight>,
}

impl Future for TrackedFuture {
    type Output = Result<http::Response<TrackedBody>, std::convert::Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = std::task::ready!(self.inner.as_mut().poll(cx))?;
        let in_flight = self.in_flight.take();
        Poll::Ready(Ok(response.map(|inner| TrackedBody {
            inner,
            _in_flight: in_flight,
        })))
    }
}

/// A request body that counts as open until read to its end or dropped. Once it is
/// dropped unread, hyper discards the rest (from what it has buffered, or by reading on,
/// which counts as unsettled reads until the next request) or gives up keep-alive, so
/// either way the connection is safe to park once hyper waits again.
pub(super) struct RequestBody {
    inner: Incoming,
    /// Set while the body is open.
    activity: Option<Arc<Activity>>,
}

impl RequestBody {
    fn ended(&mut self) {
        if let Some(activity) = self.activity.take() {
            activity.settle();
            activity.open_bodies.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for RequestBody {
    fn drop(&mut self) {
        self.ended();
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
    _in_flight: Option<InFlight>,
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
