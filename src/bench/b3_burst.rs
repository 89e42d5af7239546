//! B3, burst: the sync service watches the B1 vault (the real service
//! thread with notify and its debouncer), every collection file is
//! rewritten at once, and the figure is the time from the last write until
//! the database holds every new version. Then every file's hash in the
//! index is checked against its bytes: zero misses.
//!
//! The second run forces an inotify queue overflow: the service starts
//! while `/proc/sys/fs/inotify/max_queued_events` is lowered to 16 (read by
//! the kernel when the watcher is created, restored right after), so the
//! burst overflows the queue, notify reports a Rescan, and the service must
//! recover with a full reconcile. Its target is the cold-index time of B1:
//! the rescan, from the start of the full reconcile that brought the
//! database in line until it holds every new version, against indexing
//! everything from nothing. The time from the last write is given beside
//! it; it also holds the watcher's debounce, which reports the lost events
//! only once that long has passed without another overflow. Event times
//! are taken on receipt, by a thread that does nothing else. Lowering the
//! limit needs root; without it the second run is reported as not
//! measured.

use std::path::Path;
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;
use rusqlite::{Connection, OpenFlags};

use crate::bench::data::{self, Layout};
use crate::bench::{Figure, Verdict, ms, ratio};
use crate::error::{IoContext, NexusError, Result};
use crate::sync::{SyncEvent, SyncHandle, SyncState, spawn_sync_service};

/// Target from the last write until the DB equals the files.
pub const TARGET: Duration = Duration::from_millis(1500);
/// Give up waiting after this long.
const DEADLINE: Duration = Duration::from_secs(300);
const MAX_QUEUED_EVENTS: &str = "/proc/sys/fs/inotify/max_queued_events";

/// Runs both bursts on the indexed vault at `vault_dir`; `cold_index` is
/// B1's time, the overflow run's target.
pub fn run(
    vault_dir: &Path,
    layout: &Layout,
    cold_index: Duration,
    forced_overflow: bool,
) -> Result<Vec<Figure>> {
    let mut figures = Vec::new();
    let plain = burst(vault_dir, layout, 1_001, None)?;
    figures.push(Figure {
        workload: "B3 burst".into(),
        figure: format!(
            "DB equal to the files {} after the last of {} file writes ({} writing them; \
             the DB polled every {}; {} of {} files with the right hash in the index; \
             debounce {} ms included)",
            ms(plain.settled),
            layout.files,
            ms(plain.writing),
            ms(plain.poll),
            plain.matching,
            layout.files,
            plain.debounce_ms,
        ),
        target: format!("≤{} and zero misses", ms(TARGET)),
        floor: "-".into(),
        ratio: format!("{} target", ratio(plain.settled, TARGET)),
        verdict: Verdict::of(plain.settled <= TARGET && plain.matching == layout.files),
    });
    let overflow = match std::fs::read_to_string(MAX_QUEUED_EVENTS) {
        _ if !forced_overflow => Err(NexusError::InvalidInput(
            "skipped with --no-overflow".into(),
        )),
        Ok(original) => burst(vault_dir, layout, 1_002, Some(original.trim().to_string())),
        Err(e) => Err(NexusError::io(Path::new(MAX_QUEUED_EVENTS), e)),
    };
    figures.push(match overflow {
        Ok(run) => Figure {
            workload: "B3 burst with a forced overflow".into(),
            figure: format!(
                "the full reconcile that recovered took {} until the DB equalled the files \
                     (it started {} after the last write); DB equal to the files {} after the \
                     last write, debounce {} ms included (queue limit 16 events; {} of {} files \
                     with the right hash)",
                run.rescan.map_or_else(|| "-".to_string(), ms),
                run.rescan_started
                    .map_or_else(|| "-".to_string(), signed_ms),
                ms(run.settled),
                run.debounce_ms,
                run.matching,
                layout.files
            ),
            target: format!("rescan ≤ cold-index time ({})", ms(cold_index)),
            floor: "-".into(),
            ratio: run.rescan.map_or_else(
                || "-".to_string(),
                |rescan| format!("{} target", ratio(rescan, cold_index)),
            ),
            verdict: Verdict::of(
                run.rescan.is_some_and(|rescan| rescan <= cold_index)
                    && run.matching == layout.files
                    && run.full_reconcile,
            ),
        },
        Err(e) => Figure {
            workload: "B3 burst with a forced overflow".into(),
            figure: format!("not measured ({e})"),
            target: "-".into(),
            floor: "-".into(),
            ratio: "-".into(),
            verdict: Verdict::NotMeasured,
        },
    });
    Ok(figures)
}

