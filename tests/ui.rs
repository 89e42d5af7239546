//! Tests of the real desktop app, driven headless with egui_kittest on
//! temporary vaults. Each waits for the background threads by stepping the
//! harness until a condition holds, with a deadline.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::TestVault;
use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use me_nexus::ui::{AppOptions, MeNexusApp};

const DEADLINE: Duration = Duration::from_secs(30);

fn harness(options: AppOptions) -> Harness<'static, MeNexusApp> {
    Harness::builder()
        .with_size([1500.0, 950.0])
        .build_eframe(move |cc| MeNexusApp::new(cc, options))
}

/// Steps the app until `condition` holds; fails after the deadline.
fn step_until(
    h: &mut Harness<'static, MeNexusApp>,
    what: &str,
    mut condition: impl FnMut(&mut Harness<'static, MeNexusApp>) -> bool,
) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        h.step();
        if condition(h) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::park_timeout(Duration::from_millis(10));
    }
}

/// Moves the pointer onto the widget, lets the hover settle for a frame, then
/// clicks: what a mouse does.
fn click(h: &mut Harness<'static, MeNexusApp>, label: &str) {
    h.get_by_label(label).hover();
    h.step();
    h.step();
    h.get_by_label(label).click();
    h.step();
}

fn has_label(h: &Harness<'static, MeNexusApp>, label: &str) -> bool {
    h.query_by_label(label).is_some()
}

/// A sample vault opened in the app by its path, with every object loaded.
fn open_sample() -> (TestVault, Harness<'static, MeNexusApp>) {
    let v = TestVault::sample_initialised();
    let mut h = harness(AppOptions {
        open: Some(v.path().to_path_buf()),
        config_dir: Some(v.config_dir.path().to_path_buf()),
        sample_dir: None,
        read_only: false,
    });
    step_until(&mut h, "the grid shows the sample", |h| {
        has_label(h, "Total objects: 11") && has_label(h, "AI: todos.json#3")
    });
    (v, h)
}

