//! The fake runtime's in-memory state and its synchronous transitions.
//!
//! Everything here runs under one mutex and never awaits; the async layer in
//! `runtime.rs` adds latency, timers and log files around it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::Behaviour;
use crate::error::{Error, Result};
use crate::types::{
    Container, ContainerConfig, ContainerEvent, ContainerEventType, ContainerState, ContainerStatus, ExecSyncResponse,
    Image, LinuxContainerResources, NamespaceMode, PodSandbox, PodSandboxConfig, PodSandboxFilter, PodSandboxNetwork,
    PodSandboxState, PodSandboxStatus,
};

/// An IPv4 range pods get addresses from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Cidr {
    base: u32,
    prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/len` (len 8..=30, so there is room for pods).
    pub(super) fn parse(text: &str) -> Result<Self> {
        let bad = || Error::InvalidArgument(format!("pod CIDR must be IPv4 a.b.c.d/8..30, got {text:?}"));
        let (addr, len) = text.split_once('/').ok_or_else(bad)?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad())?;
        let prefix: u8 = len.parse().map_err(|_| bad())?;
        if !(8..=30).contains(&prefix) {
            return Err(bad());
        }
        let mask = u32::MAX << (32 - prefix);
        Ok(Self { base: u32::from(addr) & mask, prefix })
    }

    /// Host offsets usable for pods: skips the network address, `.1` (the gateway) and the
    /// broadcast address.
    fn offsets(self) -> std::ops::Range<u32> {
        2..(1u32 << (32 - self.prefix)) - 1
    }
}

/// One sandbox.
#[derive(Debug, Clone)]
pub(super) struct SandboxRec {
    pub(super) status: PodSandboxStatus,
    pub(super) log_directory: String,
    ip_offset: Option<u32>,
}

/// One container.
#[derive(Debug, Clone)]
pub(super) struct ContainerRec {
    pub(super) pod_sandbox_id: String,
    pub(super) status: ContainerStatus,
    pub(super) behaviour: Behaviour,
    /// Bumped on each start so a stale exit timer does not act on a later run.
    pub(super) run: u64,
}

impl ContainerRec {
    pub(super) fn listing(&self) -> Container {
        let s = &self.status;
        Container {
            id: s.id.clone(),
            pod_sandbox_id: self.pod_sandbox_id.clone(),
            metadata: s.metadata.clone(),
            image: s.image.clone(),
            image_ref: s.image_ref.clone(),
            image_id: s.image_id.clone(),
            state: s.state,
            created_at: s.created_at,
            labels: s.labels.clone(),
            annotations: s.annotations.clone(),
        }
    }
}

/// Everything the fake runtime knows.
#[derive(Debug)]
pub(super) struct State {
    cidr: Cidr,
    used_ips: BTreeSet<u32>,
    next_id: u64,
    pub(super) sandboxes: BTreeMap<String, SandboxRec>,
    pub(super) containers: BTreeMap<String, ContainerRec>,
    /// Images by id.
    pub(super) images: BTreeMap<String, Image>,
    /// Exact commands and what `ExecSync` answers for them.
    pub(super) exec_results: Vec<(Vec<String>, ExecSyncResponse)>,
    pub(super) network_ready: bool,
    pub(super) pod_cidr: String,
    pub(super) calls: Vec<&'static str>,
}

impl State {
    pub(super) fn new(cidr: Cidr) -> Self {
        Self {
            cidr,
            used_ips: BTreeSet::new(),
            next_id: 1,
            sandboxes: BTreeMap::new(),
            containers: BTreeMap::new(),
            images: BTreeMap::new(),
            exec_results: Vec::new(),
            network_ready: true,
            pod_cidr: String::new(),
            calls: Vec::new(),
        }
    }

    /// A new 64-hex-digit id, shaped like containerd's. SplitMix64 of a counter: distinct
    /// for distinct counters, and not sequential-looking so prefix filters are exercised.
    pub(super) fn new_id(&mut self) -> String {
        let n = self.next_id;
        self.next_id += 1;
        let mix = |mut z: u64| {
            z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        format!("{:016x}{:016x}{:016x}{:016x}", mix(n), mix(n ^ 1), mix(n ^ 2), mix(n ^ 3))
    }

    fn allocate_ip(&mut self) -> Result<u32> {
        let offset = self
            .cidr
            .offsets()
            .find(|o| !self.used_ips.contains(o))
            .ok_or_else(|| Error::Runtime { code: 8, message: "pod CIDR exhausted".into() })?;
        self.used_ips.insert(offset);
        Ok(offset)
    }

    pub(super) fn run_sandbox(&mut self, config: PodSandboxConfig, runtime_handler: String) -> Result<String> {
        let host_network = config.linux.as_ref().is_some_and(|l| l.network_mode() == NamespaceMode::Node);
        // Kubelet retries RunPodSandbox with the same attempt only after removing the old one.
        let duplicate = self.sandboxes.values().any(|s| s.status.metadata == config.metadata);
        if duplicate {
            return Err(Error::already_exists(format!(
                "sandbox for pod {}/{} attempt {} already exists",
                config.metadata.namespace, config.metadata.name, config.metadata.attempt
            )));
        }
        let ip_offset = if host_network { None } else { Some(self.allocate_ip()?) };
        let ip = ip_offset.map(|o| Ipv4Addr::from(self.cidr.base + o).to_string()).unwrap_or_default();
        let id = self.new_id();
        let status = PodSandboxStatus {
            id: id.clone(),
            metadata: config.metadata,
            state: PodSandboxState::Ready,
            created_at: SystemTime::now(),
            network: Some(PodSandboxNetwork { ip, additional_ips: Vec::new() }),
            namespace_options: config
                .linux
                .and_then(|l| l.security_context)
                .and_then(|s| s.namespace_options)
                .or(Some(Default::default())),
            labels: config.labels,
            annotations: config.annotations,
            runtime_handler,
        };
        self.sandboxes.insert(id.clone(), SandboxRec { status, log_directory: config.log_directory, ip_offset });
        Ok(id)
    }

    /// Stops the sandbox's running containers and marks it not ready; events for the
    /// stopped containers are returned.
    pub(super) fn stop_sandbox(&mut self, id: &str) -> Vec<ContainerEvent> {
        let Some(sandbox) = self.sandboxes.get_mut(id) else { return Vec::new() };
        sandbox.status.state = PodSandboxState::NotReady;
        let ids: Vec<String> =
            self.containers.iter().filter(|(_, c)| c.pod_sandbox_id == id).map(|(k, _)| k.clone()).collect();
        ids.iter().filter_map(|cid| self.stop_container(cid)).collect()
    }

    /// Stops and removes the sandbox and its containers, releasing its IP.
    pub(super) fn remove_sandbox(&mut self, id: &str) -> Vec<ContainerEvent> {
        let mut events = self.stop_sandbox(id);
        let ids: Vec<String> =
            self.containers.iter().filter(|(_, c)| c.pod_sandbox_id == id).map(|(k, _)| k.clone()).collect();
        events.extend(ids.iter().filter_map(|cid| self.remove_container(cid)));
        if let Some(sandbox) = self.sandboxes.remove(id)
            && let Some(offset) = sandbox.ip_offset
        {
            self.used_ips.remove(&offset);
        }
        events
    }

    /// The image a reference (tag or id) names.
    pub(super) fn find_image(&self, reference: &str) -> Option<&Image> {
        self.images.get(reference).or_else(|| self.images.values().find(|i| i.repo_tags.iter().any(|t| t == reference)))
    }

    pub(super) fn create_container(
        &mut self,
        pod_sandbox_id: &str,
        config: ContainerConfig,
        behaviour: Behaviour,
    ) -> Result<(String, ContainerEvent)> {
        let sandbox = self
            .sandboxes
            .get(pod_sandbox_id)
            .ok_or_else(|| Error::NotFound(format!("pod sandbox {pod_sandbox_id} not found")))?;
        if sandbox.status.state != PodSandboxState::Ready {
            return Err(Error::failed_precondition(format!("pod sandbox {pod_sandbox_id} is not ready")));
        }
        let log_path = log_path(&sandbox.log_directory, &config.log_path);
        let image = self
            .find_image(&config.image.image)
            .ok_or_else(|| Error::NotFound(format!("image {:?} not found: pull it first", config.image.image)))?
            .clone();
        let taken = self
            .containers
            .values()
            .any(|c| c.pod_sandbox_id == pod_sandbox_id && c.status.metadata == config.metadata);
        if taken {
            return Err(Error::already_exists(format!(
                "container {:?} attempt {} already exists in sandbox {pod_sandbox_id}",
                config.metadata.name, config.metadata.attempt
            )));
        }
        let id = self.new_id();
        let status = ContainerStatus {
            id: id.clone(),
            metadata: config.metadata,
            state: ContainerState::Created,
            created_at: SystemTime::now(),
            started_at: None,
            finished_at: None,
            exit_code: 0,
            image: config.image,
            image_ref: image.id.clone(),
            image_id: image.id,
            reason: String::new(),
            message: String::new(),
            labels: config.labels,
            annotations: config.annotations,
            mounts: config.mounts,
            log_path: log_path.map(|p| p.display().to_string()).unwrap_or_default(),
            resources: config.linux.and_then(|l| l.resources),
        };
        let rec = ContainerRec { pod_sandbox_id: pod_sandbox_id.to_owned(), status, behaviour, run: 0 };
        self.containers.insert(id.clone(), rec);
        let event = self.event(&id, ContainerEventType::Created);
        Ok((id.clone(), event))
    }

    /// Moves a created container to running; returns its run number.
    pub(super) fn start_container(&mut self, id: &str) -> Result<(u64, ContainerEvent)> {
        let c = self.containers.get_mut(id).ok_or_else(|| Error::NotFound(format!("container {id} not found")))?;
        if c.status.state != ContainerState::Created {
            return Err(Error::failed_precondition(format!("container {id} is {:?}, not created", c.status.state)));
        }
        if let Some(message) = c.behaviour.start_error.clone() {
            c.status.state = ContainerState::Exited;
            c.status.exit_code = 128;
            c.status.reason = "StartError".into();
            c.status.message.clone_from(&message);
            c.status.finished_at = Some(SystemTime::now());
            return Err(Error::Runtime { code: 2, message });
        }
        c.run += 1;
        c.status.state = ContainerState::Running;
        c.status.started_at = Some(SystemTime::now());
        let run = c.run;
        Ok((run, self.event(id, ContainerEventType::Started)))
    }

    /// Marks a running container exited with `exit_code`, if it still is on run `run`
    /// (`None` = whatever run). Returns the stop event if it changed.
    pub(super) fn exit_container(&mut self, id: &str, exit_code: i32, run: Option<u64>) -> Option<ContainerEvent> {
        let c = self.containers.get_mut(id)?;
        if c.status.state != ContainerState::Running || run.is_some_and(|r| r != c.run) {
            return None;
        }
        c.status.state = ContainerState::Exited;
        c.status.exit_code = exit_code;
        c.status.finished_at = Some(SystemTime::now());
        c.status.reason = if exit_code == 0 { "Completed" } else { "Error" }.into();
        Some(self.event(id, ContainerEventType::Stopped))
    }

    /// `StopContainer`: only a running container changes (as in containerd).
    pub(super) fn stop_container(&mut self, id: &str) -> Option<ContainerEvent> {
        let code = self.containers.get(id)?.behaviour.stop_exit_code;
        self.exit_container(id, code, None)
    }

    /// Removes a container (stopping it first); returns the delete event if it existed.
    pub(super) fn remove_container(&mut self, id: &str) -> Option<ContainerEvent> {
        self.stop_container(id);
        let event = self.containers.contains_key(id).then(|| self.event(id, ContainerEventType::Deleted));
        self.containers.remove(id);
        event
    }

    pub(super) fn update_resources(&mut self, id: &str, resources: LinuxContainerResources) -> Result<()> {
        let c = self.containers.get_mut(id).ok_or_else(|| Error::NotFound(format!("container {id} not found")))?;
        c.status.resources = Some(resources);
        Ok(())
    }

    /// The sandboxes `filter` selects (filtered before copying).
    pub(super) fn sandbox_listing(&self, filter: &PodSandboxFilter) -> Vec<PodSandbox> {
        self.sandboxes
            .values()
            .filter(|s| filter.matches_fields(&s.status.id, s.status.state, &s.status.labels))
            .map(|s| PodSandbox {
                id: s.status.id.clone(),
                metadata: s.status.metadata.clone(),
                state: s.status.state,
                created_at: s.status.created_at,
                labels: s.status.labels.clone(),
                annotations: s.status.annotations.clone(),
                runtime_handler: s.status.runtime_handler.clone(),
            })
            .collect()
    }

    pub(super) fn container(&self, id: &str) -> Result<&ContainerRec> {
        self.containers.get(id).ok_or_else(|| Error::NotFound(format!("container {id} not found")))
    }

    pub(super) fn sandbox(&self, id: &str) -> Result<&SandboxRec> {
        self.sandboxes.get(id).ok_or_else(|| Error::NotFound(format!("pod sandbox {id} not found")))
    }

    /// Statuses of a sandbox's containers, for events.
    fn statuses_in(&self, pod_sandbox_id: &str) -> Vec<ContainerStatus> {
        self.containers.values().filter(|c| c.pod_sandbox_id == pod_sandbox_id).map(|c| c.status.clone()).collect()
    }

    /// An event about container `id` with its sandbox's current state, as evented PLEG
    /// expects.
    fn event(&self, id: &str, event_type: ContainerEventType) -> ContainerEvent {
        let sandbox_id = self.containers.get(id).map(|c| c.pod_sandbox_id.clone()).unwrap_or_default();
        ContainerEvent {
            container_id: id.to_owned(),
            event_type,
            created_at: SystemTime::now(),
            pod_sandbox_status: self.sandboxes.get(&sandbox_id).map(|s| s.status.clone()),
            containers_statuses: self.statuses_in(&sandbox_id),
        }
    }
}

/// The absolute log path: `log_path` under the sandbox's `log_directory`, as kubelet lays
/// them out (`/var/log/pods/<ns>_<pod>_<uid>/<container>/<attempt>.log`).
fn log_path(log_directory: &str, log_path: &str) -> Option<PathBuf> {
    match (log_directory, log_path) {
        (_, "") => None,
        ("", p) => Some(PathBuf::from(p)),
        (d, p) => Some(Path::new(d).join(p)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_allocation_skips_network_and_gateway() {
        let mut s = State::new(Cidr::parse("10.88.0.0/30").expect("valid"));
        assert_eq!(s.allocate_ip().ok(), Some(2));
        assert!(s.allocate_ip().is_err(), "a /30 has one pod address");
        assert!(Cidr::parse("10.88.0.0").is_err());
        assert!(Cidr::parse("10.88.0.0/31").is_err());
        assert!(Cidr::parse("fd00::/64").is_err());
    }

    #[test]
    fn ids_are_distinct_and_shaped_like_containerd() {
        let mut s = State::new(Cidr::parse("10.88.0.0/16").expect("valid"));
        let (a, b) = (s.new_id(), s.new_id());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn log_paths() {
        assert_eq!(log_path("/var/log/pods/x", "c/0.log"), Some(PathBuf::from("/var/log/pods/x/c/0.log")));
        assert_eq!(log_path("", "/tmp/a.log"), Some(PathBuf::from("/tmp/a.log")));
        assert_eq!(log_path("/d", ""), None);
    }
}
