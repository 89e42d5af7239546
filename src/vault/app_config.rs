//! The app-level config: the last vault and the recent vaults. It lives in
//! the OS config folder (`~/.config/me-nexus/` on Linux); the environment
//! variable `ME_NEXUS_CONFIG_DIR` overrides that so tests never touch the
//! real home.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{NexusError, Result};
use crate::vault::Vault;
use crate::vault::atomic::write_atomic;

/// Environment variable that overrides the app config folder.
pub const CONFIG_DIR_ENV: &str = "ME_NEXUS_CONFIG_DIR";
/// How many recent vaults are remembered.
pub const MAX_RECENT: usize = 10;

/// The seed's `VaultConfig`: the current vault.
#[derive(Debug, Serialize, Deserialize, Clone, PartialEq, Eq)]
pub struct VaultConfig {
    /// Absolute path of the vault folder.
    pub vault_path: String,
    /// When the vault was created (from its `.nexus/config.json`).
    pub created_at: String,
}

/// What `app.json` holds.
#[derive(Debug, Serialize, Deserialize, Clone, Default, PartialEq, Eq)]
pub struct AppConfig {
    /// The vault opened last; it reopens at the next start.
    pub last_vault: Option<String>,
    /// Recently opened vaults, newest first.
    #[serde(default)]
    pub recent_vaults: Vec<String>,
}

/// The folder that holds `app.json`.
pub fn config_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(CONFIG_DIR_ENV) {
        return Ok(PathBuf::from(dir));
    }
    directories::ProjectDirs::from("", "", "me-nexus")
        .map(|d| d.config_dir().to_path_buf())
        .ok_or_else(|| {
            NexusError::Vault(format!(
                "cannot find a config folder for this user (set {CONFIG_DIR_ENV})"
            ))
        })
}

impl AppConfig {
    /// Loads `app.json` from the app config folder.
    pub fn load() -> Result<AppConfig> {
        AppConfig::load_from(&config_dir()?)
    }

    /// Writes `app.json` to the app config folder.
    pub fn save(&self) -> Result<()> {
        self.save_to(&config_dir()?)
    }

    /// Loads `dir/app.json`; a missing file is an empty config. A damaged
    /// file is an error that names it (it is never silently replaced).
    pub fn load_from(dir: &Path) -> Result<AppConfig> {
        let path = dir.join("app.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| NexusError::json(&path, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(AppConfig::default()),
            Err(e) => Err(NexusError::io(&path, e)),
        }
    }

    /// Writes `dir/app.json` atomically.
    pub fn save_to(&self, dir: &Path) -> Result<()> {
        let path = dir.join("app.json");
        let text = serde_json::to_string_pretty(self).map_err(|e| NexusError::json(&path, e))?;
        write_atomic(&path, text.as_bytes())
    }

    /// Makes `vault` the last vault and moves it to the top of the recent list.
    pub fn remember(&mut self, vault: &Path) {
        let vault = vault.display().to_string();
        self.recent_vaults.retain(|v| v != &vault);
        self.recent_vaults.insert(0, vault.clone());
        self.recent_vaults.truncate(MAX_RECENT);
        self.last_vault = Some(vault);
    }
}

/// Seed API: the current vault, if one was chosen and still is a vault.
pub fn get_vault_config() -> Result<Option<VaultConfig>> {
    get_vault_config_in(&config_dir()?)
}

/// [`get_vault_config`] with an explicit app config folder.
pub fn get_vault_config_in(config_dir: &Path) -> Result<Option<VaultConfig>> {
    let app = AppConfig::load_from(config_dir)?;
    let Some(last) = app.last_vault else {
        return Ok(None);
    };
    let path = PathBuf::from(&last);
    if !Vault::is_vault(&path) {
        return Ok(None);
    }
    let vault = Vault::open(&path)?;
    Ok(Some(VaultConfig {
        vault_path: vault.root().display().to_string(),
        created_at: vault.config().created_at.clone(),
    }))
}

/// Seed API: makes the vault at `path` the current one and remembers it.
/// The folder must already be a vault (see [`Vault::init`]).
pub fn set_vault_path(path: &str) -> Result<VaultConfig> {
    set_vault_path_in(&config_dir()?, path)
}

/// [`set_vault_path`] with an explicit app config folder.
pub fn set_vault_path_in(config_dir: &Path, path: &str) -> Result<VaultConfig> {
    let vault = Vault::open(Path::new(path))?;
    let mut app = AppConfig::load_from(config_dir)?;
    app.remember(vault.root());
    app.save_to(config_dir)?;
    Ok(VaultConfig {
        vault_path: vault.root().display().to_string(),
        created_at: vault.config().created_at.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_get_the_current_vault() {
        let config = tempfile::tempdir().unwrap();
        assert_eq!(get_vault_config_in(config.path()).unwrap(), None);
        let not_vault = tempfile::tempdir().unwrap();
        assert!(set_vault_path_in(config.path(), not_vault.path().to_str().unwrap()).is_err());
        assert!(!config.path().join("app.json").exists());

        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::init(dir.path()).unwrap();
        let set = set_vault_path_in(config.path(), dir.path().to_str().unwrap()).unwrap();
        assert_eq!(set.vault_path, vault.root().display().to_string());
        assert_eq!(set.created_at, vault.config().created_at);
        assert_eq!(get_vault_config_in(config.path()).unwrap(), Some(set));
        let app = AppConfig::load_from(config.path()).unwrap();
        assert_eq!(app.recent_vaults, vec![vault.root().display().to_string()]);
    }

    #[test]
    fn recent_list_is_deduplicated_and_bounded() {
        let mut app = AppConfig::default();
        for i in 0..15 {
            app.remember(Path::new(&format!("/v{i}")));
        }
        app.remember(Path::new("/v3"));
        assert_eq!(app.recent_vaults.len(), MAX_RECENT);
        assert_eq!(app.recent_vaults[0], "/v3");
        assert_eq!(app.recent_vaults.iter().filter(|v| *v == "/v3").count(), 1);
    }
}
