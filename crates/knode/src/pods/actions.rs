//! What one sync of a pod must do (upstream `computePodActions`), as a pure function of the
//! pod's spec, what the runtime has, and which containers failed their probes.
//!
//! ```
//! use std::collections::BTreeMap;
//! use kapi::k8s::api::core::v1::{Container, PodSpec};
//! use knode::pods::actions::compute_pod_actions;
//! use knode::pods::runtime::PodRuntime;
//!
//! let spec = PodSpec { containers: vec![Container { name: "app".into(), ..Default::default() }], ..Default::default() };
//! let actions = compute_pod_actions(&spec, &PodRuntime::default(), &BTreeMap::new());
//! assert_eq!(actions.create_sandbox, Some(0));
//! assert_eq!(actions.start, ["app"]);
//! ```

use std::collections::{BTreeMap, BTreeSet};

use kapi::k8s::api::core::v1::{Container, PodSpec};

use super::runtime::{ContainerView, PodRuntime};

/// A container to stop, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KillContainer {
    /// Runtime id.
    pub id: String,
    /// Name in the spec.
    pub name: String,
    /// Why (logged and recorded).
    pub reason: String,
}

/// The result of [`compute_pod_actions`], applied by the pod worker in field order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PodActions {
    /// Stop every running container and the sandbox (sandbox changed, or the pod is done).
    pub kill_pod: bool,
    /// Create a sandbox with this attempt number.
    pub create_sandbox: Option<u32>,
    /// Containers to stop before starting anything.
    pub kill: Vec<KillContainer>,
    /// The next init container to start.
    pub start_init: Option<String>,
    /// Regular containers to start (subject to restart back-off).
    pub start: Vec<String>,
    /// Dead containers no longer needed for status (older than the last two attempts).
    pub remove_containers: Vec<String>,
    /// Stopped sandboxes no longer needed.
    pub remove_sandboxes: Vec<String>,
    /// The pod has reached a terminal state: nothing will run again.
    pub terminal: bool,
}

impl PodActions {
    /// Whether the sync has nothing to change in the runtime.
    pub fn is_noop(&self) -> bool {
        !self.kill_pod
            && self.create_sandbox.is_none()
            && self.kill.is_empty()
            && self.start_init.is_none()
            && self.start.is_empty()
            && self.remove_containers.is_empty()
            && self.remove_sandboxes.is_empty()
    }
}

/// The pod's restart policy (`Always` when unset, as API defaulting does).
pub fn restart_policy(spec: &PodSpec) -> &str {
    spec.restart_policy.as_deref().unwrap_or("Always")
}

/// Whether a container that exited with `exit_code` is restarted under `policy`.
pub fn should_restart(policy: &str, exit_code: i32) -> bool {
    match policy {
        "Never" => false,
        "OnFailure" => exit_code != 0,
        _ => true,
    }
}

