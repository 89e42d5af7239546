//! Live sync with real file operations while the sync service runs, both
//! in-process (`spawn_sync_service`) and as the `me-nexus watch` process.
//!
//! Every wait polls with a deadline; nothing sleeps for a fixed time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{TestVault, wait_until};
use crossbeam_channel::bounded;
use me_nexus::audit::Source;
use me_nexus::permissions::PermissionChange;
use me_nexus::sync::permissions_sync::PermissionTarget;
use me_nexus::sync::{SyncCommand, SyncEvent, SyncHandle, SyncState, spawn_sync_service};
use rusqlite::OptionalExtension;
use serde_json::{Value, json};

/// How long any one condition may take to hold.
const TIMEOUT: Duration = Duration::from_secs(15);
/// For the burst of hundreds of files.
const BULK_TIMEOUT: Duration = Duration::from_secs(60);

/// Objects in the sample vault: 4 todos, 2 events, 3 notes, 2 journal entries.
const SAMPLE_OBJECTS: i64 = 11;

// ---------------------------------------------------------------------------
// The in-process service
// ---------------------------------------------------------------------------

fn is_watching(event: &SyncEvent) -> bool {
    matches!(event, SyncEvent::Status(s) if s.state == SyncState::Watching)
}

/// Starts the service and waits until its first reconcile is done.
fn start(v: &TestVault) -> SyncHandle {
    let handle = spawn_sync_service(v.path(), None).unwrap();
    events_until(&handle, "the first Watching status", is_watching);
    handle
}

/// Receives events until one satisfies `done`, with a deadline. Returns every
/// event received, the matching one last.
fn events_until(
    handle: &SyncHandle,
    what: &str,
    mut done: impl FnMut(&SyncEvent) -> bool,
) -> Vec<SyncEvent> {
    let deadline = Instant::now() + TIMEOUT;
    let mut seen = Vec::new();
    loop {
        match handle.events().recv_deadline(deadline) {
            Ok(event) => {
                let finished = done(&event);
                seen.push(event);
                if finished {
                    return seen;
                }
            }
            Err(e) => panic!("{e}: no event within {TIMEOUT:?} for: {what}; events: {seen:#?}"),
        }
    }
}

/// Whether `event` is an `ObjectsChanged` that added `key`.
fn added(event: &SyncEvent, key: &str) -> bool {
    matches!(event, SyncEvent::ObjectsChanged { added, .. } if added.iter().any(|k| k == key))
}

/// Whether `event` is an `ObjectsChanged` that updated `key`.
fn updated(event: &SyncEvent, key: &str) -> bool {
    matches!(event, SyncEvent::ObjectsChanged { updated, .. } if updated.iter().any(|k| k == key))
}

/// Every key named by the `ObjectsChanged` events (both sides of a move).
fn changed_keys(events: &[SyncEvent]) -> Vec<String> {
    let mut keys = Vec::new();
    for event in events {
        if let SyncEvent::ObjectsChanged {
            added,
            updated,
            removed,
            moved,
        } = event
        {
            keys.extend(added.iter().cloned());
            keys.extend(updated.iter().cloned());
            keys.extend(removed.iter().cloned());
            for (from, to) in moved {
                keys.push(from.clone());
                keys.push(to.clone());
            }
        }
    }
    keys
}

/// Writes a new, unrelated note and returns every event up to the one that
/// reports it: the watcher has then processed everything that happened
/// before the note was written.
fn settle(v: &TestVault, handle: &SyncHandle, marker: &str) -> Vec<SyncEvent> {
    let key = format!("notes/{marker}.md");
    v.write(&key, &format!("# {marker}\n\nA later, unrelated change.\n"));
    events_until(handle, &format!("the marker note {key} to be added"), |e| {
        added(e, &key)
    })
}

/// Sends `ForceSync` and returns the events up to the `Watching` status that
/// ends it.
fn force_sync(handle: &SyncHandle) -> Vec<SyncEvent> {
    handle.send(SyncCommand::ForceSync).unwrap();
    let mut syncing = false;
    events_until(handle, "the forced reconcile to finish", |e| {
        match e {
            SyncEvent::Status(s) if s.state == SyncState::Syncing { files: 0 } => syncing = true,
            SyncEvent::Status(s) if syncing && s.state == SyncState::Watching => return true,
            _ => {}
        }
        false
    })
}

fn set_permissions(handle: &SyncHandle, key: &str, change: PermissionChange) {
    let (tx, rx) = bounded(1);
    handle
        .send(SyncCommand::SetPermissions {
            target: PermissionTarget::Keys(vec![key.to_string()]),
            change,
            source: Source::App,
            reply: Some(tx),
        })
        .unwrap();
    let updates = rx.recv_timeout(TIMEOUT).unwrap().unwrap();
    assert_eq!(updates.len(), 1, "{updates:?}");
}

// ---------------------------------------------------------------------------
// The database and the files
// ---------------------------------------------------------------------------

/// The row id of object `key`.
fn object_id(v: &TestVault, key: &str) -> Option<i64> {
    v.db()
        .query_row(
            "SELECT id FROM data_objects WHERE file_path = ?1",
            [key],
            |r| r.get(0),
        )
        .optional()
        .unwrap()
}

