//! A table of one resource kind: its rows in key order, with the original of every row the
//! running command touched, so that the command's changes can be written to the database as one
//! transaction, or undone in memory when the command fails part-way.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::ops::Bound;

#[derive(Debug)]
pub(crate) struct Table<K: Ord + Clone, V: Clone + PartialEq> {
    rows: BTreeMap<K, V>,
    /// Each touched row as it was before the running command (`None`: it did not exist).
    originals: BTreeMap<K, Option<V>>,
}

impl<K: Ord + Clone, V: Clone + PartialEq> Default for Table<K, V> {
    fn default() -> Self {
        Self { rows: BTreeMap::new(), originals: BTreeMap::new() }
    }
}

impl<K: Ord + Clone, V: Clone + PartialEq> Table<K, V> {
    pub(crate) fn from_rows(rows: BTreeMap<K, V>) -> Self {
        Self { rows, originals: BTreeMap::new() }
    }

    pub(crate) fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        self.rows.get(key)
    }

    pub(crate) fn contains_key<Q: Ord + ?Sized>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        self.rows.contains_key(key)
    }

    pub(crate) fn values(&self) -> impl DoubleEndedIterator<Item = &V> {
        self.rows.values()
    }

    #[cfg(test)]
    pub(crate) fn iter(&self) -> impl DoubleEndedIterator<Item = (&K, &V)> {
        self.rows.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.rows.len()
    }

    fn remember(&mut self, key: &K) {
        if !self.originals.contains_key(key) {
            self.originals.insert(key.clone(), self.rows.get(key).cloned());
        }
    }

    /// The row to change; the change becomes part of the running command.
    pub(crate) fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        let key = K::clone(self.rows.get_key_value(key)?.0);
        self.remember(&key);
        self.rows.get_mut::<K>(&key)
    }

    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        self.remember(&key);
        self.rows.insert(key, value)
    }

    pub(crate) fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        let key = K::clone(self.rows.get_key_value(key)?.0);
        self.remember(&key);
        self.rows.remove::<K>(&key)
    }

    /// Keeps only the rows that pass `keep`.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&K, &V) -> bool) {
        let gone: Vec<K> = self.rows.iter().filter(|(k, v)| !keep(k, v)).map(|(k, _)| k.clone()).collect();
        for key in gone {
            self.remove(&key);
        }
    }

    /// Applies `change` to every row that `select` picks (only those count as touched).
    pub(crate) fn update_where(&mut self, select: impl Fn(&V) -> bool, mut change: impl FnMut(&mut V)) {
        let picked: Vec<K> = self.rows.iter().filter(|(_, v)| select(v)).map(|(k, _)| k.clone()).collect();
        for key in picked {
            if let Some(v) = self.get_mut(&key) {
                change(v);
            }
        }
    }

    /// The rows the running command changed, as they are now (`None`: deleted). Rows touched
    /// but left as they were are not listed.
    pub(crate) fn changes(&self) -> impl Iterator<Item = (&K, Option<&V>)> {
        self.originals.iter().filter_map(|(k, original)| {
            let now = self.rows.get(k);
            (now != original.as_ref()).then_some((k, now))
        })
    }

    /// The rows the running command added.
    pub(crate) fn inserted(&self) -> impl Iterator<Item = (&K, &V)> {
        self.originals.iter().filter(|(_, original)| original.is_none()).filter_map(|(k, _)| self.rows.get_key_value(k))
    }

    pub(crate) fn has_changes(&self) -> bool {
        self.changes().next().is_some()
    }

    /// The running command's changes are durable: forget the originals.
    pub(crate) fn commit(&mut self) {
        self.originals.clear();
    }

    /// Puts back every row the running command touched.
    pub(crate) fn rollback(&mut self) {
        for (key, original) in std::mem::take(&mut self.originals) {
            match original {
                Some(v) => self.rows.insert(key, v),
                None => self.rows.remove(&key),
            };
        }
    }

    /// Up to `limit` rows after the key `after`, in key order, that pass `keep`, and whether more
    /// follow: a page of a listing costs the page, not the whole table.
    pub(crate) fn page_after(&self, after: Option<&K>, limit: usize, keep: impl Fn(&V) -> bool) -> (Vec<V>, bool) {
        let range = match after {
            Some(a) => self.rows.range((Bound::Excluded(a), Bound::Unbounded)),
            None => self.rows.range::<K, _>(..),
        };
        let mut out = Vec::new();
        for v in range.map(|(_, v)| v).filter(|v| keep(v)) {
            if out.len() == limit {
                return (out, true);
            }
            out.push(v.clone());
        }
        (out, false)
    }
}

/// A resource kind kept in a table of its own.
pub(crate) trait Row: serde::Serialize + serde::de::DeserializeOwned + Clone + PartialEq {
    /// The SQL table (also the `kind` of its tags).
    const TABLE: &'static str;
    type Key: Ord + Clone + std::fmt::Display;
    fn key(&self) -> Self::Key;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table<u32, &'static str> {
        let mut t = Table::from_rows(BTreeMap::from([(1, "one"), (2, "two"), (3, "three")]));
        t.commit();
        t
    }

    #[test]
    fn rollback_restores_every_touched_row() {
        let mut t = table();
        *t.get_mut(&1).unwrap() = "uno";
        t.remove(&2);
        t.insert(4, "four");
        t.insert(4, "vier");
        t.retain(|k, _| *k != 3);
        t.rollback();
        assert_eq!(t.iter().map(|(k, v)| (*k, *v)).collect::<Vec<_>>(), vec![(1, "one"), (2, "two"), (3, "three")]);
        assert!(!t.has_changes());
    }

    #[test]
    fn changes_list_only_rows_that_differ() {
        let mut t = table();
        *t.get_mut(&1).unwrap() = "one"; // touched, unchanged
        t.update_where(|v| v.starts_with('t'), |v| *v = "t");
        t.remove(&3);
        t.insert(5, "five");
        assert_eq!(t.inserted().map(|(k, _)| *k).collect::<Vec<_>>(), vec![5]);
        let changes: Vec<_> = t.changes().map(|(k, v)| (*k, v.copied())).collect();
        assert_eq!(changes, vec![(2, Some("t")), (3, None), (5, Some("five"))]);
        t.commit();
        assert!(!t.has_changes());
        t.rollback();
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn pages_follow_key_order() {
        let t = table();
        assert_eq!(t.page_after(None, 2, |_| true), (vec!["one", "two"], true));
        assert_eq!(t.page_after(Some(&2), 2, |_| true), (vec!["three"], false));
        assert_eq!(t.page_after(None, 5, |v| v.len() == 3), (vec!["one", "two"], false));
    }
}
