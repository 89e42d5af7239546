//! The app's own writes: `save_object` and `delete_object`.
//!
//! Each write is validated first, goes to the file by atomic replace
//! (keeping the file's other items and their key order), and then reaches
//! the database in the same operation by re-indexing that file. When the
//! watcher later sees the write, the content hash matches and nothing is
//! processed again.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::audit::Source;
use crate::db::{self, file_hash, hash_bytes};
use crate::error::{IoContext, NexusError, Result};
use crate::schema::CompiledSchema;
use crate::schema::builtin::default_file;
use crate::sync::conflicts::NewConflict;
use crate::sync::engine::Engine;
use crate::sync::merge::{Conflict, Side, merge_object};
use crate::vault::atomic::write_atomic;
use crate::vault::formats::json::{detect_indent, merge_keep_order, parse_json_bytes, to_pretty};
use crate::vault::formats::markdown::render_note;
use crate::vault::formats::{NOTE_SCHEMA, ParsedFile, parse_file};
use crate::vault::keys::{check_key, id_to_string, item_key};

impl Engine {
    /// Seed API: saves an object of `schema_name`. With `key`, the object
    /// `key` is updated; without, a new object is created in the schema's
    /// default file. Returns the object's key.
    pub fn save_object(
        &mut self,
        schema_name: &str,
        content: Value,
        key: Option<&str>,
        source: Source,
    ) -> Result<String> {
        let Value::Object(mut fields) = content else {
            return Err(NexusError::InvalidInput(
                "object content must be a JSON object".into(),
            ));
        };
        let _lock = self.vault.lock_for_write()?;
        let schema = self
            .registry
            .get(&self.conn, schema_name)?
            .ok_or_else(|| NexusError::NotFound(format!("no schema named {schema_name}")))?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let has_property = |name: &str| {
            schema
                .definition
                .pointer(&format!("/properties/{name}"))
                .is_some()
        };
        if has_property("updated_at") {
            fields.insert("updated_at".into(), Value::String(now.clone()));
        }

        let (rel, new_key, bytes, created) = match key {
            Some(key) => {
                check_key(key).map_err(NexusError::InvalidInput)?;
                let object = db::objects::get_by_key(&self.conn, key)?
                    .ok_or_else(|| NexusError::NotFound(format!("no object with key {key}")))?;
                if object.schema_name != schema_name {
                    return Err(NexusError::InvalidInput(format!(
                        "{key} is a {} object, not {schema_name}",
                        object.schema_name
                    )));
                }
                if db::permissions::get(&self.conn, object.id)?.read_only {
                    return Err(NexusError::PermissionDenied(format!(
                        "object is read-only: {key}"
                    )));
                }
                let rel = object.source_path.clone();
                // Another program changed the file since it was indexed:
                // merge three-way (see sync::merge).
                let mut conflict_after_write = None;
                if let Some(external) = self.external_change(&rel, key)? {
                    let ours = Value::Object(fields.clone());
                    let merged = merge_object(
                        external.base.as_ref(),
                        external.theirs.as_ref(),
                        Some(&ours),
                        chrono::Utc::now(),
                        external.file_time,
                    );
                    match merged.conflict {
                        None if merged.result == external.theirs => {
                            // The file already holds this version.
                            self.index_paths_locked(BTreeSet::from([rel.clone()]), false)?;
                            return Ok(key.to_string());
                        }
                        None => {}
                        Some(Conflict {
                            winner: Side::App,
                            losing,
                        }) => {
                            conflict_after_write = Some((external.base.clone(), losing));
                        }
                        Some(Conflict {
                            winner: Side::File, ..
                        }) => {
                            self.index_paths_locked(BTreeSet::from([rel.clone()]), false)?;
                            let id = self.record_conflict(NewConflict {
                                key,
                                schema_name,
                                file: &rel,
                                base: external.base.as_ref(),
                                winner: Side::File,
                                winning: external.theirs.clone(),
                                losing: Some(ours),
                            })?;
                            return Err(NexusError::Sync(format!(
                                "conflict on {key}: {rel} has a newer version from another program, which was kept; \
                                 your version is saved as conflict {id} (restore it with `me-nexus conflicts restore <VAULT> {id}`)"
                            )));
                        }
                    }
                    if external.theirs.is_none() {
                        // The other program deleted it; the modification wins
                        // and the object is put back.
                        let id_value = external.base.as_ref().and_then(|b| b.get("id").cloned());
                        if let (Some(id_value), Some(_)) = (id_value, &object.item_id) {
                            fields.insert("id".into(), id_value);
                            let (bytes, _) = self.append_collection_item(
                                &rel,
                                schema_name,
                                &mut fields,
                                &schema,
                            )?;
                            self.write_and_index(&rel, &bytes)?;
                            self.audit.record_one(
                                "object.updated",
                                Some(key),
                                json!({"schema_name": schema_name, "file": rel, "source": source.as_str(), "restored_over_deletion": true}),
                            )?;
                            return Ok(key.to_string());
                        }
                    }
                }
                let bytes = match &object.item_id {
                    Some(item_id) => {
                        // The id is the item's identity; it cannot change here.
                        let id_value = self.current_id_value(&rel, item_id)?;
                        fields.insert("id".into(), id_value);
                        validate(&schema, &fields, key)?;
                        self.update_collection_item(&rel, schema_name, item_id, &fields)?
                    }
                    None if rel.to_ascii_lowercase().ends_with(".md") => {
                        validate(&schema, &fields, key)?;
                        let original = self.read_vault_file(&rel)?;
                        render_note(&rel, Some(&original), &fields)
                            .map_err(NexusError::InvalidInput)?
                    }
                    None => {
                        validate(&schema, &fields, key)?;
                        self.update_single(&rel, schema_name, &fields)?
                    }
                };
                if let Some((base, losing)) = conflict_after_write {
                    self.write_and_index(&rel, &bytes)?;
                    let winning = Some(Value::Object(fields.clone()));
                    self.record_conflict(NewConflict {
                        key,
                        schema_name,
                        file: &rel,
                        base: base.as_ref(),
                        winner: Side::App,
                        winning,
                        losing,
                    })?;
                    self.audit.record_one(
                        "object.updated",
                        Some(key),
                        json!({"schema_name": schema_name, "file": rel, "source": source.as_str()}),
                    )?;
                    return Ok(key.to_string());
                }
                (rel, key.to_string(), bytes, false)
            }
            None => {
                if has_property("created_at") && !fields.contains_key("created_at") {
                    fields.insert("created_at".into(), Value::String(now.clone()));
                }
                if schema_name == NOTE_SCHEMA {
                    validate(&schema, &fields, "new note")?;
                    let rel = self.new_note_path(&fields)?;
                    let bytes = render_note(&rel, None, &with_heading(&fields))
                        .map_err(NexusError::InvalidInput)?;
                    (rel.clone(), rel, bytes, true)
                } else {
                    let rel = self.default_collection_file(schema_name)?;
                    let (bytes, id) =
                        self.append_collection_item(&rel, schema_name, &mut fields, &schema)?;
                    (rel.clone(), item_key(&rel, &id), bytes, true)
                }
            }
        };

        self.write_and_index(&rel, &bytes)?;
        self.audit.record_one(
            if created {
                "object.created"
            } else {
                "object.updated"
            },
            Some(&new_key),
            json!({"schema_name": schema_name, "file": rel, "source": source.as_str()}),
        )?;
        Ok(new_key)
    }

