//! `sync_state`: small named values (the last sync time).

use rusqlite::{Connection, OptionalExtension};

use crate::error::Result;

/// Name of the last full or incremental sync time.
pub const LAST_SYNC: &str = "last_sync";

/// Reads a value.
pub fn get(conn: &Connection, name: &str) -> Result<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT value FROM sync_state WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?)
}

/// Writes a value.
pub fn set(conn: &Connection, name: &str, value: &str) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO sync_state (name, value) VALUES (?1, ?2)
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
    )?
    .execute([name, value])?;
    Ok(())
}
