//! From a file's bytes to the rows the indexer writes, without the database.
//!
//! Reading, hashing, parsing, validating and serialising a file needs no
//! database connection, so a large batch does all of it on a second thread
//! (`index-reader`) while the engine's thread writes the chunk before (see
//! [`crate::sync::indexer`]). Everything here gets what it needs as
//! arguments: the file, the hash indexed for it, the size cap, and the
//! schemas to validate with.

use std::collections::HashMap;
use std::sync::Arc;

use rusqlite::Connection;
use serde_json::Value;

use crate::db::files::FileRow;
use crate::db::merge_base::StoredBase;
use crate::db::{file_hash, matches_stored_hash};
use crate::error::Result;
use crate::schema::registry::{CompiledSchema, SchemaRegistry};
use crate::vault::formats::{FileProblem, Layout, ParsedFile, parse_file};
use crate::vault::walk::{self, FoundFile};

/// What reading one file found.
pub(crate) enum Read {
    /// New bytes: to be written.
    Changed(Box<Pending>),
    /// The bytes that are indexed already: only the size and mtime it was
    /// read with are recorded, and the hash (a hash an earlier version
    /// recorded is replaced by today's).
    Same {
        rel: String,
        size: u64,
        mtime_ns: i64,
        hash: String,
    },
    /// Gone since the walk, or still being written (its next event or the
    /// next reconcile reads it again).
    Skip,
}

/// A file read and prepared, waiting to be written.
pub(crate) struct Pending {
    /// The file, with the size and mtime of what was actually read.
    pub file: FoundFile,
    /// BLAKE3 of the bytes ("" when they could not be read).
    pub hash: String,
    /// The bytes read, compressed, kept as the file's merge base once
    /// indexed; `None` unless their objects are to be indexed.
    pub base: Option<StoredBase>,
    pub outcome: Outcome,
    /// What was indexed of the file before, if anything.
    pub previous: Option<FileRow>,
}

/// What the bytes are.
pub(crate) enum Outcome {
    /// Too big or unreadable: a problem; the last good objects stay.
    Unusable(String),
    /// Should be data but cannot be read as such: a problem; the last good
    /// objects stay.
    Invalid(FileProblem),
    /// JSON that is not Me-Nexus data: skipped, and its objects (if it had
    /// any) removed.
    NotData,
    /// Data.
    Data(PreparedData),
}

/// A data file's objects as rows.
pub(crate) struct PreparedData {
    pub schema_name: String,
    pub layout: Layout,
    /// The objects, or a whole-file problem (an unknown or unusable schema)
    /// under which the last good objects stay.
    pub objects: std::result::Result<Vec<PreparedObject>, FileProblem>,
    /// Problems of single items (bad items, failed validation).
    pub problems: Vec<FileProblem>,
}

/// One object as a row of `data_objects` and `object_content`.
pub(crate) struct PreparedObject {
    pub key: String,
    pub schema_id: i64,
    pub item_id: Option<String>,
    /// The item's index in its file.
    pub position: i64,
    pub title: String,
    /// Compact JSON.
    pub content_json: String,
    /// [`crate::db::object_hash`] of `content_json`.
    pub content_hash: String,
    /// `created_at` of the content, if valid RFC 3339.
    pub created_at: Option<String>,
    /// `updated_at` of the content if valid, else the file's mtime.
    pub updated_at: Option<String>,
}

/// Where validation finds a schema by name.
pub(crate) trait SchemaSource {
    /// The schema `name`; `Ok(None)` when none is registered, `Err` when
    /// the registered one cannot be used.
    fn schema(&mut self, name: &str) -> std::result::Result<Option<Arc<CompiledSchema>>, String>;
}

/// The engine's registry, loading from the database as needed (one thread).
pub(crate) struct RegistryLookup<'a> {
    pub registry: &'a mut SchemaRegistry,
    pub conn: &'a Connection,
}

impl SchemaSource for RegistryLookup<'_> {
    fn schema(&mut self, name: &str) -> std::result::Result<Option<Arc<CompiledSchema>>, String> {
        self.registry
            .get(self.conn, name)
            .map_err(|e| e.to_string())
    }
}

/// Every registered schema, compiled, for a reader thread that has no
/// database connection.
#[derive(Debug, Default)]
pub(crate) struct SchemaSnapshot(HashMap<String, std::result::Result<Arc<CompiledSchema>, String>>);

impl SchemaSnapshot {
    /// Compiles (or takes from the registry's cache) every schema in the
    /// database. Run after plugins registered theirs.
    pub fn take(registry: &mut SchemaRegistry, conn: &Connection) -> Result<SchemaSnapshot> {
        let mut schemas = HashMap::new();
        for row in crate::db::schemas::all(conn)? {
            let compiled = match registry.get(conn, &row.schema_name) {
                Ok(Some(schema)) => Ok(schema),
                Ok(None) => continue,
                Err(e) => Err(e.to_string()),
            };
            schemas.insert(row.schema_name, compiled);
        }
        Ok(SchemaSnapshot(schemas))
    }
}

