//! Walking a vault: every file that may hold data, with its size and mtime
//! (or, for a first index, without them).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex, PoisonError};

use unicode_normalization::UnicodeNormalization;

use crate::error::{IoContext, Result};
use crate::vault::ignore::{PathRole, classify, is_ignored_component};

/// One candidate file found by the walk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFile {
    /// `/`-separated path relative to the vault root.
    pub rel: String,
    /// Absolute path.
    pub abs: PathBuf,
    /// Size in bytes (0 from [`walk_vault_names`], unless found through a
    /// symbolic link, which is looked up anyway).
    pub size: u64,
    /// Modification time in nanoseconds since the epoch (0 as `size`).
    pub mtime_ns: i64,
}

/// What a walk found.
#[derive(Debug, Default)]
pub struct WalkResult {
    /// Candidate data files, sorted by path.
    pub files: Vec<FoundFile>,
    /// Paths that could not be taken in, with the reason (non-UTF-8 names,
    /// unreadable folders). They are reported, never silently skipped.
    pub skipped: Vec<(String, String)>,
    /// Temporary files of atomic writes ([`is_temp_file_name`]) in the
    /// folders walked: a crash left them, or a write is under way.
    pub temp_files: Vec<PathBuf>,
}

/// Whether `name` is the name of an atomic write's temporary file
/// (`vault::atomic` names them `.<file>.<random>.nexus-tmp`).
pub fn is_temp_file_name(name: &str) -> bool {
    name.starts_with('.') && name.ends_with(".nexus-tmp")
}

/// Size and mtime of a file, following symlinks.
pub fn stat(abs: &Path) -> std::io::Result<(u64, i64)> {
    let meta = std::fs::metadata(abs)?;
    Ok((meta.len(), mtime_ns(&meta)))
}

/// The modification time of `meta` in nanoseconds since the epoch.
pub fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Walks the vault at `root`. Hidden folders and ignored names are not
/// entered; symlinks are followed only when they lead to a place inside the
/// vault.
pub fn walk_vault(root: &Path) -> Result<WalkResult> {
    let canonical_root = std::fs::canonicalize(root).with_path(root)?;
    let start = canonical_root.clone();
    Ok(walk_from(&canonical_root, start, String::new(), true))
}

/// [`walk_vault`] without the size and mtime of each file (both 0; a file
/// reached through a symbolic link has them), for an index that has no
/// file to compare them with: reading a file takes both from the file it
/// opened anyway. It saves a `statx` per file; symbolic links are still
/// followed only inside the vault, and only regular files are taken.
pub fn walk_vault_names(root: &Path) -> Result<WalkResult> {
    let canonical_root = std::fs::canonicalize(root).with_path(root)?;
    let start = canonical_root.clone();
    Ok(walk_from(&canonical_root, start, String::new(), false))
}

/// Walks one sub-folder (`rel_dir`, relative to the vault) only.
pub fn walk_subdir(root: &Path, rel_dir: &str) -> Result<WalkResult> {
    let canonical_root = std::fs::canonicalize(root).with_path(root)?;
    let dir = canonical_root.join(rel_dir);
    match std::fs::canonicalize(&dir) {
        Ok(canon) if canon.starts_with(&canonical_root) => {
            Ok(walk_from(&canonical_root, dir, rel_dir.to_string(), true))
        }
        _ => Ok(WalkResult::default()),
    }
}

/// Most threads a walk uses. A walk is system calls on folders the kernel
/// has cached (reading entries, and `statx` per file unless sizes are left
/// out), with nothing else to do
/// meanwhile: on B1's 1,000 folders, two threads took about half the time
/// of one.
const MAX_WALKERS: usize = 4;

/// Folders waiting to be read, shared by the walking threads.
struct Queue {
    state: Mutex<QueueState>,
    changed: Condvar,
}

struct QueueState {
    /// `(absolute path, vault-relative path)` of folders to read.
    folders: Vec<(PathBuf, String)>,
    /// Threads reading a folder now (which may add more).
    reading: usize,
}

