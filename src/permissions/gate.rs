//! The gate: the one place that decides whether an object may leave the
//! vault for an AI service or the cloud. Only an explicit, unexpired grant
//! allows it; every decision is audited.

use chrono::{DateTime, Utc};
use rusqlite::Connection;
use serde_json::json;

use crate::audit::{AuditEntry, AuditLog};
use crate::db;
use crate::error::{NexusError, Result};
use crate::permissions::model::Permissions;

/// What the object would be read for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// An AI service.
    Ai,
    /// Cloud sync.
    Cloud,
}

impl Purpose {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Purpose::Ai => "ai",
            Purpose::Cloud => "cloud",
        }
    }
}

/// A gate decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the read is allowed.
    pub allowed: bool,
    /// Why, in words.
    pub reason: &'static str,
}

/// Decides a read of an object with `perms` for `purpose` at `now`. Pure:
/// this is the rule, and everything that lets data out calls it.
pub fn decide(perms: &Permissions, purpose: Purpose, now: DateTime<Utc>) -> Decision {
    let flag = match purpose {
        Purpose::Ai => perms.share_with_ai,
        Purpose::Cloud => perms.share_with_cloud,
    };
    if !flag {
        return Decision {
            allowed: false,
            reason: match purpose {
                Purpose::Ai => "AI access not permitted for this object",
                Purpose::Cloud => "cloud sync not permitted for this object",
            },
        };
    }
    if let Some(expiry) = perms.expires_at.as_deref() {
        match crate::permissions::model::parse_expiry(expiry) {
            Err(_) => {
                return Decision {
                    allowed: false,
                    reason: "permission has a malformed expiry",
                };
            }
            Ok(at) if now >= at => {
                return Decision {
                    allowed: false,
                    reason: "permission has expired",
                };
            }
            Ok(_) => {}
        }
    }
    Decision {
        allowed: true,
        reason: "explicit unexpired grant",
    }
}

/// The audit entry for a decision.
pub fn audit_entry(key: &str, purpose: Purpose, decision: &Decision) -> AuditEntry {
    AuditEntry::now(
        if decision.allowed {
            "gate.granted"
        } else {
            "gate.denied"
        },
        Some(key),
        json!({"purpose": purpose.as_str(), "reason": decision.reason}),
    )
}

fn check(conn: &Connection, audit: &AuditLog, key: &str, purpose: Purpose) -> Result<()> {
    let object = db::objects::get_by_key(conn, key)?
        .ok_or_else(|| NexusError::NotFound(format!("no object with key {key}")))?;
    let perms = db::permissions::get(conn, object.id)?;
    let decision = decide(&perms, purpose, Utc::now());
    audit.record(&[audit_entry(key, purpose, &decision)])?;
    if decision.allowed {
        Ok(())
    } else {
        Err(NexusError::PermissionDenied(format!(
            "{}: {key}",
            decision.reason
        )))
    }
}

/// Seed API: may AI services read object `key` now? `Ok(())` if so,
/// `PermissionDenied` with the reason otherwise. Audited either way.
pub fn check_ai_permission(conn: &Connection, audit: &AuditLog, key: &str) -> Result<()> {
    check(conn, audit, key, Purpose::Ai)
}

/// Seed API: may object `key` be synced to the cloud now?
pub fn check_cloud_permission(conn: &Connection, audit: &AuditLog, key: &str) -> Result<()> {
    check(conn, audit, key, Purpose::Cloud)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn only_explicit_unexpired_grants_pass() {
        let now = at("2026-06-01T12:00:00Z");
        assert!(!decide(&Permissions::default(), Purpose::Ai, now).allowed);
        let ai = Permissions {
            share_with_ai: true,
            ..Permissions::default()
        };
        assert!(decide(&ai, Purpose::Ai, now).allowed);
        assert!(!decide(&ai, Purpose::Cloud, now).allowed);
        let expiring = Permissions {
            expires_at: Some("2026-06-01T14:00:00+02:00".into()),
            ..ai.clone()
        };
        // 14:00+02:00 is 12:00Z: expired at exactly that moment.
        assert!(!decide(&expiring, Purpose::Ai, now).allowed);
        assert!(decide(&expiring, Purpose::Ai, now - chrono::Duration::seconds(1)).allowed);
        let malformed = Permissions {
            expires_at: Some("soon".into()),
            ..ai
        };
        assert!(!decide(&malformed, Purpose::Ai, now).allowed);
    }
}
