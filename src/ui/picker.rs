//! The vault picker: a typed path or the native folder dialog, the recent
//! vaults, what the chosen folder holds, and "Open sample vault".

use std::path::PathBuf;

use crossbeam_channel::{Receiver, bounded};

use crate::vault::directory_info::{VaultInfo, check_directory_info};

/// What the user chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PickerAction {
    /// Open this vault.
    Open(PathBuf),
    /// Make this folder a vault and open it.
    Create(PathBuf),
    /// Copy the sample vault to the data folder and open it.
    OpenSample,
}

/// The picker's state.
#[derive(Debug, Default)]
pub struct PickerState {
    /// The typed (or chosen) folder.
    pub path_text: String,
    /// Recent vaults.
    pub recent: Vec<String>,
    /// What the folder holds, once looked at.
    pub info: Option<Result<VaultInfo, String>>,
    info_for: String,
    info_rx: Option<Receiver<(String, Result<VaultInfo, String>)>>,
    dialog_rx: Option<Receiver<DialogOutcome>>,
    /// A one-line notice (no dialog available, ...).
    pub notice: Option<String>,
}

enum DialogOutcome {
    Chosen(PathBuf),
    Cancelled,
    Unavailable,
}

impl std::fmt::Debug for DialogOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DialogOutcome")
    }
}

impl PickerState {
    /// A picker listing `recent` vaults.
    pub fn new(recent: Vec<String>) -> Self {
        PickerState {
            recent,
            ..PickerState::default()
        }
    }

    /// Takes in background results. Never blocks.
    pub fn logic(&mut self, ctx: &egui::Context) {
        if let Some(rx) = &self.dialog_rx
            && let Ok(outcome) = rx.try_recv()
        {
            self.dialog_rx = None;
            match outcome {
                DialogOutcome::Chosen(path) => self.path_text = path.display().to_string(),
                DialogOutcome::Cancelled => {}
                DialogOutcome::Unavailable => {
                    self.notice = Some(
                            "No folder dialog is available here (no desktop portal or zenity): type the path instead."
                                .into(),
                        );
                }
            }
        }
        if let Some(rx) = &self.info_rx
            && let Ok((path, info)) = rx.try_recv()
        {
            self.info_rx = None;
            if path == self.path_text.trim() {
                self.info = Some(info);
                self.info_for = path;
            }
        }
        // Look at the folder whenever the typed path changes (off the UI thread:
        // counting objects reads files).
        let path = self.path_text.trim().to_string();
        if !path.is_empty() && path != self.info_for && self.info_rx.is_none() {
            self.info = None;
            self.info_for = path.clone();
            let (tx, rx) = bounded(1);
            self.info_rx = Some(rx);
            let ctx = ctx.clone();
            let spawned = std::thread::Builder::new()
                .name("me-nexus-folder-info".into())
                .spawn(move || {
                    let info =
                        check_directory_info(&PathBuf::from(&path)).map_err(|e| e.to_string());
                    let _ = tx.send((path, info));
                    ctx.request_repaint();
                });
            if let Err(e) = spawned {
                self.info = Some(Err(format!("cannot look at the folder: {e}")));
                self.info_rx = None;
            }
        }
    }

    fn open_dialog(&mut self, ctx: &egui::Context) {
        let (tx, rx) = bounded(1);
        self.dialog_rx = Some(rx);
        self.notice = None;
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("me-nexus-folder-dialog".into())
            .spawn(move || {
                let outcome = if dialog_available() {
                    match rfd::FileDialog::new()
                        .set_title("Choose a vault folder")
                        .pick_folder()
                    {
                        Some(path) => DialogOutcome::Chosen(path),
                        None => DialogOutcome::Cancelled,
                    }
                } else {
                    DialogOutcome::Unavailable
                };
                let _ = tx.send(outcome);
                ctx.request_repaint();
            });
        if spawned.is_err() {
            self.dialog_rx = None;
            self.notice =
                Some("The folder dialog could not be started: type the path instead.".into());
        }
    }
}

/// Whether a native folder dialog can be shown: rfd uses the desktop portal
/// over D-Bus, with zenity as its fallback.
fn dialog_available() -> bool {
    if cfg!(not(target_os = "linux")) {
        return true;
    }
    let has_bus = std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some();
    let has_zenity = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join("zenity").is_file()));
    has_bus || has_zenity
}

/// Draws the picker; returns what the user chose.
pub fn picker_ui(ui: &mut egui::Ui, state: &mut PickerState) -> Option<PickerAction> {
    let mut action = None;
    ui.vertical_centered(|ui| {
        ui.add_space(24.0);
        ui.heading("Me-Nexus");
        ui.label("Your data as files you own. Choose a vault folder to open or create.");
        ui.add_space(16.0);
    });
    egui::Frame::group(ui.style()).show(ui, |ui| {
        ui.horizontal(|ui| {
            let label = ui.label("Vault folder:");
            let edit = ui
                .add(
                    egui::TextEdit::singleline(&mut state.path_text)
                        .hint_text("/home/you/vault")
                        .desired_width(420.0),
                )
                .labelled_by(label.id);
            let ctx = ui.ctx().clone();
            if ui.button("📂 Choose folder…").clicked() {
                state.open_dialog(&ctx);
            }
            if edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter))
                && let Some(Ok(info)) = &state.info {
                    let path = PathBuf::from(state.path_text.trim());
                    action = Some(if info.is_vault {
                        PickerAction::Open(path)
                    } else {
                        PickerAction::Create(path)
                    });
                }
        });
        if let Some(notice) = &state.notice {
            ui.colored_label(ui.visuals().warn_fg_color, notice);
        }
        ui.add_space(8.0);
        let path = PathBuf::from(state.path_text.trim());
        match &state.info {
            None if state.path_text.trim().is_empty() => {
                ui.label("Type a folder path or choose one.");
            }
            None => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Looking at the folder…");
                });
            }
            Some(Err(e)) => {
                ui.colored_label(ui.visuals().error_fg_color, e);
            }
            Some(Ok(info)) => {
                let yes_no = |b: bool| if b { "yes" } else { "no" };
                ui.label(format!(
                    "Exists: {} · Writable: {} · Already a vault: {} · Files found: {} · Objects found: {}",
                    yes_no(info.exists),
                    yes_no(info.writable),
                    yes_no(info.is_vault),
                    info.files,
                    info.objects
                ));
                ui.horizontal(|ui| {
                    if info.is_vault {
                        if ui.add_enabled(info.writable, egui::Button::new("Open vault")).clicked() {
                            action = Some(PickerAction::Open(path.clone()));
                        }
                    } else {
                        let can_create = info.writable || !info.exists;
                        if ui
                            .add_enabled(can_create, egui::Button::new("Create vault here"))
                            .on_hover_text("Makes this folder a vault and indexes what is already in it")
                            .clicked()
                        {
                            action = Some(PickerAction::Create(path.clone()));
                        }
                    }
                });
            }
        }
    });
    ui.add_space(12.0);
    if ui
        .button("✨ Open sample vault")
        .on_hover_text("Copies a sample vault to your data folder and opens it")
        .clicked()
    {
        action = Some(PickerAction::OpenSample);
    }
    if !state.recent.is_empty() {
        ui.add_space(12.0);
        ui.label(egui::RichText::new("Recent vaults").strong());
        for recent in state.recent.clone() {
            if ui.link(&recent).on_hover_text("Open this vault").clicked() {
                action = Some(PickerAction::Open(PathBuf::from(&recent)));
            }
        }
    }
    action
}
