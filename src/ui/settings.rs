//! The settings modal, as in the seed: a Permissions tab (stats, the grid,
//! and bulk actions on the filtered rows, with a confirmation), a Problems
//! view, and an Audit view.

use crate::permissions::model::PermissionChange;
use crate::ui::vault_view::VaultView;
use crate::ui::{dates, grid, stats_cards};

/// The modal's tabs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettingsTab {
    /// Stats, grid, bulk actions.
    Permissions,
    /// Invalid files and items.
    Problems,
    /// The audit log.
    Audit,
}

fn change(ai: Option<bool>, cloud: Option<bool>, read_only: Option<bool>) -> PermissionChange {
    PermissionChange {
        share_with_ai: ai,
        share_with_cloud: cloud,
        read_only,
        expires_at: None,
    }
}

/// Draws the modal when it is open.
pub fn settings_ui(ctx: &egui::Context, view: &mut VaultView) {
    let Some(mut tab) = view.settings else { return };
    let modal = egui::Modal::new(egui::Id::unique("settings")).show(ctx, |ui| {
        ui.set_width((ctx.content_rect().width() - 80.0).max(600.0));
        ui.set_max_height((ctx.content_rect().height() - 80.0).max(400.0));
        ui.horizontal(|ui| {
            ui.heading("Settings");
            ui.separator();
            ui.selectable_value(&mut tab, SettingsTab::Permissions, "Permissions");
            ui.selectable_value(
                &mut tab,
                SettingsTab::Problems,
                format!("Problems ({})", view.problems.len() + view.conflicts.len()),
            );
            ui.selectable_value(&mut tab, SettingsTab::Audit, "Audit");
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui.button("Close").clicked() {
                    view.settings = None;
                }
            });
        });
        ui.separator();
        match tab {
            SettingsTab::Permissions => permissions_tab(ui, view),
            SettingsTab::Problems => problems_tab(ui, view),
            SettingsTab::Audit => audit_tab(ui, view),
        }
    });
    if modal.should_close() {
        view.settings = None;
    } else if view.settings.is_some() {
        view.settings = Some(tab);
    }
    confirm_bulk_ui(ctx, view);
}

fn permissions_tab(ui: &mut egui::Ui, view: &mut VaultView) {
    stats_cards::stats_cards_ui(ui, &view.stats);
    ui.separator();
    grid::filters_ui(ui, view, "settings-grid");
    let count = view.grid.total().unwrap_or(0);
    ui.horizontal_wrapped(|ui| {
        ui.label(format!("Bulk actions on the {count} filtered objects:"));
        let actions = [
            ("🧠 Share with AI", change(Some(true), None, None)),
            ("🧠 Unshare AI", change(Some(false), None, None)),
            ("☁ Share to cloud", change(None, Some(true), None)),
            ("☁ Unshare cloud", change(None, Some(false), None)),
            ("🔒 Make read-only", change(None, None, Some(true))),
            ("Make writable", change(None, None, Some(false))),
        ];
        for (text, c) in actions {
            if ui.add_enabled(count > 0, egui::Button::new(text)).clicked() {
                view.pending_bulk = Some((text.to_string(), c));
            }
        }
    });
    ui.horizontal(|ui| {
        let mut date = dates::to_jiff(view.bulk_expiry).unwrap_or_default();
        let response = ui.add(egui_extras::DatePickerButton::new(&mut date).id_salt("bulk-expiry"));
        response.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::Button, true, "Bulk expiry date")
        });
        if let Some(d) = dates::from_jiff(date) {
            view.bulk_expiry = d;
        }
        if ui
            .add_enabled(count > 0, egui::Button::new("📆 Set expiry"))
            .clicked()
            && let Some(text) = dates::end_of_day_local(view.bulk_expiry)
        {
            view.pending_bulk = Some((
                format!("📆 Set expiry to {}", view.bulk_expiry),
                PermissionChange {
                    expires_at: Some(Some(text)),
                    ..PermissionChange::default()
                },
            ));
        }
        if ui
            .add_enabled(count > 0, egui::Button::new("Clear expiry"))
            .clicked()
        {
            view.pending_bulk = Some((
                "Clear expiry".into(),
                PermissionChange {
                    expires_at: Some(None),
                    ..PermissionChange::default()
                },
            ));
        }
    });
    ui.separator();
    grid::object_grid_ui(ui, view, "settings-grid");
}

