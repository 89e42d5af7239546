#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests of the `me-nexus` binary on temporary vaults: every
//! assertion is something a user could check by hand (file bytes, rows in
//! `.nexus/vault.sqlite`, lines in `.nexus/logs/audit.jsonl`, exit codes,
//! stdout and stderr).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::{TestVault, wait_until};
use serde_json::{Value, json};

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// Object keys of the sample vault (4 todos, 2 events, 3 notes, 2 journal
/// entries).
const SAMPLE_KEYS: [&str; 11] = [
    "calendar/events.json#dinner-2025-01-24",
    "calendar/events.json#standup-2025-01-20",
    "notes/daily/2025-01-15.md",
    "notes/projects/me-nexus.md",
    "notes/reading-list.md",
    "plugins/journal/entries.json#1",
    "plugins/journal/entries.json#2",
    "todos.json#1",
    "todos.json#2",
    "todos.json#3",
    "todos.json#4",
];

const TODO_KEYS: [&str; 4] = [
    "todos.json#1",
    "todos.json#2",
    "todos.json#3",
    "todos.json#4",
];

/// Strings that occur only in the content of the sample's objects (and in
/// content the tests create); none of them may reach the audit log.
const CONTENT_STRINGS: [&str; 14] = [
    "Complete project documentation",
    "Book dentist appointment",
    "Renew passport",
    "Plan the summer trip",
    "Team standup",
    "Trattoria Roma",
    "Dinner with Sam",
    "My data, as plain files",
    "Wrote the sync design",
    "Designing Data-Intensive Applications",
    "First week of the year went well",
    "Too many meetings today",
    "Buy milk",
    "Go north",
];

fn set<I: IntoIterator<Item = S>, S: Into<String>>(items: I) -> BTreeSet<String> {
    items.into_iter().map(Into::into).collect()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

/// Asserts that a command failed with a non-zero exit code and exactly one
/// line on stderr that starts with `error:`; returns that line.
fn assert_error_line(out: &Output, what: &str) -> String {
    assert!(
        !out.status.success(),
        "{what}: expected failure, got success; stdout: {}",
        stdout(out)
    );
    assert_ne!(out.status.code(), Some(0), "{what}");
    let err = stderr(out);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected exactly one stderr line, got {lines:?}"
    );
    assert!(
        lines[0].starts_with("error:"),
        "{what}: stderr line does not start with 'error:': {:?}",
        lines[0]
    );
    lines[0].to_string()
}

/// Runs a command that must fail; returns its one error line.
fn cli_err(v: &TestVault, args: &[&str]) -> String {
    let out = v.cli(args);
    assert_error_line(&out, &format!("me-nexus {args:?}"))
}

fn cli_json(v: &TestVault, args: &[&str]) -> Value {
    let text = v.cli_ok(args);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {text}"))
}

fn status(v: &TestVault) -> Value {
    cli_json(v, &["status", v.path_str(), "--json"])
}

/// `list --json` as key -> permissions.
fn listed_permissions(v: &TestVault) -> BTreeMap<String, Value> {
    let list = cli_json(v, &["list", v.path_str(), "--json"]);
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
}