    /// Seed API: deletes object `key`. A collection item is removed from its
    /// file; a whole-file object's file is moved to `.nexus/trash/`. Either
    /// way a copy of what was deleted is kept in the trash.
    pub fn delete_object(&mut self, key: &str, source: Source) -> Result<()> {
        check_key(key).map_err(NexusError::InvalidInput)?;
        let _lock = self.vault.lock_for_write()?;
        let object = db::objects::get_by_key(&self.conn, key)?
            .ok_or_else(|| NexusError::NotFound(format!("no object with key {key}")))?;
        if db::permissions::get(&self.conn, object.id)?.read_only {
            return Err(NexusError::PermissionDenied(format!(
                "object is read-only: {key}"
            )));
        }
        let rel = object.source_path.clone();
        if let Some(external) = self.external_change(&rel, key)? {
            match &external.theirs {
                // A modification beats a deletion.
                Some(theirs) if external.base.as_ref() != Some(theirs) => {
                    self.index_paths_locked(BTreeSet::from([rel.clone()]), false)?;
                    return Err(NexusError::Sync(format!(
                        "{key} was changed in {rel} by another program since Me-Nexus last read it; \
                         a modification beats a deletion, so it was not deleted"
                    )));
                }
                Some(_) => {}
                None => {
                    // Already gone from the file: the index just follows.
                    self.index_paths_locked(BTreeSet::from([rel.clone()]), false)?;
                    return Ok(());
                }
            }
        }
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string();
        let trash = self.vault.trash_dir().join(&stamp);
        match &object.item_id {
            Some(item_id) => {
                let (mut root, indent) = self.read_collection(&rel, &object.schema_name)?;
                let items = data_array(&mut root, &rel)?;
                let index = find_item(items, item_id)
                    .ok_or_else(|| NexusError::NotFound(format!("{key} is no longer in {rel}")))?;
                let removed = items.remove(index);
                let trash_file = trash.join(format!("{}.json", sanitize(key)));
                let kept =
                    json!({"key": key, "file": rel, "schema": object.schema_name, "item": removed});
                write_atomic(
                    &trash_file,
                    &to_pretty(&kept, "  ").map_err(|e| NexusError::json(&trash_file, e))?,
                )?;
                let bytes = to_pretty(&root, &indent).map_err(|e| NexusError::json(&rel, e))?;
                self.note_pending_write(&rel, &bytes)?;
                write_atomic(&self.vault.abs(&rel), &bytes)?;
            }
            None => {
                let from = self.vault.abs(&rel);
                let to = trash.join(&rel);
                if let Some(dir) = to.parent() {
                    std::fs::create_dir_all(dir).with_path(dir)?;
                }
                std::fs::rename(&from, &to).with_path(&from)?;
                if let Some(dir) = from.parent() {
                    crate::vault::atomic::sync_dir(dir)?;
                }
            }
        }
        self.index_paths_locked(BTreeSet::from([rel.clone()]), false)?;
        self.clear_pending_writes(&rel)?;
        self.audit.record_one(
            "object.deleted",
            Some(key),
            json!({"file": rel, "trash": trash.strip_prefix(self.vault.root()).unwrap_or(&trash).display().to_string(), "source": source.as_str()}),
        )?;
        Ok(())
    }