struct Burst {
    writing: Duration,
    /// From the last write until the DB equalled the files.
    settled: Duration,
    poll: Duration,
    matching: usize,
    full_reconcile: bool,
    /// From the start of the last full reconcile before the DB equalled
    /// the files until then (`None`: no full reconcile ran).
    rescan: Option<Duration>,
    /// When that reconcile started, after the last write (negative:
    /// before it), in milliseconds.
    rescan_started: Option<f64>,
    debounce_ms: u64,
}

/// What the service's events said.
#[derive(Default)]
struct Seen {
    /// Full reconciles: when each started, and when it ended (the next
    /// Watching), if it has.
    fulls: Vec<(Instant, Option<Instant>)>,
    /// Whether the service went back to watching since it last was busy.
    idle: bool,
}

impl Seen {
    fn note(&mut self, (at, event): (Instant, SyncEvent)) {
        if let SyncEvent::Status(s) = event {
            match s.state {
                SyncState::Watching => {
                    self.idle = true;
                    if let Some((_, end @ None)) = self.fulls.last_mut() {
                        *end = Some(at);
                    }
                }
                SyncState::Syncing { files } => {
                    self.idle = false;
                    if files == 0 {
                        self.fulls.push((at, None));
                    }
                }
                _ => {}
            }
        }
    }

    /// When the full reconcile that brought the database in line started:
    /// the earliest that started by `settled` (when a poll found the
    /// database in line) and was still running at `missed` (when the poll
    /// before found it not). A later one that started after that one had
    /// done the work does not count; if the earliest was already running
    /// and only came close, the figure errs long.
    fn recovering_start(&self, missed: Instant, settled: Instant) -> Option<Instant> {
        self.fulls
            .iter()
            .filter(|(start, end)| *start <= settled && end.is_none_or(|end| end >= missed))
            .map(|(start, _)| *start)
            .min()
    }
}

/// Milliseconds with a sign.
fn signed_ms(millis: f64) -> String {
    format!("{millis:.1} ms")
}

/// Forwards the service's events with the moment each arrived, on a thread
/// of its own, so that a busy poll loop does not delay the stamps.
fn stamp_events(events: &Receiver<SyncEvent>) -> Result<Receiver<(Instant, SyncEvent)>> {
    let (send, stamped) = crossbeam_channel::unbounded();
    let events = events.clone();
    std::thread::Builder::new()
        .name("bench-b3-events".into())
        .spawn(move || {
            // Ends when the service stops (its sender goes) or the bench
            // stops listening.
            while let Ok(event) = events.recv() {
                if send.send((Instant::now(), event)).is_err() {
                    break;
                }
            }
        })
        .map_err(|e| NexusError::Sync(format!("bench B3: no event thread: {e}")))?;
    Ok(stamped)
}

