//! Strategic-merge metadata: how each field of an object combines with a patch.
//!
//! Upstream reads this from the `patchStrategy` and `patchMergeKey` struct tags of the Go
//! types in `k8s.io/api`. The built-in tables here carry the tags of Kubernetes 1.33 for the
//! fields that have one; every other field uses [`Strategy::Default`].

/// How a strategic merge patch combines a field's current value with the patch value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strategy {
    /// No `patchStrategy` tag: maps merge key by key, lists are replaced whole.
    #[default]
    Default,
    /// `patchStrategy:"merge"`: lists of maps merge by the merge key, lists of primitives
    /// become the union of both; maps merge as usual.
    Merge,
    /// `patchStrategy:"replace"`: the patch value replaces the field whole, maps included.
    Replace,
}

/// Strategic-merge metadata of one field.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FieldMeta<'a> {
    /// How the field merges.
    pub strategy: Strategy,
    /// The tag also names `retainKeys`. Informational: like upstream, the merge honours a
    /// `$retainKeys` directive wherever a patch carries one.
    pub retain_keys: bool,
    /// `patchMergeKey`: the key that identifies the elements of a merged list of maps.
    pub merge_key: Option<&'a str>,
}

impl FieldMeta<'static> {
    /// A list merged as a set of primitives (`patchStrategy:"merge"` without a merge key).
    pub const MERGE_PRIMITIVES: Self = Self { strategy: Strategy::Merge, retain_keys: false, merge_key: None };

    /// A list of maps merged by `key` (`patchStrategy:"merge" patchMergeKey:"<key>"`).
    #[must_use]
    pub const fn merge_by(key: &'static str) -> Self {
        Self { strategy: Strategy::Merge, retain_keys: false, merge_key: Some(key) }
    }
}

/// Patch metadata for the fields of one kind of object.
///
/// # Correctness
///
/// `path` names the field from the object's root through map keys only: the elements of a
/// list add nothing, so `["spec", "containers", "env"]` is the `env` list of every container.
/// `lookup` returns `None` for fields it does not know; they merge with
/// [`Strategy::Default`], which is right for any field without a patch tag.
pub trait PatchSchema: Send + Sync {
    /// The metadata of the field at `path`, or `None` when the schema has none for it.
    fn lookup(&self, path: &[&str]) -> Option<FieldMeta<'_>>;
}

/// The patch metadata of a built-in kind, keyed by API group (`""` for the core group) and
/// kind. Versions share their tags, so the version is not needed.
///
/// Kinds without tagged fields (and kinds this table does not know, such as custom
/// resources) get a schema that only knows `metadata`, so their lists are replaced whole.
#[must_use]
pub fn builtin_schema(group: &str, kind: &str) -> &'static dyn PatchSchema {
    let node: &'static Node = match (group, kind) {
        ("", "Pod") => &POD,
        ("", "PodTemplate") => &POD_TEMPLATE,
        ("", "ReplicationController") | ("apps", "ReplicaSet" | "StatefulSet" | "DaemonSet") | ("batch", "Job") => {
            &TEMPLATED_WORKLOAD
        }
        ("apps", "Deployment") => &DEPLOYMENT,
        ("batch", "CronJob") => &CRON_JOB,
        ("", "Service") => &SERVICE,
        ("", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("", "Node") => &NODE,
        ("", "ComponentStatus") => &COMPONENT_STATUS,
        ("policy", "PodDisruptionBudget") => &POD_DISRUPTION_BUDGET,
        ("", "Namespace" | "PersistentVolumeClaim")
        | ("autoscaling", "HorizontalPodAutoscaler")
        | ("networking.k8s.io", "ServiceCIDR")
        | ("flowcontrol.apiserver.k8s.io", "FlowSchema" | "PriorityLevelConfiguration")
        | ("storagemigration.k8s.io", "StorageVersionMigration")
        | ("apiregistration.k8s.io", "APIService") => &STATUS_CONDITIONS,
        ("resource.k8s.io", "ResourceClaim") => &RESOURCE_CLAIM,
        ("storage.k8s.io", "CSINode") => &CSI_NODE,
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration" | "MutatingWebhookConfiguration") => {
            &WEBHOOK_CONFIGURATION
        }
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy") => &VALIDATING_ADMISSION_POLICY,
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy") => &MUTATING_ADMISSION_POLICY,
        _ => &OBJECT,
    };
    node
}

/// Whether the server accepts strategic merge patches for objects of `group`.
///
/// Upstream answers 415 for custom resources (and aggregated APIs), whose Go struct tags it
/// does not have; every group compiled into the server takes them. Custom resources cannot
/// live in these groups because the built-in handlers own them.
#[must_use]
pub fn supports_strategic(group: &str) -> bool {
    BUILTIN_GROUPS.contains(&group)
}

