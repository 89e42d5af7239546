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
    let Some(obj) = root.as_object() else {
        return ParsedFile::NotData("top level is not a JSON object".into());
    };
    let Some(schema_name) = obj.get("schema").and_then(Value::as_str) else {
        return ParsedFile::NotData("no top-level \"schema\" string".into());
    };
    let schema_name = schema_name.to_string();
    match obj.get("data") {
        Some(Value::Array(items)) => ParsedFile::Data(parse_collection(rel, schema_name, items)),
        Some(Value::Object(data)) => ParsedFile::Data(DataFile {
            schema_name,
            layout: Layout::Single,
            objects: vec![ParsedObject {
                key: rel.to_string(),
                item_id: None,
                title: summarize(&Value::Object(data.clone()), file_stem(rel)),
                content: Value::Object(data.clone()),
                pointer: "/data".into(),
            }],
            problems: Vec::new(),
        }),
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
    if std::str::from_utf8(bytes).is_err() {
        return Err(FileProblem::new(
            "",
            "file is not UTF-8 text (binary data?)",
        ));
    }
    serde_json::from_slice(bytes).map_err(|e| FileProblem::new("", format!("invalid JSON: {e}")))
}

fn parse_collection(rel: &str, schema_name: String, items: &[Value]) -> DataFile {
    let mut objects = Vec::with_capacity(items.len());
    let mut problems = Vec::new();
    let mut seen = std::collections::HashSet::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let pointer = format!("/data/{index}");
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
            title: summarize(item, &id),
            item_id: Some(id),
            content: item.clone(),
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
        let ParsedFile::Invalid(p) = parse_json_file("a.json", br#"{"schema":"s","data":3}"#)
        else {
            panic!()
        };
        assert_eq!(p.pointer, "/data");
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
