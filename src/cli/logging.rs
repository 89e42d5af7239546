//! Logging: to stderr, and for commands on a vault also to the
//! human-readable log `.nexus/logs/me-nexus.log`.

use std::path::Path;
use std::sync::Mutex;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// Sets up logging. `vault` is the vault a command works on: its log file
/// is appended to when `.nexus/logs/` exists (nothing is created for a
/// folder that is not a vault). `RUST_LOG` overrides `default_level`.
pub fn init(vault: Option<&Path>, default_level: &str) {
    let stderr_filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(stderr_filter);
    let file = vault
        .map(|v| v.join(".nexus").join("logs"))
        .filter(|logs| logs.is_dir())
        .and_then(|logs| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(logs.join("me-nexus.log"))
                .ok()
        })
        .map(|f| {
            tracing_subscriber::fmt::layer()
                .with_writer(Mutex::new(f))
                .with_ansi(false)
                .with_thread_names(true)
                .with_filter(EnvFilter::new("info"))
        });
    // A second init is harmless: the first subscriber stays.
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
}