/// API groups served by kube-apiserver 1.33 itself (including its extension and aggregator
/// servers).
const BUILTIN_GROUPS: &[&str] = &[
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "internal.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
    "storagemigration.k8s.io",
];

/// A struct type: its fields that carry patch tags or lead to fields that do.
struct Node {
    fields: &'static [Field],
}

struct Field {
    name: &'static str,
    meta: FieldMeta<'static>,
    node: Option<&'static Node>,
}

impl PatchSchema for Node {
    fn lookup(&self, path: &[&str]) -> Option<FieldMeta<'_>> {
        let (last, parents) = path.split_last()?;
        let mut node = self;
        for name in parents {
            node = node.field(name)?.node?;
        }
        node.field(last).map(|f| f.meta)
    }
}

impl Node {
    fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }
}

/// A field without a tag of its own that leads to tagged fields.
const fn nested(name: &'static str, node: &'static Node) -> Field {
    Field {
        name,
        meta: FieldMeta { strategy: Strategy::Default, retain_keys: false, merge_key: None },
        node: Some(node),
    }
}

const fn tagged(name: &'static str, meta: FieldMeta<'static>) -> Field {
    Field { name, meta, node: None }
}

const fn merge_by(name: &'static str, key: &'static str, node: Option<&'static Node>) -> Field {
    Field { name, meta: FieldMeta::merge_by(key), node }
}

/// `patchStrategy:"merge,retainKeys"` with a merge key.
const fn merge_retain_by(name: &'static str, key: &'static str) -> Field {
    Field { name, meta: FieldMeta { strategy: Strategy::Merge, retain_keys: true, merge_key: Some(key) }, node: None }
}

// k8s.io/apimachinery/pkg/apis/meta/v1 ObjectMeta.
static OBJECT_META: Node =
    Node { fields: &[merge_by("ownerReferences", "uid", None), tagged("finalizers", FieldMeta::MERGE_PRIMITIVES)] };

static OBJECT: Node = Node { fields: &[nested("metadata", &OBJECT_META)] };

// core/v1 Container and EphemeralContainerCommon carry the same tags; `resizePolicy` is
// `listType=atomic` with no patch tag, so it is replaced.
static CONTAINER: Node = Node {
    fields: &[
        merge_by("ports", "containerPort", None),
        merge_by("env", "name", None),
        merge_by("volumeMounts", "mountPath", None),
        merge_by("volumeDevices", "devicePath", None),
    ],
};

// core/v1 PodSpec; `tolerations` and `readinessGates` have no patch tag.
static POD_SPEC: Node = Node {
    fields: &[
        merge_retain_by("volumes", "name"),
        merge_by("initContainers", "name", Some(&CONTAINER)),
        merge_by("containers", "name", Some(&CONTAINER)),
        merge_by("ephemeralContainers", "name", Some(&CONTAINER)),
        merge_by("imagePullSecrets", "name", None),
        merge_by("hostAliases", "ip", None),
        merge_by("topologySpreadConstraints", "topologyKey", None),
        merge_by("schedulingGates", "name", None),
        merge_retain_by("resourceClaims", "name"),
    ],
};

// core/v1 PodStatus. The container status lists have no tag, so they are replaced whole
// and the tags inside ContainerStatus never apply.
static POD_STATUS: Node = Node {
    fields: &[
        merge_by("conditions", "type", None),
        merge_by("hostIPs", "ip", None),
        merge_by("podIPs", "ip", None),
        merge_retain_by("resourceClaimStatuses", "name"),
    ],
};

static POD_TEMPLATE_SPEC: Node = Node { fields: &[nested("metadata", &OBJECT_META), nested("spec", &POD_SPEC)] };

/// A `status` whose only tagged field is `conditions`, merged by `type`.
static CONDITIONS: Node = Node { fields: &[merge_by("conditions", "type", None)] };

static POD: Node =
    Node { fields: &[nested("metadata", &OBJECT_META), nested("spec", &POD_SPEC), nested("status", &POD_STATUS)] };

static POD_TEMPLATE: Node =
    Node { fields: &[nested("metadata", &OBJECT_META), nested("template", &POD_TEMPLATE_SPEC)] };

static TEMPLATE_ONLY: Node = Node { fields: &[nested("template", &POD_TEMPLATE_SPEC)] };

// ReplicaSet, StatefulSet, DaemonSet, Job and ReplicationController: `spec.template` plus
// `status.conditions`.
static TEMPLATED_WORKLOAD: Node =
    Node { fields: &[nested("metadata", &OBJECT_META), nested("spec", &TEMPLATE_ONLY), nested("status", &CONDITIONS)] };

