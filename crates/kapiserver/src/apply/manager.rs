//! The field manager of one endpoint: apply and update requests as the API server's
//! `FieldManager` runs them (version check, client-side-apply upgrade, tracking from the
//! first apply, capped update entries, stripped metadata, timestamps).

use serde_json::{Map, Value};

use super::element::{PathElement, go_json};
use super::fieldset::FieldSet;
use super::managed::{self, Managed, ManagerId, ManagerKey, Operation};
use super::typed::Typed;
use super::updater::{Applied, ConflictSets, Updater};
use super::{ApplyError, Conflict, ListSchema};

/// The annotation client-side apply keeps its last configuration in.
pub const LAST_APPLIED_ANNOTATION: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Upstream's limit on the total size of an object's annotations.
const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Upstream's default cap on update entries before old ones merge into `ancient-changes`.
pub const DEFAULT_MAX_UPDATE_MANAGERS: usize = 10;

/// Fields nobody owns: identity and server-set metadata (upstream's strip set).
fn strip_set() -> FieldSet {
    let f = PathElement::field;
    let mut set = FieldSet::from_paths(&[[f("apiVersion")], [f("kind")], [f("metadata")]]);
    for name in [
        "name",
        "namespace",
        "creationTimestamp",
        "selfLink",
        "uid",
        "clusterName",
        "generation",
        "managedFields",
        "resourceVersion",
    ] {
        set.insert(&[f("metadata"), f(name)]);
    }
    set
}

fn strip(managed: &mut Managed, key: &ManagerKey) {
    if let Some(entry) = managed.get_mut(key) {
        entry.set = entry.set.difference(&strip_set());
        if entry.set.is_empty() {
            managed.remove(key);
        }
    }
}

/// The fields `obj` sets, without the metadata nobody owns.
pub(crate) fn owned_fields(typed: &Typed<'_>, obj: &Value) -> FieldSet {
    typed.field_set(obj).difference(&strip_set())
}

fn metadata(obj: &Value) -> Option<&Map<String, Value>> {
    obj.get("metadata")?.as_object()
}

fn meta_str<'v>(obj: &'v Value, name: &str) -> &'v str {
    metadata(obj).and_then(|m| m.get(name)).and_then(Value::as_str).unwrap_or_default()
}

fn top_str<'v>(obj: &'v Value, name: &str) -> &'v str {
    obj.get(name).and_then(Value::as_str).unwrap_or_default()
}

fn managed_fields_of(obj: &Value) -> Option<&Value> {
    metadata(obj)?.get("managedFields")
}

fn without_managed_fields(obj: &Value) -> Value {
    let mut copy = obj.clone();
    set_managed_fields(&mut copy, None);
    copy
}

fn set_managed_fields(obj: &mut Value, list: Option<Value>) {
    let Some(object) = obj.as_object_mut() else { return };
    match list {
        Some(list) => {
            let meta = object.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
            if let Some(meta) = meta.as_object_mut() {
                meta.insert("managedFields".to_owned(), list);
            }
        }
        None => {
            if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.remove("managedFields");
            }
        }
    }
}

/// Go's `GroupVersionKind.String()`: `apps/v1, Kind=Deployment`, `/v1, Kind=Pod`.
fn gvk_string(obj: &Value) -> String {
    let api_version = top_str(obj, "apiVersion");
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    format!("{group}/{version}, Kind={}", top_str(obj, "kind"))
}

/// `namespace/name; gvk`, as upstream names objects in its errors.
fn gvknn(obj: &Value) -> String {
    format!("{}/{}; {}", meta_str(obj, "namespace"), meta_str(obj, "name"), gvk_string(obj))
}

/// Upstream's text for a list of validation errors.
fn join_errors(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => format!("errors:\n  {}", many.join("\n  ")),
    }
}

/// The field manager of one endpoint (a resource, or one of its subresources) at one API
/// version. Pure: the caller passes the time and persists the returned objects.
pub struct FieldManager<'a> {
    schema: &'a dyn ListSchema,
    api_version: String,
    subresource: String,
    ignored: FieldSet,
    max_update_managers: usize,
}

