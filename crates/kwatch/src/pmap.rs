//! A persistent hash map (a hash array mapped trie) with structural sharing.
//!
//! Cloning a map is O(1): both copies share every node. A write copies only the nodes on the
//! path from the root to the changed entry (O(log₃₂ n)), so a published snapshot stays valid
//! and unchanged while the writer goes on. Keys and values are cloned when a node is copied,
//! so both should be cheap to clone (`Arc`s in this crate).
//!
//! Hashes come from one process-wide [`RandomState`], so every map in the process agrees on
//! them and iteration order is stable between versions of one map.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash};
use std::sync::{Arc, OnceLock};

const BITS: u32 = 5;
const MASK: u64 = (1 << BITS) - 1;

fn hash_of<Q: Hash + ?Sized>(key: &Q) -> u64 {
    static STATE: OnceLock<RandomState> = OnceLock::new();
    STATE.get_or_init(RandomState::new).hash_one(key)
}

/// The 5-bit slice of `hash` used at trie depth `shift / 5`.
fn fragment(hash: u64, shift: u32) -> u32 {
    if shift >= u64::BITS { 0 } else { ((hash >> shift) & MASK) as u32 }
}

struct Leaf<K, V> {
    hash: u64,
    key: K,
    value: V,
}

impl<K: Clone, V: Clone> Clone for Leaf<K, V> {
    fn clone(&self) -> Self {
        Self { hash: self.hash, key: self.key.clone(), value: self.value.clone() }
    }
}

enum Slot<K, V> {
    Leaf(Leaf<K, V>),
    Branch(Arc<Node<K, V>>),
    /// Entries whose 64-bit hashes are all equal.
    Collision(Arc<Vec<Leaf<K, V>>>),
}

impl<K: Clone, V: Clone> Clone for Slot<K, V> {
    fn clone(&self) -> Self {
        match self {
            Slot::Leaf(l) => Slot::Leaf(l.clone()),
            Slot::Branch(n) => Slot::Branch(Arc::clone(n)),
            Slot::Collision(c) => Slot::Collision(Arc::clone(c)),
        }
    }
}

impl<K, V> Slot<K, V> {
    fn hash(&self) -> Option<u64> {
        match self {
            Slot::Leaf(l) => Some(l.hash),
            Slot::Collision(c) => c.first().map(|l| l.hash),
            Slot::Branch(_) => None,
        }
    }
}

struct Node<K, V> {
    bitmap: u32,
    slots: Vec<Slot<K, V>>,
}

impl<K: Clone, V: Clone> Clone for Node<K, V> {
    fn clone(&self) -> Self {
        Self { bitmap: self.bitmap, slots: self.slots.clone() }
    }
}

impl<K, V> Node<K, V> {
    fn position(&self, bit: u32) -> usize {
        (self.bitmap & (bit - 1)).count_ones() as usize
    }
}

/// A node holding two slots whose hashes differ somewhere at or after `shift`.
fn pair<K, V>(a: Slot<K, V>, ha: u64, b: Slot<K, V>, hb: u64, shift: u32) -> Node<K, V> {
    let (fa, fb) = (fragment(ha, shift), fragment(hb, shift));
    if fa == fb {
        let child = pair(a, ha, b, hb, shift + BITS);
        Node { bitmap: 1 << fa, slots: vec![Slot::Branch(Arc::new(child))] }
    } else {
        let slots = if fa < fb { vec![a, b] } else { vec![b, a] };
        Node { bitmap: (1 << fa) | (1 << fb), slots }
    }
}

/// An immutable hash map with O(1) clones and O(log n) copy-on-write updates.
pub(crate) struct PMap<K, V> {
    root: Option<Arc<Node<K, V>>>,
    len: usize,
}

impl<K, V> Clone for PMap<K, V> {
    fn clone(&self) -> Self {
        Self { root: self.root.clone(), len: self.len }
    }
}

impl<K, V> Default for PMap<K, V> {
    fn default() -> Self {
        Self { root: None, len: 0 }
    }
}

