//! Lossless sync: a damaged or missing index is moved aside and rebuilt
//! from the files, backups rotate, one sync service per vault, a vanished
//! vault pauses instead of emptying the index, and a read-only vault reads.
//!
//! Every wait polls with a deadline; nothing sleeps for a fixed time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{TestVault, wait_until};
use serde_json::Value;

/// How long any one condition may take to hold.
const TIMEOUT: Duration = Duration::from_secs(15);

/// Objects in the sample vault.
const SAMPLE_OBJECTS: usize = 11;

// ---------------------------------------------------------------------------
// What a user would compare
// ---------------------------------------------------------------------------

/// BLAKE3 of every file outside `.nexus/`, plus `.nexus/permissions.json`
/// (user data too): what recovery must never change.
fn data_hashes(v: &TestVault) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_name() == ".nexus" {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(
                    rel,
                    blake3::hash(&std::fs::read(&path).unwrap())
                        .to_hex()
                        .to_string(),
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(v.path(), v.path(), &mut out);
    let perms = v.abs(".nexus/permissions.json");
    out.insert(
        ".nexus/permissions.json".into(),
        blake3::hash(&std::fs::read(perms).unwrap())
            .to_hex()
            .to_string(),
    );
    out
}

/// `me-nexus list --json` without the fields a rebuild may renumber or
/// re-stamp (row id, created_at, updated_at): key, schema, file, title and
/// permissions of every object.
fn listing(v: &TestVault) -> Vec<Value> {
    let out = v.cli_ok(&["list", v.path_str(), "--json"]);
    let mut objects: Vec<Value> = serde_json::from_str(&out).unwrap();
    for o in &mut objects {
        let map = o.as_object_mut().unwrap();
        map.remove("id");
        map.remove("created_at");
        map.remove("updated_at");
    }
    objects
}

fn recoveries(v: &TestVault) -> Vec<Value> {
    v.audit()
        .into_iter()
        .filter(|e| e["action"] == "recovery")
        .collect()
}

fn no_wal_or_shm(v: &TestVault) {
    for sidecar in [".nexus/vault.sqlite-wal", ".nexus/vault.sqlite-shm"] {
        let _ = std::fs::remove_file(v.abs(sidecar));
    }
}

/// Some bytes that are certainly not SQLite (deterministic, not zeros).
fn garbage(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x & 0xff) as u8
        })
        .collect()
}

/// Breaks the index with `damage`, runs `command` on the vault, and checks
/// what a user would: the command worked and saw every object, the objects
/// and permissions equal those before, no data file changed, the index
/// passes `me-nexus check`, one recovery line was audited, and (when files
/// were moved) they sit byte for byte in `.nexus/corrupt/<time>/`.
fn recovers(damage: impl FnOnce(&TestVault), command: &str) -> (TestVault, Value) {
    let v = TestVault::sample_initialised();
    let before = listing(&v);
    assert_eq!(before.len(), SAMPLE_OBJECTS);
    assert!(
        before
            .iter()
            .any(|o| o["permissions"]["share_with_ai"] == true)
    );
    let hashes = data_hashes(&v);
    no_wal_or_shm(&v);
    damage(&v);
    let damaged: BTreeMap<String, Vec<u8>> =
        ["vault.sqlite", "vault.sqlite-wal", "vault.sqlite-shm"]
            .into_iter()
            .filter_map(|n| {
                std::fs::read(v.abs(&format!(".nexus/{n}")))
                    .ok()
                    .map(|b| (n.to_string(), b))
            })
            .collect();

    match command {
        "status" => {
            let out = v.cli_ok(&["status", v.path_str(), "--json"]);
            let stats: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(stats["total_objects"], SAMPLE_OBJECTS as i64, "{out}");
        }
        "list" => assert_eq!(listing(&v), before),
        "sync" => {
            v.cli_ok(&["sync", v.path_str()]);
        }
        other => panic!("no such command in this test: {other}"),
    }

    assert_eq!(
        listing(&v),
        before,
        "objects and permissions after recovery"
    );
    assert_eq!(v.keys().len(), SAMPLE_OBJECTS);
    assert_eq!(data_hashes(&v), hashes, "a vault file changed");
    let check = v.cli(&["check", v.path_str()]);
    let check_out = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{check_out}");
    assert!(check_out.contains("database integrity: ok"), "{check_out}");

    let lines = recoveries(&v);
    assert_eq!(lines.len(), 1, "one recovery audited: {lines:?}");
    let line = lines[0].clone();
    if let Some(moved_to) = line["details"]["moved_to"].as_str() {
        assert!(moved_to.starts_with(".nexus/corrupt/"), "{line}");
        for name in line["details"]["files"].as_array().unwrap() {
            let name = name.as_str().unwrap();
            let kept = std::fs::read(v.abs(moved_to).join(name)).unwrap();
            if let Some(original) = damaged.get(name) {
                assert_eq!(&kept, original, "{name} was not kept byte for byte");
            }
        }
    }
    (v, line)
}

