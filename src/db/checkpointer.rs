//! A background checkpointer for large batches.
//!
//! In WAL mode every committed page is written twice: into the WAL, and
//! later, by a checkpoint, into the database file. SQLite's automatic
//! checkpoint runs inside the commit that crosses 1000 WAL pages, on the
//! writer's thread, so during a cold index about a fifth of the writer's
//! time went to copying pages and waiting for fsync.
//!
//! While a large batch runs, a thread of its own (`index-checkpoint`, with
//! its own connection) runs passive checkpoints instead, on the other core.
//! A passive checkpoint never blocks the writer or readers; it copies what
//! is committed and not in use by a reader. The writer's automatic
//! checkpoint is raised to [`BATCH_AUTOCHECKPOINT_BYTES`] meanwhile, so the
//! WAL stays bounded even if the thread falls behind, and is put back to
//! SQLite's default when the batch ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::{NexusError, Result};

/// The writer's automatic checkpoint during a large batch: at 64 MiB of
/// WAL, whatever the page size (SQLite counts it in pages).
pub const BATCH_AUTOCHECKPOINT_BYTES: i64 = 64 << 20;

/// [`BATCH_AUTOCHECKPOINT_BYTES`] in pages of `conn`'s database.
fn batch_autocheckpoint_pages(conn: &Connection) -> Result<i64> {
    let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
    Ok(BATCH_AUTOCHECKPOINT_BYTES / page_size.max(512))
}

/// Fewer WAL pages than this waiting: the thread rests a moment.
const IDLE_BELOW_PAGES: i64 = 256;

/// How long the thread rests when there is little to copy, or when a
/// reader's snapshot keeps it from copying more.
const REST: Duration = Duration::from_millis(5);

/// A running checkpointer; [`BackgroundCheckpoint::finish`] stops it.
#[derive(Debug)]
pub struct BackgroundCheckpoint {
    stop: Arc<AtomicBool>,
    /// Checkpoints run so far.
    rounds: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
    /// The writer's automatic checkpoint before, given back at the end.
    writer_autocheckpoint: i64,
}

/// Starts a checkpointer for the database of `writer`. `None` for a
/// database without a file (in memory), and when the thread or its
/// connection cannot be had: it only makes a large batch faster, so the
/// batch goes on without it (with a warning).
pub fn start(writer: &Connection) -> Option<BackgroundCheckpoint> {
    let path = writer.path().filter(|p| !p.is_empty())?.to_owned();
    match try_start(writer, &path) {
        Ok(running) => Some(running),
        Err(e) => {
            tracing::warn!("no background checkpoint for this batch: {e}");
            None
        }
    }
}

fn try_start(writer: &Connection, path: &str) -> Result<BackgroundCheckpoint> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // A checkpoint copies WAL frames into the database file; it reads no
    // b-tree, so this connection needs next to no page cache.
    conn.pragma_update(None, "cache_size", 16)?;
    let writer_autocheckpoint: i64 =
        writer.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?;
    let batch_pages = batch_autocheckpoint_pages(writer)?;
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let thread = std::thread::Builder::new()
        .name("index-checkpoint".into())
        .spawn({
            let (stop, rounds) = (Arc::clone(&stop), Arc::clone(&rounds));
            move || run(&conn, &stop, &rounds)
        })
        .map_err(|e| NexusError::Sync(format!("cannot start the checkpointer: {e}")))?;
    let mut running = BackgroundCheckpoint {
        stop,
        rounds,
        thread: Some(thread),
        writer_autocheckpoint,
    };
    if let Err(e) = writer.pragma_update(None, "wal_autocheckpoint", batch_pages) {
        running.stop_thread();
        return Err(e.into());
    }
    Ok(running)
}

impl BackgroundCheckpoint {
    /// How many checkpoints the thread has run.
    pub fn rounds(&self) -> u64 {
        self.rounds.load(Ordering::Relaxed)
    }

