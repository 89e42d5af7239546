//! What the engine remembers between permission changes, so that a toggle
//! costs about what replacing permissions.json costs (benchmark B7).
//!
//! Rewriting permissions.json needs every non-default grant. Reading them
//! from `object_permissions` means visiting one scattered `data_objects`
//! page per shared object for its key: at a thousand grants that was most
//! of a toggle. The engine keeps them in memory instead, and trusts that
//! copy only while `counters.permissions_generation` is what it was when
//! the copy was made. Triggers (migration 7) bump that counter on every
//! write that can change what the file would say: a non-default row of
//! `object_permissions` inserted, updated or deleted (cascades included),
//! a shared object re-keyed, an orphan grant changed. Whoever writes, this
//! engine, another process or a hand-run SQL statement, the next change
//! sees a different generation and reads the grants again.
//!
//! It also remembers the bytes of permissions.json as last read or
//! written, so that "did the file change on disk?" is a byte comparison
//! rather than a hash of the whole file; nothing is trusted from metadata.

use std::collections::BTreeMap;

use rusqlite::Connection;
use serde_json::Value;

use crate::db;
use crate::error::Result;
use crate::permissions::model::Permissions;

/// The engine's memory of permissions.json and the grants behind it.
#[derive(Debug, Default)]
pub(crate) struct PermissionsMirror {
    /// The file as last read or written.
    pub file: Option<KnownFile>,
    /// The grants as of a generation.
    pub grants: Option<Grants>,
}

/// permissions.json as Me-Nexus last read or wrote it.
#[derive(Debug)]
pub(crate) struct KnownFile {
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Their hash (what the `files` row records).
    pub hash: String,
    /// Its unreadable entries, kept verbatim on every rewrite.
    pub invalid: BTreeMap<String, Value>,
}

/// Every grant permissions.json should list, as of `generation`.
#[derive(Debug)]
pub(crate) struct Grants {
    /// `counters.permissions_generation` the grants are current for.
    pub generation: i64,
    /// Non-default permissions of objects, by key.
    pub objects: BTreeMap<String, Permissions>,
    /// Grants for keys with no object, by key.
    pub orphans: BTreeMap<String, Permissions>,
}

impl Grants {
    /// Reads the grants from the database. The generation is read first,
    /// so that a write landing in between leaves a copy that claims an
    /// older generation (and is read again next time), never the reverse.
    pub fn load(conn: &Connection) -> Result<Grants> {
        let generation = db::permissions::generation(conn)?;
        Ok(Grants {
            generation,
            objects: db::permissions::non_default(conn)?.into_iter().collect(),
            orphans: db::permissions::orphans(conn)?.into_iter().collect(),
        })
    }

    /// Takes in one object's change made by this engine (the caller then
    /// moves `generation` on to the one its transaction ended with).
    pub fn apply(&mut self, key: &str, new: &Permissions) {
        if new.is_default() {
            self.objects.remove(key);
        } else {
            self.objects.insert(key.to_string(), new.clone());
        }
    }

    /// Every entry the file should list: objects' grants and orphan grants.
    /// An orphan grant never shares a key with an object (an object that
    /// appears takes its orphan grant over), but if both were there, the
    /// orphan's entry is the one kept, as before.
    pub fn entries(&self) -> std::borrow::Cow<'_, BTreeMap<String, Permissions>> {
        if self.orphans.is_empty() {
            return std::borrow::Cow::Borrowed(&self.objects);
        }
        let mut all = self.objects.clone();
        all.extend(self.orphans.iter().map(|(k, p)| (k.clone(), p.clone())));
        std::borrow::Cow::Owned(all)
    }
}

impl PermissionsMirror {
    /// The hash of `bytes`, without hashing them when they are the bytes
    /// last read or written.
    pub fn hash_of(&self, bytes: &[u8]) -> String {
        match &self.file {
            Some(known) if known.bytes == bytes => known.hash.clone(),
            _ => db::file_hash(bytes),
        }
    }

    /// The grants, current for the database's generation: the copy in
    /// memory if nothing changed them since, else read again.
    pub fn take_grants(&mut self, conn: &Connection) -> Result<Grants> {
        let generation = db::permissions::generation(conn)?;
        match self.grants.take() {
            Some(grants) if grants.generation == generation => Ok(grants),
            _ => Grants::load(conn),
        }
    }
}
