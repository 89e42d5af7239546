//! Engine tests on temporary vaults: files become objects, keys are stable,
//! schemas and plugins, problems, reconcile, and write-back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::TestVault;
use me_nexus::Engine;
use me_nexus::audit::Source;
use me_nexus::permissions::model::PermissionChange;
use me_nexus::sync::permissions_sync::PermissionTarget;
use serde_json::{Value, json};

fn engine(v: &TestVault) -> Engine {
    Engine::init(v.path()).unwrap()
}

fn problems(v: &TestVault) -> Vec<(String, String, String)> {
    let conn = v.db();
    let mut stmt = conn
        .prepare("SELECT file_path, pointer, message FROM problems ORDER BY file_path, id")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn change_permissions(e: &mut Engine, key: &str, change: PermissionChange) {
    e.set_permissions(
        &PermissionTarget::Keys(vec![key.into()]),
        &change,
        Source::App,
    )
    .unwrap();
}

/// The names of the database's triggers, sorted.
fn trigger_names(conn: &rusqlite::Connection) -> Vec<String> {
    conn.prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn share_ai(e: &mut Engine, key: &str) {
    let change = PermissionChange {
        share_with_ai: Some(true),
        ..PermissionChange::default()
    };
    change_permissions(e, key, change);
}

const TODOS: &str = r#"{
  "schema": "core.todo",
  "version": "1.0",
  "data": [
    {"id": 1, "text": "one", "completed": false},
    {"id": 2, "text": "two", "completed": false},
    {"id": "x", "text": "three", "completed": true}
  ]
}
"#;

#[test]
fn the_three_file_forms_become_objects_with_keys() {
    let v = TestVault::empty();
    v.write("todos.json", TODOS);
    v.write(
        "plugins/x/settings.json",
        r#"{"schema":"core.note","version":"1","data":{"title":"S","body":"b"}}"#,
    );
    v.write(
        "notes/daily/2025-01-15.md",
        "---\ntags: [a, b]\n---\n# Standup\n\ntext\n",
    );
    v.write("notes/plain.md", "no heading here\n");
    let mut e = engine(&v);
    e.reconcile().unwrap();
    assert_eq!(
        v.keys(),
        vec![
            "notes/daily/2025-01-15.md",
            "notes/plain.md",
            "plugins/x/settings.json",
            "todos.json#1",
            "todos.json#2",
            "todos.json#x"
        ]
    );
    let note = v.content("notes/daily/2025-01-15.md");
    assert_eq!(note["title"], "Standup");
    assert_eq!(note["tags"], json!(["a", "b"]));
    assert_eq!(note["body"], "# Standup\n\ntext\n");
    assert_eq!(v.content("notes/plain.md")["title"], "plain");
    assert_eq!(v.content("todos.json#x")["text"], "three");
    let source: String = v
        .db()
        .query_row(
            "SELECT source_path FROM data_objects WHERE file_path = 'todos.json#2'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(source, "todos.json");
}

#[test]
fn keys_survive_reordering_other_edits_restarts_and_rebuilds() {
    let v = TestVault::empty();
    v.write("todos.json", TODOS);
    let mut e = engine(&v);
    e.reconcile().unwrap();
    share_ai(&mut e, "todos.json#2");
    let id2 = v.row_id("todos.json#2");

    // Reorder and edit another item.
    v.write(
        "todos.json",
        r#"{"schema":"core.todo","version":"1.0","data":[
            {"id":"x","text":"three","completed":true},
            {"id":2,"text":"two","completed":false},
            {"id":1,"text":"one, edited","completed":true}]}"#,
    );
    e.reconcile().unwrap();
    assert_eq!(v.row_id("todos.json#2"), id2);
    assert_eq!(v.content("todos.json#1")["text"], "one, edited");
    assert!(e.get_permissions("todos.json#2").unwrap().share_with_ai);

    // Restart.
    drop(e);
    let mut e = Engine::open(v.path()).unwrap();
    e.reconcile().unwrap();
    assert_eq!(v.row_id("todos.json#2"), id2);

    // Rebuild: the same keys and the same grant come back from the files.
    drop(e);
    let keys_before = v.keys();
    for f in ["vault.sqlite", "vault.sqlite-wal", "vault.sqlite-shm"] {
        let _ = std::fs::remove_file(v.abs(&format!(".nexus/{f}")));
    }
    let mut e = Engine::open(v.path()).unwrap();
    e.reconcile().unwrap();
    assert_eq!(v.keys(), keys_before);
    assert!(e.get_permissions("todos.json#2").unwrap().share_with_ai);
    assert!(!e.get_permissions("todos.json#1").unwrap().share_with_ai);
    assert!(v.audit().iter().any(|l| l["action"] == "recovery"));
}

