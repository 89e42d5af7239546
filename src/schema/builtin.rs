//! The built-in schemas, shipped in `assets/schemas/` and compiled into the
//! binary.

/// `(schema_name, definition JSON)` of every built-in schema.
pub const BUILTIN_SCHEMAS: [(&str, &str); 3] = [
    (
        "core.todo",
        include_str!("../../assets/schemas/core.todo.json"),
    ),
    (
        "core.note",
        include_str!("../../assets/schemas/core.note.json"),
    ),
    (
        "core.calendar.event",
        include_str!("../../assets/schemas/core.calendar.event.json"),
    ),
];

/// The file a new object of a built-in schema goes to, when no file is named.
pub fn default_file(schema_name: &str) -> Option<&'static str> {
    match schema_name {
        "core.todo" => Some("todos.json"),
        "core.calendar.event" => Some("calendar/events.json"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_are_valid_json_schemas() {
        for (name, text) in BUILTIN_SCHEMAS {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            assert!(jsonschema::validator_for(&value).is_ok(), "{name}");
        }
    }
}
