//! The sample vault shipped in `assets/sample-vault/`, compiled into the
//! binary so that a fresh install can show a working vault in one click.

use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};
use crate::vault::Vault;
use crate::vault::atomic::write_atomic;

/// `(vault-relative path, contents)` of every sample file.
pub const SAMPLE_FILES: [(&str, &str); 9] = [
    (
        ".nexus/permissions.json",
        include_str!("../../assets/sample-vault/.nexus/permissions.json"),
    ),
    (
        "calendar/events.json",
        include_str!("../../assets/sample-vault/calendar/events.json"),
    ),
    (
        "notes/daily/2025-01-15.md",
        include_str!("../../assets/sample-vault/notes/daily/2025-01-15.md"),
    ),
    (
        "notes/projects/me-nexus.md",
        include_str!("../../assets/sample-vault/notes/projects/me-nexus.md"),
    ),
    (
        "notes/reading-list.md",
        include_str!("../../assets/sample-vault/notes/reading-list.md"),
    ),
    (
        "plugins/journal/entries.json",
        include_str!("../../assets/sample-vault/plugins/journal/entries.json"),
    ),
    (
        "plugins/journal/plugin.json",
        include_str!("../../assets/sample-vault/plugins/journal/plugin.json"),
    ),
    (
        "plugins/journal/schema.json",
        include_str!("../../assets/sample-vault/plugins/journal/schema.json"),
    ),
    (
        "todos.json",
        include_str!("../../assets/sample-vault/todos.json"),
    ),
];

/// Copies the sample vault into `dir` (unless `dir` already is a vault, so
/// that the user's changes to an earlier copy are kept) and makes it a
/// vault. Returns its root.
pub fn install_sample(dir: &Path) -> Result<PathBuf> {
    if !Vault::is_vault(dir) {
        for (rel, text) in SAMPLE_FILES {
            let path = dir.join(rel);
            if !path.exists() {
                write_atomic(&path, text.as_bytes())?;
            }
        }
    }
    let vault = Vault::init(dir)?;
    std::fs::create_dir_all(vault.logs_dir()).with_path(vault.logs_dir())?;
    Ok(vault.root().to_path_buf())
}

/// Where "Open sample vault" puts the sample: the user's data folder
/// (`ME_NEXUS_DATA_DIR` overrides it).
pub fn default_sample_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("ME_NEXUS_DATA_DIR") {
        return Some(PathBuf::from(dir).join("sample-vault"));
    }
    directories::ProjectDirs::from("", "", "me-nexus").map(|d| d.data_dir().join("sample-vault"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_sample_matches_the_assets_folder() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample-vault");
        for (rel, text) in SAMPLE_FILES {
            assert_eq!(
                std::fs::read_to_string(root.join(rel)).unwrap(),
                text,
                "{rel}"
            );
        }
    }

    #[test]
    fn installing_keeps_an_existing_copy() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("sample");
        let root = install_sample(&target).unwrap();
        assert!(Vault::is_vault(&root));
        std::fs::write(root.join("todos.json"), "changed").unwrap();
        install_sample(&target).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.join("todos.json")).unwrap(),
            "changed"
        );
    }
}
