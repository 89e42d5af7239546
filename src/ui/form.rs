//! A form generated from an object's JSON Schema: string → text field,
//! number → number field, boolean → checkbox, enum → combo box, array of
//! strings → tags, date-time → date picker. It validates before it saves.

use serde_json::{Map, Value, json};

use crate::ui::dates;

/// The editor of one field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    /// A string.
    Text(String),
    /// A long string (a note's body).
    Multiline(String),
    /// A number, as typed.
    Number {
        /// The text.
        text: String,
        /// Integers only.
        integer: bool,
    },
    /// A boolean.
    Bool(bool),
    /// One of a list.
    Enum {
        /// The choices.
        options: Vec<String>,
        /// The choice ("" for none).
        value: String,
    },
    /// An array of strings, edited as comma-separated tags.
    Tags(String),
    /// A date-time string (RFC 3339), "" for none.
    DateTime(String),
    /// Shown, not editable (the item id).
    Fixed(Value),
}

/// One field of the form.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// Property name.
    pub name: String,
    /// Its description from the schema.
    pub description: String,
    /// Whether the schema requires it.
    pub required: bool,
    /// The editor.
    pub kind: FieldKind,
}

/// An object being edited (or created).
#[derive(Debug, Clone, PartialEq)]
pub struct FormState {
    /// The object (`None` for a new one).
    pub key: Option<String>,
    /// Its schema.
    pub schema_name: String,
    /// The schema document.
    pub schema: Value,
    /// The content before editing; fields the form does not show are kept.
    pub base: Map<String, Value>,
    /// The fields.
    pub fields: Vec<Field>,
    /// Validation errors (shown under the form).
    pub errors: Vec<String>,
}

/// What the form asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum FormAction {
    /// Save this content.
    Save(Value),
    /// Close without saving.
    Cancel,
}

impl FormState {
    /// A form for `content` of `schema_name` described by `schema`.
    pub fn new(key: Option<String>, schema_name: &str, schema: &Value, content: &Value) -> Self {
        let base = content.as_object().cloned().unwrap_or_default();
        let required: Vec<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut fields = Vec::new();
        if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
            for (name, prop) in properties {
                let value = base.get(name);
                let kind = if name == "id" {
                    match value {
                        Some(v) => FieldKind::Fixed(v.clone()),
                        None => continue, // a new item gets its id from the engine
                    }
                } else {
                    field_kind(name, prop, value)
                };
                fields.push(Field {
                    name: name.clone(),
                    description: prop
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or(name)
                        .to_string(),
                    required: required.contains(&name.as_str()),
                    kind,
                });
            }
        }
        FormState {
            key,
            schema_name: schema_name.to_string(),
            schema: schema.clone(),
            base,
            fields,
            errors: Vec::new(),
        }
    }

    /// The content the form describes.
    pub fn to_value(&self) -> Result<Value, String> {
        let mut out = self.base.clone();
        for field in &self.fields {
            let value = match &field.kind {
                FieldKind::Text(s) | FieldKind::Multiline(s) | FieldKind::DateTime(s) => {
                    if s.is_empty() && !field.required {
                        None
                    } else {
                        Some(Value::String(s.clone()))
                    }
                }
                FieldKind::Number { text, integer } => {
                    let text = text.trim();
                    if text.is_empty() {
                        None
                    } else if *integer {
                        Some(json!(text.parse::<i64>().map_err(|_| format!(
                            "{}: not a whole number",
                            field.name
                        ))?))
                    } else {
                        Some(json!(
                            text.parse::<f64>()
                                .map_err(|_| format!("{}: not a number", field.name))?
                        ))
                    }
                }
                FieldKind::Bool(b) => Some(Value::Bool(*b)),
                FieldKind::Enum { value, .. } => {
                    (!value.is_empty()).then(|| Value::String(value.clone()))
                }
                FieldKind::Tags(text) => {
                    let tags: Vec<Value> = text
                        .split(',')
                        .map(str::trim)
                        .filter(|t| !t.is_empty())
                        .map(|t| Value::String(t.to_string()))
                        .collect();
                    (!tags.is_empty() || out.contains_key(&field.name))
                        .then_some(Value::Array(tags))
                }
                FieldKind::Fixed(v) => Some(v.clone()),
            };
            match value {
                Some(v) => {
                    out.insert(field.name.clone(), v);
                }
                None => {
                    out.remove(&field.name);
                }
            }
        }
        Ok(Value::Object(out))
    }

    /// Validates the form's content against the schema. The engine's
    /// `created_at`/`updated_at`/`id` are filled on save, so a new object
    /// is checked without requiring them.
    pub fn validate(&self) -> Result<Value, Vec<String>> {
        let value = self.to_value().map_err(|e| vec![e])?;
        let mut schema = self.schema.clone();
        if self.key.is_none()
            && let Some(required) = schema.get_mut("required").and_then(Value::as_array_mut)
        {
            required.retain(|r| r != "id");
        }
        let validator = crate::schema::registry::compile(&schema).map_err(|e| vec![e])?;
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| {
                let path = e.instance_path().to_string();
                if path.is_empty() {
                    e.to_string()
                } else {
                    format!("{path}: {e}")
                }
            })
            .collect();
        if errors.is_empty() {
            Ok(value)
        } else {
            Err(errors)
        }
    }
}

