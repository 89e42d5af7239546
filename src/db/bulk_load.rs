//! Bulk loading: a first index of a large vault into an empty database,
//! without the per-row insert triggers (benchmark B1).
//!
//! Every insert into `data_objects` or `object_permissions` fires a trigger
//! that keeps `counters` up to date. A statement whose trigger writes
//! another table must be undoable on its own, so SQLite copies each page it
//! touches into a statement journal first: that copying, not the counter
//! update itself, made the triggers a fifth of a cold index.
//!
//! During a bulk load the insert triggers are dropped and each chunk's
//! transaction adds its own rows to the counters instead (`add_chunk`), so
//! readers see right counts after every commit, as before. The dropped
//! triggers' SQL is kept in `sync_state` in the same transaction that drops
//! them; `finish` puts them back from there. A load that stops half-way (a
//! crash, an error) leaves that row behind, and `repair`, run whenever an
//! engine opens the database or starts a reconcile, puts the triggers back
//! and recounts everything from the tables.
//!
//! Only inserts go without triggers, and only while the indexer holds the
//! vault's write lock; deletes and updates keep theirs. A bulk load starts
//! only on an empty database, where nothing it does can update or delete a
//! row it inserted. A first grant is an insert too (an object with the
//! default permissions has no row), and a writer outside the engine (the
//! `sqlite3` shell) does not take the lock, so `finish` recounts the flag
//! counters from their partial indexes: a few reads of the shared objects.
//!
//! The load's multi-row inserts would still need a statement journal: a
//! statement that writes several rows and may abort half-way (on an
//! immediate foreign key or a NOT NULL column) must be undoable on its own,
//! so SQLite copied every page those inserts touched, a sixth of the
//! writer's instructions (callgrind). So they are `INSERT OR FAIL`, which
//! stops at a bad row without undoing the rows before it (the indexer then
//! rolls the whole chunk back), and foreign keys are off on the loading
//! connection until the load ends: the load writes only ids it has just
//! read (object ids returned by the insert, schema ids of the registry), so
//! no check could fail. `finish` and `repair` turn them back on, and every
//! other connection (and the next process) has them on throughout.

use rusqlite::{Connection, OptionalExtension, params};

use crate::db;
use crate::error::{NexusError, Result};

/// The triggers a bulk load goes without: every per-row insert trigger.
const INSERT_TRIGGERS: [&str; 3] = [
    "counters_objects_insert",
    "counters_permissions_insert",
    "permissions_generation_insert",
];

/// `sync_state` name under which the dropped triggers' SQL is kept.
const STATE_NAME: &str = "bulk_load_dropped_triggers";

/// Whether a permission row is not the defaults (what the file lists).
const NOT_DEFAULT: &str =
    "(share_with_ai OR share_with_cloud OR read_only OR expires_at IS NOT NULL)";

/// Counts the permission rows above object id ?1 that are not the
/// defaults, by flag, and in all. Only such rows count towards a flag, and
/// they are the rows of the partial index `idx_permissions_not_default`,
/// so this is a seek; summing every new row instead was 5% of a cold
/// index.
fn count_new_grants_sql() -> String {
    format!(
        "SELECT ifnull(SUM(share_with_ai = 1), 0), ifnull(SUM(share_with_cloud = 1), 0),
                ifnull(SUM(read_only = 1), 0), COUNT(*)
         FROM object_permissions WHERE object_id > ?1 AND {NOT_DEFAULT}"
    )
}

/// A bulk load under way.
#[derive(Debug)]
pub struct BulkLoad {
    /// The highest object id counted so far.
    counted_up_to: i64,
    /// No orphan grant waits for a key: new objects can be inserted
    /// without looking for one (see [`BulkLoad::fresh_inserts`]).
    fresh_inserts: bool,
}

/// Starts a bulk load: drops the insert triggers, keeping their SQL, and
/// turns foreign keys off on `conn`.
pub fn begin(conn: &Connection) -> Result<BulkLoad> {
    // Outside any transaction: SQLite ignores the pragma inside one.
    set_foreign_keys(conn, false)?;
    begin_without_foreign_keys(conn).inspect_err(|_| {
        if let Err(e) = set_foreign_keys(conn, true) {
            tracing::warn!("foreign keys not turned back on: {e}");
        }
    })
}

fn set_foreign_keys(conn: &Connection, on: bool) -> Result<()> {
    conn.pragma_update(None, "foreign_keys", on)?;
    Ok(())
}

