//! Objects: `data_objects` and `object_content`. A new object gets a row in
//! `object_permissions` only when it takes over a grant that waited for its
//! key (see `db::permissions`).

use std::sync::OnceLock;

use rusqlite::{CachedStatement, Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

use crate::db::permissions::{permissions_from_row, take_orphan};
use crate::error::Result;
use crate::permissions::model::Permissions;

/// An object as the engine knows it (without its content).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRow {
    /// Row id.
    pub id: i64,
    /// The object key (`data_objects.file_path`).
    pub key: String,
    /// Schema name.
    pub schema_name: String,
    /// Vault-relative file that holds the object.
    pub source_path: String,
    /// Item id inside a collection file.
    pub item_id: Option<String>,
    /// Index of the item in its file.
    pub position: i64,
    /// Title or summary.
    pub title: String,
    /// Hash of the content JSON ([`crate::db::object_hash`]; BLAKE3 in older databases).
    pub content_hash: String,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Updated (RFC 3339).
    pub updated_at: String,
}

/// The seed's `VaultObject`, plus its key. `file_path` is the file the
/// object lives in.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VaultObject {
    /// Row id.
    pub id: i64,
    /// Stable key.
    pub key: String,
    /// Schema name.
    pub schema_name: String,
    /// The vault-relative file.
    pub file_path: Option<String>,
    /// Title or summary.
    pub title: String,
    /// Permissions.
    pub permissions: Permissions,
    /// Created.
    pub created_at: String,
    /// Updated.
    pub updated_at: String,
}

/// What `upsert` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upserted {
    /// A new object.
    Inserted(i64),
    /// Its content (or schema) changed.
    Updated(i64),
    /// Nothing changed but maybe its position.
    Unchanged(i64),
}

/// An object parsed from a file, ready to be written.
#[derive(Debug, Clone)]
pub struct NewObject<'a> {
    /// Key.
    pub key: &'a str,
    /// Schema row id.
    pub schema_id: i64,
    /// File.
    pub source_path: &'a str,
    /// Item id.
    pub item_id: Option<&'a str>,
    /// Index in the file.
    pub position: i64,
    /// Title or summary.
    pub title: &'a str,
    /// Content as compact JSON.
    pub content_json: &'a str,
    /// [`crate::db::object_hash`] of `content_json`.
    pub content_hash: &'a str,
    /// `created_at` from the content, if valid.
    pub created_at: Option<&'a str>,
    /// `updated_at` from the content, if valid.
    pub updated_at: Option<&'a str>,
}

const COLUMNS: &str = "o.id, o.file_path, s.schema_name, o.source_path, o.item_id, o.position, o.title, \
                       o.content_hash, o.created_at, o.updated_at";

fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<ObjectRow> {
    Ok(ObjectRow {
        id: r.get(0)?,
        key: r.get(1)?,
        schema_name: r.get(2)?,
        source_path: r.get(3)?,
        item_id: r.get(4)?,
        position: r.get(5)?,
        title: r.get(6)?,
        content_hash: r.get(7)?,
        created_at: r.get(8)?,
        updated_at: r.get(9)?,
    })
}

/// What [`upsert`] compares a parsed object with: an indexed object's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedObject {
    /// Row id.
    pub id: i64,
    /// Key.
    pub key: String,
    /// Hash of its content JSON ([`crate::db::object_hash`]; BLAKE3 in older databases).
    pub content_hash: String,
    /// Schema row id.
    pub schema_id: i64,
    /// Index in its file.
    pub position: i64,
    /// Created (RFC 3339).
    pub created_at: String,
}

const INDEXED_COLUMNS: &str = "id, file_path, content_hash, schema_id, position, created_at";

fn indexed_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IndexedObject> {
    Ok(IndexedObject {
        id: r.get(0)?,
        key: r.get(1)?,
        content_hash: r.get(2)?,
        schema_id: r.get(3)?,
        position: r.get(4)?,
        created_at: r.get(5)?,
    })
}

