//! Versioned schema migrations, tracked in `PRAGMA user_version`.
//!
//! Version 1 holds the seed design's four tables (with its column names and
//! types) and its five indexes (version 9 drops `idx_data_objects_file_path`,
//! which repeated the index of `file_path`'s UNIQUE constraint: lookups by
//! `file_path` read that one), plus the engine's own tables: `files` (what
//! was indexed from each file), `problems`, `orphan_permissions` (grants in
//! permissions.json whose object is not there) and `sync_state`.
//!
//! The object key (`todos.json#1`, `notes/a.md`) is stored in the seed's
//! `data_objects.file_path`, which stays UNIQUE; the file it lives in is in
//! the extra column `source_path`, its item id in `item_id`.

use rusqlite::Connection;

use crate::error::Result;

/// The newest schema version.
pub const LATEST: i64 = 11;

const V1: &str = "
CREATE TABLE IF NOT EXISTS schemas (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schema_name TEXT NOT NULL UNIQUE,
    definition_json TEXT NOT NULL,
    version INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS data_objects (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    schema_id INTEGER NOT NULL,
    file_path TEXT UNIQUE,
    updated_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    source_path TEXT NOT NULL DEFAULT '',
    item_id TEXT,
    position INTEGER NOT NULL DEFAULT 0,
    title TEXT NOT NULL DEFAULT '',
    content_hash TEXT NOT NULL DEFAULT '',
    FOREIGN KEY (schema_id) REFERENCES schemas (id)
);

CREATE TABLE IF NOT EXISTS object_content (
    object_id INTEGER PRIMARY KEY,
    content_json TEXT NOT NULL,
    FOREIGN KEY (object_id) REFERENCES data_objects (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS object_permissions (
    object_id INTEGER PRIMARY KEY,
    share_with_ai BOOLEAN NOT NULL DEFAULT FALSE,
    share_with_cloud BOOLEAN NOT NULL DEFAULT FALSE,
    read_only BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at TEXT NULL,
    expires_unix INTEGER NULL,
    FOREIGN KEY (object_id) REFERENCES data_objects (id) ON DELETE CASCADE
);

CREATE INDEX IF NOT EXISTS idx_data_objects_schema_id ON data_objects(schema_id);
CREATE INDEX IF NOT EXISTS idx_data_objects_updated_at ON data_objects(updated_at);
CREATE INDEX IF NOT EXISTS idx_data_objects_file_path ON data_objects(file_path);
CREATE INDEX IF NOT EXISTS idx_permissions_ai ON object_permissions(share_with_ai);
CREATE INDEX IF NOT EXISTS idx_permissions_cloud ON object_permissions(share_with_cloud);

CREATE INDEX IF NOT EXISTS idx_data_objects_source_path ON data_objects(source_path, position);
CREATE INDEX IF NOT EXISTS idx_permissions_read_only ON object_permissions(read_only);
CREATE INDEX IF NOT EXISTS idx_permissions_expires_unix ON object_permissions(expires_unix)
    WHERE expires_unix IS NOT NULL;

CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    hash TEXT NOT NULL,
    status TEXT NOT NULL,
    schema_name TEXT,
    layout TEXT,
    indexed_at TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS problems (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    file_path TEXT NOT NULL,
    pointer TEXT NOT NULL,
    message TEXT NOT NULL,
    object_key TEXT,
    detected_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_problems_file_path ON problems(file_path);
CREATE INDEX IF NOT EXISTS idx_problems_object_key ON problems(object_key);

CREATE TABLE IF NOT EXISTS orphan_permissions (
    key TEXT PRIMARY KEY,
    share_with_ai BOOLEAN NOT NULL DEFAULT FALSE,
    share_with_cloud BOOLEAN NOT NULL DEFAULT FALSE,
    read_only BOOLEAN NOT NULL DEFAULT FALSE,
    expires_at TEXT NULL
);

CREATE TABLE IF NOT EXISTS sync_state (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// Version 2: the base of each file (the bytes last indexed, for three-way
/// merges) and the conflicts whose losing versions are kept in
/// `.nexus/conflicts/`.
const V2: &str = "
ALTER TABLE files ADD COLUMN base_content BLOB;

CREATE TABLE IF NOT EXISTS conflicts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    copy_path TEXT NOT NULL UNIQUE,
    file_path TEXT NOT NULL,
    object_key TEXT NOT NULL,
    winner TEXT NOT NULL,
    created_at TEXT NOT NULL,
    resolved_at TEXT
);
";

/// Version 3: counters kept by triggers, so that the stats cards cost the
/// same at a million objects as at ten; and indexes that answer "shared and
/// unexpired" from the index alone.
const V3: &str = "
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR REPLACE INTO counters SELECT 'objects', COUNT(*) FROM data_objects;
INSERT OR REPLACE INTO counters SELECT 'ai', COUNT(*) FROM object_permissions WHERE share_with_ai = 1;
INSERT OR REPLACE INTO counters SELECT 'cloud', COUNT(*) FROM object_permissions WHERE share_with_cloud = 1;
INSERT OR REPLACE INTO counters SELECT 'read_only', COUNT(*) FROM object_permissions WHERE read_only = 1;

CREATE TRIGGER IF NOT EXISTS counters_objects_insert AFTER INSERT ON data_objects BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'objects';
END;
CREATE TRIGGER IF NOT EXISTS counters_objects_delete AFTER DELETE ON data_objects BEGIN
    UPDATE counters SET value = value - 1 WHERE name = 'objects';
END;
CREATE TRIGGER IF NOT EXISTS counters_permissions_insert AFTER INSERT ON object_permissions BEGIN
    UPDATE counters SET value = value + (NEW.share_with_ai = 1) WHERE name = 'ai';
    UPDATE counters SET value = value + (NEW.share_with_cloud = 1) WHERE name = 'cloud';
    UPDATE counters SET value = value + (NEW.read_only = 1) WHERE name = 'read_only';
END;
CREATE TRIGGER IF NOT EXISTS counters_permissions_delete AFTER DELETE ON object_permissions BEGIN
    UPDATE counters SET value = value - (OLD.share_with_ai = 1) WHERE name = 'ai';
    UPDATE counters SET value = value - (OLD.share_with_cloud = 1) WHERE name = 'cloud';
    UPDATE counters SET value = value - (OLD.read_only = 1) WHERE name = 'read_only';
END;
CREATE TRIGGER IF NOT EXISTS counters_permissions_update
AFTER UPDATE OF share_with_ai, share_with_cloud, read_only ON object_permissions BEGIN
    UPDATE counters SET value = value + (NEW.share_with_ai = 1) - (OLD.share_with_ai = 1) WHERE name = 'ai';
    UPDATE counters SET value = value + (NEW.share_with_cloud = 1) - (OLD.share_with_cloud = 1) WHERE name = 'cloud';
    UPDATE counters SET value = value + (NEW.read_only = 1) - (OLD.read_only = 1) WHERE name = 'read_only';
END;

CREATE INDEX IF NOT EXISTS idx_permissions_ai_expires ON object_permissions(share_with_ai, expires_unix);
CREATE INDEX IF NOT EXISTS idx_permissions_cloud_expires ON object_permissions(share_with_cloud, expires_unix);
";

/// Version 4: a partial index of the objects whose permissions are not the
/// defaults, so that writing permissions.json reads those rows only.
const V4: &str = "
CREATE INDEX IF NOT EXISTS idx_permissions_not_default ON object_permissions(object_id)
    WHERE share_with_ai OR share_with_cloud OR read_only OR expires_at IS NOT NULL;
";

/// Version 5: the grid's sort orders as index keys, so that a page of the
/// grid sorted by title or expiry is a keyset read of an index (see
/// `query::page`). The other sort columns already have theirs.
const V5: &str = "
CREATE INDEX IF NOT EXISTS idx_data_objects_title ON data_objects(title COLLATE NOCASE);
CREATE INDEX IF NOT EXISTS idx_permissions_expires_sort
    ON object_permissions(ifnull(expires_unix, 9223372036854775807));
";

/// Version 6: the two full `(flag, expires_unix)` indexes of version 3 and
/// the expiry index of version 1 give way to one partial index of the
/// objects that have an expiry, which covers the expiry counts. Shared and
/// unexpired is then the trigger-kept counter minus the shared objects
/// whose expiry has passed. Every object insert maintains two full indexes
/// fewer.
const V6: &str = "
DROP INDEX IF EXISTS idx_permissions_ai_expires;
DROP INDEX IF EXISTS idx_permissions_cloud_expires;
DROP INDEX IF EXISTS idx_permissions_expires_unix;
CREATE INDEX IF NOT EXISTS idx_permissions_expiring
    ON object_permissions(expires_unix, share_with_ai, share_with_cloud)
    WHERE expires_unix IS NOT NULL;
";

/// Version 7: a generation counter that moves whenever what
/// permissions.json should say may have changed: a non-default permission
/// row inserted, updated or deleted (cascading deletes included), a shared
/// object re-keyed, an orphan grant written. The engine keeps the grants in
/// memory between permission changes and trusts that copy only while the
/// generation stands still (see `sync::permissions_mirror`). It starts at a
/// random value, so that a database rebuilt under an open engine cannot
/// repeat the generation of the one it replaced.
const V7: &str = "
INSERT OR IGNORE INTO counters VALUES ('permissions_generation', abs(random() % 1000000000000));
CREATE TRIGGER IF NOT EXISTS permissions_generation_insert AFTER INSERT ON object_permissions
WHEN NEW.share_with_ai OR NEW.share_with_cloud OR NEW.read_only OR NEW.expires_at IS NOT NULL BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'permissions_generation';
END;
CREATE TRIGGER IF NOT EXISTS permissions_generation_update AFTER UPDATE ON object_permissions
WHEN OLD.share_with_ai OR OLD.share_with_cloud OR OLD.read_only OR OLD.expires_at IS NOT NULL
  OR NEW.share_with_ai OR NEW.share_with_cloud OR NEW.read_only OR NEW.expires_at IS NOT NULL
  OR OLD.object_id IS NOT NEW.object_id BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'permissions_generation';
END;
CREATE TRIGGER IF NOT EXISTS permissions_generation_delete AFTER DELETE ON object_permissions
WHEN OLD.share_with_ai OR OLD.share_with_cloud OR OLD.read_only OR OLD.expires_at IS NOT NULL BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'permissions_generation';
END;
CREATE TRIGGER IF NOT EXISTS permissions_generation_rekey AFTER UPDATE OF file_path, id ON data_objects
WHEN EXISTS (SELECT 1 FROM object_permissions p WHERE p.object_id IN (OLD.id, NEW.id)
    AND (p.share_with_ai OR p.share_with_cloud OR p.read_only OR p.expires_at IS NOT NULL)) BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'permissions_generation';
END;
CREATE TRIGGER IF NOT EXISTS permissions_generation_orphan_insert AFTER INSERT ON orphan_permissions BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'permissions_generation';
END;
CREATE TRIGGER IF NOT EXISTS permissions_generation_orphan_update AFTER UPDATE ON orphan_permissions BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'permissions_generation';
END;
CREATE TRIGGER IF NOT EXISTS permissions_generation_orphan_delete AFTER DELETE ON orphan_permissions BEGIN
    UPDATE counters SET value = value + 1 WHERE name = 'permissions_generation';
END;
";

/// Version 8: how each file's merge base is stored (see `db::merge_base`).
/// The bases already there are raw; new ones are LZ4-compressed.
const V8: &str = "
ALTER TABLE files ADD COLUMN base_encoding TEXT NOT NULL DEFAULT 'raw';
";

/// Version 9: two indexes every object insert paid for and no query needs.
/// The seed's `idx_data_objects_file_path` repeats the index SQLite keeps
/// for `file_path`'s UNIQUE constraint (`sqlite_autoindex_data_objects_1`),
/// which answers the same lookups. The objects of a file are found in that
/// same index, as the range of keys that start with the file's path (see
/// `db::objects::IN_FILE`), so `idx_data_objects_source_path` goes too.
/// Together they were 8% of a cold index's writer (callgrind) and 8% of
/// the database's pages.
const V9: &str = "
DROP INDEX IF EXISTS idx_data_objects_file_path;
DROP INDEX IF EXISTS idx_data_objects_source_path;
";

/// Version 10: the grid's title order is kept as a column of its own,
/// `title_key`, the title with ASCII letters in lower case (what `COLLATE
/// NOCASE` compares, so the order is the same as before), under a plain
/// index. Comparing `NOCASE` keys folded every byte of both titles on each
/// step of an index search: with random titles, 4% of a first index's
/// writer under callgrind. Every statement that writes `title` writes
/// `title_key = lower(title)` beside it (SQLite's `lower` folds ASCII
/// only, like `NOCASE`).
const V10: &str = "
ALTER TABLE data_objects ADD COLUMN title_key TEXT NOT NULL DEFAULT '';
UPDATE data_objects SET title_key = lower(title);
DROP INDEX IF EXISTS idx_data_objects_title;
CREATE INDEX IF NOT EXISTS idx_data_objects_title_key ON data_objects(title_key);
";

/// Version 11: the permission flags and the expiry are indexed only where
/// they are not the default. A full index of a boolean column is a list of
/// `(0, id)` entries for nearly every object, in the table's own order:
/// the three flag indexes and the expiry order were a seventh of a cold
/// index's writer (callgrind), for what a scan of the table in id order
/// gives. The grid reads a flag's or the expiry's sort order as segments
/// (see `query::page`): the objects with the default value in id order from
/// the table (since objects with the default permissions have no row,
/// from `data_objects`), the others from these partial indexes. The seed's
/// index names stay, with their `WHERE`.
const V11: &str = "
DROP INDEX IF EXISTS idx_permissions_ai;
DROP INDEX IF EXISTS idx_permissions_cloud;
DROP INDEX IF EXISTS idx_permissions_read_only;
DROP INDEX IF EXISTS idx_permissions_expires_sort;
CREATE INDEX IF NOT EXISTS idx_permissions_ai ON object_permissions(share_with_ai)
    WHERE share_with_ai = 1;
CREATE INDEX IF NOT EXISTS idx_permissions_cloud ON object_permissions(share_with_cloud)
    WHERE share_with_cloud = 1;
CREATE INDEX IF NOT EXISTS idx_permissions_read_only ON object_permissions(read_only)
    WHERE read_only = 1;
CREATE INDEX IF NOT EXISTS idx_permissions_expires_order ON object_permissions(expires_unix)
    WHERE expires_unix IS NOT NULL;
";

const MIGRATIONS: [&str; 11] = [V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11];

/// Brings the database to [`LATEST`], one version per transaction.
pub fn migrate(conn: &Connection) -> Result<()> {
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let version = i64::try_from(index).unwrap_or(i64::MAX) + 1;
        if version <= current {
            continue;
        }
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {sql} PRAGMA user_version = {version}; COMMIT;"
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory database brought to `version` only, as an older
    /// build left it.
    fn at_version(version: usize) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("BEGIN;").unwrap();
        for (index, sql) in MIGRATIONS[..version].iter().enumerate() {
            conn.execute_batch(sql).unwrap();
            conn.pragma_update(None, "user_version", index as i64 + 1)
                .unwrap();
        }
        conn.execute_batch("COMMIT;").unwrap();
        conn
    }

    /// The first column of every row `sql` gives, as text.
    fn texts(conn: &Connection, sql: &str) -> Vec<String> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn seed_tables_and_indexes_exist() {
        let conn = Connection::open_in_memory().unwrap();
        migrate(&conn).unwrap();
        migrate(&conn).unwrap(); // idempotent
        let names: Vec<String> = texts(
            &conn,
            "SELECT name FROM sqlite_master WHERE type IN ('table','index') ORDER BY name",
        );
        for expected in [
            "schemas",
            "data_objects",
            "object_content",
            "object_permissions",
            "idx_data_objects_schema_id",
            "idx_data_objects_updated_at",
            "idx_permissions_ai",
            "idx_permissions_cloud",
        ] {
            assert!(names.iter().any(|n| n == expected), "{expected} missing");
        }
        // Version 9 dropped two indexes no query needs; lookups by key
        // still read an index.
        for dropped in ["idx_data_objects_file_path", "idx_data_objects_source_path"] {
            assert!(!names.iter().any(|n| n == dropped), "{dropped} still there");
        }
        let plan = crate::db::query_plan(
            &conn,
            "SELECT id FROM data_objects WHERE file_path = 'a.json#1'",
            [],
        );
        assert!(
            plan.iter()
                .any(|p| p.contains("sqlite_autoindex_data_objects_1")),
            "{plan:?}"
        );
    }

    /// A database from before version 10 gets each object's title key
    /// (ASCII letters folded, as `NOCASE` compared), under the new index,
    /// and the `NOCASE` index goes.
    #[test]
    fn version_10_fills_title_keys_of_existing_objects() {
        let conn = at_version(9);
        conn.execute_batch(
            "INSERT INTO schemas (schema_name, definition_json, created_at) VALUES ('core.todo', '{}', '');
             INSERT INTO data_objects (schema_id, file_path, updated_at, created_at, title)
               VALUES (1, 'a.json#1', '', '', 'Water the Plants'), (1, 'a.json#2', '', '', 'ÉTÉ café');",
        )
        .unwrap();
        migrate(&conn).unwrap();
        let keys: Vec<String> = texts(&conn, "SELECT title_key FROM data_objects ORDER BY id");
        assert_eq!(keys, ["water the plants", "ÉtÉ café"]);
        let indexes = texts(
            &conn,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'data_objects'",
        );
        assert!(
            indexes.iter().any(|n| n == "idx_data_objects_title_key"),
            "{indexes:?}"
        );
        assert!(
            !indexes.iter().any(|n| n == "idx_data_objects_title"),
            "{indexes:?}"
        );
    }

    /// Version 11 replaces the full indexes of the permission flags and the
    /// expiry order by partial ones that hold only the objects whose value
    /// is not the default; the counts they answer are the same.
    #[test]
    fn version_11_indexes_only_flags_that_are_set() {
        let conn = at_version(10);
        conn.execute_batch(
            "INSERT INTO schemas (schema_name, definition_json, created_at) VALUES ('core.todo', '{}', '');
             INSERT INTO data_objects (schema_id, file_path, updated_at, created_at)
               VALUES (1, 'a.json#1', '', ''), (1, 'a.json#2', '', ''), (1, 'a.json#3', '', '');
             INSERT INTO object_permissions (object_id, share_with_ai, read_only, expires_unix)
               VALUES (1, 1, 0, NULL), (2, 0, 1, 100), (3, 0, 0, NULL);",
        )
        .unwrap();
        migrate(&conn).unwrap();
        let sql_of = |name: &str| -> String {
            conn.query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert!(sql_of("idx_permissions_ai").ends_with("WHERE share_with_ai = 1"));
        assert!(sql_of("idx_permissions_cloud").ends_with("WHERE share_with_cloud = 1"));
        assert!(sql_of("idx_permissions_read_only").ends_with("WHERE read_only = 1"));
        assert!(
            sql_of("idx_permissions_expires_order").ends_with("WHERE expires_unix IS NOT NULL")
        );
        let gone: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'idx_permissions_expires_sort'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(gone, 0);
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(
            count("SELECT COUNT(*) FROM object_permissions WHERE share_with_ai = 1"),
            1
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM object_permissions WHERE read_only = 1"),
            1
        );
        assert_eq!(
            count("SELECT COUNT(*) FROM object_permissions WHERE share_with_cloud = 1"),
            0
        );
        // Each count reads its partial index, not the table.
        let plan = crate::db::query_plan(
            &conn,
            "SELECT COUNT(*) FROM object_permissions WHERE read_only = 1",
            [],
        );
        assert!(
            plan.iter().any(|p| p.contains("idx_permissions_read_only")),
            "{plan:?}"
        );
    }
}