impl std::fmt::Debug for FieldManager<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FieldManager")
            .field("api_version", &self.api_version)
            .field("subresource", &self.subresource)
            .field("ignored", &self.ignored.path_strings())
            .field("max_update_managers", &self.max_update_managers)
            .finish_non_exhaustive()
    }
}

impl<'a> FieldManager<'a> {
    /// A field manager for objects of `api_version` (`apps/v1`) whose lists follow `schema`.
    #[must_use]
    pub fn new(schema: &'a dyn ListSchema, api_version: &str) -> Self {
        Self {
            schema,
            api_version: api_version.to_owned(),
            subresource: String::new(),
            ignored: FieldSet::new(),
            max_update_managers: DEFAULT_MAX_UPDATE_MANAGERS,
        }
    }

    /// Records entries for a subresource (`status`, `scale`): they carry its name, and
    /// updates keep the live object's managed fields whatever the request sends.
    #[must_use]
    pub fn subresource(mut self, subresource: &str) -> Self {
        subresource.clone_into(&mut self.subresource);
        self
    }

    /// Fields this endpoint resets, that nobody owns through it (upstream's reset fields),
    /// e.g. `status` on a main resource that has a status subresource. Paths below a member
    /// are ignored too.
    #[must_use]
    pub fn ignore_fields(mut self, ignored: FieldSet) -> Self {
        self.ignored = ignored;
        self
    }

    /// The most update entries an object keeps (default 10).
    #[must_use]
    pub fn max_update_managers(mut self, max: usize) -> Self {
        self.max_update_managers = max;
        self
    }

