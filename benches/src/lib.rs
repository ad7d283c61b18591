//! Shared inputs for the criterion benches: realistic requests and a small edge.

use std::net::SocketAddr;

use http::Request;
use wedge::wasm::RequestView;

/// A typical mobile browser request: the headers a real viewer sends.
pub fn mobile_request() -> http::request::Parts {
    Request::get("/products/shoes?color=red&size=42")
        .header("host", "www.example.test")
        .header(
            "user-agent",
            "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        )
        .header("accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
        .header("accept-language", "en-GB,en;q=0.9")
        .header("accept-encoding", "gzip, deflate, br")
        .header("sec-ch-ua-mobile", "?1")
        .header("sec-ch-ua-platform", "\"Android\"")
        .header("cookie", "session=4f6b2c1e9a; theme=dark")
        .body(())
        .expect("valid request")
        .into_parts()
        .0
}

/// The request as a function sees it.
pub fn view(parts: http::request::Parts) -> RequestView {
    RequestView::new(
        parts,
        [198, 51, 100, 7].into(),
        Some("www.example.test".into()),
        "https",
        "www.example.test".into(),
    )
}

/// How a bench loads a function: which module, its config, and the reuse it may make.
pub struct Load<'a> {
    pub module: &'a str,
    pub config: serde_json::Value,
    /// Requests per instance (`max_instance_reuse`; 0: a fresh instance every time).
    pub reuse: u32,
    /// Decision cache entries (0: off).
    pub decisions: u64,
}

impl Load<'_> {
    /// The function, loaded into `engine` as `name`.
    pub fn load_into(
        self,
        engine: &wedge::wasm::WasmEngine,
        name: &str,
    ) -> std::sync::Arc<wedge::wasm::LoadedFunction> {
        let module = wedge_tests::function(self.module);
        self.load_from(engine, name, module)
    }

    /// The same, with the module read from `path` (another build of the functions).
    pub fn load_from(
        self,
        engine: &wedge::wasm::WasmEngine,
        name: &str,
        path: std::path::PathBuf,
    ) -> std::sync::Arc<wedge::wasm::LoadedFunction> {
        let config = wedge::config::FunctionConfig {
            decision_cache: self.decisions,
            max_instance_reuse: self.reuse,
            config: self.config,
            ..wedge::config::FunctionConfig::new(path)
        };
        wedge_tests::load_function(engine, name, &config)
    }
}

/// A request id for benches.
pub fn request_id() -> wedge::util::RequestId {
    wedge::util::RequestId::next()
}

/// The single-threaded runtime the benches drive the edge with.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// An HTTPS connection from [`client`] for `www.example.test`.
pub fn connection() -> wedge::pipeline::ConnectionInfo {
    wedge::pipeline::ConnectionInfo::https(client(), Some("www.example.test".into()), None, None)
}

/// A loopback client address.
pub fn client() -> SocketAddr {
    SocketAddr::from(([198, 51, 100, 7], 40000))
}
