//! From file bytes to database rows.
//!
//! A batch of vault-relative paths (from the watcher, a write-back, or a
//! full reconcile) goes through these steps:
//! 1. plugin manifests in the batch register their schemas; files of a
//!    schema that changed are re-validated;
//! 2. paths whose size and mtime match what was indexed are skipped, the
//!    rest are read and hashed, and skipped again if the hash matches (this
//!    is how the app's own writes are recognised when they come back as
//!    watcher events);
//! 3. a file that disappeared while a new one with the same bytes appeared
//!    is a rename or move: its objects are re-keyed and keep their row ids
//!    and permissions;
//! 4. changed files are parsed, validated and written, a chunk of files per
//!    transaction;
//! 5. objects of files that are gone are removed;
//! 6. permissions.json is reconciled with `object_permissions`.
//!
//! A file that cannot be parsed, or names an unknown schema, becomes a
//! problem and keeps its last good objects: nothing is dropped silently,
//! and no file is ever rewritten by indexing.

use crate::sync::capped::Capped;
use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;
use serde_json::json;

use crate::audit::AuditEntry;
use crate::db::files::{FileRow, FileStatus};
use crate::db::objects::{NewObject, Upserted};
use crate::db::problems::Problem;
use crate::db::{self, file_hash, hash_bytes, now_rfc3339};
use crate::error::{NexusError, Result};
use crate::schema::plugins;
use crate::sync::engine::Engine;
use crate::sync::prepare::{
    self, Outcome, Pending, PreparedObject, Read, RegistryLookup, SchemaSnapshot,
};
use crate::vault::PERMISSIONS_REL;
use crate::vault::formats::FileProblem;
use crate::vault::ignore::{PathRole, classify, plugin_dir_of};
use crate::vault::walk::{self, FoundFile};

/// A batch of more files than this is large: it is read on a second
/// thread, with a background checkpointer, and written a chunk of
/// [`FILES_PER_TRANSACTION`] files per transaction; into an empty database,
/// as a bulk load. A smaller one (the watcher's) is one transaction.
const LARGE_BATCH_FILES: usize = 500;

/// Files written per transaction in a large batch. Small enough that a
/// chunk's pages fit SQLite's page cache (2 MiB) with room to spare, so
/// they are not spilled into the WAL mid-transaction and written again; on
/// B1, 200 was about 10% faster than 500 and held less memory.
const FILES_PER_TRANSACTION: usize = 200;

/// What one batch did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BatchReport {
    /// Candidate files looked at.
    pub files_seen: usize,
    /// Files read and parsed because they changed.
    pub files_parsed: usize,
    /// Files that are gone.
    pub files_removed: usize,
    /// JSON files skipped as not Me-Nexus data (in this batch).
    pub files_not_data: usize,
    /// Keys of new objects (all counted, the first thousand kept).
    pub objects_added: Capped<String>,
    /// Keys of changed objects (all counted, the first thousand kept).
    pub objects_updated: Capped<String>,
    /// Keys of removed objects (all counted, the first thousand kept).
    pub objects_removed: Capped<String>,
    /// `(old key, new key)` of objects whose file was renamed or moved (all
    /// counted, the first thousand kept).
    pub objects_moved: Capped<(String, String)>,
    /// Keys whose permissions changed (from permissions.json).
    pub permissions_changed: Vec<String>,
    /// Paths a live batch did not settle (missing or suddenly empty): look
    /// again after a moment.
    #[serde(skip)]
    pub deferred: Vec<String>,
    /// Paths that could not be read now (locked, permission denied): retry
    /// with backoff. Their last good objects stay.
    #[serde(skip)]
    pub unreadable: Vec<String>,
    /// Those changes: `(key, before, after)`.
    #[serde(skip)]
    pub permission_edits: Vec<(
        String,
        crate::permissions::model::Permissions,
        crate::permissions::model::Permissions,
    )>,
    /// Schemas added or changed.
    pub schemas_changed: Vec<String>,
    /// Files that have problems after the batch (in this batch).
    pub problem_files: Vec<String>,
}

impl BatchReport {
    /// Whether the batch changed any object or permission.
    pub fn changed_anything(&self) -> bool {
        !(self.objects_added.is_empty()
            && self.objects_updated.is_empty()
            && self.objects_removed.is_empty()
            && self.objects_moved.is_empty()
            && self.permissions_changed.is_empty()
            && self.schemas_changed.is_empty())
    }

    /// One line for logs and the CLI.
    pub fn summary(&self) -> String {
        format!(
            "{} files seen, {} parsed, {} removed, {} skipped as not data; objects: {} added, {} updated, {} removed, {} moved; {} permission changes; {} files with problems",
            self.files_seen,
            self.files_parsed,
            self.files_removed,
            self.files_not_data,
            self.objects_added.len(),
            self.objects_updated.len(),
            self.objects_removed.len(),
            self.objects_moved.len(),
            self.permissions_changed.len(),
            self.problem_files.len()
        )
    }
}