#[test]
fn an_offline_move_keeps_identity_and_permissions() {
    let v = TestVault::empty();
    v.write("todos.json", TODOS);
    v.write("notes/a.md", "# A\n");
    let mut e = engine(&v);
    e.reconcile().unwrap();
    share_ai(&mut e, "todos.json#1");
    share_ai(&mut e, "notes/a.md");
    let id1 = v.row_id("todos.json#1");
    let id_note = v.row_id("notes/a.md");

    std::fs::create_dir_all(v.abs("archive")).unwrap();
    std::fs::rename(v.abs("todos.json"), v.abs("archive/old-todos.json")).unwrap();
    std::fs::rename(v.abs("notes"), v.abs("papers")).unwrap();
    let report = e.reconcile().unwrap();
    assert_eq!(report.objects_moved.len(), 4, "{report:?}");
    assert!(
        report.objects_removed.is_empty() && report.objects_added.is_empty(),
        "{report:?}"
    );
    assert_eq!(v.row_id("archive/old-todos.json#1"), id1);
    assert_eq!(v.row_id("papers/a.md"), id_note);
    assert!(
        e.get_permissions("archive/old-todos.json#1")
            .unwrap()
            .share_with_ai
    );
    assert!(e.get_permissions("papers/a.md").unwrap().share_with_ai);
    let perms_file: Value = serde_json::from_str(&v.read(".nexus/permissions.json")).unwrap();
    let listed: Vec<&String> = perms_file["object_permissions"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(listed, vec!["archive/old-todos.json#1", "papers/a.md"]);
    assert!(
        v.audit()
            .iter()
            .any(|l| l["action"] == "object.moved" && l["key"] == "papers/a.md")
    );
}

#[test]
fn ignored_files_are_not_indexed() {
    let v = TestVault::empty();
    let note = "# n\n";
    for rel in [
        ".hidden.md",
        ".git/x.md",
        "notes/.a.md.swp",
        "notes/a.md.swp",
        "notes/4913",
        "notes/a.md~",
        "notes/.#a.md",
        "notes/a.md___jb_tmp___",
        ".nexus/extra.md",
        "readme.txt",
    ] {
        v.write(rel, note);
    }
    v.write("notes/a.md", note);
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.md"), "# secret\n").unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.md"), v.abs("notes/link.md")).unwrap();
    std::os::unix::fs::symlink(outside.path(), v.abs("outside")).unwrap();
    let mut e = engine(&v);
    e.reconcile().unwrap();
    assert_eq!(v.keys(), vec!["notes/a.md"]);
    assert!(problems(&v).is_empty(), "{:?}", problems(&v));
}

#[test]
fn json_without_a_schema_is_skipped_and_counted_not_a_problem() {
    let v = TestVault::empty();
    v.write("package.json", r#"{"name": "my-tool", "version": "1.0.0"}"#);
    v.write("todos.json", TODOS);
    let mut e = engine(&v);
    let report = e.reconcile().unwrap();
    assert_eq!(report.files_not_data, 1);
    assert_eq!(
        v.count("SELECT COUNT(*) FROM files WHERE status = 'not_data'"),
        1
    );
    assert!(problems(&v).is_empty());
    assert_eq!(v.keys().len(), 3);
}

#[test]
fn bad_input_becomes_problems_and_the_rest_indexes() {
    let v = TestVault::empty();
    v.write(
        "todos.json",
        r#"{"schema":"core.todo","version":"1","data":[
            {"id":1,"text":"ok"},
            {"id":2,"text":"bad date","due":"next tuesday"},
            {"text":"no id"},
            {"id":3,"text":"wrong type","completed":"yes"}]}"#,
    );
    v.write("broken.json", r#"{"schema": "core.todo", "data": ["#);
    v.write(
        "mystery.json",
        r#"{"schema": "plugin.unknown.thing", "data": []}"#,
    );
    v.write("notes/bad.md", "---\ntags: [a\n---\n# x\n");
    let broken_bytes = v.read("broken.json");
    let mut e = engine(&v);
    e.reconcile().unwrap();
    let found = problems(&v);
    let has = |file: &str, pointer: &str| found.iter().any(|(f, p, _)| f == file && p == pointer);
    assert!(has("todos.json", "/data/1/due"), "{found:?}");
    assert!(has("todos.json", "/data/2"), "{found:?}");
    assert!(has("todos.json", "/data/3/completed"), "{found:?}");
    assert!(has("broken.json", ""), "{found:?}");
    assert!(has("mystery.json", "/schema"), "{found:?}");
    assert!(has("notes/bad.md", "/front-matter"), "{found:?}");
    assert!(
        found.iter().any(|(_, _, m)| m.contains("date-time")),
        "{found:?}"
    );
    // Invalid items with an id stay objects (with their problems); the
    // item without an id cannot be one.
    assert_eq!(
        v.keys(),
        vec!["todos.json#1", "todos.json#2", "todos.json#3"]
    );
    let owner: Option<String> = v
        .db()
        .query_row(
            "SELECT object_key FROM problems WHERE pointer = '/data/1/due'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(owner.as_deref(), Some("todos.json#2"));
    assert_eq!(v.read("broken.json"), broken_bytes);
    assert_eq!(e.stats().unwrap().problems, found.len() as i64);
}

#[test]
fn a_file_that_stops_parsing_keeps_its_last_good_objects() {
    let v = TestVault::empty();
    v.write("todos.json", TODOS);
    let mut e = engine(&v);
    e.reconcile().unwrap();
    share_ai(&mut e, "todos.json#1");
    v.write(
        "todos.json",
        "{\"schema\": \"core.todo\", \"data\": [ {\"id\": 1,",
    );
    e.reconcile().unwrap();
    assert_eq!(
        v.keys(),
        vec!["todos.json#1", "todos.json#2", "todos.json#x"]
    );
    assert!(e.get_permissions("todos.json#1").unwrap().share_with_ai);
    assert_eq!(problems(&v).len(), 1);
    // Writing into it is refused rather than overwriting the user's bytes.
    let err = e
        .save_object("core.todo", json!({"text": "new"}), None, Source::Cli)
        .unwrap_err();
    assert!(err.to_string().contains("todos.json"), "{err}");
    v.write("todos.json", TODOS);
    e.reconcile().unwrap();
    assert!(problems(&v).is_empty());
}

#[test]
fn plugins_register_schemas_and_bump_versions() {
    let v = TestVault::empty();
    v.write(
        "plugins/journal/plugin.json",
        r#"{"name":"journal","version":"1.0.0","schemas":[
            {"schema_name":"plugin.journal.entry","version":1,"definition":"schema.json"},
            {"schema_name":"plugin.journal.mood","version":1,"definition":{"type":"object","required":["mood"]}}]}"#,
    );
    v.write(
        "plugins/journal/schema.json",
        r#"{"type":"object","properties":{"title":{"type":"string"},"created_at":{"type":"string","format":"date-time"}},"required":["title"]}"#,
    );
    v.write(
        "plugins/journal/entries.json",
        r#"{"schema":"plugin.journal.entry","version":"1","data":[{"id":1,"title":"a"},{"id":2,"title":"b","created_at":"nope"}]}"#,
    );
    let mut e = engine(&v);
    e.reconcile().unwrap();
    assert_eq!(
        v.keys(),
        vec![
            "plugins/journal/entries.json#1",
            "plugins/journal/entries.json#2"
        ]
    );
    let version = |name: &str| -> i64 {
        v.db()
            .query_row(
                "SELECT version FROM schemas WHERE schema_name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(version("plugin.journal.entry"), 1);
    assert_eq!(version("plugin.journal.mood"), 1);
    let found = problems(&v);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].1, "/data/1/created_at");

    // The schema changes: version bump, and its files are re-validated.
    v.write(
        "plugins/journal/schema.json",
        r#"{"type":"object","required":["title"]}"#,
    );
    let report = e.reconcile().unwrap();
    assert_eq!(report.schemas_changed, vec!["plugin.journal.entry"]);
    assert_eq!(version("plugin.journal.entry"), 2);
    assert!(problems(&v).is_empty(), "{:?}", problems(&v));
    // Neither the manifest nor the schema file is data or not-data.
    assert_eq!(
        v.count("SELECT COUNT(*) FROM files WHERE status = 'plugin'"),
        2
    );
    assert_eq!(
        v.count("SELECT COUNT(*) FROM files WHERE status = 'not_data'"),
        0
    );
}

