//! The file watcher: notify-debouncer-full over the vault folder, turning
//! raw events into batches of vault-relative paths.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crossbeam_channel::Sender;
use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};

use crate::error::{NexusError, Result};
use crate::vault::ignore::is_ignored_component;
use crate::vault::{NEXUS_DIR, PERMISSIONS_REL};

/// What the watcher sends to the sync thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchBatch {
    /// Paths that changed (files or folders, existing or not).
    Paths(BTreeSet<String>),
    /// Events were lost (notify's Rescan flag): a full reconcile is needed.
    Rescan,
    /// The watcher reported an error.
    Error(String),
}

/// A running watcher; dropping it stops watching.
pub struct VaultWatcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

impl std::fmt::Debug for VaultWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("VaultWatcher")
    }
}

/// Watches `root` recursively, sending a [`WatchBatch`] per debounced burst.
pub fn watch(root: &Path, debounce: Duration, out: Sender<WatchBatch>) -> Result<VaultWatcher> {
    let root_owned: PathBuf = root.to_path_buf();
    let handler = move |result: DebounceEventResult| {
        let batch = match result {
            Ok(events) => {
                if events.iter().any(|e| e.need_rescan()) {
                    WatchBatch::Rescan
                } else {
                    let paths: BTreeSet<String> = events
                        .iter()
                        .filter(|e| is_change(&e.kind))
                        .flat_map(|e| e.paths.iter())
                        .filter_map(|p| relevant_path(&root_owned, p))
                        .collect();
                    if paths.is_empty() {
                        return;
                    }
                    WatchBatch::Paths(paths)
                }
            }
            Err(errors) => WatchBatch::Error(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        };
        // The receiver is gone only while the service shuts down.
        let _ = out.send(batch);
    };
    let mut debouncer = new_debouncer(debounce, None, handler)
        .map_err(|e| NexusError::Sync(format!("cannot start the file watcher: {e}")))?;
    debouncer
        .watch(root, RecursiveMode::Recursive)
        .map_err(|e| NexusError::Sync(format!("cannot watch {}: {e}", root.display())))?;
    Ok(VaultWatcher {
        _debouncer: debouncer,
    })
}

/// Whether an event kind can change a file. Opens and reads (notify reports
/// them as `Access`) cannot: treating them as changes would make every read,
/// including the engine's own, start another batch, and the service would
/// never go idle.
pub fn is_change(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode};
    match kind {
        notify::EventKind::Access(AccessKind::Close(AccessMode::Write)) => true,
        notify::EventKind::Access(_) => false,
        _ => true,
    }
}

/// The vault-relative form of an event path, or `None` for paths the engine
/// ignores (the database and logs in `.nexus/`, hidden and temporary files).
/// Non-UTF-8 names are passed on lossily so that the reconcile reports them.
pub fn relevant_path(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let rel = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    if rel.is_empty() {
        return None;
    }
    if rel == PERMISSIONS_REL {
        return Some(rel);
    }
    if rel == NEXUS_DIR || rel.starts_with(".nexus/") || rel.split('/').any(is_ignored_component) {
        return None;
    }
    Some(rel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_not_changes() {
        use notify::EventKind;
        use notify::event::{AccessKind, AccessMode, CreateKind, ModifyKind};
        assert!(!is_change(&EventKind::Access(AccessKind::Open(
            AccessMode::Any
        ))));
        assert!(!is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Read
        ))));
        assert!(is_change(&EventKind::Access(AccessKind::Close(
            AccessMode::Write
        ))));
        assert!(is_change(&EventKind::Create(CreateKind::File)));
        assert!(is_change(&EventKind::Modify(ModifyKind::Any)));
    }

    #[test]
    fn filters_event_paths() {
        let root = Path::new("/v");
        assert_eq!(
            relevant_path(root, Path::new("/v/todos.json")).as_deref(),
            Some("todos.json")
        );
        assert_eq!(
            relevant_path(root, Path::new("/v/notes/a.md")).as_deref(),
            Some("notes/a.md")
        );
        assert_eq!(
            relevant_path(root, Path::new("/v/.nexus/permissions.json")).as_deref(),
            Some(".nexus/permissions.json")
        );
        assert_eq!(
            relevant_path(root, Path::new("/v/.nexus/vault.sqlite-wal")),
            None
        );
        assert_eq!(relevant_path(root, Path::new("/v/notes/.a.md.swp")), None);
        assert_eq!(relevant_path(root, Path::new("/v/notes/4913")), None);
        assert_eq!(relevant_path(root, Path::new("/v")), None);
        assert_eq!(relevant_path(root, Path::new("/elsewhere/x.md")), None);
    }
}
