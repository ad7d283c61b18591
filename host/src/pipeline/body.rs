//! The response body type: either bytes the edge made or the origin's streamed body.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;

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