#[test]
fn reconcile_twice_changes_nothing() {
    let v = TestVault::sample();
    let mut e = engine(&v);
    let first = e.reconcile().unwrap();
    assert_eq!(first.objects_added.len(), 11);
    let perms_before = v.read(".nexus/permissions.json");
    let second = e.reconcile().unwrap();
    assert!(!second.changed_anything(), "{second:?}");
    assert_eq!(second.files_parsed, 0);
    assert_eq!(v.read(".nexus/permissions.json"), perms_before);
}

#[test]
fn write_back_keeps_other_items_key_order_and_indent() {
    let v = TestVault::empty();
    v.write(
        "todos.json",
        "{\n    \"schema\": \"core.todo\",\n    \"version\": \"1.0\",\n    \"data\": [\n        {\"id\": 1, \"text\": \"one\", \"completed\": false, \"zeta\": 1},\n        {\"completed\": true, \"text\": \"two\", \"id\": 2}\n    ]\n}\n",
    );
    let mut e = engine(&v);
    e.reconcile().unwrap();
    let key = e
        .save_object(
            "core.todo",
            json!({"text": "ONE", "completed": true, "zeta": 1}),
            Some("todos.json#1"),
            Source::App,
        )
        .unwrap();
    assert_eq!(key, "todos.json#1");
    let text = v.read("todos.json");
    assert!(
        text.contains("\n        {\n            \"id\": 1,"),
        "4-space indent kept:\n{text}"
    );
    let file: Value = serde_json::from_str(&text).unwrap();
    let item1: Vec<&String> = file["data"][0].as_object().unwrap().keys().collect();
    // updated_at is stamped because core.todo has that property; new keys go last.
    assert_eq!(item1, vec!["id", "text", "completed", "zeta", "updated_at"]);
    assert_eq!(file["data"][0]["text"], "ONE");
    let item2: Vec<&String> = file["data"][1].as_object().unwrap().keys().collect();
    assert_eq!(
        item2,
        vec!["completed", "text", "id"],
        "the other item keeps its key order"
    );
    assert_eq!(
        v.content("todos.json#1")["text"],
        "ONE",
        "the DB follows in the same operation"
    );
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(v.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        names.iter().all(|n| n == "todos.json" || n == ".nexus"),
        "{names:?}"
    );

    // A new item gets the next id and the schema's timestamps are not invented
    // where the schema has none... core.todo has both, so they are filled.
    let key = e
        .save_object("core.todo", json!({"text": "three"}), None, Source::App)
        .unwrap();
    assert_eq!(key, "todos.json#3");
    let added = v.content("todos.json#3");
    assert!(added["created_at"].is_string() && added["updated_at"].is_string());

    // A write that fails validation leaves the file untouched.
    let before = v.read("todos.json");
    let err = e
        .save_object(
            "core.todo",
            json!({"text": 5}),
            Some("todos.json#2"),
            Source::App,
        )
        .unwrap_err();
    assert!(
        err.to_string().starts_with("Schema validation failed"),
        "{err}"
    );
    assert_eq!(v.read("todos.json"), before);
}

#[test]
fn own_writes_are_recognised_by_hash() {
    let v = TestVault::empty();
    v.write("todos.json", TODOS);
    let mut e = engine(&v);
    e.reconcile().unwrap();
    e.save_object(
        "core.todo",
        json!({"text": "changed"}),
        Some("todos.json#2"),
        Source::App,
    )
    .unwrap();
    // What the watcher would do with the event of that write: nothing.
    let report = e
        .index_paths(["todos.json".to_string()].into_iter().collect())
        .unwrap();
    assert_eq!(report.files_parsed, 0, "{report:?}");
    assert!(!report.changed_anything());
}

