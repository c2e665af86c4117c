//! The ownership graph of the garbage collector, as a pure structure: fed with the
//! metadata of every object (from the monitors' events), it says which objects need a look
//! from the workers.

use std::collections::{HashMap, HashSet};

use kapi::ApiResource;
use kapi::k8s::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kwatch::object::PartialObjectMetadata;

/// Finalizer of an owner deleted with `propagationPolicy=Foreground`.
pub const FOREGROUND: &str = "foregroundDeletion";
/// Finalizer of an owner deleted with `propagationPolicy=Orphan`.
pub const ORPHAN: &str = "orphan";

/// One object in the graph.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its resource.
    pub resource: ApiResource,
    /// Its namespace (`None` when cluster-scoped).
    pub namespace: Option<String>,
    /// Its name.
    pub name: String,
    /// Its UID.
    pub uid: String,
    /// Its owner references.
    pub owners: Vec<OwnerReference>,
    /// UIDs of the objects that name it as an owner.
    pub dependents: HashSet<String>,
    /// `deletionTimestamp` is set.
    pub being_deleted: bool,
    /// Being deleted in the foreground: waits for its blocking dependents.
    pub deleting_dependents: bool,
    /// Being deleted with the orphan finalizer: its dependents must let go first.
    pub orphaning: bool,
}

/// Work for the collector's queues.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Work {
    /// Decide whether this object should go (its owners may be gone), or, for an owner
    /// deleted in the foreground, whether it may finish.
    AttemptToDelete(String),
    /// Remove this owner's references from its dependents, then its orphan finalizer.
    AttemptToOrphan(String),
}

/// The graph.
#[derive(Debug, Default)]
pub struct Graph {
    nodes: HashMap<String, Node>,
    /// Owners named by dependents but not (yet) observed: uid → dependents.
    absent_owners: HashMap<String, HashSet<String>>,
}

