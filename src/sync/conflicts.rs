//! Conflict copies: when the app and another program changed the same
//! object, the losing version is kept in `.nexus/conflicts/` (with its
//! path, time and the hashes of both sides), listed as a problem, and can
//! be restored in one step. The copies are the truth; the `conflicts` table
//! indexes them, so a rebuilt database finds them again.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::audit::Source;
use crate::db::{hash_bytes, now_rfc3339};
use crate::error::{IoContext, NexusError, Result};
use crate::sync::engine::Engine;
use crate::sync::merge::Side;
use crate::vault::atomic::write_atomic;

/// What a conflict copy file holds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConflictCopy {
    /// The object key.
    pub key: String,
    /// The schema of the object.
    pub schema_name: String,
    /// The vault file.
    pub file: String,
    /// When the conflict happened.
    pub time: String,
    /// Whose version is in the file.
    pub winner: Side,
    /// Hash of the file's version.
    pub file_hash: String,
    /// Hash of the app's version.
    pub app_hash: String,
    /// Hash of the base both started from.
    pub base_hash: String,
    /// The version in the file after the conflict.
    pub winning: Option<Value>,
    /// The version that lost (kept here).
    pub losing: Option<Value>,
    /// When it was restored or dismissed.
    #[serde(default)]
    pub resolved_at: Option<String>,
}

/// A conflict to record.
#[derive(Debug)]
pub(crate) struct NewConflict<'a> {
    /// The object key.
    pub key: &'a str,
    /// Its schema.
    pub schema_name: &'a str,
    /// Its file.
    pub file: &'a str,
    /// The version both sides started from.
    pub base: Option<&'a Value>,
    /// Whose version is in the file.
    pub winner: Side,
    /// That version.
    pub winning: Option<Value>,
    /// The other version.
    pub losing: Option<Value>,
}

/// One row of `conflicts`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ConflictRow {
    /// Row id (used by `conflicts restore`).
    pub id: i64,
    /// The copy, relative to the vault.
    pub copy_path: String,
    /// The vault file.
    pub file_path: String,
    /// The object key.
    pub object_key: String,
    /// `app` or `file`.
    pub winner: String,
    /// When.
    pub created_at: String,
    /// When resolved, if it is.
    pub resolved_at: Option<String>,
}

fn value_hash(value: Option<&Value>) -> String {
    value.map_or_else(String::new, |v| hash_bytes(v.to_string().as_bytes()))
}

