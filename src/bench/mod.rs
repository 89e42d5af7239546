//! The benchmark suite behind `me-nexus bench`: each workload generates its
//! own data in a temporary folder, measures the engine, and returns
//! [`Figure`]s (what was measured, the target, a floor measured in the same
//! run where there is one, and the ratio). [`run`] prints them and writes
//! them, with a description of the machine, to a Markdown file.
//!
//! One file per workload:
//! - [`b1_cold_index`]: a whole vault indexed from an empty database;
//! - [`b2_incremental`]: one edited file re-indexed;
//! - [`b3_burst`]: every file rewritten at once under the sync service,
//!   and again with a forced inotify overflow;
//! - [`b4_queries`]: stats, a grid page and a filtered count at N objects;
//! - B5 and B8, the app's start, idle repaints and scrolling frames, are in
//!   `crate::ui::window_bench`, with the window code they drive;
//! - [`b6_memory`]: peak resident memory after B1;
//! - [`b7_writeback`]: a permission toggle until it is durable.
//!
//! Like the engine, this module never imports a UI crate.

pub mod b1_cold_index;
pub mod b2_incremental;
pub mod b3_burst;
pub mod b4_queries;
pub mod b6_memory;
pub mod b7_writeback;
pub mod data;
pub mod report;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{IoContext, Result};

/// What `me-nexus bench` was asked for.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    /// Objects in the B4 query vault; B1 indexes `min(objects, 100_000)`.
    pub objects: usize,
    /// Where the Markdown report goes.
    pub out: PathBuf,
    /// Whether B3 forces an inotify queue overflow.
    pub forced_overflow: bool,
}

/// The B1 vault size at full scale.
pub const B1_FULL_OBJECTS: usize = 100_000;

/// Whether a figure met its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the target.
    Met,
    /// Outside the target.
    Missed,
    /// Not measured (yet).
    NotMeasured,
}

impl Verdict {
    /// From a comparison.
    pub fn of(met: bool) -> Verdict {
        if met { Verdict::Met } else { Verdict::Missed }
    }

    /// As shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Met => "met",
            Verdict::Missed => "MISSED",
            Verdict::NotMeasured => "not measured",
        }
    }
}

/// One measured figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// Workload id and name, e.g. `B4 stats`.
    pub workload: String,
    /// What was measured.
    pub figure: String,
    /// The target.
    pub target: String,
    /// The floor measured in the same run, or `-`.
    pub floor: String,
    /// Figure over floor (or over target), or `-`.
    pub ratio: String,
    /// Met or missed.
    pub verdict: Verdict,
}

impl Figure {
    /// The one line printed for this figure.
    pub fn line(&self) -> String {
        format!(
            "{}: figure {}; target {}; floor {}; ratio {}; {}",
            self.workload,
            self.figure,
            self.target,
            self.floor,
            self.ratio,
            self.verdict.as_str()
        )
    }
}

/// Runs every workload, prints one line per figure to `out` as it is
/// measured, and writes the Markdown report to `options.out`.
pub fn run(options: &BenchOptions, out: &mut dyn Write) -> Result<Vec<Figure>> {
    let started = std::time::Instant::now();
    let scratch = tempfile::Builder::new()
        .prefix("me-nexus-bench-")
        .tempdir()
        .with_path(std::env::temp_dir())?;
    let b1_objects = options.objects.clamp(100, B1_FULL_OBJECTS);
    let mut figures = Vec::new();
    let emit = |figures: &mut Vec<Figure>, new: Vec<Figure>, out: &mut dyn Write| {
        for f in new {
            let _ = writeln!(out, "{}", f.line());
            let _ = out.flush();
            figures.push(f);
        }
    };
    let _ = writeln!(
        out,
        "me-nexus bench: B1 at {b1_objects} collection objects, B4 at {} objects, in {}",
        options.objects,
        scratch.path().display()
    );

    let b1 = b1_cold_index::run(scratch.path(), b1_objects)?;
    emit(&mut figures, b1.figures.clone(), out);
    emit(&mut figures, vec![b6_memory::run(b1.objects)], out);
    emit(
        &mut figures,
        b2_incremental::run(&b1.vault_dir, &b1.layout)?,
        out,
    );
    emit(
        &mut figures,
        b7_writeback::run(&b1.vault_dir, &b1.layout)?,
        out,
    );
    emit(
        &mut figures,
        b3_burst::run(
            &b1.vault_dir,
            &b1.layout,
            b1.elapsed,
            options.forced_overflow,
        )?,
        out,
    );
    emit(
        &mut figures,
        crate::ui::window_bench::start_and_idle(&b1.vault_dir, b1.objects, scratch.path())?,
        out,
    );
    // The B1 vault is not needed any more; free its disk space before B4.
    let _ = std::fs::remove_dir_all(&b1.vault_dir);
    emit(
        &mut figures,
        b4_queries::run(scratch.path(), options.objects)?,
        out,
    );
    emit(
        &mut figures,
        crate::ui::window_bench::scrolling(
            &scratch.path().join(b4_queries::VAULT_DIR),
            options.objects,
            scratch.path(),
        )?,
        out,
    );

    let machine = report::Machine::detect(scratch.path());
    let text = report::markdown(&machine, options, b1_objects, &figures, started.elapsed());
    if let Some(dir) = options.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_path(dir)?;
    }
    std::fs::write(&options.out, text).with_path(&options.out)?;
    let _ = writeln!(
        out,
        "wrote {} ({:.1} s in all)",
        options.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(figures)
}

/// Durations sorted ascending, with percentiles.
#[derive(Debug, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    /// From unsorted durations.
    pub fn new(mut samples: Vec<Duration>) -> Samples {
        samples.sort();
        Samples(samples)
    }

    /// The `p`-th percentile (nearest rank), or zero without samples.
    pub fn percentile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let rank = (p / 100.0 * self.0.len() as f64).ceil() as usize;
        self.0[rank.clamp(1, self.0.len()) - 1]
    }

    /// The median.
    pub fn p50(&self) -> Duration {
        self.percentile(50.0)
    }

    /// The 99th percentile.
    pub fn p99(&self) -> Duration {
        self.percentile(99.0)
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A duration in milliseconds, three significant-ish decimals.
pub fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.3} ms")
    } else if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

/// `a / b` as `x.xx×`.
pub fn ratio(a: Duration, b: Duration) -> String {
    if b.is_zero() {
        return "-".into();
    }
    format!("{:.2}×", a.as_secs_f64() / b.as_secs_f64())
}
