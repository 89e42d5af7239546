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
//! checkpoint is raised to [`BATCH_AUTOCHECKPOINT_PAGES`] meanwhile, so the
//! WAL stays bounded even if the thread falls behind, and is put back to
//! SQLite's default when the batch ends.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::error::{NexusError, Result};

/// The writer's automatic checkpoint during a large batch: 16384 pages
/// (64 MiB of WAL with 4 KiB pages).
pub const BATCH_AUTOCHECKPOINT_PAGES: i64 = 16_384;

/// SQLite's default automatic checkpoint, restored after the batch.
const DEFAULT_AUTOCHECKPOINT_PAGES: i64 = 1000;

/// Fewer WAL pages than this waiting: the thread rests a moment.
const IDLE_BELOW_PAGES: i64 = 256;

/// How long the thread rests when there is little to copy.
const REST: Duration = Duration::from_millis(5);

/// A running checkpointer; [`BackgroundCheckpoint::finish`] stops it.
#[derive(Debug)]
pub struct BackgroundCheckpoint {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Starts a checkpointer for the database of `writer`, or returns `None`
/// for a database without a file (in memory).
pub fn start(writer: &Connection) -> Result<Option<BackgroundCheckpoint>> {
    let Some(path) = writer.path().filter(|p| !p.is_empty()).map(str::to_owned) else {
        return Ok(None);
    };
    let conn = Connection::open_with_flags(
        &path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // A checkpoint copies WAL frames into the database file; it reads no
    // b-tree, so this connection needs next to no page cache.
    conn.pragma_update(None, "cache_size", 16)?;
    writer.pragma_update(None, "wal_autocheckpoint", BATCH_AUTOCHECKPOINT_PAGES)?;
    let stop = Arc::new(AtomicBool::new(false));
    let thread = std::thread::Builder::new()
        .name("index-checkpoint".into())
        .spawn({
            let stop = Arc::clone(&stop);
            move || run(&conn, &stop)
        })
        .map_err(|e| NexusError::Sync(format!("cannot start the checkpointer: {e}")));
    match thread {
        Ok(thread) => Ok(Some(BackgroundCheckpoint {
            stop,
            thread: Some(thread),
        })),
        Err(e) => {
            writer.pragma_update(None, "wal_autocheckpoint", DEFAULT_AUTOCHECKPOINT_PAGES)?;
            Err(e)
        }
    }
}

impl BackgroundCheckpoint {
    /// Stops the thread and gives the writer its automatic checkpoint back.
    pub fn finish(mut self, writer: &Connection) -> Result<()> {
        self.stop_thread();
        writer.pragma_update(None, "wal_autocheckpoint", DEFAULT_AUTOCHECKPOINT_PAGES)?;
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

/// The thread: passive checkpoints until told to stop. An error ends it
/// with a warning; the writer's own automatic checkpoint still bounds the
/// WAL.
fn run(conn: &Connection, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        let result = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
        });
        match result {
            Ok((in_wal, copied)) => {
                if in_wal - copied < IDLE_BELOW_PAGES {
                    std::thread::park_timeout(REST);
                }
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
        let running = start(&writer).unwrap().unwrap();
        assert_eq!(autocheckpoint(&writer), BATCH_AUTOCHECKPOINT_PAGES);
        writer
            .execute_batch(
                "CREATE TABLE t (x TEXT);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
                 INSERT INTO t SELECT printf('%0500d', i) FROM n;",
            )
            .unwrap();
        // The writer's own checkpoint would not run below 16384 pages, so
        // pages reach the database file only through the thread.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let main_file_pages = || std::fs::metadata(&path).unwrap().len() / 4096;
        while main_file_pages() < 2000 {
            assert!(
                std::time::Instant::now() < deadline,
                "no checkpoint: the database file has {} pages",
                main_file_pages()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        running.finish(&writer).unwrap();
        assert_eq!(autocheckpoint(&writer), DEFAULT_AUTOCHECKPOINT_PAGES);
        let rows: i64 = writer
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 20000);
    }

    #[test]
    fn an_in_memory_database_gets_no_thread() {
        let conn = crate::db::open_in_memory().unwrap();
        assert!(start(&conn).unwrap().is_none());
        assert_eq!(autocheckpoint(&conn), DEFAULT_AUTOCHECKPOINT_PAGES);
    }
}
