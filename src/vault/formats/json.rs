//! JSON data files: collections and single objects.

use serde_json::{Map, Value};

use super::{DataFile, FileProblem, Layout, ParsedFile, ParsedObject, summarize};
use crate::vault::keys::{id_to_string, item_key};

/// Parses a `*.json` vault file.
pub fn parse_json_file(rel: &str, bytes: &[u8]) -> ParsedFile {
    let root = match parse_json_bytes(bytes) {
        Ok(root) => root,
        Err(problem) => return ParsedFile::Invalid(problem),
    };
    // The document is taken apart rather than cloned: a first index parses
    // every file of the vault.
    let Value::Object(mut obj) = root else {
        return ParsedFile::NotData("top level is not a JSON object".into());
    };
    let schema_name = match (obj.get("schema"), obj.get("data")) {
        (Some(Value::String(name)), _) => name.clone(),
        // A "schema" that is not a string next to a "data" field is meant as
        // Me-Nexus data: say what is wrong instead of skipping it.
        (Some(other), Some(_)) => {
            return ParsedFile::Invalid(FileProblem::new(
                "/schema",
                format!(
                    "\"schema\" must be a string naming a schema (like \"core.todo\"), not {}",
                    type_name(other)
                ),
            ));
        }
        _ => return ParsedFile::NotData("no top-level \"schema\" string".into()),
    };
    match obj.remove("data") {
        Some(Value::Array(items)) => ParsedFile::Data(parse_collection(rel, schema_name, items)),
        Some(Value::Object(data)) => {
            let content = Value::Object(data);
            ParsedFile::Data(DataFile {
                schema_name,
                layout: Layout::Single,
                objects: vec![ParsedObject {
                    key: rel.to_string(),
                    item_id: None,
                    title: summarize(&content, file_stem(rel)),
                    content,
                    pointer: "/data".into(),
                }],
                problems: Vec::new(),
            })
        }
        Some(_) => ParsedFile::Invalid(FileProblem::new(
            "/data",
            "\"data\" must be an array of items or one object",
        )),
        None => ParsedFile::Invalid(FileProblem::new(
            "",
            format!("file declares schema \"{schema_name}\" but has no \"data\""),
        )),
    }
}

/// Parses JSON bytes, turning every failure into a problem that says what
/// and where.
pub fn parse_json_bytes(bytes: &[u8]) -> Result<Value, FileProblem> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(FileProblem::new(
            "",
            "file starts with a UTF-8 byte-order mark (BOM); save it as UTF-8 without BOM",
        ));
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(text) => text,
        Err(e) => {
            return Err(FileProblem::new(
                "",
                format!(
                    "file is not UTF-8 text (binary data?): invalid byte at offset {}",
                    e.valid_up_to()
                ),
            ));
        }
    };
    // `contains` on bytes scans a word at a time (memchr); `position` went
    // byte by byte, 4% of a cold index's reader thread (callgrind).
    if bytes.contains(&0)
        && let Some(offset) = bytes.iter().position(|b| *b == 0)
    {
        return Err(FileProblem::new(
            "",
            format!("file contains NUL bytes (binary data?): first at offset {offset}"),
        ));
    }
    strict::from_str(text)
}

/// A JSON reader that refuses duplicate keys.
///
/// serde_json keeps the last of two equal keys in an object and says
/// nothing, so a hand edit that repeats `"text"` would silently lose the
/// first value (and a rewrite would drop it from the file). This reader
/// builds the same [`Value`] (key order kept) but stops at the first
/// duplicate and reports the JSON pointer of the object and the key. Every
/// key is looked up once in the map being built, so it stays linear; the
/// nesting depth is bounded by serde_json's recursion limit.
mod strict {
    use std::fmt;

    use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
    use serde_json::map::Entry;
    use serde_json::{Map, Number, Value};

    use super::FileProblem;
    use crate::permissions::file::escape_pointer;

    /// serde_json's nesting limit (arrays and objects).
    pub const MAX_DEPTH: usize = 128;

    /// The first duplicate the reader met: the key, and the path of the
    /// object that repeats it, innermost segment first. The path is put
    /// together only on the way out of a failed read: on every read that
    /// succeeds (nearly all of them) no segment is kept at all.
    #[derive(Default)]
    struct State {
        duplicate: Option<(Vec<String>, String)>,
    }