fn field_kind(name: &str, prop: &Value, value: Option<&Value>) -> FieldKind {
    let types: Vec<&str> = match prop.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if let Some(options) = prop.get("enum").and_then(Value::as_array) {
        return FieldKind::Enum {
            options: options
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            value: value.and_then(Value::as_str).unwrap_or("").to_string(),
        };
    }
    if types.contains(&"boolean") {
        return FieldKind::Bool(value.and_then(Value::as_bool).unwrap_or(false));
    }
    if types.contains(&"integer") || types.contains(&"number") {
        return FieldKind::Number {
            text: value.map(|v| v.to_string()).unwrap_or_default(),
            integer: !types.contains(&"number"),
        };
    }
    if types.contains(&"array") {
        let text = value
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default();
        return FieldKind::Tags(text);
    }
    let text = value.and_then(Value::as_str).unwrap_or("").to_string();
    if prop.get("format").and_then(Value::as_str) == Some("date-time") {
        return FieldKind::DateTime(text);
    }
    if name == "body" || name == "content" || name == "description" {
        return FieldKind::Multiline(text);
    }
    FieldKind::Text(text)
}

/// Draws the form; returns Save (already validated) or Cancel.
pub fn form_ui(ui: &mut egui::Ui, form: &mut FormState, saving: bool) -> Option<FormAction> {
    let mut action = None;
    egui::Grid::new("object-form")
        .num_columns(2)
        .spacing([8.0, 6.0])
        .show(ui, |ui| {
            for field in &mut form.fields {
                let caption = if field.required {
                    format!("{} *", field.name)
                } else {
                    field.name.clone()
                };
                let label = ui.label(caption).on_hover_text(&field.description);
                let name = field.name.clone();
                match &mut field.kind {
                    FieldKind::Text(s) => {
                        ui.add(egui::TextEdit::singleline(s).desired_width(260.0))
                            .labelled_by(label.id);
                    }
                    FieldKind::Multiline(s) => {
                        ui.add(
                            egui::TextEdit::multiline(s)
                                .desired_rows(6)
                                .desired_width(260.0),
                        )
                        .labelled_by(label.id);
                    }
                    FieldKind::Number { text, .. } => {
                        ui.add(egui::TextEdit::singleline(text).desired_width(120.0))
                            .labelled_by(label.id);
                    }
                    FieldKind::Bool(b) => {
                        ui.checkbox(b, &name);
                    }
                    FieldKind::Enum { options, value } => {
                        egui::ComboBox::from_id_salt(format!("enum-{name}"))
                            .selected_text(if value.is_empty() {
                                "—".to_string()
                            } else {
                                value.clone()
                            })
                            .show_ui(ui, |ui| {
                                ui.selectable_value(value, String::new(), "—");
                                for option in options.iter() {
                                    ui.selectable_value(value, option.clone(), option);
                                }
                            })
                            .response
                            .labelled_by(label.id);
                    }
                    FieldKind::Tags(text) => {
                        ui.add(
                            egui::TextEdit::singleline(text)
                                .hint_text("tag, another tag")
                                .desired_width(260.0),
                        )
                        .labelled_by(label.id);
                    }
                    FieldKind::DateTime(text) => {
                        ui.horizontal(|ui| {
                            let current = dates::local_date_of(text);
                            let mut date = current
                                .or_else(|| Some(dates::today()))
                                .and_then(dates::to_jiff)
                                .unwrap_or_default();
                            let before = date;
                            let response = ui.add(
                                egui_extras::DatePickerButton::new(&mut date)
                                    .id_salt(&format!("form-date-{name}"))
                                    .format(if current.is_some() {
                                        "%Y-%m-%d"
                                    } else {
                                        "Pick a date"
                                    }),
                            );
                            let picker_label = format!("{name} date");
                            response.widget_info(|| {
                                egui::WidgetInfo::labeled(egui::Role::Button, true, &picker_label)
                            });
                            if (date != before || (response.changed() && current.is_none()))
                                && let Some(new) = dates::from_jiff(date)
                                    .and_then(|d| dates::with_date(Some(text.as_str()), d))
                            {
                                *text = new;
                            }
                            ui.add(egui::TextEdit::singleline(text).desired_width(200.0))
                                .labelled_by(label.id);
                        });
                    }
                    FieldKind::Fixed(v) => {
                        ui.label(v.to_string());
                    }
                }
                ui.end_row();
            }
        });
    for error in &form.errors {
        ui.colored_label(ui.visuals().error_fg_color, format!("⚠ {error}"));
    }
    ui.horizontal(|ui| {
        if ui
            .add_enabled(!saving, egui::Button::new("✔ Save"))
            .clicked()
        {
            match form.validate() {
                Ok(value) => {
                    form.errors.clear();
                    action = Some(FormAction::Save(value));
                }
                Err(errors) => form.errors = errors,
            }
        }
        if ui.button("Cancel").clicked() {
            action = Some(FormAction::Cancel);
        }
        if saving {
            ui.spinner();
        }
    });
    action
}