    fn updater(&self) -> Updater<'_> {
        Updater { typed: Typed::new(self.schema), ignored: &self.ignored }
    }

    fn id(&self, manager: &str, operation: Operation) -> ManagerKey {
        ManagerKey::Id(ManagerId::new(manager, operation, &self.api_version, &self.subresource))
    }

    /// Records a non-apply write of `new` over `live`: `manager` takes what changed.
    fn record(&self, live: &Value, new: &Value, managed: &mut Managed, manager: &str, now: &str) {
        self.updater().record(live, new, managed, &ManagerKey::Current, &self.api_version);
        strip(managed, &ManagerKey::Current);
        if let Some(current) = managed.remove(&ManagerKey::Current) {
            let id = self.id(manager, Operation::Update);
            let set = match managed.get(&id) {
                Some(previous) => current.set.union(&previous.set),
                None => current.set,
            };
            let entry =
                managed::Entry { set, api_version: current.api_version, applied: false, time: Some(now.to_owned()) };
            managed.insert(id, entry);
        }
        managed::cap_update_managers(managed, self.max_update_managers);
    }

    /// Records an ordinary write (create, update, patch) in `new`'s `metadata.managedFields`.
    /// `old` is the stored object, `None` on create.
    ///
    /// Like upstream: managed fields sent in `new` replace the stored ones when they decode
    /// and are not empty (restoring them is allowed), otherwise the stored ones are kept; an
    /// empty list (or one empty entry) clears them, and an update of an object that has none
    /// does not start tracking. When either object does not fit the schema, `new` gets the
    /// stored managed fields unchanged.
    pub fn update(&self, old: Option<&Value>, new: &mut Value, manager: &str, now: &str) {
        if !new.is_object() {
            return;
        }
        let stored = old.and_then(managed_fields_of);
        let sent = managed_fields_of(new);
        let decoded_stored = || managed::decode(stored).unwrap_or_default();
        let mut managed = if !self.subresource.is_empty() {
            decoded_stored()
        } else if managed::is_reset(sent) {
            Managed::new()
        } else {
            match managed::decode(sent) {
                Ok(managed) if !managed.is_empty() => managed,
                _ => decoded_stored(),
            }
        };
        let restore = stored.cloned();
        set_managed_fields(new, None);
        let old_uid = old.map(|o| meta_str(o, "uid")).unwrap_or_default();
        if managed.is_empty() && !old_uid.is_empty() {
            // Objects without managed fields are only tracked again from their next apply.
            return;
        }
        let live = old.map_or_else(|| Value::Object(Map::new()), without_managed_fields);
        let typed = Typed::new(self.schema);
        if !typed.validate(&live, true).is_empty() || !typed.validate(new, true).is_empty() {
            set_managed_fields(new, restore);
            return;
        }
        self.record(&live, new, &mut managed, manager, now);
        set_managed_fields(new, managed::encode(&managed));
    }

    /// Server-side applies `config` over `live` (`None` creates) for `manager`, returning the
    /// object to store with its managed fields.
    ///
    /// # Errors
    ///
    /// - [`ApplyError::Conflicts`] when, without `force`, the apply would change fields other
    ///   managers own. For manager `kubectl`, conflicts the object's last client-side
    ///   configuration accounts for are forced, as upstream does when upgrading.
    /// - [`ApplyError::Invalid`] for a configuration of the wrong kind or version, one that
    ///   sets `metadata.managedFields`, or one that does not fit the schema (e.g. duplicate
    ///   keys in an associative list).
    /// - [`ApplyError::Internal`] when the stored object or its managed fields are unreadable.
    pub fn apply(
        &self,
        live: Option<&Value>,
        config: &Value,
        manager: &str,
        force: bool,
        now: &str,
    ) -> Result<Value, ApplyError> {
        if !config.is_object() {
            return Err(ApplyError::Invalid("apply configuration must be an object".to_owned()));
        }
        let wrong_kind = live.is_some_and(|l| top_str(l, "kind") != top_str(config, "kind"));
        if top_str(config, "apiVersion") != self.api_version || wrong_kind {
            return Err(ApplyError::Invalid(format!("invalid object type: {}", gvk_string(config))));
        }
        if managed_fields_of(config).is_some_and(|m| !m.is_null()) {
            return Err(ApplyError::Invalid("metadata.managedFields must be nil".to_owned()));
        }
        let typed = Typed::new(self.schema);
        let errors = typed.validate(config, false);
        if !errors.is_empty() {
            let message = format!("failed to create typed patch object ({}): {}", gvknn(config), join_errors(&errors));
            return Err(ApplyError::Invalid(message));
        }
        let live_obj = live.map_or_else(|| Value::Object(Map::new()), without_managed_fields);
        let errors = typed.validate(&live_obj, true);
        if !errors.is_empty() {
            let message =
                format!("failed to create typed live object ({}): {}", gvknn(&live_obj), join_errors(&errors));
            return Err(ApplyError::Internal(message));
        }
        let managed = managed::decode(live.and_then(managed_fields_of))
            .map_err(|e| ApplyError::Internal(format!("failed to decode managed fields: {e}")))?;

        let mut result = match self.apply_tracked(&live_obj, config, managed.clone(), manager, force, now)? {
            Ok(object) => object,
            Err(conflicts) => {
                let allowed = if manager == "kubectl" { self.allowed_by_last_applied(&live_obj) } else { None };
                let Some(allowed) = allowed else { return Err(self.conflicts(conflicts)) };
                let remaining: ConflictSets = conflicts
                    .into_iter()
                    .map(|(key, set)| (key, set.difference(&allowed)))
                    .filter(|(_, set)| !set.is_empty())
                    .collect();
                if !remaining.is_empty() {
                    return Err(self.conflicts(remaining));
                }
                match self.apply_tracked(&live_obj, config, managed, manager, true, now)? {
                    Ok(object) => object,
                    Err(conflicts) => return Err(self.conflicts(conflicts)),
                }
            }
        };
        if manager == "kubectl" {
            sync_last_applied(&mut result, config);
        }
        Ok(result)
    }

    /// The apply below the client-side-apply layers: starts tracking from the first apply,
    /// merges, prunes, settles ownership, stamps the time and encodes the managed fields.
    fn apply_tracked(
        &self,
        live: &Value,
        config: &Value,
        mut managed: Managed,
        manager: &str,
        force: bool,
        now: &str,
    ) -> Result<Result<Value, ConflictSets>, ApplyError> {
        if managed.is_empty() {
            // Fields set before the first apply belong to `before-first-apply`.
            self.record(&Value::Object(Map::new()), live, &mut managed, "before-first-apply", now);
        }
        let id = self.id(manager, Operation::Apply);
        let applied = match self.updater().apply(live, config, &mut managed, &id, &self.api_version, force) {
            Err(message) => return Err(ApplyError::Internal(message)),
            Ok(Err(conflicts)) => return Ok(Err(conflicts)),
            Ok(Ok(applied)) => applied,
        };
        strip(&mut managed, &id);
        let mut object = match applied {
            Applied::Changed(object) => {
                if let Some(entry) = managed.get_mut(&id) {
                    entry.time = Some(now.to_owned());
                }
                object
            }
            Applied::Unchanged => live.clone(),
        };
        set_managed_fields(&mut object, managed::encode(&managed));
        Ok(Ok(object))
    }

    fn conflicts(&self, sets: ConflictSets) -> ApplyError {
        let mut by_manager: Vec<(String, ManagerId, FieldSet)> = sets
            .into_iter()
            .filter_map(|(key, set)| match key {
                ManagerKey::Id(id) => Some((id.identifier(), id, set)),
                ManagerKey::Current => None,
            })
            .collect();
        by_manager.sort_by(|a, b| a.0.cmp(&b.0));
        let conflicts = by_manager
            .into_iter()
            .flat_map(|(_, id, set)| {
                set.path_strings().into_iter().map(move |field| Conflict {
                    manager: id.manager.clone(),
                    operation: id.operation,
                    api_version: id.api_version.clone(),
                    subresource: id.subresource.clone(),
                    field,
                })
            })
            .collect();
        ApplyError::Conflicts(conflicts)
    }

    /// The fields the last client-side apply set and the live object still has unchanged:
    /// `kubectl` may take them over without conflict.
    fn allowed_by_last_applied(&self, live: &Value) -> Option<FieldSet> {
        let annotation = metadata(live)?.get("annotations")?.get(LAST_APPLIED_ANNOTATION)?.as_str()?;
        if annotation.is_empty() {
            return None;
        }
        let last: Value = serde_json::from_str(annotation).ok()?;
        if !last.is_object() || top_str(&last, "apiVersion") != self.api_version {
            return None;
        }
        let typed = Typed::new(self.schema);
        if !typed.validate(live, false).is_empty() || !typed.validate(&last, false).is_empty() {
            return None;
        }
        let compare = typed.compare(&last, live);
        Some(
            typed
                .field_set(&last)
                .difference(&compare.modified)
                .difference(&compare.added)
                .difference(&compare.removed),
        )
    }
}

/// Keeps an existing last-applied annotation in step with what `kubectl` applies server-side:
/// the configuration without that annotation, as Go encodes it; dropped when annotations
/// would grow past their size limit.
fn sync_last_applied(object: &mut Value, config: &Value) {
    let has_annotation = metadata(object)
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(LAST_APPLIED_ANNOTATION))
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty());
    if !has_annotation {
        return;
    }
    let mut applied = config.clone();
    if let Some(annotations) =
        applied.get_mut("metadata").and_then(|m| m.get_mut("annotations")).and_then(Value::as_object_mut)
    {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
    let text = format!("{}\n", go_json(&applied));
    let Some(annotations) =
        object.get_mut("metadata").and_then(|m| m.get_mut("annotations")).and_then(Value::as_object_mut)
    else {
        return;
    };
    annotations.insert(LAST_APPLIED_ANNOTATION.to_owned(), Value::String(text));
    let size: usize = annotations.iter().map(|(k, v)| k.len() + v.as_str().map_or(0, str::len)).sum();
    if size > TOTAL_ANNOTATION_SIZE_LIMIT {
        annotations.remove(LAST_APPLIED_ANNOTATION);
    }
}
