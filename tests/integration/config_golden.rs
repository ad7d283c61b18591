//! Golden config errors: every `tests/golden/*.toml` is invalid, and the error it must
//! produce is in the `.err` file beside it (file, line, column, field, message).
//! Set `WEDGE_BLESS=1` to rewrite the `.err` files after an intended change.

use std::path::Path;

use wedge::config::Config;

#[test]
fn invalid_configs_give_the_expected_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let bless = std::env::var_os("WEDGE_BLESS").is_some();
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 10, "golden cases present");
    let mut failures = Vec::new();
    for case in cases {
        let name = case.file_name().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(&case).unwrap();
        let got = match Config::from_toml(&text, Path::new(&name), Path::new("")) {
            Ok(_) => format!("(no error for {name})"),
            Err(e) => e.to_string(),
        };
        let expected_path = case.with_extension("err");
        if bless {
            std::fs::write(&expected_path, format!("{got}\n")).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected.trim_end() != got.trim_end() {
            failures.push(format!(
                "{name}:\n  expected: {}\n  got:      {got}",
                expected.trim_end()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_dev_config_and_examples_are_valid() {
    // The embedded `wedge dev` config, rendered as `wedge dev` renders it.
    let addrs = wedge::dev::DevAddrs {
        http: "127.0.0.1:8080".parse().unwrap(),
        https: "127.0.0.1:8443".parse().unwrap(),
        admin: "127.0.0.1:9901".parse().unwrap(),
    };
    let text = wedge::dev::render_config(
        &addrs,
        Path::new("/certs"),
        Path::new("/functions"),
        &[
            "http://127.0.0.1:9000".into(),
            "http://127.0.0.1:9001".into(),
        ],
    );
    let dev = Config::from_toml(&text, Path::new("wedge-dev.toml"), Path::new("/"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(dev.distributions.len(), 2);
    assert_eq!(dev.certificates.len(), 2);
    // Both sites cache /static/* per device class.
    for d in &dev.distributions {
        let statics = d
            .behaviors
            .iter()
            .find(|b| b.path_pattern.as_str() == "/static/*");
        let statics = statics.unwrap_or_else(|| panic!("{} has a /static/* behavior", d.id));
        assert!(statics.cache_policy.is_some());
        assert!(
            statics
                .functions
                .iter()
                .any(|f| f.as_str() == "device-class")
        );
    }
    // The stub origin runs as two members of one pool.
    assert_eq!(dev.origins.values().next().unwrap().members.len(), 2);
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/examples");
    for entry in std::fs::read_dir(examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            Config::from_file(&path).unwrap_or_else(|e| panic!("{e}"));
        }
    }
}