    /// The content of object `key`, read from the index.
    pub fn object_content(&self, key: &str) -> Result<Value> {
        let object = db::objects::get_by_key(&self.conn, key)?
            .ok_or_else(|| NexusError::NotFound(format!("no object with key {key}")))?;
        db::objects::content(&self.conn, object.id)?
            .ok_or_else(|| NexusError::NotFound(format!("no content for {key}")))
    }

    /// Records that Me-Nexus is about to write `bytes` to `rel`, so that if
    /// the process dies between the file and the index, a later write does
    /// not mistake its own earlier write for another program's change. Every
    /// intent is kept until the file is indexed: a process may die before
    /// its rename, leaving an older write of ours in the file.
    fn note_pending_write(&self, rel: &str, bytes: &[u8]) -> Result<()> {
        db::state::set(&self.conn, &pending_write_name(rel, &file_hash(bytes)), "")
    }

    /// Whether `hash` is one of our own writes to `rel` not yet indexed.
    fn is_pending_write(&self, rel: &str, hash: &str) -> Result<bool> {
        Ok(db::state::get(&self.conn, &pending_write_name(rel, hash))?.is_some())
    }

    /// Writes `bytes` to `rel` atomically, then indexes it: the DB follows
    /// in the same operation, and the intents of `rel` are done.
    fn write_and_index(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        self.note_pending_write(rel, bytes)?;
        write_atomic(&self.vault.abs(rel), bytes)?;
        self.index_paths_locked(BTreeSet::from([rel.to_string()]), false)?;
        self.clear_pending_writes(rel)
    }

