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
    pub(crate) vault: Vault,
    pub(crate) conn: Connection,
    pub(crate) registry: SchemaRegistry,
    pub(crate) audit: AuditLog,
    pub(crate) progress: Option<ProgressFn>,
}

/// Called with `(files done, files to do)` while a batch reads files.
pub struct ProgressFn(pub Box<dyn FnMut(usize, usize) + Send>);

impl std::fmt::Debug for ProgressFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressFn")
    }
}

impl Engine {
    /// Opens an existing vault. A vault whose database is missing gets a new
    /// one, rebuilt from the files and permissions.json by the next
    /// reconcile; that is audited as a recovery.
    pub fn open(path: &Path) -> Result<Engine> {
        let vault = Vault::open(path)?;
        // A vault always has a database once `init` ran; a missing one was
        // lost and is rebuilt.
        let rebuilding = !vault.db_path().exists();
        Engine::from_vault(vault, rebuilding)
    }

    /// Makes `path` a vault (if it is not one) and opens it. The caller runs
    /// [`Engine::reconcile`] to index what is already there.
    pub fn init(path: &Path) -> Result<Engine> {
        let was_vault = Vault::is_vault(path);
        let vault = Vault::init(path)?;
        let rebuilding = was_vault && !vault.db_path().exists();
        Engine::from_vault(vault, rebuilding)
    }

    fn from_vault(vault: Vault, rebuilding: bool) -> Result<Engine> {
        let db_path = vault.db_path();
        let conn = db::open(&db_path)?;
        let audit = AuditLog::new(vault.audit_path());
        if rebuilding {
            audit.record_one(
                "recovery",
                None,
                json!({"what": "database missing; rebuilding the index from the vault files and permissions.json"}),
            )?;
        }
        let mut engine = Engine {
            vault,
            conn,
            registry: SchemaRegistry::new(),
            audit,
            progress: None,
        };
        engine.register_builtin_schemas()?;
        engine.register_vault_schemas()?;
        Ok(engine)
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

    /// `PRAGMA integrity_check`: "ok" or the problems SQLite found.
    pub fn integrity_check(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("PRAGMA integrity_check")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}
