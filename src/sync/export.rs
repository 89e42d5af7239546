//! What leaves the vault: `me-nexus export --for ai|cloud`. Every object
//! goes through the gate; only those it allows are written, as JSON Lines.

use std::io::Write;

use chrono::Utc;
use serde::Serialize;
use serde_json::{Value, json};

use crate::audit::AuditEntry;
use crate::db;
use crate::error::{NexusError, Result};
use crate::permissions::gate::{Purpose, audit_entry, decide};
use crate::sync::engine::Engine;

/// One exported line.
#[derive(Debug, Serialize)]
pub struct ExportLine<'a> {
    /// Object key.
    pub key: &'a str,
    /// Schema name.
    pub schema_name: &'a str,
    /// The object's content.
    pub content: &'a Value,
    /// Last update.
    pub updated_at: &'a str,
}

/// What an export did.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ExportSummary {
    /// Objects written.
    pub granted: usize,
    /// Objects without the grant.
    pub denied_not_shared: usize,
    /// Objects whose grant has expired (or has a malformed expiry).
    pub denied_expired: usize,
}

impl Engine {
    /// Writes every object the gate allows for `purpose` now to `out`, one
    /// JSON object per line. Each granted object and each expired grant is
    /// audited with its decision; objects without a grant are audited as
    /// one summary line (the gate denied them all for the same reason).
    pub fn export(&self, purpose: Purpose, out: &mut dyn Write) -> Result<ExportSummary> {
        let now = Utc::now();
        let mut summary = ExportSummary::default();
        let mut audit = Vec::new();
        let mut stmt = self.conn.prepare(
            "SELECT o.file_path, s.schema_name, o.updated_at, c.content_json,
                    p.share_with_ai, p.share_with_cloud, p.read_only, p.expires_at
             FROM data_objects o JOIN schemas s ON s.id = o.schema_id
             JOIN object_content c ON c.object_id = o.id
             LEFT JOIN object_permissions p ON p.object_id = o.id
             ORDER BY o.file_path",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let key: String = row.get(0)?;
            let perms = db::permissions::permissions_from_row(row, 4)?;
            let decision = decide(&perms, purpose, now);
            let flagged = match purpose {
                Purpose::Ai => perms.share_with_ai,
                Purpose::Cloud => perms.share_with_cloud,
            };
            if !decision.allowed {
                if flagged {
                    summary.denied_expired += 1;
                    audit.push(audit_entry(&key, purpose, &decision));
                } else {
                    summary.denied_not_shared += 1;
                }
                continue;
            }
            let schema_name: String = row.get(1)?;
            let updated_at: String = row.get(2)?;
            let content_json: String = row.get(3)?;
            let content: Value =
                serde_json::from_str(&content_json).map_err(|e| NexusError::json(&key, e))?;
            let line = ExportLine {
                key: &key,
                schema_name: &schema_name,
                content: &content,
                updated_at: &updated_at,
            };
            serde_json::to_writer(&mut *out, &line).map_err(|e| NexusError::json("<stdout>", e))?;
            out.write_all(b"\n")
                .map_err(|e| NexusError::io("<stdout>", e))?;
            summary.granted += 1;
            audit.push(audit_entry(&key, purpose, &decision));
        }
        audit.push(AuditEntry::now(
            "export",
            None,
            json!({
                "purpose": purpose.as_str(),
                "granted": summary.granted,
                "denied_expired": summary.denied_expired,
                "denied_not_shared": summary.denied_not_shared,
                "reason_not_shared": decide(&Default::default(), purpose, now).reason,
            }),
        ));
        self.audit.record(&audit)?;
        out.flush().map_err(|e| NexusError::io("<stdout>", e))?;
        Ok(summary)
    }

    /// The permission statistics now.
    pub fn stats(&self) -> Result<db::stats::PermissionStats> {
        db::stats::permission_stats(&self.conn, Utc::now().timestamp())
    }
}
