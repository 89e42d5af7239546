//! One row of the object grid, painted straight onto the grid's painter.
//!
//! Why not a widget per cell: a row of labels, checkboxes and a date picker
//! cost egui a child `Ui` per cell and a dozen widgets per row, which was
//! most of a scrolling frame's time on a million rows (benchmark B5). A
//! painted row registers only what the user interacts with: the row (click
//! to select), the key cell (its file on hover), three flags and the expiry
//! button. Each keeps an accessible name ("AI: todos.json#4",
//! "Expires: todos.json#4", …), so screen readers and the UI tests find them
//! as before.

use std::borrow::Cow;

use chrono::NaiveDate;
use egui::text::{LayoutJob, TextWrapping};
use egui::{Color32, FontId, Pos2, Rect, Sense, StrokeKind, WidgetInfo, pos2, vec2};

use crate::permissions::model::PermissionChange;
use crate::query::GridRow;
use crate::ui::dates;
use crate::ui::grid_columns::{
    AI_HOVER, CLOUD_HOVER, COLUMN_COUNT, ColumnLayout, EXPIRES_HOVER, READ_ONLY_HOVER, col,
};

/// What the user did in a row.
#[derive(Debug)]
pub enum RowAction {
    /// Clicked the row.
    Select(String),
    /// Changed a flag or cleared the expiry.
    Permission(String, PermissionChange),
    /// Clicked the expiry button: open the calendar below it.
    OpenCalendar {
        /// The object.
        key: String,
        /// Its expiry date, if it has one.
        current: Option<NaiveDate>,
        /// The button's egui id.
        button: egui::Id,
        /// Whether the button had the keyboard focus (clicked with Space or
        /// Enter).
        keyboard: bool,
    },
}

/// What a painted control registers with egui: its id, its hover text,
/// and its accessible name (made only when accessibility is on).
struct Control<'a> {
    id: egui::Id,
    hover: &'a str,
    name: &'a dyn Fn() -> String,
    /// Drawn as open: its popup shows.
    open: bool,
}

impl Control<'_> {
    /// Registers the control at `rect` as clickable.
    fn interact(&self, ui: &egui::Ui, rect: Rect) -> egui::Response {
        ui.interact(rect, self.id, Sense::click())
            .on_hover_text(self.hover)
    }
}

/// What stays the same for every row of a frame.
pub struct RowPainter {
    grid_id: egui::Id,
    layout: ColumnLayout,
    /// The object whose expiry calendar is open.
    calendar_key: Option<String>,
    painter: egui::Painter,
    body: FontId,
    mono: FontId,
    text: Color32,
    selected_text: Color32,
    weak: Color32,
    stripe: Color32,
    selected_fill: Color32,
    hovered_fill: Color32,
    /// The widest text of each auto-sized column this frame.
    needed: [std::cell::Cell<f32>; COLUMN_COUNT],
}

impl RowPainter {
    /// Reads the fonts and colours of `ui` once for the frame, whose
    /// columns are `layout`, with the expiry calendar of `calendar_key`
    /// open.
    pub fn new(
        ui: &egui::Ui,
        grid_id: egui::Id,
        layout: ColumnLayout,
        calendar_key: Option<String>,
    ) -> Self {
        let visuals = ui.visuals();
        RowPainter {
            grid_id,
            layout,
            calendar_key,
            painter: ui.painter().clone(),
            body: egui::TextStyle::Body.resolve(ui.style()),
            mono: egui::TextStyle::Monospace.resolve(ui.style()),
            text: visuals.text_color(),
            selected_text: visuals.selection.stroke.color,
            weak: visuals.weak_text_color(),
            stripe: visuals.faint_bg_color,
            selected_fill: visuals.selection.bg_fill,
            hovered_fill: visuals.widgets.hovered.bg_fill,
            needed: Default::default(),
        }
    }

    /// A row whose page has not arrived yet.
    pub fn placeholder(&self, rect: Rect, index: usize) {
        if is_striped(index) {
            self.painter.rect_filled(rect, 0.0, self.stripe);
        }
        for column in [col::ID, col::SCHEMA] {
            self.text(
                self.layout.cell(column, rect.y_range()),
                "…",
                &self.body,
                self.weak,
            );
        }
    }

