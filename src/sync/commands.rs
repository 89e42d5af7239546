//! The messages between the sync service and its clients (the CLI's
//! `watch`, the desktop window): commands in, events out.

use crate::sync::capped::Capped;
use crossbeam_channel::Sender;
use serde::Serialize;
use serde_json::Value;

use crate::audit::Source;
use crate::db::stats::PermissionStats;
use crate::error::Result;
use crate::permissions::model::PermissionChange;
use crate::sync::permissions_sync::{PermissionTarget, PermissionUpdate};

/// A request to the sync service. Commands with a `reply` sender get their
/// result there (and only there); without one, a failure is sent out as
/// [`SyncEvent::Error`].
#[derive(Debug)]
pub enum SyncCommand {
    /// Run a full reconcile now.
    ForceSync,
    /// Save an object (create it when `key` is `None`).
    SaveObject {
        /// Schema name.
        schema_name: String,
        /// New content.
        content: Value,
        /// The object to update.
        key: Option<String>,
        /// Who asked.
        source: Source,
        /// Where the new key goes.
        reply: Option<Sender<Result<String>>>,
    },
    /// Delete an object.
    DeleteObject {
        /// Object key.
        key: String,
        /// Who asked.
        source: Source,
        /// Where the outcome goes.
        reply: Option<Sender<Result<()>>>,
    },
    /// Change permissions.
    SetPermissions {
        /// Which objects.
        target: PermissionTarget,
        /// What to change.
        change: PermissionChange,
        /// Who asked.
        source: Source,
        /// Where the updates go.
        reply: Option<Sender<Result<Vec<PermissionUpdate>>>>,
    },
    /// Put the losing version of a conflict back (see `Engine::restore_conflict`).
    RestoreConflict {
        /// The conflict id.
        id: i64,
        /// Who asked.
        source: Source,
        /// Where the restored object's key goes.
        reply: Option<Sender<Result<String>>>,
    },
    /// Stop the service; the thread ends after the current batch.
    Shutdown,
}

/// What the service is doing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum SyncState {
    /// Opening and indexing for the first time.
    Starting,
    /// Idle, watching for changes.
    Watching,
    /// Processing a batch of this many paths.
    Syncing {
        /// Paths in the batch (0 for a full reconcile).
        files: usize,
    },
    /// Not syncing, with the reason.
    Paused(String),
    /// The last batch failed.
    Error(String),
}

/// The status a client shows: state, counts, last sync, pending work.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    /// What the service is doing.
    pub state: SyncState,
    /// Counts for the stats cards.
    pub stats: PermissionStats,
    /// File events waiting to be processed.
    pub pending: usize,
    /// Errors since the service started.
    pub errors: usize,
}

/// Something the service reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// The status changed.
    Status(SyncStatus),
    /// Objects changed (from files or from commands).
    ObjectsChanged {
        /// New objects (all counted, the first thousand named).
        added: Capped<String>,
        /// Changed objects (all counted, the first thousand named).
        updated: Capped<String>,
        /// Removed objects (all counted, the first thousand named).
        removed: Capped<String>,
        /// Renamed or moved objects: `(old key, new key)` (all counted, the
        /// first thousand named).
        moved: Capped<(String, String)>,
    },
    /// Permissions changed.
    PermissionsChanged {
        /// Keys whose permissions changed.
        keys: Vec<String>,
    },
    /// Files that have problems after a batch.
    Problems {
        /// Files in this batch with problems.
        files: Vec<String>,
        /// Problems in the whole vault.
        total: i64,
    },
    /// A large batch is being indexed: files done of files to do.
    Progress {
        /// Files done.
        done: usize,
        /// Files to do.
        total: usize,
    },
    /// A failure the user should see once.
    Error(String),
}
