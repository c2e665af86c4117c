//! The embedded descriptors: which kinds decode to which message, and how upstream's Go types
//! write each field to JSON (the `(kcluster.json.go)` option of `proto/kcluster/json.proto`).

use std::collections::HashMap;
use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, ExtensionDescriptor, FieldDescriptor, Kind, MessageDescriptor};

use super::ProtoError;

/// The `FileDescriptorSet` that build.rs compiled from `proto/`.
static DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/k8s_descriptors.bin"));

/// Full name of the request envelope.
pub(crate) const UNKNOWN: &str = "k8s.io.apimachinery.pkg.runtime.Unknown";

/// Full name of the custom field option that carries [`GoJson`].
const GO_JSON_OPTION: &str = "kcluster.json.go";

/// Packages whose messages the decoder walks; every field in them gets a [`FieldPlan`].
const PACKAGE_PREFIX: &str = "k8s.io.";

/// `(apiVersion, kind, message)` for every kind whose protobuf bodies are decoded: every kind
/// that `kubectl create <generator>` sends as protobuf (kubectl does not retry in JSON on 415).
pub(crate) const KINDS: &[(&str, &str, &str)] = &[
    ("v1", "ConfigMap", "k8s.io.api.core.v1.ConfigMap"),
    ("v1", "Secret", "k8s.io.api.core.v1.Secret"),
    ("v1", "Namespace", "k8s.io.api.core.v1.Namespace"),
    ("v1", "ServiceAccount", "k8s.io.api.core.v1.ServiceAccount"),
    ("v1", "Service", "k8s.io.api.core.v1.Service"),
    ("v1", "ResourceQuota", "k8s.io.api.core.v1.ResourceQuota"),
    ("apps/v1", "Deployment", "k8s.io.api.apps.v1.Deployment"),
    ("batch/v1", "Job", "k8s.io.api.batch.v1.Job"),
    ("batch/v1", "CronJob", "k8s.io.api.batch.v1.CronJob"),
    ("networking.k8s.io/v1", "Ingress", "k8s.io.api.networking.v1.Ingress"),
    ("rbac.authorization.k8s.io/v1", "Role", "k8s.io.api.rbac.v1.Role"),
    ("rbac.authorization.k8s.io/v1", "ClusterRole", "k8s.io.api.rbac.v1.ClusterRole"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding", "k8s.io.api.rbac.v1.RoleBinding"),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "k8s.io.api.rbac.v1.ClusterRoleBinding"),
    ("policy/v1", "PodDisruptionBudget", "k8s.io.api.policy.v1.PodDisruptionBudget"),
    ("scheduling.k8s.io/v1", "PriorityClass", "k8s.io.api.scheduling.v1.PriorityClass"),
    ("authentication.k8s.io/v1", "TokenRequest", "k8s.io.api.authentication.v1.TokenRequest"),
];

/// How Go's encoding/json writes a field; mirrors enum `kcluster.json.GoJson`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GoJson {
    /// Value type with `omitempty` (or, for a singular message, a pointer with `omitempty`).
    OmitEmpty,
    /// Pointer to a scalar with `omitempty`: written whenever set.
    OmitNil,
    /// Value type without `omitempty`: always written.
    Always,
    /// Pointer without `omitempty`: `null` when unset.
    Nullable,
    /// Struct held by value: always written.
    Value,
    /// Embedded struct with `json:",inline"`.
    Inline,
}

impl GoJson {
    fn from_number(number: i32) -> Option<Self> {
        Some(match number {
            0 => Self::OmitEmpty,
            1 => Self::OmitNil,
            2 => Self::Always,
            3 => Self::Nullable,
            4 => Self::Value,
            5 => Self::Inline,
            _ => return None,
        })
    }
}

/// One field of a message and how to write it.
pub(crate) struct FieldPlan {
    /// The field.
    pub(crate) field: FieldDescriptor,
    /// Its Go JSON treatment.
    pub(crate) rule: GoJson,
}

/// The loaded descriptor pool with a [`FieldPlan`] list per message.
pub(crate) struct Schema {
    pool: DescriptorPool,
    plans: HashMap<String, Vec<FieldPlan>>,
}