impl SchemaSource for &SchemaSnapshot {
    fn schema(&mut self, name: &str) -> std::result::Result<Option<Arc<CompiledSchema>>, String> {
        self.0.get(name).cloned().transpose()
    }
}

/// Reads one file and prepares its rows. `previous` is what was indexed of
/// it, if anything; unless `forced`, the same bytes are not prepared again.
/// `max_bytes` is the vault's size cap.
pub(crate) fn read_and_prepare(
    file: &FoundFile,
    previous: Option<&FileRow>,
    forced: bool,
    max_bytes: u64,
    schemas: &mut impl SchemaSource,
) -> Read {
    let unusable = |message: String| {
        Read::Changed(Box::new(Pending {
            file: file.clone(),
            hash: String::new(),
            base: None,
            outcome: Outcome::Unusable(message),
            previous: previous.cloned(),
        }))
    };
    let over_cap = |size: u64| {
        unusable(format!(
            "file is {size} bytes, over the {max_bytes}-byte cap (max_file_bytes in .nexus/config.json); skipped"
        ))
    };
    if file.size > max_bytes {
        return over_cap(file.size);
    }
    let (bytes, mtime_ns) = match read_stable(&file.abs, max_bytes) {
        Ok(Stable::Read(bytes, mtime_ns)) => (bytes, mtime_ns),
        Ok(Stable::TooLarge(size)) => return over_cap(size),
        Ok(Stable::Unsettled) => return Read::Skip,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Read::Skip,
        // Unreadable now (locked, permission denied): a problem, and the
        // last good objects stay. It never counts as deleted.
        Err(e) => return unusable(format!("cannot read file now (will retry): {e}")),
    };
    let hash = file_hash(&bytes);
    if !forced && previous.is_some_and(|row| matches_stored_hash(&row.hash, &bytes, &hash)) {
        return Read::Same {
            rel: file.rel.clone(),
            size: bytes.len() as u64,
            mtime_ns,
            hash,
        };
    }
    let file = FoundFile {
        size: bytes.len() as u64,
        mtime_ns,
        ..file.clone()
    };
    let outcome = match parse_file(&file.rel, &bytes) {
        ParsedFile::Invalid(problem) => Outcome::Invalid(problem),
        ParsedFile::NotData(_) => Outcome::NotData,
        ParsedFile::Data(data) => {
            let modified = mtime_rfc3339(mtime_ns);
            let mut problems = data.problems;
            let objects = match schemas.schema(&data.schema_name) {
                Ok(Some(schema)) => Ok(data
                    .objects
                    .into_iter()
                    .map(|object| {
                        problems.extend(schema.validate(&object.content, &object.pointer));
                        prepare_object(object, schema.id, modified.as_deref())
                    })
                    .collect()),
                Ok(None) => Err(FileProblem::new(
                    "/schema",
                    format!(
                        "unknown schema \"{}\": add it with `me-nexus schema add` or a plugin manifest",
                        data.schema_name
                    ),
                )),
                Err(e) => Err(FileProblem::new("/schema", e)),
            };
            Outcome::Data(PreparedData {
                schema_name: data.schema_name,
                layout: data.layout,
                objects,
                problems,
            })
        }
    };
    // Compressed here, on the reader thread of a large batch, so that the
    // writer only stores it (see `db::merge_base`); only for bytes whose
    // objects will be indexed, the one case in which they become the base.
    let indexed = matches!(&outcome, Outcome::Data(data) if data.objects.is_ok());
    let base = indexed.then(|| StoredBase::compress(&bytes));
    Read::Changed(Box::new(Pending {
        file,
        hash,
        base,
        outcome,
        previous: previous.cloned(),
    }))
}

fn prepare_object(
    object: crate::vault::formats::ParsedObject,
    schema_id: i64,
    file_modified: Option<&str>,
) -> PreparedObject {
    let content_json = crate::vault::formats::compact_json::to_string(&object.content);
    let content_hash = crate::db::object_hash(&content_json);
    PreparedObject {
        position: item_index(&object.pointer).unwrap_or(0),
        created_at: timestamp_field(&object.content, "created_at"),
        // Without an updated_at field, the file's modification time.
        updated_at: timestamp_field(&object.content, "updated_at")
            .or_else(|| file_modified.map(str::to_string)),
        key: object.key,
        schema_id,
        item_id: object.item_id,
        title: object.title,
        content_json,
        content_hash,
    }
}

