use std::time::{Duration, SystemTime};

use kapi::k8s::api::core::v1::PodSpec;
use kcri::types::ContainerState as Cri;

use super::*;
use crate::pods::runtime::SandboxView;

fn pod(policy: &str, init: &[&str], containers: &[&str]) -> Pod {
    let mk = |n: &&str| Container { name: (*n).into(), image: Some(format!("img/{n}")), ..Default::default() };
    Pod {
        spec: Some(PodSpec {
            restart_policy: Some(policy.into()),
            init_containers: (!init.is_empty()).then(|| init.iter().map(mk).collect()),
            containers: containers.iter().map(mk).collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn sandbox() -> SandboxView {
    let mut s = SandboxView::new("sb", 0, true);
    s.ip = Some("10.88.0.5".into());
    s
}

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + secs)
}

fn ctr(id: &str, name: &str, attempt: u32, state: Cri, code: i32) -> ContainerView {
    let mut c = ContainerView::new(id, name, attempt, state);
    c.exit_code = code;
    c.started_at = Some(at(u64::from(attempt) * 10));
    if state == Cri::Exited {
        c.finished_at = Some(at(u64::from(attempt) * 10 + 5));
    }
    c.image_ref = "sha256:abc".into();
    c
}

fn run(pod: &Pod, rt: &PodRuntime, probes: &ProbeStates, waiting: &BTreeMap<String, Waiting>) -> PodStatus {
    let mut input = StatusInput::new(pod, rt, probes, waiting, Timestamp::from_second(1_800_000_000).expect("ts"));
    input.host_ip = Some("192.168.0.10");
    pod_status(&input)
}

fn cond<'a>(s: &'a PodStatus, t: &str) -> &'a str {
    s.conditions.iter().flatten().find(|c| c.type_ == t).map_or("", |c| c.status.as_str())
}

#[test]
fn pending_before_anything_runs() {
    let s = run(&pod("Always", &[], &["a"]), &PodRuntime::default(), &ProbeStates::default(), &BTreeMap::new());
    assert_eq!(s.phase.as_deref(), Some(PENDING));
    let w = s.container_statuses.as_ref().expect("statuses")[0].state.as_ref().expect("state").waiting.clone();
    assert_eq!(w.and_then(|w| w.reason).as_deref(), Some("ContainerCreating"));
    assert_eq!(cond(&s, "PodReadyToStartContainers"), "False");
    assert_eq!(cond(&s, "PodScheduled"), "True");
    assert_eq!(s.host_ip.as_deref(), Some("192.168.0.10"));
}

#[test]
fn running_and_ready() {
    let rt = PodRuntime::new(vec![sandbox()], vec![ctr("c1", "a", 0, Cri::Running, 0)]);
    let probes = ProbeStates { ready: ["c1".to_owned()].into(), started: ["c1".to_owned()].into() };
    let s = run(&pod("Always", &[], &["a"]), &rt, &probes, &BTreeMap::new());
    assert_eq!(s.phase.as_deref(), Some(RUNNING));
    assert_eq!(s.pod_ip.as_deref(), Some("10.88.0.5"));
    assert_eq!(cond(&s, "Ready"), "True");
    assert_eq!(cond(&s, "ContainersReady"), "True");
    assert_eq!(cond(&s, "Initialized"), "True");
    assert_eq!(cond(&s, "PodReadyToStartContainers"), "True");
    let cs = &s.container_statuses.as_ref().expect("statuses")[0];
    assert!(cs.ready);
    assert_eq!(cs.container_id.as_deref(), Some("containerd://c1"));
    assert_eq!(cs.image, "img/a");
    assert_eq!(cs.image_id, "sha256:abc");
}

#[test]
fn unready_without_probe_success() {
    let rt = PodRuntime::new(vec![sandbox()], vec![ctr("c1", "a", 0, Cri::Running, 0)]);
    let s = run(&pod("Always", &[], &["a"]), &rt, &ProbeStates::default(), &BTreeMap::new());
    assert_eq!(s.phase.as_deref(), Some(RUNNING));
    assert_eq!(cond(&s, "Ready"), "False");
    let c = s.conditions.iter().flatten().find(|c| c.type_ == "Ready").expect("ready");
    assert_eq!(c.message.as_deref(), Some("containers with unready status: [a]"));
}

#[test]
fn crash_loop_shows_waiting_with_last_state() {
    let rt =
        PodRuntime::new(vec![sandbox()], vec![ctr("c2", "a", 2, Cri::Exited, 1), ctr("c1", "a", 1, Cri::Exited, 1)]);
    let waiting: BTreeMap<String, Waiting> =
        [("a".to_owned(), Waiting::new("CrashLoopBackOff", "back-off 20s restarting failed container"))].into();
    let s = run(&pod("Always", &[], &["a"]), &rt, &ProbeStates::default(), &waiting);
    assert_eq!(s.phase.as_deref(), Some(RUNNING));
    let cs = &s.container_statuses.as_ref().expect("statuses")[0];
    assert_eq!(cs.restart_count, 2);
    let w = cs.state.as_ref().and_then(|s| s.waiting.as_ref()).expect("waiting");
    assert_eq!(w.reason.as_deref(), Some("CrashLoopBackOff"));
    let last = cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()).expect("last state");
    assert_eq!((last.exit_code, last.reason.as_deref()), (1, Some("Error")));
    assert_eq!(last.finished_at, api_time(at(25)));
}

