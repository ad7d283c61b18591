//! Functions that misbehave end only their own request, as their `on_error` says, and the
//! host keeps serving; synthetic responses and refused edits; load-time refusals.

use bytes::Bytes;
use http::Request;
use http_body_util::Full;
use wedge::Edge;
use wedge::config::Config;
use wedge_tests::{TestEdge, function, http_get, send};

const HOSTILE: &str = r#"
[origins.stub]
members = [{ url = "{stub}" }]

[functions.strict]
module = "{functions}/hostile.wasm"
limits = { timeout_ms = 50, memory_mb = 8 }

[functions.open]
module = "{functions}/hostile.wasm"
on_error = "continue"
limits = { timeout_ms = 50, memory_mb = 8 }

[functions.closed]
module = "{functions}/hostile.wasm"
on_error = "block"
limits = { timeout_ms = 50, memory_mb = 8 }

[[distributions]]
id = "strict"
aliases = ["strict.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["strict"]

[[distributions]]
id = "open"
aliases = ["open.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["open"]

[[distributions]]
id = "closed"
aliases = ["closed.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["closed"]
"#;

async fn get(edge: &TestEdge, host: &str, path: &str) -> http::Response<Bytes> {
    http_get(edge.http_addr(), host, path, &[]).await.unwrap()
}

#[tokio::test]
async fn every_failure_mode_ends_only_its_request() {
    let edge = TestEdge::start(HOSTILE).await.unwrap();
    for path in ["/trap", "/loop", "/oom", "/recurse", "/bad-status"] {
        let resp = get(&edge, "strict.test", path).await;
        assert_eq!(resp.status(), 500, "{path}");
        assert_eq!(resp.headers()["x-wedge-error"], "function-error", "{path}");
        // The host is still serving, and the same function still works.
        let ok = get(&edge, "strict.test", "/echo").await;
        assert_eq!(ok.status(), 200, "after {path}");
        assert_eq!(
            edge.origin.last().unwrap().header("x-hostile"),
            Some("passed")
        );
    }
    assert_eq!(
        edge.origin.received().len(),
        5,
        "failed requests never reached the origin"
    );
}

#[tokio::test]
async fn on_error_continue_fails_open_and_block_fails_closed() {
    let edge = TestEdge::start(HOSTILE).await.unwrap();
    let resp = get(&edge, "open.test", "/trap").await;
    assert_eq!(
        resp.status(),
        404,
        "forwarded to the origin, which has no /trap"
    );
    assert_eq!(edge.origin.last().unwrap().path, "/trap");
    assert_eq!(edge.origin.last().unwrap().header("x-hostile"), None);

    let resp = get(&edge, "closed.test", "/loop").await;
    assert_eq!(resp.status(), 503);
    assert_eq!(resp.headers()["x-wedge-error"], "function-blocked");
}

#[tokio::test]
async fn runaway_functions_do_not_stall_other_requests() {
    let edge = TestEdge::start(HOSTILE).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..12 {
        let path = if i % 3 == 0 { "/loop" } else { "/echo" };
        let addr = edge.http_addr();
        tasks.push(tokio::spawn(async move {
            let req = Request::get(path)
                .header("host", "strict.test")
                .body(Full::default())
                .unwrap();
            (path, send(addr, None, req).await.unwrap().status())
        }));
    }
    for t in tasks {
        let (path, status) = t.await.unwrap();
        assert_eq!(status, if path == "/loop" { 500 } else { 200 }, "{path}");
    }
}

#[tokio::test]
async fn functions_can_answer_and_have_edits_refused() {
    let edge = TestEdge::start(HOSTILE).await.unwrap();
    let resp = get(&edge, "strict.test", "/respond").await;
    assert_eq!(resp.status(), 418);
    assert_eq!(&resp.body()[..], b"short and stout\n");
    assert!(edge.origin.received().is_empty());

    let resp = get(&edge, "strict.test", "/huge-header").await;
    assert_eq!(resp.headers()["x-refused"], "write limit reached");
    let resp = get(&edge, "strict.test", "/forbidden-header").await;
    assert_eq!(resp.headers()["x-refused"], "managed by the host");
}

#[tokio::test]
async fn batched_header_calls_read_in_order_and_stop_at_a_refused_edit() {
    let edge = TestEdge::start(HOSTILE).await.unwrap();
    edge.http("strict.test", "/batch", &[("user-agent", "batch-agent/1")])
        .await;
    let seen = edge.origin.last().unwrap();
    assert_eq!(seen.header("x-ua"), Some("batch-agent/1"));
    assert_eq!(seen.header("x-absent"), Some("absent"));
    // A name holding a newline is no header name, and does not shift the others.
    assert_eq!(seen.header("x-split"), Some("true false"));
    // The batch stops at the refused edit; the ones before it stay.
    assert_eq!(seen.header("x-one"), Some("1"));
    assert_eq!(seen.header("x-three"), None);
    assert_eq!(
        seen.header("x-refused"),
        Some("content-length: managed by the host")
    );
    assert_eq!(seen.header("x-four"), Some("4"));
    assert_eq!(seen.header("x-five"), None);
    assert_eq!(
        seen.header("x-block-refused"),
        Some("1: invalid header name")
    );
}

#[tokio::test]
async fn a_component_importing_sockets_is_refused_at_load() {
    let toml = format!(
        "[functions.net]\nmodule = \"{}\"\n[origins.o]\nmembers = [{{ url = \"http://127.0.0.1:9\" }}]\n",
        function("sockets").display()
    );
    let config = Config::from_toml(&toml, "sockets.toml".as_ref(), ".".as_ref()).unwrap();
    let err = Edge::new(config).await.err().expect("refused").to_string();
    assert!(err.contains("wasi:sockets"), "{err}");
    assert!(err.contains("sockets.wasm"), "names the file: {err}");
}

#[tokio::test]
async fn a_missing_or_broken_module_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.wasm");
    std::fs::write(&broken, b"\0asm not really").unwrap();
    for (module, expect) in [
        (dir.path().join("missing.wasm"), "cannot read module"),
        (broken, "not a valid WebAssembly component"),
    ] {
        let toml = format!("[functions.f]\nmodule = \"{}\"\n", module.display());
        let config = Config::from_toml(&toml, "f.toml".as_ref(), ".".as_ref()).unwrap();
        let err = Edge::new(config).await.err().expect("refused").to_string();
        assert!(
            err.contains(expect) && err.contains(&module.display().to_string()),
            "{err}"
        );
    }
}

#[tokio::test]
async fn failures_are_counted_by_kind() {
    use std::sync::atomic::Ordering::Relaxed;
    let edge = TestEdge::start(HOSTILE).await.unwrap();
    for path in ["/trap", "/trap", "/loop", "/oom", "/echo"] {
        get(&edge, "strict.test", path).await;
    }
    let snapshot = edge.edge.snapshot();
    let stats = &snapshot.functions[&wedge::config::FunctionId::new("strict").unwrap()].stats;
    assert_eq!(stats.timeouts.load(Relaxed), 1);
    assert_eq!(
        stats.traps.load(Relaxed),
        3,
        "two panics and the memory bomb"
    );
    assert_eq!(stats.invocations.load(Relaxed), 1);
    assert_eq!(stats.instances.load(Relaxed), 5);
}

#[tokio::test]
async fn the_write_limit_is_per_function() {
    let config = HOSTILE.replace(
        "[functions.open]\nmodule = \"{functions}/hostile.wasm\"\non_error = \"continue\"\nlimits = { timeout_ms = 50, memory_mb = 8 }",
        "[functions.open]\nmodule = \"{functions}/hostile.wasm\"\non_error = \"continue\"\nlimits = { timeout_ms = 50, memory_mb = 8, write_kb = 128 }",
    );
    let edge = TestEdge::start(&config).await.unwrap();
    let resp = get(&edge, "strict.test", "/huge-header").await;
    assert_eq!(
        resp.headers()["x-refused"],
        "write limit reached",
        "32 KiB by default"
    );
    get(&edge, "open.test", "/huge-header").await;
    assert_eq!(
        edge.origin.last().unwrap().header("x-huge").map(str::len),
        Some(64 << 10),
        "128 KiB allowed"
    );
}

/// Log lines written while `work` runs on this thread, as the host's log formats them.
fn logged_while(work: impl FnOnce()) -> String {
    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::with_default(subscriber, work);
    let bytes = captured.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn standard_output_error_and_panic_messages_reach_the_host_log() {
    let engine = wedge::wasm::WasmEngine::new(&Default::default()).unwrap();
    let config = wedge::config::FunctionConfig::new(function("hostile"));
    let f = wedge_tests::load_function(&engine, "noisy", &config);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let run = |path: &str| {
        let req = Request::get(path).body(()).unwrap();
        let view = wedge_tests::request_view(req, "noisy.test");
        let mut run = wedge::wasm::FunctionRun::new(f.clone(), wedge::util::RequestId::next());
        let (_, outcome, _) = rt.block_on(run.request(wedge::wasm::Hook::ViewerRequest, view));
        outcome.is_ok()
    };

    let log = logged_while(|| assert!(run("/print")));
    let stdout = line_in(&log, "a line to stdout");
    assert!(
        stdout.contains("INFO") && stdout.contains(r#"function="noisy""#),
        "{stdout}"
    );
    // Two writes, one line: lines are logged whole.
    let stderr = line_in(&log, "a line to stderr, written in two parts");
    assert!(
        stderr.contains("WARN") && stderr.contains(r#"function="noisy""#),
        "{stderr}"
    );
    // A line still open when the hook returns is logged with its request.
    let open = line_in(&log, "a line left open");
    assert!(open.contains("INFO"), "{open}");

    let log = logged_while(|| assert!(!run("/trap")));
    let panicked = line_in(&log, "hostile fixture asked to trap");
    assert!(panicked.contains("WARN"), "{panicked}");
}

/// The line of `log` that holds `text`.
fn line_in<'a>(log: &'a str, text: &str) -> &'a str {
    log.lines()
        .find(|l| l.contains(text))
        .unwrap_or_else(|| panic!("no log line with {text:?} in:\n{log}"))
}

#[test]
fn functions_built_with_the_sdk_import_no_wasi_they_do_not_use() {
    // Every import costs each new instance a trampoline and a function reference; the
    // SDK keeps `std`'s standard output and environment from pulling in WASI's. (Not the
    // WAF: its regexes' hash maps seed themselves from `wasi:random`.)
    let engine = wasmtime::Engine::default();
    for name in ["device-class", "cache-key", "security-headers", "hostile"] {
        let component = wasmtime::component::Component::from_file(&engine, function(name)).unwrap();
        let imports: Vec<String> = component
            .component_type()
            .imports(&engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        assert!(
            imports.iter().all(|i| i.starts_with("wedge:function/")),
            "{name} imports {imports:?}"
        );
    }
}
