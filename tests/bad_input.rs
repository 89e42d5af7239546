#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Lossless sync: bad input never crashes and never loses data. Every bad
//! file or argument gives a problem or an error that names the file and
//! what is wrong, the file's bytes stay as they were, and the rest of the
//! vault goes on indexing.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::TestVault;

/// Runs `check` and returns its exit code and stdout lines.
fn check(v: &TestVault) -> (i32, Vec<String>) {
    let out = v.cli(&["check", v.path_str()]);
    let code = out.status.code().expect("check was killed by a signal");
    let text = String::from_utf8(out.stdout).unwrap();
    (code, text.lines().map(str::to_string).collect())
}

/// The `check` line about `file` that contains every one of `words`.
fn problem_line(lines: &[String], file: &str, words: &[&str]) -> String {
    lines
        .iter()
        .find(|l| l.starts_with(file) && words.iter().all(|w| l.contains(w)))
        .unwrap_or_else(|| panic!("no problem line for {file} with {words:?} in:\n{lines:#?}"))
        .clone()
}

/// Writes raw bytes into the vault.
fn write_bytes(v: &TestVault, rel: &str, bytes: &[u8]) {
    let path = v.abs(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Syncs with the CLI (a crash or stack overflow would fail here).
fn sync(v: &TestVault) {
    v.cli_ok(&["sync", v.path_str()]);
}

/// The sample vault, initialised, plus bad files written after `init`;
/// then a sync. Returns the bytes of the bad files for later comparison.
fn sample_with(files: &[(&str, &[u8])]) -> (TestVault, Vec<(String, Vec<u8>)>) {
    let v = TestVault::sample_initialised();
    for (rel, bytes) in files {
        write_bytes(&v, rel, bytes);
    }
    sync(&v);
    let kept = files
        .iter()
        .map(|(rel, bytes)| (rel.to_string(), bytes.to_vec()))
        .collect();
    (v, kept)
}

fn assert_bytes_unchanged(v: &TestVault, files: &[(String, Vec<u8>)]) {
    for (rel, bytes) in files {
        assert_eq!(&std::fs::read(v.abs(rel)).unwrap(), bytes, "{rel} changed");
    }
}

/// The sample vault's good objects are still indexed.
fn assert_rest_indexed(v: &TestVault) {
    let keys = v.keys();
    for key in [
        "todos.json#1",
        "calendar/events.json#standup-2025-01-20",
        "notes/reading-list.md",
    ] {
        assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
    }
}

#[test]
fn malformed_json_and_bom_name_the_file_and_where() {
    let (v, files) = sample_with(&[
        (
            "broken.json",
            b"{\n  \"schema\": \"core.todo\",\n  \"data\": [\n    {\"id\": 1,}\n  ]\n}\n",
        ),
        (
            "bom.json",
            b"\xEF\xBB\xBF{\"schema\":\"core.todo\",\"data\":[{\"id\":1,\"text\":\"a\"}]}",
        ),
    ]);
    let (code, lines) = check(&v);
    assert_eq!(code, 1);
    let line = problem_line(&lines, "broken.json", &["invalid JSON", "line 4 column"]);
    assert!(line.contains("line 4 column"), "{line}");
    problem_line(&lines, "bom.json", &["byte-order mark"]);
    assert_bytes_unchanged(&v, &files);
    assert_rest_indexed(&v);
}

#[test]
fn duplicate_keys_are_problems_and_the_file_keeps_its_objects() {
    let v = TestVault::sample_initialised();
    let dups = "{\"schema\": \"core.todo\", \"data\": [\n  {\"id\": 1, \"text\": \"a\"},\n  {\"id\": 2, \"text\": \"b\"},\n  {\"id\": 3, \"text\": \"first\", \"text\": \"second\"}\n]}\n";
    v.write("dups.json", dups);
    // A file that was indexed and then gains a duplicate deeper down keeps
    // its last good objects.
    let todos = v.read("todos.json");
    let todos_dup = todos.replacen(
        "\"priority\": \"high\",",
        "\"priority\": \"high\", \"meta\": {\"k\": 1, \"k\": 2},",
        1,
    );
    assert_ne!(todos, todos_dup);
    v.write("todos.json", &todos_dup);
    sync(&v);
    let (code, lines) = check(&v);
    assert_eq!(code, 1);
    let line = problem_line(&lines, "dups.json", &["duplicate key \"text\""]);
    assert!(line.starts_with("dups.json at /data/2: "), "{line}");
    assert!(line.contains("line 4"), "{line}");
    let line = problem_line(&lines, "todos.json", &["duplicate key \"k\""]);
    assert!(line.starts_with("todos.json at /data/0/meta: "), "{line}");
    assert!(v.keys().contains(&"todos.json#1".to_string()));
    assert!(!v.keys().iter().any(|k| k.starts_with("dups.json")));
    // Writing into the file is refused: a rewrite would drop a duplicate.
    let out = v.cli(&[
        "save",
        v.path_str(),
        "core.todo",
        r#"{"text":"x"}"#,
        "--key",
        "todos.json#2",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("duplicate key"));
    assert_eq!(v.read("dups.json"), dups);
    assert_eq!(v.read("todos.json"), todos_dup);
    assert_rest_indexed(&v);
}

#[test]
fn wrong_schema_fields_and_schema_violations_are_problems() {
    let (v, files) = sample_with(&[
        ("numschema.json", br#"{"schema": 42, "data": [{"id": 1}]}"#),
        (
            "unknown.json",
            br#"{"schema": "core.nope", "data": [{"id": 1}]}"#,
        ),
        (
            "invalid-items.json",
            br#"{"schema": "core.todo", "data": [{"id": 1, "text": "ok"}, {"id": 2, "text": "x", "completed": "yes"}]}"#,
        ),
    ]);
    let (code, lines) = check(&v);
    assert_eq!(code, 1);
    problem_line(
        &lines,
        "numschema.json",
        &["/schema", "must be a string", "not a number"],
    );
    problem_line(
        &lines,
        "unknown.json",
        &["/schema", "unknown schema \"core.nope\""],
    );
    problem_line(&lines, "invalid-items.json", &["/data/1/completed"]);
    assert!(v.keys().contains(&"invalid-items.json#1".to_string()));
    assert_bytes_unchanged(&v, &files);
    assert_rest_indexed(&v);
}

#[test]
fn binary_json_and_markdown_are_problems() {
    let (v, files) = sample_with(&[
        ("bin.json", b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"),
        (
            "nul.json",
            b"{\"schema\":\"core.todo\",\"data\":[]}\x00\x00",
        ),
        ("notes/bin.md", b"# t\n\xff\xfe\xfd"),
        ("notes/nul.md", b"# t\n\x00\x00\x00"),
    ]);
    let (code, lines) = check(&v);
    assert_eq!(code, 1);
    problem_line(&lines, "bin.json", &["not UTF-8"]);
    problem_line(&lines, "nul.json", &["NUL bytes"]);
    problem_line(&lines, "notes/bin.md", &["not UTF-8"]);
    problem_line(&lines, "notes/nul.md", &["NUL bytes"]);
    assert!(
        !v.keys()
            .iter()
            .any(|k| k.starts_with("notes/bin") || k.starts_with("notes/nul"))
    );
    assert_bytes_unchanged(&v, &files);
    assert_rest_indexed(&v);
}

#[test]
fn files_over_the_size_cap_are_problems() {
    let v = TestVault::empty();
    v.cli_ok(&["init", v.path_str()]);
    let config_path = v.abs(".nexus/config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&v.read(".nexus/config.json")).unwrap();
    config["settings"]["max_file_bytes"] = serde_json::json!(300);
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
    v.write(
        "small.json",
        r#"{"schema":"core.todo","data":[{"id":1,"text":"small"}]}"#,
    );
    let big = format!(
        r#"{{"schema":"core.todo","data":[{{"id":1,"text":"{}"}}]}}"#,
        "x".repeat(400)
    );
    v.write("big.json", &big);
    sync(&v);
    let (code, lines) = check(&v);
    assert_eq!(code, 1);
    problem_line(
        &lines,
        "big.json",
        &["over the 300-byte cap", "max_file_bytes"],
    );
    assert_eq!(v.keys(), vec!["small.json#1".to_string()]);
    assert_eq!(v.read("big.json"), big);
}

#[test]
fn deep_nesting_is_a_problem_not_a_stack_overflow() {
    let depth = 100_000;
    let json = format!(
        r#"{{"schema":"core.todo","data":[{}{}]}}"#,
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let md = format!(
        "---\ntags: {}{}\n---\n# Deep\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    let md_block = format!("---\ntags:\n  {}x\n---\n# Deep\n", "- ".repeat(depth));
    let (v, files) = sample_with(&[
        ("deep.json", json.as_bytes()),
        ("notes/deep.md", md.as_bytes()),
        ("notes/deep-block.md", md_block.as_bytes()),
    ]);
    let (code, lines) = check(&v);
    assert_eq!(code, 1);
    problem_line(&lines, "deep.json", &["nested too deeply"]);
    problem_line(
        &lines,
        "notes/deep.md",
        &["/front-matter", "nested too deeply"],
    );
    problem_line(&lines, "notes/deep-block.md", &["nested too deeply"]);
    assert_bytes_unchanged(&v, &files);
    assert_rest_indexed(&v);

    // The engine API in this process: no panic, no overflow.
    let mut engine = me_nexus::Engine::init(v.path()).unwrap();
    engine.reconcile().unwrap();
    assert_bytes_unchanged(&v, &files);
}

#[cfg(unix)]
#[test]
fn non_utf8_file_names_are_problems() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

    let v = TestVault::sample_initialised();
    let name = OsStr::from_bytes(b"bad\xff.md");
    let path = v.path().join("notes").join(name);
    if std::fs::write(&path, b"# bad name\n").is_err() {
        return; // A file system that refuses such names cannot have them.
    }
    sync(&v);
    let (code, lines) = check(&v);
    assert_eq!(code, 1);
    problem_line(&lines, "notes/bad", &["not valid UTF-8"]);
    assert_eq!(std::fs::read(&path).unwrap(), b"# bad name\n");
    assert_rest_indexed(&v);
}

#[test]
fn nfc_nfd_twins_are_both_indexed_and_both_reported() {
    let nfc = "notes/caf\u{e9}.md";
    let nfd = "notes/cafe\u{301}.md";
    let (v, files) = sample_with(&[(nfc, b"# NFC\n"), (nfd, b"# NFD\n")]);
    let keys = v.keys();
    if !keys.iter().any(|k| k == nfd) || !keys.iter().any(|k| k == nfc) {
        // This file system normalises names: there is only one file.
        assert!(std::fs::read_dir(v.abs("notes")).unwrap().count() > 0);
        return;
    }
    let (code, lines) = check(&v);
    assert_eq!(code, 1);
    let on_nfc = problem_line(&lines, &format!("{nfc}:"), &["twin", nfd, "NFD"]);
    let on_nfd = problem_line(&lines, &format!("{nfd}:"), &["twin", nfc, "NFC"]);
    assert_ne!(on_nfc, on_nfd);
    assert_bytes_unchanged(&v, &files);
    assert_rest_indexed(&v);
}

#[cfg(unix)]
#[test]
fn symlinks_out_of_the_vault_are_not_followed() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(outside.path().join("folder")).unwrap();
    std::fs::write(outside.path().join("folder/secret.md"), "# secret\n").unwrap();
    std::fs::write(
        outside.path().join("folder/todos.json"),
        r#"{"schema":"core.todo","data":[{"id":1,"text":"outside"}]}"#,
    )
    .unwrap();
    std::fs::write(outside.path().join("single.md"), "# single\n").unwrap();
    let v = TestVault::sample_initialised();
    std::os::unix::fs::symlink(outside.path().join("folder"), v.abs("linked")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("single.md"), v.abs("notes/single.md")).unwrap();
    sync(&v);
    let keys = v.keys();
    assert!(
        !keys
            .iter()
            .any(|k| k.starts_with("linked/") || k == "notes/single.md"),
        "{keys:?}"
    );
    assert_rest_indexed(&v);
    // The watcher path (index_paths) does not take them in either.
    let mut engine = me_nexus::Engine::init(v.path()).unwrap();
    engine
        .index_paths(
            ["linked", "linked/secret.md", "notes/single.md"]
                .into_iter()
                .map(String::from)
                .collect(),
        )
        .unwrap();
    let keys = v.keys();
    assert!(
        !keys
            .iter()
            .any(|k| k.starts_with("linked/") || k == "notes/single.md"),
        "{keys:?}"
    );
    assert_eq!(
        std::fs::read_to_string(outside.path().join("single.md")).unwrap(),
        "# single\n"
    );
}

/// Every file and folder under `dir` (not following links), except the
/// vault folder itself, with file sizes.
fn tree(dir: &Path, skip: &Path) -> BTreeMap<PathBuf, Option<u64>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path == skip {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.insert(path.clone(), None);
            out.extend(tree(&path, skip));
        } else {
            out.insert(path, Some(meta.len()));
        }
    }
    out
}

#[test]
fn path_traversal_in_cli_arguments_is_refused() {
    let outer = tempfile::tempdir().unwrap();
    let v = TestVault::sample();
    let vault = outer.path().join("vault");
    common::copy_dir(v.path(), &vault);
    let vault_str = vault.to_str().unwrap();
    v.cli_ok(&["init", vault_str]);
    std::fs::write(outer.path().join("x.md"), "# outside\n").unwrap();
    let before = tree(outer.path(), &vault);

    let todo = r#"{"text":"pwned"}"#;
    let attempts: Vec<Vec<&str>> = vec![
        vec![
            "save",
            vault_str,
            "core.todo",
            todo,
            "--key",
            "../../etc/passwd#1",
        ],
        vec!["save", vault_str, "core.todo", todo, "--key", "../x.json#1"],
        vec![
            "save",
            vault_str,
            "core.todo",
            todo,
            "--key",
            "/etc/passwd#1",
        ],
        vec!["rm", vault_str, "../x.md"],
        vec!["rm", vault_str, "notes/../../x.md"],
        vec!["perms", vault_str, "/etc/passwd", "--ai", "on"],
        vec!["perms", vault_str, "../x.md", "--cloud", "on"],
        vec!["perms", vault_str, "../x.md"],
        vec!["show", vault_str, "..%2f.."],
        vec!["show", vault_str, "../x.md"],
    ];
    for args in &attempts {
        let out = v.cli(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert!(lines[0].starts_with("error: "), "{args:?}: {stderr}");
        let clear = ["inside the vault", "no object with key"];
        assert!(
            clear.iter().any(|c| lines[0].contains(c)),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?}");
    }
    assert_eq!(tree(outer.path(), &vault), before);
    assert_eq!(
        std::fs::read_to_string(outer.path().join("x.md")).unwrap(),
        "# outside\n"
    );

    // A note titled like a path stays in notes/.
    let key = v
        .cli_ok(&[
            "save",
            vault_str,
            "core.note",
            r#"{"title":"../../evil","body":"text\n"}"#,
        ])
        .trim()
        .to_string();
    assert!(key.starts_with("notes/") && !key.contains(".."), "{key}");
    assert!(vault.join(&key).is_file());
    assert_eq!(tree(outer.path(), &vault), before);
}

#[test]
fn plugin_definition_paths_that_leave_the_plugin_are_problems() {
    let outer = tempfile::tempdir().unwrap();
    let v = TestVault::sample();
    let vault = outer.path().join("vault");
    common::copy_dir(v.path(), &vault);
    let schema = r#"{"type":"object"}"#;
    std::fs::write(outer.path().join("x.json"), schema).unwrap();
    let manifest = r#"{"name":"evil","version":"1.0.0","schemas":[{"schema_name":"plugin.evil.x","version":1,"definition":"../../x.json"}]}"#;
    std::fs::create_dir_all(vault.join("plugins/evil")).unwrap();
    std::fs::write(vault.join("plugins/evil/plugin.json"), manifest).unwrap();
    let vault_str = vault.to_str().unwrap();
    v.cli_ok(&["init", vault_str]);
    let out = v.cli(&["check", vault_str]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    problem_line(
        &lines,
        "plugins/evil/plugin.json",
        &[
            "/schemas/0/definition",
            "../../x.json",
            "inside the plugin folder",
        ],
    );
    let schemas = v.cli_ok(&["schema", "list", vault_str]);
    assert!(!schemas.contains("plugin.evil.x"), "{schemas}");
    assert!(schemas.contains("plugin.journal.entry"), "{schemas}");
    assert_eq!(
        std::fs::read_to_string(vault.join("plugins/evil/plugin.json")).unwrap(),
        manifest
    );
}

#[test]
fn bad_expiries_in_permissions_json_grant_nothing_and_are_named() {
    let v = TestVault::sample_initialised();
    let perms = r#"{
  "object_permissions": {
    "todos.json#2": {"share_with_ai": true, "expires_at": "2030-01-01T00:00:00"},
    "todos.json#3": {"share_with_ai": true, "expires_at": "tomorrow"}
  }
}
"#;
    v.write(".nexus/permissions.json", perms);
    sync(&v);
    let (code, lines) = check(&v);
    assert_eq!(code, 1);
    problem_line(
        &lines,
        ".nexus/permissions.json",
        &[
            "/object_permissions/todos.json#2",
            "offset",
            "2030-01-01T00:00:00",
        ],
    );
    problem_line(
        &lines,
        ".nexus/permissions.json",
        &["/object_permissions/todos.json#3", "tomorrow"],
    );
    let export = v.cli_ok(&["export", v.path_str(), "--for", "ai"]);
    assert!(
        !export.contains("todos.json#2") && !export.contains("todos.json#3"),
        "{export}"
    );
    // The entries are kept verbatim.
    let after: serde_json::Value =
        serde_json::from_str(&v.read(".nexus/permissions.json")).unwrap();
    assert_eq!(
        after["object_permissions"]["todos.json#2"]["expires_at"],
        "2030-01-01T00:00:00"
    );
    assert_eq!(
        after["object_permissions"]["todos.json#3"]["expires_at"],
        "tomorrow"
    );
    // Every entry survives with its values. (The file is re-rendered, pretty
    // printed, when the hand edit is taken in: same JSON, other layout.)
    let original: serde_json::Value = serde_json::from_str(perms).unwrap();
    assert_eq!(after, original);
    assert_rest_indexed(&v);
}

#[test]
fn an_expiry_without_offset_on_the_cli_is_refused() {
    let v = TestVault::sample_initialised();
    let before = v.cli_ok(&["perms", v.path_str(), "todos.json#2"]);
    let perms_before = std::fs::read(v.abs(".nexus/permissions.json")).unwrap();
    for expiry in ["2030-01-01T00:00:00", "2030-01-01", "soon"] {
        let out = v.cli(&[
            "perms",
            v.path_str(),
            "todos.json#2",
            "--ai",
            "on",
            "--expires",
            expiry,
        ]);
        assert!(!out.status.success(), "{expiry} accepted");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains("offset"),
            "{stderr}"
        );
        assert!(stderr.contains(expiry), "{stderr}");
    }
    assert_eq!(v.cli_ok(&["perms", v.path_str(), "todos.json#2"]), before);
    assert_eq!(
        std::fs::read(v.abs(".nexus/permissions.json")).unwrap(),
        perms_before
    );
}
