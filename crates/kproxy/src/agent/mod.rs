//! The node agent (feature `agent`): watches Services and EndpointSlices, feeds a
//! [`Proxier`] and applies its documents with external commands.
//!
//! * Syncs are rate-limited by [`AgentConfig::min_sync_period`] (default 1 s): changes
//!   arriving meanwhile are batched into the next sync. Every
//!   [`AgentConfig::sync_period`] (default 30 s) a full sync rewrites everything.
//! * A failed apply forces the next sync to be a full one (after `min_sync_period`).
//! * IPVS mode ([`ipvs`]) checks at start that the kernel has IPVS and fails otherwise,
//!   as upstream does. Graceful termination of removed real servers (weight 0 until their
//!   connections drain) is not done: they are removed at once.
//! * After a successful sync, conntrack entries of removed UDP endpoints (and of UDP
//!   services that just got endpoints) are deleted.
//! * Commands go through a [`CommandRunner`]: [`SystemRunner`] on a node,
//!   [`SystemRunner::in_netns`] for tests in a network namespace, [`RecordingRunner`] to
//!   capture them.
//!
//! ```no_run
//! # async fn demo(client: kwatch::http::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use kproxy::agent::{Agent, AgentConfig, ProxyMode, ProxyMetrics, SystemRunner};
//! use kproxy::model::ProxyConfig;
//!
//! let mut registry = prometheus_client::registry::Registry::default();
//! let config = AgentConfig::new(ProxyConfig::new("node-a"), ProxyMode::Nftables);
//! let agent = Agent::new(config, Arc::new(SystemRunner::new()), ProxyMetrics::register(&mut registry))?;
//! agent.run(client, None, tokio_util::sync::CancellationToken::new()).await?;
//! # Ok(()) }
//! ```

pub mod apply;
pub mod ipvs;
pub mod metrics;
pub mod runner;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kapi::ApiResource;
use kapi::k8s::api::core::v1::Service;
use kapi::k8s::api::discovery::v1::EndpointSlice;
use kwatch::http::{Client, HttpListerWatcher};
use kwatch::informer::{Event, InformerError, SharedInformer};
use kwatch::object::Transform;
use kwatch::reflector::ReflectorConfig;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

pub use self::apply::ApplyError;
pub use self::metrics::ProxyMetrics;
pub use self::runner::{CommandOutput, CommandRunner, RecordedCommand, RecordingRunner, RunnerError, SystemRunner};
use crate::ipvs::Scheduler;
use crate::model::{NamespacedName, ProxyConfig};
use crate::tracker::{ConntrackCleanup, Mode, Proxier, TrackerError};

/// Services with this label belong to another proxy and are ignored (as upstream).
pub const SERVICE_PROXY_NAME_LABEL: &str = "service.kubernetes.io/service-proxy-name";
/// EndpointSlice annotation: when the change that produced it happened.
pub const LAST_CHANGE_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// Errors of the agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// Invalid configuration or input rejected by the proxier.
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    /// The informers could not be built or started.
    #[error(transparent)]
    Informer(#[from] InformerError),
    /// The node cannot run the chosen mode (IPVS without kernel support).
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// An informer stopped delivering events before cancellation.
    #[error("the {0} informer stopped")]
    InformerStopped(&'static str),
}

/// The rule backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyMode {
    /// `iptables-restore` documents.
    Iptables,
    /// `nft -f` transactions in table `ip kube-proxy`.
    Nftables,
    /// IPVS virtual servers (`ipvsadm -R` of the differences), with ipsets, iptables rules
    /// and the service addresses bound on `kube-ipvs0`.
    Ipvs,
}

impl std::fmt::Display for ProxyMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProxyMode::Iptables => "iptables",
            ProxyMode::Nftables => "nftables",
            ProxyMode::Ipvs => "ipvs",
        })
    }
}

/// Agent settings.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    /// Node identity and rule options.
    pub proxy: ProxyConfig,
    /// The rule backend.
    pub mode: ProxyMode,
    /// Minimum time between syncs (upstream `--iptables-min-sync-period`, default 1 s).
    pub min_sync_period: Duration,
    /// Time between full syncs (upstream `--iptables-sync-period`, default 30 s).
    pub sync_period: Duration,
    /// Event buffer of each informer subscription.
    pub event_buffer: usize,
    /// IPVS mode: the scheduler of every virtual server (upstream `--ipvs-scheduler`, `rr`).
    pub ipvs_scheduler: Scheduler,
}

