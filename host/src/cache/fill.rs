//! Filling the cache while streaming: the origin's body goes to the viewer as it
//! arrives and a copy is kept, up to the object size limit, to be stored at the end.
//! A body that ends in error, grows too large or is abandoned by the viewer is not
//! stored; either way the requests collapsed onto this fetch are woken.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};

use super::{FetchGuard, HttpCache, StorePlan};
use crate::pipeline::EdgeBody;

/// What to store once the body is complete.
pub struct Fill {
    pub cache: Arc<HttpCache>,
    pub plan: StorePlan,
    pub key: String,
    pub url: String,
}

/// A response body that tees into the cache.
pub struct FillBody {
    inner: EdgeBody,
    fill: Option<Fill>,
    chunks: Vec<Bytes>,
    size: u64,
    limit: u64,
    /// Wakes collapsed requests when dropped: after storing, or when abandoned.
    guard: Option<FetchGuard>,
}

impl std::fmt::Debug for FillBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FillBody")
            .field("size", &self.size)
            .field("filling", &self.fill.is_some())
            .finish()
    }
}

impl FillBody {
    pub fn new(inner: EdgeBody, fill: Fill, guard: Option<FetchGuard>) -> Self {
        let limit = fill.cache.settings().max_object_bytes;
        // Too large by its own account: stream it without keeping a copy.
        let fill = match inner.size_hint().exact() {
            Some(n) if n > limit => None,
            _ => Some(fill),
        };
        let mut body = Self {
            inner,
            fill,
            chunks: Vec::new(),
            size: 0,
            limit,
            guard,
        };
        // An empty body may never be polled: store it now.
        if body.inner.is_end_stream() {
            body.finish();
        }
        body
    }

    fn finish(&mut self) {
        if let Some(fill) = self.fill.take() {
            let body = match self.chunks.len() {
                0 => Bytes::new(),
                1 => self.chunks.pop().expect("one chunk"),
                _ => {
                    let mut all = BytesMut::with_capacity(self.size as usize);
                    for c in self.chunks.drain(..) {
                        all.extend_from_slice(&c);
                    }
                    all.freeze()
                }
            };
            let entry = fill.plan.into_entry(fill.key, fill.url, body);
            fill.cache.insert(Arc::new(entry));
        }
        self.chunks = Vec::new();
        self.guard = None;
    }

    fn abandon(&mut self) {
        self.fill = None;
        self.chunks = Vec::new();
        self.guard = None;
    }
}

impl Body for FillBody {
    type Data = Bytes;
    type Error = crate::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, crate::BoxError>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref()
                    && this.fill.is_some()
                {
                    this.size += data.len() as u64;
                    if this.size > this.limit {
                        this.abandon();
                    } else {
                        this.chunks.push(data.clone());
                    }
                }
                if this.inner.is_end_stream() {
                    this.finish();
                }
            }
            Poll::Ready(None) => this.finish(),
            Poll::Ready(Some(Err(_))) => this.abandon(),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
