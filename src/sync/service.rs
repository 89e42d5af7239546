//! The sync service: one named thread that owns an [`Engine`], runs the
//! watcher, processes file batches and commands, and reports events.
//!
//! Clients talk to it only through channels, so the window never waits on
//! disk or SQLite, and the engine knows nothing about the UI: a client that
//! wants to be woken passes a waker closure (the window passes one that
//! calls `request_repaint`).

use crate::sync::capped::Capped;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, select, unbounded};

use crate::error::{NexusError, Result};
use crate::sync::commands::{SyncCommand, SyncEvent, SyncState, SyncStatus};
use crate::sync::engine::Engine;
use crate::sync::indexer::BatchReport;
use crate::sync::watcher::{self, WatchBatch};

/// Called after events were sent, to wake the client.
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// The client's side of a running sync service. Dropping it shuts the
/// service down and waits for the thread.
pub struct SyncHandle {
    commands: Sender<SyncCommand>,
    events: Receiver<SyncEvent>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for SyncHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncHandle").finish_non_exhaustive()
    }
}

impl SyncHandle {
    /// Sends a command.
    pub fn send(&self, command: SyncCommand) -> Result<()> {
        self.commands
            .send(command)
            .map_err(|_| NexusError::Sync("the sync service has stopped".into()))
    }

    /// A sender for commands (cheap to clone).
    pub fn commands(&self) -> Sender<SyncCommand> {
        self.commands.clone()
    }

    /// The event receiver.
    pub fn events(&self) -> &Receiver<SyncEvent> {
        &self.events
    }

    /// Stops the service and waits for its thread.
    pub fn shutdown(mut self) -> Result<()> {
        self.stop()
    }

    fn stop(&mut self) -> Result<()> {
        let _ = self.commands.send(SyncCommand::Shutdown);
        if let Some(thread) = self.thread.take() {
            thread
                .join()
                .map_err(|_| NexusError::Sync("the sync thread panicked".into()))?;
        }
        Ok(())
    }
}

impl Drop for SyncHandle {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::error!("{e}");
        }
    }
}

/// Opens the vault at `vault_path` and starts its sync service on a thread
/// named `me-nexus-sync`. The service first runs a full reconcile, then
/// follows file changes. Opening errors (not a vault, ...) are returned here,
/// and so is a second service on the same vault: the service holds the
/// vault's service lock (see [`crate::vault::Vault::lock_service`]) until
/// its thread ends.
pub fn spawn_sync_service(vault_path: &Path, waker: Option<Waker>) -> Result<SyncHandle> {
    let vault = crate::vault::Vault::open(vault_path)?;
    let service_lock = vault.lock_service()?;
    let mut engine = Engine::open_for_service(vault)?;
    let (command_tx, command_rx) = unbounded();
    let (event_tx, event_rx) = unbounded();
    let progress_tx = event_tx.clone();
    let progress_waker = waker.clone();
    engine.set_progress(Some(crate::sync::engine::ProgressFn(Box::new(
        move |done, total| {
            let _ = progress_tx.send(SyncEvent::Progress { done, total });
            if let Some(w) = &progress_waker {
                w();
            }
        },
    ))));
    let thread = std::thread::Builder::new()
        .name("me-nexus-sync".into())
        .spawn(move || {
            let mut service = Service {
                engine,
                events: event_tx,
                waker,
                errors: 0,
                paused: None,
                watcher: None,
                later: HashMap::new(),
            };
            service.run(&command_rx);
            // Released only once the engine is closed.
            drop(service);
            drop(service_lock);
        })
        .map_err(|e| NexusError::Sync(format!("cannot start the sync thread: {e}")))?;
    Ok(SyncHandle {
        commands: command_tx,
        events: event_rx,
        thread: Some(thread),
    })
}

/// How often a paused service (vault folder gone or bare) tries again.
const PAUSED_RETRY: Duration = Duration::from_secs(2);

