//! `.nexus/config.json`: when the vault was made, its format version, and its
//! settings.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{IoContext, NexusError, Result};
use crate::vault::atomic::write_atomic;

/// The vault format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// Tunable settings of one vault.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default)]
pub struct VaultSettings {
    /// How long the watcher waits for a burst of file events to settle.
    pub debounce_ms: u64,
    /// How often the sync service runs a full reconcile as a safety net.
    pub reconcile_interval_secs: u64,
    /// Files larger than this are skipped and reported as a problem.
    pub max_file_bytes: u64,
    /// A successful full reconcile backs the index up into
    /// `.nexus/backups/` when the newest backup is older than this.
    pub backup_interval_secs: u64,
    /// How many backups to keep (the newest); 0 turns backups off.
    pub backups_kept: usize,
}

impl Default for VaultSettings {
    fn default() -> Self {
        VaultSettings {
            debounce_ms: 300,
            reconcile_interval_secs: 300,
            max_file_bytes: 32 * 1024 * 1024,
            backup_interval_secs: 3600,
            backups_kept: 5,
        }
    }
}

/// The contents of `.nexus/config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct VaultConfigFile {
    /// When the vault was initialised (RFC 3339).
    pub created_at: String,
    /// The vault format version.
    pub format_version: u32,
    /// Settings.
    #[serde(default)]
    pub settings: VaultSettings,
}

impl VaultConfigFile {
    /// A config for a vault made now.
    pub fn new_now() -> Self {
        VaultConfigFile {
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            format_version: FORMAT_VERSION,
            settings: VaultSettings::default(),
        }
    }

    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).with_path(path)?;
        let config: VaultConfigFile =
            serde_json::from_slice(&bytes).map_err(|e| NexusError::json(path, e))?;
        if config.format_version > FORMAT_VERSION {
            return Err(NexusError::Vault(format!(
                "vault format {} is newer than this build understands ({}); update Me-Nexus: {}",
                config.format_version,
                FORMAT_VERSION,
                path.display()
            )));
        }
        Ok(config)
    }

    /// Writes `path` atomically.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self).map_err(|e| NexusError::json(path, e))?;
        text.push('\n');
        write_atomic(path, text.as_bytes())
    }
}
