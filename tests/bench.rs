//! `me-nexus bench` through the real binary, at a small size: it exits 0,
//! prints one line per workload and writes each of them to the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn bench_runs_and_writes_every_workload() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("B.md");
    let output = Command::new(env!("CARGO_BIN_EXE_me-nexus"))
        // No forced overflow: it would lower a system-wide inotify limit
        // under the tests running alongside.
        .args(["bench", "--objects", "2000", "--no-overflow", "--out"])
        .arg(&report)
        .env("TMPDIR", dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        output.status
    );
    let text = std::fs::read_to_string(&report).unwrap();
    for workload in [
        "B1 cold index",
        "B2 incremental p50",
        "B2 incremental p99",
        "B4 stats",
        "B4 grid page",
        "B4 filtered count",
        "B6 memory",
        "B6 steady memory",
        "B7 write-back",
        "B3 ",
        "B5 ",
        "B8 ",
    ] {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(workload))
            .unwrap_or_else(|| panic!("no {workload} line in:\n{stdout}"));
        for part in ["figure ", "target ", "floor ", "ratio "] {
            assert!(line.contains(part), "{workload} line lacks {part}: {line}");
        }
        assert!(
            text.contains(&format!("| {workload}")),
            "{workload} missing from the report:\n{text}"
        );
    }
    for machine in ["`nproc`", "CPU model", "memory", "build profile", "date"] {
        assert!(text.contains(machine), "{machine} missing from the report");
    }
}
