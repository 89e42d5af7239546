//! The engine: an open vault with its database connection, schema registry
//! and audit log. The CLI uses one for a single command; the sync service
//! owns one on its thread.

use std::path::Path;

use rusqlite::Connection;
use serde_json::json;

use crate::audit::AuditLog;
use crate::db;
use crate::error::{IoContext, NexusError, Result};
use crate::schema::SchemaRegistry;
use crate::schema::builtin::BUILTIN_SCHEMAS;
use crate::vault::Vault;

/// An open vault.
#[derive(Debug)]
pub struct Engine {
    /// The checkpointer still copying the WAL of the last large batch
    /// (see `db::checkpointer`). Declared first, so that it stops before
    /// the connection closes.
    pub(crate) checkpoint_drain: Option<db::checkpointer::Drain>,
    pub(crate) vault: Vault,
    pub(crate) conn: Connection,
    pub(crate) registry: SchemaRegistry,
    pub(crate) audit: AuditLog,
    pub(crate) progress: Option<ProgressFn>,
    /// permissions.json and the grants behind it, as last read or written
    /// (see `sync::permissions_mirror`).
    pub(crate) permissions_mirror: crate::sync::permissions_mirror::PermissionsMirror,
    pub(crate) recovery: Option<db::recovery::Recovery>,
    /// What the rebuild after a recovery did, until the next reconcile
    /// reports it as its own (so `me-nexus sync` after a lost database
    /// still says what it restored).
    pub(crate) rebuilt: Option<crate::sync::indexer::BatchReport>,
}

/// Called with `(files done, files to do)` while a batch reads files.
pub struct ProgressFn(pub Box<dyn FnMut(usize, usize) + Send>);

impl std::fmt::Debug for ProgressFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressFn")
    }
}

impl Engine {
    /// Opens an existing vault. Its database gets a quick check; a missing
    /// or damaged one is moved aside and rebuilt at once from the files and
    /// permissions.json (see [`crate::db::recovery`]); that is audited as a
    /// recovery.
    ///
    /// An unwritable vault opens read-only (see [`Engine::open_with`]).
    pub fn open(path: &Path) -> Result<Engine> {
        Engine::open_with(path, crate::vault::OpenMode::Auto)
    }

    /// [`Engine::open`] with an explicit mode. Read-only: the database is
    /// opened read-only (a missing or damaged one is an error, since it
    /// cannot be rebuilt), nothing is written, every write fails with one
    /// line naming the read-only vault, and audit lines are written only if
    /// possible. `export` refuses too, because it must first bring the
    /// index in line with permissions.json (a revoke there must win).
    pub fn open_with(path: &Path, mode: crate::vault::OpenMode) -> Result<Engine> {
        let vault = Vault::open_with(path, mode)?;
        if vault.is_read_only() {
            let conn = db::recovery::open_read_only(&vault.db_path())?;
            let audit = AuditLog::best_effort(vault.audit_path());
            let mut engine = Engine {
                checkpoint_drain: None,
                vault,
                conn,
                registry: SchemaRegistry::new(),
                audit,
                progress: None,
                permissions_mirror: Default::default(),
                recovery: None,
                rebuilt: None,
            };
            // Schemas the index already holds register without a write; a
            // newer one cannot be stored and is left out with a warning.
            if let Err(e) = engine.register_builtin_schemas() {
                tracing::warn!("read-only vault: {e}");
            }
            engine.register_vault_schemas()?;
            return Ok(engine);
        }
        let guard = |v: &Vault| v.probe_service_lock();
        let mut engine = Engine::from_vault(vault, true, &guard)?;
        engine.rebuild_after_recovery();
        Ok(engine)
    }

    /// Opens an existing vault for the sync service, which holds the
    /// vault's service lock and runs a full reconcile first thing.
    pub(crate) fn open_for_service(vault: Vault) -> Result<Engine> {
        Engine::from_vault(vault, true, &|_| Ok(None))
    }

