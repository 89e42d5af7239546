//! The calendar that sets a grid row's expiry. The row's expiry cell is
//! painted, not a widget tree (see [`crate::ui::grid_row`]); clicking it
//! opens this popup, one per grid, kept in egui's memory until it is saved
//! or dismissed. The chosen day ends at 23:59:59 local time.

use chrono::{Datelike, Months, NaiveDate};

/// The popup's width.
const WIDTH: f32 = 250.0;
/// A day button's size.
const DAY: egui::Vec2 = egui::vec2(30.0, 22.0);

/// The open calendar of one grid.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpiryCalendar {
    /// The object whose expiry is being set.
    pub key: String,
    /// The first day of the month shown.
    month: NaiveDate,
    /// The day chosen so far.
    pub chosen: NaiveDate,
    /// That button, which gets the keyboard focus back when the calendar
    /// closes if it had it when the calendar opened.
    button: egui::Id,
    /// Opened from the keyboard: the focus moves to the chosen day (the
    /// calendar comes after every row in the Tab order).
    keyboard: bool,
    /// The focus still has to move into the calendar.
    focus_pending: bool,
}

/// What the user did with the calendar this frame.
#[derive(Clone, Debug, PartialEq)]
pub enum CalendarOutcome {
    /// Still choosing.
    Open,
    /// Saved: sharing ends at the end of this day.
    Save(NaiveDate),
    /// Closed without a change.
    Dismissed,
}

impl ExpiryCalendar {
    /// A calendar for `key` showing the month of `current` (or of today),
    /// opened by the button `button`, which had the keyboard focus when it
    /// was clicked if `keyboard`.
    pub fn open(key: &str, current: Option<NaiveDate>, button: egui::Id, keyboard: bool) -> Self {
        let chosen = current.unwrap_or_else(crate::ui::dates::today);
        ExpiryCalendar {
            key: key.to_string(),
            month: first_of_month(chosen),
            chosen,
            button,
            keyboard,
            focus_pending: keyboard,
        }
    }

    /// Shows the popup with the egui id `id` under `anchor`, its button
    /// (from the pass after the one it opened in, so the opening click is
    /// not a click elsewhere).
    pub fn ui(&mut self, ctx: &egui::Context, id: egui::Id, anchor: egui::Rect) -> CalendarOutcome {
        let mut outcome = CalendarOutcome::Open;
        let mut pos = anchor.left_bottom();
        let screen = ctx.content_rect();
        if pos.x + WIDTH + 20.0 > screen.right() {
            pos.x = (anchor.right() - WIDTH - 20.0).max(screen.left());
        }
        let area = egui::Area::new(id)
            .kind(egui::UiKind::Picker)
            .order(egui::Order::Foreground)
            .fixed_pos(pos)
            .show(ctx, |ui| {
                egui::Frame::popup(ui.style()).show(ui, |ui| {
                    ui.set_width(WIDTH);
                    outcome = self.contents_ui(ui, id);
                });
            });
        if outcome == CalendarOutcome::Open
            // Consumed: Escape closes the calendar, not the Settings modal
            // around it as well.
            && (ctx.input_mut(|i| i.consume_key(egui::Modifiers::NONE, egui::Key::Escape))
                || area.response.clicked_elsewhere())
        {
            outcome = CalendarOutcome::Dismissed;
        }
        if outcome != CalendarOutcome::Open && self.keyboard {
            ctx.memory_mut(|m| m.request_focus(self.button));
        }
        outcome
    }