struct Service {
    engine: Engine,
    events: Sender<SyncEvent>,
    waker: Option<Waker>,
    errors: usize,
    /// Why syncing is paused (the vault folder vanished or looks empty):
    /// set by [`NexusError::VaultUnavailable`], cleared by the next full
    /// reconcile that succeeds.
    paused: Option<String>,
    /// The file watcher and where it sends batches; restarted after a
    /// pause, since the folder it watched may have been replaced (a drive
    /// mounted again).
    watcher: Option<(watcher::VaultWatcher, Sender<WatchBatch>)>,
    /// Paths to look at again: files a live batch found missing or
    /// suddenly empty (maybe mid-save), and files that could not be read or
    /// written now (retried with exponential backoff). Path → (attempt, due).
    later: HashMap<String, (u32, Instant)>,
}

/// How long a path that looked missing or empty mid-save waits for a
/// second look.
const RECHECK_DELAY: Duration = Duration::from_millis(1000);

/// The wait before retry `attempt` of an unreadable file or a failed batch:
/// 0.5 s, 1 s, 2 s, ... up to a minute.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.min(7))).min(Duration::from_secs(60))
}

impl Service {
    fn run(&mut self, commands: &Receiver<SyncCommand>) {
        let settings = self.engine.vault().settings().clone();
        let (fs_tx, fs_rx) = unbounded();
        // The watcher starts before the first reconcile so that no change
        // made during it is missed.
        self.start_watcher(fs_tx);
        self.status(SyncState::Starting, 0);
        self.full_reconcile();
        let periodic =
            crossbeam_channel::tick(Duration::from_secs(settings.reconcile_interval_secs.max(1)));
        let retry = crossbeam_channel::tick(PAUSED_RETRY);
        loop {
            // Wake for the first path due for another look, if any.
            let wake = match self.later.values().map(|(_, due)| *due).min() {
                Some(due) => crossbeam_channel::at(due),
                None => crossbeam_channel::never(),
            };
            select! {
                recv(commands) -> command => match command {
                    Ok(SyncCommand::Shutdown) | Err(_) => break,
                    Ok(command) => self.handle_command(command),
                },
                recv(fs_rx) -> batch => {
                    let Ok(first) = batch else { break };
                    self.handle_watch_batches(first, &fs_rx);
                },
                recv(periodic) -> _ => self.full_reconcile(),
                recv(retry) -> _ => if self.paused.is_some() {
                    self.full_reconcile();
                },
                recv(wake) -> _ => self.look_again(),
            }
        }
        self.watcher = None;
        tracing::info!("sync service stopped");
    }

    fn start_watcher(&mut self, fs_tx: Sender<WatchBatch>) {
        // The old watcher goes first, so that its events never mix in.
        self.watcher = None;
        let debounce = Duration::from_millis(self.engine.vault().settings().debounce_ms);
        match watcher::watch(self.engine.vault().root(), debounce, fs_tx.clone()) {
            Ok(w) => self.watcher = Some((w, fs_tx)),
            Err(e) => self.report_error(e.to_string()),
        }
    }

    /// The state to show when no work is running.
    fn idle_state(&self) -> SyncState {
        match &self.paused {
            Some(reason) => SyncState::Paused(reason.clone()),
            None => SyncState::Watching,
        }
    }

    /// Merges every batch already waiting into one and processes it.
    fn handle_watch_batches(&mut self, first: WatchBatch, fs_rx: &Receiver<WatchBatch>) {
        let mut paths = BTreeSet::new();
        let mut rescan = false;
        let mut pending = vec![first];
        pending.extend(fs_rx.try_iter());
        for batch in pending {
            match batch {
                WatchBatch::Paths(p) => paths.extend(p),
                WatchBatch::Rescan => rescan = true,
                WatchBatch::Error(e) => {
                    self.report_error(format!("file watcher: {e}"));
                    rescan = true;
                }
            }
        }
        // While paused, only a full reconcile may decide what is gone.
        if rescan || self.paused.is_some() {
            if rescan {
                tracing::warn!("file events were lost; running a full reconcile");
            }
            self.full_reconcile();
            return;
        }
        // The folder vanished (moved away, unmounted): its files now look
        // deleted to the watcher; remove nothing.
        if let Err(e) = self.engine.check_vault_present() {
            self.after_batch(Err(e));
            return;
        }
        // Files waiting for a second look ride along: a file that went
        // missing a moment ago and reappears under a new name in this batch
        // is then recognised as moved, keeping its identity.
        paths.extend(self.later.keys().cloned());
        self.status(SyncState::Syncing { files: paths.len() }, paths.len());
        let result = self.engine.index_watched_paths(paths.clone());
        self.schedule_later(&paths, &result);
        self.after_batch(result);
    }

