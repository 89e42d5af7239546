//! `me-nexus bench`: runs the benchmark suite ([`crate::bench`]) and writes
//! its report.

use std::io::Write;

use crate::bench::{BenchOptions, run};
use crate::error::Result;

/// Runs the suite and writes the report. Exit code 0 whether or not
/// targets were met: the figures are the result.
pub fn bench(options: BenchOptions, out: &mut dyn Write) -> Result<i32> {
    run(&options, out)?;
    Ok(0)
}
