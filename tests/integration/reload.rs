//! Hot reload: config, modules and certificates swapped atomically through the admin
//! API and the file watcher; broken files refused while the old snapshot keeps serving;
//! no failed requests while reloading under load; the admin token.

use http::StatusCode;
use wedge_tests::{TestEdge, http_get, wait_until};

const BASE: &str = r#"
[origins.stub]
members = [{ url = "{stub}" }]

[functions.device-class]
module = "{functions}/device_class.wasm"

[[distributions]]
id = "www"
aliases = ["www.test"]
[distributions.default_behavior]
origin = "stub"
functions = ["device-class"]
"#;

async fn get(addr: std::net::SocketAddr, host: &str) -> StatusCode {
    http_get(addr, host, "/echo", &[])
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::BAD_GATEWAY)
}

/// Rewrites the config file with `{placeholders}` filled in.
fn write_config(edge: &TestEdge, text: &str) {
    let rendered = wedge_tests::render(text, &edge.pki, &edge.origin);
    std::fs::write(&edge.config_path, rendered).unwrap();
}

#[tokio::test]
async fn admin_reload_swaps_the_config_and_refuses_broken_files() {
    let edge = TestEdge::start(BASE).await.unwrap();
    assert_eq!(
        get(edge.http_addr(), "new.test").await,
        StatusCode::MISDIRECTED_REQUEST
    );

    write_config(
        &edge,
        &BASE.replace(
            "aliases = [\"www.test\"]",
            "aliases = [\"www.test\", \"new.test\"]",
        ),
    );
    let (status, body) = edge.admin("POST", "/reload", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    assert_eq!(get(edge.http_addr(), "new.test").await, StatusCode::OK);

    // A broken config is refused with its file and line; the old snapshot serves on.
    write_config(
        &edge,
        &BASE.replace("origin = \"stub\"", "origin = \"nowhere\""),
    );
    let (status, body) = edge.admin("POST", "/reload", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("wedge.toml:") && error.contains("no origin named `nowhere`"),
        "{error}"
    );
    assert_eq!(get(edge.http_addr(), "new.test").await, StatusCode::OK);
    let (_, status) = edge.admin("GET", "/status", None).await;
    assert_eq!(status["version"], 2);
    assert!(
        status["reload"]["last_error"]
            .as_str()
            .unwrap()
            .contains("nowhere")
    );
    assert_eq!(status["reload"]["failed"], 1);

    // A broken module is refused too.
    let broken = edge.pki.dir.path().join("broken.wasm");
    std::fs::write(&broken, b"not wasm").unwrap();
    write_config(
        &edge,
        &BASE.replace(
            "{functions}/device_class.wasm",
            &broken.display().to_string(),
        ),
    );
    let (status, body) = edge.admin("POST", "/reload", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"].as_str().unwrap().contains("broken.wasm"),
        "{body}"
    );

    // And a broken certificate.
    let with_cert = format!(
        "[certificates.www]\ncert = \"{{certs}}/broken.pem\"\nkey = \"{{certs}}/www.key\"\n{BASE}"
    );
    std::fs::write(
        edge.pki.dir.path().join("broken.pem"),
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    write_config(&edge, &with_cert);
    let (status, body) = edge.admin("POST", "/reload", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["error"].as_str().unwrap().contains("broken.pem"),
        "{body}"
    );
    assert_eq!(get(edge.http_addr(), "www.test").await, StatusCode::OK);
}

#[tokio::test]
async fn file_changes_are_picked_up_by_the_watcher() {
    let edge = TestEdge::start(BASE).await.unwrap();
    let _watch = wedge::reload::watch(edge.edge.clone()).unwrap();
    write_config(
        &edge,
        &BASE.replace(
            "aliases = [\"www.test\"]",
            "aliases = [\"www.test\", \"watched.test\"]",
        ),
    );
    // Bounded, so a broken watcher fails instead of hanging.
    wait_until("the watcher reloads", || async {
        edge.edge.snapshot().version > 1
    })
    .await;
    assert_eq!(get(edge.http_addr(), "watched.test").await, StatusCode::OK);
}

#[tokio::test]
async fn reloading_under_load_fails_no_request() {
    let edge = TestEdge::start(BASE).await.unwrap();
    let addr = edge.http_addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let stop = stop.clone();
        load.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (0, 0);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if get(addr, "www.test").await == StatusCode::OK {
                    ok += 1
                } else {
                    failed += 1
                }
            }
            (ok, failed)
        }));
    }
    let variants = [
        BASE.to_owned(),
        BASE.replace("functions = [\"device-class\"]", "functions = []"),
    ];
    for i in 0..100 {
        write_config(&edge, &variants[i % 2]);
        let (status, body) = edge.admin("POST", "/reload", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, 0);
    for t in load {
        let (o, f) = t.await.unwrap();
        ok += o;
        failed += f;
    }
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed during reloads",
        ok + failed
    );
    assert!(ok > 0);
    assert_eq!(edge.edge.snapshot().version, 101);
}

#[tokio::test]
async fn the_admin_token_guards_everything_but_healthz() {
    let config = format!("[admin]\ntoken = \"0123456789abcdef-secret\"\n{BASE}");
    let edge = TestEdge::start(&config).await.unwrap();
    assert_eq!(
        edge.admin("GET", "/status", None).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        edge.admin("POST", "/reload", Some("wrong-token-0123456"))
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(edge.admin("GET", "/healthz", None).await.0, StatusCode::OK);
    assert_eq!(
        edge.admin("GET", "/status", Some("0123456789abcdef-secret"))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        edge.admin("POST", "/reload", Some("0123456789abcdef-secret"))
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn replacing_a_module_under_load_fails_no_request_and_takes_effect() {
    let module = |name: &str| wedge_tests::function(name);
    let config = BASE.replace("{functions}/device_class.wasm", "{certs}/current.wasm");
    // Start on the built module, then point the config at a file we can replace.
    let edge = TestEdge::start(BASE).await.unwrap();
    let current = edge.pki.dir.path().join("current.wasm");
    std::fs::copy(module("device-class"), &current).unwrap();
    write_config(&edge, &config);
    assert_eq!(edge.admin("POST", "/reload", None).await.0, StatusCode::OK);

    let addr = edge.http_addr();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut load = Vec::new();
    for _ in 0..4 {
        let stop = stop.clone();
        load.push(tokio::spawn(async move {
            let mut failed = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if get(addr, "www.test").await != StatusCode::OK {
                    failed += 1;
                }
            }
            failed
        }));
    }
    for i in 0..20 {
        // Write-then-rename, as deploy tools do, so a reader never sees half a module.
        let next = edge.pki.dir.path().join("next.wasm");
        std::fs::copy(
            module(if i % 2 == 0 {
                "hostile"
            } else {
                "device-class"
            }),
            &next,
        )
        .unwrap();
        std::fs::rename(&next, &current).unwrap();
        assert_eq!(edge.admin("POST", "/reload", None).await.0, StatusCode::OK);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut failed = 0;
    for t in load {
        failed += t.await.unwrap();
    }
    assert_eq!(failed, 0);
    // The last module written was device-class; swap to hostile and see it take effect.
    std::fs::copy(module("hostile"), &current).unwrap();
    assert_eq!(edge.admin("POST", "/reload", None).await.0, StatusCode::OK);
    get(addr, "www.test").await;
    assert_eq!(
        edge.origin.last().unwrap().header("x-hostile"),
        Some("passed")
    );
}