impl AgentConfig {
    /// Defaults: `min_sync_period` 1 s, `sync_period` 30 s.
    pub fn new(proxy: ProxyConfig, mode: ProxyMode) -> Self {
        AgentConfig {
            proxy,
            mode,
            min_sync_period: Duration::from_secs(1),
            sync_period: Duration::from_secs(30),
            event_buffer: 4096,
            ipvs_scheduler: Scheduler::RoundRobin,
        }
    }
}

/// The node agent. See the [module documentation](self).
#[derive(Debug)]
pub struct Agent {
    config: AgentConfig,
    runner: Arc<dyn CommandRunner>,
    metrics: ProxyMetrics,
}

/// How a sync went, for the loop's bookkeeping.
struct SyncOutcome {
    ok: bool,
    full: bool,
}

/// Builds the Service and EndpointSlice informers over `client` (not started).
pub fn informers(
    client: &Client,
    metrics: Option<&kwatch::metrics::Metrics>,
) -> Result<(SharedInformer<Service>, SharedInformer<EndpointSlice>), InformerError> {
    let mut svc =
        SharedInformer::builder(HttpListerWatcher::<Service>::new(client.clone(), ApiResource::of::<Service>(), None))
            .config(ReflectorConfig::new("services"))
            .transform(Transform::strip_managed_fields());
    let mut eps = SharedInformer::builder(HttpListerWatcher::<EndpointSlice>::new(
        client.clone(),
        ApiResource::of::<EndpointSlice>(),
        None,
    ))
    .config(ReflectorConfig::new("endpointslices.discovery.k8s.io"))
    .transform(Transform::strip_managed_fields());
    if let Some(m) = metrics {
        svc = svc.metrics(m);
        eps = eps.metrics(m);
    }
    Ok((svc.build()?, eps.build()?))
}

fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Seconds since `endpoints.kubernetes.io/last-change-trigger-time` of `slice`, if set.
fn trigger_time(slice: &EndpointSlice) -> Option<f64> {
    let value = slice.metadata.annotations.as_ref()?.get(LAST_CHANGE_TRIGGER_TIME)?;
    let ts: jiff::Timestamp = value.parse().ok()?;
    Some(ts.as_millisecond() as f64 / 1000.0)
}

fn slice_service(slice: &EndpointSlice) -> Option<NamespacedName> {
    let ns = slice.metadata.namespace.as_deref()?;
    let svc = slice.metadata.labels.as_ref()?.get(crate::convert::SERVICE_NAME_LABEL)?;
    Some(NamespacedName::new(ns, svc.as_str()))
}

fn ignored_service(svc: &Service) -> bool {
    svc.metadata.labels.as_ref().is_some_and(|l| l.contains_key(SERVICE_PROXY_NAME_LABEL))
}

impl Agent {
    /// An agent applying rules with `runner` and reporting to `metrics`.
    pub fn new(config: AgentConfig, runner: Arc<dyn CommandRunner>, metrics: ProxyMetrics) -> Result<Self, AgentError> {
        config.proxy.validate().map_err(TrackerError::from)?;
        Ok(Agent { config, runner, metrics })
    }

    /// The metrics.
    pub fn metrics(&self) -> &ProxyMetrics {
        &self.metrics
    }

