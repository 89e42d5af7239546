//! Runs one subcommand. Output goes to stdout; errors are returned to
//! `main`, which prints one line and exits non-zero.

use crate::bench::BenchOptions;
use std::io::Write;
use std::path::Path;

use serde_json::{Value, json};

use crate::audit::Source;
use crate::cli::args::{Command, ConflictAction, ExportFor, PermsArgs, SchemaAction};
use crate::db;
use crate::error::{NexusError, Result};
use crate::permissions::gate::Purpose;
use crate::permissions::model::PermissionChange;
use crate::sync::Engine;
use crate::sync::permissions_sync::PermissionTarget;
use crate::vault::app_config::AppConfig;
use crate::vault::directory_info::check_directory_info;

/// What `main` should exit with after a command that succeeded.
pub type ExitCode = i32;

/// Runs `command`, writing its output to `out`.
pub fn run(command: Command, out: &mut dyn Write) -> Result<ExitCode> {
    match command {
        Command::Init { vault } => {
            let mut engine = Engine::init(&vault)?;
            let report = engine.reconcile()?;
            engine.backup_if_due();
            remember(engine.vault().root());
            say(
                out,
                &format!("initialised vault {}", engine.vault().root().display()),
            )?;
            say(out, &report.summary())?;
        }
        Command::Sync { vault } => {
            let mut engine = Engine::open(&vault)?;
            let report = engine.reconcile()?;
            engine.backup_if_due();
            say(out, &report.summary())?;
        }
        Command::Watch { vault } => crate::cli::watch::watch(&vault)?,
        Command::Open { vault, read_only } => {
            // Fail early, with one line, if it is not a vault.
            let vault = crate::vault::Vault::open(&vault)?;
            crate::ui::run(crate::ui::AppOptions {
                open: Some(vault.root().to_path_buf()),
                read_only: read_only || vault.is_read_only(),
                ..crate::ui::AppOptions::default()
            })
            .map_err(NexusError::Sync)?;
        }
        Command::Status { vault, json } => {
            let engine = Engine::open(&vault)?;
            let stats = engine.stats()?;
            if json {
                say(out, &to_json(&stats)?)?;
            } else {
                say(
                    out,
                    &format!(
                        "vault:         {}\nobjects:       {}\nAI shared:     {}\ncloud shared:  {}\nread-only:     {}\nexpired:       {}\nproblems:      {}\nlast sync:     {}",
                        engine.vault().root().display(),
                        stats.total_objects,
                        stats.ai_shared,
                        stats.cloud_shared,
                        stats.read_only,
                        stats.expired,
                        stats.problems,
                        stats.last_sync
                    ),
                )?;
            }
        }
        Command::List {
            vault,
            schema,
            json,
        } => {
            let engine = Engine::open(&vault)?;
            if let Some(name) = &schema
                && db::schemas::get(engine.conn(), name)?.is_none()
            {
                return Err(NexusError::NotFound(format!("no schema named {name}")));
            }
            let objects = db::objects::list(engine.conn(), schema.as_deref())?;
            if json {
                say(out, &to_json(&objects)?)?;
            } else {
                for o in &objects {
                    let p = &o.permissions;
                    let flags = format!(
                        "{}{}{}",
                        if p.share_with_ai { "A" } else { "-" },
                        if p.share_with_cloud { "C" } else { "-" },
                        if p.read_only { "R" } else { "-" }
                    );
                    say(
                        out,
                        &format!("{flags} {:<40} {:<22} {}", o.key, o.schema_name, o.title),
                    )?;
                }
            }
        }
        Command::Show { vault, key } => {
            check_key_arg(&key)?;
            let engine = Engine::open(&vault)?;
            let object = db::objects::get_by_key(engine.conn(), &key)?
                .ok_or_else(|| NexusError::NotFound(format!("no object with key {key}")))?;
            let shown = json!({
                "key": object.key,
                "schema_name": object.schema_name,
                "file_path": object.source_path,
                "content": engine.object_content(&key)?,
                "permissions": engine.get_permissions(&key)?,
                "problems": db::problems::for_object(engine.conn(), &key)?,
                "created_at": object.created_at,
                "updated_at": object.updated_at,
            });
            say(out, &to_json(&shown)?)?;
        }
        Command::Check { vault } => {
            let engine = Engine::open(&vault)?;
            let problems = db::problems::all(engine.conn())?;
            for p in &problems {
                say(out, &p.to_string())?;
            }
            let conflicts = engine.conflicts(false)?;
            for c in &conflicts {
                say(
                    out,
                    &format!(
                        "{}: conflict {} on {}: the {} version won; the other is kept in {} (me-nexus conflicts restore)",
                        c.file_path, c.id, c.object_key, c.winner, c.copy_path
                    ),
                )?;
            }
            let integrity = engine.integrity_check()?;
            let db_ok = integrity == ["ok"];
            say(
                out,
                &format!("database integrity: {}", integrity.join("; ")),
            )?;
            say(
                out,
                &format!(
                    "{} problems, {} open conflicts",
                    problems.len(),
                    conflicts.len()
                ),
            )?;
            if !problems.is_empty() || !conflicts.is_empty() || !db_ok {
                return Ok(1);
            }
        }
        Command::Schema { action } => schema(action, out)?,
        Command::Save {
            vault,
            schema,
            json,
            key,
        } => {
            if let Some(key) = &key {
                check_key_arg(key)?;
            }
            let content: Value = serde_json::from_str(&json).map_err(|e| {
                NexusError::InvalidInput(format!("the object is not valid JSON: {e}"))
            })?;
            let mut engine = Engine::open(&vault)?;
            let key = engine.save_object(&schema, content, key.as_deref(), Source::Cli)?;
            say(out, &key)?;
        }
        Command::Rm { vault, key } => {
            check_key_arg(&key)?;
            Engine::open(&vault)?.delete_object(&key, Source::Cli)?;
            say(out, &format!("deleted {key}"))?;
        }
        Command::Perms(args) => perms(args, out)?,
        Command::Export { vault, for_ } => {
            let mut engine = Engine::open(&vault)?;
            // Bring the index (and any hand edit of permissions.json, such
            // as a revoke) up to date before anything leaves the vault.
            engine.reconcile()?;
            let purpose = match for_ {
                ExportFor::Ai => Purpose::Ai,
                ExportFor::Cloud => Purpose::Cloud,
            };
            let summary = engine.export(purpose, out)?;
            tracing::info!(
                "exported {} objects for {}; {} not shared, {} expired",
                summary.granted,
                purpose.as_str(),
                summary.denied_not_shared,
                summary.denied_expired
            );
        }
        Command::Conflicts { action } => match action {
            ConflictAction::List { vault, all } => {
                let engine = Engine::open(&vault)?;
                for c in engine.conflicts(all)? {
                    let state = c
                        .resolved_at
                        .as_deref()
                        .map_or("open".to_string(), |t| format!("resolved {t}"));
                    say(
                        out,
                        &format!(
                            "{} {} {} (winner: {}) copy {} [{state}]",
                            c.id, c.created_at, c.object_key, c.winner, c.copy_path
                        ),
                    )?;
                }
            }
            ConflictAction::Restore { vault, id } => {
                let key = Engine::open(&vault)?.restore_conflict(id, Source::Cli)?;
                say(
                    out,
                    &format!("restored the losing version of {key} (conflict {id})"),
                )?;
            }
            ConflictAction::Dismiss { vault, id } => {
                Engine::open(&vault)?.dismiss_conflict(id)?;
                say(out, &format!("dismissed conflict {id}"))?;
            }
        },
        Command::Bench {
            objects,
            out: file,
            no_overflow,
        } => {
            return crate::cli::bench::bench(
                BenchOptions {
                    objects,
                    out: file,
                    forced_overflow: !no_overflow,
                },
                out,
            );
        }
        Command::Info { path } => {
            let info = check_directory_info(&path)?;
            say(out, &to_json(&info)?)?;
        }
    }
    Ok(0)
}

