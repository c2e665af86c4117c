//! [`CycleState`]: what plugins compute in one scheduling cycle (in PreFilter, PreScore) and
//! read later (in Filter, Score), keyed by type. Preemption clones it per candidate node.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

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

    /// Number of plugins in the set.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

/// The skip sets as bits by the plugin's position in its profile list, set by the profile
/// next to the names so that the per-node loops test a bit instead of comparing names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct SkipBits {
    pub(crate) pre_filter: u64,
    pub(crate) filter: u64,
    pub(crate) score: u64,
    /// How many names of `skip_filter` / `skip_score` the profile added with their bits.
    pub(crate) filter_names: usize,
    pub(crate) score_names: usize,
}

impl SkipBits {
    /// Sets bit `i` of `bits` (positions past 64 stay with the names only).
    pub(crate) fn set(bits: &mut u64, i: usize) {
        if i < 64 {
            *bits |= 1 << i;
        }
    }

    /// Whether the plugin at `i` named `name` is skipped: its bit, or its name when the
    /// set holds names the profile did not add (`known` it did), or past 64 plugins.
    pub(crate) fn skipped(bits: u64, names: &SkipSet, known: usize, i: usize, name: &str) -> bool {
        if i < 64 && bits & (1 << i) != 0 {
            return true;
        }
        (names.len() > known || i >= 64) && names.contains(name)
    }
}

/// Values are shared between copies of a state (preemption copies it once per node it
/// simulates) and copied on first write.
type TypeMap = HashMap<TypeId, Arc<dyn StateData>, BuildHasherDefault<TypeIdHasher>>;

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
    pub(crate) skip_bits: SkipBits,
}

impl std::fmt::Debug for CycleState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CycleState").field("entries", &self.data.len()).finish()
    }
}

impl Clone for CycleState {
    fn clone(&self) -> Self {
        Self {
            data: self.data.clone(),
            skip_filter: self.skip_filter.clone(),
            skip_score: self.skip_score.clone(),
            skip_bits: self.skip_bits,
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
        self.data.insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        // Upcast (a vtable load) rather than a call through `as_any`: Filter and Score read
        // their state once per node.
        self.data.get(&TypeId::of::<T>()).and_then(|v| {
            let any: &dyn Any = &**v;
            any.downcast_ref()
        })
    }

    /// The value of type `T`, mutably.
    pub fn get_mut<T: Any>(&mut self) -> Option<&mut T> {
        let v = self.data.get_mut(&TypeId::of::<T>())?;
        if Arc::get_mut(v).is_none() {
            // Shared with a copy of the state: this one gets its own value.
            *v = Arc::from((**v).clone_box());
        }
        Arc::get_mut(v).and_then(|v| v.as_any_mut().downcast_mut())
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
