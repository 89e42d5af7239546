//! A background checkpointer for large batches.
//!
//! In WAL mode every committed page is written twice: into the WAL, and
//! later, by a checkpoint, into the database file. SQLite's automatic
//! checkpoint runs inside the commit that crosses 1000 WAL pages, on the
//! writer's thread, so during a cold index about a fifth of the writer's
//! time went to copying pages and waiting for fsync.
//!
//! While a large batch runs, a thread of its own (`index-checkpoint`, with
//! its own connection) does the copying instead, and the writer's automatic
//! checkpoint is raised to [`BATCH_AUTOCHECKPOINT_BYTES`], a safety net
//! that bounds the WAL should the thread fall behind.
//!
//! The thread first stays quiet until the WAL file holds
//! [`QUIET_WAL_BYTES`]. A batch commits a chunk at a time, and each commit
//! writes again every page it touched: the pages of an index that takes
//! keys all over its range are in nearly every commit. A checkpoint during
//! the batch copies each such page once per round, and on two cores it
//! takes its time from the reader and the writer of the batch. Copied at
//! the end instead, each page is copied once: a cold index of 101,000
//! objects (83 MB of WAL, 63 MB of database) took a median 0.39 s instead
//! of 0.44 s (11 paired runs, 10 of them faster), and wrote 83 MB instead
//! of 161 MB before it was done. Past [`QUIET_WAL_BYTES`] (larger batches)
//! the thread copies while the batch goes on, with passive checkpoints,
//! which never block the writer or readers.
//!
//! When the batch ends ([`BackgroundCheckpoint::finish`]) the thread copies
//! what is left while the engine goes on (a [`Drain`]), and the writer gets
//! SQLite's automatic checkpoint back once the thread is copying. A passive
//! checkpoint holds SQLite's checkpoint lock while it copies, so a commit
//! of the writer meanwhile does not copy the same pages again on its own
//! thread (its automatic checkpoint finds the lock taken and leaves it);
//! and a drain that finds the lock taken tries again rather than stopping.
//! Stopping a drain (dropping it) interrupts the checkpoint under way,
//! which SQLite allows at any point: what is left is copied later, by the
//! writer's automatic checkpoint or when the last connection closes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::{Connection, InterruptHandle, OpenFlags};

use crate::error::{NexusError, Result};

/// The writer's automatic checkpoint during a large batch: at 512 MiB of
/// WAL, whatever the page size (SQLite counts it in pages). Above
/// [`QUIET_WAL_BYTES`], so that the thread copies first.
pub const BATCH_AUTOCHECKPOINT_BYTES: i64 = 512 << 20;

/// WAL bytes not yet copied up to which the thread leaves the copying to
/// the end of the batch (see the module documentation): how far the WAL
/// may run ahead of the database during a batch before copying begins.
pub const QUIET_WAL_BYTES: u64 = 128 << 20;

/// Fewer WAL pages than this waiting: the thread rests a moment.
const IDLE_BELOW_PAGES: i64 = 256;

/// How long the thread rests when there is little to copy, or when a
/// reader's snapshot keeps it from copying more.
const REST: Duration = Duration::from_millis(5);

/// How many times in a row a drain finds a reader's snapshot holding the
/// rest back before it leaves that rest to the writer's own automatic
/// checkpoint (about a second of [`REST`]s).
const DRAIN_TRIES: u32 = 200;

/// How long [`BackgroundCheckpoint::finish`] waits for the thread to begin
/// its drain before giving the writer its checkpoint back anyway.
const DRAIN_START_WAIT: Duration = Duration::from_millis(200);

/// What the batch and the thread share.
#[derive(Debug, Default)]
struct Shared {
    /// Stop now (the drain is given up: the last connection to close, or
    /// the writer's automatic checkpoint, copies what is left).
    stop: AtomicBool,
    /// The batch has ended: copy everything, then end.
    drain: AtomicBool,
    /// The thread is about to run (or is running) its draining checkpoints.
    draining: AtomicBool,
    /// A checkpoint is under way (it holds SQLite's checkpoint lock).
    in_checkpoint: AtomicBool,
    /// Checkpoints run so far.
    rounds: AtomicU64,
}

/// The thread connection's interrupt handle (which has no `Debug`).
struct Interrupter(InterruptHandle);

impl std::fmt::Debug for Interrupter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Interrupter")
    }
}

