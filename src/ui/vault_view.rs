//! The state of an open vault in the window, fed by two threads: the sync
//! service (events: status, changes, errors) and the reader (query
//! answers). `logic` drains both and never blocks; the `*_ui` functions in
//! the other files draw from this state and turn clicks into commands.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender, bounded};
use serde_json::Value;

use crate::audit::{AuditEntry, Source};
use crate::db::problems::Problem;
use crate::db::stats::PermissionStats;
use crate::error::Result as NexusResult;
use crate::permissions::model::PermissionChange;
use crate::query::pager::Pager;
use crate::query::{GridQuery, ObjectDetail, ReadReply, ReadRequest, ReaderHandle, spawn_reader};
use crate::sync::permissions_sync::{PermissionTarget, PermissionUpdate};
use crate::sync::{SyncCommand, SyncEvent, SyncHandle, SyncState, SyncStatus, spawn_sync_service};
use crate::ui::form::FormState;
use crate::ui::toasts::Toasts;

/// An open vault.
pub struct VaultView {
    /// Vault root.
    pub root: PathBuf,
    /// Folder name.
    pub name: String,
    /// The sync service; `None` for a read-only vault (browsing only).
    sync: Option<SyncHandle>,
    /// Why the vault is read-only, when it is.
    pub read_only: Option<String>,
    reader: ReaderHandle,
    /// The last status from the sync service.
    pub status: Option<SyncStatus>,
    /// Counts for the stats cards.
    pub stats: PermissionStats,
    /// Indexing progress: files done, files to do.
    pub progress: Option<(usize, usize)>,
    /// The grid's filter and sort.
    pub query: GridQuery,
    generation: u64,
    /// The grid's count, pages and page boundaries.
    pub grid: Pager,
    /// The selected object.
    pub selected: Option<String>,
    /// Its detail, once the reader answered.
    pub detail: Option<ObjectDetail>,
    /// The form editing the selected object.
    pub editor: Option<FormState>,
    /// Schema names for the filter.
    pub schemas: Vec<String>,
    /// Every problem (settings modal).
    pub problems: Vec<Problem>,
    /// The audit log (settings modal).
    pub audit: Vec<AuditEntry>,
    /// Open conflicts (settings modal).
    pub conflicts: Vec<crate::sync::conflicts::ConflictRow>,
    /// The text of the "new todo" field.
    pub new_todo: String,
    /// Whether the settings modal is open, and its tab.
    pub settings: Option<crate::ui::settings::SettingsTab>,
    /// A bulk action waiting for confirmation.
    pub pending_bulk: Option<(String, PermissionChange)>,
    /// A delete waiting for confirmation.
    pub pending_delete: Option<String>,
    /// The expiry date chosen for a bulk "set expiry".
    pub bulk_expiry: chrono::NaiveDate,
    /// The reply to a save on its way, and whether the form sent it.
    save_reply: Option<(Receiver<NexusResult<String>>, bool)>,
    /// The grid should scroll to the selection.
    pub scroll_to_selection: bool,
    /// Errors and notices.
    pub toasts: Toasts,
}

impl std::fmt::Debug for VaultView {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultView")
            .field("root", &self.root)
            .finish_non_exhaustive()
    }
}

impl VaultView {
    /// Opens the vault at `root`: starts its sync service and reader, both of
    /// which wake the window through `ctx`.
    pub fn open(
        root: &Path,
        ctx: &egui::Context,
        mode: crate::vault::OpenMode,
    ) -> NexusResult<VaultView> {
        let repaint_ctx = ctx.clone();
        let waker: crate::sync::service::Waker = Arc::new(move || repaint_ctx.request_repaint());
        // A vault that cannot be written (or opened for browsing only) gets
        // no sync service: the window reads the index and refuses changes.
        let vault = crate::vault::Vault::open_with(root, mode)?;
        let (sync, read_only) = if vault.is_read_only() {
            (None, Some(vault.read_only_error().to_string()))
        } else {
            (
                Some(spawn_sync_service(root, Some(Arc::clone(&waker)))?),
                None,
            )
        };
        let reader = spawn_reader(&vault, Some(waker))?;
        let mut view = VaultView {
            root: vault.root().to_path_buf(),
            name: vault.name(),
            sync,
            read_only,
            reader,
            status: None,
            stats: PermissionStats::default(),
            progress: None,
            query: GridQuery::default(),
            generation: 0,
            grid: Pager::default(),
            selected: None,
            detail: None,
            editor: None,
            schemas: Vec::new(),
            problems: Vec::new(),
            audit: Vec::new(),
            conflicts: Vec::new(),
            new_todo: String::new(),
            settings: None,
            pending_bulk: None,
            pending_delete: None,
            bulk_expiry: crate::ui::dates::today() + chrono::Duration::days(30),
            save_reply: None,
            scroll_to_selection: false,
            toasts: Toasts::default(),
        };
        view.refresh(true);
        Ok(view)
    }