impl Engine {
    /// Keeps the losing version of a conflict and lists it as a problem.
    /// Returns the row id.
    pub(crate) fn record_conflict(&mut self, conflict: NewConflict<'_>) -> Result<i64> {
        let NewConflict {
            key,
            schema_name,
            file,
            base,
            winner,
            winning,
            losing,
        } = conflict;
        let (file_version, app_version) = match winner {
            Side::App => (losing.as_ref(), winning.as_ref()),
            Side::File => (winning.as_ref(), losing.as_ref()),
        };
        let copy = ConflictCopy {
            key: key.to_string(),
            schema_name: schema_name.to_string(),
            file: file.to_string(),
            time: now_rfc3339(),
            winner,
            file_hash: value_hash(file_version),
            app_hash: value_hash(app_version),
            base_hash: value_hash(base),
            winning,
            losing,
            resolved_at: None,
        };
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.6fZ");
        let name: String = key
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let rel = format!(".nexus/conflicts/{stamp}-{name}.json");
        write_copy(&self.vault.abs(&rel), &copy)?;
        self.conn
            .prepare_cached(
                "INSERT INTO conflicts (copy_path, file_path, object_key, winner, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![rel, file, key, side_name(winner), copy.time])?;
        let id = self.conn.last_insert_rowid();
        self.audit.record_one(
            "conflict",
            Some(key),
            json!({"id": id, "winner": side_name(winner), "copy": rel, "file": file,
                   "file_hash": copy.file_hash, "app_hash": copy.app_hash, "base_hash": copy.base_hash}),
        )?;
        Ok(id)
    }

    /// The conflicts, newest first; only open ones unless `all`.
    pub fn conflicts(&self, all: bool) -> Result<Vec<ConflictRow>> {
        list(&self.conn, all)
    }

    fn conflict_row(&self, id: i64) -> Result<(ConflictRow, ConflictCopy)> {
        let row = self
            .conflicts(true)?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(|| NexusError::NotFound(format!("no conflict with id {id}")))?;
        let path = self.vault.abs(&row.copy_path);
        let bytes = std::fs::read(&path).with_path(&path)?;
        let copy: ConflictCopy =
            serde_json::from_slice(&bytes).map_err(|e| NexusError::json(&path, e))?;
        Ok((row, copy))
    }

    /// Puts the losing version of conflict `id` back into its file (the
    /// version it replaces stays in the copy, so nothing is lost) and marks
    /// the conflict resolved. Returns the object key.
    pub fn restore_conflict(&mut self, id: i64, source: Source) -> Result<String> {
        let (row, mut copy) = self.conflict_row(id)?;
        if row.resolved_at.is_some() {
            return Err(NexusError::InvalidInput(format!(
                "conflict {id} is already resolved"
            )));
        }
        match copy.losing.clone() {
            Some(losing) => {
                self.save_object(&copy.schema_name, losing, Some(&copy.key), source)?;
            }
            None => {
                // The losing side was a deletion.
                self.delete_object(&copy.key, source)?;
            }
        }
        copy.resolved_at = Some(now_rfc3339());
        self.finish_conflict(&row, &copy, "restored")?;
        Ok(copy.key)
    }

    /// Marks conflict `id` resolved without changing the file (the copy is
    /// kept).
    pub fn dismiss_conflict(&mut self, id: i64) -> Result<()> {
        let (row, mut copy) = self.conflict_row(id)?;
        copy.resolved_at = Some(now_rfc3339());
        self.finish_conflict(&row, &copy, "dismissed")
    }

    fn finish_conflict(&mut self, row: &ConflictRow, copy: &ConflictCopy, how: &str) -> Result<()> {
        write_copy(&self.vault.abs(&row.copy_path), copy)?;
        self.conn
            .prepare_cached("UPDATE conflicts SET resolved_at = ?2 WHERE id = ?1")?
            .execute(params![row.id, copy.resolved_at])?;
        self.audit.record_one(
            "conflict.resolved",
            Some(&copy.key),
            json!({"id": row.id, "how": how}),
        )?;
        Ok(())
    }

    /// Indexes the conflict copies in `.nexus/conflicts/` that the table
    /// does not know (after a database rebuild).
    pub(crate) fn sync_conflict_copies(&mut self) -> Result<()> {
        let dir = self.vault.nexus_dir().join("conflicts");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(());
        };
        let mut names: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        for name in names {
            let rel = format!(".nexus/conflicts/{name}");
            let known: Option<i64> = self
                .conn
                .prepare_cached("SELECT id FROM conflicts WHERE copy_path = ?1")?
                .query_row([&rel], |r| r.get(0))
                .optional()?;
            if known.is_some() {
                continue;
            }
            let Ok(bytes) = std::fs::read(self.vault.abs(&rel)) else {
                continue;
            };
            let Ok(copy) = serde_json::from_slice::<ConflictCopy>(&bytes) else {
                tracing::warn!("not a conflict copy, left alone: {rel}");
                continue;
            };
            self.conn
                .prepare_cached(
                    "INSERT INTO conflicts (copy_path, file_path, object_key, winner, created_at, resolved_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![rel, copy.file, copy.key, side_name(copy.winner), copy.time, copy.resolved_at])?;
        }
        Ok(())
    }
}

fn side_name(side: Side) -> &'static str {
    match side {
        Side::App => "app",
        Side::File => "file",
    }
}

fn write_copy(path: &std::path::Path, copy: &ConflictCopy) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(copy).map_err(|e| NexusError::json(path, e))?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// The conflicts in the index, newest first; only open ones unless `all`.
pub fn list(conn: &rusqlite::Connection, all: bool) -> Result<Vec<ConflictRow>> {
    let sql = format!(
        "SELECT id, copy_path, file_path, object_key, winner, created_at, resolved_at FROM conflicts {} ORDER BY id DESC",
        if all { "" } else { "WHERE resolved_at IS NULL" }
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map([], |r| {
        Ok(ConflictRow {
            id: r.get(0)?,
            copy_path: r.get(1)?,
            file_path: r.get(2)?,
            object_key: r.get(3)?,
            winner: r.get(4)?,
            created_at: r.get(5)?,
            resolved_at: r.get(6)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many conflicts are open.
pub fn open_count(conn: &rusqlite::Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM conflicts WHERE resolved_at IS NULL",
        [],
        |r| r.get(0),
    )?)
}
