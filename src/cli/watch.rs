//! `me-nexus watch`: the sync service, headless, until SIGINT or SIGTERM.

use std::path::Path;

use crossbeam_channel::{bounded, select};

use crate::error::{NexusError, Result};
use crate::sync::{SyncEvent, SyncState, spawn_sync_service};

/// Runs the sync service on `vault` and logs each change until a signal.
pub fn watch(vault: &Path) -> Result<()> {
    let (signal_tx, signal_rx) = bounded(1);
    ctrlc::set_handler(move || {
        let _ = signal_tx.try_send(());
    })
    .map_err(|e| NexusError::Sync(format!("cannot install the signal handler: {e}")))?;
    let service = spawn_sync_service(vault, None)?;
    tracing::info!("watching {} (Ctrl-C to stop)", vault.display());
    let mut last_state = None;
    loop {
        select! {
            recv(signal_rx) -> _ => break,
            recv(service.events()) -> event => {
                let Ok(event) = event else { break };
                log_event(&event, &mut last_state);
            }
        }
    }
    tracing::info!("stopping");
    service.shutdown()?;
    tracing::info!("stopped cleanly");
    Ok(())
}

fn log_event(event: &SyncEvent, last_state: &mut Option<SyncState>) {
    match event {
        SyncEvent::ObjectsChanged {
            added,
            updated,
            removed,
            moved,
        } => {
            for (list, what) in [(added, "added"), (updated, "updated"), (removed, "removed")] {
                for key in list.first() {
                    tracing::info!("{what} {key}");
                }
                if list.left_out() > 0 {
                    tracing::info!("… and {} more {what}", list.left_out());
                }
            }
            for (from, to) in moved.first() {
                tracing::info!("moved {from} -> {to}");
            }
            if moved.left_out() > 0 {
                tracing::info!("… and {} more moved", moved.left_out());
            }
        }
        SyncEvent::PermissionsChanged { keys } => {
            for key in keys {
                tracing::info!("permissions changed: {key}");
            }
        }
        SyncEvent::Problems { files, total } => {
            tracing::warn!(
                "problems in {} ({total} in the vault; see `me-nexus check`)",
                files.join(", ")
            );
        }
        SyncEvent::Error(message) => tracing::error!("{message}"),
        SyncEvent::Progress { done, total } => tracing::info!("indexing: {done}/{total} files"),
        SyncEvent::Status(status) => {
            if last_state.as_ref() != Some(&status.state) {
                if status.state == SyncState::Watching {
                    tracing::info!(
                        "watching: {} objects, {} problems, last sync {}",
                        status.stats.total_objects,
                        status.stats.problems,
                        status.stats.last_sync
                    );
                }
                *last_state = Some(status.state.clone());
            }
        }
    }
}
