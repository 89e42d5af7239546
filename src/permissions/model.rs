//! The permission model: four settings per object, all off by default.

use chrono::{DateTime, FixedOffset, Utc};
use serde::{Deserialize, Serialize};

/// The seed's `Permissions` of one object. The default is zero trust:
/// nothing shared, writable, no expiry.
#[derive(Debug, Serialize, Deserialize, Clone, Default, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// AI services may read the object.
    #[serde(default)]
    pub share_with_ai: bool,
    /// The object may be synced to the user's cloud.
    #[serde(default)]
    pub share_with_cloud: bool,
    /// Me-Nexus refuses to modify or delete the object.
    #[serde(default)]
    pub read_only: bool,
    /// RFC 3339 with an offset. At and after this moment the sharing flags
    /// count as revoked.
    #[serde(default)]
    pub expires_at: Option<String>,
}

impl Permissions {
    /// Whether these are the defaults (nothing to write to permissions.json).
    pub fn is_default(&self) -> bool {
        *self == Permissions::default()
    }

    /// The expiry as a Unix timestamp, or `None` when there is none.
    /// A malformed expiry is an error.
    pub fn expires_unix(&self) -> Result<Option<i64>, String> {
        self.expires_at
            .as_deref()
            .map(|s| parse_expiry(s).map(|t| t.timestamp()))
            .transpose()
    }

    /// Whether the expiry has been reached at `now` (the sharing flags then
    /// count as revoked). A malformed expiry counts as expired: zero trust.
    pub fn is_expired_at(&self, now: DateTime<Utc>) -> bool {
        match self.expires_at.as_deref() {
            None => false,
            Some(s) => parse_expiry(s).map_or(true, |t| now >= t),
        }
    }

    /// Checks that the expiry, if any, is well-formed.
    pub fn validate(&self) -> Result<(), String> {
        self.expires_unix().map(|_| ())
    }
}

/// Parses an expiry: RFC 3339 with an explicit offset (`Z` or `+01:00`).
/// A time without an offset is refused, because it would mean a different
/// moment on every machine.
pub fn parse_expiry(text: &str) -> Result<DateTime<FixedOffset>, String> {
    DateTime::parse_from_rfc3339(text.trim()).map_err(|e| {
        format!("expires_at must be RFC 3339 with an offset, like 2026-12-31T23:59:59+01:00 (got {text:?}: {e})")
    })
}

/// A change to some of an object's permissions; `None` leaves a setting as
/// it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PermissionChange {
    /// New AI flag.
    pub share_with_ai: Option<bool>,
    /// New cloud flag.
    pub share_with_cloud: Option<bool>,
    /// New read-only flag.
    pub read_only: Option<bool>,
    /// New expiry: `Some(None)` clears it.
    pub expires_at: Option<Option<String>>,
}

impl PermissionChange {
    /// Whether the change changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == PermissionChange::default()
    }

    /// Checks the expiry.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(Some(expiry)) = &self.expires_at {
            parse_expiry(expiry)?;
        }
        Ok(())
    }

    /// `current` with this change applied.
    pub fn apply(&self, current: &Permissions) -> Permissions {
        Permissions {
            share_with_ai: self.share_with_ai.unwrap_or(current.share_with_ai),
            share_with_cloud: self.share_with_cloud.unwrap_or(current.share_with_cloud),
            read_only: self.read_only.unwrap_or(current.read_only),
            expires_at: self
                .expires_at
                .clone()
                .unwrap_or_else(|| current.expires_at.clone()),
        }
    }

    /// The change that turns `current` into `target` for every field.
    pub fn to(target: &Permissions) -> PermissionChange {
        PermissionChange {
            share_with_ai: Some(target.share_with_ai),
            share_with_cloud: Some(target.share_with_cloud),
            read_only: Some(target.read_only),
            expires_at: Some(target.expires_at.clone()),
        }
    }
}

/// Resolves a permission change made in the file (`file`) and one made in
/// the app (`app`) from the same `base`, field by field: a field only one
/// side changed takes that side's value; a field both changed takes the more
/// restrictive value (a revoke beats a grant, read-only beats writable, the
/// earlier expiry beats the later or none).
pub fn resolve_conflict(base: &Permissions, file: &Permissions, app: &Permissions) -> Permissions {
    fn pick<T: PartialEq + Clone>(
        base: &T,
        file: &T,
        app: &T,
        restrictive: impl Fn(&T, &T) -> T,
    ) -> T {
        if file == base {
            app.clone()
        } else if app == base || app == file {
            file.clone()
        } else {
            restrictive(file, app)
        }
    }
    Permissions {
        share_with_ai: pick(
            &base.share_with_ai,
            &file.share_with_ai,
            &app.share_with_ai,
            |a, b| *a && *b,
        ),
        share_with_cloud: pick(
            &base.share_with_cloud,
            &file.share_with_cloud,
            &app.share_with_cloud,
            |a, b| *a && *b,
        ),
        read_only: pick(&base.read_only, &file.read_only, &app.read_only, |a, b| {
            *a || *b
        }),
        expires_at: pick(
            &base.expires_at,
            &file.expires_at,
            &app.expires_at,
            earlier_expiry,
        ),
    }
}

/// The more restrictive of two expiries: the earlier one; any expiry beats
/// none; a malformed one (which counts as expired) beats a valid one.
fn earlier_expiry(a: &Option<String>, b: &Option<String>) -> Option<String> {
    match (a, b) {
        (None, x) | (x, None) => x.clone(),
        (Some(x), Some(y)) => match (parse_expiry(x), parse_expiry(y)) {
            (Ok(tx), Ok(ty)) => Some(if ty < tx { y.clone() } else { x.clone() }),
            (Err(_), _) => Some(x.clone()),
            (_, Err(_)) => Some(y.clone()),
        },
    }
}