/// The permissions of `key` in the index (an object without a permission
/// row has the defaults).
fn perms_of(v: &TestVault, key: &str) -> (bool, bool, bool, Option<String>) {
    v.db()
        .query_row(
            "SELECT ifnull(p.share_with_ai, 0), ifnull(p.share_with_cloud, 0), ifnull(p.read_only, 0),
               p.expires_at
             FROM data_objects o LEFT JOIN object_permissions p ON p.object_id = o.id
             WHERE o.file_path = ?1",
            [key],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .unwrap()
}

#[test]
fn opens_a_vault_by_typed_path_and_shows_the_stats_cards() {
    let v = TestVault::sample_initialised();
    // A first start: no last vault in the app config.
    let fresh_config = tempfile::tempdir().unwrap();
    let mut h = harness(AppOptions {
        open: None,
        config_dir: Some(fresh_config.path().to_path_buf()),
        sample_dir: None,
        read_only: false,
    });
    h.step();
    h.get_by_label("Vault folder:").click();
    h.step();
    h.get_by_label("Vault folder:").type_text(v.path_str());
    step_until(&mut h, "the folder info and the Open vault button", |h| {
        has_label(h, "Open vault")
    });
    assert!(has_label(
        &h,
        "Exists: yes · Writable: yes · Already a vault: yes · Files found: 8 · Objects found: 11"
    ));
    h.get_by_label("Open vault").click();
    step_until(&mut h, "the stats cards", |h| {
        has_label(h, "Total objects: 11")
    });
    for card in [
        "AI shared: 3",
        "Cloud shared: 2",
        "Read-only: 1",
        "Expired: 1",
        "Problems: 0",
    ] {
        assert!(has_label(&h, card), "card {card}");
    }
    // The vault is remembered for the next start.
    let app: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(v.config_dir.path().join("app.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        app["last_vault"],
        v.path().canonicalize().unwrap().display().to_string()
    );
}

#[test]
fn ticking_the_ai_box_reaches_the_db_permissions_json_and_audit() {
    let (v, mut h) = open_sample();
    assert!(!perms_of(&v, "todos.json#3").0);
    click(&mut h, "AI: todos.json#3");
    // The DB, then permissions.json, then the audit log.
    step_until(
        &mut h,
        "the grant in the DB, permissions.json and the audit log",
        |_| {
            let file: serde_json::Value =
                serde_json::from_str(&v.read(".nexus/permissions.json")).unwrap();
            perms_of(&v, "todos.json#3").0
                && file["object_permissions"]["todos.json#3"]["share_with_ai"] == true
                && v.audit().iter().any(|l| {
                    l["action"] == "permission.changed"
                        && l["key"] == "todos.json#3"
                        && l["details"]["source"] == "app"
                })
        },
    );
    step_until(&mut h, "the AI card follows", |h| {
        has_label(h, "AI shared: 4")
    });
}

#[test]
fn setting_an_expiry_date_stores_the_end_of_that_day_with_an_offset() {
    let (v, mut h) = open_sample();
    h.get_by_label("Expires: todos.json#4").click();
    step_until(&mut h, "the calendar", |h| {
        h.query_by_label("Save").is_some()
    });
    h.get_all_by_label("15").next().unwrap().click();
    h.step();
    h.get_by_label("Save").click();
    step_until(&mut h, "the expiry in the DB and permissions.json", |_| {
        perms_of(&v, "todos.json#4").3.is_some()
            && v.read(".nexus/permissions.json").contains("todos.json#4")
    });
    let expires = perms_of(&v, "todos.json#4").3.unwrap();
    let parsed = chrono::DateTime::parse_from_rfc3339(&expires).unwrap();
    let local = parsed.with_timezone(&chrono::Local);
    assert_eq!(
        local.format("%d %H:%M:%S").to_string(),
        "15 23:59:59",
        "{expires}"
    );
    let file: serde_json::Value = serde_json::from_str(&v.read(".nexus/permissions.json")).unwrap();
    assert_eq!(
        file["object_permissions"]["todos.json#4"]["expires_at"],
        expires.as_str()
    );
    // Clearing it.
    step_until(&mut h, "the clear button", |h| {
        has_label(h, "Clear expiry: todos.json#4")
    });
    h.get_by_label("Clear expiry: todos.json#4").click();
    step_until(&mut h, "the expiry cleared", |_| {
        perms_of(&v, "todos.json#4").3.is_none()
    });
}

#[test]
fn filtering_the_grid_by_text() {
    let (_v, mut h) = open_sample();
    h.get_by_label("Filter:").click();
    h.step();
    h.get_by_label("Filter:").type_text("passport");
    step_until(&mut h, "one matching row", |h| {
        has_label(h, "1 objects")
            && h.state()
                .vault_view()
                .is_some_and(|v| v.grid.total() == Some(1))
            && has_label(h, "AI: todos.json#3")
    });
    assert!(!has_label(&h, "AI: todos.json#1"));
}

#[test]
fn a_file_changed_on_disk_shows_up_in_the_grid() {
    let (v, mut h) = open_sample();
    let mut todos: serde_json::Value = serde_json::from_str(&v.read("todos.json")).unwrap();
    todos["data"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"id": 9, "text": "Written by another program"}));
    std::fs::write(
        v.abs("todos.json"),
        serde_json::to_string_pretty(&todos).unwrap(),
    )
    .unwrap();
    step_until(&mut h, "the new row and card", |h| {
        has_label(h, "AI: todos.json#9") && has_label(h, "Total objects: 12")
    });
    // The row reads out its title (the cells are painted, the row is the
    // node).
    assert!(
        h.query_by_label_contains("Written by another program")
            .is_some()
    );
}

#[test]
fn a_read_only_object_refuses_edits() {
    let (v, mut h) = open_sample();
    let before = v.read("plugins/journal/entries.json");
    h.get_by_label("plugins/journal/entries.json#1").click();
    step_until(&mut h, "the detail panel", |h| {
        has_label(h, "🔒 Read-only: this object cannot be edited or deleted")
    });
    assert!(h.get_by_label("✏ Edit").accesskit_node().is_disabled());
    assert!(h.get_by_label("🗑 Delete").accesskit_node().is_disabled());
    // Clicking the disabled button does nothing.
    h.get_by_label("✏ Edit").click();
    h.step();
    assert!(h.state().vault_view().unwrap().editor.is_none());
    assert_eq!(v.read("plugins/journal/entries.json"), before);
}