/// The objects of file `?1`, found in the UNIQUE index of keys: a file's
/// keys are its path (a whole-file object) or its path, `#` and an item id,
/// so they all lie in the key range from the path up to the path followed
/// by `$`, the character after `#`. That range can also hold keys of other
/// files whose names go on with a character below `$` (`a.md copy.md`);
/// `source_path` drops those. (`o.` names the row: every query that uses
/// this aliases `data_objects` as `o`.)
pub const IN_FILE: &str = "o.file_path >= ?1 AND o.file_path < ?1 || '$' AND o.source_path = ?1";

/// The indexed objects of file `source_path`, in file order: one query for
/// a whole file, where [`upsert`] looks each key up.
pub fn indexed_in_file(conn: &Connection, source_path: &str) -> Result<Vec<IndexedObject>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {INDEXED_COLUMNS} FROM data_objects o WHERE {IN_FILE} ORDER BY position"
    ))?;
    let rows = stmt.query_map([source_path], indexed_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Inserts or updates an object. A new object gets default permissions,
/// unless permissions.json already holds a grant for its key.
pub fn upsert(conn: &Connection, obj: &NewObject<'_>, now: &str) -> Result<Upserted> {
    let existing = conn
        .prepare_cached(&format!(
            "SELECT {INDEXED_COLUMNS} FROM data_objects WHERE file_path = ?1"
        ))?
        .query_row([obj.key], indexed_from_row)
        .optional()?;
    upsert_over(conn, existing.as_ref(), obj, now)
}

/// [`upsert`] when the caller has looked the key up already: `existing` is
/// the indexed object with `obj.key`, or `None` when there is none.
pub fn upsert_over(
    conn: &Connection,
    existing: Option<&IndexedObject>,
    obj: &NewObject<'_>,
    now: &str,
) -> Result<Upserted> {
    match existing {
        Some(row)
            if row.schema_id == obj.schema_id
                && crate::db::same_object_content(
                    &row.content_hash,
                    obj.content_json,
                    obj.content_hash,
                ) =>
        {
            // An older (BLAKE3) hash is replaced once it has matched, so
            // that the object is not hashed twice on every later look.
            if row.position != obj.position || row.content_hash != obj.content_hash {
                conn.prepare_cached(
                    "UPDATE data_objects SET position = ?2, content_hash = ?3 WHERE id = ?1",
                )?
                .execute(params![row.id, obj.position, obj.content_hash])?;
            }
            Ok(Upserted::Unchanged(row.id))
        }
        Some(row) => {
            conn.prepare_cached(
                "UPDATE data_objects SET schema_id = ?2, source_path = ?3, item_id = ?4, position = ?5,
                   title = ?6, title_key = ?10, content_hash = ?7, created_at = ?8,
                   updated_at = ?9 WHERE id = ?1",
            )?
            .execute(params![
                row.id,
                obj.schema_id,
                obj.source_path,
                obj.item_id,
                obj.position,
                obj.title,
                obj.content_hash,
                obj.created_at.unwrap_or(&row.created_at),
                obj.updated_at.unwrap_or(now),
                title_key(obj.title),
            ])?;
            conn.prepare_cached(
                "UPDATE object_content SET content_json = ?2 WHERE object_id = ?1",
            )?
            .execute(params![row.id, obj.content_json])?;
            Ok(Upserted::Updated(row.id))
        }
        None => {
            let id = insert_fresh(conn, obj, now)?.ok_or_else(|| {
                crate::error::NexusError::Sync(format!(
                    "object {} appeared while it was being inserted",
                    obj.key
                ))
            })?;
            // Without a waiting grant the object has the defaults, which
            // need no row.
            if let Some(perms) = take_orphan(conn, obj.key)?
                && perms != Permissions::default()
            {
                crate::db::permissions::insert(conn, id, &perms)?;
            }
            Ok(Upserted::Inserted(id))
        }
    }
}

/// Inserts a new object's `data_objects` and `object_content` rows; `None`
/// (and nothing written) when its key is taken. Unlike [`upsert`], it does
/// not look for a grant that waited for the key: a bulk load uses it only
/// when there is none (see `db::bulk_load`).
pub fn insert_fresh(conn: &Connection, obj: &NewObject<'_>, now: &str) -> Result<Option<i64>> {
    Ok(insert_fresh_many(conn, std::slice::from_ref(obj), now)?
        .pop()
        .flatten())
}

/// Most rows per statement in [`insert_fresh_many`]. Every INSERT into the
/// AUTOINCREMENT table `data_objects` reads and writes `sqlite_sequence`
/// once per statement, not per row, and every statement costs a step
/// through rusqlite and a reset, so rows share statements. Not more: SQLite
/// copies each bound string into memory of its own, which comes from the
/// connection's small lookaside pool while that lasts and from `malloc`
/// after; with 32 rows per statement the writer ran 5% longer (callgrind).
const ROWS_PER_INSERT: usize = 10;

/// The row counts of the statements that insert `rows` rows: as many of
/// [`ROWS_PER_INSERT`] as fit, then powers of two for the rest, so that a
/// few statements (five sizes per table) serve every count, each prepared
/// once per call.
fn batch_sizes(rows: usize) -> impl Iterator<Item = usize> {
    let mut left = rows;
    std::iter::from_fn(move || {
        let size = match left {
            0 => return None,
            n if n >= ROWS_PER_INSERT => ROWS_PER_INSERT,
            n => 1 << n.ilog2(),
        };
        left -= size;
        Some(size)
    })
}

/// [`insert_fresh`] for many objects, several rows per statement. Returns
/// each object's new id, or `None` where its key was taken (nothing of it
/// written).
pub fn insert_fresh_many(
    conn: &Connection,
    objects: &[NewObject<'_>],
    now: &str,
) -> Result<Vec<Option<i64>>> {
    let mut ids = Vec::with_capacity(objects.len());
    let mut rest = objects;
    // The statements of each size, taken from rusqlite's cache once per
    // call rather than once per batch: each trip hashes the SQL twice and
    // unbinds every parameter.
    let mut object_inserts: Vec<(usize, CachedStatement<'_>)> = Vec::new();
    let mut content_inserts: Vec<(usize, CachedStatement<'_>)> = Vec::new();
    for size in batch_sizes(objects.len()) {
        let (batch, after) = rest.split_at(size);
        rest = after;
        let insert = statement_of_size(conn, &mut object_inserts, size, insert_objects_sql)?;
        // Without created_at, now; without updated_at, created_at. The
        // title key is made here, not by `lower()` in the statement: a
        // function call may fail, so a multi-row statement that has one
        // needs a statement journal (it tripled the pages written).
        let derived: Vec<(&str, &str, String)> = batch
            .iter()
            .map(|obj| {
                let created = obj.created_at.unwrap_or(now);
                (
                    created,
                    obj.updated_at.unwrap_or(created),
                    title_key(obj.title),
                )
            })
            .collect();
        let mut values: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(batch.len() * 10);
        for (obj, (created, updated, title_key)) in batch.iter().zip(&derived) {
            values.extend([
                &obj.schema_id as &dyn rusqlite::ToSql,
                &obj.key,
                updated,
                created,
                &obj.source_path,
                &obj.item_id,
                &obj.position,
                &obj.title,
                &obj.content_hash,
                title_key,
            ]);
        }
        let inserted = insert.execute(values.as_slice())?;
        let start = ids.len();
        if inserted == batch.len() {
            // Every key was free. AUTOINCREMENT gives each new row one more
            // than the highest id ever used, so the rows got consecutive ids
            // in the order of the VALUES. (Cheaper than RETURNING, which
            // goes through a temporary table: an eighth of a bulk load's
            // writer under callgrind.)
            let last = conn.last_insert_rowid();
            ids.extend(
                (0..inserted)
                    .rev()
                    .map(|back| Some(last - i64::try_from(back).unwrap_or(i64::MAX))),
            );
        } else {
            ids.extend(match_inserted(conn, batch, inserted)?);
        }
        let inserted: Vec<(i64, &str)> = ids[start..]
            .iter()
            .zip(batch)
            .filter_map(|(id, obj)| id.map(|id| (id, obj.content_json)))
            .collect();
        if inserted.is_empty() {
            continue;
        }
        let content = statement_of_size(
            conn,
            &mut content_inserts,
            inserted.len(),
            insert_content_sql,
        )?;
        let values: Vec<&dyn rusqlite::ToSql> = inserted
            .iter()
            .flat_map(|(id, json)| [id as &dyn rusqlite::ToSql, json])
            .collect();
        content.execute(values.as_slice())?;
    }
    Ok(ids)
}

/// The statement of `rows` rows from `held` (statements already taken from
/// the cache), taking it from the connection's cache the first time.
fn statement_of_size<'c, 'h>(
    conn: &'c Connection,
    held: &'h mut Vec<(usize, CachedStatement<'c>)>,
    rows: usize,
    sql: fn(usize) -> &'static str,
) -> Result<&'h mut CachedStatement<'c>> {
    let at = match held.iter().position(|(size, _)| *size == rows) {
        Some(at) => at,
        None => {
            held.push((rows, conn.prepare_cached(sql(rows))?));
            held.len() - 1
        }
    };
    Ok(&mut held[at].1)
}

/// The ids of `batch`'s objects after an insert that wrote `inserted` of
/// them and skipped the rest (their keys were taken): `None` for those.
/// AUTOINCREMENT gives new rows ids above every id used before, so the
/// rows that insert wrote are the `inserted` highest; each is matched to
/// its object by key, once. A key given twice went in once (the second
/// met the first's conflict): the second gets `None`, like a taken key.
fn match_inserted(
    conn: &Connection,
    batch: &[NewObject<'_>],
    inserted: usize,
) -> Result<Vec<Option<i64>>> {
    let written: Vec<(i64, String)> = conn
        .prepare_cached("SELECT id, file_path FROM data_objects ORDER BY id DESC LIMIT ?1")?
        .query_map([i64::try_from(inserted).unwrap_or(i64::MAX)], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?
        .collect::<rusqlite::Result<_>>()?;
    let mut matched = vec![false; written.len()];
    Ok(batch
        .iter()
        .map(|obj| {
            let row = written
                .iter()
                .enumerate()
                .find(|(i, (_, key))| !matched[*i] && key == obj.key);
            row.map(|(i, (id, _))| {
                matched[i] = true;
                *id
            })
        })
        .collect())
}

/// Inserts `rows` objects into `data_objects`, skipping those whose key is
/// taken. `OR FAIL` rather than the default `ABORT`: a
/// statement that may abort after writing some of its rows needs a
/// statement journal, which copies every page it touches (see
/// `db::bulk_load`). A failing row still fails the statement, and the
/// caller's transaction is rolled back.
pub(crate) fn insert_objects_sql(rows: usize) -> &'static str {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    statement_for(&SQL, rows, |rows| {
        format!(
            "INSERT OR FAIL INTO data_objects (schema_id, file_path, updated_at, created_at,
               source_path, item_id, position, title, content_hash, title_key) VALUES {}
             ON CONFLICT (file_path) DO NOTHING",
            vec!["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"; rows].join(",")
        )
    })
}

/// The grid's sort key of a title (`data_objects.title_key`): ASCII
/// letters in lower case, as SQLite's `lower()` and `COLLATE NOCASE` fold
/// them.
pub fn title_key(title: &str) -> String {
    title.to_ascii_lowercase()
}

/// Inserts `rows` rows into `object_content` (`OR FAIL`, as
/// [`insert_objects_sql`]).
pub(crate) fn insert_content_sql(rows: usize) -> &'static str {
    static SQL: OnceLock<Vec<String>> = OnceLock::new();
    statement_for(&SQL, rows, |rows| {
        format!(
            "INSERT OR FAIL INTO object_content (object_id, content_json) VALUES {}",
            vec!["(?, ?)"; rows].join(",")
        )
    })
}

