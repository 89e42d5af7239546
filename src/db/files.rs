//! The `files` table: what was last indexed from each vault file, so that a
//! reconcile re-reads only files whose size, mtime or content changed.

use rusqlite::{Connection, OptionalExtension, params};

use crate::db::merge_base::{self, StoredBase};
use crate::error::Result;

/// How a file was taken in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    /// Parsed; its objects are indexed.
    Data,
    /// JSON without a top-level `schema`: not Me-Nexus data, skipped.
    NotData,
    /// Could not be parsed, or names an unknown schema: a problem. The
    /// objects it had before stay indexed (the last good state).
    Invalid,
    /// A plugin manifest or a schema file a manifest names.
    Plugin,
    /// `.nexus/permissions.json`.
    Permissions,
}

impl FileStatus {
    /// Name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            FileStatus::Data => "data",
            FileStatus::NotData => "not_data",
            FileStatus::Invalid => "invalid",
            FileStatus::Plugin => "plugin",
            FileStatus::Permissions => "permissions",
        }
    }

    fn parse(s: &str) -> FileStatus {
        match s {
            "data" => FileStatus::Data,
            "not_data" => FileStatus::NotData,
            "plugin" => FileStatus::Plugin,
            "permissions" => FileStatus::Permissions,
            _ => FileStatus::Invalid,
        }
    }
}

/// One row of `files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileRow {
    /// Vault-relative path.
    pub path: String,
    /// Size in bytes when indexed.
    pub size: u64,
    /// Modification time (ns) when indexed.
    pub mtime_ns: i64,
    /// BLAKE3 of the bytes indexed (for permissions.json,
    /// [`crate::db::fingerprint`]).
    pub hash: String,
    /// How the file was taken in.
    pub status: FileStatus,
    /// The schema the file declared, if any.
    pub schema_name: Option<String>,
    /// The layout (collection, single, markdown), if data.
    pub layout: Option<String>,
}

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<FileRow> {
    let status: String = r.get(4)?;
    Ok(FileRow {
        path: r.get(0)?,
        size: r.get::<_, i64>(1)?.try_into().unwrap_or(0),
        mtime_ns: r.get(2)?,
        hash: r.get(3)?,
        status: FileStatus::parse(&status),
        schema_name: r.get(5)?,
        layout: r.get(6)?,
    })
}

const COLUMNS: &str = "path, size, mtime_ns, hash, status, schema_name, layout";

/// The row for `path`.
pub fn get(conn: &Connection, path: &str) -> Result<Option<FileRow>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM files WHERE path = ?1"))?
        .query_row([path], from_row)
        .optional()?)
}

/// Whether any file has been indexed.
pub fn any(conn: &Connection) -> Result<bool> {
    Ok(conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM files)")?
        .query_row([], |r| r.get(0))?)
}

/// Every row, by path.
pub fn all(conn: &Connection) -> Result<Vec<FileRow>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM files ORDER BY path"))?;
    let rows = stmt.query_map([], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Rows whose path is `prefix` or lies under the folder `prefix/`.
pub fn under(conn: &Connection, prefix: &str) -> Result<Vec<FileRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM files WHERE path = ?1 OR substr(path, 1, length(?1) + 1) = ?1 || '/' ORDER BY path"
    ))?;
    let rows = stmt.query_map([prefix], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Files that declared `schema_name` (to re-validate them when it changes).
pub fn with_schema(conn: &Connection, schema_name: &str) -> Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT path FROM files WHERE schema_name = ?1 ORDER BY path")?;
    let rows = stmt.query_map([schema_name], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Inserts or replaces the row for `row.path`. `base`, the bytes just
/// indexed, becomes the file's merge base; with `None` the last base stays.
pub fn upsert(
    conn: &Connection,
    row: &FileRow,
    base: Option<&StoredBase>,
    now: &str,
) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO files (path, size, mtime_ns, hash, status, schema_name, layout, indexed_at,
                            base_content, base_encoding)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ifnull(?10, 'raw'))
         ON CONFLICT(path) DO UPDATE SET size = excluded.size, mtime_ns = excluded.mtime_ns,
           hash = excluded.hash, status = excluded.status, schema_name = excluded.schema_name,
           layout = excluded.layout, indexed_at = excluded.indexed_at,
           base_content = ifnull(excluded.base_content, files.base_content),
           base_encoding = CASE WHEN excluded.base_content IS NULL THEN files.base_encoding
                                ELSE excluded.base_encoding END",
    )?
    .execute(params![
        row.path,
        i64::try_from(row.size).unwrap_or(i64::MAX),
        row.mtime_ns,
        row.hash,
        row.status.as_str(),
        row.schema_name,
        row.layout,
        now,
        base.map(|b| b.blob.as_slice()),
        base.map(|b| b.encoding.as_str()),
    ])?;
    Ok(())
}

