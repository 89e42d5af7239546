//! Grid queries: filtered, sorted row ids, rows by id, and object details.

use chrono::Utc;
use rusqlite::{Connection, params_from_iter};
use serde_json::Value;

use crate::audit::{AuditEntry, AuditLog};
use crate::db::{self, problems::Problem};
use crate::error::Result;
use crate::permissions::model::Permissions;

/// A column to sort by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortColumn {
    /// Row id.
    #[default]
    Id,
    /// Schema name.
    Schema,
    /// Title or summary.
    Title,
    /// Object key (and so file).
    File,
    /// Last update.
    Updated,
    /// AI flag.
    Ai,
    /// Cloud flag.
    Cloud,
    /// Read-only flag.
    ReadOnly,
    /// Expiry.
    Expires,
}

impl SortColumn {
    fn sql(self) -> &'static str {
        match self {
            SortColumn::Id => "o.id",
            SortColumn::Schema => "s.schema_name, o.id",
            SortColumn::Title => "o.title_key, o.id",
            SortColumn::File => "o.file_path",
            SortColumn::Updated => "o.updated_at, o.id",
            // No permission row: the defaults. (No ", " inside a term:
            // `query_ids` splits the order there.)
            SortColumn::Ai => "ifnull(p.share_with_ai,0), o.id",
            SortColumn::Cloud => "ifnull(p.share_with_cloud,0), o.id",
            SortColumn::ReadOnly => "ifnull(p.read_only,0), o.id",
            SortColumn::Expires => "p.expires_unix IS NULL, p.expires_unix, o.id",
        }
    }
}

/// A filter on permission state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PermissionFilter {
    /// Every object.
    #[default]
    Any,
    /// AI flag set.
    AiShared,
    /// Cloud flag set.
    CloudShared,
    /// Read-only.
    ReadOnly,
    /// Expiry reached.
    Expired,
    /// Nothing shared, not read-only, no expiry.
    Private,
}

/// What the grid shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GridQuery {
    /// Case-insensitive text in the key or title.
    pub text: String,
    /// Only this schema.
    pub schema: Option<String>,
    /// Only this permission state.
    pub permissions: PermissionFilter,
    /// Sort column.
    pub sort: SortColumn,
    /// Descending order.
    pub descending: bool,
}

/// One grid row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridRow {
    /// Row id.
    pub id: i64,
    /// Object key.
    pub key: String,
    /// Schema name.
    pub schema_name: String,
    /// Title or summary.
    pub title: String,
    /// The file the object lives in.
    pub file_path: String,
    /// Last update (RFC 3339).
    pub updated_at: String,
    /// Permissions.
    pub permissions: Permissions,
    /// Whether the expiry has passed (the grants count as revoked).
    pub expired: bool,
}

/// Everything the detail panel shows about one object.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectDetail {
    /// The row.
    pub row: GridRow,
    /// Its content.
    pub content: Value,
    /// The JSON Schema of its schema.
    pub schema_definition: Value,
    /// Its validation problems.
    pub problems: Vec<Problem>,
    /// Its audit history, oldest first.
    pub audit: Vec<AuditEntry>,
}

/// The `WHERE` clause of `query`'s filters (aliases `o`, `s`, `p`, where
/// `p` is LEFT JOINed: an object with the default permissions may have no
/// row) and its arguments.
pub(crate) fn where_clause(
    query: &GridQuery,
    now_unix: i64,
) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value as V;
    let mut conditions = Vec::new();
    let mut args = Vec::new();
    let text = query.text.trim();
    if !text.is_empty() {
        let pattern = format!(
            "%{}%",
            text.replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_")
        );
        conditions
            .push("(o.file_path LIKE ? ESCAPE '\\' OR o.title LIKE ? ESCAPE '\\')".to_string());
        args.push(V::Text(pattern.clone()));
        args.push(V::Text(pattern));
    }
    if let Some(schema) = &query.schema {
        conditions.push("s.schema_name = ?".into());
        args.push(V::Text(schema.clone()));
    }
    match query.permissions {
        PermissionFilter::Any => {}
        PermissionFilter::AiShared => conditions.push("p.share_with_ai = 1".into()),
        PermissionFilter::CloudShared => conditions.push("p.share_with_cloud = 1".into()),
        PermissionFilter::ReadOnly => conditions.push("p.read_only = 1".into()),
        PermissionFilter::Expired => {
            conditions.push("p.expires_unix IS NOT NULL AND p.expires_unix <= ?".into());
            args.push(V::Integer(now_unix));
        }
        // An object without a permission row has the defaults.
        PermissionFilter::Private => conditions.push(
            "p.share_with_ai IS NOT 1 AND p.share_with_cloud IS NOT 1 AND p.read_only IS NOT 1 AND p.expires_at IS NULL".into(),
        ),
    }
    let clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    (clause, args)
}