/// Every file (path -> bytes) and folder (path -> None) under `dir`.
fn snapshot(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Option<Vec<u8>>>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            if entry.file_type().unwrap().is_dir() {
                out.insert(format!("{rel}/"), None);
                walk(root, &path, out);
            } else {
                out.insert(rel, Some(std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The permissions of `key` in the index: (ai, cloud, read_only, expires_at,
/// expires_unix). An object without a permission row has the defaults.
type PermRow = (i64, i64, i64, Option<String>, Option<i64>);

/// The permission columns of object `o` with the defaults for no row.
const PERM_COLUMNS: &str = "ifnull(p.share_with_ai, 0), ifnull(p.share_with_cloud, 0),
     ifnull(p.read_only, 0), p.expires_at, p.expires_unix
     FROM data_objects o LEFT JOIN object_permissions p ON p.object_id = o.id";

fn db_perm(v: &TestVault, key: &str) -> PermRow {
    v.db()
        .query_row(
            &format!("SELECT {PERM_COLUMNS} WHERE o.file_path = ?1"),
            [key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )
        .unwrap_or_else(|e| panic!("no permission row for {key}: {e}"))
}

/// Every object's permissions by key.
fn db_perms(v: &TestVault) -> BTreeMap<String, PermRow> {
    let conn = v.db();
    let mut stmt = conn
        .prepare(&format!("SELECT o.file_path, {PERM_COLUMNS}"))
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            (r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?),
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// The `object_permissions` map of `.nexus/permissions.json`.
fn permissions_file(v: &TestVault) -> serde_json::Map<String, Value> {
    let value: Value = serde_json::from_str(&v.read(".nexus/permissions.json")).unwrap();
    value["object_permissions"].as_object().unwrap().clone()
}

fn write_permissions_file(v: &TestVault, entries: &serde_json::Map<String, Value>) {
    let text =
        serde_json::to_string_pretty(&json!({ "object_permissions": entries })).unwrap() + "\n";
    v.write(".nexus/permissions.json", &text);
}

fn audit_len(v: &TestVault) -> usize {
    v.audit().len()
}

/// Audit entries appended after the first `from`.
fn audit_since(v: &TestVault, from: usize) -> Vec<Value> {
    v.audit().into_iter().skip(from).collect()
}

fn audit_keys(entries: &[Value], action: &str) -> BTreeSet<String> {
    entries
        .iter()
        .filter(|e| e["action"] == action)
        .map(|e| e["key"].as_str().unwrap().to_string())
        .collect()
}

/// Runs `export --for <purpose>`; checks that every line is one JSON object
/// with exactly key, schema_name, content and updated_at; returns the lines
/// by key.
fn export(v: &TestVault, purpose: &str) -> BTreeMap<String, Value> {
    let text = v.cli_ok(&["export", v.path_str(), "--for", purpose]);
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let value: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("export line is not JSON ({e}): {line}"));
        let fields: BTreeSet<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            fields,
            BTreeSet::from(["key", "schema_name", "content", "updated_at"]),
            "{line}"
        );
        let key = value["key"].as_str().unwrap().to_string();
        assert!(out.insert(key.clone(), value).is_none(), "{key} twice");
    }
    out
}

/// Keys that permissions.json grants for `flag` (`share_with_ai` or
/// `share_with_cloud`) and whose expiry, if any, is after `now`: what the
/// gate must let out, computed from the file the user edits.
fn granted_in_file(v: &TestVault, flag: &str, now: DateTime<Utc>) -> BTreeSet<String> {
    permissions_file(v)
        .into_iter()
        .filter(|(_, p)| p[flag] == true)
        .filter(|(_, p)| match p["expires_at"].as_str() {
            None => true,
            Some(at) => DateTime::parse_from_rfc3339(at).unwrap() > now,
        })
        .map(|(k, _)| k)
        .collect()
}

/// The items of a collection file.
fn items(v: &TestVault, rel: &str) -> Vec<Value> {
    let root: Value = serde_json::from_str(&v.read(rel)).unwrap();
    root["data"].as_array().unwrap().clone()
}

fn field_names(item: &Value) -> Vec<String> {
    item.as_object().unwrap().keys().cloned().collect()
}

fn is_rfc3339(text: &str) -> bool {
    DateTime::parse_from_rfc3339(text).is_ok()
}

fn remove_db(v: &TestVault) {
    for name in ["vault.sqlite", "vault.sqlite-wal", "vault.sqlite-shm"] {
        let path = v.abs(&format!(".nexus/{name}"));
        if path.exists() {
            std::fs::remove_file(path).unwrap();
        }
    }
    assert!(!v.abs(".nexus/vault.sqlite").exists());
}

// ---------------------------------------------------------------------------
// 1. init
// ---------------------------------------------------------------------------

#[test]
fn init_creates_the_vault_layout_and_config() {
    let v = TestVault::empty();
    let out = v.cli_ok(&["init", v.path_str()]);
    assert!(out.contains("initialised vault"), "{out}");
    assert!(v.abs(".nexus/vault.sqlite").is_file());
    assert!(v.abs(".nexus/config.json").is_file());
    assert!(v.abs(".nexus/logs").is_dir());

    let config: Value = serde_json::from_str(&v.read(".nexus/config.json")).unwrap();
    let created_at = config["created_at"].as_str().expect("created_at string");
    assert!(is_rfc3339(created_at), "{created_at}");
    let age = Utc::now() - DateTime::parse_from_rfc3339(created_at).unwrap().to_utc();
    assert!(
        age.num_seconds().abs() < 600,
        "created_at is not now: {created_at}"
    );
    assert_eq!(config["format_version"], json!(1));
    assert_eq!(config["settings"]["debounce_ms"], json!(300));
    assert_eq!(v.count("SELECT COUNT(*) FROM data_objects"), 0);
}

#[test]
fn init_creates_a_missing_folder() {
    let v = TestVault::empty();
    let target = v.abs("new/vault");
    let target_str = target.to_str().unwrap();
    v.cli_ok(&["init", target_str]);
    assert!(target.join(".nexus/config.json").is_file());
    assert!(target.join(".nexus/vault.sqlite").is_file());
    assert!(target.join(".nexus/logs").is_dir());
    v.cli_ok(&["status", target_str]);
}

#[test]
fn init_indexes_the_files_already_in_the_folder() {
    let v = TestVault::sample();
    let out = v.cli_ok(&["init", v.path_str()]);
    assert!(out.contains("objects: 11 added"), "{out}");
    assert_eq!(v.count("SELECT COUNT(*) FROM data_objects"), 11);
    assert_eq!(v.count("SELECT COUNT(*) FROM object_content"), 11);
    // Only the five objects permissions.json grants something have a
    // permission row; the other six have the defaults, which need none.
    assert_eq!(v.count("SELECT COUNT(*) FROM object_permissions"), 5);
    assert_eq!(
        v.count(
            "SELECT COUNT(*) FROM object_permissions
             WHERE share_with_ai OR share_with_cloud OR read_only OR expires_at IS NOT NULL"
        ),
        5
    );
    assert_eq!(v.keys(), SAMPLE_KEYS.to_vec());
    // The content in the index is the item in the file.
    let file_items = items(&v, "todos.json");
    assert_eq!(v.content("todos.json#3"), file_items[2]);
}

#[test]
fn init_of_an_existing_vault_keeps_its_config() {
    let v = TestVault::sample_initialised();
    // The user tunes a setting by hand.
    let mut config: Value = serde_json::from_str(&v.read(".nexus/config.json")).unwrap();
    config["settings"]["debounce_ms"] = json!(750);
    config["created_at"] = json!("2024-05-01T08:00:00Z");
    v.write(
        ".nexus/config.json",
        &(serde_json::to_string_pretty(&config).unwrap() + "\n"),
    );
    let before = v.read(".nexus/config.json");
    let keys_before = v.keys();

    v.cli_ok(&["init", v.path_str()]);

    assert_eq!(
        v.read(".nexus/config.json"),
        before,
        "config.json rewritten"
    );
    let after: Value = serde_json::from_str(&v.read(".nexus/config.json")).unwrap();
    assert_eq!(after["settings"]["debounce_ms"], json!(750));
    assert_eq!(after["created_at"], json!("2024-05-01T08:00:00Z"));
    assert_eq!(v.keys(), keys_before);
}

#[test]
fn init_on_a_file_is_refused() {
    let v = TestVault::empty();
    v.write("afile", "hello\n");
    let line = cli_err(&v, &["init", v.abs("afile").to_str().unwrap()]);
    assert!(line.contains("not a folder"), "{line}");
    assert_eq!(v.read("afile"), "hello\n");
    assert!(!v.abs(".nexus").exists());
}

// ---------------------------------------------------------------------------
// 2. Commands on something that is not a vault
// ---------------------------------------------------------------------------

/// Every command except init and info, on `path`.
fn non_init_commands(path: &str, schema_file: &str) -> Vec<Vec<String>> {
    let cmds: Vec<Vec<&str>> = vec![
        vec!["status", path],
        vec!["status", path, "--json"],
        vec!["list", path],
        vec!["list", path, "--json"],
        vec!["list", path, "--schema", "core.todo", "--json"],
        vec!["sync", path],
        vec!["check", path],
        vec!["show", path, "todos.json#1"],
        vec!["perms", path, "todos.json#1"],
        vec!["perms", path, "todos.json#1", "--ai", "on"],
        vec!["perms", path, "--schema", "core.todo", "--cloud", "on"],
        vec!["perms", path, "--all", "--ai", "off"],
        vec!["export", path, "--for", "ai"],
        vec!["export", path, "--for", "cloud"],
        vec!["save", path, "core.todo", r#"{"text":"Buy milk"}"#],
        vec![
            "save",
            path,
            "--key",
            "todos.json#1",
            "core.todo",
            r#"{"text":"x"}"#,
        ],
        vec!["rm", path, "todos.json#1"],
        vec!["schema", "list", path],
        vec!["schema", "list", path, "--json"],
        vec!["schema", "add", path, schema_file],
    ];
    cmds.into_iter()
        .map(|c| c.into_iter().map(String::from).collect())
        .collect()
}

fn run_all_expecting_errors(v: &TestVault, path: &str) -> Vec<String> {
    let schema_dir = tempfile::tempdir().unwrap();
    let schema_file = schema_dir.path().join("plugin.habits.habit.json");
    std::fs::write(&schema_file, r#"{"type":"object"}"#).unwrap();
    let mut lines = Vec::new();
    for args in non_init_commands(path, schema_file.to_str().unwrap()) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lines.push(cli_err(v, &args));
    }
    lines
}

fn assert_config_dir_empty(v: &TestVault) {
    let entries: Vec<_> = std::fs::read_dir(v.config_dir.path()).unwrap().collect();
    assert!(entries.is_empty(), "app config written: {entries:?}");
}

#[test]
fn commands_on_a_missing_folder_fail_and_create_nothing() {
    let v = TestVault::empty();
    let missing = v.abs("no/such/vault");
    let lines = run_all_expecting_errors(&v, missing.to_str().unwrap());
    for line in &lines {
        assert!(line.contains("does not exist"), "{line}");
    }
    assert!(!missing.exists(), "the missing folder was created");
    assert!(!v.abs("no").exists(), "a parent folder was created");
    assert!(snapshot(v.path()).is_empty());
    assert_config_dir_empty(&v);
}

#[test]
fn commands_on_a_folder_that_is_not_a_vault_fail_and_create_nothing() {
    let v = TestVault::empty();
    v.write(
        "todos.json",
        r#"{"schema":"core.todo","data":[{"id":1,"text":"a"}]}"#,
    );
    let before = snapshot(v.path());
    let lines = run_all_expecting_errors(&v, v.path_str());
    for line in &lines {
        assert!(line.contains("not a Me-Nexus vault"), "{line}");
    }
    assert!(!v.abs(".nexus").exists(), ".nexus was created");
    assert_eq!(snapshot(v.path()), before);
    assert_config_dir_empty(&v);
}

#[test]
fn commands_on_an_uninitialised_sample_copy_fail_and_change_nothing() {
    // The sample has .nexus/permissions.json but no .nexus/config.json.
    let v = TestVault::sample();
    let before = snapshot(v.path());
    let lines = run_all_expecting_errors(&v, v.path_str());
    for line in &lines {
        assert!(line.contains("not a Me-Nexus vault"), "{line}");
    }
    assert_eq!(snapshot(v.path()), before);
    assert!(!v.abs(".nexus/vault.sqlite").exists());
    assert!(!v.abs(".nexus/logs").exists());
    assert_config_dir_empty(&v);
}

#[test]
fn commands_on_a_file_fail_and_change_nothing() {
    let v = TestVault::empty();
    v.write("vault.txt", "just a file\n");
    let file = v.abs("vault.txt");
    let lines = run_all_expecting_errors(&v, file.to_str().unwrap());
    for line in &lines {
        assert!(line.contains("not a folder"), "{line}");
    }
    assert_eq!(v.read("vault.txt"), "just a file\n");
    assert_eq!(
        snapshot(v.path()).keys().cloned().collect::<Vec<_>>(),
        vec!["vault.txt".to_string()]
    );
    assert_config_dir_empty(&v);
}

// ---------------------------------------------------------------------------
// 3. App config and info
// ---------------------------------------------------------------------------

fn app_json(v: &TestVault) -> Value {
    let text = std::fs::read_to_string(v.config_dir.path().join("app.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn init_records_the_vault_in_the_app_config() {
    let v = TestVault::sample_initialised();
    let canonical = std::fs::canonicalize(v.path())
        .unwrap()
        .display()
        .to_string();
    let app = app_json(&v);
    assert_eq!(app["last_vault"], json!(canonical));
    assert_eq!(app["recent_vaults"], json!([canonical]));

    // A second vault becomes the last one; the first stays in the list.
    let other = tempfile::tempdir().unwrap();
    let other_canonical = std::fs::canonicalize(other.path())
        .unwrap()
        .display()
        .to_string();
    v.cli_ok(&["init", other.path().to_str().unwrap()]);
    let app = app_json(&v);
    assert_eq!(app["last_vault"], json!(other_canonical));
    assert_eq!(app["recent_vaults"], json!([other_canonical, canonical]));

    // Re-initialising the first moves it to the top without duplicates.
    v.cli_ok(&["init", v.path_str()]);
    let app = app_json(&v);
    assert_eq!(app["last_vault"], json!(canonical));
    assert_eq!(app["recent_vaults"], json!([canonical, other_canonical]));
}

#[test]
fn info_reports_the_sample_and_writes_nothing() {
    let v = TestVault::sample();
    let before = snapshot(v.path());
    let info = cli_json(&v, &["info", v.path_str()]);
    assert_eq!(info["exists"], json!(true));
    assert_eq!(info["writable"], json!(true));
    assert_eq!(info["is_vault"], json!(false));
    // The walk counts every *.json / *.md outside hidden folders: todos.json,
    // calendar/events.json, three notes, plugins/journal/entries.json, and
    // also the plugin's plugin.json and schema.json (they hold no objects);
    // .nexus/permissions.json is in a hidden folder and not counted.
    assert_eq!(info["files"], json!(8));
    assert_eq!(info["objects"], json!(11));
    assert_eq!(snapshot(v.path()), before, "info wrote into the folder");
    assert_config_dir_empty(&v);

    // Once it is a vault.
    v.cli_ok(&["init", v.path_str()]);
    let app_before = std::fs::read(v.config_dir.path().join("app.json")).unwrap();
    let before = snapshot(v.path());
    let info = cli_json(&v, &["info", v.path_str()]);
    assert_eq!(info["is_vault"], json!(true));
    assert_eq!(info["exists"], json!(true));
    assert_eq!(info["writable"], json!(true));
    assert_eq!(info["files"], json!(8));
    assert_eq!(info["objects"], json!(11));
    assert_eq!(snapshot(v.path()), before, "info wrote into the vault");
    assert_eq!(
        std::fs::read(v.config_dir.path().join("app.json")).unwrap(),
        app_before
    );
}

#[test]
fn info_on_a_missing_folder_says_so_and_creates_nothing() {
    let v = TestVault::empty();
    let missing = v.abs("nope");
    let info = cli_json(&v, &["info", missing.to_str().unwrap()]);
    assert_eq!(info["exists"], json!(false));
    assert_eq!(info["writable"], json!(false));
    assert_eq!(info["is_vault"], json!(false));
    assert_eq!(info["files"], json!(0));
    assert_eq!(info["objects"], json!(0));
    assert!(!missing.exists());
    assert_config_dir_empty(&v);
}

// ---------------------------------------------------------------------------
// 4. The database
// ---------------------------------------------------------------------------

/// (name, declared type, not null, primary key) of each column.
fn table_info(v: &TestVault, table: &str) -> BTreeMap<String, (String, bool, bool)> {
    let conn = v.db();
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({table})"))
        .unwrap();
    stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(1)?,
            (
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)? != 0,
                r.get::<_, i64>(5)? != 0,
            ),
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

fn assert_columns(v: &TestVault, table: &str, expected: &[(&str, &str, bool, bool)]) {
    let info = table_info(v, table);
    assert!(!info.is_empty(), "table {table} missing");
    for (name, ty, not_null, pk) in expected {
        let got = info
            .get(*name)
            .unwrap_or_else(|| panic!("{table}.{name} missing; columns: {info:?}"));
        assert_eq!(
            got,
            &(ty.to_string(), *not_null, *pk),
            "{table}.{name}: (type, not null, pk)"
        );
    }
}

#[test]
fn database_has_the_seed_schema() {
    let v = TestVault::sample_initialised();
    let conn = v.db();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert!(version >= 1, "user_version {version}");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(conn);

    assert_columns(
        &v,
        "schemas",
        &[
            ("id", "INTEGER", false, true),
            ("schema_name", "TEXT", true, false),
            ("definition_json", "TEXT", true, false),
            ("version", "INTEGER", true, false),
            ("created_at", "TEXT", true, false),
        ],
    );
    assert_columns(
        &v,
        "data_objects",
        &[
            ("id", "INTEGER", false, true),
            ("schema_id", "INTEGER", true, false),
            ("file_path", "TEXT", false, false),
            ("updated_at", "TEXT", true, false),
            ("created_at", "TEXT", true, false),
        ],
    );
    assert_columns(
        &v,
        "object_content",
        &[
            ("object_id", "INTEGER", false, true),
            ("content_json", "TEXT", true, false),
        ],
    );
    assert_columns(
        &v,
        "object_permissions",
        &[
            ("object_id", "INTEGER", false, true),
            ("share_with_ai", "BOOLEAN", true, false),
            ("share_with_cloud", "BOOLEAN", true, false),
            ("read_only", "BOOLEAN", true, false),
            ("expires_at", "TEXT", false, false),
        ],
    );

    let conn = v.db();
    for (index, table, column) in [
        ("idx_data_objects_schema_id", "data_objects", "schema_id"),
        ("idx_data_objects_updated_at", "data_objects", "updated_at"),
        // The seed's idx_data_objects_file_path repeated the index of
        // file_path's UNIQUE constraint; that one answers its lookups.
        (
            "sqlite_autoindex_data_objects_1",
            "data_objects",
            "file_path",
        ),
        ("idx_permissions_ai", "object_permissions", "share_with_ai"),
        (
            "idx_permissions_cloud",
            "object_permissions",
            "share_with_cloud",
        ),
    ] {
        let tbl: String = conn
            .query_row(
                "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = ?1",
                [index],
                |r| r.get(0),
            )
            .unwrap_or_else(|e| panic!("index {index} missing: {e}"));
        assert_eq!(tbl, table, "{index}");
        let columns: Vec<String> = conn
            .prepare(&format!("PRAGMA index_info({index})"))
            .unwrap()
            .query_map([], |r| r.get(2))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(columns, vec![column.to_string()], "{index}");
    }

    // data_objects.file_path is UNIQUE: a second row with the same key fails.
    let schema_id: i64 = conn
        .query_row("SELECT schema_id FROM data_objects LIMIT 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    let dup = conn.execute(
        "INSERT INTO data_objects (schema_id, file_path, updated_at, created_at) VALUES (?1, 'todos.json#1', 'x', 'x')",
        [schema_id],
    );
    assert!(dup.is_err(), "file_path is not UNIQUE");
}

#[test]
fn seed_diagnostic_queries_answer_for_the_sample() {
    let v = TestVault::sample_initialised();
    let conn = v.db();

    // PRAGMA integrity_check;
    let integrity: Vec<String> = conn
        .prepare("PRAGMA integrity_check;")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(integrity, vec!["ok".to_string()]);

    // SELECT * FROM schemas;
    let mut stmt = conn.prepare("SELECT * FROM schemas;").unwrap();
    let name_col = stmt.column_index("schema_name").unwrap();
    let names: BTreeSet<String> = stmt
        .query_map([], |r| r.get(name_col))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        names,
        set([
            "core.calendar.event",
            "core.note",
            "core.todo",
            "plugin.journal.entry"
        ])
    );
    drop(stmt);

    // The permission distribution, against the sample's permissions.json:
    // standup cloud only; me-nexus.md AI and cloud; todos #1 and #2 AI only
    // (#2 has expired, but the flag is stored); journal #1 read-only (no
    // sharing); the other six objects have no entry (zero trust). The
    // seed's query counts the permission rows, which only objects given
    // something have: journal #1 is the one (0, 0) row.
    let distribution = |sql: &str| -> BTreeMap<(i64, i64), i64> {
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| Ok(((r.get(0)?, r.get(1)?), r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(
        distribution(SEED_DISTRIBUTION),
        BTreeMap::from([((0, 0), 1), ((0, 1), 1), ((1, 0), 2), ((1, 1), 1)])
    );
    // The README's query of every object, the six without a row included.
    assert_eq!(
        distribution(FULL_DISTRIBUTION),
        BTreeMap::from([((0, 0), 7), ((0, 1), 1), ((1, 0), 2), ((1, 1), 1)])
    );
}

/// The seed's diagnostic query of the permission distribution.
const SEED_DISTRIBUTION: &str = "SELECT share_with_ai, share_with_cloud, COUNT(*) as count FROM object_permissions GROUP BY share_with_ai, share_with_cloud;";

/// The README's diagnostic query of the permission distribution over every
/// object (an object without a permission row has the defaults).
const FULL_DISTRIBUTION: &str = "SELECT ifnull(share_with_ai, 0) AS ai, ifnull(share_with_cloud, 0) AS cloud, COUNT(*) AS count FROM data_objects o LEFT JOIN object_permissions p ON p.object_id = o.id GROUP BY ai, cloud;";

// ---------------------------------------------------------------------------
// 5. status --json
// ---------------------------------------------------------------------------

#[test]
fn status_json_has_the_counts_of_the_index() {
    let v = TestVault::sample_initialised();
    let s = status(&v);
    let fields: BTreeSet<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        fields,
        BTreeSet::from([
            "total_objects",
            "ai_shared",
            "cloud_shared",
            "read_only",
            "expired",
            "problems",
            "last_sync"
        ])
    );
    for field in [
        "total_objects",
        "ai_shared",
        "cloud_shared",
        "read_only",
        "expired",
        "problems",
    ] {
        assert!(s[field].is_i64(), "{field} is not an integer: {s}");
    }
    let last_sync = s["last_sync"].as_str().expect("last_sync string");
    assert!(is_rfc3339(last_sync), "{last_sync}");

    // The sample.
    assert_eq!(s["total_objects"], json!(11));
    assert_eq!(s["ai_shared"], json!(3));
    assert_eq!(s["cloud_shared"], json!(2));
    assert_eq!(s["read_only"], json!(1));
    assert_eq!(s["expired"], json!(1)); // todos.json#2, 2025-02-01
    assert_eq!(s["problems"], json!(0));

    // The same as the diagnostic query and direct counts.
    let conn = v.db();
    let mut stmt = conn.prepare(FULL_DISTRIBUTION).unwrap();
    let rows: Vec<(i64, i64, i64)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let ai: i64 = rows.iter().filter(|r| r.0 == 1).map(|r| r.2).sum();
    let cloud: i64 = rows.iter().filter(|r| r.1 == 1).map(|r| r.2).sum();
    let total: i64 = rows.iter().map(|r| r.2).sum();
    assert_eq!(s["ai_shared"], json!(ai));
    assert_eq!(s["cloud_shared"], json!(cloud));
    assert_eq!(s["total_objects"], json!(total));
    assert_eq!(
        s["total_objects"],
        json!(v.count("SELECT COUNT(*) FROM data_objects"))
    );
    assert_eq!(
        s["read_only"],
        json!(v.count("SELECT COUNT(*) FROM object_permissions WHERE read_only = 1"))
    );
    assert_eq!(
        s["problems"],
        json!(v.count("SELECT COUNT(*) FROM problems"))
    );
    let stored: String = conn
        .query_row(
            "SELECT value FROM sync_state WHERE name = 'last_sync'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(last_sync, stored);

    // The text form shows the same numbers.
    let text = v.cli_ok(&["status", v.path_str()]);
    assert!(text.contains("objects:       11"), "{text}");
    assert!(text.contains("AI shared:     3"), "{text}");
    assert!(text.contains("expired:       1"), "{text}");

    // A change is reflected.
    v.cli_ok(&["perms", v.path_str(), "todos.json#3", "--ai", "on"]);
    assert_eq!(status(&v)["ai_shared"], json!(4));
}

// ---------------------------------------------------------------------------
// 6. list --json
// ---------------------------------------------------------------------------

#[test]
fn list_json_lists_every_object_with_its_permissions() {
    let v = TestVault::sample_initialised();
    let list = cli_json(&v, &["list", v.path_str(), "--json"]);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 11);
    let keys: Vec<&str> = list.iter().map(|o| o["key"].as_str().unwrap()).collect();
    assert_eq!(keys, SAMPLE_KEYS.to_vec());
    for o in list {
        assert!(o["id"].is_i64(), "{o}");
        assert!(o["schema_name"].is_string(), "{o}");
        assert!(o["file_path"].is_string(), "{o}");
        assert!(o["created_at"].is_string(), "{o}");
        assert!(o["updated_at"].is_string(), "{o}");
        let p = o["permissions"].as_object().unwrap();
        let fields: BTreeSet<&str> = p.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            BTreeSet::from([
                "share_with_ai",
                "share_with_cloud",
                "read_only",
                "expires_at"
            ])
        );
        // The id is the row id of the key.
        let key = o["key"].as_str().unwrap();
        let id: i64 = v
            .db()
            .query_row(
                "SELECT id FROM data_objects WHERE file_path = ?1",
                [key],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(o["id"], json!(id), "{key}");
    }
    let by_key: BTreeMap<&str, &Value> = list
        .iter()
        .map(|o| (o["key"].as_str().unwrap(), o))
        .collect();
    let todo1 = by_key["todos.json#1"];
    assert_eq!(todo1["schema_name"], "core.todo");
    assert_eq!(todo1["file_path"], "todos.json");
    assert_eq!(todo1["created_at"], "2025-01-15T10:30:00Z");
    assert_eq!(
        todo1["permissions"],
        json!({"share_with_ai": true, "share_with_cloud": false, "read_only": false, "expires_at": null})
    );
    assert_eq!(
        by_key["todos.json#2"]["permissions"]["expires_at"],
        "2025-02-01T00:00:00+00:00"
    );
    assert_eq!(
        by_key["plugins/journal/entries.json#1"]["permissions"]["read_only"],
        true
    );
    assert_eq!(
        by_key["plugins/journal/entries.json#1"]["schema_name"],
        "plugin.journal.entry"
    );
    assert_eq!(
        by_key["plugins/journal/entries.json#1"]["file_path"],
        "plugins/journal/entries.json"
    );
    assert_eq!(
        by_key["notes/projects/me-nexus.md"]["file_path"],
        "notes/projects/me-nexus.md"
    );
    assert_eq!(
        by_key["notes/projects/me-nexus.md"]["schema_name"],
        "core.note"
    );
    assert_eq!(
        by_key["calendar/events.json#standup-2025-01-20"]["schema_name"],
        "core.calendar.event"
    );
    assert_eq!(
        by_key["todos.json#4"]["permissions"],
        json!({"share_with_ai": false, "share_with_cloud": false, "read_only": false, "expires_at": null})
    );
}

#[test]
fn list_json_filters_by_schema() {
    let v = TestVault::sample_initialised();
    let keys_of = |schema: &str| -> Vec<String> {
        cli_json(&v, &["list", v.path_str(), "--schema", schema, "--json"])
            .as_array()
            .unwrap()
            .iter()
            .map(|o| {
                assert_eq!(o["schema_name"], schema);
                o["key"].as_str().unwrap().to_string()
            })
            .collect()
    };
    assert_eq!(keys_of("core.todo"), TODO_KEYS.to_vec());
    assert_eq!(
        keys_of("core.note"),
        vec![
            "notes/daily/2025-01-15.md",
            "notes/projects/me-nexus.md",
            "notes/reading-list.md"
        ]
    );
    assert_eq!(
        keys_of("plugin.journal.entry"),
        vec![
            "plugins/journal/entries.json#1",
            "plugins/journal/entries.json#2"
        ]
    );
    assert_eq!(
        keys_of("core.calendar.event"),
        vec![
            "calendar/events.json#dinner-2025-01-24",
            "calendar/events.json#standup-2025-01-20"
        ]
    );
}

#[test]
fn list_with_an_unknown_schema_is_an_error() {
    let v = TestVault::sample_initialised();
    let line = cli_err(
        &v,
        &["list", v.path_str(), "--schema", "no.such.schema", "--json"],
    );
    assert!(line.contains("no.such.schema"), "{line}");
    let line = cli_err(&v, &["list", v.path_str(), "--schema", "no.such.schema"]);
    assert!(line.contains("no.such.schema"), "{line}");
}

// ---------------------------------------------------------------------------
// 7. perms
// ---------------------------------------------------------------------------

#[test]
fn perms_on_one_key_changes_db_file_and_audit() {
    let v = TestVault::sample_initialised();
    let file_before = permissions_file(&v);
    let db_before = db_perms(&v);
    let n = audit_len(&v);

    let out = v.cli_ok(&["perms", v.path_str(), "todos.json#3", "--ai", "on"]);
    assert!(
        out.contains("todos.json#3: share_with_ai false -> true"),
        "{out}"
    );
    assert!(out.contains("1 objects changed"), "{out}");

    // The database row.
    assert_eq!(db_perm(&v, "todos.json#3"), (1, 0, 0, None, None));
    let mut db_expected = db_before;
    db_expected.insert("todos.json#3".into(), (1, 0, 0, None, None));
    assert_eq!(db_perms(&v), db_expected, "other rows changed");

    // permissions.json: the new entry, the others as they were.
    let file_after = permissions_file(&v);
    assert_eq!(
        file_after["todos.json#3"],
        json!({"share_with_ai": true, "share_with_cloud": false, "read_only": false, "expires_at": null})
    );
    let mut file_expected = file_before;
    file_expected.insert("todos.json#3".into(), file_after["todos.json#3"].clone());
    assert_eq!(file_after, file_expected);

    // One audit line.
    let new = audit_since(&v, n);
    assert_eq!(new.len(), 1, "{new:?}");
    let line = &new[0];
    assert_eq!(line["action"], "permission.changed");
    assert_eq!(line["key"], "todos.json#3");
    assert_eq!(line["details"]["source"], "cli");
    assert_eq!(
        line["details"]["changes"],
        json!({"share_with_ai": {"old": false, "new": true}})
    );
    assert!(is_rfc3339(line["time"].as_str().unwrap()));

    // Asking again changes nothing and audits nothing.
    let out = v.cli_ok(&["perms", v.path_str(), "todos.json#3", "--ai", "on"]);
    assert!(out.contains("0 objects changed"), "{out}");
    assert_eq!(audit_len(&v), n + 1);

    // Without a change, perms shows the permissions.
    let shown = cli_json(&v, &["perms", v.path_str(), "todos.json#3"]);
    assert_eq!(
        shown,
        json!({"todos.json#3": {"share_with_ai": true, "share_with_cloud": false, "read_only": false, "expires_at": null}})
    );
}

#[test]
fn perms_expiry_is_set_and_cleared() {
    let v = TestVault::sample_initialised();
    v.cli_ok(&["perms", v.path_str(), "todos.json#3", "--ai", "on"]);
    let n = audit_len(&v);

    let out = v.cli_ok(&[
        "perms",
        v.path_str(),
        "todos.json#3",
        "--expires",
        "2030-01-01T00:00:00+00:00",
    ]);
    assert!(out.contains("1 objects changed"), "{out}");
    assert_eq!(
        db_perm(&v, "todos.json#3"),
        (
            1,
            0,
            0,
            Some("2030-01-01T00:00:00+00:00".into()),
            Some(1_893_456_000)
        )
    );
    assert_eq!(
        permissions_file(&v)["todos.json#3"]["expires_at"],
        "2030-01-01T00:00:00+00:00"
    );
    let new = audit_since(&v, n);
    assert_eq!(new.len(), 1);
    assert_eq!(new[0]["action"], "permission.changed");
    assert_eq!(new[0]["key"], "todos.json#3");
    assert_eq!(new[0]["details"]["source"], "cli");
    assert_eq!(
        new[0]["details"]["changes"],
        json!({"expires_at": {"old": null, "new": "2030-01-01T00:00:00+00:00"}})
    );

    // An offset other than UTC is the same moment.
    v.cli_ok(&[
        "perms",
        v.path_str(),
        "todos.json#3",
        "--expires",
        "2030-01-01T02:00:00+02:00",
    ]);
    assert_eq!(db_perm(&v, "todos.json#3").4, Some(1_893_456_000));

    let n = audit_len(&v);
    v.cli_ok(&["perms", v.path_str(), "todos.json#3", "--expires", "never"]);
    assert_eq!(db_perm(&v, "todos.json#3"), (1, 0, 0, None, None));
    assert_eq!(
        permissions_file(&v)["todos.json#3"],
        json!({"share_with_ai": true, "share_with_cloud": false, "read_only": false, "expires_at": null})
    );
    let new = audit_since(&v, n);
    assert_eq!(new.len(), 1);
    assert_eq!(
        new[0]["details"]["changes"],
        json!({"expires_at": {"old": "2030-01-01T02:00:00+02:00", "new": null}})
    );

    // Clearing the sample's expired grant makes it count again.
    assert_eq!(status(&v)["expired"], json!(1));
    v.cli_ok(&["perms", v.path_str(), "todos.json#2", "--expires", "never"]);
    assert_eq!(status(&v)["expired"], json!(0));
    assert!(export(&v, "ai").contains_key("todos.json#2"));
}

#[test]
fn perms_refuses_a_malformed_or_offsetless_expiry_and_changes_nothing() {
    let v = TestVault::sample_initialised();
    let file_before = v.read(".nexus/permissions.json");
    let db_before = db_perms(&v);
    let n = audit_len(&v);
    for bad in [
        "2030-01-01T00:00:00",
        "2030-01-01",
        "2030-13-45T99:00:00+00:00",
        "tomorrow",
        "",
    ] {
        for args in [
            vec!["perms", v.path_str(), "todos.json#3", "--expires", bad],
            vec![
                "perms",
                v.path_str(),
                "todos.json#3",
                "--ai",
                "on",
                "--expires",
                bad,
            ],
            vec![
                "perms",
                v.path_str(),
                "--all",
                "--cloud",
                "on",
                "--expires",
                bad,
            ],
        ] {
            let line = cli_err(&v, &args);
            assert!(
                line.contains("RFC 3339") && line.contains("offset"),
                "{args:?}: the error does not name the problem: {line}"
            );
            assert!(
                line.contains(&format!("{bad:?}")),
                "{args:?}: the error does not show the value: {line}"
            );
        }
    }
    assert_eq!(v.read(".nexus/permissions.json"), file_before);
    assert_eq!(db_perms(&v), db_before);
    assert_eq!(audit_len(&v), n);
}

#[test]
fn perms_bulk_by_schema_and_all() {
    let v = TestVault::sample_initialised();
    let before = db_perms(&v);
    let n = audit_len(&v);

    let out = v.cli_ok(&[
        "perms",
        v.path_str(),
        "--schema",
        "core.todo",
        "--cloud",
        "on",
    ]);
    assert!(out.contains("4 objects changed"), "{out}");
    let after = db_perms(&v);
    for (key, row) in &after {
        if key.starts_with("todos.json#") {
            assert_eq!(row.1, 1, "{key} cloud");
            let old = &before[key];
            assert_eq!((row.0, row.2, &row.3), (old.0, old.2, &old.3), "{key}");
        } else {
            assert_eq!(row, &before[key], "{key} changed");
        }
    }
    let file = permissions_file(&v);
    for key in TODO_KEYS {
        assert_eq!(file[key]["share_with_cloud"], true, "{key} in file");
    }
    let new = audit_since(&v, n);
    assert_eq!(new.len(), 4);
    assert_eq!(audit_keys(&new, "permission.changed"), set(TODO_KEYS));
    for line in &new {
        assert_eq!(line["details"]["source"], "cli");
        assert_eq!(
            line["details"]["changes"],
            json!({"share_with_cloud": {"old": false, "new": true}})
        );
    }

    // --all --ai off: only the three objects that had AI on change.
    let n = audit_len(&v);
    let out = v.cli_ok(&["perms", v.path_str(), "--all", "--ai", "off"]);
    assert!(out.contains("3 objects changed"), "{out}");
    assert_eq!(
        v.count("SELECT COUNT(*) FROM object_permissions WHERE share_with_ai = 1"),
        0
    );
    assert_eq!(
        v.count("SELECT COUNT(*) FROM object_permissions WHERE share_with_cloud = 1"),
        6,
        "cloud flags must be left alone"
    );
    let new = audit_since(&v, n);
    assert_eq!(
        audit_keys(&new, "permission.changed"),
        set(["notes/projects/me-nexus.md", "todos.json#1", "todos.json#2"])
    );
    for line in &new {
        assert_eq!(line["details"]["source"], "cli");
        assert_eq!(
            line["details"]["changes"]["share_with_ai"],
            json!({"old": true, "new": false})
        );
    }
    let file = permissions_file(&v);
    assert!(
        file.values().all(|p| p["share_with_ai"] == false),
        "{file:?}"
    );
    assert_eq!(status(&v)["ai_shared"], json!(0));
    assert!(export(&v, "ai").is_empty());
}

#[test]
fn perms_on_an_unknown_key_or_schema_is_an_error() {
    let v = TestVault::sample_initialised();
    let file_before = v.read(".nexus/permissions.json");
    let db_before = db_perms(&v);
    let n = audit_len(&v);

    let line = cli_err(&v, &["perms", v.path_str(), "todos.json#99", "--ai", "on"]);
    assert!(line.contains("todos.json#99"), "{line}");
    let line = cli_err(&v, &["perms", v.path_str(), "todos.json#99"]);
    assert!(line.contains("todos.json#99"), "{line}");
    let line = cli_err(
        &v,
        &["perms", v.path_str(), "--schema", "no.such", "--ai", "on"],
    );
    assert!(line.contains("no.such"), "{line}");
    cli_err(
        &v,
        &["perms", v.path_str(), "../outside.json", "--ai", "on"],
    );

    assert_eq!(v.read(".nexus/permissions.json"), file_before);
    assert_eq!(db_perms(&v), db_before);
    assert_eq!(audit_len(&v), n);
}

#[test]
fn a_hand_edit_of_permissions_json_is_picked_up_by_sync() {
    let v = TestVault::sample_initialised();
    let n = audit_len(&v);
    let mut entries = permissions_file(&v);
    // Grant, revoke by removing the entry, and change a field.
    entries.insert(
        "todos.json#4".into(),
        json!({"share_with_ai": false, "share_with_cloud": true, "read_only": false, "expires_at": null}),
    );
    entries.remove("calendar/events.json#standup-2025-01-20");
    entries["notes/projects/me-nexus.md"]["share_with_cloud"] = json!(false);
    write_permissions_file(&v, &entries);

    let out = v.cli_ok(&["sync", v.path_str()]);
    assert!(out.contains("3 permission changes"), "{out}");

    assert_eq!(db_perm(&v, "todos.json#4"), (0, 1, 0, None, None));
    assert_eq!(
        db_perm(&v, "calendar/events.json#standup-2025-01-20"),
        (0, 0, 0, None, None)
    );
    assert_eq!(
        db_perm(&v, "notes/projects/me-nexus.md"),
        (1, 0, 0, None, None)
    );

    let new = audit_since(&v, n);
    let changed: BTreeMap<String, &Value> = new
        .iter()
        .filter(|e| e["action"] == "permission.changed")
        .map(|e| (e["key"].as_str().unwrap().to_string(), e))
        .collect();
    assert_eq!(
        changed.keys().cloned().collect::<BTreeSet<_>>(),
        set([
            "todos.json#4",
            "calendar/events.json#standup-2025-01-20",
            "notes/projects/me-nexus.md"
        ])
    );
    for e in changed.values() {
        assert_eq!(e["details"]["source"], "file", "{e}");
    }
    assert_eq!(
        changed["todos.json#4"]["details"]["changes"],
        json!({"share_with_cloud": {"old": false, "new": true}})
    );
    assert_eq!(
        changed["calendar/events.json#standup-2025-01-20"]["details"]["changes"],
        json!({"share_with_cloud": {"old": true, "new": false}})
    );
    assert_eq!(set(export(&v, "cloud").into_keys()), set(["todos.json#4"]));

    // A second sync has nothing more to take in.
    let n = audit_len(&v);
    let out = v.cli_ok(&["sync", v.path_str()]);
    assert!(out.contains("0 permission changes"), "{out}");
    assert!(audit_keys(&audit_since(&v, n), "permission.changed").is_empty());
}

/// Makes todos.json#1's entry in permissions.json unreadable (an expiry
/// without an offset), as a user could by hand.
fn break_todo1_entry(v: &TestVault) {
    let mut entries = permissions_file(v);
    entries["todos.json#1"]["expires_at"] = json!("2030-01-01T00:00:00");
    write_permissions_file(v, &entries);
}

fn assert_check_names_todo1_entry(v: &TestVault, when: &str) {
    let out = v.cli(&["check", v.path_str()]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{when}: check passed: {text}");
    assert!(
        text.lines().any(|l| l.contains(".nexus/permissions.json")
            && l.contains("/object_permissions/todos.json#1")),
        "{when}: {text}"
    );
}

#[test]
fn a_hand_edited_entry_with_an_offsetless_expiry_grants_nothing() {
    let v = TestVault::sample_initialised();
    break_todo1_entry(&v);
    v.cli_ok(&["sync", v.path_str()]);
    // Zero trust: the unreadable entry counts as no grant.
    assert_eq!(db_perm(&v, "todos.json#1"), (0, 0, 0, None, None));
    assert_check_names_todo1_entry(&v, "after the sync that read it");
    assert!(!export(&v, "ai").contains_key("todos.json#1"));
    // The user's text is kept verbatim.
    assert_eq!(
        permissions_file(&v)["todos.json#1"]["expires_at"],
        "2030-01-01T00:00:00"
    );
}

#[test]
fn a_bad_permissions_entry_stays_reported_until_it_is_fixed() {
    let v = TestVault::sample_initialised();
    break_todo1_entry(&v);
    v.cli_ok(&["sync", v.path_str()]);
    assert_check_names_todo1_entry(&v, "after the first sync");
    assert_eq!(status(&v)["problems"], json!(1));

    // The entry is still unreadable: the problem must still be reported
    // after another sync, an export (which reconciles) and a perms change.
    v.cli_ok(&["sync", v.path_str()]);
    assert_check_names_todo1_entry(&v, "after a second sync");
    export(&v, "ai");
    assert_check_names_todo1_entry(&v, "after an export");
    v.cli_ok(&["perms", v.path_str(), "todos.json#3", "--ai", "on"]);
    assert_check_names_todo1_entry(&v, "after a perms change");
    assert_eq!(status(&v)["problems"], json!(1));

    // Fixing it clears the problem.
    let mut entries = permissions_file(&v);
    entries["todos.json#1"]["expires_at"] = json!("2030-01-01T00:00:00Z");
    write_permissions_file(&v, &entries);
    v.cli_ok(&["sync", v.path_str()]);
    let out = v.cli(&["check", v.path_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(db_perm(&v, "todos.json#1").0, 1);
}

#[test]
fn the_sync_summary_counts_a_bad_permissions_entry() {
    let v = TestVault::sample_initialised();
    break_todo1_entry(&v);
    let out = v.cli_ok(&["sync", v.path_str()]);
    // permissions.json has a problem after this batch.
    assert!(out.contains("; 1 files with problems"), "{out}");
}

#[test]
fn a_hand_revoke_is_honoured_by_export_without_a_sync() {
    let v = TestVault::sample_initialised();
    let mut entries = permissions_file(&v);
    entries.remove("todos.json#1");
    write_permissions_file(&v, &entries);
    // No sync: export itself must not let the revoked object out.
    let exported = export(&v, "ai");
    assert_eq!(
        set(exported.into_keys()),
        set(["notes/projects/me-nexus.md"])
    );
    assert_eq!(db_perm(&v, "todos.json#1"), (0, 0, 0, None, None));
}

#[test]
fn a_perms_change_keeps_an_unsynced_hand_edit() {
    let v = TestVault::sample_initialised();
    let mut entries = permissions_file(&v);
    entries.insert(
        "todos.json#4".into(),
        json!({"share_with_ai": true, "share_with_cloud": false, "read_only": false, "expires_at": null}),
    );
    write_permissions_file(&v, &entries);
    // The CLI rewrites permissions.json; the hand edit must survive.
    v.cli_ok(&["perms", v.path_str(), "todos.json#3", "--cloud", "on"]);
    let file = permissions_file(&v);
    assert_eq!(file["todos.json#4"]["share_with_ai"], true);
    assert_eq!(file["todos.json#3"]["share_with_cloud"], true);
    assert_eq!(db_perm(&v, "todos.json#4"), (1, 0, 0, None, None));
    assert_eq!(db_perm(&v, "todos.json#3"), (0, 1, 0, None, None));
}

#[test]
fn a_deleted_database_is_rebuilt_with_every_permission() {
    let v = TestVault::sample_initialised();
    // Some CLI changes on top of the sample's grants.
    v.cli_ok(&[
        "perms",
        v.path_str(),
        "todos.json#3",
        "--cloud",
        "on",
        "--expires",
        "2030-01-01T00:00:00+00:00",
    ]);
    v.cli_ok(&[
        "perms",
        v.path_str(),
        "notes/reading-list.md",
        "--read-only",
        "on",
    ]);
    let before = listed_permissions(&v);
    let keys_before = v.keys();
    let status_before = status(&v);
    let n = audit_len(&v);

    remove_db(&v);
    let out = v.cli_ok(&["sync", v.path_str()]);
    assert!(out.contains("11 added"), "{out}");

    assert_eq!(v.keys(), keys_before);
    assert_eq!(listed_permissions(&v), before);
    let status_after = status(&v);
    for field in [
        "total_objects",
        "ai_shared",
        "cloud_shared",
        "read_only",
        "expired",
        "problems",
    ] {
        assert_eq!(status_after[field], status_before[field], "{field}");
    }
    let new = audit_since(&v, n);
    let recovery: Vec<&Value> = new.iter().filter(|e| e["action"] == "recovery").collect();
    assert_eq!(recovery.len(), 1, "{new:?}");
    assert_eq!(recovery[0]["key"], Value::Null);
    // Read-only protection is back too.
    let line = cli_err(&v, &["rm", v.path_str(), "notes/reading-list.md"]);
    assert!(line.contains("Permission denied"), "{line}");
    assert!(v.abs("notes/reading-list.md").is_file());
}

#[test]
fn a_rebuilt_database_is_audited_even_if_nothing_was_audited_before() {
    // A vault whose history has no audited event yet (no audit.jsonl).
    let v = TestVault::empty();
    v.write(
        "todos.json",
        r#"{"schema": "core.todo", "data": [{"id": 1, "text": "a"}]}"#,
    );
    v.cli_ok(&["init", v.path_str()]);
    assert_eq!(v.keys(), vec!["todos.json#1".to_string()]);

    remove_db(&v);
    v.cli_ok(&["sync", v.path_str()]);
    assert_eq!(v.keys(), vec!["todos.json#1".to_string()]);
    let recovery: Vec<Value> = v
        .audit()
        .into_iter()
        .filter(|e| e["action"] == "recovery")
        .collect();
    assert_eq!(recovery.len(), 1, "the rebuild was not audited");
}

// ---------------------------------------------------------------------------
// 8. Expiry at the gate
// ---------------------------------------------------------------------------

#[test]
fn an_expired_grant_is_counted_and_not_exported() {
    let v = TestVault::sample_initialised();
    v.cli_ok(&[
        "perms",
        v.path_str(),
        "todos.json#3",
        "--ai",
        "on",
        "--expires",
        "2020-01-01T00:00:00+00:00",
    ]);
    assert_eq!(status(&v)["expired"], json!(2));
    assert_eq!(status(&v)["ai_shared"], json!(4)); // the flag is stored
    let n = audit_len(&v);
    let exported = export(&v, "ai");
    assert!(!exported.contains_key("todos.json#3"));
    let new = audit_since(&v, n);
    let denied: Vec<&Value> = new
        .iter()
        .filter(|e| e["action"] == "gate.denied" && e["key"] == "todos.json#3")
        .collect();
    assert_eq!(denied.len(), 1, "{new:?}");
    assert_eq!(denied[0]["details"]["purpose"], "ai");
    assert_eq!(denied[0]["details"]["reason"], "permission has expired");
    assert!(!audit_keys(&new, "gate.granted").contains("todos.json#3"));

    // Far in the future: let out.
    v.cli_ok(&[
        "perms",
        v.path_str(),
        "todos.json#3",
        "--expires",
        "2999-12-31T23:59:59+00:00",
    ]);
    assert_eq!(status(&v)["expired"], json!(1));
    let n = audit_len(&v);
    let exported = export(&v, "ai");
    assert!(exported.contains_key("todos.json#3"));
    assert!(audit_keys(&audit_since(&v, n), "gate.granted").contains("todos.json#3"));
}

#[test]
fn a_grant_stops_at_its_expiry() {
    let v = TestVault::sample_initialised();
    let expiry = DateTime::from_timestamp(Utc::now().timestamp() + 3, 0).unwrap();
    let expiry_text = expiry.to_rfc3339();
    v.cli_ok(&[
        "perms",
        v.path_str(),
        "todos.json#3",
        "--ai",
        "on",
        "--expires",
        &expiry_text,
    ]);

    let exported = export(&v, "ai");
    let finished = Utc::now();
    if finished < expiry {
        assert!(
            exported.contains_key("todos.json#3"),
            "not exported before its expiry"
        );
    } else {
        eprintln!("export took too long to check the before-expiry side");
    }

    wait_until("the expiry has passed", Duration::from_secs(30), || {
        Utc::now() >= expiry
    });
    let n = audit_len(&v);
    let exported = export(&v, "ai");
    assert!(
        !exported.contains_key("todos.json#3"),
        "exported after its expiry"
    );
    let new = audit_since(&v, n);
    assert!(
        new.iter().any(|e| e["action"] == "gate.denied"
            && e["key"] == "todos.json#3"
            && e["details"]["reason"] == "permission has expired"),
        "{new:?}"
    );
    assert_eq!(status(&v)["expired"], json!(2));
}

// ---------------------------------------------------------------------------
// 9. export
// ---------------------------------------------------------------------------

#[test]
fn export_for_ai_prints_exactly_the_granted_objects() {
    let v = TestVault::sample_initialised();
    let n = audit_len(&v);
    let now = Utc::now();
    let exported = export(&v, "ai");
    let keys = set(exported.keys().cloned());
    assert_eq!(keys, set(["notes/projects/me-nexus.md", "todos.json#1"]));
    assert_eq!(keys, granted_in_file(&v, "share_with_ai", now));

    // Each line carries the object as it is in the file.
    let todo = &exported["todos.json#1"];
    assert_eq!(todo["schema_name"], "core.todo");
    assert_eq!(todo["content"], items(&v, "todos.json")[0]);
    assert_eq!(todo["updated_at"], "2025-01-15T10:30:00Z");
    let note = &exported["notes/projects/me-nexus.md"];
    assert_eq!(note["schema_name"], "core.note");
    assert_eq!(note["content"]["title"], "Me-Nexus");
    assert_eq!(
        note["content"]["body"].as_str().unwrap(),
        v.read("notes/projects/me-nexus.md")
            .split_once("---\n")
            .unwrap()
            .1
            .split_once("---\n")
            .unwrap()
            .1
    );
    assert!(note["updated_at"].is_string());

    let new = audit_since(&v, n);
    assert_eq!(audit_keys(&new, "gate.granted"), keys);
    assert_eq!(audit_keys(&new, "gate.denied"), set(["todos.json#2"]));
    for e in new.iter().filter(|e| e["action"] == "gate.granted") {
        assert_eq!(e["details"]["purpose"], "ai");
    }
    let summary: Vec<&Value> = new.iter().filter(|e| e["action"] == "export").collect();
    assert_eq!(summary.len(), 1);
    assert_eq!(summary[0]["details"]["granted"], json!(2));
    assert_eq!(summary[0]["details"]["denied_expired"], json!(1));
    assert_eq!(summary[0]["details"]["denied_not_shared"], json!(8));

    // After a grant and a revoke, still exactly the granted set.
    v.cli_ok(&["perms", v.path_str(), "todos.json#3", "--ai", "on"]);
    v.cli_ok(&["perms", v.path_str(), "todos.json#1", "--ai", "off"]);
    let now = Utc::now();
    let keys = set(export(&v, "ai").into_keys());
    assert_eq!(keys, set(["notes/projects/me-nexus.md", "todos.json#3"]));
    assert_eq!(keys, granted_in_file(&v, "share_with_ai", now));
}

#[test]
fn export_for_cloud_prints_exactly_the_granted_objects() {
    let v = TestVault::sample_initialised();
    let n = audit_len(&v);
    let now = Utc::now();
    let exported = export(&v, "cloud");
    let keys = set(exported.keys().cloned());
    assert_eq!(
        keys,
        set([
            "calendar/events.json#standup-2025-01-20",
            "notes/projects/me-nexus.md"
        ])
    );
    assert_eq!(keys, granted_in_file(&v, "share_with_cloud", now));
    assert_eq!(
        exported["calendar/events.json#standup-2025-01-20"]["content"],
        items(&v, "calendar/events.json")[0]
    );
    assert_eq!(
        exported["calendar/events.json#standup-2025-01-20"]["schema_name"],
        "core.calendar.event"
    );
    let new = audit_since(&v, n);
    assert_eq!(audit_keys(&new, "gate.granted"), keys);
    assert!(audit_keys(&new, "gate.denied").is_empty());
    for e in new.iter().filter(|e| e["action"] == "gate.granted") {
        assert_eq!(e["details"]["purpose"], "cloud");
    }
}

#[test]
fn the_audit_log_never_holds_object_content() {
    let v = TestVault::sample_initialised();
    let p = v.path_str();
    export(&v, "ai");
    export(&v, "cloud");
    v.cli_ok(&["perms", p, "--all", "--ai", "on"]);
    v.cli_ok(&["perms", p, "--all", "--cloud", "on"]);
    export(&v, "ai");
    export(&v, "cloud");
    v.cli_ok(&["save", p, "core.todo", r#"{"text":"Buy milk"}"#]);
    v.cli_ok(&[
        "save",
        p,
        "--key",
        "todos.json#3",
        "core.todo",
        r#"{"text":"Renew passport soon","completed":false}"#,
    ]);
    v.cli_ok(&["rm", p, "todos.json#4"]);
    v.cli_ok(&[
        "save",
        p,
        "core.note",
        r#"{"title":"Trip ideas","body":"Go north"}"#,
    ]);
    v.cli_ok(&["show", p, "todos.json#1"]);
    v.cli_ok(&["perms", p, "--all", "--ai", "off"]);
    remove_db(&v);
    v.cli_ok(&["sync", p]);
    export(&v, "cloud");

    let log = std::fs::read_to_string(v.abs(".nexus/logs/audit.jsonl")).unwrap();
    let audit = v.audit();
    assert!(audit.iter().any(|e| e["action"] == "gate.granted"));
    assert!(audit.iter().any(|e| e["action"] == "object.created"));
    assert!(audit.iter().any(|e| e["action"] == "object.deleted"));
    for text in CONTENT_STRINGS {
        assert!(
            !log.contains(text),
            "the audit log contains object content {text:?}"
        );
    }
    // Every line has the documented shape.
    for e in &audit {
        let fields: BTreeSet<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            BTreeSet::from(["time", "action", "key", "details"]),
            "{e}"
        );
    }
}

// ---------------------------------------------------------------------------
// 10. check
// ---------------------------------------------------------------------------

#[test]
fn check_is_clean_on_the_sample() {
    let v = TestVault::sample_initialised();
    let out = v.cli(&["check", v.path_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("database integrity: ok"), "{text}");
    assert!(text.contains("0 problems"), "{text}");
}

#[test]
fn check_reports_a_broken_file_and_an_invalid_item() {
    let v = TestVault::sample_initialised();
    let broken = r#"{"schema": "core.todo", "data": ["#;
    v.write("broken.json", broken);
    let more = r#"{"schema": "core.todo", "version": "1.0", "data": [
  {"id": 1, "text": "fine"},
  {"id": 2, "text": "bad", "completed": "yes"}
]}
"#;
    v.write("more-todos.json", more);

    v.cli_ok(&["sync", v.path_str()]);
    let out = v.cli(&["check", v.path_str()]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.lines()
            .any(|l| l.starts_with("broken.json") && l.contains("invalid JSON")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("more-todos.json") && l.contains("/data/1/completed")),
        "{text}"
    );
    assert!(text.contains("2 problems"), "{text}");
    assert_eq!(status(&v)["problems"], json!(2));

    // Nothing rewrote the user's files.
    assert_eq!(v.read("broken.json"), broken);
    assert_eq!(v.read("more-todos.json"), more);
    // The good item is indexed; the invalid one is known by its key.
    assert!(v.keys().contains(&"more-todos.json#1".to_string()));
    let shown = cli_json(&v, &["show", v.path_str(), "more-todos.json#2"]);
    assert_eq!(shown["problems"][0]["pointer"], "/data/1/completed");

    // Fixing the files clears the problems.
    std::fs::remove_file(v.abs("broken.json")).unwrap();
    v.write(
        "more-todos.json",
        &more.replace(r#""completed": "yes""#, r#""completed": true"#),
    );
    v.cli_ok(&["sync", v.path_str()]);
    let out = v.cli(&["check", v.path_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(status(&v)["problems"], json!(0));
}

// ---------------------------------------------------------------------------
// 11. save and rm
// ---------------------------------------------------------------------------

#[test]
fn save_appends_a_new_todo_and_leaves_the_other_items_alone() {
    let v = TestVault::sample_initialised();
    let original: Value = serde_json::from_str(&v.read("todos.json")).unwrap();
    let original_items = original["data"].as_array().unwrap().clone();
    let n = audit_len(&v);
    let others = {
        let mut s = snapshot(v.path());
        s.retain(|k, _| !k.starts_with(".nexus") && k != "todos.json");
        s
    };

    let out = v.cli_ok(&["save", v.path_str(), "core.todo", r#"{"text":"Buy milk"}"#]);
    assert_eq!(out, "todos.json#5\n");

    let root: Value = serde_json::from_str(&v.read("todos.json")).unwrap();
    assert_eq!(
        field_names(&root),
        vec!["schema", "version", "data"],
        "top-level key order"
    );
    assert_eq!(root["schema"], "core.todo");
    assert_eq!(root["version"], "1.0");
    let now_items = root["data"].as_array().unwrap();
    assert_eq!(now_items.len(), 5);
    for (old, new) in original_items.iter().zip(now_items) {
        assert_eq!(new, old);
        assert_eq!(field_names(new), field_names(old), "key order of {old}");
    }
    let item = &now_items[4];
    assert_eq!(item["id"], json!(5));
    assert_eq!(item["text"], "Buy milk");
    assert_eq!(field_names(item)[0], "id");
    assert!(is_rfc3339(item["created_at"].as_str().unwrap()));
    assert!(is_rfc3339(item["updated_at"].as_str().unwrap()));
    // Still two-space indented, as the user wrote it.
    assert!(v.read("todos.json").contains("\n  \"schema\""));

    // The index has it, with zero-trust permissions.
    assert!(v.keys().contains(&"todos.json#5".to_string()));
    assert_eq!(v.content("todos.json#5"), *item);
    assert_eq!(db_perm(&v, "todos.json#5"), (0, 0, 0, None, None));
    assert!(!export(&v, "ai").contains_key("todos.json#5"));
    let created: Vec<Value> = audit_since(&v, n)
        .into_iter()
        .filter(|e| e["action"] == "object.created")
        .collect();
    assert_eq!(created.len(), 1);
    assert_eq!(created[0]["key"], "todos.json#5");
    assert_eq!(created[0]["details"]["source"], "cli");

    // No other file was touched, and a sync has nothing left to do.
    let mut now_others = snapshot(v.path());
    now_others.retain(|k, _| !k.starts_with(".nexus") && k != "todos.json");
    assert_eq!(now_others, others);
    let out = v.cli_ok(&["sync", v.path_str()]);
    assert!(out.contains(" 0 parsed,"), "{out}");
}

#[test]
fn save_with_a_key_updates_the_item_in_place() {
    let v = TestVault::sample_initialised();
    let original = items(&v, "todos.json");

    let out = v.cli_ok(&[
        "save",
        v.path_str(),
        "--key",
        "todos.json#1",
        "core.todo",
        r#"{"text":"x","completed":true}"#,
    ]);
    assert_eq!(out, "todos.json#1\n");
    let now = items(&v, "todos.json");
    assert_eq!(now.len(), 4);
    let item = &now[0];
    assert_eq!(item["id"], json!(1));
    assert_eq!(item["text"], "x");
    assert_eq!(item["completed"], true);
    assert!(is_rfc3339(item["updated_at"].as_str().unwrap()));
    assert_ne!(item["updated_at"], original[0]["updated_at"]);
    // The item's keys that remain keep their places.
    let old_order = field_names(&original[0]);
    let new_order = field_names(item);
    let kept: Vec<&String> = old_order.iter().filter(|k| new_order.contains(k)).collect();
    assert_eq!(
        new_order.iter().take(kept.len()).collect::<Vec<_>>(),
        kept,
        "key order changed: {old_order:?} -> {new_order:?}"
    );
    assert_eq!(&new_order[..3], ["id", "text", "completed"]);
    // The other items are untouched.
    for (new, old) in now.iter().zip(&original).skip(1) {
        assert_eq!(new, old);
        assert_eq!(field_names(new), field_names(old));
    }
    assert_eq!(v.content("todos.json#1"), *item);
    // The index keeps the creation time.
    let created: String = v
        .db()
        .query_row(
            "SELECT created_at FROM data_objects WHERE file_path = 'todos.json#1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(created, "2025-01-15T10:30:00Z");

    // Every field given, in another order: the file keeps the item's order.
    v.cli_ok(&[
        "save",
        v.path_str(),
        "--key",
        "todos.json#3",
        "core.todo",
        r#"{"tags":["admin","travel"],"created_at":"2025-01-17T19:45:00Z","due":"2025-03-01T12:00:00Z","completed":true,"text":"Renew passport"}"#,
    ]);
    let item = &items(&v, "todos.json")[2];
    assert_eq!(field_names(item), field_names(&original[2]));
    assert_eq!(item["completed"], true);
    assert_eq!(item["tags"], json!(["admin", "travel"]));

    // The id cannot be changed by an update.
    v.cli_ok(&[
        "save",
        v.path_str(),
        "--key",
        "todos.json#2",
        "core.todo",
        r#"{"id":77,"text":"Book dentist appointment"}"#,
    ]);
    assert_eq!(items(&v, "todos.json")[1]["id"], json!(2));
    assert!(v.keys().contains(&"todos.json#2".to_string()));
    assert!(!v.keys().contains(&"todos.json#77".to_string()));
}

#[test]
fn save_refuses_invalid_content_and_leaves_the_file_alone() {
    let v = TestVault::sample_initialised();
    let before = std::fs::read(v.abs("todos.json")).unwrap();
    let keys = v.keys();
    let n = audit_len(&v);
    for args in [
        vec!["save", v.path_str(), "core.todo", r#"{"text": 5}"#],
        vec![
            "save",
            v.path_str(),
            "core.todo",
            r#"{"text": "ok", "completed": "yes"}"#,
        ],
        vec![
            "save",
            v.path_str(),
            "--key",
            "todos.json#1",
            "core.todo",
            r#"{"text": 5}"#,
        ],
    ] {
        let line = cli_err(&v, &args);
        assert!(line.contains("Schema validation failed"), "{line}");
    }
    let line = cli_err(&v, &["save", v.path_str(), "core.todo", "{not json"]);
    assert!(line.contains("not valid JSON"), "{line}");
    let line = cli_err(&v, &["save", v.path_str(), "no.such", r#"{"text":"a"}"#]);
    assert!(line.contains("no.such"), "{line}");

    assert_eq!(std::fs::read(v.abs("todos.json")).unwrap(), before);
    assert_eq!(v.keys(), keys);
    assert_eq!(audit_len(&v), n);
}

#[test]
fn a_read_only_object_refuses_save_and_rm() {
    let v = TestVault::sample_initialised();
    let key = "plugins/journal/entries.json#1";
    let before = std::fs::read(v.abs("plugins/journal/entries.json")).unwrap();
    let content_before = v.content(key);

    let line = cli_err(
        &v,
        &[
            "save",
            v.path_str(),
            "--key",
            key,
            "plugin.journal.entry",
            r#"{"title":"Changed","content":"changed","mood":"sad","created_at":"2025-01-05T21:00:00Z"}"#,
        ],
    );
    assert!(line.contains("Permission denied"), "{line}");
    assert!(line.contains(key), "{line}");
    let line = cli_err(&v, &["rm", v.path_str(), key]);
    assert!(line.contains("Permission denied"), "{line}");

    assert_eq!(
        std::fs::read(v.abs("plugins/journal/entries.json")).unwrap(),
        before
    );
    assert!(v.keys().contains(&key.to_string()));
    assert_eq!(v.content(key), content_before);
    assert!(!v.abs(".nexus/trash").exists());

    // Its neighbour is not protected.
    v.cli_ok(&["rm", v.path_str(), "plugins/journal/entries.json#2"]);
    assert_eq!(items(&v, "plugins/journal/entries.json").len(), 1);

    // Lifting the protection allows the write.
    v.cli_ok(&["perms", v.path_str(), key, "--read-only", "off"]);
    v.cli_ok(&[
        "save",
        v.path_str(),
        "--key",
        key,
        "plugin.journal.entry",
        r#"{"title":"Changed","content":"changed","mood":"sad","created_at":"2025-01-05T21:00:00Z"}"#,
    ]);
    assert_eq!(
        items(&v, "plugins/journal/entries.json")[0]["title"],
        "Changed"
    );
}

#[test]
fn rm_removes_the_item_from_the_file_and_the_index() {
    let v = TestVault::sample_initialised();
    let original = items(&v, "todos.json");
    let n = audit_len(&v);
    let out = v.cli_ok(&["rm", v.path_str(), "todos.json#4"]);
    assert_eq!(out, "deleted todos.json#4\n");

    let now = items(&v, "todos.json");
    assert_eq!(now, original[..3].to_vec());
    for (a, b) in now.iter().zip(&original) {
        assert_eq!(field_names(a), field_names(b));
    }
    assert!(!v.keys().contains(&"todos.json#4".to_string()));
    assert_eq!(v.count("SELECT COUNT(*) FROM data_objects"), 10);
    // todos.json#4 had no grant, so no permission row; the five grants stay.
    assert_eq!(v.count("SELECT COUNT(*) FROM object_permissions"), 5);
    assert_eq!(v.count("SELECT COUNT(*) FROM object_content"), 10);

    let deleted: Vec<Value> = audit_since(&v, n)
        .into_iter()
        .filter(|e| e["action"] == "object.deleted")
        .collect();
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0]["key"], "todos.json#4");
    assert_eq!(deleted[0]["details"]["source"], "cli");
    // A copy is in the trash.
    let trash = snapshot(&v.abs(".nexus/trash"));
    let copies: Vec<Value> = trash
        .values()
        .flatten()
        .map(|b| serde_json::from_slice(b).unwrap())
        .collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0]["item"], original[3]);

    // Unknown key: an error, nothing changes.
    let before = v.read("todos.json");
    let line = cli_err(&v, &["rm", v.path_str(), "todos.json#4"]);
    assert!(line.contains("todos.json#4"), "{line}");
    assert_eq!(v.read("todos.json"), before);

    // A whole-file note goes to the trash.
    let note = v.read("notes/reading-list.md");
    v.cli_ok(&["rm", v.path_str(), "notes/reading-list.md"]);
    assert!(!v.abs("notes/reading-list.md").exists());
    assert!(!v.keys().contains(&"notes/reading-list.md".to_string()));
    let trash = snapshot(&v.abs(".nexus/trash"));
    assert!(
        trash
            .iter()
            .any(|(k, b)| k.ends_with("notes/reading-list.md")
                && b.as_deref() == Some(note.as_bytes())),
        "{:?}",
        trash.keys()
    );
}

#[test]
fn save_of_a_new_note_creates_a_markdown_file() {
    let v = TestVault::sample_initialised();
    let out = v.cli_ok(&[
        "save",
        v.path_str(),
        "core.note",
        r#"{"title":"Trip ideas","body":"Go north"}"#,
    ]);
    assert_eq!(out, "notes/trip-ideas.md\n");
    let text = v.read("notes/trip-ideas.md");
    assert!(text.starts_with("# Trip ideas"), "{text:?}");
    assert!(text.contains("Go north"), "{text:?}");
    assert!(v.keys().contains(&"notes/trip-ideas.md".to_string()));
    let shown = cli_json(&v, &["show", v.path_str(), "notes/trip-ideas.md"]);
    assert_eq!(shown["schema_name"], "core.note");
    assert_eq!(shown["content"]["title"], "Trip ideas");
    assert!(
        shown["content"]["body"]
            .as_str()
            .unwrap()
            .contains("Go north")
    );
    assert_eq!(
        shown["permissions"],
        json!({"share_with_ai": false, "share_with_cloud": false, "read_only": false, "expires_at": null})
    );

    // The same title again does not overwrite the first note.
    let out = v.cli_ok(&[
        "save",
        v.path_str(),
        "core.note",
        r#"{"title":"Trip ideas","body":"Go south"}"#,
    ]);
    assert_eq!(out, "notes/trip-ideas-2.md\n");
    assert!(v.read("notes/trip-ideas.md").contains("Go north"));
    assert!(v.read("notes/trip-ideas-2.md").contains("Go south"));

    // A note without a body is refused.
    let line = cli_err(&v, &["save", v.path_str(), "core.note", r#"{"title":"T"}"#]);
    assert!(line.contains("Schema validation failed"), "{line}");
}

#[test]
fn schema_add_registers_a_schema_that_a_collection_can_use() {
    let v = TestVault::sample_initialised();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plugin.habits.habit.json");
    std::fs::write(
        &file,
        r#"{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"},"streak":{"type":"integer"}},"required":["id","name"]}"#,
    )
    .unwrap();

    let out = v.cli_ok(&["schema", "add", v.path_str(), file.to_str().unwrap()]);
    assert!(out.starts_with("plugin.habits.habit:"), "{out}");
    assert!(out.contains("Added"), "{out}");
    assert!(v.abs(".nexus/schemas/plugin.habits.habit.json").is_file());

    let list = v.cli_ok(&["schema", "list", v.path_str()]);
    let line = list
        .lines()
        .find(|l| l.starts_with("plugin.habits.habit "))
        .unwrap_or_else(|| panic!("not listed: {list}"));
    assert!(line.contains("0 objects"), "{line}");
    assert_eq!(
        v.count("SELECT COUNT(*) FROM schemas WHERE schema_name = 'plugin.habits.habit'"),
        1
    );

    v.write(
        "habits.json",
        r#"{"schema": "plugin.habits.habit", "version": "1.0", "data": [
  {"id": 1, "name": "Run", "streak": 3},
  {"id": 2, "name": "Read", "streak": 10}
]}
"#,
    );
    v.cli_ok(&["sync", v.path_str()]);
    let keys = v.keys();
    assert!(keys.contains(&"habits.json#1".to_string()), "{keys:?}");
    assert!(keys.contains(&"habits.json#2".to_string()), "{keys:?}");
    let listed = cli_json(
        &v,
        &[
            "list",
            v.path_str(),
            "--schema",
            "plugin.habits.habit",
            "--json",
        ],
    );
    assert_eq!(listed.as_array().unwrap().len(), 2);
    let schemas = cli_json(&v, &["schema", "list", v.path_str(), "--json"]);
    let habit = schemas
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["schema_name"] == "plugin.habits.habit")
        .unwrap();
    assert_eq!(habit["objects"], json!(2));
    let out = v.cli(&["check", v.path_str()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));

    // The schema validates: a bad item is a problem, a bad save is refused.
    let line = cli_err(
        &v,
        &[
            "save",
            v.path_str(),
            "plugin.habits.habit",
            r#"{"name":"Swim","streak":"many"}"#,
        ],
    );
    assert!(line.contains("Schema validation failed"), "{line}");
    let out = v.cli_ok(&[
        "save",
        v.path_str(),
        "plugin.habits.habit",
        r#"{"name":"Swim"}"#,
    ]);
    assert_eq!(out, "habits.json#3\n");
}

// ---------------------------------------------------------------------------
// 12. sync is idempotent
// ---------------------------------------------------------------------------

fn object_rows(v: &TestVault) -> Vec<(String, String, String, String)> {
    let conn = v.db();
    let mut stmt = conn
        .prepare(
            "SELECT o.file_path, o.updated_at, o.created_at, c.content_json
             FROM data_objects o JOIN object_content c ON c.object_id = o.id ORDER BY o.file_path",
        )
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn sync_twice_changes_nothing_the_second_time() {
    let v = TestVault::sample_initialised();
    v.cli_ok(&["sync", v.path_str()]);
    let rows = object_rows(&v);
    let count = v.count("SELECT COUNT(*) FROM data_objects");
    let n = audit_len(&v);

    let out = v.cli_ok(&["sync", v.path_str()]);
    assert!(out.contains(" 0 parsed,"), "{out}");
    assert!(
        out.contains("objects: 0 added, 0 updated, 0 removed, 0 moved"),
        "{out}"
    );
    assert!(out.contains("0 permission changes"), "{out}");
    assert_eq!(v.count("SELECT COUNT(*) FROM data_objects"), count);
    assert_eq!(object_rows(&v), rows);
    assert_eq!(audit_len(&v), n);

    // A real edit is seen (so the zeros above mean something) ...
    let edited = v
        .read("todos.json")
        .replace("Renew passport", "Renew the passport");
    v.write("todos.json", &edited);
    let out = v.cli_ok(&["sync", v.path_str()]);
    assert!(out.contains(" 1 parsed,"), "{out}");
    assert!(
        out.contains("objects: 0 added, 1 updated, 0 removed"),
        "{out}"
    );
    assert_eq!(v.content("todos.json#3")["text"], "Renew the passport");
    // ... and once taken in, the next sync is quiet again.
    let out = v.cli_ok(&["sync", v.path_str()]);
    assert!(out.contains(" 0 parsed,"), "{out}");
    assert!(
        out.contains("objects: 0 added, 0 updated, 0 removed"),
        "{out}"
    );
    assert_eq!(v.count("SELECT COUNT(*) FROM data_objects"), count);
}

#[test]
fn no_subcommand_starts_the_window() {
    // Without a display the window cannot open: the error says so (and so
    // proves that no subcommand means the window, not a CLI message).
    let v = TestVault::empty();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_me-nexus"))
        .env("ME_NEXUS_CONFIG_DIR", v.config_dir.path())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot open the window"), "{stderr}");
}
