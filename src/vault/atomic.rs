//! Atomic file replacement: a reader (or a crash) sees either the old bytes
//! or the new bytes of a file, never a mix and never an empty file.

use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, NexusError, Result};

/// Replaces `path` with `bytes`: writes a temporary file in the same folder,
/// fsyncs it, renames it over `path`, then fsyncs the folder so that the
/// rename itself is durable. The temporary file is hidden (starts with `.`)
/// so that the watcher ignores it. File permissions of an existing file are
/// kept.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| NexusError::Sync(format!("no parent folder: {}", path.display())))?;
    std::fs::create_dir_all(dir).with_path(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".nexus-tmp")
        .tempfile_in(dir)
        .with_path(dir)?;
    // Errors name the file being replaced, which is what the user knows;
    // the original is untouched whatever fails here.
    tmp.write_all(bytes).with_path(path)?;
    if let Ok(meta) = std::fs::metadata(path) {
        // Keep the user's mode bits (tempfile creates 0600).
        std::fs::set_permissions(tmp.path(), meta.permissions()).with_path(tmp.path())?;
    } else {
        set_default_mode(tmp.path())?;
    }
    tmp.as_file().sync_all().with_path(path)?;
    tmp.persist(path)
        .map_err(|e| NexusError::io(path, e.error))?;
    sync_dir(dir)
}

#[cfg(unix)]
fn set_default_mode(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).with_path(path)
}

#[cfg(not(unix))]
fn set_default_mode(_path: &Path) -> Result<()> {
    Ok(())
}

/// Fsyncs a folder so that renames and creations in it are durable.
#[cfg(unix)]
pub fn sync_dir(dir: &Path) -> Result<()> {
    std::fs::File::open(dir)
        .and_then(|f| f.sync_all())
        .with_path(dir)
}

/// Folders cannot be fsynced on this platform.
#[cfg(not(unix))]
pub fn sync_dir(_dir: &Path) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("todos.json");
        std::fs::write(&path, b"old").unwrap();
        write_atomic(&path, b"new bytes").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new bytes");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("todos.json")]);
    }

    #[cfg(unix)]
    #[test]
    fn keeps_mode_bits() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.md");
        std::fs::write(&path, b"x").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        write_atomic(&path, b"y").unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
}
