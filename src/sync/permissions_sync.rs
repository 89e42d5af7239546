//! Keeping `object_permissions` and `.nexus/permissions.json` in step.
//!
//! The rule: if permissions.json changed on disk since Me-Nexus last wrote
//! or read it, the file wins (a hand edit is picked up, and after a database
//! rebuild every grant comes back). Otherwise the database wins and the file
//! is rewritten from it when they differ. A file that cannot be parsed is
//! reported and never rewritten; entries that cannot be read are kept
//! verbatim and count as no grant.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::{AuditEntry, Source};
use crate::db::files::{FileRow, FileStatus};
use crate::db::problems::Problem;
use crate::db::{self, now_rfc3339};
use crate::error::{IoContext, NexusError, Result};
use crate::permissions::file::{self as pfile, PermissionsFile};
use crate::permissions::model::{PermissionChange, Permissions, diff};
use crate::sync::engine::Engine;
use crate::sync::indexer::BatchReport;
use crate::sync::permissions_mirror::KnownFile;
use crate::vault::PERMISSIONS_REL;
use crate::vault::atomic::write_atomic;
use crate::vault::formats::FileProblem;
use crate::vault::walk;

/// Which objects a permission change applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionTarget {
    /// These keys (each must exist).
    Keys(Vec<String>),
    /// Every object of a schema.
    Schema(String),
    /// Every object.
    All,
    /// The objects a grid filter shows (bulk actions on filtered rows).
    Query(crate::query::GridQuery),
}

/// One object's permissions before and after a change.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PermissionUpdate {
    /// Object key.
    pub key: String,
    /// Before.
    pub old: Permissions,
    /// After.
    pub new: Permissions,
}

impl Engine {
    /// The permissions of object `key`.
    pub fn get_permissions(&self, key: &str) -> Result<Permissions> {
        let object = db::objects::get_by_key(&self.conn, key)?
            .ok_or_else(|| NexusError::NotFound(format!("no object with key {key}")))?;
        db::permissions::get(&self.conn, object.id)
    }

    /// Changes the permissions of the target objects: database, then
    /// permissions.json, then one audit line per changed object (old → new,
    /// and the source). Returns what changed.
    pub fn set_permissions(
        &mut self,
        target: &PermissionTarget,
        change: &PermissionChange,
        source: Source,
    ) -> Result<Vec<PermissionUpdate>> {
        change.validate().map_err(NexusError::InvalidInput)?;
        let _lock = self.vault.lock_for_write()?;
        // A hand edit of permissions.json that the watcher has not seen yet
        // is taken in first, so that rewriting the file cannot lose it.
        let mut report = BatchReport::default();
        self.sync_permissions_file(false, &mut report)?;
        let rows: Vec<(i64, String, Permissions)> = match target {
            PermissionTarget::Keys(keys) => {
                let mut rows = Vec::with_capacity(keys.len());
                for key in keys {
                    crate::vault::keys::check_key(key).map_err(NexusError::InvalidInput)?;
                    let (id, perms) = db::permissions::of_key(&self.conn, key)?
                        .ok_or_else(|| NexusError::NotFound(format!("no object with key {key}")))?;
                    rows.push((id, key.clone(), perms));
                }
                rows
            }
            PermissionTarget::Schema(name) => {
                if db::schemas::get(&self.conn, name)?.is_none() {
                    return Err(NexusError::NotFound(format!("no schema named {name}")));
                }
                db::permissions::all_with_keys(&self.conn, Some(name))?
            }
            PermissionTarget::All => db::permissions::all_with_keys(&self.conn, None)?,
            PermissionTarget::Query(query) => {
                let ids = crate::query::grid::query_ids(&self.conn, query)?;
                let mut rows = Vec::with_capacity(ids.len());
                for row in crate::query::grid::rows_by_ids(&self.conn, &ids)? {
                    rows.push((row.id, row.key, row.permissions));
                }
                rows
            }
        };
        // Hand edits just taken in are one side of a conflict with this
        // change: where both touched the same setting, the more restrictive
        // value wins.
        let edits: std::collections::HashMap<&str, (&Permissions, &Permissions)> = report
            .permission_edits
            .iter()
            .map(|(key, before, after)| (key.as_str(), (before, after)))
            .collect();
        let mut updates = Vec::new();
        let tx = db::begin(&self.conn)?;
        let generation_before = db::permissions::generation(&tx)?;
        for (id, key, old) in rows {
            let new = match edits.get(key.as_str()) {
                Some((before, after)) => crate::permissions::model::resolve_conflict(
                    before,
                    after,
                    &change.apply(before),
                ),
                None => change.apply(&old),
            };
            if new != old {
                db::permissions::change(&tx, id, &old, &new)?;
                updates.push(PermissionUpdate { key, old, new });
            }
        }
        let generation_after = db::permissions::generation(&tx)?;
        tx.commit()?;
        // The grants in memory follow this change only if they were
        // current when it began. The transaction held the database's write
        // lock from the first read of the generation to the last, so the
        // difference is this change alone. Otherwise they are read again.
        match &mut self.permissions_mirror.grants {
            Some(grants) if grants.generation == generation_before => {
                for update in &updates {
                    grants.apply(&update.key, &update.new);
                }
                grants.generation = generation_after;
            }
            _ => self.permissions_mirror.grants = None,
        }
        // Always bring the file in line, even when nothing changed now: a
        // process killed between the DB and the file may have left it behind.
        self.sync_permissions_file(true, &mut report)?;
        let entries: Vec<AuditEntry> = updates
            .iter()
            .map(|u| permission_audit(&u.key, &u.old, &u.new, source))
            .collect();
        self.audit.record(&entries)?;
        Ok(updates)
    }

