//! B1, cold index: a generated vault (collection files of 10 todos, ten per
//! folder, one Markdown note per folder, AI grants on 1% of the objects in
//! permissions.json) indexed from an empty database by `Engine::init` +
//! `Engine::reconcile`, until `permission_stats` agrees with what was
//! generated.
//!
//! The floor and the engine run [`ROUNDS`] times, interleaved, each from
//! nothing (the engine from no database); each figure is the median.
//!
//! The floor, measured in the same run on the same files: walk the folders,
//! read each file, parse JSON with serde_json, and insert one row per
//! object (key, file, content JSON) into a bare table in one transaction,
//! with no validation, hashing, permissions or bookkeeping.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::Connection;
use serde_json::Value;

use crate::bench::data::{self, Layout};
use crate::bench::{Figure, Verdict, ratio};
use crate::error::{IoContext, NexusError, Result};
use crate::sync::Engine;

/// Objects per second the engine should reach.
pub const TARGET_OBJECTS_PER_SEC: f64 = 100_000.0;
/// The engine may take this many times the floor.
pub const TARGET_FLOOR_RATIO: f64 = 1.5;

/// What B1 leaves for the workloads that follow.
#[derive(Debug)]
pub struct B1 {
    /// The indexed vault (B2 and B7 use it).
    pub vault_dir: PathBuf,
    /// Its layout.
    pub layout: Layout,
    /// Objects indexed.
    pub objects: usize,
    /// The figures.
    pub figures: Vec<Figure>,
    /// The cold-index time (B3's overflow target).
    pub elapsed: Duration,
}

/// Rounds of floor and engine, interleaved; the figures are their medians.
/// A round takes about a second. On the shared 2-core VM single runs of
/// the engine varied by up to 1.5× within minutes (0.38 to 0.56 s, the
/// floor 0.32 to 0.50 s), so that a median of three still swung by 1.3×
/// between runs of the suite; five rounds cost four more seconds.
pub const ROUNDS: usize = 5;

/// Generates the vault under `scratch` and measures.
pub fn run(scratch: &Path, collection_objects: usize) -> Result<B1> {
    let layout = Layout::for_objects(collection_objects);
    let vault_dir = scratch.join("b1-vault");
    let generated = Instant::now();
    data::write_vault(&vault_dir, &layout)?;
    flush_page_cache_writes();
    tracing::info!("B1 vault generated in {:?}", generated.elapsed());

    let expected = layout.objects();
    let mut floors = Vec::with_capacity(ROUNDS);
    let mut engines = Vec::with_capacity(ROUNDS);
    let mut wal_bytes = Vec::with_capacity(ROUNDS);
    for round in 0..ROUNDS {
        let floor_db = scratch.join(format!("b1-floor-{round}.sqlite"));
        let (floor, floor_rows) = floor(&vault_dir, &floor_db)?;
        if floor_rows != expected {
            return Err(NexusError::Sync(format!(
                "bench B1: the floor found {floor_rows} objects, expected {expected}"
            )));
        }
        floors.push(floor);
        // Neither side pays for the other's writes still going to disk.
        flush_page_cache_writes();
        remove_index(&vault_dir)?;
        let (elapsed, wal) = index(&vault_dir, &layout)?;
        engines.push(elapsed);
        wal_bytes.push(wal);
        flush_page_cache_writes();
    }
    let floor = median(&floors);
    let elapsed = median(&engines);

    let rate = per_sec(expected, elapsed);
    let floor_rate = per_sec(expected, floor);
    let ratio_value = elapsed.as_secs_f64() / floor.as_secs_f64().max(f64::EPSILON);
    let figures = vec![Figure {
        workload: "B1 cold index".into(),
        figure: format!(
            "{expected} objects ({} files in {} folders + {} notes) in {:.2} s = {rate:.0} objects/s (median of {ROUNDS} runs: {}; WAL at the end {} MB, copied into the database file afterwards)",
            layout.files,
            layout.folders,
            layout.notes,
            elapsed.as_secs_f64(),
            seconds(&engines),
            wal_bytes
                .iter()
                .map(|b| format!("{:.0}", *b as f64 / 1e6))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        target: format!("≥{TARGET_OBJECTS_PER_SEC:.0} objects/s and ≤{TARGET_FLOOR_RATIO}× floor"),
        floor: format!(
            "{:.2} s = {floor_rate:.0} objects/s (median of {ROUNDS}: {}; walk + read + serde_json + one-transaction insert into a bare table)",
            floor.as_secs_f64(),
            seconds(&floors)
        ),
        ratio: format!(
            "{} floor; {:.3}× target rate",
            ratio(elapsed, floor),
            rate / TARGET_OBJECTS_PER_SEC
        ),
        verdict: Verdict::of(rate >= TARGET_OBJECTS_PER_SEC && ratio_value <= TARGET_FLOOR_RATIO),
    }];
    Ok(B1 {
        vault_dir,
        layout,
        objects: expected,
        figures,
        elapsed,
    })
}

/// One timed cold index: `Engine::init` + `Engine::reconcile` from no
/// database, until the stats show what was generated. Also returns the
/// size of the WAL file then. The engine is dropped before this returns,
/// which ends the copying of the WAL into the database file.
fn index(vault_dir: &Path, layout: &Layout) -> Result<(Duration, u64)> {
    let expected = layout.objects();
    let started = Instant::now();
    let mut engine = Engine::init(vault_dir)?;
    engine.reconcile()?;
    let stats = crate::db::stats::permission_stats(engine.conn(), chrono::Utc::now().timestamp())?;
    let elapsed = started.elapsed();
    let stats_right = stats.total_objects == i64::try_from(expected).unwrap_or(i64::MAX)
        && stats.ai_shared == i64::try_from(layout.grants()).unwrap_or(i64::MAX)
        && stats.problems == 0;
    if !stats_right {
        return Err(NexusError::Sync(format!(
            "bench B1: stats wrong after indexing: {stats:?}; expected {expected} objects, {} AI shared, 0 problems",
            layout.grants()
        )));
    }
    let wal = vault_dir.join(".nexus").join("vault.sqlite-wal");
    let wal_bytes = std::fs::metadata(&wal).map_or(0, |m| m.len());
    drop(engine);
    Ok((elapsed, wal_bytes))
}

/// Deletes the vault's index (database, WAL and shared memory), so that
/// the next round starts cold.
fn remove_index(vault_dir: &Path) -> Result<()> {
    let nexus = vault_dir.join(".nexus");
    for name in ["vault.sqlite", "vault.sqlite-wal", "vault.sqlite-shm"] {
        let path = nexus.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(NexusError::io(&path, e)),
        }
    }
    Ok(())
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted.get(sorted.len() / 2).copied().unwrap_or_default()
}

