//! Controller-reference claiming (upstream `BaseControllerRefManager.ClaimObject`): which
//! objects a controller owns, which orphans it adopts, which of its objects it releases.

use kapi::k8s::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use serde_json::{Value, json};

/// What a controller does with one candidate object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Already controlled by this controller and matching its selector: keep.
    Owned,
    /// An orphan matching the selector: adopt (patch in a controller reference), then own.
    Adopt,
    /// Controlled by this controller but no longer matching: release (remove the reference).
    Release,
    /// Not this controller's business (controlled by another, or a non-matching orphan, or
    /// an orphan being deleted, or the controller is being deleted).
    Ignore,
}

/// The controller doing the claiming.
#[derive(Debug, Clone, Copy)]
pub struct Claimer<'a> {
    /// The controller's UID.
    pub uid: &'a str,
    /// The controller's namespace.
    pub namespace: Option<&'a str>,
    /// Whether the controller has a deletion timestamp (it then neither adopts nor releases).
    pub deleting: bool,
}

/// Upstream `ClaimObject`: decides for one object whose labels do (`matches`) or do not
/// match the controller's selector (and any extra filter).
pub fn claim(claimer: Claimer<'_>, obj: &ObjectMeta, matches: bool) -> Claim {
    if let Some(cref) = kapi::owner::controller_of(obj) {
        if cref.uid != claimer.uid {
            return Claim::Ignore;
        }
        if matches {
            return Claim::Owned;
        }
        return if claimer.deleting { Claim::Ignore } else { Claim::Release };
    }
    if claimer.deleting || !matches || obj.deletion_timestamp.is_some() {
        return Claim::Ignore;
    }
    if claimer.namespace.is_some_and(|ns| !ns.is_empty() && obj.namespace.as_deref() != Some(ns)) {
        return Claim::Ignore;
    }
    Claim::Adopt
}

/// A reference to an object to patch or delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    /// The object's name.
    pub name: String,
    /// The object's UID (upstream puts it in adopt/release patches as a precondition).
    pub uid: String,
}

impl ObjectRef {
    pub(crate) fn of(meta: &ObjectMeta) -> Self {
        Self { name: meta.name.clone().unwrap_or_default(), uid: meta.uid.clone().unwrap_or_default() }
    }
}

/// The strategic-merge patch upstream sends to adopt an object: it adds `owner` (a
/// controller reference) and pins the object's UID.
pub fn adopt_patch(owner: &OwnerReference, object_uid: &str) -> Value {
    json!({
        "metadata": {
            "ownerReferences": [{
                "apiVersion": owner.api_version,
                "kind": owner.kind,
                "name": owner.name,
                "uid": owner.uid,
                "controller": true,
                "blockOwnerDeletion": true,
            }],
            "uid": object_uid,
        }
    })
}

/// The strategic-merge patch upstream sends to release (orphan) an object: it deletes the
/// reference to `owner_uid` and pins the object's UID.
pub fn release_patch(owner_uid: &str, object_uid: &str) -> Value {
    json!({
        "metadata": {
            "ownerReferences": [{"$patch": "delete", "uid": owner_uid}],
            "uid": object_uid,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kapi::k8s::apimachinery::pkg::apis::meta::v1::Time;

    fn meta(controller: Option<&str>) -> ObjectMeta {
        let mut m = ObjectMeta { name: Some("p".into()), namespace: Some("ns".into()), ..Default::default() };
        if let Some(uid) = controller {
            m.owner_references = Some(vec![OwnerReference {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: "rs".into(),
                uid: uid.into(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }]);
        }
        m
    }

    const ME: Claimer<'static> = Claimer { uid: "me", namespace: Some("ns"), deleting: false };

    #[test]
    fn decisions() {
        assert_eq!(claim(ME, &meta(Some("me")), true), Claim::Owned);
        assert_eq!(claim(ME, &meta(Some("me")), false), Claim::Release);
        assert_eq!(claim(ME, &meta(Some("other")), true), Claim::Ignore);
        assert_eq!(claim(ME, &meta(None), true), Claim::Adopt);
        assert_eq!(claim(ME, &meta(None), false), Claim::Ignore);
        let mut deleting = meta(None);
        deleting.deletion_timestamp = Some(Time(kapi::k8s::jiff::Timestamp::UNIX_EPOCH));
        assert_eq!(claim(ME, &deleting, true), Claim::Ignore);
        let mut elsewhere = meta(None);
        elsewhere.namespace = Some("other".into());
        assert_eq!(claim(ME, &elsewhere, true), Claim::Ignore);
        // A non-controller owner reference does not make an object owned.
        let mut plain = meta(Some("me"));
        plain.owner_references.as_mut().unwrap()[0].controller = None;
        assert_eq!(claim(ME, &plain, true), Claim::Adopt);
    }

    #[test]
    fn deleting_controller_neither_adopts_nor_releases() {
        let me = Claimer { deleting: true, ..ME };
        assert_eq!(claim(me, &meta(None), true), Claim::Ignore);
        assert_eq!(claim(me, &meta(Some("me")), false), Claim::Ignore);
        assert_eq!(claim(me, &meta(Some("me")), true), Claim::Owned);
    }

    #[test]
    fn patches() {
        let owner = meta(Some("me")).owner_references.unwrap().remove(0);
        let p = adopt_patch(&owner, "pod-uid");
        assert_eq!(p["metadata"]["uid"], "pod-uid");
        assert_eq!(p["metadata"]["ownerReferences"][0]["controller"], true);
        assert_eq!(p["metadata"]["ownerReferences"][0]["blockOwnerDeletion"], true);
        let r = release_patch("me", "pod-uid");
        assert_eq!(r["metadata"]["ownerReferences"][0]["$patch"], "delete");
        assert_eq!(r["metadata"]["ownerReferences"][0]["uid"], "me");
    }
}
