//! [`FakeRuntime`]: an in-memory CRI runtime for tests.
//!
//! It implements [`RuntimeService`](crate::RuntimeService) and
//! [`ImageService`](crate::ImageService) with the semantics kubelet relies on: sandboxes get
//! IPs from a pod CIDR, containers move Created → Running → Exited, stop and remove of
//! missing objects succeed, events are streamed, and container logs are written in the CRI
//! log format (`<RFC3339Nano> stdout F <line>`). No processes run: what a container does is
//! a [`Behaviour`]. [`FakeRuntime::serve`] offers it over a unix socket so the real
//! [`Client`](crate::Client) can be tested against it.
//!
//! `Exec`, `Attach` and `PortForward` return URLs that nothing serves.

mod behaviour;
mod image;
mod runtime;
mod state;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::broadcast;

pub use behaviour::Behaviour;

use crate::error::Result;
use crate::server::{ServerHandle, serve_unix};
use crate::types::{CgroupDriver, ContainerEvent, ExecSyncResponse, Image, ImageSpec};
use state::{Cidr, State};

/// An in-memory CRI runtime; see the [module docs](self).
///
/// Cheap to clone: clones share state.
///
/// ```
/// use kcri::fake::{Behaviour, FakeRuntime};
/// use std::time::Duration;
///
/// let runtime = FakeRuntime::builder()
///     .pod_cidr("10.88.0.0/16")
///     .image("docker.io/library/nginx:1.27")
///     .behaviour_for_image("fake/crash:1", Behaviour::exit_after(Duration::from_millis(50), 2))
///     .build()
///     .expect("valid settings");
/// # drop(runtime);
/// ```
#[derive(Debug, Clone)]
pub struct FakeRuntime {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    state: Mutex<State>,
    events: broadcast::Sender<ContainerEvent>,
    settings: Settings,
}

#[derive(Debug, Clone)]
struct Settings {
    start_latency: Duration,
    pull_unknown: bool,
    cgroup_driver: CgroupDriver,
    by_image: BTreeMap<String, Behaviour>,
    by_name: BTreeMap<String, Behaviour>,
}

/// Settings of a [`FakeRuntime`]; [`FakeRuntimeBuilder::build`] makes it.
#[derive(Debug, Clone)]
#[must_use]
pub struct FakeRuntimeBuilder {
    pod_cidr: String,
    images: Vec<String>,
    exec_results: Vec<(Vec<String>, ExecSyncResponse)>,
    settings: Settings,
}

impl FakeRuntimeBuilder {
    /// IPv4 range sandboxes get addresses from (default `10.88.0.0/16`, containerd's
    /// default bridge network). Addresses start at `.2`.
    pub fn pod_cidr(mut self, cidr: impl Into<String>) -> Self {
        self.pod_cidr = cidr.into();
        self
    }

    /// How long `StartContainer` takes (default none).
    pub fn start_latency(mut self, latency: Duration) -> Self {
        self.settings.start_latency = latency;
        self
    }

    /// An image present from the start.
    pub fn image(mut self, reference: impl Into<String>) -> Self {
        self.images.push(reference.into());
        self
    }

    /// Whether `PullImage` of a reference not declared with [`image`](Self::image) succeeds
    /// (default `true`); `false` makes it fail with [`Error::NotFound`](crate::Error::NotFound)
    /// like a registry without that image. References starting with `fake/` always pull.
    pub fn pull_unknown(mut self, allowed: bool) -> Self {
        self.settings.pull_unknown = allowed;
        self
    }

    /// What containers of image `reference` do.
    pub fn behaviour_for_image(mut self, reference: impl Into<String>, behaviour: Behaviour) -> Self {
        self.settings.by_image.insert(reference.into(), behaviour);
        self
    }

    /// What containers named `name` (metadata name) do; wins over the image's behaviour.
    pub fn behaviour_for_container(mut self, name: impl Into<String>, behaviour: Behaviour) -> Self {
        self.settings.by_name.insert(name.into(), behaviour);
        self
    }

