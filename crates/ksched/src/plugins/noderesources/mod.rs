//! The node resource plugins: NodeResourcesFit (filter + scoring strategies) and
//! NodeResourcesBalancedAllocation, sharing one resource allocation scorer.

pub mod balanced;
pub mod fit;
mod scorer;
