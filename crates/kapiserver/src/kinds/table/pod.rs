//! The pod row: READY, the computed STATUS and RESTARTS as upstream's `printPod` builds them.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::gotime::{human_duration_nanos, since, timestamp};

fn arr(v: Option<&Value>) -> &[Value] {
    v.and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

fn text<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn int(v: &Value, ptr: &str) -> i64 {
    v.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn condition_true(status: Option<&Value>, kind: &str) -> bool {
    arr(status.and_then(|s| s.get("conditions")))
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
        .is_some_and(|c| c.get("status").and_then(Value::as_str) == Some("True"))
}

/// The terminated reason upstream shows: the reason, else `Signal:N` or `ExitCode:N`.
fn terminated_reason(term: &Value) -> String {
    match text(term, "/reason") {
        "" if int(term, "/signal") != 0 => format!("Signal:{}", int(term, "/signal")),
        "" => format!("ExitCode:{}", int(term, "/exitCode")),
        r => r.to_string(),
    }
}

/// Later of `latest` and the container's last termination time.
fn last_termination(latest: Option<i128>, c: &Value) -> Option<i128> {
    let finished = timestamp(c.pointer("/lastState/terminated/finishedAt"));
    match (latest, finished) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

pub(super) fn cells(pod: &Value, now: i128) -> Vec<Value> {
    let spec = pod.get("spec");
    let status = pod.get("status");
    let phase = text(pod, "/status/phase");
    let mut reason = match text(pod, "/status/reason") {
        "" => phase.to_string(),
        r => r.to_string(),
    };
    let gated = arr(status.and_then(|s| s.get("conditions"))).iter().any(|c| {
        c.get("type").and_then(Value::as_str) == Some("PodScheduled")
            && c.get("reason").and_then(Value::as_str) == Some("SchedulingGated")
    });
    if gated {
        reason = "SchedulingGated".into();
    }
    let init_specs = arr(spec.and_then(|s| s.get("initContainers")));
    let restartable: BTreeSet<&str> = init_specs
        .iter()
        .filter(|c| c.get("restartPolicy").and_then(Value::as_str) == Some("Always"))
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let total = arr(spec.and_then(|s| s.get("containers"))).len() + restartable.len();
    let mut ready = 0usize;
    let mut restarts = 0i64;
    let mut sidecar_restarts = 0i64;
    let mut last_restart: Option<i128> = None;
    let mut last_sidecar_restart: Option<i128> = None;
    let mut initializing = false;
    for (i, c) in arr(status.and_then(|s| s.get("initContainerStatuses"))).iter().enumerate() {
        let count = int(c, "/restartCount");
        restarts += count;
        last_restart = last_termination(last_restart, c);
        let is_sidecar = restartable.contains(text(c, "/name"));
        if is_sidecar {
            sidecar_restarts += count;
            last_sidecar_restart = last_termination(last_sidecar_restart, c);
        }
        let terminated = c.pointer("/state/terminated").filter(|t| !t.is_null());
        let waiting_reason = text(c, "/state/waiting/reason");
        if terminated.is_some_and(|t| int(t, "/exitCode") == 0) {
            continue;
        }
        if is_sidecar && c.get("started").and_then(Value::as_bool) == Some(true) {
            if c.get("ready").and_then(Value::as_bool) == Some(true) {
                ready += 1;
            }
            continue;
        }
        reason = match terminated {
            Some(t) => match text(t, "/reason") {
                "" if int(t, "/signal") != 0 => format!("Init:Signal:{}", int(t, "/signal")),
                "" => format!("Init:ExitCode:{}", int(t, "/exitCode")),
                r => format!("Init:{r}"),
            },
            None if !waiting_reason.is_empty() && waiting_reason != "PodInitializing" => {
                format!("Init:{waiting_reason}")
            }
            None => format!("Init:{i}/{}", init_specs.len()),
        };
        initializing = true;
        break;
    }
    if !initializing || condition_true(status, "Initialized") {
        restarts = sidecar_restarts;
        last_restart = last_sidecar_restart;
        let mut has_running = false;
        for c in arr(status.and_then(|s| s.get("containerStatuses"))).iter().rev() {
            restarts += int(c, "/restartCount");
            last_restart = last_termination(last_restart, c);
            let waiting = text(c, "/state/waiting/reason");
            let terminated = c.pointer("/state/terminated").filter(|t| !t.is_null());
            if !waiting.is_empty() {
                reason = waiting.to_string();
            } else if let Some(t) = terminated {
                reason = terminated_reason(t);
            } else if c.get("ready").and_then(Value::as_bool) == Some(true)
                && c.pointer("/state/running").is_some_and(|r| !r.is_null())
            {
                has_running = true;
                ready += 1;
            }
        }
        if reason == "Completed" && has_running {
            reason = if condition_true(status, "Ready") { "Running".into() } else { "NotReady".into() };
        }
    }
    let deleting = pod.pointer("/metadata/deletionTimestamp").is_some_and(|d| !d.is_null());
    if deleting && text(pod, "/status/reason") == "NodeLost" {
        reason = "Unknown".into();
    } else if deleting && !matches!(phase, "Succeeded" | "Failed") {
        reason = "Terminating".into();
    }
    let restarts_cell = match last_restart {
        Some(t) if restarts != 0 => format!("{restarts} ({} ago)", human_duration_nanos(now - t)),
        _ => restarts.to_string(),
    };
    // Each readiness gate counts when its condition is present and True.
    let gates = arr(spec.and_then(|s| s.get("readinessGates")));
    let readiness_gates = if gates.is_empty() {
        "<none>".to_string()
    } else {
        let true_count = gates
            .iter()
            .filter(|g| condition_true(status, g.get("conditionType").and_then(Value::as_str).unwrap_or_default()))
            .count();
        format!("{true_count}/{}", gates.len())
    };
    let pod_ip = arr(status.and_then(|s| s.get("podIPs")))
        .first()
        .and_then(|p| p.get("ip"))
        .and_then(Value::as_str)
        .unwrap_or_else(|| text(pod, "/status/podIP"));
    let or_none = |s: &str| if s.is_empty() { "<none>".to_string() } else { s.to_string() };
    vec![
        json!(super::cell_name(pod)),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts_cell),
        json!(since(pod.pointer("/metadata/creationTimestamp"), now)),
        json!(or_none(pod_ip)),
        json!(or_none(text(pod, "/spec/nodeName"))),
        json!(or_none(text(pod, "/status/nominatedNodeName"))),
        json!(readiness_gates),
    ]
}
