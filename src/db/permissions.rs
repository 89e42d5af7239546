//! `object_permissions` and `orphan_permissions`.
//!
//! An object has a row in `object_permissions` once it is given a
//! permission that is not the default; an object without one has the
//! defaults (nothing shared, not read-only, no expiry), which is what most
//! objects have. Not writing those rows spares a first index one table
//! insert per object (8% of its writer under callgrind). A row set back to
//! the defaults stays, holding them, and a vault indexed by an earlier
//! version keeps a row for every object; both read the same as no row.
//! Grants that
//! `.nexus/permissions.json` holds for a key with no object (yet) are kept
//! in `orphan_permissions`, so that they are neither lost nor applied to the
//! wrong object; an object that appears with that key takes them over.

use rusqlite::{Connection, OptionalExtension, params};

use crate::error::Result;
use crate::permissions::model::Permissions;

/// Reads four permission columns starting at `start`. A missing row
/// (LEFT JOIN) reads as the defaults.
pub fn permissions_from_row(r: &rusqlite::Row<'_>, start: usize) -> rusqlite::Result<Permissions> {
    Ok(Permissions {
        share_with_ai: r.get::<_, Option<bool>>(start)?.unwrap_or(false),
        share_with_cloud: r.get::<_, Option<bool>>(start + 1)?.unwrap_or(false),
        read_only: r.get::<_, Option<bool>>(start + 2)?.unwrap_or(false),
        expires_at: r.get(start + 3)?,
    })
}

/// The expiry in whole seconds, rounded up, so that the stats never call a
/// grant expired before the gate (which compares exactly) does.
fn expires_unix(perms: &Permissions) -> Option<i64> {
    let text = perms.expires_at.as_deref()?;
    // A malformed expiry never gets this far (it is validated on the way
    // in); if it did, treating it as already expired is the safe side.
    Some(
        crate::permissions::model::parse_expiry(text)
            .map(|t| t.timestamp() + i64::from(t.timestamp_subsec_nanos() > 0))
            .unwrap_or(i64::MIN),
    )
}

/// Inserts the permission row of a new object.
pub fn insert(conn: &Connection, object_id: i64, perms: &Permissions) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO object_permissions (object_id, share_with_ai, share_with_cloud, read_only, expires_at, expires_unix)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        object_id,
        perms.share_with_ai,
        perms.share_with_cloud,
        perms.read_only,
        perms.expires_at,
        expires_unix(perms)
    ])?;
    Ok(())
}

/// The permissions of object `object_id` (defaults if it has no row).
pub fn get(conn: &Connection, object_id: i64) -> Result<Permissions> {
    Ok(conn
        .prepare_cached(
            "SELECT share_with_ai, share_with_cloud, read_only, expires_at FROM object_permissions WHERE object_id = ?1",
        )?
        .query_row([object_id], |r| permissions_from_row(r, 0))
        .optional()?
        .unwrap_or_default())
}

/// The id and permissions of the object with key `key`, if there is one:
/// one index lookup, without the object's other columns.
pub fn of_key(conn: &Connection, key: &str) -> Result<Option<(i64, Permissions)>> {
    Ok(conn
        .prepare_cached(
            "SELECT o.id, p.share_with_ai, p.share_with_cloud, p.read_only, p.expires_at
             FROM data_objects o LEFT JOIN object_permissions p ON p.object_id = o.id
             WHERE o.file_path = ?1",
        )?
        .query_row([key], |r| Ok((r.get(0)?, permissions_from_row(r, 1)?)))
        .optional()?)
}

/// Sets the permissions of object `object_id`.
pub fn set(conn: &Connection, object_id: i64, perms: &Permissions) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO object_permissions (object_id, share_with_ai, share_with_cloud, read_only, expires_at, expires_unix)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(object_id) DO UPDATE SET share_with_ai = excluded.share_with_ai,
           share_with_cloud = excluded.share_with_cloud, read_only = excluded.read_only,
           expires_at = excluded.expires_at, expires_unix = excluded.expires_unix",
    )?
    .execute(params![
        object_id,
        perms.share_with_ai,
        perms.share_with_cloud,
        perms.read_only,
        perms.expires_at,
        expires_unix(perms)
    ])?;
    Ok(())
}

