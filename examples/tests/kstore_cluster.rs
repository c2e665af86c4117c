//! A three-member kstore-server cluster on loopback ports, driven by the real etcdctl: it
//! elects a leader, replicates, survives SIGKILL of the leader, and lets the old leader
//! rejoin and catch up.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::*;

fn leader_of(members: &[Member]) -> Option<usize> {
    for (i, m) in members.iter().enumerate() {
        if m.child.is_none() {
            continue;
        }
        let out = etcdctl(&m.endpoint(), &["endpoint", "status", "-w", "json"]);
        let text = String::from_utf8_lossy(&out.stdout);
        // "leader":<id> and "member_id":<id> in the same header: this member leads.
        let field = |name: &str| {
            text.split(&format!("\"{name}\":")).nth(1).and_then(|r| r.split([',', '}']).next()).map(str::to_owned)
        };
        if let (Some(l), Some(me)) = (field("leader"), field("member_id")) {
            if l == me {
                return Some(i);
            }
        }
    }
    None
}

#[test]
fn three_members_elect_replicate_fail_over_and_rejoin() {
    let root = tempfile::tempdir().unwrap();
    let (mut members, cluster) = members(root.path(), 3);
    for m in &mut members {
        m.start(&cluster, "new");
    }
    let all = members.iter().map(Member::endpoint).collect::<Vec<_>>().join(",");
    let leader = eventually(Duration::from_secs(15), || leader_of(&members));

    // Writes through any member replicate to all.
    for (i, m) in members.iter().enumerate() {
        eventually(Duration::from_secs(10), || {
            etcdctl(&m.endpoint(), &["put", &format!("k{i}"), "v"]).status.success().then_some(())
        });
    }
    for m in &members {
        let got = etcdctl_ok(&m.endpoint(), &["get", "--prefix", "k", "--keys-only"]);
        assert_eq!(got.split_whitespace().collect::<Vec<_>>(), ["k0", "k1", "k2"], "member {}", m.name);
    }

    // Kill the leader: the two others elect a new one and keep accepting writes.
    members[leader].kill();
    let survivors: Vec<usize> = (0..3).filter(|&i| i != leader).collect();
    eventually(Duration::from_secs(20), || {
        etcdctl(&members[survivors[0]].endpoint(), &["put", "after-failover", "yes"]).status.success().then_some(())
    });
    let new_leader = eventually(Duration::from_secs(10), || leader_of(&members));
    assert_ne!(new_leader, leader);

    // The old leader restarts from its data dir and catches up.
    members[leader].start(&cluster, "new");
    let old = members[leader].endpoint();
    eventually(Duration::from_secs(20), || {
        let out = etcdctl(&old, &["get", "after-failover", "--consistency=s", "--print-value-only"]);
        (String::from_utf8_lossy(&out.stdout).trim() == "yes").then_some(())
    });
    let got = etcdctl_ok(&all, &["get", "--prefix", "", "--keys-only"]);
    assert_eq!(got.split_whitespace().count(), 4);
}

#[test]
fn members_are_added_and_removed_at_run_time() {
    let root = tempfile::tempdir().unwrap();
    let (mut members, cluster) = members(root.path(), 4);
    let mut fourth = members.pop().unwrap();
    let three: String = cluster.split(',').take(3).collect::<Vec<_>>().join(",");
    for m in &mut members {
        m.start(&three, "new");
    }
    // Membership changes go to the leader (kstore does not forward them yet).
    let leader = eventually(Duration::from_secs(15), || leader_of(&members));
    let ep = members[leader].endpoint();
    eventually(Duration::from_secs(10), || etcdctl(&ep, &["put", "before-join", "1"]).status.success().then_some(()));

    // Add the fourth member, then start it to join with the full member list.
    let peer_url = format!("http://127.0.0.1:{}", fourth.peer);
    let added = eventually(Duration::from_secs(10), || {
        let out = etcdctl(&ep, &["member", "add", &fourth.name, &format!("--peer-urls={peer_url}")]);
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
    });
    assert!(added.contains("added to cluster"), "{added}");
    let id = added.split_whitespace().nth(1).unwrap().to_owned();
    fourth.start(&cluster, "existing");
    let new = fourth.endpoint();
    eventually(Duration::from_secs(20), || {
        let out = etcdctl(&new, &["get", "before-join", "--consistency=s", "--print-value-only"]);
        (String::from_utf8_lossy(&out.stdout).trim() == "1").then_some(())
    });
    let list = etcdctl_ok(&ep, &["member", "list"]);
    assert_eq!(list.lines().count(), 4, "{list}");
    assert!(list.contains(&peer_url), "{list}");

    // Remove it again.
    etcdctl_ok(&ep, &["member", "remove", &id]);
    eventually(Duration::from_secs(10), || (etcdctl_ok(&ep, &["member", "list"]).lines().count() == 3).then_some(()));
    eventually(Duration::from_secs(10), || etcdctl(&ep, &["put", "after-remove", "1"]).status.success().then_some(()));
}

/// What `kube-apiserver --etcd-servers a,b,c` uses: one backend over all members keeps
/// working when a member (here the leader) dies.
#[test]
fn remote_backend_over_the_cluster_survives_losing_a_member() {
    use kstore::backend::{Backend, RemoteBackend};
    let root = tempfile::tempdir().unwrap();
    let (mut members, cluster) = members(root.path(), 3);
    for m in &mut members {
        m.start(&cluster, "new");
    }
    let leader = eventually(Duration::from_secs(15), || leader_of(&members));
    let endpoints: Vec<String> = members.iter().map(Member::endpoint).collect();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let backend = eventually(Duration::from_secs(10), || rt.block_on(RemoteBackend::connect_cluster(&endpoints)).ok());
    let create = |key: String| {
        eventually(Duration::from_secs(20), || {
            rt.block_on(backend.create(key.clone().into(), "v".into(), None)).ok().or_else(|| {
                // Already created by an attempt whose answer was lost.
                rt.block_on(backend.get(key.clone().into())).ok().and_then(|g| g.kv.map(|kv| kv.mod_revision))
            })
        })
    };
    for i in 0..5 {
        create(format!("/r/before{i}"));
    }
    members[leader].kill();
    for i in 0..20 {
        create(format!("/r/after{i}"));
    }
    // A request may still land on the dead member before the balancer drops it; it fails
    // with Unavailable, which callers retry (as the creates above do).
    let listed =
        eventually(Duration::from_secs(10), || rt.block_on(backend.list("/r/".into(), Default::default())).ok());
    assert_eq!(listed.items.len(), 25);
}