impl<K, V> PMap<K, V> {
    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether two maps are the same version (share their root).
    pub(crate) fn ptr_eq(&self, other: &Self) -> bool {
        match (&self.root, &other.root) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        }
    }

    /// Borrowing iterator over the entries, in hash order.
    pub(crate) fn iter(&self) -> Iter<'_, K, V> {
        let mut stack = Vec::new();
        if let Some(root) = &self.root {
            stack.push(Frame::Node(root, 0));
        }
        Iter { stack }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> PMap<K, V> {
    /// The entry for `key`.
    pub(crate) fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let hash = hash_of(key);
        let mut node = self.root.as_deref()?;
        let mut shift = 0;
        loop {
            let bit = 1u32 << fragment(hash, shift);
            if node.bitmap & bit == 0 {
                return None;
            }
            match &node.slots[node.position(bit)] {
                Slot::Leaf(l) => {
                    return (l.hash == hash && l.key.borrow() == key).then_some((&l.key, &l.value));
                }
                Slot::Collision(c) => {
                    return c.iter().find(|l| l.hash == hash && l.key.borrow() == key).map(|l| (&l.key, &l.value));
                }
                Slot::Branch(child) => {
                    node = child;
                    shift += BITS;
                }
            }
        }
    }

    /// The value for `key`.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_key_value(key).map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub(crate) fn contains_key<Q>(&self, key: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get_key_value(key).is_some()
    }

    /// Inserts or replaces; returns the previous value.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let hash = hash_of(&key);
        let leaf = Leaf { hash, key, value };
        let old = match &mut self.root {
            None => {
                let bit = 1u32 << fragment(hash, 0);
                self.root = Some(Arc::new(Node { bitmap: bit, slots: vec![Slot::Leaf(leaf)] }));
                None
            }
            Some(root) => insert_into(root, 0, leaf),
        };
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes `key`; returns its value.
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        // Look first so that removing an absent key copies nothing.
        if !self.contains_key(key) {
            return None;
        }
        let hash = hash_of(key);
        let root = self.root.as_mut()?;
        let removed = remove_from(root, 0, hash, key)?;
        self.len -= 1;
        if self.len == 0 {
            self.root = None;
        }
        Some(removed.value)
    }
}

fn insert_into<K: Hash + Eq + Clone, V: Clone>(node: &mut Arc<Node<K, V>>, shift: u32, leaf: Leaf<K, V>) -> Option<V> {
    let node = Arc::make_mut(node);
    let bit = 1u32 << fragment(leaf.hash, shift);
    let pos = node.position(bit);
    if node.bitmap & bit == 0 {
        node.slots.insert(pos, Slot::Leaf(leaf));
        node.bitmap |= bit;
        return None;
    }
    match &mut node.slots[pos] {
        Slot::Branch(child) => insert_into(child, shift + BITS, leaf),
        Slot::Leaf(existing) if existing.hash == leaf.hash && existing.key == leaf.key => {
            Some(std::mem::replace(&mut existing.value, leaf.value))
        }
        Slot::Collision(entries) if entries.first().is_some_and(|l| l.hash == leaf.hash) => {
            let entries = Arc::make_mut(entries);
            if let Some(existing) = entries.iter_mut().find(|l| l.key == leaf.key) {
                return Some(std::mem::replace(&mut existing.value, leaf.value));
            }
            entries.push(leaf);
            None
        }
        slot => {
            // A leaf or collision with another hash sits here: push both one level down,
            // or into a collision list when the whole hashes are equal.
            let old_hash = slot.hash()?;
            let old = std::mem::replace(slot, Slot::Collision(Arc::new(Vec::new())));
            let new_hash = leaf.hash;
            *slot = match old {
                Slot::Leaf(old_leaf) if old_hash == new_hash => Slot::Collision(Arc::new(vec![old_leaf, leaf])),
                old => Slot::Branch(Arc::new(pair(old, old_hash, Slot::Leaf(leaf), new_hash, shift + BITS))),
            };
            None
        }
    }
}

