//! `GET pods/{name}/log`: the container is chosen and checked here, as upstream does, then
//! the request goes to the pod's kubelet and its answer is streamed back (so `follow`
//! streams too).

use std::collections::HashMap;
use std::convert::Infallible;

use futures_util::StreamExt;
use http::{Response, StatusCode};
use http_body_util::{BodyExt, BodyStream, StreamBody};
use kapi::StatusError;
use serde_json::Value;

use super::respond::Body;
use crate::rest::Api;

/// Error bodies from a kubelet are read up to this size.
const ERROR_BODY_LIMIT: usize = 64 * 1024;

/// The query parameters of `PodLogOptions` that go to the kubelet, checked first.
fn kubelet_query(query: &HashMap<String, String>) -> Result<String, StatusError> {
    let mut out = form_urlencoded::Serializer::new(String::new());
    for key in ["follow", "previous", "timestamps", "insecureSkipTLSVerifyBackend"] {
        if let Some(v) = query.get(key) {
            if !matches!(v.as_str(), "" | "true" | "false" | "1" | "0") {
                return Err(StatusError::bad_request(format!("{key}: invalid boolean value {v:?}")));
            }
            if key != "insecureSkipTLSVerifyBackend" {
                out.append_pair(key, if v.is_empty() { "true" } else { v });
            }
        }
    }
    for key in ["tailLines", "limitBytes", "sinceSeconds"] {
        if let Some(v) = query.get(key) {
            let n: i64 = v.parse().map_err(|_| StatusError::bad_request(format!("{key}: invalid integer {v:?}")))?;
            let min = if key == "tailLines" { 0 } else { 1 };
            if n < min {
                return Err(StatusError::new(
                    kapi::Reason::Invalid,
                    format!("PodLogOptions is invalid: {key}: Invalid value: {n}: must be greater than {}", min - 1),
                ));
            }
            out.append_pair(key, v);
        }
    }
    if let Some(v) = query.get("sinceTime") {
        if query.contains_key("sinceSeconds") {
            return Err(StatusError::new(
                kapi::Reason::Invalid,
                "PodLogOptions is invalid: at most one of `sinceTime` or `sinceSeconds` may be specified",
            ));
        }
        out.append_pair("sinceTime", v);
    }
    Ok(out.finish())
}

/// The container to read: the one named, or the pod's only container (upstream's
/// messages otherwise).
fn container(pod: &Value, name: &str, asked: Option<&str>) -> Result<String, StatusError> {
    let names = |field: &str| -> Vec<String> {
        pod.pointer(&format!("/spec/{field}"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|c| c.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect()
    };
    let (containers, init, ephemeral) = (names("containers"), names("initContainers"), names("ephemeralContainers"));
    match asked.filter(|c| !c.is_empty()) {
        Some(c) if containers.iter().chain(&init).chain(&ephemeral).any(|n| n == c) => Ok(c.to_owned()),
        Some(c) => Err(StatusError::bad_request(format!("container {c} is not valid for pod {name}"))),
        None if containers.len() == 1 => Ok(containers[0].clone()),
        None => {
            let mut message =
                format!("a container name must be specified for pod {name}, choose one of: [{}]", containers.join(" "));
            if !init.is_empty() {
                message.push_str(&format!(" or one of the init containers: [{}]", init.join(" ")));
            }
            Err(StatusError::bad_request(message))
        }
    }
}

/// Answers `GET pods/{name}/log` in `namespace`.
pub(super) async fn pod_log(
    api: &Api,
    pods: &crate::resources::ResourceInfo,
    namespace: &str,
    name: &str,
    query: &HashMap<String, String>,
) -> Result<Response<Body>, StatusError> {
    let pod = api.get(pods, Some(namespace), name).await?;
    let container = container(&pod, name, query.get("container").map(String::as_str))?;
    let params = kubelet_query(query)?;
    let node_name = pod.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
    if node_name.is_empty() {
        return Err(StatusError::bad_request(format!("pod {name} does not have a host assigned")));
    }
    let Some(client) = api.kubelet() else {
        return Err(StatusError::service_unavailable(format!(
            "logs of pod {name} on node {node_name} are not reachable: no kubelet client is configured"
        )));
    };
    let nodes = api
        .registry()
        .find("", "v1", "nodes")
        .ok_or_else(|| StatusError::internal("the nodes resource is not served"))?;
    let node = api.get(&nodes, None, node_name).await?;
    let path = format!("/containerLogs/{namespace}/{name}/{container}?{params}");
    let answer = client.get(&node, &path).await?;
    let status = answer.status();
    if status != StatusCode::OK {
        let body = http_body_util::Limited::new(answer.into_body(), ERROR_BODY_LIMIT).collect().await;
        let text = body.map(|b| String::from_utf8_lossy(&b.to_bytes()).trim().to_owned()).unwrap_or_default();
        let reason = match status {
            StatusCode::NOT_FOUND => kapi::Reason::NotFound,
            StatusCode::BAD_REQUEST => kapi::Reason::BadRequest,
            _ => kapi::Reason::InternalError,
        };
        return Err(StatusError::new(reason, text));
    }
    // A kubelet that goes away mid-stream ends the log.
    let stream = BodyStream::new(answer.into_body())
        .take_while(|frame| std::future::ready(frame.is_ok()))
        .filter_map(|frame| std::future::ready(frame.ok().map(Ok::<_, Infallible>)));
    let mut response = Response::new(BodyExt::boxed(StreamBody::new(stream)));
    response.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/plain"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn containers_are_chosen_as_upstream() {
        let one = json!({"spec": {"containers": [{"name": "app"}]}});
        assert_eq!(container(&one, "p", None).ok(), Some("app".into()));
        let two = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "i"}]}});
        assert_eq!(container(&two, "p", Some("i")).ok(), Some("i".into()));
        let e = container(&two, "p", None).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            e.contains(
                "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [i]"
            ),
            "{e}"
        );
        let e = container(&two, "p", Some("z")).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.contains("container z is not valid for pod p"), "{e}");
    }

    #[test]
    fn options_are_checked_and_forwarded() {
        assert_eq!(
            kubelet_query(&query(&[("follow", "true"), ("tailLines", "3"), ("container", "x")])).ok(),
            Some("follow=true&tailLines=3".into())
        );
        assert!(kubelet_query(&query(&[("tailLines", "-1")])).is_err());
        assert!(kubelet_query(&query(&[("previous", "maybe")])).is_err());
        assert!(kubelet_query(&query(&[("sinceSeconds", "5"), ("sinceTime", "2024-01-01T00:00:00Z")])).is_err());
    }
}
