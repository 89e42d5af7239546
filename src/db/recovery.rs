//! Keeping the index usable: a cheap check when it is opened, moving a
//! damaged database aside, and rotating backups.
//!
//! The database is a cache of the files (plus permissions, mirrored in
//! `.nexus/permissions.json`), so the answer to damage is to keep the
//! damaged files for inspection and rebuild: [`open_or_recover`] never
//! deletes anything and never touches a vault data file; it only moves
//! `vault.sqlite`, `vault.sqlite-wal` and `vault.sqlite-shm` into
//! `.nexus/corrupt/<UTC timestamp>/` and creates a fresh database, which the
//! next reconcile fills from the files.
//!
//! What counts as damage:
//! - the database is missing (a `-wal`/`-shm` left without it is stale and
//!   is moved aside, so that SQLite never replays it into the new file);
//! - SQLite says "not a database" or "malformed" when the file is opened,
//!   at the first statement, at `PRAGMA quick_check`, or while migrating;
//! - `PRAGMA quick_check` reports anything but `ok` (a truncated file);
//! - a `-wal` or `-shm` file whose header is neither all zeros (a file being
//!   set up by another connection) nor a valid SQLite header. These two are
//!   moved aside on their own: the main file is then a consistent earlier
//!   snapshot, and is kept if it passes its check.
//!
//! Other failures (busy, permission denied, disk full) are not damage: they
//! are returned as errors and nothing is moved.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use crate::error::{IoContext, NexusError, Result};

/// What [`open_or_recover`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recovery {
    /// What was wrong, in words (for the audit log and the user).
    pub what: Vec<String>,
    /// The folder the damaged files were moved to, if any were.
    pub moved_to: Option<PathBuf>,
    /// The names of the files moved there.
    pub moved: Vec<String>,
    /// Whether the database is new and must be rebuilt from the files.
    pub rebuild: bool,
}

/// An open database, and the recovery that was needed to open it.
#[derive(Debug)]
pub struct Opened {
    /// The connection (migrated, checked).
    pub conn: Connection,
    /// `None` when the database was fine.
    pub recovery: Option<Recovery>,
}

/// Called before damaged files are moved. It returns an error to refuse the
/// move (another process is using the database), or a guard that is held
/// while the files move.
pub type BeforeMove<'a> = &'a dyn Fn() -> Result<Option<File>>;

/// Opens the database at `db`, checking it with `PRAGMA quick_check`; a
/// missing or damaged database (see the module docs) is moved aside into a
/// new folder under `corrupt_root` and replaced by a fresh one.
pub fn open_or_recover(db: &Path, corrupt_root: &Path, before_move: BeforeMove) -> Result<Opened> {
    let wal = sidecar(db, "-wal");
    let shm = sidecar(db, "-shm");
    let mut what = Vec::new();
    let mut to_move = Vec::new();
    let mut rebuild = false;
    let db_missing = !db.exists();
    if db_missing {
        what.push("database missing".to_string());
        rebuild = true;
        to_move.extend([&wal, &shm].into_iter().filter(|p| p.exists()).cloned());
    } else {
        if header_damaged(&wal, &[0x377f_0682, 0x377f_0683], Endian::Big) {
            what.push("write-ahead log (vault.sqlite-wal) damaged".to_string());
            to_move.push(wal.clone());
        }
        if header_damaged(&shm, &[WAL_VERSION], Endian::Native) {
            what.push("shared-memory index (vault.sqlite-shm) damaged".to_string());
            to_move.push(shm.clone());
        }
    }
    let mut moved_to: Option<PathBuf> = None;
    let mut moved = Vec::new();
    if !to_move.is_empty() {
        let _guard = before_move()?;
        let dir = new_corrupt_dir(corrupt_root)?;
        moved.extend(move_into(&to_move, &dir)?);
        moved_to = Some(dir);
    }
    if !db_missing {
        match try_open(db) {
            Ok(conn) => {
                let recovery = (!what.is_empty()).then_some(Recovery {
                    what,
                    moved_to,
                    moved,
                    rebuild: false,
                });
                return Ok(Opened { conn, recovery });
            }
            Err(OpenError::Failed(e)) => return Err(e),
            Err(OpenError::Damaged(reason)) => {
                what.push(format!("database damaged ({reason})"));
                rebuild = true;
                let _guard = before_move()?;
                let dir = match &moved_to {
                    Some(dir) => dir.clone(),
                    None => new_corrupt_dir(corrupt_root)?,
                };
                let files: Vec<PathBuf> = [db.to_path_buf(), wal, shm]
                    .into_iter()
                    .filter(|p| p.exists())
                    .collect();
                moved.extend(move_into(&files, &dir)?);
                moved_to = Some(dir);
            }
        }
    }
    let conn = super::open(db)?;
    Ok(Opened {
        conn,
        recovery: Some(Recovery {
            what,
            moved_to,
            moved,
            rebuild,
        }),
    })
}

/// `PRAGMA quick_check`: `["ok"]` or what SQLite found.
pub fn quick_check(conn: &Connection) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare("PRAGMA quick_check")?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    rows.collect()
}