fn remove_from<K, V, Q>(node: &mut Arc<Node<K, V>>, shift: u32, hash: u64, key: &Q) -> Option<Leaf<K, V>>
where
    K: Hash + Eq + Clone + Borrow<Q>,
    V: Clone,
    Q: Hash + Eq + ?Sized,
{
    let node = Arc::make_mut(node);
    let bit = 1u32 << fragment(hash, shift);
    if node.bitmap & bit == 0 {
        return None;
    }
    let pos = node.position(bit);
    let removed = match &mut node.slots[pos] {
        Slot::Leaf(l) if l.hash == hash && l.key.borrow() == key => {
            node.bitmap &= !bit;
            match node.slots.remove(pos) {
                Slot::Leaf(l) => return Some(l),
                _ => return None,
            }
        }
        Slot::Leaf(_) => return None,
        Slot::Collision(entries) => {
            let entries_mut = Arc::make_mut(entries);
            let i = entries_mut.iter().position(|l| l.hash == hash && l.key.borrow() == key)?;
            let removed = entries_mut.remove(i);
            if entries_mut.len() == 1 {
                if let Some(last) = entries_mut.pop() {
                    node.slots[pos] = Slot::Leaf(last);
                }
            }
            return Some(removed);
        }
        Slot::Branch(child) => remove_from(child, shift + BITS, hash, key)?,
    };
    // Keep the trie canonical: a branch left with one leaf (or collision) moves up; an
    // empty branch disappears.
    if let Slot::Branch(child) = &node.slots[pos] {
        match child.slots.as_slice() {
            [] => {
                node.slots.remove(pos);
                node.bitmap &= !bit;
            }
            [only] if !matches!(only, Slot::Branch(_)) => {
                let only = only.clone();
                node.slots[pos] = only;
            }
            _ => {}
        }
    }
    Some(removed)
}

enum Frame<'a, K, V> {
    Node(&'a Node<K, V>, usize),
    Collision(&'a [Leaf<K, V>], usize),
}

/// Borrowing iterator over a [`PMap`].
pub(crate) struct Iter<'a, K, V> {
    stack: Vec<Frame<'a, K, V>>,
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let frame = self.stack.last_mut()?;
            match frame {
                Frame::Node(node, i) => {
                    let node: &'a Node<K, V> = node;
                    let Some(slot) = node.slots.get(*i) else {
                        self.stack.pop();
                        continue;
                    };
                    *i += 1;
                    match slot {
                        Slot::Leaf(l) => return Some((&l.key, &l.value)),
                        Slot::Branch(child) => self.stack.push(Frame::Node(child, 0)),
                        Slot::Collision(c) => self.stack.push(Frame::Collision(c, 0)),
                    }
                }
                Frame::Collision(leaves, i) => {
                    let leaves: &'a [Leaf<K, V>] = leaves;
                    let Some(l) = leaves.get(*i) else {
                        self.stack.pop();
                        continue;
                    };
                    *i += 1;
                    return Some((&l.key, &l.value));
                }
            }
        }
    }
}

enum OwnedFrame<K, V> {
    Node(Arc<Node<K, V>>, usize),
    Collision(Arc<Vec<Leaf<K, V>>>, usize),
}

/// Owning iterator: keeps the version it iterates alive, clones keys and values out.
pub(crate) struct IntoIter<K, V> {
    stack: Vec<OwnedFrame<K, V>>,
}

impl<K: Clone, V: Clone> IntoIterator for PMap<K, V> {
    type Item = (K, V);
    type IntoIter = IntoIter<K, V>;

    fn into_iter(self) -> IntoIter<K, V> {
        IntoIter { stack: self.root.map(|r| OwnedFrame::Node(r, 0)).into_iter().collect() }
    }
}

impl<K: Clone, V: Clone> Iterator for IntoIter<K, V> {
    type Item = (K, V);