// apps/v1 DeploymentSpec: `strategy` is `patchStrategy:"retainKeys"`.
static DEPLOYMENT_SPEC: Node = Node {
    fields: &[
        tagged("strategy", FieldMeta { strategy: Strategy::Default, retain_keys: true, merge_key: None }),
        nested("template", &POD_TEMPLATE_SPEC),
    ],
};

static DEPLOYMENT: Node = Node {
    fields: &[nested("metadata", &OBJECT_META), nested("spec", &DEPLOYMENT_SPEC), nested("status", &CONDITIONS)],
};

// batch/v1 CronJob: spec.jobTemplate (JobTemplateSpec) holds metadata and a JobSpec.
static JOB_TEMPLATE_SPEC: Node = Node { fields: &[nested("metadata", &OBJECT_META), nested("spec", &TEMPLATE_ONLY)] };

static CRON_JOB_SPEC: Node = Node { fields: &[nested("jobTemplate", &JOB_TEMPLATE_SPEC)] };

static CRON_JOB: Node = Node { fields: &[nested("metadata", &OBJECT_META), nested("spec", &CRON_JOB_SPEC)] };

// core/v1 ServiceSpec merges `ports` by `port` alone (server-side apply keys them by port and protocol).
static SERVICE_SPEC: Node = Node { fields: &[merge_by("ports", "port", None)] };

static SERVICE: Node =
    Node { fields: &[nested("metadata", &OBJECT_META), nested("spec", &SERVICE_SPEC), nested("status", &CONDITIONS)] };

static SERVICE_ACCOUNT: Node = Node { fields: &[nested("metadata", &OBJECT_META), merge_by("secrets", "name", None)] };

// core/v1 NodeSpec: `podCIDRs` is a merged primitive list; `taints` has no tag.
static NODE_SPEC: Node = Node { fields: &[tagged("podCIDRs", FieldMeta::MERGE_PRIMITIVES)] };

static NODE_STATUS: Node =
    Node { fields: &[merge_by("conditions", "type", None), merge_by("addresses", "type", None)] };

static NODE: Node =
    Node { fields: &[nested("metadata", &OBJECT_META), nested("spec", &NODE_SPEC), nested("status", &NODE_STATUS)] };

// core/v1 ComponentStatus keeps its conditions at the top level.
static COMPONENT_STATUS: Node =
    Node { fields: &[nested("metadata", &OBJECT_META), merge_by("conditions", "type", None)] };

/// Kinds whose only tagged field is `status.conditions`.
static STATUS_CONDITIONS: Node = Node { fields: &[nested("metadata", &OBJECT_META), nested("status", &CONDITIONS)] };

// policy/v1 PodDisruptionBudgetSpec: `selector` is `patchStrategy:"replace"`.
static PDB_SPEC: Node = Node {
    fields: &[tagged("selector", FieldMeta { strategy: Strategy::Replace, retain_keys: false, merge_key: None })],
};

static POD_DISRUPTION_BUDGET: Node =
    Node { fields: &[nested("metadata", &OBJECT_META), nested("spec", &PDB_SPEC), nested("status", &CONDITIONS)] };

// resource.k8s.io ResourceClaimStatus (v1alpha3, v1beta1, v1beta2).
static RESOURCE_CLAIM_STATUS: Node = Node { fields: &[merge_by("reservedFor", "uid", None)] };

static RESOURCE_CLAIM: Node =
    Node { fields: &[nested("metadata", &OBJECT_META), nested("status", &RESOURCE_CLAIM_STATUS)] };

// storage.k8s.io CSINodeSpec.
static CSI_NODE_SPEC: Node = Node { fields: &[merge_by("drivers", "name", None)] };

static CSI_NODE: Node = Node { fields: &[nested("metadata", &OBJECT_META), nested("spec", &CSI_NODE_SPEC)] };

// admissionregistration ValidatingWebhook and MutatingWebhook.
static WEBHOOK: Node = Node { fields: &[merge_by("matchConditions", "name", None)] };

static WEBHOOK_CONFIGURATION: Node =
    Node { fields: &[nested("metadata", &OBJECT_META), merge_by("webhooks", "name", Some(&WEBHOOK))] };

static VALIDATING_ADMISSION_POLICY_SPEC: Node =
    Node { fields: &[merge_by("matchConditions", "name", None), merge_by("variables", "name", None)] };

static VALIDATING_ADMISSION_POLICY: Node =
    Node { fields: &[nested("metadata", &OBJECT_META), nested("spec", &VALIDATING_ADMISSION_POLICY_SPEC)] };

