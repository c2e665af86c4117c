//! Running the scheduler without an API server: the application feeds nodes and pods
//! through the [`SchedulerHandle`](crate::scheduler::SchedulerHandle) and receives
//! [`Outcome`](crate::scheduler::Outcome)s; binding is recorded in memory.

use futures_util::future::BoxFuture;
use serde_json::Value;

use crate::framework::{BindPlugin, CycleState, Plugin, PluginError, PluginHandle, Registry, Status};
use crate::types::PodInfo;

/// A Bind plugin that accepts every binding (the scheduler reports it as an outcome and
/// counts the pod on its node).
#[derive(Debug, Clone, Copy, Default)]
pub struct MemoryBinder;

impl Plugin for MemoryBinder {
    fn name(&self) -> &'static str {
        "DefaultBinder"
    }
}

impl BindPlugin for MemoryBinder {
    fn bind<'a>(&'a self, _state: &'a CycleState, _pod: &'a PodInfo, _node: &'a str) -> BoxFuture<'a, Status> {
        Box::pin(async { Status::success() })
    }
}

fn factory(_: Option<&Value>) -> Result<PluginHandle, PluginError> {
    Ok(PluginHandle::of(MemoryBinder).bind().build())
}

/// The default plugins with the in-memory binder as `DefaultBinder`.
pub fn registry() -> Registry {
    let mut r = crate::plugins::default_registry();
    r.register("DefaultBinder", factory);
    r
}
