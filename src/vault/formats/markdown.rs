//! Markdown notes: one `core.note` object per `*.md` file.
//!
//! The content of a note is `{"title", <front-matter fields>..., "body"}`.
//! The title is the front-matter `title`, else the first heading, else the
//! file name. The body is everything after the front-matter, verbatim.

use serde_json::{Map, Value};

use super::{DataFile, FileProblem, Layout, NOTE_SCHEMA, ParsedFile, ParsedObject, summarize};

const BOM: &str = "\u{feff}";

/// A note split into its parts.
#[derive(Debug, Clone, PartialEq)]
pub struct NoteParts {
    /// The front-matter fields, in file order.
    pub front_matter: Map<String, Value>,
    /// The raw front-matter block including its `---` fences, if any.
    pub front_matter_raw: Option<String>,
    /// The text after the front-matter.
    pub body: String,
    /// The file started with a byte-order mark.
    pub had_bom: bool,
}

/// Splits a note's text into front-matter and body.
pub fn split_note(bytes: &[u8]) -> Result<NoteParts, FileProblem> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| FileProblem::new("", "file is not UTF-8 text (binary data?)"))?;
    if text.contains('\0') {
        return Err(FileProblem::new(
            "",
            "file contains NUL bytes (binary data?)",
        ));
    }
    let had_bom = text.starts_with(BOM);
    let text = text.strip_prefix(BOM).unwrap_or(text);
    let Some(after_open) = text
        .strip_prefix("---\n")
        .or_else(|| text.strip_prefix("---\r\n"))
    else {
        return Ok(NoteParts {
            front_matter: Map::new(),
            front_matter_raw: None,
            body: text.to_string(),
            had_bom,
        });
    };
    let mut offset = 0;
    for line in after_open.split_inclusive('\n') {
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed == "---" || trimmed == "..." {
            let yaml = &after_open[..offset];
            let end = text.len() - after_open.len() + offset + line.len();
            let front_matter = parse_yaml_mapping(yaml)?;
            return Ok(NoteParts {
                front_matter,
                front_matter_raw: Some(text[..end].to_string()),
                body: text[end..].to_string(),
                had_bom,
            });
        }
        offset += line.len();
    }
    Err(FileProblem::new(
        "/front-matter",
        "front-matter starts with --- but is never closed by a --- line",
    ))
}

fn parse_yaml_mapping(yaml: &str) -> Result<Map<String, Value>, FileProblem> {
    if yaml.trim().is_empty() {
        return Ok(Map::new());
    }
    check_yaml_depth(yaml)?;
    let value: Value = serde_norway::from_str(yaml).map_err(|e| {
        let e = e.to_string();
        if e.starts_with("recursion limit exceeded") {
            FileProblem::new(
                "/front-matter",
                format!("YAML front-matter is nested too deeply: {e}"),
            )
        } else {
            FileProblem::new("/front-matter", format!("invalid YAML front-matter: {e}"))
        }
    })?;
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(FileProblem::new(
            "/front-matter",
            "front-matter must be a YAML mapping (key: value lines)",
        )),
    }
}

/// Deepest flow nesting (`[`, `{`) and widest indent accepted in
/// front-matter before it is handed to the YAML parser.
const MAX_YAML_FLOW_DEPTH: usize = 128;
const MAX_YAML_INDENT: usize = 512;

/// Refuses front-matter nested so deeply that the YAML parser would spend
/// quadratic time on it (libyaml rescans its stack of open levels at every
/// token): a linear scan bounds the flow depth (brackets outside quotes and
/// comments) and the block depth (indent plus leading `- ` markers of a
/// line). Real front-matter is nowhere near either bound; whatever passes
/// still meets serde_norway's own recursion limit.
fn check_yaml_depth(yaml: &str) -> Result<(), FileProblem> {
    let too_deep = |line: usize, what: String| {
        FileProblem::new(
            "/front-matter",
            format!("YAML front-matter is nested too deeply: {what} (front-matter line {line})"),
        )
    };
    let mut depth = 0usize;
    for (index, line) in yaml.lines().enumerate() {
        let mut indent = line.chars().take_while(|c| *c == ' ' || *c == '\t').count();
        let mut rest = &line.as_bytes()[indent..];
        while let [b'-' | b'?' | b':', b' ' | b'\t', tail @ ..] = rest {
            indent += 2;
            rest = tail;
        }
        if indent > MAX_YAML_INDENT {
            return Err(too_deep(
                index + 1,
                format!("more than {MAX_YAML_INDENT} levels of indentation"),
            ));
        }
        let mut quote: Option<char> = None;
        let mut previous = ' ';
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') if previous.is_whitespace() => break,
                (None, '[' | '{') => {
                    depth += 1;
                    if depth > MAX_YAML_FLOW_DEPTH {
                        return Err(too_deep(
                            index + 1,
                            format!("more than {MAX_YAML_FLOW_DEPTH} levels of [ ] or {{ }}"),
                        ));
                    }
                }
                (None, ']' | '}') => depth = depth.saturating_sub(1),
                _ => {}
            }
            previous = c;
        }
    }
    Ok(())
}

