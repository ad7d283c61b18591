//! A request body that can be taken back while no attempt has started sending it, so
//! that a request whose connection could not even be made can go to another member
//! with its body intact ("nothing sent yet"), without buffering it.
//!
//! Each attempt gets a proxy body that takes the real body out of a shared slot on its
//! first poll. hyper polls a request body only once a connection is ready; when the
//! connect fails, the slot is still full and the next attempt sends the body instead.
//! It also tells when the body has been sent to its end ([`RequestBody::finished`]), so
//! the wait for the origin's answer is timed from then, not while a viewer uploads.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty};

use super::client::OriginBody;

/// The viewer's request body, shared by the attempts to send it.
pub struct RequestBody {
    /// `None` for an empty body (most requests): nothing to share, nothing allocated.
    shared: Option<Arc<Shared>>,
    hint: SizeHint,
}

struct Shared {
    /// The body until an attempt takes it.
    slot: Mutex<Option<OriginBody>>,
    /// The body has been read to its end (or failed).
    done: AtomicBool,
    done_notify: tokio::sync::Notify,
}

impl Shared {
    fn finish(&self) {
        if !self.done.swap(true, Ordering::AcqRel) {
            self.done_notify.notify_waiters();
        }
    }
}

impl RequestBody {
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes, Error: Into<crate::BoxError>> + Send + 'static,
    {
        let hint = body.size_hint();
        let shared = (!body.is_end_stream()).then(|| {
            Arc::new(Shared {
                slot: Mutex::new(Some(body.map_err(Into::into).boxed_unsync())),
                done: AtomicBool::new(false),
                done_notify: tokio::sync::Notify::new(),
            })
        });
        Self { shared, hint }
    }

    /// Whether an attempt can still send the whole body: it is empty, or no attempt
    /// has started sending it.
    pub fn unsent(&self) -> bool {
        self.shared
            .as_ref()
            .is_none_or(|shared| lock(&shared.slot).is_some())
    }

    /// Whether the body has been read to its end (or has failed): at once for an empty
    /// one.
    pub fn is_finished(&self) -> bool {
        self.shared
            .as_ref()
            .is_none_or(|shared| shared.done.load(Ordering::Acquire))
    }

    /// Resolves once [`RequestBody::is_finished`].
    pub async fn finished(&self) {
        let Some(shared) = &self.shared else { return };
        loop {
            let notified = shared.done_notify.notified();
            if shared.done.load(Ordering::Acquire) {
                return;
            }
            notified.await;
        }
    }

    /// The body for one attempt.
    pub fn attempt(&self) -> OriginBody {
        let Some(shared) = &self.shared else {
            return Empty::new().map_err(|e| match e {}).boxed_unsync();
        };
        SlotBody {
            shared: shared.clone(),
            taken: None,
            hint: self.hint,
        }
        .boxed_unsync()
    }
}

fn lock(slot: &Mutex<Option<OriginBody>>) -> std::sync::MutexGuard<'_, Option<OriginBody>> {
    slot.lock().unwrap_or_else(|p| p.into_inner())
}

/// Why an attempt had no body to send (an earlier attempt started sending it).
#[derive(Debug, thiserror::Error)]
#[error("the request body was already sent by an earlier attempt")]
struct AlreadySent;

struct SlotBody {
    shared: Arc<Shared>,
    taken: Option<OriginBody>,
    hint: SizeHint,
}

impl Body for SlotBody {
    type Data = Bytes;
    type Error = crate::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        if self.taken.is_none() {
            let body = lock(&self.shared.slot).take();
            match body {
                Some(b) => self.taken = Some(b),
                None => return Poll::Ready(Some(Err(Box::new(AlreadySent)))),
            }
        }
        let Some(body) = self.taken.as_mut() else {
            return Poll::Ready(None);
        };
        let frame = Pin::new(&mut *body).poll_frame(cx);
        // hyper stops polling once a body says it has ended.
        let ended = match &frame {
            Poll::Ready(None | Some(Err(_))) => true,
            Poll::Ready(Some(Ok(_))) => body.is_end_stream(),
            Poll::Pending => false,
        };
        if ended {
            self.shared.finish();
        }
        frame
    }

    fn size_hint(&self) -> SizeHint {
        self.hint
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn the_body_goes_to_the_first_attempt_that_polls_it() {
        let body = RequestBody::new(
            Full::new(Bytes::from_static(b"payload"))
                .map_err(|e| match e {})
                .boxed_unsync(),
        );
        let unpolled = body.attempt();
        drop(unpolled); // a failed connect: never polled
        assert!(body.unsent());
        let second = body.attempt();
        assert_eq!(second.size_hint().exact(), Some(7));
        let got = second.collect().await.unwrap().to_bytes();
        assert_eq!(&got[..], b"payload");
        assert!(!body.unsent());
        assert!(body.attempt().collect().await.is_err());
    }
}