/// The SQL `make` writes for `rows` rows (1 to [`ROWS_PER_INSERT`]), made
/// once per process: the writer asks for it with every statement.
fn statement_for(
    cache: &'static OnceLock<Vec<String>>,
    rows: usize,
    make: fn(usize) -> String,
) -> &'static str {
    let all = cache.get_or_init(|| (0..=ROWS_PER_INSERT).map(make).collect());
    all.get(rows).map_or("", String::as_str)
}

/// The object with key `key`.
pub fn get_by_key(conn: &Connection, key: &str) -> Result<Option<ObjectRow>> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM data_objects o JOIN schemas s ON s.id = o.schema_id WHERE o.file_path = ?1"
        ))?
        .query_row([key], from_row)
        .optional()?)
}

/// The objects of file `source_path`, in file order.
pub fn in_file(conn: &Connection, source_path: &str) -> Result<Vec<ObjectRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM data_objects o JOIN schemas s ON s.id = o.schema_id
         WHERE {IN_FILE} ORDER BY o.position"
    ))?;
    let rows = stmt.query_map([source_path], from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The content of object `id`.
pub fn content(conn: &Connection, id: i64) -> Result<Option<Value>> {
    let text: Option<String> = conn
        .prepare_cached("SELECT content_json FROM object_content WHERE object_id = ?1")?
        .query_row([id], |r| r.get(0))
        .optional()?;
    Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
}

/// Deletes object `id` (its content and permissions go with it).
pub fn delete(conn: &Connection, id: i64) -> Result<()> {
    conn.prepare_cached("DELETE FROM data_objects WHERE id = ?1")?
        .execute([id])?;
    Ok(())
}

/// Moves every object of file `from` to file `to`, re-keying them. Their
/// row ids, created_at and permissions stay. Returns `(old key, new key)`.
pub fn rename_file(conn: &Connection, from: &str, to: &str) -> Result<Vec<(String, String)>> {
    let moved: Vec<(i64, String)> = {
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT id, file_path FROM data_objects o WHERE {IN_FILE}"
        ))?;
        let rows = stmt.query_map([from], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<Result<_, _>>()?
    };
    let mut out = Vec::with_capacity(moved.len());
    let mut update = conn
        .prepare_cached("UPDATE data_objects SET file_path = ?2, source_path = ?3 WHERE id = ?1")?;
    for (id, old_key) in moved {
        let Some(new_key) = crate::vault::keys::rekey(&old_key, from, to) else {
            continue;
        };
        update.execute(params![id, new_key, to])?;
        out.push((old_key, new_key));
    }
    Ok(out)
}

