//! Agent tests: against an in-process API server with rules applied inside a network
//! namespace (root, `ip`, `nft`, `iptables`, `conntrack`), and against in-memory informers
//! with captured commands (no root).
#![cfg(feature = "agent")]
#![allow(missing_docs, clippy::unwrap_used)]

mod netns;

use std::sync::Arc;
use std::time::Duration;

use kapi::k8s::api::core::v1::Service;
use kapi::k8s::api::discovery::v1::EndpointSlice;
use kapiserver::ApiServer;
use kproxy::agent::{
    Agent, AgentConfig, CommandOutput, ProxyMetrics, ProxyMode, RecordedCommand, RecordingRunner, SystemRunner,
};
use kproxy::model::{Cidr, ProxyConfig};
use kwatch::http::{Api, Client, DeleteParams, PostParams};
use kwatch::informer::SharedInformer;
use kwatch::memory::MemoryListerWatcher;
use kwatch::reflector::ReflectorConfig;
use netns::{Netns, require_tools};
use prometheus_client::registry::Registry;
use serde_json::json;
use tokio_util::sync::CancellationToken;

struct Live {
    _server: ApiServer,
    client: Client,
    cancel: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Live {
    async fn start() -> Live {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        let (server, kubeconfig) = ApiServer::start_in_memory(dir.path(), cancel.clone()).await.unwrap();
        let config = kwatch::http::Config::from_kubeconfig(&kubeconfig, None).unwrap();
        let client = Client::new(&config).unwrap();
        Live { _server: server, client, cancel, _dir: dir }
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

/// Polls `check` every 50 ms until it returns `Some`, failing after `secs` seconds.
async fn eventually<T>(secs: u64, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn service(name: &str, node_port: bool) -> Service {
    let mut spec = json!({"ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080}]});
    if node_port {
        spec["type"] = json!("NodePort");
    }
    serde_json::from_value(json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": "default"}, "spec": spec}))
    .unwrap()
}

fn slice(service: &str, ips: &[&str]) -> EndpointSlice {
    let endpoints: Vec<_> =
        ips.iter().map(|ip| json!({"addresses": [ip], "conditions": {"ready": true}, "nodeName": "node-b"})).collect();
    serde_json::from_value(json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": format!("{service}-abc"), "namespace": "default",
            "labels": {"kubernetes.io/service-name": service},
            "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": "2020-01-01T00:00:00Z"}},
        "addressType": "IPv4",
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": endpoints}))
    .unwrap()
}

fn proxy_config() -> ProxyConfig {
    let mut cfg = ProxyConfig::new("node-a");
    cfg.node_ips = vec!["10.203.0.1".parse().unwrap()];
    cfg.cluster_cidr = Some(Cidr::parse("10.244.0.0/16").unwrap());
    cfg
}

fn encode(registry: &Registry) -> String {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry).unwrap();
    text
}

/// Runs the agent in `mode` with commands inside `ns`; returns the metrics registry.
fn start_agent(live: &Live, ns: &Netns, mode: ProxyMode) -> Registry {
    let mut registry = Registry::default();
    let metrics = ProxyMetrics::register(&mut registry);
    let mut cfg = AgentConfig::new(proxy_config(), mode);
    cfg.min_sync_period = Duration::from_millis(100);
    let agent = Agent::new(cfg, Arc::new(SystemRunner::in_netns(&ns.name)), metrics).unwrap();
    let (client, cancel) = (live.client.clone(), live.cancel.child_token());
    tokio::spawn(async move {
        if let Err(e) = agent.run(client, None, cancel).await {
            panic!("agent failed: {e}");
        }
    });
    registry
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nftables_agent_follows_the_api_server() {
    require_tools(&["ip", "nft", "conntrack"]);
    let live = Live::start().await;
    let ns = Netns::new("agent-nft");
    // The node address the NodePort set refers to.
    ns.ip(&["link", "add", "eth0", "type", "veth", "peer", "name", "eth1"]);
    ns.ip(&["addr", "add", "10.203.0.1/24", "dev", "eth0"]);
    let registry = start_agent(&live, &ns, ProxyMode::Nftables);
    let list = || {
        let out = ns.output("nft", &["list", "table", "ip", "kube-proxy"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };

    let svcs: Api<Service> = Api::namespaced(live.client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(live.client.clone(), "default");
    let created = svcs.create(&service("web", true), &PostParams::default()).await.unwrap();
    let spec = created.spec.unwrap();
    let cluster_ip = spec.cluster_ip.unwrap();
    let node_port = spec.ports.unwrap()[0].node_port.unwrap();
    slices.create(&slice("web", &["10.244.1.5", "10.244.2.7"]), &PostParams::default()).await.unwrap();

    let table = eventually(15, "service rules", || {
        let t = list();
        (t.contains(&cluster_ip) && t.contains("10.244.1.5") && t.contains("10.244.2.7")).then_some(t)
    })
    .await;
    assert!(table.contains(&format!("tcp . {node_port}")), "nodePort in service-nodeports:\n{table}");
    assert!(table.contains("dnat to 10.244.1.5:8080"), "{table}");

    // Endpoint update: the new address appears, the removed one's chain goes (after the
    // nftables deletion delay).
    let mut s = slices.get("web-abc").await.unwrap();
    s.endpoints = slice("web", &["10.244.1.5", "10.244.3.9"]).endpoints;
    slices.replace("web-abc", &s, &PostParams::default()).await.unwrap();
    eventually(15, "updated endpoints", || {
        let t = list();
        (t.contains("dnat to 10.244.3.9:8080") && !t.contains("10.244.2.7")).then_some(())
    })
    .await;

    // Deletion: the service's address leaves the table.
    svcs.delete("web", &DeleteParams::default()).await.unwrap();
    eventually(15, "service removal", || (!list().contains(&cluster_ip)).then_some(())).await;

    let text = encode(&registry);
    for needle in [
        "kubeproxy_sync_proxy_rules_duration_seconds_bucket",
        "kubeproxy_sync_proxy_rules_duration_seconds_count",
        "kubeproxy_sync_proxy_rules_last_timestamp_seconds",
        "kubeproxy_network_programming_duration_seconds_count",
        "kubeproxy_sync_proxy_rules_endpoint_changes_total",
    ] {
        assert!(text.contains(needle), "{needle} missing:\n{text}");
    }
    assert!(!text.contains("kubeproxy_sync_proxy_rules_duration_seconds_count 0\n"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn iptables_agent_follows_the_api_server() {
    require_tools(&["ip", "iptables", "iptables-restore", "iptables-save", "conntrack"]);
    let live = Live::start().await;
    let ns = Netns::new("agent-ipt");
    let registry = start_agent(&live, &ns, ProxyMode::Iptables);
    let save = || String::from_utf8_lossy(&ns.output("iptables-save", &[]).stdout).into_owned();

    let svcs: Api<Service> = Api::namespaced(live.client.clone(), "default");
    let slices: Api<EndpointSlice> = Api::namespaced(live.client.clone(), "default");
    let cluster_ip =
        svcs.create(&service("api", false), &PostParams::default()).await.unwrap().spec.unwrap().cluster_ip;
    let cluster_ip = cluster_ip.unwrap();
    slices.create(&slice("api", &["10.244.1.5"]), &PostParams::default()).await.unwrap();
    let jumps = ["-A PREROUTING -j KUBE-SERVICES", "-A POSTROUTING -j KUBE-POSTROUTING", "-A FORWARD -j KUBE-FORWARD"];
    // The first full sync restores the chains, then inserts the jumps to them: wait for both.
    let saved = eventually(15, "service rules and the jumps to them", || {
        let s = save();
        let rules = s.contains(&format!("-d {cluster_ip}/32")) && s.contains("--to-destination 10.244.1.5:8080");
        (rules && jumps.iter().all(|j| s.contains(j))).then_some(s)
    })
    .await;
    for jump in jumps {
        assert_eq!(saved.matches(jump).count(), 1, "{jump}:\n{saved}");
    }
    slices.delete("api-abc", &DeleteParams::default()).await.unwrap();
    eventually(15, "reject without endpoints", || {
        let s = save();
        (s.contains("has no endpoints") && !s.contains("--to-destination 10.244.1.5:8080")).then_some(())
    })
    .await;
    let text = encode(&registry);
    assert!(text.contains("kubeproxy_sync_proxy_rules_iptables_total{table=\"nat\"}"), "{text}");
    assert!(text.contains("kubeproxy_sync_proxy_rules_iptables_restore_failures_total 0"), "{text}");
}

/// In-memory informers and captured commands: rate limiting, failure handling, conntrack.
#[tokio::test]
async fn syncs_are_rate_limited_and_failures_force_a_full_sync() {
    let services = MemoryListerWatcher::<Service>::new();
    let slices = MemoryListerWatcher::<EndpointSlice>::new();
    let svc_inf = SharedInformer::builder(services.clone()).config(ReflectorConfig::new("services")).build().unwrap();
    let eps_inf = SharedInformer::builder(slices.clone()).config(ReflectorConfig::new("slices")).build().unwrap();
    let cancel = CancellationToken::new();
    for run in [
        tokio::spawn({
            let (i, c) = (svc_inf.clone(), cancel.clone());
            async move { i.run(c).await.unwrap() }
        }),
        tokio::spawn({
            let (i, c) = (eps_inf.clone(), cancel.clone());
            async move { i.run(c).await.unwrap() }
        }),
    ] {
        drop(run);
    }
    // The second iptables-restore fails.
    let restores = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let runner = RecordingRunner::new().respond_with({
        let restores = Arc::clone(&restores);
        move |c: &RecordedCommand| {
            let n = if c.program == "iptables-restore" {
                restores.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1
            } else {
                0
            };
            CommandOutput { status: Some(if n == 2 { 1 } else { 0 }), ..CommandOutput::default() }
        }
    });
    let mut registry = Registry::default();
    let metrics = ProxyMetrics::register(&mut registry);
    let mut cfg = AgentConfig::new(proxy_config(), ProxyMode::Iptables);
    cfg.min_sync_period = Duration::from_millis(300);
    let agent = Agent::new(cfg, Arc::new(runner.clone()), metrics).unwrap();
    let task = tokio::spawn({
        let (s, e, c) = (svc_inf.clone(), eps_inf.clone(), cancel.clone());
        async move { agent.run_with(&s, &e, c).await }
    });

    let mut svc = service("dns", false);
    let spec = svc.spec.as_mut().unwrap();
    spec.cluster_ip = Some("10.96.0.10".into());
    spec.ports.as_mut().unwrap()[0].protocol = Some("UDP".into());
    services.create(svc).unwrap();
    let mut s = slice("dns", &["10.244.1.5", "10.244.1.6"]);
    s.ports.as_mut().unwrap()[0].protocol = Some("UDP".into());
    slices.create(s.clone()).unwrap();
    let restore_docs = |r: &RecordingRunner| -> Vec<String> {
        r.commands().into_iter().filter(|c| c.program == "iptables-restore").filter_map(|c| c.stdin).collect()
    };
    eventually(5, "first sync", || (!restore_docs(&runner).is_empty()).then_some(())).await;

    // A burst of changes within min_sync_period produces a single (failing) partial sync…
    for ips in [vec!["10.244.1.5"], vec!["10.244.1.5", "10.244.1.7"], vec!["10.244.1.7"]] {
        let mut next = slice("dns", &ips);
        next.ports.as_mut().unwrap()[0].protocol = Some("UDP".into());
        slices.update(next).unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eventually(5, "second sync", || (restore_docs(&runner).len() >= 2).then_some(())).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(restore_docs(&runner).len(), 2, "rate limited");
    // …and, as it failed, a full one follows after min_sync_period, with no new changes.
    eventually(5, "retry", || (restore_docs(&runner).len() >= 3).then_some(())).await;
    let docs = restore_docs(&runner);
    assert!(docs[2].contains(":KUBE-SVC-"), "the retry is a full sync:\n{}", docs[2]);
    assert!(docs[2].contains("--to-destination 10.244.1.7:8080"));
    let text = encode(&registry);
    assert!(text.contains("kubeproxy_sync_proxy_rules_iptables_partial_restore_failures_total 1"), "{text}");

    // The UDP service got endpoints in the first sync: entries caching the earlier reject go.
    let conntrack = || -> Vec<String> {
        runner.commands().into_iter().filter(|c| c.program == "conntrack").map(|c| c.line()).collect()
    };
    assert_eq!(conntrack(), vec!["conntrack -D -p udp --orig-dst 10.96.0.10 --orig-port-dst 80".to_string()]);
    // The failed sync's cleanup is dropped with it (as upstream); the next removal of an
    // endpoint deletes the entries DNATed to it once its sync succeeds.
    let mut last = slice("dns", &["10.244.1.8"]);
    last.ports.as_mut().unwrap()[0].protocol = Some("UDP".into());
    slices.update(last).unwrap();
    let want = "conntrack -D -p udp --orig-dst 10.96.0.10 --orig-port-dst 80 --dst-nat 10.244.1.7".to_string();
    eventually(5, "conntrack cleanup", || conntrack().contains(&want).then_some(())).await;
    cancel.cancel();
    task.await.unwrap().unwrap();
}

/// Starts both informers over in-memory lister-watchers.
fn memory_informers(
    cancel: &CancellationToken,
) -> (
    MemoryListerWatcher<Service>,
    MemoryListerWatcher<EndpointSlice>,
    SharedInformer<Service>,
    SharedInformer<EndpointSlice>,
) {
    let services = MemoryListerWatcher::<Service>::new();
    let slices = MemoryListerWatcher::<EndpointSlice>::new();
    let svc_inf = SharedInformer::builder(services.clone()).config(ReflectorConfig::new("services")).build().unwrap();
    let eps_inf = SharedInformer::builder(slices.clone()).config(ReflectorConfig::new("slices")).build().unwrap();
    let (a, b, c1, c2) = (svc_inf.clone(), eps_inf.clone(), cancel.clone(), cancel.clone());
    tokio::spawn(async move { a.run(c1).await.unwrap() });
    tokio::spawn(async move { b.run(c2).await.unwrap() });
    (services, slices, svc_inf, eps_inf)
}

#[tokio::test]
async fn ipvs_agent_diffs_the_virtual_server_table() {
    let cancel = CancellationToken::new();
    let (services, slices, svc_inf, eps_inf) = memory_informers(&cancel);
    // A fake kernel: `ipvsadm -S -n` answers what the last `ipvsadm -R` built (the runner
    // interprets nothing else; every command succeeds).
    let table = Arc::new(std::sync::Mutex::new(kproxy::ipvs::table::IpvsTable::default()));
    let runner = RecordingRunner::new().respond_with({
        let table = Arc::clone(&table);
        move |c: &RecordedCommand| {
            let mut t = table.lock().unwrap();
            let stdout = match (c.program.as_str(), c.args.first().map(String::as_str)) {
                ("ipvsadm", Some("-S")) => t.to_restore(),
                ("ipvsadm", Some("-R")) => {
                    // Only whole-service additions and real-server changes occur below.
                    let text = c.stdin.clone().unwrap_or_default();
                    let mut next = t.clone();
                    for line in text.lines() {
                        if line.starts_with("-A ") || line.starts_with("-a ") {
                            let mut both = next.to_restore();
                            both.push_str(line);
                            both.push('\n');
                            next = kproxy::ipvs::table::IpvsTable::parse(&both).unwrap();
                        } else if let Some(rest) = line.strip_prefix("-d ") {
                            let w: Vec<&str> = rest.split_whitespace().collect();
                            for e in next.services.values_mut() {
                                e.real_servers.remove(&w[3].parse().unwrap());
                            }
                        }
                    }
                    *t = next;
                    String::new()
                }
                _ => String::new(),
            };
            CommandOutput { status: Some(0), stdout, ..CommandOutput::default() }
        }
    });
    let mut cfg = AgentConfig::new(proxy_config(), ProxyMode::Ipvs);
    cfg.min_sync_period = Duration::from_millis(100);
    let agent = Agent::new(cfg, Arc::new(runner.clone()), ProxyMetrics::register(&mut Registry::default())).unwrap();
    let task = tokio::spawn({
        let (s, e, c) = (svc_inf.clone(), eps_inf.clone(), cancel.clone());
        async move { agent.run_with(&s, &e, c).await }
    });

    let mut svc = service("web", true);
    let spec = svc.spec.as_mut().unwrap();
    spec.cluster_ip = Some("10.96.0.20".into());
    spec.ports.as_mut().unwrap()[0].node_port = Some(30080);
    services.create(svc).unwrap();
    slices.create(slice("web", &["10.244.1.5", "10.244.1.6"])).unwrap();
    let restores = |r: &RecordingRunner| -> Vec<String> {
        r.commands().into_iter().filter(|c| c.line() == "ipvsadm -R").filter_map(|c| c.stdin).collect()
    };
    let first =
        eventually(5, "first IPVS sync", || restores(&runner).into_iter().find(|d| d.contains("10.244.1.6"))).await;
    assert!(first.contains("-A -t 10.96.0.20:80 -s rr\n"), "{first}");
    assert!(first.contains("-a -t 10.96.0.20:80 -r 10.244.1.5:8080 -m -w 1\n"), "{first}");
    assert!(first.contains("-A -t 10.203.0.1:30080 -s rr\n"), "{first}");
    let commands: Vec<String> = runner.commands().iter().map(|c| c.line()).collect();
    assert_eq!(commands[0], "ipvsadm -L -n", "the kernel is checked first");
    assert!(commands.contains(&"ip -batch -".to_string()));
    assert!(commands.contains(&"ipset restore -exist".to_string()));

    // One endpoint goes: the next restore only removes it, from both virtual servers.
    slices.update(slice("web", &["10.244.1.5"])).unwrap();
    let second =
        eventually(5, "second IPVS sync", || restores(&runner).into_iter().find(|d| d.starts_with("-d "))).await;
    assert_eq!(second, "-d -t 10.96.0.20:80 -r 10.244.1.6:8080\n-d -t 10.203.0.1:30080 -r 10.244.1.6:8080\n");
    assert_eq!(table.lock().unwrap().services.values().map(|e| e.real_servers.len()).sum::<usize>(), 2);
    cancel.cancel();
    task.await.unwrap().unwrap();
}
