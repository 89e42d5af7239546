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

/// How to open a vault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read-write if `.nexus/` can be written (tested for real), else
    /// read-only with a notice.
    Auto,
    /// Read-only: nothing in the vault is written; every write is refused
    /// with one line. Chosen by `Auto` on an unwritable vault; tests and
    /// callers that only read may ask for it directly.
    ReadOnly,
}

/// An opened vault folder.
#[derive(Debug, Clone)]
pub struct Vault {
    root: PathBuf,
    config: VaultConfigFile,
    read_only: bool,
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
        Ok(Vault {
            root,
            config,
            read_only: false,
        })
    }

    /// Opens an existing vault. A missing folder or a folder that is not a
    /// vault gives a one-line error and creates nothing. A vault that
    /// cannot be written (folder permissions, a read-only filesystem) opens
    /// read-only, with a warning: reads work, writes are refused.
    pub fn open(path: &Path) -> Result<Vault> {
        Vault::open_with(path, OpenMode::Auto)
    }

    /// [`Vault::open`] with an explicit [`OpenMode`].
    pub fn open_with(path: &Path, mode: OpenMode) -> Result<Vault> {
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
        let read_only = match mode {
            OpenMode::ReadOnly => true,
            OpenMode::Auto => {
                let unwritable = !directory_info::is_writable(&root.join(NEXUS_DIR));
                if unwritable {
                    tracing::warn!(
                        "the vault is read-only; opening it for reading only: {}",
                        root.display()
                    );
                }
                unwritable
            }
        };
        if !read_only {
            // The logs folder is part of the layout; recreate it if a user removed it.
            std::fs::create_dir_all(root.join(NEXUS_DIR).join("logs")).with_path(&root)?;
        }
        Ok(Vault {
            root,
            config,
            read_only,
        })
    }

    /// Whether `path` holds a vault (`.nexus/config.json` exists).
    pub fn is_vault(path: &Path) -> bool {
        path.join(NEXUS_DIR).join("config.json").is_file()
    }

    /// Whether the vault was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// The error every write on a read-only vault gets.
    pub fn read_only_error(&self) -> NexusError {
        NexusError::Vault(format!(
            "the vault is read-only; nothing was changed: {}",
            self.root.display()
        ))
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

    /// `.nexus/service.lock`: held by the one sync service (window or
    /// `me-nexus watch`) of this vault; it holds that process's pid.
    pub fn service_lock_path(&self) -> PathBuf {
        self.nexus_dir().join("service.lock")
    }

    /// `.nexus/corrupt/`: damaged database files, moved aside (never deleted).
    pub fn corrupt_dir(&self) -> PathBuf {
        self.nexus_dir().join("corrupt")
    }

    /// `.nexus/backups/`: rotating backups of the index.
    pub fn backups_dir(&self) -> PathBuf {
        self.nexus_dir().join("backups")
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
    /// Every write to a vault goes through here, so a read-only vault
    /// refuses them all with one line.
    pub fn lock_for_write(&self) -> Result<WriteLock> {
        let (path, file) = self.open_write_lock()?;
        file.lock().with_path(&path)?;
        Ok(WriteLock { _file: file })
    }

    /// The vault's write lock if nobody holds it now; `None` if somebody
    /// does (another process, or another engine of this one).
    pub fn try_lock_for_write(&self) -> Result<Option<WriteLock>> {
        let (path, file) = self.open_write_lock()?;
        match file.try_lock() {
            Ok(()) => Ok(Some(WriteLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(crate::error::NexusError::io(&path, e)),
        }
    }

    /// `.nexus/write.lock`, opened (created if missing) but not locked. A
    /// read-only vault refuses here, before any file is created.
    fn open_write_lock(&self) -> Result<(std::path::PathBuf, std::fs::File)> {
        if self.read_only {
            return Err(self.read_only_error());
        }
        let path = self.write_lock_path();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_path(&path)?;
        Ok((path, file))
    }
}

/// Held by a vault's one sync service (a window or `me-nexus watch`) for as
/// long as it runs: an exclusive lock on `.nexus/service.lock`, which holds
/// the pid of its process.
#[derive(Debug)]
pub struct ServiceLock {
    _file: std::fs::File,
}

/// How long [`Vault::lock_service`] keeps trying while the lock is busy: a
/// one-shot command that is moving a damaged database aside holds it
/// (shared) for a moment; a running service holds it for good.
const SERVICE_LOCK_PATIENCE: std::time::Duration = std::time::Duration::from_millis(300);

impl Vault {
    /// Takes the vault's service lock, without waiting for another holder:
    /// a second window or watcher on the same vault gets a one-line error
    /// naming the holder's pid. One-shot commands never take this lock.
    pub fn lock_service(&self) -> Result<ServiceLock> {
        use std::io::Write;
        if self.read_only {
            return Err(NexusError::Vault(format!(
                "the vault is read-only; it cannot be synced or edited (use `me-nexus status` or `list` to read it): {}",
                self.root.display()
            )));
        }
        let path = self.service_lock_path();
        let deadline = std::time::Instant::now() + SERVICE_LOCK_PATIENCE;
        loop {
            let mut file = open_lock_file(&path)?;
            match file.try_lock() {
                Ok(()) => {
                    file.set_len(0).with_path(&path)?;
                    writeln!(file, "{}", std::process::id()).with_path(&path)?;
                    return Ok(ServiceLock { _file: file });
                }
                Err(std::fs::TryLockError::WouldBlock) => {
                    if std::time::Instant::now() >= deadline {
                        return Err(NexusError::Vault(format!(
                            "another Me-Nexus window or watcher is already syncing this vault (pid {}): {}",
                            read_pid(&path),
                            self.root.display()
                        )));
                    }
                    std::thread::park_timeout(std::time::Duration::from_millis(20));
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(NexusError::io(&path, e)),
            }
        }
    }

    /// For a one-shot command about to move damaged database files aside:
    /// refuses if a sync service is running on the vault (it still has the
    /// database open), else returns a shared hold on the service lock that
    /// keeps a service from starting until it is dropped.
    pub fn probe_service_lock(&self) -> Result<Option<std::fs::File>> {
        let path = self.service_lock_path();
        let file = open_lock_file(&path)?;
        match file.try_lock_shared() {
            Ok(()) => Ok(Some(file)),
            Err(std::fs::TryLockError::WouldBlock) => Err(NexusError::Vault(format!(
                "the index is damaged but a Me-Nexus window or watcher (pid {}) has it open; stop it and run the command again: {}",
                read_pid(&path),
                self.root.display()
            ))),
            Err(std::fs::TryLockError::Error(e)) => Err(NexusError::io(&path, e)),
        }
    }
}

fn open_lock_file(path: &Path) -> Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(path)
        .with_path(path)
}

fn read_pid(path: &Path) -> String {
    std::fs::read_to_string(path)
        .ok()
        .map(|text| text.trim().to_string())
        .filter(|pid| !pid.is_empty())
        .unwrap_or_else(|| "unknown".into())
}