/// A running checkpointer; [`BackgroundCheckpoint::finish`] ends the batch.
#[derive(Debug)]
pub struct BackgroundCheckpoint {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    /// Interrupts the thread's checkpoint under way when it must stop.
    interrupt: Arc<Interrupter>,
    /// The writer's automatic checkpoint before, given back at the end.
    writer_autocheckpoint: i64,
}

/// The copying that goes on after a batch. Dropping it stops the thread
/// after the checkpoint under way and waits for it.
#[derive(Debug)]
pub struct Drain {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    interrupt: Arc<Interrupter>,
}

/// Starts a checkpointer for the database of `writer`. `None` for a
/// database without a file (in memory), and when the thread or its
/// connection cannot be had: it only makes a large batch faster, so the
/// batch goes on without it (with a warning).
pub fn start(writer: &Connection) -> Option<BackgroundCheckpoint> {
    start_quiet_until(writer, QUIET_WAL_BYTES)
}

/// [`start`], with the thread quiet until the WAL holds `quiet_bytes`.
fn start_quiet_until(writer: &Connection, quiet_bytes: u64) -> Option<BackgroundCheckpoint> {
    let path = writer.path().filter(|p| !p.is_empty())?.to_owned();
    match try_start(writer, &path, quiet_bytes) {
        Ok(running) => Some(running),
        Err(e) => {
            tracing::warn!("no background checkpoint for this batch: {e}");
            None
        }
    }
}

fn try_start(writer: &Connection, path: &str, quiet_bytes: u64) -> Result<BackgroundCheckpoint> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // A checkpoint copies WAL frames into the database file; it reads no
    // b-tree, so this connection needs next to no page cache.
    conn.pragma_update(None, "cache_size", 16)?;
    let writer_autocheckpoint: i64 =
        writer.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))?;
    // SQLite counts both sizes in pages.
    let page_size: i64 = writer
        .query_row("PRAGMA page_size", [], |r| r.get::<_, i64>(0))?
        .max(512);
    let batch_pages = BATCH_AUTOCHECKPOINT_BYTES / page_size;
    let quiet_pages = i64::try_from(quiet_bytes).unwrap_or(i64::MAX) / page_size;
    let interrupt = Arc::new(Interrupter(conn.get_interrupt_handle()));
    let shared = Arc::new(Shared::default());
    let thread = std::thread::Builder::new()
        .name("index-checkpoint".into())
        .spawn({
            let shared = Arc::clone(&shared);
            move || run(&conn, quiet_pages, &shared)
        })
        .map_err(|e| NexusError::Sync(format!("cannot start the checkpointer: {e}")))?;
    let mut running = BackgroundCheckpoint {
        shared,
        thread: Some(thread),
        interrupt,
        writer_autocheckpoint,
    };
    if let Err(e) = writer.pragma_update(None, "wal_autocheckpoint", batch_pages) {
        stop_and_join(&running.shared, &running.interrupt, &mut running.thread);
        return Err(e.into());
    }
    Ok(running)
}

impl BackgroundCheckpoint {
    /// How many checkpoints the thread has run.
    pub fn rounds(&self) -> u64 {
        self.shared.rounds.load(Ordering::Relaxed)
    }

    /// Ends the batch: the thread goes on to copy what is left, and the
    /// writer gets its automatic checkpoint back once the thread is copying
    /// (so that the writer's next commit does not copy it all itself).
    /// Keep the [`Drain`] while the engine goes on.
    pub fn finish(mut self, writer: &Connection) -> Result<Drain> {
        self.shared.drain.store(true, Ordering::Relaxed);
        let thread = self.thread.take();
        if let Some(thread) = &thread {
            thread.thread().unpark();
            let deadline = Instant::now() + DRAIN_START_WAIT;
            // A checkpoint under way (of the batch) holds the lock already.
            while !self.shared.draining.load(Ordering::Acquire)
                && !self.shared.in_checkpoint.load(Ordering::Acquire)
                && !thread.is_finished()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_micros(50));
            }
        }
        let drain = Drain {
            shared: Arc::clone(&self.shared),
            thread,
            interrupt: Arc::clone(&self.interrupt),
        };
        writer.pragma_update(None, "wal_autocheckpoint", self.writer_autocheckpoint)?;
        Ok(drain)
    }
}

impl Drop for BackgroundCheckpoint {
    fn drop(&mut self) {
        stop_and_join(&self.shared, &self.interrupt, &mut self.thread);
    }
}

impl Drain {
    /// Whether the copying has ended.
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Waits until the copying has ended.
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::warn!("the checkpointer thread panicked");
        }
    }
}

