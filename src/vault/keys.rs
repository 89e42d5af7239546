//! Object keys.
//!
//! Every object has a stable key: `<path relative to the vault>#<item id>`
//! for items of a collection file (`todos.json#1`), and the relative path
//! for whole-file objects (`notes/daily/2025-01-15.md`). Paths always use
//! `/`. The key is stored in the seed's `data_objects.file_path` column,
//! which is UNIQUE, so a key names exactly one row.

use serde_json::Value;

/// The key of item `item_id` in collection file `rel`.
pub fn item_key(rel: &str, item_id: &str) -> String {
    // Pushed rather than `format!`ed: a first index makes one per item.
    let mut key = String::with_capacity(rel.len() + 1 + item_id.len());
    key.push_str(rel);
    key.push('#');
    key.push_str(item_id);
    key
}

/// The id of a collection item as it appears in its key: numbers in their
/// JSON form, strings as they are. Other types cannot be ids.
pub fn id_to_string(id: &Value) -> Option<String> {
    match id {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Rewrites a key of a file at `from` to the same object at `to`.
pub fn rekey(key: &str, from: &str, to: &str) -> Option<String> {
    let rest = key.strip_prefix(from)?;
    if rest.is_empty() || rest.starts_with('#') {
        Some(format!("{to}{rest}"))
    } else {
        None
    }
}

/// Rejects keys that try to leave the vault (`..`, absolute paths) or that
/// are empty. Returns the key unchanged when it is well-formed.
pub fn check_key(key: &str) -> Result<&str, String> {
    let path = key.split('#').next().unwrap_or(key);
    if key.is_empty() || path.is_empty() {
        return Err("empty object key".into());
    }
    if path.starts_with('/')
        || path.contains('\\')
        || path
            .split('/')
            .any(|c| c == ".." || c == "." || c.is_empty())
    {
        return Err(format!(
            "object key must be a relative path inside the vault: {key}"
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys() {
        assert_eq!(item_key("todos.json", "1"), "todos.json#1");
        assert_eq!(id_to_string(&json!(1)).as_deref(), Some("1"));
        assert_eq!(id_to_string(&json!("abc")).as_deref(), Some("abc"));
        assert_eq!(id_to_string(&json!(null)), None);
        assert_eq!(id_to_string(&json!("")), None);
        assert_eq!(id_to_string(&json!({"a": 1})), None);
    }

    #[test]
    fn rekeys_only_exact_file() {
        assert_eq!(
            rekey("todos.json#1", "todos.json", "a/t.json").as_deref(),
            Some("a/t.json#1")
        );
        assert_eq!(
            rekey("notes/a.md", "notes/a.md", "b.md").as_deref(),
            Some("b.md")
        );
        assert_eq!(rekey("todos.json2#1", "todos.json", "x.json"), None);
    }

    #[test]
    fn rejects_traversal() {
        assert!(check_key("../etc/passwd").is_err());
        assert!(check_key("/etc/passwd").is_err());
        assert!(check_key("a/../../b.md").is_err());
        assert!(check_key("").is_err());
        assert!(check_key("todos.json#1").is_ok());
    }
}