fn seconds(times: &[Duration]) -> String {
    times
        .iter()
        .map(|t| format!("{:.2} s", t.as_secs_f64()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn per_sec(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(f64::EPSILON)
}

/// Asks the kernel to write the generated files out now (`sync`), so that
/// their write-back does not run during the timed part. Best effort.
fn flush_page_cache_writes() {
    if let Err(e) = std::process::Command::new("sync").status() {
        tracing::warn!("bench: could not run sync: {e}");
    }
}

/// The floor: returns its time and the rows it inserted.
fn floor(root: &Path, db_path: &Path) -> Result<(Duration, usize)> {
    let started = Instant::now();
    let mut files = Vec::new();
    walk(root, "", &mut files)?;
    let conn = Connection::open(db_path)?;
    conn.execute_batch(
        "CREATE TABLE bare (key TEXT NOT NULL, source_path TEXT NOT NULL, content_json TEXT NOT NULL)",
    )?;
    conn.execute_batch("BEGIN")?;
    let mut rows = 0;
    {
        let mut insert =
            conn.prepare("INSERT INTO bare (key, source_path, content_json) VALUES (?1, ?2, ?3)")?;
        for (rel, abs) in &files {
            let bytes = std::fs::read(abs).with_path(abs)?;
            if rel.ends_with(".md") {
                let text = String::from_utf8_lossy(&bytes);
                insert.execute([rel.as_str(), rel.as_str(), &*text])?;
                rows += 1;
                continue;
            }
            let doc: Value =
                serde_json::from_slice(&bytes).map_err(|e| NexusError::json(abs, e))?;
            if let Some(items) = doc.get("data").and_then(Value::as_array) {
                for item in items {
                    let id = item.get("id").map(Value::to_string).unwrap_or_default();
                    let content = item.to_string();
                    insert.execute([format!("{rel}#{id}").as_str(), rel.as_str(), &content])?;
                    rows += 1;
                }
            }
        }
    }
    conn.execute_batch("COMMIT")?;
    Ok((started.elapsed(), rows))
}

/// Every non-hidden `.json` / `.md` file under `dir`, vault-relative.
fn walk(root: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> Result<()> {
    let dir = root.join(rel);
    for entry in std::fs::read_dir(&dir).with_path(&dir)? {
        let entry = entry.with_path(&dir)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let child = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let kind = entry.file_type().with_path(entry.path())?;
        if kind.is_dir() {
            walk(root, &child, out)?;
        } else if name.ends_with(".json") || name.ends_with(".md") {
            out.push((child, entry.path()));
        }
    }
    Ok(())
}
