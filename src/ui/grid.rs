//! The object grid: an egui_extras table with virtualised rows (only the
//! rows on screen are drawn, and fetched), sortable columns, filters, and a
//! permission checkbox and expiry date picker per row.

use egui_extras::{Column, DatePickerButton, TableBuilder};

use crate::permissions::model::PermissionChange;
use crate::query::{GridQuery, PermissionFilter, SortColumn};
use crate::ui::dates;
use crate::ui::vault_view::VaultView;

/// The seed's hover texts.
pub const AI_HOVER: &str = "Allow AI services to read and process this item";
/// The seed's hover texts.
pub const CLOUD_HOVER: &str = "Allow this item to be synced to your cloud account";
/// The seed's hover texts.
pub const READ_ONLY_HOVER: &str = "Prevent accidental modification of this item";
/// Hover text of the expiry column.
pub const EXPIRES_HOVER: &str = "When sharing ends (the end of that day, local time)";

const ROW_HEIGHT: f32 = 24.0;

const COLUMNS: [(&str, SortColumn, &str); 9] = [
    ("ID", SortColumn::Id, "Row id"),
    ("Schema", SortColumn::Schema, "Data type"),
    ("Title", SortColumn::Title, "Title or summary"),
    ("File", SortColumn::File, "Object key: file, and item id"),
    ("Updated", SortColumn::Updated, "Last change"),
    ("🧠 AI", SortColumn::Ai, AI_HOVER),
    ("☁ Sync", SortColumn::Cloud, CLOUD_HOVER),
    ("🔒 Read-only", SortColumn::ReadOnly, READ_ONLY_HOVER),
    ("📆 Expires", SortColumn::Expires, EXPIRES_HOVER),
];

/// The id of the filter text field of the grid `id_salt` (Ctrl+F focuses
/// the main one).
pub fn filter_id(id_salt: &str) -> egui::Id {
    egui::Id::unique(("grid-filter", id_salt))
}

/// The filter bar above the grid `id_salt`.
pub fn filters_ui(ui: &mut egui::Ui, view: &mut VaultView, id_salt: &str) {
    let mut query: GridQuery = view.query.clone();
    ui.horizontal(|ui| {
        let label = ui.label("Filter:");
        ui.add(
            egui::TextEdit::singleline(&mut query.text)
                .id(filter_id(id_salt))
                .hint_text("text in key or title (Ctrl+F)")
                .desired_width(220.0),
        )
        .labelled_by(label.id);
        let schema_text = query.schema.clone().unwrap_or_else(|| "All schemas".into());
        egui::ComboBox::new(("schema-filter", id_salt), "Schema")
            .selected_text(schema_text)
            .show_ui(ui, |ui| {
                ui.selectable_value(&mut query.schema, None, "All schemas");
                for name in &view.schemas {
                    ui.selectable_value(&mut query.schema, Some(name.clone()), name);
                }
            });
        let filters = [
            (PermissionFilter::Any, "Any permissions"),
            (PermissionFilter::AiShared, "🧠 AI shared"),
            (PermissionFilter::CloudShared, "☁ Cloud shared"),
            (PermissionFilter::ReadOnly, "🔒 Read-only"),
            (PermissionFilter::Expired, "Expired"),
            (PermissionFilter::Private, "Private (nothing shared)"),
        ];
        let current = filters
            .iter()
            .find(|(f, _)| *f == query.permissions)
            .map_or("Any permissions", |(_, t)| *t);
        egui::ComboBox::new(("permission-filter", id_salt), "Permissions")
            .selected_text(current)
            .show_ui(ui, |ui| {
                for (filter, text) in filters {
                    ui.selectable_value(&mut query.permissions, filter, text);
                }
            });
        match view.grid.total() {
            Some(total) => ui.label(format!("{total} objects")),
            None => ui.spinner(),
        };
    });
    view.set_query(query);
}

enum RowAction {
    Select(String),
    Permission(String, PermissionChange),
    Sort(SortColumn),
}

