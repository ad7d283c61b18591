//! Watching the files a snapshot was built from (config, function modules,
//! certificates and keys) and reloading when one changes.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::Edge;
use crate::snapshot::Snapshot;

/// Changes arriving within this window are applied as one reload (editors often write
/// a file in several steps).
const SETTLE: Duration = Duration::from_millis(150);

/// A running watch; dropping it stops watching.
pub struct Watch {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches the edge's files and reloads from its config file on every change. The edge
/// must have been built from a file.
pub fn watch(edge: Edge) -> notify::Result<Watch> {
    let (tx, mut rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && !matches!(event.kind, notify::EventKind::Access(_))
        {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })?;
    let mut watched = files_of(&edge.snapshot());
    let mut dirs = watch_dirs(&mut watcher, &watched, &HashSet::new());
    let task = tokio::spawn(async move {
        // The watcher lives as long as this task.
        let mut watcher = watcher;
        while let Some(path) = rx.recv().await {
            if !watched.contains(&path) {
                continue;
            }
            // Let the writer finish, then take everything that arrived meanwhile.
            tokio::time::sleep(SETTLE).await;
            while rx.try_recv().is_ok() {}
            tracing::info!("{} changed: reloading", path.display());
            let _ = edge.reload_from_source().await;
            watched = files_of(&edge.snapshot());
            dirs = watch_dirs(&mut watcher, &watched, &dirs);
        }
    });
    Ok(Watch { task })
}

/// Every file the snapshot was built from.
fn files_of(snapshot: &Snapshot) -> HashSet<PathBuf> {
    let config = &snapshot.config;
    let mut files: HashSet<PathBuf> = HashSet::new();
    files.extend(config.source.iter().cloned());
    files.extend(config.functions.values().map(|f| f.module.clone()));
    for c in config.certificates.values() {
        files.insert(c.cert.clone());
        files.insert(c.key.clone());
    }
    files.into_iter().map(|p| absolute(&p)).collect()
}

/// Watches the directories holding `files` (files are often replaced by a rename,
/// which a watch on the file itself would miss). Returns the directories now watched.
fn watch_dirs(
    watcher: &mut impl Watcher,
    files: &HashSet<PathBuf>,
    already: &HashSet<PathBuf>,
) -> HashSet<PathBuf> {
    let mut dirs = already.clone();
    for dir in files.iter().filter_map(|f| f.parent()) {
        if !dirs.contains(dir) {
            match watcher.watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    dirs.insert(dir.to_owned());
                }
                Err(e) => tracing::warn!("cannot watch {}: {e}", dir.display()),
            }
        }
    }
    dirs
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_owned())
}
