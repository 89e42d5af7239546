//! The seed's `schemas` table.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;

/// One registered schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaRow {
    /// Row id.
    pub id: i64,
    /// `core.todo`, `plugin.journal.entry`, ...
    pub schema_name: String,
    /// The JSON Schema document.
    pub definition_json: String,
    /// Bumped every time the definition changes.
    pub version: i64,
    /// When it was first registered.
    pub created_at: String,
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<SchemaRow> {
    Ok(SchemaRow {
        id: r.get(0)?,
        schema_name: r.get(1)?,
        definition_json: r.get(2)?,
        version: r.get(3)?,
        created_at: r.get(4)?,
    })
}

/// The schema called `name`.
pub fn get(conn: &Connection, name: &str) -> Result<Option<SchemaRow>> {
    Ok(conn
        .prepare_cached(
            "SELECT id, schema_name, definition_json, version, created_at FROM schemas WHERE schema_name = ?1",
        )?
        .query_row([name], from_row)
        .optional()?)
}

/// Every schema, by name.
pub fn all(conn: &Connection) -> Result<Vec<SchemaRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, schema_name, definition_json, version, created_at FROM schemas ORDER BY schema_name",
    )?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Inserts a schema; returns its id.
pub fn insert(
    conn: &Connection,
    name: &str,
    definition_json: &str,
    version: i64,
    now: &str,
) -> Result<i64> {
    conn.prepare_cached(
        "INSERT INTO schemas (schema_name, definition_json, version, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![name, definition_json, version, now])?;
    Ok(conn.last_insert_rowid())
}

/// Replaces the definition and version of schema `id`.
pub fn update(conn: &Connection, id: i64, definition_json: &str, version: i64) -> Result<()> {
    conn.prepare_cached("UPDATE schemas SET definition_json = ?2, version = ?3 WHERE id = ?1")?
        .execute(params![id, definition_json, version])?;
    Ok(())
}

/// Object counts per schema name.
pub fn object_counts(conn: &Connection) -> Result<Vec<(String, i64)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT s.schema_name, COUNT(o.id) FROM schemas s LEFT JOIN data_objects o ON o.schema_id = s.id
         GROUP BY s.id ORDER BY s.schema_name",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}
