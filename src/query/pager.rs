//! The grid's client-side state: how many rows match, the pages fetched so
//! far and the page boundaries found by the reader's walk. It decides which
//! page requests to send for the rows on screen and keeps memory bounded
//! whatever the vault size: a few pages around the visible rows, and one
//! cursor per hundred rows.
//!
//! When the data changes under the same query, the old pages and anchors
//! stay on screen (marked stale) until fresh ones arrive, so the grid never
//! blinks to placeholders on a file edit.

use std::collections::{HashMap, HashSet};
use std::ops::Range;

use crate::query::grid::GridRow;
use crate::query::page::{Anchors, Cursor, GridPage, PAGE_ROWS};

/// Pages kept beyond the visible ones, on each side.
const KEEP_AROUND: usize = 20;

#[derive(Debug)]
struct Page {
    generation: u64,
    rows: Vec<GridRow>,
    end: Option<Cursor>,
}

/// Grid pages and boundaries, by generation.
#[derive(Debug, Default)]
pub struct Pager {
    generation: u64,
    /// Matching rows (the last known count until a fresh one arrives).
    total: Option<usize>,
    pages: HashMap<usize, Page>,
    requested: HashSet<usize>,
    anchors: Anchors,
    /// The previous generation's boundaries, used until the walk of this
    /// one gets as far.
    stale_anchors: Anchors,
}

impl Pager {
    /// The current generation.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// How many rows match, once known.
    pub fn total(&self) -> Option<usize> {
        self.total
    }

    /// Starts generation `generation`. A new query forgets everything; a
    /// data change under the same query keeps the old pages on screen
    /// until fresh ones replace them.
    pub fn restart(&mut self, generation: u64, query_changed: bool) {
        self.generation = generation;
        self.requested.clear();
        if query_changed {
            self.total = None;
            self.pages.clear();
            self.anchors = Anchors::default();
            self.stale_anchors = Anchors::default();
        } else {
            let walked = std::mem::take(&mut self.anchors);
            if walked.cursors.len() >= self.stale_anchors.cursors.len() {
                self.stale_anchors = walked;
            }
        }
    }

    /// A count arrived.
    pub fn on_count(&mut self, generation: u64, count: usize) {
        if generation == self.generation {
            self.total = Some(count);
        }
    }

    /// A page arrived.
    pub fn on_page(&mut self, generation: u64, page: usize, rows: GridPage) {
        if generation != self.generation {
            return;
        }
        self.requested.remove(&page);
        self.pages.insert(
            page,
            Page {
                generation,
                rows: rows.rows,
                end: rows.end,
            },
        );
    }

    /// Boundaries of the walk arrived.
    pub fn on_anchors(&mut self, generation: u64, cursors: Vec<Cursor>, rows: usize, done: bool) {
        if generation != self.generation {
            return;
        }
        self.anchors.cursors.extend(cursors);
        self.anchors.rows = rows;
        self.anchors.done = done;
        if done {
            self.total = Some(rows);
            self.stale_anchors = Anchors::default();
        }
    }

    /// The row at `index`, fresh or stale, if fetched.
    pub fn row_at(&self, index: usize) -> Option<&GridRow> {
        self.pages
            .get(&(index / PAGE_ROWS))
            .and_then(|p| p.rows.get(index % PAGE_ROWS))
    }

    /// The index of the row with object key `key` among the fetched pages.
    pub fn position_of(&self, key: &str) -> Option<usize> {
        self.pages.iter().find_map(|(number, page)| {
            page.rows
                .iter()
                .position(|r| r.key == key)
                .map(|i| number * PAGE_ROWS + i)
        })
    }

    /// Every fetched row, to show a change at once.
    pub fn rows_mut(&mut self) -> impl Iterator<Item = &mut GridRow> {
        self.pages.values_mut().flat_map(|p| p.rows.iter_mut())
    }

    /// The page requests (page number, start cursor) that the rows
    /// `visible` need and that are neither fresh nor on their way; marks
    /// them as requested. A page whose start is not known yet waits for the
    /// page before it or for the walk.
    pub fn wanted(&mut self, visible: Range<usize>) -> Vec<(usize, Option<Cursor>)> {
        if visible.is_empty() {
            return Vec::new();
        }
        let first = visible.start / PAGE_ROWS;
        let last = (visible.end - 1) / PAGE_ROWS;
        let mut out = Vec::new();
        for page in first..=last {
            let fresh = self
                .pages
                .get(&page)
                .is_some_and(|p| p.generation == self.generation);
            if fresh || self.requested.contains(&page) {
                continue;
            }
            if let Some(start) = self.start_of(page) {
                self.requested.insert(page);
                out.push((page, start));
            }
        }
        self.evict(first, last);
        out
    }

