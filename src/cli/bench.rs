//! `me-nexus bench`: runs the benchmark suite ([`crate::bench`]) and writes
//! its report.

use std::io::Write;
use std::path::PathBuf;

use crate::bench::{BenchOptions, run};
use crate::error::Result;

/// Runs the suite with `objects` objects in the query vault and writes the
/// report to `out_file`. Exit code 0 whether or not targets were met: the
/// figures are the result.
pub fn bench(objects: usize, out_file: PathBuf, out: &mut dyn Write) -> Result<i32> {
    run(
        &BenchOptions {
            objects,
            out: out_file,
        },
        out,
    )?;
    Ok(0)
}
