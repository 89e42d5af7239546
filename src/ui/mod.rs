//! The desktop window (eframe/egui). This is the only module that imports
//! egui, eframe or rfd. It draws from state and sends commands: files and
//! SQLite are touched only by the sync thread and the reader thread.
//!
//! - [`app`]: the eframe app, screens, and the logic/ui split of a frame;
//! - [`picker`]: choosing, creating, or opening the sample vault;
//! - [`vault_view`]: the state of an open vault, fed by the sync service and
//!   the reader thread;
//! - [`header`], [`stats_cards`], [`grid`], [`detail`], [`form`],
//!   [`settings`]: the parts of the main window; the grid's columns, rows
//!   and expiry calendar are in [`grid_columns`], [`grid_row`] and
//!   [`expiry_calendar`];
//! - [`dates`], [`fonts`], [`toasts`]: helpers.

pub mod app;
pub mod dates;
pub mod detail;
pub mod expiry_calendar;
pub mod fonts;
pub mod form;
pub mod grid;
pub mod grid_columns;
pub mod grid_row;
pub mod header;
pub mod headless;
pub mod picker;
pub mod settings;
pub mod stats_cards;
pub mod toasts;
pub mod vault_view;
pub mod window_bench;

pub use app::{AppOptions, MeNexusApp};

/// Opens the window and runs until it is closed.
pub fn run(options: AppOptions) -> Result<(), String> {
    let mut viewport = egui::ViewportBuilder::default()
        .with_title("Me-Nexus")
        .with_app_id("me-nexus")
        .with_inner_size([1280.0, 800.0])
        .with_min_inner_size([760.0, 480.0]);
    match eframe::icon_data::from_png_bytes(include_bytes!("../../assets/icon.png")) {
        Ok(icon) => viewport = viewport.with_icon(icon),
        Err(e) => tracing::warn!("app icon not loaded: {e}"),
    }
    let native = eframe::NativeOptions {
        viewport,
        persist_window: true,
        ..eframe::NativeOptions::default()
    };
    eframe::run_native(
        "me-nexus",
        native,
        Box::new(move |cc| Ok(Box::new(MeNexusApp::new(cc, options)))),
    )
    .map_err(|e| format!("cannot open the window: {e}"))
}
