//! One probe attempt: exec through CRI `ExecSync`, HTTP GET, or a TCP connect against the
//! pod IP.

use std::time::Duration;

use kapi::k8s::api::core::v1::{ContainerPort, Probe};
use kapi::k8s::apimachinery::pkg::util::intstr::IntOrString;
use kcri::RuntimeService;
use kcri::types::ExecSyncRequest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Where a probe runs.
#[derive(Debug, Clone)]
pub(crate) struct ProbeTarget {
    pub(crate) container_id: String,
    /// The pod IP (the node's IP, or loopback, on the host network).
    pub(crate) host: String,
    pub(crate) ports: Vec<ContainerPort>,
}

/// Runs one attempt; returns whether it passed and a message for failures.
pub(crate) async fn attempt(
    runtime: &dyn RuntimeService,
    probe: &Probe,
    target: &ProbeTarget,
    timeout: Duration,
) -> (bool, String) {
    if let Some(exec) = &probe.exec {
        let request = ExecSyncRequest {
            container_id: target.container_id.clone(),
            cmd: exec.command.clone().unwrap_or_default(),
            timeout: Some(timeout),
        };
        // The runtime enforces the timeout; the outer one covers a runtime that does not.
        return match tokio::time::timeout(timeout + Duration::from_secs(1), runtime.exec_sync(request)).await {
            Ok(Ok(r)) if r.exit_code == 0 => (true, String::new()),
            Ok(Ok(r)) => {
                let out = String::from_utf8_lossy(if r.stderr.is_empty() { &r.stdout } else { &r.stderr }).into_owned();
                (false, format!("command exited with {}: {}", r.exit_code, out.trim()))
            }
            Ok(Err(e)) => (false, format!("exec failed: {e}")),
            Err(_) => (false, format!("command timed out after {timeout:?}")),
        };
    }
    if let Some(http) = &probe.http_get {
        let Some(port) = resolve_port(&http.port, &target.ports) else {
            return (false, format!("unknown port {:?}", http.port));
        };
        if http.scheme.as_deref().is_some_and(|s| s.eq_ignore_ascii_case("https")) {
            return (false, "HTTPS probes are not supported".into());
        }
        let host = http.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| target.host.clone());
        let path = http.path.clone().filter(|p| !p.is_empty()).unwrap_or_else(|| "/".into());
        let headers: Vec<(String, String)> =
            http.http_headers.iter().flatten().map(|h| (h.name.clone(), h.value.clone())).collect();
        return match tokio::time::timeout(timeout, http_get(&host, port, &path, &headers)).await {
            Ok(Ok(code)) if (200..400).contains(&code) => (true, String::new()),
            Ok(Ok(code)) => (false, format!("HTTP probe failed with statuscode: {code}")),
            Ok(Err(e)) => (false, format!("Get \"http://{host}:{port}{path}\": {e}")),
            Err(_) => (false, format!("Get \"http://{host}:{port}{path}\": timeout after {timeout:?}")),
        };
    }
    if let Some(tcp) = &probe.tcp_socket {
        let Some(port) = resolve_port(&tcp.port, &target.ports) else {
            return (false, format!("unknown port {:?}", tcp.port));
        };
        let host = tcp.host.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| target.host.clone());
        return match tokio::time::timeout(timeout, TcpStream::connect((host.as_str(), port))).await {
            Ok(Ok(_)) => (true, String::new()),
            Ok(Err(e)) => (false, format!("dial tcp {host}:{port}: {e}")),
            Err(_) => (false, format!("dial tcp {host}:{port}: i/o timeout")),
        };
    }
    if probe.grpc.is_some() {
        return (false, "gRPC probes are not supported".into());
    }
    (false, "probe has no handler".into())
}

/// A port number, or a named container port.
pub(crate) fn resolve_port(port: &IntOrString, ports: &[ContainerPort]) -> Option<u16> {
    match port {
        IntOrString::Int(n) => u16::try_from(*n).ok().filter(|p| *p > 0),
        IntOrString::String(s) => match s.parse::<u16>() {
            Ok(n) => Some(n),
            Err(_) => ports
                .iter()
                .find(|p| p.name.as_deref() == Some(s.as_str()))
                .and_then(|p| u16::try_from(p.container_port).ok()),
        },
    }
}

/// A minimal HTTP/1.1 GET; returns the status code.
async fn http_get(host: &str, port: u16, path: &str, headers: &[(String, String)]) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect((host, port)).await?;
    let has_host = headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host"));
    let mut request =
        format!("GET {path} HTTP/1.1\r\nUser-Agent: kube-probe/1.33\r\nAccept: */*\r\nConnection: close\r\n");
    if !has_host {
        request.push_str(&format!("Host: {host}:{port}\r\n"));
    }
    for (k, v) in headers {
        request.push_str(&format!("{k}: {v}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') && buf.len() < 4096 {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let line = String::from_utf8_lossy(&buf);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "malformed HTTP response"))
}

#[cfg(test)]
mod tests {
    use kapi::k8s::api::core::v1::{HTTPGetAction, TCPSocketAction};
    use tokio::net::TcpListener;

    use super::*;

    #[test]
    fn named_ports() {
        let ports = vec![ContainerPort { name: Some("http".into()), container_port: 8080, ..Default::default() }];
        assert_eq!(resolve_port(&IntOrString::String("http".into()), &ports), Some(8080));
        assert_eq!(resolve_port(&IntOrString::Int(80), &ports), Some(80));
        assert_eq!(resolve_port(&IntOrString::String("nope".into()), &ports), None);
    }

    #[tokio::test]
    async fn http_and_tcp_against_a_local_server() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let mut buf = [0u8; 1024];
                let n = s.read(&mut buf).await.unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).into_owned();
                let code = if req.starts_with("GET /ok ") { "200 OK" } else { "503 Service Unavailable" };
                let _ = s.write_all(format!("HTTP/1.1 {code}\r\nContent-Length: 0\r\n\r\n").as_bytes()).await;
            }
        });
        let fake = kcri::fake::FakeRuntime::new();
        let target = ProbeTarget { container_id: "x".into(), host: "127.0.0.1".into(), ports: Vec::new() };
        let get = |path: &str| Probe {
            http_get: Some(HTTPGetAction {
                path: Some(path.into()),
                port: IntOrString::Int(port.into()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let t = Duration::from_secs(2);
        assert!(attempt(&fake, &get("/ok"), &target, t).await.0);
        let (ok, msg) = attempt(&fake, &get("/bad"), &target, t).await;
        assert!(!ok && msg.contains("503"), "{msg}");
        let tcp = |port: u16| Probe {
            tcp_socket: Some(TCPSocketAction { port: IntOrString::Int(port.into()), ..Default::default() }),
            ..Default::default()
        };
        assert!(attempt(&fake, &tcp(port), &target, t).await.0);
        let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind").local_addr().expect("addr").port();
        assert!(!attempt(&fake, &tcp(closed), &target, t).await.0);
    }
}
