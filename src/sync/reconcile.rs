//! The full reconcile: walk the whole vault and bring the index in line
//! with the files. `me-nexus sync` runs it; the sync service runs it at
//! start, on notify's Rescan flag, and periodically as a safety net.

use std::collections::{BTreeSet, HashMap, HashSet};

use crate::db::files::FileRow;
use crate::db::{self, now_rfc3339, problems::Problem};
use crate::error::{NexusError, Result};
use crate::sync::engine::Engine;
use crate::sync::indexer::{BatchReport, Plan};
use crate::vault::walk::{is_temp_file_name, walk_vault, walk_vault_names};

impl Engine {
    /// Walks the vault, re-reads only files whose size, mtime or content
    /// changed, removes the objects of files that are gone, and reconciles
    /// permissions.json. Running it twice in a row changes nothing.
    ///
    /// It refuses ([`NexusError::VaultUnavailable`], nothing removed) when
    /// the vault looks gone; see [`Engine::check_vault_present`].
    ///
    /// It takes no backup: callers do that afterwards
    /// ([`Engine::backup_if_due`]), once the fresh index is already in use.
    pub fn reconcile(&mut self) -> Result<BatchReport> {
        self.check_vault_present()?;
        let _lock = self.vault.lock_for_write()?;
        db::bulk_load::repair(&self.conn)?;
        let mut report = self.reconcile_locked()?;
        if let Some(earlier) = self.rebuilt.take() {
            report = merge(earlier, report);
        }
        Ok(report)
    }

    pub(crate) fn reconcile_locked(&mut self) -> Result<BatchReport> {
        // A first index compares no file with what was indexed, so the
        // walk need not look up each file's size and mtime.
        let mut walked = if db::files::any(&self.conn)? {
            walk_vault(self.vault.root())?
        } else {
            walk_vault_names(self.vault.root())?
        };
        if walked
            .files
            .iter()
            .all(|f| f.rel == crate::vault::PERMISSIONS_REL)
            && has_objects(&self.conn)?
            && root_is_bare(self.vault.root())?
        {
            return Err(self.vault_unavailable());
        }
        let present: HashSet<&str> = walked.files.iter().map(|f| f.rel.as_str()).collect();
        let known_rows: HashMap<String, FileRow> = db::files::all(&self.conn)?
            .into_iter()
            .map(|row| (row.path.clone(), row))
            .collect();
        let gone: BTreeSet<String> = known_rows
            .keys()
            .filter(|path| {
                path.as_str() != crate::vault::PERMISSIONS_REL && !present.contains(path.as_str())
            })
            .cloned()
            .collect();
        drop(present);
        let plan = Plan {
            present: std::mem::take(&mut walked.files),
            gone,
            forced: HashSet::new(),
            full: true,
            known_rows: Some(known_rows),
            defer: false,
        };
        let mut report = self.apply_plan(plan)?;
        self.sync_conflict_copies()?;
        remove_stale_temp_files(&walked.temp_files, &self.vault.nexus_dir());

        // Problems with names and folders the walk found (non-UTF-8 names,
        // Unicode twins, unreadable folders) are replaced as a set, next to
        // the files' own problems; problems of files no longer indexed go.
        let now = now_rfc3339();
        let tx = db::begin(&self.conn)?;
        tx.execute(
            "DELETE FROM problems WHERE (file_path NOT IN (SELECT path FROM files) AND file_path <> ?1)
               OR pointer = ?2",
            [crate::vault::PERMISSIONS_REL, db::problems::NAME_POINTER],
        )?;
        for (rel, message) in &walked.skipped {
            db::problems::add(
                &tx,
                &Problem {
                    file_path: rel.clone(),
                    pointer: db::problems::NAME_POINTER.to_string(),
                    message: message.clone(),
                    object_key: None,
                    detected_at: now.clone(),
                },
            )?;
            report.problem_files.push(rel.clone());
        }
        tx.commit()?;
        Ok(report)
    }
}