/// Updates only size, mtime and hash (the bytes are unchanged; the hash
/// may have been recorded by an earlier version, see
/// [`crate::db::matches_stored_hash`]).
pub fn touch(conn: &Connection, path: &str, size: u64, mtime_ns: i64, hash: &str) -> Result<()> {
    conn.prepare_cached("UPDATE files SET size = ?2, mtime_ns = ?3, hash = ?4 WHERE path = ?1")?
        .execute(params![
            path,
            i64::try_from(size).unwrap_or(i64::MAX),
            mtime_ns,
            hash
        ])?;
    Ok(())
}

/// Removes the row for `path`.
pub fn delete(conn: &Connection, path: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM files WHERE path = ?1")?
        .execute([path])?;
    Ok(())
}

/// Renames the row `from` to `to`.
pub fn rename(conn: &Connection, from: &str, to: &str) -> Result<()> {
    conn.prepare_cached("DELETE FROM files WHERE path = ?2")?
        .execute([from, to])?;
    conn.prepare_cached("UPDATE files SET path = ?2 WHERE path = ?1")?
        .execute([from, to])?;
    Ok(())
}

/// The bytes last indexed from `path`, if kept. A stored base that cannot
/// be decoded counts as none, with a warning naming the file: a merge
/// without a base keeps both versions, so nothing is lost, and the next
/// index of the file stores a good one.
pub fn base(conn: &Connection, path: &str) -> Result<Option<Vec<u8>>> {
    let stored = conn
        .prepare_cached("SELECT base_content, base_encoding FROM files WHERE path = ?1")?
        .query_row([path], |r| {
            Ok((r.get::<_, Option<Vec<u8>>>(0)?, r.get::<_, String>(1)?))
        })
        .optional()?;
    match stored {
        Some((Some(blob), encoding)) => match merge_base::decode(path, &encoding, blob) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) => {
                tracing::warn!("{e}; merging without it");
                Ok(None)
            }
        },
        _ => Ok(None),
    }
}

/// How many files were skipped as not Me-Nexus data.
pub fn count_not_data(conn: &Connection) -> Result<i64> {
    Ok(conn.query_row(
        "SELECT COUNT(*) FROM files WHERE status = 'not_data'",
        [],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db;

    fn row(path: &str, size: u64, hash: &str) -> FileRow {
        FileRow {
            path: path.into(),
            size,
            mtime_ns: 7,
            hash: hash.into(),
            status: FileStatus::Data,
            schema_name: Some("core.todo".into()),
            layout: Some("collection".into()),
        }
    }

    fn stored(conn: &Connection, path: &str) -> (i64, String, Option<Vec<u8>>, String) {
        conn.query_row(
            "SELECT size, hash, base_content, base_encoding FROM files WHERE path = ?1",
            [path],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
    }

    /// A new path gets a row; a second upsert replaces its fields, and
    /// keeps the merge base unless it brings one.
    #[test]
    fn upsert_inserts_then_updates_and_keeps_the_base_unless_given() {
        let conn = db::open_in_memory().unwrap();
        let first = StoredBase::compress(b"[1, 2, 3]");
        upsert(&conn, &row("a.json", 9, "h1"), Some(&first), "now").unwrap();
        assert_eq!(
            stored(&conn, "a.json"),
            (9, "h1".into(), Some(first.blob.clone()), "lz4".into())
        );
        assert_eq!(
            base(&conn, "a.json").unwrap().as_deref(),
            Some(&b"[1, 2, 3]"[..])
        );

        upsert(&conn, &row("a.json", 12, "h2"), None, "later").unwrap();
        assert_eq!(
            stored(&conn, "a.json"),
            (12, "h2".into(), Some(first.blob.clone()), "lz4".into())
        );

        let second = StoredBase::compress(b"[4]");
        upsert(&conn, &row("a.json", 3, "h3"), Some(&second), "last").unwrap();
        assert_eq!(
            stored(&conn, "a.json"),
            (3, "h3".into(), Some(second.blob), "lz4".into())
        );
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM files", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 1);

        // Without a base, a new row's base is none, stored as raw.
        upsert(&conn, &row("b.json", 1, "h4"), None, "now").unwrap();
        assert_eq!(
            stored(&conn, "b.json"),
            (1, "h4".into(), None, "raw".into())
        );
    }
}
