//! Pods: the pure decision core ([`actions`], [`backoff`]), the runtime view
//! ([`runtime`]) and the async driver — a manager that dispatches informer events and
//! runtime changes to one worker task per pod.
//!
//! Pods come from an informer on `spec.nodeName=<node>`. kwatch's reflector relists on
//! `410 Gone` and re-opens broken watches with back-off, so there is no separate polling
//! loop; every worker also resyncs every `syncFrequency`, and the PLEG relist (every
//! second) wakes the worker of any pod whose containers changed state. Static pods come
//! from [`static_pods`](crate::static_pods); their mirror pods' statuses are fed back to
//! their workers, and mirror pods are never run themselves.

pub mod actions;
pub mod backoff;
mod dns;
mod env;
pub mod runtime;
mod spec;
mod worker;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use kapi::k8s::api::core::v1::{Pod, PodStatus};
use kapi::quantity::Quantity;
use kcri::types::PodSandboxFilter;
use kcri::{ImageService, RuntimeService};
use kwatch::http::Client;
use kwatch::informer::{Event, SharedInformer};
use tokio::sync::{Notify, mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use env::EnvError;
pub use worker::SyncError;

use crate::config::KubeletConfig;
use crate::pleg::Relist;
use crate::static_pods::{CONFIG_MIRROR_ANNOTATION, is_mirror};
use backoff::Backoff;
use runtime::POD_UID_LABEL;
use worker::{PodUpdate, Worker};

/// What every pod worker shares.
pub(crate) struct Shared {
    pub(crate) config: Arc<KubeletConfig>,
    pub(crate) runtime: Arc<dyn RuntimeService>,
    pub(crate) images: Arc<dyn ImageService>,
    pub(crate) client: Client,
    /// Prefix of container ids in status (`containerd`).
    pub(crate) runtime_name: String,
    pub(crate) host_ip: String,
    pub(crate) systemd_cgroups: bool,
    pub(crate) allocatable: BTreeMap<String, Quantity>,
    pub(crate) backoff: Mutex<Backoff<(String, String)>>,
    /// Resolver settings for sandboxes.
    pub(crate) dns: dns::DnsSettings,
}

/// The kubelet's DNS settings: `--cluster-dns`, `--cluster-domain` and the parsed
/// `--resolv-conf` (missing: none, as upstream when the file cannot be read).
pub(crate) fn dns_settings(config: &KubeletConfig) -> dns::DnsSettings {
    let host = if config.resolv_conf.as_os_str().is_empty() {
        kcri::types::DnsConfig::default()
    } else {
        match std::fs::read_to_string(&config.resolv_conf) {
            Ok(text) => dns::parse_resolv_conf(&text),
            Err(e) => {
                tracing::warn!(path = %config.resolv_conf.display(), error = %e, "cannot read the resolver configuration");
                kcri::types::DnsConfig::default()
            }
        }
    };
    dns::DnsSettings { cluster_dns: config.cluster_dns.clone(), cluster_domain: config.cluster_domain.clone(), host }
}

impl Shared {
    pub(crate) fn lock_backoff(&self) -> MutexGuard<'_, Backoff<(String, String)>> {
        self.backoff.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The pod's cgroup parent for the runtime's cgroup driver.
    pub(crate) fn cgroup_parent(&self, uid: &str) -> String {
        if self.systemd_cgroups {
            format!("kubepods-pod{}.slice", uid.replace('-', "_"))
        } else {
            format!("{}/pod{uid}", self.config.cgroup_root.trim_end_matches('/'))
        }
    }

    /// The grace period to stop the pod's containers with: the deletion's, else the
    /// spec's, else the default.
    pub(crate) fn grace_period(&self, pod: &Pod) -> Duration {
        let secs = pod
            .metadata
            .deletion_grace_period_seconds
            .or_else(|| pod.spec.as_ref().and_then(|s| s.termination_grace_period_seconds));
        match secs {
            Some(s) => Duration::from_secs(u64::try_from(s).unwrap_or(0)),
            None => self.config.default_termination_grace,
        }
    }
}

struct Handle {
    updates: watch::Sender<PodUpdate>,
    kick: Arc<Notify>,
    task: JoinHandle<()>,
}

/// Dispatches pod events and runtime changes to per-pod workers; cleans up sandboxes of
/// pods the API no longer has.
pub(crate) struct PodManager {
    shared: Arc<Shared>,
    workers: HashMap<String, Handle>,
    cleanups: HashMap<String, JoinHandle<()>>,
    /// Static pods by UID.
    statics: BTreeMap<String, Arc<Pod>>,
}

impl PodManager {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared, workers: HashMap::new(), cleanups: HashMap::new(), statics: BTreeMap::new() }
    }

    /// Runs until `cancel` fires or the informer ends; then stops the workers (containers
    /// keep running).
    pub(crate) async fn run(
        mut self,
        informer: SharedInformer<Pod>,
        mut relists: mpsc::Receiver<Relist>,
        mut statics: mpsc::Receiver<Vec<Arc<Pod>>>,
        cancel: CancellationToken,
    ) {
        let mut events = informer.subscribe(4096, None);
        let store = informer.store();
        let workers_cancel = cancel.child_token();
        let mut statics_open = true;
        loop {
            tokio::select! {
                () = cancel.cancelled() => break,
                event = events.recv() => match event {
                    None => break,
                    Some(Event::Added(p) | Event::Resync(p) | Event::Updated { new: p, .. }) => {
                        if is_mirror(&p) {
                            self.mirror_changed(&p, p.status.clone(), &workers_cancel);
                        } else {
                            self.dispatch(PodUpdate::Present(p), &workers_cancel);
                        }
                    }
                    Some(Event::Deleted { obj, .. }) if is_mirror(&obj) => self.mirror_changed(&obj, None, &workers_cancel),
                    Some(Event::Deleted { obj, .. }) => self.dispatch(PodUpdate::Gone(obj), &workers_cancel),
                    Some(Event::Synced | Event::Lagged { .. }) => {}
                },
                pods = statics.recv(), if statics_open => match pods {
                    None => statics_open = false,
                    Some(pods) => self.set_statics(pods, &store.list(), &workers_cancel),
                },
                relist = relists.recv() => match relist {
                    None => break,
                    Some(r) => {
                        for uid in &r.changed {
                            if let Some(h) = self.workers.get(uid) {
                                h.kick.notify_one();
                            }
                        }
                        if store.is_synced() {
                            let known: BTreeSet<String> = store
                                .list()
                                .iter()
                                .filter_map(|p| p.metadata.uid.clone())
                                .chain(self.statics.keys().cloned())
                                .collect();
                            self.reap(&r.present, &known);
                        }
                    }
                },
            }
        }
        workers_cancel.cancel();
        for (_, h) in self.workers.drain() {
            let _ = h.task.await;
        }
        for (_, t) in self.cleanups.drain() {
            t.abort();
        }
    }

    /// A mirror pod changed: its static pod's worker gets the mirror's status (`None` when
    /// the mirror is gone, so the worker recreates it and writes the status again).
    fn mirror_changed(&mut self, mirror: &Pod, status: Option<PodStatus>, cancel: &CancellationToken) {
        let uid = mirror.metadata.annotations.as_ref().and_then(|a| a.get(CONFIG_MIRROR_ANNOTATION));
        if let Some(pod) = uid.and_then(|u| self.statics.get(u)) {
            let mut merged = (**pod).clone();
            merged.status = status;
            self.dispatch(PodUpdate::Present(Arc::new(merged)), cancel);
        }
    }

    /// The static pods now in the manifest directory: new and changed ones are (re)synced,
    /// removed ones stopped.
    fn set_statics(&mut self, pods: Vec<Arc<Pod>>, api: &[Arc<Pod>], cancel: &CancellationToken) {
        let new: BTreeMap<String, Arc<Pod>> =
            pods.into_iter().filter_map(|p| p.metadata.uid.clone().map(|u| (u, p))).collect();
        let old = std::mem::take(&mut self.statics);
        for (uid, pod) in &old {
            if !new.contains_key(uid) {
                tracing::info!(%uid, "static pod manifest removed");
                self.dispatch(PodUpdate::Gone(pod.clone()), cancel);
            }
        }
        for (uid, pod) in &new {
            let mirror = api
                .iter()
                .find(|m| m.metadata.annotations.as_ref().and_then(|a| a.get(CONFIG_MIRROR_ANNOTATION)) == Some(uid));
            let mut merged = (**pod).clone();
            merged.status = mirror.and_then(|m| m.status.clone());
            self.dispatch(PodUpdate::Present(Arc::new(merged)), cancel);
        }
        self.statics = new;
    }

    fn dispatch(&mut self, update: PodUpdate, cancel: &CancellationToken) {
        let pod = match &update {
            PodUpdate::Present(p) | PodUpdate::Gone(p) => p.clone(),
        };
        let Some(uid) = pod.metadata.uid.clone().filter(|u| !u.is_empty()) else { return };
        let gone = matches!(update, PodUpdate::Gone(_));
        if let Some(h) = self.workers.get(&uid).filter(|h| !h.task.is_finished()) {
            h.updates.send_replace(update);
            if gone {
                // The worker ends after cleaning up; forget it so a recreated UID (never in
                // practice) would get a new one.
                if let Some(h) = self.workers.remove(&uid) {
                    drop(h.updates);
                    self.cleanups.insert(uid, h.task);
                }
            }
            return;
        }
        let (tx, rx) = watch::channel(update);
        let kick = Arc::new(Notify::new());
        let worker = Worker::new(self.shared.clone(), rx, kick.clone());
        let span = tracing::info_span!(
            "pod",
            pod = %format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or(""), pod.metadata.name.as_deref().unwrap_or("")),
            uid = %uid
        );
        let task = tokio::spawn(worker.run(cancel.clone()).instrument(span));
        if gone {
            self.cleanups.insert(uid, task);
        } else {
            self.workers.insert(uid, Handle { updates: tx, kick, task });
        }
    }

    /// Forgets finished cleanups and removes sandboxes of pods neither the API nor a worker
    /// has (pods deleted while the kubelet was down).
    fn reap(&mut self, present: &BTreeSet<String>, known: &BTreeSet<String>) {
        self.cleanups.retain(|_, t| !t.is_finished());
        self.workers.retain(|_, h| !h.task.is_finished());
        for uid in present {
            if known.contains(uid) || self.workers.contains_key(uid) || self.cleanups.contains_key(uid) {
                continue;
            }
            tracing::info!(%uid, "removing sandboxes of a pod the API no longer has");
            let shared = self.shared.clone();
            let uid_owned = uid.clone();
            let task = tokio::spawn(async move {
                let selector = [(POD_UID_LABEL.to_owned(), uid_owned.clone())].into();
                let filter = PodSandboxFilter { label_selector: selector, ..Default::default() };
                let rt = &shared.runtime;
                match rt.list_pod_sandbox(filter).await {
                    Ok(sandboxes) => {
                        for s in sandboxes {
                            let _ = rt.stop_pod_sandbox(s.id.clone()).await;
                            if let Err(e) = rt.remove_pod_sandbox(s.id).await {
                                tracing::warn!(error = %e, "removing orphaned sandbox failed");
                            }
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "listing orphaned sandboxes failed"),
                }
                let _ = crate::volumes::cleanup(&shared.config.root_dir, &uid_owned).await;
            });
            self.cleanups.insert(uid.clone(), task);
        }
    }
}
