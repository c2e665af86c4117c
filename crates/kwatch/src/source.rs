//! Where informers read from: an API server over HTTP, or (feature `kapiserver`) one in
//! the same process.

use kapi::ApiResource;
use serde::de::DeserializeOwned;

use crate::http::{Client, HttpListerWatcher};
use crate::lister::ListerWatcher;

/// Where to list and watch. Components composed into one process with their API server
/// (`kcluster`) read its watch cache directly; everything else speaks HTTP.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Source {
    /// The HTTP API of kapiserver or any kube-apiserver.
    Http(Client),
    /// An API server in this process: lists through its REST layer and watches its watch
    /// cache, with no TLS, HTTP/2 or JSON text in between. Built-in resources only; the
    /// others (custom resources, which may come and go) use `client`.
    #[cfg(feature = "kapiserver")]
    InProcess {
        /// The in-process API server.
        api: kapiserver::rest::Api,
        /// For resources the server does not have built in.
        client: Client,
    },
}

impl Source {
    /// The client for writes and for what is not read in process.
    pub fn client(&self) -> &Client {
        match self {
            Source::Http(c) => c,
            #[cfg(feature = "kapiserver")]
            Source::InProcess { client, .. } => client,
        }
    }

    /// A lister-watcher of `resource` as `K`, limited to `namespace` when given (ignored for
    /// cluster-scoped resources).
    pub fn lister_watcher<K>(&self, resource: &ApiResource, namespace: Option<&str>) -> Box<dyn ListerWatcher<K>>
    where
        K: DeserializeOwned + Send + Sync + 'static,
    {
        #[cfg(feature = "kapiserver")]
        if let Source::InProcess { api, .. } = self {
            // A version the server does not serve fails the lookup below: HTTP then.
            if kapiserver::resources::is_builtin(&resource.group, &resource.plural) {
                let lw = crate::inprocess::ApiListerWatcher::<K>::new(
                    api.clone(),
                    &resource.group,
                    &resource.version,
                    &resource.plural,
                    namespace,
                );
                if let Ok(lw) = lw {
                    return Box::new(lw);
                }
            }
        }
        Box::new(HttpListerWatcher::new(self.client().clone(), resource.clone(), namespace))
    }
}
