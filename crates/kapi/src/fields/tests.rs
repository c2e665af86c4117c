use super::*;
use serde_json::json;

fn sel(s: &str) -> FieldSelector {
    s.parse().unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

#[test]
fn parses_and_formats() {
    for (input, want) in [
        ("", ""),
        ("metadata.name=x", "metadata.name=x"),
        ("metadata.name==x", "metadata.name=x"),
        ("spec.nodeName!=n1,metadata.name=a", "metadata.name=a,spec.nodeName!=n1"),
        ("a=b,,c=d", "a=b,c=d"),
        ("spec.nodeName=", "spec.nodeName="),
        ("a=x\\,y", "a=x\\,y"),
        ("a=x\\=y\\\\z", "a=x\\=y\\\\z"),
        ("a=!b", "a=!b"),
    ] {
        let s = sel(input);
        assert_eq!(s.to_string(), want, "{input:?}");
        assert_eq!(sel(want), s, "{input:?} round trip");
    }
    assert_eq!(sel("a=x\\,y").terms()[0].value(), "x,y");
    assert_eq!(sel("a!=b").terms()[0].op(), FieldOp::NotEquals);
}

#[test]
fn rejects_malformed() {
    assert_eq!(
        "a".parse::<FieldSelector>(),
        Err(FieldSelectorError::Syntax { selector: "a".into(), term: "a".into() })
    );
    assert_eq!("a=b=c".parse::<FieldSelector>(), Err(FieldSelectorError::Unescaped('=')));
    assert_eq!("a=b\\x".parse::<FieldSelector>(), Err(FieldSelectorError::InvalidEscape("\\x".into())));
    assert_eq!("a=b\\".parse::<FieldSelector>(), Err(FieldSelectorError::InvalidEscape("\\".into())));
    assert!("x=1,y".parse::<FieldSelector>().is_err());
}

#[test]
fn matching_treats_missing_as_empty() {
    let fields = [("metadata.name", "web"), ("spec.nodeName", "")];
    assert!(sel("metadata.name=web").matches(&fields));
    assert!(!sel("metadata.name=api").matches(&fields));
    assert!(sel("metadata.name!=api").matches(&fields));
    assert!(sel("spec.nodeName=").matches(&fields));
    assert!(sel("status.phase=").matches(&fields), "missing reads as empty");
    assert!(!sel("status.phase!=").matches(&fields));
    assert!(sel("").matches(&fields));
    assert!(!sel("metadata.name=web,spec.nodeName!=").matches(&fields));
    assert_eq!(sel("metadata.name=web,a!=b").requires_exact_match("metadata.name"), Some("web"));
    assert_eq!(sel("metadata.name!=web").requires_exact_match("metadata.name"), None);
}

#[test]
fn per_kind_support() {
    let pods = kind_fields("", "Pod");
    let checked = pods.check(sel("spec.host=n1,status.phase=Running")).unwrap();
    assert_eq!(checked.to_string(), "spec.nodeName=n1,status.phase=Running");
    assert_eq!(pods.check(sel("spec.containers=x")), Err(FieldSelectorError::Unsupported("spec.containers".into())));
    assert_eq!(FieldSelectorError::Unsupported("x".into()).to_string(), "field label not supported: x");
    let nodes = kind_fields("", "Node");
    assert!(nodes.supports("spec.unschedulable"));
    assert!(!nodes.supports("metadata.namespace"), "upstream's Node conversion only allows metadata.name");
    let cms = kind_fields("", "ConfigMap");
    assert_eq!(cms.names().collect::<Vec<_>>(), ["metadata.name", "metadata.namespace"]);
    assert!(kind_fields("stable.example.com", "CronTab").supports("metadata.namespace"));
    assert!(kind_fields("", "Event").supports("involvedObject.uid"));
    assert!(kind_fields("apps", "ReplicaSet").supports("status.replicas"));
    assert!(kind_fields("batch", "Job").supports("status.successful"));
    assert!(kind_fields("", "Secret").supports("type"));
    assert!(kind_fields("", "Service").supports("spec.clusterIP"));
}

#[test]
fn extracts_pod_fields() {
    let pod = json!({
        "metadata": {"name": "web", "namespace": "prod"},
        "spec": {"nodeName": "n1", "restartPolicy": "Always", "schedulerName": "default-scheduler"},
        "status": {"phase": "Running", "podIP": "10.0.0.9", "podIPs": [{"ip": "10.0.0.9"}, {"ip": "fd00::9"}]}
    });
    let fields = kind_fields("", "Pod").extract(&pod);
    assert_eq!(fields["metadata.name"], "web");
    assert_eq!(fields["spec.nodeName"], "n1");
    assert_eq!(fields["spec.hostNetwork"], "false");
    assert_eq!(fields["status.podIP"], "10.0.0.9");
    assert_eq!(fields["spec.serviceAccountName"], "");
    assert!(!fields.contains_key("status.podIPs"));
    assert!(sel("spec.nodeName=n1,status.phase=Running,metadata.namespace=prod").matches(&fields));
    assert!(sel("spec.hostNetwork=false").matches(&fields));
}

#[test]
fn extracts_other_kinds() {
    let ev = json!({"metadata": {"name": "e", "namespace": "d"}, "involvedObject": {"kind": "Pod", "name": "web"},
                    "source": {"component": "kubelet"}, "type": "Warning", "reason": "BackOff"});
    let fields = kind_fields("", "Event").extract(&ev);
    assert!(sel("involvedObject.kind=Pod,involvedObject.name=web,source=kubelet,type=Warning").matches(&fields));
    let rs = json!({"metadata": {"name": "r"}, "status": {"replicas": 3}});
    assert_eq!(kind_fields("apps", "ReplicaSet").extract(&rs)["status.replicas"], "3");
    let node = json!({"metadata": {"name": "n"}, "spec": {"unschedulable": true}});
    assert_eq!(kind_fields("", "Node").extract(&node)["spec.unschedulable"], "true");
    let job = json!({"metadata": {"name": "j"}});
    assert_eq!(kind_fields("batch", "Job").extract(&job)["status.successful"], "0");
}
