//! A tiny plain-HTTP API server for capturing the request bodies real kubectl sends.
//!
//! It serves discovery for core/v1, apps/v1, batch/v1, networking.k8s.io/v1 and
//! rbac.authorization.k8s.io/v1, policy/v1 and scheduling.k8s.io/v1, records every POST, and answers 201 with the JSON that
//! `decode_body` makes of a protobuf body (or the JSON body itself), or a Status carrying
//! `ProtoError::http_status` when decoding fails. Loopback only; one thread per connection.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

/// One recorded request.
#[derive(Clone, Debug)]
pub struct Captured {
    /// HTTP method.
    pub method: String,
    /// Request target (path and query).
    pub target: String,
    /// The Content-Type header, empty when absent.
    pub content_type: String,
    /// The raw body.
    pub body: Vec<u8>,
    /// The HTTP status the server answered.
    pub status: u16,
}

/// The running server; stops when dropped.
pub struct CaptureServer {
    addr: SocketAddr,
    reject: Arc<AtomicBool>,
    captured: Arc<Mutex<Vec<Captured>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl CaptureServer {
    /// Makes every later protobuf POST fail with 415 Unsupported Media Type (or not).
    pub fn reject_protobuf(&self, reject: bool) {
        self.reject.store(reject, Ordering::Relaxed);
    }

    /// Binds 127.0.0.1 on a free port and starts serving.
    pub fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        let captured = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let reject = Arc::new(AtomicBool::new(false));
        let accept = {
            let (captured, stop, reject) = (Arc::clone(&captured), Arc::clone(&stop), Arc::clone(&reject));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            let (captured, reject) = (Arc::clone(&captured), Arc::clone(&reject));
                            std::thread::spawn(move || serve(stream, &captured, &reject));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Ok(Self { addr, reject, captured, stop, accept: Some(accept) })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Removes and returns what was recorded so far.
    pub fn take(&self) -> Vec<Captured> {
        std::mem::take(&mut *self.captured.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl Drop for CaptureServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
    }
}

struct Request {
    method: String,
    target: String,
    content_type: String,
    body: Vec<u8>,
}

fn serve(stream: TcpStream, captured: &Mutex<Vec<Captured>>, reject: &AtomicBool) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(mut writer) = stream.try_clone() else { return };
    let mut reader = BufReader::new(stream);
    while let Some(request) = read_request(&mut reader) {
        let protobuf = request.content_type.starts_with(kapiserver::protobuf::PROTOBUF_CONTENT_TYPE);
        let (status, body) = if request.method == "POST" && protobuf && reject.load(Ordering::Relaxed) {
            status(415, "UnsupportedMediaType", "protobuf rejected by this test server")
        } else {
            respond(&request)
        };
        if request.method == "POST" {
            captured.lock().unwrap_or_else(PoisonError::into_inner).push(Captured {
                method: request.method.clone(),
                target: request.target.clone(),
                content_type: request.content_type.clone(),
                body: request.body.clone(),
                status,
            });
        }
        let body = body.to_string();
        let head =
            format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
        if writer.write_all(head.as_bytes()).and_then(|()| writer.write_all(body.as_bytes())).is_err() {
            return;
        }
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_owned(), parts.next()?.to_owned());
    let (mut length, mut chunked, mut content_type) = (0usize, false, String::new());
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).ok()? == 0 {
            return None;
        }
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        let (name, value) = header.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" => length = value.trim().parse().ok()?,
            "transfer-encoding" => chunked = value.trim().eq_ignore_ascii_case("chunked"),
            "content-type" => content_type = value.trim().to_owned(),
            _ => {}
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).ok()?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        body.resize(length, 0);
        reader.read_exact(&mut body).ok()?;
    }
    Some(Request { method, target, content_type, body })
}

fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    let body = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code});
    (code, body)
}

fn respond(request: &Request) -> (u16, Value) {
    let path = request.target.split('?').next().unwrap_or_default();
    if request.method == "POST" {
        let decoded = if request.content_type.starts_with(kapiserver::protobuf::PROTOBUF_CONTENT_TYPE) {
            kapiserver::protobuf::decode_body(&request.body)
        } else {
            Ok(serde_json::from_slice(&request.body).unwrap_or(Value::Null))
        };
        return match decoded {
            Ok(mut object) => {
                if object["kind"] == "TokenRequest" {
                    // kubectl create token prints status.token.
                    object["status"] = json!({"token": "test-token", "expirationTimestamp": "2030-01-01T00:00:00Z"});
                }
                (201, object)
            }
            Err(error) => status(error.http_status(), "UnsupportedMediaType", &error.to_string()),
        };
    }
    match path {
        "/api" => (
            200,
            json!({"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1"}]}),
        ),
        "/apis" => {
            let groups: Vec<Value> = GROUPS
                .iter()
                .map(|(group, version, _)| {
                    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
                    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
                })
                .collect();
            (200, json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}))
        }
        "/version" => (200, json!({"major": "1", "minor": "33", "gitVersion": "v1.33.1", "platform": "linux/amd64"})),
        "/api/v1" => (200, resource_list("v1", CORE)),
        _ => GROUPS
            .iter()
            .find(|(group, version, _)| path == format!("/apis/{group}/{version}"))
            .map(|(group, version, resources)| (200, resource_list(&format!("{group}/{version}"), resources)))
            .unwrap_or_else(|| status(404, "NotFound", &format!("{path} not found"))),
    }
}

/// (plural, kind, namespaced, short names)
type Resource = (&'static str, &'static str, bool, &'static [&'static str]);

const CORE: &[Resource] = &[
    ("configmaps", "ConfigMap", true, &["cm"]),
    ("secrets", "Secret", true, &[]),
    ("services", "Service", true, &["svc"]),
    ("namespaces", "Namespace", false, &["ns"]),
    ("serviceaccounts", "ServiceAccount", true, &["sa"]),
    ("resourcequotas", "ResourceQuota", true, &["quota"]),
    ("serviceaccounts/token", "TokenRequest", true, &[]),
    // Only for `create role`/`clusterrole`, which check their --resource against discovery.
    ("pods", "Pod", true, &["po"]),
    ("nodes", "Node", false, &["no"]),
];

const GROUPS: &[(&str, &str, &[Resource])] = &[
    ("apps", "v1", &[("deployments", "Deployment", true, &["deploy"])]),
    ("batch", "v1", &[("jobs", "Job", true, &[]), ("cronjobs", "CronJob", true, &["cj"])]),
    ("networking.k8s.io", "v1", &[("ingresses", "Ingress", true, &["ing"])]),
    (
        "rbac.authorization.k8s.io",
        "v1",
        &[
            ("roles", "Role", true, &[]),
            ("clusterroles", "ClusterRole", false, &[]),
            ("rolebindings", "RoleBinding", true, &[]),
            ("clusterrolebindings", "ClusterRoleBinding", false, &[]),
        ],
    ),
    ("policy", "v1", &[("poddisruptionbudgets", "PodDisruptionBudget", true, &["pdb"])]),
    ("scheduling.k8s.io", "v1", &[("priorityclasses", "PriorityClass", false, &["pc"])]),
];

fn resource_list(group_version: &str, resources: &[Resource]) -> Value {
    let verbs = ["create", "delete", "get", "list", "patch", "update", "watch"];
    let resources: Vec<Value> = resources
        .iter()
        .map(|(name, kind, namespaced, short)| {
            let singular = kind.to_ascii_lowercase();
            json!({"name": name, "singularName": singular, "namespaced": namespaced, "kind": kind,
                "verbs": verbs, "shortNames": short})
        })
        .collect();
    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version, "resources": resources})
}
