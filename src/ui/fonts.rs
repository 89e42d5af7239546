//! Fonts, all compiled into the binary: egui's bundled fonts (with its
//! monochrome emoji fonts) plus a newer Noto Emoji (assets/fonts/, SIL Open
//! Font License) that covers the emoji egui's lack, such as 🧠. So no glyph
//! the window uses renders as a box, whatever fonts the system has.

use std::sync::Arc;

/// The icons the window uses; a test checks each has a glyph.
pub const ICONS: [char; 20] = [
    '🧠', '☁', '🔒', '📆', '⚙', '🔄', '✖', '✔', '🗑', '📂', '✏', '⚠', '✨', '↺', '⏶', '⏷', '⏪',
    '⏴', '⏵', '⏩',
];

const NOTO_EMOJI: &[u8] = include_bytes!("../../assets/fonts/NotoEmoji-Regular.ttf");

/// The font definitions of the window.
pub fn definitions() -> egui::FontDefinitions {
    let mut fonts = egui::FontDefinitions::default();
    fonts.font_data.insert(
        "noto-emoji".into(),
        Arc::new(egui::FontData::from_static(NOTO_EMOJI)),
    );
    for family in [egui::FontFamily::Proportional, egui::FontFamily::Monospace] {
        // A fallback: text keeps egui's look, missing emoji come from here.
        fonts
            .families
            .entry(family)
            .or_default()
            .push("noto-emoji".into());
    }
    fonts
}

/// Installs the fonts on `ctx`.
pub fn install(ctx: &egui::Context) {
    ctx.set_fonts(definitions());
}
