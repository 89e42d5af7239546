//! The full reconcile: walk the whole vault and bring the index in line
//! with the files. `me-nexus sync` runs it; the sync service runs it at
//! start, on notify's Rescan flag, and periodically as a safety net.

use std::collections::{BTreeSet, HashSet};

use crate::db::{self, now_rfc3339, problems::Problem};
use crate::error::Result;
use crate::sync::engine::Engine;
use crate::sync::indexer::{BatchReport, Plan};
use crate::vault::walk::walk_vault;

impl Engine {
    /// Walks the vault, re-reads only files whose size, mtime or content
    /// changed, removes the objects of files that are gone, and reconciles
    /// permissions.json. Running it twice in a row changes nothing.
    pub fn reconcile(&mut self) -> Result<BatchReport> {
        let _lock = self.vault.lock_for_write()?;
        self.reconcile_locked()
    }

    pub(crate) fn reconcile_locked(&mut self) -> Result<BatchReport> {
        let walked = walk_vault(self.vault.root())?;
        let present: HashSet<&str> = walked.files.iter().map(|f| f.rel.as_str()).collect();
        let gone: BTreeSet<String> = db::files::all(&self.conn)?
            .into_iter()
            .map(|row| row.path)
            .filter(|path| {
                path != crate::vault::PERMISSIONS_REL && !present.contains(path.as_str())
            })
            .collect();
        let plan = Plan {
            present: walked.files.clone(),
            gone,
            forced: HashSet::new(),
            full: true,
            defer: false,
        };
        let mut report = self.apply_plan(plan)?;
        self.sync_conflict_copies()?;
        remove_stale_temp_files(self.vault.root());

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
/// power loss) left behind. Every vault write holds the write lock, and so
/// does the reconcile, so none of them can belong to a write in progress.
/// The target files themselves were never touched by such a write.
fn remove_stale_temp_files(root: &std::path::Path) {
    fn visit(dir: &std::path::Path, depth: usize) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if kind.is_dir() && depth < 64 && (name == ".nexus" || !name.starts_with('.')) {
                visit(&entry.path(), depth + 1);
            } else if kind.is_file() && name.starts_with('.') && name.ends_with(".nexus-tmp") {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => tracing::info!(
                        "removed a temporary file left by a crash: {}",
                        entry.path().display()
                    ),
                    Err(e) => tracing::warn!("cannot remove {}: {e}", entry.path().display()),
                }
            }
        }
    }
    visit(root, 0);
}
