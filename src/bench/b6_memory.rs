//! B6, memory: the process's peak resident set (VmHWM in
//! /proc/self/status) right after B1. It covers everything the process did
//! up to then: generating the B1 files, the B1 floor and the indexing.

use crate::bench::{Figure, Verdict};

/// Fixed part of the budget.
pub const BASE_BYTES: u64 = 30 * 1024 * 1024;
/// Per-object part of the budget.
pub const PER_OBJECT_BYTES: u64 = 150;

/// Measures, for a vault of `objects` objects.
pub fn run(objects: usize) -> Figure {
    figure(
        "B6 memory",
        objects,
        "VmHWM:",
        "peak RSS {} MB after B1 (VmHWM)",
    )
}

/// The resident set with the window open on the `objects`-object vault
/// after B5's scrolling (VmRSS). The process has run every earlier workload
/// too, and the allocator keeps some of what they freed, so this is an upper
/// bound of the app's own steady memory.
pub fn steady(objects: usize) -> Figure {
    figure(
        "B6 steady memory",
        objects,
        "VmRSS:",
        "RSS {} MB with the app open on the vault after scrolling (VmRSS; an upper bound: the \
         process ran every earlier workload)",
    )
}

/// The figure for /proc/self/status `field` against the budget for
/// `objects`; `{}` in `what` is replaced by the megabytes.
fn figure(workload: &str, objects: usize, field: &str, what: &str) -> Figure {
    let budget = BASE_BYTES + PER_OBJECT_BYTES * objects as u64;
    let target = format!(
        "≤ 30 MB + 150 B per object = {:.1} MB at {objects} objects",
        mb(budget)
    );
    match status_bytes(field) {
        Some(bytes) => Figure {
            workload: workload.into(),
            figure: what.replace("{}", &format!("{:.1}", mb(bytes))),
            target,
            floor: "-".into(),
            ratio: format!("{:.2}× budget", bytes as f64 / budget as f64),
            verdict: Verdict::of(bytes <= budget),
        },
        None => Figure {
            workload: workload.into(),
            figure: format!("not measured (no {field} in /proc/self/status on this system)"),
            target,
            floor: "-".into(),
            ratio: "-".into(),
            verdict: Verdict::NotMeasured,
        },
    }
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// VmHWM of this process, in bytes (Linux only).
pub fn peak_rss_bytes() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// A `kB` field of /proc/self/status, in bytes (Linux only).
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}
