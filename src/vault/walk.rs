//! Walking a vault: every file that may hold data, with its size and mtime.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

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
    /// Size in bytes.
    pub size: u64,
    /// Modification time in nanoseconds since the epoch.
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
    let mut result = WalkResult::default();
    let mut visited = HashSet::new();
    visited.insert(canonical_root.clone());
    walk_dir(
        &canonical_root,
        &canonical_root,
        "",
        &mut visited,
        &mut result,
    );
    result.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(result)
}

/// Walks one sub-folder (`rel_dir`, relative to the vault) only.
pub fn walk_subdir(root: &Path, rel_dir: &str) -> Result<WalkResult> {
    let canonical_root = std::fs::canonicalize(root).with_path(root)?;
    let mut result = WalkResult::default();
    let mut visited = HashSet::new();
    let dir = canonical_root.join(rel_dir);
    if let Ok(canon) = std::fs::canonicalize(&dir)
        && canon.starts_with(&canonical_root)
    {
        visited.insert(canon);
        walk_dir(&canonical_root, &dir, rel_dir, &mut visited, &mut result);
    }
    result.files.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(result)
}

fn walk_dir(
    root: &Path,
    dir: &Path,
    rel_dir: &str,
    visited: &mut HashSet<PathBuf>,
    out: &mut WalkResult,
) {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            out.skipped
                .push((rel_dir.to_string(), format!("cannot read folder: {e}")));
            return;
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
            continue;
        }
        let rel = join_rel(rel_dir, name);
        let abs = entry.path();
        let Ok(file_type) = entry.file_type() else {
            continue;
        };
        let (is_dir, meta) = if file_type.is_symlink() {
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
            if meta.is_dir() && !visited.insert(target) {
                continue; // a loop
            }
            (meta.is_dir(), meta)
        } else {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            (file_type.is_dir(), meta)
        };
        let taken = is_dir || (meta.is_file() && classify(&rel) != PathRole::Ignored);
        if taken && !name.is_ascii() {
            non_ascii.push(name.to_string());
        }
        if is_dir {
            walk_dir(root, &abs, &rel, visited, out);
        } else if taken {
            out.files.push(FoundFile {
                rel,
                abs,
                size: meta.len(),
                mtime_ns: mtime_ns(&meta),
            });
        }
    }
    record_normalization_twins(rel_dir, non_ascii, out);
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
}
