//! Error and notice messages: each engine error reaches the user exactly
//! once, as a toast, never as a panic.

use std::time::{Duration, Instant};

/// How long a toast stays.
const TOAST_TIME: Duration = Duration::from_secs(8);

/// One message.
#[derive(Debug, Clone)]
pub struct Toast {
    /// The text.
    pub text: String,
    /// Whether it is an error (else a notice).
    pub error: bool,
    shown_at: Instant,
}

/// The messages on screen.
#[derive(Debug, Default)]
pub struct Toasts {
    toasts: Vec<Toast>,
}

impl Toasts {
    /// Adds an error.
    pub fn error(&mut self, text: impl Into<String>) {
        self.push(text.into(), true);
    }

    /// Adds a notice.
    pub fn notice(&mut self, text: impl Into<String>) {
        self.push(text.into(), false);
    }

    fn push(&mut self, text: String, error: bool) {
        self.toasts.push(Toast {
            text,
            error,
            shown_at: Instant::now(),
        });
    }

    /// The messages now on screen.
    pub fn messages(&self) -> impl Iterator<Item = &Toast> {
        self.toasts.iter()
    }

    /// Draws the toasts in the bottom-right corner. Repaints are scheduled
    /// only while a toast is shown, so an idle window stays idle.
    pub fn ui(&mut self, ctx: &egui::Context) {
        self.toasts.retain(|t| t.shown_at.elapsed() < TOAST_TIME);
        if self.toasts.is_empty() {
            return;
        }
        let mut dismiss = None;
        egui::Area::new(egui::Id::unique("toasts"))
            .anchor(egui::Align2::RIGHT_BOTTOM, [-12.0, -12.0])
            .order(egui::Order::Foreground)
            .show(ctx, |ui| {
                for (index, toast) in self.toasts.iter().enumerate() {
                    egui::Frame::popup(ui.style()).show(ui, |ui| {
                        ui.set_max_width(420.0);
                        ui.horizontal(|ui| {
                            let color = if toast.error {
                                ui.visuals().error_fg_color
                            } else {
                                ui.visuals().text_color()
                            };
                            let icon = if toast.error { "⚠" } else { "✔" };
                            ui.colored_label(color, format!("{icon} {}", toast.text));
                            if ui.small_button("✖").on_hover_text("Dismiss").clicked() {
                                dismiss = Some(index);
                            }
                        });
                    });
                }
            });
        if let Some(index) = dismiss {
            self.toasts.remove(index);
        }
        if let Some(oldest) = self.toasts.iter().map(|t| t.shown_at).min() {
            ctx.request_repaint_after(TOAST_TIME.saturating_sub(oldest.elapsed()));
        }
    }
}
