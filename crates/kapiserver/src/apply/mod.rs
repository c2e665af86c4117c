//! Server-side apply and `metadata.managedFields` on JSON objects.
//!
//! This follows upstream's structured-merge-diff (`fieldpath`, `typed`, `merge.Updater`) and
//! the API server's field manager layers (`k8s.io/apimachinery/pkg/util/managedfields`):
//!
//! - [`FieldSet`] is the fieldsV1 tree, parsed and written byte for byte like upstream;
//! - [`ListSchema`] says which lists are atomic, sets, or maps keyed by fields
//!   ([`MergeKeySchema`] reads it from strategic-merge tags);
//! - [`apply`] merges an applied configuration, prunes what the applier stopped applying,
//!   detects conflicts with other managers and records ownership;
//! - [`record_update`] records ownership for ordinary writes.
//!
//! Every map key is treated as a struct field, which is what upstream does for the fields of
//! typed objects; the difference shows only for maps of maps keyed by data.

mod element;
mod fieldset;
mod managed;
mod manager;
#[cfg(test)]
mod proptests;
mod schema;
#[cfg(test)]
mod tests;
mod typed;
mod updater;
mod validation;

use std::fmt;

use serde_json::Value;

pub use element::{PathElement, path_string};
pub use fieldset::{FieldSet, FieldsError};
pub use managed::Operation;
pub use manager::{DEFAULT_MAX_UPDATE_MANAGERS, FieldManager, LAST_APPLIED_ANNOTATION};
pub use schema::MergeKeySchema;
pub use validation::{
    FIELD_MANAGER_MAX_LENGTH, FieldManagerCause, InvalidFieldManager, manager_from_user_agent, manager_or_user_agent,
    validate_field_manager,
};

/// How the elements of a list are identified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListKind {
    /// The list is one value: owned, compared and replaced whole.
    Atomic,
    /// A set of primitives: each value is its own element (`v:` paths).
    Set,
    /// A list of maps identified by these key fields (`k:` paths). No keys means a set.
    Map(Vec<String>),
}

/// The list semantics of one kind of object.
///
/// # Correctness
///
/// `path` names a field from the object's root through map keys only: list elements add
/// nothing, so `["spec", "template", "spec", "containers"]` is the container list and
/// `["spec", "template", "spec", "containers", "ports"]` the ports of every container. The
/// answers must not change between calls for one object: managed fields recorded under one
/// answer are read back under the next.
pub trait ListSchema: Send + Sync {
    /// How the list at `path` identifies its elements.
    fn list_kind(&self, path: &[&str]) -> ListKind;

    /// The default of key field `key` of the associative list at `path`, used when an
    /// element omits it (`protocol` of container ports defaults to `TCP`).
    fn key_default(&self, _path: &[&str], _key: &str) -> Option<Value> {
        None
    }

    /// Whether the map at `path` (a list path names its elements) is atomic: owned and
    /// replaced whole, like a label selector.
    fn is_atomic_map(&self, _path: &[&str]) -> bool {
        false
    }
}

/// A field another manager owns that an apply would change.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Conflict {
    /// The other manager's name.
    pub manager: String,
    /// How it got the field.
    pub operation: Operation,
    /// The version it wrote with (empty for appliers).
    pub api_version: String,
    /// The subresource it wrote through, if any.
    pub subresource: String,
    /// The field, as upstream prints it: `.spec.replicas`.
    pub field: String,
}

impl Conflict {
    /// The manager as upstream names it in messages: `"kubectl-edit" using apps/v1`,
    /// `"kubectl"`, `"ctrl" with subresource "status"`.
    #[must_use]
    pub fn manager_display(&self) -> String {
        let mut out = crate::gofmt::quote(&self.manager);
        if !self.subresource.is_empty() {
            out.push_str(" with subresource ");
            out.push_str(&crate::gofmt::quote(&self.subresource));
        }
        if self.operation == Operation::Update {
            out.push_str(" using ");
            out.push_str(&self.api_version);
        }
        out
    }