fn schema(action: SchemaAction, out: &mut dyn Write) -> Result<()> {
    match action {
        SchemaAction::Add { vault, file } => {
            let mut engine = Engine::open(&vault)?;
            let (name, outcome) = engine.add_schema(&file)?;
            say(out, &format!("{name}: {outcome:?}"))?;
        }
        SchemaAction::List { vault, json } => {
            let engine = Engine::open(&vault)?;
            let counts: std::collections::HashMap<String, i64> =
                db::schemas::object_counts(engine.conn())?
                    .into_iter()
                    .collect();
            let rows = db::schemas::all(engine.conn())?;
            if json {
                let list: Vec<Value> = rows
                    .iter()
                    .map(|r| {
                        json!({"schema_name": r.schema_name, "version": r.version, "created_at": r.created_at,
                               "objects": counts.get(&r.schema_name).copied().unwrap_or(0)})
                    })
                    .collect();
                say(out, &to_json(&list)?)?;
            } else {
                for r in rows {
                    let n = counts.get(&r.schema_name).copied().unwrap_or(0);
                    say(
                        out,
                        &format!("{:<32} v{:<3} {n} objects", r.schema_name, r.version),
                    )?;
                }
            }
        }
    }
    Ok(())
}

fn perms(args: PermsArgs, out: &mut dyn Write) -> Result<()> {
    if let Some(key) = &args.key {
        check_key_arg(key)?;
    }
    let expires_at = match args.expires.as_deref() {
        None => None,
        Some("never") => Some(None),
        Some(text) => Some(Some(text.to_string())),
    };
    let change = PermissionChange {
        share_with_ai: args.ai.map(|v| v.as_bool()),
        share_with_cloud: args.cloud.map(|v| v.as_bool()),
        read_only: args.read_only.map(|v| v.as_bool()),
        expires_at,
    };
    let target = match (&args.key, &args.schema, args.all) {
        (Some(key), None, false) => PermissionTarget::Keys(vec![key.clone()]),
        (None, Some(schema), false) => PermissionTarget::Schema(schema.clone()),
        (None, None, true) => PermissionTarget::All,
        _ => {
            return Err(NexusError::InvalidInput(
                "give one of KEY, --schema NAME or --all".into(),
            ));
        }
    };
    // A bad expiry is refused before the vault is even opened.
    change.validate().map_err(NexusError::InvalidInput)?;
    let mut engine = Engine::open(&args.vault)?;
    if change.is_empty() {
        // No change asked: show the current permissions.
        let rows = match &target {
            PermissionTarget::Keys(keys) => keys
                .iter()
                .map(|k| Ok((k.clone(), engine.get_permissions(k)?)))
                .collect::<Result<Vec<_>>>()?,
            PermissionTarget::Schema(name) => {
                db::permissions::all_with_keys(engine.conn(), Some(name))?
                    .into_iter()
                    .map(|(_, k, p)| (k, p))
                    .collect()
            }
            PermissionTarget::All | PermissionTarget::Query(_) => {
                db::permissions::all_with_keys(engine.conn(), None)?
                    .into_iter()
                    .map(|(_, k, p)| (k, p))
                    .collect()
            }
        };
        let map: serde_json::Map<String, Value> = rows
            .into_iter()
            .map(|(k, p)| (k, serde_json::to_value(p).unwrap_or(Value::Null)))
            .collect();
        say(out, &to_json(&map)?)?;
        return Ok(());
    }
    let updates = engine.set_permissions(&target, &change, Source::Cli)?;
    for u in &updates {
        let changes = crate::permissions::model::diff(&u.old, &u.new);
        let text: Vec<String> = changes
            .iter()
            .map(|(field, v)| format!("{field} {} -> {}", v["old"], v["new"]))
            .collect();
        say(out, &format!("{}: {}", u.key, text.join(", ")))?;
    }
    say(out, &format!("{} objects changed", updates.len()))?;
    Ok(())
}

/// Refuses an object key given on the command line that would leave the
/// vault (`..`, an absolute path, a backslash) before anything is opened.
fn check_key_arg(key: &str) -> Result<()> {
    crate::vault::keys::check_key(key)
        .map(|_| ())
        .map_err(NexusError::InvalidInput)
}

fn remember(root: &Path) {
    let result = AppConfig::load().and_then(|mut app| {
        app.remember(root);
        app.save()
    });
    if let Err(e) = result {
        tracing::warn!("could not record the vault in the app config: {e}");
    }
}

fn say(out: &mut dyn Write, text: &str) -> Result<()> {
    writeln!(out, "{text}").map_err(|e| NexusError::io("<stdout>", e))
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string_pretty(value).map_err(|e| NexusError::json("<output>", e))
}
