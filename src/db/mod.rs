//! The SQLite index: connection set-up, migrations, and the queries the
//! engine runs. The database is a cache of the files (plus the permission
//! state, which is mirrored in `.nexus/permissions.json`): it can always be
//! rebuilt from the vault.

pub mod bulk_load;
pub mod checkpointer;
pub mod files;
pub mod merge_base;
pub mod migrations;
pub mod objects;
pub mod permissions;
pub mod problems;
pub mod recovery;
pub mod schemas;
pub mod state;
pub mod stats;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::Result;

/// How long a statement waits for another process's write lock before it
/// gives up. Long enough that a CLI command beside a busy watcher never sees
/// "database is locked".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// Opens (creating if needed) the vault database at `path`: WAL journal,
/// foreign keys on, a busy timeout, and migrations applied.
pub fn open(path: &Path) -> Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    configure(&conn)?;
    migrations::migrate(&conn)?;
    Ok(conn)
}

/// Opens an in-memory database with the vault schema, for tests.
pub fn open_in_memory() -> Result<Connection> {
    let conn = Connection::open_in_memory()?;
    configure(&conn)?;
    migrations::migrate(&conn)?;
    Ok(conn)
}

fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // Room for every statement the engine repeats, the multi-row inserts
    // of a bulk load (one per row count) included; the default is 16.
    conn.set_prepared_statement_cache_capacity(64);
    stable_plans(conn)?;
    // 8 KiB pages for a new database (an existing one keeps its size: in
    // WAL mode SQLite ignores this). Each page a commit writes costs the
    // WAL two system calls, and a first index writes every page of the
    // database that way and checkpoints it again: with 8 KiB pages a cold
    // index of 101,000 objects ran about 10% faster than with 4 KiB. With
    // 16 KiB it ran 6% faster again, but a permission toggle (B7), whose
    // commit writes a few whole pages and checksums them into the WAL,
    // went from 1.36x to 1.46x the time of replacing permissions.json
    // alone (paired runs; the target is 1.5x). Before journal_mode, which
    // creates the file.
    conn.execute_batch("PRAGMA page_size = 8192;")?;
    // journal_mode returns a row, so it is read rather than executed.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         PRAGMA synchronous = NORMAL;
         PRAGMA temp_store = MEMORY;",
    )?;
    Ok(())
}

/// Turns on SQLite's query planner stability guarantee: a statement's plan
/// never depends on the values bound to it. Without it, SQLite marks some
/// statements (joins with `object_permissions`, which has partial indexes)
/// as depending on their parameters, and every reuse of a cached statement
/// re-parses and re-plans it: tens of microseconds on each grid page, gate
/// check and permission toggle. Every plan the engine relies on is chosen
/// from the SQL alone (the plan tests check them).
pub fn stable_plans(conn: &Connection) -> Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    Ok(())
}

/// Begins an IMMEDIATE transaction: it takes the write lock at once, so two
/// processes never deadlock upgrading read transactions.
pub fn begin(conn: &Connection) -> Result<rusqlite::Transaction<'_>> {
    Ok(rusqlite::Transaction::new_unchecked(
        conn,
        rusqlite::TransactionBehavior::Immediate,
    )?)
}