    fn clear_pending_writes(&self, rel: &str) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM sync_state WHERE substr(name, 1, length(?1)) = ?1")?
            .execute([format!("pending-write:{rel}#")])?;
        Ok(())
    }

    /// What another program changed in `rel` since Me-Nexus indexed it, for
    /// object `key`; `None` when the file is as indexed.
    fn external_change(&self, rel: &str, key: &str) -> Result<Option<ExternalChange>> {
        let path = self.vault.abs(rel);
        let current = match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(NexusError::io(&path, e)),
        };
        let row = db::files::get(&self.conn, rel)?;
        if let Some(bytes) = &current {
            let hash = file_hash(bytes);
            let indexed = row
                .as_ref()
                .is_some_and(|r| db::matches_stored_hash(&r.hash, bytes, &hash));
            // One of our own writes, not yet indexed (the process died after
            // writing the file): not another program's change. An earlier
            // version named its intents by BLAKE3.
            if indexed
                || self.is_pending_write(rel, &hash)?
                || self.is_pending_write(rel, &hash_bytes(bytes))?
            {
                return Ok(None);
            }
        }
        let base = db::files::base(&self.conn, rel)?.and_then(|b| object_in(rel, &b, key));
        let theirs = current.as_deref().and_then(|b| object_in(rel, b, key));
        let file_time = std::fs::metadata(&path)
            .ok()
            .and_then(|m| m.modified().ok())
            .map_or_else(chrono::Utc::now, chrono::DateTime::<chrono::Utc>::from);
        Ok(Some(ExternalChange {
            base,
            theirs,
            file_time,
        }))
    }

    fn read_vault_file(&self, rel: &str) -> Result<Vec<u8>> {
        let path = self.vault.abs(rel);
        std::fs::read(&path).with_path(&path)
    }

    /// Reads a collection file that must parse and hold `schema_name`.
    /// Writing into a file that has a problem is refused: it is never
    /// rewritten until the user fixes it.
    fn read_collection(&self, rel: &str, schema_name: &str) -> Result<(Value, String)> {
        let bytes = self.read_vault_file(rel)?;
        let root = parse_json_bytes(&bytes).map_err(|p| {
            NexusError::Sync(format!(
                "cannot write into a file that has a problem ({}): {rel}",
                p.message
            ))
        })?;
        if root.get("schema").and_then(Value::as_str) != Some(schema_name) {
            return Err(NexusError::Sync(format!(
                "file no longer holds {schema_name} objects: {rel}"
            )));
        }
        let indent = detect_indent(std::str::from_utf8(&bytes).unwrap_or(""));
        Ok((root, indent))
    }

    fn current_id_value(&self, rel: &str, item_id: &str) -> Result<Value> {
        let bytes = self.read_vault_file(rel)?;
        let root = parse_json_bytes(&bytes)
            .map_err(|p| NexusError::Sync(format!("{}: {rel}", p.message)))?;
        root.get("data")
            .and_then(Value::as_array)
            .and_then(|items| {
                items.iter().find_map(|i| {
                    i.get("id")
                        .filter(|id| id_to_string(id).as_deref() == Some(item_id))
                })
            })
            .cloned()
            .ok_or_else(|| NexusError::NotFound(format!("item {item_id} is no longer in {rel}")))
    }

    fn update_collection_item(
        &self,
        rel: &str,
        schema_name: &str,
        item_id: &str,
        fields: &Map<String, Value>,
    ) -> Result<Vec<u8>> {
        let (mut root, indent) = self.read_collection(rel, schema_name)?;
        let items = data_array(&mut root, rel)?;
        let index = find_item(items, item_id)
            .ok_or_else(|| NexusError::NotFound(format!("item {item_id} is no longer in {rel}")))?;
        let merged = match items[index].as_object() {
            Some(old) => merge_keep_order(old, fields),
            None => fields.clone(),
        };
        items[index] = Value::Object(merged);
        to_pretty(&root, &indent).map_err(|e| NexusError::json(rel, e))
    }

    fn update_single(
        &self,
        rel: &str,
        schema_name: &str,
        fields: &Map<String, Value>,
    ) -> Result<Vec<u8>> {
        let (mut root, indent) = self.read_collection(rel, schema_name)?;
        let merged = match root.get("data").and_then(Value::as_object) {
            Some(old) => merge_keep_order(old, fields),
            None => fields.clone(),
        };
        if let Some(obj) = root.as_object_mut() {
            obj.insert("data".into(), Value::Object(merged));
        }
        to_pretty(&root, &indent).map_err(|e| NexusError::json(rel, e))
    }

    /// Appends a new item, giving it the next free id when it has none.
    fn append_collection_item(
        &self,
        rel: &str,
        schema_name: &str,
        fields: &mut Map<String, Value>,
        schema: &CompiledSchema,
    ) -> Result<(Vec<u8>, String)> {
        let exists = self.vault.abs(rel).exists();
        let (mut root, indent) = if exists {
            self.read_collection(rel, schema_name)?
        } else {
            (
                json!({"schema": schema_name, "version": "1.0", "data": []}),
                "  ".to_string(),
            )
        };
        let items = data_array(&mut root, rel)?;
        let id = match fields.get("id").and_then(id_to_string) {
            Some(id) => {
                if find_item(items, &id).is_some() {
                    return Err(NexusError::InvalidInput(format!(
                        "{} already exists; pass --key to update it",
                        item_key(rel, &id)
                    )));
                }
                id
            }
            None => {
                let next = next_id(items);
                fields.insert("id".into(), next.clone());
                id_to_string(&next).unwrap_or_default()
            }
        };
        // Put the id first, as people write it.
        let mut ordered = Map::with_capacity(fields.len());
        if let Some(idv) = fields.remove("id") {
            ordered.insert("id".into(), idv);
        }
        ordered.extend(std::mem::take(fields));
        validate(schema, &ordered, &item_key(rel, &id))?;
        items.push(Value::Object(ordered));
        let bytes = to_pretty(&root, &indent).map_err(|e| NexusError::json(rel, e))?;
        Ok((bytes, id))
    }

    /// The file new objects of `schema_name` go to: the built-in default,
    /// else an existing collection file of that schema, else a file in the
    /// plugin's folder (`plugin.<name>.…`) or at the vault root.
    fn default_collection_file(&self, schema_name: &str) -> Result<String> {
        if let Some(rel) = default_file(schema_name) {
            return Ok(rel.to_string());
        }
        let existing: Option<String> = self
            .conn
            .prepare_cached(
                "SELECT path FROM files WHERE schema_name = ?1 AND layout = 'collection' AND status = 'data' ORDER BY path LIMIT 1",
            )?
            .query_row([schema_name], |r| r.get(0))
            .ok();
        if let Some(rel) = existing {
            return Ok(rel);
        }
        let mut parts = schema_name.split('.');
        Ok(match (parts.next(), parts.next()) {
            (Some("plugin"), Some(plugin)) => format!(
                "plugins/{plugin}/{}.json",
                schema_name.rsplit('.').next().unwrap_or("items")
            ),
            _ => format!("{schema_name}.json"),
        })
    }

    /// `notes/<slug of the title>.md`, made unique.
    fn new_note_path(&self, fields: &Map<String, Value>) -> Result<String> {
        let title = fields
            .get("title")
            .and_then(Value::as_str)
            .unwrap_or("note");
        let slug = slugify(title);
        let mut rel = format!("notes/{slug}.md");
        let mut n = 2;
        while self.vault.abs(&rel).exists() {
            rel = format!("notes/{slug}-{n}.md");
            n += 1;
        }
        Ok(rel)
    }
}