    /// Makes `path` a vault (if it is not one) and opens it. The caller runs
    /// [`Engine::reconcile`] to index what is already there.
    pub fn init(path: &Path) -> Result<Engine> {
        let was_vault = Vault::is_vault(path);
        let vault = Vault::init(path)?;
        let guard = |v: &Vault| v.probe_service_lock();
        Engine::from_vault(vault, was_vault, &guard)
    }

    /// `expect_db`: the vault had a database (it was initialised before),
    /// so a missing one was lost. `guard` is asked before damaged database
    /// files are moved (see [`Vault::probe_service_lock`]).
    fn from_vault(
        vault: Vault,
        expect_db: bool,
        guard: &dyn Fn(&Vault) -> Result<Option<std::fs::File>>,
    ) -> Result<Engine> {
        let db_path = vault.db_path();
        let audit = AuditLog::new(vault.audit_path());
        let (conn, recovery) = if expect_db {
            let before_move = || guard(&vault);
            let opened =
                db::recovery::open_or_recover(&db_path, &vault.corrupt_dir(), &before_move)?;
            (opened.conn, opened.recovery)
        } else {
            (db::open(&db_path)?, None)
        };
        if let Some(recovery) = &recovery {
            let mut what = recovery.what.join("; ");
            what.push_str(if recovery.rebuild {
                "; rebuilding the index from the vault files and permissions.json"
            } else {
                "; the database passed its check and was kept"
            });
            tracing::warn!("recovery: {what}");
            let mut details = json!({ "what": what });
            if let Some(dir) = &recovery.moved_to {
                let shown = dir.strip_prefix(vault.root()).unwrap_or(dir);
                details["moved_to"] = json!(shown.to_string_lossy().replace('\\', "/"));
                details["files"] = json!(recovery.moved);
            }
            audit.record_one("recovery", None, details)?;
        }
        let mut engine = Engine {
            checkpoint_drain: None,
            vault,
            conn,
            registry: SchemaRegistry::new(),
            audit,
            progress: None,
            permissions_mirror: Default::default(),
            recovery,
            rebuilt: None,
        };
        engine.repair_bulk_load()?;
        engine.register_builtin_schemas()?;
        engine.register_vault_schemas()?;
        Ok(engine)
    }

    /// Puts back the triggers of a bulk load that stopped half-way (a
    /// crash during a first index), recounting the counters. A load under
    /// way holds the vault's write lock; if the lock is busy, the repair is
    /// left to the next reconcile, which runs under that lock.
    pub(crate) fn repair_bulk_load(&self) -> Result<()> {
        if !db::bulk_load::unfinished(&self.conn)? {
            return Ok(());
        }
        if let Some(_lock) = self.vault.try_lock_for_write()? {
            db::bulk_load::repair(&self.conn)?;
        }
        Ok(())
    }

    /// What was repaired when this engine opened the vault, if anything.
    pub fn recovery(&self) -> Option<&db::recovery::Recovery> {
        self.recovery.as_ref()
    }

    /// After a recovery, reconciles at once so that the command that found
    /// the damage already answers from a complete index. A failure is
    /// logged, not returned: the index then stays as it is until the next
    /// sync, and read commands still work.
    fn rebuild_after_recovery(&mut self) {
        if self.recovery.is_none() {
            return;
        }
        match self.reconcile() {
            Ok(report) => {
                tracing::info!("index rebuilt: {}", report.summary());
                self.rebuilt = Some(report);
                self.backup_if_due();
            }
            Err(e) => tracing::warn!("could not rebuild the index yet: {e}"),
        }
    }

    /// Reports progress of large batches (the window shows a progress bar).
    pub fn set_progress(&mut self, progress: Option<ProgressFn>) {
        self.progress = progress;
    }

    pub(crate) fn report_progress(&mut self, done: usize, total: usize) {
        if let Some(ProgressFn(f)) = &mut self.progress {
            f(done, total);
        }
    }

    /// The vault.
    pub fn vault(&self) -> &Vault {
        &self.vault
    }