/// Draws the grid. `id_salt` keeps two grids (main window and settings)
/// apart.
pub fn object_grid_ui(ui: &mut egui::Ui, view: &mut VaultView, id_salt: &str) {
    let Some(total) = view.grid.total() else {
        ui.horizontal(|ui| {
            ui.spinner();
            ui.label("Loading objects…");
        });
        return;
    };
    let mut actions = Vec::new();
    // The rows on screen, to fetch the pages they need.
    let mut visible: Option<std::ops::Range<usize>> = None;
    let selected_index = if view.scroll_to_selection {
        view.selected
            .as_deref()
            .and_then(|key| view.grid.position_of(key))
    } else {
        None
    };
    view.scroll_to_selection = false;
    // Labels in rows must not take clicks: a click anywhere selects the row.
    ui.style_mut().interaction.selectable_labels = false;
    let mut table = TableBuilder::new(ui)
        .id_salt(id_salt)
        .striped(true)
        .resizable(true)
        .sense(egui::Sense::click())
        .cell_layout(egui::Layout::left_to_right(egui::Align::Center))
        .column(Column::auto().at_least(36.0))
        .column(Column::initial(120.0).at_least(60.0).clip(true))
        .column(Column::remainder().at_least(120.0).clip(true))
        .column(Column::initial(190.0).at_least(80.0).clip(true))
        .column(Column::auto().at_least(100.0))
        .column(Column::exact(52.0))
        .column(Column::exact(62.0))
        .column(Column::exact(96.0))
        .column(Column::exact(200.0))
        .min_scrolled_height(0.0);
    if let Some(index) = selected_index {
        table = table.scroll_to_row(index, Some(egui::Align::Center));
    }
    let query = view.query.clone();
    table
        .header(ROW_HEIGHT, |mut header| {
            for (title, column, hover) in COLUMNS {
                header.col(|ui| {
                    let sorted = query.sort == column;
                    let arrow = match (sorted, query.descending) {
                        (true, false) => " ⏶",
                        (true, true) => " ⏷",
                        _ => "",
                    };
                    if ui
                        .selectable_label(sorted, format!("{title}{arrow}"))
                        .on_hover_text(format!("{hover} (click to sort)"))
                        .clicked()
                    {
                        actions.push(RowAction::Sort(column));
                    }
                });
            }
        })
        .body(|body| {
            body.rows(ROW_HEIGHT, total, |mut row| {
                let index = row.index();
                visible = Some(match visible.take() {
                    Some(range) => range.start.min(index)..range.end.max(index + 1),
                    None => index..index + 1,
                });
                let Some(data) = view.grid.row_at(index) else {
                    row.col(|ui| {
                        ui.weak("…");
                    });
                    row.col(|ui| {
                        ui.weak("…");
                    });
                    return;
                };
                let key = data.key.clone();
                row.set_selected(view.selected.as_deref() == Some(key.as_str()));
                let p = data.permissions.clone();
                row.col(|ui| {
                    ui.label(data.id.to_string());
                });
                row.col(|ui| {
                    ui.label(&data.schema_name);
                });
                row.col(|ui| {
                    let lock = if p.read_only { "🔒 " } else { "" };
                    ui.label(format!("{lock}{}", data.title));
                });
                row.col(|ui| {
                    ui.label(egui::RichText::new(&data.key).monospace())
                        .on_hover_text(&data.file_path);
                });
                row.col(|ui| {
                    ui.label(dates::short(&data.updated_at));
                });
                let flag =
                    |ui: &mut egui::Ui, value: bool, name: &str, hover: &str| -> Option<bool> {
                        let mut v = value;
                        let response = ui
                            .add(egui::Checkbox::without_text(&mut v))
                            .on_hover_text(hover);
                        let label = format!("{name}: {key}");
                        response.widget_info(|| {
                            egui::WidgetInfo::selected(egui::Role::CheckBox, true, v, &label)
                        });
                        response.changed().then_some(v)
                    };
                row.col(|ui| {
                    if let Some(v) = flag(ui, p.share_with_ai, "AI", AI_HOVER) {
                        actions.push(RowAction::Permission(
                            key.clone(),
                            PermissionChange {
                                share_with_ai: Some(v),
                                ..PermissionChange::default()
                            },
                        ));
                    }
                });
                row.col(|ui| {
                    if let Some(v) = flag(ui, p.share_with_cloud, "Cloud", CLOUD_HOVER) {
                        actions.push(RowAction::Permission(
                            key.clone(),
                            PermissionChange {
                                share_with_cloud: Some(v),
                                ..PermissionChange::default()
                            },
                        ));
                    }
                });
                row.col(|ui| {
                    if let Some(v) = flag(ui, p.read_only, "Read-only", READ_ONLY_HOVER) {
                        actions.push(RowAction::Permission(
                            key.clone(),
                            PermissionChange {
                                read_only: Some(v),
                                ..PermissionChange::default()
                            },
                        ));
                    }
                });
                row.col(|ui| {
                    if let Some(change) =
                        expiry_ui(ui, id_salt, &key, p.expires_at.as_deref(), data.expired)
                    {
                        actions.push(RowAction::Permission(key.clone(), change));
                    }
                });
                if row.response().clicked() {
                    actions.push(RowAction::Select(key));
                }
            });
        });
    if let Some(range) = visible {
        view.request_rows(range);
    }
    for action in actions {
        match action {
            RowAction::Select(key) => view.select(Some(key)),
            RowAction::Permission(key, change) => view.set_permission(&key, change),
            RowAction::Sort(column) => {
                let mut query = view.query.clone();
                if query.sort == column {
                    query.descending = !query.descending;
                } else {
                    query.sort = column;
                    query.descending = false;
                }
                view.set_query(query);
            }
        }
    }
}

/// The expiry cell: a date picker (the chosen day ends at 23:59:59 local
/// time) and a clear button. Returns a change when the user made one.
pub fn expiry_ui(
    ui: &mut egui::Ui,
    id_salt: &str,
    key: &str,
    expires_at: Option<&str>,
    expired: bool,
) -> Option<PermissionChange> {
    let mut change = None;
    let current = expires_at.and_then(dates::local_date_of);
    let mut date = current
        .or_else(|| Some(dates::today()))
        .and_then(dates::to_jiff)
        .unwrap_or_default();
    let before = date;
    let format = if current.is_some() {
        "%Y-%m-%d"
    } else {
        "Never"
    };
    let response = ui
        .add(
            DatePickerButton::new(&mut date)
                .id_salt(&format!("{id_salt}/{key}"))
                .format(format)
                .calendar_week(false),
        )
        .on_hover_text(EXPIRES_HOVER);
    let label = format!("Expires: {key}");
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &label));
    if (date != before || (response.changed() && current.is_none()))
        && let Some(text) = dates::from_jiff(date).and_then(dates::end_of_day_local)
    {
        change = Some(PermissionChange {
            expires_at: Some(Some(text)),
            ..PermissionChange::default()
        });
    }
    if current.is_some() {
        if expired {
            ui.colored_label(ui.visuals().error_fg_color, "expired")
                .on_hover_text("Sharing has expired: the flags count as revoked");
        }
        let clear = ui.small_button("✖").on_hover_text("Clear the expiry");
        let clear_label = format!("Clear expiry: {key}");
        clear.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Button, true, &clear_label));
        if clear.clicked() {
            change = Some(PermissionChange {
                expires_at: Some(None),
                ..PermissionChange::default()
            });
        }
    }
    change
}
