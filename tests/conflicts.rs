//! Lossless conflicts: the app and another program change the same vault.
//! Each test edits a file behind the engine's back (no sync in between),
//! then saves from the app, and checks the file bytes, the DB and the
//! conflict copy.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, SystemTime};

use common::TestVault;
use me_nexus::Engine;
use me_nexus::audit::Source;
use serde_json::{Value, json};

const TODOS: &str = r#"{
  "schema": "core.todo",
  "version": "1.0",
  "data": [
    {"id": 1, "text": "one", "completed": false},
    {"id": 2, "text": "two", "completed": false},
    {"id": 3, "text": "three", "completed": false}
  ]
}
"#;

fn setup() -> (TestVault, Engine) {
    let v = TestVault::empty();
    v.write("todos.json", TODOS);
    let mut e = Engine::init(v.path()).unwrap();
    e.reconcile().unwrap();
    (v, e)
}

fn item(v: &TestVault, id: i64) -> Option<Value> {
    let file: Value = serde_json::from_str(&v.read("todos.json")).unwrap();
    file["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .cloned()
}

/// Another program rewrites todos.json, changing item `id`'s text (or
/// deleting it when `text` is None), with the given modification time.
fn external_edit(v: &TestVault, id: i64, text: Option<&str>, mtime: SystemTime) {
    let mut file: Value = serde_json::from_str(&v.read("todos.json")).unwrap();
    let items = file["data"].as_array_mut().unwrap();
    match text {
        Some(t) => {
            for i in items.iter_mut() {
                if i["id"] == id {
                    i["text"] = json!(t);
                }
            }
        }
        None => items.retain(|i| i["id"] != id),
    }
    std::fs::write(
        v.abs("todos.json"),
        serde_json::to_string_pretty(&file).unwrap(),
    )
    .unwrap();
    std::fs::File::options()
        .write(true)
        .open(v.abs("todos.json"))
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

fn past() -> SystemTime {
    SystemTime::now() - Duration::from_secs(60)
}

fn future() -> SystemTime {
    SystemTime::now() + Duration::from_secs(3600)
}

fn save_text(e: &mut Engine, key: &str, text: &str) -> me_nexus::Result<String> {
    e.save_object(
        "core.todo",
        json!({"text": text, "completed": false}),
        Some(key),
        Source::App,
    )
}

#[test]
fn changes_to_different_items_both_stay_without_conflict() {
    let (v, mut e) = setup();
    external_edit(&v, 2, Some("two, edited elsewhere"), past());
    save_text(&mut e, "todos.json#1", "one, edited in the app").unwrap();
    assert_eq!(item(&v, 1).unwrap()["text"], "one, edited in the app");
    assert_eq!(item(&v, 2).unwrap()["text"], "two, edited elsewhere");
    assert!(e.conflicts(true).unwrap().is_empty());
    assert_eq!(e.stats().unwrap().problems, 0);
}

#[test]
fn same_item_newer_app_wins_and_the_file_version_is_kept_and_restorable() {
    let (v, mut e) = setup();
    external_edit(&v, 1, Some("one, from the other program"), past());
    save_text(&mut e, "todos.json#1", "one, from the app").unwrap();
    assert_eq!(item(&v, 1).unwrap()["text"], "one, from the app");
    let conflicts = e.conflicts(false).unwrap();
    assert_eq!(conflicts.len(), 1);
    let c = &conflicts[0];
    assert_eq!(
        (c.object_key.as_str(), c.winner.as_str()),
        ("todos.json#1", "app")
    );
    let copy: Value = serde_json::from_str(&v.read(&c.copy_path)).unwrap();
    assert_eq!(copy["losing"]["text"], "one, from the other program");
    assert_eq!(copy["file"], "todos.json");
    assert!(
        copy["file_hash"].as_str().unwrap().len() == 64
            && copy["app_hash"].as_str().unwrap().len() == 64
    );
    // Listed as a problem, in status and check.
    assert_eq!(e.stats().unwrap().problems, 1);
    let check = v.cli(&["check", v.path_str()]);
    assert_eq!(check.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&check.stdout).contains("conflict"));
    // Restored in one step: the other program's version is back, and the
    // app's version is still in the copy.
    let out = v.cli_ok(&["conflicts", "restore", v.path_str(), &c.id.to_string()]);
    assert!(out.contains("todos.json#1"), "{out}");
    assert_eq!(item(&v, 1).unwrap()["text"], "one, from the other program");
    let copy: Value = serde_json::from_str(&v.read(&c.copy_path)).unwrap();
    assert_eq!(copy["winning"]["text"], "one, from the app");
    assert!(copy["resolved_at"].is_string());
    let e = Engine::open(v.path()).unwrap();
    assert_eq!(e.stats().unwrap().problems, 0);
    assert!(
        v.audit()
            .iter()
            .any(|l| l["action"] == "conflict" && l["key"] == "todos.json#1")
    );
}

#[test]
fn same_item_newer_file_wins_and_the_app_version_is_kept() {
    let (v, mut e) = setup();
    external_edit(&v, 3, Some("three, newer in the file"), future());
    let err = save_text(&mut e, "todos.json#3", "three, from the app").unwrap_err();
    assert!(err.to_string().contains("conflict"), "{err}");
    assert_eq!(item(&v, 3).unwrap()["text"], "three, newer in the file");
    let c = &e.conflicts(false).unwrap()[0];
    assert_eq!(c.winner, "file");
    let copy: Value = serde_json::from_str(&v.read(&c.copy_path)).unwrap();
    assert_eq!(copy["losing"]["text"], "three, from the app");
    // The index follows the file.
    assert_eq!(
        v.content("todos.json#3")["text"],
        "three, newer in the file"
    );
    e.restore_conflict(c.id, Source::App).unwrap();
    assert_eq!(item(&v, 3).unwrap()["text"], "three, from the app");
}

#[test]
fn a_modification_beats_a_deletion_both_ways() {
    let (v, mut e) = setup();
    // The app deletes what another program modified: the modification stays.
    external_edit(&v, 2, Some("two, still wanted"), past());
    let err = e.delete_object("todos.json#2", Source::App).unwrap_err();
    assert!(
        err.to_string().contains("modification beats a deletion"),
        "{err}"
    );
    assert_eq!(item(&v, 2).unwrap()["text"], "two, still wanted");

    // Another program deletes what the app modifies: the item comes back.
    external_edit(&v, 3, None, past());
    save_text(&mut e, "todos.json#3", "three, kept by the app").unwrap();
    assert_eq!(item(&v, 3).unwrap()["text"], "three, kept by the app");
    assert!(v.keys().contains(&"todos.json#3".to_string()));
}

#[test]
fn a_rebuilt_index_finds_open_conflicts_again() {
    let (v, mut e) = setup();
    external_edit(&v, 1, Some("elsewhere"), past());
    save_text(&mut e, "todos.json#1", "app").unwrap();
    drop(e);
    for f in ["vault.sqlite", "vault.sqlite-wal", "vault.sqlite-shm"] {
        let _ = std::fs::remove_file(v.abs(&format!(".nexus/{f}")));
    }
    let mut e = Engine::open(v.path()).unwrap();
    e.reconcile().unwrap();
    assert_eq!(e.conflicts(false).unwrap().len(), 1);
    assert_eq!(e.stats().unwrap().problems, 1);
}

#[test]
fn a_grant_against_a_revoke_ends_revoked() {
    use me_nexus::permissions::model::PermissionChange;
    use me_nexus::sync::permissions_sync::PermissionTarget;
    let (v, mut e) = setup();
    let grant = |ai: Option<bool>, cloud: Option<bool>| PermissionChange {
        share_with_ai: ai,
        share_with_cloud: cloud,
        ..PermissionChange::default()
    };
    let one = PermissionTarget::Keys(vec!["todos.json#1".into()]);
    e.set_permissions(&one, &grant(Some(true), None), Source::App)
        .unwrap();
    // By hand, the user revokes AI for #1 (the watcher has not seen it yet) ...
    v.write(".nexus/permissions.json", r#"{"object_permissions": {}}"#);
    // ... while the app, from its stale view, grants AI and cloud.
    e.set_permissions(&one, &grant(Some(true), Some(true)), Source::App)
        .unwrap();
    let p = e.get_permissions("todos.json#1").unwrap();
    assert!(!p.share_with_ai, "the revoke beats the grant");
    assert!(p.share_with_cloud, "cloud was changed by the app only");
    let file: Value = serde_json::from_str(&v.read(".nexus/permissions.json")).unwrap();
    assert_eq!(
        file["object_permissions"]["todos.json#1"]["share_with_ai"],
        false
    );
    assert_eq!(
        file["object_permissions"]["todos.json#1"]["share_with_cloud"],
        true
    );
}

/// What `files` holds as the merge base of todos.json: its encoding and
/// stored length.
fn stored_base(v: &TestVault) -> (String, i64) {
    v.db()
        .query_row(
            "SELECT base_encoding, length(base_content) FROM files WHERE path = 'todos.json'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
}

#[test]
fn merge_base_is_stored_compressed_and_gives_back_the_indexed_bytes() {
    let (v, e) = setup();
    let (encoding, _) = stored_base(&v);
    assert_eq!(encoding, "lz4");
    let base = me_nexus::db::files::base(e.conn(), "todos.json").unwrap();
    assert_eq!(base.as_deref(), Some(TODOS.as_bytes()));

    // A larger collection (like the bench's) is stored in far fewer bytes.
    let items: Vec<Value> = (1..=40)
        .map(|i| json!({"id": i, "text": format!("water the plants, round {i}"), "completed": false}))
        .collect();
    let big = serde_json::to_string_pretty(&json!({"schema": "core.todo", "data": items})).unwrap();
    v.write("todos.json", &big);
    let mut e = e;
    e.reconcile().unwrap();
    let (encoding, stored) = stored_base(&v);
    assert_eq!(encoding, "lz4");
    assert!(
        (stored as usize) * 2 < big.len(),
        "{stored} bytes stored for {}",
        big.len()
    );
    let base = me_nexus::db::files::base(e.conn(), "todos.json").unwrap();
    assert_eq!(base.as_deref(), Some(big.as_bytes()));
}

#[test]
fn raw_merge_base_from_an_older_database_still_merges() {
    let (v, mut e) = setup();
    // As version 7 stored it: the bytes themselves.
    v.db()
        .execute(
            "UPDATE files SET base_content = ?1, base_encoding = 'raw' WHERE path = 'todos.json'",
            [TODOS.as_bytes()],
        )
        .unwrap();
    external_edit(&v, 2, Some("two, edited elsewhere"), past());
    save_text(&mut e, "todos.json#1", "one, edited in the app").unwrap();
    assert_eq!(item(&v, 1).unwrap()["text"], "one, edited in the app");
    assert_eq!(item(&v, 2).unwrap()["text"], "two, edited elsewhere");
    // The base told item 1 was not changed elsewhere: no conflict.
    assert!(e.conflicts(true).unwrap().is_empty());
    // The save indexed the merged file: its new base is compressed.
    assert_eq!(stored_base(&v).0, "lz4");
}

#[test]
fn damaged_merge_base_loses_nothing() {
    let (v, mut e) = setup();
    v.db()
        .execute(
            "UPDATE files SET base_content = x'ffffff7f0102' WHERE path = 'todos.json'",
            [],
        )
        .unwrap();
    assert_eq!(
        me_nexus::db::files::base(e.conn(), "todos.json").unwrap(),
        None
    );
    external_edit(&v, 1, Some("one, from the other program"), past());
    save_text(&mut e, "todos.json#1", "one, from the app").unwrap();
    // Without a base the two versions are a conflict: one is in the file,
    // the other in the conflict copy.
    assert_eq!(item(&v, 1).unwrap()["text"], "one, from the app");
    let conflicts = e.conflicts(false).unwrap();
    assert_eq!(conflicts.len(), 1);
    let copy: Value = serde_json::from_str(&v.read(&conflicts[0].copy_path)).unwrap();
    assert_eq!(copy["losing"]["text"], "one, from the other program");
}
