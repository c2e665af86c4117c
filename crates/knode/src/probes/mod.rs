//! Liveness, readiness and startup probes: settings and thresholds ([`ProbeTracker`], pure)
//! and the per-container probe tasks a pod worker runs.
//!
//! A task per (container, probe) sleeps `initialDelaySeconds`, then runs an attempt every
//! `periodSeconds` with a `timeoutSeconds` limit. Liveness and readiness wait for the
//! startup probe to pass. A change of result wakes the pod worker, which restarts the
//! container on liveness or startup failure and recomputes readiness.

mod results;
mod run;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use kapi::k8s::api::core::v1::{Container, PodSpec, Probe};
use kcri::RuntimeService;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

pub use results::{ProbeKind, ProbeResult, ProbeSettings, ProbeTracker};
pub(crate) use run::ProbeTarget;

use crate::pods::runtime::PodRuntime;
use crate::status::ProbeStates;

#[derive(Debug)]
struct Handle {
    cancel: CancellationToken,
    result: Arc<Mutex<ProbeResult>>,
}

/// The probe tasks of one pod.
#[derive(Debug, Default)]
pub(crate) struct PodProbes {
    tasks: HashMap<(String, ProbeKind), Handle>,
}

fn probe_of(c: &Container, kind: ProbeKind) -> Option<&Probe> {
    match kind {
        ProbeKind::Liveness => c.liveness_probe.as_ref(),
        ProbeKind::Readiness => c.readiness_probe.as_ref(),
        ProbeKind::Startup => c.startup_probe.as_ref(),
    }
}

fn read(result: &Mutex<ProbeResult>) -> ProbeResult {
    *result.lock().unwrap_or_else(PoisonError::into_inner)
}

impl PodProbes {
    /// Starts tasks for running containers with probes; stops those of gone containers.
    pub(crate) fn sync(
        &mut self,
        runtime: &Arc<dyn RuntimeService>,
        spec: &PodSpec,
        view: &PodRuntime,
        host: &str,
        kick: &Arc<Notify>,
        cancel: &CancellationToken,
    ) {
        let mut wanted = Vec::new();
        for c in &spec.containers {
            let Some(v) = view.latest(&c.name, false).filter(|v| v.is_running()) else { continue };
            for kind in [ProbeKind::Startup, ProbeKind::Liveness, ProbeKind::Readiness] {
                if let Some(probe) = probe_of(c, kind) {
                    wanted.push(((v.id.clone(), kind), c, probe.clone()));
                }
            }
        }
        let keep: Vec<(String, ProbeKind)> = wanted.iter().map(|(k, _, _)| k.clone()).collect();
        self.tasks.retain(|k, h| {
            let stay = keep.contains(k);
            if !stay {
                h.cancel.cancel();
            }
            stay
        });
        // Startup first, so the others can find its result.
        for (key, c, probe) in wanted {
            if self.tasks.contains_key(&key) {
                continue;
            }
            let (id, kind) = key.clone();
            let settings = ProbeSettings::from_probe(&probe);
            let result = Arc::new(Mutex::new(ProbeTracker::new(kind, settings).result()));
            let startup = match kind {
                ProbeKind::Startup => None,
                _ => self.tasks.get(&(id.clone(), ProbeKind::Startup)).map(|h| h.result.clone()),
            };
            let target = ProbeTarget {
                container_id: id.clone(),
                host: host.to_owned(),
                ports: c.ports.clone().unwrap_or_default(),
            };
            let task = ProbeTask {
                kind,
                probe,
                settings,
                target,
                runtime: runtime.clone(),
                result: result.clone(),
                startup,
                kick: kick.clone(),
            };
            let token = cancel.child_token();
            let span = tracing::debug_span!("probe", container = %c.name, kind = kind.as_str());
            tokio::spawn(task.run(token.clone()).instrument(span));
            self.tasks.insert(key, Handle { cancel: token, result });
        }
    }

    /// Readiness and startup per running container, and the containers to restart with why.
    pub(crate) fn states(&self, spec: &PodSpec, view: &PodRuntime) -> (ProbeStates, BTreeMap<String, String>) {
        let mut states = ProbeStates::default();
        let mut unhealthy = BTreeMap::new();
        let result = |id: &str, kind| self.tasks.get(&(id.to_owned(), kind)).map(|h| read(&h.result));
        for c in &spec.containers {
            let Some(v) = view.latest(&c.name, false).filter(|v| v.is_running()) else { continue };
            let started = c.startup_probe.is_none() || result(&v.id, ProbeKind::Startup) == Some(ProbeResult::Success);
            let ready =
                c.readiness_probe.is_none() || result(&v.id, ProbeKind::Readiness) == Some(ProbeResult::Success);
            if started {
                states.started.insert(v.id.clone());
                if ready {
                    states.ready.insert(v.id.clone());
                }
            }
            for kind in [ProbeKind::Startup, ProbeKind::Liveness] {
                if result(&v.id, kind) == Some(ProbeResult::Failure) {
                    let why = format!(
                        "Container {} failed {} probe, will be restarted",
                        c.name,
                        kind.as_str().to_lowercase()
                    );
                    unhealthy.insert(v.id.clone(), why);
                }
            }
        }
        (states, unhealthy)
    }

    /// Stops every task.
    pub(crate) fn stop_all(&mut self) {
        for (_, h) in self.tasks.drain() {
            h.cancel.cancel();
        }
    }
}

impl Drop for PodProbes {
    fn drop(&mut self) {
        self.stop_all();
    }
}

struct ProbeTask {
    kind: ProbeKind,
    probe: Probe,
    settings: ProbeSettings,
    target: ProbeTarget,
    runtime: Arc<dyn RuntimeService>,
    result: Arc<Mutex<ProbeResult>>,
    startup: Option<Arc<Mutex<ProbeResult>>>,
    kick: Arc<Notify>,
}

impl ProbeTask {
    async fn run(self, cancel: CancellationToken) {
        let mut tracker = ProbeTracker::new(self.kind, self.settings);
        if !sleep(self.settings.initial_delay, &cancel).await {
            return;
        }
        loop {
            let gated = self.startup.as_ref().is_some_and(|s| read(s) != ProbeResult::Success);
            if !gated {
                let (passed, message) =
                    run::attempt(self.runtime.as_ref(), &self.probe, &self.target, self.settings.timeout).await;
                if !passed {
                    tracing::debug!(%message, "probe attempt failed");
                }
                if let Some(new) = tracker.observe(passed) {
                    tracing::info!(result = ?new, %message, "probe result changed");
                    *self.result.lock().unwrap_or_else(PoisonError::into_inner) = new;
                    self.kick.notify_one();
                }
                let done = match self.kind {
                    // A passed startup probe is not run again; a failed liveness or startup
                    // probe ends with the container, which the pod worker restarts.
                    ProbeKind::Startup => tracker.result() != ProbeResult::Unknown,
                    ProbeKind::Liveness => tracker.result() == ProbeResult::Failure,
                    ProbeKind::Readiness => false,
                };
                if done {
                    return;
                }
            }
            if !sleep(self.settings.period, &cancel).await {
                return;
            }
        }
    }
}

/// Sleeps; false if cancelled first.
async fn sleep(d: std::time::Duration, cancel: &CancellationToken) -> bool {
    tokio::select! {
        () = tokio::time::sleep(d) => true,
        () = cancel.cancelled() => false,
    }
}