    /// Schedules another look at the paths of a batch that need one.
    fn schedule_later(&mut self, paths: &BTreeSet<String>, result: &Result<BatchReport>) {
        let now = Instant::now();
        match result {
            Ok(report) => {
                for path in &report.deferred {
                    self.later
                        .entry(path.clone())
                        .or_insert((0, now + RECHECK_DELAY));
                }
                for path in &report.unreadable {
                    let attempt = self.later.get(path).map_or(0, |(a, _)| a + 1);
                    self.later
                        .insert(path.clone(), (attempt, now + backoff(attempt)));
                }
            }
            Err(NexusError::VaultUnavailable(_)) => {}
            // The batch failed as a whole (the database was busy, a read
            // failed): every path of it is retried with backoff.
            Err(_) => {
                for path in paths {
                    let attempt = self.later.get(path).map_or(0, |(a, _)| a + 1);
                    self.later
                        .insert(path.clone(), (attempt, now + backoff(attempt)));
                }
            }
        }
    }

    /// Looks again at the paths that are due: a missing file is now taken
    /// as deleted, an empty one as empty; an unreadable one is retried.
    fn look_again(&mut self) {
        let now = Instant::now();
        let due: BTreeSet<String> = self
            .later
            .iter()
            .filter(|(_, (_, at))| *at <= now)
            .map(|(path, _)| path.clone())
            .collect();
        if due.is_empty() || self.paused.is_some() {
            return;
        }
        let attempts: HashMap<String, u32> = due
            .iter()
            .filter_map(|p| self.later.remove(p).map(|(a, _)| (p.clone(), a)))
            .collect();
        self.status(SyncState::Syncing { files: due.len() }, due.len());
        let result = self.engine.index_paths(due.clone());
        // Keep counting attempts for paths that fail again.
        for (path, attempt) in attempts {
            self.later.insert(path, (attempt, now));
        }
        let (failed, retry_all) = match &result {
            Ok(report) => (
                report.unreadable.iter().cloned().collect::<BTreeSet<_>>(),
                false,
            ),
            Err(NexusError::VaultUnavailable(_)) => (BTreeSet::new(), false),
            Err(_) => (due.clone(), true),
        };
        self.later
            .retain(|path, _| !due.contains(path) || failed.contains(path) || retry_all);
        for (attempt, at) in self.later.values_mut() {
            if *at == now {
                *attempt += 1;
                *at = now + backoff(*attempt);
            }
        }
        self.after_batch(result);
    }

    fn full_reconcile(&mut self) {
        // A paused service retries quietly: no Syncing flicker every tick.
        if self.paused.is_none() {
            self.status(SyncState::Syncing { files: 0 }, 0);
        }
        let result = self.engine.reconcile();
        let succeeded = result.is_ok();
        if result.is_ok()
            && self.paused.is_some()
            && let Some((_, fs_tx)) = self.watcher.take()
        {
            tracing::info!("the vault folder is back; resuming");
            self.start_watcher(fs_tx);
        }
        self.after_batch(result);
        // After the status went out: the window shows the fresh index while
        // the backup is taken.
        if succeeded {
            self.engine.backup_if_due();
        }
    }

    fn after_batch(&mut self, result: Result<BatchReport>) {
        match result {
            Ok(report) => {
                if report.changed_anything() || !report.problem_files.is_empty() {
                    tracing::info!("{}", report.summary());
                }
                self.paused = None;
                self.report(&report);
                self.status(SyncState::Watching, 0);
            }
            Err(NexusError::VaultUnavailable(reason)) => {
                if self.paused.as_ref() != Some(&reason) {
                    tracing::warn!("{reason}");
                    self.paused = Some(reason);
                }
                self.status(self.idle_state(), 0);
            }
            Err(e) => {
                self.report_error(e.to_string());
                self.status(SyncState::Error(e.to_string()), 0);
            }
        }
    }

