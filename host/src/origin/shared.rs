//! What origins carry from one snapshot to the next: member clients (so a reload keeps
//! warm keep-alive connections) and member health (so a reload does not re-admit an
//! ejected or unhealthy member, nor forget requests in flight).
//!
//! Health is keyed by pool id and member URL and held weakly: a member that leaves the
//! config is forgotten once the last snapshot using it is gone.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use super::client::ClientSet;
use super::health::MemberState;
use crate::config::OriginId;

#[derive(Debug, Default)]
pub struct OriginShared {
    pub clients: ClientSet,
    health: Mutex<HashMap<(OriginId, String), Weak<MemberState>>>,
}

impl OriginShared {
    /// The live state of member `url` of pool `origin`, new if no snapshot has it.
    pub fn member_state(&self, origin: &OriginId, url: &str) -> Arc<MemberState> {
        let mut map = self.health.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, w| w.strong_count() > 0);
        let key = (origin.clone(), url.to_owned());
        if let Some(state) = map.get(&key).and_then(Weak::upgrade) {
            return state;
        }
        let state = Arc::new(MemberState::new());
        map.insert(key, Arc::downgrade(&state));
        state
    }
}
