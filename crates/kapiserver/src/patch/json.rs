//! JSON patch (RFC 6902, `application/json-patch+json`) with the API server's limits.

use json_patch::{PatchErrorKind, PatchOperation};
use serde_json::Value;

use super::{MAX_DEPTH, PatchError};

/// Most operations in one JSON patch, as upstream.
const MAX_OPERATIONS: usize = 10_000;

/// Most bytes all `copy` operations of one patch may duplicate, as upstream's default: copies
/// of copies could otherwise grow the object exponentially.
const MAX_COPY_BYTES: usize = 3 * 1024 * 1024;

/// Applies the JSON patch `ops` (still undecoded) to a copy of `original`.
pub(super) fn apply(original: &Value, ops: Value) -> Result<Value, PatchError> {
    let Value::Array(ops) = ops else {
        return Err(PatchError::Invalid(
            "error decoding patch: a JSON patch must be an array of operations".to_owned(),
        ));
    };
    if ops.len() > MAX_OPERATIONS {
        return Err(PatchError::TooManyOperations { limit: MAX_OPERATIONS, count: ops.len() });
    }
    let ops = ops
        .into_iter()
        .enumerate()
        .map(|(i, op)| {
            serde_json::from_value::<PatchOperation>(op)
                .map_err(|e| PatchError::Invalid(format!("error decoding patch: operation {i}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut patched = original.clone();
    let mut copied = 0;
    for op in &ops {
        check_growth(&patched, op, &mut copied)?;
        // The copy is thrown away on error, so the crate's undo log is not needed.
        json_patch::patch_unsafe(&mut patched, std::slice::from_ref(op)).map_err(|e| operation_error(op, &e))?;
    }
    Ok(patched)
}

/// Refuses an operation that would nest the object deeper than [`MAX_DEPTH`] or copy more
/// than [`MAX_COPY_BYTES`] in total. Keeping the depth bounded keeps every recursive walk of
/// the object (clone, compare, drop, encode) within the stack.
fn check_growth(doc: &Value, op: &PatchOperation, copied: &mut usize) -> Result<(), PatchError> {
    let (path, placed_depth) = match op {
        PatchOperation::Add(op) => (&op.path, depth(&op.value)),
        PatchOperation::Replace(op) => (&op.path, depth(&op.value)),
        PatchOperation::Move(op) => match doc.pointer(op.from.as_str()) {
            Some(source) => (&op.path, depth(source)),
            None => return Ok(()),
        },
        PatchOperation::Copy(op) => {
            let Some(source) = doc.pointer(op.from.as_str()) else {
                return Ok(());
            };
            *copied = copied.saturating_add(encoded_len(source));
            if *copied > MAX_COPY_BYTES {
                return Err(PatchError::Unprocessable(format!(
                    "Unable to complete the copy, the accumulated size increase of copy is {copied}, \
                     exceeding the limit {MAX_COPY_BYTES}"
                )));
            }
            (&op.path, depth(source))
        }
        PatchOperation::Remove(_) | PatchOperation::Test(_) => return Ok(()),
    };
    if path.count() + placed_depth > MAX_DEPTH {
        return Err(PatchError::Unprocessable(format!(
            "the patched object would nest deeper than {MAX_DEPTH} levels at {path}"
        )));
    }
    Ok(())
}

/// Levels of arrays and objects in `value` (0 for a scalar), without recursion.
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0)];
    while let Some((value, level)) = stack.pop() {
        match value {
            Value::Array(items) => {
                deepest = deepest.max(level + 1);
                stack.extend(items.iter().map(|child| (child, level + 1)));
            }
            Value::Object(map) => {
                deepest = deepest.max(level + 1);
                stack.extend(map.values().map(|child| (child, level + 1)));
            }
            _ => {}
        }
    }
    deepest
}

/// The length of `value` encoded as JSON.
fn encoded_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Writing a Value to a sink that never fails cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Upstream-style messages for a failed operation.
fn operation_error(op: &PatchOperation, error: &json_patch::PatchError) -> PatchError {
    let (name, from) = match op {
        PatchOperation::Add(_) => ("add", None),
        PatchOperation::Remove(_) => ("remove", None),
        PatchOperation::Replace(_) => ("replace", None),
        PatchOperation::Move(op) => ("move", Some(&op.from)),
        PatchOperation::Copy(op) => ("copy", Some(&op.from)),
        PatchOperation::Test(_) => ("test", None),
    };
    let path = &error.path;
    match (&error.kind, from) {
        (PatchErrorKind::TestFailed, _) => PatchError::TestFailed { path: path.to_string() },
        (PatchErrorKind::InvalidFromPointer, Some(from)) => PatchError::Unprocessable(format!(
            "{name} operation does not apply: doc is missing from path: \"{from}\": missing value"
        )),
        (PatchErrorKind::InvalidPointer | PatchErrorKind::InvalidFromPointer, _) => PatchError::Unprocessable(format!(
            "{name} operation does not apply: doc is missing path: \"{path}\": missing value"
        )),
        (PatchErrorKind::CannotMoveInsideItself, Some(from)) => {
            PatchError::Unprocessable(format!("move operation cannot move {from} into its own child {path}"))
        }
        _ => PatchError::Unprocessable(format!("{name} operation failed: {error}")),
    }
}