/// Walks from folder `dir` (`rel_dir` in the vault at `root`) on up to
/// [`MAX_WALKERS`] threads, each taking the next folder waiting. Files
/// come sorted by path, skipped entries too.
fn walk_from(root: &Path, dir: PathBuf, rel_dir: String, with_sizes: bool) -> WalkResult {
    let mut visited = HashSet::new();
    if let Ok(canon) = std::fs::canonicalize(&dir) {
        visited.insert(canon);
    }
    let visited = Mutex::new(visited);
    let queue = Queue {
        state: Mutex::new(QueueState {
            folders: vec![(dir, rel_dir)],
            reading: 0,
        }),
        changed: Condvar::new(),
    };
    let walkers = std::thread::available_parallelism()
        .map_or(1, std::num::NonZeroUsize::get)
        .clamp(1, MAX_WALKERS);
    let mut result = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..walkers)
            .filter_map(|n| {
                std::thread::Builder::new()
                    .name(format!("vault-walk-{n}"))
                    .spawn_scoped(scope, || walk_queue(root, &queue, &visited, with_sizes))
                    .ok()
            })
            .collect();
        // This thread walks too; without helpers it walks alone.
        let mut result = walk_queue(root, &queue, &visited, with_sizes);
        for helper in helpers {
            match helper.join() {
                Ok(part) => {
                    result.files.extend(part.files);
                    result.skipped.extend(part.skipped);
                    result.temp_files.extend(part.temp_files);
                }
                Err(_) => result.skipped.push((
                    String::new(),
                    "a walking thread failed; some folders may be missing: sync again".into(),
                )),
            }
        }
        result
    });
    result.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    result.skipped.sort();
    result
}

/// One walking thread: reads folders from `queue` until none is waiting
/// and no other thread is reading one (which could add more).
fn walk_queue(
    root: &Path,
    queue: &Queue,
    visited: &Mutex<HashSet<PathBuf>>,
    with_sizes: bool,
) -> WalkResult {
    let mut out = WalkResult::default();
    let lock = || queue.state.lock().unwrap_or_else(PoisonError::into_inner);
    loop {
        let next = {
            let mut state = lock();
            loop {
                if let Some(folder) = state.folders.pop() {
                    state.reading += 1;
                    break Some(folder);
                }
                if state.reading == 0 {
                    break None;
                }
                state = queue
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        };
        let Some((dir, rel_dir)) = next else {
            // Wake the others: there is nothing left for them either.
            queue.changed.notify_all();
            return out;
        };
        let found = read_folder(root, &dir, &rel_dir, visited, with_sizes, &mut out);
        let mut state = lock();
        state.reading -= 1;
        state.folders.extend(found);
        drop(state);
        queue.changed.notify_all();
    }
}

/// Reads one folder: its files go to `out`, its sub-folders are returned
/// as `(absolute path, vault-relative path)` for the walk to read.
fn read_folder(
    root: &Path,
    dir: &Path,
    rel_dir: &str,
    visited: &Mutex<HashSet<PathBuf>>,
    with_sizes: bool,
    out: &mut WalkResult,
) -> Vec<(PathBuf, String)> {
    let mut folders = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            out.skipped
                .push((rel_dir.to_string(), format!("cannot read folder: {e}")));
            return folders;
        }
    };
    // Names taken in from this folder that are not plain ASCII: candidates
    // for Unicode-normalization twins.
    let mut non_ascii: Vec<String> = Vec::new();
    for entry in entries.flatten() {
        let os_name = entry.file_name();
        let Some(name) = os_name.to_str() else {
            let shown = os_name.to_string_lossy();
            out.skipped.push((
                join_rel(rel_dir, &shown),
                "file name is not valid UTF-8; rename it to index it".into(),
            ));
            continue;
        };
        if is_ignored_component(name) {
            if is_temp_file_name(name) && entry.file_type().is_ok_and(|t| t.is_file()) {
                out.temp_files.push(entry.path());
            }
            continue;
        }
        let rel = join_rel(rel_dir, name);
        let abs = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        // Whether it is a folder, a regular file, and its size and mtime.
        let (is_dir, is_file, stat) = if file_type.is_symlink() {
            // Follow only links whose target stays inside the vault.
            let Ok(target) = std::fs::canonicalize(&abs) else {
                continue;
            };
            if !target.starts_with(root) {
                continue;
            }
            let Ok(meta) = std::fs::metadata(&abs) else {
                continue;
            };
            if meta.is_dir()
                && !visited
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(target)
            {
                continue; // a loop
            }
            (meta.is_dir(), meta.is_file(), (meta.len(), mtime_ns(&meta)))
        } else if with_sizes && file_type.is_file() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            (false, true, (meta.len(), mtime_ns(&meta)))
        } else {
            // The entry's type comes with the folder listing.
            (file_type.is_dir(), file_type.is_file(), (0, 0))
        };
        let taken = is_dir || (is_file && classify(&rel) != PathRole::Ignored);
        if taken && !name.is_ascii() {
            non_ascii.push(name.to_string());
        }
        if is_dir {
            folders.push((abs, rel));
        } else if taken {
            out.files.push(FoundFile {
                rel,
                abs,
                size: stat.0,
                mtime_ns: stat.1,
            });
        }
    }
    record_normalization_twins(rel_dir, non_ascii, out);
    folders
}