    /// Drains the sync events and reader replies. Never blocks.
    pub fn logic(&mut self) {
        let mut refresh = false;
        let events: Vec<SyncEvent> = self
            .sync
            .as_ref()
            .map(|s| s.events().try_iter().collect())
            .unwrap_or_default();
        for event in events {
            match event {
                SyncEvent::Status(status) => {
                    self.stats = status.stats.clone();
                    if status.state == SyncState::Watching {
                        self.progress = None;
                    }
                    self.status = Some(status);
                }
                SyncEvent::Progress { done, total } => self.progress = Some((done, total)),
                SyncEvent::ObjectsChanged { .. } | SyncEvent::PermissionsChanged { .. } => {
                    refresh = true
                }
                SyncEvent::Problems { .. } => {
                    self.reader.request(ReadRequest::Problems);
                    refresh = true;
                }
                SyncEvent::Error(message) => self.toasts.error(message),
            }
        }
        if refresh {
            self.refresh(false);
        }
        let replies: Vec<ReadReply> = self.reader.replies().try_iter().collect();
        for reply in replies {
            match reply {
                ReadReply::Count { generation, count } => self.grid.on_count(generation, count),
                ReadReply::Page {
                    generation,
                    page,
                    rows,
                } => self.grid.on_page(generation, page, rows),
                ReadReply::Anchors {
                    generation,
                    cursors,
                    rows,
                    done,
                } => self.grid.on_anchors(generation, cursors, rows, done),
                ReadReply::Detail { key, detail } => {
                    if self.selected.as_deref() == Some(key.as_str()) {
                        self.detail = detail.map(|d| *d);
                    }
                }
                ReadReply::Stats(stats) => self.stats = stats,
                ReadReply::Problems(problems) => self.problems = problems,
                ReadReply::Audit(audit) => self.audit = audit,
                ReadReply::Schemas(schemas) => self.schemas = schemas,
                ReadReply::Conflicts(conflicts) => self.conflicts = conflicts,
                ReadReply::Error(message) => self.toasts.error(message),
            }
        }
        if let Some((reply, from_editor)) = &self.save_reply
            && let Ok(result) = reply.try_recv()
        {
            let from_editor = *from_editor;
            self.save_reply = None;
            match (result, from_editor) {
                (Ok(key), true) => {
                    self.editor = None;
                    self.toasts.notice(format!("Saved {key}"));
                }
                (Ok(_), false) => {}
                (Err(e), true) if self.editor.is_some() => {
                    if let Some(editor) = &mut self.editor {
                        editor.errors = vec![e.to_string()];
                    }
                }
                (Err(e), _) => self.toasts.error(e.to_string()),
            }
        }
    }

    /// Asks the reader for everything the window shows, afresh: after a
    /// data change the grid keeps showing its rows until fresh ones come;
    /// after a new query (`query_changed`) it starts over.
    pub fn refresh(&mut self, query_changed: bool) {
        self.generation += 1;
        self.grid.restart(self.generation, query_changed);
        for request in [
            ReadRequest::Count {
                generation: self.generation,
                query: self.query.clone(),
            },
            ReadRequest::Anchors {
                generation: self.generation,
                query: self.query.clone(),
            },
        ] {
            self.reader.request(request);
        }
        self.reader.request(ReadRequest::Stats);
        self.reader.request(ReadRequest::Schemas);
        if let Some(key) = &self.selected {
            self.reader
                .request(ReadRequest::Detail { key: key.clone() });
        }
        if self.settings.is_some() {
            self.reader.request(ReadRequest::Problems);
            self.reader.request(ReadRequest::Audit);
            self.reader.request(ReadRequest::Conflicts);
        }
    }

    /// Asks for the pages of the rows `visible` that are neither fresh nor
    /// on their way.
    pub fn request_rows(&mut self, visible: Range<usize>) {
        for (page, after) in self.grid.wanted(visible) {
            self.reader.request(ReadRequest::Page {
                generation: self.generation,
                query: self.query.clone(),
                page,
                after,
            });
        }
    }

