//! Helpers shared by the integration tests: temporary vaults, files, the
//! CLI binary, and polling with a deadline (never a fixed sleep).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use rusqlite::Connection;

/// A temporary folder that holds a vault, plus a private app-config folder.
pub struct TestVault {
    pub dir: tempfile::TempDir,
    pub config_dir: tempfile::TempDir,
}

impl TestVault {
    /// An empty folder (not yet a vault).
    pub fn empty() -> TestVault {
        TestVault {
            dir: tempfile::tempdir().unwrap(),
            config_dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A copy of `assets/sample-vault`, not yet initialised.
    pub fn sample() -> TestVault {
        let v = TestVault::empty();
        copy_dir(
            &Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/sample-vault"),
            v.path(),
        );
        v
    }

    /// A copy of the sample vault, initialised with `me-nexus init`.
    pub fn sample_initialised() -> TestVault {
        let v = TestVault::sample();
        v.cli_ok(&["init", v.path_str()]);
        v
    }

    /// The vault root (canonical).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn path_str(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    /// Absolute path of a vault-relative path.
    pub fn abs(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// Writes a file (creating folders).
    pub fn write(&self, rel: &str, text: &str) {
        let path = self.abs(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Reads a file.
    pub fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.abs(rel)).unwrap()
    }

    /// Runs the `me-nexus` binary with this vault's private config folder.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_me-nexus"))
            .args(args)
            .env("ME_NEXUS_CONFIG_DIR", self.config_dir.path())
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    }

    /// Runs the binary and asserts success; returns stdout.
    pub fn cli_ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "me-nexus {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// A read connection on the vault database, as `sqlite3` would open it.
    pub fn db(&self) -> Connection {
        let conn = Connection::open(self.abs(".nexus/vault.sqlite")).unwrap();
        conn.busy_timeout(Duration::from_secs(30)).unwrap();
        conn
    }

    /// The indexed content of object `key`.
    pub fn content(&self, key: &str) -> serde_json::Value {
        let text: String = self
            .db()
            .query_row(
                "SELECT c.content_json FROM object_content c JOIN data_objects o ON o.id = c.object_id
                 WHERE o.file_path = ?1",
                [key],
                |r| r.get(0),
            )
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// The row id of object `key` (its identity in the index).
    pub fn row_id(&self, key: &str) -> i64 {
        self.db()
            .query_row(
                "SELECT id FROM data_objects WHERE file_path = ?1",
                [key],
                |r| r.get(0),
            )
            .unwrap()
    }

    /// One integer from a query.
    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }

    /// The object keys in the index, sorted.
    pub fn keys(&self) -> Vec<String> {
        let conn = self.db();
        let mut stmt = conn
            .prepare("SELECT file_path FROM data_objects ORDER BY file_path")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// The audit log lines, parsed.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.abs(".nexus/logs/audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Polls `condition` until it holds or `timeout` passes; panics with
/// `what` if it never holds.
pub fn wait_until(what: &str, timeout: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if condition() {
            return;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for: {what}");
        }
        std::thread::park_timeout(Duration::from_millis(20));
    }
}

/// Copies a folder recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}
