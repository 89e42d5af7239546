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
        total_objects: count("SELECT COUNT(*) FROM data_objects")?,
        ai_shared: count("SELECT COUNT(*) FROM object_permissions WHERE share_with_ai = 1")?,
        cloud_shared: count("SELECT COUNT(*) FROM object_permissions WHERE share_with_cloud = 1")?,
        read_only: count("SELECT COUNT(*) FROM object_permissions WHERE read_only = 1")?,
        expired: conn
            .prepare_cached(
                "SELECT COUNT(*) FROM object_permissions WHERE expires_unix IS NOT NULL AND expires_unix <= ?1",
            )?
            .query_row([now_unix], |r| r.get(0))?,
        problems: problems::count(conn)? + crate::sync::conflicts::open_count(conn)?,
        last_sync: state::get(conn, state::LAST_SYNC)?.unwrap_or_else(|| "never".into()),
    })
}
