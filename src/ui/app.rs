//! The eframe app: the picker or an open vault, with a `logic` step that
//! drains background results and a `ui` step that only draws.

use std::path::PathBuf;

use crossbeam_channel::{Receiver, bounded};

use crate::ui::picker::{PickerAction, PickerState, picker_ui};
use crate::ui::toasts::Toasts;
use crate::ui::vault_view::VaultView;
use crate::ui::{detail, grid, header, settings, stats_cards};
use crate::vault::app_config::{AppConfig, config_dir};

/// How the app starts.
#[derive(Debug, Clone, Default)]
pub struct AppOptions {
    /// Open this vault at once (`me-nexus open <VAULT>`).
    pub open: Option<PathBuf>,
    /// Where `app.json` lives (default: the OS config folder, or
    /// `ME_NEXUS_CONFIG_DIR`).
    pub config_dir: Option<PathBuf>,
    /// Where "Open sample vault" copies the sample (default: the OS data
    /// folder, or `ME_NEXUS_DATA_DIR`).
    pub sample_dir: Option<PathBuf>,
    /// Open vaults for browsing only (`me-nexus open --read-only`); a vault
    /// that cannot be written opens this way by itself.
    pub read_only: bool,
}

/// What to do to a folder before opening it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Prepare {
    Nothing,
    Create,
    Sample,
}

enum Screen {
    Picker(PickerState),
    Opening {
        path: PathBuf,
        result: Receiver<Result<VaultView, String>>,
    },
    Vault(Box<VaultView>),
}

/// The Me-Nexus window.
pub struct MeNexusApp {
    options: AppOptions,
    screen: Screen,
    toasts: Toasts,
}

impl std::fmt::Debug for MeNexusApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeNexusApp").finish_non_exhaustive()
    }
}

impl MeNexusApp {
    /// Creates the app; reopens `options.open` or the last vault, else shows
    /// the picker.
    pub fn new(cc: &eframe::CreationContext<'_>, options: AppOptions) -> Self {
        Self::with_context(&cc.egui_ctx, options)
    }

    /// [`MeNexusApp::new`] on a bare egui context, for a harness that runs
    /// frames without a window (the benchmarks).
    pub fn with_context(egui_ctx: &egui::Context, options: AppOptions) -> Self {
        crate::ui::fonts::install(egui_ctx);
        let mut app = MeNexusApp {
            screen: Screen::Picker(PickerState::default()),
            toasts: Toasts::default(),
            options,
        };
        let app_config = app.load_app_config();
        let start = app.options.open.clone().or_else(|| {
            app_config
                .last_vault
                .clone()
                .map(PathBuf::from)
                .filter(|p| crate::vault::Vault::is_vault(p))
        });
        app.screen = Screen::Picker(PickerState::new(app_config.recent_vaults));
        if let Some(path) = start {
            app.start_opening(egui_ctx, path, false);
        }
        app
    }

    /// The open vault, if any.
    pub fn vault_view(&self) -> Option<&VaultView> {
        match &self.screen {
            Screen::Vault(view) => Some(view),
            _ => None,
        }
    }

    /// The open vault, mutably.
    pub fn vault_view_mut(&mut self) -> Option<&mut VaultView> {
        match &mut self.screen {
            Screen::Vault(view) => Some(view),
            _ => None,
        }
    }

    /// Messages on screen (errors and notices).
    pub fn toast_texts(&self) -> Vec<String> {
        let own = self.toasts.messages().map(|t| t.text.clone());
        match &self.screen {
            Screen::Vault(view) => own
                .chain(view.toasts.messages().map(|t| t.text.clone()))
                .collect(),
            _ => own.collect(),
        }
    }

    fn config_dir(&self) -> Option<PathBuf> {
        self.options
            .config_dir
            .clone()
            .or_else(|| config_dir().ok())
    }

    fn load_app_config(&mut self) -> AppConfig {
        let Some(dir) = self.config_dir() else {
            return AppConfig::default();
        };
        AppConfig::load_from(&dir).unwrap_or_else(|e| {
            self.toasts.error(e.to_string());
            AppConfig::default()
        })
    }

