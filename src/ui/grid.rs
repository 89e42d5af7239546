//! The object grid: the filter bar, and a table with virtualised rows (only
//! the rows on screen are drawn, and fetched), sortable and resizable
//! columns, and a permission checkbox and expiry button per row.
//!
//! The columns are laid out in [`crate::ui::grid_columns`], each row is
//! painted by [`crate::ui::grid_row`], and the expiry calendar is
//! [`crate::ui::expiry_calendar`].

use crate::permissions::model::PermissionChange;
use crate::query::{GridQuery, PermissionFilter};
use crate::ui::dates;
use crate::ui::expiry_calendar::{CalendarOutcome, ExpiryCalendar};
use crate::ui::grid_columns::{self, ColumnLayout, ROW_HEIGHT};
use crate::ui::grid_row::{RowAction, RowPainter};
use crate::ui::vault_view::VaultView;

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
    let grid_id = egui::Id::unique(("object-grid", id_salt));
    let selected_index = if view.scroll_to_selection {
        view.selected
            .as_deref()
            .and_then(|key| view.grid.position_of(key))
    } else {
        None
    };
    view.scroll_to_selection = false;

    let mut actions = Vec::new();
    let mut calendar_anchor = None;
    let calendar_id = grid_id.with("expiry-calendar");
    let mut calendar: Option<ExpiryCalendar> = ui.data(|d| d.get_temp(calendar_id));
    let calendar_key = calendar.as_ref().map(|c| c.key.clone());
    // The rows on screen, to fetch the pages they need.
    let mut visible = 0..0;
    let mut sort = None;
    let query = view.query.clone();
    // Narrower than its columns' minimums, the table scrolls sideways, its
    // header and rows together; the rows scroll down inside.
    egui::ScrollArea::horizontal()
        .id_salt(grid_id.with("sideways"))
        .auto_shrink([false, false])
        .show(ui, |ui| {
            // The scroll bar takes room only when it does not float over
            // the rows.
            let bar = ui.spacing().scroll.allocated_width();
            let layout = ColumnLayout::new(
                ui.ctx(),
                grid_id,
                ui.cursor().left(),
                ui.available_width() - bar,
                ui.spacing().item_spacing.x,
            );
            let header_top = ui.cursor().top();
            sort = grid_columns::header_ui(ui, &layout, query.sort, query.descending);
            let mut scroll = egui::ScrollArea::vertical()
                .id_salt(grid_id.with("rows"))
                .auto_shrink([false, false]);
            if let Some(index) = selected_index {
                // The selected row in the middle of the rows' height, within
                // the scroll range (past its end, egui would spring back
                // over frames).
                let rows_height = ui.available_height();
                let offset = index as f32 * ROW_HEIGHT - (rows_height - ROW_HEIGHT) / 2.0;
                let last = (total as f32 * ROW_HEIGHT - rows_height).max(0.0);
                scroll = scroll.vertical_scroll_offset(offset.clamp(0.0, last));
            }
            // As wide as the table, not the window: the rows are not cut off
            // when scrolled sideways.
            let rows_rect = egui::Rect::from_min_max(
                ui.cursor().min,
                egui::pos2(layout.table.max + bar, ui.max_rect().bottom()),
            );
            let rows = ui.scope_builder(egui::UiBuilder::new().max_rect(rows_rect), |ui| {
                scroll.show_viewport(ui, |ui, viewport| {
                    let height = total as f32 * ROW_HEIGHT;
                    let (_, content) = ui.allocate_space(egui::vec2(layout.table.span(), height));
                    let first = (viewport.min.y / ROW_HEIGHT).floor().max(0.0) as usize;
                    let end = ((viewport.max.y / ROW_HEIGHT).ceil().max(0.0) as usize).min(total);
                    visible = first.min(end)..end;
                    let painter = RowPainter::new(ui, grid_id, layout, calendar_key.clone());
                    for index in visible.clone() {
                        let top = content.top() + index as f32 * ROW_HEIGHT;
                        let y = egui::Rangef::new(top, top + ROW_HEIGHT);
                        let rect = egui::Rect::from_x_y_ranges(layout.table, y);
                        match view.grid.row_at(index) {
                            Some(data) => {
                                let selected = view.selected.as_deref() == Some(data.key.as_str());
                                let expiry =
                                    painter.row(ui, rect, index, data, selected, &mut actions);
                                if calendar_key.as_deref() == Some(data.key.as_str()) {
                                    calendar_anchor = Some(expiry);
                                }
                            }
                            None => painter.placeholder(rect, index),
                        }
                    }
                    let needed = painter.needed_widths();
                    grid_columns::grow_auto_columns(ui.ctx(), grid_id, &layout, needed);
                })
            });
            let y = egui::Rangef::new(header_top, rows.inner.inner_rect.bottom());
            grid_columns::resize_handles_ui(ui, grid_id, &layout, y);
        });
    view.request_rows(visible);

    // The calendar shows under its button, and only while that is drawn:
    // it hides while its row is scrolled or filtered away (or the grid is
    // not shown) and comes back with it.
    if let Some((calendar, anchor)) = calendar.as_mut().zip(calendar_anchor) {
        match calendar.ui(ui.ctx(), calendar_id, anchor) {
            CalendarOutcome::Open => {
                let kept = calendar.clone();
                ui.data_mut(|d| d.insert_temp(calendar_id, kept));
            }
            CalendarOutcome::Save(date) => {
                match dates::end_of_day_local(date) {
                    Some(text) => actions.push(RowAction::Permission(
                        calendar.key.clone(),
                        PermissionChange {
                            expires_at: Some(Some(text)),
                            ..PermissionChange::default()
                        },
                    )),
                    None => view.toasts.error(format!(
                        "{date} has no end of day in the local time zone; choose another day"
                    )),
                }
                ui.data_mut(|d| d.remove::<ExpiryCalendar>(calendar_id));
            }
            CalendarOutcome::Dismissed => ui.data_mut(|d| d.remove::<ExpiryCalendar>(calendar_id)),
        }
    }

    if let Some(column) = sort {
        let mut query = view.query.clone();
        if query.sort == column {
            query.descending = !query.descending;
        } else {
            query.sort = column;
            query.descending = false;
        }
        view.set_query(query);
    }
    for action in actions {
        match action {
            RowAction::Select(key) => view.select(Some(key)),
            RowAction::Permission(key, change) => view.set_permission(&key, change),
            RowAction::OpenCalendar {
                key,
                current,
                button,
                keyboard,
            } => {
                let calendar = ExpiryCalendar::open(&key, current, button, keyboard);
                ui.data_mut(|d| d.insert_temp(calendar_id, calendar));
            }
        }
    }
}