    fn handle_command(&mut self, command: SyncCommand) {
        match command {
            SyncCommand::ForceSync => self.full_reconcile(),
            SyncCommand::SaveObject {
                schema_name,
                content,
                key,
                source,
                reply,
            } => {
                let result = self
                    .engine
                    .save_object(&schema_name, content, key.as_deref(), source);
                if let Ok(new_key) = &result {
                    let (mut added, mut updated) = (Capped::default(), Capped::default());
                    if key.is_some() {
                        updated.push(new_key.clone());
                    } else {
                        added.push(new_key.clone());
                    }
                    self.send(SyncEvent::ObjectsChanged {
                        added,
                        updated,
                        removed: Capped::default(),
                        moved: Capped::default(),
                    });
                }
                self.reply(reply, result);
            }
            SyncCommand::DeleteObject { key, source, reply } => {
                let result = self.engine.delete_object(&key, source);
                if result.is_ok() {
                    self.send(SyncEvent::ObjectsChanged {
                        added: Capped::default(),
                        updated: Capped::default(),
                        removed: vec![key].into(),
                        moved: Capped::default(),
                    });
                }
                self.reply(reply, result);
            }
            SyncCommand::SetPermissions {
                target,
                change,
                source,
                reply,
            } => {
                let result = self.engine.set_permissions(&target, &change, source);
                if let Ok(updates) = &result {
                    self.send(SyncEvent::PermissionsChanged {
                        keys: updates.iter().map(|u| u.key.clone()).collect(),
                    });
                }
                self.reply(reply, result);
            }
            SyncCommand::RestoreConflict { id, source, reply } => {
                let result = self.engine.restore_conflict(id, source);
                if let Ok(key) = &result {
                    self.send(SyncEvent::ObjectsChanged {
                        added: Capped::default(),
                        updated: vec![key.clone()].into(),
                        removed: Capped::default(),
                        moved: Capped::default(),
                    });
                }
                self.reply(reply, result);
            }
            SyncCommand::Shutdown => {}
        }
        self.status(self.idle_state(), 0);
    }

    /// Sends a command's result to its requester, or reports a failure as
    /// an event when nobody asked for the result: exactly once either way.
    fn reply<T>(&mut self, reply: Option<Sender<Result<T>>>, result: Result<T>) {
        match reply {
            Some(tx) => {
                if let Err(crossbeam_channel::SendError(Err(e))) = tx.send(result) {
                    self.report_error(e.to_string());
                }
            }
            None => {
                if let Err(e) = result {
                    self.report_error(e.to_string());
                }
            }
        }
    }

    fn report(&self, report: &BatchReport) {
        if !(report.objects_added.is_empty()
            && report.objects_updated.is_empty()
            && report.objects_removed.is_empty()
            && report.objects_moved.is_empty())
        {
            self.send(SyncEvent::ObjectsChanged {
                added: report.objects_added.clone(),
                updated: report.objects_updated.clone(),
                removed: report.objects_removed.clone(),
                moved: report.objects_moved.clone(),
            });
        }
        if !report.permissions_changed.is_empty() {
            self.send(SyncEvent::PermissionsChanged {
                keys: report.permissions_changed.clone(),
            });
        }
        if !report.problem_files.is_empty() {
            let total = crate::db::problems::count(self.engine.conn()).unwrap_or(0);
            self.send(SyncEvent::Problems {
                files: report.problem_files.clone(),
                total,
            });
        }
    }

    fn report_error(&mut self, message: String) {
        tracing::error!("{message}");
        self.errors += 1;
        self.send(SyncEvent::Error(message));
    }

    fn status(&self, state: SyncState, pending: usize) {
        let stats = self.engine.stats().unwrap_or_default();
        self.send(SyncEvent::Status(SyncStatus {
            state,
            stats,
            pending,
            errors: self.errors,
        }));
    }