fn begin_without_foreign_keys(conn: &Connection) -> Result<BulkLoad> {
    let tx = db::begin(conn)?;
    let mut kept = Vec::new();
    for name in INSERT_TRIGGERS {
        let sql: Option<String> = tx
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
                [name],
                |r| r.get(0),
            )
            .optional()?;
        let sql = sql.ok_or_else(|| {
            NexusError::Sync(format!("database has no trigger {name}; cannot bulk load"))
        })?;
        kept.push(sql);
        tx.execute_batch(&format!("DROP TRIGGER {name};"))?;
    }
    let json = serde_json::to_string(&kept).map_err(|e| NexusError::Sync(e.to_string()))?;
    db::state::set(&tx, STATE_NAME, &json)?;
    let counted_up_to: i64 =
        tx.query_row("SELECT ifnull(MAX(id), 0) FROM data_objects", [], |r| {
            r.get(0)
        })?;
    let orphans: i64 = tx.query_row("SELECT COUNT(*) FROM orphan_permissions", [], |r| r.get(0))?;
    let file_problems: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM problems WHERE pointer <> ?1)",
        [db::problems::NAME_POINTER],
        |r| r.get(0),
    )?;
    tx.commit()?;
    Ok(BulkLoad {
        counted_up_to,
        fresh_inserts: orphans == 0 && !file_problems,
    })
}

impl BulkLoad {
    /// Whether new objects may be written with `db::objects::insert_fresh`
    /// (no lookup of the key, no orphan grant to take over: they have the
    /// default permissions, which need no row), and a new file's problems
    /// added without looking for old ones to replace. True when
    /// the load began with no orphan grant and no problem of a file's
    /// bytes: nothing adds a grant during the load, as permissions.json is
    /// read after it, and the load writes each file once.
    pub fn fresh_inserts(&self) -> bool {
        self.fresh_inserts
    }

