//! The resource allocation scorer shared by NodeResourcesFit's scoring strategies and
//! NodeResourcesBalancedAllocation (upstream `resource_allocation.go`, `least_allocated.go`,
//! `most_allocated.go`, `requested_to_capacity_ratio.go`, `balanced_allocation.go`).

use serde::Deserialize;

use crate::framework::{MAX_NODE_SCORE, PluginError};
use crate::types::{NodeInfo, PodInfo};

/// Shape point scores are given in 0..=10 (`MaxCustomPriorityScore`) and scaled to 0..=100.
pub(crate) const MAX_CUSTOM_PRIORITY_SCORE: i64 = 10;
/// The utilization axis of RequestedToCapacityRatio shapes.
const MAX_UTILIZATION: i64 = 100;

/// A resource and its weight (`ResourceSpec`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResourceSpec {
    /// Resource name (`cpu`, `memory`, `example.com/gpu` …).
    pub(crate) name: String,
    /// Weight; 0 (unset) defaults to 1.
    #[serde(default)]
    pub(crate) weight: i64,
}

/// CPU and memory with weight 1: the default of both plugins.
pub(crate) fn default_resources() -> Vec<ResourceSpec> {
    vec![ResourceSpec { name: "cpu".into(), weight: 1 }, ResourceSpec { name: "memory".into(), weight: 1 }]
}

/// Names without a `/`, or in the `kubernetes.io/` namespace (upstream `IsNativeResource`).
fn is_native_resource(name: &str) -> bool {
    !name.contains('/') || name.contains("kubernetes.io/")
}

/// Extended resources (`example.com/gpu`): the only ones `ignoredResources` may name.
pub(crate) fn is_extended_resource_name(name: &str) -> bool {
    !is_native_resource(name)
        && !name.starts_with("requests.")
        && kapi::validation::qualified_name(&format!("requests.{name}")).is_ok()
}

/// Resources the scheduler counts besides cpu, memory, ephemeral storage and pods
/// (upstream `IsScalarResourceName`).
pub(crate) fn is_scalar_resource_name(name: &str) -> bool {
    is_extended_resource_name(name)
        || name.starts_with("hugepages-")
        || name.contains("kubernetes.io/")
        || name.starts_with("attachable-volumes-")
}

/// How per-resource scores are computed and combined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// Free capacity: (cap − req) × 100 / cap.
    LeastAllocated,
    /// Used capacity: req × 100 / cap (req clamped to cap).
    MostAllocated,
    /// A broken-linear function of utilization; points already scaled to 0..=100.
    RequestedToCapacityRatio(Vec<(i64, i64)>),
    /// 1 − standard deviation of the requested fractions.
    Balanced,
}

/// Where a configured resource's amounts are read from: resolved once when the plugin is
/// built, so scoring a node compares no names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cpu,
    Memory,
    EphemeralStorage,
    /// Extended resources, hugepages, attachable volumes: scored only when the pod asks.
    Scalar,
    /// Anything else (e.g. `pods`): never scored.
    Ignored,
}

impl Kind {
    fn of(name: &str) -> Self {
        match name {
            "cpu" => Self::Cpu,
            "memory" => Self::Memory,
            "ephemeral-storage" => Self::EphemeralStorage,
            _ if is_scalar_resource_name(name) => Self::Scalar,
            _ => Self::Ignored,
        }
    }
}

/// Scores a node from the pod's requests and the node's allocatable and requested amounts.
#[derive(Debug, Clone)]
pub(crate) struct Scorer {
    /// Resources scored, with weights.
    resources: Vec<ResourceSpec>,
    /// Each resource's kind, in the order of `resources`.
    kinds: Vec<Kind>,
    /// The strategy.
    strategy: Strategy,
    /// Plain requests for cpu/memory (BalancedAllocation) instead of the non-zero ones
    /// (100m / 200 MiB per container without a request).
    use_requested: bool,
}

impl Scorer {
    /// A scorer of `resources` (already defaulted and validated).
    pub(crate) fn new(resources: Vec<ResourceSpec>, strategy: Strategy, use_requested: bool) -> Self {
        let kinds = resources.iter().map(|r| Kind::of(&r.name)).collect();
        Self { resources, kinds, strategy, use_requested }
    }

    /// The pod's request for each configured resource, in order.
    pub(crate) fn pod_requests(&self, pod: &PodInfo) -> Vec<i64> {
        self.resources
            .iter()
            .zip(&self.kinds)
            .map(|(r, kind)| match kind {
                Kind::Cpu if !self.use_requested => pod.non_zero_milli_cpu,
                Kind::Memory if !self.use_requested => pod.non_zero_memory,
                _ => pod.requests.get(&r.name),
            })
            .collect()
    }