/// The base and current versions of an object whose file another program
/// changed.
struct ExternalChange {
    base: Option<Value>,
    theirs: Option<Value>,
    file_time: chrono::DateTime<chrono::Utc>,
}

fn pending_write_name(rel: &str, hash: &str) -> String {
    format!("pending-write:{rel}#{hash}")
}

/// The content of object `key` in the file bytes of `rel`.
fn object_in(rel: &str, bytes: &[u8], key: &str) -> Option<Value> {
    match parse_file(rel, bytes) {
        ParsedFile::Data(data) => data
            .objects
            .into_iter()
            .find(|o| o.key == key)
            .map(|o| o.content),
        _ => None,
    }
}

fn validate(schema: &CompiledSchema, fields: &Map<String, Value>, what: &str) -> Result<()> {
    let problems = schema.validate(&Value::Object(fields.clone()), "");
    if problems.is_empty() {
        return Ok(());
    }
    let text: Vec<String> = problems
        .iter()
        .map(|p| {
            if p.pointer.is_empty() {
                p.message.clone()
            } else {
                format!("{}: {}", p.pointer, p.message)
            }
        })
        .collect();
    Err(NexusError::SchemaValidation(format!(
        "{what} ({}): {}",
        schema.name,
        text.join("; ")
    )))
}

