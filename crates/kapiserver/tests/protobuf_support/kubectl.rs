//! The kubectl commands whose protobuf bodies are captured, and how to run them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The kubectl the fixtures were recorded with.
pub const KUBECTL: &str = "/usr/lib/google-cloud-sdk/bin/kubectl.1.33";

/// Every kubectl that sends protobuf bodies (1.32 and later) the live test runs.
pub const KUBECTLS: &[&str] = &["/usr/lib/google-cloud-sdk/bin/kubectl.1.32", KUBECTL];

/// Bytes of the binary file given to `--from-file` (not UTF-8, so it lands in binaryData/data).
pub const BLOB: &[u8] = &[0x00, 0xff, 0x10, 0x80, b'k', b'8', b's', 0xfe];

/// One captured command: fixture name and `kubectl create` arguments. `{dir}` stands for the
/// scratch directory holding `blob.bin`.
pub struct Case {
    /// Fixture file stem under tests/fixtures.
    pub name: &'static str,
    /// Arguments after `kubectl`.
    pub args: &'static [&'static str],
    /// Whether the command supports `--dry-run=client -o json`; `create token` does not, and its
    /// expected JSON is [`TOKEN_JSON`].
    pub dry_run: bool,
}

/// What upstream writes for the TokenRequest that `create token builder --audience=api
/// --duration=1h` sends (no name: the server takes it from the URL), derived from the Go
/// types: `audiences` and `token` have no
/// omitempty, `boundObjectRef` is a pointer without omitempty, `expirationTimestamp` a Time
/// value.
pub const TOKEN_JSON: &str = r#"{
  "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
  "metadata": {"creationTimestamp": null},
  "spec": {"audiences": ["api"], "expirationSeconds": 3600, "boundObjectRef": null},
  "status": {"token": "", "expirationTimestamp": null}
}"#;

