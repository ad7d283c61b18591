//! Builds the functions workspace (examples and test fixtures) for wasm32-wasip2 once
//! per test build, into the same target directory `wedge dev` uses, and tells the tests
//! where the `.wasm` files are.

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("tests/ lives in the repository root")
        .to_owned();
    for dir in ["functions", "guest-sdk", "wit"] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    let target_dir = root.join("target/functions");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--release",
        "--target",
        "wasm32-wasip2",
        "--manifest-path",
    ])
    .arg(root.join("functions/Cargo.toml"))
    .env("CARGO_TARGET_DIR", &target_dir);
    // The outer build's flags and wrappers are for the host target, not for guests.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_MAKEFLAGS",
    ] {
        cmd.env_remove(var);
    }
    let status = cmd.status().expect("running cargo to build the functions");
    assert!(
        status.success(),
        "building the functions for wasm32-wasip2 failed; is the target installed? (rustup target add wasm32-wasip2)"
    );
    println!(
        "cargo:rustc-env=WEDGE_FUNCTIONS_DIR={}",
        target_dir.join("wasm32-wasip2/release").display()
    );
}
