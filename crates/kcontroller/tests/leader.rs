//! Leader election against a live kapiserver: two candidates each run a controller only while
//! they lead; exactly one reconciles; when the leader dies (no release) the other takes over
//! within the lease duration; a leader that stops cleanly releases the lease.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Live, eventually};
use kapi::k8s::api::coordination::v1::Lease;
use kapi::k8s::api::core::v1::ConfigMap;
use kcontroller::leader::{LeaderElectionConfig, LeaderElector};
use kcontroller::runtime::{Action, Controller, Request};
use kwatch::http::{Api, Client, HttpListerWatcher, PostParams};
use kwatch::informer::SharedInformer;
use tokio_util::sync::CancellationToken;

const LEASE: Duration = Duration::from_secs(3);

type Seen = Arc<Mutex<HashMap<String, Vec<String>>>>;

/// A candidate: while leading, a controller over ConfigMaps that records what it reconciled.
fn candidate(client: Client, id: &'static str, seen: Seen, cancel: CancellationToken) -> tokio::task::JoinHandle<()> {
    let config = LeaderElectionConfig::new("kube-system", "test-manager", id).durations(
        LEASE,
        Duration::from_secs(2),
        Duration::from_millis(500),
    );
    let elector = LeaderElector::new(client.clone(), config).unwrap();
    tokio::spawn(async move {
        let work = move |leading: CancellationToken| async move {
            let source: HttpListerWatcher<ConfigMap> = Api::<ConfigMap>::namespaced(client, "default").lister_watcher();
            let informer = SharedInformer::builder(source).build().unwrap();
            let run = tokio::spawn({
                let (informer, leading) = (informer.clone(), leading.clone());
                async move { informer.run(leading).await }
            });
            let reconcile = move |req: Request<ConfigMap>| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().entry(id.to_owned()).or_default().push(req.key.name().to_owned());
                    Ok(Action::Done)
                }
            };
            Controller::new(format!("test-{id}"), informer).run(reconcile, leading).await.unwrap();
            let _ = run.await;
        };
        elector.run(cancel, work).await.unwrap();
    })
}

async fn holder(leases: &Api<Lease>) -> Option<String> {
    leases.get_opt("test-manager").await.unwrap()?.spec?.holder_identity
}

async fn create(live: &Live, name: &str) {
    let cms: Api<ConfigMap> = Api::namespaced(live.client.clone(), "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cms.create(&cm, &PostParams::default()).await.unwrap();
}

fn reconciled(seen: &Seen, id: &str, name: &str) -> bool {
    seen.lock().unwrap().get(id).is_some_and(|v| v.iter().any(|n| n == name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_leader_reconciles_and_fails_over_within_the_lease() {
    let live = Live::start().await;
    let seen: Seen = Arc::default();
    let leases: Api<Lease> = Api::namespaced(live.client.clone(), "kube-system");
    let (stop_a, stop_b) = (CancellationToken::new(), CancellationToken::new());
    let a = candidate(live.client.clone(), "a", seen.clone(), stop_a.clone());
    eventually(20, "a to lead", || async { (holder(&leases).await.as_deref() == Some("a")).then_some(()) }).await;
    let b = candidate(live.client.clone(), "b", seen.clone(), stop_b.clone());

    create(&live, "one").await;
    eventually(20, "a to reconcile", || async { reconciled(&seen, "a", "one").then_some(()) }).await;
    // b has had several retry periods to (wrongly) take over.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!seen.lock().unwrap().contains_key("b"), "only the leader reconciles");
    assert_eq!(holder(&leases).await.as_deref(), Some("a"));

    // The leader dies without releasing: b takes over once the lease has expired.
    a.abort();
    let _ = a.await;
    let died = Instant::now();
    eventually(20, "b to lead", || async { (holder(&leases).await.as_deref() == Some("b")).then_some(()) }).await;
    let failover = died.elapsed();
    // b counts the lease from the last renewal it saw (up to one of its ~0.5–1.1 s polls
    // before a died), so the takeover comes at least ~2 s after the death.
    assert!(failover >= LEASE / 2, "b took over before the lease expired: {failover:?}");
    assert!(failover < LEASE * 2, "failover took {failover:?}");
    let lease = leases.get("test-manager").await.unwrap().spec.unwrap();
    assert_eq!(lease.lease_transitions, Some(1));
    create(&live, "two").await;
    eventually(20, "b to reconcile", || async { reconciled(&seen, "b", "two").then_some(()) }).await;

    // A clean stop releases the lease.
    stop_b.cancel();
    b.await.unwrap();
    assert_eq!(holder(&leases).await, None, "released on shutdown");
    stop_a.cancel();
}
