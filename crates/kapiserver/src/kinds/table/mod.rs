//! Server-side `Table` output (`meta.k8s.io/v1`) with upstream's printer columns and cells.
//!
//! Like the real API server, rows always carry every column, including the `priority: 1` ones
//! that `kubectl` shows only with `-o wide`. Kinds without an upstream printer get the default
//! table convertor's `Name` and `Created At` columns.

mod pod;
mod rows;
#[cfg(test)]
mod tests;
use crate::gotime as time;

use std::time::SystemTime;

use serde_json::{Value, json};

const NAME_DESC: &str = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const AGE_DESC: &str = "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata";
const CONTAINERS_DESC: &str = "Names of each container in the template.";
const IMAGES_DESC: &str = "Images referenced by each container in the template.";

/// One column: name, type, priority, description.
type Col = (&'static str, &'static str, u8, &'static str);

const NAME: Col = ("Name", "string", 0, NAME_DESC);
const AGE: Col = ("Age", "string", 0, AGE_DESC);
const CONTAINERS: Col = ("Containers", "string", 1, CONTAINERS_DESC);
const IMAGES: Col = ("Images", "string", 1, IMAGES_DESC);
const SELECTOR: Col = ("Selector", "string", 1, "The label selector of the object.");

fn columns(group: &str, kind: &str) -> Option<Vec<Col>> {
    let s = |name, desc| (name, "string", 0, desc);
    let i = |name, desc| (name, "integer", 0, desc);
    let cols = match (group, kind) {
        ("", "Pod") => vec![
            NAME,
            s("Ready", "The aggregate readiness state of this pod for accepting traffic."),
            s("Status", "The aggregate status of the containers in this pod."),
            s(
                "Restarts",
                "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
            ),
            AGE,
            ("IP", "string", 1, "The IP address allocated to the pod."),
            ("Node", "string", 1, "The node the pod is scheduled onto."),
            ("Nominated Node", "string", 1, "The node the scheduler nominated for preemption."),
            ("Readiness Gates", "string", 1, "Pod readiness gates that are true, out of all."),
        ],
        ("", "PodTemplate") => vec![
            NAME,
            s("Containers", CONTAINERS_DESC),
            s("Images", IMAGES_DESC),
            s("Pod Labels", "The labels for the pod template."),
        ],
        ("policy", "PodDisruptionBudget") => vec![
            NAME,
            s("Min Available", "The minimum number of pods that must be available."),
            s("Max Unavailable", "The maximum number of pods that may be unavailable."),
            i("Allowed Disruptions", "Calculated number of pods that may be disrupted at this time."),
            AGE,
        ],
        ("", "ReplicationController") | ("apps", "ReplicaSet") => vec![
            NAME,
            i("Desired", "Number of desired pods."),
            i("Current", "Number of pods currently present."),
            i("Ready", "Number of ready pods."),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        ("apps", "DaemonSet") => vec![
            NAME,
            i("Desired", "Number of nodes that should run the daemon pod."),
            i("Current", "Number of nodes running at least one daemon pod."),
            i("Ready", "Number of nodes with a ready daemon pod."),
            i("Up-to-date", "Number of nodes running the updated daemon pod."),
            i("Available", "Number of nodes with an available daemon pod."),
            s("Node Selector", "The node selector of the pod template."),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        ("apps", "Deployment") => vec![
            NAME,
            s("Ready", "Number of the pod with ready state"),
            s("Up-to-date", "Total number of pods with the desired template."),
            s("Available", "Total number of available pods."),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        ("apps", "StatefulSet") => {
            vec![NAME, s("Ready", "Number of the pod with ready state"), AGE, CONTAINERS, IMAGES]
        }
        ("apps", "ControllerRevision") => {
            vec![NAME, s("Controller", "Controller of the object"), s("Revision", "The revision number."), AGE]
        }
        ("batch", "Job") => vec![
            NAME,
            s("Status", "Status of the job."),
            s("Completions", "The number of pods which reached phase Succeeded."),
            s("Duration", "Time required to complete the job."),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        ("batch", "CronJob") => vec![
            NAME,
            s("Schedule", "The schedule in Cron format."),
            s("Timezone", "The time zone name for the schedule."),
            ("Suspend", "boolean", 0, "Whether subsequent executions are suspended."),
            i("Active", "Number of currently running jobs."),
            s("Last Schedule", "Time since the job was last successfully scheduled."),
            AGE,
            CONTAINERS,
            IMAGES,
            SELECTOR,
        ],
        ("", "Service") => vec![
            NAME,
            s("Type", "The service type."),
            s("Cluster-IP", "The cluster IP of the service."),
            s("External-IP", "External IPs or load balancer addresses."),
            s("Port(s)", "The ports the service exposes."),
            AGE,
            SELECTOR,
        ],
        ("networking.k8s.io", "Ingress") => vec![
            NAME,
            s("Class", "The name of the IngressClass resource that should be used for additional configuration"),
            s("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
            s("Address", "Address is a list containing ingress points for the load-balancer"),
            s("Ports", "Ports of TLS configurations that open"),
            AGE,
        ],
        ("networking.k8s.io", "IngressClass") => vec![
            NAME,
            s("Controller", "Controller that is responsible for handling this class"),
            s("Parameters", "A reference to a resource with additional parameters"),
            AGE,
        ],
        ("networking.k8s.io", "NetworkPolicy") => vec![NAME, s("Pod-Selector", "The pods the policy applies to."), AGE],
        ("", "Endpoints") => vec![NAME, s("Endpoints", "The endpoint addresses."), AGE],
        ("discovery.k8s.io", "EndpointSlice") => vec![
            NAME,
            s("AddressType", "The type of address carried by this slice."),
            s("Ports", "The ports of this slice."),
            s("Endpoints", "The endpoint addresses of this slice."),
            AGE,
        ],
        ("", "Node") => vec![
            NAME,
            s("Status", "The status of the node"),
            s("Roles", "The roles of the node"),
            AGE,
            s("Version", "Kubelet version reported by the node."),
            ("Internal-IP", "string", 1, "The node's internal IP."),
            ("External-IP", "string", 1, "The node's external IP."),
            ("OS-Image", "string", 1, "OS image reported by the node."),
            ("Kernel-Version", "string", 1, "Kernel version reported by the node."),
            ("Container-Runtime", "string", 1, "Container runtime version reported by the node."),
        ],
        ("", "Event") | ("events.k8s.io", "Event") => vec![
            s("Last Seen", "The time at which the most recent occurrence of this event was recorded."),
            s("Type", "Type of this event (Normal, Warning)."),
            s("Reason", "The reason for the transition into the object's current status."),
            s("Object", "The object that this event is about."),
            ("Subobject", "string", 1, "The field of the object this event is about."),
            ("Source", "string", 1, "The component reporting this event."),
            s("Message", "A human-readable description of the status of this operation."),
            ("First Seen", "string", 1, "The time at which the event was first recorded."),
            ("Count", "string", 1, "The number of times this event has occurred."),
            ("Name", "string", 1, NAME_DESC),
        ],
        ("", "Namespace") => vec![NAME, s("Status", "The status of the namespace"), AGE],
        ("", "Secret") => vec![
            NAME,
            s("Type", "Used to facilitate programmatic handling of secret data."),
            s("Data", "Number of data keys."),
            AGE,
        ],
        ("", "ServiceAccount") => vec![NAME, s("Secrets", "Number of secrets referenced."), AGE],
        ("", "ConfigMap") => vec![NAME, s("Data", "Number of data keys."), AGE],
        ("", "PersistentVolume") => vec![
            NAME,
            s("Capacity", "The volume's storage capacity."),
            s("Access Modes", "The ways the volume can be mounted."),
            s("Reclaim Policy", "What happens to the volume when released from its claim."),
            s("Status", "The phase of the volume."),
            s("Claim", "The claim bound to the volume."),
            s("StorageClass", "StorageClass of the pv"),
            s("VolumeAttributesClass", "VolumeAttributesClass of the pv"),
            s("Reason", "The reason for a failed phase."),
            AGE,
            ("VolumeMode", "string", 1, "Whether the volume is a filesystem or a raw block device."),
        ],
        ("", "PersistentVolumeClaim") => vec![
            NAME,
            s("Status", "The phase of the claim."),
            s("Volume", "The volume bound to the claim."),
            s("Capacity", "The actual capacity of the bound volume."),
            s("Access Modes", "The access modes of the bound volume."),
            s("StorageClass", "StorageClass of the pvc"),
            s("VolumeAttributesClass", "VolumeAttributesClass of the pvc"),
            AGE,
            ("VolumeMode", "string", 1, "Whether the claim wants a filesystem or a raw block device."),
        ],
        ("autoscaling", "HorizontalPodAutoscaler") => vec![
            NAME,
            s("Reference", "The scaled resource."),
            s("Targets", "The metrics and their current and target values."),
            s("MinPods", "The lower limit of replicas."),
            s("MaxPods", "The upper limit of replicas."),
            s("Replicas", "The current number of replicas."),
            AGE,
        ],
        ("rbac.authorization.k8s.io", "RoleBinding" | "ClusterRoleBinding") => vec![
            NAME,
            s("Role", "The role the binding grants."),
            AGE,
            ("Users", "string", 1, "Users in the binding"),
            ("Groups", "string", 1, "Groups in the binding"),
            ("ServiceAccounts", "string", 1, "ServiceAccounts in the binding"),
        ],
        ("certificates.k8s.io", "CertificateSigningRequest") => vec![
            NAME,
            AGE,
            s("SignerName", "The signer requested to sign the certificate."),
            s("Requestor", "The user that created the request."),
            s("RequestedDuration", "The requested validity duration."),
            s("Condition", "The approval and issuance status of the request."),
        ],
        ("coordination.k8s.io", "Lease") => vec![NAME, s("Holder", "The current holder of the lease."), AGE],
        ("storage.k8s.io", "StorageClass") => vec![
            NAME,
            s("Provisioner", "The provisioner of volumes of this class."),
            s("ReclaimPolicy", "The reclaim policy of dynamically provisioned volumes."),
            s("VolumeBindingMode", "When volumes are bound and provisioned."),
            s("AllowVolumeExpansion", "Whether volumes may be expanded."),
            AGE,
        ],
        ("", "ResourceQuota") => vec![
            NAME,
            s("Request", "Request represents a minimum amount of cpu/memory that a container may consume."),
            s(
                "Limit",
                "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
            ),
            AGE,
        ],
        ("scheduling.k8s.io", "PriorityClass") => vec![
            NAME,
            i("Value", "The priority value."),
            ("Global-Default", "boolean", 0, "Whether this is the default priority class."),
            AGE,
            s("PreemptionPolicy", "The preemption policy of pods with this class."),
        ],
        ("node.k8s.io", "RuntimeClass") => vec![NAME, s("Handler", "The CRI handler of this class."), AGE],
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration" | "ValidatingWebhookConfiguration") => {
            vec![NAME, i("Webhooks", "Webhooks indicates the number of webhooks registered in this configuration"), AGE]
        }
        _ => return None,
    };
    Some(cols)
}

fn column_json((name, ty, priority, desc): Col) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": ty, "format": format, "description": desc, "priority": priority})
}

/// The `columnDefinitions` of the Table for `group`/`kind` (upstream printer columns, or the
/// default convertor's `Name`/`Created At` for kinds without a printer).
pub fn column_definitions(group: &str, kind: &str) -> Vec<Value> {
    match columns(group, kind) {
        Some(cols) => cols.into_iter().map(column_json).collect(),
        None => vec![
            json!({"name": "Name", "type": "string", "format": "name", "description": NAME_DESC, "priority": 0}),
            json!({"name": "Created At", "type": "date", "format": "", "description": AGE_DESC, "priority": 0}),
        ],
    }
}

/// The cells of `obj`'s row, one per column of [`column_definitions`], computed at `now`.
pub fn row_cells(group: &str, kind: &str, obj: &Value, now: SystemTime) -> Vec<Value> {
    let now = time::system_nanos(now);
    match (group, kind) {
        ("", "Pod") => pod::cells(obj, now),
        _ => rows::cells(group, kind, obj, now).unwrap_or_else(|| {
            let created =
                time::timestamp(obj.pointer("/metadata/creationTimestamp")).unwrap_or(-62_135_596_800_000_000_000);
            vec![json!(cell_name(obj)), json!(time::format_rfc3339(created))]
        }),
    }
}

/// The row `conditions` upstream attaches: pods that succeeded or failed are marked `Completed`.
pub fn row_conditions(group: &str, kind: &str, obj: &Value) -> Vec<Value> {
    if (group, kind) != ("", "Pod") {
        return Vec::new();
    }
    match obj.pointer("/status/phase").and_then(Value::as_str) {
        Some("Succeeded") => {
            vec![
                json!({"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}),
            ]
        }
        Some("Failed") => {
            vec![json!({"type": "Completed", "status": "True", "reason": "Failed", "message": "The pod failed."})]
        }
        _ => Vec::new(),
    }
}

/// The object's `metadata.name` (empty when absent), the content of every `Name` cell.
pub fn cell_name(obj: &Value) -> String {
    obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// Upstream `duration.HumanDuration` (`45s`, `3m20s`, `5h`, `2d3h`, `400d`, `3y`).
pub fn human_duration(d: std::time::Duration) -> String {
    time::human_duration_nanos(d.as_nanos() as i128)
}

/// The `Age` cell for a `metadata.creationTimestamp` value: `<unknown>` when unset, else the
/// [`human_duration`] since it (`<invalid>` more than a second in the future).
pub fn age(timestamp: Option<&Value>, now: SystemTime) -> String {
    time::since(timestamp, time::system_nanos(now))
}
