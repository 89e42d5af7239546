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

fn main() {
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
