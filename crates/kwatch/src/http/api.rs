//! [`Api`]: typed reads and writes of one resource over HTTP — what controllers use to act
//! on what their informers show them.

use std::marker::PhantomData;

use bytes::Bytes;
use http::Method;
use http_body_util::BodyExt;
use kapi::{ApiResource, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::client::{Client, ClientError};
use crate::lister::{ListParams, ListerWatcher, ObjectList};

use super::source::HttpListerWatcher;

/// A patch body and its type.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Patch {
    /// JSON merge patch (RFC 7386).
    Merge(Value),
    /// Strategic merge patch (built-in kinds only).
    Strategic(Value),
    /// JSON patch (RFC 6902): a list of operations.
    Json(Value),
    /// Server-side apply: the fields this manager owns (needs a field manager).
    Apply(Value),
}

impl Patch {
    fn content_type(&self) -> &'static str {
        match self {
            Patch::Merge(_) => "application/merge-patch+json",
            Patch::Strategic(_) => "application/strategic-merge-patch+json",
            Patch::Json(_) => "application/json-patch+json",
            Patch::Apply(_) => "application/apply-patch+yaml",
        }
    }

    fn body(&self) -> &Value {
        match self {
            Patch::Merge(v) | Patch::Strategic(v) | Patch::Json(v) | Patch::Apply(v) => v,
        }
    }
}

/// Options of creates and updates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PostParams {
    /// `fieldManager`: who makes the change (recorded in managedFields).
    pub field_manager: Option<String>,
    /// `dryRun=All`: validate and default without storing.
    pub dry_run: bool,
}

impl PostParams {
    /// Writes as `manager`.
    pub fn manager(manager: impl Into<String>) -> Self {
        Self { field_manager: Some(manager.into()), dry_run: false }
    }
}

/// Options of patches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PatchParams {
    /// `fieldManager` (required for [`Patch::Apply`]).
    pub field_manager: Option<String>,
    /// `force=true`: take over conflicting fields (apply only).
    pub force: bool,
    /// `dryRun=All`.
    pub dry_run: bool,
}

impl PatchParams {
    /// Patches as `manager`.
    pub fn manager(manager: impl Into<String>) -> Self {
        Self { field_manager: Some(manager.into()), ..Self::default() }
    }

    /// Server-side apply as `manager`, forcing conflicts (what controllers do).
    pub fn apply_force(manager: impl Into<String>) -> Self {
        Self { field_manager: Some(manager.into()), force: true, dry_run: false }
    }
}

/// How dependents are treated when their owner is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PropagationPolicy {
    /// The owner goes at once; the garbage collector deletes dependents afterwards.
    Background,
    /// Dependents (those blocking owner deletion) go first, then the owner.
    Foreground,
    /// Dependents stay, with their owner reference removed.
    Orphan,
}

impl PropagationPolicy {
    fn as_str(self) -> &'static str {
        match self {
            PropagationPolicy::Background => "Background",
            PropagationPolicy::Foreground => "Foreground",
            PropagationPolicy::Orphan => "Orphan",
        }
    }
}

/// Options of deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeleteParams {
    /// `propagationPolicy`.
    pub propagation_policy: Option<PropagationPolicy>,
    /// `gracePeriodSeconds` (pods); 0 deletes at once.
    pub grace_period_seconds: Option<i64>,
    /// Delete only this incarnation (`preconditions.uid`).
    pub uid: Option<String>,
    /// Delete only this version (`preconditions.resourceVersion`).
    pub resource_version: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

impl DeleteParams {
    /// With a propagation policy.
    pub fn propagation(policy: PropagationPolicy) -> Self {
        Self { propagation_policy: Some(policy), ..Self::default() }
    }

    /// With a grace period (pods; 0 deletes at once).
    #[must_use]
    pub fn grace_period(mut self, seconds: i64) -> Self {
        self.grace_period_seconds = Some(seconds);
        self
    }

    /// Only if the object is still the incarnation `uid`.
    #[must_use]
    pub fn with_uid(mut self, uid: impl Into<String>) -> Self {
        self.uid = Some(uid.into());
        self
    }

    fn body(&self) -> Value {
        let mut b = json!({"apiVersion": "v1", "kind": "DeleteOptions"});
        if let Some(p) = self.propagation_policy {
            b["propagationPolicy"] = json!(p.as_str());
        }
        if let Some(g) = self.grace_period_seconds {
            b["gracePeriodSeconds"] = json!(g);
        }
        if self.uid.is_some() || self.resource_version.is_some() {
            b["preconditions"] = json!({"uid": self.uid, "resourceVersion": self.resource_version});
        }
        if self.dry_run {
            b["dryRun"] = json!(["All"]);
        }
        b
    }
}

/// Typed access to one resource, in one namespace or all of them.
#[derive(Debug)]
pub struct Api<K> {
    client: Client,
    resource: ApiResource,
    namespace: Option<String>,
    _kind: PhantomData<fn() -> K>,
}

