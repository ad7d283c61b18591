//! Going to the origin: origin-request hooks, forwarding, origin-response hooks. Used
//! for every request that is not answered from the cache, and for cache refreshes.

use std::sync::Arc;

use http::Response;
use http::header::HeaderValue;

use super::{Explain, finish_after, implemented, run_request_hooks, run_response_hooks};
use super::{body::EdgeBody, body::ViewerBody, context::ConnectionInfo, forward, origin_policy};
use crate::config::Behavior;
use crate::error::RequestError;
use crate::snapshot::Snapshot;
use crate::util::RequestId;
use crate::wasm::{FunctionRun, Hook, RequestView};

/// What a request needs to reach its behavior's origin.
pub(super) struct Origin<'a> {
    pub snapshot: &'a Arc<Snapshot>,
    pub behavior: &'a Behavior,
    pub conn: &'a ConnectionInfo,
    pub host_value: &'a HeaderValue,
    pub request_id: RequestId,
}

/// A response on its way back, with the request as sent (for response hooks).
pub(super) struct Fetched {
    pub response: Response<EdgeBody>,
    /// The request as it went to the origin, kept when response hooks will read it.
    pub sent: Option<RequestView>,
    /// False when an origin-request hook answered instead of the origin.
    pub from_origin: bool,
}

impl Origin<'_> {
    /// Runs origin-request hooks (which may answer), forwards, and runs
    /// origin-response hooks. `hash_key` is what pools that balance by cache key hash
    /// (the full cache key on cached behaviors, the functions' part otherwise).
    pub async fn fetch<B>(
        &self,
        runs: &mut [FunctionRun],
        view: RequestView,
        body: B,
        hash_key: Option<&str>,
        explain: &mut Explain,
    ) -> Result<Fetched, RequestError>
    where
        B: ViewerBody,
    {
        // The behavior's origin request policy first, then the hooks.
        let mut view = view;
        origin_policy::apply(self.snapshot, self.behavior, &mut view.parts);
        let (view, answered) = if implemented(runs, Hook::OriginRequest) {
            Box::pin(run_request_hooks(
                runs,
                Hook::OriginRequest,
                view,
                self.request_id,
                explain,
            ))
            .await?
        } else {
            finish_after(runs, Hook::OriginRequest);
            (view, None)
        };
        let wants_response = runs
            .iter()
            .any(|r| r.implements(Hook::OriginResponse) || r.implements(Hook::ViewerResponse));
        // Response hooks see the request as sent; keep a copy only when someone will look.
        let mut sent = wants_response.then(|| view.head_copy());
        if let Some(response) = answered {
            return Ok(Fetched {
                response,
                sent,
                from_origin: false,
            });
        }
        // Pools that hash pick their member by the cache key.
        let resp = forward::forward(
            self.snapshot,
            self.behavior,
            self.conn,
            view.into_parts(),
            body,
            self.host_value.clone(),
            hash_key,
        )
        .await?;
        let response = if implemented(runs, Hook::OriginResponse) {
            Box::pin(run_response_hooks(
                runs,
                Hook::OriginResponse,
                &mut sent,
                resp,
                self.request_id,
                explain,
            ))
            .await?
        } else {
            resp
        };
        Ok(Fetched {
            response,
            sent,
            from_origin: true,
        })
    }
}
