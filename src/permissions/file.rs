//! `.nexus/permissions.json`: the file form of the permissions, in the
//! seed's shape but keyed by object key:
//!
//! ```json
//! {"object_permissions": {"todos.json#1": {"share_with_ai": false, "share_with_cloud": true,
//!                                          "read_only": false, "expires_at": null}}}
//! ```
//!
//! Only objects whose permissions differ from the defaults are listed:
//! absence means zero trust. Entries are written sorted by key so that the
//! file diffs well.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::permissions::model::Permissions;
use crate::vault::formats::FileProblem;
use crate::vault::formats::json::parse_json_bytes;

/// A parsed permissions file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PermissionsFile {
    /// Well-formed entries.
    pub entries: BTreeMap<String, Permissions>,
    /// Entries that could not be read, kept verbatim so that rewriting the
    /// file never drops what the user typed.
    pub invalid: BTreeMap<String, Value>,
    /// What was wrong with the invalid entries.
    pub problems: Vec<FileProblem>,
}

/// Parses the file's bytes. A file that is not a JSON object with an
/// `object_permissions` object is one whole-file problem.
pub fn parse(bytes: &[u8]) -> Result<PermissionsFile, FileProblem> {
    let value = parse_json_bytes(bytes)?;
    let Some(map) = value.get("object_permissions").and_then(Value::as_object) else {
        return Err(FileProblem::new(
            "/object_permissions",
            "expected {\"object_permissions\": {<object key>: {...}}}",
        ));
    };
    let mut file = PermissionsFile::default();
    for (key, raw) in map {
        let pointer = format!("/object_permissions/{}", escape_pointer(key));
        let parsed = serde_json::from_value::<Permissions>(raw.clone())
            .map_err(|e| e.to_string())
            .and_then(|p| p.validate().map(|()| p));
        match parsed {
            Ok(perms) => {
                file.entries.insert(key.clone(), perms);
            }
            Err(message) => {
                file.invalid.insert(key.clone(), raw.clone());
                file.problems.push(FileProblem::new(pointer, message));
            }
        }
    }
    Ok(file)
}

/// Renders `entries` (non-default permissions by key) plus `invalid`
/// entries kept verbatim.
pub fn render(
    entries: &BTreeMap<String, Permissions>,
    invalid: &BTreeMap<String, Value>,
) -> Vec<u8> {
    let mut map = Map::new();
    let mut keys: Vec<&String> = entries.keys().chain(invalid.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        // A valid entry (the current state) beats a stale invalid one.
        let value = match entries.get(key) {
            Some(p) => serde_json::to_value(p).unwrap_or(Value::Null),
            None => invalid.get(key).cloned().unwrap_or(Value::Null),
        };
        map.insert(key.clone(), value);
    }
    let mut root = Map::new();
    root.insert("object_permissions".into(), Value::Object(map));
    let mut out = serde_json::to_vec_pretty(&Value::Object(root)).unwrap_or_default();
    out.push(b'\n');
    out
}

/// Escapes a key for use in a JSON pointer (RFC 6901).
pub fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_invalid_entries_are_kept() {
        let text = br#"{"object_permissions": {
            "todos.json#1": {"share_with_ai": true, "share_with_cloud": false, "read_only": false, "expires_at": null},
            "notes/a.md": {"share_with_cloud": true, "expires_at": "2026-01-01T00:00:00"},
            "todos.json#2": {"share_with_ai": "yes"}
        }}"#;
        let file = parse(text).unwrap();
        assert_eq!(file.entries.len(), 1);
        assert!(file.entries["todos.json#1"].share_with_ai);
        assert_eq!(file.invalid.len(), 2);
        assert_eq!(file.problems.len(), 2);
        assert!(
            file.problems
                .iter()
                .any(|p| p.pointer == "/object_permissions/notes~1a.md")
        );
        let rendered = render(&file.entries, &file.invalid);
        let again = parse(&rendered).unwrap();
        assert_eq!(again, file);
    }

    #[test]
    fn wrong_shape_is_a_problem() {
        assert!(parse(b"[]").is_err());
        assert!(parse(b"{\"object_permissions\": 3}").is_err());
        assert!(parse(b"not json").is_err());
    }
}
