//! The REST semantics of every resource, independent of HTTP: reads from the store or the
//! watch cache, and the write paths (create, update, patch, delete) with upstream's
//! lifecycle rules, defaulting, validation and optimistic concurrency.

mod admission;
mod apply;
mod delete;
mod list;
mod strategy;
mod subresource;
mod write;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kapi::StatusError;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::alloc::ServiceAllocator;
use crate::cache::WatchCache;
use crate::kubelet::KubeletClient;
use crate::resources::{Registry, ResourceInfo};
use crate::storage::Storage;

pub use delete::{DeleteOptions, DeleteOutcome, Propagation, parse_propagation};
pub(crate) use list::parse_rv;
pub use list::{ListItem, ListQuery, ListResult, ResourceVersionMatch};
pub use subresource::{ScaleChange, to_scale};
pub use write::{FieldValidation, WriteOptions, WriteOutcome};

/// How long a read waits for the watch cache to reach a requested revision.
const CACHE_WAIT: Duration = Duration::from_secs(3);

/// Optimistic-concurrency retries for writes that did not name a resourceVersion.
const MAX_RETRIES: usize = 16;

/// Everything the REST operations share: storage, caches, the registry and allocators.
#[derive(Debug, Clone)]
pub struct Api {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    storage: Storage,
    registry: Registry,
    caches: Mutex<HashMap<(String, String), Arc<WatchCache>>>,
    cache_capacity: usize,
    services: ServiceAllocator,
    cancel: CancellationToken,
    kubelet: Option<KubeletClient>,
}

impl Api {
    /// The REST layer over `storage`. Caches start on first use and stop with `cancel`.
    pub fn new(
        storage: Storage,
        registry: Registry,
        services: ServiceAllocator,
        cache_capacity: usize,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                storage,
                registry,
                caches: Mutex::new(HashMap::new()),
                cache_capacity,
                services,
                cancel,
                kubelet: None,
            }),
        }
    }

    /// Serves `pods/log` through `client` (without one, logs answer 503).
    #[must_use]
    pub fn with_kubelet_client(mut self, client: KubeletClient) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.kubelet = Some(client);
        }
        self
    }

    /// The kubelet client, when configured.
    pub(crate) fn kubelet(&self) -> Option<&KubeletClient> {
        self.inner.kubelet.as_ref()
    }

    /// The storage.
    pub fn storage(&self) -> &Storage {
        &self.inner.storage
    }

    /// The registry of served resources.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Resolves `group`/`version`/`plural` or fails with upstream's 404.
    pub fn resource(&self, group: &str, version: &str, plural: &str) -> Result<ResourceInfo, StatusError> {
        self.inner
            .registry
            .find(group, version, plural)
            .ok_or_else(|| StatusError::new(kapi::Reason::NotFound, "the server could not find the requested resource"))
    }

    /// The watch cache of `res`, started on first use.
    pub fn cache(&self, res: &ResourceInfo) -> Arc<WatchCache> {
        let mut caches = self.inner.caches.lock().unwrap_or_else(|p| p.into_inner());
        let id = (res.group.clone(), res.plural.clone());
        if let Some(c) = caches.get(&id) {
            return Arc::clone(c);
        }
        let cache = WatchCache::start(
            res.clone(),
            self.inner.storage.clone(),
            self.inner.cache_capacity,
            self.inner.cancel.child_token(),
        );
        caches.insert(id, Arc::clone(&cache));
        cache
    }

    /// Starts the watch cache of every served resource that lists and watches, as upstream
    /// does at start-up, so that watches from any later resourceVersion can be served.
    pub fn start_caches(&self) {
        for res in self.inner.registry.snapshot().iter().filter(|r| r.allows("watch")) {
            self.cache(res);
        }
    }

    /// Reads one object (`resourceVersion` "0" or unset: the latest).
    pub async fn get(&self, res: &ResourceInfo, namespace: Option<&str>, name: &str) -> Result<Value, StatusError> {
        let key = self.inner.storage.key(res, namespace, name)?;
        Ok(self.inner.storage.get(res, key, name).await?.0)
    }

    pub(crate) fn services(&self) -> &ServiceAllocator {
        &self.inner.services
    }

    /// Checks that `namespace` exists and is not terminating, before creating in it.
    async fn check_namespace(&self, namespace: &str) -> Result<(), StatusError> {
        let Some(ns_res) = self.inner.registry.find("", "v1", "namespaces") else { return Ok(()) };
        // The namespaces cache answers almost always (upstream's admission uses an
        // informer too); a namespace it has not seen yet is read from the store.
        let key = self.inner.storage.key(&ns_res, None, namespace)?;
        let cached = self.cache(&ns_res).get(&key).map(|c| c.value.clone());
        let found = match cached {
            Some(v) => Ok(v),
            None => self.get(&ns_res, None, namespace).await,
        };
        let ns = match found {
            Ok(ns) => ns,
            Err(e) if e.code() == 404 => {
                return Err(StatusError::not_found(&kapi::status::GroupResource::new("", "namespaces"), namespace));
            }
            Err(e) => return Err(e),
        };
        if ns.pointer("/metadata/deletionTimestamp").is_some()
            || ns.pointer("/status/phase").and_then(Value::as_str) == Some("Terminating")
        {
            return Err(StatusError::forbidden(
                &kapi::status::GroupResource::new("", "namespaces"),
                namespace,
                format!("unable to create new content in namespace {namespace} because it is being terminated"),
            ));
        }
        Ok(())
    }
}
