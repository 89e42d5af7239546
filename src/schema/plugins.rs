//! Plugin manifests: `plugins/<name>/plugin.json`.
//!
//! ```json
//! {"name": "journal", "version": "1.0.0",
//!  "schemas": [{"schema_name": "plugin.journal.entry", "version": 1, "definition": "schema.json"}]}
//! ```
//!
//! `definition` is a JSON Schema, inline or as a path relative to the plugin
//! folder. The manifest and the schema files it names are not data.

use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

use crate::vault::formats::FileProblem;
use crate::vault::formats::json::parse_json_bytes;

/// One schema a plugin declares, with its definition loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginSchema {
    /// Schema name.
    pub schema_name: String,
    /// Declared version.
    pub version: i64,
    /// The JSON Schema document.
    pub definition: Value,
    /// The vault-relative file the definition came from, if not inline.
    pub definition_file: Option<String>,
}

/// A parsed manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginManifest {
    /// Plugin name.
    pub name: String,
    /// Plugin version.
    pub version: String,
    /// Its schemas. Entries that could not be loaded are in `problems`.
    pub schemas: Vec<PluginSchema>,
    /// What was wrong with the manifest or its schema files.
    pub problems: Vec<FileProblem>,
}

#[derive(Deserialize)]
struct RawManifest {
    name: String,
    #[serde(default)]
    version: String,
    #[serde(default)]
    schemas: Vec<RawSchemaEntry>,
}

#[derive(Deserialize)]
struct RawSchemaEntry {
    schema_name: String,
    #[serde(default = "one")]
    version: i64,
    definition: Value,
}

fn one() -> i64 {
    1
}

/// The vault-relative files that `manifest_rel`'s entries name as their
/// definitions (read from the manifest on disk; empty if it is unreadable).
pub fn definition_files(root: &Path, manifest_rel: &str) -> Vec<String> {
    let Ok(bytes) = std::fs::read(root.join(manifest_rel)) else {
        return Vec::new();
    };
    let Ok(value) = parse_json_bytes(&bytes) else {
        return Vec::new();
    };
    let plugin_dir = manifest_rel.rsplit_once('/').map_or("", |(d, _)| d);
    value
        .get("schemas")
        .and_then(Value::as_array)
        .map(|entries| {
            entries
                .iter()
                .filter_map(|e| e.get("definition").and_then(Value::as_str))
                .filter_map(|p| resolve(plugin_dir, p))
                .collect()
        })
        .unwrap_or_default()
}

/// Joins a manifest-relative path onto the plugin folder, refusing paths
/// that leave it.
fn resolve(plugin_dir: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/')
        || rel.contains('\\')
        || rel.split('/').any(|c| c == ".." || c.is_empty())
    {
        return None;
    }
    Some(format!("{plugin_dir}/{}", rel.trim_start_matches("./")))
}

/// Parses the manifest at `manifest_rel` (bytes given) and loads the schema
/// files it names from `root`.
pub fn load_manifest(
    root: &Path,
    manifest_rel: &str,
    bytes: &[u8],
) -> Result<PluginManifest, FileProblem> {
    let value = parse_json_bytes(bytes)?;
    let raw: RawManifest = serde_json::from_value(value)
        .map_err(|e| FileProblem::new("", format!("not a plugin manifest: {e}")))?;
    let plugin_dir = manifest_rel.rsplit_once('/').map_or("", |(d, _)| d);
    let mut manifest = PluginManifest {
        name: raw.name,
        version: raw.version,
        schemas: Vec::new(),
        problems: Vec::new(),
    };
    for (index, entry) in raw.schemas.into_iter().enumerate() {
        let pointer = format!("/schemas/{index}/definition");
        match entry.definition {
            Value::String(path) => {
                let Some(rel) = resolve(plugin_dir, &path) else {
                    manifest.problems.push(FileProblem::new(
                        pointer,
                        format!("definition path {path:?} must stay inside the plugin folder"),
                    ));
                    continue;
                };
                let loaded = std::fs::read(root.join(&rel))
                    .map_err(|e| format!("cannot read schema file {rel}: {e}"))
                    .and_then(|b| {
                        parse_json_bytes(&b)
                            .map_err(|p| format!("schema file {rel}: {}", p.message))
                    });
                match loaded {
                    Ok(definition) => manifest.schemas.push(PluginSchema {
                        schema_name: entry.schema_name,
                        version: entry.version,
                        definition,
                        definition_file: Some(rel),
                    }),
                    Err(message) => manifest.problems.push(FileProblem::new(pointer, message)),
                }
            }
            definition @ Value::Object(_) => manifest.schemas.push(PluginSchema {
                schema_name: entry.schema_name,
                version: entry.version,
                definition,
                definition_file: None,
            }),
            _ => manifest.problems.push(FileProblem::new(
                pointer,
                "definition must be a JSON Schema object or a path to one",
            )),
        }
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_file_and_inline_definitions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("plugins/journal")).unwrap();
        std::fs::write(
            dir.path().join("plugins/journal/schema.json"),
            r#"{"type":"object"}"#,
        )
        .unwrap();
        let manifest = br#"{"name":"journal","version":"1.0.0","schemas":[
            {"schema_name":"plugin.journal.entry","version":1,"definition":"schema.json"},
            {"schema_name":"plugin.journal.mood","definition":{"type":"string"}},
            {"schema_name":"plugin.journal.bad","definition":"../../etc/x.json"},
            {"schema_name":"plugin.journal.missing","definition":"nope.json"}]}"#;
        let m = load_manifest(dir.path(), "plugins/journal/plugin.json", manifest).unwrap();
        assert_eq!(m.name, "journal");
        assert_eq!(m.schemas.len(), 2);
        assert_eq!(
            m.schemas[0].definition_file.as_deref(),
            Some("plugins/journal/schema.json")
        );
        assert_eq!(m.problems.len(), 2);
        assert_eq!(
            definition_files(dir.path(), "plugins/journal/plugin.json"),
            Vec::<String>::new(),
            "manifest not on disk yet"
        );
        std::fs::write(dir.path().join("plugins/journal/plugin.json"), manifest).unwrap();
        assert_eq!(
            definition_files(dir.path(), "plugins/journal/plugin.json"),
            vec![
                "plugins/journal/schema.json".to_string(),
                "plugins/journal/nope.json".to_string()
            ]
        );
    }
}
