//! Reading a schema document given on the command line.

use std::path::Path;

use serde_json::Value;

use crate::error::{IoContext, NexusError, Result};

/// Reads a schema document: either a wrapper
/// `{"schema_name": "...", "version": N, "definition": {...}}` or a bare
/// JSON Schema, whose name is then its file name without `.json`
/// (`plugin.habits.habit.json` registers `plugin.habits.habit`).
pub fn read_schema_document(path: &Path) -> Result<(String, i64, Value)> {
    let bytes = std::fs::read(path).with_path(path)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| NexusError::json(path, e))?;
    if let (Some(name), Some(definition)) = (
        value.get("schema_name").and_then(Value::as_str),
        value.get("definition"),
    ) {
        let version = value.get("version").and_then(Value::as_i64).unwrap_or(1);
        return Ok((name.to_string(), version, definition.clone()));
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".json"))
        .ok_or_else(|| {
            NexusError::InvalidInput(format!(
                "cannot tell the schema name: name the file <schema name>.json or wrap it as {{\"schema_name\", \"definition\"}}: {}",
                path.display()
            ))
        })?;
    Ok((name.to_string(), 1, value))
}

/// Schema names are dotted identifiers (`plugin.journal.entry`).
pub fn check_schema_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty()
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        });
    if ok {
        Ok(())
    } else {
        Err(NexusError::InvalidInput(format!(
            "schema name must be dotted words like plugin.journal.entry: {name:?}"
        )))
    }
}
