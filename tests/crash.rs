//! Crash safety with real processes: `me-nexus` is killed with SIGKILL at
//! many moments of a write-back. After every kill each file holds either
//! its old or its new bytes (never torn or empty), an acknowledged edit is
//! never lost, and at the end the index reconciles to exactly what a fresh
//! index of the same files gives.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestVault;
use serde_json::Value;

const ITERATIONS: u32 = 240;

/// A small deterministic sequence of kill delays (0..16 ms), so that runs
/// are repeatable and still hit many moments of a write.
fn delay(i: u32) -> Duration {
    Duration::from_micros(u64::from(i.wrapping_mul(2_654_435_761) % 16_000))
}

fn todo_text(v: &TestVault, id: i64) -> String {
    let file: Value =
        serde_json::from_str(&v.read("todos.json")).expect("todos.json is valid JSON after a kill");
    file["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .map(|i| i["text"].as_str().unwrap().to_string())
        .unwrap()
}

fn ai_granted(v: &TestVault) -> bool {
    let file: Value = serde_json::from_str(&v.read(".nexus/permissions.json"))
        .expect("permissions.json is valid JSON after a kill");
    file["object_permissions"]["todos.json#2"]["share_with_ai"] == true
}

#[test]
fn kill_9_at_any_moment_of_a_write_loses_nothing() {
    let v = TestVault::sample_initialised();
    let bin = env!("CARGO_BIN_EXE_me-nexus");
    let mut acknowledged_text = todo_text(&v, 1);
    let mut acknowledged_ai = ai_granted(&v);
    let mut completed = 0;
    for i in 0..ITERATIONS {
        let before_text = todo_text(&v, 1);
        let before_ai = ai_granted(&v);
        let new_text = format!("iteration {i}");
        let want_ai = i % 2 == 0;
        let args: Vec<String> = if i % 3 == 2 {
            let value = if want_ai { "on" } else { "off" };
            vec![
                "perms".into(),
                v.path_str().into(),
                "todos.json#2".into(),
                "--ai".into(),
                value.into(),
            ]
        } else {
            let content = format!(r#"{{"text": "{new_text}", "completed": false}}"#);
            vec![
                "save".into(),
                v.path_str().into(),
                "core.todo".into(),
                content,
                "--key".into(),
                "todos.json#1".into(),
            ]
        };
        let mut child = Command::new(bin)
            .args(&args)
            .env("ME_NEXUS_CONFIG_DIR", v.config_dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Let it run for a moment, then SIGKILL it wherever it is.
        let kill_at = Instant::now() + delay(i);
        let mut exited_ok = false;
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                exited_ok = status.success();
                break;
            }
            if Instant::now() >= kill_at {
                child.kill().unwrap();
                child.wait().unwrap();
                break;
            }
            std::thread::yield_now();
        }
        // Old or new bytes, never torn: both files still parse, and hold
        // either the old or the new value.
        let text = todo_text(&v, 1);
        let ai = ai_granted(&v);
        if i % 3 == 2 {
            assert!(
                ai == before_ai || ai == want_ai,
                "iteration {i}: permissions.json torn"
            );
            if exited_ok {
                assert_eq!(
                    ai, want_ai,
                    "iteration {i}: an acknowledged permission change was lost"
                );
                acknowledged_ai = ai;
            }
        } else {
            assert!(
                text == before_text || text == new_text,
                "iteration {i}: todos.json holds {text:?}"
            );
            if exited_ok {
                assert_eq!(
                    text, new_text,
                    "iteration {i}: an acknowledged save was lost"
                );
                acknowledged_text = text.clone();
                completed += 1;
            }
        }
        let _ = (&acknowledged_text, acknowledged_ai);
    }
    assert!(
        completed > 0,
        "some writes completed, so acknowledgement was tested"
    );

    // On restart the index reconciles to the files; crash leftovers go.
    v.cli_ok(&["sync", v.path_str()]);
    let leftovers: Vec<_> = std::fs::read_dir(v.path())
        .unwrap()
        .chain(std::fs::read_dir(v.abs(".nexus")).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".nexus-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    let check = v.cli(&["check", v.path_str()]);
    let copies: Vec<String> = std::fs::read_dir(v.abs(".nexus/conflicts"))
        .map(|d| {
            d.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
                .collect()
        })
        .unwrap_or_default();
    assert!(
        check.status.success(),
        "{}\n{copies:#?}",
        String::from_utf8_lossy(&check.stdout)
    );

    // The index equals a fresh index of the same files.
    let fresh = TestVault::empty();
    common::copy_dir(v.path(), fresh.path());
    for f in ["vault.sqlite", "vault.sqlite-wal", "vault.sqlite-shm"] {
        let _ = std::fs::remove_file(fresh.abs(&format!(".nexus/{f}")));
    }
    fresh.cli_ok(&["sync", fresh.path_str()]);
    let listing = |t: &TestVault| -> Vec<(String, Value)> {
        let list: Value =
            serde_json::from_str(&t.cli_ok(&["list", t.path_str(), "--json"])).unwrap();
        list.as_array()
            .unwrap()
            .iter()
            .map(|o| {
                (
                    o["key"].as_str().unwrap().to_string(),
                    o["permissions"].clone(),
                )
            })
            .collect()
    };
    assert_eq!(listing(&v), listing(&fresh));
    let contents = |t: &TestVault| -> Vec<(String, String)> {
        let conn = t.db();
        let mut stmt = conn
            .prepare(
                "SELECT o.file_path, c.content_json FROM data_objects o JOIN object_content c ON c.object_id = o.id ORDER BY o.file_path",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(contents(&v), contents(&fresh));
}
