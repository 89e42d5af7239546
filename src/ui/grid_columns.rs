//! The grid's columns: what each shows, how wide it is, and the header that
//! sorts by it and resizes it.
//!
//! The grid paints its rows itself (see [`crate::ui::grid_row`]), so it
//! lays its columns out itself: every row and the header use the same x
//! ranges. Resizable columns are dragged at an edge; their widths are kept
//! in egui's persisted memory, so they survive a restart.

use crate::query::SortColumn;

/// The seed's hover texts.
pub const AI_HOVER: &str = "Allow AI services to read and process this item";
/// The seed's hover texts.
pub const CLOUD_HOVER: &str = "Allow this item to be synced to your cloud account";
/// The seed's hover texts.
pub const READ_ONLY_HOVER: &str = "Prevent accidental modification of this item";
/// Hover text of the expiry column.
pub const EXPIRES_HOVER: &str = "When sharing ends (the end of that day, local time)";

/// The height of a row and of the header.
pub const ROW_HEIGHT: f32 = 24.0;

/// How a column gets its width.
#[derive(Clone, Copy, Debug)]
enum Width {
    /// Dragged by the user, from `initial`, never below `min`.
    Resizable { initial: f32, min: f32 },
    /// As wide as the widest text it has shown, at least `min`: never cut.
    Auto { min: f32 },
    /// Always this wide: the column holds fixed-size controls.
    Fixed(f32),
    /// Whatever the others leave, at least `min`.
    Remainder { min: f32 },
}

/// One column of the grid.
#[derive(Clone, Copy, Debug)]
pub struct ColumnSpec {
    /// Header text.
    pub title: &'static str,
    /// What clicking the header sorts by.
    pub sort: SortColumn,
    /// Header hover text.
    pub hover: &'static str,
    width: Width,
}

/// The number of columns.
pub const COLUMN_COUNT: usize = 9;

/// Column indexes, for the row painter.
pub mod col {
    /// Row id.
    pub const ID: usize = 0;
    /// Schema name.
    pub const SCHEMA: usize = 1;
    /// Title.
    pub const TITLE: usize = 2;
    /// Object key.
    pub const KEY: usize = 3;
    /// Last update.
    pub const UPDATED: usize = 4;
    /// Share with AI.
    pub const AI: usize = 5;
    /// Share with the cloud.
    pub const CLOUD: usize = 6;
    /// Read-only.
    pub const READ_ONLY: usize = 7;
    /// Expiry.
    pub const EXPIRES: usize = 8;
}

/// The grid's columns, left to right.
pub const COLUMNS: [ColumnSpec; COLUMN_COUNT] = [
    ColumnSpec {
        title: "ID",
        sort: SortColumn::Id,
        hover: "Row id",
        width: Width::Auto { min: 40.0 },
    },
    ColumnSpec {
        title: "Schema",
        sort: SortColumn::Schema,
        hover: "Data type",
        width: Width::Resizable {
            initial: 120.0,
            min: 60.0,
        },
    },
    ColumnSpec {
        title: "Title",
        sort: SortColumn::Title,
        hover: "Title or summary",
        width: Width::Remainder { min: 120.0 },
    },
    ColumnSpec {
        title: "File",
        sort: SortColumn::File,
        hover: "Object key: file, and item id",
        width: Width::Resizable {
            initial: 190.0,
            min: 80.0,
        },
    },
    ColumnSpec {
        title: "Updated",
        sort: SortColumn::Updated,
        hover: "Last change",
        width: Width::Auto { min: 100.0 },
    },
    ColumnSpec {
        title: "🧠 AI",
        sort: SortColumn::Ai,
        hover: AI_HOVER,
        width: Width::Fixed(52.0),
    },
    ColumnSpec {
        title: "☁ Sync",
        sort: SortColumn::Cloud,
        hover: CLOUD_HOVER,
        width: Width::Fixed(62.0),
    },
    ColumnSpec {
        title: "🔒 Read-only",
        sort: SortColumn::ReadOnly,
        hover: READ_ONLY_HOVER,
        width: Width::Fixed(96.0),
    },
    ColumnSpec {
        title: "📆 Expires",
        sort: SortColumn::Expires,
        hover: EXPIRES_HOVER,
        width: Width::Fixed(200.0),
    },
];