#[test]
fn read_only_objects_refuse_modification_and_deletion() {
    let v = TestVault::sample();
    let mut e = engine(&v);
    e.reconcile().unwrap();
    let before = v.read("plugins/journal/entries.json");
    let err = e
        .save_object(
            "plugin.journal.entry",
            json!({"title": "x", "content": "y", "created_at": "2025-01-05T21:00:00Z"}),
            Some("plugins/journal/entries.json#1"),
            Source::App,
        )
        .unwrap_err();
    assert!(
        matches!(err, me_nexus::NexusError::PermissionDenied(_)),
        "{err}"
    );
    let err = e
        .delete_object("plugins/journal/entries.json#1", Source::App)
        .unwrap_err();
    assert!(
        matches!(err, me_nexus::NexusError::PermissionDenied(_)),
        "{err}"
    );
    assert_eq!(v.read("plugins/journal/entries.json"), before);
    // The other entry of the same file is writable.
    e.delete_object("plugins/journal/entries.json#2", Source::App)
        .unwrap();
    assert_eq!(
        v.keys()
            .iter()
            .filter(|k| k.starts_with("plugins/"))
            .count(),
        1
    );
}

#[test]
fn notes_are_written_back_as_markdown_keeping_front_matter() {
    let v = TestVault::sample();
    let mut e = engine(&v);
    e.reconcile().unwrap();
    let key = "notes/projects/me-nexus.md";
    let mut note = v.content(key);
    note["body"] = json!("# Me-Nexus\n\nRewritten.\n");
    e.save_object("core.note", note, Some(key), Source::App)
        .unwrap();
    assert_eq!(
        v.read(key),
        "---\ntags: [project]\nstatus: active\n---\n# Me-Nexus\n\nRewritten.\n"
    );

    let new_key = e
        .save_object(
            "core.note",
            json!({"title": "Trip ideas", "body": "Go north.\n"}),
            None,
            Source::App,
        )
        .unwrap();
    assert_eq!(new_key, "notes/trip-ideas.md");
    assert_eq!(v.read("notes/trip-ideas.md"), "# Trip ideas\n\nGo north.\n");
    assert_eq!(v.content(&new_key)["title"], "Trip ideas");

    // Deleting a whole-file object keeps a copy in the trash.
    e.delete_object(&new_key, Source::App).unwrap();
    assert!(!v.abs("notes/trip-ideas.md").exists());
    let trash = walk(&v.abs(".nexus/trash"));
    assert!(
        trash.iter().any(|p| p.ends_with("notes/trip-ideas.md")),
        "{trash:?}"
    );
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path.display().to_string());
            }
        }
    }
    out
}

#[test]
fn directory_info_reports_without_writing() {
    let v = TestVault::sample();
    let info = me_nexus::vault::directory_info::check_directory_info(v.path()).unwrap();
    assert!(info.exists && info.writable && !info.is_vault);
    assert_eq!(info.objects, 11);
    assert!(!v.abs(".nexus/vault.sqlite").exists());
    let missing = me_nexus::vault::directory_info::check_directory_info(&v.abs("nope")).unwrap();
    assert!(!missing.exists && !missing.writable && missing.objects == 0);
}

#[test]
fn gate_allows_only_explicit_unexpired_grants_and_audits() {
    let v = TestVault::sample();
    let mut e = engine(&v);
    e.reconcile().unwrap();
    use me_nexus::permissions::gate::{check_ai_permission, check_cloud_permission};
    assert!(check_ai_permission(e.conn(), e.audit(), "todos.json#1").is_ok());
    assert!(
        check_ai_permission(e.conn(), e.audit(), "todos.json#2").is_err(),
        "expired grant"
    );
    assert!(
        check_ai_permission(e.conn(), e.audit(), "todos.json#3").is_err(),
        "never granted"
    );
    assert!(check_cloud_permission(e.conn(), e.audit(), "todos.json#1").is_err());
    let lines = v.audit();
    let decisions: Vec<(&str, &str)> = lines
        .iter()
        .filter(|l| l["action"].as_str().unwrap().starts_with("gate."))
        .map(|l| (l["action"].as_str().unwrap(), l["key"].as_str().unwrap()))
        .collect();
    assert_eq!(
        decisions,
        vec![
            ("gate.granted", "todos.json#1"),
            ("gate.denied", "todos.json#2"),
            ("gate.denied", "todos.json#3"),
            ("gate.denied", "todos.json#1")
        ]
    );
    assert!(
        lines
            .iter()
            .any(|l| l["details"]["reason"] == "permission has expired")
    );
}

