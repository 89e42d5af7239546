//! Which paths in a vault are data, and which are ignored.
//!
//! Ignored: hidden files and folders (including `.nexus/`, `.git/`), editor
//! temporaries (vim `.swp`/`4913`/`~`, Emacs `.#` locks and `#autosave#`,
//! JetBrains `___jb_`), and every extension other than `.json` and `.md`.
//! `.nexus/permissions.json` is the one hidden file that is synced.

use crate::vault::PERMISSIONS_REL;

/// What a vault-relative path is to the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRole {
    /// A `*.json` file that may hold objects.
    Json,
    /// A `*.md` note.
    Markdown,
    /// A plugin manifest `plugins/<name>/plugin.json`.
    PluginManifest,
    /// `.nexus/permissions.json`.
    Permissions,
    /// Not looked at.
    Ignored,
}

/// Classifies a `/`-separated vault-relative path.
pub fn classify(rel: &str) -> PathRole {
    if rel == PERMISSIONS_REL {
        return PathRole::Permissions;
    }
    if rel.is_empty() || rel.split('/').any(is_ignored_component) {
        return PathRole::Ignored;
    }
    let name = rel.rsplit('/').next().unwrap_or(rel);
    if is_plugin_manifest(rel) {
        PathRole::PluginManifest
    } else if has_extension(name, "json") {
        PathRole::Json
    } else if has_extension(name, "md") {
        PathRole::Markdown
    } else {
        PathRole::Ignored
    }
}

/// `plugins/<name>/plugin.json`.
pub fn is_plugin_manifest(rel: &str) -> bool {
    let parts: Vec<&str> = rel.split('/').collect();
    parts.len() == 3 && parts[0] == "plugins" && parts[2] == "plugin.json"
}

/// The plugin folder (`plugins/<name>`) a path lies in, if any.
pub fn plugin_dir_of(rel: &str) -> Option<String> {
    let mut parts = rel.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some("plugins"), Some(name), Some(_)) => Some(format!("plugins/{name}")),
        _ => None,
    }
}

fn has_extension(name: &str, ext: &str) -> bool {
    name.len() > ext.len() + 1
        && name
            .rsplit_once('.')
            .is_some_and(|(_, e)| e.eq_ignore_ascii_case(ext))
}

/// Whether one path component (file or folder name) is ignored.
pub fn is_ignored_component(name: &str) -> bool {
    name.starts_with('.')
        || name.ends_with('~')
        || name == "4913"
        || name.ends_with(".swp")
        || name.ends_with(".swx")
        || name.ends_with(".swo")
        || (name.starts_with('#') && name.ends_with('#'))
        || name.contains("___jb_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_files() {
        assert_eq!(classify("todos.json"), PathRole::Json);
        assert_eq!(classify("calendar/events.json"), PathRole::Json);
        assert_eq!(classify("notes/daily/2025-01-15.md"), PathRole::Markdown);
        assert_eq!(classify("notes/README.MD"), PathRole::Markdown);
        assert_eq!(
            classify("plugins/journal/plugin.json"),
            PathRole::PluginManifest
        );
        assert_eq!(classify("plugins/journal/entries.json"), PathRole::Json);
        assert_eq!(classify(".nexus/permissions.json"), PathRole::Permissions);
    }

    #[test]
    fn ignored_files() {
        for rel in [
            ".nexus/vault.sqlite",
            ".nexus/config.json",
            ".git/config.json",
            "notes/.hidden.md",
            "notes/.a.md.swp",
            "notes/a.md.swp",
            "notes/4913",
            "notes/a.md~",
            "notes/.#a.md",
            "notes/#a.md#",
            "notes/a.md___jb_tmp___",
            "notes/a.txt",
            "image.png",
            ".md",
            "",
        ] {
            assert_eq!(classify(rel), PathRole::Ignored, "{rel}");
        }
    }

    #[test]
    fn plugin_dirs() {
        assert_eq!(
            plugin_dir_of("plugins/journal/schema.json").as_deref(),
            Some("plugins/journal")
        );
        assert_eq!(plugin_dir_of("plugins/journal"), None);
        assert_eq!(plugin_dir_of("notes/a.md"), None);
    }
}
