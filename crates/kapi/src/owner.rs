//! Owner references: who controls an object, who owns it, and how to set a controller
//! reference safely (an object has at most one controller).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};

use crate::resource::Resource;

/// Errors building or setting owner references.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OwnerError {
    /// The owner has no name or uid yet (it was never stored).
    #[error("owner {kind} has no {missing}: it must be created before it can own objects")]
    Incomplete {
        /// The owner's kind.
        kind: String,
        /// "name" or "uid".
        missing: &'static str,
    },
    /// The object is already controlled by another owner.
    #[error("object is already controlled by {kind} {name:?} (uid {uid})")]
    AlreadyControlled {
        /// Kind of the existing controller.
        kind: String,
        /// Name of the existing controller.
        name: String,
        /// Uid of the existing controller.
        uid: String,
    },
}

/// The reference flagged `controller: true`, if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.iter().flatten().find(|r| r.controller == Some(true))
}

/// Whether any owner reference points at `owner_uid`.
pub fn is_owned_by(meta: &ObjectMeta, owner_uid: &str) -> bool {
    meta.owner_references.iter().flatten().any(|r| r.uid == owner_uid)
}

/// Whether the controller reference points at `owner_uid`.
pub fn is_controlled_by(meta: &ObjectMeta, owner_uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == owner_uid)
}

/// A reference to `owner`. With `controller`, both `controller` and `blockOwnerDeletion`
/// are set, as upstream's `NewControllerRef` does.
pub fn owner_reference<K: Resource>(
    owner: &K,
    dt: &K::DynamicType,
    controller: bool,
) -> Result<OwnerReference, OwnerError> {
    let meta = owner.meta();
    let incomplete = |missing| OwnerError::Incomplete { kind: K::kind(dt).into_owned(), missing };
    let name = meta.name.clone().filter(|n| !n.is_empty()).ok_or_else(|| incomplete("name"))?;
    let uid = meta.uid.clone().filter(|u| !u.is_empty()).ok_or_else(|| incomplete("uid"))?;
    Ok(OwnerReference {
        api_version: K::api_version(dt).into_owned(),
        kind: K::kind(dt).into_owned(),
        name,
        uid,
        controller: controller.then_some(true),
        block_owner_deletion: controller.then_some(true),
    })
}

/// Adds or updates `reference` (matched by uid). A controller reference is refused when
/// another owner already controls the object; nothing changes then.
pub fn set_owner_reference(meta: &mut ObjectMeta, reference: OwnerReference) -> Result<(), OwnerError> {
    if reference.controller == Some(true) {
        if let Some(existing) = controller_of(meta).filter(|r| r.uid != reference.uid) {
            return Err(OwnerError::AlreadyControlled {
                kind: existing.kind.clone(),
                name: existing.name.clone(),
                uid: existing.uid.clone(),
            });
        }
    }
    let refs = meta.owner_references.get_or_insert_with(Vec::new);
    match refs.iter_mut().find(|r| r.uid == reference.uid) {
        Some(slot) => *slot = reference,
        None => refs.push(reference),
    }
    Ok(())
}

/// Removes every reference to `owner_uid` (orphaning); returns whether one was removed.
pub fn remove_owner_reference(meta: &mut ObjectMeta, owner_uid: &str) -> bool {
    let Some(refs) = meta.owner_references.as_mut() else { return false };
    let before = refs.len();
    refs.retain(|r| r.uid != owner_uid);
    let removed = refs.len() != before;
    if refs.is_empty() {
        meta.owner_references = None;
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSet;
    use k8s_openapi::api::core::v1::Pod;

    fn rs(name: &str, uid: &str) -> ReplicaSet {
        let mut rs = ReplicaSet::default();
        rs.metadata.name = Some(name.into());
        rs.metadata.uid = Some(uid.into());
        rs
    }

    #[test]
    fn controller_reference() {
        let r = owner_reference(&rs("web-1", "u1"), &(), true).unwrap();
        assert_eq!((r.api_version.as_str(), r.kind.as_str()), ("apps/v1", "ReplicaSet"));
        assert_eq!((r.controller, r.block_owner_deletion), (Some(true), Some(true)));
        let plain = owner_reference(&rs("web-1", "u1"), &(), false).unwrap();
        assert_eq!((plain.controller, plain.block_owner_deletion), (None, None));
        assert_eq!(
            owner_reference(&ReplicaSet::default(), &(), true),
            Err(OwnerError::Incomplete { kind: "ReplicaSet".into(), missing: "name" })
        );
        let mut no_uid = rs("x", "");
        no_uid.metadata.uid = None;
        assert!(matches!(owner_reference(&no_uid, &(), true), Err(OwnerError::Incomplete { missing: "uid", .. })));
    }

    #[test]
    fn setting_and_querying() {
        let mut pod = Pod::default();
        let a = owner_reference(&rs("a", "ua"), &(), true).unwrap();
        let b = owner_reference(&rs("b", "ub"), &(), true).unwrap();
        set_owner_reference(&mut pod.metadata, a.clone()).unwrap();
        assert!(is_controlled_by(&pod.metadata, "ua"));
        assert!(is_owned_by(&pod.metadata, "ua"));
        assert!(!is_owned_by(&pod.metadata, "ub"));

        let before = pod.metadata.clone();
        let err = set_owner_reference(&mut pod.metadata, b.clone()).unwrap_err();
        assert!(matches!(err, OwnerError::AlreadyControlled { ref uid, .. } if uid == "ua"));
        assert_eq!(pod.metadata, before, "a refused change leaves the object untouched");

        // A non-controller owner may be added next to the controller; same uid updates in place.
        let mut b_plain = b;
        b_plain.controller = None;
        set_owner_reference(&mut pod.metadata, b_plain).unwrap();
        set_owner_reference(&mut pod.metadata, a).unwrap();
        assert_eq!(pod.metadata.owner_references.as_ref().unwrap().len(), 2);
        assert_eq!(controller_of(&pod.metadata).unwrap().uid, "ua");

        assert!(remove_owner_reference(&mut pod.metadata, "ua"));
        assert!(!remove_owner_reference(&mut pod.metadata, "ua"));
        assert!(controller_of(&pod.metadata).is_none());
        assert!(remove_owner_reference(&mut pod.metadata, "ub"));
        assert_eq!(pod.metadata.owner_references, None);
    }
}
