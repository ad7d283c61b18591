//! A request body that can be taken back while no attempt has started sending it, so
//! that a request whose connection could not even be made can go to another member
//! with its body intact ("nothing sent yet"), without buffering it.
//!
//! Each attempt gets a proxy body that takes the real body out of a shared slot on its
//! first poll. hyper polls a request body only once a connection is ready; when the
//! connect fails, the slot is still full and the next attempt sends the body instead.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, Empty};

use super::client::OriginBody;

/// The viewer's request body, shared by the attempts to send it.
pub struct RequestBody {
    /// `None` for an empty body (most requests): nothing to share, nothing allocated.
    slot: Option<Arc<Mutex<Option<OriginBody>>>>,
    hint: SizeHint,
}

impl RequestBody {
    pub fn new<B>(body: B) -> Self
    where
        B: Body<Data = Bytes, Error: Into<crate::BoxError>> + Send + 'static,
    {
        let hint = body.size_hint();
        let slot = (!body.is_end_stream())
            .then(|| Arc::new(Mutex::new(Some(body.map_err(Into::into).boxed_unsync()))));
        Self { slot, hint }
    }

    /// Whether an attempt can still send the whole body: it is empty, or no attempt
    /// has started sending it.
    pub fn unsent(&self) -> bool {
        self.slot.as_ref().is_none_or(|slot| lock(slot).is_some())
    }

    /// The body for one attempt.
    pub fn attempt(&self) -> OriginBody {
        let Some(slot) = &self.slot else {
            return Empty::new().map_err(|e| match e {}).boxed_unsync();
        };
        SlotBody {
            slot: slot.clone(),
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
    slot: Arc<Mutex<Option<OriginBody>>>,
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
            let body = lock(&self.slot).take();
            match body {
                Some(b) => self.taken = Some(b),
                None => return Poll::Ready(Some(Err(Box::new(AlreadySent)))),
            }
        }
        match self.taken.as_mut() {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        }
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
