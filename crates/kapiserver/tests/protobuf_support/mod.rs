//! Shared by the integration tests: the capture server and the kubectl cases.

pub mod kubectl;
pub mod server;
