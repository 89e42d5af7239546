//! The detail panel of the selected object: content, file, validation
//! errors, audit history, and editing (unless it is read-only).

use std::path::Path;

use serde_json::Value;

use crate::ui::form::{FormAction, FormState, form_ui};
use crate::ui::vault_view::VaultView;

/// Draws the detail of the selected object.
pub fn detail_ui(ui: &mut egui::Ui, view: &mut VaultView) {
    let Some(key) = view.selected.clone() else {
        ui.weak("Select an object to see it here.");
        return;
    };
    let Some(detail) = view.detail.clone() else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label(format!("Loading {key}…"));
        });
        return;
    };
    let row = &detail.row;
    let read_only = row.permissions.read_only;
    ui.heading(&row.title);
    ui.label(egui::RichText::new(&row.key).monospace());
    ui.label(format!(
        "{} · updated {}",
        row.schema_name,
        crate::ui::dates::short(&row.updated_at)
    ));
    if read_only {
        ui.colored_label(
            ui.visuals().warn_fg_color,
            "🔒 Read-only: this object cannot be edited or deleted",
        );
    }
    let file = view.root.join(&row.file_path);
    ui.horizontal(|ui| {
        ui.label(&row.file_path);
        if ui
            .button("✏ Open in editor")
            .on_hover_text("Open the file in its default program")
            .clicked()
            && let Err(e) = open_with_system(&file)
        {
            view.toasts.error(e);
        }
        if ui.button("📂 Show in folder").clicked() {
            let folder = file.parent().unwrap_or(&view.root).to_path_buf();
            if let Err(e) = open_with_system(&folder) {
                view.toasts.error(e);
            }
        }
    });

    ui.horizontal(|ui| {
        if row.schema_name == "core.todo" {
            let mut done = detail
                .content
                .get("completed")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            if ui
                .add_enabled(!read_only, egui::Checkbox::new(&mut done, "Done"))
                .changed()
            {
                let mut content = detail.content.clone();
                if let Some(obj) = content.as_object_mut() {
                    obj.insert("completed".into(), Value::Bool(done));
                }
                view.save(&row.schema_name, content, Some(key.clone()), false);
            }
        }
        let edit = ui
            .add_enabled(
                !read_only && view.editor.is_none(),
                egui::Button::new("✏ Edit"),
            )
            .on_disabled_hover_text("Read-only objects cannot be edited");
        if edit.clicked() {
            view.editor = Some(FormState::new(
                Some(key.clone()),
                &row.schema_name,
                &detail.schema_definition,
                &detail.content,
            ));
        }
        let delete = ui
            .add_enabled(!read_only, egui::Button::new("🗑 Delete"))
            .on_disabled_hover_text("Read-only objects cannot be deleted");
        if delete.clicked() {
            view.pending_delete = Some(key.clone());
        }
    });

    let saving = view.saving();
    if let Some(form) = &mut view.editor {
        ui.separator();
        ui.label(egui::RichText::new("Edit").strong());
        match form_ui(ui, form, saving) {
            Some(FormAction::Save(content)) => {
                let schema = form.schema_name.clone();
                let target = form.key.clone();
                view.save(&schema, content, target, true);
            }
            Some(FormAction::Cancel) => view.editor = None,
            None => {}
        }
    }

    if !detail.problems.is_empty() {
        ui.separator();
        ui.label(egui::RichText::new("Validation errors").strong());
        for p in &detail.problems {
            ui.colored_label(
                ui.visuals().error_fg_color,
                format!("⚠ {}: {}", p.pointer, p.message),
            );
        }
    }
    ui.separator();
    egui::CollapsingHeader::new("Content")
        .default_open(true)
        .show(ui, |ui| {
            let text = serde_json::to_string_pretty(&detail.content).unwrap_or_default();
            egui::ScrollArea::vertical()
                .id_salt("detail-content")
                .max_height(260.0)
                .show(ui, |ui| {
                    ui.label(egui::RichText::new(text).monospace());
                });
        });
    egui::CollapsingHeader::new(format!("Audit history ({})", detail.audit.len()))
        .default_open(false)
        .show(ui, |ui| {
            for entry in detail.audit.iter().rev().take(200) {
                ui.label(format!(
                    "{} {} {}",
                    crate::ui::dates::short(&entry.time),
                    entry.action,
                    entry.details
                ));
            }
        });
}

/// Opens `path` with the desktop's default program.
pub fn open_with_system(path: &Path) -> Result<(), String> {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(target_os = "windows") {
        "explorer"
    } else {
        "xdg-open"
    };
    std::process::Command::new(program)
        .arg(path)
        .spawn()
        .map(|_| ())
        .map_err(|e| format!("cannot run {program} for {}: {e}", path.display()))
}
