//! Origin pools: which member gets a request, and the pooled client that sends it.

mod pool;

pub use pool::{OriginPool, PoolMember};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

/// Request bodies sent to origins (the viewer's body, whatever type it arrived as).
pub type OriginBody = UnsyncBoxBody<Bytes, crate::BoxError>;

/// The shared HTTP/1.1 client with keep-alive connection pooling.
pub type OriginClient = Client<HttpConnector, OriginBody>;

/// Builds the pooled client used for every origin.
pub fn client() -> OriginClient {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    connector.enforce_http(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build(connector)
}
