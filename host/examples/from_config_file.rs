//! Build an edge from a config file and serve it on the listeners the file names.
//!
//! ```sh
//! cargo run -p wedge --example from_config_file -- host/examples/minimal.toml
//! ```

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "host/examples/minimal.toml".into());
    let edge = wedge::Edge::from_config_file(&path).await?;
    let running = edge.start().await?;
    println!(
        "serving {path}: http {:?}, https {:?}, admin {:?}",
        running.http, running.https, running.admin
    );
    tokio::signal::ctrl_c().await?;
    running.shutdown().await;
    Ok(())
}
