//! Origins: pools of members with balancing, health and retry budgets, the pooled
//! clients that reach them, and the response body that guards idle origins.

mod balance;
mod body;
mod budget;
mod client;
mod health;
mod pool;
mod shared;
mod unsent;

use std::sync::Arc;

pub use body::UpstreamBody;
pub use client::OriginBody;
pub use health::Outcome;
pub use pool::{InFlight, OriginPool, PoolMember, Unavailable};
pub use shared::OriginShared;
pub use unsent::RequestBody;

/// Fresh origin clients and health state (a snapshot hands them on to the next).
pub fn shared() -> Arc<OriginShared> {
    Arc::new(OriginShared::default())
}

/// An error and its sources, joined with `: `.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
