//! The `wedge` command line: `check` validates and exits non-zero with located errors;
//! `serve` refuses to start on a missing file and says which; functions compile in a
//! helper process (`wedge __compile`) that leaves the artifact in the cache.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

fn wedge(args: &[&str]) -> (bool, String, String) {
    wedge_with(args, &[], None)
}

/// [`wedge`] with environment variables and, if given, `stdin` as its input.
fn wedge_with(
    args: &[&str],
    env: &[(&str, &OsStr)],
    stdin: Option<&[u8]>,
) -> (bool, String, String) {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_wedge"))
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run wedge");
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or_default()).unwrap();
    drop(input);
    let out = child.wait_with_output().expect("run wedge");
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

/// `(component)`: the binary preamble of a component with nothing in it.
const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0";

#[test]
fn functions_compile_in_a_helper_process_that_leaves_the_artifact_in_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let env = [("WEDGE_CACHE_DIR", cache.as_os_str())];
    let artifacts = || -> Vec<String> {
        std::fs::read_dir(&cache)
            .map(|d| {
                d.filter_map(Result::ok)
                    .map(|e| e.file_name().into_string().unwrap())
                    .collect()
            })
            .unwrap_or_default()
    };
    // Loading a config compiles its module through the helper (this one exports no hooks,
    // so the load then fails, naming the file).
    std::fs::write(dir.path().join("f.wasm"), EMPTY_COMPONENT).unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[functions.f]\nmodule = \"f.wasm\"\n").unwrap();
    let check = |log: &str| {
        let env = [env[0], ("WEDGE_LOG", OsStr::new(log))];
        let (ok, _, err) = wedge_with(&["check", "--config", path.to_str().unwrap()], &env, None);
        assert!(!ok);
        err
    };
    let err = check("wedge=debug");
    assert!(err.contains("f.wasm"), "{err}");
    assert!(err.contains("in a helper process"), "{err}");
    // `<content hash>-<engine hash>.cwasm`
    let names = artifacts();
    let engine = names
        .iter()
        .find_map(|n| {
            n.strip_suffix(".cwasm")?
                .rsplit_once('-')
                .map(|(_, e)| e.to_owned())
        })
        .unwrap_or_else(|| panic!("no artifact in {names:?}"));

    // The helper itself: a component on stdin, its artifact under the key.
    let (ok, _, err) = wedge_with(&["__compile", "k1", &engine], &env, Some(EMPTY_COMPONENT));
    assert!(ok, "{err}");
    assert!(artifacts().contains(&format!("k1-{engine}.cwasm")));
    // Bytes that are not a component: refused with the compiler's message, nothing kept.
    let (ok, _, err) = wedge_with(&["__compile", "k2", &engine], &env, Some(b"not wasm"));
    assert!(!ok);
    assert!(err.contains("failed to parse WebAssembly"), "{err}");
    assert!(!artifacts().iter().any(|n| n.starts_with("k2-")));
    // A caller with another engine configuration gets no artifact it could not load.
    let (ok, _, err) = wedge_with(&["__compile", "k3", "0"], &env, Some(EMPTY_COMPONENT));
    assert!(!ok);
    assert!(err.contains("another engine configuration"), "{err}");

    // A module that does not compile is refused with the compiler's message, once: the
    // helper's verdict stands (it is not compiled again in the server).
    std::fs::write(dir.path().join("f.wasm"), b"not wasm").unwrap();
    let err = check("info");
    assert!(
        err.contains("f.wasm") && err.contains("failed to parse WebAssembly"),
        "{err}"
    );
    assert!(!err.contains("compiling here"), "{err}");
}