    /// Reconciles permissions.json with the database (see the module docs).
    /// With `dump`, the file is rewritten from the database even if nothing
    /// else suggests it is stale.
    pub(crate) fn sync_permissions_file(
        &mut self,
        dump: bool,
        report: &mut BatchReport,
    ) -> Result<()> {
        let path = self.vault.permissions_path();
        let now = now_rfc3339();
        let row = db::files::get(&self.conn, PERMISSIONS_REL)?;
        let current = match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(NexusError::io(&path, e)),
        };
        let current_hash = current
            .as_deref()
            .map(|bytes| self.permissions_mirror.hash_of(bytes));
        // A hash an earlier version recorded (BLAKE3) is compared as such,
        // so that a file left behind the database by a crash is still
        // rewritten from it rather than taken in.
        let changed_on_disk = match (&current_hash, &row, current.as_deref()) {
            (Some(hash), Some(row), Some(bytes)) => {
                !db::matches_stored_hash(&row.hash, bytes, hash)
            }
            (Some(_), _, _) => true,
            (None, _, _) => false,
        };
        let mut parsed: Option<PermissionsFile> = None;
        if let (true, Some(bytes), Some(hash)) =
            (changed_on_disk, current.as_deref(), &current_hash)
        {
            match pfile::parse(bytes) {
                Err(problem) => {
                    // Never rewrite a file we cannot read; keep the grants
                    // as they are until the user fixes it.
                    let file = (hash.as_str(), bytes.len());
                    self.record_permissions_file(file, FileStatus::Invalid, &[problem], &now)?;
                    report.problem_files.push(PERMISSIONS_REL.to_string());
                    return Ok(());
                }
                Ok(file) => {
                    self.ingest_permissions(&file, report, &now)?;
                    parsed = Some(file);
                }
            }
        }
        let stale = row
            .as_ref()
            .is_some_and(|r| r.status == FileStatus::Invalid)
            && !changed_on_disk;
        if stale {
            return Ok(()); // Still the unparsable file: leave it alone.
        }
        if !(dump || changed_on_disk || current.is_none()) {
            return Ok(());
        }
        // Rewrite from the database, keeping unreadable entries verbatim.
        let invalid = match (&parsed, current.as_deref(), &current_hash) {
            (Some(file), _, _) => file.invalid.clone(),
            (None, Some(bytes), Some(hash)) => self.invalid_entries_of(bytes, hash),
            _ => BTreeMap::new(),
        };
        let grants = self.permissions_mirror.take_grants(&self.conn)?;
        let entries = grants.entries();
        let desired = pfile::render(&entries, &invalid);
        // Rewrite only when the content differs: a hand-edited file that
        // already says what the database says keeps the user's formatting.
        let same_content = match (&parsed, current.as_deref()) {
            // The same bytes say the same; only other bytes are parsed to
            // compare (a first index finds the file as it was written).
            (Some(_), Some(bytes)) if bytes == desired.as_slice() => true,
            (Some(file), _) => pfile::parse(&desired).is_ok_and(|d| d == *file),
            (None, Some(bytes)) => bytes == desired.as_slice(),
            (None, None) => false,
        };
        let (written, written_hash) = match (same_content, current, current_hash) {
            (true, Some(bytes), Some(hash)) => (bytes, hash),
            _ => {
                write_atomic(&path, &desired)?;
                let hash = db::file_hash(&desired);
                (desired, hash)
            }
        };
        // The problems of what is on disk now (entries kept verbatim are
        // still unreadable), whether or not it was parsed above. A file with
        // no unreadable entry has none: no need to parse it again.
        let invalid_now: BTreeMap<String, serde_json::Value> = match (&parsed, same_content) {
            (Some(file), true) => file.invalid.clone(),
            _ => invalid
                .into_iter()
                .filter(|(k, _)| !entries.contains_key(k))
                .collect(),
        };
        let mut all_problems = if invalid_now.is_empty() {
            Vec::new()
        } else {
            pfile::parse(&written)
                .map(|f| f.problems)
                .unwrap_or_default()
        };
        all_problems.extend(orphan_problems(&grants.orphans));
        drop(entries);
        if !all_problems.is_empty() {
            report.problem_files.push(PERMISSIONS_REL.to_string());
        }
        self.record_permissions_file(
            (written_hash.as_str(), written.len()),
            FileStatus::Permissions,
            &all_problems,
            &now,
        )?;
        self.permissions_mirror.grants = Some(grants);
        self.permissions_mirror.file = Some(KnownFile {
            bytes: written,
            hash: written_hash,
            invalid: invalid_now,
        });
        Ok(())
    }

    /// The unreadable entries of permissions.json `bytes` (whose hash is
    /// `hash`), remembered so that the file is not parsed again on every
    /// permission change.
    fn invalid_entries_of(&self, bytes: &[u8], hash: &str) -> BTreeMap<String, serde_json::Value> {
        match &self.permissions_mirror.file {
            Some(known) if known.hash == hash => known.invalid.clone(),
            _ => pfile::parse(bytes).map(|f| f.invalid).unwrap_or_default(),
        }
    }

    /// Applies a parsed permissions.json to the database (source: file).
    fn ingest_permissions(
        &mut self,
        file: &PermissionsFile,
        report: &mut BatchReport,
        _now: &str,
    ) -> Result<()> {
        let tx = db::begin(&self.conn)?;
        let mut audit = Vec::new();
        let mut orphans = Vec::new();
        let mut listed = HashSet::new();
        for (key, perms) in &file.entries {
            listed.insert(key.clone());
            // One lookup for the id and the permissions (a first index
            // takes in every grant here).
            match db::permissions::of_key(&tx, key)? {
                Some((id, old)) => {
                    if old != *perms {
                        db::permissions::change(&tx, id, &old, perms)?;
                        audit.push(permission_audit(key, &old, perms, Source::File));
                        report.permissions_changed.push(key.clone());
                        report
                            .permission_edits
                            .push((key.clone(), old, perms.clone()));
                    }
                }
                None => orphans.push((key.clone(), perms.clone())),
            }
        }
        // Objects the file no longer lists (or lists unreadably) have no
        // grant: absence means zero trust.
        for (key, perms) in db::permissions::non_default(&tx)? {
            if listed.contains(&key) {
                continue;
            }
            if let Some(object) = db::objects::get_by_key(&tx, &key)? {
                let default = Permissions::default();
                db::permissions::set(&tx, object.id, &default)?;
                audit.push(permission_audit(&key, &perms, &default, Source::File));
                report.permissions_changed.push(key.clone());
                report.permission_edits.push((key, perms, default));
            }
        }
        db::permissions::replace_orphans(&tx, &orphans)?;
        tx.commit()?;
        self.audit.record(&audit)
    }

    /// Records permissions.json (`hash` and length of what is on disk) in
    /// `files`, with its problems.
    fn record_permissions_file(
        &self,
        (hash, len): (&str, usize),
        status: FileStatus,
        problems: &[FileProblem],
        now: &str,
    ) -> Result<()> {
        let path = self.vault.permissions_path();
        let (size, mtime_ns) = walk::stat(&path)
            .with_path(&path)
            .unwrap_or((len as u64, 0));
        let tx = db::begin(&self.conn)?;
        db::files::upsert(
            &tx,
            &FileRow {
                path: PERMISSIONS_REL.to_string(),
                size,
                mtime_ns,
                hash: hash.to_string(),
                status,
                schema_name: None,
                layout: None,
            },
            None,
            now,
        )?;
        let rows: Vec<Problem> = problems
            .iter()
            .map(|p| Problem {
                file_path: PERMISSIONS_REL.to_string(),
                pointer: p.pointer.clone(),
                message: p.message.clone(),
                object_key: None,
                detected_at: now.to_string(),
            })
            .collect();
        db::problems::replace_for_file(&tx, PERMISSIONS_REL, &rows)?;
        tx.commit()?;
        Ok(())
    }
}

/// One problem per orphan grant: it is kept, and applies if an object with
/// its key appears.
fn orphan_problems(orphans: &BTreeMap<String, Permissions>) -> Vec<FileProblem> {
    orphans
        .keys()
        .map(|key| {
            FileProblem::new(
                format!("/object_permissions/{}", pfile::escape_pointer(key)),
                format!("no object has the key {key}; the entry is kept and applies if such an object appears"),
            )
        })
        .collect()
}

/// The audit line of a permission change.
pub fn permission_audit(
    key: &str,
    old: &Permissions,
    new: &Permissions,
    source: Source,
) -> AuditEntry {
    AuditEntry::now(
        "permission.changed",
        Some(key),
        json!({"changes": Value::Object(diff(old, new)), "source": source.as_str()}),
    )
}
