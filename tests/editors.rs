//! Real editors' save patterns, with the sync service running: each keeps
//! the object's identity and permissions and gives exactly one update, even
//! when the file is missing or empty for a moment in between.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{TestVault, wait_until};
use crossbeam_channel::Receiver;
use me_nexus::permissions::model::PermissionChange;
use me_nexus::sync::permissions_sync::PermissionTarget;
use me_nexus::sync::{SyncCommand, SyncEvent, SyncHandle, SyncState, spawn_sync_service};

const DEADLINE: Duration = Duration::from_secs(20);

/// An editor that is slow between two steps of a save: longer than the
/// watcher's debounce, so the watcher sees the in-between state. This is
/// part of the scenario, not a wait for a result.
fn slow_editor_pause() {
    std::thread::park_timeout(Duration::from_millis(700));
}

struct Live {
    v: TestVault,
    sync: SyncHandle,
    seen: Vec<SyncEvent>,
}

impl Live {
    fn start() -> Live {
        let v = TestVault::sample_initialised();
        let sync = spawn_sync_service(v.path(), None).unwrap();
        let mut live = Live {
            v,
            sync,
            seen: Vec::new(),
        };
        live.until("the service watches", |e| {
            e.iter()
                .any(|e| matches!(e, SyncEvent::Status(s) if s.state == SyncState::Watching))
        });
        // Grant AI on todos.json#3, so that we can see it survive.
        let (tx, rx) = crossbeam_channel::bounded(1);
        live.sync
            .send(SyncCommand::SetPermissions {
                target: PermissionTarget::Keys(vec!["todos.json#3".into()]),
                change: PermissionChange {
                    share_with_ai: Some(true),
                    ..PermissionChange::default()
                },
                source: me_nexus::audit::Source::App,
                reply: Some(tx),
            })
            .unwrap();
        rx.recv_timeout(DEADLINE).unwrap().unwrap();
        live.seen.clear();
        live
    }

    fn events(&self) -> &Receiver<SyncEvent> {
        self.sync.events()
    }

    /// Collects events until `done` holds for what was seen so far.
    fn until(&mut self, what: &str, mut done: impl FnMut(&[SyncEvent]) -> bool) {
        let deadline = std::time::Instant::now() + DEADLINE;
        loop {
            while let Ok(e) = self.events().try_recv() {
                self.seen.push(e);
            }
            if done(&self.seen) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting for: {what}"
            );
            if let Ok(e) = self.events().recv_timeout(Duration::from_millis(50)) {
                self.seen.push(e);
            }
        }
    }

    fn row_id(&self, key: &str) -> i64 {
        self.v.row_id(key)
    }

    fn text_of(&self, key: &str) -> String {
        self.v.content(key)["text"].as_str().unwrap().to_string()
    }

    /// After a save, a later unrelated change marks the end: everything the
    /// save caused has been reported by then.
    fn settle(&mut self, marker: &str) {
        self.v.write(&format!("notes/{marker}.md"), "# marker\n");
        let key = format!("notes/{marker}.md");
        self.until("the marker note", |e| {
            e.iter().any(
                |e| matches!(e, SyncEvent::ObjectsChanged { added, .. } if added.contains(&key)),
            )
        });
    }

    fn count(&self, key: &str, pick: impl Fn(&SyncEvent) -> Vec<String>) -> usize {
        self.seen
            .iter()
            .flat_map(&pick)
            .filter(|k| k == key)
            .count()
    }

    /// The save of `todos.json#3` gave exactly one update, no removal and no
    /// new object, and kept the row and the grant.
    fn assert_one_clean_update(&mut self, id_before: i64, text: &str, marker: &str) {
        let key = "todos.json#3";
        self.until("the new text in the index", |_| true);
        wait_until("the new text", DEADLINE, || self.text_of(key) == text);
        self.settle(marker);
        let updated = self.count(key, |e| match e {
            SyncEvent::ObjectsChanged { updated, .. } => updated.first().to_vec(),
            _ => Vec::new(),
        });
        let removed = self.count(key, |e| match e {
            SyncEvent::ObjectsChanged { removed, .. } => removed.first().to_vec(),
            _ => Vec::new(),
        });
        let added = self.count(key, |e| match e {
            SyncEvent::ObjectsChanged { added, .. } => added.first().to_vec(),
            _ => Vec::new(),
        });
        assert_eq!(
            (updated, removed, added),
            (1, 0, 0),
            "events: {:#?}",
            self.seen
        );
        assert_eq!(self.row_id(key), id_before, "identity kept");
        let perms: bool = self
            .v
            .db()
            .query_row(
                "SELECT p.share_with_ai FROM object_permissions p JOIN data_objects o ON o.id = p.object_id WHERE o.file_path = ?1",
                [key],
                |r| r.get(0),
            )
            .unwrap();
        assert!(perms, "the grant survived the save");
        assert!(self.v.read(".nexus/permissions.json").contains(key));
    }
}

