//! Body types: the response body (bytes the edge made or the origin's streamed body),
//! what a viewer's request body must be, and how it can fail.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;

/// What the edge accepts as a viewer's request body: any byte stream whose errors can
/// be boxed. Named once so the request path's functions need no repeated bounds.
pub trait ViewerBody: Body<Data = Bytes, Error: Into<crate::BoxError>> + Send + 'static {}

impl<B> ViewerBody for B where B: Body<Data = Bytes, Error: Into<crate::BoxError>> + Send + 'static {}

/// A viewer's request body as the pipeline forwards it: fails with
/// [`ViewerBodyError::Stalled`] when the viewer pauses longer than `idle` in the middle
/// of it (`[server] body_read_timeout_ms`: a slow-body client would otherwise hold its
/// connection and an origin connection for as long as it likes), and marks its other
/// errors as the viewer's. A request without a body allocates nothing.
pub struct GuardedBody<B> {
    inner: Option<Pin<Box<B>>>,
    idle: crate::util::IdleTimer,
}

impl<B: ViewerBody> GuardedBody<B> {
    pub fn new(body: B, idle: std::time::Duration) -> Self {
        Self {
            inner: (!body.is_end_stream()).then(|| Box::pin(body)),
            idle: crate::util::IdleTimer::new(idle),
        }
    }
}

impl<B: ViewerBody> Body for GuardedBody<B> {
    type Data = Bytes;
    type Error = ViewerBodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ViewerBodyError>>> {
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        match inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.idle.progressed();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(ViewerBodyError::Broken(e.into())))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending if this.idle.poll_expired(cx) => {
                Poll::Ready(Some(Err(ViewerBodyError::Stalled(this.idle.idle()))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|b| b.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner
            .as_ref()
            .map_or_else(|| SizeHint::with_exact(0), |b| b.size_hint())
    }
}

/// Why a viewer's request body stopped short: the viewer's doing, never the origin's,
/// so forwarding reports it as the viewer's (408 or 400) and does not hold it against
/// the member it was being sent to.
#[derive(Debug, thiserror::Error)]
pub enum ViewerBodyError {
    #[error("the viewer sent no request body data for {0:?}")]
    Stalled(std::time::Duration),
    #[error("the viewer's request body broke off: {0}")]
    Broken(#[source] crate::BoxError),
}

impl ViewerBodyError {
    /// The viewer body error behind `e`, if one is in its chain of sources.
    pub fn find<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a ViewerBodyError> {
        let mut next = Some(e);
        while let Some(e) = next {
            if let Some(found) = e.downcast_ref::<ViewerBodyError>() {
                return Some(found);
            }
            next = e.source();
        }
        None
    }
}

/// A response body. An enum rather than a boxed trait object so the common cases cost
/// no allocation.
#[derive(Debug)]
pub enum EdgeBody {
    Full(Full<Bytes>),
    Origin(hyper::body::Incoming),
    /// An origin body being copied into the cache as it streams.
    Filling(Box<crate::cache::FillBody>),
    /// An origin body with the pool's idle timeout and in-flight accounting.
    Upstream(crate::origin::UpstreamBody),
}

impl EdgeBody {
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        EdgeBody::Full(Full::new(bytes.into()))
    }

    pub fn empty() -> Self {
        EdgeBody::Full(Full::new(Bytes::new()))
    }
}

impl Body for EdgeBody {
    type Data = Bytes;
    type Error = crate::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, crate::BoxError>>> {
        match self.get_mut() {
            EdgeBody::Full(b) => Pin::new(b).poll_frame(cx).map_err(|never| match never {}),
            EdgeBody::Origin(b) => Pin::new(b).poll_frame(cx).map_err(Into::into),
            EdgeBody::Filling(b) => Pin::new(b.as_mut()).poll_frame(cx),
            EdgeBody::Upstream(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            EdgeBody::Full(b) => b.is_end_stream(),
            EdgeBody::Origin(b) => b.is_end_stream(),
            EdgeBody::Filling(b) => b.is_end_stream(),
            EdgeBody::Upstream(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            EdgeBody::Full(b) => b.size_hint(),
            EdgeBody::Origin(b) => b.size_hint(),
            EdgeBody::Filling(b) => b.size_hint(),
            EdgeBody::Upstream(b) => b.size_hint(),
        }
    }
}

/// A viewer's request body whose start was read for functions to inspect: the bytes
/// read (and a trailers frame, if the body ended with one) are replayed first, then the
/// rest streams through. Boxed only on this path, so requests nobody inspects pay
/// nothing.
pub struct InspectedBody<B> {
    prefix: Option<Bytes>,
    trailers: Option<Frame<Bytes>>,
    rest: Pin<Box<B>>,
}

impl<B: Body<Data = Bytes>> InspectedBody<B> {
    /// Reads up to `cap` bytes of `body` (less if it ends first or the viewer stalls for
    /// `wait`); returns the bytes read and the whole body to forward.
    pub async fn read(body: B, cap: usize, wait: std::time::Duration) -> (Bytes, Self) {
        use http_body_util::BodyExt;
        let mut rest = Box::pin(body);
        let mut buf = bytes::BytesMut::new();
        let mut trailers = None;
        let deadline = tokio::time::Instant::now() + wait;
        while buf.len() < cap && !rest.is_end_stream() {
            match tokio::time::timeout_at(deadline, rest.frame()).await {
                Ok(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => buf.extend_from_slice(&data),
                    Err(frame) => {
                        trailers = Some(frame);
                        break;
                    }
                },
                // End, a body error (forwarding reports it), or a stalled viewer: inspect
                // what arrived.
                Ok(None) | Ok(Some(Err(_))) | Err(_) => break,
            }
        }
        let prefix = buf.freeze();
        let body = InspectedBody {
            prefix: (!prefix.is_empty()).then(|| prefix.clone()),
            trailers,
            rest,
        };
        (prefix, body)
    }
}

impl<B: Body<Data = Bytes>> Body for InspectedBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        if let Some(prefix) = this.prefix.take() {
            return Poll::Ready(Some(Ok(Frame::data(prefix))));
        }
        if let Some(trailers) = this.trailers.take() {
            return Poll::Ready(Some(Ok(trailers)));
        }
        this.rest.as_mut().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.prefix.is_none() && self.trailers.is_none() && self.rest.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        let rest = self.rest.size_hint();
        let extra = self.prefix.as_ref().map_or(0, |p| p.len() as u64);
        // Upper first: `set_lower` checks against the current upper bound.
        let mut hint = SizeHint::new();
        if let Some(upper) = rest.upper() {
            hint.set_upper(upper + extra);
        }
        hint.set_lower(rest.lower() + extra);
        hint
    }
}