    /// Selects object `key` (or nothing) and asks for its detail.
    pub fn select(&mut self, key: Option<String>) {
        if self.selected == key {
            return;
        }
        self.selected = key;
        self.detail = None;
        self.editor = None;
        if let Some(key) = &self.selected {
            self.reader
                .request(ReadRequest::Detail { key: key.clone() });
        }
    }

    /// Moves the selection by `delta` rows in the grid order.
    pub fn move_selection(&mut self, delta: isize) {
        let Some(total) = self.grid.total().filter(|t| *t > 0) else {
            return;
        };
        let current = self
            .selected
            .as_deref()
            .and_then(|key| self.grid.position_of(key));
        let next = match current {
            Some(i) => i.saturating_add_signed(delta).min(total - 1),
            None => 0,
        };
        self.request_rows(next..next + 1);
        if let Some(row) = self.grid.row_at(next) {
            let key = row.key.clone();
            self.select(Some(key));
            self.scroll_to_selection = true;
        }
    }

    /// Changes the filter or sort: the grid starts over.
    pub fn set_query(&mut self, query: GridQuery) {
        if self.query != query {
            self.query = query;
            self.refresh(true);
        }
    }

    /// Opens the settings modal on `tab`.
    pub fn open_settings(&mut self, tab: crate::ui::settings::SettingsTab) {
        self.settings = Some(tab);
        self.reader.request(ReadRequest::Problems);
        self.reader.request(ReadRequest::Audit);
        self.reader.request(ReadRequest::Conflicts);
    }

    /// Changes the permissions of one object. The row shows the change at
    /// once; the sync service writes the DB, permissions.json and the audit
    /// log, and reports failures as an error event.
    pub fn set_permission(&mut self, key: &str, change: PermissionChange) {
        // Shown at once, unless the vault is read-only (the command will be
        // refused with a message).
        if self.sync.is_some()
            && let Some(row) = self.grid.rows_mut().find(|r| r.key == key)
        {
            row.permissions = change.apply(&row.permissions);
            row.expired = row.permissions.is_expired_at(chrono::Utc::now());
        }
        self.send(SyncCommand::SetPermissions {
            target: PermissionTarget::Keys(vec![key.to_string()]),
            change,
            source: Source::App,
            reply: None::<Sender<NexusResult<Vec<PermissionUpdate>>>>,
        });
    }

    /// Applies `change` to every object the grid's filter shows.
    pub fn bulk_permission(&mut self, change: PermissionChange) {
        self.send(SyncCommand::SetPermissions {
            target: PermissionTarget::Query(self.query.clone()),
            change,
            source: Source::App,
            reply: None,
        });
    }

    /// Saves an object; the outcome arrives in `logic`. `from_editor` saves
    /// close the form when they succeed and show their error in it.
    pub fn save(
        &mut self,
        schema_name: &str,
        content: Value,
        key: Option<String>,
        from_editor: bool,
    ) {
        let (tx, rx) = bounded(1);
        self.save_reply = Some((rx, from_editor));
        self.send(SyncCommand::SaveObject {
            schema_name: schema_name.to_string(),
            content,
            key,
            source: Source::App,
            reply: Some(tx),
        });
    }

    /// Deletes an object.
    pub fn delete(&mut self, key: &str) {
        if self.selected.as_deref() == Some(key) {
            self.select(None);
        }
        self.send(SyncCommand::DeleteObject {
            key: key.to_string(),
            source: Source::App,
            reply: None,
        });
    }

    /// Puts the losing version of conflict `id` back into its file.
    pub fn restore_conflict(&mut self, id: i64) {
        self.send(SyncCommand::RestoreConflict {
            id,
            source: Source::App,
            reply: None,
        });
    }

    /// Asks for a full reconcile.
    pub fn force_sync(&mut self) {
        self.send(SyncCommand::ForceSync);
    }

    fn send(&mut self, command: SyncCommand) {
        let result = match &self.sync {
            Some(sync) => sync.send(command),
            None => Err(crate::error::NexusError::Vault(
                self.read_only
                    .clone()
                    .unwrap_or_else(|| "the vault is read-only".into()),
            )),
        };
        if let Err(e) = result {
            self.toasts.error(e.to_string());
        }
    }

    /// Whether a save is on its way.
    pub fn saving(&self) -> bool {
        self.save_reply.is_some()
    }
}
