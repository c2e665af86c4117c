//! What the runtime holds for one pod: its sandboxes and containers, read through CRI and
//! found by the labels the kubelet puts on them.

use std::collections::BTreeMap;
use std::time::SystemTime;

use kcri::RuntimeService;
use kcri::types::{
    ContainerFilter, ContainerState, NamespaceMode, PodSandboxFilter, PodSandboxState, RESTART_COUNT_ANNOTATION,
};

/// Label holding the pod's name, on sandboxes and containers.
pub const POD_NAME_LABEL: &str = "io.kubernetes.pod.name";
/// Label holding the pod's namespace, on sandboxes and containers.
pub const POD_NAMESPACE_LABEL: &str = "io.kubernetes.pod.namespace";
/// Label holding the pod's UID, on sandboxes and containers.
pub const POD_UID_LABEL: &str = "io.kubernetes.pod.uid";
/// Label holding the container's name in the pod spec.
pub const CONTAINER_NAME_LABEL: &str = "io.kubernetes.container.name";
/// Annotation holding the hash of the container's spec; a change restarts the container.
pub const CONTAINER_HASH_ANNOTATION: &str = "io.kubernetes.container.hash";
/// Annotation holding the restart count (re-exported from `kcri`).
pub const CONTAINER_RESTART_COUNT_ANNOTATION: &str = RESTART_COUNT_ANNOTATION;
/// Annotation holding the termination message path.
pub const TERMINATION_MESSAGE_PATH_ANNOTATION: &str = "io.kubernetes.container.terminationMessagePath";
/// Annotation holding the termination message policy.
pub const TERMINATION_MESSAGE_POLICY_ANNOTATION: &str = "io.kubernetes.container.terminationMessagePolicy";
/// Annotation holding the pod's termination grace period in seconds.
pub const TERMINATION_GRACE_ANNOTATION: &str = "io.kubernetes.pod.terminationGracePeriod";
/// Label marking an init container (`"true"`); knode's own, to tell them apart on listing.
pub const INIT_CONTAINER_LABEL: &str = "io.kubernetes.container.init";

/// One sandbox of a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxView {
    /// Runtime id.
    pub id: String,
    /// Attempt (0 for the first sandbox of the pod).
    pub attempt: u32,
    /// Whether it is ready (running).
    pub ready: bool,
    /// Creation time.
    pub created_at: SystemTime,
    /// Its IP, if it has one (none on the host network).
    pub ip: Option<String>,
    /// Further IPs (dual stack).
    pub additional_ips: Vec<String>,
    /// Whether it uses the node's network namespace.
    pub host_network: bool,
}

impl SandboxView {
    /// A ready sandbox with id `id` and attempt `attempt` (for tests and builders).
    pub fn new(id: impl Into<String>, attempt: u32, ready: bool) -> Self {
        Self {
            id: id.into(),
            attempt,
            ready,
            created_at: SystemTime::UNIX_EPOCH,
            ip: None,
            additional_ips: Vec::new(),
            host_network: false,
        }
    }
}

/// One container of a pod, current or dead.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ContainerView {
    /// Runtime id.
    pub id: String,
    /// Sandbox it belongs to.
    pub sandbox_id: String,
    /// Name in the pod spec.
    pub name: String,
    /// Attempt (its restart count).
    pub attempt: u32,
    /// CRI state.
    pub state: ContainerState,
    /// Exit code once exited.
    pub exit_code: i32,
    /// The runtime's reason for the exit (e.g. `OOMKilled`), may be empty.
    pub reason: String,
    /// The runtime's message, may be empty.
    pub message: String,
    /// Creation time.
    pub created_at: SystemTime,
    /// Start time.
    pub started_at: Option<SystemTime>,
    /// Exit time.
    pub finished_at: Option<SystemTime>,
    /// Image as requested.
    pub image: String,
    /// Image id the runtime resolved.
    pub image_ref: String,
    /// Spec hash annotation.
    pub hash: Option<String>,
    /// Whether it is an init container.
    pub init: bool,
}

impl ContainerView {
    /// A container view (for tests and builders); other fields take neutral values.
    pub fn new(id: impl Into<String>, name: impl Into<String>, attempt: u32, state: ContainerState) -> Self {
        Self {
            id: id.into(),
            sandbox_id: String::new(),
            name: name.into(),
            attempt,
            state,
            exit_code: 0,
            reason: String::new(),
            message: String::new(),
            created_at: SystemTime::UNIX_EPOCH,
            started_at: None,
            finished_at: None,
            image: String::new(),
            image_ref: String::new(),
            hash: None,
            init: false,
        }
    }