/// Every captured command.
pub const CASES: &[Case] = &[
    Case {
        name: "configmap",
        dry_run: true,
        args: &["create", "configmap", "app-config", "--from-literal=key1=value1", "--from-literal=key2=value 2"],
    },
    Case {
        name: "configmap-binary",
        dry_run: true,
        args: &[
            "create",
            "configmap",
            "bin-config",
            "--from-file=blob.bin={dir}/blob.bin",
            "--from-literal=text=plain",
        ],
    },
    Case {
        name: "secret-generic",
        dry_run: true,
        args: &[
            "create",
            "secret",
            "generic",
            "db-pass",
            "--from-literal=username=admin",
            "--from-literal=password=s3cr3t!",
            "--from-file=key.bin={dir}/blob.bin",
        ],
    },
    Case {
        name: "secret-docker-registry",
        dry_run: true,
        args: &[
            "create",
            "secret",
            "docker-registry",
            "regcred",
            "--docker-server=registry.example.com",
            "--docker-username=u",
            "--docker-password=p",
            "--docker-email=u@example.com",
        ],
    },
    Case {
        name: "deployment",
        dry_run: true,
        args: &["create", "deployment", "web", "--image=busybox", "--replicas=2", "--port=80", "--", "sleep", "10"],
    },
    Case {
        name: "service-nodeport",
        dry_run: true,
        args: &["create", "service", "nodeport", "web-np", "--tcp=8080:80", "--node-port=30080"],
    },
    Case {
        name: "service-clusterip",
        dry_run: true,
        args: &["create", "service", "clusterip", "web", "--tcp=80:8080", "--tcp=443"],
    },
    Case {
        name: "service-externalname",
        dry_run: true,
        args: &["create", "service", "externalname", "db", "--external-name=db.example.com"],
    },
    Case { name: "namespace", dry_run: true, args: &["create", "namespace", "team-a"] },
    Case { name: "serviceaccount", dry_run: true, args: &["create", "serviceaccount", "builder"] },
    Case { name: "job", dry_run: true, args: &["create", "job", "hello", "--image=busybox", "--", "echo", "hi"] },
    Case {
        name: "cronjob",
        dry_run: true,
        args: &[
            "create",
            "cronjob",
            "nightly",
            "--image=busybox",
            "--schedule=*/5 * * * *",
            "--restart=OnFailure",
            "--",
            "date",
        ],
    },
    Case {
        name: "ingress",
        dry_run: true,
        args: &[
            "create",
            "ingress",
            "web",
            "--class=nginx",
            "--rule=foo.com/bar=svc1:8080,tls=my-cert",
            "--rule=bar.com/*=svc2:http",
            "--annotation=team=a",
        ],
    },
    Case {
        name: "quota",
        dry_run: true,
        args: &["create", "quota", "compute", "--hard=cpu=1,memory=1G,pods=2,services=3,requests.storage=10Gi"],
    },
    Case {
        name: "quota-scoped",
        dry_run: true,
        args: &["create", "quota", "best-effort", "--hard=pods=100", "--scopes=BestEffort"],
    },
    Case {
        name: "role",
        dry_run: true,
        args: &[
            "create",
            "role",
            "pod-reader",
            "--verb=get,list,watch",
            "--resource=pods,configmaps",
            "--resource-name=a",
        ],
    },
    Case {
        name: "clusterrole",
        dry_run: true,
        args: &["create", "clusterrole", "reader", "--verb=get,list", "--resource=nodes,deployments.apps"],
    },
    Case {
        name: "clusterrole-nonresource",
        dry_run: true,
        args: &["create", "clusterrole", "logs", "--verb=get", "--non-resource-url=/logs/*"],
    },
    Case {
        name: "clusterrole-aggregated",
        dry_run: true,
        args: &[
            "create",
            "clusterrole",
            "monitoring",
            "--aggregation-rule=rbac.example.com/aggregate-to-monitoring=true",
        ],
    },
    Case {
        name: "rolebinding",
        dry_run: true,
        args: &[
            "create",
            "rolebinding",
            "rb",
            "--role=pod-reader",
            "--user=alice",
            "--group=devs",
            "--serviceaccount=default:builder",
        ],
    },
    Case {
        name: "clusterrolebinding",
        dry_run: true,
        args: &["create", "clusterrolebinding", "crb", "--clusterrole=reader", "--user=bob"],
    },
    Case {
        name: "pdb-min-available",
        dry_run: true,
        args: &["create", "poddisruptionbudget", "web-pdb", "--selector=app=web", "--min-available=50%"],
    },
    Case {
        name: "pdb-max-unavailable",
        dry_run: true,
        args: &["create", "poddisruptionbudget", "web-pdb2", "--selector=app=web", "--max-unavailable=1"],
    },
    Case {
        name: "priorityclass",
        dry_run: true,
        args: &[
            "create",
            "priorityclass",
            "high",
            "--value=1000",
            "--description=high priority",
            "--preemption-policy=Never",
        ],
    },
    Case {
        name: "priorityclass-default",
        dry_run: true,
        args: &["create", "priorityclass", "zero", "--value=0", "--global-default"],
    },
    Case { name: "token", dry_run: false, args: &["create", "token", "builder", "--audience=api", "--duration=1h"] },
];

/// A scratch directory with `blob.bin` and an empty kubeconfig.
pub struct Scratch {
    /// The directory.
    pub dir: PathBuf,
}

impl Scratch {
    /// Creates `dir` afresh.
    pub fn new(dir: &Path) -> std::io::Result<Self> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("blob.bin"), BLOB)?;
        std::fs::write(dir.join("kubeconfig"), "apiVersion: v1\nkind: Config\n")?;
        Ok(Self { dir: dir.to_owned() })
    }

    /// Runs [`KUBECTL`] with `args` (placeholders filled) against `server`, with a fresh cache dir.
    pub fn kubectl(&self, server: &str, args: &[&str], extra: &[&str]) -> std::io::Result<Output> {
        self.run(KUBECTL, server, args, extra)
    }

    /// Runs the kubectl binary `kubectl` as [`Scratch::kubectl`] does.
    pub fn run(&self, kubectl: &str, server: &str, args: &[&str], extra: &[&str]) -> std::io::Result<Output> {
        let dir = self.dir.to_string_lossy();
        let cache = self.dir.join("cache");
        let _ = std::fs::remove_dir_all(&cache);
        let mut command = Command::new(kubectl);
        command
            .arg(format!("--kubeconfig={dir}/kubeconfig"))
            .arg(format!("--server={server}"))
            .arg(format!("--cache-dir={}", cache.to_string_lossy()))
            .env_remove("KUBECONFIG");
        // Flags go before a `--` separator, which ends kubectl's flag parsing.
        let split = args.iter().position(|a| *a == "--").unwrap_or(args.len());
        command.args(args[..split].iter().map(|a| a.replace("{dir}", &dir)));
        command.args(extra);
        command.args(&args[split..]);
        command.output()
    }
}
