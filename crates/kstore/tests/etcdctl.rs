//! The real `etcdctl` 3.4 (`/usr/bin/etcdctl`, Debian's etcd-client) against kstore's gRPC
//! server, command by command, with the outputs etcd 3.4.23 prints for the same sequence.
//!
//! The expected outputs were recorded from etcd 3.4.23. To check them against etcd itself,
//! run with `KSTORE_ETCDCTL_REFERENCE=1`: the same tests then start a real etcd
//! (`/usr/bin/etcd`, on loopback ports with a temporary data directory) instead of kstore.
//! Ids (member, cluster, lease) and the Raft term differ between the two and are filled in
//! from what the server reports.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kstore::grpc::{ClusterInfo, MemberInfo};
use sha2::{Digest, Sha256};

const ETCDCTL: &str = "/usr/bin/etcdctl";
const ETCD: &str = "/usr/bin/etcd";
const WAIT: Duration = Duration::from_secs(15);

fn require<'a>(path: &'a str, package: &str) -> &'a str {
    assert!(
        Path::new(path).exists(),
        "{path} is missing: these tests run the real etcd 3.4 tools; install Debian's {package} package \
         (bash scripts/install-deps.sh installs everything the tests need)"
    );
    path
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The server under test.
enum Backend {
    Kstore { runtime: tokio::runtime::Runtime, served: Option<common::Served> },
    Etcd { child: Child, _dir: tempfile::TempDir },
}

/// A server and etcdctl pointed at it.
struct Target {
    backend: Backend,
    endpoint: String,
    peer_url: String,
    /// Placeholders and their values for this server.
    vars: Vec<(String, String)>,
}

impl Target {
    fn start() -> Self {
        require(ETCDCTL, "etcd-client");
        let peer_url = format!("http://127.0.0.1:{}", free_port());
        let (backend, endpoint) = if std::env::var_os("KSTORE_ETCDCTL_REFERENCE").is_some() {
            Self::start_etcd(&peer_url)
        } else {
            Self::start_kstore(&peer_url)
        };
        let mut target = Target { backend, endpoint, peer_url, vars: Vec::new() };
        target.wait_ready();
        target.learn_ids();
        target
    }

    fn start_kstore(peer_url: &str) -> (Backend, String) {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let peer_url = peer_url.to_string();
        let served = runtime.block_on(common::serve_with(move |server, addr| {
            server.cluster(ClusterInfo {
                members: vec![MemberInfo {
                    id: 1,
                    name: "e1".into(),
                    peer_urls: vec![peer_url],
                    client_urls: vec![format!("http://{addr}")],
                    is_learner: false,
                }],
            })
        }));
        let endpoint = served.addr.to_string();
        (Backend::Kstore { runtime, served: Some(served) }, endpoint)
    }