    /// Adds the objects inserted since the last call, and the grants they
    /// took over, to the counters, as the dropped triggers would have.
    /// Runs inside the chunk's transaction. Object ids only grow
    /// (AUTOINCREMENT), so the new rows are the ones above the last id
    /// counted.
    pub fn add_chunk(&mut self, conn: &Connection) -> Result<()> {
        let (objects, max_id): (i64, Option<i64>) = conn
            .prepare_cached("SELECT COUNT(*), MAX(id) FROM data_objects WHERE id > ?1")?
            .query_row([self.counted_up_to], |r| Ok((r.get(0)?, r.get(1)?)))?;
        let (ai, cloud, read_only, not_default): (i64, i64, i64, i64) = conn
            .prepare_cached(&count_new_grants_sql())?
            .query_row([self.counted_up_to], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?;
        let mut add = conn
            .prepare_cached("UPDATE counters SET value = value + ?2 WHERE name = ?1 AND ?2 <> 0")?;
        for (name, delta) in [
            ("objects", objects),
            ("ai", ai),
            ("cloud", cloud),
            ("read_only", read_only),
            ("permissions_generation", i64::from(not_default > 0)),
        ] {
            add.execute(params![name, delta])?;
        }
        if let Some(max_id) = max_id {
            self.counted_up_to = max_id;
        }
        Ok(())
    }

    /// Ends the load: the triggers and foreign keys come back.
    pub fn finish(self, conn: &Connection) -> Result<()> {
        restore(conn, false).map(|_| ())
    }
}

/// Whether a bulk load has begun and not finished (or is under way in
/// another engine).
pub fn unfinished(conn: &Connection) -> Result<bool> {
    Ok(db::state::get(conn, STATE_NAME)?.is_some())
}

/// Puts back the triggers of a bulk load that did not finish, and recounts
/// every counter from the tables. Returns whether there was one. The
/// caller holds the vault's write lock, so that no load is under way.
pub fn repair(conn: &Connection) -> Result<bool> {
    let repaired = restore(conn, true)?;
    if repaired {
        tracing::warn!(
            "a first index had stopped half-way: its triggers are restored and its counters recounted"
        );
    }
    Ok(repaired)
}

/// Puts the triggers back (see [`restore_triggers`]) and turns foreign
/// keys on, whether or not that succeeded.
fn restore(conn: &Connection, recount: bool) -> Result<bool> {
    let restored = restore_triggers(conn, recount);
    set_foreign_keys(conn, true)?;
    restored
}

fn restore_triggers(conn: &Connection, recount: bool) -> Result<bool> {
    let tx = db::begin(conn)?;
    let Some(json) = db::state::get(&tx, STATE_NAME)? else {
        return Ok(false);
    };
    let kept: Vec<String> = serde_json::from_str(&json).map_err(|e| {
        NexusError::Sync(format!(
            "sync_state {STATE_NAME} is not a list of triggers: {e}"
        ))
    })?;
    for name in INSERT_TRIGGERS {
        tx.execute_batch(&format!("DROP TRIGGER IF EXISTS {name};"))?;
    }
    for sql in &kept {
        tx.execute_batch(sql)?;
    }
    if recount {
        tx.execute_batch(
            "UPDATE counters SET value = (SELECT COUNT(*) FROM data_objects) WHERE name = 'objects';
             UPDATE counters SET value = value + 1 WHERE name = 'permissions_generation';",
        )?;
    }
    tx.execute_batch(
        "UPDATE counters SET value = (SELECT COUNT(*) FROM object_permissions WHERE share_with_ai = 1) WHERE name = 'ai';
         UPDATE counters SET value = (SELECT COUNT(*) FROM object_permissions WHERE share_with_cloud = 1) WHERE name = 'cloud';
         UPDATE counters SET value = (SELECT COUNT(*) FROM object_permissions WHERE read_only = 1) WHERE name = 'read_only';",
    )?;
    tx.execute("DELETE FROM sync_state WHERE name = ?1", [STATE_NAME])?;
    tx.commit()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triggers(conn: &Connection) -> Vec<String> {
        conn.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
    }

    fn counters(conn: &Connection) -> Vec<(String, i64)> {
        conn.prepare(
            "SELECT name, value FROM counters WHERE name <> 'permissions_generation' ORDER BY name",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    /// What [`counters`] gives for these counts.
    fn expected(ai: i64, cloud: i64, objects: i64, read_only: i64) -> Vec<(String, i64)> {
        [
            ("ai", ai),
            ("cloud", cloud),
            ("objects", objects),
            ("read_only", read_only),
        ]
        .map(|(name, n)| (name.to_string(), n))
        .to_vec()
    }

    fn foreign_keys(conn: &Connection) -> bool {
        conn.query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap()
    }

    /// A load that cannot begin leaves the connection as it was.
    #[test]
    fn a_load_that_cannot_begin_keeps_foreign_keys_on() {
        let conn = db::open_in_memory().unwrap();
        conn.execute_batch("DROP TRIGGER counters_objects_insert;")
            .unwrap();
        let err = begin(&conn).unwrap_err().to_string();
        assert!(err.contains("counters_objects_insert"), "{err}");
        assert!(foreign_keys(&conn));
    }

    /// Opcodes of `sql` that would make SQLite keep a statement journal
    /// for a multi-row statement: a halt that undoes the statement on a
    /// constraint (P2 = OE_Abort, 2), a foreign key check (`FkCheck`,
    /// which only tests the counters those maintain, is harmless), or a
    /// call of an SQL function, which may fail (`lower(?)` in the object
    /// insert made SQLite journal its pages).
    fn aborting_ops(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
        // Unbound parameters are NULL: EXPLAIN only lists the program.
        let mut rows = stmt.raw_query();
        let mut found = Vec::new();
        while let Some(row) = rows.next().unwrap() {
            let (op, p2): (String, i64) = (row.get(1).unwrap(), row.get(3).unwrap());
            let aborts = op == "FkCounter"
                || op == "FkIfZero"
                || op == "Function"
                || op == "PureFunc"
                || (op.starts_with("Halt") && p2 == 2);
            if aborts {
                found.push(format!("{op} {p2}"));
            }
        }
        found
    }

    /// The load's multi-row inserts cannot abort half-way, so SQLite keeps
    /// no statement journal for them (it copied every page they touched).
    #[test]
    fn bulk_inserts_need_no_statement_journal() {
        let conn = db::open_in_memory().unwrap();
        let statements = [
            crate::db::objects::insert_objects_sql(10),
            crate::db::objects::insert_content_sql(10),
        ];
        // Outside a load, with foreign keys on, plain inserts would abort.
        for sql in &statements {
            let plain = sql.replace("INSERT OR FAIL", "INSERT");
            assert!(!aborting_ops(&conn, &plain).is_empty(), "{plain}");
        }
        let _load = begin(&conn).unwrap();
        for sql in &statements {
            assert_eq!(aborting_ops(&conn, sql), Vec::<String>::new(), "{sql}");
        }
    }

    /// Counting a chunk's grants reads the partial index of non-default
    /// rows, not every new permission row.
    #[test]
    fn new_grants_are_counted_from_the_partial_index() {
        let conn = db::open_in_memory().unwrap();
        let plan = db::query_plan(&conn, &count_new_grants_sql(), [0]);
        assert!(
            plan.iter()
                .any(|p| p.contains("SEARCH") && p.contains("idx_permissions_not_default")),
            "{plan:?}"
        );
    }

    fn insert(conn: &Connection, key: &str, ai: bool) {
        conn.execute(
            "INSERT OR IGNORE INTO schemas (id, schema_name, definition_json, created_at) VALUES (1, 't', '{}', '')",
            [],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO data_objects (schema_id, file_path, updated_at, created_at) VALUES (1, ?1, '', '')",
            [key],
        )
        .unwrap();
        let id = conn.last_insert_rowid();
        conn.execute(
            "INSERT INTO object_permissions (object_id, share_with_ai) VALUES (?1, ?2)",
            params![id, ai],
        )
        .unwrap();
    }

    /// Counters after a bulk load equal what the triggers would have kept,
    /// after each chunk; the triggers are back at the end.
    #[test]
    fn counts_each_chunk_and_restores_the_triggers() {
        let conn = db::open_in_memory().unwrap();
        let before = triggers(&conn);
        let generation = db::permissions::generation(&conn).unwrap();
        let mut load = begin(&conn).unwrap();
        for name in INSERT_TRIGGERS {
            assert!(!triggers(&conn).contains(&name.to_string()));
        }
        for chunk in 0..3 {
            let tx = db::begin(&conn).unwrap();
            for i in 0..5 {
                insert(&tx, &format!("f{chunk}.json#{i}"), i == 0);
            }
            load.add_chunk(&tx).unwrap();
            tx.commit().unwrap();
            let n = (chunk + 1) * 5;
            assert_eq!(
                counters(&conn),
                expected((chunk + 1) as i64, 0, n as i64, 0)
            );
        }
        load.finish(&conn).unwrap();
        assert!(foreign_keys(&conn), "foreign keys back on after the load");
        assert_eq!(triggers(&conn), before);
        assert!(db::permissions::generation(&conn).unwrap() > generation);
        // The triggers count again.
        insert(&conn, "after.json#1", true);
        assert_eq!(counters(&conn)[0], ("ai".to_string(), 4));
        assert_eq!(counters(&conn)[2], ("objects".to_string(), 16));
        assert!(!repair(&conn).unwrap(), "nothing left to repair");
    }

    /// A grant added during a load to an object of a chunk already counted
    /// (by a writer outside the engine: the insert trigger is gone) is in
    /// the counters once the load ends.
    #[test]
    fn a_grant_added_behind_the_load_is_counted_when_it_ends() {
        let conn = db::open_in_memory().unwrap();
        let mut load = begin(&conn).unwrap();
        let tx = db::begin(&conn).unwrap();
        insert(&tx, "a.json#1", false);
        tx.execute("DELETE FROM object_permissions", []).unwrap();
        load.add_chunk(&tx).unwrap();
        tx.commit().unwrap();
        conn.execute(
            "INSERT INTO object_permissions (object_id, share_with_ai, read_only) VALUES (1, 1, 1)",
            [],
        )
        .unwrap();
        assert_eq!(counters(&conn)[0], ("ai".to_string(), 0), "not seen yet");
        load.finish(&conn).unwrap();
        assert_eq!(counters(&conn), expected(1, 0, 1, 1));
    }

    /// A load that stopped half-way (its chunk never counted) is repaired:
    /// triggers back, counters recounted from the tables.
    #[test]
    fn an_unfinished_load_is_repaired() {
        let conn = db::open_in_memory().unwrap();
        let before = triggers(&conn);
        let _load = begin(&conn).unwrap();
        assert!(!foreign_keys(&conn), "off while loading");
        insert(&conn, "a.json#1", true);
        insert(&conn, "a.json#2", false);
        assert_eq!(counters(&conn)[2], ("objects".to_string(), 0));
        assert!(repair(&conn).unwrap());
        assert!(foreign_keys(&conn), "back on after the repair");
        assert_eq!(triggers(&conn), before);
        assert_eq!(counters(&conn), expected(1, 0, 2, 0));
    }
}