// ---------------------------------------------------------------------------
// A. Database recovery
// ---------------------------------------------------------------------------

#[test]
fn garbage_in_the_database_is_moved_aside_and_rebuilt() {
    let (v, line) = recovers(
        |v| std::fs::write(v.abs(".nexus/vault.sqlite"), garbage(64 * 1024)).unwrap(),
        "status",
    );
    let what = line["details"]["what"].as_str().unwrap();
    assert!(what.contains("database damaged"), "{line}");
    assert!(what.contains("rebuilding the index"), "{line}");
    let moved_to = v.abs(line["details"]["moved_to"].as_str().unwrap());
    assert_eq!(
        std::fs::read(moved_to.join("vault.sqlite")).unwrap(),
        garbage(64 * 1024)
    );
}

#[test]
fn a_truncated_database_is_moved_aside_and_rebuilt() {
    let (v, line) = recovers(
        |v| {
            let path = v.abs(".nexus/vault.sqlite");
            let bytes = std::fs::read(&path).unwrap();
            assert!(bytes.len() > 4096);
            std::fs::write(&path, &bytes[..4096]).unwrap();
        },
        "list",
    );
    assert!(
        line["details"]["what"]
            .as_str()
            .unwrap()
            .contains("database damaged"),
        "{line}"
    );
    let moved_to = v.abs(line["details"]["moved_to"].as_str().unwrap());
    assert_eq!(
        std::fs::metadata(moved_to.join("vault.sqlite"))
            .unwrap()
            .len(),
        4096
    );
}