/// The widths the user dragged to, one per column (only the resizable
/// ones are read).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Widths([f32; COLUMN_COUNT]);

impl Default for Widths {
    fn default() -> Self {
        Widths(COLUMNS.map(|c| match c.width {
            Width::Resizable { initial, .. } => initial,
            Width::Fixed(w) => w,
            Width::Auto { min } | Width::Remainder { min } => min,
        }))
    }
}

/// Where each column is on screen this frame.
#[derive(Clone, Copy, Debug)]
pub struct ColumnLayout {
    /// The x range of each column's cells.
    pub cells: [egui::Rangef; COLUMN_COUNT],
    /// The x range of the whole table.
    pub table: egui::Rangef,
    gap: f32,
}

impl ColumnLayout {
    /// Lays the columns out from `left`, across `width`, with the widths
    /// the user chose for the grid `id`.
    pub fn new(ctx: &egui::Context, id: egui::Id, left: f32, width: f32, gap: f32) -> Self {
        let widths = ctx.data_mut(|d| d.get_persisted::<Widths>(id).unwrap_or_default());
        let mut chosen = [0.0; COLUMN_COUNT];
        let mut others = 0.0;
        for (i, spec) in COLUMNS.iter().enumerate() {
            chosen[i] = match spec.width {
                Width::Resizable { min, .. } | Width::Auto { min } => widths.0[i].max(min),
                Width::Fixed(w) => w,
                Width::Remainder { .. } => 0.0,
            };
            others += chosen[i];
        }
        let gaps = gap * (COLUMN_COUNT - 1) as f32;
        for (i, spec) in COLUMNS.iter().enumerate() {
            if let Width::Remainder { min } = spec.width {
                chosen[i] = (width - others - gaps).max(min);
            }
        }
        let mut cells = [egui::Rangef::new(left, left); COLUMN_COUNT];
        let mut x = left;
        for (cell, w) in cells.iter_mut().zip(chosen) {
            *cell = egui::Rangef::new(x, x + w);
            x += w + gap;
        }
        ColumnLayout {
            cells,
            table: egui::Rangef::new(left, (x - gap).max(left + width)),
            gap,
        }
    }

    /// Whether column `index` grows to fit its text instead of cutting it.
    pub fn is_auto(index: usize) -> bool {
        matches!(COLUMNS[index].width, Width::Auto { .. })
    }

    /// The rectangle of column `index`'s cell in the row spanning `y`.
    pub fn cell(&self, index: usize, y: egui::Rangef) -> egui::Rect {
        egui::Rect::from_x_y_ranges(self.cells[index], y)
    }
}

/// Draws the header row at the top of `ui`: one sortable title per column.
/// Returns the column clicked, if any.
pub fn header_ui(
    ui: &mut egui::Ui,
    layout: &ColumnLayout,
    sorted_by: SortColumn,
    descending: bool,
) -> Option<SortColumn> {
    let (_, rect) = ui.allocate_space(egui::vec2(layout.table.span(), ROW_HEIGHT));
    let mut clicked = None;
    for (i, spec) in COLUMNS.iter().enumerate() {
        let cell = layout.cell(i, rect.y_range());
        let sorted = sorted_by == spec.sort;
        let arrow = match (sorted, descending) {
            (true, false) => " ⏶",
            (true, true) => " ⏷",
            _ => "",
        };
        // A child Ui that does not move the parent's cursor: the header's
        // space is allocated above.
        let mut child = ui.new_child(
            egui::UiBuilder::new()
                .id_salt(("grid-header", i))
                .max_rect(cell)
                .layout(egui::Layout::left_to_right(egui::Align::Center)),
        );
        child.set_clip_rect(cell.intersect(ui.clip_rect()));
        let response = child
            .selectable_label(sorted, format!("{}{arrow}", spec.title))
            .on_hover_text(format!("{} (click to sort)", spec.hover));
        if response.clicked() {
            clicked = Some(spec.sort);
        }
    }
    clicked
}