#[cfg(test)]
mod tests {
    use super::*;

    fn todo_schema() -> Value {
        serde_json::from_str(include_str!("../../assets/schemas/core.todo.json")).unwrap()
    }

    #[test]
    fn fields_follow_the_schema_and_round_trip() {
        let content = json!({"id": 3, "text": "Renew passport", "completed": false, "tags": ["admin"], "extra": 1});
        let form = FormState::new(
            Some("todos.json#3".into()),
            "core.todo",
            &todo_schema(),
            &content,
        );
        let kinds: Vec<(&str, &FieldKind)> = form
            .fields
            .iter()
            .map(|f| (f.name.as_str(), &f.kind))
            .collect();
        assert!(kinds.contains(&("id", &FieldKind::Fixed(json!(3)))));
        assert!(kinds.contains(&("completed", &FieldKind::Bool(false))));
        assert!(kinds.contains(&("tags", &FieldKind::Tags("admin".into()))));
        assert!(
            kinds
                .iter()
                .any(|(n, k)| *n == "priority" && matches!(k, FieldKind::Enum { .. }))
        );
        assert!(
            kinds
                .iter()
                .any(|(n, k)| *n == "due" && matches!(k, FieldKind::DateTime(_)))
        );
        assert_eq!(
            form.validate().unwrap(),
            content,
            "unchanged form gives back the content"
        );
    }

    #[test]
    fn validation_catches_bad_input_before_saving() {
        let content = json!({"id": 3, "text": "x"});
        let mut form = FormState::new(
            Some("todos.json#3".into()),
            "core.todo",
            &todo_schema(),
            &content,
        );
        for field in &mut form.fields {
            if field.name == "text" {
                field.kind = FieldKind::Text(String::new());
            }
            if field.name == "due" {
                field.kind = FieldKind::DateTime("next week".into());
            }
        }
        let errors = form.validate().unwrap_err();
        assert_eq!(errors.len(), 2, "{errors:?}");
    }
}
