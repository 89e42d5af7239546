//! Me-Nexus: a local-first personal data vault.
//!
//! The user's data lives as human-readable files in a folder they own (the
//! vault); a SQLite index in `.nexus/vault.sqlite` makes queries fast; a
//! sync thread keeps the two in step; zero-trust permissions decide what may
//! leave the vault, and every decision is audited.
//!
//! Module map (the engine never imports a UI crate):
//! - [`vault`]: the folder, its config, file formats, keys, atomic writes;
//! - [`schema`]: built-in and plugin JSON Schemas, compiled validators;
//! - [`db`]: SQLite connection, migrations, queries, stats;
//! - [`sync`]: indexing, reconcile, write-back, permissions.json, the watcher
//!   and the sync service;
//! - [`permissions`]: the permission model, permissions.json, the gate;
//! - [`audit`]: the append-only audit log;
//! - [`bench`]: the benchmark suite behind `me-nexus bench`;
//! - [`query`]: read-side queries and the reader thread for views;
//! - [`cli`]: the headless subcommands;
//! - [`ui`]: the desktop window (the only module that imports egui).

pub mod audit;
pub mod bench;
pub mod cli;
pub mod db;
pub mod error;
pub mod permissions;
pub mod query;
pub mod schema;
pub mod sync;
pub mod ui;
pub mod vault;

pub use error::{NexusError, Result};
pub use sync::Engine;