/// Changes the permissions of object `object_id` from `old` to `new`,
/// writing only the columns that differ: every index of
/// `object_permissions` whose columns are written must be updated, and a
/// toggle changes one flag. Falls back to [`set`] when the object has no
/// permission row yet.
pub fn change(
    conn: &Connection,
    object_id: i64,
    old: &Permissions,
    new: &Permissions,
) -> Result<()> {
    let mut columns = Vec::new();
    if old.share_with_ai != new.share_with_ai {
        columns.push("share_with_ai = ?2");
    }
    if old.share_with_cloud != new.share_with_cloud {
        columns.push("share_with_cloud = ?3");
    }
    if old.read_only != new.read_only {
        columns.push("read_only = ?4");
    }
    if old.expires_at != new.expires_at {
        columns.push("expires_at = ?5, expires_unix = ?6");
    }
    if columns.is_empty() {
        return Ok(());
    }
    // `OR FAIL`, which the statements of the triggers it fires (counters,
    // generation) take on: a trigger makes a statement write more than one
    // row, and with the default `ABORT` SQLite must be able to undo it on
    // its own, so it copied every page the update and its triggers touched
    // into a statement journal first (a fifth of taking in permissions.json
    // under callgrind). The update writes one row, and nothing in it can
    // break a constraint: flags are never NULL, and no key changes.
    let sql = format!(
        "UPDATE OR FAIL object_permissions SET {} WHERE object_id = ?1",
        columns.join(", ")
    );
    // Each statement names only its own parameters; the ones in between
    // exist unnamed and are bound too (harmlessly).
    let mut stmt = conn.prepare_cached(&sql)?;
    let unix = expires_unix(new);
    let values: [&dyn rusqlite::ToSql; 6] = [
        &object_id,
        &new.share_with_ai,
        &new.share_with_cloud,
        &new.read_only,
        &new.expires_at,
        &unix,
    ];
    for (index, value) in values.iter().take(stmt.parameter_count()).enumerate() {
        stmt.raw_bind_parameter(index + 1, value)?;
    }
    if stmt.raw_execute()? == 0 {
        set(conn, object_id, new)?;
    }
    Ok(())
}

/// Removes and returns the orphan grant for `key`.
pub fn take_orphan(conn: &Connection, key: &str) -> Result<Option<Permissions>> {
    let perms = conn
        .prepare_cached(
            "SELECT share_with_ai, share_with_cloud, read_only, expires_at FROM orphan_permissions WHERE key = ?1",
        )?
        .query_row([key], |r| permissions_from_row(r, 0))
        .optional()?;
    if perms.is_some() {
        conn.prepare_cached("DELETE FROM orphan_permissions WHERE key = ?1")?
            .execute([key])?;
    }
    Ok(perms)
}

/// Replaces every orphan grant with `orphans`.
pub fn replace_orphans(conn: &Connection, orphans: &[(String, Permissions)]) -> Result<()> {
    conn.execute("DELETE FROM orphan_permissions", [])?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO orphan_permissions (key, share_with_ai, share_with_cloud, read_only, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?;
    for (key, p) in orphans {
        stmt.execute(params![
            key,
            p.share_with_ai,
            p.share_with_cloud,
            p.read_only,
            p.expires_at
        ])?;
    }
    Ok(())
}

/// Every orphan grant.
pub fn orphans(conn: &Connection) -> Result<Vec<(String, Permissions)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT key, share_with_ai, share_with_cloud, read_only, expires_at FROM orphan_permissions ORDER BY key",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, permissions_from_row(r, 1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// The permissions generation: it moves on every write that can change
/// what permissions.json should say (triggers of migration 7).
pub fn generation(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached("SELECT value FROM counters WHERE name = 'permissions_generation'")?
        .query_row([], |r| r.get(0))?)
}

/// How many objects have a permission that is not the default: the rows
/// of the partial index `idx_permissions_not_default` (migration 4).
pub fn not_default_count(conn: &Connection) -> Result<i64> {
    Ok(conn
        .prepare_cached(
            "SELECT COUNT(*) FROM object_permissions
             WHERE share_with_ai OR share_with_cloud OR read_only OR expires_at IS NOT NULL",
        )?
        .query_row([], |r| r.get(0))?)
}

