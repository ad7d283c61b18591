//! The origin's response body as the viewer receives it: fails when the origin pauses
//! longer than the idle timeout, keeps the member's in-flight count until it ends, and
//! reports a broken or idle body to the member's passive health.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;

use super::pool::InFlight;
use crate::util::IdleTimer;

/// Why a response body stopped early.
#[derive(Debug, thiserror::Error)]
#[error("origin sent nothing for {0:?} (idle timeout)")]
pub struct IdleTimeout(Duration);

#[derive(Debug)]
pub struct UpstreamBody {
    inner: Incoming,
    /// Most small bodies arrive with the head and never arm it.
    idle: IdleTimer,
    in_flight: Option<InFlight>,
}

impl UpstreamBody {
    pub fn new(inner: Incoming, idle: Duration, in_flight: InFlight) -> Self {
        Self {
            inner,
            idle: IdleTimer::new(idle),
            in_flight: Some(in_flight),
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = crate::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.idle.progressed();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                if let Some(f) = this.in_flight.take() {
                    f.body_failed();
                }
                Poll::Ready(Some(Err(e.into())))
            }
            Poll::Ready(None) => {
                // Done: the member is no longer busy with this request.
                this.in_flight = None;
                Poll::Ready(None)
            }
            Poll::Pending if this.idle.poll_expired(cx) => {
                if let Some(f) = this.in_flight.take() {
                    f.body_failed();
                }
                Poll::Ready(Some(Err(Box::new(IdleTimeout(this.idle.idle())))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
