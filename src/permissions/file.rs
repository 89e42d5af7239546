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

use serde_json::Value;

use crate::permissions::model::Permissions;
use crate::vault::formats::FileProblem;
use crate::vault::formats::json::parse_json_bytes;
// Keys are tested eight bytes at a time for bytes to escape: a toggle (B7)
// writes every key of the file, and the byte-by-byte test was a sixth of
// its instructions.
use crate::vault::formats::compact_json::write_string;

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
/// entries kept verbatim, sorted by key, pretty-printed exactly as
/// `serde_json::to_vec_pretty` prints the same document.
///
/// Written by hand rather than through `serde_json::Value`: every
/// permission change renders the whole file, and at a thousand grants
/// building and escaping the document was most of a toggle's CPU.
pub fn render(
    entries: &BTreeMap<String, Permissions>,
    invalid: &BTreeMap<String, Value>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + (entries.len() + invalid.len()) * 160);
    out.extend_from_slice(b"{\n  \"object_permissions\": {");
    let mut valid = entries.iter().peekable();
    // A valid entry (the current state) beats a stale invalid one.
    let mut stale = invalid
        .iter()
        .filter(|(key, _)| !entries.contains_key(*key))
        .peekable();
    let mut first = true;
    loop {
        let valid_first = match (valid.peek(), stale.peek()) {
            (Some((a, _)), Some((b, _))) => a < b,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (None, None) => break,
        };
        out.extend_from_slice(if first { b"\n    " } else { b",\n    " });
        first = false;
        if valid_first {
            if let Some((key, perms)) = valid.next() {
                write_string(&mut out, key);
                out.extend_from_slice(b": ");
                write_permissions(&mut out, perms);
            }
        } else if let Some((key, value)) = stale.next() {
            write_string(&mut out, key);
            out.extend_from_slice(b": ");
            write_nested_value(&mut out, value);
        }
    }
    if !first {
        out.extend_from_slice(b"\n  ");
    }
    out.extend_from_slice(b"}\n}\n");
    out
}

/// The start of an entry's object, up to the value of `expires_at`, for
/// each of the eight ways its three flags can be set (index: AI, cloud,
/// read-only as bits 2, 1, 0). Written in one piece: a permission toggle
/// (B7) renders every grant, and the eight small pieces each entry was
/// written in were a fifth of the toggle's instructions.
macro_rules! flags_then_expiry_key {
    ($ai:literal, $cloud:literal, $read_only:literal) => {
        concat!(
            "{\n      \"share_with_ai\": ",
            $ai,
            ",\n      \"share_with_cloud\": ",
            $cloud,
            ",\n      \"read_only\": ",
            $read_only,
            ",\n      \"expires_at\": "
        )
        .as_bytes()
    };
}

const ENTRY_STARTS: [&[u8]; 8] = [
    flags_then_expiry_key!("false", "false", "false"),
    flags_then_expiry_key!("false", "false", "true"),
    flags_then_expiry_key!("false", "true", "false"),
    flags_then_expiry_key!("false", "true", "true"),
    flags_then_expiry_key!("true", "false", "false"),
    flags_then_expiry_key!("true", "false", "true"),
    flags_then_expiry_key!("true", "true", "false"),
    flags_then_expiry_key!("true", "true", "true"),
];

/// One entry's permissions as an object two levels deep.
fn write_permissions(out: &mut Vec<u8>, p: &Permissions) {
    let flags = usize::from(p.share_with_ai) << 2
        | usize::from(p.share_with_cloud) << 1
        | usize::from(p.read_only);
    out.extend_from_slice(ENTRY_STARTS[flags]);
    match &p.expires_at {
        Some(text) => {
            write_string(out, text);
            out.extend_from_slice(b"\n    }");
        }
        None => out.extend_from_slice(b"null\n    }"),
    }
}

/// A value kept verbatim, pretty-printed two levels deep. JSON text holds
/// no raw newline inside a string, so indenting after every newline is
/// exact.
fn write_nested_value(out: &mut Vec<u8>, value: &Value) {
    let text = serde_json::to_vec_pretty(value).unwrap_or_else(|_| b"null".to_vec());
    for (i, line) in text.split(|b| *b == b'\n').enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\n    ");
        }
        out.extend_from_slice(line);
    }
}

