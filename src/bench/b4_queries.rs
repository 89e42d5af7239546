//! B4, queries at N objects: the stats cards (`db::stats::permission_stats`),
//! grid pages (`query::page::page_after`, 100 rows by keyset, at five places
//! of several sort orders) and a filtered count (objects shared with AI and
//! not expired).
//!
//! The N-object vault is made by `Engine::init` on an empty folder (so the
//! database has the engine's own migrations and schemas) and then by
//! inserting the rows of `data_objects`, `object_content` and
//! `object_permissions` directly into that database in one transaction:
//! generating and indexing a million files would take far longer than the
//! queries measured here. No vault files back these rows (the `files`
//! table is empty), which these queries do not read.
//!
//! The filtered count is `db::stats::shared_unexpired` (AI-shared and
//! unexpired, as the gate's rule implies): the trigger-kept count minus the
//! shared objects whose expiry has passed, from the partial index of
//! objects with an expiry.

use std::path::Path;
use std::time::{Duration, Instant};

use rusqlite::{Connection, params};

use crate::bench::{Figure, Samples, Verdict, ms, ratio};
use crate::db::{self, hash_bytes};
use crate::error::{NexusError, Result};
use crate::query::grid::{GridQuery, SortColumn};
use crate::query::page::{self, Anchors, PAGE_ROWS};
use crate::sync::Engine;

/// The folder of the vault, under the scratch folder (B5 opens it).
pub const VAULT_DIR: &str = "b4-vault";
/// Target for the stats.
pub const TARGET_STATS: Duration = Duration::from_millis(1);
/// Target for a grid page.
pub const TARGET_GRID_PAGE: Duration = Duration::from_millis(1);
/// Target for the filtered count.
pub const TARGET_FILTERED_COUNT: Duration = Duration::from_millis(20);
/// At most this many timed runs per query...
const MAX_RUNS: usize = 51;
/// ...and no more runs once this much time went into one query (at least 5).
const TIME_BUDGET: Duration = Duration::from_secs(15);

/// Expected counts of the generated rows.
#[derive(Debug, Default)]
pub(crate) struct Expected {
    objects: i64,
    ai_unexpired: i64,
}

/// Generates the vault under `scratch` and measures.
pub fn run(scratch: &Path, objects: usize) -> Result<Vec<Figure>> {
    let vault_dir = scratch.join(VAULT_DIR);
    std::fs::create_dir_all(&vault_dir).map_err(|e| NexusError::io(&vault_dir, e))?;
    let engine = Engine::init(&vault_dir)?;
    let now = chrono::Utc::now().timestamp();
    let generated = Instant::now();
    let expected = generate(engine.conn(), objects, now)?;
    let generation = generated.elapsed();
    let conn = engine.conn();

    let stats = measure(|| {
        let s = db::stats::permission_stats(conn, now)?;
        if s.total_objects != expected.objects {
            return Err(NexusError::Sync(format!(
                "bench B4: stats count {} objects, expected {}",
                s.total_objects, expected.objects
            )));
        }
        Ok(())
    })?;
    let (grid, walks) = grid_pages(conn, objects)?;
    let filtered = measure(|| {
        let count = crate::db::stats::shared_unexpired(conn, crate::permissions::Purpose::Ai, now)?;
        if count != expected.ai_unexpired {
            return Err(NexusError::Sync(format!(
                "bench B4: filtered count {count}, expected {}",
                expected.ai_unexpired
            )));
        }
        Ok(())
    })?;

    let how = format!(
        "{objects} objects inserted directly into the engine's database in {:.1} s",
        generation.as_secs_f64()
    );
    let figure = |what: &str, samples: &Samples, target: Duration, detail: &str| Figure {
        workload: format!("B4 {what}"),
        figure: format!(
            "p50 {}, p99 {} ({detail}; {} runs; {how})",
            ms(samples.p50()),
            ms(samples.p99()),
            samples.len()
        ),
        target: format!("≤{}", ms(target)),
        floor: "-".into(),
        ratio: format!("{} target (p50)", ratio(samples.p50(), target)),
        verdict: Verdict::of(samples.p50() <= target),
    };
    Ok(vec![
        figure("stats", &stats, TARGET_STATS, "db::stats::permission_stats"),
        Figure {
            verdict: Verdict::of(grid.p99() <= TARGET_GRID_PAGE),
            ratio: format!("{} target (p99)", ratio(grid.p99(), TARGET_GRID_PAGE)),
            ..figure(
                "grid page",
                &grid,
                TARGET_GRID_PAGE,
                &format!(
                    "query::page::page_after, 100 rows by keyset at rows 0, ¼, ½, ¾ and the end, \
                     sorted by id, title, AI flag and expiry, ascending and descending; \
                     the background walk for the page starts took {walks}"
                ),
            )
        },
        figure(
            "filtered count",
            &filtered,
            TARGET_FILTERED_COUNT,
            "COUNT of AI-shared, unexpired objects",
        ),
    ])
}

