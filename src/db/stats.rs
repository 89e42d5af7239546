//! The permission statistics shown on the stats cards and by `status`.

use rusqlite::Connection;
use serde::Serialize;

use crate::db::{problems, state};
use crate::error::Result;

/// The seed's `PermissionStats`, plus problems and the last sync time.
///
/// `ai_shared` and `cloud_shared` count the flags as stored, so they agree
/// with the seed's diagnostic query on `object_permissions`; `expired`
/// counts objects whose expiry has passed, whose flags the gate treats as
/// revoked.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, Default)]
pub struct PermissionStats {
    /// Objects indexed.
    pub total_objects: i64,
    /// Objects with the AI flag set.
    pub ai_shared: i64,
    /// Objects with the cloud flag set.
    pub cloud_shared: i64,
    /// Read-only objects.
    pub read_only: i64,
    /// Objects whose expiry is at or before now.
    pub expired: i64,
    /// Problems: invalid files and items, and open conflicts.
    pub problems: i64,
    /// When the vault was last synced (RFC 3339), or "never".
    pub last_sync: String,
}

/// Computes the stats at Unix time `now_unix`.
pub fn permission_stats(conn: &Connection, now_unix: i64) -> Result<PermissionStats> {
    let count =
        |sql: &str| -> Result<i64> { Ok(conn.prepare_cached(sql)?.query_row([], |r| r.get(0))?) };
    Ok(PermissionStats {
        // Kept by triggers (migration 3): constant time at any vault size.
        total_objects: count("SELECT value FROM counters WHERE name = 'objects'")?,
        ai_shared: count("SELECT value FROM counters WHERE name = 'ai'")?,
        cloud_shared: count("SELECT value FROM counters WHERE name = 'cloud'")?,
        read_only: count("SELECT value FROM counters WHERE name = 'read_only'")?,
        expired: conn
            .prepare_cached(
                "SELECT COUNT(*) FROM object_permissions WHERE expires_unix IS NOT NULL AND expires_unix <= ?1",
            )?
            .query_row([now_unix], |r| r.get(0))?,
        problems: problems::count(conn)? + crate::sync::conflicts::open_count(conn)?,
        last_sync: state::get(conn, state::LAST_SYNC)?.unwrap_or_else(|| "never".into()),
    })
}

/// How many objects the index holds (the trigger-kept counter).
pub fn object_count(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT value FROM counters WHERE name = 'objects'")?
        .query_row([], |r| r.get(0))?)
}

/// How many objects the gate would let out for `purpose` at `now_unix`: the
/// flag set and no expiry, or an expiry after now. That is the trigger-kept
/// count of the flag minus the flagged objects whose expiry has passed,
/// read from the partial index of objects with an expiry (migration 6).
/// The unary `+` keeps SQLite from reading the flag's own (partial) index
/// instead, which holds every shared object, not only those with an expiry.
pub fn shared_unexpired(
    conn: &Connection,
    purpose: crate::permissions::Purpose,
    now_unix: i64,
) -> Result<i64> {
    let sql = match purpose {
        crate::permissions::Purpose::Ai => {
            "SELECT (SELECT value FROM counters WHERE name = 'ai')
                  - (SELECT COUNT(*) FROM object_permissions
                     WHERE expires_unix IS NOT NULL AND expires_unix <= ?1 AND +share_with_ai = 1)"
        }
        crate::permissions::Purpose::Cloud => {
            "SELECT (SELECT value FROM counters WHERE name = 'cloud')
                  - (SELECT COUNT(*) FROM object_permissions
                     WHERE expires_unix IS NOT NULL AND expires_unix <= ?1 AND +share_with_cloud = 1)"
        }
    };
    Ok(conn
        .prepare_cached(sql)?
        .query_row([now_unix], |r| r.get(0))?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::Purpose;

    fn direct(conn: &Connection) -> (i64, i64, i64, i64) {
        let q = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        (
            q("SELECT COUNT(*) FROM data_objects"),
            q("SELECT COUNT(*) FROM object_permissions WHERE share_with_ai = 1"),
            q("SELECT COUNT(*) FROM object_permissions WHERE share_with_cloud = 1"),
            q("SELECT COUNT(*) FROM object_permissions WHERE read_only = 1"),
        )
    }

    #[test]
    fn counters_follow_inserts_updates_upserts_and_cascading_deletes() {
        let conn = crate::db::open_in_memory().unwrap();
        conn.execute_batch(
            "INSERT INTO schemas (schema_name, definition_json, created_at) VALUES ('s', '{}', 'now');",
        )
        .unwrap();
        for i in 0..20 {
            conn.execute(
                "INSERT INTO data_objects (schema_id, file_path, updated_at, created_at) VALUES (1, ?1, 'now', 'now')",
                [format!("k{i}")],
            )
            .unwrap();
            let id = conn.last_insert_rowid();
            let perms = crate::permissions::model::Permissions {
                share_with_ai: i % 2 == 0,
                share_with_cloud: i % 3 == 0,
                read_only: i % 5 == 0,
                expires_at: (i % 4 == 0).then(|| "2000-01-01T00:00:00Z".to_string()),
            };
            crate::db::permissions::insert(&conn, id, &perms).unwrap();
        }
        let stats = permission_stats(&conn, 10_000_000_000).unwrap();
        assert_eq!(
            (
                stats.total_objects,
                stats.ai_shared,
                stats.cloud_shared,
                stats.read_only
            ),
            direct(&conn)
        );
        // An upsert that changes flags, and deletes that cascade.
        crate::db::permissions::set(&conn, 2, &crate::permissions::model::Permissions::default())
            .unwrap();
        conn.execute("DELETE FROM data_objects WHERE id % 3 = 0", [])
            .unwrap();
        let stats = permission_stats(&conn, 10_000_000_000).unwrap();
        assert_eq!(
            (
                stats.total_objects,
                stats.ai_shared,
                stats.cloud_shared,
                stats.read_only
            ),
            direct(&conn)
        );
        // Shared and unexpired: the expired grants (year 2000) do not count.
        let now = 1_700_000_000;
        let expected: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM object_permissions WHERE share_with_ai = 1 AND (expires_unix IS NULL OR expires_unix > ?1)",
                [now],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(shared_unexpired(&conn, Purpose::Ai, now).unwrap(), expected);
    }

    /// The expired-and-shared part reads the partial expiry index only.
    #[test]
    fn shared_unexpired_reads_the_expiry_index() {
        let conn = Connection::open_in_memory().unwrap();
        crate::db::migrations::migrate(&conn).unwrap();
        for flag in ["share_with_ai", "share_with_cloud"] {
            let plan = crate::db::query_plan(
                &conn,
                &format!(
                    "SELECT COUNT(*) FROM object_permissions
                     WHERE expires_unix IS NOT NULL AND expires_unix <= 5 AND +{flag} = 1"
                ),
                [],
            );
            assert!(
                plan.iter().any(|p| p.contains("idx_permissions_expiring")),
                "{flag}: {plan:?}"
            );
        }
    }
}
