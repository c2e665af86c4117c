//! Pod status computation (upstream `generateAPIPodStatus` and `getPhase`): a pure
//! function from the pod, what the runtime has, probe results and waiting reasons to the
//! `PodStatus` the kubelet writes.
//!
//! ```
//! use std::collections::BTreeMap;
//! use kapi::k8s::api::core::v1::{Container, Pod, PodSpec};
//! use knode::pods::runtime::PodRuntime;
//! use knode::status::{ProbeStates, StatusInput, pod_status};
//!
//! let mut pod = Pod::default();
//! pod.spec = Some(PodSpec { containers: vec![Container { name: "app".into(), ..Default::default() }], ..Default::default() });
//! let runtime = PodRuntime::default();
//! let (probes, waiting) = (ProbeStates::default(), BTreeMap::new());
//! let input = StatusInput::new(&pod, &runtime, &probes, &waiting, jiff::Timestamp::UNIX_EPOCH);
//! assert_eq!(pod_status(&input).phase.as_deref(), Some("Pending"));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::time::SystemTime;

use jiff::Timestamp;
use kapi::k8s::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting, ContainerStatus,
    HostIP, Pod, PodCondition, PodIP, PodStatus,
};
use kapi::k8s::apimachinery::pkg::apis::meta::v1::Time;

use crate::pods::actions::restart_policy;
use crate::pods::runtime::{ContainerView, PodRuntime};

/// Pod phases.
pub const PENDING: &str = "Pending";
/// Running phase.
pub const RUNNING: &str = "Running";
/// Succeeded phase.
pub const SUCCEEDED: &str = "Succeeded";
/// Failed phase.
pub const FAILED: &str = "Failed";

/// Which containers (by runtime id) are ready and started, from the probes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProbeStates {
    /// Running containers whose readiness probe passes (or that have none, once started).
    pub ready: BTreeSet<String>,
    /// Running containers whose startup probe passed (or that have none).
    pub started: BTreeSet<String>,
}

/// Why a container is waiting, decided by the pod worker (back-off, pull or create errors).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Waiting {
    /// Reason, e.g. `CrashLoopBackOff`, `ErrImagePull`, `CreateContainerConfigError`.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

impl Waiting {
    /// A reason and message.
    pub fn new(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self { reason: reason.into(), message: message.into() }
    }
}

/// The inputs of [`pod_status`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct StatusInput<'a> {
    /// The pod, with its last written status.
    pub pod: &'a Pod,
    /// What the runtime has for it.
    pub runtime: &'a PodRuntime,
    /// Probe results.
    pub probes: &'a ProbeStates,
    /// Waiting reasons by container name.
    pub waiting: &'a BTreeMap<String, Waiting>,
    /// The node's IP.
    pub host_ip: Option<&'a str>,
    /// Prefix of container ids (`containerd` gives `containerd://<id>`).
    pub runtime_name: &'a str,
    /// Now (for new conditions and the start time).
    pub now: Timestamp,
}

impl<'a> StatusInput<'a> {
    /// Inputs without host IP, with runtime name `containerd`.
    pub fn new(
        pod: &'a Pod,
        runtime: &'a PodRuntime,
        probes: &'a ProbeStates,
        waiting: &'a BTreeMap<String, Waiting>,
        now: Timestamp,
    ) -> Self {
        Self { pod, runtime, probes, waiting, host_ip: None, runtime_name: "containerd", now }
    }
}

/// A `Time` from a runtime timestamp, at the API's one-second precision (so an unchanged
/// status compares equal to the one read back).
pub fn api_time(t: SystemTime) -> Option<Time> {
    Timestamp::try_from(t).ok().and_then(|ts| Timestamp::from_second(ts.as_second()).ok()).map(Time)
}