/// The current time as RFC 3339 (UTC, seconds).
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// BLAKE3 of `bytes`, 64 hex digits: the hash earlier versions recorded
/// for files and objects (still compared, see [`matches_stored_hash`]),
/// and the stable suffix of a new note's file name.
pub fn hash_bytes(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// The hash an object's content JSON is compared by, to tell whether it
/// changed: [`fingerprint`]. BLAKE3 of every item was a fifteenth of a
/// cold index's reader thread. Databases indexed before this stored
/// BLAKE3 here (64 hex digits); see [`same_object_content`].
pub fn object_hash(content_json: &str) -> String {
    fingerprint(content_json.as_bytes())
}

/// The hash a file's bytes are recorded by in `files`, to tell whether
/// the file changed and to pair a gone file with its renamed self:
/// [`fingerprint`]. BLAKE3 of each file was a twentieth of a cold index's
/// reader thread. Databases indexed before this recorded BLAKE3 (64 hex
/// digits); see [`matches_stored_hash`].
pub fn file_hash(bytes: &[u8]) -> String {
    fingerprint(bytes)
}

/// XXH3-128 of `bytes`, 32 hex digits: the hash of what is only ever
/// compared with this app's own earlier hash of it (a file, an object's
/// content, permissions.json), where BLAKE3's strength buys nothing. On a
/// toggle (B7), BLAKE3 of the rewritten permissions.json was a third of
/// the instructions beyond writing the file.
pub fn fingerprint(bytes: &[u8]) -> String {
    // The same digits as `format!("{:032x}")`, without the formatting
    // machinery, which cost as much as the hash itself (callgrind).
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let hash = xxhash_rust::xxh3::xxh3_128(bytes);
    let mut hex = String::with_capacity(32);
    for byte in hash.to_be_bytes() {
        hex.push(char::from(DIGITS[usize::from(byte >> 4)]));
        hex.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    hex
}

/// Whether `stored`, an object's stored hash, is the hash of
/// `content_json`, whose [`object_hash`] is `hash`. A stored hash of 64
/// hex digits is BLAKE3 (written before [`object_hash`]), and is checked
/// as such, so that an upgrade does not make every object look changed.
pub fn same_object_content(stored: &str, content_json: &str, hash: &str) -> bool {
    matches_stored_hash(stored, content_json.as_bytes(), hash)
}

/// Whether `stored`, a hash recorded for `bytes`' file or object, is their
/// hash, given `hash`, their hash now ([`file_hash`], [`object_hash`]). A
/// stored hash of 64 hex digits was recorded by an earlier version
/// (BLAKE3) and is checked as such, so that an upgrade does not make every
/// file and object look changed.
pub fn matches_stored_hash(stored: &str, bytes: &[u8], hash: &str) -> bool {
    if stored.len() == 64 {
        stored == hash_bytes(bytes)
    } else {
        stored == hash
    }
}

/// The steps of SQLite's plan for `sql` with `params` (the detail column
/// of `EXPLAIN QUERY PLAN`), for tests that check an index is read.
#[cfg(test)]
pub(crate) fn query_plan(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
) -> Vec<String> {
    #[allow(clippy::unwrap_used)]
    conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .query_map(params, |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pragmas_are_set() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open(&dir.path().join("v.sqlite")).unwrap();
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert_eq!(fk, 1);
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, migrations::LATEST);
        let page_size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(page_size, 8192, "a new database has 8 KiB pages");
    }

    /// An object's hash tells contents apart, and a BLAKE3 hash stored
    /// before object hashes were XXH3 still counts as the same content.
    #[test]
    fn object_hashes_and_older_stored_hashes_compare() {
        let (a, b) = (r#"{"id":1,"text":"a"}"#, r#"{"id":1,"text":"b"}"#);
        let hash_a = object_hash(a);
        assert_eq!(hash_a.len(), 32);
        assert!(hash_a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(hash_a, object_hash(a));
        assert_ne!(hash_a, object_hash(b));
        // The digits earlier builds stored with `format!`, so that stored
        // hashes still match.
        for text in [a, b, "", "é", "[1,2,3]"] {
            let formatted = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(text.as_bytes()));
            assert_eq!(object_hash(text), formatted);
        }
        assert!(same_object_content(&hash_a, a, &hash_a));
        assert!(!same_object_content(&object_hash(b), a, &hash_a));
        let legacy = hash_bytes(a.as_bytes());
        assert!(same_object_content(&legacy, a, &hash_a));
        assert!(!same_object_content(&legacy, b, &object_hash(b)));
    }

    /// A database made with 4 KiB pages (before they became 8 KiB) opens,
    /// migrates and keeps its pages.
    #[test]
    fn an_older_database_keeps_its_page_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.sqlite");
        {
            let old = Connection::open(&path).unwrap();
            old.execute_batch("PRAGMA page_size = 4096; PRAGMA journal_mode = WAL;")
                .unwrap();
            migrations::migrate(&old).unwrap();
        }
        let conn = open(&path).unwrap();
        let page_size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .unwrap();
        assert_eq!(page_size, 4096);
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }

    /// A cached statement that joins `object_permissions` is reused as it
    /// is, not parsed and planned again on every call (see
    /// [`stable_plans`]).
    #[test]
    fn cached_statements_are_not_planned_again() {
        let conn = open_in_memory().unwrap();
        for i in 0..5 {
            let key = format!("todos.json#{i}");
            permissions::of_key(&conn, &key).unwrap();
            permissions::get(&conn, i).unwrap();
        }
        for sql in [
            "SELECT o.id, p.share_with_ai, p.share_with_cloud, p.read_only, p.expires_at
             FROM data_objects o LEFT JOIN object_permissions p ON p.object_id = o.id
             WHERE o.file_path = ?1",
            "SELECT share_with_ai, share_with_cloud, read_only, expires_at FROM object_permissions WHERE object_id = ?1",
        ] {
            let stmt = conn.prepare_cached(sql).unwrap();
            let runs = stmt.get_status(rusqlite::StatementStatus::Run);
            let again = stmt.get_status(rusqlite::StatementStatus::RePrepare);
            assert_eq!((runs, again), (5, 0), "{sql}");
        }
    }
}