#[test]
fn garbage_wal_and_shm_are_moved_aside_and_the_index_is_kept() {
    let (_v, line) = recovers(
        |v| {
            std::fs::write(v.abs(".nexus/vault.sqlite-wal"), garbage(8192)).unwrap();
            std::fs::write(v.abs(".nexus/vault.sqlite-shm"), garbage(32768)).unwrap();
        },
        "sync",
    );
    let what = line["details"]["what"].as_str().unwrap();
    assert!(what.contains("vault.sqlite-wal"), "{line}");
    assert!(what.contains("vault.sqlite-shm"), "{line}");
    let files: Vec<&str> = line["details"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert_eq!(files, ["vault.sqlite-wal", "vault.sqlite-shm"]);
}

#[test]
fn a_missing_database_is_rebuilt() {
    let (v, line) = recovers(
        |v| std::fs::remove_file(v.abs(".nexus/vault.sqlite")).unwrap(),
        "status",
    );
    assert_eq!(
        line["details"]["what"],
        "database missing; rebuilding the index from the vault files and permissions.json"
    );
    assert!(!v.abs(".nexus/corrupt").exists());
}

#[test]
fn a_healthy_database_is_not_touched() {
    let v = TestVault::sample_initialised();
    v.cli_ok(&["status", v.path_str()]);
    v.cli_ok(&["sync", v.path_str()]);
    assert!(recoveries(&v).is_empty());
    assert!(!v.abs(".nexus/corrupt").exists());
}

fn backups(v: &TestVault) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(v.abs(".nexus/backups"))
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

/// A backup opened as `sqlite3` would: it passes its check and holds every
/// object.
fn assert_valid_backup(path: &Path) {
    let conn =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok", "{}", path.display());
    let objects: i64 = conn
        .query_row("SELECT COUNT(*) FROM data_objects", [], |r| r.get(0))
        .unwrap();
    assert_eq!(objects, SAMPLE_OBJECTS as i64, "{}", path.display());
    let grants: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM object_permissions WHERE share_with_ai OR share_with_cloud",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(grants > 0);
}

#[test]
fn the_first_sync_takes_a_valid_backup_and_the_next_one_waits_an_hour() {
    let v = TestVault::sample_initialised();
    let first = backups(&v);
    assert_eq!(first.len(), 1, "{first:?}");
    assert!(
        first[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("vault-")
    );
    assert_valid_backup(&first[0]);
    v.cli_ok(&["sync", v.path_str()]);
    assert_eq!(backups(&v), first, "a second backup within the hour");
}

#[test]
fn backups_rotate_keeping_the_newest() {
    let v = TestVault::sample_initialised();
    let config_path = v.abs(".nexus/config.json");
    let mut config: Value = serde_json::from_str(&v.read(".nexus/config.json")).unwrap();
    config["settings"]["backup_interval_secs"] = 0.into();
    config["settings"]["backups_kept"] = 2.into();
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    let mut seen = Vec::new();
    for _ in 0..4 {
        v.cli_ok(&["sync", v.path_str()]);
        seen.extend(backups(&v));
    }
    let kept = backups(&v);
    assert_eq!(kept.len(), 2, "{kept:?}");
    seen.sort();
    seen.dedup();
    assert!(seen.len() >= 4, "each sync made a backup: {seen:?}");
    assert_eq!(
        &seen[seen.len() - 2..],
        &kept[..],
        "the newest two are kept"
    );
    for backup in &kept {
        assert_valid_backup(backup);
    }
}

// ---------------------------------------------------------------------------
// B. One sync service per vault
// ---------------------------------------------------------------------------

/// A running `me-nexus watch`, killed if the test fails before stopping it.
struct WatchProcess {
    child: Option<Child>,
    stderr: PathBuf,
}

impl WatchProcess {
    fn start(v: &TestVault, log_name: &str) -> WatchProcess {
        let stderr = v.config_dir.path().join(log_name);
        let child = Command::new(env!("CARGO_BIN_EXE_me-nexus"))
            .args(["watch", v.path_str()])
            .env("ME_NEXUS_CONFIG_DIR", v.config_dir.path())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr).unwrap())
            .spawn()
            .unwrap();
        WatchProcess {
            child: Some(child),
            stderr,
        }
    }

    /// Starts one and waits until its first reconcile is done.
    fn spawn(v: &TestVault) -> WatchProcess {
        let mut process = WatchProcess::start(v, "watch-1.log");
        wait_until(
            "me-nexus watch to finish its first reconcile",
            TIMEOUT,
            || {
                let status = process.child.as_mut().unwrap().try_wait().unwrap();
                assert!(status.is_none(), "watch exited: {}", process.stderr_text());
                process.stderr_text().contains("watching:")
            },
        );
        process
    }

    fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    /// Waits, with a deadline, for the process to exit by itself.
    fn wait_exit(mut self) -> (ExitStatus, String) {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(exit) = child.try_wait().unwrap() {
                return (exit, self.stderr_text());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "me-nexus watch still running after {TIMEOUT:?}: {}",
                    self.stderr_text()
                );
            }
            std::thread::park_timeout(Duration::from_millis(20));
        }
    }

    /// `kill -TERM`, then waits for the exit.
    fn stop(self) -> (ExitStatus, String) {
        let status = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        self.wait_exit()
    }
}

impl Drop for WatchProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_second_watch_on_the_same_vault_is_refused_while_status_works() {
    let v = TestVault::sample_initialised();
    let first = WatchProcess::spawn(&v);

    let (exit, stderr) = WatchProcess::start(&v, "watch-2.log").wait_exit();
    assert!(!exit.success(), "the second watch ran: {stderr}");
    let expected = format!(
        "error: another Me-Nexus window or watcher is already syncing this vault (pid {}): ",
        first.pid()
    );
    assert!(stderr.contains(&expected), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{stderr}"
    );

    // One-shot commands work beside the watcher.
    let out = v.cli_ok(&["status", v.path_str(), "--json"]);
    let stats: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(stats["total_objects"], SAMPLE_OBJECTS as i64);
    v.cli_ok(&["perms", v.path_str(), "todos.json#1", "--ai", "on"]);
    v.cli_ok(&["sync", v.path_str()]);

    let (exit, stderr) = first.stop();
    assert!(exit.success(), "{stderr}");
    // The lock went with the process: a new watch starts.
    let again = WatchProcess::spawn(&v);
    let (exit, stderr) = again.stop();
    assert!(exit.success(), "{stderr}");
}

#[test]
fn a_second_service_in_the_same_process_is_refused_until_the_first_stops() {
    let v = TestVault::sample_initialised();
    let first = me_nexus::sync::spawn_sync_service(v.path(), None).unwrap();
    let err = me_nexus::sync::spawn_sync_service(v.path(), None).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(&format!(
            "another Me-Nexus window or watcher is already syncing this vault (pid {})",
            std::process::id()
        )),
        "{message}"
    );
    first.shutdown().unwrap();
    let second = me_nexus::sync::spawn_sync_service(v.path(), None).unwrap();
    second.shutdown().unwrap();
}

