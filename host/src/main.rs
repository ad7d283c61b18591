//! The `wedge` command: serve a config, check one, or run the local mini-CDN.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use wedge::config::Config;
use wedge::stub_origin::StubOrigin;
use wedge::{Edge, dev};

#[derive(Parser)]
#[command(
    name = "wedge",
    version,
    about = "A WebAssembly edge-function runtime and mini-CDN"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the edge described by a config file.
    Serve {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Validate a config file, its certificates and functions; non-zero exit on error.
    Check {
        #[arg(long, short)]
        config: PathBuf,
    },
    /// From the repository root: build the functions, make a local CA and certificates,
    /// start a stub origin, and serve the embedded two-site config.
    Dev {
        #[arg(long, default_value = "127.0.0.1:8080")]
        http: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:8443")]
        https: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:9901")]
        admin: SocketAddr,
        /// Use the functions already built instead of running cargo.
        #[arg(long)]
        no_build: bool,
    },
    /// Run function tests from a spec file (functions, requests, expectations); non-zero
    /// exit when a case fails.
    Test {
        /// One or more spec files.
        #[arg(required = true)]
        specs: Vec<PathBuf>,
    },
    /// Run only the stub origin (answers /echo with the request it received, as JSON;
    /// /status/<code>, /delay/<ms>, /slow/<ms>, /truncate, /reset inject faults; /health
    /// answers ok; /static/... and /cache/... are cacheable answers).
    StubOrigin {
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: SocketAddr,
    },
    /// Internal: compile the component on stdin into the artifact cache under `key`
    /// (what the other commands run to compile functions outside their own heap).
    #[command(name = "__compile", hide = true)]
    Compile { key: String, engine: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The compile helper's stderr is the message a refused component is reported with:
    // no log lines in it.
    if let Command::Compile { key, engine } = &cli.command {
        let status = wedge::wasm::engine::run_compile_helper(key, engine);
        return ExitCode::from(u8::try_from(status).unwrap_or(1));
    }
    init_tracing();
    // Functions compile in a helper process (this binary), outside the server's heap.
    if let Ok(exe) = std::env::current_exe() {
        wedge::wasm::engine::compile_in_helper(exe);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("WEDGE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve { config } => {
            let edge = Edge::from_config_file(&config).await?;
            serve(edge).await
        }
        Command::Check { config } => {
            let c = Config::from_file(&config)?;
            // Loading checks what the file alone cannot: certificates and modules.
            Edge::new(c).await?;
            println!("{}: ok", config.display());
            Ok(())
        }
        Command::Dev {
            http,
            https,
            admin,
            no_build,
        } => run_dev(dev::DevAddrs { http, https, admin }, no_build).await,
        Command::Test { specs } => {
            let mut failed = 0;
            for spec in &specs {
                let report = wedge::testing::spec::run_file(spec).await?;
                println!(
                    "{}
{}
",
                    spec.display(),
                    report.render()
                );
                failed += report.failed;
            }
            if failed > 0 {
                anyhow::bail!("{failed} case(s) failed");
            }
            Ok(())
        }
        Command::Compile { .. } => unreachable!("handled before the runtime starts"),
        Command::StubOrigin { listen } => {
            let stub = StubOrigin::start_recording(listen, 0)
                .await
                .with_context(|| format!("listening on {listen}"))?;
            println!("stub origin on {}", stub.url());
            tokio::signal::ctrl_c().await?;
            Ok(())
        }
    }
}

async fn serve(edge: Edge) -> anyhow::Result<()> {
    let running = edge.start().await?;
    // Reload on changes to the config, modules or certificates, and on SIGHUP.
    let _watch = match wedge::reload::watch(edge.clone()) {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!("not watching files for changes: {e}");
            None
        }
    };
    #[cfg(unix)]
    {
        let edge = edge.clone();
        if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        {
            tokio::spawn(async move {
                while hup.recv().await.is_some() {
                    tracing::info!("SIGHUP: reloading");
                    let _ = edge.reload_from_source().await;
                }
            });
        }
    }
    for (name, addr) in [
        ("http", running.http),
        ("https", running.https),
        ("admin", running.admin),
    ] {
        if let Some(addr) = addr {
            tracing::info!("{name} listening on {addr}");
        }
    }
    shutdown_signal().await;
    tracing::info!("shutting down: draining in-flight requests");
    running.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

async fn run_dev(addrs: dev::DevAddrs, no_build: bool) -> anyhow::Result<()> {
    let root = std::env::current_dir()?;
    let functions = if no_build {
        root.join(dev::FUNCTIONS_TARGET_DIR)
            .join("wasm32-wasip2/release")
    } else {
        println!("building functions ...");
        let r = root.clone();
        tokio::task::spawn_blocking(move || dev::build_functions(&r)).await??
    };
    let state = root.join("target/wedge-dev");
    let certs = dev::certs::ensure(&state.join("certs"), &["www.localhost", "api.localhost"])?;
    // The stub origin runs twice: two members behind one pool. Neither records requests:
    // nothing reads them here, and a long session would only grow.
    let stub = StubOrigin::start_recording(SocketAddr::from(([127, 0, 0, 1], 0)), 0).await?;
    let stub2 = StubOrigin::start_recording(SocketAddr::from(([127, 0, 0, 1], 0)), 0).await?;
    let text = dev::render_config(&addrs, &certs.dir, &functions, &[stub.url(), stub2.url()]);
    let config_path = state.join("wedge-dev.toml");
    std::fs::write(&config_path, &text)?;
    let edge = Edge::from_config_file(&config_path).await?;
    let _sources = if no_build {
        None
    } else {
        match dev::watch_sources(&root) {
            Ok(w) => Some(w),
            Err(e) => {
                println!("not watching functions/ for changes: {e}");
                None
            }
        }
    };
    println!();
    println!("wedge dev is serving www.localhost and api.localhost");
    println!("  http   http://www.localhost:{}/echo", addrs.http.port());
    println!(
        "  https  https://www.localhost:{}/echo   https://api.localhost:{}/echo",
        addrs.https.port(),
        addrs.https.port()
    );
    println!("  admin  http://{}/status", addrs.admin);
    println!(
        "  stub origin  {} and {} (pool `stub`; x-stub-origin says which answered)",
        stub.url(),
        stub2.url()
    );
    println!("  config       {}", config_path.display());
    println!(
        "  CA certificate (trust it in curl or a browser): {}",
        certs.ca_cert.display()
    );
    if !no_build {
        println!("  editing a function under functions/ rebuilds and hot-loads it");
    }
    println!(
        "  try: curl --cacert {} --resolve www.localhost:{port}:127.0.0.1 https://www.localhost:{port}/echo",
        certs.ca_cert.display(),
        port = addrs.https.port()
    );
    serve(edge).await
}
