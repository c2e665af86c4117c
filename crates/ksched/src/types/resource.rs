//! Resource vectors: CPU in millicores, memory and storage in bytes, pod count, and any
//! extended (scalar) resource.

use std::collections::BTreeMap;

use kapi::k8s::apimachinery::pkg::api::resource::Quantity as K8sQuantity;
use kapi::quantity::Quantity;

/// CPU a container without a CPU request counts for scoring (upstream `DefaultMilliCPURequest`).
pub const DEFAULT_MILLI_CPU_REQUEST: i64 = 100;
/// Memory a container without a memory request counts for scoring (200 MiB).
pub const DEFAULT_MEMORY_REQUEST: i64 = 200 * 1024 * 1024;

/// Amounts of every resource the scheduler accounts for.
///
/// In declaration order: the standard amounts, which Filter compares on every node, on
/// one cache line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[repr(C)]
pub struct Resource {
    /// CPU in millicores.
    pub milli_cpu: i64,
    /// Memory in bytes.
    pub memory: i64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage: i64,
    /// Pods (only meaningful for node allocatable).
    pub allowed_pods: i64,
    /// Extended resources (`nvidia.com/gpu`, hugepages-*) by name.
    pub scalar: BTreeMap<String, i64>,
}

fn parse(q: &K8sQuantity, milli: bool) -> i64 {
    match q.0.parse::<Quantity>() {
        Ok(q) if milli => q.milli_value().unwrap_or(i64::MAX),
        Ok(q) => q.value().unwrap_or(i64::MAX),
        // The API server validates quantities; anything else counts as nothing.
        Err(_) => 0,
    }
}

impl Resource {
    /// Reads a `ResourceList` (`requests`, `limits`, `allocatable`).
    pub fn from_list(list: &BTreeMap<String, K8sQuantity>) -> Self {
        let mut r = Resource::default();
        for (name, q) in list {
            match name.as_str() {
                "cpu" => r.milli_cpu = parse(q, true),
                "memory" => r.memory = parse(q, false),
                "ephemeral-storage" => r.ephemeral_storage = parse(q, false),
                "pods" => r.allowed_pods = parse(q, false),
                other => {
                    r.scalar.insert(other.to_owned(), parse(q, false));
                }
            }
        }
        r
    }

    /// Adds `other`.
    pub fn add(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.saturating_add(other.milli_cpu);
        self.memory = self.memory.saturating_add(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.saturating_add(other.ephemeral_storage);
        self.allowed_pods = self.allowed_pods.saturating_add(other.allowed_pods);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = e.saturating_add(*v);
        }
    }

    /// Subtracts `other`.
    pub fn sub(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.saturating_sub(other.milli_cpu);
        self.memory = self.memory.saturating_sub(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.saturating_sub(other.ephemeral_storage);
        self.allowed_pods = self.allowed_pods.saturating_sub(other.allowed_pods);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = e.saturating_sub(*v);
        }
    }

    /// Element-wise maximum (init containers vs. the sum of app containers).
    pub fn max_with(&mut self, other: &Resource) {
        self.milli_cpu = self.milli_cpu.max(other.milli_cpu);
        self.memory = self.memory.max(other.memory);
        self.ephemeral_storage = self.ephemeral_storage.max(other.ephemeral_storage);
        for (k, v) in &other.scalar {
            let e = self.scalar.entry(k.clone()).or_default();
            *e = (*e).max(*v);
        }
    }

    /// The amount of resource `name` (`cpu` in millicores).
    pub fn get(&self, name: &str) -> i64 {
        match name {
            "cpu" => self.milli_cpu,
            "memory" => self.memory,
            "ephemeral-storage" => self.ephemeral_storage,
            "pods" => self.allowed_pods,
            other => self.scalar.get(other).copied().unwrap_or(0),
        }
    }

    /// Whether every amount is zero.
    pub fn is_zero(&self) -> bool {
        self.milli_cpu == 0
            && self.memory == 0
            && self.ephemeral_storage == 0
            && self.allowed_pods == 0
            && self.scalar.values().all(|v| *v == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[(&str, &str)]) -> BTreeMap<String, K8sQuantity> {
        items.iter().map(|(k, v)| ((*k).to_owned(), K8sQuantity((*v).to_owned()))).collect()
    }

    #[test]
    fn parses_and_adds() {
        let mut r =
            Resource::from_list(&list(&[("cpu", "1.5"), ("memory", "1Gi"), ("nvidia.com/gpu", "2"), ("pods", "110")]));
        assert_eq!((r.milli_cpu, r.memory, r.allowed_pods), (1500, 1 << 30, 110));
        assert_eq!(r.get("nvidia.com/gpu"), 2);
        r.add(&Resource::from_list(&list(&[("cpu", "500m")])));
        assert_eq!(r.milli_cpu, 2000);
        r.sub(&Resource::from_list(&list(&[("nvidia.com/gpu", "2")])));
        assert_eq!(r.get("nvidia.com/gpu"), 0);
    }
}
