//! Authentication over HTTPS: no or wrong credentials get 401, static tokens and client
//! certificates signed by the cluster CA are accepted, health checks are public.

#![allow(clippy::unwrap_used)]

mod common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use common::{StoreKind, TestServer, client_from, send};
use http::Method;
use serde_json::Value;

fn kubeconfig(server: &TestServer, user: &str) -> String {
    let ca = B64.encode(server.server.ca_pem());
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: {}\n    certificate-authority-data: {ca}\nusers:\n- name: u\n  user:\n{user}\ncontexts:\n- name: c\n  context: {{cluster: c, user: u}}\ncurrent-context: c\n",
        server.server.url()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_checked() {
    let server = TestServer::start_with(StoreKind::Embedded, |dir, mut c| {
        let tokens = dir.join("tokens.csv");
        std::fs::write(&tokens, "s3cret,alice,1001,\"dev,ops\"\n").unwrap();
        c.token_auth_file = Some(tokens);
        c
    })
    .await;
    let dir = server.dir.path().to_owned();

    let write = |name: &str, user: &str| {
        let p = dir.join(name);
        std::fs::write(&p, kubeconfig(&server, user)).unwrap();
        p
    };
    let anonymous = client_from(&write("anon", "    {}")).await;
    let (status, body) = send(&anonymous, Method::GET, "/api/v1/namespaces", "application/json", vec![]).await;
    assert_eq!(status, 401);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["reason"], "Unauthorized");
    let (status, body) = send(&anonymous, Method::GET, "/healthz", "application/json", vec![]).await;
    assert_eq!((status, body.as_slice()), (200, b"ok".as_slice()));

    let wrong = client_from(&write("wrong", "    token: nope")).await;
    assert_eq!(send(&wrong, Method::GET, "/api/v1/namespaces", "application/json", vec![]).await.0, 401);

    let alice = client_from(&write("alice", "    token: s3cret")).await;
    assert_eq!(send(&alice, Method::GET, "/api/v1/namespaces", "application/json", vec![]).await.0, 200);

    let pki = kapiserver::tls::Pki::under(&dir.join("data"));
    let (cert, key) = kapiserver::tls::issue_client_cert(&pki, "bob", &["system:nodes"]).unwrap();
    let user = format!("    client-certificate-data: {}\n    client-key-data: {}", B64.encode(cert), B64.encode(key));
    let bob = client_from(&write("bob", &user)).await;
    assert_eq!(send(&bob, Method::GET, "/api/v1/namespaces", "application/json", vec![]).await.0, 200);
}
