//! Per-kind knowledge of the built-in types: defaulting, validation, Table columns, and
//! schema checks through k8s-openapi's types.

pub mod defaults;
pub mod table;
pub mod typed;
pub mod validation;

pub use validation::{FieldError, FieldErrorType};

impl FieldError {
    /// `metadata.resourceVersion` is required for an update of this kind.
    pub fn required_rv() -> Self {
        FieldError {
            field: "metadata.resourceVersion".into(),
            reason: FieldErrorType::Invalid,
            message: "must be specified for an update".into(),
            value: Some(serde_json::json!(0)),
        }
    }
}
