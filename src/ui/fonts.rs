//! Fonts. egui's bundled fonts (compiled into the binary) include an emoji
//! font that covers the icons the window uses (🧠 ☁ 🔒 📆 ⚙ 🔄 ✖ ✔ 🗑), so no
//! system font is needed and no glyph renders as a box.

/// The icons the window uses; a test checks each has a glyph.
pub const ICONS: [char; 12] = [
    '🧠', '☁', '🔒', '📆', '⚙', '🔄', '✖', '✔', '🗑', '📂', '✏', '⚠',
];

/// Installs the fonts on `ctx`.
pub fn install(ctx: &egui::Context) {
    // The defaults are the bundled ones; nothing to add yet. Keeping this
    // hook means a later custom font goes in one place.
    ctx.set_fonts(egui::FontDefinitions::default());
}