#[test]
fn restarted_container_keeps_last_state() {
    let rt =
        PodRuntime::new(vec![sandbox()], vec![ctr("c2", "a", 1, Cri::Running, 0), ctr("c1", "a", 0, Cri::Exited, 3)]);
    let s = run(&pod("Always", &[], &["a"]), &rt, &ProbeStates::default(), &BTreeMap::new());
    let cs = &s.container_statuses.as_ref().expect("statuses")[0];
    assert!(cs.state.as_ref().is_some_and(|s| s.running.is_some()));
    assert_eq!(cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| t.exit_code), Some(3));
}

#[test]
fn phases_of_finished_pods() {
    let done = |code| PodRuntime::new(vec![sandbox()], vec![ctr("c1", "a", 0, Cri::Exited, code)]);
    let none = ProbeStates::default();
    let w = BTreeMap::new();
    assert_eq!(run(&pod("Never", &[], &["a"]), &done(0), &none, &w).phase.as_deref(), Some(SUCCEEDED));
    assert_eq!(run(&pod("Never", &[], &["a"]), &done(2), &none, &w).phase.as_deref(), Some(FAILED));
    assert_eq!(run(&pod("OnFailure", &[], &["a"]), &done(0), &none, &w).phase.as_deref(), Some(SUCCEEDED));
    assert_eq!(run(&pod("OnFailure", &[], &["a"]), &done(2), &none, &w).phase.as_deref(), Some(RUNNING));
    assert_eq!(run(&pod("Always", &[], &["a"]), &done(0), &none, &w).phase.as_deref(), Some(RUNNING));
    let s = run(&pod("Never", &[], &["a"]), &done(0), &none, &w);
    let ready = s.conditions.iter().flatten().find(|c| c.type_ == "Ready").expect("ready");
    assert_eq!(ready.reason.as_deref(), Some("PodCompleted"));
}

#[test]
fn init_containers_gate_initialized() {
    let p = pod("Always", &["i"], &["a"]);
    let mut running = ctr("i1", "i", 0, Cri::Running, 0);
    running.init = true;
    let rt = PodRuntime::new(vec![sandbox()], vec![running]);
    let s = run(&p, &rt, &ProbeStates::default(), &BTreeMap::new());
    assert_eq!(s.phase.as_deref(), Some(PENDING));
    assert_eq!(cond(&s, "Initialized"), "False");
    let cs = &s.container_statuses.as_ref().expect("statuses")[0];
    assert_eq!(
        cs.state.as_ref().and_then(|s| s.waiting.as_ref()).and_then(|w| w.reason.as_deref()),
        Some("PodInitializing")
    );

    let mut done = ctr("i1", "i", 0, Cri::Exited, 0);
    done.init = true;
    let rt = PodRuntime::new(vec![sandbox()], vec![done, ctr("c1", "a", 0, Cri::Running, 0)]);
    let s = run(&p, &rt, &ProbeStates::default(), &BTreeMap::new());
    assert_eq!(cond(&s, "Initialized"), "True");
    assert_eq!(s.phase.as_deref(), Some(RUNNING));
    let is = &s.init_container_statuses.as_ref().expect("init statuses")[0];
    assert_eq!(
        is.state.as_ref().and_then(|s| s.terminated.as_ref()).and_then(|t| t.reason.as_deref()),
        Some("Completed")
    );

    let mut failed = ctr("i1", "i", 0, Cri::Exited, 1);
    failed.init = true;
    let rt = PodRuntime::new(vec![sandbox()], vec![failed]);
    let s = run(&pod("Never", &["i"], &["a"]), &rt, &ProbeStates::default(), &BTreeMap::new());
    assert_eq!(s.phase.as_deref(), Some(FAILED));
}

#[test]
fn transition_times_are_kept_and_terminal_phase_sticks() {
    let rt = PodRuntime::new(vec![sandbox()], vec![ctr("c1", "a", 0, Cri::Running, 0)]);
    let mut p = pod("Always", &[], &["a"]);
    let first = run(&p, &rt, &ProbeStates::default(), &BTreeMap::new());
    p.status = Some(first.clone());
    let (probes, waiting) = (ProbeStates::default(), BTreeMap::new());
    let mut input = StatusInput::new(&p, &rt, &probes, &waiting, Timestamp::from_second(1_900_000_000).expect("ts"));
    input.host_ip = Some("192.168.0.10");
    let second = pod_status(&input);
    assert_eq!(first, second, "an unchanged pod has an unchanged status");

    let mut p = pod("Always", &[], &["a"]);
    p.status = Some(PodStatus { phase: Some(FAILED.into()), ..Default::default() });
    let s = run(&p, &rt, &ProbeStates::default(), &BTreeMap::new());
    assert_eq!(s.phase.as_deref(), Some(FAILED));
}

#[test]
fn statuses_sorted_by_name_and_host_network_ip() {
    let mut sb = sandbox();
    sb.host_network = true;
    sb.ip = None;
    let rt = PodRuntime::new(vec![sb], Vec::new());
    let s = run(&pod("Always", &[], &["b", "a"]), &rt, &ProbeStates::default(), &BTreeMap::new());
    let names: Vec<_> = s.container_statuses.iter().flatten().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["a", "b"]);
    assert_eq!(s.pod_ip.as_deref(), Some("192.168.0.10"));
}