/// The differences between two permission sets, as `field: old → new`
/// pairs for the audit log.
pub fn diff(old: &Permissions, new: &Permissions) -> serde_json::Map<String, serde_json::Value> {
    use serde_json::json;
    let mut out = serde_json::Map::new();
    if old.share_with_ai != new.share_with_ai {
        out.insert(
            "share_with_ai".into(),
            json!({"old": old.share_with_ai, "new": new.share_with_ai}),
        );
    }
    if old.share_with_cloud != new.share_with_cloud {
        out.insert(
            "share_with_cloud".into(),
            json!({"old": old.share_with_cloud, "new": new.share_with_cloud}),
        );
    }
    if old.read_only != new.read_only {
        out.insert(
            "read_only".into(),
            json!({"old": old.read_only, "new": new.read_only}),
        );
    }
    if old.expires_at != new.expires_at {
        out.insert(
            "expires_at".into(),
            json!({"old": old.expires_at, "new": new.expires_at}),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_zero_trust() {
        let p = Permissions::default();
        assert!(!p.share_with_ai && !p.share_with_cloud && !p.read_only);
        assert_eq!(p.expires_at, None);
        assert!(p.is_default());
    }

    #[test]
    fn expiry_needs_an_offset() {
        assert!(parse_expiry("2026-01-01T00:00:00Z").is_ok());
        assert!(parse_expiry("2026-01-01T00:00:00+02:00").is_ok());
        assert!(parse_expiry("2026-01-01T00:00:00").is_err());
        assert!(parse_expiry("2026-01-01").is_err());
        assert!(parse_expiry("tomorrow").is_err());
    }

    #[test]
    fn expiry_boundary() {
        let p = Permissions {
            share_with_ai: true,
            expires_at: Some("2026-01-01T00:00:00+00:00".into()),
            ..Permissions::default()
        };
        let at: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        assert!(!p.is_expired_at(at - chrono::Duration::milliseconds(1)));
        assert!(p.is_expired_at(at));
        assert!(p.is_expired_at(at + chrono::Duration::seconds(1)));
    }

    fn perms_strategy() -> impl proptest::strategy::Strategy<Value = Permissions> {
        use proptest::prelude::*;
        let expiry = prop_oneof![
            Just(None),
            Just(Some("2030-01-01T00:00:00Z".to_string())),
            Just(Some("2031-06-01T12:00:00+02:00".to_string())),
        ];
        (any::<bool>(), any::<bool>(), any::<bool>(), expiry).prop_map(|(ai, cloud, ro, exp)| {
            Permissions {
                share_with_ai: ai,
                share_with_cloud: cloud,
                read_only: ro,
                expires_at: exp,
            }
        })
    }

    proptest::proptest! {
        #[test]
        fn permission_conflicts_resolve_to_the_more_restrictive(
            base in perms_strategy(), file in perms_strategy(), app in perms_strategy()
        ) {
            let r = resolve_conflict(&base, &file, &app);
            // Never shares more than both sides agreed to, where both changed.
            if file.share_with_ai != base.share_with_ai && app.share_with_ai != base.share_with_ai {
                proptest::prop_assert_eq!(r.share_with_ai, file.share_with_ai && app.share_with_ai);
            }
            if file.read_only != base.read_only && app.read_only != base.read_only {
                proptest::prop_assert_eq!(r.read_only, file.read_only || app.read_only);
            }
            // A field only one side changed takes that side's value.
            if file.share_with_cloud == base.share_with_cloud {
                proptest::prop_assert_eq!(r.share_with_cloud, app.share_with_cloud);
            } else if app.share_with_cloud == base.share_with_cloud {
                proptest::prop_assert_eq!(r.share_with_cloud, file.share_with_cloud);
            }
            // The result never grants what neither side granted.
            proptest::prop_assert!(!r.share_with_ai || file.share_with_ai || app.share_with_ai);
            // Symmetric: who changed what first does not matter.
            proptest::prop_assert_eq!(r, resolve_conflict(&base, &app, &file));
        }
    }

    #[test]
    fn grant_against_revoke_is_a_revoke() {
        let base = Permissions {
            share_with_ai: true,
            ..Permissions::default()
        };
        let file = Permissions::default(); // revoked by hand
        let app = Permissions {
            share_with_ai: true,
            share_with_cloud: true,
            ..Permissions::default()
        };
        let r = resolve_conflict(&base, &file, &app);
        assert!(!r.share_with_ai, "the revoke wins");
        assert!(r.share_with_cloud, "a field only the app changed is kept");
    }

    #[test]
    fn change_applies_only_given_fields() {
        let current = Permissions {
            share_with_cloud: true,
            expires_at: Some("2030-01-01T00:00:00Z".into()),
            ..Permissions::default()
        };
        let change = PermissionChange {
            share_with_ai: Some(true),
            expires_at: Some(None),
            ..PermissionChange::default()
        };
        let new = change.apply(&current);
        assert!(new.share_with_ai && new.share_with_cloud && !new.read_only);
        assert_eq!(new.expires_at, None);
        let d = diff(&current, &new);
        assert_eq!(
            d.keys().collect::<Vec<_>>(),
            vec!["share_with_ai", "expires_at"]
        );
    }
}