/// The drag handles of the resizable columns, spanning `y` (header and
/// rows). They sit on the edges of the remainder column (Title): a column
/// left of it is dragged by its right edge, a column right of it by its
/// left edge, so the edge under the pointer is the one that moves and the
/// table keeps its width. A change shows from the next frame on.
pub fn resize_handles_ui(ui: &mut egui::Ui, id: egui::Id, layout: &ColumnLayout, y: egui::Rangef) {
    let remainder = COLUMNS
        .iter()
        .position(|c| matches!(c.width, Width::Remainder { .. }))
        .unwrap_or(COLUMN_COUNT);
    // How much narrower the Title column can get: no column grows past it,
    // so the table never outgrows the window by a drag.
    let slack = match COLUMNS.get(remainder).map(|c| c.width) {
        Some(Width::Remainder { min }) => (layout.cells[remainder].span() - min).max(0.0),
        _ => 0.0,
    };
    let mut widths: Option<Widths> = None;
    for (i, spec) in COLUMNS.iter().enumerate() {
        let Width::Resizable { min, .. } = spec.width else {
            continue;
        };
        let (x, sign) = if i < remainder {
            (layout.cells[i].max + layout.gap / 2.0, 1.0)
        } else {
            (layout.cells[i].min - layout.gap / 2.0, -1.0)
        };
        let rect = egui::Rect::from_x_y_ranges(egui::Rangef::new(x - 3.0, x + 3.0), y);
        let response = ui.interact(rect, id.with(("resize", i)), egui::Sense::drag());
        response.widget_info(|| {
            egui::WidgetInfo::labeled(egui::Role::Splitter, true, format!("Resize {}", spec.title))
        });
        let active = response.dragged() || response.hovered();
        let stroke = if response.dragged() {
            ui.visuals().widgets.active.fg_stroke
        } else if response.hovered() {
            ui.visuals().widgets.hovered.fg_stroke
        } else {
            ui.visuals().widgets.noninteractive.bg_stroke
        };
        let line = if active {
            y
        } else {
            egui::Rangef::new(y.min, y.min + ROW_HEIGHT)
        };
        ui.painter().vline(x, line, stroke);
        if active {
            ui.ctx().set_cursor_icon(egui::CursorIcon::ResizeColumn);
        }
        // The edge follows the pointer (not the sum of its moves, which
        // drifts once a limit is hit), between the column's minimum and
        // what the Title column can give up.
        if let Some(pointer) = response
            .interact_pointer_pos()
            .filter(|_| response.dragged())
        {
            let span = layout.cells[i].span();
            let wanted = span + sign * (pointer.x - x);
            let most = span + slack;
            let new = wanted.min(most).max(min);
            if (new - span).abs() > f32::EPSILON {
                let w = widths.get_or_insert_with(|| {
                    ui.data_mut(|d| d.get_persisted::<Widths>(id).unwrap_or_default())
                });
                w.0[i] = new;
            }
        }
    }
    if let Some(widths) = widths {
        ui.data_mut(|d| d.insert_persisted(id, widths));
        ui.ctx().request_repaint();
    }
}

/// Widens the auto-sized columns of the grid `id` to `needed` (the widest
/// text each showed this frame) where that is wider than they are. They
/// never shrink while scrolling, so the columns do not jitter.
pub fn grow_auto_columns(
    ctx: &egui::Context,
    id: egui::Id,
    layout: &ColumnLayout,
    needed: [f32; COLUMN_COUNT],
) {
    let grows = (0..COLUMN_COUNT)
        .any(|i| ColumnLayout::is_auto(i) && needed[i] > layout.cells[i].span() + 0.5);
    if !grows {
        return;
    }
    ctx.data_mut(|d| {
        let widths = d.get_persisted_mut_or_default::<Widths>(id);
        for (i, need) in needed.into_iter().enumerate() {
            if ColumnLayout::is_auto(i) {
                widths.0[i] = widths.0[i].max(need.ceil());
            }
        }
    });
    ctx.request_repaint();
}
