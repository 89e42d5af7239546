//! Three-way merge of one object between the app and another program.
//!
//! A conflict is possible only when both changed the object since the base
//! (what Me-Nexus last indexed from the file). Then:
//! - a modification beats a deletion;
//! - otherwise the newer change wins (the file wins a tie), and the losing
//!   version is returned so that it can be kept as a conflict copy.
//!
//! For collection files the merge is per item id: the app changes one item
//! of the file *as it is now*, so another program's changes to other items
//! always stay.

use chrono::{DateTime, Utc};
use serde_json::Value;

/// Which side a version came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Me-Nexus (window or CLI).
    App,
    /// The file, as another program left it.
    File,
}

/// The outcome of merging one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    /// The object as it should be in the file (`None`: absent).
    pub result: Option<Value>,
    /// Set when both sides changed it: who won, and the losing version
    /// (`None` when the loser was a deletion).
    pub conflict: Option<Conflict>,
}

/// Both sides changed the object.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The side whose version is in the file now.
    pub winner: Side,
    /// The other side's version (`None`: it deleted the object).
    pub losing: Option<Value>,
}

/// Merges one object. `base` is the last indexed version, `theirs` the
/// file's version now, `ours` what the app wants (`None` = delete).
/// `app_time` and `file_time` decide a real conflict: the newer wins, the
/// file wins a tie.
pub fn merge_object(
    base: Option<&Value>,
    theirs: Option<&Value>,
    ours: Option<&Value>,
    app_time: DateTime<Utc>,
    file_time: DateTime<Utc>,
) -> Merged {
    let clean = |result: Option<&Value>| Merged {
        result: result.cloned(),
        conflict: None,
    };
    if theirs == base {
        return clean(ours); // only the app changed it
    }
    if ours == base || ours == theirs {
        return clean(theirs); // only the file changed it, or both the same way
    }
    match (theirs, ours) {
        // A modification beats a deletion.
        (Some(t), None) => Merged {
            result: Some(t.clone()),
            conflict: Some(Conflict {
                winner: Side::File,
                losing: None,
            }),
        },
        (None, Some(o)) => Merged {
            result: Some(o.clone()),
            conflict: Some(Conflict {
                winner: Side::App,
                losing: None,
            }),
        },
        // Both modified: the newer wins, the file wins a tie.
        (Some(t), Some(o)) => {
            if app_time > file_time {
                Merged {
                    result: Some(o.clone()),
                    conflict: Some(Conflict {
                        winner: Side::App,
                        losing: Some(t.clone()),
                    }),
                }
            } else {
                Merged {
                    result: Some(t.clone()),
                    conflict: Some(Conflict {
                        winner: Side::File,
                        losing: Some(o.clone()),
                    }),
                }
            }
        }
        (None, None) => clean(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn version() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            (0u8..4).prop_map(|n| Some(json!({"id": 1, "text": format!("v{n}")}))),
        ]
    }

    fn times() -> impl Strategy<Value = (DateTime<Utc>, DateTime<Utc>)> {
        (0i64..3, 0i64..3).prop_map(|(a, f)| {
            let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default();
            (
                t0 + chrono::Duration::seconds(a),
                t0 + chrono::Duration::seconds(f),
            )
        })
    }

    proptest! {
        #[test]
        fn only_one_side_changed_means_no_conflict(base in version(), changed in version(), (a, f) in times()) {
            let app_only = merge_object(base.as_ref(), base.as_ref(), changed.as_ref(), a, f);
            prop_assert_eq!(app_only.result, changed.clone());
            prop_assert!(app_only.conflict.is_none());
            let file_only = merge_object(base.as_ref(), changed.as_ref(), base.as_ref(), a, f);
            prop_assert_eq!(file_only.result, changed);
            prop_assert!(file_only.conflict.is_none());
        }

        #[test]
        fn no_version_is_lost(base in version(), theirs in version(), ours in version(), (a, f) in times()) {
            let m = merge_object(base.as_ref(), theirs.as_ref(), ours.as_ref(), a, f);
            // Every version either side made is in the file or in the conflict copy.
            for v in [&theirs, &ours].into_iter().flatten().filter(|v| Some(*v) != base.as_ref()) {
                let kept = m.result.as_ref() == Some(v)
                    || m.conflict.as_ref().and_then(|c| c.losing.as_ref()) == Some(v);
                prop_assert!(kept, "lost {:?}", v);
            }
            // The result is always one of the two sides.
            prop_assert!(m.result == theirs || m.result == ours);
        }

        #[test]
        fn a_modification_beats_a_deletion(base in version(), modified in version(), (a, f) in times()) {
            prop_assume!(modified.is_some() && modified != base);
            let app_deletes = merge_object(base.as_ref(), modified.as_ref(), None, a, f);
            prop_assert_eq!(&app_deletes.result, &modified);
            let file_deletes = merge_object(base.as_ref(), None, modified.as_ref(), a, f);
            if base.is_some() {
                prop_assert_eq!(&file_deletes.result, &modified);
            }
        }

        #[test]
        fn the_newer_side_wins_and_the_file_wins_a_tie(created in any::<bool>(), (a, f) in times()) {
            // Both sides changed the same object differently (or both created it).
            let base = (!created).then(|| json!({"id": 1, "text": "base"}));
            let theirs = Some(json!({"id": 1, "text": "file"}));
            let ours = Some(json!({"id": 1, "text": "app"}));
            let m = merge_object(base.as_ref(), theirs.as_ref(), ours.as_ref(), a, f);
            let conflict = m.conflict.clone().unwrap_or(Conflict { winner: Side::File, losing: None });
            if a > f {
                prop_assert_eq!(m.result, ours);
                prop_assert_eq!(conflict.winner, Side::App);
                prop_assert_eq!(conflict.losing, theirs);
            } else {
                prop_assert_eq!(m.result, theirs);
                prop_assert_eq!(conflict.winner, Side::File);
                prop_assert_eq!(conflict.losing, ours);
            }
        }
    }
}