/// The item index in a pointer `/data/<index>/...`.
pub(crate) fn item_index(pointer: &str) -> Option<i64> {
    pointer
        .strip_prefix("/data/")?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// What [`read_stable`] found.
#[derive(Debug, PartialEq, Eq)]
enum Stable {
    /// The bytes, and the mtime they were read at.
    Read(Vec<u8>, i64),
    /// The file is (now) larger than the cap: this many bytes.
    TooLarge(u64),
    /// It kept changing while being read.
    Unsettled,
}

/// Reads a file until the size and mtime before and after a read agree
/// with each other and with the bytes read (a file still being written
/// changes under the reader). A file over `max_bytes` is not read, even if
/// it grew past the cap after the walk.
///
/// Both looks are at the open file, not its path: an open, two `fstat`s
/// and the reads, where `metadata` + `fs::read` + `metadata` walked the
/// path three times and added an `fstat` and an `lseek` (on a cold index
/// of 11,000 files, 22,000 system calls fewer). A file replaced (renamed
/// over) during the read is read whole as it was; the replacement is
/// another watcher event.
fn read_stable(path: &std::path::Path, max_bytes: u64) -> std::io::Result<Stable> {
    const ATTEMPTS: u32 = 5;
    for attempt in 0..ATTEMPTS {
        let mut file = std::fs::File::open(path)?;
        let before = file.metadata()?;
        if before.len() > max_bytes {
            return Ok(Stable::TooLarge(before.len()));
        }
        let bytes = read_all(&mut file, before.len(), max_bytes)?;
        let after = file.metadata()?;
        if after.len() > max_bytes {
            return Ok(Stable::TooLarge(after.len()));
        }
        let (m_before, m_after) = (walk::mtime_ns(&before), walk::mtime_ns(&after));
        if before.len() == after.len() && m_before == m_after && after.len() == bytes.len() as u64 {
            return Ok(Stable::Read(bytes, m_after));
        }
        // Give the writer a moment; the waits grow: 1, 2, 4, 8 ms.
        std::thread::sleep(std::time::Duration::from_millis(1 << attempt));
    }
    Ok(Stable::Unsettled)
}

/// Reads `file` to its end, expecting `size` bytes, and stops after one
/// byte more than `max_bytes` (a file that grows without end). The caller
/// compares the bytes with the size after the read. (`File::read_to_end`
/// would look up the size again, with an `fstat` and an `lseek`.)
fn read_all(file: &mut std::fs::File, size: u64, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let to_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
    let limit = to_usize(max_bytes).saturating_add(1);
    let mut bytes = Vec::new();
    // One byte more than expected, so that the read that finds the end
    // needs no room of its own.
    bytes
        .try_reserve_exact(to_usize(size).saturating_add(1).min(limit))
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
    bytes.resize(bytes.capacity().min(limit), 0);
    let mut filled = 0;
    loop {
        if filled == bytes.len() {
            if filled >= limit {
                break;
            }
            // The file grew while being read: make room (read_stable then
            // sees the size change and reads again).
            let room = bytes.len().saturating_mul(2).max(4096).min(limit);
            bytes.resize(room, 0);
        }
        match file.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(filled);
    Ok(bytes)
}

/// A file modification time (ns since the epoch) as RFC 3339.
fn mtime_rfc3339(mtime_ns: i64) -> Option<String> {
    (mtime_ns > 0).then(|| {
        chrono::DateTime::from_timestamp_nanos(mtime_ns)
            .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    })
}

/// A timestamp field of the content, if it is valid RFC 3339.
fn timestamp_field(content: &Value, field: &str) -> Option<String> {
    let text = crate::vault::formats::field(content, field)?.as_str()?;
    crate::vault::formats::rfc3339::is_valid(text).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `read_all` gives back exactly the file's bytes, whether the size it
    /// expected was right, too small (the file grew) or too large.
    #[test]
    fn read_all_returns_the_bytes_whatever_size_was_expected() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 4095, 4096, 4097, 100_000] {
            let bytes: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &bytes).unwrap();
            for expected in [len as u64, 0, 10, len as u64 * 2 + 7] {
                let mut file = std::fs::File::open(&path).unwrap();
                let read = read_all(&mut file, expected, u64::MAX).unwrap();
                assert_eq!(read.len(), len, "len {len}, expected {expected}");
                assert!(read == bytes, "len {len}, expected {expected}");
            }
        }
    }

    /// A settled file is read once, with its mtime; a missing one is an
    /// error that says so.
    #[test]
    fn read_stable_reads_a_settled_file_with_its_mtime() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        std::fs::write(&path, b"{\"a\": 1}").unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(
            read_stable(&path, 1000).unwrap(),
            Stable::Read(b"{\"a\": 1}".to_vec(), walk::mtime_ns(&meta))
        );
        let missing = read_stable(&dir.path().join("gone.json"), 1000).unwrap_err();
        assert_eq!(missing.kind(), std::io::ErrorKind::NotFound);
    }

    /// A file that grew past the cap after the walk is not read: it is
    /// reported with its size. Reading never goes much past the cap.
    #[test]
    fn a_file_over_the_cap_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.json");
        std::fs::write(&path, vec![b' '; 5000]).unwrap();
        assert_eq!(read_stable(&path, 4999).unwrap(), Stable::TooLarge(5000));
        assert!(matches!(read_stable(&path, 5000).unwrap(), Stable::Read(b, _) if b.len() == 5000));
        let mut file = std::fs::File::open(&path).unwrap();
        // Told to expect 10 bytes under a cap of 100: reads 101 at most.
        assert_eq!(read_all(&mut file, 10, 100).unwrap().len(), 101);
    }
}
