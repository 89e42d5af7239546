//! Mass changes and hard failures: a burst of 10,000 files with the
//! service running, and a write that cannot be completed (file size limit,
//! as a full disk would) leaving the original file untouched.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::{TestVault, wait_until};
use me_nexus::sync::{SyncEvent, SyncState, spawn_sync_service};

const FILES: usize = 10_000;

fn todo_file(n: usize, text: &str) -> String {
    format!(r#"{{"schema":"core.todo","version":"1.0","data":[{{"id":1,"text":"{text} {n}"}}]}}"#)
}

#[test]
fn a_burst_of_10000_files_ends_with_the_db_equal_to_the_files() {
    let v = TestVault::empty();
    me_nexus::Engine::init(v.path())
        .unwrap()
        .reconcile()
        .unwrap();
    let sync = spawn_sync_service(v.path(), None).unwrap();
    wait_until("the service watches", Duration::from_secs(20), || {
        sync.events()
            .try_iter()
            .any(|e| matches!(e, SyncEvent::Status(s) if s.state == SyncState::Watching))
    });
    // Like an untar or a git checkout: 10,000 files in 100 folders at once.
    for n in 0..FILES {
        v.write(
            &format!("burst/d{:02}/t{n}.json", n % 100),
            &todo_file(n, "first"),
        );
    }
    let expected: BTreeSet<String> = (0..FILES)
        .map(|n| format!("burst/d{:02}/t{n}.json#1", n % 100))
        .collect();
    wait_until(
        "all 10,000 objects indexed",
        Duration::from_secs(300),
        || v.count("SELECT COUNT(*) FROM data_objects") == FILES as i64,
    );
    assert_eq!(v.keys().into_iter().collect::<BTreeSet<_>>(), expected);

    // And every file rewritten at once (a branch switch).
    for n in 0..FILES {
        v.write(
            &format!("burst/d{:02}/t{n}.json", n % 100),
            &todo_file(n, "second"),
        );
    }
    wait_until(
        "every object has its new content",
        Duration::from_secs(300),
        || {
            v.count("SELECT COUNT(*) FROM object_content WHERE content_json LIKE '%second%'")
                == FILES as i64
        },
    );
    assert_eq!(v.count("SELECT COUNT(*) FROM data_objects"), FILES as i64);
    assert_eq!(v.count("SELECT COUNT(*) FROM problems"), 0);
    sync.shutdown().unwrap();
}

#[test]
fn a_write_that_cannot_complete_leaves_the_original_untouched() {
    let v = TestVault::sample_initialised();
    let before = v.read("todos.json");
    // RLIMIT_FSIZE makes every write past 120 KiB fail, as a full disk does
    // (SIGXFSZ ignored, so the write returns an error instead of killing).
    let long_text = "x".repeat(124 * 1024);
    let content = format!(r#"{{"text": "{long_text}", "completed": false}}"#);
    let script = format!(
        "trap '' XFSZ; ulimit -f 120; exec {} save {} core.todo '{}' --key todos.json#1",
        env!("CARGO_BIN_EXE_me-nexus"),
        v.path_str(),
        content
    );
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .env("ME_NEXUS_CONFIG_DIR", v.config_dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success(), "the save must fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error:"), "{stderr}");
    assert!(
        stderr.contains("todos.json"),
        "the error names the file: {stderr}"
    );
    assert_eq!(
        v.read("todos.json"),
        before,
        "the original bytes are untouched"
    );
    // Nothing half-written is left to confuse the next sync.
    v.cli_ok(&["sync", v.path_str()]);
    let check = v.cli(&["check", v.path_str()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
}
