//! Prometheus metrics with upstream's names: `apiserver_request_total` and
//! `apiserver_request_duration_seconds`.

use std::sync::Mutex;
use std::time::Duration;

use http::Method;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::http::route::Route;

/// Labels of a request, as upstream's request metrics carry them.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// `GET`, `LIST`, `WATCH`, `POST`, `PUT`, `PATCH`, `DELETE`.
    pub verb: String,
    /// API group.
    pub group: String,
    /// Version.
    pub version: String,
    /// Resource.
    pub resource: String,
    /// Subresource.
    pub subresource: String,
    /// `resource` / `namespace` / `cluster` (empty for non-resource paths).
    pub scope: String,
    /// Always `apiserver`.
    pub component: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CodeLabels {
    verb: String,
    group: String,
    version: String,
    resource: String,
    subresource: String,
    scope: String,
    component: String,
    code: String,
}

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Mutex<Registry>,
    total: Family<CodeLabels, Counter>,
    duration: Family<RequestLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers the metrics.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let total = Family::<CodeLabels, Counter>::default();
        let duration = Family::<RequestLabels, Histogram>::new_with_constructor(|| {
            // Upstream's buckets (seconds).
            Histogram::new([
                0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0,
                20.0, 30.0, 45.0, 60.0,
            ])
        });
        registry.register("apiserver_request", "Counter of apiserver requests broken out for each verb, dry run value, group, version, resource, scope, component, and HTTP response code.", total.clone());
        registry.register("apiserver_request_duration_seconds", "Response latency distribution in seconds for each verb, dry run value, group, version, resource, subresource, scope and component.", duration.clone());
        Self { registry: Mutex::new(registry), total, duration }
    }

    /// Labels for a request.
    pub fn labels(&self, method: &Method, route: &Route, watch: bool) -> RequestLabels {
        let (group, version, resource, subresource, scope, named) = match route {
            Route::Resource(p) => (
                p.group.clone(),
                p.version.clone(),
                p.resource.clone(),
                p.subresource.clone().unwrap_or_default(),
                if p.name.is_some() {
                    "resource"
                } else if p.namespace.is_some() {
                    "namespace"
                } else {
                    "cluster"
                }
                .to_owned(),
                p.name.is_some(),
            ),
            _ => Default::default(),
        };
        let verb = match (method.as_str(), watch, named) {
            (_, true, _) => "WATCH",
            ("GET", _, false) if !resource.is_empty() => "LIST",
            (m, _, _) => m,
        }
        .to_owned();
        RequestLabels { verb, group, version, resource, subresource, scope, component: "apiserver".into() }
    }

    /// Records a finished request.
    pub fn observe(&self, l: RequestLabels, code: u16, took: Duration) {
        let c = CodeLabels {
            verb: l.verb.clone(),
            group: l.group.clone(),
            version: l.version.clone(),
            resource: l.resource.clone(),
            subresource: l.subresource.clone(),
            scope: l.scope.clone(),
            component: l.component.clone(),
            code: code.to_string(),
        };
        self.total.get_or_create(&c).inc();
        self.duration.get_or_create(&l).observe(took.as_secs_f64());
    }

    /// The text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let reg = self.registry.lock().unwrap_or_else(|p| p.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &reg).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_metrics_use_upstream_names() {
        let m = Metrics::new();
        let route = crate::http::route::parse("/api/v1/namespaces/default/pods");
        let l = m.labels(&Method::GET, &route, false);
        assert_eq!(l.verb, "LIST");
        m.observe(l, 200, Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("apiserver_request_total{"), "{text}");
        assert!(text.contains("verb=\"LIST\""));
        assert!(text.contains("apiserver_request_duration_seconds_bucket"));
    }
}
