//! Build an edge from config structs and mount it as a service inside your own hyper
//! server: your accept loop, your connection settings, wedge's routing and functions.
//!
//! ```sh
//! cargo run -p wedge --example embed_in_hyper
//! curl -H 'Host: app.localhost' http://127.0.0.1:3000/echo
//! ```

use std::str::FromStr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use wedge::config::{
    Behavior, Config, Distribution, DistributionId, HostPattern, OriginId, OriginMember,
    OriginPoolConfig, PathPattern,
};
use wedge::stub_origin::StubOrigin;
use wedge::{ConnectionInfo, Edge};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    // An origin to forward to: wedge's echo stub on a free port.
    let origin = StubOrigin::start(([127, 0, 0, 1], 0).into()).await?;

    let app = OriginId::from_str("app")?;
    let mut config = Config::default();
    config.origins.insert(
        app.clone(),
        OriginPoolConfig::new(vec![OriginMember {
            url: origin.url().parse()?,
            weight: 1,
        }]),
    );
    config.distributions.push(Distribution {
        id: DistributionId::from_str("app")?,
        aliases: vec![HostPattern::new("app.localhost")?],
        behaviors: vec![],
        default_behavior: Behavior::new(PathPattern::any(), app),
    });
    let edge = Edge::new(config).await?;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (tcp, peer) = listener.accept().await?;
        let service = edge.service(ConnectionInfo::plain(peer));
        tokio::spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder.serve_connection(TokioIo::new(tcp), service).await {
                eprintln!("connection from {peer}: {e}");
            }
        });
    }
}
