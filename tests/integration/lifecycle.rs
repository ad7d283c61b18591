//! The function model end to end: one instance serves every hook of a request, in
//! order; rewrites, origin-request answers and response edits; typed config validated
//! at load; the harness, spec files and counters.

use bytes::Bytes;
use http::Request;
use wedge::testing::Harness;
use wedge_tests::{TestEdge, function, http_get};

const LIFECYCLE: &str = r#"
[debug]
explain_header = true
server_timing = true

[origins.stub]
members = [{ url = "{stub}" }]

[functions.lifecycle]
module = "{functions}/lifecycle.wasm"
config = { tag = "blue", origin_status = 203 }

[[distributions]]
id = "site"
aliases = ["*"]
[distributions.default_behavior]
origin = "stub"
functions = ["lifecycle"]
"#;

async fn get(edge: &TestEdge, path: &str) -> http::Response<Bytes> {
    http_get(edge.http_addr(), "site.test", path, &[])
        .await
        .unwrap()
}

/// Functions that take config are configured once at load and every instance starts
/// from a snapshot of that state: each config of one module gets its own snapshot, and
/// what a request's hooks change never reaches the next request.
#[tokio::test]
async fn each_config_of_a_module_starts_its_instances_from_its_own_configured_state() {
    let two_tags = LIFECYCLE
        .replace(
            "[[distributions]]",
            r#"[functions.lifecycle-red]
module = "{functions}/lifecycle.wasm"
config = { tag = "red" }

[[distributions]]"#,
        )
        .replace(
            "[distributions.default_behavior]",
            r#"[[distributions.behaviors]]
path_pattern = "/red/*"
origin = "stub"
functions = ["lifecycle-red"]
[distributions.default_behavior]"#,
        );
    let edge = TestEdge::start(&two_tags).await.unwrap();
    let (_, status) = edge.admin("GET", "/status", None).await;
    let functions = status["functions"].as_array().unwrap();
    assert_eq!(functions.len(), 2, "{status}");
    for f in functions {
        assert_eq!(f["preinitialized"], true, "{f}");
    }
    for _ in 0..3 {
        for (path, tag) in [("/echo", "blue"), ("/red/echo", "red")] {
            let resp = get(&edge, path).await;
            assert_eq!(resp.headers()["x-tag"], tag, "{path}");
            assert_eq!(
                resp.headers()["x-hooks"],
                "viewer-request,cache-key,origin-request,origin-response,viewer-response",
                "{path}: no hook calls left over from an earlier request"
            );
        }
    }
}

/// Loads the example or fixture `name` with `config` on its own engine, pre-initialised
/// or not (an embedder's choice).
fn load_alone(
    name: &str,
    preinitialize: bool,
    config: serde_json::Value,
) -> Result<wedge::wasm::LoadedFunction, wedge::wasm::LoadError> {
    use wedge::config::{FunctionConfig, FunctionId};
    use wedge::wasm::{EngineSettings, LoadedFunction, WasmEngine};
    let engine = WasmEngine::new(&EngineSettings {
        preinitialize,
        ..EngineSettings::default()
    })
    .unwrap();
    let config = FunctionConfig {
        config,
        ..FunctionConfig::new(function(name))
    };
    LoadedFunction::load(&engine, FunctionId::new(name).unwrap(), &config)
}

/// With pre-initialisation switched off (an embedder's choice), the config is still
/// checked at load and every instance is configured before its first hook.
#[tokio::test]
async fn without_preinitialisation_config_is_checked_at_load_and_per_instance() {
    let load = |config| load_alone("lifecycle", false, config);
    let err = load(serde_json::json!({ "tag": "" }))
        .unwrap_err()
        .to_string();
    assert!(err.contains("config field `tag`"), "{err}");
    let f = load(serde_json::json!({ "tag": "green" })).unwrap();
    assert!(f.takes_config && !f.preinitialized());

    // Configured in the instance: its cache-key part carries the tag.
    let view = wedge_tests::request_view(http::Request::get("/x").body(()).unwrap(), "site.test");
    let mut run =
        wedge::wasm::FunctionRun::new(std::sync::Arc::new(f), wedge::util::RequestId::next());
    let (_, key, _) = run.cache_key(view).await;
    assert_eq!(key.unwrap().as_deref(), Some("/x#green"));
}