/// Whether a SQLite error means the file is damaged (as opposed to busy,
/// unreadable, full...).
pub fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

enum OpenError {
    Damaged(String),
    Failed(NexusError),
}

impl From<NexusError> for OpenError {
    fn from(e: NexusError) -> Self {
        match &e {
            NexusError::Database(inner) if is_damage(inner) => {
                OpenError::Damaged(inner.to_string())
            }
            _ => OpenError::Failed(e),
        }
    }
}

impl From<rusqlite::Error> for OpenError {
    fn from(e: rusqlite::Error) -> Self {
        OpenError::from(NexusError::Database(e))
    }
}

/// Opens, configures, checks and migrates, in that order, so that damage
/// shows up before a migration writes anything.
fn try_open(db: &Path) -> std::result::Result<Connection, OpenError> {
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    super::configure(&conn)?;
    let check = quick_check(&conn)?;
    if check != ["ok"] {
        return Err(OpenError::Damaged(summarise(&check)));
    }
    super::migrations::migrate(&conn)?;
    Ok(conn)
}

/// Opens the database read-only (for a read-only vault): no migration, no
/// journal change, nothing moved. A missing, damaged or outdated database is
/// an error naming the way out.
pub fn open_read_only(db: &Path) -> Result<Connection> {
    let way_out = |what: &str| {
        NexusError::Vault(format!(
            "the vault is read-only and its index is {what}; make the folder writable and run `me-nexus sync`: {}",
            db.display()
        ))
    };
    if !db.is_file() {
        return Err(way_out("missing"));
    }
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        if is_damage(&e) {
            way_out("damaged")
        } else {
            e.into()
        }
    })?;
    conn.busy_timeout(super::BUSY_TIMEOUT)?;
    super::stable_plans(&conn)?;
    conn.execute_batch("PRAGMA query_only = ON;")?;
    match quick_check(&conn) {
        Ok(check) if check == ["ok"] => {}
        Ok(_) => return Err(way_out("damaged")),
        Err(e) if is_damage(&e) => return Err(way_out("damaged")),
        Err(e) => return Err(e.into()),
    }
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if version != super::migrations::LATEST {
        return Err(way_out("from another version of Me-Nexus"));
    }
    Ok(conn)
}

fn summarise(check: &[String]) -> String {
    let mut text = check.iter().take(3).cloned().collect::<Vec<_>>().join("; ");
    if check.len() > 3 {
        text.push_str(&format!("; and {} more", check.len() - 3));
    }
    text
}

fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// `WAL_VERSION` of SQLite's -wal and -shm headers.
const WAL_VERSION: u32 = 3_007_000;

#[derive(Clone, Copy)]
enum Endian {
    Big,
    Native,
}

/// Whether the file at `path` exists, is not empty, does not start with
/// zeros (a header still being written by another connection), and its
/// first u32 is none of `magic`.
fn header_damaged(path: &Path, magic: &[u32], endian: Endian) -> bool {
    let Ok(mut file) = File::open(path) else {
        return false;
    };
    let mut head = [0u8; 32];
    let mut read = 0;
    while read < head.len() {
        match file.read(&mut head[read..]) {
            Ok(0) => break,
            Ok(n) => read += n,
            Err(_) => return false,
        }
    }
    if read == 0 || head[..read].iter().all(|b| *b == 0) {
        return false;
    }
    if read < 8 {
        return true;
    }
    let word = |at: usize| {
        let bytes = [head[at], head[at + 1], head[at + 2], head[at + 3]];
        match endian {
            Endian::Big => u32::from_be_bytes(bytes),
            Endian::Native => u32::from_ne_bytes(bytes),
        }
    };
    match endian {
        // -wal: magic, then the format version.
        Endian::Big => !(magic.contains(&word(0)) && word(4) == WAL_VERSION),
        // -shm: the version is the first field.
        Endian::Native => !magic.contains(&word(0)),
    }
}

fn stamp() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

/// A new, empty folder `<root>/<UTC timestamp>`.
fn new_corrupt_dir(root: &Path) -> Result<PathBuf> {
    let base = stamp();
    for n in 0..1000 {
        let name = if n == 0 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let dir = root.join(name);
        if !dir.exists() {
            std::fs::create_dir_all(&dir).with_path(&dir)?;
            return Ok(dir);
        }
    }
    Err(NexusError::Vault(format!(
        "cannot make a folder for damaged files: {}",
        root.display()
    )))
}

/// Renames each file into `dir`; never deletes. Returns the names moved.
fn move_into(files: &[PathBuf], dir: &Path) -> Result<Vec<String>> {
    let mut names = Vec::new();
    for file in files {
        let Some(name) = file.file_name() else {
            continue;
        };
        let target = dir.join(name);
        std::fs::rename(file, &target).with_path(file)?;
        names.push(name.to_string_lossy().into_owned());
    }
    Ok(names)
}

/// File names of backups: `vault-<UTC timestamp>.sqlite`, which sort by time.
const BACKUP_PREFIX: &str = "vault-";
const BACKUP_SUFFIX: &str = ".sqlite";

