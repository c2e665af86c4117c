//! The example of docs/guides/scheduler-plugin.md: an out-of-tree plugin with a Filter and
//! a Score point, configured through `KubeSchedulerConfiguration`, in the in-memory
//! scheduler. Kept as a test so that the guide's code always compiles and works.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;

use kapi::k8s::api::core::v1::{Node, Pod};
use ksched::framework::{
    CycleState, FilterPlugin, Plugin, PluginError, PluginHandle, SchedulerConfig, ScorePlugin, Status,
};
use ksched::scheduler::{Outcome, Scheduler};
use ksched::types::{NodeInfo, PodInfo};
use serde_json::{Value, json};

/// Keeps pods off nodes under maintenance and prefers one zone.
struct ZonePreference {
    zone: String,
}

const MAINTENANCE: &str = "example.com/maintenance";
const ZONE: &str = "topology.kubernetes.io/zone";

impl Plugin for ZonePreference {
    fn name(&self) -> &'static str {
        "ZonePreference"
    }
}

impl FilterPlugin for ZonePreference {
    fn filter(&self, _state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> Status {
        if node.labels.get(MAINTENANCE).is_some_and(|v| v == "true") {
            // The reason is what `kubectl describe pod` shows in FailedScheduling.
            return Status::unschedulable("node(s) were under maintenance");
        }
        Status::success()
    }
}

impl ScorePlugin for ZonePreference {
    fn score(&self, _state: &CycleState, _pod: &PodInfo, node: &NodeInfo) -> (i64, Status) {
        let preferred = node.labels.get(ZONE).is_some_and(|z| *z == self.zone);
        (if preferred { 100 } else { 0 }, Status::success())
    }
}

/// The factory the registry calls with the plugin's `args` from `pluginConfig`.
fn zone_preference(args: Option<&Value>) -> Result<PluginHandle, PluginError> {
    let zone = args
        .and_then(|a| a.get("zone"))
        .and_then(Value::as_str)
        .ok_or_else(|| PluginError::args("ZonePreference", "args.zone is required"))?;
    Ok(PluginHandle::of(ZonePreference { zone: zone.to_owned() }).filter().score().build())
}

const CONFIG: &str = r#"
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
profiles:
- schedulerName: default-scheduler
  plugins:
    multiPoint:
      enabled:
      - name: ZonePreference
        weight: 5
  pluginConfig:
  - name: ZonePreference
    args:
      zone: zone-b
"#;

fn node(name: &str, zone: &str, maintenance: bool) -> Arc<Node> {
    let labels = json!({"kubernetes.io/hostname": name, ZONE: zone, MAINTENANCE: maintenance.to_string()});
    Arc::new(
        serde_json::from_value(json!({"metadata": {"name": name, "labels": labels},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi", "pods": "110"}}}))
        .unwrap(),
    )
}

fn pod(name: &str, cpu: &str) -> Arc<Pod> {
    Arc::new(
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default", "uid": name},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}))
        .unwrap(),
    )
}

#[tokio::test]
async fn an_out_of_tree_plugin_filters_and_scores() {
    // The in-tree plugins plus ours, under the name the configuration uses.
    let mut registry = ksched::memory::registry();
    registry.register("ZonePreference", zone_preference);
    let config = SchedulerConfig::from_yaml(CONFIG).unwrap();
    let profiles = config.build_profiles(&registry).unwrap();
    let (mut scheduler, handle, mut outcomes) = Scheduler::new(profiles, &config, true);

    handle.add_node(node("a1", "zone-a", false));
    handle.add_node(node("b1", "zone-b", false));
    handle.add_node(node("b2", "zone-b", true));
    handle.add_pod(pod("web", "1"));
    scheduler.drain().await;
    // zone-b is preferred, and its node under maintenance is filtered out.
    assert_eq!(outcomes.recv().await, Some(Outcome::Bound { pod: "default/web".into(), node: "b1".into() }));

    // With b1 too full for it and b2 under maintenance, the next pod goes to zone-a.
    handle.add_pod(pod("big", "3.5"));
    scheduler.drain().await;
    assert_eq!(outcomes.recv().await, Some(Outcome::Bound { pod: "default/big".into(), node: "a1".into() }));

    // Now nothing fits: the message counts each reason, ours included.
    handle.add_pod(pod("more", "3.5"));
    scheduler.drain().await;
    let Some(Outcome::Unschedulable { message, .. }) = outcomes.recv().await else { panic!("unschedulable") };
    assert!(message.starts_with("0/3 nodes are available:"), "{message}");
    assert!(message.contains("1 node(s) were under maintenance"), "{message}");
    assert!(message.contains("2 Insufficient cpu"), "{message}");

    // A plugin without its required args is refused when the profile is built.
    let without_args = CONFIG.split("  pluginConfig:").next().unwrap_or_default();
    let bad = SchedulerConfig::from_yaml(without_args).unwrap();
    let err = bad.build_profiles(&registry).err().map(|e| e.to_string()).unwrap_or_default();
    assert!(err.contains("args.zone is required"), "{err}");
}