/// Pages at five places of four sort orders, each order both ways, read
/// from the start cursor the reader's walk found for them. Returns the
/// samples and a description of the walks' times.
fn grid_pages(conn: &Connection, objects: usize) -> Result<(Samples, String)> {
    let mut all = Vec::new();
    let mut walk_times = Vec::new();
    for sort in [
        SortColumn::Id,
        SortColumn::Title,
        SortColumn::Ai,
        SortColumn::Expires,
    ] {
        for descending in [false, true] {
            let query = GridQuery {
                sort,
                descending,
                ..GridQuery::default()
            };
            let walk = Instant::now();
            let mut anchors = Anchors::default();
            while !anchors.done {
                page::walk_anchors(conn, &query, &mut anchors, 5_000)?;
            }
            walk_times.push(walk.elapsed());
            if anchors.rows != objects {
                return Err(NexusError::Sync(format!(
                    "bench B4: the walk of {sort:?} saw {} rows, expected {objects}",
                    anchors.rows
                )));
            }
            let pages = objects.div_ceil(PAGE_ROWS);
            for at in [
                0,
                pages / 4,
                pages / 2,
                pages * 3 / 4,
                pages.saturating_sub(1),
            ] {
                let start = anchors
                    .start_of(at)
                    .ok_or_else(|| NexusError::Sync(format!("bench B4: no start for page {at}")))?;
                let expected = PAGE_ROWS.min(objects - at * PAGE_ROWS);
                let samples = measure(|| {
                    let page = page::page_after(conn, &query, start, PAGE_ROWS)?;
                    if page.rows.len() != expected {
                        return Err(NexusError::Sync(format!(
                            "bench B4: page {at} of {sort:?} has {} rows, expected {expected}",
                            page.rows.len()
                        )));
                    }
                    Ok(())
                })?;
                all.extend(samples.0);
            }
        }
    }
    let walks = Samples::new(walk_times);
    Ok((
        Samples::new(all),
        format!(
            "{} to {}",
            ms(walks.percentile(0.0)),
            ms(walks.percentile(100.0))
        ),
    ))
}

/// One warm-up run, then timed runs.
fn measure(mut f: impl FnMut() -> Result<()>) -> Result<Samples> {
    f()?;
    let started = Instant::now();
    let mut samples = Vec::new();
    while samples.len() < MAX_RUNS && (samples.len() < 5 || started.elapsed() < TIME_BUDGET) {
        let t = Instant::now();
        f()?;
        samples.push(t.elapsed());
    }
    Ok(Samples::new(samples))
}

/// Inserts `objects` objects: 99% todos in collection-file keys, 1% notes;
/// 10% shared with AI, 5% with the cloud, 2% read-only, 1 in 30 with an
/// expiry (half of them past). As in an indexed vault, objects with the
/// default permissions have no permission row, except 1 in 7 that has one
/// holding the defaults (a grant set back, which leaves its row).
pub(crate) fn generate(conn: &Connection, objects: usize, now: i64) -> Result<Expected> {
    let schema_id = |name: &str| -> Result<i64> {
        Ok(conn.query_row(
            "SELECT id FROM schemas WHERE schema_name = ?1",
            [name],
            |r| r.get(0),
        )?)
    };
    let (todo, note) = (schema_id("core.todo")?, schema_id("core.note")?);
    let mut expected = Expected::default();
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = (|| -> Result<()> {
        let mut object = conn.prepare(
            "INSERT INTO data_objects (schema_id, file_path, updated_at, created_at, source_path, item_id,
               position, title, content_hash, title_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, lower(?8))",
        )?;
        let mut content =
            conn.prepare("INSERT INTO object_content (object_id, content_json) VALUES (?1, ?2)")?;
        let mut perms = conn.prepare(
            "INSERT INTO object_permissions (object_id, share_with_ai, share_with_cloud, read_only,
               expires_at, expires_unix) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for i in 0..objects {
            let is_note = i % 100 == 99;
            let file = i / 10;
            let source = if is_note {
                format!("f{:05}/note{i}.md", file / 10)
            } else {
                format!("f{:05}/list{}.json", file / 10, file % 10)
            };
            let (key, item_id) = if is_note {
                (source.clone(), None)
            } else {
                (
                    format!("{source}#{}", i % 10 + 1),
                    Some((i % 10 + 1).to_string()),
                )
            };
            let title = format!("Task {i}: water the plants on the balcony");
            let json = format!(
                r#"{{"id":{},"text":"{title}","completed":{},"priority":"normal","created_at":"2025-01-15T10:30:00Z","updated_at":"2025-01-16T08:00:00Z"}}"#,
                i % 10 + 1,
                i % 3 == 0
            );
            object.execute(params![
                if is_note { note } else { todo },
                key,
                "2025-01-16T08:00:00Z",
                "2025-01-15T10:30:00Z",
                source,
                item_id,
                (i % 10) as i64,
                title,
                hash_bytes(json.as_bytes()),
            ])?;
            let id = conn.last_insert_rowid();
            content.execute(params![id, json])?;
            let ai = i % 10 == 0;
            let expires_unix = (i % 30 == 0).then(|| {
                if i % 60 == 0 {
                    now - 86_400
                } else {
                    now + 86_400
                }
            });
            let expires_at = expires_unix.and_then(|t| {
                chrono::DateTime::from_timestamp(t, 0)
                    .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            });
            let (cloud, read_only) = (i % 20 == 0, i % 50 == 0);
            if ai || cloud || read_only || expires_at.is_some() || i % 7 == 3 {
                perms.execute(params![id, ai, cloud, read_only, expires_at, expires_unix])?;
            }
            expected.objects += 1;
            if ai && expires_unix.is_none_or(|t| t > now) {
                expected.ai_unexpired += 1;
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => conn.execute_batch("COMMIT")?,
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(expected)
}