    /// Paints `row` in `rect` (the `index`th row) and registers its
    /// controls; pushes what the user did onto `actions`. Returns the
    /// expiry button's rectangle.
    pub fn row(
        &self,
        ui: &mut egui::Ui,
        rect: Rect,
        index: usize,
        row: &GridRow,
        selected: bool,
        actions: &mut Vec<RowAction>,
    ) -> Rect {
        let id = self.grid_id.with(row.id);
        let y = rect.y_range();
        let layout = &self.layout;
        // The row first, so that the controls painted over it take their
        // own clicks.
        let response = ui.interact(rect, id, Sense::click());
        // The painted cells have no nodes of their own: the row's name
        // reads them out.
        response.widget_info(|| {
            let name = format!(
                "Row {}: {}, {}, updated {}",
                row.id,
                row.title,
                row.schema_name,
                dates::short(&row.updated_at)
            );
            WidgetInfo::selected(egui::Role::Row, true, selected, name)
        });
        let fill = if selected {
            Some(self.selected_fill)
        } else if response.hovered() {
            Some(self.hovered_fill)
        } else if is_striped(index) {
            Some(self.stripe)
        } else {
            None
        };
        if let Some(fill) = fill {
            self.painter.rect_filled(rect, 0.0, fill);
        }
        if response.clicked() {
            actions.push(RowAction::Select(row.key.clone()));
        }

        let color = if selected {
            self.selected_text
        } else {
            self.text
        };
        let p = &row.permissions;
        self.auto_text(col::ID, y, row.id.to_string(), color);
        self.text(
            layout.cell(col::SCHEMA, y),
            row.schema_name.as_str(),
            &self.body,
            color,
        );
        let title: Cow<'_, str> = if p.read_only {
            Cow::Owned(format!("🔒 {}", row.title))
        } else {
            Cow::Borrowed(&row.title)
        };
        self.text(layout.cell(col::TITLE, y), title, &self.body, color);
        let key_rect = self.text(
            layout.cell(col::KEY, y),
            row.key.as_str(),
            &self.mono,
            color,
        );
        let key_response = ui
            .interact(key_rect, id.with("key"), Sense::hover())
            .on_hover_text(&row.file_path);
        key_response.widget_info(|| WidgetInfo::labeled(egui::Role::Label, true, &row.key));
        self.auto_text(col::UPDATED, y, dates::short(&row.updated_at), color);