    /// Stops the thread and gives the writer its automatic checkpoint back.
    pub fn finish(mut self, writer: &Connection) -> Result<()> {
        self.stop_thread();
        writer.pragma_update(None, "wal_autocheckpoint", self.writer_autocheckpoint)?;
        Ok(())
    }

    fn stop_thread(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            if thread.join().is_err() {
                tracing::warn!("the checkpointer thread panicked");
            }
        }
    }
}

impl Drop for BackgroundCheckpoint {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

/// The thread: passive checkpoints until told to stop. It rests when
/// little is waiting, and when a checkpoint got no further than the last
/// (a reader's snapshot holds the rest back), so that it never spins. An
/// error ends it with a warning; the writer's own automatic checkpoint
/// still bounds the WAL.
fn run(conn: &Connection, stop: &AtomicBool, rounds: &AtomicU64) {
    let mut last_copied = -1;
    while !stop.load(Ordering::Relaxed) {
        let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        rounds.fetch_add(1, Ordering::Relaxed);
        match result {
            Ok((in_wal, copied)) => {
                if in_wal - copied < IDLE_BELOW_PAGES || copied == last_copied {
                    std::thread::park_timeout(REST);
                }
                last_copied = copied;
            }
            Err(e) => {
                tracing::warn!("background checkpoint stopped: {e}");
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn autocheckpoint(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap()
    }

    #[test]
    fn copies_committed_pages_into_the_database_file_while_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.sqlite");
        let writer = crate::db::open(&path).unwrap();
        let running = start(&writer).unwrap();
        // 64 MiB of 16 KiB pages.
        assert_eq!(autocheckpoint(&writer), 4096);
        writer
            .execute_batch(
                "CREATE TABLE t (x TEXT);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
                 INSERT INTO t SELECT printf('%0500d', i) FROM n;",
            )
            .unwrap();
        // The writer's own checkpoint would not run below 64 MiB of WAL,
        // so pages reach the database file only through the thread.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        // The table is about 10 MiB; 8 MiB of it in the database file
        // means checkpoints ran.
        let main_file_bytes = || std::fs::metadata(&path).unwrap().len();
        while main_file_bytes() < 8 << 20 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint: the database file has {} bytes",
                main_file_bytes()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        running.finish(&writer).unwrap();
        assert_eq!(autocheckpoint(&writer), 1000, "SQLite's default, as before");
        let rows: i64 = writer
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 20000);
    }

    /// A reader holding an old snapshot keeps a passive checkpoint from
    /// copying the newer pages; the thread then rests between tries
    /// instead of spinning on a core the batch needs.
    #[test]
    fn rests_while_a_reader_holds_back_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.sqlite");
        let writer = crate::db::open(&path).unwrap();
        writer
            .execute_batch("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('first');")
            .unwrap();
        let reader = crate::db::open(&path).unwrap();
        reader.execute_batch("BEGIN").unwrap();
        let seen: i64 = reader
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(seen, 1);
        writer
            .execute_batch(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
                 INSERT INTO t SELECT printf('%0500d', i) FROM n;",
            )
            .unwrap();
        let running = start(&writer).unwrap();
        let started = std::time::Instant::now();
        let deadline = started + Duration::from_secs(20);
        while running.rounds() < 10 {
            assert!(
                std::time::Instant::now() < deadline,
                "the checkpointer never ran"
            );
            std::thread::yield_now();
        }
        // Ten tries, at least eight of them after a rest: a spinning
        // thread gets there in in a few milliseconds.
        assert!(
            started.elapsed() >= REST * 8,
            "10 checkpoints in {:?}: the thread did not rest",
            started.elapsed()
        );
        running.finish(&writer).unwrap();
        reader.execute_batch("COMMIT").unwrap();
    }

    #[test]
    fn an_in_memory_database_gets_no_thread() {
        let conn = crate::db::open_in_memory().unwrap();
        assert!(start(&conn).is_none());
        assert_eq!(autocheckpoint(&conn), 1000);
    }
}