    /// Where page `page` starts, if known: the end of the fresh page before
    /// it, a boundary of this walk, or of the last one.
    fn start_of(&self, page: usize) -> Option<Option<Cursor>> {
        if page == 0 {
            return Some(None);
        }
        if let Some(before) = self.pages.get(&(page - 1))
            && before.generation == self.generation
            && before.rows.len() == PAGE_ROWS
        {
            return before.end.clone().map(Some);
        }
        self.anchors
            .start_of(page)
            .or_else(|| self.stale_anchors.start_of(page))
            .map(|c| c.cloned())
    }

    /// Drops the pages far from the visible ones.
    fn evict(&mut self, first: usize, last: usize) {
        if self.pages.len() <= 2 * KEEP_AROUND + (last - first) + 1 {
            return;
        }
        let keep = first.saturating_sub(KEEP_AROUND)..=last.saturating_add(KEEP_AROUND);
        self.pages.retain(|page, _| keep.contains(page));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permissions::model::Permissions;
    use rusqlite::types::Value as SqlValue;

    fn page(start: usize, len: usize) -> GridPage {
        let rows: Vec<GridRow> = (start..start + len)
            .map(|i| GridRow {
                id: i as i64,
                key: format!("k{i}"),
                schema_name: "core.todo".into(),
                title: String::new(),
                file_path: String::new(),
                updated_at: String::new(),
                permissions: Permissions::default(),
                expired: false,
            })
            .collect();
        let end = rows.last().map(|r| Cursor {
            value: SqlValue::Null,
            id: r.id,
        });
        GridPage { rows, end }
    }

    #[test]
    fn a_page_follows_the_page_before_it_or_a_boundary() {
        let mut pager = Pager::default();
        pager.restart(1, true);
        // Page 0 needs no cursor; page 5 waits.
        let wanted = pager.wanted(0..30);
        assert_eq!(wanted, vec![(0, None)]);
        assert!(pager.wanted(500..530).is_empty());
        // Asked once only.
        assert!(pager.wanted(0..30).is_empty());
        pager.on_page(1, 0, page(0, PAGE_ROWS));
        assert_eq!(pager.row_at(7).map(|r| r.id), Some(7));
        let wanted = pager.wanted(90..130);
        assert_eq!(wanted.len(), 1);
        assert_eq!(wanted[0].0, 1);
        assert_eq!(wanted[0].1.as_ref().map(|c| c.id), Some(99));
        // The walk gives page 5 its start.
        let cursors = (1..=6)
            .map(|k| Cursor {
                value: SqlValue::Null,
                id: (k * PAGE_ROWS - 1) as i64,
            })
            .collect();
        pager.on_anchors(1, cursors, 600, false);
        let wanted = pager.wanted(500..530);
        assert_eq!(wanted.len(), 1);
        assert_eq!(wanted[0].1.as_ref().map(|c| c.id), Some(499));
    }

    #[test]
    fn a_data_change_keeps_old_rows_until_fresh_ones_come() {
        let mut pager = Pager::default();
        pager.restart(1, true);
        pager.wanted(0..10);
        pager.on_page(1, 0, page(0, PAGE_ROWS));
        pager.on_count(1, 250);
        pager.restart(2, false);
        assert_eq!(pager.row_at(3).map(|r| r.id), Some(3), "stale row shown");
        assert_eq!(pager.total(), Some(250), "last count shown");
        // The stale page is asked for again, once.
        assert_eq!(pager.wanted(0..10), vec![(0, None)]);
        assert!(pager.wanted(0..10).is_empty());
        // Old answers are dropped.
        pager.on_count(1, 999);
        assert_eq!(pager.total(), Some(250));
        pager.on_count(2, 251);
        assert_eq!(pager.total(), Some(251));
        // A new query forgets everything.
        pager.restart(3, true);
        assert!(pager.row_at(3).is_none());
        assert_eq!(pager.total(), None);
    }

    #[test]
    fn memory_stays_bounded_while_scrolling_through_everything() {
        let mut pager = Pager::default();
        pager.restart(1, true);
        for start in (0..100_000).step_by(30) {
            for (number, _) in pager.wanted(start..start + 30) {
                pager.on_page(1, number, page(number * PAGE_ROWS, PAGE_ROWS));
            }
        }
        assert!(
            pager.pages.len() <= 2 * KEEP_AROUND + 2,
            "{}",
            pager.pages.len()
        );
        assert_eq!(pager.row_at(99_990).map(|r| r.id), Some(99_990));
    }
}