// admissionregistration/v1alpha1 MutatingAdmissionPolicySpec tags only `matchConditions`.
static MUTATING_ADMISSION_POLICY: Node = Node { fields: &[nested("metadata", &OBJECT_META), nested("spec", &WEBHOOK)] };

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(group: &str, kind: &str, path: &[&str]) -> Option<FieldMeta<'static>> {
        builtin_schema(group, kind).lookup(path)
    }

    #[test]
    fn pod_spec_lists() {
        let pod = |path: &[&str]| meta("", "Pod", path);
        assert_eq!(pod(&["spec", "containers"]), Some(FieldMeta::merge_by("name")));
        assert_eq!(pod(&["spec", "initContainers", "env"]), Some(FieldMeta::merge_by("name")));
        assert_eq!(pod(&["spec", "ephemeralContainers", "volumeMounts"]), Some(FieldMeta::merge_by("mountPath")));
        assert_eq!(pod(&["spec", "containers", "ports"]), Some(FieldMeta::merge_by("containerPort")));
        assert_eq!(pod(&["spec", "containers", "volumeDevices"]), Some(FieldMeta::merge_by("devicePath")));
        assert_eq!(pod(&["spec", "topologySpreadConstraints"]), Some(FieldMeta::merge_by("topologyKey")));
        assert_eq!(pod(&["spec", "hostAliases"]), Some(FieldMeta::merge_by("ip")));
        let volumes = pod(&["spec", "volumes"]).unwrap();
        assert_eq!((volumes.strategy, volumes.retain_keys, volumes.merge_key), (Strategy::Merge, true, Some("name")));
        // Untagged upstream: replaced whole.
        assert_eq!(pod(&["spec", "tolerations"]), None);
        assert_eq!(pod(&["spec", "containers", "resizePolicy"]), None);
        assert_eq!(pod(&["status", "conditions"]), Some(FieldMeta::merge_by("type")));
        assert_eq!(pod(&["status", "containerStatuses"]), None);
    }

    #[test]
    fn templates_in_workloads() {
        let containers = Some(FieldMeta::merge_by("name"));
        for (group, kind) in [("apps", "Deployment"), ("apps", "ReplicaSet"), ("apps", "StatefulSet")] {
            assert_eq!(meta(group, kind, &["spec", "template", "spec", "containers"]), containers, "{kind}");
        }
        for (group, kind) in [("apps", "DaemonSet"), ("batch", "Job"), ("", "ReplicationController")] {
            assert_eq!(meta(group, kind, &["spec", "template", "spec", "containers"]), containers, "{kind}");
            assert_eq!(meta(group, kind, &["status", "conditions"]), Some(FieldMeta::merge_by("type")));
        }
        assert_eq!(meta("", "PodTemplate", &["template", "spec", "containers"]), containers);
        let cron = ["spec", "jobTemplate", "spec", "template", "spec", "containers", "env"];
        assert_eq!(meta("batch", "CronJob", &cron), containers);
        let strategy = meta("apps", "Deployment", &["spec", "strategy"]).unwrap();
        assert!(strategy.retain_keys);
        assert_eq!(strategy.strategy, Strategy::Default);
    }

    #[test]
    fn object_meta_and_others() {
        assert_eq!(meta("", "ConfigMap", &["metadata", "finalizers"]), Some(FieldMeta::MERGE_PRIMITIVES));
        assert_eq!(meta("example.com", "Widget", &["metadata", "ownerReferences"]), Some(FieldMeta::merge_by("uid")));
        assert_eq!(meta("example.com", "Widget", &["spec", "items"]), None);
        assert_eq!(meta("", "Service", &["spec", "ports"]), Some(FieldMeta::merge_by("port")));
        assert_eq!(meta("", "Node", &["status", "addresses"]), Some(FieldMeta::merge_by("type")));
        assert_eq!(meta("", "Node", &["spec", "taints"]), None);
        assert_eq!(meta("", "Node", &["spec", "podCIDRs"]), Some(FieldMeta::MERGE_PRIMITIVES));
        assert_eq!(meta("", "Endpoints", &["subsets"]), None);
        let selector = meta("policy", "PodDisruptionBudget", &["spec", "selector"]).unwrap();
        assert_eq!(selector.strategy, Strategy::Replace);
        let wh = ["webhooks", "matchConditions"];
        assert_eq!(meta("admissionregistration.k8s.io", "MutatingWebhookConfiguration", &wh), containers_key());
        assert_eq!(meta("", "Pod", &[]), None);
    }

    fn containers_key() -> Option<FieldMeta<'static>> {
        Some(FieldMeta::merge_by("name"))
    }

    #[test]
    fn strategic_support_by_group() {
        assert!(supports_strategic(""));
        assert!(supports_strategic("apps"));
        assert!(supports_strategic("apiextensions.k8s.io"));
        assert!(!supports_strategic("gateway.networking.k8s.io"));
        assert!(!supports_strategic("example.com"));
    }
}
