//! wedge: a WebAssembly edge-function runtime and mini-CDN.
//!
//! The host is a library first; the `wedge` binary is a thin shell over it. Build an
//! [`Edge`] from a config file ([`Edge::from_config_file`]) or from [`config::Config`]
//! structs ([`Edge::new`]), then either serve it on its configured listeners
//! ([`Edge::start`]), on listeners you bound ([`Edge::start_on`]), or mount
//! [`Edge::service`] inside your own hyper or tower server.
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let edge = wedge::Edge::from_config_file("wedge.toml").await?;
//! let running = edge.start().await?;
//! println!("HTTPS on {:?}", running.https);
//! tokio::signal::ctrl_c().await?;
//! running.shutdown().await;
//! # Ok(()) }
//! ```

pub mod access_log;
pub mod admin;
pub mod cache;
pub mod config;
pub mod dev;
mod edge;
pub mod error;
pub mod metrics;
pub mod nacl;
pub mod origin;
pub mod pipeline;
pub mod reload;
pub mod router;
pub mod server;
pub mod snapshot;
pub mod stub_origin;
pub mod testing;
pub mod tls;
mod trim;
pub mod util;
pub mod wasm;

pub use edge::{Edge, EdgeError, EdgeService};
pub use pipeline::{ConnectionInfo, EdgeBody};
pub use server::{BoundListeners, Running};

/// The error type for bodies of any origin.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
