//! The `me-nexus` executable: parses the command line and runs a headless
//! subcommand. Errors print as one line and exit with status 1.

use clap::Parser;
use me_nexus::cli::{self, Cli, Command};

/// mimalloc instead of glibc's malloc: a large index prepares files on one
/// thread and writes (and frees) them on another, and glibc's cross-thread
/// frees cost more than the second core gained. It is also faster for the
/// many small allocations of parsing on one thread.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long, in milliseconds, memory freed to mimalloc stays mapped before
/// mimalloc gives it back to the system. Its default, 10 ms, is shorter
/// than a frame at 60 Hz: the window's memory went back to the system after
/// every frame and was faulted in (and zeroed) again in the next. With
/// 100 ms, B5's 600 scrolling frames took about 1,400 page faults instead
/// of 17,000, and 3 to 6% less CPU time in all (paired runs). A whole
/// second did no better, and kept the cold index's freed memory long
/// enough to raise B6's peak from 42 to 46 MB.
const PURGE_DELAY_MS: std::ffi::c_long = 100;

/// `mi_option_purge_delay` in mimalloc 2's `mi_option_t` (libmimalloc-sys
/// does not name it); the test below checks that it is the purge delay.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

#[allow(unsafe_code)]
fn tune_allocator() {
    // SAFETY: `mi_option_set` stores a value in mimalloc's option table
    // (an atomic store). It has no preconditions and may be called at any
    // time, from any thread.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
}

fn main() {
    tune_allocator();
    let cli = Cli::parse();
    let Some(command) = cli.command else {
        // No subcommand: the desktop window, on the last vault or the picker.
        cli::logging::init(None, "warn");
        if let Err(e) = me_nexus::ui::run(me_nexus::ui::AppOptions::default()) {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
        return;
    };
    let vault = vault_arg(&command);
    let level = if matches!(command, Command::Watch { .. }) {
        "info"
    } else {
        "warn"
    };
    cli::logging::init(vault.as_deref(), level);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match cli::run(command, &mut out) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // Database errors carry no path of their own: name the index.
            match (&e, &vault) {
                (me_nexus::NexusError::Database(_), Some(vault)) => {
                    eprintln!(
                        "error: {e}: {}",
                        vault.join(".nexus").join("vault.sqlite").display()
                    );
                }
                _ => eprintln!("error: {e}"),
            }
            std::process::exit(1);
        }
    }
}

/// The vault folder a command works on, for its log file.
fn vault_arg(command: &Command) -> Option<std::path::PathBuf> {
    use cli::args::SchemaAction;
    match command {
        Command::Init { vault }
        | Command::Sync { vault }
        | Command::Open { vault, .. }
        | Command::Watch { vault }
        | Command::Status { vault, .. }
        | Command::List { vault, .. }
        | Command::Show { vault, .. }
        | Command::Check { vault }
        | Command::Save { vault, .. }
        | Command::Rm { vault, .. }
        | Command::Export { vault, .. }
        | Command::Schema {
            action: SchemaAction::Add { vault, .. } | SchemaAction::List { vault, .. },
        } => Some(vault.clone()),
        Command::Perms(args) => Some(args.vault.clone()),
        Command::Conflicts { action } => match action {
            cli::args::ConflictAction::List { vault, .. }
            | cli::args::ConflictAction::Restore { vault, .. }
            | cli::args::ConflictAction::Dismiss { vault, .. } => Some(vault.clone()),
        },
        Command::Info { .. } | Command::Bench { .. } => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(unsafe_code)]
    fn option(option: libmimalloc_sys::mi_option_t) -> std::ffi::c_long {
        // SAFETY: `mi_option_get` reads mimalloc's option table; it has no
        // preconditions.
        unsafe { libmimalloc_sys::mi_option_get(option) }
    }

    /// Option 15 is the purge delay: its default is 10 ms (its neighbours,
    /// the eager-commit delay and the NUMA node count, default to 1 and 0),
    /// and `tune_allocator` sets it.
    #[test]
    fn the_purge_delay_is_the_option_set() {
        assert_eq!(option(MI_OPTION_PURGE_DELAY), 10, "mimalloc's default");
        tune_allocator();
        assert_eq!(option(MI_OPTION_PURGE_DELAY), PURGE_DELAY_MS);
    }
}