/// The first ATX heading (`# Title`) outside code fences.
pub fn first_heading(body: &str) -> Option<String> {
    let mut in_fence = false;
    for line in body.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        let hashes = trimmed.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&hashes) {
            let rest = &trimmed[hashes..];
            if rest.starts_with(' ') || rest.starts_with('\t') {
                let title = rest.trim().trim_end_matches('#').trim();
                if !title.is_empty() {
                    return Some(title.to_string());
                }
            }
        }
    }
    None
}

/// The file name without extension.
pub fn file_stem(rel: &str) -> String {
    let name = rel.rsplit('/').next().unwrap_or(rel);
    name.rsplit_once('.').map_or(name, |(s, _)| s).to_string()
}

fn derived_title(rel: &str, body: &str) -> String {
    first_heading(body).unwrap_or_else(|| file_stem(rel))
}

/// Parses a note file.
pub fn parse_note(rel: &str, bytes: &[u8]) -> ParsedFile {
    let parts = match split_note(bytes) {
        Ok(parts) => parts,
        Err(problem) => return ParsedFile::Invalid(problem),
    };
    let content = note_content(rel, &parts);
    ParsedFile::Data(DataFile {
        schema_name: NOTE_SCHEMA.to_string(),
        layout: Layout::Markdown,
        objects: vec![ParsedObject {
            key: rel.to_string(),
            item_id: None,
            title: summarize(&content, rel),
            content,
            pointer: String::new(),
        }],
        problems: Vec::new(),
    })
}

fn note_content(rel: &str, parts: &NoteParts) -> Value {
    let title = match parts.front_matter.get("title") {
        Some(Value::String(t)) => t.clone(),
        _ => derived_title(rel, &parts.body),
    };
    let mut content = Map::new();
    content.insert("title".into(), Value::String(title));
    for (k, v) in &parts.front_matter {
        if k != "title" && k != "body" {
            content.insert(k.clone(), v.clone());
        }
    }
    content.insert("body".into(), Value::String(parts.body.clone()));
    Value::Object(content)
}

/// Renders note `content` back to Markdown for file `rel`. The front-matter
/// block of `original` is kept verbatim when its fields did not change; new
/// or changed fields are written as `key: <JSON value>`, which is valid YAML.
pub fn render_note(
    rel: &str,
    original: Option<&[u8]>,
    content: &Map<String, Value>,
) -> Result<Vec<u8>, String> {
    let body = content
        .get("body")
        .and_then(Value::as_str)
        .ok_or("a note needs a \"body\" string")?;
    let title = content
        .get("title")
        .and_then(Value::as_str)
        .ok_or("a note needs a \"title\" string")?;
    let original_parts = original.and_then(|b| split_note(b).ok());
    let mut front_matter = Map::new();
    // The title goes into the front-matter only when the body and file name
    // would not give it back, or when the user already keeps it there.
    let title_in_original = original_parts
        .as_ref()
        .is_some_and(|p| p.front_matter.contains_key("title"));
    if title_in_original || derived_title(rel, body) != title {
        front_matter.insert("title".into(), Value::String(title.to_string()));
    }
    for (k, v) in content {
        if k != "title" && k != "body" {
            front_matter.insert(k.clone(), v.clone());
        }
    }
    let mut out = String::new();
    if original_parts.as_ref().is_some_and(|p| p.had_bom) {
        out.push_str(BOM);
    }
    match original_parts {
        Some(NoteParts {
            front_matter: old,
            front_matter_raw: Some(raw),
            ..
        }) if same_fields(&old, &front_matter) => out.push_str(&raw),
        _ if front_matter.is_empty() => {}
        _ => {
            out.push_str("---\n");
            for (k, v) in &front_matter {
                out.push_str(&yaml_key(k));
                out.push_str(": ");
                out.push_str(&serde_json::to_string(v).map_err(|e| e.to_string())?);
                out.push('\n');
            }
            out.push_str("---\n");
        }
    }
    out.push_str(body);
    Ok(out.into_bytes())
}