    /// This view, exited with `code`.
    #[must_use]
    pub fn exited(mut self, code: i32) -> Self {
        self.state = ContainerState::Exited;
        self.exit_code = code;
        self
    }

    /// Whether it is running.
    pub fn is_running(&self) -> bool {
        self.state == ContainerState::Running
    }

    /// Whether it exited (or is in a state it will never leave by itself).
    pub fn is_exited(&self) -> bool {
        matches!(self.state, ContainerState::Exited | ContainerState::Unknown)
    }
}

/// Everything the runtime has for one pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct PodRuntime {
    /// Sandboxes, newest first.
    pub sandboxes: Vec<SandboxView>,
    /// Containers of every sandbox, newest first.
    pub containers: Vec<ContainerView>,
}

impl PodRuntime {
    /// Sandboxes and containers, sorted newest first.
    pub fn new(mut sandboxes: Vec<SandboxView>, mut containers: Vec<ContainerView>) -> Self {
        sandboxes.sort_by(|a, b| b.attempt.cmp(&a.attempt).then(b.created_at.cmp(&a.created_at)));
        containers.sort_by(|a, b| b.attempt.cmp(&a.attempt).then(b.created_at.cmp(&a.created_at)));
        Self { sandboxes, containers }
    }

    /// The newest sandbox.
    pub fn sandbox(&self) -> Option<&SandboxView> {
        self.sandboxes.first()
    }

    /// The newest container named `name` (init or regular, per `init`).
    pub fn latest(&self, name: &str, init: bool) -> Option<&ContainerView> {
        self.containers.iter().find(|c| c.name == name && c.init == init)
    }

    /// The container before the newest one named `name`.
    pub fn previous(&self, name: &str, init: bool) -> Option<&ContainerView> {
        self.containers.iter().filter(|c| c.name == name && c.init == init).nth(1)
    }

    /// Running containers.
    pub fn running(&self) -> impl Iterator<Item = &ContainerView> {
        self.containers.iter().filter(|c| c.is_running())
    }

    /// Whether nothing is left in the runtime.
    pub fn is_empty(&self) -> bool {
        self.sandboxes.is_empty() && self.containers.is_empty()
    }
}

/// Reads the sandboxes and containers labelled with pod `uid`.
///
/// # Errors
///
/// A CRI call failed.
pub(crate) async fn fetch(runtime: &dyn RuntimeService, uid: &str) -> kcri::Result<PodRuntime> {
    let selector: BTreeMap<String, String> = [(POD_UID_LABEL.to_owned(), uid.to_owned())].into();
    let listed = runtime.list_pod_sandbox(PodSandboxFilter { label_selector: selector.clone(), ..Default::default() });
    let mut sandboxes = Vec::new();
    for s in listed.await? {
        let mut view = SandboxView::new(s.id.clone(), s.metadata.attempt, s.state == PodSandboxState::Ready);
        view.created_at = s.created_at;
        match runtime.pod_sandbox_status(s.id.clone(), false).await {
            Ok(st) => {
                view.ip = st.status.ip().map(str::to_owned);
                view.additional_ips = st.status.network.map(|n| n.additional_ips).unwrap_or_default();
                view.host_network = st.status.namespace_options.is_some_and(|n| n.network == NamespaceMode::Node);
            }
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        }
        sandboxes.push(view);
    }
    let listed = runtime.list_containers(ContainerFilter { label_selector: selector, ..Default::default() }).await?;
    let mut containers = Vec::new();
    for c in listed {
        let st = match runtime.container_status(c.id.clone(), false).await {
            Ok(st) => st.status,
            Err(e) if e.is_not_found() => continue,
            Err(e) => return Err(e),
        };
        let name = c.labels.get(CONTAINER_NAME_LABEL).cloned().unwrap_or_else(|| st.metadata.name.clone());
        containers.push(ContainerView {
            id: st.id,
            sandbox_id: c.pod_sandbox_id,
            name,
            attempt: st.metadata.attempt,
            state: st.state,
            exit_code: st.exit_code,
            reason: st.reason,
            message: st.message,
            created_at: st.created_at,
            started_at: st.started_at,
            finished_at: st.finished_at,
            image: st.image.image,
            image_ref: st.image_ref,
            hash: st.annotations.get(CONTAINER_HASH_ANNOTATION).cloned(),
            init: c.labels.get(INIT_CONTAINER_LABEL).is_some_and(|v| v == "true"),
        });
    }
    Ok(PodRuntime::new(sandboxes, containers))
}