/// What a batch is asked to look at.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    /// Files that exist.
    pub present: Vec<FoundFile>,
    /// Paths that do not exist (any more).
    pub gone: BTreeSet<String>,
    /// Paths to re-parse even if their bytes did not change.
    pub forced: HashSet<String>,
    /// Reconcile permissions.json even if it did not change.
    pub full: bool,
    /// Every indexed file's row, when the caller has read them all already
    /// (a full reconcile): step 2 takes rows from here instead of looking
    /// each file up.
    pub known_rows: Option<HashMap<String, FileRow>>,
    /// A live watcher batch: files that are missing or suddenly empty may be
    /// mid-save (rename-away-then-create, truncate-then-write), so they are
    /// not taken as deleted or emptied now but reported as deferred, to be
    /// looked at again a moment later.
    pub defer: bool,
}

impl Engine {
    /// Indexes the given vault-relative paths (files or folders; existing or
    /// not). This is what the watcher calls with a debounced batch.
    pub fn index_paths(&mut self, paths: BTreeSet<String>) -> Result<BatchReport> {
        let _lock = self.vault.lock_for_write()?;
        self.index_paths_locked(paths, false)
    }

    /// Indexes a live watcher batch: like [`Engine::index_paths`], but a file
    /// that is missing or suddenly empty is not taken as deleted or emptied
    /// yet; it is listed in [`BatchReport::deferred`] for a second look.
    pub fn index_watched_paths(&mut self, paths: BTreeSet<String>) -> Result<BatchReport> {
        let _lock = self.vault.lock_for_write()?;
        let mut plan = self.plan_for_paths(paths)?;
        plan.defer = true;
        self.apply_plan(plan)
    }

    fn plan_for_paths(&mut self, paths: BTreeSet<String>) -> Result<Plan> {
        let mut plan = Plan::default();
        let mut seen = HashSet::new();
        for rel in paths {
            self.expand_path(&rel, &mut plan, &mut seen)?;
        }
        Ok(plan)
    }

    /// [`Engine::index_paths`] for callers that hold the write lock.
    pub(crate) fn index_paths_locked(
        &mut self,
        paths: BTreeSet<String>,
        force: bool,
    ) -> Result<BatchReport> {
        let mut plan = Plan::default();
        let mut seen = HashSet::new();
        for rel in paths {
            self.expand_path(&rel, &mut plan, &mut seen)?;
        }
        if force {
            plan.forced = plan.present.iter().map(|f| f.rel.clone()).collect();
        }
        self.apply_plan(plan)
    }

