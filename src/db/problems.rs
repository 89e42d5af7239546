//! The `problems` table: files and items that could not be indexed cleanly.
//! A problem names the file, a JSON pointer into it, and what is wrong.

use rusqlite::{Connection, params};
use serde::Serialize;

use crate::error::Result;

/// One problem.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// Vault-relative file.
    pub file_path: String,
    /// JSON pointer into the file ("" for the whole file).
    pub pointer: String,
    /// What is wrong.
    pub message: String,
    /// The object the problem belongs to, when it is an invalid object.
    pub object_key: Option<String>,
    /// When it was found.
    pub detected_at: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.pointer.is_empty() || self.pointer == NAME_POINTER {
            write!(f, "{}: {}", self.file_path, self.message)
        } else {
            write!(
                f,
                "{} at {}: {}",
                self.file_path, self.pointer, self.message
            )
        }
    }
}

/// The pointer of problems with a file's name or place rather than its
/// bytes (found by the walk, replaced as a set by each full reconcile).
pub const NAME_POINTER: &str = "#name";

/// Replaces the problems with the bytes of `file_path` with `problems`
/// (problems with its name stay).
pub fn replace_for_file(conn: &Connection, file_path: &str, problems: &[Problem]) -> Result<()> {
    conn.prepare_cached("DELETE FROM problems WHERE file_path = ?1 AND pointer <> ?2")?
        .execute([file_path, NAME_POINTER])?;
    add_all(conn, problems)
}

/// Adds `problems` (of a file that has none yet).
pub fn add_all(conn: &Connection, problems: &[Problem]) -> Result<()> {
    if problems.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO problems (file_path, pointer, message, object_key, detected_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for p in problems {
        insert.execute(params![
            p.file_path,
            p.pointer,
            p.message,
            p.object_key,
            p.detected_at
        ])?;
    }
    Ok(())
}

/// Adds one problem.
pub fn add(conn: &Connection, p: &Problem) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO problems (file_path, pointer, message, object_key, detected_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![p.file_path, p.pointer, p.message, p.object_key, p.detected_at])?;
    Ok(())
}

/// Moves the problems of `from` to `to` (a renamed file).
pub fn rename_file(conn: &Connection, from: &str, to: &str) -> Result<()> {
    conn.prepare_cached("UPDATE problems SET file_path = ?2 WHERE file_path = ?1")?
        .execute([from, to])?;
    Ok(())
}

/// Every problem, by file.
pub fn all(conn: &Connection) -> Result<Vec<Problem>> {
    let mut stmt = conn.prepare_cached(
        "SELECT file_path, pointer, message, object_key, detected_at FROM problems ORDER BY file_path, id",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(Problem {
            file_path: r.get(0)?,
            pointer: r.get(1)?,
            message: r.get(2)?,
            object_key: r.get(3)?,
            detected_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The problems of one object.
pub fn for_object(conn: &Connection, key: &str) -> Result<Vec<Problem>> {
    all_where(conn, "object_key = ?1", key)
}

fn all_where(conn: &Connection, condition: &str, arg: &str) -> Result<Vec<Problem>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT file_path, pointer, message, object_key, detected_at FROM problems WHERE {condition} ORDER BY id"
    ))?;
    let rows = stmt.query_map([arg], |r| {
        Ok(Problem {
            file_path: r.get(0)?,
            pointer: r.get(1)?,
            message: r.get(2)?,
            object_key: r.get(3)?,
            detected_at: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// How many problems there are.
pub fn count(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row("SELECT COUNT(*) FROM problems", [], |r| r.get(0))?)
}