/// An object with the default permissions has no permission row, and the
/// grid, its counts and the gate treat it as private; a grant adds a row,
/// and taking the grant back leaves the row holding the defaults, which
/// reads the same as no row.
#[test]
fn private_objects_need_no_permission_row() {
    use me_nexus::permissions::gate::check_ai_permission;
    use me_nexus::query::grid::{GridQuery, PermissionFilter, SortColumn, query_ids};
    use me_nexus::query::page::{count, page_after};
    let v = TestVault::sample();
    let mut e = engine(&v);
    e.reconcile().unwrap();
    let key = "todos.json#3";
    let rows_of = |v: &TestVault| {
        v.count(&format!(
            "SELECT COUNT(*) FROM object_permissions p JOIN data_objects o ON o.id = p.object_id
             WHERE o.file_path = '{key}'"
        ))
    };
    let private = GridQuery {
        permissions: PermissionFilter::Private,
        ..GridQuery::default()
    };
    let ai_first = GridQuery {
        sort: SortColumn::Ai,
        descending: true,
        ..GridQuery::default()
    };
    let id = v.row_id(key);
    // Private, and without a row.
    assert_eq!(rows_of(&v), 0);
    assert!(query_ids(e.conn(), &private).unwrap().contains(&id));
    assert_eq!(count(e.conn(), &private).unwrap(), 6);
    let page = page_after(e.conn(), &GridQuery::default(), None, 100).unwrap();
    let row = page.rows.iter().find(|r| r.key == key).unwrap();
    assert!(!row.permissions.share_with_ai && row.permissions.expires_at.is_none());
    assert!(check_ai_permission(e.conn(), e.audit(), key).is_err());

    // Shared: a row, first when sorted by the AI flag descending.
    share_ai(&mut e, key);
    assert_eq!(rows_of(&v), 1);
    assert!(!query_ids(e.conn(), &private).unwrap().contains(&id));
    assert_eq!(count(e.conn(), &private).unwrap(), 5);
    let shared_first: Vec<String> = page_after(e.conn(), &ai_first, None, 4)
        .unwrap()
        .rows
        .into_iter()
        .map(|r| r.key)
        .collect();
    assert!(shared_first.contains(&key.to_string()), "{shared_first:?}");
    assert!(check_ai_permission(e.conn(), e.audit(), key).is_ok());

    // Taken back: the row stays with the defaults, and it is private again.
    change_permissions(
        &mut e,
        key,
        PermissionChange {
            share_with_ai: Some(false),
            ..PermissionChange::default()
        },
    );
    assert_eq!(rows_of(&v), 1);
    assert!(query_ids(e.conn(), &private).unwrap().contains(&id));
    assert_eq!(count(e.conn(), &private).unwrap(), 6);
    assert!(check_ai_permission(e.conn(), e.audit(), key).is_err());
    let stats = me_nexus::db::stats::permission_stats(e.conn(), 0).unwrap();
    assert_eq!((stats.total_objects, stats.ai_shared), (11, 3));
}