impl Schema {
    /// The process-wide schema, loaded on first use.
    pub(crate) fn get() -> Result<&'static Schema, ProtoError> {
        static SCHEMA: OnceLock<Result<Schema, String>> = OnceLock::new();
        SCHEMA.get_or_init(Schema::load).as_ref().map_err(|reason| ProtoError::Schema { reason: reason.clone() })
    }

    /// The descriptor of a message that the schema must contain.
    pub(crate) fn message(&self, full_name: &str) -> Result<MessageDescriptor, ProtoError> {
        self.pool
            .get_message_by_name(full_name)
            .ok_or_else(|| ProtoError::Schema { reason: format!("message {full_name} is missing") })
    }

    /// The fields of `message` in declaration (Go struct) order.
    pub(crate) fn plan(&self, message: &MessageDescriptor) -> Result<&[FieldPlan], ProtoError> {
        self.plans
            .get(message.full_name())
            .map(Vec::as_slice)
            .ok_or_else(|| ProtoError::Schema { reason: format!("message {} has no field plan", message.full_name()) })
    }

    fn load() -> Result<Schema, String> {
        let pool = DescriptorPool::decode(DESCRIPTORS).map_err(|e| format!("descriptor set does not load: {e}"))?;
        let option = pool
            .get_extension_by_name(GO_JSON_OPTION)
            .ok_or_else(|| format!("field option {GO_JSON_OPTION} is missing"))?;
        let mut plans = HashMap::new();
        for message in pool.all_messages().filter(|m| m.full_name().starts_with(PACKAGE_PREFIX)) {
            let fields = message
                .fields()
                .map(|field| Ok(FieldPlan { rule: rule_of(&field, &option)?, field }))
                .collect::<Result<Vec<_>, String>>()?;
            plans.insert(message.full_name().to_owned(), fields);
        }
        for (_, _, message) in KINDS.iter().copied().chain([(UNKNOWN, UNKNOWN, UNKNOWN)]) {
            if !plans.contains_key(message) {
                return Err(format!("message {message} is missing"));
            }
        }
        Ok(Schema { pool, plans })
    }
}

/// Reads and checks the `(kcluster.json.go)` option of `field`.
fn rule_of(field: &FieldDescriptor, option: &ExtensionDescriptor) -> Result<GoJson, String> {
    let options = field.options();
    let rule = if options.has_extension(option) {
        let number = options.get_extension(option).as_enum_number();
        number
            .and_then(GoJson::from_number)
            .ok_or_else(|| format!("{}: bad {GO_JSON_OPTION} value", field.full_name()))?
    } else {
        GoJson::OmitEmpty
    };
    let bad = |what: &str| Err(format!("{}: {what}", field.full_name()));
    let value_kind_ok =
        |kind: &Kind| matches!(kind, Kind::String | Kind::Bool | Kind::Int32 | Kind::Int64 | Kind::Bytes);
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else { return bad("map without entry message") };
        if entry.map_entry_key_field().kind() != Kind::String {
            return bad("map key is not a string");
        }
        let value = entry.map_entry_value_field().kind();
        if !value_kind_ok(&value) && !matches!(value, Kind::Message(_)) {
            return bad("map value kind has no JSON form here");
        }
        return if matches!(rule, GoJson::OmitEmpty | GoJson::Always) { Ok(rule) } else { bad("rule unfit for a map") };
    }
    match field.kind() {
        Kind::Message(_) if field.is_list() => {
            if matches!(rule, GoJson::OmitEmpty | GoJson::Always) {
                Ok(rule)
            } else {
                bad("rule unfit for a list")
            }
        }
        Kind::Message(_) => {
            if rule == GoJson::OmitNil {
                bad("OMIT_NIL on a message field")
            } else {
                Ok(rule)
            }
        }
        kind if value_kind_ok(&kind) => {
            let list_ok = !field.is_list() || matches!(rule, GoJson::OmitEmpty | GoJson::Always);
            if matches!(rule, GoJson::Value | GoJson::Inline) || !list_ok {
                bad("rule unfit for a scalar field")
            } else {
                Ok(rule)
            }
        }
        _ => bad("scalar kind has no JSON form here"),
    }
}