fn data_array<'a>(root: &'a mut Value, rel: &str) -> Result<&'a mut Vec<Value>> {
    root.get_mut("data")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| NexusError::Sync(format!("\"data\" is not an array: {rel}")))
}

fn find_item(items: &[Value], item_id: &str) -> Option<usize> {
    items
        .iter()
        .position(|i| i.get("id").and_then(id_to_string).as_deref() == Some(item_id))
}

/// One more than the largest integer id, or a time-based string id when the
/// file uses string ids.
fn next_id(items: &[Value]) -> Value {
    let ids: Vec<&Value> = items.iter().filter_map(|i| i.get("id")).collect();
    if ids.iter().all(|id| id.is_i64() || id.is_u64()) {
        let max = ids.iter().filter_map(|id| id.as_i64()).max().unwrap_or(0);
        json!(max + 1)
    } else {
        let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        json!(format!("{nanos:x}"))
    }
}

/// A new note's body starts with its title as a heading, so the file reads
/// well and the title needs no front-matter.
fn with_heading(fields: &Map<String, Value>) -> Map<String, Value> {
    let mut out = fields.clone();
    let title = fields.get("title").and_then(Value::as_str).unwrap_or("");
    let body = fields.get("body").and_then(Value::as_str).unwrap_or("");
    if crate::vault::formats::markdown::first_heading(body).is_none() && !title.is_empty() {
        out.insert("body".into(), Value::String(format!("# {title}\n\n{body}")));
    }
    out
}

fn slugify(title: &str) -> String {
    let mut slug = String::new();
    for c in title.chars() {
        if c.is_alphanumeric() {
            slug.extend(c.to_lowercase());
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-');
    let slug: String = slug.chars().take(60).collect();
    if slug.is_empty() {
        format!("note-{}", &hash_bytes(title.as_bytes())[..8])
    } else {
        slug
    }
}

fn sanitize(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_slugs() {
        assert_eq!(next_id(&[json!({"id": 1}), json!({"id": 7})]), json!(8));
        assert_eq!(next_id(&[]), json!(1));
        assert!(next_id(&[json!({"id": "a"})]).is_string());
        assert_eq!(slugify("Hello, World! 2025"), "hello-world-2025");
        assert!(slugify("!!!").starts_with("note-"));
    }
}