    /// The database connection (for read-only queries by callers).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The audit log.
    pub fn audit(&self) -> &AuditLog {
        &self.audit
    }

    fn register_builtin_schemas(&mut self) -> Result<()> {
        for (name, text) in BUILTIN_SCHEMAS {
            let definition: serde_json::Value =
                serde_json::from_str(text).map_err(|e| NexusError::json(name, e))?;
            self.registry.register(&self.conn, name, &definition, 1)?;
        }
        Ok(())
    }

    /// Registers the schemas kept in `.nexus/schemas/` (added with
    /// `me-nexus schema add`). A broken one is logged and skipped so that
    /// the vault still opens.
    fn register_vault_schemas(&mut self) -> Result<()> {
        let dir = self.vault.schemas_dir();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut paths: Vec<_> = entries.flatten().map(|e| e.path()).collect();
        paths.sort();
        for path in paths {
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            match crate::schema::document::read_schema_document(&path) {
                Ok((name, version, definition)) => {
                    if let Err(e) = self
                        .registry
                        .register(&self.conn, &name, &definition, version)
                    {
                        tracing::warn!("skipping schema {}: {e}", path.display());
                    }
                }
                Err(e) => tracing::warn!("skipping schema {}: {e}", path.display()),
            }
        }
        Ok(())
    }

    /// Adds (or updates) a schema from a JSON Schema document at `file`, and
    /// keeps a copy in `.nexus/schemas/` so that a rebuilt index has it too.
    /// Files that use the schema are re-validated.
    pub fn add_schema(&mut self, file: &Path) -> Result<(String, crate::schema::RegisterOutcome)> {
        let (name, version, definition) = crate::schema::document::read_schema_document(file)?;
        crate::schema::document::check_schema_name(&name)?;
        let _lock = self.vault.lock_for_write()?;
        let outcome = self
            .registry
            .register(&self.conn, &name, &definition, version)?;
        let dir = self.vault.schemas_dir();
        std::fs::create_dir_all(&dir).with_path(&dir)?;
        let stored = json!({"schema_name": name, "version": version, "definition": definition});
        let mut bytes =
            serde_json::to_vec_pretty(&stored).map_err(|e| NexusError::json(file, e))?;
        bytes.push(b'\n');
        crate::vault::atomic::write_atomic(&dir.join(format!("{name}.json")), &bytes)?;
        self.audit.record_one(
            "schema.registered",
            None,
            json!({"schema_name": name, "outcome": format!("{outcome:?}")}),
        )?;
        let users = db::files::with_schema(&self.conn, &name)?;
        self.index_paths_locked(users.into_iter().collect(), true)?;
        Ok((name, outcome))
    }

    /// Runs `f` inside one IMMEDIATE transaction: committed if it succeeds,
    /// rolled back if it fails.
    pub(crate) fn in_transaction<T>(
        &mut self,
        f: impl FnOnce(&mut Engine) -> Result<T>,
    ) -> Result<T> {
        self.conn.execute_batch("BEGIN IMMEDIATE")?;
        match f(self) {
            Ok(value) => {
                self.conn.execute_batch("COMMIT")?;
                Ok(value)
            }
            Err(e) => {
                // The rollback can only fail if the transaction is already gone.
                let _ = self.conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// Backs the index up into `.nexus/backups/` if the newest backup is
    /// older than the vault's `backup_interval_secs`, keeping
    /// `backups_kept`. Called after a successful full reconcile, once its
    /// result is out; a failure is logged, never returned.
    pub fn backup_if_due(&self) {
        let settings = self.vault.settings();
        match db::recovery::backup_if_due(
            &self.conn,
            &self.vault.backups_dir(),
            std::time::Duration::from_secs(settings.backup_interval_secs),
            settings.backups_kept,
        ) {
            Ok(Some(path)) => tracing::info!("index backed up to {}", path.display()),
            Ok(None) => {}
            Err(e) => tracing::warn!("backup: {e}"),
        }
    }

    /// `PRAGMA integrity_check`: "ok" or the problems SQLite found.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
