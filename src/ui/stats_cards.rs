//! The stats cards: Total objects, AI shared, Cloud shared, Read-only,
//! Expired, Problems. They update live from the sync service.

use crate::db::stats::PermissionStats;

/// `(caption, value, hover text)` of each card.
pub fn cards(stats: &PermissionStats) -> [(&'static str, i64, &'static str); 6] {
    [
        (
            "Total objects",
            stats.total_objects,
            "Objects indexed from the vault files",
        ),
        ("AI shared", stats.ai_shared, "Objects with the AI flag set"),
        (
            "Cloud shared",
            stats.cloud_shared,
            "Objects with the cloud flag set",
        ),
        (
            "Read-only",
            stats.read_only,
            "Objects protected from modification",
        ),
        (
            "Expired",
            stats.expired,
            "Objects whose sharing has expired (counts as revoked)",
        ),
        (
            "Problems",
            stats.problems,
            "Invalid files and items; see Settings → Problems",
        ),
    ]
}

/// Draws the cards in a row.
pub fn stats_cards_ui(ui: &mut egui::Ui, stats: &PermissionStats) {
    ui.horizontal_wrapped(|ui| {
        for (caption, value, hover) in cards(stats) {
            egui::Frame::group(ui.style())
                .inner_margin(egui::Margin::symmetric(14, 8))
                .show(ui, |ui| {
                    ui.set_min_width(110.0);
                    ui.vertical(|ui| {
                        let warn = caption == "Problems" && value > 0;
                        let mut number = egui::RichText::new(value.to_string()).size(24.0).strong();
                        if warn {
                            number = number.color(ui.visuals().warn_fg_color);
                        }
                        let response = ui.label(number).on_hover_text(hover);
                        // One accessible name per card: "AI shared: 3".
                        response.widget_info(|| {
                            egui::WidgetInfo::labeled(
                                egui::Role::Label,
                                true,
                                format!("{caption}: {value}"),
                            )
                        });
                        ui.label(caption);
                    });
                });
        }
    });
}