    /// (allocatable, requested including the pod) for resource `i`; (0, 0) leaves the
    /// resource out of the score.
    fn allocatable_requested(&self, node: &NodeInfo, i: usize, pod_request: i64) -> (i64, i64) {
        let requested = if self.use_requested { &node.requested } else { &node.non_zero_requested };
        match self.kinds[i] {
            Kind::Cpu => (node.allocatable.milli_cpu, requested.milli_cpu.saturating_add(pod_request)),
            Kind::Memory => (node.allocatable.memory, requested.memory.saturating_add(pod_request)),
            Kind::EphemeralStorage => {
                (node.allocatable.ephemeral_storage, node.requested.ephemeral_storage.saturating_add(pod_request))
            }
            // A scalar resource the pod does not ask for is not scored.
            Kind::Scalar if pod_request == 0 => (0, 0),
            Kind::Scalar => {
                let name = &self.resources[i].name;
                match node.allocatable.scalar.get(name) {
                    Some(alloc) => (*alloc, node.requested.get(name).saturating_add(pod_request)),
                    None => (0, 0),
                }
            }
            Kind::Ignored => (0, 0),
        }
    }

    /// The node's score for a pod with `pod_requests` (from [`Scorer::pod_requests`]).
    pub(crate) fn score(&self, node: &NodeInfo, pod_requests: &[i64]) -> i64 {
        // Scored per node on the hot path: the two mean strategies in one pass without
        // buffers; the others gather the amounts first (inline for the usual few resources).
        let amounts = (0..self.kinds.len())
            .map(|i| self.allocatable_requested(node, i, pod_requests.get(i).copied().unwrap_or(0)));
        match &self.strategy {
            Strategy::LeastAllocated => self.weighted_mean(amounts, least_requested_score),
            Strategy::MostAllocated => self.weighted_mean(amounts, most_requested_score),
            Strategy::RequestedToCapacityRatio(shape) => {
                let (requested, allocatable): (Vec<i64>, Vec<i64>) = amounts.map(|(a, r)| (r, a)).unzip();
                self.ratio_score(&requested, &allocatable, shape)
            }
            Strategy::Balanced => {
                const INLINE: usize = 8;
                let mut buf = [0f64; INLINE];
                let mut n = 0;
                let mut spill = Vec::new();
                #[allow(clippy::cast_precision_loss)]
                for f in amounts.filter(|(a, _)| *a != 0).map(|(a, r)| (r as f64 / a as f64).min(1.0)) {
                    if n < INLINE {
                        buf[n] = f;
                    } else {
                        spill.push(f);
                    }
                    n += 1;
                }
                if n <= INLINE {
                    balanced_std_score(&buf[..n])
                } else {
                    balanced_std_score(&[&buf[..], &spill].concat())
                }
            }
        }
    }

    /// Σ score × weight / Σ weight over resources with allocatable ≠ 0 (integer division).
    fn weighted_mean(&self, amounts: impl Iterator<Item = (i64, i64)>, f: impl Fn(i64, i64) -> i64) -> i64 {
        let (mut sum, mut weights) = (0i64, 0i64);
        for ((alloc, req), r) in amounts.zip(&self.resources) {
            if alloc == 0 {
                continue;
            }
            sum += f(req, alloc) * r.weight;
            weights += r.weight;
        }
        if weights == 0 { 0 } else { sum / weights }
    }

    /// The weighted mean over resources whose score is > 0, rounded half away from zero.
    fn ratio_score(&self, requested: &[i64], allocatable: &[i64], shape: &[(i64, i64)]) -> i64 {
        let (mut sum, mut weights) = (0i64, 0i64);
        for (i, r) in self.resources.iter().enumerate() {
            if allocatable[i] == 0 {
                continue;
            }
            let (req, cap) = (requested[i], allocatable[i]);
            let utilization = if cap == 0 || req > cap { MAX_UTILIZATION } else { mul_div(req, MAX_UTILIZATION, cap) };
            let s = broken_linear(shape, utilization);
            if s > 0 {
                sum += s * r.weight;
                weights += r.weight;
            }
        }
        if weights == 0 {
            return 0;
        }
        // Go's math.Round and Rust's f64::round both round half away from zero.
        #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
        let rounded = (sum as f64 / weights as f64).round() as i64;
        rounded
    }
}

/// a × b / c without intermediate overflow (same result as Go's int64 math when it fits).
fn mul_div(a: i64, b: i64, c: i64) -> i64 {
    // The product fits in 64 bits for any real node (memory × 100 < 2^63): skip the
    // 128-bit division, several times slower, on the scoring hot path.
    if let Some(p) = a.checked_mul(b) {
        return p / c;
    }
    i64::try_from(i128::from(a) * i128::from(b) / i128::from(c)).unwrap_or(i64::MAX)
}

/// Free capacity on 0..=100; 0 when cap is 0 or exceeded.
pub(crate) fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    mul_div(capacity - requested, MAX_NODE_SCORE, capacity)
}

/// Used capacity on 0..=100; requests above capacity count as full.
pub(crate) fn most_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    mul_div(requested.min(capacity), MAX_NODE_SCORE, capacity)
}

