//! Controllers of the `apps` group: ReplicaSet (and the legacy ReplicationController, which
//! upstream runs on the same code) and Deployment.
//!
//! - [`replicaset`]: pods for a ReplicaSet / ReplicationController.
//! - [`deployment`]: ReplicaSets for a Deployment (rolling update, recreate, proportional
//!   scaling, rollback, revision history, progress conditions).
//! - [`job`]: pods for a Job (batch/v1), run to completion.
//! - [`podrank`]: which pods to delete first.
//! - [`expectations`]: the creations and deletions a controller still waits to observe.
//! - [`claim`]: adoption and release of objects by controller reference.
//! - [`pod`]: pod predicates (active, ready, available).

pub mod claim;
pub mod deployment;
pub mod expectations;
pub mod job;
pub mod pod;
pub mod podrank;
pub mod replicaset;
