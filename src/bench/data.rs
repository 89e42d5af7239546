//! Generated vaults: collection files of todos in folders, one Markdown
//! note per folder, and a permissions.json granting AI on every 100th
//! object.

use std::path::Path;

use serde_json::{Value, json};

use crate::error::{IoContext, NexusError, Result};

/// Items per collection file.
pub const ITEMS_PER_FILE: usize = 10;
/// Collection files per folder.
pub const FILES_PER_FOLDER: usize = 10;
/// Every this many collection objects, one has an AI grant.
pub const GRANT_EVERY: usize = 100;

/// The shape of a generated vault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Folders (`f0000/` ...).
    pub folders: usize,
    /// Collection files in all.
    pub files: usize,
    /// Markdown notes (one per folder).
    pub notes: usize,
}

impl Layout {
    /// The layout for about `objects` collection objects (rounded up to
    /// whole files).
    pub fn for_objects(objects: usize) -> Layout {
        let files = objects.div_ceil(ITEMS_PER_FILE).max(1);
        let folders = files.div_ceil(FILES_PER_FOLDER);
        Layout {
            folders,
            files,
            notes: folders,
        }
    }

    /// Collection objects.
    pub fn collection_objects(&self) -> usize {
        self.files * ITEMS_PER_FILE
    }

    /// Every object: collection items and notes.
    pub fn objects(&self) -> usize {
        self.collection_objects() + self.notes
    }

    /// AI grants written to permissions.json.
    pub fn grants(&self) -> usize {
        self.collection_objects().div_ceil(GRANT_EVERY)
    }

    /// Vault-relative path of collection file `n` (0-based).
    pub fn file_rel(&self, n: usize) -> String {
        format!(
            "f{:04}/list{}.json",
            n / FILES_PER_FOLDER,
            n % FILES_PER_FOLDER
        )
    }

    /// A collection file in the middle of the vault (for B2 and B7).
    pub fn middle_file(&self) -> usize {
        self.files / 2
    }
}

/// The bytes of collection file `n`; `edit` changes the first item's text
/// (and length) so that each edit is a real change.
pub fn collection_bytes(n: usize, edit: Option<usize>) -> Vec<u8> {
    let items: Vec<Value> = (0..ITEMS_PER_FILE)
        .map(|i| {
            let global = n * ITEMS_PER_FILE + i;
            let text = match edit {
                Some(e) if i == 0 => format!("Task {global} edited {e} {}", "x".repeat(e % 7)),
                _ => format!("Task {global}: water the plants on the balcony"),
            };
            let priority = ["low", "normal", "high"][global % 3];
            json!({
                "id": i + 1,
                "text": text,
                "completed": global.is_multiple_of(3),
                "priority": priority,
                "tags": ["home", format!("t{}", global % 17)],
                "created_at": "2025-01-15T10:30:00Z",
                "updated_at": "2025-01-16T08:00:00Z",
            })
        })
        .collect();
    let doc = json!({"schema": "core.todo", "version": "1.0", "data": items});
    let mut bytes = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn note_text(folder: usize) -> String {
    format!(
        "---\ntags: [bench]\n---\n# Note {folder}\n\nSome text about folder {folder}, with a [link](https://example.org).\n\n- one\n- two\n"
    )
}

/// Writes the vault files (not `.nexus/` except permissions.json) under
/// `root`.
pub fn write_vault(root: &Path, layout: &Layout) -> Result<()> {
    for folder in 0..layout.folders {
        let dir = root.join(format!("f{folder:04}"));
        std::fs::create_dir_all(&dir).with_path(&dir)?;
        let note = dir.join("note.md");
        std::fs::write(&note, note_text(folder)).with_path(&note)?;
    }
    for n in 0..layout.files {
        let path = root.join(layout.file_rel(n));
        std::fs::write(&path, collection_bytes(n, None)).with_path(&path)?;
    }
    let mut grants = serde_json::Map::new();
    for g in 0..layout.grants() {
        let global = g * GRANT_EVERY;
        let key = format!(
            "{}#{}",
            layout.file_rel(global / ITEMS_PER_FILE),
            global % ITEMS_PER_FILE + 1
        );
        grants.insert(
            key,
            json!({"share_with_ai": true, "share_with_cloud": false, "read_only": false, "expires_at": null}),
        );
    }
    let nexus = root.join(crate::vault::NEXUS_DIR);
    std::fs::create_dir_all(&nexus).with_path(&nexus)?;
    let path = root.join(crate::vault::PERMISSIONS_REL);
    let bytes = serde_json::to_vec_pretty(&json!({ "object_permissions": grants }))
        .map_err(|e| NexusError::json(&path, e))?;
    std::fs::write(&path, bytes).with_path(&path)?;
    Ok(())
}
