//! PATCH request bodies: JSON patch (RFC 6902), JSON merge patch (RFC 7386) and strategic
//! merge patch, applied to an object held as a [`serde_json::Value`].
//!
//! Server-side apply (`application/apply-patch+yaml`) is recognised but not applied here.
//!
//! Bodies are checked before they are used: a body may nest at most 100 levels and a JSON
//! patch may hold at most 10,000 operations, copy at most 3 MiB in total and build nothing
//! deeper than 100 levels. Bad input yields a [`PatchError`]; the original is never changed.

mod json;
mod schema;
mod strategic;

#[cfg(test)]
mod tests;

use serde_json::Value;

pub use schema::{FieldMeta, PatchSchema, Strategy, builtin_schema, supports_strategic};

/// Deepest nesting of arrays and objects accepted in a patch body, and built by a JSON patch.
const MAX_DEPTH: usize = 100;

/// The kind of a PATCH request, named by its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PatchType {
    /// `application/json-patch+json`: a list of RFC 6902 operations.
    Json,
    /// `application/merge-patch+json`: an RFC 7386 merge patch.
    Merge,
    /// `application/strategic-merge-patch+json`: a merge patch that merges lists by key.
    StrategicMerge,
    /// `application/apply-patch+yaml`: server-side apply.
    Apply,
}

impl PatchType {
    /// The patch type a `Content-Type` header names, ignoring parameters such as
    /// `; charset=utf-8` and the case of the media type.
    #[must_use]
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let essence = content_type.split(';').next().unwrap_or_default().trim();
        [Self::Json, Self::Merge, Self::StrategicMerge, Self::Apply]
            .into_iter()
            .find(|kind| kind.content_type().eq_ignore_ascii_case(essence))
    }

    /// The media type of this patch type.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json-patch+json",
            Self::Merge => "application/merge-patch+json",
            Self::StrategicMerge => "application/strategic-merge-patch+json",
            Self::Apply => "application/apply-patch+yaml",
        }
    }
}

/// Why a patch could not be applied. [`PatchError::http_status`] gives the status code the
/// upstream API server answers with.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PatchError {
    /// The body is not a patch of its type: undecodable JSON, the wrong shape, or a
    /// malformed strategic-merge directive.
    #[error("{0}")]
    Invalid(String),
    /// The body nests arrays and objects deeper than the limit.
    #[error("the patch nests deeper than {limit} levels")]
    TooDeep {
        /// The deepest nesting accepted.
        limit: usize,
    },
    /// A JSON patch with more operations than the limit.
    #[error("The allowed maximum operations in a JSON patch is {limit}, got {count}")]
    TooManyOperations {
        /// The most operations accepted.
        limit: usize,
        /// The operations in the patch.
        count: usize,
    },
    /// A JSON patch `test` operation found a different value.
    #[error("testing value {path} failed: test failed")]
    TestFailed {
        /// The JSON pointer the operation tested.
        path: String,
    },
    /// The patch is well formed but does not apply to this object (a JSON patch path that is
    /// missing, a list of lists, a result over the size limits).
    #[error("{0}")]
    Unprocessable(String),
    /// A strategic merge patch whose content does not fit the object: a list element without
    /// its merge key, mixed element types, an unknown `$patch` value.
    #[error("{0}")]
    Merge(String),
    /// The patch type is not supported here (server-side apply, or a strategic merge patch
    /// for a kind without patch metadata).
    #[error("{0}")]
    Unsupported(String),
}

impl PatchError {
    /// The HTTP status code upstream answers with for this error.
    ///
    /// [`PatchError::Merge`] is 500 because upstream passes these errors through unclassified.
    #[must_use]
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Invalid(_) | Self::TooDeep { .. } => 400,
            Self::TooManyOperations { .. } => 413,
            Self::Unsupported(_) => 415,
            Self::TestFailed { .. } | Self::Unprocessable(_) => 422,
            Self::Merge(_) => 500,
        }
    }
}

/// Applies `patch_body`, a patch of type `kind`, to `original` and returns the patched
/// object. `schema` gives the list strategies of the object's kind for strategic merge
/// patches (see [`builtin_schema`]); the other types ignore it.
///
/// # Errors
///
/// [`PatchError::Unsupported`] for [`PatchType::Apply`]; otherwise whatever the body or its
/// application gets wrong, as described on [`PatchError`].
pub fn apply_patch(
    kind: PatchType,
    original: &Value,
    patch_body: &[u8],
    schema: &dyn PatchSchema,
) -> Result<Value, PatchError> {
    if kind == PatchType::Apply {
        return Err(PatchError::Unsupported(format!(
            "{} patches are handled by server-side apply",
            PatchType::Apply.content_type()
        )));
    }
    // The scan bounds the recursion of everything below by the depth of the body.
    check_nesting(patch_body)?;
    let patch: Value = serde_json::from_slice(patch_body).map_err(|e| match kind {
        PatchType::Merge => PatchError::Invalid("Invalid JSON Patch".to_owned()),
        _ => PatchError::Invalid(format!("error decoding patch: {e}")),
    })?;
    match kind {
        PatchType::Json => json::apply(original, patch),
        PatchType::Merge => merge(original, &patch),
        PatchType::StrategicMerge => strategic::apply(original, patch, schema),
        PatchType::Apply => Err(PatchError::Unsupported("server-side apply".to_owned())),
    }
}

/// RFC 7386. Only an object is a patch for an object; upstream rejects `null` and scalars
/// with this message (and an array with a decode error later).
fn merge(original: &Value, patch: &Value) -> Result<Value, PatchError> {
    if !patch.is_object() {
        return Err(PatchError::Invalid("Invalid JSON Patch".to_owned()));
    }
    let mut patched = original.clone();
    json_patch::merge(&mut patched, patch);
    Ok(patched)
}

/// Rejects bodies whose arrays and objects nest deeper than [`MAX_DEPTH`], without parsing.
fn check_nesting(body: &[u8]) -> Result<(), PatchError> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &byte in body {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(PatchError::TooDeep { limit: MAX_DEPTH });
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}