#[test]
fn a_todo_is_edited_through_the_schema_form_and_checked_off() {
    let (v, mut h) = open_sample();
    h.get_by_label("todos.json#4").click();
    step_until(&mut h, "the detail", |h| has_label(h, "✏ Edit"));
    click(&mut h, "Done");
    step_until(&mut h, "the todo is done in the file", |_| {
        v.read("todos.json")
            .contains("\"completed\": true,\n      \"priority\": \"low\"")
    });
    step_until(&mut h, "the edit button", |h| {
        h.query_by_label("✏ Edit")
            .is_some_and(|n| !n.accesskit_node().is_disabled())
    });
    h.get_by_label("✏ Edit").click();
    step_until(&mut h, "the form", |h| has_label(h, "text *"));
    h.get_by_label("text *").click();
    h.step();
    h.key_press(egui::Key::End);
    h.step();
    h.get_by_label("text *").type_text(" soon");
    h.step();
    h.get_by_label("✔ Save").click();
    step_until(&mut h, "the file has the new text", |_| {
        v.read("todos.json").contains("Plan the summer trip soon")
    });
}

#[test]
fn todos_are_added_from_the_window() {
    let (v, mut h) = open_sample();
    h.get_by_label("New todo:").click();
    h.step();
    h.get_by_label("New todo:").type_text("Water the plants");
    h.step();
    h.get_by_label("+ Add todo").click();
    step_until(&mut h, "the new todo in the file and the grid", |h| {
        v.read("todos.json").contains("Water the plants") && has_label(h, "AI: todos.json#5")
    });
}

#[test]
fn the_icons_have_glyphs_in_the_bundled_fonts() {
    let (_v, h) = open_sample();
    let ctx = h.ctx.clone();
    for icon in me_nexus::ui::fonts::ICONS {
        let has = ctx.fonts_mut(|f| f.has_glyph(&egui::FontId::proportional(14.0), icon));
        assert!(has, "no glyph for {icon:?}");
    }
}

#[test]
fn the_sample_vault_opens_in_one_click() {
    let config = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let sample_dir = data.path().join("sample-vault");
    let mut h = harness(AppOptions {
        open: None,
        config_dir: Some(config.path().to_path_buf()),
        sample_dir: Some(sample_dir.clone()),
        read_only: false,
    });
    h.step();
    h.get_by_label("✨ Open sample vault").click();
    step_until(&mut h, "the sample's objects", |h| {
        has_label(h, "Total objects: 11")
            && has_label(h, "Expired: 1")
            && has_label(h, "Read-only: 1")
    });
    assert!(sample_dir.join("todos.json").is_file());
    assert!(sample_dir.join(".nexus/vault.sqlite").is_file());
}

#[test]
fn the_last_vault_reopens_at_the_next_start() {
    // `init` records the vault as the last one in this config folder.
    let v = TestVault::sample_initialised();
    let mut h = harness(AppOptions {
        open: None,
        config_dir: Some(v.config_dir.path().to_path_buf()),
        sample_dir: None,
        read_only: false,
    });
    step_until(&mut h, "the last vault, without the picker", |h| {
        has_label(h, "Total objects: 11")
    });
    assert!(h.query_by_label("Vault folder:").is_none());
}

#[test]
fn a_todo_is_deleted_after_confirmation() {
    let (v, mut h) = open_sample();
    h.get_by_label("todos.json#4").click();
    step_until(&mut h, "the detail", |h| has_label(h, "🗑 Delete"));
    click(&mut h, "🗑 Delete");
    step_until(&mut h, "the confirmation", |h| {
        has_label(h, "Delete todos.json#4? A copy is kept in .nexus/trash/.")
    });
    // The modal's button is the last one with that name.
    h.get_all_by_label("🗑 Delete").last().unwrap().hover();
    h.step();
    h.step();
    h.get_all_by_label("🗑 Delete").last().unwrap().click();
    step_until(&mut h, "the todo is gone from file, DB and grid", |h| {
        !v.read("todos.json").contains("Plan the summer trip")
            && !v.keys().contains(&"todos.json#4".to_string())
            && !has_label(h, "AI: todos.json#4")
    });
}