    impl State {
        /// Adds `segment` to the path of the duplicate, if that is why a
        /// read inside it failed.
        fn unwinding_through(&mut self, segment: impl FnOnce() -> String) {
            if let Some((path, _)) = &mut self.duplicate {
                path.push(segment());
            }
        }
    }

    /// Parses `text` into a value.
    pub fn from_str(text: &str) -> Result<Value, FileProblem> {
        let mut state = State::default();
        // From a `str`: serde_json then trusts it as UTF-8, where from bytes
        // it checked each string again (4% of a first index's reader).
        let mut de = serde_json::Deserializer::from_str(text);
        let parsed = ValueSeed { state: &mut state }
            .deserialize(&mut de)
            .and_then(|value| de.end().map(|()| value));
        parsed.map_err(|e| {
            let at = format!("line {} column {}", e.line(), e.column());
            if let Some((path, key)) = state.duplicate.take() {
                let pointer: String = path
                    .iter()
                    .rev()
                    .map(|s| format!("/{}", escape_pointer(s)))
                    .collect();
                let key = serde_json::to_string(&key).unwrap_or(key);
                return FileProblem::new(
                    pointer,
                    format!(
                        "duplicate key {key} at {at}: JSON readers keep only one of them, so fix the file by hand"
                    ),
                );
            }
            if e.to_string().starts_with("recursion limit exceeded") {
                return FileProblem::new(
                    "",
                    format!(
                        "JSON is nested too deeply: more than {MAX_DEPTH} levels of arrays/objects (at {at})"
                    ),
                );
            }
            FileProblem::new("", format!("invalid JSON: {e}"))
        })
    }

    struct ValueSeed<'a> {
        state: &'a mut State,
    }

    impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
        type Value = Value;

        fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for ValueSeed<'_> {
        type Value = Value;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("any JSON value")
        }

        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
            Ok(Value::Bool(v))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
            Ok(Value::Number(v.into()))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
            Ok(Value::Number(v.into()))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
            Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
            Ok(Value::String(v.to_string()))
        }

        fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
            Ok(Value::String(v))
        }

        fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_none<E: de::Error>(self) -> Result<Value, E> {
            Ok(Value::Null)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
            let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
            loop {
                let next = seq.next_element_seed(ValueSeed {
                    state: &mut *self.state,
                });
                match next {
                    Ok(Some(item)) => items.push(item),
                    Ok(None) => return Ok(Value::Array(items)),
                    Err(e) => {
                        self.state.unwinding_through(|| items.len().to_string());
                        return Err(e);
                    }
                }
            }
        }

        fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
            let mut map = Map::new();
            while let Some(key) = access.next_key::<String>()? {
                // One lookup of the key, which stays in the entry while its
                // value is read.
                match map.entry(key) {
                    Entry::Occupied(taken) => {
                        let message = format!("duplicate key {:?}", taken.key());
                        self.state.duplicate = Some((Vec::new(), taken.key().clone()));
                        return Err(de::Error::custom(message));
                    }
                    Entry::Vacant(free) => {
                        match access.next_value_seed(ValueSeed {
                            state: &mut *self.state,
                        }) {
                            Ok(value) => {
                                free.insert(value);
                            }
                            Err(e) => {
                                self.state.unwinding_through(|| free.key().clone());
                                return Err(e);
                            }
                        }
                    }
                }
            }
            Ok(Value::Object(map))
        }
    }
}

fn parse_collection(rel: &str, schema_name: String, items: Vec<Value>) -> DataFile {
    let mut objects = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for (index, item) in items.into_iter().enumerate() {
        let mut pointer = String::with_capacity(12);
        pointer.push_str("/data/");
        pointer.push_str(&index.to_string());
        let Some(fields) = item.as_object() else {
            problems.push(FileProblem::new(pointer, "item is not a JSON object"));
            continue;
        };
        let Some(id) = fields.get("id").and_then(id_to_string) else {
            problems.push(FileProblem::new(
                pointer,
                "item has no \"id\" (a number or a non-empty string)",
            ));
            continue;
        };
        if !seen.insert(id.clone()) {
            problems.push(FileProblem::new(
                format!("{pointer}/id"),
                format!("duplicate id {id}: only the first item with this id is indexed"),
            ));
            continue;
        }
        objects.push(ParsedObject {
            key: item_key(rel, &id),
            title: summarize(&item, &id),
            item_id: Some(id),
            content: item,
            pointer,
        });
    }
    DataFile {
        schema_name,
        layout: Layout::Collection,
        objects,
        problems,
    }
}

