use serde_json::{Value, json};

use super::super::{FieldError, validate_update};
use super::*;

// ---- apps ----

fn deployment(spec: Value) -> Value {
    json!({"metadata": meta("web"), "spec": spec})
}

#[test]
fn deployment_rules() {
    let ok = errors(
        "apps",
        "Deployment",
        deployment(
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "web"}), "Always")}),
        ),
    );
    assert!(ok.is_empty(), "{ok:#?}");
    let mismatch = errors(
        "apps",
        "Deployment",
        deployment(
            json!({"selector": {"matchLabels": {"app": "web"}}, "template": template(json!({"app": "db"}), "Always")}),
        ),
    );
    assert_eq!(
        mismatch,
        vec!["spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"db\"}: `selector` does not match template `labels`".to_string()]
    );
    let missing =
        errors("apps", "Deployment", deployment(json!({"template": template(json!({"app": "web"}), "Always")})));
    assert_has(&missing, "spec.selector: Required value");
    let empty =
        errors("apps", "Deployment", deployment(json!({"selector": {}, "template": template(json!({}), "Always")})));
    assert_has(&empty, "spec.selector: Invalid value: map[string]string{}: empty selector is invalid for deployment");
    let bad = errors(
        "apps",
        "Deployment",
        deployment(json!({"replicas": -1, "minReadySeconds": 700,
        "selector": {"matchLabels": {"a": "b"}}, "template": template(json!({"a": "b"}), "OnFailure"),
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "0%"}}})),
    );
    assert_has(&bad, "spec.replicas: Invalid value: -1: must be greater than or equal to 0");
    assert_has(
        &bad,
        "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"",
    );
    assert_has(&bad, "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0");
    assert_has(&bad, "spec.progressDeadlineSeconds: Invalid value: 600: must be greater than minReadySeconds");
    let pct = errors(
        "apps",
        "Deployment",
        deployment(json!({"selector": {"matchLabels": {"a": "b"}}, "template": template(json!({"a": "b"}), "Always"),
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "150%", "maxSurge": "x"}}})),
    );
    assert_has(
        &pct,
        "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"150%\": must not be greater than 100%",
    );
    assert_has(
        &pct,
        "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"x\": a valid percent string must be a numeric string followed by an ending '%'",
    );
    let recreate = errors(
        "apps",
        "Deployment",
        deployment(json!({"selector": {"matchLabels": {"a": "b"}}, "template": template(json!({"a": "b"}), "Always"),
        "strategy": {"type": "Recreate", "rollingUpdate": {}}})),
    );
    assert_has(
        &recreate,
        "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'",
    );
}

#[test]
fn selector_is_immutable_for_apps_v1() {
    let old = defaulted(
        "apps",
        "Deployment",
        deployment(
            json!({"selector": {"matchLabels": {"a": "b"}}, "template": template(json!({"a": "b", "c": "d"}), "Always")}),
        ),
    );
    let mut old = old;
    old["metadata"]["resourceVersion"] = json!("1");
    let mut new = old.clone();
    new["spec"]["selector"] = json!({"matchLabels": {"c": "d"}});
    let errs: Vec<String> =
        validate_update("apps", "Deployment", &new, &old).iter().map(FieldError::full_message).collect();
    assert_eq!(
        errs,
        vec!["spec.selector: Invalid value: {\"matchLabels\":{\"c\":\"d\"}}: field is immutable".to_string()]
    );
    let mut scaled = old.clone();
    scaled["spec"]["replicas"] = json!(5);
    assert!(validate_update("apps", "Deployment", &scaled, &old).is_empty());
}