/// The backups in `dir`, oldest first.
pub fn list_backups(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(BACKUP_PREFIX) && n.ends_with(BACKUP_SUFFIX))
        })
        .collect();
    found.sort();
    found
}

/// Takes a backup of `conn`'s database into `dir` with `VACUUM INTO` when
/// the newest backup there is older than `interval` (or there is none), and
/// keeps the newest `keep` backups (0 turns backups off). A database that
/// fails `PRAGMA quick_check` is never backed up; a backup is checked
/// before it gets its final name, so a half-written file never looks like a
/// backup. Returns the new backup's path.
pub fn backup_if_due(
    conn: &Connection,
    dir: &Path,
    interval: Duration,
    keep: usize,
) -> Result<Option<PathBuf>> {
    if keep == 0 {
        return Ok(None);
    }
    if let Some(newest) = list_backups(dir).last() {
        let age = std::fs::metadata(newest)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok());
        // A backup dated in the future (clock change) counts as fresh.
        if age.is_none_or(|age| age < interval) {
            return Ok(None);
        }
    }
    let check = quick_check(conn)?;
    if check != ["ok"] {
        return Err(NexusError::Sync(format!(
            "no backup taken: the database fails its check ({})",
            summarise(&check)
        )));
    }
    std::fs::create_dir_all(dir).with_path(dir)?;
    let base = stamp();
    let mut name = format!("{BACKUP_PREFIX}{base}{BACKUP_SUFFIX}");
    let mut n = 0;
    while dir.join(&name).exists() {
        // Two backups within a millisecond (interval 0): still in time order.
        n += 1;
        name = format!("{BACKUP_PREFIX}{base}_{n:03}{BACKUP_SUFFIX}");
    }
    let target = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_file(&tmp).with_path(&tmp)?;
    }
    let tmp_text = tmp
        .to_str()
        .ok_or_else(|| NexusError::Vault(format!("backup path is not UTF-8: {}", tmp.display())))?;
    conn.execute("VACUUM INTO ?1", [tmp_text])?;
    let verified = Connection::open_with_flags(&tmp, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| quick_check(&c));
    if !matches!(&verified, Ok(check) if *check == ["ok"]) {
        let _ = std::fs::remove_file(&tmp);
        return Err(NexusError::Sync(format!(
            "the new backup failed its check; none kept: {}",
            tmp.display()
        )));
    }
    std::fs::rename(&tmp, &target).with_path(&target)?;
    let all = list_backups(dir);
    let excess = all.len().saturating_sub(keep);
    for old in &all[..excess] {
        std::fs::remove_file(old).with_path(old)?;
    }
    Ok(Some(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_guard() -> Result<Option<File>> {
        Ok(None)
    }

    #[test]
    fn a_good_database_opens_without_recovery() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("v.sqlite");
        drop(super::super::open(&db).unwrap());
        let opened = open_or_recover(&db, &dir.path().join("corrupt"), &no_guard).unwrap();
        assert!(opened.recovery.is_none());
        assert!(!dir.path().join("corrupt").exists());
    }

    #[test]
    fn garbage_is_moved_aside_not_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("v.sqlite");
        std::fs::write(&db, vec![0x5a; 10_000]).unwrap();
        let opened = open_or_recover(&db, &dir.path().join("corrupt"), &no_guard).unwrap();
        let recovery = opened.recovery.unwrap();
        assert!(recovery.rebuild);
        let moved = recovery.moved_to.unwrap().join("v.sqlite");
        assert_eq!(std::fs::read(moved).unwrap(), vec![0x5a; 10_000]);
        assert_eq!(quick_check(&opened.conn).unwrap(), ["ok"]);
    }

    #[test]
    fn a_refused_move_leaves_everything_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("v.sqlite");
        std::fs::write(
            &db,
            b"not sqlite at all, but long enough to be a header....",
        )
        .unwrap();
        let refuse = || -> Result<Option<File>> { Err(NexusError::Vault("busy".into())) };
        assert!(open_or_recover(&db, &dir.path().join("corrupt"), &refuse).is_err());
        assert!(db.is_file());
        assert!(!dir.path().join("corrupt").exists());
    }

    #[test]
    fn zeroed_sidecars_are_not_damage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x-shm");
        std::fs::write(&p, vec![0u8; 32768]).unwrap();
        assert!(!header_damaged(&p, &[WAL_VERSION], Endian::Native));
        std::fs::write(&p, b"garbage garbage garbage garbage!").unwrap();
        assert!(header_damaged(&p, &[WAL_VERSION], Endian::Native));
    }

    #[test]
    fn backups_rotate() {
        let dir = tempfile::tempdir().unwrap();
        let conn = super::super::open(&dir.path().join("v.sqlite")).unwrap();
        let backups = dir.path().join("backups");
        for _ in 0..4 {
            assert!(
                backup_if_due(&conn, &backups, Duration::ZERO, 2)
                    .unwrap()
                    .is_some()
            );
        }
        assert_eq!(list_backups(&backups).len(), 2);
        assert!(
            backup_if_due(&conn, &backups, Duration::from_secs(3600), 2)
                .unwrap()
                .is_none()
        );
    }
}