    fn next(&mut self) -> Option<(K, V)> {
        loop {
            let frame = self.stack.last_mut()?;
            let next = match frame {
                OwnedFrame::Node(node, i) => match node.slots.get(*i) {
                    None => None,
                    Some(slot) => {
                        *i += 1;
                        Some(slot.clone())
                    }
                },
                OwnedFrame::Collision(leaves, i) => match leaves.get(*i) {
                    None => None,
                    Some(l) => {
                        *i += 1;
                        Some(Slot::Leaf(l.clone()))
                    }
                },
            };
            match next {
                None => {
                    self.stack.pop();
                }
                Some(Slot::Leaf(l)) => return Some((l.key, l.value)),
                Some(Slot::Branch(child)) => self.stack.push(OwnedFrame::Node(child, 0)),
                Some(Slot::Collision(c)) => self.stack.push(OwnedFrame::Collision(c, 0)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// A key whose hash is chosen by the test, to force deep paths and collisions.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Forced(u64, u32);

    impl Hash for Forced {
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            self.0.hash(state);
        }
    }

    #[test]
    fn insert_get_remove() {
        let mut m = PMap::default();
        for i in 0..1000u32 {
            assert_eq!(m.insert(i, i * 2), None);
        }
        assert_eq!(m.len(), 1000);
        assert_eq!(m.insert(7, 1), Some(14));
        assert_eq!(m.get(&7), Some(&1));
        assert_eq!(m.remove(&7), Some(1));
        assert_eq!(m.remove(&7), None);
        assert_eq!(m.len(), 999);
        for i in 0..1000u32 {
            m.remove(&i);
        }
        assert!(m.is_empty());
        assert!(m.root.is_none());
    }

    #[test]
    fn snapshots_are_unaffected_by_later_writes() {
        let mut m = PMap::default();
        for i in 0..100u32 {
            m.insert(i, i);
        }
        let snap = m.clone();
        assert!(snap.ptr_eq(&m));
        m.insert(5, 500);
        m.remove(&6);
        m.insert(1000, 1);
        assert!(!snap.ptr_eq(&m));
        assert_eq!(snap.get(&5), Some(&5));
        assert_eq!(snap.get(&6), Some(&6));
        assert_eq!(snap.get(&1000), None);
        assert_eq!(snap.len(), 100);
        assert_eq!(m.get(&5), Some(&500));
        assert_eq!(m.len(), 100);
    }

    #[test]
    fn full_hash_collisions() {
        let mut m = PMap::default();
        for i in 0..5 {
            m.insert(Forced(42, i), i);
        }
        m.insert(Forced(43, 0), 99);
        assert_eq!(m.len(), 6);
        for i in 0..5 {
            assert_eq!(m.get(&Forced(42, i)), Some(&i));
        }
        let snap = m.clone();
        for i in 0..4 {
            assert_eq!(m.remove(&Forced(42, i)), Some(i));
        }
        assert_eq!(m.get(&Forced(42, 4)), Some(&4));
        assert_eq!(m.iter().count(), 2);
        assert_eq!(snap.iter().count(), 6);
        assert_eq!(snap.clone().into_iter().count(), 6);
    }

    proptest! {
        #[test]
        fn behaves_like_hashmap(ops in proptest::collection::vec((0u8..3, 0u16..300, any::<u32>()), 0..600)) {
            let mut model = HashMap::new();
            let mut m = PMap::default();
            let mut versions = Vec::new();
            for (op, k, v) in ops {
                match op {
                    0 | 1 => prop_assert_eq!(m.insert(k, v), model.insert(k, v)),
                    _ => prop_assert_eq!(m.remove(&k), model.remove(&k)),
                }
                prop_assert_eq!(m.len(), model.len());
                if v % 17 == 0 {
                    versions.push((m.clone(), model.clone()));
                }
            }
            versions.push((m, model));
            for (m, model) in versions {
                let got: HashMap<u16, u32> = m.iter().map(|(k, v)| (*k, *v)).collect();
                prop_assert_eq!(&got, &model);
                let owned: HashMap<u16, u32> = m.clone().into_iter().collect();
                prop_assert_eq!(&owned, &model);
                for (k, v) in &model {
                    prop_assert_eq!(m.get(k), Some(v));
                }
            }
        }
    }
}