/// The indexed content of object `key`.
fn content(v: &TestVault, key: &str) -> Option<Value> {
    let text: Option<String> = v
        .db()
        .query_row(
            "SELECT c.content_json FROM object_content c
               JOIN data_objects o ON o.id = c.object_id WHERE o.file_path = ?1",
            [key],
            |r| r.get(0),
        )
        .optional()
        .unwrap();
    text.map(|t| serde_json::from_str(&t).unwrap())
}

/// A string field of the indexed content of object `key`.
fn field(v: &TestVault, key: &str, name: &str) -> Option<String> {
    content(v, key)?.get(name)?.as_str().map(str::to_string)
}

/// `(share_with_ai, share_with_cloud, read_only, expires_at)` of object `key`
/// (the defaults when it has no permission row), or `None` without the object.
type Flags = (bool, bool, bool, Option<String>);

fn permissions(v: &TestVault, key: &str) -> Option<Flags> {
    v.db()
        .query_row(
            "SELECT ifnull(p.share_with_ai, 0), ifnull(p.share_with_cloud, 0),
                    ifnull(p.read_only, 0), p.expires_at
               FROM data_objects o LEFT JOIN object_permissions p ON p.object_id = o.id
              WHERE o.file_path = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()
        .unwrap()
}

/// Every object: key -> (row id, content hash).
fn snapshot(v: &TestVault) -> BTreeMap<String, (i64, String)> {
    let conn = v.db();
    let mut stmt = conn
        .prepare("SELECT file_path, id, content_hash FROM data_objects")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Keys whose row or content differs between two snapshots.
fn differences(
    before: &BTreeMap<String, (i64, String)>,
    after: &BTreeMap<String, (i64, String)>,
) -> Vec<String> {
    let mut keys: Vec<String> = before
        .keys()
        .chain(after.keys())
        .filter(|k| before.get(*k) != after.get(*k))
        .cloned()
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn problems_for(v: &TestVault, file: &str) -> i64 {
    v.db()
        .query_row(
            "SELECT COUNT(*) FROM problems WHERE file_path = ?1",
            [file],
            |r| r.get(0),
        )
        .unwrap()
}

fn file_status(v: &TestVault, file: &str) -> Option<String> {
    v.db()
        .query_row("SELECT status FROM files WHERE path = ?1", [file], |r| {
            r.get(0)
        })
        .optional()
        .unwrap()
}

/// The `object_permissions` map of `.nexus/permissions.json`.
fn permissions_file(v: &TestVault) -> serde_json::Map<String, Value> {
    let text = v.read(".nexus/permissions.json");
    let value: Value = serde_json::from_str(&text).unwrap();
    value["object_permissions"].as_object().unwrap().clone()
}

/// Whether the audit log has a line with `action` about `key`.
fn audited(v: &TestVault, action: &str, key: &str) -> Option<Value> {
    v.audit()
        .into_iter()
        .find(|e| e["action"] == action && e["key"] == key)
}

/// A collection file of three todos.
fn todo_file(n: usize) -> String {
    let items: Vec<Value> = (1..=3)
        .map(|i| json!({"id": i, "text": format!("bulk todo {n}.{i}"), "completed": i == 2}))
        .collect();
    serde_json::to_string_pretty(&json!({"schema": "core.todo", "version": "1.0", "data": items}))
        .unwrap()
}

// ---------------------------------------------------------------------------
// 1. Edit in place
// ---------------------------------------------------------------------------

#[test]
fn edit_in_place_updates_the_object_and_keeps_its_row() {
    let v = TestVault::sample_initialised();
    let handle = start(&v);
    let before = snapshot(&v);
    let id = object_id(&v, "todos.json#3").unwrap();

    let text = v.read("todos.json");
    assert!(text.contains("\"Renew passport\""));
    let text = text.replace("\"Renew passport\"", "\"Renew passport before March\"");
    let mut file = OpenOptions::new()
        .write(true)
        .truncate(true)
        .open(v.abs("todos.json"))
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
    file.sync_all().unwrap();
    drop(file);

    wait_until("todos.json#3 has its new text in the DB", TIMEOUT, || {
        field(&v, "todos.json#3", "text").as_deref() == Some("Renew passport before March")
    });
    assert_eq!(
        object_id(&v, "todos.json#3"),
        Some(id),
        "the row id changed"
    );
    let events = settle(&v, &handle, "after-edit");
    assert!(
        events.iter().any(|e| updated(e, "todos.json#3")),
        "{events:#?}"
    );
    let mut after = snapshot(&v);
    after.remove("notes/after-edit.md");
    assert_eq!(differences(&before, &after), ["todos.json#3"]);
    assert_eq!(problems_for(&v, "todos.json"), 0);
    handle.shutdown().unwrap();
}

// ---------------------------------------------------------------------------
// 2. Rename-over, as `sed -i` saves
// ---------------------------------------------------------------------------

#[test]
fn sed_in_place_rename_over_keeps_row_and_permissions() {
    let v = TestVault::sample_initialised();
    let handle = start(&v);
    set_permissions(
        &handle,
        "todos.json#3",
        PermissionChange {
            share_with_ai: Some(true),
            share_with_cloud: Some(true),
            ..PermissionChange::default()
        },
    );
    let granted = Some((true, true, false, None));
    assert_eq!(permissions(&v, "todos.json#3"), granted);
    assert!(permissions_file(&v).contains_key("todos.json#3"));
    let before = snapshot(&v);
    let id = object_id(&v, "todos.json#3").unwrap();

    let status = Command::new("sed")
        .args([
            "-i",
            "s/Renew passport/Renew passport and ID/",
            "todos.json",
        ])
        .current_dir(v.path())
        .status()
        .unwrap();
    assert!(status.success());
    assert!(v.read("todos.json").contains("\"Renew passport and ID\""));

    let events = events_until(&handle, "todos.json#3 to be updated", |e| {
        updated(e, "todos.json#3")
    });
    let Some(SyncEvent::ObjectsChanged {
        added,
        updated: changed,
        removed,
        moved,
    }) = events.last()
    else {
        unreachable!()
    };
    assert_eq!(changed.first(), &["todos.json#3"]);
    assert!(added.is_empty() && removed.is_empty() && moved.is_empty());

    assert_eq!(
        field(&v, "todos.json#3", "text").as_deref(),
        Some("Renew passport and ID")
    );
    assert_eq!(
        object_id(&v, "todos.json#3"),
        Some(id),
        "the row id changed"
    );
    assert_eq!(permissions(&v, "todos.json#3"), granted);
    let later = settle(&v, &handle, "after-sed");
    assert_eq!(changed_keys(&later), ["notes/after-sed.md"], "{later:#?}");
    let mut after = snapshot(&v);
    after.remove("notes/after-sed.md");
    assert_eq!(differences(&before, &after), ["todos.json#3"]);
    assert_eq!(permissions(&v, "todos.json#3"), granted);
    assert_eq!(
        permissions_file(&v)["todos.json#3"],
        json!({"share_with_ai": true, "share_with_cloud": true, "read_only": false, "expires_at": null})
    );
    handle.shutdown().unwrap();
}

// ---------------------------------------------------------------------------
// 3. Moves of a file and of a folder
// ---------------------------------------------------------------------------

#[test]
fn moving_a_file_rekeys_it_and_keeps_row_and_permissions() {
    let v = TestVault::sample_initialised();
    let handle = start(&v);
    let old = "notes/projects/me-nexus.md";
    let new = "archive/me-nexus.md";
    let id = object_id(&v, old).unwrap();
    let granted = Some((true, true, false, None));
    assert_eq!(permissions(&v, old), granted);
    assert!(permissions_file(&v).contains_key(old));

    std::fs::create_dir(v.abs("archive")).unwrap();
    std::fs::rename(v.abs(old), v.abs(new)).unwrap();

    let pair = (old.to_string(), new.to_string());
    let events = events_until(
        &handle,
        "the move to be reported",
        |e| matches!(e, SyncEvent::ObjectsChanged { moved, .. } if moved.contains(&pair)),
    );
    assert!(
        !events.iter().any(|e| added(e, new)),
        "the moved note was indexed as a new object: {events:#?}"
    );
    assert_eq!(object_id(&v, old), None);
    assert_eq!(object_id(&v, new), Some(id), "the row id changed");
    assert_eq!(permissions(&v, new), granted);
    wait_until("permissions.json to be re-keyed", TIMEOUT, || {
        let file = permissions_file(&v);
        !file.contains_key(old) && file.contains_key(new)
    });
    assert_eq!(permissions_file(&v)[new]["share_with_ai"], json!(true));
    assert_eq!(permissions_file(&v)[new]["share_with_cloud"], json!(true));
    wait_until("an object.moved audit line", TIMEOUT, || {
        audited(&v, "object.moved", new).is_some_and(|e| e["details"]["from"] == old)
    });

    // A whole folder.
    let daily_old = "notes/daily/2025-01-15.md";
    let daily_new = "journal-notes/2025-01-15.md";
    let daily_id = object_id(&v, daily_old).unwrap();
    std::fs::rename(v.abs("notes/daily"), v.abs("journal-notes")).unwrap();
    wait_until("the daily note's key to follow its folder", TIMEOUT, || {
        object_id(&v, daily_new).is_some() && object_id(&v, daily_old).is_none()
    });
    assert_eq!(
        object_id(&v, daily_new),
        Some(daily_id),
        "the row id changed"
    );
    assert!(
        v.keys().iter().all(|k| !k.starts_with("notes/daily/")),
        "{:?}",
        v.keys()
    );
    assert_eq!(v.keys().len() as i64, SAMPLE_OBJECTS);

    // The moved folder is still watched under its new name.
    let mut note = OpenOptions::new()
        .append(true)
        .open(v.abs(daily_new))
        .unwrap();
    note.write_all(b"- Moved with its folder\n").unwrap();
    drop(note);
    wait_until(
        "an edit inside the moved folder to be indexed",
        TIMEOUT,
        || field(&v, daily_new, "body").is_some_and(|b| b.contains("Moved with its folder")),
    );
    assert_eq!(object_id(&v, daily_new), Some(daily_id));
    handle.shutdown().unwrap();
}

// ---------------------------------------------------------------------------
// 4. Delete
// ---------------------------------------------------------------------------

#[test]
fn deleting_a_file_removes_its_objects_and_grants() {
    let v = TestVault::sample_initialised();
    let handle = start(&v);
    let granted = "calendar/events.json#standup-2025-01-20";
    assert!(permissions_file(&v).contains_key(granted));
    assert_eq!(
        v.count("SELECT COUNT(*) FROM data_objects WHERE source_path = 'calendar/events.json'"),
        2
    );

    std::fs::remove_file(v.abs("calendar/events.json")).unwrap();

    let events = events_until(
        &handle,
        "the events to be removed",
        |e| matches!(e, SyncEvent::ObjectsChanged { removed, .. } if removed.iter().any(|k| k == granted)),
    );
    let mut removed: Vec<String> = changed_keys(&events);
    removed.sort();
    assert_eq!(
        removed,
        [
            "calendar/events.json#dinner-2025-01-24",
            "calendar/events.json#standup-2025-01-20"
        ]
    );
    assert_eq!(
        v.count("SELECT COUNT(*) FROM data_objects WHERE source_path = 'calendar/events.json'"),
        0
    );
    assert_eq!(file_status(&v, "calendar/events.json"), None);
    assert_eq!(
        v.count("SELECT COUNT(*) FROM object_permissions WHERE object_id NOT IN (SELECT id FROM data_objects)"),
        0
    );
    assert_eq!(
        v.count("SELECT COUNT(*) FROM object_content WHERE object_id NOT IN (SELECT id FROM data_objects)"),
        0
    );
    wait_until(
        "permissions.json to drop the deleted object",
        TIMEOUT,
        || !permissions_file(&v).contains_key(granted),
    );
    // The other grants are untouched.
    let file = permissions_file(&v);
    for key in ["notes/projects/me-nexus.md", "todos.json#1", "todos.json#2"] {
        assert!(file.contains_key(key), "{key} is missing from {file:?}");
    }
    assert_eq!(v.keys().len() as i64, SAMPLE_OBJECTS - 2);
    handle.shutdown().unwrap();
}

// ---------------------------------------------------------------------------
// 5. Many files at once
// ---------------------------------------------------------------------------

#[test]
fn a_burst_of_300_files_is_indexed() {
    let v = TestVault::sample_initialised();
    let handle = start(&v);
    let started = Instant::now();
    for n in 0..300 {
        v.write(&format!("bulk/list-{n:03}.json"), &todo_file(n));
    }
    let count = || v.count("SELECT COUNT(*) FROM data_objects WHERE source_path LIKE 'bulk/%'");
    wait_until("900 objects from 300 new files", BULK_TIMEOUT, || {
        count() == 900
    });
    eprintln!("300 files indexed in {:?}", started.elapsed());
    wait_until("the bulk files to have no problems", TIMEOUT, || {
        v.count("SELECT COUNT(*) FROM problems WHERE file_path LIKE 'bulk/%'") == 0
    });
    assert_eq!(
        v.count(
            "SELECT COUNT(*) FROM data_objects o JOIN schemas s ON s.id = o.schema_id
              WHERE o.source_path LIKE 'bulk/%' AND s.schema_name = 'core.todo'"
        ),
        900
    );
    assert_eq!(
        v.count("SELECT COUNT(*) FROM files WHERE path LIKE 'bulk/%' AND status = 'data'"),
        300
    );
    assert_eq!(
        field(&v, "bulk/list-150.json#2", "text").as_deref(),
        Some("bulk todo 150.2")
    );
    assert_eq!(
        v.count("SELECT COUNT(*) FROM data_objects"),
        SAMPLE_OBJECTS + 900
    );
    handle.shutdown().unwrap();
}

// ---------------------------------------------------------------------------
// 6. The app's own writes are not processed twice
// ---------------------------------------------------------------------------

#[test]
fn own_writes_are_not_processed_again_by_the_watcher() {
    let v = TestVault::sample_initialised();
    let handle = start(&v);
    let id = object_id(&v, "todos.json#1").unwrap();
    let (tx, rx) = bounded(1);
    handle
        .send(SyncCommand::SaveObject {
            schema_name: "core.todo".into(),
            content: json!({"text": "Finish the documentation today", "completed": false, "priority": "high"}),
            key: Some("todos.json#1".into()),
            source: Source::App,
            reply: Some(tx),
        })
        .unwrap();
    let key = rx.recv_timeout(TIMEOUT).unwrap().unwrap();
    assert_eq!(key, "todos.json#1");
    // Both are done when the command replies.
    assert!(
        v.read("todos.json")
            .contains("\"Finish the documentation today\"")
    );
    assert_eq!(
        field(&v, "todos.json#1", "text").as_deref(),
        Some("Finish the documentation today")
    );
    assert_eq!(object_id(&v, "todos.json#1"), Some(id));
    let file_row = |v: &TestVault| -> (i64, i64, String) {
        v.db()
            .query_row(
                "SELECT size, mtime_ns, hash FROM files WHERE path = 'todos.json'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
    };
    let row_after_save = file_row(&v);

    let events = settle(&v, &handle, "after-save");
    let reports: Vec<&SyncEvent> = events
        .iter()
        .filter(|e| updated(e, "todos.json#1"))
        .collect();
    assert_eq!(
        reports.len(),
        1,
        "the save was reported {} times: {events:#?}",
        reports.len()
    );
    assert_eq!(
        changed_keys(&events),
        ["todos.json#1", "notes/after-save.md"],
        "{events:#?}"
    );
    assert_eq!(file_row(&v), row_after_save);
    assert_eq!(
        audited(&v, "object.updated", "todos.json#1").unwrap()["details"]["source"],
        "app"
    );
    handle.shutdown().unwrap();
}

// ---------------------------------------------------------------------------
// 7. ForceSync and the stats in Status events
// ---------------------------------------------------------------------------

#[test]
fn force_sync_repairs_the_index_and_status_carries_stats() {
    let v = TestVault::sample_initialised();
    let handle = start(&v);

    // Index drift the watcher cannot see: an object and its file row vanish
    // from the database while the file is unchanged.
    let conn = v.db();
    conn.execute_batch(
        "PRAGMA foreign_keys = ON;
         DELETE FROM data_objects WHERE file_path = 'todos.json#4';
         DELETE FROM files WHERE path = 'todos.json';",
    )
    .unwrap();
    drop(conn);
    assert_eq!(
        v.count("SELECT COUNT(*) FROM data_objects"),
        SAMPLE_OBJECTS - 1
    );

    let events = force_sync(&handle);
    assert!(
        events.iter().any(|e| added(e, "todos.json#4")),
        "{events:#?}"
    );
    let Some(SyncEvent::Status(status)) = events.last() else {
        unreachable!()
    };
    let stats = &status.stats;
    assert_eq!(stats.total_objects, SAMPLE_OBJECTS);
    assert_eq!(
        stats.total_objects,
        v.count("SELECT COUNT(*) FROM data_objects")
    );
    assert_eq!(
        stats.ai_shared,
        v.count("SELECT COUNT(*) FROM object_permissions WHERE share_with_ai = 1")
    );
    assert_eq!(
        stats.cloud_shared,
        v.count("SELECT COUNT(*) FROM object_permissions WHERE share_with_cloud = 1")
    );
    assert_eq!(
        stats.read_only,
        v.count("SELECT COUNT(*) FROM object_permissions WHERE read_only = 1")
    );
    assert_eq!(stats.problems, v.count("SELECT COUNT(*) FROM problems"));
    assert_eq!(
        (stats.ai_shared, stats.cloud_shared, stats.read_only),
        (3, 2, 1)
    );
    let last_sync: String = v
        .db()
        .query_row(
            "SELECT value FROM sync_state WHERE name = 'last_sync'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stats.last_sync, last_sync);
    assert_eq!(file_status(&v, "todos.json").as_deref(), Some("data"));
    assert_eq!(
        field(&v, "todos.json#4", "text").as_deref(),
        Some("Plan the summer trip")
    );

    // After a file change the status counts follow too.
    v.write(
        "more.json",
        &serde_json::to_string(
            &json!({"schema": "core.todo", "data": [{"id": 1, "text": "one more"}]}),
        )
        .unwrap(),
    );
    let mut seen_add = false;
    let events = events_until(&handle, "a Watching status after the new file", |e| {
        seen_add |= added(e, "more.json#1");
        seen_add && is_watching(e)
    });
    let Some(SyncEvent::Status(status)) = events.last() else {
        unreachable!()
    };
    assert_eq!(status.stats.total_objects, SAMPLE_OBJECTS + 1);
    assert_eq!(
        status.stats.total_objects,
        v.count("SELECT COUNT(*) FROM data_objects")
    );
    handle.shutdown().unwrap();
}

// ---------------------------------------------------------------------------
// 8. `me-nexus watch` as a real process
// ---------------------------------------------------------------------------

/// A running `me-nexus watch`, killed if the test fails before stopping it.
struct WatchProcess {
    child: Option<Child>,
    stderr: PathBuf,
}

impl WatchProcess {
    fn spawn(v: &TestVault) -> WatchProcess {
        let stderr = v.config_dir.path().join("watch-stderr.log");
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
        let mut process = WatchProcess {
            child: Some(child),
            stderr,
        };
        wait_until(
            "me-nexus watch to finish its first reconcile",
            TIMEOUT,
            || {
                process.assert_running();
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

    fn assert_running(&mut self) {
        let status = self.child.as_mut().unwrap().try_wait().unwrap();
        assert!(
            status.is_none(),
            "me-nexus watch exited with {status:?}: {}",
            self.stderr_text()
        );
    }

    /// Sends `signal` (`TERM`, `INT`) and waits, with a deadline, for the exit.
    fn stop_with(mut self, signal: &str) -> (ExitStatus, String) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + TIMEOUT;
        let exit = loop {
            if let Some(exit) = child.try_wait().unwrap() {
                break exit;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "me-nexus watch did not exit within {TIMEOUT:?} of SIG{signal}: {}",
                    self.stderr_text()
                );
            }
            std::thread::park_timeout(Duration::from_millis(20));
        };
        (exit, self.stderr_text())
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

/// The README's diagnostic queries, answered by a plain rusqlite
/// connection: integrity, the schemas (both the seed's), and the permission
/// counts over every object (the seed's counts only the permission rows,
/// which objects with the defaults do not have).
fn seed_diagnostics(v: &TestVault) -> (String, Vec<String>, BTreeMap<(bool, bool), i64>) {
    let conn = v.db();
    let integrity: String = conn
        .query_row("PRAGMA integrity_check;", [], |r| r.get(0))
        .unwrap();
    let mut stmt = conn.prepare("SELECT * FROM schemas;").unwrap();
    let mut names: Vec<String> = stmt
        .query_map([], |r| {
            let name: String = r.get("schema_name")?;
            let definition: String = r.get("definition_json")?;
            let version: i64 = r.get("version")?;
            Ok((name, definition, version))
        })
        .unwrap()
        .map(|row| {
            let (name, definition, version) = row.unwrap();
            let definition: Value = serde_json::from_str(&definition).unwrap();
            assert!(definition.is_object(), "{name}: {definition}");
            assert!(version >= 1, "{name}: version {version}");
            name
        })
        .collect();
    names.sort();
    let mut stmt = conn
        .prepare(
            "SELECT ifnull(share_with_ai, 0) AS ai, ifnull(share_with_cloud, 0) AS cloud, COUNT(*) AS count FROM data_objects o LEFT JOIN object_permissions p ON p.object_id = o.id GROUP BY ai, cloud;",
        )
        .unwrap();
    let counts = stmt
        .query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    (integrity, names, counts)
}

/// The permission counts that `.nexus/permissions.json` implies, for
/// `total` objects (an object it does not list has no grant).
fn counts_from_permissions_file(v: &TestVault, total: i64) -> BTreeMap<(bool, bool), i64> {
    let mut counts = BTreeMap::new();
    let file = permissions_file(v);
    for entry in file.values() {
        let flags = (
            entry["share_with_ai"] == json!(true),
            entry["share_with_cloud"] == json!(true),
        );
        *counts.entry(flags).or_insert(0) += 1;
    }
    let listed = i64::try_from(file.len()).unwrap();
    *counts.entry((false, false)).or_insert(0) += total - listed;
    counts.retain(|_, n| *n > 0);
    counts
}

#[test]
fn watch_process_serves_concurrent_cli_commands_and_stops_on_sigterm() {
    let v = TestVault::sample_initialised();
    let watch = WatchProcess::spawn(&v);
    let vault = v.path_str();

    // The seed's diagnostics, while the watcher runs.
    let (integrity, schemas, counts) = seed_diagnostics(&v);
    assert_eq!(integrity, "ok");
    for name in [
        "core.calendar.event",
        "core.note",
        "core.todo",
        "plugin.journal.entry",
    ] {
        assert!(schemas.iter().any(|s| s == name), "{name} in {schemas:?}");
    }
    assert_eq!(
        counts,
        BTreeMap::from([
            ((false, false), 7),
            ((false, true), 1),
            ((true, false), 2),
            ((true, true), 1)
        ])
    );

    // CLI commands, six at a time, while the watcher also has work.
    let rounds = 4;
    for round in 0..rounds {
        v.write(
            &format!("notes/round-{round}.md"),
            &format!("# Round {round}\n\nWritten while commands run.\n"),
        );
        let ai = if round % 2 == 0 { "on" } else { "off" };
        let first = format!(r#"{{"text": "round {round} first"}}"#);
        let second = format!(r#"{{"text": "round {round} second"}}"#);
        let commands: Vec<Vec<&str>> = vec![
            vec!["status", vault, "--json"],
            vec!["perms", vault, "todos.json#3", "--ai", ai],
            vec!["save", vault, "core.todo", &first],
            vec!["list", vault, "--json"],
            vec!["sync", vault],
            vec!["save", vault, "core.todo", &second],
        ];
        let outputs: Vec<(Vec<&str>, std::process::Output)> = std::thread::scope(|s| {
            let threads: Vec<_> = commands
                .iter()
                .map(|args| s.spawn(|| (args.clone(), v.cli(args))))
                .collect();
            threads.into_iter().map(|t| t.join().unwrap()).collect()
        });
        for (args, out) in &outputs {
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(
                out.status.success(),
                "round {round}: me-nexus {args:?} failed: {stderr}"
            );
            assert!(
                !stderr.contains("locked"),
                "round {round}: me-nexus {args:?}: {stderr}"
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            match args[0] {
                "status" => {
                    let stats: Value = serde_json::from_str(&stdout).unwrap();
                    assert!(stats["total_objects"].as_i64().unwrap() >= SAMPLE_OBJECTS);
                }
                "list" => {
                    let list: Value = serde_json::from_str(&stdout).unwrap();
                    assert!(list.as_array().unwrap().len() as i64 >= SAMPLE_OBJECTS);
                }
                "save" => assert!(stdout.trim().starts_with("todos.json#"), "{stdout}"),
                _ => {}
            }
        }
        watch.assert_running_ref();
    }

    // Every save landed, in the file and in the index.
    let todos: Value = serde_json::from_str(&v.read("todos.json")).unwrap();
    let in_file = todos["data"].as_array().unwrap().len() as i64;
    assert_eq!(in_file, 4 + 2 * rounds);
    wait_until(
        "the index to hold every todo and round note",
        TIMEOUT,
        || {
            v.count("SELECT COUNT(*) FROM data_objects WHERE source_path = 'todos.json'") == in_file
                && v.count(
                    "SELECT COUNT(*) FROM data_objects WHERE source_path LIKE 'notes/round-%'",
                ) == rounds
        },
    );
    let total = v.count("SELECT COUNT(*) FROM data_objects");
    assert_eq!(total, SAMPLE_OBJECTS + 3 * rounds);
    // The last round turned the AI flag off.
    assert_eq!(
        permissions(&v, "todos.json#3"),
        Some((false, false, false, None))
    );

    // The diagnostics again: the database agrees with permissions.json.
    let (integrity, _, counts) = seed_diagnostics(&v);
    assert_eq!(integrity, "ok");
    assert_eq!(counts.values().sum::<i64>(), total);
    assert_eq!(counts, counts_from_permissions_file(&v, total));

    // A hand edit is followed.
    let mut note = OpenOptions::new()
        .append(true)
        .open(v.abs("notes/reading-list.md"))
        .unwrap();
    note.write_all(b"\n- Added while me-nexus watch runs\n")
        .unwrap();
    drop(note);
    wait_until("the edited note in the index", TIMEOUT, || {
        field(&v, "notes/reading-list.md", "body")
            .is_some_and(|b| b.contains("Added while me-nexus watch runs"))
    });

    let (exit, stderr) = watch.stop_with("TERM");
    assert_eq!(exit.code(), Some(0), "{exit:?}: {stderr}");
    assert!(stderr.contains("stopping"), "{stderr}");
    assert!(stderr.contains("stopped cleanly"), "{stderr}");
    assert!(!stderr.contains("ERROR"), "{stderr}");
}

impl WatchProcess {
    /// Like [`WatchProcess::assert_running`], through a shared reference.
    fn assert_running_ref(&self) {
        let mut probe = Command::new("kill");
        let status = probe
            .args(["-0", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(
            status.success(),
            "me-nexus watch is gone: {}",
            self.stderr_text()
        );
    }
}

#[test]
fn watch_process_stops_cleanly_on_sigint() {
    let v = TestVault::sample_initialised();
    let watch = WatchProcess::spawn(&v);
    v.write(
        "notes/while-watching.md",
        "# While watching\n\nA note written while the process runs.\n",
    );
    wait_until("the new note in the index", TIMEOUT, || {
        object_id(&v, "notes/while-watching.md").is_some()
    });
    let (exit, stderr) = watch.stop_with("INT");
    assert_eq!(exit.code(), Some(0), "{exit:?}: {stderr}");
    assert!(stderr.contains("added notes/while-watching.md"), "{stderr}");
    // One "watching" line at the start and one per real batch (the new note
    // may take two), not one per spurious batch.
    let watching_lines = stderr.matches("watching:").count();
    assert!(
        (1..=3).contains(&watching_lines),
        "{watching_lines} watching lines: {stderr}"
    );
    assert!(stderr.contains("stopping"), "{stderr}");
    assert!(stderr.contains("stopped cleanly"), "{stderr}");
}

// ---------------------------------------------------------------------------
// 9. A hand edit of permissions.json
// ---------------------------------------------------------------------------

#[test]
fn hand_edit_of_permissions_json_reaches_the_database() {
    let v = TestVault::sample_initialised();
    let handle = start(&v);
    assert_eq!(
        permissions(&v, "todos.json#3"),
        Some((false, false, false, None))
    );
    assert_eq!(
        permissions(&v, "todos.json#1"),
        Some((true, false, false, None))
    );

    let mut file = permissions_file(&v);
    file.insert(
        "todos.json#3".into(),
        json!({"share_with_ai": false, "share_with_cloud": true, "read_only": false, "expires_at": null}),
    );
    // Removing an entry is a revoke: absence means zero trust.
    file.remove("todos.json#1");
    let text = serde_json::to_string_pretty(&json!({ "object_permissions": Value::Object(file) }))
        .unwrap();
    std::fs::write(v.abs(".nexus/permissions.json"), text).unwrap();

    let mut keys = Vec::new();
    events_until(&handle, "both permission changes to be reported", |e| {
        if let SyncEvent::PermissionsChanged { keys: changed } = e {
            keys.extend(changed.iter().cloned());
        }
        keys.iter().any(|k| k == "todos.json#3") && keys.iter().any(|k| k == "todos.json#1")
    });
    assert_eq!(
        permissions(&v, "todos.json#3"),
        Some((false, true, false, None))
    );
    assert_eq!(
        permissions(&v, "todos.json#1"),
        Some((false, false, false, None))
    );
    wait_until(
        "permission.changed audit lines from the file",
        TIMEOUT,
        || {
            ["todos.json#3", "todos.json#1"].iter().all(|key| {
                audited(&v, "permission.changed", key)
                    .is_some_and(|e| e["details"]["source"] == "file")
            })
        },
    );
    // Other grants are untouched.
    assert_eq!(
        permissions(&v, "notes/projects/me-nexus.md"),
        Some((true, true, false, None))
    );
    assert_eq!(v.count("SELECT COUNT(*) FROM problems"), 0);
    handle.shutdown().unwrap();
}

// ---------------------------------------------------------------------------
// 10. An invalid edit keeps the last good state
// ---------------------------------------------------------------------------

#[test]
fn invalid_edit_keeps_last_good_objects_and_never_rewrites_the_file() {
    let v = TestVault::sample_initialised();
    let handle = start(&v);
    let before = snapshot(&v);
    let texts: Vec<Option<String>> = (1..=4)
        .map(|i| field(&v, &format!("todos.json#{i}"), "text"))
        .collect();

    let broken = b"{\n  \"schema\": \"core.todo\",\n  \"data\": [\n    {\"id\": 1, \"text\": \"half-typed\"\n";
    std::fs::write(v.abs("todos.json"), broken).unwrap();

    wait_until("a problem for todos.json", TIMEOUT, || {
        problems_for(&v, "todos.json") > 0
    });
    assert_eq!(file_status(&v, "todos.json").as_deref(), Some("invalid"));
    assert_eq!(snapshot(&v), before, "the last good objects changed");
    let texts_now: Vec<Option<String>> = (1..=4)
        .map(|i| field(&v, &format!("todos.json#{i}"), "text"))
        .collect();
    assert_eq!(texts_now, texts);
    assert_eq!(std::fs::read(v.abs("todos.json")).unwrap(), broken);

    // Neither a full reconcile nor a save touches the broken file.
    let events = force_sync(&handle);
    assert!(changed_keys(&events).is_empty(), "{events:#?}");
    let (tx, rx) = bounded(1);
    handle
        .send(SyncCommand::SaveObject {
            schema_name: "core.todo".into(),
            content: json!({"text": "must not be written"}),
            key: Some("todos.json#1".into()),
            source: Source::App,
            reply: Some(tx),
        })
        .unwrap();
    let refused = rx.recv_timeout(TIMEOUT).unwrap();
    assert!(refused.is_err(), "saving into a broken file: {refused:?}");
    assert_eq!(std::fs::read(v.abs("todos.json")).unwrap(), broken);
    assert_eq!(snapshot(&v), before);
    assert!(problems_for(&v, "todos.json") > 0);

    // Fixing the file clears the problem and the edit goes through.
    let fixed = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample-vault/todos.json"),
    )
    .unwrap()
    .replace("\"Book dentist appointment\"", "\"Book dentist for March\"");
    std::fs::write(v.abs("todos.json"), &fixed).unwrap();
    wait_until(
        "the problem to clear and the fix to be indexed",
        TIMEOUT,
        || {
            problems_for(&v, "todos.json") == 0
                && field(&v, "todos.json#2", "text").as_deref() == Some("Book dentist for March")
        },
    );
    assert_eq!(file_status(&v, "todos.json").as_deref(), Some("data"));
    assert_eq!(differences(&before, &snapshot(&v)), ["todos.json#2"]);
    assert_eq!(v.read("todos.json"), fixed);
    handle.shutdown().unwrap();
}

// ---------------------------------------------------------------------------
// Reads are not changes
// ---------------------------------------------------------------------------

/// Opening, reading and listing files (a backup tool, `grep -r`, an editor
/// opening a file, or the engine itself walking a folder) changes nothing,
/// so it must not start a batch: the only batch before the marker is the
/// marker's own.
#[test]
fn reading_files_does_not_start_a_batch() {
    let v = TestVault::sample_initialised();
    let handle = start(&v);
    for rel in [
        "todos.json",
        "calendar/events.json",
        "notes/reading-list.md",
        "plugins/journal/entries.json",
    ] {
        let _ = v.read(rel);
    }
    for dir in ["notes", "notes/daily", "calendar", "plugins/journal"] {
        assert!(std::fs::read_dir(v.abs(dir)).unwrap().count() > 0);
    }
    let events = settle(&v, &handle, "after-reads");
    assert_eq!(
        batches(&events),
        [SyncState::Syncing { files: 1 }],
        "{events:#?}"
    );
    handle.shutdown().unwrap();
}

/// The service's own work (walking folders, reading files, writing the
/// database) must not wake it again: once a change is processed, the next
/// change is the next batch, with nothing in between.
#[test]
fn an_idle_vault_stays_idle() {
    let v = TestVault::sample_initialised();
    let handle = start(&v);
    settle(&v, &handle, "first");
    let events = settle(&v, &handle, "second");
    assert_eq!(
        batches(&events),
        [SyncState::Syncing { files: 1 }],
        "{events:#?}"
    );
    handle.shutdown().unwrap();
}

/// The states of the `Syncing` statuses among `events`: one per batch.
fn batches(events: &[SyncEvent]) -> Vec<SyncState> {
    events
        .iter()
        .filter_map(|e| match e {
            SyncEvent::Status(s) if matches!(s.state, SyncState::Syncing { .. }) => {
                Some(s.state.clone())
            }
            _ => None,
        })
        .collect()
}