    /// The status cause message (`conflict with "kubectl-edit" using apps/v1`); the cause type
    /// is `FieldManagerConflict` and its field is [`Conflict::field`].
    #[must_use]
    pub fn cause_message(&self) -> String {
        format!("conflict with {}", self.manager_display())
    }
}

/// Upstream's conflict message: one conflict inline, several grouped by manager.
fn conflicts_message(conflicts: &[Conflict]) -> String {
    if let [one] = conflicts {
        return format!("Apply failed with 1 conflict: conflict with {}: {}", one.manager_display(), one.field);
    }
    let mut lines: Vec<String> = Vec::new();
    let mut current: Option<String> = None;
    for conflict in conflicts {
        let manager = conflict.manager_display();
        if current.as_ref() != Some(&manager) {
            lines.push(format!("conflicts with {manager}:"));
            current = Some(manager);
        }
        lines.push(format!("- {}", conflict.field));
    }
    format!("Apply failed with {} conflicts: {}", conflicts.len(), lines.join("\n"))
}

/// Why an apply failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// Other managers own fields the apply would change (409 Conflict, reason `Conflict`).
    /// Sorted by manager, then in field order.
    #[error("{}", conflicts_message(.0))]
    Conflicts(Vec<Conflict>),
    /// The configuration is unacceptable (400 Bad Request): wrong kind or version, managed
    /// fields set, or a shape the schema rejects such as duplicate keys. Upstream currently
    /// answers 500 for the last case (kubernetes/kubernetes#139255 moves it to 400).
    #[error("{0}")]
    Invalid(String),
    /// The stored object or its managed fields are unreadable (500).
    #[error("{0}")]
    Internal(String),
}

impl ApplyError {
    /// The HTTP status upstream answers with.
    #[must_use]
    pub fn status_code(&self) -> u16 {
        match self {
            Self::Conflicts(_) => 409,
            Self::Invalid(_) => 400,
            Self::Internal(_) => 500,
        }
    }
}

impl fmt::Display for ListKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Atomic => f.write_str("atomic"),
            Self::Set => f.write_str("set"),
            Self::Map(keys) => write!(f, "map[{}]", keys.join(",")),
        }
    }
}

/// The fields an applied configuration specifies: every leaf, empty or null map, atomic
/// list or map, and list element; without `apiVersion`, `kind` and the metadata nobody owns
/// (`name`, `namespace`, `uid`, `resourceVersion`, `generation`, `creationTimestamp`,
/// `selfLink`, `managedFields`, `clusterName`). Reset fields such as `status` are the
/// endpoint's business: see [`FieldManager::ignore_fields`].
#[must_use]
pub fn field_set(obj: &Value, schema: &dyn ListSchema) -> FieldSet {
    manager::owned_fields(&typed::Typed::new(schema), obj)
}

/// Server-side applies `config` over `live` (`None` creates) for `manager` at `api_version`,
/// returning the object to store with its `metadata.managedFields`. `now` is the RFC 3339
/// time recorded in the entry. See [`FieldManager::apply`] for the rules and the options.
///
/// # Errors
///
/// See [`FieldManager::apply`].
pub fn apply(
    live: Option<&Value>,
    config: &Value,
    manager: &str,
    api_version: &str,
    force: bool,
    schema: &dyn ListSchema,
    now: &str,
) -> Result<Value, ApplyError> {
    FieldManager::new(schema, api_version).apply(live, config, manager, force, now)
}

/// Records an ordinary write (create, update, patch) of `new` over `old` (`None` on
/// create) in `new`'s `metadata.managedFields`: `manager` takes the fields that changed. See
/// [`FieldManager::update`].
pub fn record_update(
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    schema: &dyn ListSchema,
    now: &str,
) {
    FieldManager::new(schema, api_version).update(old, new, manager, now);
}