    /// Opens (or with `create`, first makes) the vault at `path` on a
    /// background thread; the window shows a spinner meanwhile.
    fn start_opening(&mut self, ctx: &egui::Context, path: PathBuf, create: bool) {
        self.start_opening_with(
            ctx,
            path,
            if create {
                Prepare::Create
            } else {
                Prepare::Nothing
            },
        );
    }

    fn start_opening_with(&mut self, ctx: &egui::Context, path: PathBuf, prepare: Prepare) {
        let (tx, rx) = bounded(1);
        let ctx_thread = ctx.clone();
        let config_dir = self.config_dir();
        let target = path.clone();
        let mode = if self.options.read_only {
            crate::vault::OpenMode::ReadOnly
        } else {
            crate::vault::OpenMode::Auto
        };
        let spawned = std::thread::Builder::new()
            .name("me-nexus-open".into())
            .spawn(move || {
                let result = (|| {
                    let target = match prepare {
                        Prepare::Nothing => target,
                        Prepare::Create => {
                            crate::vault::Vault::init(&target).map_err(|e| e.to_string())?;
                            target
                        }
                        Prepare::Sample => crate::vault::sample::install_sample(&target)
                            .map_err(|e| e.to_string())?,
                    };
                    let view =
                        VaultView::open(&target, &ctx_thread, mode).map_err(|e| e.to_string())?;
                    if let Some(dir) = config_dir {
                        let mut app = AppConfig::load_from(&dir).unwrap_or_default();
                        app.remember(&view.root);
                        if let Err(e) = app.save_to(&dir) {
                            tracing::warn!("could not remember the vault: {e}");
                        }
                    }
                    Ok(view)
                })();
                let _ = tx.send(result);
                ctx_thread.request_repaint();
            });
        match spawned {
            Ok(_) => self.screen = Screen::Opening { path, result: rx },
            Err(e) => self.toasts.error(format!("cannot open the vault: {e}")),
        }
    }

    fn open_sample(&mut self, ctx: &egui::Context) {
        let dir = self
            .options
            .sample_dir
            .clone()
            .or_else(crate::vault::sample::default_sample_dir);
        let Some(dir) = dir else {
            self.toasts
                .error("no data folder for the sample vault (set ME_NEXUS_DATA_DIR)");
            return;
        };
        self.start_opening_with(ctx, dir, Prepare::Sample);
    }

    fn show_picker(&mut self) {
        let recent = self.load_app_config().recent_vaults;
        self.screen = Screen::Picker(PickerState::new(recent));
    }
}

impl eframe::App for MeNexusApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.logic_step(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.draw(ui);
    }
}

impl MeNexusApp {
    /// Drains what the background threads sent. Never blocks.
    pub fn logic_step(&mut self, ctx: &egui::Context) {
        let mut opened = None;
        match &mut self.screen {
            Screen::Picker(picker) => picker.logic(ctx),
            Screen::Opening { result, .. } => {
                if let Ok(outcome) = result.try_recv() {
                    opened = Some(outcome);
                }
            }
            Screen::Vault(view) => view.logic(),
        }
        if let Some(outcome) = opened {
            match outcome {
                Ok(view) => {
                    ctx.send_viewport_cmd(egui::ViewportCommand::Title(format!(
                        "Me-Nexus — {}",
                        view.name
                    )));
                    self.screen = Screen::Vault(Box::new(view));
                }
                Err(e) => {
                    self.toasts.error(e);
                    self.show_picker();
                }
            }
        }
    }

