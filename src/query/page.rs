//! Keyset paging of the grid: a page is "the next N rows after this cursor
//! in the sort order", answered from an index in O(log n + N) at any vault
//! size, never by an OFFSET scan.
//!
//! Jumping to row 500 000 of a million needs the cursor that ends row
//! 499 999. [`walk_anchors`] collects one cursor per page boundary by
//! walking the sort index once, in chunks, so that the reader can answer
//! page requests between chunks; until the walk reaches a page, the grid
//! fetches pages that follow a page it already has.

use chrono::Utc;
use rusqlite::types::Value as SqlValue;
use rusqlite::{Connection, params_from_iter};

use crate::error::Result;
use crate::query::grid::{
    GridQuery, GridRow, PermissionFilter, SortColumn, row_from, where_clause,
};

/// Rows per grid page.
pub const PAGE_ROWS: usize = 100;

/// A position in the sort order: the sort value and the row id of the last
/// row before it. The id breaks ties, so every row has exactly one place.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    /// The sort column's value (`Null` when sorting by id).
    pub value: SqlValue,
    /// The row id (the object id).
    pub id: i64,
}

/// One page of rows, and the cursor after its last row.
#[derive(Debug, Clone, PartialEq)]
pub struct GridPage {
    /// The rows, in order.
    pub rows: Vec<GridRow>,
    /// The cursor after the last row (`None` for an empty page).
    pub end: Option<Cursor>,
}

/// Page boundaries: `cursors[k]` ends page `k` (so it starts page `k + 1`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Anchors {
    /// One cursor per full page walked so far.
    pub cursors: Vec<Cursor>,
    /// Rows walked so far (the exact count once `done`).
    pub rows: usize,
    /// Whether the walk reached the end.
    pub done: bool,
}

impl Anchors {
    /// The cursor that starts page `page`: `Some(None)` for the first page,
    /// `None` when the walk has not got that far.
    pub fn start_of(&self, page: usize) -> Option<Option<&Cursor>> {
        match page {
            0 => Some(None),
            _ => self.cursors.get(page - 1).map(Some),
        }
    }
}