/// What a function declares once configured is what the host keys reused decisions on,
/// whether its instances start from a snapshot or are configured one by one.
#[tokio::test]
async fn the_configured_declaration_counts_with_and_without_preinitialisation() {
    use wedge::wasm::Hook;
    for preinitialize in [true, false] {
        let load = |config| load_alone("memo", preinitialize, config).unwrap();
        let shaped = load(serde_json::json!({ "inputs": ["x-input", ":query-shape"] }));
        assert_eq!(shaped.preinitialized(), preinitialize);
        assert_eq!(
            shaped.reused_decisions(),
            Some((
                Hook::ViewerRequest,
                vec!["x-input".into(), ":query-shape".into()]
            ))
        );
        // Without config, the constant's declaration.
        let plain = load(serde_json::json!({}));
        assert_eq!(
            plain.reused_decisions(),
            Some((Hook::ViewerRequest, vec!["x-input".into()]))
        );
    }
}

#[tokio::test]
async fn headers_reads_every_header_in_one_call_with_repeated_values_in_order() {
    let edge = TestEdge::start(LIFECYCLE).await.unwrap();
    let resp = http_get(
        edge.http_addr(),
        "site.test",
        "/echo",
        &[
            ("x-multi", "first"),
            ("accept", "*/*"),
            ("x-multi", "second"),
        ],
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 203);
    let seen = edge.origin.last().unwrap();
    assert_eq!(seen.header("x-multi-seen"), Some("first|second"));
}

#[tokio::test]
async fn one_instance_serves_all_hooks_in_order() {
    let edge = TestEdge::start(LIFECYCLE).await.unwrap();
    let resp = get(&edge, "/echo").await;
    assert_eq!(resp.status(), 203, "origin-response changed the status");
    assert_eq!(
        resp.headers()["x-hooks"],
        "viewer-request,cache-key,origin-request,origin-response,viewer-response"
    );
    assert_eq!(
        resp.headers()["x-tag"],
        "blue",
        "typed config reached the instance"
    );
    assert_eq!(resp.headers()["x-origin-path"], "/echo");
    let seen = edge.origin.last().unwrap();
    assert_eq!(
        seen.header("x-seen-so-far"),
        Some("viewer-request,cache-key,origin-request")
    );
    let explain = resp.headers()["x-wedge-explain"].to_str().unwrap();
    assert!(
        explain.contains("lifecycle:viewer-request=continue")
            && explain.contains("cache-key=\"/echo#blue\""),
        "{explain}"
    );
    assert!(resp.headers().get_all("server-timing").iter().count() >= 5);
}

#[tokio::test]
async fn request_hooks_rewrite_path_and_query() {
    let edge = TestEdge::start(LIFECYCLE).await.unwrap();
    let resp = get(&edge, "/rewrite").await;
    assert_eq!(resp.status(), 203);
    let seen = edge.origin.last().unwrap();
    assert_eq!(seen.path, "/echo/rewritten");
    assert_eq!(seen.query.as_deref(), Some("by=lifecycle"));
}

#[tokio::test]
async fn an_origin_request_answer_skips_the_origin_but_not_viewer_response() {
    let edge = TestEdge::start(LIFECYCLE).await.unwrap();
    let resp = get(&edge, "/answer").await;
    assert_eq!(resp.status(), 202);
    assert_eq!(
        resp.headers()["x-hooks"],
        "viewer-request,cache-key,origin-request,viewer-response"
    );
    assert!(edge.origin.received().is_empty());
}