#[test]
fn settings_bulk_action_on_filtered_rows_with_confirmation() {
    let (v, mut h) = open_sample();
    click(&mut h, "⚙ Settings");
    step_until(&mut h, "the settings modal", |h| {
        has_label(h, "🔒 Make read-only")
    });
    // Filter to the todos, then make them all read-only.
    // The main filter steps aside while the modal shows its own.
    assert_eq!(h.get_all_by_label("Filter:").count(), 1);
    click(&mut h, "Filter:");
    h.get_by_label("Filter:").type_text("todos.json");
    step_until(&mut h, "4 filtered rows", |h| {
        h.state()
            .vault_view()
            .is_some_and(|v| v.grid.total() == Some(4))
    });
    click(&mut h, "🔒 Make read-only");
    step_until(&mut h, "the confirmation", |h| {
        has_label(h, "🔒 Make read-only for 4 objects?")
    });
    click(&mut h, "Confirm");
    step_until(
        &mut h,
        "4 todos read-only in the DB and permissions.json",
        |_| {
            let file = v.read(".nexus/permissions.json");
            (1..=4).all(|i| {
                perms_of(&v, &format!("todos.json#{i}")).2
                    && file.contains(&format!("todos.json#{i}"))
            })
        },
    );
    assert!(
        !perms_of(&v, "notes/reading-list.md").2,
        "rows outside the filter are untouched"
    );
    // The other tabs.
    click(&mut h, "Audit");
    step_until(&mut h, "the audit view", |h| {
        h.query_by_label_contains("entries in .nexus/logs/audit.jsonl")
            .is_some()
    });
    click(&mut h, "Problems (0)");
    step_until(&mut h, "the problems view", |h| {
        has_label(
            h,
            "✔ No problems: every file in the vault was indexed cleanly.",
        )
    });
    click(&mut h, "Close");
    step_until(&mut h, "the modal closed", |h| {
        !has_label(h, "🔒 Make read-only")
    });
}

#[test]
fn a_conflict_is_listed_and_restored_from_the_window() {
    let v = TestVault::sample_initialised();
    // Another program edits todos.json#1 (a minute ago); the app, not yet
    // synced, saves its own version: the app's newer version wins.
    let edited = v
        .read("todos.json")
        .replace("Complete project documentation", "Edited elsewhere");
    std::fs::write(v.abs("todos.json"), edited).unwrap();
    std::fs::File::options()
        .write(true)
        .open(v.abs("todos.json"))
        .unwrap()
        .set_modified(std::time::SystemTime::now() - Duration::from_secs(60))
        .unwrap();
    let mut engine = me_nexus::Engine::open(v.path()).unwrap();
    engine
        .save_object(
            "core.todo",
            serde_json::json!({"text": "Edited in the app", "completed": false}),
            Some("todos.json#1"),
            me_nexus::audit::Source::Cli,
        )
        .unwrap();
    drop(engine);
    let (_, mut h) = {
        let mut h = harness(AppOptions {
            open: Some(v.path().to_path_buf()),
            config_dir: Some(v.config_dir.path().to_path_buf()),
            sample_dir: None,
            read_only: false,
        });
        step_until(&mut h, "the vault", |h| has_label(h, "Problems: 1"));
        ((), h)
    };
    click(&mut h, "⚙ Settings");
    step_until(&mut h, "the settings", |h| has_label(h, "Problems (1)"));
    click(&mut h, "Problems (1)");
    step_until(&mut h, "the conflict", |h| {
        has_label(h, "Restore conflict 1")
    });
    click(&mut h, "Restore conflict 1");
    step_until(&mut h, "the other program's version is back", |_| {
        v.read("todos.json").contains("Edited elsewhere")
    });
    step_until(&mut h, "no problems left", |h| has_label(h, "Problems: 0"));
}

#[test]
fn a_read_only_vault_opens_for_browsing_and_refuses_changes_with_a_notice() {
    let v = TestVault::sample_initialised();
    let before_todos = v.read("todos.json");
    let before_perms = v.read(".nexus/permissions.json");
    let mut h = harness(AppOptions {
        open: Some(v.path().to_path_buf()),
        config_dir: Some(v.config_dir.path().to_path_buf()),
        sample_dir: None,
        read_only: true,
    });
    step_until(&mut h, "the grid and the notice", |h| {
        has_label(h, "AI: todos.json#3")
            && h.query_by_label_contains("🔒 Read-only, browsing only")
                .is_some()
    });
    assert!(has_label(&h, "Total objects: 11"));
    click(&mut h, "AI: todos.json#3");
    step_until(&mut h, "one clear message", |h| {
        h.state()
            .toast_texts()
            .iter()
            .any(|t| t.contains("read-only"))
    });
    assert_eq!(v.read("todos.json"), before_todos);
    assert_eq!(v.read(".nexus/permissions.json"), before_perms);
    assert!(!perms_of(&v, "todos.json#3").0);
}