#[test]
fn replica_set_and_replication_controller_rules() {
    let rs = errors(
        "apps",
        "ReplicaSet",
        deployment(json!({"selector": {"matchLabels": {"a": "b"}},
        "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"activeDeadlineSeconds": 5, "containers": [{"name": "c", "image": "x"}]}}})),
    );
    assert_eq!(
        rs,
        vec![
            "spec.template.spec.activeDeadlineSeconds: Forbidden: activeDeadlineSeconds in ReplicaSet is not Supported"
                .to_string()
        ]
    );
    let rc = errors(
        "",
        "ReplicationController",
        json!({"metadata": meta("rc"), "spec": {"selector": {"a": "c"}, "template": template(json!({"a": "b"}), "Always")}}),
    );
    assert_has(
        &rc,
        "spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"b\"}: `selector` does not match template `labels`",
    );
    let no_template = errors("", "ReplicationController", json!({"metadata": meta("rc"), "spec": {}}));
    assert_has(&no_template, "spec.selector: Required value");
    assert_has(&no_template, "spec.template: Required value");
}

#[test]
fn stateful_set_rules() {
    let base = |extra: Value| {
        let mut spec =
            json!({"selector": {"matchLabels": {"a": "b"}}, "template": template(json!({"a": "b"}), "Always")});
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        json!({"metadata": meta("db"), "spec": spec})
    };
    assert!(errors("apps", "StatefulSet", base(json!({"serviceName": "db"}))).is_empty());
    let errs = errors(
        "apps",
        "StatefulSet",
        base(json!({"serviceName": "db.svc", "podManagementPolicy": "Random",
        "updateStrategy": {"type": "OnDelete", "rollingUpdate": {"partition": 1}},
        "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Keep", "whenScaled": "Retain"}})),
    );
    assert_has(&errs, "spec.serviceName: Invalid value: \"db.svc\": must not contain dots");
    assert_has(&errs, "spec.podManagementPolicy: Invalid value: \"Random\": must be 'OrderedReady' or 'Parallel'");
    assert_has(
        &errs,
        "spec.updateStrategy.rollingUpdate: Invalid value: {\"partition\":1}: only allowed for updateStrategy 'RollingUpdate'",
    );
    assert_has(
        &errs,
        "spec.persistentVolumeClaimRetentionPolicy.whenDeleted: Unsupported value: \"Keep\": supported values: \"Retain\", \"Delete\"",
    );
    let empty = errors("apps", "StatefulSet", base(json!({"selector": {}})));
    assert_has(&empty, "empty selector is invalid for statefulset");
    let mut old = defaulted("apps", "StatefulSet", base(json!({})));
    old["metadata"]["resourceVersion"] = json!("1");
    let mut new = old.clone();
    new["spec"]["serviceName"] = json!("other");
    let upd: Vec<String> =
        validate_update("apps", "StatefulSet", &new, &old).iter().map(FieldError::full_message).collect();
    assert_eq!(upd, vec!["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden".to_string()]);
}

#[test]
fn daemon_set_rules() {
    let ds = |spec: Value| json!({"metadata": meta("ds"), "spec": spec});
    assert!(
        errors(
            "apps",
            "DaemonSet",
            ds(json!({"selector": {"matchLabels": {"a": "b"}}, "template": template(json!({"a": "b"}), "Always")}))
        )
        .is_empty()
    );
    let no_sel = errors("apps", "DaemonSet", ds(json!({"template": template(json!({"a": "b"}), "Always")})));
    assert_eq!(no_sel, vec!["spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"b\"}: `selector` does not match template `labels`".to_string()]);
    let both = errors(
        "apps",
        "DaemonSet",
        ds(json!({"selector": {"matchLabels": {"a": "b"}}, "template": template(json!({"a": "b"}), "Always"),
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}}})),
    );
    assert_eq!(both, vec!["spec.updateStrategy.rollingUpdate.maxSurge: Invalid value: 1: may not be set when maxUnavailable is non-zero".to_string()]);
    let zero = errors(
        "apps",
        "DaemonSet",
        ds(json!({"selector": {"matchLabels": {"a": "b"}}, "template": template(json!({"a": "b"}), "Always"),
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 0}}})),
    );
    assert_eq!(
        zero,
        vec![
            "spec.updateStrategy.rollingUpdate.maxUnavailable: Required value: cannot be 0 when maxSurge is 0"
                .to_string()
        ]
    );
}

#[test]
fn job_rules() {
    let job = |restart: &str, extra: Value| {
        let mut spec = json!({"template": template(json!({"a": "b"}), restart)});
        if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
            s.extend(e.clone());
        }
        json!({"metadata": meta("pi"), "spec": spec})
    };
    assert!(errors("batch", "Job", job("Never", json!({}))).is_empty());
    assert_eq!(
        errors("batch", "Job", job("Always", json!({}))),
        vec!["spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"".to_string()]
    );
    let bad = errors(
        "batch",
        "Job",
        job("Never", json!({"parallelism": -1, "completionMode": "Sorted", "selector": {"matchLabels": {"a": "x"}}})),
    );
    assert_has(&bad, "spec.parallelism: Invalid value: -1: must be greater than or equal to 0");
    assert_has(&bad, "spec.completionMode: Unsupported value: \"Sorted\"");
    assert_has(
        &bad,
        "spec.template.metadata.labels: Invalid value: map[string]string{\"a\":\"b\"}: `selector` does not match template `labels`",
    );
    let mut old = defaulted("batch", "Job", job("Never", json!({"selector": {"matchLabels": {"a": "b"}}})));
    old["metadata"]["resourceVersion"] = json!("1");
    let mut new = old.clone();
    new["spec"]["template"]["spec"]["containers"][0]["image"] = json!("y");
    new["spec"]["completions"] = json!(3);
    let upd: Vec<String> = validate_update("batch", "Job", &new, &old).iter().map(FieldError::full_message).collect();
    assert_has(&upd, "spec.completions: Invalid value: 3: field is immutable");
    assert_has(&upd, "spec.template: Invalid value: {");
}

#[test]
fn cron_job_rules() {
    let cj = |name: &str, spec: Value| json!({"metadata": meta(name), "spec": spec});
    let jt = json!({"spec": {"template": template(json!({}), "OnFailure")}});
    assert!(errors("batch", "CronJob", cj("c", json!({"schedule": "*/5 * * * *", "jobTemplate": jt}))).is_empty());
    let errs = errors(
        "batch",
        "CronJob",
        cj(
            &"c".repeat(53),
            json!({"schedule": "61 * * * *", "concurrencyPolicy": "Sometimes",
        "jobTemplate": {"spec": {"selector": {}, "template": template(json!({}), "Never")}}}),
        ),
    );
    assert_has(
        &errs,
        "metadata.name: Invalid value: \"ccccccccccccccccccccccccccccccccccccccccccccccccccccc\": must be no more than 52 characters",
    );
    assert_has(&errs, "spec.schedule: Invalid value: \"61 * * * *\": end of range (61) above maximum (59): 61");
    assert_has(
        &errs,
        "spec.concurrencyPolicy: Unsupported value: \"Sometimes\": supported values: \"Allow\", \"Forbid\", \"Replace\"",
    );
    assert_has(
        &errs,
        "spec.jobTemplate.spec.selector: Invalid value: map[string]string{}: `selector` will be auto-generated",
    );
    let tz = errors("batch", "CronJob", cj("c", json!({"schedule": "TZ=UTC 0 * * * *", "jobTemplate": jt})));
    assert_has(&tz, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead");
    let missing = errors("batch", "CronJob", cj("c", json!({"jobTemplate": jt})));
    assert_has(&missing, "spec.schedule: Required value");
}