fn edited(v: &TestVault, text: &str) -> String {
    v.read("todos.json").replace("Renew passport", text)
}

#[test]
fn truncate_then_write_in_place_like_vs_code() {
    let mut live = Live::start();
    let id = live.row_id("todos.json#3");
    let new = edited(&live.v, "Renew passport (in place)");
    let path = live.v.abs("todos.json");
    // Truncate: the file is empty on disk for a while.
    std::fs::File::create(&path).unwrap();
    slow_editor_pause();
    std::fs::write(&path, new).unwrap();
    live.assert_one_clean_update(id, "Renew passport (in place)", "m1");
}

#[test]
fn rename_over_like_sed_and_safe_write_editors() {
    let mut live = Live::start();
    let id = live.row_id("todos.json#3");
    let new = edited(&live.v, "Renew passport (mv over)");
    std::fs::write(live.v.abs("todos.json.new"), new).unwrap();
    std::fs::rename(live.v.abs("todos.json.new"), live.v.abs("todos.json")).unwrap();
    live.assert_one_clean_update(id, "Renew passport (mv over)", "m2");

    let status = std::process::Command::new("sed")
        .args(["-i", "s/Renew passport (mv over)/Renew passport (sed)/"])
        .arg(live.v.abs("todos.json"))
        .status()
        .unwrap();
    assert!(status.success());
    live.seen.clear();
    live.assert_one_clean_update(id, "Renew passport (sed)", "m3");
}

#[test]
fn rename_away_then_create_like_vim_emacs_and_jetbrains() {
    let mut live = Live::start();
    let id = live.row_id("todos.json#3");
    let new = edited(&live.v, "Renew passport (vim)");
    // vim with backupcopy=auto: the original becomes the backup, the path is
    // missing for a while, then the new file is written and the backup goes.
    std::fs::rename(live.v.abs("todos.json"), live.v.abs("todos.json~")).unwrap();
    slow_editor_pause();
    std::fs::write(live.v.abs("todos.json"), new).unwrap();
    std::fs::remove_file(live.v.abs("todos.json~")).unwrap();
    live.assert_one_clean_update(id, "Renew passport (vim)", "m4");
}

#[test]
fn a_move_split_across_two_batches_keeps_identity_and_grants() {
    let mut live = Live::start();
    let id = live.row_id("todos.json#3");
    let bytes = std::fs::read(live.v.abs("todos.json")).unwrap();
    // Removed first, recreated elsewhere a moment later (a slow move by a
    // file manager, or delete-then-write by a sync tool).
    std::fs::remove_file(live.v.abs("todos.json")).unwrap();
    slow_editor_pause();
    std::fs::create_dir_all(live.v.abs("archive")).unwrap();
    std::fs::write(live.v.abs("archive/todos.json"), &bytes).unwrap();
    wait_until("the objects moved", DEADLINE, || {
        live.v.keys().contains(&"archive/todos.json#3".to_string())
    });
    live.settle("m5");
    assert_eq!(live.row_id("archive/todos.json#3"), id, "identity kept");
    assert!(!live.v.keys().iter().any(|k| k.starts_with("todos.json#")));
    assert!(
        live.v
            .read(".nexus/permissions.json")
            .contains("archive/todos.json#3")
    );
    let removed: usize = live
        .seen
        .iter()
        .map(|e| match e {
            SyncEvent::ObjectsChanged { removed, .. } => removed.len(),
            _ => 0,
        })
        .sum();
    assert_eq!(removed, 0, "nothing was removed: {:#?}", live.seen);
}
