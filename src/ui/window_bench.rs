//! B5 (UI frames) and B8 (start) of the benchmark suite (`crate::bench`),
//! on the real app in the headless frame loop of [`crate::ui::headless`].
//! They live with the window code because they drive it; the suite calls
//! them.
//!
//! - B8 cold: the B1 vault with its database deleted is opened; the figure
//!   is the time until the first frame shows the vault (its header, cards
//!   and progress) while the index is rebuilt, and the slowest frame during
//!   the rebuild.
//! - B8 warm: the same vault, indexed, opened again: the time until the
//!   first frame that shows the stats cards with every object counted and
//!   the first grid rows.
//! - B5 idle: the warm vault with its sync service watching, no input for
//!   five seconds: the frames eframe would run.
//! - B5 scrolling: the B4 vault of a million objects, opened read-only (its
//!   rows have no files behind them), the mouse wheel turning over the grid
//!   at 60 frames per second, with some long jumps; the CPU time of each
//!   frame (pass and tessellation).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::bench::{Figure, Samples, Verdict, ms, ratio};
use crate::error::{IoContext, NexusError, Result};
use crate::ui::headless::{Headless, pointer_at, wheel};
use crate::ui::{AppOptions, MeNexusApp};

/// B8 target.
pub const TARGET_START: Duration = Duration::from_millis(200);
/// B5 targets.
pub const TARGET_FRAME_P50: Duration = Duration::from_millis(2);
/// B5 targets.
pub const TARGET_FRAME_P99: Duration = Duration::from_millis(8);
const DEADLINE: Duration = Duration::from_secs(600);
const IDLE_WINDOW: Duration = Duration::from_secs(5);
const ROW_HEIGHT: f32 = 24.0;

fn options(vault: &Path, config_dir: &Path, read_only: bool) -> AppOptions {
    AppOptions {
        open: Some(vault.to_path_buf()),
        config_dir: Some(config_dir.to_path_buf()),
        sample_dir: None,
        read_only,
    }
}

/// The vault is open and shows `objects` in its cards and its first row.
fn shows_vault(app: &MeNexusApp, objects: usize) -> bool {
    app.vault_view().is_some_and(|v| {
        usize::try_from(v.stats.total_objects).ok() == Some(objects)
            && v.grid.total() == Some(objects)
            && v.grid.row_at(0).is_some()
    })
}

