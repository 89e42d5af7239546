//! The header: the vault path, the sync status, and the main actions.

use crate::sync::SyncState;
use crate::ui::settings::SettingsTab;
use crate::ui::vault_view::VaultView;

/// What the header asks the app to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderAction {
    /// Go back to the picker.
    SwitchVault,
}

/// The sync status in words: "Watching · last sync 12:01:02", "Syncing 3
/// files…", "Error: …".
pub fn status_text(view: &VaultView) -> String {
    if let Some(reason) = &view.read_only {
        return format!("🔒 Read-only, browsing only: {reason}");
    }
    let Some(status) = &view.status else {
        return "Starting…".into();
    };
    let state = match &status.state {
        SyncState::Starting => "Indexing…".to_string(),
        SyncState::Watching => "Watching".to_string(),
        SyncState::Syncing { files: 0 } => "Syncing the whole vault…".to_string(),
        SyncState::Syncing { files } => format!("Syncing {files} files…"),
        SyncState::Paused(reason) => format!("Paused: {reason}"),
        SyncState::Error(e) => format!("Error: {e}"),
    };
    let last = crate::ui::dates::short(&status.stats.last_sync);
    let mut text = format!("{state} · last sync {last}");
    if status.pending > 0 {
        text.push_str(&format!(" · {} pending", status.pending));
    }
    text
}

/// Draws the header.
pub fn header_ui(ui: &mut egui::Ui, view: &mut VaultView) -> Option<HeaderAction> {
    let mut action = None;
    ui.horizontal(|ui| {
        ui.heading("Me-Nexus");
        ui.separator();
        ui.label(egui::RichText::new(view.root.display().to_string()).monospace())
            .on_hover_text("The vault folder");
        ui.separator();
        let busy = view.read_only.is_none()
            && matches!(
                view.status.as_ref().map(|s| &s.state),
                Some(SyncState::Starting | SyncState::Syncing { .. }) | None
            );
        if busy {
            ui.spinner();
        }
        let text = status_text(view);
        let error = matches!(
            view.status.as_ref().map(|s| &s.state),
            Some(SyncState::Error(_))
        );
        if error {
            ui.colored_label(ui.visuals().error_fg_color, text);
        } else {
            ui.label(text);
        }
        ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
            if ui.button("Switch vault…").clicked() {
                action = Some(HeaderAction::SwitchVault);
            }
            if ui.button("⚙ Settings").clicked() {
                view.open_settings(SettingsTab::Permissions);
            }
            if ui
                .button("🔄 Sync now")
                .on_hover_text("Re-read every file in the vault now")
                .clicked()
            {
                view.force_sync();
            }
        });
    });
    if let Some((done, total)) = view.progress
        && total > 0
        && done < total
    {
        #[expect(clippy::cast_precision_loss, reason = "a progress fraction")]
        let fraction = done as f32 / total as f32;
        ui.add(
            egui::ProgressBar::new(fraction)
                .text(format!("Indexing {done} of {total} files"))
                .show_percentage(),
        );
    }
    action
}
