//! The schema registry: schemas in the database, compiled once into cached
//! validators that check formats such as `date-time`.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::Connection;
use serde_json::Value;

use crate::db::{self, schemas::SchemaRow};
use crate::error::{NexusError, Result};
use crate::vault::formats::FileProblem;

/// A registered schema with its compiled validator.
pub struct CompiledSchema {
    /// Row id in `schemas`.
    pub id: i64,
    /// Schema name.
    pub name: String,
    /// Version.
    pub version: i64,
    /// The JSON Schema document.
    pub definition: Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for CompiledSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CompiledSchema")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl CompiledSchema {
    /// Validates `instance`; each failure becomes a problem whose pointer is
    /// `base_pointer` followed by the failing location inside the instance.
    pub fn validate(&self, instance: &Value, base_pointer: &str) -> Vec<FileProblem> {
        // Most objects are valid, and `is_valid` stops early and builds no
        // errors: half the cost of collecting them (callgrind).
        if self.validator.is_valid(instance) {
            return Vec::new();
        }
        self.validator
            .iter_errors(instance)
            .map(|e| {
                let inner = e.instance_path().to_string();
                FileProblem::new(format!("{base_pointer}{inner}"), e.to_string())
            })
            .collect()
    }
}

/// What registering a schema did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// A new schema.
    Added,
    /// The definition changed; the version was bumped to this.
    Updated(i64),
    /// Same definition as before.
    Unchanged,
}

/// Compiles a JSON Schema with format checking on.
pub fn compile(definition: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .should_validate_formats(true)
        .build(definition)
        .map_err(|e| format!("not a usable JSON Schema: {e}"))
}

/// Registered schemas, compiled lazily and cached.
#[derive(Debug, Default)]
pub struct SchemaRegistry {
    compiled: HashMap<String, Arc<CompiledSchema>>,
}

impl SchemaRegistry {
    /// An empty cache.
    pub fn new() -> Self {
        SchemaRegistry::default()
    }

    /// Registers (or re-registers) `name` with `definition`. A changed
    /// definition bumps the version to at least `declared_version` and one
    /// more than before. An unusable schema is refused.
    pub fn register(
        &mut self,
        conn: &Connection,
        name: &str,
        definition: &Value,
        declared_version: i64,
    ) -> Result<RegisterOutcome> {
        if name.trim().is_empty() {
            return Err(NexusError::SchemaValidation("schema name is empty".into()));
        }
        let validator = compile(definition)
            .map_err(|e| NexusError::SchemaValidation(format!("{name}: {e}")))?;
        let text = serde_json::to_string(definition).map_err(|e| NexusError::json(name, e))?;
        let (id, version, outcome) = match db::schemas::get(conn, name)? {
            Some(row) if same_definition(&row.definition_json, definition) => {
                (row.id, row.version, RegisterOutcome::Unchanged)
            }
            Some(row) => {
                let version = (row.version + 1).max(declared_version);
                db::schemas::update(conn, row.id, &text, version)?;
                (row.id, version, RegisterOutcome::Updated(version))
            }
            None => {
                let version = declared_version.max(1);
                let id = db::schemas::insert(conn, name, &text, version, &db::now_rfc3339())?;
                (id, version, RegisterOutcome::Added)
            }
        };
        self.compiled.insert(
            name.to_string(),
            Arc::new(CompiledSchema {
                id,
                name: name.to_string(),
                version,
                definition: definition.clone(),
                validator,
            }),
        );
        Ok(outcome)
    }

    /// The compiled schema `name`, loading it from the database on first use.
    /// `Ok(None)` when no such schema is registered; an error when the stored
    /// definition does not compile.
    pub fn get(&mut self, conn: &Connection, name: &str) -> Result<Option<Arc<CompiledSchema>>> {
        if let Some(schema) = self.compiled.get(name) {
            return Ok(Some(Arc::clone(schema)));
        }
        let Some(row) = db::schemas::get(conn, name)? else {
            return Ok(None);
        };
        let compiled = Arc::new(compile_row(&row)?);
        self.compiled
            .insert(name.to_string(), Arc::clone(&compiled));
        Ok(Some(compiled))
    }

    /// Forgets every cached validator (after the database was replaced).
    pub fn clear(&mut self) {
        self.compiled.clear();
    }
}

fn same_definition(stored: &str, definition: &Value) -> bool {
    serde_json::from_str::<Value>(stored).is_ok_and(|v| v == *definition)
}

fn compile_row(row: &SchemaRow) -> Result<CompiledSchema> {
    let definition: Value = serde_json::from_str(&row.definition_json).map_err(|e| {
        NexusError::SchemaValidation(format!(
            "{}: stored definition is not JSON: {e}",
            row.schema_name
        ))
    })?;
    let validator = compile(&definition)
        .map_err(|e| NexusError::SchemaValidation(format!("{}: {e}", row.schema_name)))?;
    Ok(CompiledSchema {
        id: row.id,
        name: row.schema_name.clone(),
        version: row.version,
        definition,
        validator,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn register_validate_and_bump() {
        let conn = db::open_in_memory().unwrap();
        let mut reg = SchemaRegistry::new();
        let def = json!({"type":"object","properties":{"at":{"type":"string","format":"date-time"}},"required":["at"]});
        assert_eq!(
            reg.register(&conn, "t.x", &def, 1).unwrap(),
            RegisterOutcome::Added
        );
        assert_eq!(
            reg.register(&conn, "t.x", &def, 1).unwrap(),
            RegisterOutcome::Unchanged
        );
        let schema = reg.get(&conn, "t.x").unwrap().unwrap();
        assert!(
            schema
                .validate(&json!({"at":"2025-01-15T10:30:00Z"}), "/data/0")
                .is_empty()
        );
        let problems = schema.validate(&json!({"at":"yesterday"}), "/data/0");
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].pointer, "/data/0/at");
        let problems = schema.validate(&json!({}), "/data/2");
        assert_eq!(problems[0].pointer, "/data/2");

        let def2 = json!({"type":"object"});
        assert_eq!(
            reg.register(&conn, "t.x", &def2, 1).unwrap(),
            RegisterOutcome::Updated(2)
        );
        assert_eq!(db::schemas::get(&conn, "t.x").unwrap().unwrap().version, 2);
        assert!(reg.register(&conn, "bad", &json!({"type": 5}), 1).is_err());

        let mut fresh = SchemaRegistry::new();
        assert_eq!(fresh.get(&conn, "t.x").unwrap().unwrap().version, 2);
        assert!(fresh.get(&conn, "nope").unwrap().is_none());
    }
}
