//! B2, incremental: one collection file of 10 objects in the B1 vault is
//! edited (one item's text) and `Engine::index_paths` is timed for that
//! path, 200 times. The file write and any debounce are outside the timing.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::bench::data::{self, Layout};
use crate::bench::{Figure, Samples, Verdict, ms};
use crate::error::{IoContext, NexusError, Result};
use crate::sync::Engine;

/// Edits measured.
pub const EDITS: usize = 200;
/// Target median.
pub const TARGET_P50: Duration = Duration::from_millis(1);
/// Target 99th percentile.
pub const TARGET_P99: Duration = Duration::from_millis(5);

/// Measures on the indexed vault at `vault_dir`.
pub fn run(vault_dir: &Path, layout: &Layout) -> Result<Vec<Figure>> {
    let mut engine = Engine::open(vault_dir)?;
    let n = layout.middle_file();
    let rel = layout.file_rel(n);
    let abs = vault_dir.join(&rel);
    let mut samples = Vec::with_capacity(EDITS);
    for edit in 0..EDITS {
        std::fs::write(&abs, data::collection_bytes(n, Some(edit))).with_path(&abs)?;
        let paths = BTreeSet::from([rel.clone()]);
        let started = Instant::now();
        let report = engine.index_paths(paths)?;
        samples.push(started.elapsed());
        if report.objects_updated.len() != 1 {
            return Err(NexusError::Sync(format!(
                "bench B2: edit {edit} of {rel} updated {} objects, expected 1 ({})",
                report.objects_updated.len(),
                report.summary()
            )));
        }
    }
    let samples = Samples::new(samples);
    let (p50, p99) = (samples.p50(), samples.p99());
    let figure = |what: &str, value: Duration, target: Duration| Figure {
        workload: format!("B2 incremental {what}"),
        figure: format!(
            "{} (Engine::index_paths of one edited 10-object file, {} edits, vault of {} objects)",
            ms(value),
            samples.len(),
            layout.objects()
        ),
        target: format!("≤{}", ms(target)),
        floor: "-".into(),
        ratio: format!("{} target", crate::bench::ratio(value, target)),
        verdict: Verdict::of(value <= target),
    };
    Ok(vec![
        figure("p50", p50, TARGET_P50),
        figure("p99", p99, TARGET_P99),
    ])
}
