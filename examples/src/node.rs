//! What the `kubelet` binary needs beyond flag parsing: the runtime behind
//! `--container-runtime-endpoint`, and a node's capacity (the host's, or a fake node's).

use std::sync::Arc;

use kapi::quantity::Quantity;
use knode::NodeResources;

/// The runtime and image services of a node.
pub type Runtime = (Arc<dyn kcri::RuntimeService>, Arc<dyn kcri::ImageService>);

/// containerd (or any CRI runtime) at `endpoint`; the in-memory fake runtime when `fake`,
/// when `endpoint` is `fake`, or when its socket does not exist.
///
/// # Errors
/// The runtime's socket exists but does not answer.
pub async fn runtime(endpoint: &str, fake: bool) -> Result<Runtime, kcri::Error> {
    let socket = endpoint.strip_prefix("unix://").unwrap_or(endpoint);
    if fake || endpoint == "fake" || !std::path::Path::new(socket).exists() {
        tracing::warn!(endpoint, "using the in-memory fake runtime: no containers will really run");
        let fake = kcri::fake::FakeRuntime::new();
        return Ok((Arc::new(fake.clone()), Arc::new(fake)));
    }
    let c = Arc::new(kcri::Client::connect(endpoint).await?);
    Ok((c.clone(), c))
}

/// The host's resources, with CPU and memory replaced by a fake node's `cpu` (`8`, `7500m`)
/// and `memory` (`32Gi`) when given.
///
/// # Errors
/// A quantity that does not parse, or host resources that cannot be read.
pub fn capacity(
    max_pods: i64,
    cpu: Option<&str>,
    memory: Option<&str>,
) -> Result<NodeResources, Box<dyn std::error::Error + Send + Sync>> {
    let mut r = NodeResources::from_host(max_pods)?;
    if let Some(cpu) = cpu {
        r.cpu_millis = cpu.parse::<Quantity>().map_err(|e| format!("--fake-cpu: {e}"))?.milli_value()?;
    }
    if let Some(mem) = memory {
        r.memory_bytes = mem.parse::<Quantity>().map_err(|e| format!("--fake-memory: {e}"))?.value()?;
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fake_capacity_overrides_cpu_and_memory() {
        let r = capacity(110, Some("7500m"), Some("32Gi")).expect("capacity");
        assert_eq!(r.cpu_millis, 7500);
        assert_eq!(r.memory_bytes, 32 << 30);
        let err = capacity(110, Some("lots"), None).expect_err("bad quantity");
        assert!(err.to_string().contains("--fake-cpu"), "{err}");
    }
}