/// Escapes a key for use in a JSON pointer (RFC 6901).
pub fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::Strategy as _;
    use serde_json::Map;

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

    /// What building the document as a `serde_json::Value` (valid entries
    /// beating kept ones, keys sorted) and pretty-printing it gives.
    fn serde_json_rendering(
        entries: &BTreeMap<String, Permissions>,
        invalid: &BTreeMap<String, Value>,
    ) -> String {
        let mut keys: Vec<&String> = entries.keys().chain(invalid.keys()).collect();
        keys.sort();
        keys.dedup();
        let mut map = Map::new();
        for key in keys {
            let value = match entries.get(key) {
                Some(p) => serde_json::to_value(p).unwrap(),
                None => invalid[key].clone(),
            };
            map.insert(key.clone(), value);
        }
        let mut expected =
            serde_json::to_vec_pretty(&serde_json::json!({"object_permissions": map})).unwrap();
        expected.push(b'\n');
        String::from_utf8(expected).unwrap()
    }

    /// The hand-written rendering is byte for byte what building the document
    /// as a `serde_json::Value` and pretty-printing it gives.
    #[test]
    fn render_matches_the_value_rendering() {
        let mut entries = BTreeMap::new();
        entries.insert(
            "b.json#2".to_string(),
            Permissions {
                share_with_ai: true,
                ..Permissions::default()
            },
        );
        entries.insert(
            "a \"q\"/n.md".to_string(),
            Permissions {
                share_with_cloud: true,
                read_only: true,
                expires_at: Some("2027-01-01T00:00:00Z".into()),
                ..Permissions::default()
            },
        );
        let mut invalid = BTreeMap::new();
        invalid.insert(
            "a0.json#1".to_string(),
            serde_json::json!({"share_with_ai": "yes"}),
        );
        invalid.insert("b.json#2".to_string(), serde_json::json!(7));
        invalid.insert("zz.json#9".to_string(), serde_json::json!([1, {"x": null}]));
        assert_eq!(
            String::from_utf8(render(&entries, &invalid)).unwrap(),
            serde_json_rendering(&entries, &invalid)
        );
        assert_eq!(
            render(&BTreeMap::new(), &BTreeMap::new()),
            b"{\n  \"object_permissions\": {}\n}\n"
        );
    }

    proptest::proptest! {
        /// Any keys, expiries and kept values render as serde_json would.
        #[test]
        fn render_matches_serde_json_for_any_keys(
            valid in proptest::collection::btree_map(
                "\\PC{0,12}|[\"\\\\\\x00-\\x1f\\x7f]{1,4}",
                (proptest::bool::ANY, proptest::bool::ANY, proptest::bool::ANY,
                 proptest::option::of("\\PC{0,8}|\\x01")),
                0..6,
            ),
            kept in proptest::collection::btree_map(
                "\\PC{0,6}",
                proptest::prop_oneof![
                    proptest::prelude::Just(serde_json::json!(null)),
                    "\\PC{0,6}".prop_map(|s| serde_json::json!({"share_with_ai": s, "n": [1, {"x": []}]})),
                    proptest::num::i64::ANY.prop_map(|n| serde_json::json!(n)),
                ],
                0..4,
            ),
        ) {
            let entries: BTreeMap<String, Permissions> = valid
                .into_iter()
                .map(|(k, (ai, cloud, ro, exp))| (k, Permissions {
                    share_with_ai: ai, share_with_cloud: cloud, read_only: ro, expires_at: exp,
                }))
                .collect();
            proptest::prop_assert_eq!(
                String::from_utf8(render(&entries, &kept)).unwrap(),
                serde_json_rendering(&entries, &kept)
            );
        }
    }

    #[test]
    fn wrong_shape_is_a_problem() {
        assert!(parse(b"[]").is_err());
        assert!(parse(b"{\"object_permissions\": 3}").is_err());
        assert!(parse(b"not json").is_err());
    }
}
