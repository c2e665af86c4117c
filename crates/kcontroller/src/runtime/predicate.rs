//! Predicates: which updates of a watched object are worth a reconcile.
//!
//! Predicates filter **updates** only. Creations, deletions and resyncs always pass: a
//! predicate that dropped a deletion would leave the controller acting on a ghost (a
//! long-standing complaint about kube-rs' `predicate_filter`).

use std::sync::Arc;

use kwatch::object::Object;

/// Decides from the old and new state whether an update is relevant.
pub struct Predicate<K>(Arc<PredicateFn<K>>);

type PredicateFn<K> = dyn Fn(&K, &K) -> bool + Send + Sync;

impl<K> Clone for Predicate<K> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<K> std::fmt::Debug for Predicate<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Predicate")
    }
}

impl<K: Object> Predicate<K> {
    /// A predicate from a function of `(old, new)`.
    pub fn new(f: impl Fn(&K, &K) -> bool + Send + Sync + 'static) -> Self {
        Self(Arc::new(f))
    }

    /// Whether the update from `old` to `new` passes.
    pub fn allows(&self, old: &K, new: &K) -> bool {
        (self.0)(old, new)
    }

    /// `metadata.generation` changed: the spec changed, status-only writes are ignored
    /// (controller-runtime's `GenerationChangedPredicate`).
    pub fn generation_changed() -> Self {
        Self::new(|o: &K, n: &K| o.metadata().generation != n.metadata().generation)
    }

    /// `metadata.resourceVersion` changed (drops resync-like no-op updates).
    pub fn resource_version_changed() -> Self {
        Self::new(|o: &K, n: &K| o.resource_version() != n.resource_version())
    }

    /// `metadata.labels` changed.
    pub fn labels_changed() -> Self {
        Self::new(|o: &K, n: &K| o.labels() != n.labels())
    }

    /// `metadata.annotations` changed.
    pub fn annotations_changed() -> Self {
        Self::new(|o: &K, n: &K| o.annotations() != n.annotations())
    }

    /// `metadata.deletionTimestamp` or `metadata.finalizers` changed.
    pub fn deletion_changed() -> Self {
        Self::new(|o: &K, n: &K| {
            let (o, n) = (o.metadata(), n.metadata());
            o.deletion_timestamp != n.deletion_timestamp || o.finalizers != n.finalizers
        })
    }

    /// The new state matches a label selector (`app=web,tier!=db`).
    ///
    /// # Errors
    /// A malformed selector.
    pub fn label_selector(selector: &str) -> Result<Self, kapi::labels::SelectorError> {
        let selector: kapi::labels::Selector = selector.parse()?;
        Ok(Self::new(move |_: &K, n: &K| selector.matches(&n.labels())))
    }

    /// Both pass.
    #[must_use]
    pub fn and(self, other: Self) -> Self {
        Self::new(move |o: &K, n: &K| self.allows(o, n) && other.allows(o, n))
    }

    /// Either passes.
    #[must_use]
    pub fn or(self, other: Self) -> Self {
        Self::new(move |o: &K, n: &K| self.allows(o, n) || other.allows(o, n))
    }

    /// The opposite.
    #[must_use]
    pub fn negate(self) -> Self {
        Self::new(move |o: &K, n: &K| !self.allows(o, n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapi::k8s::api::core::v1::ConfigMap;

    fn cm(generation: i64, label: &str) -> ConfigMap {
        let mut c = ConfigMap::default();
        c.metadata.name = Some("c".into());
        c.metadata.generation = Some(generation);
        c.metadata.labels = Some([("app".to_owned(), label.to_owned())].into());
        c
    }

    #[test]
    fn generation_and_labels() {
        let g = Predicate::<ConfigMap>::generation_changed();
        assert!(!g.allows(&cm(1, "a"), &cm(1, "b")));
        assert!(g.allows(&cm(1, "a"), &cm(2, "a")));
        let l = Predicate::<ConfigMap>::labels_changed();
        assert!(l.allows(&cm(1, "a"), &cm(1, "b")));
        let either = Predicate::generation_changed().or(Predicate::labels_changed());
        assert!(either.allows(&cm(1, "a"), &cm(1, "b")));
        assert!(!either.clone().negate().allows(&cm(1, "a"), &cm(1, "b")));
        assert!(!Predicate::generation_changed().and(Predicate::labels_changed()).allows(&cm(1, "a"), &cm(2, "a")));
    }

    #[test]
    fn selector() {
        let s = Predicate::<ConfigMap>::label_selector("app in (a)").unwrap();
        assert!(s.allows(&cm(1, "b"), &cm(1, "a")));
        assert!(!s.allows(&cm(1, "a"), &cm(1, "b")));
        assert!(Predicate::<ConfigMap>::label_selector("app in (").is_err());
    }
}