    fn send(&self, event: SyncEvent) {
        // A client that went away is not an error for the service.
        let _ = self.events.send(event);
        if let Some(waker) = &self.waker {
            waker();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn service_on(dir: &Path) -> (Service, Receiver<SyncEvent>) {
        let engine = Engine::init(dir).unwrap();
        let (events, event_rx) = unbounded();
        (
            Service {
                engine,
                events,
                waker: None,
                errors: 0,
                paused: None,
                watcher: None,
                later: HashMap::new(),
            },
            event_rx,
        )
    }

    #[test]
    fn backoff_doubles_up_to_a_minute() {
        assert_eq!(backoff(0), Duration::from_millis(500));
        assert_eq!(backoff(1), Duration::from_secs(1));
        assert_eq!(backoff(3), Duration::from_secs(4));
        assert_eq!(backoff(30), Duration::from_secs(60));
    }

    #[test]
    fn unreadable_files_are_retried_with_growing_waits_and_deferred_ones_looked_at_again() {
        let dir = tempfile::tempdir().unwrap();
        let (mut service, _events) = service_on(dir.path());
        let paths = BTreeSet::from(["a.json".to_string(), "b.md".to_string()]);
        let report = BatchReport {
            unreadable: vec!["a.json".into()],
            deferred: vec!["b.md".into()],
            ..BatchReport::default()
        };
        let start = Instant::now();
        service.schedule_later(&paths, &Ok(report.clone()));
        let (attempt, due) = service.later["a.json"];
        assert_eq!(attempt, 0);
        assert!(due >= start + backoff(0));
        assert!(service.later.contains_key("b.md"));
        // It fails again: the next wait is longer.
        service.schedule_later(&paths, &Ok(report));
        let (attempt, due) = service.later["a.json"];
        assert_eq!(attempt, 1);
        assert!(due >= start + backoff(1));
        // A failed batch (the database was busy) retries every path of it.
        let busy = Err(NexusError::Sync("database is busy".into()));
        service.schedule_later(&BTreeSet::from(["c.json".to_string()]), &busy);
        assert!(service.later.contains_key("c.json"));
    }

    #[test]
    fn rescan_flag_runs_a_full_reconcile() {
        let dir = tempfile::tempdir().unwrap();
        let (mut service, events) = service_on(dir.path());
        service.full_reconcile();
        // A change the watcher never reported, as when the kernel queue overflowed.
        std::fs::write(
            dir.path().join("todos.json"),
            r#"{"schema":"core.todo","version":"1","data":[{"id":1,"text":"lost event"}]}"#,
        )
        .unwrap();
        let (_tx, fs_rx) = unbounded();
        service.handle_watch_batches(WatchBatch::Rescan, &fs_rx);
        let added: Vec<String> = events
            .try_iter()
            .filter_map(|e| match e {
                SyncEvent::ObjectsChanged { added, .. } => Some(added.first().to_vec()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(added, vec!["todos.json#1".to_string()]);
    }

    #[test]
    fn watcher_errors_are_reported_once_and_trigger_a_reconcile() {
        let dir = tempfile::tempdir().unwrap();
        let (mut service, events) = service_on(dir.path());
        std::fs::write(dir.path().join("a.md"), "# A\n").unwrap();
        let (_tx, fs_rx) = unbounded();
        service.handle_watch_batches(WatchBatch::Error("inotify limit".into()), &fs_rx);
        let all: Vec<SyncEvent> = events.try_iter().collect();
        let errors = all
            .iter()
            .filter(|e| matches!(e, SyncEvent::Error(m) if m.contains("inotify limit")))
            .count();
        assert_eq!(errors, 1);
        assert!(all.iter().any(|e| matches!(e, SyncEvent::ObjectsChanged { added, .. } if added.first() == ["a.md".to_string()])));
    }

    #[test]
    fn a_command_error_without_reply_becomes_one_error_event() {
        let dir = tempfile::tempdir().unwrap();
        let (mut service, events) = service_on(dir.path());
        service.handle_command(SyncCommand::DeleteObject {
            key: "nope.json#1".into(),
            source: crate::audit::Source::App,
            reply: None,
        });
        let errors: Vec<String> = events
            .try_iter()
            .filter_map(|e| match e {
                SyncEvent::Error(m) => Some(m),
                _ => None,
            })
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains("nope.json#1"));
    }
}