impl<K> Clone for Api<K> {
    fn clone(&self) -> Self {
        Self {
            client: self.client.clone(),
            resource: self.resource.clone(),
            namespace: self.namespace.clone(),
            _kind: PhantomData,
        }
    }
}

impl<K: Resource<DynamicType = ()>> Api<K> {
    /// A built-in kind in `namespace`.
    pub fn namespaced(client: Client, namespace: &str) -> Self {
        Self::with_resource(client, ApiResource::of::<K>(), Some(namespace))
    }

    /// A built-in kind across all namespaces (lists, watches), or a cluster-scoped kind.
    pub fn all(client: Client) -> Self {
        Self::with_resource(client, ApiResource::of::<K>(), None)
    }
}

impl<K> Api<K> {
    /// Any resource, described at run time (custom resources with
    /// [`kapi::DynamicObject`]); `namespace` is ignored for cluster-scoped resources.
    pub fn with_resource(client: Client, resource: ApiResource, namespace: Option<&str>) -> Self {
        let namespace = namespace.filter(|_| resource.namespaced).map(str::to_owned);
        Self { client, resource, namespace, _kind: PhantomData }
    }

    /// The same resource in another namespace.
    pub fn in_namespace(&self, namespace: &str) -> Self {
        Self::with_resource(self.client.clone(), self.resource.clone(), Some(namespace))
    }

    /// The resource.
    pub fn resource(&self) -> &ApiResource {
        &self.resource
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A list-and-watch source over the same resource and namespace.
    pub fn lister_watcher(&self) -> HttpListerWatcher<K> {
        HttpListerWatcher::new(self.client.clone(), self.resource.clone(), self.namespace.as_deref())
    }

    fn object_path(&self, name: &str, subresource: Option<&str>) -> String {
        let mut p = self.resource.object_path(self.namespace.as_deref(), name);
        if let Some(s) = subresource {
            p.push('/');
            p.push_str(s);
        }
        p
    }

    async fn call(&self, method: Method, path: String, body: Option<(Bytes, &str)>) -> Result<Value, ClientError> {
        let resp = self.client.send(method, &path, body).await?;
        let bytes = resp.into_body().collect().await.map_err(|e| ClientError::Transport(e.to_string()))?.to_bytes();
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| ClientError::Decode(e.to_string()))
    }

    fn decode(&self, mut v: Value) -> Result<K, ClientError>
    where
        K: DeserializeOwned,
    {
        super::source::add_type_meta(&self.resource, &mut v);
        serde_json::from_value(v).map_err(|e| ClientError::Decode(format!("{}: {e}", self.resource.kind)))
    }

    fn encode<T: Serialize>(body: &T) -> Result<Bytes, ClientError> {
        serde_json::to_vec(body).map(Bytes::from).map_err(|e| ClientError::Decode(format!("encoding: {e}")))
    }
}

fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            s.append_pair(k, v);
        }
    }
    let q = s.finish();
    if q.is_empty() { q } else { format!("?{q}") }
}

