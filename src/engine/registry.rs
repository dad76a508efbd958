//! The task registry: one entry per task, found by task id.
//!
//! The entries lie side by side in one `Vec`, and a hash table of their positions
//! (four bytes a bucket) finds them by id, which each entry holds itself. A map from
//! id to boxed entry costs an allocation per task and 24 bytes a bucket; with 10,000
//! tasks this layout keeps 0.4 MB less. Removal moves the last entry into the gap and
//! repoints its bucket, so positions are not stable: callers hold ids, never positions.

use std::hash::{BuildHasher, RandomState};

use hashbrown::HashTable;

/// What the registry stores: anything that knows its own id.
pub trait Keyed {
    fn id(&self) -> &str;
}

pub struct Registry<E> {
    entries: Vec<E>,
    /// Positions in `entries`, hashed by the id of the entry at that position.
    index: HashTable<u32>,
    hasher: RandomState,
}

impl<E: Keyed> Registry<E> {
    pub fn with_capacity(n: usize) -> Self {
        Registry {
            entries: Vec::with_capacity(n),
            index: HashTable::with_capacity(n),
            hasher: RandomState::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn get(&self, id: &str) -> Option<&E> {
        Some(&self.entries[self.position(id)?])
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut E> {
        let at = self.position(id)?;
        Some(&mut self.entries[at])
    }

    /// Where the entry of `id` lies in `entries`.
    fn position(&self, id: &str) -> Option<usize> {
        let at = self.index.find(self.hasher.hash_one(id), |&i| {
            self.entries[i as usize].id() == id
        })?;
        Some(*at as usize)
    }

    /// Adds `entry`; an entry with the same id is replaced and returned.
    pub fn insert(&mut self, entry: E) -> Option<E> {
        if let Some(old) = self.get_mut(entry.id()) {
            return Some(std::mem::replace(old, entry));
        }
        let hash = self.hasher.hash_one(entry.id());
        // A task file holds at most 16 MiB, so far fewer than 2^32 tasks.
        let at = u32::try_from(self.entries.len()).expect("fewer than 2^32 tasks");
        self.entries.push(entry);
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index
            .insert_unique(hash, at, |&i| hasher.hash_one(entries[i as usize].id()));
        None
    }

    /// Takes out the entry of `id`. The last entry moves into its place.
    pub fn remove(&mut self, id: &str) -> Option<E> {
        let entries = &self.entries;
        let found = self
            .index
            .find_entry(self.hasher.hash_one(id), |&i| {
                entries[i as usize].id() == id
            })
            .ok()?;
        let (at, _) = found.remove();
        let last = self.entries.len() - 1;
        if at as usize != last {
            let moved = self.hasher.hash_one(self.entries[last].id());
            let slot = self
                .index
                .find_mut(moved, |&i| i as usize == last)
                .expect("every entry has its bucket");
            *slot = at;
        }
        Some(self.entries.swap_remove(at as usize))
    }

    /// Makes room for `additional` more entries, exactly: a reload that adds a few
    /// tasks to many must not double the entries' memory.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve_exact(additional);
        let (entries, hasher) = (&self.entries, &self.hasher);
        self.index
            .reserve(additional, |&i| hasher.hash_one(entries[i as usize].id()));
    }

    pub fn values(&self) -> std::slice::Iter<'_, E> {
        self.entries.iter()
    }

    pub fn values_mut(&mut self) -> std::slice::IterMut<'_, E> {
        self.entries.iter_mut()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Item(String, u32);

    impl Keyed for Item {
        fn id(&self) -> &str {
            &self.0
        }
    }

    #[derive(Clone, Debug)]
    enum Op {
        Insert(u8, u32),
        Remove(u8),
        Bump(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..40, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            (0u8..40).prop_map(Op::Remove),
            (0u8..40).prop_map(Op::Bump),
        ]
    }

    proptest! {
        /// Any sequence of inserts, removals and changes leaves the registry holding
        /// what a map would, each entry found by its id and by no other.
        #[test]
        fn the_registry_behaves_as_a_map(ops in proptest::collection::vec(op(), 0..300)) {
            let mut reg = Registry::with_capacity(4);
            let mut model: HashMap<String, u32> = HashMap::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let old = reg.insert(Item(format!("t{k}"), v)).map(|i| i.1);
                        prop_assert_eq!(old, model.insert(format!("t{k}"), v));
                    }
                    Op::Remove(k) => {
                        let got = reg.remove(&format!("t{k}")).map(|i| i.1);
                        prop_assert_eq!(got, model.remove(&format!("t{k}")));
                    }
                    Op::Bump(k) => {
                        if let Some(item) = reg.get_mut(&format!("t{k}")) {
                            item.1 = item.1.wrapping_add(1);
                        }
                        if let Some(v) = model.get_mut(&format!("t{k}")) {
                            *v = v.wrapping_add(1);
                        }
                    }
                }
                prop_assert_eq!(reg.len(), model.len());
                prop_assert_eq!(reg.index.len(), reg.entries.len());
            }
            for k in 0..40u8 {
                let id = format!("t{k}");
                prop_assert_eq!(reg.get(&id).map(|i| i.1), model.get(&id).copied());
                if let Some(item) = reg.get(&id) {
                    prop_assert_eq!(&item.0, &id);
                }
            }
            let mut listed: Vec<(String, u32)> = reg.values().map(|i| (i.0.clone(), i.1)).collect();
            let mut expected: Vec<(String, u32)> = model.into_iter().collect();
            listed.sort();
            expected.sort();
            prop_assert_eq!(listed, expected);
        }
    }
}
