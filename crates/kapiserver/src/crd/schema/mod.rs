//! What the apiextensions apiserver does with a CRD version's `openAPIV3Schema`, over
//! `serde_json::Value` custom resources.
//!
//! ```
//! use kapiserver::crd::schema::{Structural, apply_defaults, prune, validate};
//! use serde_json::json;
//!
//! let mut s = Structural::from_json(&json!({
//!     "type": "object",
//!     "properties": {"spec": {"type": "object", "properties": {
//!         "size": {"type": "integer", "maximum": 10, "default": 1}
//!     }}}
//! }))?;
//! s.prune_defaults();
//! let mut obj = json!({"apiVersion": "x.io/v1", "kind": "X", "spec": {"foo": 1}});
//! assert_eq!(prune(&mut obj, &s), ["spec.foo"]);
//! apply_defaults(&mut obj, &s);
//! assert_eq!(obj["spec"]["size"], 1);
//! obj["spec"]["size"] = json!(20);
//! let errs = validate(&obj, &s);
//! assert_eq!(errs[0].to_string(), "spec.size: Invalid value: 20: spec.size in body should be less than or equal to 10");
//! # Ok::<(), kapiserver::crd::schema::SchemaError>(())
//! ```
//!
//! The order on a write is the server's: [`prune`] (its paths feed `fieldValidation`), then
//! [`apply_defaults`], then [`validate`]. CRD create/update uses [`check_structural_at`].
//! Printer columns ([`PrinterColumns`]) and the scale subresource ([`scale_paths`]) read the CRD
//! version object.

mod check;
mod crdcheck;
mod defaults;
mod embedded;
mod field;
mod formats;
mod goregex;
mod jsonpath;
mod listtype;
mod openapi;
mod printer;
mod prune;
mod scale;
mod structural;
mod validate;

pub use check::{check_structural, check_structural_at};
pub use defaults::apply_defaults;
pub use field::FieldError;
pub use jsonpath::{JsonPath, JsonPathError};
pub use printer::{PrinterColumns, cells, columns};
pub use prune::{drop_non_nullable_nulls, prune};
pub use scale::{ScaleError, ScalePaths, ScaleState, read_path, read_scale, scale_paths, validate_scale, write_path};
pub use structural::{SchemaError, Structural};
pub use validate::{validate, validate_at};

#[cfg(test)]
mod proptests;