/// The grants listed in permissions.json, by key.
fn listed_grants(v: &TestVault) -> std::collections::BTreeMap<String, Value> {
    let file: Value = serde_json::from_str(&v.read(".nexus/permissions.json")).unwrap();
    file["object_permissions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, p)| (k.clone(), p.clone()))
        .collect()
}

/// The engine keeps the grants in memory between permission changes. Any
/// other writer of the database (another process, a hand-run statement)
/// must make it read them again, or the next rewrite of permissions.json
/// would drop or resurrect grants. Each write below goes through a second
/// connection while the engine stays open, and the engine's next toggle of
/// an unrelated object must write a file that reflects it.
#[test]
fn permissions_json_follows_writes_made_behind_the_engines_back() {
    let v = TestVault::sample();
    let mut e = engine(&v);
    e.reconcile().unwrap();
    // Three objects without a grant in the sample's permissions.json.
    let mut expected = listed_grants(&v);
    let free: Vec<String> = v
        .keys()
        .into_iter()
        .filter(|k| !expected.contains_key(k))
        .collect();
    assert!(
        free.len() >= 3,
        "the sample vault has too few objects: {free:?}"
    );
    let (toggled, other, moved) = (&free[0], &free[1], &free[2]);
    let grant = |ai: bool, cloud: bool| json!({"share_with_ai": ai, "share_with_cloud": cloud, "read_only": false, "expires_at": null});
    let toggle = |e: &mut Engine, on: bool| {
        let change = PermissionChange {
            share_with_cloud: Some(on),
            ..PermissionChange::default()
        };
        change_permissions(e, toggled, change);
    };
    // The engine now holds the grants in memory.
    toggle(&mut e, true);
    share_ai(&mut e, moved);
    expected.insert(toggled.clone(), grant(false, true));
    expected.insert(moved.clone(), grant(true, false));
    assert_eq!(listed_grants(&v), expected);
    let sql = |statement: &str, params: &[&dyn rusqlite::ToSql]| {
        let conn = v.db();
        conn.execute_batch("PRAGMA foreign_keys = ON").unwrap();
        assert_eq!(conn.execute(statement, params).unwrap(), 1, "{statement}");
    };

    // A grant written by someone else appears in the file.
    // (`other` had the defaults, so no permission row: the grant adds one.)
    sql(
        "INSERT INTO object_permissions (object_id, share_with_ai)
         SELECT id, 1 FROM data_objects WHERE file_path = ?1
         ON CONFLICT (object_id) DO UPDATE SET share_with_ai = 1",
        &[other],
    );
    toggle(&mut e, false);
    expected.insert(other.clone(), grant(true, false));
    expected.remove(toggled);
    assert_eq!(listed_grants(&v), expected);

    // ... and a grant revoked by someone else leaves it.
    sql(
        "UPDATE object_permissions SET share_with_ai = 0
         WHERE object_id = (SELECT id FROM data_objects WHERE file_path = ?1)",
        &[other],
    );
    toggle(&mut e, true);
    expected.remove(other);
    expected.insert(toggled.clone(), grant(false, true));
    assert_eq!(listed_grants(&v), expected);

    // A shared object re-keyed elsewhere is listed under its new key.
    sql(
        "UPDATE data_objects SET file_path = 'renamed-elsewhere.json#1' WHERE file_path = ?1",
        &[moved],
    );
    toggle(&mut e, false);
    expected.remove(moved);
    expected.remove(toggled);
    expected.insert("renamed-elsewhere.json#1".into(), grant(true, false));
    assert_eq!(listed_grants(&v), expected);

    // A shared object deleted elsewhere (its permission row goes by
    // cascade) is no longer listed.
    sql(
        "DELETE FROM data_objects WHERE file_path = 'renamed-elsewhere.json#1'",
        &[],
    );
    toggle(&mut e, true);
    expected.remove("renamed-elsewhere.json#1");
    expected.insert(toggled.clone(), grant(false, true));
    assert_eq!(listed_grants(&v), expected);

    // An orphan grant written elsewhere is kept in the file.
    sql(
        "INSERT INTO orphan_permissions (key, share_with_ai) VALUES ('not-yet.json#1', 1)",
        &[],
    );
    toggle(&mut e, false);
    expected.remove(toggled);
    expected.insert("not-yet.json#1".into(), grant(true, false));
    assert_eq!(listed_grants(&v), expected);
}

/// A first index of a vault with more files than one transaction holds
/// loads without the per-row insert triggers (`db::bulk_load`). Afterwards
/// the counters must equal what the tables hold, every trigger must be
/// back, and the triggers must count the next insert.
#[test]
fn a_bulk_first_index_leaves_right_counters_and_its_triggers() {
    use me_nexus::bench::data::{Layout, write_vault};
    let v = TestVault::empty();
    let layout = Layout::for_objects(6_000); // 600 collection files
    write_vault(v.path(), &layout).unwrap();
    let fresh_triggers = trigger_names(&me_nexus::db::open_in_memory().unwrap());
    let mut e = engine(&v);
    let report = e.reconcile().unwrap();
    // Every object counted; the report names the first thousand, in the
    // order they were added, and says how many it left out.
    assert_eq!(report.objects_added.len(), layout.objects());
    let named = report.objects_added.first();
    assert_eq!(named.len(), me_nexus::sync::capped::LIMIT);
    assert_eq!(
        report.objects_added.left_out(),
        layout.objects() - named.len()
    );
    let first_ids: Vec<String> = v
        .db()
        .prepare("SELECT file_path FROM data_objects ORDER BY id LIMIT 1000")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(named, first_ids.as_slice());
    let counter =
        |name: &str| v.count(&format!("SELECT value FROM counters WHERE name = '{name}'"));
    let objects = v.count("SELECT COUNT(*) FROM data_objects");
    assert_eq!(objects, layout.objects() as i64);
    assert_eq!(counter("objects"), objects);
    let ai = v.count("SELECT COUNT(*) FROM object_permissions WHERE share_with_ai = 1");
    assert_eq!(ai, layout.grants() as i64);
    assert_eq!(counter("ai"), ai);
    assert_eq!(counter("cloud"), 0);
    assert_eq!(counter("read_only"), 0);
    // Every object has its content; only the granted ones have a
    // permission row (the others have the defaults, which need none).
    assert_eq!(v.count("SELECT COUNT(*) FROM object_content"), objects);
    assert_eq!(v.count("SELECT COUNT(*) FROM object_permissions"), ai);
    assert_eq!(
        v.count(
            "SELECT COUNT(*) FROM object_permissions p WHERE NOT EXISTS
               (SELECT 1 FROM data_objects o WHERE o.id = p.object_id)"
        ),
        0
    );
    assert_eq!(trigger_names(&v.db()), fresh_triggers);
    assert_eq!(
        v.count("SELECT COUNT(*) FROM sync_state WHERE name LIKE 'bulk%'"),
        0
    );

    // The triggers count a new object again.
    let rel = layout.file_rel(0);
    let mut doc: Value = serde_json::from_str(&v.read(&rel)).unwrap();
    let mut item = doc["data"][0].clone();
    item["id"] = json!(99_999);
    doc["data"].as_array_mut().unwrap().push(item);
    v.write(&rel, &serde_json::to_string_pretty(&doc).unwrap());
    e.index_paths([rel].into_iter().collect()).unwrap();
    assert_eq!(counter("objects"), objects + 1);
    assert_eq!(v.count("SELECT COUNT(*) FROM data_objects"), objects + 1);
}

/// A bulk load that begins while permissions.json holds grants for keys
/// that are not indexed (written by hand while the files were away) gives
/// those objects their grants; every other object has the defaults, and
/// no permission row.
#[test]
fn a_bulk_load_gives_waiting_grants_to_their_objects() {
    use me_nexus::bench::data::{Layout, write_vault};
    let v = TestVault::empty();
    let layout = Layout::for_objects(6_000); // 600 collection files
    write_vault(v.path(), &layout).unwrap();
    // A JSON file that is not data, so the vault never looks unmounted.
    v.write("keep.json", r#"{"not": "data"}"#);
    let away = tempfile::tempdir().unwrap();
    let folders: Vec<String> = std::fs::read_dir(v.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| !name.starts_with('.') && name != "keep.json")
        .collect();
    for name in &folders {
        std::fs::rename(v.path().join(name), away.path().join(name)).unwrap();
    }
    let mut e = engine(&v);
    e.reconcile().unwrap();
    assert_eq!(v.count("SELECT COUNT(*) FROM data_objects"), 0);

    // A grant for a key that is not there yet waits as an orphan.
    let key = format!("{}#3", layout.file_rel(layout.files - 1));
    v.write(
        ".nexus/permissions.json",
        &serde_json::to_string_pretty(&json!({"object_permissions": {
            key.clone(): {"share_with_ai": false, "share_with_cloud": true,
                          "read_only": true, "expires_at": null}
        }}))
        .unwrap(),
    );
    e.reconcile().unwrap();
    assert_eq!(v.count("SELECT COUNT(*) FROM orphan_permissions"), 1);

    // The files come back: a bulk load into an empty index, with a grant
    // waiting.
    for name in &folders {
        std::fs::rename(away.path().join(name), v.path().join(name)).unwrap();
    }
    e.reconcile().unwrap();
    let objects = v.count("SELECT COUNT(*) FROM data_objects");
    assert_eq!(objects, layout.objects() as i64);
    // The one object that took the waiting grant over has a permission
    // row; the others have the defaults, and none.
    assert_eq!(v.count("SELECT COUNT(*) FROM object_permissions"), 1);
    let granted = v.count(&format!(
        "SELECT COUNT(*) FROM object_permissions p JOIN data_objects o ON o.id = p.object_id
         WHERE o.file_path = '{key}' AND p.share_with_cloud = 1 AND p.read_only = 1"
    ));
    assert_eq!(granted, 1, "the waiting grant of {key} was not applied");
    assert_eq!(
        v.count("SELECT COUNT(*) FROM object_permissions WHERE share_with_cloud = 1 OR read_only = 1 OR share_with_ai = 1"),
        1
    );
    assert_eq!(
        v.count("SELECT value FROM counters WHERE name = 'cloud'"),
        1
    );
    assert_eq!(
        v.count("SELECT value FROM counters WHERE name = 'read_only'"),
        1
    );
    assert_eq!(v.count("SELECT COUNT(*) FROM orphan_permissions"), 0);
}

/// A first index killed half-way leaves its insert triggers dropped; the
/// next engine to open the vault puts them back and recounts.
#[test]
fn opening_after_an_unfinished_bulk_load_restores_triggers_and_counts() {
    let v = TestVault::sample_initialised();
    let objects = v.count("SELECT COUNT(*) FROM data_objects");
    let trigger_count = || v.count("SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger'");
    let triggers = trigger_count();
    {
        // What a crash right after the load began leaves behind, plus a
        // counter that no longer matches (the chunk that was never counted).
        let conn = me_nexus::db::open(&v.abs(".nexus/vault.sqlite")).unwrap();
        let _load = me_nexus::db::bulk_load::begin(&conn).unwrap();
        conn.execute("UPDATE counters SET value = 0 WHERE name = 'objects'", [])
            .unwrap();
    }
    assert!(trigger_count() < triggers);
    let _e = Engine::open(v.path()).unwrap();
    assert_eq!(trigger_count(), triggers);
    assert_eq!(
        v.count("SELECT value FROM counters WHERE name = 'objects'"),
        objects
    );
}

/// A crash leaves an atomic write's temporary file next to its target; the
/// next reconcile removes it, in any folder the app writes to, `.nexus/`
/// included, and leaves everything else alone.
#[test]
fn a_reconcile_removes_temporary_files_that_a_crash_left() {
    let v = TestVault::sample();
    let leftovers = [
        ".todos.json.a1b2c3.nexus-tmp",
        "notes/.ideas.md.d4e5f6.nexus-tmp",
        "notes/deep/down/.x.json.g7h8.nexus-tmp",
        ".nexus/.permissions.json.i9j0.nexus-tmp",
        ".nexus/conflicts/.copy.json.k1l2.nexus-tmp",
    ];
    let kept = [
        ".git/.x.json.m3n4.nexus-tmp", // a hidden folder the app never writes to
        "notes/.ideas.md.swp",
        "notes/x.nexus-tmp", // not hidden: not one of ours
    ];
    for rel in leftovers.iter().chain(&kept) {
        v.write(rel, "half a write");
    }
    let mut e = engine(&v);
    e.reconcile().unwrap();
    for rel in leftovers {
        assert!(!v.abs(rel).exists(), "{rel} is still there");
    }
    for rel in kept {
        assert_eq!(v.read(rel), "half a write", "{rel}");
    }
}

/// A bulk load inserts the objects of many files together, but a file with
/// problems is written where it comes: ids follow the files' order, and
/// each problem names its object.
#[test]
fn a_bulk_load_keeps_file_order_around_a_file_with_problems() {
    use me_nexus::bench::data::{Layout, write_vault};
    let v = TestVault::empty();
    let layout = Layout::for_objects(6_000); // 600 collection files
    write_vault(v.path(), &layout).unwrap();
    let bad = layout.file_rel(301);
    let mut doc: Value = serde_json::from_str(&v.read(&bad)).unwrap();
    doc["data"][4]["completed"] = json!("not a boolean");
    v.write(&bad, &serde_json::to_string_pretty(&doc).unwrap());

    let mut e = engine(&v);
    e.reconcile().unwrap();

    let conn = v.db();
    let rows: Vec<(String, String, i64)> = conn
        .prepare("SELECT source_path, file_path, position FROM data_objects ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut in_file_order = rows.clone();
    in_file_order.sort_by(|a, b| a.0.cmp(&b.0).then(a.2.cmp(&b.2)));
    assert_eq!(rows, in_file_order, "ids do not follow the files' order");
    assert_eq!(
        rows.len(),
        layout.objects(),
        "an invalid item is indexed too"
    );
    assert!(rows.iter().any(|(file, _, _)| *file == bad));

    let problems: Vec<(String, Option<String>)> = conn
        .prepare("SELECT file_path, object_key FROM problems")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(problems, [(bad.clone(), Some(format!("{bad}#5")))]);
}

/// permissions.json is recorded by a fast fingerprint. A database from an
/// earlier version recorded BLAKE3 of it: the file then looks changed
/// once, is read, and nothing is lost, changed or rewritten.
#[test]
fn permissions_json_recorded_by_an_older_hash_is_taken_in_unchanged() {
    let v = TestVault::empty();
    v.write("todos.json", TODOS);
    let mut e = engine(&v);
    e.reconcile().unwrap();
    share_ai(&mut e, "todos.json#1");
    let bytes = std::fs::read(v.abs(".nexus/permissions.json")).unwrap();
    let recorded = |v: &TestVault| -> String {
        v.db()
            .query_row(
                "SELECT hash FROM files WHERE path = '.nexus/permissions.json'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    assert_eq!(recorded(&v), me_nexus::db::fingerprint(&bytes));
    drop(e);
    v.db()
        .execute(
            "UPDATE files SET hash = ?1 WHERE path = '.nexus/permissions.json'",
            [me_nexus::db::hash_bytes(&bytes)],
        )
        .unwrap();
    let audit_before = v.audit().len();

    let mut e = engine(&v);
    e.reconcile().unwrap();
    assert_eq!(
        std::fs::read(v.abs(".nexus/permissions.json")).unwrap(),
        bytes
    );
    assert_eq!(recorded(&v), me_nexus::db::fingerprint(&bytes));
    assert_eq!(
        v.count(
            "SELECT COUNT(*) FROM object_permissions p JOIN data_objects o ON o.id = p.object_id
             WHERE o.file_path = 'todos.json#1' AND p.share_with_ai = 1"
        ),
        1
    );
    assert_eq!(
        v.count("SELECT COUNT(*) FROM object_permissions WHERE share_with_ai = 1"),
        1
    );
    assert_eq!(
        v.audit().len(),
        audit_before,
        "nothing changed, nothing audited"
    );
}

/// Sets the recorded hash of every data file to its BLAKE3, as an earlier
/// version recorded it.
fn record_files_by_blake3(v: &TestVault) {
    let conn = v.db();
    let paths: Vec<String> = conn
        .prepare("SELECT path FROM files WHERE path <> '.nexus/permissions.json'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!paths.is_empty());
    for path in paths {
        let bytes = std::fs::read(v.abs(&path)).unwrap();
        conn.execute(
            "UPDATE files SET hash = ?2 WHERE path = ?1",
            [path.as_str(), me_nexus::db::hash_bytes(&bytes).as_str()],
        )
        .unwrap();
    }
}

fn recorded_file_hash(v: &TestVault, rel: &str) -> String {
    v.db()
        .query_row("SELECT hash FROM files WHERE path = ?1", [rel], |r| {
            r.get(0)
        })
        .unwrap()
}

/// Files are recorded by a fast fingerprint. A database from an earlier
/// version recorded BLAKE3: a file whose mtime changed but whose bytes did
/// not is still the same file (nothing re-indexed or audited), and its
/// record moves to today's hash.
#[test]
fn a_file_recorded_by_an_older_hash_is_unchanged_when_its_bytes_are() {
    let v = TestVault::empty();
    v.write("todos.json", TODOS);
    let mut e = engine(&v);
    e.reconcile().unwrap();
    let id = v.row_id("todos.json#1");
    drop(e);
    record_files_by_blake3(&v);
    // Same bytes, new mtime: the file must be read to tell.
    let file = std::fs::File::options()
        .write(true)
        .open(v.abs("todos.json"))
        .unwrap();
    file.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
        .unwrap();
    drop(file);
    let audit_before = v.audit().len();

    let mut e = engine(&v);
    let report = e.reconcile().unwrap();
    assert_eq!(
        report.files_parsed, 0,
        "seen to be the same bytes: {report:?}"
    );
    assert!(
        report.objects_added.is_empty() && report.objects_updated.is_empty(),
        "{report:?}"
    );
    assert_eq!(v.row_id("todos.json#1"), id);
    assert_eq!(
        v.audit().len(),
        audit_before,
        "nothing changed, nothing audited"
    );
    let bytes = std::fs::read(v.abs("todos.json")).unwrap();
    assert_eq!(
        recorded_file_hash(&v, "todos.json"),
        me_nexus::db::file_hash(&bytes)
    );
    assert_eq!(me_nexus::db::file_hash(&bytes).len(), 32);
}

/// A file recorded by an earlier version's hash (BLAKE3) that is renamed
/// is still paired with its new path: its objects move with their ids and
/// permissions, rather than being removed and added again.
#[test]
fn a_file_recorded_by_an_older_hash_is_still_recognised_when_renamed() {
    let v = TestVault::empty();
    v.write("todos.json", TODOS);
    let mut e = engine(&v);
    e.reconcile().unwrap();
    share_ai(&mut e, "todos.json#1");
    let id = v.row_id("todos.json#1");
    drop(e);
    record_files_by_blake3(&v);
    std::fs::rename(v.abs("todos.json"), v.abs("renamed.json")).unwrap();

    let mut e = engine(&v);
    let report = e.reconcile().unwrap();
    assert!(
        report
            .objects_moved
            .contains(&("todos.json#1".to_string(), "renamed.json#1".to_string())),
        "{report:?}"
    );
    assert!(report.objects_removed.is_empty(), "{report:?}");
    assert_eq!(v.row_id("renamed.json#1"), id);
    assert_eq!(
        v.count(
            "SELECT COUNT(*) FROM object_permissions p JOIN data_objects o ON o.id = p.object_id
             WHERE o.file_path = 'renamed.json#1' AND p.share_with_ai = 1"
        ),
        1
    );
}