    fn start_etcd(peer_url: &str) -> (Backend, String) {
        let dir = tempfile::tempdir().unwrap();
        let endpoint = format!("127.0.0.1:{}", free_port());
        let client_url = format!("http://{endpoint}");
        let child = Command::new(require(ETCD, "etcd-server"))
            .args(["--name", "e1", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(["--listen-client-urls", &client_url, "--advertise-client-urls", &client_url])
            .args(["--listen-peer-urls", peer_url, "--initial-advertise-peer-urls", peer_url])
            .args(["--initial-cluster", &format!("e1={peer_url}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (Backend::Etcd { child, _dir: dir }, endpoint)
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + WAIT;
        while !self.run(&["endpoint", "health"], None).status.success() {
            assert!(Instant::now() < deadline, "the server at {} did not become healthy", self.endpoint);
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Reads the ids and term from `endpoint status -w json`.
    fn learn_ids(&mut self) {
        let out = self.ok(&["endpoint", "status", "-w", "json"]);
        let status: serde_json::Value = serde_json::from_str(&out).unwrap();
        let header = &status[0]["Status"]["header"];
        let num = |v: &serde_json::Value| v.as_u64().unwrap();
        let member = num(&header["member_id"]);
        self.vars = vec![
            ("{endpoint}".into(), self.endpoint.clone()),
            ("{peer}".into(), self.peer_url.clone()),
            ("{member}".into(), format!("{member:x}")),
            ("{member_id}".into(), member.to_string()),
            ("{cluster_id}".into(), num(&header["cluster_id"]).to_string()),
            ("{term}".into(), num(&header["raft_term"]).to_string()),
        ];
    }

    /// `template` with this server's values in place of the placeholders.
    fn fill(&self, template: &str) -> String {
        self.vars.iter().fold(template.to_string(), |s, (k, v)| s.replace(k, v))
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(ETCDCTL);
        cmd.env("ETCDCTL_API", "3").arg(format!("--endpoints={}", self.endpoint)).args(args);
        cmd
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut child =
            self.command(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).unwrap();
        }
        drop(input);
        child.wait_with_output().unwrap()
    }

    /// Runs a command that must succeed; returns its standard output.
    fn ok(&self, args: &[&str]) -> String {
        self.ok_with(args, None)
    }

    fn ok_with(&self, args: &[&str], stdin: Option<&str>) -> String {
        let out = self.run(args, stdin);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "etcdctl {args:?} failed: {stderr}");
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs a command and checks its standard output against `template`.
    fn expect(&self, args: &[&str], template: &str) {
        assert_eq!(self.ok(args), self.fill(template), "etcdctl {args:?}");
    }

    /// Runs a command that must fail; returns its `Error:` line and exit code.
    fn fails(&self, args: &[&str]) -> (String, i32) {
        let out = self.run(args, None);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "etcdctl {args:?} should fail");
        let line = stderr.lines().rfind(|l| l.starts_with("Error:")).unwrap_or_default().to_string();
        (line, out.status.code().unwrap_or(-1))
    }

    fn expect_error(&self, args: &[&str], line: &str) {
        assert_eq!(self.fails(args).0, line, "etcdctl {args:?}");
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        match &mut self.backend {
            Backend::Kstore { runtime, served } => {
                if let Some(served) = served.take() {
                    runtime.block_on(served.stop());
                }
            }
            Backend::Etcd { child, .. } => {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A long-running etcdctl (`watch`) whose output lines are read with a deadline.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn spawn(target: &Target, args: &[&str]) -> Self {
        let mut child = target.command(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    fn read(&self, n: usize) -> Vec<String> {
        (0..n)
            .map(|i| {
                self.lines.recv_timeout(WAIT).unwrap_or_else(|e| panic!("line {} of {n} did not come: {e}", i + 1))
            })
            .collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn kv_and_txn_output_matches_etcd() {
    let t = Target::start();
    t.expect(&["put", "a", "1"], "OK\n");
    t.expect(&["put", "b", "2"], "OK\n");
    t.expect(&["put", "a", "3"], "OK\n");
    t.expect(&["get", "a"], "a\n3\n");
    t.expect(&["get", "--prefix", ""], "a\n3\nb\n2\n");
    t.expect(
        &["get", "", "--prefix", "-w", "json"],
        r#"{"header":{"cluster_id":{cluster_id},"member_id":{member_id},"revision":4,"raft_term":{term}},"kvs":[{"key":"YQ==","create_revision":2,"mod_revision":4,"version":2,"value":"Mw=="},{"key":"Yg==","create_revision":3,"mod_revision":3,"version":1,"value":"Mg=="}],"count":2}
"#,
    );
    t.expect(&["get", "a", "--rev=2"], "a\n1\n");
    t.expect(&["get", "--prefix", "", "--limit=1"], "a\n3\n");
    t.expect(&["get", "--from-key", "a", "--sort-by=MODIFY", "--order=DESCEND"], "a\n3\nb\n2\n");
    t.expect(&["get", "--prefix", "", "--keys-only"], "a\n\nb\n\n");
    t.expect(&["get", "a", "-w", "fields"], FIELDS);
    t.expect(&["get", "--prefix", "", "--consistency=s", "--print-value-only"], "3\n2\n");
    t.expect(&["del", "b"], "1\n");
    t.expect(&["del", "nonexist"], "0\n");
    t.expect(&["put", "c", "4", "--prev-kv"], "OK\n");
    t.expect(&["put", "c", "5", "--prev-kv"], "OK\nc\n4\n");
    t.expect(&["del", "c", "--prev-kv"], "1\nc\n5\n");
    t.expect(
        &["put", "a", "5", "-w", "json"],
        r#"{"header":{"cluster_id":{cluster_id},"member_id":{member_id},"revision":9,"raft_term":{term}}}
"#,
    );

    let swap = "value(\"a\") = \"5\"\n\nput a 6\nget a\n\nput a fail\n\n";
    assert_eq!(t.ok_with(&["txn"], Some(swap)), "SUCCESS\n\nOK\n\na\n6\n");
    let json = r#"{"header":{"cluster_id":{cluster_id},"member_id":{member_id},"revision":11,"raft_term":{term}},"responses":[{"Response":{"ResponsePut":{"header":{"revision":11}}}}]}
"#;
    assert_eq!(t.ok_with(&["txn", "-w", "json"], Some(swap)), t.fill(json), "the failure branch");
    let guarded = "mod(\"a\") > \"100\"\n\nput a 7\n\nget a\nput z 9\n\n";
    assert_eq!(t.ok_with(&["txn"], Some(guarded)), "FAILURE\n\na\nfail\n\nOK\n");
    let interactive = "version(\"z\") = \"1\"\n\nput z 10\n\nput z 11\n\n";
    assert_eq!(
        t.ok_with(&["txn", "-i"], Some(interactive)),
        "compares:\nsuccess requests (get, put, del):\nfailure requests (get, put, del):\nSUCCESS\n\nOK\n"
    );
    t.expect(&["get", "z"], "z\n10\n");

    t.expect_error(&["put", "", "x"], "Error: etcdserver: key is not provided");
    t.expect_error(&["get", ""], "Error: etcdserver: key is not provided");
    let dup = "\nput q 1\nput q 2\n\n\n";
    let out = t.run(&["txn"], Some(dup));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Error: etcdserver: duplicate key given in txn request"), "{stderr}");
}

/// `get a -w fields` after the first writes.
const FIELDS: &str = r#""ClusterID" : {cluster_id}
"MemberID" : {member_id}
"Revision" : 4
"RaftTerm" : {term}
"Key" : "a"
"CreateRevision" : 2
"ModRevision" : 4
"Version" : 2
"Value" : "3"
"Lease" : 0
"More" : false
"Count" : 1
"#;

#[test]
fn watch_output_matches_etcd() {
    let t = Target::start();
    t.ok(&["put", "a", "1"]);
    t.ok(&["put", "b", "2"]);
    t.ok(&["put", "a", "3"]);
    t.ok(&["del", "a"]);
    let history = Running::spawn(&t, &["watch", "--rev=1", "a"]);
    assert_eq!(history.read(9), ["PUT", "a", "1", "PUT", "a", "3", "DELETE", "a", ""]);
    t.ok(&["put", "a", "4"]);
    assert_eq!(history.read(3), ["PUT", "a", "4"], "live events follow the history");

    // With previous key-values: each event prints the previous key and value first.
    let prefixed = Running::spawn(&t, &["watch", "--prefix", "", "--rev=3", "--prev-kv"]);
    let expected = ["PUT", "b", "2", "PUT", "a", "1", "a", "3", "DELETE", "a", "3", "a", "", "PUT", "a", "4"];
    assert_eq!(prefixed.read(expected.len()), expected);
    t.ok(&["put", "b", "5"]);
    assert_eq!(prefixed.read(5), ["PUT", "b", "2", "b", "5"]);
    assert_eq!(history.lines.recv_timeout(Duration::from_millis(300)).ok(), None, "b is not watched by the first");
}

#[test]
fn lease_output_matches_etcd() {
    let t = Target::start();
    let granted = t.ok(&["lease", "grant", "60"]);
    let lease = granted.split_whitespace().nth(1).unwrap().to_string();
    let with = |s: &str| t.fill(s).replace("{lease}", &lease);
    assert_eq!(granted, with("lease {lease} granted with TTL(60s)\n"));
    t.expect(&["put", "k", "v", &format!("--lease={lease}")], "OK\n");
    assert_eq!(t.ok(&["lease", "keep-alive", "--once", &lease]), with("lease {lease} keepalived with TTL(60)\n"));
    let ttl = t.ok(&["lease", "timetolive", &lease, "--keys"]);
    let remaining = |s: &str, from: &str| -> String {
        let start = s.find("remaining(").unwrap();
        let end = start + s[start..].find("s)").unwrap() + 2;
        let secs: i64 = s[start + "remaining(".len()..end - 2].parse().unwrap();
        assert!((58..=60).contains(&secs), "{from}: remaining {secs}");
        format!("{}remaining(Ns){}", &s[..start], &s[end..])
    };
    assert_eq!(
        remaining(&ttl, "timetolive"),
        with("lease {lease} granted with TTL(60s), remaining(Ns), attached keys([k])\n")
    );
    let ttl = t.ok(&["lease", "timetolive", &lease]);
    assert_eq!(remaining(&ttl, "timetolive"), with("lease {lease} granted with TTL(60s), remaining(Ns)\n"));
    assert_eq!(t.ok(&["lease", "list"]), with("found 1 leases\n{lease}\n"));
    t.expect(&["lease", "timetolive", "1234"], "lease 0000000000001234 already expired\n");
    assert_eq!(
        t.fails(&["lease", "keep-alive", "--once", "1234"]),
        ("Error: etcdserver: requested lease not found".into(), 2)
    );
    assert_eq!(t.ok(&["lease", "revoke", &lease]), with("lease {lease} revoked\n"));
    t.expect(&["get", "k"], "");
    t.expect_error(
        &["lease", "revoke", &lease],
        "Error: failed to revoke lease (etcdserver: requested lease not found)",
    );
    t.expect_error(&["lease", "grant", "9000000001"], "Error: failed to grant lease (etcdserver: too large lease TTL)");
    t.expect_error(&["put", "k", "v", "--lease=99"], "Error: etcdserver: requested lease not found");

    let json = t.ok(&["lease", "grant", "30", "-w", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let id = v["ID"].as_i64().unwrap();
    assert_eq!(json, t.fill(&format!(
        "{{\"cluster_id\":{{cluster_id}},\"member_id\":{{member_id}},\"revision\":3,\"raft_term\":{{term}},\"ID\":{id},\"TTL\":30,\"Error\":\"\"}}\n"
    )));
}

#[test]
fn compaction_output_matches_etcd() {
    let t = Target::start();
    for v in ["1", "2", "3", "4"] {
        t.ok(&["put", "a", v]); // revisions 2..=5
    }
    t.expect(&["compaction", "3"], "compacted revision 3\n");
    t.expect(&["compaction", "--physical", "4"], "compacted revision 4\n");
    let compacted = "Error: etcdserver: mvcc: required revision has been compacted";
    let future = "Error: etcdserver: mvcc: required revision is a future revision";
    t.expect_error(&["compaction", "4"], compacted);
    t.expect_error(&["compaction", "1000"], future);
    t.expect_error(&["get", "a", "--rev=3"], compacted);
    t.expect_error(&["get", "a", "--rev=1000"], future);
    t.expect(&["get", "a", "--rev=4"], "a\n3\n");

    let out = t.run(&["watch", "--rev=2", "a"], None);
    assert_eq!(out.status.code(), Some(5));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "watch was canceled (etcdserver: mvcc: required revision has been compacted)",
            "Error: watch is canceled by the server"
        ]
    );
}

#[test]
fn cluster_and_maintenance_output() {
    let t = Target::start();
    t.ok(&["put", "a", "1"]);
    t.expect(&["member", "list"], "{member}, started, e1, {peer}, http://{endpoint}, false\n");
    t.expect(
        &["member", "list", "-w", "json"],
        r#"{"header":{"cluster_id":{cluster_id},"member_id":{member_id},"raft_term":{term}},"members":[{"ID":{member_id},"name":"e1","peerURLs":["{peer}"],"clientURLs":["http://{endpoint}"]}]}
"#,
    );
    t.expect_error(&["member", "remove", "1234"], "Error: etcdserver: member not found");
    t.expect_error(&["member", "promote", "1234"], "Error: etcdserver: member not found");
    let member = t.fill("{member}");
    t.expect_error(&["member", "promote", &member], "Error: etcdserver: can only promote a learner member");

    // endpoint status: same fields; version, size and Raft indexes are the server's own.
    let status = t.ok(&["endpoint", "status"]);
    let fields: Vec<&str> = status.trim_end_matches('\n').split(", ").collect();
    assert_eq!(fields.len(), 10, "{status}");
    assert_eq!((fields[0], fields[1]), (t.endpoint.as_str(), member.as_str()));
    assert!(fields[2].starts_with("3.4."), "version {}", fields[2]);
    assert!(fields[3].ends_with('B'), "db size {}", fields[3]);
    assert_eq!((fields[4], fields[5], fields[6]), ("true", "false", t.fill("{term}").as_str()));
    assert!(fields[7].parse::<u64>().unwrap() >= 2 && fields[8].parse::<u64>().unwrap() >= 2, "{status}");
    assert_eq!(fields[9], "");
    let json: serde_json::Value = serde_json::from_str(&t.ok(&["endpoint", "status", "-w", "json"])).unwrap();
    let s = &json[0]["Status"];
    assert_eq!(json[0]["Endpoint"], t.endpoint.as_str());
    assert_eq!(s["header"]["revision"], 2);
    assert_eq!(s["leader"].as_u64().unwrap().to_string(), t.fill("{member_id}"));
    for key in ["version", "dbSize", "raftIndex", "raftTerm", "raftAppliedIndex", "dbSizeInUse"] {
        assert!(!s[key].is_null(), "{key} missing from {s}");
    }
    assert!(s["isLearner"].is_null() && s["errors"].is_null(), "no learner flag or errors: {s}");

    // etcdctl prints health to standard error.
    let health = t.run(&["endpoint", "health"], None);
    let health = String::from_utf8_lossy(&health.stderr);
    assert!(health.starts_with(&t.fill("{endpoint} is healthy: successfully committed proposal: took = ")), "{health}");
    let hash = t.ok(&["endpoint", "hashkv"]);
    let (endpoint, value) = hash.trim_end().split_once(", ").unwrap();
    assert_eq!(endpoint, t.endpoint);
    value.parse::<u32>().unwrap();
    t.expect(&["alarm", "list"], "");
    t.expect(&["defrag"], "Finished defragmenting etcd member[{endpoint}]\n");
    t.expect_error(&["move-leader", "1234"], "Error: etcdserver: bad leader transferee");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("snap.db");
    let file_arg = file.to_str().unwrap();
    let saved = t.ok(&["snapshot", "save", file_arg]);
    assert_eq!(saved, format!("Snapshot saved at {file_arg}\n"));
    let data = std::fs::read(&file).unwrap();
    assert_eq!(data.len() % 512, 32, "etcd's layout: page-aligned data, then a SHA-256");
    let (body, digest) = data.split_at(data.len() - 32);
    assert_eq!(Sha256::digest(body).as_slice(), digest);
}
