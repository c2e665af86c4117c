//! The Kubernetes object model shared by every crate of the SDK.
//!
//! ```
//! use kapi::k8s::api::core::v1::Pod;
//! use kapi::labels::Selector;
//! use kapi::quantity::Quantity;
//! use kapi::{ObjectKey, Resource};
//!
//! // Built-in kinds carry their group, version, kind, plural and scope.
//! assert_eq!(Pod::plural(&()), "pods");
//! assert!(Pod::namespaced(&()));
//!
//! // Label selectors use the exact upstream string syntax and semantics.
//! let sel: Selector = "app in (web,api),tier!=db,!canary".parse()?;
//! assert!(sel.matches(&[("app", "web"), ("tier", "fe")]));
//! assert!(!sel.matches(&[("app", "web"), ("canary", "true")]));
//!
//! // Quantities parse every suffix form and print in canonical form.
//! let q: Quantity = "1.5Gi".parse()?;
//! assert_eq!(q.to_string(), "1536Mi");
//! assert_eq!(q.value()?, 1_610_612_736);
//! assert_eq!("100m".parse::<Quantity>()?.milli_value()?, 100);
//!
//! let key: ObjectKey = "default/web-0".parse()?;
//! assert_eq!(key.namespace(), Some("default"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Place in the architecture
//!
//! `kapi` sits at the bottom of the Kubernetes-facing half of the workspace:
//! `kapiserver`, `kwatch`, `kcontroller`, `ksched`, `knode` and `kproxy` all depend on it so
//! that they agree on one set of types. It re-exports [`k8s_openapi`] (as [`k8s`]) with
//! exactly one Kubernetes version feature enabled (`v1_33`). The consensus and storage
//! crates (`kraft`, `kstore`) do not depend on it: they know nothing about Kubernetes.
//!
//! # Modules
//!
//! - [`resource`]: the [`Resource`] trait (group/version/kind/plural/scope for built-in
//!   and dynamic kinds) and [`ApiResource`].
//! - [`dynamic`]: [`DynamicObject`], any object as JSON (custom resources).
//! - [`key`]: [`ObjectKey`] (namespace/name) and the storage key layout ([`KeyLayout`]).
//! - [`labels`]: label selectors, string syntax and `LabelSelector` conversion.
//! - [`fields`]: field selectors and the fields each kind supports.
//! - [`quantity`]: resource quantities with upstream parsing, rounding and formatting.
//! - [`owner`]: owner-reference helpers.
//! - [`status`]: the Kubernetes `Status` error shape.
//! - [`validation`]: the name and label syntax checks shared by the modules above.

pub use k8s_openapi as k8s;

pub mod dynamic;
pub mod fields;
pub mod key;
pub mod labels;
pub mod owner;
pub mod quantity;
pub mod resource;
pub mod status;
pub mod validation;

pub use dynamic::DynamicObject;
pub use key::{KeyLayout, ObjectKey};
pub use resource::{ApiResource, Resource};
pub use status::{Reason, StatusError};
