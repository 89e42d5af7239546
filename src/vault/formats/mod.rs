//! The file formats that hold objects, and how a file's bytes become objects.
//!
//! - Collection JSON `{"schema", "version", "data": [ {...}, ... ]}`: each
//!   item is an object keyed by its `id`.
//! - Single-object JSON `{"schema", "version", "data": {...}}`: one object.
//! - Markdown: one `core.note` per file.
//!
//! Parsing never fails as a whole: a file that cannot be read as data gives
//! a [`ParsedFile::Invalid`] problem, a JSON file that is not Me-Nexus data
//! (no top-level `schema` string) gives [`ParsedFile::NotData`], and a bad
//! item inside a good file gives a problem next to the good objects.

pub mod compact_json;
pub mod json;
pub mod markdown;
pub mod rfc3339;

use serde_json::Value;

use crate::vault::ignore::{PathRole, classify};

/// Schema name of Markdown notes.
pub const NOTE_SCHEMA: &str = "core.note";

/// How a data file lays out its objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `data` is an array of items with ids.
    Collection,
    /// `data` is one object.
    Single,
    /// A Markdown note.
    Markdown,
}

impl Layout {
    /// Name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Layout::Collection => "collection",
            Layout::Single => "single",
            Layout::Markdown => "markdown",
        }
    }
}

/// A problem inside a file: where (a JSON pointer, empty for the whole file)
/// and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileProblem {
    /// JSON pointer into the file (`/data/3/due`), or "" for the whole file.
    pub pointer: String,
    /// What is wrong, in words.
    pub message: String,
}

impl FileProblem {
    /// A problem at `pointer`.
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        FileProblem {
            pointer: pointer.into(),
            message: message.into(),
        }
    }
}

/// One object found in a file.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedObject {
    /// The object's key.
    pub key: String,
    /// The item id for collection items.
    pub item_id: Option<String>,
    /// The object's content.
    pub content: Value,
    /// A title or summary for lists.
    pub title: String,
    /// Where the object sits in the file (`/data/0`, `/data`, or "").
    pub pointer: String,
}

/// A file that holds Me-Nexus data.
#[derive(Debug, Clone, PartialEq)]
pub struct DataFile {
    /// The schema every object in the file follows.
    pub schema_name: String,
    /// How the objects are laid out.
    pub layout: Layout,
    /// The objects, in file order.
    pub objects: Vec<ParsedObject>,
    /// Items that could not become objects (no id, duplicate id, not an object).
    pub problems: Vec<FileProblem>,
}

/// What a file's bytes are.
#[derive(Debug, Clone, PartialEq)]
pub enum ParsedFile {
    /// Me-Nexus data.
    Data(DataFile),
    /// A JSON file that is not Me-Nexus data (no top-level `schema`): skipped.
    NotData(String),
    /// A file that should be data but cannot be read as such.
    Invalid(FileProblem),
}

/// Parses the bytes of the vault file `rel`.
pub fn parse_file(rel: &str, bytes: &[u8]) -> ParsedFile {
    match classify(rel) {
        PathRole::Markdown => markdown::parse_note(rel, bytes),
        PathRole::Json => json::parse_json_file(rel, bytes),
        _ => ParsedFile::NotData("not a data file".into()),
    }
}

/// A short title or summary of an object's content for lists: the first of
/// `title`, `text`, `name`, `summary`, `content` that is a string.
pub fn summarize(content: &Value, fallback: &str) -> String {
    const FIELDS: [&str; 6] = ["title", "text", "name", "summary", "content", "body"];
    let text = FIELDS
        .iter()
        .find_map(|f| field(content, f).and_then(Value::as_str))
        .unwrap_or(fallback);
    let line = text.lines().next().unwrap_or("").trim();
    truncate_chars(line, 120)
}

/// The field `name` of an object, like `Value::get`. An object's few
/// fields are compared in turn: serde_json's map hashes the name with
/// SipHash first, and the lookups of every object's title and timestamps
/// were 4% of a cold index's reading thread (callgrind).
pub fn field<'a>(content: &'a Value, name: &str) -> Option<&'a Value> {
    const SCAN_UP_TO: usize = 16;
    let map = content.as_object()?;
    if map.len() > SCAN_UP_TO {
        return map.get(name);
    }
    map.iter()
        .find(|(key, _)| key.as_str() == name)
        .map(|(_, value)| value)
}

fn truncate_chars(text: &str, max: usize) -> String {
    // No more bytes than `max`, so no more characters: nothing to count.
    if text.len() <= max {
        return text.to_string();
    }
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `field` finds what `Value::get` finds, in small objects (scanned)
    /// and large ones (hashed), and nothing in what is not an object.
    #[test]
    fn field_is_value_get() {
        let small = serde_json::json!({"id": 1, "text": "a", "title": "b"});
        let large: Value =
            Value::Object((0..40).map(|i| (format!("k{i}"), Value::from(i))).collect());
        for (content, name) in [
            (&small, "title"),
            (&small, "text"),
            (&small, "tit"),
            (&large, "k0"),
            (&large, "k39"),
            (&large, "k40"),
        ] {
            assert_eq!(field(content, name), content.get(name), "{name}");
        }
        assert_eq!(field(&serde_json::json!([1, 2]), "0"), None);
    }
}
