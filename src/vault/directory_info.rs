//! `check_directory_info`: what a folder would become as a vault, before the
//! user commits to it.

use std::path::Path;

use serde::Serialize;

use crate::error::Result;
use crate::vault::Vault;
use crate::vault::formats::{ParsedFile, parse_file};
use crate::vault::walk::walk_vault;

/// The seed's `VaultInfo`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VaultInfo {
    /// The folder as given.
    pub path: String,
    /// The folder exists.
    pub exists: bool,
    /// This process can create files in it.
    pub writable: bool,
    /// It already holds `.nexus/config.json`.
    pub is_vault: bool,
    /// Candidate data files (`*.json`, `*.md`) found.
    pub files: u64,
    /// Objects those files hold.
    pub objects: u64,
}

/// Whether a file can be created in `dir` (tested for real: mode bits lie
/// for root and on read-only mounts).
pub fn is_writable(dir: &Path) -> bool {
    tempfile::Builder::new()
        .prefix(".nexus-write-test")
        .tempfile_in(dir)
        .is_ok()
}

/// Seed API: reports whether `path` exists, is writable, is already a vault,
/// and how many files and objects indexing it would find. Reads files but
/// writes nothing.
pub fn check_directory_info(path: &Path) -> Result<VaultInfo> {
    let exists = path.is_dir();
    let mut info = VaultInfo {
        path: path.display().to_string(),
        exists,
        writable: exists && is_writable(path),
        is_vault: exists && Vault::is_vault(path),
        files: 0,
        objects: 0,
    };
    if !exists {
        return Ok(info);
    }
    let walked = walk_vault(path)?;
    for file in &walked.files {
        info.files += 1;
        let Ok(bytes) = std::fs::read(&file.abs) else {
            continue;
        };
        if let ParsedFile::Data(data) = parse_file(&file.rel, &bytes) {
            info.objects += data.objects.len() as u64;
        }
    }
    Ok(info)
}
