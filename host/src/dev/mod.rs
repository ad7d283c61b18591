//! `wedge dev`: build the example functions, make local certificates, start the stub
//! origin, and serve the embedded two-site config.

pub mod certs;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The embedded default config, with `{placeholders}`.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// Where `wedge dev` and the test suite build functions (shared so neither rebuilds
/// what the other built).
pub const FUNCTIONS_TARGET_DIR: &str = "target/functions";

/// Listener addresses for the dev config.
#[derive(Debug, Clone)]
pub struct DevAddrs {
    pub http: SocketAddr,
    pub https: SocketAddr,
    pub admin: SocketAddr,
}

/// Builds every function in `functions/` for wasm32-wasip2 (release) and returns the
/// directory holding the `.wasm` files.
pub fn build_functions(repo_root: &Path) -> anyhow::Result<PathBuf> {
    let manifest = repo_root.join("functions/Cargo.toml");
    if !manifest.exists() {
        bail!(
            "{} not found: run `wedge dev` from the repository root",
            manifest.display()
        );
    }
    let target_dir = repo_root.join(FUNCTIONS_TARGET_DIR);
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(&manifest)
        .env("CARGO_TARGET_DIR", &target_dir)
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .status()
        .context("running cargo to build the functions")?;
    if !status.success() {
        bail!(
            "building the functions failed (is the target installed? `rustup target add wasm32-wasip2`)"
        );
    }
    Ok(target_dir.join("wasm32-wasip2/release"))
}

/// Renders the embedded config for the given places and returns it. `stubs` are the
/// two stub origin URLs (the members of the `stub` pool).
pub fn render_config(
    addrs: &DevAddrs,
    certs_dir: &Path,
    functions_dir: &Path,
    stubs: &[String; 2],
) -> String {
    DEFAULT_CONFIG
        .replace("{http}", &addrs.http.to_string())
        .replace("{https}", &addrs.https.to_string())
        .replace("{admin}", &addrs.admin.to_string())
        .replace("{certs}", &toml_path(certs_dir))
        .replace("{functions}", &toml_path(functions_dir))
        .replace("{stub}", &stubs[0])
        .replace("{stub2}", &stubs[1])
}

fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "/")
}

/// Rebuilds the functions whenever a source file under `functions/` changes. Build
/// errors are printed and the old modules keep serving; a successful build rewrites the
/// `.wasm` files, which the edge's file watcher then hot-loads. Dropping the returned
/// handle stops watching.
pub fn watch_sources(repo_root: &Path) -> notify::Result<SourceWatch> {
    use notify::Watcher;
    let functions = repo_root.join("functions");
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        if matches!(event.kind, notify::EventKind::Access(_)) {
            return;
        }
        let relevant = event.paths.iter().any(|p| {
            let source = p.extension().is_some_and(|e| e == "rs" || e == "toml");
            let in_target = p.components().any(|c| c.as_os_str() == "target");
            source && !in_target
        });
        if relevant {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(&functions, notify::RecursiveMode::Recursive)?;
    let root = repo_root.to_owned();
    let task = tokio::spawn(async move {
        let _watcher = watcher;
        while rx.recv().await.is_some() {
            // Let the editor finish writing, then build once for everything that changed.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            while rx.try_recv().is_ok() {}
            println!("functions changed: rebuilding ...");
            let r = root.clone();
            match tokio::task::spawn_blocking(move || build_functions(&r)).await {
                Ok(Ok(_)) => println!("functions rebuilt; changed modules are hot-loaded"),
                Ok(Err(e)) => println!("build failed, still serving the previous modules: {e:#}"),
                Err(e) => println!("build task failed: {e}"),
            }
        }
    });
    Ok(SourceWatch { task })
}

/// A running source watch.
pub struct SourceWatch {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for SourceWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}