#[tokio::test]
async fn a_rejected_config_names_function_and_field() {
    for (config, field) in [
        ("{ tag = \"\" }", "tag"),
        ("{ tag = \"x\", colour = 1 }", "colour"),
        ("{ tag = 5 }", "tag"),
    ] {
        let toml = LIFECYCLE.replace("{ tag = \"blue\", origin_status = 203 }", config);
        let err = TestEdge::start(&toml)
            .await
            .err()
            .expect("refused")
            .to_string();
        assert!(
            err.contains("function `lifecycle`")
                && err.contains(&format!("config field `{field}`")),
            "{err}"
        );
    }
    // A function without config refuses one.
    let toml = LIFECYCLE.replace("lifecycle.wasm", "hostile.wasm");
    let err = TestEdge::start(&toml)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("takes no config"), "{err}");
}

#[tokio::test]
async fn hooks_a_function_lacks_are_never_called() {
    let run = Harness::new()
        .function("device-class", function("device-class"))
        .start()
        .await
        .unwrap();
    let resp = run
        .send(
            Request::get("/echo")
                .header("user-agent", "curl/8.5.0")
                .body("")
                .unwrap(),
        )
        .await;
    let explain = resp.headers()["x-wedge-explain"].to_str().unwrap();
    assert_eq!(
        explain.matches("device-class:").count(),
        1,
        "only viewer-request ran: {explain}"
    );
    let status = run.edge().snapshot();
    let f = &status.functions[&wedge::config::FunctionId::new("device-class").unwrap()];
    assert_eq!(
        f.hooks.iter().map(|h| h.as_str()).collect::<Vec<_>>(),
        vec!["viewer-request"]
    );
}

#[tokio::test]
async fn the_harness_drives_functions_against_a_recording_origin() {
    let run = Harness::new()
        .function("device-class", function("device-class"))
        .function_with_config(
            "lifecycle",
            function("lifecycle"),
            serde_json::json!({ "tag": "green" }),
        )
        .start()
        .await
        .unwrap();
    let ua = "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X)";
    let resp = run
        .send(
            Request::get("/echo")
                .header("user-agent", ua)
                .body("")
                .unwrap(),
        )
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-tag"], "green");
    let seen = run.origin().last().unwrap();
    assert_eq!(seen.header("x-device-class"), Some("tablet"));
    assert_eq!(seen.header("x-forwarded-for"), Some("192.0.2.10"));
}

#[tokio::test]
async fn spec_files_run_and_report_failures() {
    let spec = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../functions/device-class/wedge-test.toml");
    let report = wedge::testing::spec::run_file(&spec).await.unwrap();
    assert_eq!(report.failed, 0, "{}", report.render());
    assert!(report.passed >= 5);

    let dir = tempfile::tempdir().unwrap();
    let failing = dir.path().join("failing.toml");
    std::fs::write(
        &failing,
        format!(
            "[[function]]\nid = \"device-class\"\nmodule = \"{}\"\n[[case]]\nname = \"wrong on purpose\"\nheaders = {{ user-agent = \"curl/8\" }}\nexpect = {{ status = 404, origin_headers = {{ x-device-class = \"mobile\" }} }}\n",
            function("device-class").display()
        ),
    )
    .unwrap();
    let report = wedge::testing::spec::run_file(&failing).await.unwrap();
    assert_eq!(report.failed, 1);
    let text = report.render();
    assert!(
        text.contains("status: expected 404, got 200")
            && text.contains("x-device-class: expected \"mobile\", got Some(\"bot\")"),
        "{text}"
    );
}

#[tokio::test]
async fn origin_faults_become_gateway_errors() {
    let run = Harness::new().start().await.unwrap();
    for (path, status) in [("/reset", 502), ("/status/503", 503), ("/status/418", 418)] {
        let resp = run.send(Request::get(path).body("").unwrap()).await;
        assert_eq!(resp.status(), status, "{path}");
    }
    // A truncated body reaches the viewer as a broken body, not as a complete response.
    let resp = run.send(Request::get("/truncate").body("").unwrap()).await;
    assert!(resp.body().len() < 1024);
    let resp = run.send(Request::get("/slow/10").body("").unwrap()).await;
    assert_eq!(
        &resp.body()[..],
        b"chunk 0\nchunk 1\nchunk 2\nchunk 3\nchunk 4\n"
    );
}
