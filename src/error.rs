//! The one error type of the engine.
//!
//! The variants are the seed design's (Database, Io, Serialization, Sync,
//! PermissionDenied, SchemaValidation) plus a few that make CLI messages
//! precise. Every variant that concerns a file names that file, at the end of
//! the message, so the user knows where to look.

use std::path::{Path, PathBuf};

/// Errors of the vault engine.
#[derive(Debug, thiserror::Error)]
pub enum NexusError {
    /// SQLite failed.
    #[error("Database error: {0}")]
    Database(#[from] rusqlite::Error),

    /// Reading or writing a file failed.
    #[error("IO error: {source}: {}", path.display())]
    Io {
        /// The file or folder the operation was on.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },

    /// A JSON document could not be read or written.
    #[error("Serialization error: {source}: {}", path.display())]
    Serialization {
        /// The file (or argument) the JSON came from.
        path: PathBuf,
        /// What serde said.
        source: serde_json::Error,
    },

    /// The sync machinery failed (watcher, service thread, a file in a bad state).
    #[error("Sync error: {0}")]
    Sync(String),

    /// The permissions of an object forbid the operation.
    #[error("Permission denied: {0}")]
    PermissionDenied(String),

    /// An object does not satisfy its JSON Schema, or a schema is unusable.
    #[error("Schema validation failed: {0}")]
    SchemaValidation(String),

    /// The folder is missing, not a vault, or not usable as one.
    #[error("{0}")]
    Vault(String),

    /// The vault folder vanished or looks empty (an unmounted drive?): a
    /// sync that would have removed every object was not run. The sync
    /// service pauses on it and retries.
    #[error("{0}")]
    VaultUnavailable(String),

    /// An object key or schema name that does not exist.
    #[error("Not found: {0}")]
    NotFound(String),

    /// A malformed argument (a bad date, a bad key, bad JSON on the command line).
    #[error("Invalid input: {0}")]
    InvalidInput(String),
}

/// The engine's result type.
pub type Result<T, E = NexusError> = std::result::Result<T, E>;

impl NexusError {
    /// An I/O error on `path`.
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        NexusError::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A JSON error in `path`.
    pub fn json(path: impl AsRef<Path>, source: serde_json::Error) -> Self {
        NexusError::Serialization {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}

/// Adds the path to an `io::Result`.
pub trait IoContext<T> {
    /// Wraps the error as [`NexusError::Io`] on `path`.
    fn with_path(self, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn with_path(self, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| NexusError::io(path, e))
    }
}
