//! Pods held by Permit plugins (Wait), which other pods' Permit calls — or a timeout — let
//! go or reject: what gang scheduling is built on.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::oneshot;

use super::status::Status;
use crate::types::PodInfo;

struct Waiting {
    pod: Arc<PodInfo>,
    node: String,
    /// Plugins that said Wait and have not allowed yet.
    pending: BTreeSet<&'static str>,
    done: Option<oneshot::Sender<Status>>,
}

/// The pods waiting on Permit, by UID.
#[derive(Default, Clone)]
pub struct WaitingPods {
    inner: Arc<Mutex<HashMap<String, Waiting>>>,
}

impl std::fmt::Debug for WaitingPods {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitingPods").field("pods", &self.lock().len()).finish()
    }
}

/// A waiting pod as other plugins see it.
#[derive(Debug, Clone)]
pub struct WaitingPod {
    /// The pod.
    pub pod: Arc<PodInfo>,
    /// The node it was assumed on.
    pub node: String,
    /// Plugins it still waits for.
    pub pending: BTreeSet<&'static str>,
}

impl WaitingPods {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Waiting>> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers `pod` as waiting for `plugins`; the receiver yields the final verdict.
    pub(crate) fn add(
        &self,
        pod: Arc<PodInfo>,
        node: &str,
        plugins: BTreeSet<&'static str>,
    ) -> oneshot::Receiver<Status> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(pod.uid.clone(), Waiting { pod, node: node.to_owned(), pending: plugins, done: Some(tx) });
        rx
    }

    /// Removes a pod (after its verdict or on timeout).
    pub(crate) fn remove(&self, uid: &str) {
        self.lock().remove(uid);
    }

    /// The waiting pods.
    pub fn list(&self) -> Vec<WaitingPod> {
        self.lock()
            .values()
            .map(|w| WaitingPod { pod: Arc::clone(&w.pod), node: w.node.clone(), pending: w.pending.clone() })
            .collect()
    }

    /// `plugin` allows the pod; once every waiting plugin has, it proceeds to binding.
    pub fn allow(&self, uid: &str, plugin: &'static str) {
        let mut map = self.lock();
        if let Some(w) = map.get_mut(uid) {
            w.pending.remove(plugin);
            if w.pending.is_empty() {
                if let Some(tx) = w.done.take() {
                    let _ = tx.send(Status::success());
                }
                map.remove(uid);
            }
        }
    }

    /// `plugin` rejects the pod: it is unreserved and goes back to the queue.
    pub fn reject(&self, uid: &str, plugin: &'static str, reason: &str) {
        if let Some(mut w) = self.lock().remove(uid) {
            if let Some(tx) = w.done.take() {
                let _ = tx.send(Status::unschedulable(reason.to_owned()).with_plugin(plugin));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(uid: &str) -> Arc<PodInfo> {
        let mut p = kapi::k8s::api::core::v1::Pod::default();
        p.metadata.name = Some(uid.into());
        p.metadata.uid = Some(uid.into());
        Arc::new(PodInfo::new(Arc::new(p)))
    }

    #[tokio::test]
    async fn allowed_by_every_plugin_or_rejected() {
        let w = WaitingPods::default();
        let rx = w.add(pod("a"), "n1", ["A", "B"].into());
        w.allow("a", "A");
        assert_eq!(w.list().len(), 1);
        w.allow("a", "B");
        assert!(rx.await.unwrap().is_success());
        assert!(w.list().is_empty());
        let rx = w.add(pod("b"), "n1", ["A"].into());
        w.reject("b", "A", "gang incomplete");
        assert!(!rx.await.unwrap().is_success());
    }
}