    /// What `ExecSync` of exactly `cmd` answers (in any container).
    pub fn exec_result<I, S>(mut self, cmd: I, response: ExecSyncResponse) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.exec_results.push((cmd.into_iter().map(Into::into).collect(), response));
        self
    }

    /// cgroup driver `RuntimeConfig` reports (default systemd).
    pub fn cgroup_driver(mut self, driver: CgroupDriver) -> Self {
        self.settings.cgroup_driver = driver;
        self
    }

    /// Makes the runtime.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a pod CIDR that is not
    /// IPv4 with a prefix of 8 to 30 bits.
    pub fn build(self) -> Result<FakeRuntime> {
        let mut state = State::new(Cidr::parse(&self.pod_cidr)?);
        for reference in &self.images {
            image::insert(&mut state, reference, None);
        }
        state.exec_results = self.exec_results;
        // Lagging subscribers lose old events (and are told so) rather than block the runtime.
        let (events, _) = broadcast::channel(1024);
        Ok(FakeRuntime { inner: Arc::new(Inner { state: Mutex::new(state), events, settings: self.settings }) })
    }
}

impl Default for FakeRuntime {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeRuntime {
    /// A runtime with default settings and no images.
    pub fn new() -> Self {
        let builder = Self::builder();
        let state =
            State::new(Cidr::parse(&builder.pod_cidr).unwrap_or_else(|_| unreachable!("default CIDR is valid")));
        let (events, _) = broadcast::channel(1024);
        FakeRuntime { inner: Arc::new(Inner { state: Mutex::new(state), events, settings: builder.settings }) }
    }

    /// Settings to adjust before [`FakeRuntimeBuilder::build`].
    pub fn builder() -> FakeRuntimeBuilder {
        FakeRuntimeBuilder {
            pod_cidr: "10.88.0.0/16".into(),
            images: Vec::new(),
            exec_results: Vec::new(),
            settings: Settings {
                start_latency: Duration::ZERO,
                pull_unknown: true,
                cgroup_driver: CgroupDriver::Systemd,
                by_image: BTreeMap::new(),
                by_name: BTreeMap::new(),
            },
        }
    }

    /// Serves this runtime as a CRI gRPC server on the unix socket `path`.
    ///
    /// # Errors
    ///
    /// As [`serve_unix`].
    pub fn serve(&self, path: impl AsRef<Path>) -> Result<ServerHandle> {
        serve_unix(path, Arc::new(self.clone()), Arc::new(self.clone()))
    }

    /// Changes what `ExecSync` of exactly `cmd` answers, e.g. to make a probe start failing.
    pub fn set_exec_result<I, S>(&self, cmd: I, response: ExecSyncResponse)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let cmd: Vec<String> = cmd.into_iter().map(Into::into).collect();
        let mut state = self.lock();
        state.exec_results.retain(|(c, _)| *c != cmd);
        state.exec_results.push((cmd, response));
    }

    /// Sets the `NetworkReady` condition `Status` reports.
    pub fn set_network_ready(&self, ready: bool) {
        self.lock().network_ready = ready;
    }

    /// Makes a running container exit now with `exit_code`, as if it crashed. Returns whether
    /// it was running.
    pub fn exit_container(&self, container_id: &str, exit_code: i32) -> bool {
        let event = self.lock().exit_container(container_id, exit_code, None);
        let changed = event.is_some();
        self.emit(event);
        changed
    }

    /// Adds an image as if pulled.
    pub fn add_image(&self, spec: ImageSpec) -> Image {
        let reference = spec.image.clone();
        image::insert(&mut self.lock(), &reference, Some(spec))
    }

    /// Names of the CRI calls received so far, oldest first.
    pub fn calls(&self) -> Vec<&'static str> {
        self.lock().calls.clone()
    }

    /// The state, recording `call`.
    fn record(&self, call: &'static str) -> MutexGuard<'_, State> {
        let mut state = self.lock();
        state.calls.push(call);
        state
    }

    /// Records `call` without keeping the state locked.
    fn note(&self, call: &'static str) {
        self.lock().calls.push(call);
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state stays consistent across a panicking holder: every transition is applied
        // in full or not at all before unlocking.
        self.inner.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Publishes events; having no subscriber is fine.
    fn emit(&self, events: impl IntoIterator<Item = ContainerEvent>) {
        for event in events {
            let _ = self.inner.events.send(event);
        }
    }
}