impl<K: Serialize + DeserializeOwned + Send + Sync + 'static> Api<K> {
    /// Reads one object.
    ///
    /// # Cancel safety
    /// Cancel safe (a read).
    pub async fn get(&self, name: &str) -> Result<K, ClientError> {
        let v = self.call(Method::GET, self.object_path(name, None), None).await?;
        self.decode(v)
    }

    /// Reads one object; `None` when it does not exist.
    pub async fn get_opt(&self, name: &str) -> Result<Option<K>, ClientError> {
        match self.get(name).await {
            Ok(o) => Ok(Some(o)),
            Err(ClientError::Api(e)) if e.code() == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists (one page when `params.limit` is set).
    pub async fn list(&self, params: &ListParams) -> Result<ObjectList<K>, ClientError> {
        self.lister_watcher().list(params).await.map_err(|e| match e.status() {
            Some(s) => ClientError::Api(s.clone()),
            None => ClientError::Transport(e.to_string()),
        })
    }

    /// Creates an object (`metadata.generateName` is honoured).
    ///
    /// # Cancel safety
    /// Not cancel safe: the object may be created although the answer is lost.
    pub async fn create(&self, obj: &K, params: &PostParams) -> Result<K, ClientError> {
        let q =
            query(&[("fieldManager", params.field_manager.as_deref()), ("dryRun", params.dry_run.then_some("All"))]);
        let path = format!("{}{q}", self.resource.collection_path(self.namespace.as_deref()));
        let v = self.call(Method::POST, path, Some((Self::encode(obj)?, "application/json"))).await?;
        self.decode(v)
    }

    /// Replaces an object; `metadata.resourceVersion` in `obj` makes it conditional (409
    /// Conflict when someone else wrote first).
    pub async fn replace(&self, name: &str, obj: &K, params: &PostParams) -> Result<K, ClientError> {
        self.replace_at(name, None, obj, params).await
    }

    /// Replaces the `status` subresource.
    pub async fn replace_status(&self, name: &str, obj: &K, params: &PostParams) -> Result<K, ClientError> {
        self.replace_at(name, Some("status"), obj, params).await
    }

    /// Replaces the object (`sub` = `None`) or one of its subresources (`finalize` of a
    /// namespace, `scale`).
    pub async fn replace_subresource(
        &self,
        sub: Option<&str>,
        name: &str,
        obj: &K,
        params: &PostParams,
    ) -> Result<K, ClientError> {
        self.replace_at(name, sub, obj, params).await
    }

    async fn replace_at(&self, name: &str, sub: Option<&str>, obj: &K, params: &PostParams) -> Result<K, ClientError> {
        let q =
            query(&[("fieldManager", params.field_manager.as_deref()), ("dryRun", params.dry_run.then_some("All"))]);
        let path = format!("{}{q}", self.object_path(name, sub));
        let v = self.call(Method::PUT, path, Some((Self::encode(obj)?, "application/json"))).await?;
        self.decode(v)
    }

    /// Patches an object.
    pub async fn patch(&self, name: &str, patch: &Patch, params: &PatchParams) -> Result<K, ClientError> {
        self.patch_subresource(None, name, patch, params).await
    }

    /// Patches the `status` subresource.
    pub async fn patch_status(&self, name: &str, patch: &Patch, params: &PatchParams) -> Result<K, ClientError> {
        self.patch_subresource(Some("status"), name, patch, params).await
    }

    /// Patches the object or one of its subresources.
    pub async fn patch_subresource(
        &self,
        sub: Option<&str>,
        name: &str,
        patch: &Patch,
        params: &PatchParams,
    ) -> Result<K, ClientError> {
        let q = query(&[
            ("fieldManager", params.field_manager.as_deref()),
            ("force", params.force.then_some("true")),
            ("dryRun", params.dry_run.then_some("All")),
        ]);
        let path = format!("{}{q}", self.object_path(name, sub));
        let body = Self::encode(patch.body())?;
        let v = self.call(Method::PATCH, path, Some((body, patch.content_type()))).await?;
        self.decode(v)
    }

    /// Posts `body` to a subresource (`pods/eviction`, `pods/binding`) and returns the answer.
    pub async fn create_subresource<B: Serialize>(
        &self,
        sub: &str,
        name: &str,
        body: &B,
    ) -> Result<Value, ClientError> {
        self.call(Method::POST, self.object_path(name, Some(sub)), Some((Self::encode(body)?, "application/json")))
            .await
    }

    /// Deletes an object. Returns the object when the deletion is pending (graceful pod
    /// deletion, finalizers, foreground propagation), `None` when it is gone.
    ///
    /// # Cancel safety
    /// Not cancel safe: the deletion may happen although the answer is lost.
    pub async fn delete(&self, name: &str, params: &DeleteParams) -> Result<Option<K>, ClientError> {
        let body = Self::encode(&params.body())?;
        let v = self.call(Method::DELETE, self.object_path(name, None), Some((body, "application/json"))).await?;
        if v.get("kind").and_then(Value::as_str) == Some("Status") {
            return Ok(None);
        }
        let pending = v.pointer("/metadata/deletionTimestamp").is_some_and(|t| !t.is_null());
        if pending { Ok(Some(self.decode(v)?)) } else { Ok(None) }
    }

    /// Deletes every object of the collection that matches `params`' selectors.
    pub async fn delete_collection(&self, params: &ListParams, delete: &DeleteParams) -> Result<(), ClientError> {
        let q = query(&[
            ("labelSelector", params.label_selector.as_deref()),
            ("fieldSelector", params.field_selector.as_deref()),
        ]);
        let path = format!("{}{q}", self.resource.collection_path(self.namespace.as_deref()));
        let body = Self::encode(&delete.body())?;
        self.call(Method::DELETE, path, Some((body, "application/json"))).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delete_options_body() {
        let p = DeleteParams::propagation(PropagationPolicy::Foreground).with_uid("u1");
        let b = p.body();
        assert_eq!(b["propagationPolicy"], "Foreground");
        assert_eq!(b["preconditions"]["uid"], "u1");
        assert!(DeleteParams::default().body().get("preconditions").is_none());
    }

    #[test]
    fn queries_skip_unset_values() {
        assert_eq!(query(&[("fieldManager", None)]), "");
        assert_eq!(query(&[("fieldManager", Some("kcm")), ("force", Some("true"))]), "?fieldManager=kcm&force=true");
    }

    #[test]
    fn patch_content_types() {
        assert_eq!(Patch::Merge(json!({})).content_type(), "application/merge-patch+json");
        assert_eq!(Patch::Apply(json!({})).content_type(), "application/apply-patch+yaml");
    }
}
