//! One shared informer per resource for every controller of a process (client-go's
//! `SharedInformerFactory`): one list and one watch per resource, however many controllers
//! look at it.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use kapi::{ApiResource, Resource};
use kwatch::http::Client;
use kwatch::informer::{InformerBuilder, InformerError, SharedInformer};
use kwatch::metrics::Metrics;
use kwatch::object::{Object, Transform};
use kwatch::reflector::ReflectorConfig;
use kwatch::source::Source;
use serde::de::DeserializeOwned;
use tokio_util::sync::CancellationToken;

/// Index of every informer this factory builds: the UID of the controlling owner.
pub const CONTROLLER_UID_INDEX: &str = "controller-uid";
/// Index of every informer this factory builds: the UIDs of all owners.
pub const OWNER_UID_INDEX: &str = "owner-uid";

/// Index of the Pod informer made by [`crate::controllers::Context::new`]: `spec.nodeName`.
pub const POD_NODE_INDEX: &str = "spec.nodeName";

type Key = (TypeId, ApiResource);

struct Inner {
    source: Source,
    metrics: Metrics,
    informers: HashMap<Key, Box<dyn Any + Send + Sync>>,
    starters: Vec<Box<dyn FnOnce(CancellationToken) + Send>>,
    running: Option<CancellationToken>,
}

/// A factory of shared informers over the HTTP API, or an API server in the same process
/// ([`Informers::with_source`]).
///
/// Every informer it builds strips `managedFields` (controllers never read them) and has
/// two indexes, [`CONTROLLER_UID_INDEX`] and [`OWNER_UID_INDEX`], besides the namespace
/// index. Further indexes can be given by the first caller of [`Informers::get_with`].
#[derive(Clone)]
pub struct Informers {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Informers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Informers").field("informers", &inner.informers.len()).finish()
    }
}

impl Informers {
    /// A factory using `client`, reporting to `metrics`.
    pub fn new(client: Client, metrics: Metrics) -> Self {
        Self::with_source(Source::Http(client), metrics)
    }

    /// A factory reading from `source`, reporting to `metrics`.
    pub fn with_source(source: Source, metrics: Metrics) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                source,
                metrics,
                informers: HashMap::new(),
                starters: Vec::new(),
                running: None,
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The client (of the source, for writes).
    pub fn client(&self) -> Client {
        self.lock().source.client().clone()
    }

    /// The informer of a built-in kind, cluster-wide.
    ///
    /// # Errors
    /// None in practice: the standard indexes have distinct names.
    pub fn get<K>(&self) -> Result<SharedInformer<K>, InformerError>
    where
        K: Object + Resource<DynamicType = ()> + DeserializeOwned,
    {
        self.get_with::<K>(&ApiResource::of::<K>(), |b| b)
    }

    /// The informer of any resource as `K` (a typed kind, [`kapi::DynamicObject`], or
    /// [`kwatch::object::PartialObjectMetadata`] for metadata only). `configure` adds
    /// indexes; it is applied only when this call creates the informer.
    ///
    /// # Errors
    /// An index added by `configure` reuses a name.
    pub fn get_with<K>(
        &self,
        resource: &ApiResource,
        configure: impl FnOnce(InformerBuilder<K>) -> InformerBuilder<K>,
    ) -> Result<SharedInformer<K>, InformerError>
    where
        K: Object + DeserializeOwned,
    {
        let key = (TypeId::of::<K>(), resource.clone());
        let mut inner = self.lock();
        if let Some(existing) = inner.informers.get(&key).and_then(|b| b.downcast_ref::<SharedInformer<K>>()) {
            return Ok(existing.clone());
        }
        let source = inner.source.lister_watcher::<K>(resource, None);
        let name = if resource.group.is_empty() {
            resource.plural.clone()
        } else {
            format!("{}.{}", resource.plural, resource.group)
        };
        let builder = SharedInformer::builder(source)
            .config(ReflectorConfig::new(name))
            .transform(Transform::strip_managed_fields())
            .metrics(&inner.metrics)
            .index(CONTROLLER_UID_INDEX, |o: &K| {
                kapi::owner::controller_of(o.metadata()).map(|r| r.uid.clone()).into_iter().collect()
            })
            .index(OWNER_UID_INDEX, |o: &K| {
                o.metadata().owner_references.iter().flatten().map(|r| r.uid.clone()).collect()
            });
        let informer = configure(builder).build()?;
        inner.informers.insert(key, Box::new(informer.clone()));
        let runner = informer.clone();
        let start = move |cancel: CancellationToken| {
            tokio::spawn(async move {
                let _ = runner.run(cancel).await;
            });
        };
        match &inner.running {
            Some(cancel) => start(cancel.clone()),
            None => inner.starters.push(Box::new(start)),
        }
        Ok(informer)
    }

    /// Starts every informer made so far and, from now on, each new one as it is made.
    /// They stop when `cancel` fires.
    pub fn start(&self, cancel: CancellationToken) {
        let starters = {
            let mut inner = self.lock();
            inner.running = Some(cancel.clone());
            std::mem::take(&mut inner.starters)
        };
        for s in starters {
            s(cancel.clone());
        }
    }
}