impl Graph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// The node of `uid`.
    pub fn get(&self, uid: &str) -> Option<&Node> {
        self.nodes.get(uid)
    }

    /// Number of observed objects.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the graph is empty.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Dependents of `uid` that block its deletion (`blockOwnerDeletion: true` towards it).
    pub fn blocking_dependents(&self, uid: &str) -> Vec<&Node> {
        let Some(owner) = self.nodes.get(uid) else { return Vec::new() };
        owner
            .dependents
            .iter()
            .filter_map(|d| self.nodes.get(d))
            .filter(|d| d.owners.iter().any(|r| r.uid == uid && r.block_owner_deletion == Some(true)))
            .collect()
    }

    /// Records an added or updated object.
    pub fn observe(&mut self, resource: &ApiResource, obj: &PartialObjectMetadata) -> Vec<Work> {
        let meta = &obj.metadata;
        let Some(uid) = meta.uid.clone().filter(|u| !u.is_empty()) else { return Vec::new() };
        let finalizers = meta.finalizers.as_deref().unwrap_or_default();
        let being_deleted = meta.deletion_timestamp.is_some();
        let node = Node {
            resource: resource.clone(),
            namespace: meta.namespace.clone().filter(|n| !n.is_empty()),
            name: meta.name.clone().unwrap_or_default(),
            uid: uid.clone(),
            owners: meta.owner_references.clone().unwrap_or_default(),
            dependents: HashSet::new(),
            being_deleted,
            deleting_dependents: being_deleted && finalizers.iter().any(|f| f == FOREGROUND),
            orphaning: being_deleted && finalizers.iter().any(|f| f == ORPHAN),
        };
        let mut work = Vec::new();
        let old = self.nodes.remove(&uid);
        let mut node = node;
        // Dependents recorded before this object was observed, or kept from before.
        node.dependents = old.as_ref().map(|o| o.dependents.clone()).unwrap_or_default();
        if let Some(waiting) = self.absent_owners.remove(&uid) {
            node.dependents.extend(waiting);
        }
        let old_owners: HashSet<String> =
            old.as_ref().map(|o| o.owners.iter().map(|r| r.uid.clone()).collect()).unwrap_or_default();
        let new_owners: HashSet<String> = node.owners.iter().map(|r| r.uid.clone()).collect();
        for gone in old_owners.difference(&new_owners) {
            self.unlink(gone, &uid);
            // An owner waiting for its dependents may now finish.
            if self.nodes.get(gone).is_some_and(|o| o.deleting_dependents) {
                work.push(Work::AttemptToDelete(gone.clone()));
            }
        }
        let mut owner_unseen = false;
        for added in new_owners.difference(&old_owners) {
            match self.nodes.get_mut(added) {
                Some(owner) => {
                    owner.dependents.insert(uid.clone());
                }
                None => {
                    self.absent_owners.entry(added.clone()).or_default().insert(uid.clone());
                    owner_unseen = true;
                }
            }
        }
        // A blockOwnerDeletion change matters to owners deleting in the foreground.
        if let Some(o) = &old {
            for r in &node.owners {
                let before = o.owners.iter().find(|x| x.uid == r.uid).and_then(|x| x.block_owner_deletion);
                if before != r.block_owner_deletion && self.nodes.get(&r.uid).is_some_and(|n| n.deleting_dependents) {
                    work.push(Work::AttemptToDelete(r.uid.clone()));
                }
            }
        }
        // An owner that is not in the graph may be gone: check this dependent. (Monitors
        // are synced before workers run, so "unseen" is usually "deleted".)
        if owner_unseen {
            work.push(Work::AttemptToDelete(uid.clone()));
        }
        if node.orphaning && !old.as_ref().is_some_and(|o| o.orphaning) {
            work.push(Work::AttemptToOrphan(uid.clone()));
        }
        if node.deleting_dependents && !old.as_ref().is_some_and(|o| o.deleting_dependents) {
            work.push(Work::AttemptToDelete(uid.clone()));
            work.extend(node.dependents.iter().map(|d| Work::AttemptToDelete(d.clone())));
        }
        // Owners deleting in the foreground wait on dependents that are themselves being
        // deleted; a change in those may let them finish.
        if node.being_deleted {
            for r in &node.owners {
                if self.nodes.get(&r.uid).is_some_and(|n| n.deleting_dependents) {
                    work.push(Work::AttemptToDelete(r.uid.clone()));
                }
            }
        }
        self.nodes.insert(uid, node);
        work
    }

    fn unlink(&mut self, owner: &str, dependent: &str) {
        if let Some(o) = self.nodes.get_mut(owner) {
            o.dependents.remove(dependent);
        }
        if let Some(set) = self.absent_owners.get_mut(owner) {
            set.remove(dependent);
            if set.is_empty() {
                self.absent_owners.remove(owner);
            }
        }
    }

    /// Records a deleted object: its dependents may now be orphans to collect, and owners
    /// deleting in the foreground may finish.
    pub fn remove(&mut self, uid: &str) -> Vec<Work> {
        let Some(node) = self.nodes.remove(uid) else { return Vec::new() };
        let mut work = Vec::new();
        for r in &node.owners {
            self.unlink(&r.uid, uid);
            if self.nodes.get(&r.uid).is_some_and(|o| o.deleting_dependents) {
                work.push(Work::AttemptToDelete(r.uid.clone()));
            }
        }
        // Its dependents now name an absent owner.
        if !node.dependents.is_empty() {
            self.absent_owners.entry(uid.to_owned()).or_default().extend(node.dependents.iter().cloned());
        }
        work.extend(node.dependents.into_iter().map(Work::AttemptToDelete));
        work
    }

    /// Whether `uid` is observed.
    pub fn contains(&self, uid: &str) -> bool {
        self.nodes.contains_key(uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapi::k8s::apimachinery::pkg::apis::meta::v1::Time;

    fn res() -> ApiResource {
        ApiResource {
            group: "apps".into(),
            version: "v1".into(),
            kind: "ReplicaSet".into(),
            plural: "replicasets".into(),
            namespaced: true,
        }
    }

    fn obj(uid: &str, owners: &[(&str, bool)]) -> PartialObjectMetadata {
        let mut o = PartialObjectMetadata::default();
        o.metadata.name = Some(format!("n-{uid}"));
        o.metadata.namespace = Some("default".into());
        o.metadata.uid = Some(uid.into());
        o.metadata.owner_references = Some(
            owners
                .iter()
                .map(|(u, block)| OwnerReference {
                    api_version: "apps/v1".into(),
                    kind: "ReplicaSet".into(),
                    name: format!("n-{u}"),
                    uid: (*u).into(),
                    block_owner_deletion: Some(*block),
                    controller: Some(true),
                })
                .collect(),
        );
        o
    }

    fn deleting(mut o: PartialObjectMetadata, finalizer: &str) -> PartialObjectMetadata {
        o.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::UNIX_EPOCH));
        o.metadata.finalizers = Some(vec![finalizer.into()]);
        o
    }

    #[test]
    fn dependents_link_in_any_order() {
        let mut g = Graph::new();
        // The dependent first: its owner is not seen yet, so it is checked.
        assert_eq!(g.observe(&res(), &obj("pod", &[("rs", true)])), vec![Work::AttemptToDelete("pod".into())]);
        assert!(g.observe(&res(), &obj("rs", &[])).is_empty());
        assert!(g.get("rs").unwrap().dependents.contains("pod"));
        assert_eq!(g.blocking_dependents("rs").len(), 1);
    }

    #[test]
    fn owner_deletion_queues_dependents() {
        let mut g = Graph::new();
        g.observe(&res(), &obj("rs", &[]));
        g.observe(&res(), &obj("a", &[("rs", false)]));
        g.observe(&res(), &obj("b", &[("rs", false)]));
        let mut w = g.remove("rs");
        w.sort_by_key(|w| format!("{w:?}"));
        assert_eq!(w, vec![Work::AttemptToDelete("a".into()), Work::AttemptToDelete("b".into())]);
        // Re-adding the dependent keeps it linked to the absent owner, which is rechecked.
        assert_eq!(g.observe(&res(), &obj("a", &[("rs", false)])), vec![]);
    }

    #[test]
    fn foreground_owner_waits_for_blocking_dependents() {
        let mut g = Graph::new();
        g.observe(&res(), &obj("rs", &[]));
        g.observe(&res(), &obj("pod", &[("rs", true)]));
        let w = g.observe(&res(), &deleting(obj("rs", &[]), FOREGROUND));
        assert!(w.contains(&Work::AttemptToDelete("rs".into())));
        assert!(w.contains(&Work::AttemptToDelete("pod".into())));
        // The dependent goes: the owner is looked at again.
        assert_eq!(g.remove("pod"), vec![Work::AttemptToDelete("rs".into())]);
        assert!(g.blocking_dependents("rs").is_empty());
    }

    #[test]
    fn orphan_finalizer_queues_orphaning_once() {
        let mut g = Graph::new();
        g.observe(&res(), &obj("rs", &[]));
        let o = deleting(obj("rs", &[]), ORPHAN);
        assert_eq!(g.observe(&res(), &o), vec![Work::AttemptToOrphan("rs".into())]);
        assert!(g.observe(&res(), &o).is_empty());
    }

    #[test]
    fn dropped_owner_reference_unlinks() {
        let mut g = Graph::new();
        g.observe(&res(), &obj("rs", &[]));
        g.observe(&res(), &obj("pod", &[("rs", true)]));
        g.observe(&res(), &obj("pod", &[]));
        assert!(g.get("rs").unwrap().dependents.is_empty());
    }
}