/// Records a problem on each name of `names` (in folder `rel_dir`) that
/// has a twin: another name that is the same after Unicode normalization
/// (`café.md` written precomposed, NFC, and decomposed, NFD). Both are
/// indexed under their own keys, but macOS, Windows, sync services and
/// many tools treat them as one file, so one may overwrite the other.
fn record_normalization_twins(rel_dir: &str, names: Vec<String>, out: &mut WalkResult) {
    if names.len() < 2 {
        return;
    }
    let mut by_form: HashMap<String, Vec<String>> = HashMap::new();
    for name in names {
        by_form.entry(name.nfc().collect()).or_default().push(name);
    }
    for mut group in by_form.into_values().filter(|g| g.len() > 1) {
        group.sort();
        for name in &group {
            let others: Vec<String> = group
                .iter()
                .filter(|other| *other != name)
                .map(|other| format!("\"{}\" ({})", join_rel(rel_dir, other), form_of(other)))
                .collect();
            out.skipped.push((
                join_rel(rel_dir, name),
                format!(
                    "file name ({}) has a Unicode-normalization twin in the same folder: {}; \
                     both are indexed, but macOS, Windows, sync services and many tools treat \
                     them as one file, so one may overwrite the other: rename or merge one of them",
                    form_of(name),
                    others.join(", ")
                ),
            ));
        }
    }
}

/// Which Unicode normalization form a name is written in.
fn form_of(name: &str) -> &'static str {
    if unicode_normalization::is_nfc(name) {
        "NFC"
    } else if unicode_normalization::is_nfd(name) {
        "NFD"
    } else {
        "mixed normalization"
    }
}