/// A stable hash of a container's spec, stored on the runtime container; when the spec
/// changes (e.g. a new image), the container is restarted.
pub fn container_hash(container: &Container) -> String {
    // FNV-1a 64 over the JSON form: stable across processes, unlike `DefaultHasher`.
    let bytes = serde_json::to_vec(container).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Computes the actions of one sync. `unhealthy` maps container ids whose liveness or
/// startup probe failed to the message to record.
pub fn compute_pod_actions(spec: &PodSpec, runtime: &PodRuntime, unhealthy: &BTreeMap<String, String>) -> PodActions {
    let policy = restart_policy(spec);
    let mut actions = PodActions::default();
    let anything_running =
        runtime.sandboxes.iter().any(|s| s.ready) || runtime.containers.iter().any(|c| !c.is_exited());
    let host_network = spec.host_network.unwrap_or(false);
    let sandbox = runtime.sandbox();
    let ready_sandboxes = runtime.sandboxes.iter().filter(|s| s.ready).count();
    let sandbox_changed = match sandbox {
        None => true,
        Some(s) => !s.ready || ready_sandboxes > 1 || s.host_network != host_network,
    };
    gc(spec, runtime, &mut actions);

    if sandbox_changed {
        let attempt = sandbox.map_or(0, |s| s.attempt + 1);
        let ran_before = attempt != 0 && !runtime.containers.is_empty();
        if policy == "Never" && ran_before {
            // The pod ran once and may not restart: it is done.
            actions.kill_pod = anything_running;
            actions.terminal = true;
            return actions;
        }
        let start: Vec<String> = spec
            .containers
            .iter()
            .filter(|c| {
                !(policy == "OnFailure"
                    && runtime.latest(&c.name, false).is_some_and(|v| v.is_exited() && v.exit_code == 0))
            })
            .map(|c| c.name.clone())
            .collect();
        if start.is_empty() && ran_before {
            actions.kill_pod = anything_running;
            actions.terminal = true;
            return actions;
        }
        actions.kill_pod = anything_running;
        actions.create_sandbox = Some(attempt);
        match spec.init_containers.as_deref().and_then(<[Container]>::first) {
            Some(first) => actions.start_init = Some(first.name.clone()),
            None => actions.start = start,
        }
        return actions;
    }

    // Init containers, one at a time, in order.
    for ic in spec.init_containers.iter().flatten() {
        match runtime.latest(&ic.name, true) {
            None => {
                actions.start_init = Some(ic.name.clone());
                return actions;
            }
            Some(c) if !c.is_exited() => return actions,
            Some(c) if c.exit_code == 0 => continue,
            Some(_) if policy == "Never" => {
                actions.kill_pod = anything_running;
                actions.terminal = true;
                return actions;
            }
            Some(_) => {
                actions.start_init = Some(ic.name.clone());
                return actions;
            }
        }
    }

    // Regular containers.
    let mut live = false;
    for c in &spec.containers {
        match runtime.latest(&c.name, false) {
            None => actions.start.push(c.name.clone()),
            Some(v) if v.is_running() => {
                live = true;
                if let Some(message) = unhealthy.get(&v.id) {
                    actions.kill.push(kill(v, message.clone()));
                    if policy != "Never" {
                        actions.start.push(c.name.clone());
                    }
                } else if v.hash.as_ref().is_some_and(|h| *h != container_hash(c)) {
                    actions.kill.push(kill(v, "container spec changed, will be restarted".into()));
                    actions.start.push(c.name.clone());
                }
            }
            Some(v) if v.is_exited() => {
                if should_restart(policy, v.exit_code) {
                    actions.start.push(c.name.clone());
                }
            }
            // Created but not started: a start in flight elsewhere; the next sync sees it.
            Some(_) => live = true,
        }
    }
    if !live && actions.start.is_empty() && policy != "Always" && !spec.containers.is_empty() {
        actions.kill_pod = anything_running;
        actions.terminal = true;
    }
    actions
}

fn kill(v: &ContainerView, reason: String) -> KillContainer {
    KillContainer { id: v.id.clone(), name: v.name.clone(), reason }
}

/// Dead containers older than the two newest of their name, and stopped sandboxes that no
/// longer hold a container that status needs.
fn gc(spec: &PodSpec, runtime: &PodRuntime, actions: &mut PodActions) {
    // The newest container of each name, and the one before it (its `lastState`), stay.
    let mut seen: BTreeMap<(&str, bool), usize> = BTreeMap::new();
    let mut keep_sandboxes: BTreeSet<&str> = runtime.sandbox().map(|s| s.id.as_str()).into_iter().collect();
    let known: BTreeSet<&str> =
        spec.containers.iter().chain(spec.init_containers.iter().flatten()).map(|c| c.name.as_str()).collect();
    for c in &runtime.containers {
        let n = seen.entry((c.name.as_str(), c.init)).or_default();
        *n += 1;
        if *n <= 2 && known.contains(c.name.as_str()) {
            keep_sandboxes.insert(c.sandbox_id.as_str());
        } else if c.is_exited() {
            actions.remove_containers.push(c.id.clone());
        }
    }
    for s in &runtime.sandboxes {
        if !s.ready && !keep_sandboxes.contains(s.id.as_str()) {
            actions.remove_sandboxes.push(s.id.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use kcri::types::ContainerState;

    use super::*;
    use crate::pods::runtime::SandboxView;

    fn spec(policy: &str, init: &[&str], containers: &[&str]) -> PodSpec {
        let mk = |n: &&str| Container { name: (*n).into(), image: Some("img".into()), ..Default::default() };
        PodSpec {
            restart_policy: Some(policy.into()),
            init_containers: (!init.is_empty()).then(|| init.iter().map(mk).collect()),
            containers: containers.iter().map(mk).collect(),
            ..Default::default()
        }
    }

    fn sandbox(ready: bool) -> SandboxView {
        let mut s = SandboxView::new("sb", 0, ready);
        s.ip = Some("10.0.0.2".into());
        s
    }

    fn ctr(id: &str, name: &str, attempt: u32, state: ContainerState) -> ContainerView {
        let mut c = ContainerView::new(id, name, attempt, state);
        c.sandbox_id = "sb".into();
        c
    }

    fn init(mut c: ContainerView) -> ContainerView {
        c.init = true;
        c
    }

    fn none() -> BTreeMap<String, String> {
        BTreeMap::new()
    }

    #[test]
    fn new_pod_creates_sandbox_and_starts_all() {
        let a = compute_pod_actions(&spec("Always", &[], &["a", "b"]), &PodRuntime::default(), &none());
        assert_eq!(a.create_sandbox, Some(0));
        assert!(!a.kill_pod);
        assert_eq!(a.start, ["a", "b"]);
    }

    #[test]
    fn new_pod_with_init_starts_first_init_only() {
        let a = compute_pod_actions(&spec("Always", &["i1", "i2"], &["a"]), &PodRuntime::default(), &none());
        assert_eq!((a.create_sandbox, a.start_init.as_deref()), (Some(0), Some("i1")));
        assert!(a.start.is_empty());
    }

    #[test]
    fn init_containers_run_in_order() {
        let s = spec("Always", &["i1", "i2"], &["a"]);
        let rt = PodRuntime::new(vec![sandbox(true)], vec![init(ctr("1", "i1", 0, ContainerState::Running))]);
        assert!(compute_pod_actions(&s, &rt, &none()).is_noop(), "wait for the running init container");
        let rt = PodRuntime::new(vec![sandbox(true)], vec![init(ctr("1", "i1", 0, ContainerState::Exited))]);
        assert_eq!(compute_pod_actions(&s, &rt, &none()).start_init.as_deref(), Some("i2"));
        let rt = PodRuntime::new(
            vec![sandbox(true)],
            vec![init(ctr("1", "i1", 0, ContainerState::Exited)), init(ctr("2", "i2", 0, ContainerState::Exited))],
        );
        assert_eq!(compute_pod_actions(&s, &rt, &none()).start, ["a"]);
    }

    #[test]
    fn failed_init_restarts_or_fails_the_pod() {
        let rt = PodRuntime::new(vec![sandbox(true)], vec![init(ctr("1", "i1", 0, ContainerState::Exited).exited(1))]);
        let a = compute_pod_actions(&spec("OnFailure", &["i1"], &["a"]), &rt, &none());
        assert_eq!(a.start_init.as_deref(), Some("i1"));
        let a = compute_pod_actions(&spec("Never", &["i1"], &["a"]), &rt, &none());
        assert!(a.terminal && a.kill_pod && a.start.is_empty());
    }

    #[test]
    fn restart_policies() {
        let rt =
            |code| PodRuntime::new(vec![sandbox(true)], vec![ctr("1", "a", 0, ContainerState::Exited).exited(code)]);
        assert_eq!(compute_pod_actions(&spec("Always", &[], &["a"]), &rt(0), &none()).start, ["a"]);
        assert_eq!(compute_pod_actions(&spec("OnFailure", &[], &["a"]), &rt(1), &none()).start, ["a"]);
        let done = compute_pod_actions(&spec("OnFailure", &[], &["a"]), &rt(0), &none());
        assert!(done.start.is_empty() && done.terminal && done.kill_pod);
        let failed = compute_pod_actions(&spec("Never", &[], &["a"]), &rt(1), &none());
        assert!(failed.start.is_empty() && failed.terminal);
    }

    #[test]
    fn sandbox_gone_kills_and_recreates() {
        let mut old = sandbox(false);
        old.attempt = 2;
        let rt = PodRuntime::new(vec![old], vec![ctr("1", "a", 3, ContainerState::Running)]);
        let a = compute_pod_actions(&spec("Always", &[], &["a"]), &rt, &none());
        assert!(a.kill_pod);
        assert_eq!(a.create_sandbox, Some(3));
        assert_eq!(a.start, ["a"]);
    }

    #[test]
    fn completed_pods_do_not_get_a_new_sandbox() {
        let rt = PodRuntime::new(vec![sandbox(false)], vec![ctr("1", "a", 0, ContainerState::Exited)]);
        let a = compute_pod_actions(&spec("Never", &[], &["a"]), &rt, &none());
        assert_eq!((a.create_sandbox, a.kill_pod, a.terminal), (None, false, true));
        let a = compute_pod_actions(&spec("OnFailure", &[], &["a"]), &rt, &none());
        assert_eq!((a.create_sandbox, a.terminal), (None, true));
    }

    #[test]
    fn liveness_failure_kills_and_restarts() {
        let rt = PodRuntime::new(vec![sandbox(true)], vec![ctr("c1", "a", 0, ContainerState::Running)]);
        let unhealthy: BTreeMap<String, String> = [("c1".to_owned(), "liveness probe failed".to_owned())].into();
        let a = compute_pod_actions(&spec("Always", &[], &["a"]), &rt, &unhealthy);
        assert_eq!(a.kill.len(), 1);
        assert_eq!(a.kill[0].id, "c1");
        assert_eq!(a.start, ["a"]);
        let a = compute_pod_actions(&spec("Never", &[], &["a"]), &rt, &unhealthy);
        assert_eq!((a.kill.len(), a.start.len()), (1, 0));
    }

    #[test]
    fn spec_change_restarts() {
        let s = spec("Always", &[], &["a"]);
        let mut c = ctr("c1", "a", 0, ContainerState::Running);
        c.hash = Some(container_hash(&s.containers[0]));
        let rt = PodRuntime::new(vec![sandbox(true)], vec![c.clone()]);
        assert!(compute_pod_actions(&s, &rt, &none()).is_noop());
        c.hash = Some("other".into());
        let rt = PodRuntime::new(vec![sandbox(true)], vec![c]);
        assert_eq!(compute_pod_actions(&s, &rt, &none()).kill.len(), 1);
    }

    #[test]
    fn old_dead_containers_are_collected() {
        let rt = PodRuntime::new(
            vec![sandbox(true)],
            vec![
                ctr("c2", "a", 2, ContainerState::Running),
                ctr("c1", "a", 1, ContainerState::Exited),
                ctr("c0", "a", 0, ContainerState::Exited),
                ctr("x0", "gone", 0, ContainerState::Exited),
            ],
        );
        let a = compute_pod_actions(&spec("Always", &[], &["a"]), &rt, &none());
        assert_eq!(a.remove_containers, ["c0", "x0"]);
    }
}