impl Drop for Drain {
    fn drop(&mut self) {
        stop_and_join(&self.shared, &self.interrupt, &mut self.thread);
    }
}

/// Stops the thread, interrupting the checkpoint under way, and waits for
/// it.
fn stop_and_join(shared: &Shared, interrupt: &Interrupter, thread: &mut Option<JoinHandle<()>>) {
    shared.stop.store(true, Ordering::Relaxed);
    if let Some(thread) = thread.take() {
        if !thread.is_finished() {
            interrupt.0.interrupt();
        }
        thread.thread().unpark();
        if thread.join().is_err() {
            tracing::warn!("the checkpointer thread panicked");
        }
    }
}

/// What a checkpoint found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Checkpointed {
    /// Another connection's checkpoint held the lock: nothing was done.
    Busy,
    /// The database is not in WAL mode.
    NoWal,
    /// The WAL's frames, and how many of them are in the database file.
    Frames { in_wal: i64, copied: i64 },
}

/// A checkpoint in `mode` (`PASSIVE` copies; `NOOP` only counts).
fn checkpoint(conn: &Connection, mode: &str, shared: &Shared) -> rusqlite::Result<Checkpointed> {
    shared.in_checkpoint.store(true, Ordering::Release);
    let result = conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
        ))
    });
    shared.in_checkpoint.store(false, Ordering::Release);
    if mode != "NOOP" {
        shared.rounds.fetch_add(1, Ordering::Relaxed);
    }
    // SQLite reports (1, -1, -1) when the lock was taken, (0, -1, -1)
    // outside WAL mode.
    Ok(match result? {
        (1, -1, -1) => Checkpointed::Busy,
        (_, -1, _) => Checkpointed::NoWal,
        (_, in_wal, copied) => Checkpointed::Frames { in_wal, copied },
    })
}

/// Logs why the thread ends on `e`, unless it was told to stop (a stop
/// interrupts the checkpoint under way).
fn stopped_on(e: &rusqlite::Error, shared: &Shared) {
    if !shared.stop.load(Ordering::Relaxed) {
        tracing::warn!("background checkpoint stopped: {e}");
    }
}

/// The thread: quiet until the WAL holds `quiet_pages` pages not yet
/// copied or the batch ends, then passive checkpoints until the batch ends,
/// then the drain. It rests when little is waiting, and when a checkpoint
/// got no further than the last (a reader's snapshot holds the rest back,
/// or another checkpoint holds the lock), so that it never spins. An error
/// ends it with a warning; the writer's own automatic checkpoint still
/// bounds the WAL.
fn run(conn: &Connection, quiet_pages: i64, shared: &Shared) {
    let batch_on = || !shared.stop.load(Ordering::Relaxed) && !shared.drain.load(Ordering::Relaxed);
    // Quiet: counting (a NOOP checkpoint takes no lock and copies nothing).
    while batch_on() {
        match checkpoint(conn, "NOOP", shared) {
            Ok(Checkpointed::Frames { in_wal, copied }) if in_wal - copied >= quiet_pages => break,
            Ok(_) => std::thread::park_timeout(REST),
            Err(e) => return stopped_on(&e, shared),
        }
    }
    let mut last_copied = -1;
    while batch_on() {
        match checkpoint(conn, "PASSIVE", shared) {
            Ok(Checkpointed::Frames { in_wal, copied }) => {
                if in_wal - copied < IDLE_BELOW_PAGES || copied == last_copied {
                    std::thread::park_timeout(REST);
                }
                last_copied = copied;
            }
            Ok(Checkpointed::Busy) => std::thread::park_timeout(REST),
            Ok(Checkpointed::NoWal) => return,
            Err(e) => return stopped_on(&e, shared),
        }
    }
    if shared.stop.load(Ordering::Relaxed) {
        return;
    }
    drain(conn, shared);
}