/// How the rows of a sort order are read from the database in order.
#[derive(Debug, Clone, Copy)]
enum SortIndex {
    /// The object id: the table's own order.
    Id,
    /// An expression that has an index on `(expression, id)`: the schema,
    /// the update time (migration 1), the title key (migration 10), or the
    /// key (its UNIQUE index).
    Value(&'static str),
    /// A permission flag (a column of `p`). Its index holds only the
    /// objects that have the flag (migration 11), so the order is read as
    /// two segments: the objects without it, in id order from
    /// `data_objects` (most have no permission row at all), and the objects
    /// with it, from the index (for a descending sort the other way round).
    Flag(&'static str),
    /// The expiry, objects without one last: the objects with an expiry
    /// from its partial index, the others in id order from `data_objects`.
    Expires,
}

/// How `sort` is read, and the expressions of its value and id (the
/// cursor's columns).
fn sort_index(sort: SortColumn) -> (SortIndex, Option<&'static str>, &'static str) {
    match sort {
        SortColumn::Id => (SortIndex::Id, None, "o.id"),
        SortColumn::Schema => (
            SortIndex::Value("s.schema_name"),
            Some("s.schema_name"),
            "o.id",
        ),
        SortColumn::Title => (SortIndex::Value("o.title_key"), Some("o.title_key"), "o.id"),
        SortColumn::File => (SortIndex::Value("o.file_path"), Some("o.file_path"), "o.id"),
        SortColumn::Updated => (
            SortIndex::Value("o.updated_at"),
            Some("o.updated_at"),
            "o.id",
        ),
        SortColumn::Ai => flag("p.share_with_ai", "ifnull(p.share_with_ai, 0)"),
        SortColumn::Cloud => flag("p.share_with_cloud", "ifnull(p.share_with_cloud, 0)"),
        SortColumn::ReadOnly => flag("p.read_only", "ifnull(p.read_only, 0)"),
        SortColumn::Expires => (SortIndex::Expires, Some(EXPIRES_SORT), "o.id"),
    }
}

/// Whether objects with flag `column` set (`set`) or not can pass
/// `filter`.
fn flag_possible(filter: PermissionFilter, column: &str, set: bool) -> bool {
    match filter {
        PermissionFilter::AiShared if column == "p.share_with_ai" => set,
        PermissionFilter::CloudShared if column == "p.share_with_cloud" => set,
        PermissionFilter::ReadOnly if column == "p.read_only" => set,
        PermissionFilter::Private => !set,
        _ => true,
    }
}

/// A flag's sort: its `column`, and its `value` (the cursor's), in which an
/// object without a permission row has the default, 0.
fn flag(
    column: &'static str,
    value: &'static str,
) -> (SortIndex, Option<&'static str>, &'static str) {
    (SortIndex::Flag(column), Some(value), "o.id")
}

/// The id of a row read from one of `object_permissions`' partial indexes,
/// which hold it in this order. (For these rows it equals `o.id`, but
/// SQLite reads an index in order only for the index's own column.)
const PERMISSION_ID: &str = "p.object_id";

/// The expiry as a sort value (the cursor's): no expiry is later than any
/// date.
pub const EXPIRES_SORT: &str = "ifnull(p.expires_unix, 9223372036854775807)";

/// [`EXPIRES_SORT`] of an object without an expiry.
const NO_EXPIRY: i64 = i64::MAX;

/// Every object, with its permission row if it has one: an object whose
/// permissions are all the defaults has none (see `db::permissions`).
const FROM: &str = "FROM data_objects o JOIN schemas s ON s.id = o.schema_id
     LEFT JOIN object_permissions p ON p.object_id = o.id";

/// A keyset read of `query` after a cursor is a few index range reads, in
/// order: the rows that tie with the cursor's sort value and have a later
/// id, then the rows with a later sort value. SQLite cannot seek an index
/// on a row value that ends in the rowid, `(value, id) > (?, ?)`, so each
/// part is its own query, each a seek. A flag or the expiry adds the
/// segments of [`SortIndex`].
fn branches(
    query: &GridQuery,
    after: Option<&Cursor>,
    columns: &str,
    now_unix: i64,
) -> Vec<(String, Vec<SqlValue>)> {
    let (filter, filter_args) = where_clause(query, now_unix);
    let filter = filter.strip_prefix("WHERE ").map(str::to_string);
    let (index, _, id_expr) = sort_index(query.sort);
    let (op, direction) = if query.descending {
        ("<", " DESC")
    } else {
        (">", "")
    };
    // The id column a segment is ordered by: `id_expr`, or for a segment
    // read from a partial index of `object_permissions`, [`PERMISSION_ID`].
    let by_id_of = |id: &str| format!("{id}{direction}");
    let by_value_of = |expr: &str, id: &str| format!("{expr}{direction}, {id}{direction}");
    let by_id = by_id_of(id_expr);
    let by_value = |expr: &str| by_value_of(expr, id_expr);
    let select = |conditions: Vec<String>, extra: Vec<SqlValue>, order: &str| {
        let conditions: Vec<String> = filter.iter().cloned().chain(conditions).collect();
        let clause = if conditions.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", conditions.join(" AND "))
        };
        let mut args = filter_args.clone();
        args.extend(extra);
        (
            format!("SELECT {columns} {FROM} {clause} ORDER BY {order} LIMIT ?"),
            args,
        )
    };
    let id_after_of =
        |cursor: &Cursor, id: &str| (format!("{id} {op} ?"), SqlValue::Integer(cursor.id));
    let id_after = |cursor: &Cursor| id_after_of(cursor, id_expr);
    match index {
        SortIndex::Id => match after {
            None => vec![select(Vec::new(), Vec::new(), &by_id)],
            Some(cursor) => {
                let (condition, id) = id_after(cursor);
                vec![select(vec![condition], vec![id], &by_id)]
            }
        },
        SortIndex::Value(expr) => match after {
            None => vec![select(Vec::new(), Vec::new(), &by_value(expr))],
            Some(cursor) => {
                let (condition, id) = id_after(cursor);
                vec![
                    select(
                        vec![format!("{expr} = ?"), condition],
                        vec![cursor.value.clone(), id],
                        &by_id,
                    ),
                    select(
                        vec![format!("{expr} {op} ?")],
                        vec![cursor.value.clone()],
                        &by_value(expr),
                    ),
                ]
            }
        },
        SortIndex::Flag(column) => {
            // The default (0) first in an ascending sort. No row, or a
            // value other than 1, counts as the default, so that no row
            // falls between the segments. The default segment is read
            // from `data_objects` in id order, the other from the flag's
            // partial index.
            let segments = [format!("{column} IS NOT 1"), format!("{column} = 1")];
            let ids = [id_expr, PERMISSION_ID];
            let cursor_segment = after.map(|c| usize::from(c.value == SqlValue::Integer(1)));
            let order: [usize; 2] = if query.descending { [1, 0] } else { [0, 1] };
            let mut out = Vec::new();
            let mut reached = after.is_none();
            for segment in order {
                if !flag_possible(query.permissions, column, segment == 1) {
                    // The filter rules the segment out; reading it would
                    // scan for nothing.
                    continue;
                }
                let condition = segments[segment].clone();
                let by_id = by_id_of(ids[segment]);
                match (after, cursor_segment) {
                    (Some(cursor), Some(at)) if at == segment => {
                        reached = true;
                        let (after_id, id) = id_after_of(cursor, ids[segment]);
                        out.push(select(vec![condition, after_id], vec![id], &by_id));
                    }
                    _ if reached => out.push(select(vec![condition], Vec::new(), &by_id)),
                    _ => {}
                }
            }
            out
        }
        SortIndex::Expires => {
            let dated = "p.expires_unix IS NOT NULL".to_string();
            let undated = "p.expires_unix IS NULL".to_string();
            // Segments the filter rules out are not read: they would scan
            // for nothing.
            let (dated_possible, undated_possible) = match query.permissions {
                PermissionFilter::Expired => (true, false),
                PermissionFilter::Private => (false, true),
                _ => (true, true),
            };
            let keep = |possible: bool, branches: Vec<(String, Vec<SqlValue>)>| {
                if possible { branches } else { Vec::new() }
            };
            // Objects with an expiry come from its partial index, the
            // others (most without a permission row) from `data_objects`.
            let by_expiry = by_value_of("p.expires_unix", PERMISSION_ID);
            let Some(cursor) = after else {
                let dated = keep(
                    dated_possible,
                    vec![select(vec![dated], Vec::new(), &by_expiry)],
                );
                let undated = keep(
                    undated_possible,
                    vec![select(vec![undated], Vec::new(), &by_id)],
                );
                return if query.descending {
                    [undated, dated].concat()
                } else {
                    [dated, undated].concat()
                };
            };
            match cursor.value {
                SqlValue::Integer(expiry) if expiry != NO_EXPIRY => {
                    let (after_id, id) = id_after_of(cursor, PERMISSION_ID);
                    let mut out = keep(
                        dated_possible,
                        vec![
                            select(
                                vec![dated.clone(), "p.expires_unix = ?".into(), after_id],
                                vec![SqlValue::Integer(expiry), id],
                                &by_id_of(PERMISSION_ID),
                            ),
                            select(
                                vec![dated, format!("p.expires_unix {op} ?")],
                                vec![SqlValue::Integer(expiry)],
                                &by_expiry,
                            ),
                        ],
                    );
                    if !query.descending && undated_possible {
                        out.push(select(vec![undated], Vec::new(), &by_id));
                    }
                    out
                }
                _ => {
                    let (after_id, id) = id_after(cursor);
                    let mut out = keep(
                        undated_possible,
                        vec![select(vec![undated, after_id], vec![id], &by_id)],
                    );
                    if query.descending && dated_possible {
                        out.push(select(vec![dated], Vec::new(), &by_expiry));
                    }
                    out
                }
            }
        }
    }
}

/// Runs the branches of a keyset read until `limit` rows came back, handing
/// each row to `each`.
fn read_keyset(
    conn: &Connection,
    query: &GridQuery,
    after: Option<&Cursor>,
    columns: &str,
    limit: usize,
    mut each: impl FnMut(&rusqlite::Row<'_>) -> Result<()>,
) -> Result<usize> {
    let mut read = 0;
    for (sql, mut args) in branches(query, after, columns, Utc::now().timestamp()) {
        if read >= limit {
            break;
        }
        args.push(SqlValue::Integer(
            i64::try_from(limit - read).unwrap_or(i64::MAX),
        ));
        let mut stmt = conn.prepare_cached(&sql)?;
        let mut rows = stmt.query(params_from_iter(args))?;
        while let Some(row) = rows.next()? {
            each(row)?;
            read += 1;
        }
    }
    Ok(read)
}

/// The columns of a page: a grid row, then the cursor.
fn page_columns(sort: SortColumn) -> String {
    let (_, value_expr, id_expr) = sort_index(sort);
    format!(
        "o.id, o.file_path, s.schema_name, o.title, o.source_path, o.updated_at,
         p.share_with_ai, p.share_with_cloud, p.read_only, p.expires_at, {}, {id_expr}",
        value_expr.unwrap_or("NULL")
    )
}

/// The page of up to `limit` rows that follows `after` (`None`: the first
/// page).
pub fn page_after(
    conn: &Connection,
    query: &GridQuery,
    after: Option<&Cursor>,
    limit: usize,
) -> Result<GridPage> {
    let now = Utc::now();
    let mut rows = Vec::with_capacity(limit);
    let mut end = None;
    read_keyset(conn, query, after, &page_columns(query.sort), limit, |r| {
        rows.push(row_from(r, now)?);
        end = Some(Cursor {
            value: r.get(10)?,
            id: r.get(11)?,
        });
        Ok(())
    })?;
    Ok(GridPage { rows, end })
}

/// How many objects match `query`. Without a filter this is the trigger-kept
/// counter; a permission filter alone counts a partial index of
/// `object_permissions` (the private objects are the rest: every object
/// minus those with a permission that is not the default); a text filter
/// has to read every title.
pub fn count(conn: &Connection, query: &GridQuery) -> Result<usize> {
    let now_unix = Utc::now().timestamp();
    let plain = query.text.trim().is_empty() && query.schema.is_none();
    let n: i64 = match (plain, query.permissions) {
        (true, PermissionFilter::Any) => crate::db::stats::object_count(conn)?,
        (true, PermissionFilter::Private) => {
            crate::db::stats::object_count(conn)? - crate::db::permissions::not_default_count(conn)?
        }
        _ => {
            let (clause, args) = where_clause(query, now_unix);
            // The other permission filters need a permission row that is
            // not the defaults, so a permission-only filter needs no join.
            let from = if plain {
                "FROM object_permissions p"
            } else {
                FROM
            };
            conn.prepare_cached(&format!("SELECT COUNT(*) {from} {clause}"))?
                .query_row(params_from_iter(args), |r| r.get(0))?
        }
    };
    Ok(usize::try_from(n).unwrap_or(0))
}

/// Walks up to `budget` rows of `query` after `anchors`' last cursor and
/// adds a cursor for every page boundary passed. Call it again until
/// `anchors.done`.
pub fn walk_anchors(
    conn: &Connection,
    query: &GridQuery,
    anchors: &mut Anchors,
    budget: usize,
) -> Result<()> {
    if anchors.done {
        return Ok(());
    }
    let (_, value_expr, id_expr) = sort_index(query.sort);
    let columns = format!("{}, {id_expr}", value_expr.unwrap_or("NULL"));
    // Every page up to the last anchor is full, so the walk goes on from
    // there at a page boundary.
    let walked_before = anchors.cursors.len() * PAGE_ROWS;
    let budget = budget.max(PAGE_ROWS) / PAGE_ROWS * PAGE_ROWS;
    let after = anchors.cursors.last().cloned();
    let mut seen = 0;
    let mut found = Vec::new();
    read_keyset(conn, query, after.as_ref(), &columns, budget, |r| {
        seen += 1;
        if seen % PAGE_ROWS == 0 {
            found.push(Cursor {
                value: r.get(0)?,
                id: r.get(1)?,
            });
        }
        Ok(())
    })?;
    anchors.cursors.extend(found);
    anchors.rows = walked_before + seen;
    anchors.done = seen < budget;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::grid::query_ids;

    const ALL_SORTS: [SortColumn; 9] = [
        SortColumn::Id,
        SortColumn::Schema,
        SortColumn::Title,
        SortColumn::File,
        SortColumn::Updated,
        SortColumn::Ai,
        SortColumn::Cloud,
        SortColumn::ReadOnly,
        SortColumn::Expires,
    ];

    fn vault_with(objects: usize) -> (tempfile::TempDir, crate::sync::Engine) {
        let dir = tempfile::tempdir().unwrap();
        let engine = crate::sync::Engine::init(dir.path()).unwrap();
        crate::bench::b4_queries::generate(engine.conn(), objects, Utc::now().timestamp()).unwrap();
        (dir, engine)
    }

    fn queries() -> Vec<GridQuery> {
        let mut out = Vec::new();
        for sort in ALL_SORTS {
            for descending in [false, true] {
                for (text, schema, permissions) in [
                    ("", None, PermissionFilter::Any),
                    ("7", None, PermissionFilter::AiShared),
                    ("", Some("core.note".to_string()), PermissionFilter::Any),
                    ("", None, PermissionFilter::Expired),
                    ("", None, PermissionFilter::Private),
                ] {
                    out.push(GridQuery {
                        text: text.into(),
                        schema,
                        permissions,
                        sort,
                        descending,
                    });
                }
            }
        }
        out
    }

    #[test]
    fn pages_walked_by_keyset_are_the_full_sorted_result() {
        let (_dir, engine) = vault_with(1234);
        let conn = engine.conn();
        for query in queries() {
            let expected = query_ids(conn, &query).unwrap();
            let mut walked = Vec::new();
            let mut after = None;
            loop {
                let page = page_after(conn, &query, after.as_ref(), 37).unwrap();
                walked.extend(page.rows.iter().map(|r| r.id));
                match page.end {
                    Some(end) => after = Some(end),
                    None => break,
                }
            }
            assert_eq!(walked, expected, "{query:?}");
            assert_eq!(count(conn, &query).unwrap(), expected.len(), "{query:?}");
        }
    }

    #[test]
    fn anchors_start_every_page_at_its_row() {
        let (_dir, engine) = vault_with(1234);
        let conn = engine.conn();
        for query in queries() {
            let expected = query_ids(conn, &query).unwrap();
            let mut anchors = Anchors::default();
            let mut walks = 0;
            while !anchors.done {
                walk_anchors(conn, &query, &mut anchors, 300).unwrap();
                walks += 1;
                assert!(walks < 100, "the walk does not end: {query:?}");
            }
            assert_eq!(anchors.rows, expected.len(), "{query:?}");
            assert_eq!(anchors.cursors.len(), expected.len() / PAGE_ROWS);
            for (page, chunk) in expected.chunks(PAGE_ROWS).enumerate() {
                let start = anchors.start_of(page).expect("anchor for every page");
                let rows = page_after(conn, &query, start, PAGE_ROWS).unwrap().rows;
                let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
                assert_eq!(ids, chunk, "page {page} of {query:?}");
            }
        }
    }

    /// The plan of branch `sql` (with its `args` and a LIMIT), which must
    /// read rows in order rather than sort them.
    fn unsorted_plan(conn: &Connection, sql: &str, args: &[SqlValue]) -> Vec<String> {
        let plan = crate::db::query_plan(
            conn,
            sql,
            params_from_iter(args.iter().chain([&SqlValue::Integer(100)])),
        );
        assert!(
            !plan.iter().any(|step| step.contains("TEMP B-TREE")),
            "{sql} sorts: {plan:?}"
        );
        plan
    }

    /// Every sort order reads an index: a page deep into the result costs
    /// about what the first page costs, and nothing sorts the whole result.
    #[test]
    fn a_deep_page_costs_what_the_first_page_costs() {
        let (_dir, engine) = vault_with(6000);
        let conn = engine.conn();
        conn.execute_batch("ANALYZE").unwrap();
        let steps = |query: &GridQuery, after: Option<&Cursor>| -> i32 {
            let (mut total, mut read) = (0, 0);
            for (sql, mut args) in branches(query, after, &page_columns(query.sort), 0) {
                if read >= PAGE_ROWS {
                    break;
                }
                unsorted_plan(conn, &sql, &args);
                args.push(SqlValue::Integer((PAGE_ROWS - read) as i64));
                let mut stmt = conn.prepare(&sql).unwrap();
                let mut rows = stmt.query(params_from_iter(args)).unwrap();
                while rows.next().unwrap().is_some() {
                    read += 1;
                }
                drop(rows);
                total += stmt.get_status(rusqlite::StatementStatus::VmStep);
            }
            total
        };
        for sort in ALL_SORTS {
            for descending in [false, true] {
                let query = GridQuery {
                    sort,
                    descending,
                    ..GridQuery::default()
                };
                let mut anchors = Anchors::default();
                walk_anchors(conn, &query, &mut anchors, usize::MAX).unwrap();
                let first = steps(&query, None);
                // Page 50 of 60: 5 000 rows in.
                let deep = steps(&query, anchors.start_of(50).unwrap());
                assert!(
                    deep <= first * 2 + 200,
                    "{sort:?} desc={descending}: page 50 took {deep} VM steps, page 0 {first}"
                );
            }
        }
    }

    /// A filter that rules a segment of a flag's or the expiry's order out
    /// keeps it from being read at all (it would scan the table for
    /// nothing, on every page).
    #[test]
    fn segments_a_filter_rules_out_are_not_read() {
        let cursor = Cursor {
            value: SqlValue::Integer(0),
            id: 5,
        };
        for (sort, filter, never) in [
            (
                SortColumn::Ai,
                PermissionFilter::AiShared,
                "p.share_with_ai IS NOT 1",
            ),
            (
                SortColumn::Cloud,
                PermissionFilter::CloudShared,
                "p.share_with_cloud IS NOT 1",
            ),
            (
                SortColumn::ReadOnly,
                PermissionFilter::ReadOnly,
                "p.read_only IS NOT 1",
            ),
            (
                SortColumn::Ai,
                PermissionFilter::Private,
                "p.share_with_ai = 1",
            ),
            (
                SortColumn::Expires,
                PermissionFilter::Expired,
                "p.expires_unix IS NULL",
            ),
            (
                SortColumn::Expires,
                PermissionFilter::Private,
                "p.expires_unix IS NOT NULL",
            ),
        ] {
            for descending in [false, true] {
                let query = GridQuery {
                    sort,
                    descending,
                    permissions: filter,
                    ..GridQuery::default()
                };
                for after in [None, Some(&cursor)] {
                    for (sql, _) in branches(&query, after, "o.id", 0) {
                        assert!(!sql.contains(never), "{query:?}: {sql}");
                    }
                }
            }
        }
    }

    /// A flag's order is two segments: the objects with the flag from its
    /// partial index, the others from `data_objects` in id order; the
    /// expiry's too. Each segment is read in order, never sorted.
    #[test]
    fn flag_and_expiry_orders_read_their_partial_indexes_and_the_table() {
        let (_dir, engine) = vault_with(3000);
        let conn = engine.conn();
        let cases = [
            (SortColumn::Ai, "= 1", "idx_permissions_ai"),
            (SortColumn::Cloud, "= 1", "idx_permissions_cloud"),
            (SortColumn::ReadOnly, "= 1", "idx_permissions_read_only"),
            (
                SortColumn::Expires,
                "IS NOT NULL",
                "idx_permissions_expires_order",
            ),
        ];
        for (sort, marked, index) in cases {
            for descending in [false, true] {
                let query = GridQuery {
                    sort,
                    descending,
                    ..GridQuery::default()
                };
                let cursors = [
                    None,
                    Some(Cursor {
                        value: SqlValue::Integer(1),
                        id: 5,
                    }),
                    Some(Cursor {
                        value: SqlValue::Integer(0),
                        id: 5,
                    }),
                    Some(Cursor {
                        value: SqlValue::Integer(NO_EXPIRY),
                        id: 5,
                    }),
                ];
                for after in &cursors {
                    let branches = branches(&query, after.as_ref(), &page_columns(sort), 0);
                    assert!(!branches.is_empty(), "{query:?} after {after:?}");
                    for (sql, args) in branches {
                        let plan = unsorted_plan(conn, &sql, &args);
                        let first = plan.first().map(String::as_str).unwrap_or_default();
                        if sql.contains(marked) {
                            assert!(first.contains(index), "{sql}: {plan:?}");
                        } else {
                            // The objects with the default, most without
                            // a permission row: `data_objects` in id order.
                            assert!(
                                first == "SCAN o"
                                    || first.starts_with("SEARCH o USING INTEGER PRIMARY KEY"),
                                "{sql}: {plan:?}"
                            );
                        }
                    }
                }
            }
        }
    }
}
