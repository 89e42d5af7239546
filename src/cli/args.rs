//! Command-line arguments.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Me-Nexus: your data as files you own, indexed, synced, and shared only
/// when you say so. Without a subcommand, opens the desktop window.
#[derive(Debug, Parser)]
#[command(name = "me-nexus", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// `on` or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// Grant / enable.
    On,
    /// Revoke / disable.
    Off,
}

impl OnOff {
    /// As a bool.
    pub fn as_bool(self) -> bool {
        self == OnOff::On
    }
}

/// Who an export is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFor {
    /// AI services.
    Ai,
    /// Cloud sync.
    Cloud,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Open the desktop window on a vault.
    Open {
        /// The vault folder.
        vault: PathBuf,
        /// Browse only: no sync service, every change refused.
        #[arg(long)]
        read_only: bool,
    },
    /// Make a folder a vault and index what is already in it.
    Init {
        /// The vault folder (created if missing).
        vault: PathBuf,
    },
    /// Run one full reconcile of files and index, and print a summary.
    Sync {
        /// The vault folder.
        vault: PathBuf,
    },
    /// Watch the vault and keep the index in step until Ctrl-C or SIGTERM.
    Watch {
        /// The vault folder.
        vault: PathBuf,
    },
    /// Counts of objects, shares, expiries and problems.
    Status {
        /// The vault folder.
        vault: PathBuf,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// List objects.
    List {
        /// The vault folder.
        vault: PathBuf,
        /// Only objects of this schema.
        #[arg(long)]
        schema: Option<String>,
        /// Print a JSON array.
        #[arg(long)]
        json: bool,
    },
    /// Show one object: content, permissions, problems.
    Show {
        /// The vault folder.
        vault: PathBuf,
        /// The object key (`todos.json#1`, `notes/a.md`).
        key: String,
    },
    /// List problems and check the database; exit 1 unless all is clean.
    Check {
        /// The vault folder.
        vault: PathBuf,
    },
    /// Manage schemas.
    Schema {
        /// What to do with schemas.
        #[command(subcommand)]
        action: SchemaAction,
    },
    /// Create or update an object.
    Save {
        /// The vault folder.
        vault: PathBuf,
        /// Schema name (`core.todo`, ...).
        schema: String,
        /// The object as JSON.
        json: String,
        /// Update this object instead of creating one.
        #[arg(long)]
        key: Option<String>,
    },
    /// Delete an object (a copy goes to .nexus/trash/).
    Rm {
        /// The vault folder.
        vault: PathBuf,
        /// The object key.
        key: String,
    },
    /// Show or change sharing permissions of one object, a schema, or all.
    Perms(PermsArgs),
    /// Print, as JSON Lines, exactly the objects the gate allows out now.
    Export {
        /// The vault folder.
        vault: PathBuf,
        /// Who the export is for.
        #[arg(long = "for", value_enum)]
        for_: ExportFor,
    },
    /// List, restore or dismiss conflict copies.
    Conflicts {
        /// What to do with conflicts.
        #[command(subcommand)]
        action: ConflictAction,
    },
    /// Run the benchmark suite on generated data in a temporary folder,
    /// print one line per figure, and write a Markdown report.
    Bench {
        /// Objects in the query workload (B4); the cold-index workload (B1)
        /// uses at most 100,000 of them.
        #[arg(long, default_value_t = 1_000_000)]
        objects: usize,
        /// Where the report goes.
        #[arg(long, default_value = "BENCHMARKS.md")]
        out: PathBuf,
        /// Skip B3's forced inotify overflow, which lowers the system-wide
        /// `fs.inotify.max_queued_events` for a moment (and needs root).
        #[arg(long)]
        no_overflow: bool,
    },
    /// Report what a folder would become as a vault (writes nothing).
    Info {
        /// The folder.
        path: PathBuf,
    },
}

/// `me-nexus schema ...`
#[derive(Debug, Subcommand)]
pub enum SchemaAction {
    /// Register a JSON Schema file (named `<schema name>.json`, or wrapped
    /// as `{"schema_name", "version", "definition"}`).
    Add {
        /// The vault folder.
        vault: PathBuf,
        /// The schema file.
        file: PathBuf,
    },
    /// List registered schemas.
    List {
        /// The vault folder.
        vault: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `me-nexus conflicts ...`
#[derive(Debug, Subcommand)]
pub enum ConflictAction {
    /// List open conflicts (or all with --all).
    List {
        /// The vault folder.
        vault: PathBuf,
        /// Include resolved ones.
        #[arg(long)]
        all: bool,
    },
    /// Put the losing version of a conflict back into its file.
    Restore {
        /// The vault folder.
        vault: PathBuf,
        /// The conflict id (from `conflicts list`).
        id: i64,
    },
    /// Mark a conflict resolved, keeping the file as it is.
    Dismiss {
        /// The vault folder.
        vault: PathBuf,
        /// The conflict id.
        id: i64,
    },
}

/// `me-nexus perms ...`
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["key", "schema", "all"])))]
pub struct PermsArgs {
    /// The vault folder.
    pub vault: PathBuf,
    /// One object key.
    pub key: Option<String>,
    /// Every object of this schema.
    #[arg(long)]
    pub schema: Option<String>,
    /// Every object in the vault.
    #[arg(long)]
    pub all: bool,
    /// Share with AI services.
    #[arg(long, value_enum)]
    pub ai: Option<OnOff>,
    /// Share with the cloud.
    #[arg(long, value_enum)]
    pub cloud: Option<OnOff>,
    /// Protect from modification.
    #[arg(long = "read-only", value_enum)]
    pub read_only: Option<OnOff>,
    /// When sharing ends: RFC 3339 with an offset, or `never`.
    #[arg(long)]
    pub expires: Option<String>,
}
