//! The vault: a folder the user owns, its `.nexus/` system folder, and the
//! files in it that hold the user's data.
//!
//! This module knows about paths and file formats only; it never touches the
//! database (that is `db`) and never decides when to sync (that is `sync`).

pub mod app_config;
pub mod atomic;
pub mod config;
pub mod directory_info;
pub mod formats;
pub mod ignore;
pub mod keys;
pub mod sample;
pub mod walk;

use std::path::{Path, PathBuf};

use crate::error::{IoContext, NexusError, Result};

pub use config::{VaultConfigFile, VaultSettings};

/// Name of the hidden system folder inside a vault.
pub const NEXUS_DIR: &str = ".nexus";
/// Path of the permissions file, relative to the vault root. It is the one
/// file inside `.nexus/` that is synced like a vault file.
pub const PERMISSIONS_REL: &str = ".nexus/permissions.json";

/// An opened vault folder.
#[derive(Debug, Clone)]
pub struct Vault {
    root: PathBuf,
    config: VaultConfigFile,
}

impl Vault {
    /// Makes `path` a vault: creates the folder if needed, `.nexus/`,
    /// `.nexus/config.json` and `.nexus/logs/`. An existing vault is opened
    /// as it is (its config is kept).
    pub fn init(path: &Path) -> Result<Vault> {
        if path.exists() && !path.is_dir() {
            return Err(NexusError::Vault(format!(
                "cannot make a vault here: not a folder: {}",
                path.display()
            )));
        }
        std::fs::create_dir_all(path).with_path(path)?;
        let root = canonical_root(path)?;
        let nexus = root.join(NEXUS_DIR);
        std::fs::create_dir_all(nexus.join("logs")).with_path(&nexus)?;
        let config_path = nexus.join("config.json");
        let config = if config_path.exists() {
            VaultConfigFile::load(&config_path)?
        } else {
            let config = VaultConfigFile::new_now();
            config.save(&config_path)?;
            config
        };
        Ok(Vault { root, config })
    }

    /// Opens an existing vault. A missing folder, a folder that is not a
    /// vault, or one that cannot be written gives a one-line error and
    /// creates nothing.
    pub fn open(path: &Path) -> Result<Vault> {
        if !path.exists() {
            return Err(NexusError::Vault(format!(
                "vault folder does not exist: {}",
                path.display()
            )));
        }
        if !path.is_dir() {
            return Err(NexusError::Vault(format!(
                "not a folder: {}",
                path.display()
            )));
        }
        let root = canonical_root(path)?;
        let config_path = root.join(NEXUS_DIR).join("config.json");
        if !config_path.is_file() {
            return Err(NexusError::Vault(format!(
                "not a Me-Nexus vault (no .nexus/config.json; run `me-nexus init` first): {}",
                root.display()
            )));
        }
        let config = VaultConfigFile::load(&config_path)?;
        if !directory_info::is_writable(&root.join(NEXUS_DIR)) {
            return Err(NexusError::Vault(format!(
                "vault is not writable: {}",
                root.display()
            )));
        }
        // The logs folder is part of the layout; recreate it if a user removed it.
        std::fs::create_dir_all(root.join(NEXUS_DIR).join("logs")).with_path(&root)?;
        Ok(Vault { root, config })
    }

    /// Whether `path` holds a vault (`.nexus/config.json` exists).
    pub fn is_vault(path: &Path) -> bool {
        path.join(NEXUS_DIR).join("config.json").is_file()
    }

    /// The vault's root folder (canonical).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The vault's settings from `.nexus/config.json`.
    pub fn settings(&self) -> &VaultSettings {
        &self.config.settings
    }

    /// The vault's config file contents.
    pub fn config(&self) -> &VaultConfigFile {
        &self.config
    }

    /// `.nexus/` inside the vault.
    pub fn nexus_dir(&self) -> PathBuf {
        self.root.join(NEXUS_DIR)
    }

    /// `.nexus/vault.sqlite`.
    pub fn db_path(&self) -> PathBuf {
        self.nexus_dir().join("vault.sqlite")
    }

    /// `.nexus/logs/`.
    pub fn logs_dir(&self) -> PathBuf {
        self.nexus_dir().join("logs")
    }

    /// `.nexus/logs/audit.jsonl`.
    pub fn audit_path(&self) -> PathBuf {
        self.logs_dir().join("audit.jsonl")
    }

    /// `.nexus/permissions.json`.
    pub fn permissions_path(&self) -> PathBuf {
        self.root.join(PERMISSIONS_REL)
    }

    /// `.nexus/schemas/`: schemas added with `me-nexus schema add`, kept as
    /// files so that a rebuilt database gets them back.
    pub fn schemas_dir(&self) -> PathBuf {
        self.nexus_dir().join("schemas")
    }

    /// `.nexus/trash/`: whole files and items deleted through Me-Nexus.
    pub fn trash_dir(&self) -> PathBuf {
        self.nexus_dir().join("trash")
    }

    /// `.nexus/write.lock`: serialises writers across processes.
    pub fn write_lock_path(&self) -> PathBuf {
        self.nexus_dir().join("write.lock")
    }

    /// The absolute path of a vault-relative path (always `/`-separated).
    pub fn abs(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    /// The display name of the vault: its folder name.
    pub fn name(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.root.display().to_string())
    }
}

fn canonical_root(path: &Path) -> Result<PathBuf> {
    std::fs::canonicalize(path).with_path(path)
}

/// Holds an exclusive lock on `.nexus/write.lock` while alive, so that a CLI
/// command and a running watcher never write the vault at the same time.
#[derive(Debug)]
pub struct WriteLock {
    _file: std::fs::File,
}

impl Vault {
    /// Blocks until this process holds the vault's write lock.
    pub fn lock_for_write(&self) -> Result<WriteLock> {
        let path = self.write_lock_path();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_path(&path)?;
        file.lock().with_path(&path)?;
        Ok(WriteLock { _file: file })
    }
}
