//! The audit trail: `.nexus/logs/audit.jsonl`, append-only, one JSON object
//! per line with `time`, `action`, `key` and `details`.
//!
//! It records permission changes (old → new and the source: app, cli or
//! file), gate decisions (granted or denied, with the reason), object
//! lifecycle events and recoveries. It never holds object content: callers
//! pass keys and settings only.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{IoContext, NexusError, Result};

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// The desktop window.
    App,
    /// A CLI command.
    Cli,
    /// A file edited outside Me-Nexus (including permissions.json).
    File,
}

impl Source {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::App => "app",
            Source::Cli => "cli",
            Source::File => "file",
        }
    }
}

/// One line of the audit log.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AuditEntry {
    /// RFC 3339 with milliseconds.
    pub time: String,
    /// What happened: `permission.changed`, `gate.granted`, `gate.denied`,
    /// `object.created`, `object.updated`, `object.deleted`, `object.moved`,
    /// `schema.registered`, `recovery`.
    pub action: String,
    /// The object key, when the entry is about one object.
    pub key: Option<String>,
    /// Action-specific details (never object content).
    pub details: Value,
}

impl AuditEntry {
    /// An entry stamped now.
    pub fn now(action: &str, key: Option<&str>, details: Value) -> Self {
        AuditEntry {
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            action: action.to_string(),
            key: key.map(str::to_string),
            details,
        }
    }
}

/// The audit log of one vault.
#[derive(Debug, Clone)]
pub struct AuditLog {
    path: PathBuf,
    best_effort: bool,
}

impl AuditLog {
    /// The log at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        AuditLog {
            path: path.into(),
            best_effort: false,
        }
    }

    /// The log of a read-only vault: a write that fails is logged as a
    /// warning and does not fail the read that caused it (a gate decision,
    /// say).
    pub fn best_effort(path: impl Into<PathBuf>) -> Self {
        AuditLog {
            path: path.into(),
            best_effort: true,
        }
    }

    /// Its file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends `entries` in one write (O_APPEND), so that concurrent
    /// writers never interleave inside a line.
    pub fn record(&self, entries: &[AuditEntry]) -> Result<()> {
        match self.append(entries) {
            Err(e) if self.best_effort => {
                tracing::warn!("audit line not written (read-only vault): {e}");
                Ok(())
            }
            result => result,
        }
    }

    fn append(&self, entries: &[AuditEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(entries.len() * 160);
        for entry in entries {
            serde_json::to_writer(&mut buf, entry).map_err(|e| NexusError::json(&self.path, e))?;
            buf.push(b'\n');
        }
        let open = || {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
        };
        // The folder is made only when it is missing (the first line, or
        // after someone removed it), not looked for on every line.
        let mut file = match open() {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = self.path.parent() {
                    std::fs::create_dir_all(dir).with_path(dir)?;
                }
                open()
            }
            opened => opened,
        }
        .with_path(&self.path)?;
        file.write_all(&buf).with_path(&self.path)?;
        file.flush().with_path(&self.path)
    }

    /// Appends one entry.
    pub fn record_one(&self, action: &str, key: Option<&str>, details: Value) -> Result<()> {
        self.record(&[AuditEntry::now(action, key, details)])
    }

    /// Every entry, oldest first. Lines that do not parse are skipped (the
    /// log is append-only; a torn last line after a crash is possible).
    pub fn read_all(&self) -> Result<Vec<AuditEntry>> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(NexusError::io(&self.path, e)),
        };
        Ok(text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect())
    }

    /// The entries about one object, oldest first.
    pub fn for_key(&self, key: &str) -> Result<Vec<AuditEntry>> {
        Ok(self
            .read_all()?
            .into_iter()
            .filter(|e| e.key.as_deref() == Some(key))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn appends_lines() {
        let dir = tempfile::tempdir().unwrap();
        let log = AuditLog::new(dir.path().join("logs/audit.jsonl"));
        log.record_one(
            "gate.denied",
            Some("todos.json#1"),
            json!({"purpose":"ai","reason":"not shared"}),
        )
        .unwrap();
        log.record_one("recovery", None, json!({"what":"db rebuilt"}))
            .unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 2);
        let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["action"], "gate.denied");
        assert_eq!(first["key"], "todos.json#1");
        assert!(first["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(log.for_key("todos.json#1").unwrap().len(), 1);

        // The folder removed between lines is made again.
        std::fs::remove_dir_all(dir.path().join("logs")).unwrap();
        log.record_one("recovery", None, json!({"what":"again"}))
            .unwrap();
        let text = std::fs::read_to_string(log.path()).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("again"));
    }
}