/// Every object whose permissions are not the defaults, by key.
pub fn non_default(conn: &Connection) -> Result<Vec<(String, Permissions)>> {
    let mut stmt = conn.prepare_cached(
        // CROSS JOIN keeps object_permissions the outer loop, so that the
        // partial index of non-default rows (migration 4) drives the query:
        // it reads the shared objects only, not every object.
        "SELECT o.file_path, p.share_with_ai, p.share_with_cloud, p.read_only, p.expires_at
         FROM object_permissions p CROSS JOIN data_objects o ON o.id = p.object_id
         WHERE p.share_with_ai OR p.share_with_cloud OR p.read_only OR p.expires_at IS NOT NULL
         ORDER BY o.file_path",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, permissions_from_row(r, 1)?)))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Every object's id, key and permissions, optionally of one schema.
pub fn all_with_keys(
    conn: &Connection,
    schema_name: Option<&str>,
) -> Result<Vec<(i64, String, Permissions)>> {
    let sql =
        format!(
        "SELECT o.id, o.file_path, p.share_with_ai, p.share_with_cloud, p.read_only, p.expires_at
         FROM data_objects o JOIN schemas s ON s.id = o.schema_id
         LEFT JOIN object_permissions p ON p.object_id = o.id {} ORDER BY o.file_path",
        if schema_name.is_some() { "WHERE s.schema_name = ?1" } else { "" }
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let map = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?, permissions_from_row(r, 2)?));
    let rows = match schema_name {
        Some(name) => stmt
            .query_map([name], map)?
            .collect::<Result<Vec<_>, _>>()?,
        None => stmt.query_map([], map)?.collect::<Result<Vec<_>, _>>()?,
    };
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `change` writes exactly the new permissions whatever differs, keeps
    /// the trigger-kept counters right, and creates a missing row.
    #[test]
    fn change_writes_the_new_permissions_and_keeps_counters() {
        let conn = crate::db::open_in_memory().unwrap();
        conn.execute_batch(
            "INSERT INTO schemas (id, schema_name, definition_json, created_at) VALUES (1, 't', '{}', '');
             INSERT INTO data_objects (id, schema_id, file_path, updated_at, created_at) VALUES (1, 1, 'a', '', ''), (2, 1, 'b', '', '');
             INSERT INTO object_permissions (object_id) VALUES (1);",
        )
        .unwrap();
        let counter = |name: &str| -> i64 {
            conn.query_row("SELECT value FROM counters WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .unwrap()
        };
        let steps = [
            Permissions {
                share_with_ai: true,
                ..Permissions::default()
            },
            Permissions {
                share_with_ai: true,
                share_with_cloud: true,
                ..Permissions::default()
            },
            Permissions {
                share_with_ai: true,
                share_with_cloud: true,
                read_only: true,
                expires_at: Some("2030-01-01T00:00:00Z".into()),
            },
            Permissions {
                read_only: true,
                ..Permissions::default()
            },
            Permissions::default(),
        ];
        let mut old = Permissions::default();
        for new in steps {
            change(&conn, 1, &old, &new).unwrap();
            assert_eq!(get(&conn, 1).unwrap(), new);
            assert_eq!(counter("ai"), i64::from(new.share_with_ai));
            assert_eq!(counter("cloud"), i64::from(new.share_with_cloud));
            assert_eq!(counter("read_only"), i64::from(new.read_only));
            let unix: Option<i64> = conn
                .query_row(
                    "SELECT expires_unix FROM object_permissions WHERE object_id = 1",
                    [],
                    |r| r.get(0),
                )
                .unwrap();
            assert_eq!(unix.is_some(), new.expires_at.is_some());
            old = new;
        }
        // Object 2 has no permission row yet.
        let grant = Permissions {
            share_with_cloud: true,
            ..Permissions::default()
        };
        change(&conn, 2, &Permissions::default(), &grant).unwrap();
        assert_eq!(get(&conn, 2).unwrap(), grant);
        assert_eq!(counter("cloud"), 1);
    }
}
