//! The headless command line. `main` parses arguments with clap and calls
//! [`run`]; every command is a thin layer over the engine.

pub mod args;
pub mod bench;
pub mod logging;
pub mod run;
pub mod watch;

pub use args::{Cli, Command};
pub use run::run;