    /// Adds one event path to the plan: a file, a folder (walked), or a path
    /// that is gone (with everything indexed under it).
    fn expand_path(&self, rel: &str, plan: &mut Plan, seen: &mut HashSet<String>) -> Result<()> {
        let rel = rel.trim_matches('/');
        if rel == PERMISSIONS_REL {
            plan.full = true;
            return Ok(());
        }
        let abs = self.vault.abs(rel);
        let meta = std::fs::metadata(&abs);
        match meta {
            Ok(meta) if meta.is_dir() => {
                if rel
                    .split('/')
                    .any(crate::vault::ignore::is_ignored_component)
                {
                    return Ok(());
                }
                for file in walk::walk_subdir(self.vault.root(), rel)?.files {
                    if seen.insert(file.rel.clone()) {
                        plan.present.push(file);
                    }
                }
                // Files indexed under the folder but no longer in it.
                for row in db::files::under(&self.conn, rel)? {
                    if !seen.contains(&row.path) && !self.vault.abs(&row.path).is_file() {
                        plan.gone.insert(row.path);
                    }
                }
            }
            Ok(meta)
                if meta.is_file()
                    && classify(rel) != PathRole::Ignored
                    && walk::stays_inside(self.vault.root(), &abs) =>
            {
                if seen.insert(rel.to_string()) {
                    plan.present.push(FoundFile {
                        rel: rel.to_string(),
                        abs,
                        size: meta.len(),
                        mtime_ns: walk::mtime_ns(&meta),
                    });
                }
            }
            _ => {
                for row in db::files::under(&self.conn, rel)? {
                    if !seen.contains(&row.path) {
                        plan.gone.insert(row.path);
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs a plan (see the module docs for the steps).
    pub(crate) fn apply_plan(&mut self, mut plan: Plan) -> Result<BatchReport> {
        let now = now_rfc3339();
        let mut report = BatchReport {
            files_seen: plan.present.len(),
            ..BatchReport::default()
        };

        // 1. Plugins first, so that data files find their schemas.
        let plugin_owned = self.sync_plugins(&mut plan, &mut report, &now)?;

        // 2. Which data files need reading.
        // Sized once: a full reconcile lists every file here. A file's row
        // is boxed, as most files of a large batch have none (a first
        // index) and the rest are looked at once.
        let mut to_read: Vec<(FoundFile, Option<Box<FileRow>>)> =
            Vec::with_capacity(plan.present.len());
        for file in std::mem::take(&mut plan.present) {
            if plugin_owned.contains(&file.rel) {
                continue;
            }
            let row = match &mut plan.known_rows {
                Some(known) => known.remove(&file.rel),
                None => db::files::get(&self.conn, &file.rel)?,
            };
            let forced = plan.forced.contains(&file.rel);
            if plan.defer && file.size == 0 && row.as_ref().is_some_and(|r| r.size > 0) {
                // Suddenly empty: probably truncated by a save in progress.
                report.deferred.push(file.rel);
                continue;
            }
            match &row {
                Some(row) if !forced && row.size == file.size && row.mtime_ns == file.mtime_ns => {}
                _ => to_read.push((file, row.map(Box::new))),
            }
        }

        // 3. Renames: a gone file whose bytes reappear under a new path.
        let gone_rows: Vec<FileRow> = plan
            .gone
            .iter()
            .filter_map(|p| db::files::get(&self.conn, p).transpose())
            .collect::<Result<_>>()?;
        let mut renamed_away = HashSet::new();
        let mut renamed_to = HashSet::new();
        if !gone_rows.is_empty() {
            let renames = self.match_renames(&gone_rows, &to_read);
            if !renames.is_empty() {
                let tx = db::begin(&self.conn)?;
                let mut audit = Vec::new();
                for (from, to) in &renames {
                    let moved = db::objects::rename_file(&tx, from, to)?;
                    db::files::rename(&tx, from, to)?;
                    db::problems::rename_file(&tx, from, to)?;
                    for (old, new) in moved {
                        audit.push(AuditEntry::now(
                            "object.moved",
                            Some(&new),
                            json!({"from": old, "source": "file"}),
                        ));
                        report.objects_moved.push((old, new));
                    }
                    renamed_away.insert(from.clone());
                    renamed_to.insert(to.clone());
                }
                tx.commit()?;
                self.audit.record(&audit)?;
            }
        }

        // 4. Read, parse and write changed files, a chunk per transaction.
        // A first index of a large vault loads without per-row insert
        // triggers (see `db::bulk_load`).
        let mut bulk =
            if to_read.len() > LARGE_BATCH_FILES && db::stats::object_count(&self.conn)? == 0 {
                Some(db::bulk_load::begin(&self.conn)?)
            } else {
                None
            };
        let written = self.write_changed(
            to_read,
            &renamed_to,
            &plan.forced,
            &mut bulk,
            &mut report,
            &now,
        );
        match (written, bulk) {
            (Ok(()), Some(load)) => load.finish(&self.conn)?,
            (Ok(()), None) => {}
            (Err(e), load) => {
                // Put the triggers back before giving up; if even that
                // fails, the next open or reconcile repairs it.
                if load.is_some()
                    && let Err(repair) = db::bulk_load::repair(&self.conn)
                {
                    tracing::warn!("bulk load not ended: {repair}");
                }
                return Err(e);
            }
        }

        // 5. Files that are gone. Look once more: an editor that saves by
        // rename-away-then-create leaves a path missing only for a moment.
        let files_removed = self.in_transaction(|engine| {
            let mut late = Vec::new();
            let mut removed = 0;
            for row in gone_rows {
                if renamed_away.contains(&row.path) {
                    continue;
                }
                let abs = engine.vault.abs(&row.path);
                if let Ok(meta) = std::fs::metadata(&abs)
                    && meta.is_file()
                    && classify(&row.path) != PathRole::Ignored
                {
                    late.push(FoundFile {
                        rel: row.path.clone(),
                        abs,
                        size: meta.len(),
                        mtime_ns: walk::mtime_ns(&meta),
                    });
                    continue;
                }
                if plan.defer {
                    // Missing during a live batch: maybe mid-save. Look again.
                    report.deferred.push(row.path.clone());
                    continue;
                }
                for object in db::objects::in_file(&engine.conn, &row.path)? {
                    db::objects::delete(&engine.conn, object.id)?;
                    report.objects_removed.push(object.key);
                }
                db::files::delete(&engine.conn, &row.path)?;
                db::problems::replace_for_file(&engine.conn, &row.path, &[])?;
                removed += 1;
            }
            for file in late {
                let row = db::files::get(&engine.conn, &file.rel)?;
                if let Some(p) = engine.read_file(&file, row.as_ref(), true)? {
                    report.files_parsed += 1;
                    engine.write_pending(p, false, None, &mut report, &now)?;
                }
            }
            db::state::set(&engine.conn, db::state::LAST_SYNC, &now)?;
            Ok(removed)
        })?;
        report.files_removed += files_removed;

        // 6. permissions.json.
        let keys_changed = !report.objects_moved.is_empty() || !report.objects_removed.is_empty();
        self.sync_permissions_file(plan.full || keys_changed, &mut report)?;
        Ok(report)
    }

    /// Step 4 of a plan: reads, prepares and writes the changed files, a
    /// chunk of files per transaction, reporting progress on large batches.
    ///
    /// A large batch reads and prepares on a second thread (`index-reader`)
    /// while this one writes the chunk before, so that a first index uses
    /// both cores. The reader may have one prepared chunk waiting while it
    /// prepares the next, so memory holds at most three chunks' bytes, and
    /// the objects of about one written chunk until the reader frees them.
    fn write_changed(
        &mut self,
        to_read: Vec<(FoundFile, Option<Box<FileRow>>)>,
        renamed_to: &HashSet<String>,
        forced: &HashSet<String>,
        bulk: &mut Option<db::bulk_load::BulkLoad>,
        report: &mut BatchReport,
        now: &str,
    ) -> Result<()> {
        let total = to_read.len();
        let mut jobs = Vec::with_capacity(total);
        for (file, row) in to_read {
            // A rename target got its row in step 3; the others keep the
            // one step 2 looked up.
            let row = if renamed_to.contains(&file.rel) {
                db::files::get(&self.conn, &file.rel)?.map(Box::new)
            } else {
                row
            };
            let forced = forced.contains(&file.rel);
            jobs.push((file, row, forced));
        }
        let max = self.vault.settings().max_file_bytes;
        if total <= LARGE_BATCH_FILES {
            // A small batch (the watcher's) is prepared here: no thread.
            let mut schemas = RegistryLookup {
                registry: &mut self.registry,
                conn: &self.conn,
            };
            let reads = prepare_chunk(&jobs, max, &mut schemas);
            return self.write_chunk(reads, bulk, report, now).map(drop);
        }
        let snapshot = SchemaSnapshot::take(&mut self.registry, &self.conn)?;
        self.report_progress(0, total);
        // One checkpointer at a time: the last batch's drain stops (what it
        // has not copied, this batch's checkpointer copies).
        self.checkpoint_drain = None;
        let checkpoint = db::checkpointer::start(&self.conn);
        let written = std::thread::scope(|scope| -> Result<()> {
            // Room for one chunk: reading and writing a chunk each take
            // about as long, and with a rendezvous (no room) each thread
            // waited for the other whenever one chunk took longer than the
            // last: 40 to 110 ms of each side's half second on B1.
            let (send, receive) = crossbeam_channel::bounded::<Vec<Read>>(1);
            // The objects the writer is done with go back to the reader,
            // which made them: freeing memory in the thread that allocated
            // it is cheaper, and the reader has time to spare (freeing them
            // was 2% of the writer, plus the cost of cross-thread frees).
            let (recycle, spent) = crossbeam_channel::unbounded::<Vec<DeferredFile>>();
            let (jobs, snapshot) = (&jobs, &snapshot);
            let reader = std::thread::Builder::new()
                .name("index-reader".into())
                .spawn_scoped(scope, move || {
                    let mut schemas = snapshot;
                    for chunk in jobs.chunks(FILES_PER_TRANSACTION) {
                        spent.try_iter().for_each(drop);
                        if send.send(prepare_chunk(chunk, max, &mut schemas)).is_err() {
                            break; // the writer stopped on an error
                        }
                    }
                })
                .map_err(|e| NexusError::Sync(format!("cannot start the index reader: {e}")))?;
            let mut done = 0;
            for reads in receive.iter() {
                done += reads.len();
                // On an error the receiver goes with this closure, and the
                // reader stops at its next chunk.
                let written = self.write_chunk(reads, bulk, report, now)?;
                // Once the reader is gone, they are freed here.
                let _ = recycle.send(written);
                self.report_progress(done, total);
            }
            reader
                .join()
                .map_err(|_| NexusError::Sync("the index reader thread panicked".into()))
        });
        if let Some(checkpoint) = checkpoint {
            match checkpoint.finish(&self.conn) {
                // It copies the batch's pages while the engine goes on.
                Ok(drain) => self.checkpoint_drain = Some(drain),
                // The batch's own outcome matters more; this is only a setting.
                Err(e) => match written {
                    Ok(()) => return Err(e),
                    Err(_) => tracing::warn!("after a failed batch: {e}"),
                },
            }
        }
        written
    }

    /// Writes one chunk of read files in one transaction. Returns the
    /// objects a bulk load wrote together (see `write_deferred`), for the
    /// caller to free.
    fn write_chunk(
        &mut self,
        reads: Vec<Read>,
        bulk: &mut Option<db::bulk_load::BulkLoad>,
        report: &mut BatchReport,
        now: &str,
    ) -> Result<Vec<DeferredFile>> {
        let fresh_inserts = bulk
            .as_ref()
            .is_some_and(db::bulk_load::BulkLoad::fresh_inserts);
        self.in_transaction(|engine| {
            // A bulk load inserts the objects of the chunk's files together
            // (see `write_deferred`).
            let mut deferred = fresh_inserts.then(Vec::new);
            for read in reads {
                if let Some(p) = engine.take_read(read)? {
                    report.files_parsed += 1;
                    engine.write_pending(p, fresh_inserts, deferred.as_mut(), report, now)?;
                }
            }
            let written = match deferred {
                Some(deferred) => engine.write_deferred(deferred, report, now)?,
                None => Vec::new(),
            };
            if let Some(load) = bulk {
                load.add_chunk(&engine.conn)?;
            }
            Ok(written)
        })
    }

    /// Pairs gone files with new files that have the same bytes.
    fn match_renames(
        &self,
        gone: &[FileRow],
        to_read: &[(FoundFile, Option<Box<FileRow>>)],
    ) -> Vec<(String, String)> {
        let sizes: HashSet<u64> = gone.iter().map(|r| r.size).collect();
        // A gone file recorded by an earlier version has a BLAKE3 hash (64
        // digits; see `db::matches_stored_hash`): the candidates are then
        // listed under theirs too. The two kinds differ in length.
        let legacy = gone.iter().any(|r| r.hash.len() == 64);
        let mut by_hash: HashMap<String, Vec<&FoundFile>> = HashMap::new();
        for (file, row) in to_read {
            if row.is_none()
                && sizes.contains(&file.size)
                && let Ok(bytes) = std::fs::read(&file.abs)
            {
                by_hash.entry(file_hash(&bytes)).or_default().push(file);
                if legacy {
                    by_hash.entry(hash_bytes(&bytes)).or_default().push(file);
                }
            }
        }
        let mut taken = HashSet::new();
        let mut renames = Vec::new();
        for row in gone {
            if row.hash.is_empty() || !matches!(row.status, FileStatus::Data | FileStatus::Invalid)
            {
                continue;
            }
            let Some(candidates) = by_hash.get(&row.hash) else {
                continue;
            };
            let name = row.path.rsplit('/').next();
            let free = || candidates.iter().filter(|f| !taken.contains(&f.rel));
            // Prefer a candidate with the same file name (a move between folders).
            let pick = free()
                .find(|f| f.rel.rsplit('/').next() == name)
                .or_else(|| free().next());
            if let Some(file) = pick {
                taken.insert(file.rel.clone());
                renames.push((row.path.clone(), file.rel.clone()));
            }
        }
        renames
    }

    /// Reads and prepares one file here, or `None` when its bytes did not
    /// change (their size and mtime are recorded) or it is gone.
    fn read_file(
        &mut self,
        file: &FoundFile,
        row: Option<&FileRow>,
        forced: bool,
    ) -> Result<Option<Pending>> {
        let max = self.vault.settings().max_file_bytes;
        let mut schemas = RegistryLookup {
            registry: &mut self.registry,
            conn: &self.conn,
        };
        let read = prepare::read_and_prepare(file, row, forced, max, &mut schemas);
        self.take_read(read)
    }

    /// What [`prepare::read_and_prepare`] found: a file to write, or
    /// nothing (an unchanged file's size and mtime are recorded now).
    fn take_read(&self, read: Read) -> Result<Option<Pending>> {
        match read {
            Read::Changed(p) => Ok(Some(*p)),
            Read::Same {
                rel,
                size,
                mtime_ns,
                hash,
            } => {
                db::files::touch(&self.conn, &rel, size, mtime_ns, &hash)?;
                Ok(None)
            }
            Read::Skip => Ok(None),
        }
    }

    /// Writes one parsed file (inside the caller's transaction). With
    /// `deferred` (a bulk load), the objects of a file without problems are
    /// left there for [`Engine::write_deferred`] to insert with those of
    /// other files; a file with problems first has the deferred ones
    /// written, so that ids still follow the order of the files, and its
    /// problems find their objects.
    fn write_pending(
        &mut self,
        p: Pending,
        fresh_inserts: bool,
        deferred: Option<&mut Vec<DeferredFile>>,
        report: &mut BatchReport,
        now: &str,
    ) -> Result<()> {
        let rel = p.file.rel.clone();
        let previous = p.previous;
        let mut row = FileRow {
            path: rel.clone(),
            size: p.file.size,
            mtime_ns: p.file.mtime_ns,
            hash: p.hash,
            status: FileStatus::Invalid,
            schema_name: previous.as_ref().and_then(|r| r.schema_name.clone()),
            layout: previous.as_ref().and_then(|r| r.layout.clone()),
        };
        let problems = match p.outcome {
            Outcome::Unusable(message) => {
                if row.hash.is_empty() && message.starts_with("cannot read") {
                    report.unreadable.push(rel.clone());
                }
                vec![FileProblem::new("", message)]
            }
            Outcome::Invalid(problem) => vec![problem],
            Outcome::NotData => {
                row.status = FileStatus::NotData;
                row.schema_name = None;
                row.layout = None;
                for object in db::objects::in_file(&self.conn, &rel)? {
                    db::objects::delete(&self.conn, object.id)?;
                    report.objects_removed.push(object.key);
                }
                report.files_not_data += 1;
                Vec::new()
            }
            Outcome::Data(data) => {
                row.schema_name = Some(data.schema_name);
                row.layout = Some(data.layout.as_str().to_string());
                match data.objects {
                    Ok(objects) => {
                        match deferred {
                            Some(deferred) if data.problems.is_empty() => {
                                deferred.push((rel.clone(), objects));
                            }
                            Some(deferred) => {
                                self.write_deferred(std::mem::take(deferred), report, now)?;
                                self.write_objects(&rel, objects, fresh_inserts, report, now)?;
                            }
                            None => {
                                self.write_objects(&rel, objects, fresh_inserts, report, now)?
                            }
                        }
                        row.status = FileStatus::Data;
                        data.problems
                    }
                    // The old objects stay.
                    Err(problem) => vec![problem],
                }
            }
        };
        let problem_rows: Vec<Problem> = problems
            .into_iter()
            .map(|p| Problem {
                file_path: rel.clone(),
                object_key: object_key_for(&rel, &p.pointer, &self.conn),
                pointer: p.pointer,
                message: p.message,
                detected_at: now.to_string(),
            })
            .collect();
        if !problem_rows.is_empty() {
            report.problem_files.push(rel.clone());
        }
        if fresh_inserts && previous.is_none() {
            // A bulk load that began with no problems: none to replace.
            db::problems::add_all(&self.conn, &problem_rows)?;
        } else {
            db::problems::replace_for_file(&self.conn, &rel, &problem_rows)?;
        }
        // Indexed bytes become the file's merge base; otherwise the last
        // indexed base stays.
        db::files::upsert(&self.conn, &row, p.base.as_ref(), now)?;
        Ok(())
    }

    /// Inserts the objects that [`Engine::write_pending`] deferred during a
    /// bulk load, many files' in each statement: with one file's (ten
    /// todos) per statement, looking statements up in rusqlite's cache,
    /// resetting them and ending them was a tenth of the writer. A file
    /// with a key that was taken goes on the usual way.
    /// Returns the files, written.
    fn write_deferred(
        &mut self,
        deferred: Vec<DeferredFile>,
        report: &mut BatchReport,
        now: &str,
    ) -> Result<Vec<DeferredFile>> {
        if deferred.is_empty() {
            return Ok(deferred);
        }
        let news: Vec<NewObject<'_>> = deferred
            .iter()
            .flat_map(|(rel, objects)| objects.iter().map(|o| new_object(rel, o)))
            .collect();
        let mut ids = db::objects::insert_fresh_many(&self.conn, &news, now)?.into_iter();
        drop(news);
        for (rel, objects) in &deferred {
            let file_ids: Vec<Option<i64>> = ids.by_ref().take(objects.len()).collect();
            self.after_fresh_inserts(rel, objects, &file_ids, report, now)?;
        }
        Ok(deferred)
    }

    /// Reports the objects of file `rel` that went in fresh (`ids`, one per
    /// object, `None` where the key was taken) and writes the others the
    /// usual way.
    fn after_fresh_inserts(
        &mut self,
        rel: &str,
        objects: &[PreparedObject],
        ids: &[Option<i64>],
        report: &mut BatchReport,
        now: &str,
    ) -> Result<()> {
        for (object, id) in objects.iter().zip(ids) {
            if id.is_some() {
                report.objects_added.push_with(|| object.key.clone());
            }
        }
        if ids.iter().all(Option::is_some) {
            // A bulk load began with no object and reads each file once: a
            // file whose objects all went in fresh has no others to remove.
            return Ok(());
        }
        // Some key was taken: the rest of the file goes the usual way.
        let fresh: HashSet<&str> = objects
            .iter()
            .zip(ids)
            .filter(|(_, id)| id.is_some())
            .map(|(object, _)| object.key.as_str())
            .collect();
        self.write_objects_except(rel, objects, &fresh, report, now)
    }

    /// Writes the objects of a data file and removes those it no longer
    /// has. With `fresh_inserts` (a bulk load, see
    /// [`db::bulk_load::BulkLoad::fresh_inserts`]), new objects go in
    /// without a look for a grant waiting for their key (there is none).
    fn write_objects(
        &mut self,
        rel: &str,
        objects: Vec<PreparedObject>,
        fresh_inserts: bool,
        report: &mut BatchReport,
        now: &str,
    ) -> Result<()> {
        if fresh_inserts {
            let news: Vec<NewObject<'_>> = objects.iter().map(|o| new_object(rel, o)).collect();
            let ids = db::objects::insert_fresh_many(&self.conn, &news, now)?;
            drop(news);
            return self.after_fresh_inserts(rel, &objects, &ids, report, now);
        }
        self.write_objects_except(rel, &objects, &HashSet::new(), report, now)
    }

    /// Writes the objects of data file `rel` but those whose keys are in
    /// `fresh` (just inserted), and removes the ones it no longer has.
    fn write_objects_except(
        &mut self,
        rel: &str,
        objects: &[PreparedObject],
        fresh: &HashSet<&str>,
        report: &mut BatchReport,
        now: &str,
    ) -> Result<()> {
        let news: Vec<NewObject<'_>> = objects.iter().map(|o| new_object(rel, o)).collect();
        // One query for what the file had (in file order), instead of one
        // per object.
        let indexed = db::objects::indexed_in_file(&self.conn, rel)?;
        let mut by_key: HashMap<&str, usize> = indexed
            .iter()
            .enumerate()
            .map(|(i, object)| (object.key.as_str(), i))
            .collect();
        let mut kept = vec![false; indexed.len()];
        for new in &news {
            let existing = by_key.remove(new.key);
            if let Some(i) = existing {
                kept[i] = true;
            }
            if fresh.contains(new.key) {
                continue;
            }
            let upserted = match existing {
                Some(i) => db::objects::upsert_over(&self.conn, Some(&indexed[i]), new, now)?,
                // Not in this file: maybe under another (re-keyed) file, or new.
                None => db::objects::upsert(&self.conn, new, now)?,
            };
            match upserted {
                Upserted::Inserted(_) => report.objects_added.push_with(|| new.key.to_string()),
                Upserted::Updated(_) => report.objects_updated.push_with(|| new.key.to_string()),
                Upserted::Unchanged(_) => {}
            }
        }
        // What the file no longer has, in file order.
        for (object, kept) in indexed.into_iter().zip(kept) {
            if !kept {
                db::objects::delete(&self.conn, object.id)?;
                report.objects_removed.push(object.key);
            }
        }
        Ok(())
    }

    /// Registers the schemas of plugins touched by the plan. Returns the
    /// paths that belong to plugins (manifests and schema files), which are
    /// not data.
    fn sync_plugins(
        &mut self,
        plan: &mut Plan,
        report: &mut BatchReport,
        now: &str,
    ) -> Result<HashSet<String>> {
        let root = self.vault.root().to_path_buf();
        let mut dirs: BTreeSet<String> = BTreeSet::new();
        let mut definition_cache: HashMap<String, Vec<String>> = HashMap::new();
        let mut owned = HashSet::new();
        let all_paths: Vec<String> = plan
            .present
            .iter()
            .map(|f| f.rel.clone())
            .chain(plan.gone.iter().cloned())
            .collect();
        for rel in &all_paths {
            let Some(dir) = plugin_dir_of(rel) else {
                continue;
            };
            let manifest = format!("{dir}/plugin.json");
            let definitions = definition_cache
                .entry(dir.clone())
                .or_insert_with(|| plugins::definition_files(&root, &manifest));
            let was_plugin_file =
                db::files::get(&self.conn, rel)?.is_some_and(|r| r.status == FileStatus::Plugin);
            if *rel == manifest || definitions.contains(rel) || was_plugin_file {
                owned.insert(rel.clone());
                dirs.insert(dir);
            }
        }
        let mut changed_schemas = Vec::new();
        for dir in dirs {
            let manifest_rel = format!("{dir}/plugin.json");
            let tx = db::begin(&self.conn)?;
            // Forget the plugin files indexed before; they are re-recorded below.
            for row in db::files::under(&tx, &dir)? {
                if row.status == FileStatus::Plugin {
                    db::files::delete(&tx, &row.path)?;
                    db::problems::replace_for_file(&tx, &row.path, &[])?;
                }
            }
            let bytes = match std::fs::read(root.join(&manifest_rel)) {
                Ok(bytes) => bytes,
                Err(_) => {
                    tx.commit()?;
                    continue; // The plugin was removed; its schemas stay registered.
                }
            };
            let mut problems = Vec::new();
            let mut files = vec![manifest_rel.clone()];
            match plugins::load_manifest(&root, &manifest_rel, &bytes) {
                Err(problem) => problems.push(problem),
                Ok(manifest) => {
                    problems.extend(manifest.problems);
                    for (index, schema) in manifest.schemas.iter().enumerate() {
                        if let Some(file) = &schema.definition_file {
                            files.push(file.clone());
                            owned.insert(file.clone());
                        }
                        match self.registry.register(
                            &tx,
                            &schema.schema_name,
                            &schema.definition,
                            schema.version,
                        ) {
                            Ok(crate::schema::RegisterOutcome::Unchanged) => {}
                            Ok(outcome) => {
                                self.audit.record_one(
                                    "schema.registered",
                                    None,
                                    json!({"schema_name": schema.schema_name, "plugin": manifest.name, "outcome": format!("{outcome:?}")}),
                                )?;
                                changed_schemas.push(schema.schema_name.clone());
                            }
                            Err(e) => problems
                                .push(FileProblem::new(format!("/schemas/{index}"), e.to_string())),
                        }
                    }
                }
            }
            for file in &files {
                let abs = root.join(file);
                let (size, mtime_ns) = walk::stat(&abs).unwrap_or((0, 0));
                let hash = std::fs::read(&abs)
                    .map(|b| file_hash(&b))
                    .unwrap_or_default();
                db::files::upsert(
                    &tx,
                    &FileRow {
                        path: file.clone(),
                        size,
                        mtime_ns,
                        hash,
                        status: FileStatus::Plugin,
                        schema_name: None,
                        layout: None,
                    },
                    None,
                    now,
                )?;
            }
            let rows: Vec<Problem> = problems
                .into_iter()
                .map(|p| Problem {
                    file_path: manifest_rel.clone(),
                    pointer: p.pointer,
                    message: p.message,
                    object_key: None,
                    detected_at: now.to_string(),
                })
                .collect();
            if !rows.is_empty() {
                report.problem_files.push(manifest_rel.clone());
            }
            db::problems::replace_for_file(&tx, &manifest_rel, &rows)?;
            tx.commit()?;
        }
        // Files of a changed schema are re-validated.
        let present: HashSet<String> = plan.present.iter().map(|f| f.rel.clone()).collect();
        for name in &changed_schemas {
            for rel in db::files::with_schema(&self.conn, name)? {
                plan.forced.insert(rel.clone());
                if !present.contains(&rel) {
                    let abs = self.vault.abs(&rel);
                    if let Ok((size, mtime_ns)) = walk::stat(&abs) {
                        plan.present.push(FoundFile {
                            rel,
                            abs,
                            size,
                            mtime_ns,
                        });
                    }
                }
            }
        }
        plan.gone.retain(|p| !owned.contains(p));
        report.schemas_changed = changed_schemas;
        Ok(owned)
    }
}

/// A data file's path and its objects, waiting for
/// [`Engine::write_deferred`].
type DeferredFile = (String, Vec<PreparedObject>);

/// Object `object` of file `rel` as a row to write.
fn new_object<'a>(rel: &'a str, object: &'a PreparedObject) -> NewObject<'a> {
    NewObject {
        key: &object.key,
        schema_id: object.schema_id,
        source_path: rel,
        item_id: object.item_id.as_deref(),
        position: object.position,
        title: &object.title,
        content_json: &object.content_json,
        content_hash: &object.content_hash,
        created_at: object.created_at.as_deref(),
        updated_at: object.updated_at.as_deref(),
    }
}

/// The key of the object a problem at `pointer` in `rel` belongs to: the
/// item at `/data/<index>` of a collection, or the whole-file object.
fn object_key_for(rel: &str, pointer: &str, conn: &rusqlite::Connection) -> Option<String> {
    if let Some(index) = prepare::item_index(pointer) {
        return conn
            .prepare_cached(&format!(
                "SELECT file_path FROM data_objects o WHERE {} AND position = ?2",
                db::objects::IN_FILE
            ))
            .ok()?
            .query_row(rusqlite::params![rel, index], |r| r.get(0))
            .ok();
    }
    db::objects::get_by_key(conn, rel)
        .ok()
        .flatten()
        .map(|o| o.key)
}

/// Reads and prepares a chunk of `(file, indexed row, forced)` jobs.
fn prepare_chunk(
    jobs: &[(FoundFile, Option<Box<FileRow>>, bool)],
    max_bytes: u64,
    schemas: &mut impl prepare::SchemaSource,
) -> Vec<Read> {
    jobs.iter()
        .map(|(file, row, forced)| {
            prepare::read_and_prepare(file, row.as_deref(), *forced, max_bytes, schemas)
        })
        .collect()
}
