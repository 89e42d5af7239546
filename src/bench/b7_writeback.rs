//! B7, write-back: a permission toggle until it is durable.
//! `Engine::set_permissions` on one key of the B1 vault returns once the
//! database has committed and `.nexus/permissions.json` has been replaced
//! (atomically, fsynced). Timed 200 times, alternating on and off.
//!
//! The floor: `vault::atomic::write_atomic` of the same permissions.json
//! bytes to the same path, alone. It is timed right after each toggle, on
//! the bytes that toggle wrote, so that toggles and floor see the same
//! moments of a noisy machine (disk flushes come and go). Rewriting the
//! same bytes changes nothing the next toggle could notice.

use std::path::Path;
use std::time::Instant;

use crate::audit::Source;
use crate::bench::data::{ITEMS_PER_FILE, Layout};
use crate::bench::{Figure, Samples, Verdict, ms, ratio};
use crate::error::{IoContext, NexusError, Result};
use crate::permissions::model::PermissionChange;
use crate::sync::Engine;
use crate::sync::permissions_sync::PermissionTarget;

/// Toggles measured.
pub const TOGGLES: usize = 200;
/// The toggle may take this many times the floor (median).
pub const TARGET_FLOOR_RATIO: f64 = 1.5;

/// Measures on the indexed vault at `vault_dir`.
pub fn run(vault_dir: &Path, layout: &Layout) -> Result<Vec<Figure>> {
    let mut engine = Engine::open(vault_dir)?;
    // An object without a grant in the generated permissions.json.
    let key = format!(
        "{}#{}",
        layout.file_rel(layout.middle_file()),
        ITEMS_PER_FILE
    );
    let target = PermissionTarget::Keys(vec![key.clone()]);
    let path = engine.vault().permissions_path();
    let mut toggles = Vec::with_capacity(TOGGLES);
    let mut floor = Vec::with_capacity(TOGGLES);
    let mut bytes = Vec::new();
    for i in 0..TOGGLES {
        let change = PermissionChange {
            share_with_ai: Some(i % 2 == 0),
            ..PermissionChange::default()
        };
        let started = Instant::now();
        let updates = engine.set_permissions(&target, &change, Source::Cli)?;
        toggles.push(started.elapsed());
        if updates.len() != 1 {
            return Err(NexusError::Sync(format!(
                "bench B7: toggle {i} of {key} changed {} objects, expected 1",
                updates.len()
            )));
        }
        bytes = std::fs::read(&path).with_path(&path)?;
        let started = Instant::now();
        crate::vault::atomic::write_atomic(&path, &bytes)?;
        floor.push(started.elapsed());
    }
    let (toggles, floor) = (Samples::new(toggles), Samples::new(floor));
    let r = toggles.p50().as_secs_f64() / floor.p50().as_secs_f64().max(f64::EPSILON);
    Ok(vec![Figure {
        workload: "B7 write-back".into(),
        figure: format!(
            "p50 {}, p99 {} (Engine::set_permissions on one key until DB committed + permissions.json replaced; {TOGGLES} toggles; permissions.json {} bytes)",
            ms(toggles.p50()),
            ms(toggles.p99()),
            bytes.len()
        ),
        target: format!("p50 ≤{TARGET_FLOOR_RATIO}× floor"),
        floor: format!(
            "p50 {}, p99 {} (write_atomic of the same bytes alone, timed right after each toggle)",
            ms(floor.p50()),
            ms(floor.p99())
        ),
        ratio: format!("{} floor (p50)", ratio(toggles.p50(), floor.p50())),
        verdict: Verdict::of(r <= TARGET_FLOOR_RATIO),
    }])
}