/// Every object with its permissions, optionally of one schema, ordered by
/// key.
pub fn list(conn: &Connection, schema_name: Option<&str>) -> Result<Vec<VaultObject>> {
    let sql = format!(
        "SELECT o.id, o.file_path, s.schema_name, o.source_path, o.title, o.created_at, o.updated_at,
                p.share_with_ai, p.share_with_cloud, p.read_only, p.expires_at
         FROM data_objects o JOIN schemas s ON s.id = o.schema_id
         LEFT JOIN object_permissions p ON p.object_id = o.id
         {} ORDER BY o.file_path",
        if schema_name.is_some() { "WHERE s.schema_name = ?1" } else { "" }
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let map = |r: &rusqlite::Row<'_>| {
        Ok(VaultObject {
            id: r.get(0)?,
            key: r.get(1)?,
            schema_name: r.get(2)?,
            file_path: Some(r.get(3)?),
            title: r.get(4)?,
            created_at: r.get(5)?,
            updated_at: r.get(6)?,
            permissions: permissions_from_row(r, 7)?,
        })
    };
    let rows = match schema_name {
        Some(name) => stmt
            .query_map([name], map)?
            .collect::<Result<Vec<_>, _>>()?,
        None => stmt.query_map([], map)?.collect::<Result<Vec<_>, _>>()?,
    };
    Ok(rows)
}