/// The broken-linear function through `shape` (sorted by utilization): the first score
/// below the first point, the last above the last, linear (integer division) between.
pub(crate) fn broken_linear(shape: &[(i64, i64)], p: i64) -> i64 {
    for (i, &(u, s)) in shape.iter().enumerate() {
        if p <= u {
            if i == 0 {
                return s;
            }
            let (pu, ps) = shape[i - 1];
            return ps + (s - ps) * (p - pu) / (u - pu);
        }
    }
    shape.last().map_or(0, |&(_, s)| s)
}

/// (1 − std of the fractions requested/allocatable, each capped at 1) × 100, truncated.
/// Resources with allocatable 0 are left out.
#[cfg(test)]
pub(crate) fn balanced_score(requested: &[i64], allocatable: &[i64]) -> i64 {
    #[allow(clippy::cast_precision_loss)]
    let fractions: Vec<f64> = requested
        .iter()
        .zip(allocatable)
        .filter(|(_, a)| **a != 0)
        .map(|(r, a)| (*r as f64 / *a as f64).min(1.0))
        .collect();
    balanced_std_score(&fractions)
}

/// (1 − std of `fractions`) × 100, truncated. Two resources: std = |f1 − f2| / 2; more:
/// population standard deviation.
fn balanced_std_score(fractions: &[f64]) -> i64 {
    let std = match fractions {
        [a, b] => ((a - b) / 2.0).abs(),
        f if f.len() > 2 => {
            #[allow(clippy::cast_precision_loss)]
            let len = f.len() as f64;
            let mean = f.iter().sum::<f64>() / len;
            (f.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / len).sqrt()
        }
        _ => 0.0,
    };
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let score = ((1.0 - std) * MAX_NODE_SCORE as f64) as i64;
    score
}

/// Applies v1 defaulting (weight 0 → 1) and checks weights are in (0, 100].
pub(crate) fn default_and_validate_weights(plugin: &str, resources: &mut [ResourceSpec]) -> Result<(), PluginError> {
    for r in resources.iter_mut() {
        if r.weight == 0 {
            r.weight = 1;
        }
        if r.weight <= 0 || r.weight > MAX_NODE_SCORE {
            return Err(PluginError::args(
                plugin,
                format!("resource weight of {} not in valid range (0, 100]", r.name),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_name_classes() {
        assert!(is_extended_resource_name("example.com/gpu"));
        assert!(!is_extended_resource_name("cpu"));
        assert!(!is_extended_resource_name("kubernetes.io/foo"));
        assert!(!is_extended_resource_name("requests.example.com/x"));
        assert!(is_scalar_resource_name("hugepages-2Mi"));
        assert!(is_scalar_resource_name("attachable-volumes-aws-ebs"));
        assert!(is_scalar_resource_name("kubernetes.io/foo"));
        assert!(!is_scalar_resource_name("storage"));
        assert!(!is_scalar_resource_name("pods"));
    }

    #[test]
    fn per_resource_formulas() {
        // (4000-3000)*100/4000 = 25; requested over capacity and zero capacity give 0.
        assert_eq!(least_requested_score(3000, 4000), 25);
        assert_eq!(least_requested_score(5000, 4000), 0);
        assert_eq!(least_requested_score(0, 0), 0);
        // 3000*100/4000 = 75; clamped to capacity: 100.
        assert_eq!(most_requested_score(3000, 4000), 75);
        assert_eq!(most_requested_score(5000, 4000), 100);
        assert_eq!(most_requested_score(1, 0), 0);
        // Near i64 limits the intermediate product does not overflow.
        assert_eq!(least_requested_score(0, i64::MAX / 10), 100);
    }

    #[test]
    fn broken_linear_function() {
        let shape = [(10, 20), (50, 100), (80, 0)];
        assert_eq!(broken_linear(&shape, 0), 20); // below the first point
        assert_eq!(broken_linear(&shape, 10), 20);
        assert_eq!(broken_linear(&shape, 30), 60); // 20 + 80*20/40
        assert_eq!(broken_linear(&shape, 50), 100);
        assert_eq!(broken_linear(&shape, 65), 50); // 100 - 100*15/30
        assert_eq!(broken_linear(&shape, 79), 4); // 100 + (-100)*29/30 = 100 - 96 (Go truncates)
        assert_eq!(broken_linear(&shape, 100), 0); // above the last point
    }

    #[test]
    fn balanced_formula() {
        // |0.75 - 0.5| / 2 = 0.125 → 87.5 → 87.
        assert_eq!(balanced_score(&[3, 5], &[4, 10]), 87);
        // Fractions capped at 1: |1 - 0.5| / 2 = 0.25 → 75.
        assert_eq!(balanced_score(&[6, 5], &[4, 10]), 75);
        // Zero allocatable skipped; one fraction left → std 0 → 100. No fractions → 100.
        assert_eq!(balanced_score(&[3, 5], &[4, 0]), 100);
        assert_eq!(balanced_score(&[0, 0], &[0, 0]), 100);
        // Three: 0.75, 0.5, 0.5 → mean 0.5833, std sqrt(0.041667/3) = 0.11785 → 88.21 → 88.
        assert_eq!(balanced_score(&[3, 5, 2], &[4, 10, 4]), 88);
    }
}