// ---------------------------------------------------------------------------
// C. Mass changes: a vanished or bare vault folder removes nothing
// ---------------------------------------------------------------------------

fn deleted_lines(v: &TestVault) -> usize {
    v.audit()
        .iter()
        .filter(|e| e["action"] == "object.deleted")
        .count()
}

/// Removes every entry of the vault folder except `.nexus/`.
fn strip_to_nexus(root: &Path) {
    for entry in std::fs::read_dir(root).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() == ".nexus" {
            continue;
        }
        if entry.file_type().unwrap().is_dir() {
            std::fs::remove_dir_all(entry.path()).unwrap();
        } else {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
}

#[test]
fn sync_refuses_to_empty_the_index_of_a_bare_vault_folder() {
    let v = TestVault::sample_initialised();
    let keys = v.keys();
    assert_eq!(keys.len(), SAMPLE_OBJECTS);
    strip_to_nexus(v.path());

    let out = v.cli(&["sync", v.path_str()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    assert!(
        lines[0].starts_with("error: vault folder is missing or looks empty (unmounted drive?): "),
        "{stderr}"
    );
    assert!(lines[0].ends_with("; nothing was removed"), "{stderr}");
    assert_eq!(v.keys(), keys);
    assert_eq!(deleted_lines(&v), 0);

    // The documented way to empty it on purpose: leave any entry.
    std::fs::create_dir(v.abs("notes")).unwrap();
    v.cli_ok(&["sync", v.path_str()]);
    assert!(v.keys().is_empty());
}

#[test]
fn deleting_every_file_while_the_service_runs_empties_the_index() {
    let v = TestVault::sample_initialised();
    let handle = me_nexus::sync::spawn_sync_service(v.path(), None).unwrap();
    wait_until_state(&handle, "the first Watching", |s| {
        *s == me_nexus::sync::SyncState::Watching
    });
    strip_to_nexus(v.path());
    wait_until("the watcher to remove every object", TIMEOUT, || {
        v.keys().is_empty()
    });
    // A full reconcile of the now empty index is no mass removal: no pause.
    handle.send(me_nexus::sync::SyncCommand::ForceSync).unwrap();
    wait_until_state(&handle, "the forced full reconcile to start", |s| {
        *s == me_nexus::sync::SyncState::Syncing { files: 0 }
    });
    let status = wait_until_state(&handle, "Watching or Paused after the forced sync", |s| {
        matches!(
            s,
            me_nexus::sync::SyncState::Watching | me_nexus::sync::SyncState::Paused(_)
        )
    });
    assert_eq!(status.state, me_nexus::sync::SyncState::Watching);
    assert_eq!(status.stats.total_objects, 0);
    handle.shutdown().unwrap();
}

/// Receives events until a status whose state satisfies `done`; returns it.
fn wait_until_state(
    handle: &me_nexus::sync::SyncHandle,
    what: &str,
    mut done: impl FnMut(&me_nexus::sync::SyncState) -> bool,
) -> me_nexus::sync::SyncStatus {
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Vec::new();
    loop {
        match handle.events().recv_deadline(deadline) {
            Ok(me_nexus::sync::SyncEvent::Status(status)) if done(&status.state) => return status,
            Ok(event) => seen.push(event),
            Err(e) => panic!("{e}: no status within {TIMEOUT:?} for: {what}; events: {seen:#?}"),
        }
    }
}

#[test]
fn a_vault_folder_moved_away_pauses_the_service_and_coming_back_resumes_it() {
    let v = TestVault::sample_initialised();
    let keys = v.keys();
    let hashes = data_hashes(&v);
    let handle = me_nexus::sync::spawn_sync_service(v.path(), None).unwrap();
    wait_until_state(&handle, "the first Watching", |s| {
        *s == me_nexus::sync::SyncState::Watching
    });

    let away = v.path().with_extension("away");
    std::fs::rename(v.path(), &away).unwrap();
    // Renames the folder back even if an assertion fails, before TempDir's cleanup.
    struct Back<'a>(&'a Path, &'a Path);
    impl Drop for Back<'_> {
        fn drop(&mut self) {
            if self.1.exists() {
                let _ = std::fs::rename(self.1, self.0);
            }
        }
    }
    let back = Back(v.path(), &away);

    handle.send(me_nexus::sync::SyncCommand::ForceSync).unwrap();
    let paused = wait_until_state(&handle, "Paused", |s| {
        matches!(s, me_nexus::sync::SyncState::Paused(_))
    });
    let me_nexus::sync::SyncState::Paused(reason) = &paused.state else {
        unreachable!()
    };
    assert_eq!(
        reason,
        &format!(
            "vault folder is missing or looks empty (unmounted drive?): {}; nothing was removed",
            std::fs::canonicalize(v.path().parent().unwrap())
                .unwrap()
                .join(v.path().file_name().unwrap())
                .display()
        )
    );
    assert_eq!(paused.stats.total_objects, SAMPLE_OBJECTS as i64);
    // The index (moved along with the folder) was not emptied.
    let conn = rusqlite::Connection::open(away.join(".nexus/vault.sqlite")).unwrap();
    let n: i64 = conn
        .query_row("SELECT COUNT(*) FROM data_objects", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, SAMPLE_OBJECTS as i64);
    drop(conn);

    // Back again: the service notices by itself and watches again.
    drop(back);
    assert!(v.path().is_dir());
    let status = wait_until_state(&handle, "Watching again", |s| {
        *s == me_nexus::sync::SyncState::Watching
    });
    assert_eq!(status.stats.total_objects, SAMPLE_OBJECTS as i64);
    assert_eq!(v.keys(), keys);
    assert_eq!(deleted_lines(&v), 0);
    assert_eq!(data_hashes(&v), hashes);
    // And it follows file changes again.
    v.write("notes/after-the-trip.md", "# Back\n");
    wait_until("the new note to be indexed", TIMEOUT, || {
        v.keys().contains(&"notes/after-the-trip.md".to_string())
    });
    handle.shutdown().unwrap();
}

// ---------------------------------------------------------------------------
// D. A read-only vault reads
// ---------------------------------------------------------------------------

/// As root the folder cannot be made unwritable, so the seam `Auto` takes
/// on an unwritable vault (`OpenMode::ReadOnly`) is tested directly.
#[test]
fn a_read_only_vault_reads_and_refuses_every_write_with_one_line() {
    use me_nexus::audit::Source;
    use me_nexus::permissions::PermissionChange;
    use me_nexus::sync::Engine;
    use me_nexus::sync::permissions_sync::PermissionTarget;
    use me_nexus::vault::OpenMode;

    let v = TestVault::sample_initialised();
    let hashes = data_hashes(&v);
    let db_before = std::fs::read(v.abs(".nexus/vault.sqlite")).unwrap();
    let audit_before = v.audit().len();

    let mut engine = Engine::open_with(v.path(), OpenMode::ReadOnly).unwrap();
    assert!(engine.vault().is_read_only());
    assert_eq!(engine.stats().unwrap().total_objects, SAMPLE_OBJECTS as i64);
    assert_eq!(engine.integrity_check().unwrap(), ["ok"]);
    assert!(engine.object_content("todos.json#1").is_ok());

    let expected = format!(
        "the vault is read-only; nothing was changed: {}",
        engine.vault().root().display()
    );
    let errors = [
        engine.reconcile().unwrap_err().to_string(),
        engine
            .save_object(
                "core.todo",
                serde_json::json!({"text": "Buy milk"}),
                None,
                Source::Cli,
            )
            .unwrap_err()
            .to_string(),
        engine
            .delete_object("todos.json#1", Source::Cli)
            .unwrap_err()
            .to_string(),
        engine
            .set_permissions(
                &PermissionTarget::Keys(vec!["todos.json#1".into()]),
                &PermissionChange {
                    share_with_ai: Some(true),
                    ..PermissionChange::default()
                },
                Source::Cli,
            )
            .unwrap_err()
            .to_string(),
    ];
    for e in &errors {
        assert_eq!(e, &expected);
    }
    drop(engine);

    assert_eq!(data_hashes(&v), hashes);
    assert_eq!(
        std::fs::read(v.abs(".nexus/vault.sqlite")).unwrap(),
        db_before,
        "the index was written"
    );
    assert_eq!(v.audit().len(), audit_before);
}

#[test]
fn a_read_only_vault_with_a_missing_index_says_how_to_fix_it() {
    use me_nexus::sync::Engine;
    use me_nexus::vault::OpenMode;
    let v = TestVault::sample_initialised();
    std::fs::remove_file(v.abs(".nexus/vault.sqlite")).unwrap();
    let err = Engine::open_with(v.path(), OpenMode::ReadOnly).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the vault is read-only and its index is missing; make the folder writable and run `me-nexus sync`: "),
        "{err}"
    );
    assert!(!v.abs(".nexus/vault.sqlite").exists());
}