/// A grid far longer than a window: scrolling to its end shows the last
/// rows, fetched by keyset from the page starts the reader walked (the
/// pages in between are never fetched).
#[test]
fn scrolling_a_long_grid_reaches_its_last_rows() {
    let v = TestVault::empty();
    for file in 0..30 {
        let items: Vec<serde_json::Value> = (1..=100)
            .map(|i| serde_json::json!({"id": i, "text": format!("Item {file:02}-{i:03}")}))
            .collect();
        v.write(
            &format!("lists/l{file:02}.json"),
            &serde_json::json!({"schema": "core.todo", "version": "1.0", "data": items})
                .to_string(),
        );
    }
    v.cli_ok(&["init", v.path_str()]);
    let mut h = harness(AppOptions {
        open: Some(v.path().to_path_buf()),
        config_dir: Some(v.config_dir.path().to_path_buf()),
        sample_dir: None,
        read_only: false,
    });
    step_until(&mut h, "the first rows", |h| {
        has_label(h, "3000 objects") && has_label(h, "AI: lists/l00.json#1")
    });
    assert!(!has_label(&h, "AI: lists/l29.json#100"));
    // The mouse over the grid, the wheel turned far down.
    h.input_mut()
        .events
        .push(egui::Event::PointerMoved(egui::pos2(400.0, 600.0)));
    h.step();
    step_until(&mut h, "the last row after scrolling", |h| {
        h.input_mut().events.push(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Page,
            delta: egui::vec2(0.0, -50.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::default(),
        });
        has_label(h, "AI: lists/l29.json#100")
    });
    assert!(!has_label(&h, "AI: lists/l00.json#1"));
}

/// The local date an RFC 3339 expiry falls on, and its time of day.
fn local_day_and_time(expires: &str) -> (chrono::NaiveDate, String) {
    let local = chrono::DateTime::parse_from_rfc3339(expires)
        .unwrap()
        .with_timezone(&chrono::Local);
    (local.date_naive(), local.format("%H:%M:%S").to_string())
}

#[test]
fn the_expiry_calendar_steps_to_the_next_month_and_saves_the_day_chosen() {
    use chrono::Datelike;
    let (v, mut h) = open_sample();
    click(&mut h, "Expires: todos.json#3");
    step_until(&mut h, "the calendar", |h| has_label(h, "Save"));
    click(&mut h, "⏵");
    h.get_all_by_label("1").next().unwrap().click();
    h.step();
    h.get_by_label("Save").click();
    step_until(&mut h, "the expiry in the DB", |_| {
        perms_of(&v, "todos.json#3").3.is_some()
    });
    let today = chrono::Local::now().date_naive();
    let next_month = today
        .with_day(1)
        .unwrap()
        .checked_add_months(chrono::Months::new(1))
        .unwrap();
    let expires = perms_of(&v, "todos.json#3").3.unwrap();
    assert_eq!(
        local_day_and_time(&expires),
        (next_month, "23:59:59".to_string()),
        "{expires}"
    );
    step_until(
        &mut h,
        "the calendar closed, the row showing the day",
        |h| !has_label(h, "Save") && has_label(h, "Clear expiry: todos.json#3"),
    );
}

#[test]
fn escape_closes_the_expiry_calendar_without_a_change() {
    let (v, mut h) = open_sample();
    click(&mut h, "Expires: todos.json#3");
    step_until(&mut h, "the calendar", |h| has_label(h, "Save"));
    h.get_all_by_label("15").next().unwrap().click();
    h.step();
    h.key_press(egui::Key::Escape);
    step_until(&mut h, "the calendar closed", |h| !has_label(h, "Save"));
    // A change made after it goes through the same queue: once it has
    // landed, a save of the calendar would have too.
    click(&mut h, "AI: todos.json#3");
    step_until(&mut h, "the AI flag in the DB", |_| {
        perms_of(&v, "todos.json#3").0
    });
    assert_eq!(perms_of(&v, "todos.json#3").3, None);
    assert!(!has_label(&h, "Clear expiry: todos.json#3"));
}

/// Drags the edge between the Title and File columns `by` points to the
/// left, in `steps` equal moves, as a mouse does: hover, press, move,
/// release.
fn drag_title_file_edge_left(h: &mut Harness<'static, MeNexusApp>, by: f32, steps: u16) {
    let start = h.get_by_label("Resize File").rect().center();
    h.hover_at(start);
    h.step();
    h.drag_at(start);
    h.step();
    for step in 1..=steps {
        h.hover_at(start - egui::vec2(by * f32::from(step) / f32::from(steps), 0.0));
        h.step();
    }
    h.drop_at(start - egui::vec2(by, 0.0));
    h.step();
    h.step();
}

