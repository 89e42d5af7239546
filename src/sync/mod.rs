//! Synchronisation between the vault's files and its database.
//!
//! The path of data, file by file:
//! - [`watcher`]: notify-debouncer-full turns file events into batches of
//!   paths;
//! - [`indexer`]: a batch of paths is read, parsed, validated and written in
//!   batched transactions; [`reconcile`] does the same for the whole vault;
//! - [`permissions_sync`]: `.nexus/permissions.json` and `object_permissions`
//!   kept in step both ways;
//! - [`writeback`]: the app's own saves and deletes go to the file
//!   atomically, then to the database;
//! - [`service`]: the sync thread that runs all of it, with commands in and
//!   events out over crossbeam channels;
//! - [`capped`]: how reports and events count the objects a batch touched
//!   (every one) and name them (the first thousand).
//!
//! [`Engine`] is the one handle on an open vault that all of these share.

pub mod capped;
pub mod commands;
pub mod conflicts;
pub mod engine;
pub mod export;
pub mod indexer;
pub mod merge;
pub(crate) mod permissions_mirror;
pub mod permissions_sync;
pub(crate) mod prepare;
pub mod reconcile;
pub mod service;
pub mod watcher;
pub mod writeback;

pub use commands::{SyncCommand, SyncEvent, SyncState, SyncStatus};
pub use engine::Engine;
pub use indexer::BatchReport;
pub use service::{SyncHandle, spawn_sync_service};
