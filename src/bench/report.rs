//! The machine description and the Markdown report.

use std::path::Path;
use std::time::Duration;

use crate::bench::{BenchOptions, Figure};

/// What the figures were measured on.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Logical CPUs (`nproc`).
    pub cpus: usize,
    /// CPU model from /proc/cpuinfo.
    pub cpu_model: String,
    /// Total memory from /proc/meminfo.
    pub memory: String,
    /// Kernel release.
    pub kernel: String,
    /// Filesystem type of the scratch folder, from /proc/mounts.
    pub filesystem: String,
    /// The build profile of this binary.
    pub profile: String,
    /// When (UTC).
    pub date: String,
}

impl Machine {
    /// Reads what Linux tells; "unknown" elsewhere.
    pub fn detect(scratch: &Path) -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        let cpuinfo = read("/proc/cpuinfo");
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let memory = read("/proc/meminfo")
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| {
                l.trim_start_matches("MemTotal:")
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
            .map(|kb| format!("{:.1} GiB", kb / 1024.0 / 1024.0))
            .unwrap_or_else(|| "unknown".into());
        let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
        Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu_model,
            memory,
            kernel: if kernel.is_empty() {
                "unknown".into()
            } else {
                kernel
            },
            filesystem: filesystem_of(scratch, &read("/proc/mounts")),
            profile: if cfg!(debug_assertions) {
                "debug (`dev` profile: me-nexus at opt-level 0, dependencies at opt-level 1)".into()
            } else {
                "optimised (`release` or a custom profile)".into()
            },
            date: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

/// The type of the filesystem with the longest mount point that holds
/// `path`.
fn filesystem_of(path: &Path, mounts: &str) -> String {
    let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            let (_, point, kind) = (parts.next()?, parts.next()?, parts.next()?);
            path.starts_with(point)
                .then(|| (point.len(), kind.to_string()))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "unknown".into(), |(_, kind)| kind)
}

/// The report, in Markdown.
pub fn markdown(
    machine: &Machine,
    options: &BenchOptions,
    b1_objects: usize,
    figures: &[Figure],
    elapsed: Duration,
) -> String {
    let cell = |s: &str| s.replace('|', "\\|");
    let mut md = String::new();
    md.push_str("# Benchmarks\n\n");
    md.push_str(&format!(
        "Written by `me-nexus bench --objects {}` ({:.0} s in all). Every figure is as measured; \
         a miss is reported as a miss. Targets are for a 2-core machine.\n\n",
        options.objects,
        elapsed.as_secs_f64()
    ));
    md.push_str("## Machine\n\n");
    md.push_str(&format!(
        "| | |\n|---|---|\n| CPUs (`nproc`) | {} |\n| CPU model | {} |\n| memory | {} |\n| kernel | {} |\n\
         | scratch filesystem | {} |\n| build profile | {} |\n| date | {} |\n\n",
        machine.cpus,
        cell(&machine.cpu_model),
        machine.memory,
        cell(&machine.kernel),
        cell(&machine.filesystem),
        machine.profile,
        machine.date
    ));
    md.push_str("## Figures\n\n");
    md.push_str(
        "| workload | figure | target | floor | ratio | verdict |\n|---|---|---|---|---|---|\n",
    );
    for f in figures {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            cell(&f.workload),
            cell(&f.figure),
            cell(&f.target),
            cell(&f.floor),
            cell(&f.ratio),
            f.verdict.as_str()
        ));
    }
    let rounds = crate::bench::b1_cold_index::ROUNDS;
    md.push_str(&format!(
        "\n## Workloads\n\n\
         - **B1 cold index**: {b1_objects} todos in collection files of 10 items, 10 files per folder, one \
         Markdown note per folder, and AI grants for 1% of the todos in `.nexus/permissions.json`; from an empty \
         database (`Engine::init` + `Engine::reconcile`) until `permission_stats` shows every object, every grant \
         and no problem. The floor walks the same folders, reads each file, parses it with serde_json and inserts \
         one row per object into a bare table in one transaction (no validation, hashing or bookkeeping). The \
         backup of the index that `init`, `sync` and the service take after a reconcile (`backup_if_due`) is \
         not included: it runs once the fresh index is already in use. Nor is the checkpoint that copies the \
         index from SQLite's write-ahead log into the database file (the B1 figure gives the WAL's size): below 128 MiB \
         of WAL it runs after the batch, in the background (`db::checkpointer`), while the index is already complete \
         and in use; each round ends it (the engine is dropped) before the next begins. Floor and engine run \
         {rounds} times, interleaved, with the kernel's dirty pages flushed (`sync`) between them; the figures \
         are the medians.\n\
         - **B2 incremental**: one 10-object file of the B1 vault edited 200 times; each time \
         `Engine::index_paths` for that path is timed (the file write and the watcher's debounce are not).\n\
         - **B3 burst**: the B1 vault watched by the real sync service (`spawn_sync_service`: notify, the \
         debouncer, the service thread); every collection file is rewritten with one item changed, as fast as \
         the bench can write; the figure runs from the last write until a read connection sees every change \
         (polled), then every file's indexed hash is checked against its bytes. The forced-overflow run starts \
         the service while `fs.inotify.max_queued_events` is 16 (restored at once), so the burst overflows the \
         kernel queue and the service must recover by a full reconcile. Its figure is that rescan: from the \
         start of the full reconcile that brought the database in line (the earliest still running when a \
         poll last found the database out of line; the service's status events are stamped on receipt by a \
         thread of their own) until a read connection sees every change; the time from the \
         last write is given beside it. That also holds the watcher's debounce, which reports lost events \
         only once no overflow has come for that long; with 16 events of room, the service's own reads and \
         database writes overflow the queue again until its batches end.\n\
         - **B4 queries**: the vault is made by `Engine::init` on an empty folder, then {} rows are inserted \
         directly into its `data_objects`, `object_content` and `object_permissions` tables in one transaction \
         (indexing that many generated files would take far longer than the queries). 10% are shared with AI, 5% \
         with the cloud, 2% read-only, 1 in 30 has an expiry (half of them past); as in an indexed vault, an object \
         with the default permissions has no permission row (1 in 7 has one holding the defaults, as a grant set back \
         leaves it). A grid page is what the window \
         asks its reader for: `query::page::page_after`, 100 rows after a cursor (keyset; no OFFSET), at rows 0, \
         ¼, ½, ¾ and the end, sorted by id, title, AI flag and expiry, both ways; the cursors come from the walk \
         the reader runs in the background in chunks (its time is given). The filtered count is \
         `db::stats::shared_unexpired` (AI-shared and unexpired).\n\
         - **B5 window**: the real app (`MeNexusApp`) run frame by frame without a window, as eframe runs \
         it, with tessellation; only the GPU upload is left out. Idle: the indexed B1 vault with its sync \
         service watching, no input for 5 s, counting the frames eframe would run (repaint requests and repaint \
         delays). Scrolling: the B4 vault opened read-only, the mouse wheel over the grid at 60 Hz (3 rows a \
         frame, a jump of tens of thousands of rows every 40th frame), each frame's CPU time on the UI thread (its thread CPU clock, so that time the scheduler gave to other threads or processes is not counted; the wall-clock times are given beside).\n\
         - **B8 start**: the app opening the B1 vault until the first frame that shows every object in the \
         stats cards and the first grid rows; and cold, with its database deleted, until the first frame that \
         shows the vault (with progress) while the index is rebuilt in the background.\n\
         - **B6 memory**: VmHWM of the bench process right after B1 (it includes generating the files and the \
         floor); and, as steady memory, VmRSS with the app open on the B4 vault after B5's scrolling (an upper \
         bound, as the process ran every earlier workload).\n\
         - **B7 write-back**: `Engine::set_permissions` toggling the AI flag of one key, 200 times; it returns \
         when the database has committed and `permissions.json` has been replaced (fsynced file and folder). The \
         floor is `vault::atomic::write_atomic` of the same bytes alone, timed right after each toggle so that \
         both see the same moments of the machine.\n",
        options.objects
    ));
    md
}
