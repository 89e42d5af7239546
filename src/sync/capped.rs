//! A count with the first few of what it counts: how batch reports and sync
//! events name the objects a batch touched.
//!
//! Why not every key: a first index of a million objects would hold a
//! million keys in its report (about 70 MB), then clone them into the event
//! for the window, which only needs to know that something changed; `watch`
//! would log a million lines. So a list keeps the count of everything and
//! the first [`LIMIT`] items, and says how many it left out. Nothing is
//! dropped silently: the count is exact, and the database holds every key.

use serde::Serialize;

/// How many items a list keeps.
pub const LIMIT: usize = 1000;

/// `len()` things, of which the first (up to [`LIMIT`]) are kept.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Capped<T> {
    count: usize,
    first: Vec<T>,
}

impl<T> Default for Capped<T> {
    fn default() -> Self {
        Capped {
            count: 0,
            first: Vec::new(),
        }
    }
}

impl<T> Capped<T> {
    /// Counts one more; keeps it if fewer than [`LIMIT`] are kept. `make`
    /// runs only then, so a long batch does not allocate what it drops.
    pub fn push_with(&mut self, make: impl FnOnce() -> T) {
        self.count += 1;
        if self.first.len() < LIMIT {
            self.first.push(make());
        }
    }

    /// Counts one more and keeps it if fewer than [`LIMIT`] are kept.
    pub fn push(&mut self, item: T) {
        self.push_with(|| item);
    }

    /// How many were counted.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether none was counted.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The first ones counted, in order (all of them when
    /// [`Self::left_out`] is 0).
    pub fn first(&self) -> &[T] {
        &self.first
    }

    /// The ones kept, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.first.iter()
    }

    /// How many were counted but not kept.
    pub fn left_out(&self) -> usize {
        self.count - self.first.len()
    }

    /// Adds `other`'s count, and its items while there is room.
    pub fn extend(&mut self, other: Capped<T>) {
        let room = LIMIT.saturating_sub(self.first.len());
        self.count += other.count;
        self.first.extend(other.first.into_iter().take(room));
    }
}

impl<T: PartialEq> Capped<T> {
    /// Whether `item` is among the ones kept.
    pub fn contains(&self, item: &T) -> bool {
        self.first.contains(item)
    }
}

impl<'a, T> IntoIterator for &'a Capped<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    /// The ones kept, in order.
    fn into_iter(self) -> Self::IntoIter {
        self.first.iter()
    }
}

impl<T> From<Vec<T>> for Capped<T> {
    fn from(items: Vec<T>) -> Self {
        let mut capped = Capped::default();
        for item in items {
            capped.push(item);
        }
        capped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_everything_and_keeps_the_first_thousand() {
        let mut list = Capped::default();
        let mut made = 0;
        for n in 0..LIMIT + 5 {
            list.push_with(|| {
                made += 1;
                n
            });
        }
        assert_eq!(list.len(), LIMIT + 5);
        assert_eq!(list.left_out(), 5);
        assert_eq!(made, LIMIT, "the items left out are never made");
        assert_eq!(list.first().first(), Some(&0));
        assert_eq!(list.first().last(), Some(&(LIMIT - 1)));
    }

    #[test]
    fn extending_adds_the_counts_and_fills_the_room() {
        let mut a: Capped<usize> = (0..LIMIT - 2).collect::<Vec<_>>().into();
        let b: Capped<usize> = (0..10).map(|n| n + 5000).collect::<Vec<_>>().into();
        a.extend(b);
        assert_eq!(a.len(), LIMIT + 8);
        assert_eq!(a.first().len(), LIMIT);
        assert_eq!(&a.first()[LIMIT - 2..], &[5000, 5001]);
        assert!(a.contains(&5001) && !a.contains(&5002));
        assert_eq!(a.left_out(), 8);
    }
}