/// B8 cold and warm, and B5 idle, on the indexed vault at `vault_dir` of
/// `objects` objects.
pub fn start_and_idle(vault_dir: &Path, objects: usize, scratch: &Path) -> Result<Vec<Figure>> {
    let config_dir = scratch.join("b8-config");
    std::fs::create_dir_all(&config_dir).with_path(&config_dir)?;
    let mut figures = Vec::new();

    // Cold: no index. The window must show the vault at once and stay
    // responsive while the sync service rebuilds it.
    let db = vault_dir.join(".nexus").join("vault.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let path = db.with_file_name(format!("vault.sqlite{suffix}"));
        if path.exists() {
            std::fs::remove_file(&path).with_path(&path)?;
        }
    }
    let started = Instant::now();
    let mut window = Headless::new(options(vault_dir, &config_dir, false));
    let mut frame_times = Vec::new();
    let mut first_vault_frame = None;
    let mut saw_progress = false;
    while !shows_vault(window.app(), objects) {
        if started.elapsed() > DEADLINE {
            return Err(NexusError::Sync(
                "bench B8: the cold index did not finish".into(),
            ));
        }
        if window.wants_frame() {
            frame_times.push(window.frame(Vec::new()).wall);
            if let Some(view) = window.app().vault_view() {
                first_vault_frame.get_or_insert(started.elapsed());
                saw_progress |= view.progress.is_some();
            }
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let cold_done = started.elapsed();
    let first = first_vault_frame.unwrap_or(cold_done);
    let slowest = frame_times.iter().max().copied().unwrap_or_default();
    figures.push(Figure {
        workload: "B8 start, cold index".into(),
        figure: format!(
            "first frame with the vault {} after opening, while the index of {objects} objects \
             was rebuilt in {} ({} frames meanwhile, the slowest {}; progress shown: {})",
            ms(first),
            ms(cold_done),
            frame_times.len(),
            ms(slowest),
            if saw_progress { "yes" } else { "no" }
        ),
        target: format!("the window not blocked: first frame ≤{}", ms(TARGET_START)),
        floor: "-".into(),
        ratio: format!("{} target", ratio(first, TARGET_START)),
        verdict: Verdict::of(first <= TARGET_START),
    });
    drop(window);

    // Warm: the index is built.
    let started = Instant::now();
    let mut window = Headless::new(options(vault_dir, &config_dir, false));
    let mut first_frame = None;
    if !window.run_until(DEADLINE, |app| {
        first_frame.get_or_insert(started.elapsed());
        shows_vault(app, objects)
    }) {
        return Err(NexusError::Sync("bench B8: the vault never showed".into()));
    }
    let shown = started.elapsed();
    figures.push(Figure {
        workload: "B8 start, indexed vault".into(),
        figure: format!(
            "{} until the first frame showing the stats cards with all {objects} objects and \
             the first grid rows ({} frames; the very first frame after {})",
            ms(shown),
            window.frames,
            ms(first_frame.unwrap_or(shown))
        ),
        target: format!("≤{}", ms(TARGET_START)),
        floor: "-".into(),
        ratio: format!("{} target", ratio(shown, TARGET_START)),
        verdict: Verdict::of(shown <= TARGET_START),
    });

    // Idle: let the open settle (the service's startup check, the walk),
    // then count the frames eframe would run with no input.
    window.idle_frames(Duration::from_secs(3));
    let idle = window.idle_frames(IDLE_WINDOW);
    let per_second = idle as f64 / IDLE_WINDOW.as_secs_f64();
    figures.push(Figure {
        workload: "B5 idle window".into(),
        figure: format!(
            "{per_second:.1} repaints per second ({idle} frames in {} s with no input; vault of \
             {objects} objects, sync service watching)",
            IDLE_WINDOW.as_secs()
        ),
        target: "0 repaints per second".into(),
        floor: "-".into(),
        ratio: "-".into(),
        verdict: Verdict::of(idle == 0),
    });
    Ok(figures)
}

/// B5 scrolling on the vault at `vault_dir` of `objects` objects (opened
/// read-only).
pub fn scrolling(vault_dir: &Path, objects: usize, scratch: &Path) -> Result<Vec<Figure>> {
    let config_dir = scratch.join("b5-config");
    std::fs::create_dir_all(&config_dir).with_path(&config_dir)?;
    let started = Instant::now();
    let mut window = Headless::new(options(vault_dir, &config_dir, true));
    if !window.run_until(DEADLINE, |app| shows_vault(app, objects)) {
        return Err(NexusError::Sync("bench B5: the vault never showed".into()));
    }
    let opened = started.elapsed();
    // Over the grid: left of the detail panel, below the cards.
    let over_grid = pointer_at(egui::pos2(500.0, 650.0));
    window.frame(vec![over_grid.clone()]);
    let mut samples = Vec::new();
    let mut wall = Vec::new();
    let frame_period = Duration::from_micros(16_667);
    for n in 0..600 {
        // Mostly three rows per notch; every 40th frame a long jump, as
        // when the scroll bar is dragged.
        let delta = if n % 40 == 39 {
            let rows = if (n / 40) % 2 == 0 {
                50_000.0
            } else {
                -20_000.0
            };
            rows * ROW_HEIGHT
        } else {
            3.0 * ROW_HEIGHT
        };
        let began = Instant::now();
        let time = window.frame(vec![over_grid.clone(), wheel(delta)]);
        samples.push(time.cpu);
        wall.push(time.wall);
        // The next frame at 60 Hz; the reader answers meanwhile.
        if let Some(rest) = frame_period.checked_sub(began.elapsed()) {
            std::thread::sleep(rest);
        }
    }
    let steady = crate::bench::b6_memory::steady(objects);
    drop(window);
    let samples = Samples::new(samples);
    let wall = Samples::new(wall);
    let detail = format!(
        "{} frames scrolling the grid of {objects} objects by mouse wheel at 60 Hz, a jump of \
         20 000 to 50 000 rows every 40th frame; CPU time of the UI thread per frame (egui pass + \
         tessellation, no GPU; on the wall clock p50 {}, p99 {}); vault shown {} after opening",
        samples.len(),
        ms(wall.p50()),
        ms(wall.p99()),
        ms(opened)
    );
    Ok(vec![
        Figure {
            workload: "B5 scrolling frame p50".into(),
            figure: format!("{} ({detail})", ms(samples.p50())),
            target: format!("≤{}", ms(TARGET_FRAME_P50)),
            floor: "-".into(),
            ratio: format!("{} target", ratio(samples.p50(), TARGET_FRAME_P50)),
            verdict: Verdict::of(samples.p50() <= TARGET_FRAME_P50),
        },
        Figure {
            workload: "B5 scrolling frame p99".into(),
            figure: format!("{} (same frames)", ms(samples.p99())),
            target: format!("≤{}", ms(TARGET_FRAME_P99)),
            floor: "-".into(),
            ratio: format!("{} target", ratio(samples.p99(), TARGET_FRAME_P99)),
            verdict: Verdict::of(samples.p99() <= TARGET_FRAME_P99),
        },
        steady,
    ])
}
