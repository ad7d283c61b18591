//! The `wedge` command line: `check` validates and exits non-zero with located errors;
//! `serve` refuses to start on a missing file and says which.

use std::path::Path;
use std::process::Command;

fn wedge(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_wedge"))
        .args(args)
        .output()
        .expect("run wedge");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn golden(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/golden")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn check_reports_file_line_and_field() {
    let (ok, _, err) = wedge(&["check", "--config", &golden("unknown_origin.toml")]);
    assert!(!ok);
    assert!(err.contains("unknown_origin.toml:9:10: distributions[0].default_behavior.origin: no origin named `stbu`"), "{err}");
}

#[test]
fn check_accepts_a_valid_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.toml");
    std::fs::write(
        &path,
        "[origins.o]\nmembers = [{ url = \"http://127.0.0.1:9000\" }]\n[[distributions]]\nid = \"d\"\naliases = [\"*\"]\n[distributions.default_behavior]\norigin = \"o\"\n",
    )
    .unwrap();
    let (ok, out, err) = wedge(&["check", "--config", path.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(out.contains("ok"));
}

#[test]
fn missing_certificate_or_module_files_stop_start_up_with_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[listeners]\nhttps = \"127.0.0.1:0\"\n[certificates.www]\ncert = \"nope.pem\"\nkey = \"nope.key\"\n").unwrap();
    for cmd in ["check", "serve"] {
        let (ok, _, err) = wedge(&[cmd, "--config", path.to_str().unwrap()]);
        assert!(!ok, "{cmd} must fail");
        assert!(
            err.contains("nope.pem") && err.contains("cannot read"),
            "{cmd}: {err}"
        );
    }
    std::fs::write(&path, "[functions.f]\nmodule = \"missing.wasm\"\n").unwrap();
    let (ok, _, err) = wedge(&["serve", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(
        err.contains("missing.wasm") && err.contains("cannot read module"),
        "{err}"
    );
}

#[test]
fn a_malformed_certificate_is_refused_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.pem"),
        "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("bad.key"), "").unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(
        &path,
        "[certificates.www]\ncert = \"bad.pem\"\nkey = \"bad.key\"\n",
    )
    .unwrap();
    let (ok, _, err) = wedge(&["check", "--config", path.to_str().unwrap()]);
    assert!(!ok);
    assert!(err.contains("bad.pem"), "{err}");
}
