//! A window without a window: the real app (`MeNexusApp`) run frame by
//! frame on a bare egui context, the way eframe runs it (logic, then ui),
//! plus tessellation. Only the GPU upload and the display are left out.
//! Each frame is timed twice: on the wall clock (what a user waits), and on
//! the UI thread's CPU clock (what the frame costs the thread, without the
//! moments the scheduler gave its core to another thread or process).
//!
//! It also keeps eframe's schedule: a frame runs when input arrives, when a
//! background thread asked for a repaint, or when the last frame's repaint
//! delay has passed. That is what "0 repaints per second when idle" means.

use std::time::{Duration, Instant};

use crate::ui::{AppOptions, MeNexusApp};

/// The window size used (logical points), as in the UI tests.
pub const SIZE: egui::Vec2 = egui::vec2(1500.0, 950.0);

/// What one frame took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameTime {
    /// Wall-clock time of the pass and the tessellation.
    pub wall: Duration,
    /// CPU time the UI thread spent on them (the wall-clock time where the
    /// system has no thread CPU clock).
    pub cpu: Duration,
}

/// CPU time this thread has used so far.
#[cfg(unix)]
fn thread_cpu_time() -> Option<Duration> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Some(Duration::new(
        u64::try_from(t.tv_sec).unwrap_or(0),
        u32::try_from(t.tv_nsec).unwrap_or(0),
    ))
}

/// No thread CPU clock here: frames are timed on the wall clock only.
#[cfg(not(unix))]
fn thread_cpu_time() -> Option<Duration> {
    None
}

/// The app in a headless frame loop.
pub struct Headless {
    ctx: egui::Context,
    app: MeNexusApp,
    started: Instant,
    /// When the last frame asked to be repainted (`None`: not until
    /// something happens).
    repaint_at: Option<Instant>,
    /// Frames run so far.
    pub frames: usize,
}

impl std::fmt::Debug for Headless {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Headless")
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl Headless {
    /// Creates the app as `me-nexus` would, with `options`.
    pub fn new(options: AppOptions) -> Headless {
        let ctx = egui::Context::default();
        let app = MeNexusApp::with_context(&ctx, options);
        Headless {
            ctx,
            app,
            started: Instant::now(),
            repaint_at: Some(Instant::now()),
            frames: 0,
        }
    }

    /// The app.
    pub fn app(&self) -> &MeNexusApp {
        &self.app
    }

    /// Runs one frame with `events` and returns its time (the pass plus
    /// tessellation).
    pub fn frame(&mut self, events: Vec<egui::Event>) -> FrameTime {
        let input = egui::RawInput {
            screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, SIZE)),
            time: Some(self.started.elapsed().as_secs_f64()),
            events,
            ..egui::RawInput::default()
        };
        let started = Instant::now();
        let cpu_started = thread_cpu_time();
        let app = &mut self.app;
        let mut output = self.ctx.run_ui(input, |ui| {
            app.logic_step(ui.ctx());
            app.draw(ui);
        });
        let shapes = std::mem::take(&mut output.shapes);
        let primitives = self.ctx.tessellate(shapes, output.pixels_per_point);
        let wall = started.elapsed();
        let elapsed = FrameTime {
            wall,
            cpu: match (cpu_started, thread_cpu_time()) {
                (Some(before), Some(after)) => after.saturating_sub(before),
                _ => wall,
            },
        };
        std::hint::black_box(primitives);
        self.frames += 1;
        let delay = output
            .viewport_output
            .get(&egui::ViewportId::ROOT)
            .map_or(Duration::MAX, |v| v.repaint_delay);
        // There is no GPU to upload font textures to.
        output.drop_without_applying_deltas();
        self.repaint_at = Instant::now().checked_add(delay);
        elapsed
    }

    /// Whether eframe would run a frame now without input: a thread asked
    /// for a repaint, or the last frame's repaint delay has passed.
    pub fn wants_frame(&self) -> bool {
        self.ctx.has_requested_repaint() || self.repaint_at.is_some_and(|t| Instant::now() >= t)
    }

    /// Runs frames the way eframe would while nothing else happens, until
    /// `done` holds or `deadline` passes. Returns whether `done` held.
    pub fn run_until(
        &mut self,
        deadline: Duration,
        mut done: impl FnMut(&MeNexusApp) -> bool,
    ) -> bool {
        let until = Instant::now() + deadline;
        loop {
            if self.wants_frame() {
                self.frame(Vec::new());
            }
            if done(&self.app) {
                return true;
            }
            if Instant::now() >= until {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Counts the frames eframe would run in `window` with no input.
    pub fn idle_frames(&mut self, window: Duration) -> usize {
        let before = self.frames;
        self.run_until(window, |_| false);
        self.frames - before
    }
}

/// A mouse-wheel event that scrolls the content by `rows_of_points` (points;
/// positive scrolls down the list).
pub fn wheel(points: f32) -> egui::Event {
    egui::Event::MouseWheel {
        unit: egui::MouseWheelUnit::Point,
        delta: egui::vec2(0.0, -points),
        phase: egui::TouchPhase::Move,
        source: egui::MouseWheelSource::Wheel,
        modifiers: egui::Modifiers::default(),
    }
}

/// The pointer at `pos`.
pub fn pointer_at(pos: egui::Pos2) -> egui::Event {
    egui::Event::PointerMoved(pos)
}