    fn contents_ui(&mut self, ui: &mut egui::Ui, id: egui::Id) -> CalendarOutcome {
        let mut outcome = CalendarOutcome::Open;
        ui.label(egui::RichText::new(format!("Sharing of {} ends", self.key)).weak());
        ui.horizontal(|ui| {
            let steps: [(&str, &str, i32); 2] =
                [("⏪", "Previous year", -12), ("⏴", "Previous month", -1)];
            for (text, hover, months) in steps {
                if ui.button(text).on_hover_text(hover).clicked() {
                    self.month = add_months(self.month, months);
                }
            }
            ui.add_sized(
                egui::vec2(110.0, ui.spacing().interact_size.y),
                egui::Label::new(
                    egui::RichText::new(self.month.format("%B %Y").to_string()).strong(),
                ),
            );
            let steps: [(&str, &str, i32); 2] = [("⏵", "Next month", 1), ("⏩", "Next year", 12)];
            for (text, hover, months) in steps {
                if ui.button(text).on_hover_text(hover).clicked() {
                    self.month = add_months(self.month, months);
                }
            }
        });
        let today = crate::ui::dates::today();
        egui::Grid::new(id.with("days"))
            .spacing(egui::vec2(2.0, 2.0))
            .show(ui, |ui| {
                for weekday in ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"] {
                    ui.add_sized(DAY, egui::Label::new(egui::RichText::new(weekday).weak()));
                }
                ui.end_row();
                let (blanks, days) = month_shape(self.month);
                for _ in 0..blanks {
                    ui.allocate_space(DAY);
                }
                let mut column = blanks;
                for day in 1..=days {
                    let Some(date) = self.month.with_day(day) else {
                        continue;
                    };
                    let mut text = egui::RichText::new(day.to_string());
                    if date == today {
                        text = text.strong().underline();
                    }
                    let response =
                        ui.add_sized(DAY, egui::Button::selectable(date == self.chosen, text));
                    if self.focus_pending && date == self.chosen {
                        response.request_focus();
                        self.focus_pending = false;
                    }
                    if response.clicked() {
                        self.chosen = date;
                    }
                    if response.double_clicked() {
                        outcome = CalendarOutcome::Save(date);
                    }
                    column += 1;
                    if column == 7 {
                        ui.end_row();
                        column = 0;
                    }
                }
            });
        ui.label(format!(
            "Ends {} at 23:59:59",
            self.chosen.format("%a %-d %B %Y")
        ));
        if self.chosen < today {
            ui.colored_label(
                ui.visuals().warn_fg_color,
                "That day has passed: the sharing counts as revoked at once.",
            );
        }
        ui.horizontal(|ui| {
            if ui.button("Save").clicked() {
                outcome = CalendarOutcome::Save(self.chosen);
            }
            if ui.button("Cancel").clicked() {
                outcome = CalendarOutcome::Dismissed;
            }
        });
        outcome
    }
}

/// The first day of `date`'s month.
fn first_of_month(date: NaiveDate) -> NaiveDate {
    date.with_day(1).unwrap_or(date)
}

/// The first of the month `months` after (or before) `first`; `first`
/// itself past the calendar's ends.
fn add_months(first: NaiveDate, months: i32) -> NaiveDate {
    let step = Months::new(months.unsigned_abs());
    let moved = if months < 0 {
        first.checked_sub_months(step)
    } else {
        first.checked_add_months(step)
    };
    moved.unwrap_or(first)
}

/// How a month sits in a Monday-first week grid: the blank days before its
/// first, and its number of days.
fn month_shape(first: NaiveDate) -> (u32, u32) {
    let blanks = first.weekday().num_days_from_monday();
    let days = add_months(first, 1).signed_duration_since(first).num_days();
    (blanks, u32::try_from(days).unwrap_or(31))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn months_sit_in_monday_first_weeks() {
        // 1 November 2026 is a Sunday; February 2028 is a leap month
        // starting on a Tuesday.
        assert_eq!(month_shape(date(2026, 11, 1)), (6, 30));
        assert_eq!(month_shape(date(2028, 2, 1)), (1, 29));
        assert_eq!(month_shape(date(2027, 2, 1)), (0, 28));
    }

    #[test]
    fn month_steps_cross_years() {
        assert_eq!(add_months(date(2026, 12, 1), 1), date(2027, 1, 1));
        assert_eq!(add_months(date(2026, 1, 1), -1), date(2025, 12, 1));
        assert_eq!(add_months(date(2026, 3, 1), -12), date(2025, 3, 1));
        assert_eq!(first_of_month(date(2026, 3, 31)), date(2026, 3, 1));
    }
}