/// The ids of the objects that match `query`, in its order.
pub fn query_ids(conn: &Connection, query: &GridQuery) -> Result<Vec<i64>> {
    let (clause, args) = where_clause(query, Utc::now().timestamp());
    let order = query
        .sort
        .sql()
        .split(", ")
        .map(|c| {
            if query.descending {
                format!("{c} DESC")
            } else {
                c.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT o.id FROM data_objects o JOIN schemas s ON s.id = o.schema_id
         LEFT JOIN object_permissions p ON p.object_id = o.id {clause} ORDER BY {order}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let ids = stmt.query_map(params_from_iter(args), |r| r.get(0))?;
    Ok(ids.collect::<Result<_, _>>()?)
}

/// The keys of the objects that match `query` (for bulk actions).
pub fn query_keys(conn: &Connection, query: &GridQuery) -> Result<Vec<String>> {
    let ids = query_ids(conn, query)?;
    Ok(rows_by_ids(conn, &ids)?
        .into_iter()
        .map(|r| r.key)
        .collect())
}

/// The rows with these ids, in the same order (missing ids are skipped).
pub fn rows_by_ids(conn: &Connection, ids: &[i64]) -> Result<Vec<GridRow>> {
    let now = Utc::now();
    let mut stmt = conn.prepare_cached(
        "SELECT o.id, o.file_path, s.schema_name, o.title, o.source_path, o.updated_at,
                p.share_with_ai, p.share_with_cloud, p.read_only, p.expires_at
         FROM data_objects o JOIN schemas s ON s.id = o.schema_id
         LEFT JOIN object_permissions p ON p.object_id = o.id WHERE o.id = ?1",
    )?;
    let mut rows = Vec::with_capacity(ids.len());
    for id in ids {
        match stmt.query_row([id], |r| row_from(r, now)) {
            Ok(row) => rows.push(row),
            Err(rusqlite::Error::QueryReturnedNoRows) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(rows)
}

/// A grid row from the columns `o.id, o.file_path, s.schema_name, o.title,
/// o.source_path, o.updated_at` and the four permission columns, in that
/// order.
pub(crate) fn row_from(
    r: &rusqlite::Row<'_>,
    now: chrono::DateTime<Utc>,
) -> rusqlite::Result<GridRow> {
    let permissions = db::permissions::permissions_from_row(r, 6)?;
    Ok(GridRow {
        id: r.get(0)?,
        key: r.get(1)?,
        schema_name: r.get(2)?,
        title: r.get(3)?,
        file_path: r.get(4)?,
        updated_at: r.get(5)?,
        expired: permissions.is_expired_at(now),
        permissions,
    })
}

/// The detail of object `key`, or `None` if it is gone.
pub fn object_detail(
    conn: &Connection,
    audit: &AuditLog,
    key: &str,
) -> Result<Option<ObjectDetail>> {
    let Some(object) = db::objects::get_by_key(conn, key)? else {
        return Ok(None);
    };
    let Some(row) = rows_by_ids(conn, &[object.id])?.into_iter().next() else {
        return Ok(None);
    };
    let content = db::objects::content(conn, object.id)?.unwrap_or(Value::Null);
    let schema_definition = db::schemas::get(conn, &object.schema_name)?
        .and_then(|s| serde_json::from_str(&s.definition_json).ok())
        .unwrap_or(Value::Null);
    Ok(Some(ObjectDetail {
        row,
        content,
        schema_definition,
        problems: db::problems::for_object(conn, key)?,
        audit: audit.for_key(key)?,
    }))
}
