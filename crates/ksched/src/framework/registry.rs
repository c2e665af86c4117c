//! The plugin registry: plugin names → factories that build a plugin from its arguments
//! (`pluginConfig[].args` of a KubeSchedulerConfiguration), and [`PluginHandle`], which
//! records which extension points a plugin implements.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::plugin::{
    BindPlugin, FilterPlugin, PermitPlugin, Plugin, PostBindPlugin, PostFilterPlugin, PreBindPlugin, PreEnqueuePlugin,
    PreFilterPlugin, PreScorePlugin, QueueSortPlugin, ReservePlugin, ScorePlugin,
};

/// Errors building plugins.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PluginError {
    /// No factory has this name.
    #[error("plugin {0:?} is not registered")]
    Unknown(String),
    /// The arguments are invalid.
    #[error("invalid args for plugin {plugin}: {message}")]
    Args {
        /// The plugin.
        plugin: String,
        /// What is wrong.
        message: String,
    },
}

impl PluginError {
    /// An argument error of `plugin`.
    pub fn args(plugin: &str, message: impl Into<String>) -> Self {
        PluginError::Args { plugin: plugin.to_owned(), message: message.into() }
    }
}

/// One plugin instance and the extension points it implements.
#[derive(Clone, Default)]
pub struct PluginHandle {
    /// The name.
    pub name: &'static str,
    /// As a plugin (events to register).
    pub plugin: Option<Arc<dyn Plugin>>,
    /// PreEnqueue.
    pub pre_enqueue: Option<Arc<dyn PreEnqueuePlugin>>,
    /// QueueSort.
    pub queue_sort: Option<Arc<dyn QueueSortPlugin>>,
    /// PreFilter.
    pub pre_filter: Option<Arc<dyn PreFilterPlugin>>,
    /// Filter.
    pub filter: Option<Arc<dyn FilterPlugin>>,
    /// PostFilter.
    pub post_filter: Option<Arc<dyn PostFilterPlugin>>,
    /// PreScore.
    pub pre_score: Option<Arc<dyn PreScorePlugin>>,
    /// Score.
    pub score: Option<Arc<dyn ScorePlugin>>,
    /// Reserve.
    pub reserve: Option<Arc<dyn ReservePlugin>>,
    /// Permit.
    pub permit: Option<Arc<dyn PermitPlugin>>,
    /// PreBind.
    pub pre_bind: Option<Arc<dyn PreBindPlugin>>,
    /// Bind.
    pub bind: Option<Arc<dyn BindPlugin>>,
    /// PostBind.
    pub post_bind: Option<Arc<dyn PostBindPlugin>>,
}

impl std::fmt::Debug for PluginHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginHandle").field("name", &self.name).finish()
    }
}

impl PluginHandle {
    /// Starts a handle for `plugin`; declare its points with the builder methods:
    /// `PluginHandle::of(p).filter().score().build()`.
    pub fn of<T: Plugin + 'static>(plugin: T) -> PluginBuilder<T> {
        let p = Arc::new(plugin);
        let handle = PluginHandle { name: p.name(), plugin: Some(p.clone() as Arc<dyn Plugin>), ..Default::default() };
        PluginBuilder { plugin: p, handle }
    }
}

/// Declares which points a plugin implements.
#[derive(Debug)]
pub struct PluginBuilder<T> {
    plugin: Arc<T>,
    handle: PluginHandle,
}

macro_rules! point {
    ($(#[$doc:meta])* $method:ident, $field:ident, $tr:ident) => {
        $(#[$doc])*
        #[must_use]
        pub fn $method(mut self) -> Self
        where
            T: $tr,
        {
            self.handle.$field = Some(self.plugin.clone() as Arc<dyn $tr>);
            self
        }
    };
}

impl<T: Plugin + 'static> PluginBuilder<T> {
    point!(/// PreEnqueue.
        pre_enqueue, pre_enqueue, PreEnqueuePlugin);
    point!(/// QueueSort.
        queue_sort, queue_sort, QueueSortPlugin);
    point!(/// PreFilter.
        pre_filter, pre_filter, PreFilterPlugin);
    point!(/// Filter.
        filter, filter, FilterPlugin);
    point!(/// PostFilter.
        post_filter, post_filter, PostFilterPlugin);
    point!(/// PreScore.
        pre_score, pre_score, PreScorePlugin);
    point!(/// Score.
        score, score, ScorePlugin);
    point!(/// Reserve.
        reserve, reserve, ReservePlugin);
    point!(/// Permit.
        permit, permit, PermitPlugin);
    point!(/// PreBind.
        pre_bind, pre_bind, PreBindPlugin);
    point!(/// Bind.
        bind, bind, BindPlugin);
    point!(/// PostBind.
        post_bind, post_bind, PostBindPlugin);

    /// The handle.
    pub fn build(self) -> PluginHandle {
        self.handle
    }
}

/// Builds a plugin from its arguments (`None` when the configuration gives none).
pub type PluginFactory = Arc<dyn Fn(Option<&Value>) -> Result<PluginHandle, PluginError> + Send + Sync>;

/// Plugin factories by name. [`crate::plugins::default_registry`] has the in-tree plugins;
/// out-of-tree plugins are added with [`Registry::register`].
#[derive(Clone, Default)]
pub struct Registry {
    factories: BTreeMap<String, PluginFactory>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.factories.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a factory.
    pub fn register(
        &mut self,
        name: impl Into<String>,
        factory: impl Fn(Option<&Value>) -> Result<PluginHandle, PluginError> + Send + Sync + 'static,
    ) {
        self.factories.insert(name.into(), Arc::new(factory));
    }

    /// Builds plugin `name` with `args`.
    ///
    /// # Errors
    /// Unknown name or invalid arguments.
    pub fn build(&self, name: &str, args: Option<&Value>) -> Result<PluginHandle, PluginError> {
        let f = self.factories.get(name).ok_or_else(|| PluginError::Unknown(name.to_owned()))?;
        f(args)
    }

    /// Registered names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.factories.keys().map(String::as_str)
    }
}