/// Keys of every object, optionally of one schema.
pub fn keys(conn: &Connection, schema_name: Option<&str>) -> Result<Vec<String>> {
    let mut out = Vec::new();
    match schema_name {
        Some(name) => {
            let mut stmt = conn.prepare_cached(
                "SELECT o.file_path FROM data_objects o JOIN schemas s ON s.id = o.schema_id
                 WHERE s.schema_name = ?1 ORDER BY o.file_path",
            )?;
            for key in stmt.query_map([name], |r| r.get(0))? {
                out.push(key?);
            }
        }
        None => {
            let mut stmt =
                conn.prepare_cached("SELECT file_path FROM data_objects ORDER BY file_path")?;
            for key in stmt.query_map([], |r| r.get(0))? {
                out.push(key?);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory database with schema 1, `t`, for objects to name.
    fn conn_with_schema() -> Connection {
        let conn = crate::db::open_in_memory().unwrap();
        conn.execute(
            "INSERT INTO schemas (id, schema_name, definition_json, created_at) VALUES (1, 't', '{}', '')",
            [],
        )
        .unwrap();
        conn
    }

    fn new_object<'a>(key: &'a str, content: &'a str) -> NewObject<'a> {
        NewObject {
            key,
            schema_id: 1,
            source_path: "t.json",
            item_id: Some(key),
            position: 0,
            title: key,
            content_json: content,
            content_hash: content,
            created_at: None,
            updated_at: Some("2025-01-16T08:00:00Z"),
        }
    }

    /// Many rows per statement: each object gets its own id and content,
    /// a taken key gets `None` and writes nothing, and the timestamps fall
    /// back as documented.
    #[test]
    fn insert_fresh_many_matches_ids_to_keys_and_skips_taken_keys() {
        let conn = conn_with_schema();
        let taken = insert_fresh(&conn, &new_object("k7", "old"), "NOW")
            .unwrap()
            .unwrap();
        let keys: Vec<String> = (0..23).map(|i| format!("k{i}")).collect();
        let contents: Vec<String> = keys.iter().map(|k| format!("{{\"of\":\"{k}\"}}")).collect();
        let objects: Vec<NewObject<'_>> = keys
            .iter()
            .zip(&contents)
            .map(|(k, c)| new_object(k, c))
            .collect();
        let ids = insert_fresh_many(&conn, &objects, "NOW").unwrap();
        assert_eq!(ids.len(), 23);
        assert_eq!(ids[7], None, "k7 was taken");
        for (i, id) in ids.iter().enumerate() {
            let Some(id) = id else { continue };
            let (key, content, created, updated): (String, String, String, String) = conn
                .query_row(
                    "SELECT o.file_path, c.content_json, o.created_at, o.updated_at
                     FROM data_objects o JOIN object_content c ON c.object_id = o.id WHERE o.id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .unwrap();
            assert_eq!(key, keys[i]);
            assert_eq!(content, contents[i]);
            assert_eq!(created, "NOW");
            assert_eq!(updated, "2025-01-16T08:00:00Z");
        }
        let old: String = conn
            .query_row(
                "SELECT content_json FROM object_content WHERE object_id = ?1",
                [taken],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(old, "old");
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM object_content", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 23);
    }

    /// New rows get ids above deleted ones, and each id still names its
    /// own object (the ids are worked out, not returned by SQLite).
    #[test]
    fn insert_fresh_many_ids_are_right_after_deletes() {
        let conn = conn_with_schema();
        let first: Vec<String> = (0..10).map(|i| format!("a{i}")).collect();
        let objects: Vec<NewObject<'_>> = first.iter().map(|k| new_object(k, k)).collect();
        let ids = insert_fresh_many(&conn, &objects, "NOW").unwrap();
        let highest = ids.iter().flatten().max().copied().unwrap();
        conn.execute("DELETE FROM data_objects WHERE id > ?1", [highest - 3])
            .unwrap();
        let second: Vec<String> = (0..12).map(|i| format!("b{i}")).collect();
        let objects: Vec<NewObject<'_>> = second.iter().map(|k| new_object(k, k)).collect();
        let ids = insert_fresh_many(&conn, &objects, "NOW").unwrap();
        for (id, key) in ids.iter().zip(&second) {
            let id = id.unwrap();
            assert!(id > highest, "{id} reuses a deleted id");
            let (stored, content): (String, String) = conn
                .query_row(
                    "SELECT o.file_path, c.content_json FROM data_objects o
                     JOIN object_content c ON c.object_id = o.id WHERE o.id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            assert_eq!((&stored, &content), (key, key));
        }
    }

    /// A key given twice in one call goes in once, with the first content;
    /// the second is reported as not inserted, like a taken key.
    #[test]
    fn insert_fresh_many_inserts_a_repeated_key_once() {
        let conn = conn_with_schema();
        let objects = [
            new_object("a", "first"),
            new_object("b", "b"),
            new_object("a", "second"),
        ];
        let ids = insert_fresh_many(&conn, &objects, "NOW").unwrap();
        assert!(ids[0].is_some() && ids[1].is_some());
        assert_eq!(ids[2], None);
        let content: String = conn
            .query_row(
                "SELECT content_json FROM object_content WHERE object_id = ?1",
                [ids[0].unwrap()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(content, "first");
    }

    /// A file's objects come from the range of its keys in the UNIQUE key
    /// index (no scan of the table), in file order, and only its own:
    /// files whose names merely start with its path are not among them.
    #[test]
    fn objects_of_a_file_are_a_key_range_of_that_file_only() {
        let conn = conn_with_schema();
        // (key, file, position); inserted out of order.
        let rows = [
            ("t.json#2", "t.json", 1),
            ("t.json copy.json#1", "t.json copy.json", 0),
            ("t.json#10", "t.json", 0),
            ("t.json!.md", "t.json!.md", 0),
            ("t.json", "t.json", 9),
            ("t.jsonl.json#1", "t.jsonl.json", 0),
            ("s.json#1", "s.json", 0),
        ];
        for (key, file, position) in rows {
            let obj = NewObject {
                source_path: file,
                position,
                ..new_object(key, key)
            };
            insert_fresh(&conn, &obj, "NOW").unwrap().unwrap();
        }
        let keys = |objects: Vec<IndexedObject>| -> Vec<String> {
            objects.into_iter().map(|o| o.key).collect()
        };
        assert_eq!(
            keys(indexed_in_file(&conn, "t.json").unwrap()),
            ["t.json#10", "t.json#2", "t.json"]
        );
        let rows: Vec<String> = in_file(&conn, "t.json")
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(rows, ["t.json#10", "t.json#2", "t.json"]);
        assert_eq!(
            keys(indexed_in_file(&conn, "t.json copy.json").unwrap()),
            ["t.json copy.json#1"]
        );
        assert!(indexed_in_file(&conn, "t.jso").unwrap().is_empty());

        let plan = crate::db::query_plan(
            &conn,
            &format!("SELECT id FROM data_objects o WHERE {IN_FILE}"),
            ["t.json"],
        );
        assert!(
            plan.iter()
                .any(|p| p.contains("SEARCH") && p.contains("sqlite_autoindex_data_objects_1")),
            "{plan:?}"
        );

        let moved = rename_file(&conn, "t.json", "u.json").unwrap();
        assert_eq!(moved.len(), 3, "{moved:?}");
        assert_eq!(
            keys(indexed_in_file(&conn, "u.json").unwrap()),
            ["u.json#10", "u.json#2", "u.json"]
        );
        assert_eq!(
            keys(indexed_in_file(&conn, "t.json copy.json").unwrap()),
            ["t.json copy.json#1"],
            "a file whose name starts with the renamed one stays"
        );
    }

    /// An object indexed when object hashes were BLAKE3 is not reported
    /// changed when its content is the same (its hash is brought up to
    /// date), and is updated when its content is not.
    #[test]
    fn an_object_with_an_older_hash_is_unchanged_until_its_content_changes() {
        let conn = conn_with_schema();
        let content = r#"{"id":1,"text":"a"}"#;
        let legacy = crate::db::hash_bytes(content.as_bytes());
        let old = NewObject {
            content_hash: &legacy,
            ..new_object("t.json#1", content)
        };
        upsert(&conn, &old, "NOW").unwrap();
        let hash = crate::db::object_hash(content);
        let same = NewObject {
            content_hash: &hash,
            ..new_object("t.json#1", content)
        };
        assert!(matches!(
            upsert(&conn, &same, "NOW").unwrap(),
            Upserted::Unchanged(_)
        ));
        let stored: String = conn
            .query_row(
                "SELECT content_hash FROM data_objects WHERE file_path = 't.json#1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(stored, hash, "the older hash is replaced once it matched");
        let changed_content = r#"{"id":1,"text":"b"}"#;
        let changed_hash = crate::db::object_hash(changed_content);
        let changed = NewObject {
            content_hash: &changed_hash,
            ..new_object("t.json#1", changed_content)
        };
        assert!(matches!(
            upsert(&conn, &changed, "NOW").unwrap(),
            Upserted::Updated(_)
        ));
        let (stored, json): (String, String) = conn
            .query_row(
                "SELECT o.content_hash, c.content_json FROM data_objects o
                 JOIN object_content c ON c.object_id = o.id WHERE o.file_path = 't.json#1'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(stored, changed_hash);
        assert_eq!(json, changed_content);
    }

    /// Every write of a title writes its sort key (ASCII letters folded),
    /// in single and multi-row inserts and in updates, and the grid's title
    /// order is case-insensitive.
    #[test]
    fn title_keys_follow_titles_and_sort_case_insensitively() {
        let conn = conn_with_schema();
        let titled = |key: &'static str, title: &'static str| NewObject {
            title,
            ..new_object(key, "{}")
        };
        insert_fresh_many(
            &conn,
            &[
                titled("t.json#1", "banana"),
                titled("t.json#2", "Apple"),
                titled("t.json#3", "Éclair"),
            ],
            "NOW",
        )
        .unwrap();
        upsert(&conn, &titled("t.json#4", "CHERRY pie"), "NOW").unwrap();
        let changed = NewObject {
            content_hash: "other",
            ..titled("t.json#1", "Banana Split")
        };
        assert!(matches!(
            upsert(&conn, &changed, "NOW").unwrap(),
            Upserted::Updated(_)
        ));
        let rows: Vec<(String, String)> = conn
            .prepare("SELECT title, title_key FROM data_objects ORDER BY title_key, id")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let expected = [
            ("Apple", "apple"),
            ("Banana Split", "banana split"),
            ("CHERRY pie", "cherry pie"),
            ("Éclair", "Éclair"),
        ];
        assert_eq!(rows, expected.map(|(t, k)| (t.to_string(), k.to_string())));
    }

    /// Any number of rows goes in as statements of a few sizes, which add
    /// up to the rows, largest first.
    #[test]
    fn batches_cover_every_row_with_few_statement_sizes() {
        let mut sizes_used = std::collections::BTreeSet::new();
        for rows in 0..200 {
            let sizes: Vec<usize> = batch_sizes(rows).collect();
            assert_eq!(sizes.iter().sum::<usize>(), rows, "{rows}: {sizes:?}");
            assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{rows}: {sizes:?}");
            sizes_used.extend(sizes);
        }
        // The powers of two below the largest size, and the largest.
        let mut expected: Vec<usize> = (0..)
            .map(|k| 1 << k)
            .take_while(|&n| n < ROWS_PER_INSERT)
            .collect();
        expected.push(ROWS_PER_INSERT);
        assert_eq!(sizes_used.into_iter().collect::<Vec<_>>(), expected);
    }
}