/// Removes the temporary files of atomic writes that a crash (kill -9,
/// power loss) left behind: those the walk found in the vault's folders
/// (`found`; the app writes only where the walk goes), and those in
/// `nexus_dir` and its folders (eight levels down), which the walk does
/// not enter. Every vault
/// write holds the write lock, and so does the reconcile, so none of them
/// can belong to a write in progress. The target files themselves were
/// never touched by such a write.
fn remove_stale_temp_files(found: &[std::path::PathBuf], nexus_dir: &std::path::Path) {
    fn remove(path: &std::path::Path) {
        match std::fs::remove_file(path) {
            Ok(()) => tracing::info!(
                "removed a temporary file left by a crash: {}",
                path.display()
            ),
            Err(e) => tracing::warn!("cannot remove {}: {e}", path.display()),
        }
    }
    fn visit(dir: &std::path::Path, depth: usize) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            if kind.is_dir() && depth < 8 {
                visit(&entry.path(), depth + 1);
            } else if kind.is_file() && is_temp_file_name(&name.to_string_lossy()) {
                remove(&entry.path());
            }
        }
    }
    for path in found {
        remove(path);
    }
    visit(nexus_dir, 0);
}

impl Engine {
    /// The mass-change guard, so that an unmounted drive or a folder moved
    /// away never empties the index. The rule:
    /// - the vault folder or its `.nexus/config.json` is gone: every sync
    ///   refuses (full reconcile and watcher batches alike);
    /// - a **full** reconcile that finds no data file while the index has
    ///   objects, and the vault folder holds nothing but `.nexus/`,
    ///   refuses too (see [`Engine::reconcile`]).
    ///
    /// Refusing means [`NexusError::VaultUnavailable`]: nothing is removed,
    /// `me-nexus sync` exits non-zero with one line, and the sync service
    /// shows `Paused` and retries. Deleting files one by one while the
    /// watcher runs is ordinary editing: those incremental deletions
    /// proceed, even down to an empty vault. To empty a vault on purpose
    /// while nothing watches it, leave any entry in the folder (an empty
    /// `notes/` folder will do) and sync.
    pub fn check_vault_present(&self) -> Result<()> {
        let config = self.vault.nexus_dir().join("config.json");
        if self.vault.root().is_dir() && config.is_file() {
            Ok(())
        } else {
            Err(self.vault_unavailable())
        }
    }

    fn vault_unavailable(&self) -> NexusError {
        NexusError::VaultUnavailable(format!(
            "vault folder is missing or looks empty (unmounted drive?): {}; nothing was removed",
            self.vault.root().display()
        ))
    }
}

/// Whether `root` holds no entry but `.nexus/`.
fn root_is_bare(root: &std::path::Path) -> Result<bool> {
    use crate::error::IoContext;
    for entry in std::fs::read_dir(root).with_path(root)? {
        let entry = entry.with_path(root)?;
        if entry.file_name() != crate::vault::NEXUS_DIR {
            return Ok(false);
        }
    }
    Ok(true)
}

fn has_objects(conn: &rusqlite::Connection) -> Result<bool> {
    Ok(
        conn.query_row("SELECT EXISTS (SELECT 1 FROM data_objects)", [], |r| {
            r.get(0)
        })?,
    )
}

/// One report for two batches in a row (the rebuild after a recovery, then
/// a reconcile): the changes of both, the counts of the later walk.
fn merge(mut earlier: BatchReport, later: BatchReport) -> BatchReport {
    earlier.files_seen = later.files_seen;
    earlier.files_parsed += later.files_parsed;
    earlier.files_removed += later.files_removed;
    earlier.files_not_data = later.files_not_data;
    earlier.objects_added.extend(later.objects_added);
    earlier.objects_updated.extend(later.objects_updated);
    earlier.objects_removed.extend(later.objects_removed);
    earlier.objects_moved.extend(later.objects_moved);
    earlier
        .permissions_changed
        .extend(later.permissions_changed);
    earlier.schemas_changed.extend(later.schemas_changed);
    for file in later.problem_files {
        if !earlier.problem_files.contains(&file) {
            earlier.problem_files.push(file);
        }
    }
    earlier
}