    /// Builds informers over `client`, starts them and runs until `cancel` fires.
    pub async fn run(
        self,
        client: Client,
        informer_metrics: Option<&kwatch::metrics::Metrics>,
        cancel: CancellationToken,
    ) -> Result<(), AgentError> {
        let (services, slices) = informers(&client, informer_metrics)?;
        for (name, handle) in [
            ("services", {
                let (i, c) = (services.clone(), cancel.clone());
                tokio::spawn(async move { i.run(c).await })
            }),
            ("endpointslices", {
                let (i, c) = (slices.clone(), cancel.clone());
                tokio::spawn(async move { i.run(c).await })
            }),
        ] {
            tokio::spawn(async move {
                match handle.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => warn!(informer = name, error = %e, "informer failed"),
                    Err(e) => warn!(informer = name, error = %e, "informer task failed"),
                }
            });
        }
        self.run_with(&services, &slices, cancel).await
    }

    /// Runs on informers the caller starts (or has started), until `cancel` fires. The first
    /// sync waits until both have synced. In IPVS mode it first checks that the kernel has
    /// IPVS and fails with [`ApplyError::IpvsUnavailable`] if not.
    pub async fn run_with(
        self,
        services: &SharedInformer<Service>,
        slices: &SharedInformer<EndpointSlice>,
        cancel: CancellationToken,
    ) -> Result<(), AgentError> {
        let mode = match self.config.mode {
            ProxyMode::Iptables => Mode::Iptables,
            ProxyMode::Nftables => Mode::Nftables,
            ProxyMode::Ipvs => {
                let runner = Arc::clone(&self.runner);
                match tokio::task::spawn_blocking(move || ipvs::check_ipvs(&*runner)).await {
                    Ok(r) => r?,
                    Err(e) => warn!(error = %e, "IPVS check task failed"),
                }
                Mode::Ipvs { scheduler: self.config.ipvs_scheduler }
            }
        };
        let mut svc_sub = services.subscribe(self.config.event_buffer, None);
        let mut eps_sub = slices.subscribe(self.config.event_buffer, None);
        let mut state = LoopState {
            proxier: Proxier::new(self.config.proxy.clone(), mode)?,
            started: Instant::now(),
            services_synced: false,
            slices_synced: false,
            dirty: true,
            last_sync: None,
            last_full: Instant::now(),
            triggers: HashMap::new(),
        };
        info!(mode = %self.config.mode, node = %self.config.proxy.node_name, "kube-proxy agent starting");
        loop {
            let deadline = state.next_sync(&self.config);
            tokio::select! {
                biased;
                () = cancel.cancelled() => return Ok(()),
                // Informers sharing the cancellation may end their streams first.
                ev = svc_sub.recv() => match ev {
                    None if cancel.is_cancelled() => return Ok(()),
                    ev => self.on_service(&mut state, ev)?,
                },
                ev = eps_sub.recv() => match ev {
                    None if cancel.is_cancelled() => return Ok(()),
                    ev => self.on_slice(&mut state, ev)?,
                },
                () = sleep_until(deadline), if deadline.is_some() => {
                    let outcome = self.sync(&mut state).await;
                    let now = Instant::now();
                    state.last_sync = Some(now);
                    if outcome.ok {
                        state.dirty = false;
                        if outcome.full {
                            state.last_full = now;
                        }
                    } else {
                        state.proxier.force_full_sync();
                        state.dirty = true;
                    }
                }
            }
        }
    }

    fn on_service(&self, st: &mut LoopState, ev: Option<Event<Service>>) -> Result<(), AgentError> {
        let Some(ev) = ev else { return Err(AgentError::InformerStopped("services")) };
        let name = |s: &Service| match (s.metadata.namespace.as_deref(), s.metadata.name.as_deref()) {
            (Some(ns), Some(name)) => Some(NamespacedName::new(ns, name)),
            _ => None,
        };
        match ev {
            Event::Added(s) | Event::Updated { new: s, .. } | Event::Resync(s) => {
                if ignored_service(&s) {
                    if let Some(n) = name(&s) {
                        st.proxier.delete_service(&n);
                    }
                } else {
                    match st.proxier.update_service(&s) {
                        Ok(warnings) => {
                            for w in warnings {
                                debug!(warning = %w, "service conversion");
                            }
                        }
                        Err(e) => warn!(error = %e, "ignoring invalid service"),
                    }
                }
                self.metrics.service_changes.inc();
            }
            Event::Deleted { obj, .. } => {
                if let Some(n) = name(&obj) {
                    st.proxier.delete_service(&n);
                }
                self.metrics.service_changes.inc();
            }
            Event::Synced => st.services_synced = true,
            Event::Lagged { missed } => warn!(missed, "service handler lagged; resyncing"),
        }
        self.mark_changed(st);
        Ok(())
    }

    fn on_slice(&self, st: &mut LoopState, ev: Option<Event<EndpointSlice>>) -> Result<(), AgentError> {
        let Some(ev) = ev else { return Err(AgentError::InformerStopped("endpointslices")) };
        match ev {
            Event::Added(s) | Event::Updated { new: s, .. } | Event::Resync(s) => {
                if let Err(e) = st.proxier.update_endpoint_slice(&s) {
                    warn!(error = %e, "ignoring invalid endpoint slice");
                }
                if let (Some(t), Some(svc)) = (trigger_time(&s), slice_service(&s)) {
                    let e = st.triggers.entry(svc).or_insert(t);
                    *e = e.min(t);
                }
                self.metrics.endpoint_changes.inc();
            }
            Event::Deleted { obj, .. } => {
                st.proxier.delete_endpoint_slice(&obj);
                self.metrics.endpoint_changes.inc();
            }
            Event::Synced => st.slices_synced = true,
            Event::Lagged { missed } => warn!(missed, "endpoint slice handler lagged; resyncing"),
        }
        self.mark_changed(st);
        Ok(())
    }

    fn mark_changed(&self, st: &mut LoopState) {
        if st.proxier.pending_changes() > 0 && !st.dirty {
            st.dirty = true;
            self.metrics.last_queued_timestamp.set(unix_now());
        }
    }

    /// Renders and applies one sync, records metrics; conntrack cleanup after success.
    async fn sync(&self, st: &mut LoopState) -> SyncOutcome {
        let begin = Instant::now();
        if begin.duration_since(st.last_full) >= self.config.sync_period {
            st.proxier.force_full_sync();
        }
        let now = begin.duration_since(st.started);
        let rendered = match st.proxier.sync(now) {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "rendering rules failed");
                return SyncOutcome { ok: false, full: true };
            }
        };
        let full = rendered.full;
        let document = rendered.document.to_string();
        let ipvs_docs = rendered.ipvs.cloned();
        let counts = rendered.counts;
        let cleanup: ConntrackCleanup = rendered.conntrack.clone();
        let changed = rendered.changed_services;
        let mode = self.config.mode;
        let runner = Arc::clone(&self.runner);
        let applied = tokio::task::spawn_blocking(move || {
            let result = match (mode, &ipvs_docs) {
                (ProxyMode::Iptables, _) => apply::apply_iptables(&*runner, &document, full),
                (ProxyMode::Ipvs, Some(docs)) => ipvs::apply_ipvs(&*runner, docs, full).map(|applied| {
                    debug!(?applied, "applied IPVS state");
                }),
                _ => apply::apply_nftables(&*runner, &document),
            };
            let conntrack = if result.is_ok() { Some(apply::clear_conntrack(&*runner, &cleanup)) } else { None };
            (result, conntrack)
        })
        .await;
        let (result, conntrack) = match applied {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "apply task failed");
                return SyncOutcome { ok: false, full };
            }
        };
        let elapsed = begin.elapsed().as_secs_f64();
        if let Err(e) = result {
            warn!(error = %e, full, "applying rules failed; the next sync is a full one");
            let restore_failed = matches!(&e, ApplyError::Command(RunnerError::Failed { command, .. })
                if command.starts_with("iptables-restore"));
            match (mode, full) {
                (ProxyMode::Iptables, true) => self.metrics.iptables_restore_failures.inc(),
                (ProxyMode::Iptables, false) => self.metrics.iptables_partial_restore_failures.inc(),
                // As upstream, IPVS mode counts its iptables-restore failures.
                (ProxyMode::Ipvs, _) if restore_failed => self.metrics.iptables_restore_failures.inc(),
                (ProxyMode::Ipvs, _) => 0,
                _ => self.metrics.nftables_sync_failures.inc(),
            };
            return SyncOutcome { ok: false, full };
        }
        if let Some((ran, errors)) = conntrack {
            for e in &errors {
                warn!(error = %e, "conntrack cleanup failed");
                self.metrics.conntrack_cleanup_failures.inc();
            }
            if ran > 0 {
                debug!(commands = ran, "cleared stale UDP conntrack entries");
            }
        }
        self.metrics.sync_duration.observe(elapsed);
        if full {
            self.metrics.full_sync_duration.observe(elapsed);
        } else {
            self.metrics.partial_sync_duration.observe(elapsed);
        }
        let unix = unix_now();
        self.metrics.last_sync_timestamp.set(unix);
        if let Some(c) = counts {
            self.metrics.set_iptables_rules(c.nat_rules, c.filter_rules);
        }
        for (_, t) in st.triggers.drain() {
            self.metrics.network_programming_duration.observe((unix - t).max(0.0));
        }
        debug!(full, changed, seconds = elapsed, "synced proxy rules");
        SyncOutcome { ok: true, full }
    }
}

struct LoopState {
    proxier: Proxier,
    started: Instant,
    services_synced: bool,
    slices_synced: bool,
    dirty: bool,
    last_sync: Option<Instant>,
    last_full: Instant,
    triggers: HashMap<NamespacedName, f64>,
}

impl LoopState {
    /// When the next sync is due: never before both informers synced; at once for the first
    /// sync; `min_sync_period` after the last one when something changed (or nftables chains
    /// wait for deletion); else at the next periodic full sync.
    fn next_sync(&self, cfg: &AgentConfig) -> Option<Instant> {
        if !(self.services_synced && self.slices_synced) {
            return None;
        }
        let Some(last) = self.last_sync else { return Some(Instant::now()) };
        let periodic = self.last_full + cfg.sync_period;
        if self.dirty {
            return Some(last + cfg.min_sync_period);
        }
        if self.proxier.pending_chain_deletions() > 0 {
            let delay = cfg.min_sync_period.max(crate::tracker::NFT_STALE_CHAIN_DELAY);
            return Some((last + delay).min(periodic));
        }
        Some(periodic)
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
