//! [`CycleState`]: what plugins compute in one scheduling cycle (in PreFilter, PreScore) and
//! read later (in Filter, Score), keyed by type. Preemption clones it per candidate node.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// `TypeId`s are already well-distributed hashes: fold them instead of running SipHash on
/// every `get` (Filter and Score call it for every node).
#[derive(Default)]
struct TypeIdHasher(u64);

impl Hasher for TypeIdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut buf = [0u8; 8];
            buf[..chunk.len()].copy_from_slice(chunk);
            self.0 ^= u64::from_le_bytes(buf);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 ^= v;
    }
    fn write_u128(&mut self, v: u128) {
        self.0 ^= (v as u64) ^ ((v >> 64) as u64);
    }
}

/// A few plugin names, checked for every node: a short list beats hashing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SkipSet(Vec<&'static str>);

impl SkipSet {
    /// Adds a plugin.
    pub fn insert(&mut self, name: &'static str) {
        if !self.contains(name) {
            self.0.push(name);
        }
    }

    /// Whether the plugin is in the set.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains(&name)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

type TypeMap = HashMap<TypeId, Box<dyn StateData>, BuildHasherDefault<TypeIdHasher>>;

/// A value a plugin keeps in the cycle state.
pub trait StateData: Any + Send + Sync {
    /// A copy (preemption simulates removals on copies).
    fn clone_box(&self) -> Box<dyn StateData>;
    /// As `Any`, for downcasting.
    fn as_any(&self) -> &dyn Any;
    /// As mutable `Any`.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<T: Any + Clone + Send + Sync> StateData for T {
    fn clone_box(&self) -> Box<dyn StateData> {
        Box::new(self.clone())
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Per-cycle data of the plugins.
#[derive(Default)]
pub struct CycleState {
    data: TypeMap,
    /// Filter plugins whose PreFilter returned Skip.
    pub skip_filter: SkipSet,
    /// Score plugins whose PreScore returned Skip.
    pub skip_score: SkipSet,
}

impl std::fmt::Debug for CycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleState").field("entries", &self.data.len()).finish()
    }
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        Self {
            data: self.data.iter().map(|(k, v)| (*k, (**v).clone_box())).collect(),
            skip_filter: self.skip_filter.clone(),
            skip_score: self.skip_score.clone(),
        }
    }
}

impl CycleState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `value` (replacing any value of the same type).
    pub fn insert<T: Any + Clone + Send + Sync>(&mut self, value: T) {
        self.data.insert(TypeId::of::<T>(), Box::new(value));
    }

    /// The value of type `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.data.get(&TypeId::of::<T>()).and_then(|v| (**v).as_any().downcast_ref())
    }

    /// The value of type `T`, mutably.
    pub fn get_mut<T: Any>(&mut self) -> Option<&mut T> {
        self.data.get_mut(&TypeId::of::<T>()).and_then(|v| (**v).as_any_mut().downcast_mut())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq)]
    struct Counts(Vec<u32>);

    #[test]
    fn typed_entries_and_clones_are_independent() {
        let mut s = CycleState::new();
        s.insert(Counts(vec![1]));
        let copy = s.clone();
        s.get_mut::<Counts>().unwrap().0.push(2);
        assert_eq!(s.get::<Counts>(), Some(&Counts(vec![1, 2])));
        assert_eq!(copy.get::<Counts>(), Some(&Counts(vec![1])));
        assert!(s.get::<String>().is_none());
    }
}
