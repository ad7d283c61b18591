//! The embedding API: an edge built from config structs, mounted as a service inside a
//! server the test owns, and served on listeners the test bound.

use std::net::SocketAddr;
use std::str::FromStr;

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use hyper_util::rt::{TokioExecutor, TokioIo};
use wedge::config::{
    Behavior, Config, Distribution, DistributionId, FunctionConfig, FunctionId, HostPattern,
    OriginId, OriginMember, OriginPoolConfig, PathPattern,
};
use wedge::stub_origin::StubOrigin;
use wedge::{BoundListeners, ConnectionInfo, Edge};
use wedge_tests::{function, send};

fn config_for(origin: &StubOrigin) -> Config {
    let mut config = Config::default();
    let stub = OriginId::from_str("stub").unwrap();
    let device = FunctionId::from_str("device-class").unwrap();
    config.origins.insert(
        stub.clone(),
        OriginPoolConfig::new(vec![OriginMember {
            url: origin.url().parse().unwrap(),
            weight: 1,
        }]),
    );
    config.functions.insert(
        device.clone(),
        FunctionConfig::new(function("device-class")),
    );
    config.distributions.push(Distribution {
        id: DistributionId::from_str("site").unwrap(),
        aliases: vec![HostPattern::new("embedded.test").unwrap()],
        behaviors: vec![],
        default_behavior: Behavior {
            path_pattern: PathPattern::any(),
            origin: stub,
            origin_request_policy: None,
            functions: vec![device],
            cache_policy: None,
        },
    });
    config
}

#[tokio::test]
async fn an_edge_from_structs_mounted_in_our_own_server() {
    let origin = StubOrigin::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let edge = Edge::new(config_for(&origin)).await.unwrap();

    // Our own accept loop: the edge is just a service on each connection.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_edge = edge.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, peer) = listener.accept().await.unwrap();
            let svc = server_edge.service(ConnectionInfo::plain(peer));
            tokio::spawn(async move {
                let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
                builder.serve_connection(TokioIo::new(tcp), svc).await
            });
        }
    });
    let req = Request::get("/echo")
        .header("host", "embedded.test")
        .header(
            "user-agent",
            "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X)",
        )
        .body(Full::<Bytes>::default())
        .unwrap();
    let resp = send(addr, None, req).await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        origin.last().unwrap().header("cloudfront-is-tablet-viewer"),
        Some("true")
    );
}

#[tokio::test]
async fn an_edge_handles_requests_without_any_listener() {
    let origin = StubOrigin::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let edge = Edge::new(config_for(&origin)).await.unwrap();
    let conn = ConnectionInfo::plain(SocketAddr::from(([192, 0, 2, 10], 5555)));
    let req = Request::get("http://embedded.test/echo")
        .body(Full::<Bytes>::default())
        .unwrap();
    let resp = edge.handle(&conn, req).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        origin.last().unwrap().header("x-forwarded-for"),
        Some("192.0.2.10")
    );
}

#[tokio::test]
async fn an_edge_served_on_listeners_we_bound() {
    let origin = StubOrigin::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let edge = Edge::new(config_for(&origin)).await.unwrap();
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let running = edge.start_on(BoundListeners {
        http: Some(http),
        ..Default::default()
    });
    let req = Request::get("/echo")
        .header("host", "embedded.test")
        .body(Full::<Bytes>::default())
        .unwrap();
    assert_eq!(
        send(running.http.unwrap(), None, req)
            .await
            .unwrap()
            .status(),
        200
    );
    running.shutdown().await;
}

#[tokio::test]
async fn struct_configs_are_validated_too() {
    let origin = StubOrigin::start(([127, 0, 0, 1], 0).into()).await.unwrap();
    let mut config = config_for(&origin);
    config.distributions[0].default_behavior.origin = OriginId::from_str("nowhere").unwrap();
    let err = Edge::new(config).await.err().unwrap().to_string();
    assert!(
        err.contains("distributions[0].default_behavior.origin") && err.contains("nowhere"),
        "{err}"
    );
}