fn join_rel(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// Whether the symlink chain of `abs` stays inside `root` (a plain file does).
pub fn stays_inside(root: &Path, abs: &Path) -> bool {
    match (std::fs::canonicalize(root), std::fs::canonicalize(abs)) {
        (Ok(root), Ok(target)) => target.starts_with(root),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_data_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("notes/daily")).unwrap();
        std::fs::create_dir_all(root.join(".nexus")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join("todos.json"), "{}").unwrap();
        std::fs::write(root.join("notes/daily/a.md"), "# a").unwrap();
        std::fs::write(root.join("notes/.a.md.swp"), "x").unwrap();
        std::fs::write(root.join("notes/a.md~"), "x").unwrap();
        std::fs::write(root.join("photo.png"), "x").unwrap();
        std::fs::write(root.join(".nexus/config.json"), "{}").unwrap();
        std::fs::write(root.join(".git/x.json"), "{}").unwrap();
        let walked = walk_vault(root).unwrap();
        let rels: Vec<_> = walked.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, vec!["notes/daily/a.md", "todos.json"]);
    }

    /// Many folders at several depths, read by several threads: every
    /// file is found once, in path order, and a sub-folder walk finds
    /// exactly its own.
    #[test]
    fn a_deep_tree_is_walked_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let mut expected = Vec::new();
        for a in 0..12 {
            for b in 0..4 {
                let folder = format!("f{a:02}/g{b}");
                std::fs::create_dir_all(root.join(&folder).join("h")).unwrap();
                for (rel, body) in [
                    (format!("{folder}/n.md"), "# n"),
                    (format!("{folder}/h/t.json"), "{}"),
                    (format!("{folder}/h/skip.png"), "x"),
                ] {
                    std::fs::write(root.join(&rel), body).unwrap();
                    if !rel.ends_with(".png") {
                        expected.push(rel);
                    }
                }
            }
        }
        std::fs::create_dir_all(root.join("empty/deeper")).unwrap();
        expected.sort();
        let walked = walk_vault(root).unwrap();
        let rels: Vec<String> = walked.files.iter().map(|f| f.rel.clone()).collect();
        assert_eq!(rels, expected);
        assert!(walked.skipped.is_empty(), "{:?}", walked.skipped);
        let sub = walk_subdir(root, "f03").unwrap();
        let rels: Vec<String> = sub.files.iter().map(|f| f.rel.clone()).collect();
        let own: Vec<String> = expected
            .iter()
            .filter(|r| r.starts_with("f03/"))
            .cloned()
            .collect();
        assert_eq!(rels, own);
    }

    #[test]
    fn normalization_twins_are_both_walked_and_reported() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("notes")).unwrap();
        std::fs::write(root.join("notes/caf\u{e9}.md"), "# nfc").unwrap();
        std::fs::write(root.join("notes/cafe\u{301}.md"), "# nfd").unwrap();
        std::fs::write(root.join("notes/th\u{e9}.md"), "# alone").unwrap();
        let walked = walk_vault(root).unwrap();
        let rels: Vec<_> = walked.files.iter().map(|f| f.rel.as_str()).collect();
        // Some file systems normalise names themselves; then there is one file.
        if rels.len() < 3 {
            return;
        }
        assert_eq!(walked.skipped.len(), 2, "{:?}", walked.skipped);
        for (rel, message) in &walked.skipped {
            assert!(rel.starts_with("notes/caf"), "{rel}");
            assert!(message.contains("twin"), "{message}");
            let other = if rel.contains('\u{301}') {
                "notes/caf\u{e9}.md"
            } else {
                "notes/cafe\u{301}.md"
            };
            assert!(message.contains(other), "{message}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_vault_are_not_followed() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.md"), "# secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("inner")).unwrap();
        std::fs::write(root.join("inner/n.md"), "# n").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.md"), root.join("s.md")).unwrap();
        std::os::unix::fs::symlink(root.join("inner/n.md"), root.join("link.md")).unwrap();
        std::os::unix::fs::symlink(root, root.join("inner/loop")).unwrap();
        let walked = walk_vault(root).unwrap();
        let rels: Vec<_> = walked.files.iter().map(|f| f.rel.as_str()).collect();
        assert_eq!(rels, vec!["inner/n.md", "link.md"]);
    }

    /// A walk without sizes finds the same files, links and folders as the
    /// full walk; only the size and mtime are left out, and the full walk
    /// has them.
    #[cfg(unix)]
    #[test]
    fn a_walk_without_sizes_finds_the_same_files() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.md"), "# secret").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("inner/deep")).unwrap();
        std::fs::write(root.join("inner/n.md"), "# n").unwrap();
        std::fs::write(root.join("inner/deep/t.json"), "{\"a\": 1}").unwrap();
        std::fs::write(root.join("photo.png"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret.md"), root.join("s.md")).unwrap();
        std::os::unix::fs::symlink(root.join("inner/n.md"), root.join("link.md")).unwrap();
        std::os::unix::fs::symlink(root.join("inner"), root.join("alias.json")).unwrap();
        let full = walk_vault(root).unwrap();
        let names = walk_vault_names(root).unwrap();
        let rels = |w: &WalkResult| -> Vec<(String, PathBuf)> {
            w.files
                .iter()
                .map(|f| (f.rel.clone(), f.abs.clone()))
                .collect()
        };
        assert_eq!(rels(&names), rels(&full));
        let found: Vec<&str> = names.files.iter().map(|f| f.rel.as_str()).collect();
        assert!(
            found.contains(&"inner/deep/t.json") && found.contains(&"link.md"),
            "{found:?}"
        );
        let plain = names.files.iter().find(|f| f.rel == "inner/n.md").unwrap();
        assert_eq!(
            (plain.size, plain.mtime_ns),
            (0, 0),
            "no statx for a plain file"
        );
        let t = full
            .files
            .iter()
            .find(|f| f.rel == "inner/deep/t.json")
            .unwrap();
        assert_eq!(t.size, 8);
        assert!(t.mtime_ns > 0);
    }
}