fn now_time(now: Timestamp) -> Time {
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

/// The status the kubelet would write now.
pub fn pod_status(input: &StatusInput<'_>) -> PodStatus {
    let pod = input.pod;
    let default_spec = Default::default();
    let spec = pod.spec.as_ref().unwrap_or(&default_spec);
    let old = pod.status.clone().unwrap_or_default();
    let init_specs: &[Container] = spec.init_containers.as_deref().unwrap_or(&[]);

    let initialized = init_specs
        .iter()
        .all(|c| input.runtime.latest(&c.name, true).is_some_and(|v| v.is_exited() && v.exit_code == 0));
    let init_statuses: Vec<ContainerStatus> =
        init_specs.iter().map(|c| container_status(input, c, true, initialized)).collect();
    let mut statuses: Vec<ContainerStatus> =
        spec.containers.iter().map(|c| container_status(input, c, false, initialized)).collect();
    statuses.sort_by(|a, b| a.name.cmp(&b.name));

    let mut phase = phase(restart_policy(spec), &init_statuses, &statuses);
    if let Some(p) = old.phase.as_deref().filter(|p| *p == SUCCEEDED || *p == FAILED) {
        // Terminal phases never change.
        phase = p;
    }

    let sandbox = input.runtime.sandbox();
    let mut pod_ips: Vec<String> = match sandbox {
        Some(s) if s.host_network => input.host_ip.map(str::to_owned).into_iter().collect(),
        Some(s) => s.ip.iter().chain(&s.additional_ips).cloned().collect(),
        None => Vec::new(),
    };
    if pod_ips.is_empty() {
        pod_ips = old.pod_ips.iter().flatten().map(|p| p.ip.clone()).collect();
    }

    let unready: Vec<&str> = statuses.iter().filter(|s| !s.ready).map(|s| s.name.as_str()).collect();
    let not_initialized: Vec<&str> = init_statuses
        .iter()
        .filter(|s| s.state.as_ref().and_then(|st| st.terminated.as_ref()).is_none_or(|t| t.exit_code != 0))
        .map(|s| s.name.as_str())
        .collect();
    let gates_ready = spec
        .readiness_gates
        .iter()
        .flatten()
        .all(|g| old.conditions.iter().flatten().any(|c| c.type_ == g.condition_type && c.status == "True"));
    let completed = phase == SUCCEEDED;
    let (cr_reason, cr_message) = if completed {
        (Some("PodCompleted"), None)
    } else if unready.is_empty() {
        (None, None)
    } else {
        (Some("ContainersNotReady"), Some(format!("containers with unready status: [{}]", unready.join(" "))))
    };
    let containers_ready = unready.is_empty() && !completed;
    let mut conditions = vec![
        condition("PodReadyToStartContainers", sandbox.is_some_and(|s| s.ready), None, None),
        if initialized {
            condition("Initialized", true, completed.then_some("PodCompleted"), None)
        } else {
            let message = format!("containers with incomplete status: [{}]", not_initialized.join(" "));
            condition("Initialized", false, Some("ContainersNotInitialized"), Some(message))
        },
        if containers_ready && !gates_ready {
            condition(
                "Ready",
                false,
                Some("ReadinessGatesNotReady"),
                Some("the status of pod readiness gate is not \"True\"".into()),
            )
        } else {
            condition("Ready", containers_ready, cr_reason, cr_message.clone())
        },
        condition("ContainersReady", containers_ready, cr_reason, cr_message),
    ];
    match old.conditions.iter().flatten().find(|c| c.type_ == "PodScheduled") {
        Some(c) => conditions.push(c.clone()),
        None => conditions.push(condition("PodScheduled", true, None, None)),
    }
    // Conditions other than the kubelet's (readiness gates, DisruptionTarget …) stay.
    let ours = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"];
    conditions.extend(old.conditions.iter().flatten().filter(|c| !ours.contains(&c.type_.as_str())).cloned());
    for c in &mut conditions {
        let before = old.conditions.iter().flatten().find(|o| o.type_ == c.type_);
        c.last_transition_time = match before {
            Some(o) if o.status == c.status => o.last_transition_time.clone(),
            _ => Some(now_time(input.now)),
        };
    }

    PodStatus {
        phase: Some(phase.to_owned()),
        conditions: Some(conditions),
        host_ip: input.host_ip.map(str::to_owned),
        host_ips: input.host_ip.map(|ip| vec![HostIP { ip: ip.to_owned() }]),
        pod_ip: pod_ips.first().cloned(),
        pod_ips: (!pod_ips.is_empty()).then(|| pod_ips.iter().map(|ip| PodIP { ip: ip.clone() }).collect()),
        start_time: old.start_time.clone().or_else(|| Some(now_time(input.now))),
        init_container_statuses: (!init_statuses.is_empty()).then_some(init_statuses),
        container_statuses: Some(statuses),
        qos_class: old.qos_class.clone(),
        nominated_node_name: old.nominated_node_name.clone(),
        ..Default::default()
    }
}

fn condition(type_: &str, ok: bool, reason: Option<&str>, message: Option<String>) -> PodCondition {
    PodCondition {
        type_: type_.to_owned(),
        status: if ok { "True" } else { "False" }.to_owned(),
        reason: reason.map(str::to_owned),
        message,
        ..Default::default()
    }
}

fn terminated(input: &StatusInput<'_>, v: &ContainerView) -> ContainerState {
    let reason = if !v.reason.is_empty() {
        v.reason.clone()
    } else if v.exit_code == 0 {
        "Completed".to_owned()
    } else {
        "Error".to_owned()
    };
    ContainerState {
        terminated: Some(ContainerStateTerminated {
            exit_code: v.exit_code,
            reason: Some(reason),
            message: (!v.message.is_empty()).then(|| v.message.clone()),
            started_at: v.started_at.and_then(api_time),
            finished_at: v.finished_at.and_then(api_time),
            container_id: Some(container_id(input, v)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn waiting(reason: &str, message: Option<String>) -> ContainerState {
    ContainerState {
        waiting: Some(ContainerStateWaiting { reason: Some(reason.to_owned()), message }),
        ..Default::default()
    }
}

fn container_id(input: &StatusInput<'_>, v: &ContainerView) -> String {
    format!("{}://{}", input.runtime_name, v.id)
}

fn container_status(input: &StatusInput<'_>, spec: &Container, init: bool, initialized: bool) -> ContainerStatus {
    let latest = input.runtime.latest(&spec.name, init);
    let previous = input.runtime.previous(&spec.name, init);
    let wait_reason = input.waiting.get(&spec.name);
    let prev_terminated = || previous.filter(|p| p.is_exited()).map(|p| terminated(input, p));
    let (state, last_state) = match latest {
        None => {
            let state = match wait_reason {
                Some(w) => waiting(&w.reason, Some(w.message.clone()).filter(|m| !m.is_empty())),
                None if init || !initialized => waiting("PodInitializing", None),
                None => waiting("ContainerCreating", None),
            };
            (state, None)
        }
        Some(v) if v.is_running() => (
            ContainerState {
                running: Some(ContainerStateRunning { started_at: v.started_at.and_then(api_time) }),
                ..Default::default()
            },
            prev_terminated(),
        ),
        Some(v) if v.is_exited() => match wait_reason {
            Some(w) => (waiting(&w.reason, Some(w.message.clone())), Some(terminated(input, v))),
            None => (terminated(input, v), prev_terminated()),
        },
        Some(_) => (waiting("ContainerCreating", None), prev_terminated()),
    };
    let running_id = latest.filter(|v| v.is_running()).map(|v| v.id.as_str());
    let started = running_id.is_some_and(|id| input.probes.started.contains(id));
    let ready = running_id.is_some_and(|id| input.probes.ready.contains(id));
    ContainerStatus {
        name: spec.name.clone(),
        image: spec.image.clone().unwrap_or_default(),
        image_id: latest.map(|v| v.image_ref.clone()).unwrap_or_default(),
        container_id: latest.map(|v| container_id(input, v)),
        restart_count: latest.map_or(0, |v| i32::try_from(v.attempt).unwrap_or(i32::MAX)),
        state: Some(state),
        last_state: Some(last_state.unwrap_or_default()),
        ready,
        started: Some(started),
        ..Default::default()
    }
}

/// The pod phase from container statuses (upstream `getPhase`).
pub fn phase(policy: &str, init: &[ContainerStatus], containers: &[ContainerStatus]) -> &'static str {
    let mut pending_init = 0;
    let mut failed_init = 0;
    for s in init {
        match s.state.as_ref().and_then(|st| st.terminated.as_ref()) {
            Some(t) if t.exit_code == 0 => {}
            Some(_) => failed_init += 1,
            None => pending_init += 1,
        }
    }
    if failed_init > 0 && policy == "Never" {
        return FAILED;
    }
    if pending_init + failed_init > 0 {
        return PENDING;
    }
    let (mut running, mut waiting, mut stopped, mut succeeded) = (0, 0, 0, 0);
    for s in containers {
        let st = s.state.clone().unwrap_or_default();
        let last_terminated = s.last_state.as_ref().is_some_and(|l| l.terminated.is_some());
        if st.running.is_some() {
            running += 1;
        } else if let Some(t) = st.terminated {
            stopped += 1;
            if t.exit_code == 0 {
                succeeded += 1;
            }
        } else if last_terminated {
            stopped += 1;
        } else {
            waiting += 1;
        }
    }
    if waiting > 0 {
        PENDING
    } else if running > 0 {
        RUNNING
    } else if stopped > 0 {
        if policy == "Always" {
            RUNNING
        } else if stopped == succeeded {
            SUCCEEDED
        } else if policy == "Never" {
            FAILED
        } else {
            RUNNING
        }
    } else {
        PENDING
    }
}

#[cfg(test)]
mod tests;