#[test]
fn dragging_a_column_edge_resizes_the_column_in_the_header_and_the_rows() {
    let (_v, mut h) = open_sample();
    // The auto-sized columns fit their text a frame after the rows show.
    h.step();
    h.step();
    let header = h.get_by_label("File").rect();
    let key = h.get_by_label("todos.json#4").rect();
    let updated = h.get_by_label("Updated").rect();
    drag_title_file_edge_left(&mut h, 80.0, 4);
    let moved = |before: egui::Rect, after: egui::Rect| after.left() - before.left();
    let header_moved = moved(header, h.get_by_label("File").rect());
    let key_moved = moved(key, h.get_by_label("todos.json#4").rect());
    assert!(
        (header_moved + 80.0).abs() < 1.5,
        "header moved {header_moved}"
    );
    assert!((key_moved + 80.0).abs() < 1.5, "row cell moved {key_moved}");
    // The columns right of it stay where they were: File grew leftwards.
    let updated_moved = moved(updated, h.get_by_label("Updated").rect());
    assert!(updated_moved.abs() < 0.5, "Updated moved {updated_moved}");
}

#[test]
fn the_expiry_calendar_takes_the_keyboard_focus_and_gives_it_back() {
    use chrono::Datelike;
    let (v, mut h) = open_sample();
    h.get_by_label("Expires: todos.json#3").focus();
    h.step();
    assert!(h.get_by_label("Expires: todos.json#3").is_focused());
    h.key_press(egui::Key::Enter);
    let today = chrono::Local::now().date_naive().day().to_string();
    step_until(&mut h, "the calendar, today's day focused", |h| {
        has_label(h, "Save") && h.get_all_by_label(&today).any(|n| n.is_focused())
    });
    h.key_press(egui::Key::Escape);
    step_until(&mut h, "the calendar closed, the focus back", |h| {
        !has_label(h, "Save") && h.get_by_label("Expires: todos.json#3").is_focused()
    });
    assert_eq!(perms_of(&v, "todos.json#3").3, None);
}

#[test]
fn a_column_cannot_be_dragged_wider_than_the_title_column_can_give() {
    let (_v, mut h) = open_sample();
    h.step();
    h.step();
    let expires = h.get_by_label("📆 Expires").rect();
    drag_title_file_edge_left(&mut h, 2000.0, 5);
    // Title keeps its minimum of 120 points (plus the 8-point gap), and
    // the columns after File stay where they were, inside the window.
    let title = h.get_by_label("Title").rect().left();
    let file = h.get_by_label("File").rect().left();
    assert!(
        file - title >= 127.5,
        "Title is {} wide",
        file - title - 8.0
    );
    assert!(
        file - title <= 129.0,
        "Title is {} wide",
        file - title - 8.0
    );
    let moved = h.get_by_label("📆 Expires").rect().left() - expires.left();
    assert!(moved.abs() < 0.5, "Expires moved {moved}");
}

#[test]
fn a_narrow_grid_scrolls_sideways_to_its_permission_columns() {
    let v = TestVault::sample_initialised();
    let mut h = Harness::builder()
        .with_size([900.0, 700.0])
        .build_eframe(|cc| {
            MeNexusApp::new(
                cc,
                AppOptions {
                    open: Some(v.path().to_path_buf()),
                    config_dir: Some(v.config_dir.path().to_path_buf()),
                    sample_dir: None,
                    read_only: false,
                },
            )
        });
    step_until(&mut h, "the grid", |h| has_label(h, "AI: todos.json#3"));
    // The grid's part of the window is narrower than its columns: the
    // permission columns start out of sight, right of the detail panel.
    let grid_right = h.get_by_label("Filter:").rect().left() + 480.0;
    assert!(h.get_by_label("AI: todos.json#3").rect().left() > grid_right);
    h.hover_at(h.get_by_label("todos.json#3").rect().center());
    h.step();
    step_until(&mut h, "the AI column in sight", |h| {
        h.event(egui::Event::MouseWheel {
            unit: egui::MouseWheelUnit::Point,
            delta: egui::vec2(-100.0, 0.0),
            phase: egui::TouchPhase::Move,
            source: egui::MouseWheelSource::Wheel,
            modifiers: egui::Modifiers::default(),
        });
        h.get_by_label("AI: todos.json#3").rect().right() < grid_right
    });
    click(&mut h, "AI: todos.json#3");
    step_until(&mut h, "the AI flag in the DB", |_| {
        perms_of(&v, "todos.json#3").0
    });
}