fn same_fields(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
}

fn yaml_key(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !key.starts_with('-');
    if plain {
        key.to_string()
    } else {
        serde_json::to_string(key).unwrap_or_else(|_| format!("\"{key}\""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn content_of(rel: &str, text: &str) -> Value {
        match parse_note(rel, text.as_bytes()) {
            ParsedFile::Data(d) => d.objects[0].content.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn title_body_and_front_matter() {
        let text = "---\ntags: [work, plan]\ndate: 2025-01-15\n---\n# Standup\n\nNotes here\n";
        let c = content_of("notes/daily/2025-01-15.md", text);
        assert_eq!(c["title"], "Standup");
        assert_eq!(c["tags"], json!(["work", "plan"]));
        assert_eq!(c["date"], "2025-01-15");
        assert_eq!(c["body"], "# Standup\n\nNotes here\n");
    }

    #[test]
    fn title_falls_back_to_file_name() {
        let c = content_of("notes/idea.md", "just text\n```\n# not a heading\n```\n");
        assert_eq!(c["title"], "idea");
        let c = content_of("a.md", "---\ntitle: From FM\n---\n# Heading\n");
        assert_eq!(c["title"], "From FM");
    }

    #[test]
    fn bad_front_matter_is_a_problem() {
        for text in [
            "---\ntags: [a\n---\nx",
            "---\n- a\n- b\n---\n",
            "---\nno end\n",
        ] {
            assert!(
                matches!(parse_note("a.md", text.as_bytes()), ParsedFile::Invalid(_)),
                "{text}"
            );
        }
        assert!(matches!(
            parse_note("a.md", b"\xff\xfe\x00"),
            ParsedFile::Invalid(_)
        ));
    }

    #[test]
    fn deep_front_matter_is_a_problem_not_a_crash() {
        for (open, close) in [("[", "]"), ("{a: ", "}")] {
            let text = format!(
                "---\nx: {}1{}\n---\nbody\n",
                open.repeat(100_000),
                close.repeat(100_000)
            );
            let ParsedFile::Invalid(p) = parse_note("a.md", text.as_bytes()) else {
                panic!("expected a problem")
            };
            assert!(p.message.contains("nested too deeply"), "{}", p.message);
        }
        // Block nesting: compact sequences on one line, and indentation.
        let mut block = String::new();
        for depth in 0..1_000 {
            block.push_str(&" ".repeat(depth));
            block.push_str("-\n");
        }
        for yaml in [
            format!("x:\n  {}1\n", "- ".repeat(100_000)),
            format!("x:\n{block}"),
        ] {
            let text = format!("---\n{yaml}---\nbody\n");
            let ParsedFile::Invalid(p) = parse_note("a.md", text.as_bytes()) else {
                panic!("expected a problem")
            };
            assert!(p.message.contains("nested too deeply"), "{}", p.message);
        }
        // Brackets in quotes and comments do not count; moderate nesting is fine.
        let text = format!(
            "---\na: \"{}\"\nb: x # {}\nc: {}1{}\n---\n",
            "[".repeat(500),
            "{".repeat(500),
            "[".repeat(20),
            "]".repeat(20)
        );
        assert!(matches!(
            parse_note("a.md", text.as_bytes()),
            ParsedFile::Data(_)
        ));
    }

    #[test]
    fn render_round_trips_and_keeps_front_matter_text() {
        let text = "---\ntags: [work, plan]   # my comment\n---\n# Standup\n\nbody\n";
        let c = content_of("n.md", text);
        let rendered = render_note("n.md", Some(text.as_bytes()), c.as_object().unwrap()).unwrap();
        assert_eq!(String::from_utf8(rendered).unwrap(), text);

        let mut changed = c.as_object().unwrap().clone();
        changed.insert("tags".into(), json!(["home"]));
        changed.insert("body".into(), json!("# Standup\n\nnew body\n"));
        let rendered = render_note("n.md", Some(text.as_bytes()), &changed).unwrap();
        let again = content_of("n.md", std::str::from_utf8(&rendered).unwrap());
        assert_eq!(again["tags"], json!(["home"]));
        assert_eq!(again["body"], "# Standup\n\nnew body\n");
        assert_eq!(again["title"], "Standup");
    }

    #[test]
    fn render_puts_a_differing_title_in_front_matter() {
        let content = json!({"title": "My: Title", "body": "plain text\n"});
        let out = render_note("notes/x.md", None, content.as_object().unwrap()).unwrap();
        let again = content_of("notes/x.md", std::str::from_utf8(&out).unwrap());
        assert_eq!(again, content);
    }
}