        let flags: [(usize, bool, &str, &str); 3] = [
            (col::AI, p.share_with_ai, "AI", AI_HOVER),
            (col::CLOUD, p.share_with_cloud, "Cloud", CLOUD_HOVER),
            (col::READ_ONLY, p.read_only, "Read-only", READ_ONLY_HOVER),
        ];
        for (column, value, name, hover) in flags {
            let control = Control {
                id: id.with(column),
                hover,
                name: &|| format!("{name}: {}", row.key),
                open: false,
            };
            if let Some(v) = self.flag(ui, layout.cell(column, y), value, &control) {
                let mut change = PermissionChange::default();
                match column {
                    col::AI => change.share_with_ai = Some(v),
                    col::CLOUD => change.share_with_cloud = Some(v),
                    _ => change.read_only = Some(v),
                }
                actions.push(RowAction::Permission(row.key.clone(), change));
            }
        }
        self.expiry(ui, id, layout.cell(col::EXPIRES, y), row, actions)
    }

    /// The widest text each auto-sized column showed this frame.
    pub fn needed_widths(&self) -> [f32; COLUMN_COUNT] {
        std::array::from_fn(|i| self.needed[i].get())
    }

    /// Paints `text` whole in the auto-sized `column`, which grows to it
    /// from the next frame on (until then it may run into the next column
    /// for that one frame).
    fn auto_text(&self, column: usize, y: egui::Rangef, text: String, color: Color32) {
        let cell = self.layout.cell(column, y);
        let galley = self.painter.layout_no_wrap(text, self.body.clone(), color);
        let need = &self.needed[column];
        need.set(need.get().max(galley.size().x));
        let pos = pos2(cell.left(), cell.center().y - galley.size().y / 2.0);
        self.painter.galley(pos, galley, color);
    }

    /// Paints `text` at the left of `cell`, centred vertically and cut
    /// with "…" where it is wider; returns where it went.
    fn text(&self, cell: Rect, text: impl Into<String>, font: &FontId, color: Color32) -> Rect {
        let mut job = LayoutJob::simple_singleline(text.into(), font.clone(), color);
        job.wrap = TextWrapping::truncate_at_width(cell.width().max(0.0));
        let galley = self.painter.layout_job(job);
        let pos = pos2(cell.left(), cell.center().y - galley.size().y / 2.0);
        let rect = Rect::from_min_size(pos, galley.size());
        self.painter.galley(pos, galley, color);
        rect
    }

    /// A permission checkbox at the left of `cell`, drawn as egui draws
    /// one. Returns the new value when it was clicked.
    fn flag(
        &self,
        ui: &mut egui::Ui,
        cell: Rect,
        value: bool,
        control: &Control<'_>,
    ) -> Option<bool> {
        let spacing = ui.spacing();
        let (size, icon, check) = (
            spacing.interact_size.y,
            spacing.icon_width,
            spacing.icon_width_inner,
        );
        let rect = Rect::from_min_size(
            pos2(cell.left(), cell.center().y - size / 2.0),
            vec2(size, size),
        );
        let response = control.interact(ui, rect);
        let now = if response.clicked() { !value } else { value };
        response.widget_info(|| {
            WidgetInfo::selected(egui::Role::CheckBox, true, now, (control.name)())
        });
        let visuals = ui.style().interact(&response);
        let outer = Rect::from_center_size(
            pos2(rect.left() + icon / 2.0, rect.center().y),
            vec2(icon, icon),
        );
        self.painter.add(egui::epaint::RectShape::new(
            outer,
            visuals.corner_radius.at_most((0.3 * icon).round() as u8),
            visuals.bg_fill,
            visuals.bg_stroke,
            StrokeKind::Inside,
        ));
        if now {
            let inner = Rect::from_center_size(outer.center(), vec2(check, check));
            self.painter.add(egui::Shape::line(
                vec![
                    pos2(inner.left(), inner.center().y),
                    pos2(inner.center().x, inner.bottom()),
                    pos2(inner.right(), inner.top()),
                ],
                visuals.fg_stroke,
            ));
        }
        (now != value).then_some(now)
    }

    /// The expiry cell: a button with the date (or "Never") that opens the
    /// calendar, "expired" when it has passed, and a button that clears it.
    fn expiry(
        &self,
        ui: &mut egui::Ui,
        id: egui::Id,
        cell: Rect,
        row: &GridRow,
        actions: &mut Vec<RowAction>,
    ) -> Rect {
        let current = row
            .permissions
            .expires_at
            .as_deref()
            .and_then(dates::local_date_of);
        let text = match current {
            Some(date) => format!("{} 📆", date.format("%Y-%m-%d")),
            None => "Never 📆".to_string(),
        };
        let control = Control {
            id: id.with("expiry"),
            hover: EXPIRES_HOVER,
            name: &|| format!("Expires: {}", row.key),
            open: self.calendar_key.as_deref() == Some(row.key.as_str()),
        };
        let button = self.button(ui, cell.left_center(), text, false, &control);
        if button.clicked() {
            actions.push(RowAction::OpenCalendar {
                key: row.key.clone(),
                current,
                button: button.id,
                keyboard: button.has_focus(),
            });
        }
        if current.is_none() {
            return button.rect;
        }
        let gap = ui.spacing().item_spacing.x;
        let mut x = button.rect.right() + gap;
        if row.expired {
            let color = ui.visuals().error_fg_color;
            let rect = self.text(
                Rect::from_x_y_ranges(egui::Rangef::new(x, cell.right()), cell.y_range()),
                "expired",
                &self.body,
                color,
            );
            ui.interact(rect, id.with("expired"), Sense::hover())
                .on_hover_text("Sharing has expired: the flags count as revoked")
                .widget_info(|| {
                    WidgetInfo::labeled(egui::Role::Label, true, format!("Expired: {}", row.key))
                });
            x = rect.right() + gap;
        }
        let control = Control {
            id: id.with("clear"),
            hover: "Clear the expiry",
            name: &|| format!("Clear expiry: {}", row.key),
            open: false,
        };
        let clear = self.button(
            ui,
            pos2(x, cell.center().y),
            "✖".to_string(),
            true,
            &control,
        );
        if clear.clicked() {
            actions.push(RowAction::Permission(
                row.key.clone(),
                PermissionChange {
                    expires_at: Some(None),
                    ..PermissionChange::default()
                },
            ));
        }
        button.rect
    }

    /// A button drawn as egui draws one (`small`: no vertical padding),
    /// with its left edge centred on `left_center`.
    fn button(
        &self,
        ui: &mut egui::Ui,
        left_center: Pos2,
        text: String,
        small: bool,
        control: &Control<'_>,
    ) -> egui::Response {
        let galley = self
            .painter
            .layout_no_wrap(text, self.body.clone(), Color32::PLACEHOLDER);
        let spacing = ui.spacing();
        let padding = if small {
            vec2(spacing.button_padding.x, 0.0)
        } else {
            spacing.button_padding
        };
        let mut size = galley.size() + 2.0 * padding;
        if !small {
            size.y = size.y.max(spacing.interact_size.y);
        }
        let rect = Rect::from_min_size(pos2(left_center.x, left_center.y - size.y / 2.0), size);
        let response = control.interact(ui, rect);
        response.widget_info(|| WidgetInfo::labeled(egui::Role::Button, true, (control.name)()));
        let visuals = if control.open {
            ui.visuals().widgets.open
        } else {
            *ui.style().interact(&response)
        };
        self.painter.rect(
            rect.expand(visuals.expansion),
            visuals.corner_radius,
            visuals.weak_bg_fill,
            visuals.bg_stroke,
            StrokeKind::Inside,
        );
        let pos = rect.center() - galley.size() / 2.0;
        self.painter.galley(pos, galley, visuals.text_color());
        response
    }
}

/// Whether the `index`th row has the stripe: every other one, from the
/// first, as egui_extras's tables.
fn is_striped(index: usize) -> bool {
    index.is_multiple_of(2)
}