/// Copies everything the WAL holds, trying again while a reader's
/// snapshot holds part of it back or another checkpoint holds the lock,
/// for at most [`DRAIN_TRIES`] rests in a row without progress.
fn drain(conn: &Connection, shared: &Shared) {
    shared.draining.store(true, Ordering::Release);
    let (mut last_copied, mut stuck) = (-1, 0);
    while !shared.stop.load(Ordering::Relaxed) {
        let progress = match checkpoint(conn, "PASSIVE", shared) {
            Ok(Checkpointed::Frames { in_wal, copied }) if copied >= in_wal => return,
            Ok(Checkpointed::Frames { copied, .. }) => {
                let moved = copied != last_copied;
                last_copied = copied;
                moved
            }
            Ok(Checkpointed::Busy) => false,
            Ok(Checkpointed::NoWal) => return,
            Err(e) => return stopped_on(&e, shared),
        };
        if progress {
            stuck = 0;
        } else {
            stuck += 1;
            if stuck > DRAIN_TRIES {
                return;
            }
            std::thread::park_timeout(REST);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Adds table `table` with `rows` rows of about 500 bytes, in one
    /// commit.
    fn add_rows(conn: &Connection, table: &str, rows: usize) {
        conn.execute_batch(&format!(
            "CREATE TABLE {table} (x TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {rows})
             INSERT INTO {table} SELECT printf('%0500d', i) FROM n;"
        ))
        .unwrap();
    }

    fn autocheckpoint(conn: &Connection) -> i64 {
        conn.query_row("PRAGMA wal_autocheckpoint", [], |r| r.get(0))
            .unwrap()
    }

    /// Past its quiet size, the thread copies while the batch goes on.
    #[test]
    fn copies_committed_pages_into_the_database_file_while_the_writer_goes_on() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.sqlite");
        let writer = crate::db::open(&path).unwrap();
        let running = start_quiet_until(&writer, 1 << 20).unwrap();
        // 512 MiB of 8 KiB pages.
        assert_eq!(autocheckpoint(&writer), 65536);
        add_rows(&writer, "t", 20000);
        // The writer's own checkpoint would not run below 512 MiB of WAL,
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
        running.finish(&writer).unwrap().wait();
        assert_eq!(autocheckpoint(&writer), 1000, "SQLite's default, as before");
        let rows: i64 = writer
            .query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 20000);
    }

    /// Below its quiet size, the thread copies nothing while the batch
    /// runs; when the batch ends, it copies everything in the background,
    /// and the writer has its automatic checkpoint back at once.
    #[test]
    fn a_small_batch_is_copied_once_when_it_ends() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.sqlite");
        let writer = crate::db::open(&path).unwrap();
        let running = start(&writer).unwrap();
        for chunk in 0..10 {
            add_rows(&writer, &format!("t{chunk}"), 2000);
        }
        // Ten commits of about 1 MiB, each a few milliseconds apart: a
        // thread that copied during the batch would have run by now.
        assert_eq!(running.rounds(), 0, "copied during the batch");
        let main_file_bytes = || std::fs::metadata(&path).unwrap().len();
        assert!(main_file_bytes() < 1 << 20, "{} bytes", main_file_bytes());

        let drain = running.finish(&writer).unwrap();
        assert_eq!(autocheckpoint(&writer), 1000, "SQLite's default, as before");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !drain.is_finished() {
            assert!(
                std::time::Instant::now() < deadline,
                "the drain did not end"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        // About 10 MiB of rows, all of them in the database file now.
        assert!(main_file_bytes() >= 10 << 20, "{} bytes", main_file_bytes());
        let (in_wal, copied): (i64, i64) = writer
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(in_wal, copied);
        let rows: i64 = writer
            .query_row("SELECT COUNT(*) FROM t9", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2000);
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
        let running = start_quiet_until(&writer, 0).unwrap();
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

    /// The quiet size counts the WAL's frames not copied yet, not the WAL
    /// file's size, which stays at its largest after a checkpoint.
    #[test]
    fn a_large_wal_file_from_before_does_not_end_the_quiet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.sqlite");
        let writer = crate::db::open(&path).unwrap();
        add_rows(&writer, "t", 8000);
        writer
            .execute_batch("PRAGMA wal_checkpoint(PASSIVE);")
            .unwrap();
        let wal_bytes = std::fs::metadata(dir.path().join("v.sqlite-wal"))
            .unwrap()
            .len();
        assert!(wal_bytes > 4 << 20, "{wal_bytes}");

        let running = start_quiet_until(&writer, 2 << 20).unwrap();
        for chunk in 0..5 {
            add_rows(&writer, &format!("u{chunk}"), 300);
        }
        assert_eq!(running.rounds(), 0, "copied during a small batch");
        running.finish(&writer).unwrap().wait();
        let (in_wal, copied): (i64, i64) = writer
            .query_row("PRAGMA wal_checkpoint(NOOP)", [], |r| {
                Ok((r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(in_wal, copied, "the drain copied everything");
    }

    #[test]
    fn an_in_memory_database_gets_no_thread() {
        let conn = crate::db::open_in_memory().unwrap();
        assert!(start(&conn).is_none());
        assert_eq!(autocheckpoint(&conn), 1000);
    }
}