    /// Draws one frame from the state.
    pub fn draw(&mut self, ui: &mut egui::Ui) {
        let ctx = ui.ctx().clone();
        let mut picker_action = None;
        let mut header_action = None;
        match &mut self.screen {
            Screen::Picker(picker) => {
                egui::CentralPanel::default_margins().show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        picker_action = picker_ui(ui, picker);
                    });
                });
            }
            Screen::Opening { path, .. } => {
                let text = format!("Opening {}…", path.display());
                egui::CentralPanel::default_margins().show(ui, |ui| {
                    ui.horizontal(|ui| {
                        ui.spinner();
                        ui.label(text);
                    });
                });
            }
            Screen::Vault(view) => {
                keyboard(ui, view);
                egui::Panel::top("header").show(ui, |ui| {
                    header_action = header::header_ui(ui, view);
                });
                egui::Panel::top("stats").show(ui, |ui| {
                    stats_cards::stats_cards_ui(ui, &view.stats);
                });
                egui::Panel::right("detail")
                    .resizable(true)
                    .default_size(380.0)
                    .show(ui, |ui| {
                        egui::ScrollArea::vertical()
                            .id_salt("detail-scroll")
                            .show(ui, |ui| {
                                detail::detail_ui(ui, view);
                            });
                    });
                egui::CentralPanel::default_margins().show(ui, |ui| {
                    // While the settings modal shows its own filter and grid,
                    // the main ones step aside (one filter, one grid at a time).
                    if view.settings.is_none() {
                        grid::filters_ui(ui, view, "main-grid");
                        new_todo_ui(ui, view);
                        ui.separator();
                        grid::object_grid_ui(ui, view, "main-grid");
                    }
                });
                settings::settings_ui(&ctx, view);
                confirm_delete_ui(&ctx, view);
                view.toasts.ui(&ctx);
            }
        }
        self.toasts.ui(&ctx);
        match picker_action {
            Some(PickerAction::Open(path)) => self.start_opening(&ctx, path, false),
            Some(PickerAction::Create(path)) => self.start_opening(&ctx, path, true),
            Some(PickerAction::OpenSample) => self.open_sample(&ctx),
            None => {}
        }
        if header_action == Some(header::HeaderAction::SwitchVault) {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title("Me-Nexus".into()));
            self.show_picker();
        }
    }
}

/// Ctrl+F focuses the filter; the arrow keys move the selection when no
/// text field has focus.
fn keyboard(ui: &mut egui::Ui, view: &mut VaultView) {
    let (find, down, up) = ui.input(|i| {
        (
            i.modifiers.command && i.key_pressed(egui::Key::F),
            i.key_pressed(egui::Key::ArrowDown),
            i.key_pressed(egui::Key::ArrowUp),
        )
    });
    if find {
        ui.memory_mut(|m| m.request_focus(grid::filter_id("main-grid")));
    }
    let typing = ui.memory(|m| m.focused()).is_some() && ui.ctx().egui_wants_keyboard_input();
    if !typing {
        if down {
            view.move_selection(1);
        } else if up {
            view.move_selection(-1);
        }
    }
}

fn new_todo_ui(ui: &mut egui::Ui, view: &mut VaultView) {
    ui.horizontal(|ui| {
        let label = ui.label("New todo:");
        let edit = ui
            .add(
                egui::TextEdit::singleline(&mut view.new_todo)
                    .hint_text("What to do")
                    .desired_width(260.0),
            )
            .labelled_by(label.id);
        let submit = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
        let text = view.new_todo.trim().to_string();
        if (ui
            .add_enabled(!text.is_empty(), egui::Button::new("+ Add todo"))
            .clicked()
            || submit)
            && !text.is_empty()
        {
            view.save(
                "core.todo",
                serde_json::json!({"text": text, "completed": false}),
                None,
                false,
            );
            view.new_todo.clear();
        }
    });
}

fn confirm_delete_ui(ctx: &egui::Context, view: &mut VaultView) {
    let Some(key) = view.pending_delete.clone() else {
        return;
    };
    egui::Modal::new(egui::Id::unique("confirm-delete")).show(ctx, |ui| {
        ui.label(format!("Delete {key}? A copy is kept in .nexus/trash/."));
        ui.horizontal(|ui| {
            if ui.button("🗑 Delete").clicked() {
                view.delete(&key);
                view.pending_delete = None;
            }
            if ui.button("Cancel").clicked() {
                view.pending_delete = None;
            }
        });
    });
}