fn confirm_bulk_ui(ctx: &egui::Context, view: &mut VaultView) {
    let Some((text, c)) = view.pending_bulk.clone() else {
        return;
    };
    let count = view.grid.total().unwrap_or(0);
    egui::Modal::new(egui::Id::unique("confirm-bulk")).show(ctx, |ui| {
        ui.label(format!("{text} for {count} objects?"));
        ui.horizontal(|ui| {
            if ui.button("Confirm").clicked() {
                view.bulk_permission(c.clone());
                view.pending_bulk = None;
            }
            if ui.button("Cancel").clicked() {
                view.pending_bulk = None;
            }
        });
    });
}

fn problems_tab(ui: &mut egui::Ui, view: &mut VaultView) {
    if !view.conflicts.is_empty() {
        ui.label(egui::RichText::new("Conflicts").strong());
        ui.label("Both the app and another program changed these; the losing version is kept.");
        let mut restore = None;
        egui::Grid::new("conflicts-grid")
            .striped(true)
            .num_columns(4)
            .show(ui, |ui| {
                for c in &view.conflicts {
                    ui.label(egui::RichText::new(&c.object_key).monospace());
                    ui.label(format!("the {} version won", c.winner));
                    ui.label(egui::RichText::new(&c.copy_path).monospace());
                    let button = ui
                        .button("↺ Restore")
                        .on_hover_text("Put the losing version back into the file");
                    let label = format!("Restore conflict {}", c.id);
                    button.widget_info(|| {
                        egui::WidgetInfo::labeled(egui::Role::Button, true, &label)
                    });
                    if button.clicked() {
                        restore = Some(c.id);
                    }
                    ui.end_row();
                }
            });
        if let Some(id) = restore {
            view.restore_conflict(id);
        }
        ui.separator();
    }
    if view.problems.is_empty() && view.conflicts.is_empty() {
        ui.label("✔ No problems: every file in the vault was indexed cleanly.");
        return;
    }
    egui::ScrollArea::vertical()
        .id_salt("problems")
        .show(ui, |ui| {
            egui::Grid::new("problems-grid")
                .striped(true)
                .num_columns(3)
                .show(ui, |ui| {
                    ui.strong("File");
                    ui.strong("Where");
                    ui.strong("Problem");
                    ui.end_row();
                    for p in &view.problems {
                        ui.label(egui::RichText::new(&p.file_path).monospace());
                        ui.label(if p.pointer.is_empty() {
                            "whole file"
                        } else {
                            p.pointer.as_str()
                        });
                        ui.label(&p.message);
                        ui.end_row();
                    }
                });
        });
}

fn audit_tab(ui: &mut egui::Ui, view: &mut VaultView) {
    ui.label(format!(
        "{} entries in .nexus/logs/audit.jsonl (newest first)",
        view.audit.len()
    ));
    egui::ScrollArea::vertical()
        .id_salt("audit")
        .show(ui, |ui| {
            egui::Grid::new("audit-grid")
                .striped(true)
                .num_columns(4)
                .show(ui, |ui| {
                    for entry in view.audit.iter().rev().take(1000) {
                        ui.label(dates::short(&entry.time));
                        ui.label(&entry.action);
                        ui.label(
                            egui::RichText::new(entry.key.clone().unwrap_or_default()).monospace(),
                        );
                        ui.label(entry.details.to_string());
                        ui.end_row();
                    }
                });
        });
}