/// The JSON type of `value`, with an article, for messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn file_stem(rel: &str) -> &str {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.rsplit_once('.').map_or(name, |(stem, _)| stem)
}

/// Detects the indent of a pretty-printed JSON document (`"  "`, `"    "`,
/// or a tab) so that a rewrite keeps the user's style.
pub fn detect_indent(text: &str) -> String {
    for line in text.lines().skip(1) {
        let indent: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        if !indent.is_empty() {
            return indent;
        }
    }
    "  ".to_string()
}

/// Serialises `value` pretty-printed with `indent`, ending in a newline.
pub fn to_pretty(value: &Value, indent: &str) -> Result<Vec<u8>, serde_json::Error> {
    use serde::Serialize;
    let mut out = Vec::new();
    let formatter = serde_json::ser::PrettyFormatter::with_indent(indent.as_bytes());
    let mut ser = serde_json::Serializer::with_formatter(&mut out, formatter);
    value.serialize(&mut ser)?;
    out.push(b'\n');
    Ok(out)
}

/// Replaces the fields of `old` with those of `new`, keeping the position of
/// fields that stay and appending new ones, so a rewrite keeps key order.
pub fn merge_keep_order(old: &Map<String, Value>, new: &Map<String, Value>) -> Map<String, Value> {
    let mut merged = Map::with_capacity(new.len());
    for (k, _) in old {
        if let Some(v) = new.get(k) {
            merged.insert(k.clone(), v.clone());
        }
    }
    for (k, v) in new {
        if !merged.contains_key(k) {
            merged.insert(k.clone(), v.clone());
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(parsed: ParsedFile) -> DataFile {
        match parsed {
            ParsedFile::Data(d) => d,
            other => panic!("expected data, got {other:?}"),
        }
    }

    #[test]
    fn collection_items_are_keyed_by_id() {
        let text = r#"{"schema":"core.todo","version":"1.0","data":[
            {"id":1,"text":"a"},{"id":"x","text":"b"},{"text":"no id"},{"id":1,"text":"dup"},7]}"#;
        let d = data(parse_json_file("todos.json", text.as_bytes()));
        assert_eq!(d.schema_name, "core.todo");
        assert_eq!(d.layout, Layout::Collection);
        let keys: Vec<_> = d.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, vec!["todos.json#1", "todos.json#x"]);
        assert_eq!(d.objects[1].title, "b");
        let pointers: Vec<_> = d.problems.iter().map(|p| p.pointer.as_str()).collect();
        assert_eq!(pointers, vec!["/data/2", "/data/3/id", "/data/4"]);
    }

    #[test]
    fn single_object() {
        let d = data(parse_json_file(
            "plugins/x/settings.json",
            br#"{"schema":"plugin.x","data":{"title":"T"}}"#,
        ));
        assert_eq!(d.layout, Layout::Single);
        assert_eq!(d.objects[0].key, "plugins/x/settings.json");
        assert_eq!(d.objects[0].content, json!({"title":"T"}));
    }

    #[test]
    fn not_data_and_invalid() {
        assert!(matches!(
            parse_json_file("package.json", br#"{"name":"x"}"#),
            ParsedFile::NotData(_)
        ));
        assert!(matches!(
            parse_json_file("a.json", b"[1,2]"),
            ParsedFile::NotData(_)
        ));
        let ParsedFile::Invalid(p) = parse_json_file("a.json", b"{\"schema\": ") else {
            panic!()
        };
        assert!(p.message.contains("invalid JSON"), "{}", p.message);
        let ParsedFile::Invalid(p) = parse_json_file("a.json", b"\xEF\xBB\xBF{}") else {
            panic!()
        };
        assert!(p.message.contains("byte-order mark"));
        let ParsedFile::Invalid(p) = parse_json_file("a.json", b"\x00\xff\xfe") else {
            panic!()
        };
        assert!(p.message.contains("not UTF-8"));
        assert!(matches!(
            parse_json_file("a.json", br#"{"schema":{"type":"object"}}"#),
            ParsedFile::NotData(_)
        ));
        let ParsedFile::Invalid(p) = parse_json_file("a.json", br#"{"schema":7,"data":[]}"#) else {
            panic!()
        };
        assert_eq!(p.pointer, "/schema");
        assert!(p.message.contains("not a number"), "{}", p.message);
        let ParsedFile::Invalid(p) = parse_json_file("a.json", br#"{"schema":"s","data":3}"#)
        else {
            panic!()
        };
        assert_eq!(p.pointer, "/data");
    }

    fn invalid(bytes: &[u8]) -> FileProblem {
        match parse_json_file("a.json", bytes) {
            ParsedFile::Invalid(p) => p,
            other => panic!("expected a problem, got {other:?}"),
        }
    }

    #[test]
    fn duplicate_keys_are_problems_at_any_depth() {
        let p = invalid(br#"{"schema":"core.todo","schema":"x","data":[]}"#);
        assert_eq!(p.pointer, "");
        assert!(
            p.message.contains(r#"duplicate key "schema""#),
            "{}",
            p.message
        );
        let text = "{\"schema\":\"core.todo\",\"data\":[{\"id\":1},{\"id\":2},\n{\"id\":3,\"text\":\"a\",\"text\":\"b\"}]}";
        let p = invalid(text.as_bytes());
        assert_eq!(p.pointer, "/data/2");
        assert!(
            p.message.contains(r#"duplicate key "text""#),
            "{}",
            p.message
        );
        assert!(p.message.contains("line 2"), "{}", p.message);
        let p = invalid(br#"{"schema":"s","data":{"a/b~":{"x":{"k":1,"k":2}}}}"#);
        assert_eq!(p.pointer, "/data/a~1b~0/x");
        // The same key in different objects is fine, and key order is kept.
        let d = data(parse_json_file(
            "a.json",
            br#"{"schema":"s","data":[{"id":1,"z":1,"a":{"z":2}},{"id":2,"z":[1.5,null,true]}]}"#,
        ));
        let keys: Vec<_> = d.objects[0].content.as_object().unwrap().keys().collect();
        assert_eq!(keys, vec!["id", "z", "a"]);
        assert_eq!(d.objects[1].content["z"], json!([1.5, null, true]));
    }

    #[test]
    fn strict_reader_builds_what_serde_json_builds() {
        let text =
            r#"{"b":[1,-2,3.25,18446744073709551615,"s\u00e9\n",null,false,{}],"a":{"x":[]},"":0}"#;
        let expected: Value = serde_json::from_str(text).unwrap();
        assert_eq!(parse_json_bytes(text.as_bytes()).unwrap(), expected);
        assert!(parse_json_bytes(b"{} trailing").is_err());
    }

    #[test]
    fn big_flat_files_parse_in_linear_time() {
        let mut text = String::from("{");
        for i in 0..200_000 {
            text.push_str(&format!("\"k{i}\":{i},"));
        }
        text.push_str("\"last\":0}");
        let started = std::time::Instant::now();
        let value = parse_json_bytes(text.as_bytes()).unwrap();
        assert_eq!(value.as_object().unwrap().len(), 200_001);
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn deep_nesting_is_a_problem_not_a_crash() {
        let text = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let p = invalid(text.as_bytes());
        assert!(p.message.contains("nested too deeply"), "{}", p.message);
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse_json_bytes(ok.as_bytes()).is_ok());
    }

    #[test]
    fn malformed_json_says_where() {
        let p = invalid(b"{\"schema\": \"s\",\n  \"data\": [1,]\n}");
        assert!(p.message.contains("line 2 column"), "{}", p.message);
        let p = invalid(b"{\"schema\":\"s\",\"data\":[]}\0");
        assert!(p.message.contains("NUL"), "{}", p.message);
    }

    #[test]
    fn merge_keeps_order() {
        let old = json!({"id":1,"text":"a","completed":false,"tag":"x"});
        let new = json!({"completed":true,"id":1,"text":"b","extra":2});
        let merged = merge_keep_order(old.as_object().unwrap(), new.as_object().unwrap());
        let keys: Vec<_> = merged.keys().map(String::as_str).collect();
        assert_eq!(keys, vec!["id", "text", "completed", "extra"]);
    }

    #[test]
    fn indent_detection() {
        assert_eq!(detect_indent("{\n    \"a\": 1\n}"), "    ");
        assert_eq!(detect_indent("{\n\t\"a\": 1\n}"), "\t");
        assert_eq!(detect_indent("{}"), "  ");
    }
}
