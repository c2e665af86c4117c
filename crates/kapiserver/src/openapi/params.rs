//! Query and path parameters of the generated operations, named and typed as upstream's
//! option types (`CreateOptions`, `ListOptions`, …) publish them.

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Location {
    /// A path segment (`{name}`, `{namespace}`).
    Path,
    /// A query parameter.
    Query,
}

impl Location {
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Location::Path => "path",
            Location::Query => "query",
        }
    }
}

/// One non-body parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Param {
    pub(super) name: &'static str,
    pub(super) location: Location,
    /// `string`, `boolean` or `integer`.
    pub(super) ty: &'static str,
    pub(super) description: String,
}

impl Param {
    fn query(name: &'static str, ty: &'static str, description: &str) -> Self {
        Self { name, location: Location::Query, ty, description: description.to_owned() }
    }

    /// Path parameters are required, query parameters are not.
    pub(super) fn required(&self) -> bool {
        self.location == Location::Path
    }
}

/// `{name}` of an item path.
pub(super) fn name(kind: &str) -> Param {
    Param { name: "name", location: Location::Path, ty: "string", description: format!("name of the {kind}") }
}

/// `{namespace}` of a namespaced path.
pub(super) fn namespace() -> Param {
    Param {
        name: "namespace",
        location: Location::Path,
        ty: "string",
        description: "object name and auth scope, such as for teams and projects".to_owned(),
    }
}

/// `pretty`, accepted by every operation.
pub(super) fn pretty() -> Param {
    Param::query("pretty", "string", "If 'true', then the output is pretty printed.")
}

fn dry_run() -> Param {
    Param::query(
        "dryRun",
        "string",
        "When present, modifications are not persisted. Valid values: All (process every stage of the request \
         without storing the result).",
    )
}

fn field_manager() -> Param {
    Param::query(
        "fieldManager",
        "string",
        "Name of the actor making the change, at most 128 printable characters; recorded in managedFields.",
    )
}

fn field_validation() -> Param {
    Param::query(
        "fieldValidation",
        "string",
        "How the server treats unknown and duplicate fields in the request body: Ignore (drop them), Warn (drop \
         them and return a warning per field) or Strict (fail the request, reporting every such field).",
    )
}

fn force() -> Param {
    Param::query(
        "force",
        "boolean",
        "Apply requests only: take ownership of fields other managers own instead of failing with a conflict.",
    )
}

fn list_options(with_watch: bool) -> Vec<Param> {
    let mut params = vec![
        Param::query(
            "allowWatchBookmarks",
            "boolean",
            "Watch only: ask for BOOKMARK events, which carry only a resourceVersion. The server may send none.",
        ),
        Param::query("continue", "string", "The continue token of the previous page of a paginated list."),
        Param::query("fieldSelector", "string", "Restrict the result to objects whose fields match. Default: all."),
        Param::query("labelSelector", "string", "Restrict the result to objects whose labels match. Default: all."),
        Param::query(
            "limit",
            "integer",
            "Maximum number of items of a list; when more exist, metadata.continue tells how to fetch the rest.",
        ),
        Param::query(
            "resourceVersion",
            "string",
            "Which version of the collection to read; see resourceVersionMatch. Unset: the most recent.",
        ),
        Param::query("resourceVersionMatch", "string", "How resourceVersion applies to a list: Exact or NotOlderThan."),
        Param::query(
            "sendInitialEvents",
            "boolean",
            "Watch only: start with synthetic ADDED events for the current state, then a BOOKMARK marked \
             k8s.io/initial-events-end.",
        ),
        Param::query("timeoutSeconds", "integer", "Timeout of the list or watch call, regardless of activity."),
        Param::query(
            "watch",
            "boolean",
            "Watch for changes to the described objects and return them as a stream of add, update and remove \
             notifications.",
        ),
    ];
    if !with_watch {
        params.retain(|p| p.name != "watch" && p.name != "allowWatchBookmarks");
    }
    params
}

fn delete_options() -> Vec<Param> {
    vec![
        dry_run(),
        Param::query(
            "gracePeriodSeconds",
            "integer",
            "Seconds before the object is deleted; 0 deletes immediately. Unset: the kind's default.",
        ),
        Param::query(
            "ignoreStoreReadErrorWithClusterBreakingPotential",
            "boolean",
            "Delete an object that cannot be read from storage (corrupt data), bypassing finalizers and checks.",
        ),
        Param::query(
            "orphanDependents",
            "boolean",
            "Deprecated: use propagationPolicy. Whether dependents are orphaned.",
        ),
        Param::query(
            "propagationPolicy",
            "string",
            "Whether and how garbage collection deletes dependents: Orphan, Background or Foreground.",
        ),
    ]
}

/// The operations a verb produces, with their query parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Action {
    /// `get` on an item.
    Get,
    /// `list` on a collection.
    List,
    /// `create` on a collection.
    Post,
    /// `update` on an item.
    Put,
    /// `patch` on an item.
    Patch,
    /// `delete` on an item.
    Delete,
    /// `deletecollection` on a collection.
    DeleteCollection,
    /// Deprecated `watch` path of an item.
    Watch,
    /// Deprecated `watch` path of a collection.
    WatchList,
}

impl Action {
    /// The `x-kubernetes-action` value.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Action::Get => "get",
            Action::List => "list",
            Action::Post => "post",
            Action::Put => "put",
            Action::Patch => "patch",
            Action::Delete => "delete",
            Action::DeleteCollection => "deletecollection",
            Action::Watch => "watch",
            Action::WatchList => "watchlist",
        }
    }

    /// Query parameters of the operation (besides `pretty`), sorted by name.
    pub(super) fn query_params(self) -> Vec<Param> {
        let mut params = match self {
            Action::Get => Vec::new(),
            Action::List | Action::Watch | Action::WatchList => list_options(true),
            Action::Post | Action::Put => vec![dry_run(), field_manager(), field_validation()],
            Action::Patch => vec![dry_run(), field_manager(), field_validation(), force()],
            Action::Delete => delete_options(),
            Action::DeleteCollection => {
                let mut params = delete_options();
                params.extend(list_options(false));
                params
            }
        };
        params.sort_by_key(|p| p.name);
        params
    }
}