/// Starts the service (with the queue limit lowered to 16 while its
/// watcher is created, when `restore_limit` holds the value to put back),
/// rewrites every collection file with edit `edit` and waits.
fn burst(
    vault_dir: &Path,
    layout: &Layout,
    edit: usize,
    restore_limit: Option<String>,
) -> Result<Burst> {
    if restore_limit.is_some() {
        std::fs::write(MAX_QUEUED_EVENTS, "16").with_path(Path::new(MAX_QUEUED_EVENTS))?;
    }
    let service = spawn_sync_service(vault_dir, None);
    let watching = service
        .as_ref()
        .map_err(|e| NexusError::Sync(e.to_string()))
        .and_then(|s| wait_watching(s.events()));
    if let Some(original) = &restore_limit {
        std::fs::write(MAX_QUEUED_EVENTS, original).with_path(Path::new(MAX_QUEUED_EVENTS))?;
    }
    let service: SyncHandle = service?;
    watching?;
    let events = stamp_events(service.events())?;
    let vault = crate::vault::Vault::open(vault_dir)?;
    let debounce_ms = vault.config().settings.debounce_ms;
    let db_path = vault.db_path();
    drop(vault);

    let started = Instant::now();
    for n in 0..layout.files {
        let path = vault_dir.join(layout.file_rel(n));
        std::fs::write(&path, data::collection_bytes(n, Some(edit))).with_path(&path)?;
    }
    let last_write = Instant::now();
    let writing = last_write - started;

    let conn = Connection::open_with_flags(
        &db_path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(crate::db::BUSY_TIMEOUT)?;
    // Titles are trimmed: "Task 7 edited 1001" or "Task 7 edited 1002 x".
    let patterns = [
        format!("Task * edited {edit}"),
        format!("Task * edited {edit} *"),
    ];
    let mut polls = 0u32;
    let mut seen = Seen::default();
    // When the last poll that found the database not in line began.
    let mut missed = last_write;
    let settled = loop {
        for event in events.try_iter() {
            seen.note(event);
        }
        let asked = Instant::now();
        let edited: i64 = conn
            .prepare_cached(
                "SELECT COUNT(*) FROM data_objects WHERE title GLOB ?1 OR title GLOB ?2",
            )?
            .query_row(rusqlite::params_from_iter(&patterns), |r| r.get(0))?;
        polls += 1;
        if usize::try_from(edited).unwrap_or(0) == layout.files {
            break Instant::now();
        }
        missed = asked;
        if last_write.elapsed() > DEADLINE || usize::try_from(edited).unwrap_or(0) > layout.files {
            return Err(NexusError::Sync(format!(
                "bench B3: only {edited} of {} edits indexed after {}",
                layout.files,
                ms(DEADLINE)
            )));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Events that came while the last poll ran.
    for event in events.try_iter() {
        seen.note(event);
    }
    let full_reconcile = seen.fulls.iter().any(|(start, _)| *start <= settled);
    let recovering = seen.recovering_start(missed, settled);
    let rescan = recovering.map(|start| settled.saturating_duration_since(start));
    let rescan_started = recovering.map(|start| {
        if start >= last_write {
            (start - last_write).as_secs_f64() * 1e3
        } else {
            -(last_write - start).as_secs_f64() * 1e3
        }
    });
    let settled = settled.saturating_duration_since(last_write);
    let poll = settled / polls.max(1);
    // Let the service finish its batch before checking every file.
    let quiet_deadline = Instant::now() + DEADLINE;
    while !seen.idle && Instant::now() < quiet_deadline {
        if let Ok(event) = events.recv_timeout(Duration::from_millis(100)) {
            seen.note(event);
        }
    }
    let matching = matching_files(&conn, vault_dir, layout)?;
    drop(service);
    Ok(Burst {
        writing,
        settled,
        poll,
        matching,
        full_reconcile,
        rescan,
        rescan_started,
        debounce_ms,
    })
}

fn wait_watching(events: &Receiver<SyncEvent>) -> Result<()> {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match events.recv_timeout(left) {
            Ok(SyncEvent::Status(s)) if s.state == SyncState::Watching => return Ok(()),
            Ok(_) => {}
            Err(_) => {
                return Err(NexusError::Sync(
                    "bench B3: the sync service did not start watching".into(),
                ));
            }
        }
    }
}

/// Collection files whose indexed hash equals the hash of their bytes.
fn matching_files(conn: &Connection, vault_dir: &Path, layout: &Layout) -> Result<usize> {
    let mut stmt = conn.prepare("SELECT hash FROM files WHERE path = ?1")?;
    let mut matching = 0;
    for n in 0..layout.files {
        let rel = layout.file_rel(n);
        let path = vault_dir.join(&rel);
        let bytes = std::fs::read(&path).with_path(&path)?;
        let indexed: Option<String> =
            stmt.query_row([&rel], |r| r.get(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
        if indexed.as_deref() == Some(crate::db::file_hash(&bytes).as_str()) {
            matching += 1;
        }
    }
    Ok(matching)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rescan counted is the one that was running when the database
    /// was last seen out of line, not a later one that found nothing to do.
    #[test]
    fn the_recovering_reconcile_is_the_one_running_at_the_last_miss() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let seen = Seen {
            fulls: vec![
                (at(0), Some(at(50))),    // over before the last miss
                (at(100), Some(at(300))), // did the work
                (at(310), Some(at(320))), // a rescan that found nothing
            ],
            idle: true,
        };
        assert_eq!(seen.recovering_start(at(200), at(330)), Some(at(100)));
        // Still running when the database was found in line.
        let running = Seen {
            fulls: vec![(at(100), None)],
            idle: false,
        };
        assert_eq!(running.recovering_start(at(200), at(330)), Some(at(100)));
        // None ran after the last miss: no rescan to time.
        assert_eq!(seen.recovering_start(at(400), at(450)), None);
        // One that started after the database was in line does not count.
        let late = Seen {
            fulls: vec![(at(500), None)],
            idle: false,
        };
        assert_eq!(late.recovering_start(at(200), at(330)), None);
    }
}
