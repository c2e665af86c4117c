//! Unit tests: bodies built by encoding DynamicMessages (and hand-built bytes for broken ones).

use prost::Message;
use prost_reflect::{DynamicMessage, MapKey, Value as V};
use serde_json::{Value, json};

use super::convert::Path;
use super::schema::{GoJson, KINDS, Schema, UNKNOWN};
use super::wellknown::{go_duration, quantity_is_valid};
use super::{MAX_DEPTH, PROTOBUF_MAGIC, ProtoError, decode_body, decode_object, supported_kinds};

fn full_name(name: &str) -> String {
    let (package, short) = name.split_once('.').unwrap();
    let package = match package {
        "core" => "k8s.io.api.core.v1",
        "apps" => "k8s.io.api.apps.v1",
        "meta" => "k8s.io.apimachinery.pkg.apis.meta.v1",
        "intstr" => "k8s.io.apimachinery.pkg.util.intstr",
        "resource" => "k8s.io.apimachinery.pkg.api.resource",
        "runtime" => "k8s.io.apimachinery.pkg.runtime",
        "authentication" => "k8s.io.api.authentication.v1",
        other => panic!("no package {other}"),
    };
    format!("{package}.{short}")
}

/// A message `name` (`core.ConfigMap`, `meta.ObjectMeta`…) with the given fields set.
fn msg(name: &str, fields: Vec<(&str, V)>) -> DynamicMessage {
    let mut message = DynamicMessage::new(Schema::get().unwrap().message(&full_name(name)).unwrap());
    for (field, value) in fields {
        message.try_set_field_by_name(field, value).unwrap_or_else(|e| panic!("{name}.{field}: {e}"));
    }
    message
}

fn s(text: &str) -> V {
    V::String(text.to_owned())
}

fn m(message: DynamicMessage) -> V {
    V::Message(message)
}

fn list(items: Vec<V>) -> V {
    V::List(items)
}

fn map(entries: Vec<(&str, V)>) -> V {
    V::Map(entries.into_iter().map(|(k, v)| (MapKey::String(k.to_owned()), v)).collect())
}

fn quantity(text: &str) -> V {
    m(msg("resource.Quantity", vec![("string", s(text))]))
}

fn int_or_string(value: Result<i32, &str>) -> V {
    m(match value {
        Ok(number) => msg("intstr.IntOrString", vec![("type", V::I64(0)), ("intVal", V::I32(number))]),
        Err(text) => msg("intstr.IntOrString", vec![("type", V::I64(1)), ("strVal", s(text))]),
    })
}

fn meta(name: &str) -> V {
    m(msg("meta.ObjectMeta", vec![("name", s(name))]))
}

/// `k8s\0` + Unknown{typeMeta, raw, extra fields}.
fn envelope(api_version: &str, kind: &str, raw: &[u8], extra: Vec<(&str, V)>) -> Vec<u8> {
    let type_meta = msg("runtime.TypeMeta", vec![("apiVersion", s(api_version)), ("kind", s(kind))]);
    let mut fields = vec![("typeMeta", m(type_meta)), ("raw", V::Bytes(raw.to_vec().into()))];
    fields.extend(extra);
    [&PROTOBUF_MAGIC[..], &msg("runtime.Unknown", fields).encode_to_vec()].concat()
}

/// Field `number` (length-delimited) holding `bytes`.
fn wrap(number: u32, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_key(number, prost::encoding::WireType::LengthDelimited, &mut out);
    prost::encoding::encode_varint(bytes.len() as u64, &mut out);
    out.extend_from_slice(bytes);
    out
}

fn body(api_version: &str, kind: &str, object: &DynamicMessage) -> Vec<u8> {
    envelope(api_version, kind, &object.encode_to_vec(), vec![])
}

#[test]
fn configmap_decodes_to_upstream_json() {
    let metadata =
        msg("meta.ObjectMeta", vec![("name", s("cfg")), ("namespace", s("ns")), ("labels", map(vec![("a", s("1"))]))]);
    let object = msg(
        "core.ConfigMap",
        vec![
            ("metadata", m(metadata)),
            ("data", map(vec![("k", s("v")), ("empty", s(""))])),
            ("binaryData", map(vec![("bin", V::Bytes(vec![0, 1, 254, 255].into()))])),
            ("immutable", V::Bool(false)),
        ],
    );
    let expected = json!({
        "kind": "ConfigMap", "apiVersion": "v1",
        "metadata": {"name": "cfg", "namespace": "ns", "labels": {"a": "1"}, "creationTimestamp": null},
        "data": {"empty": "", "k": "v"},
        "binaryData": {"bin": "AAH+/w=="},
        "immutable": false
    });
    assert_eq!(decode_body(&body("v1", "ConfigMap", &object)).unwrap(), expected);
}

#[test]
fn secret_binary_data_is_standard_base64() {
    let object = msg(
        "core.Secret",
        vec![
            ("metadata", meta("tls")),
            ("data", map(vec![("key", V::Bytes(vec![0xff, 0x00, 0x10].into())), ("e", V::Bytes(Vec::new().into()))])),
            ("type", s("Opaque")),
        ],
    );
    let expected = json!({
        "kind": "Secret", "apiVersion": "v1",
        "metadata": {"name": "tls", "creationTimestamp": null},
        "data": {"e": "", "key": "/wAQ"},
        "type": "Opaque"
    });
    assert_eq!(decode_body(&body("v1", "Secret", &object)).unwrap(), expected);
}

fn container() -> DynamicMessage {
    let port = msg("core.ContainerPort", vec![("containerPort", V::I32(80)), ("protocol", s("TCP"))]);
    let resources = msg(
        "core.ResourceRequirements",
        vec![
            ("limits", map(vec![("cpu", quantity("500m")), ("memory", quantity("128Mi"))])),
            ("requests", map(vec![("cpu", quantity("250m"))])),
        ],
    );
    msg(
        "core.Container",
        vec![
            ("name", s("busybox")),
            ("image", s("busybox")),
            ("command", list(vec![s("sleep"), s("10")])),
            ("ports", list(vec![m(port)])),
            ("resources", m(resources)),
            // Go writes unset value strings on the wire; omitempty leaves them out of JSON.
            ("terminationMessagePath", s("")),
            ("stdin", V::Bool(false)),
        ],
    )
}

#[test]
fn deployment_decodes_to_upstream_json() {
    let labels = || map(vec![("app", s("web"))]);
    let template = msg(
        "core.PodTemplateSpec",
        vec![
            ("metadata", m(msg("meta.ObjectMeta", vec![("labels", labels())]))),
            ("spec", m(msg("core.PodSpec", vec![("containers", list(vec![m(container())]))]))),
        ],
    );
    let strategy = msg(
        "apps.DeploymentStrategy",
        vec![
            ("type", s("RollingUpdate")),
            (
                "rollingUpdate",
                m(msg(
                    "apps.RollingUpdateDeployment",
                    vec![("maxSurge", int_or_string(Err("25%"))), ("maxUnavailable", int_or_string(Ok(0)))],
                )),
            ),
        ],
    );
    let spec = msg(
        "apps.DeploymentSpec",
        vec![
            ("replicas", V::I32(2)),
            ("selector", m(msg("meta.LabelSelector", vec![("matchLabels", labels())]))),
            ("template", m(template)),
            ("strategy", m(strategy)),
        ],
    );
    let object = msg(
        "apps.Deployment",
        vec![
            ("metadata", m(msg("meta.ObjectMeta", vec![("name", s("web")), ("labels", labels())]))),
            ("spec", m(spec)),
        ],
    );
    let expected = json!({
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"name": "web", "labels": {"app": "web"}, "creationTimestamp": null},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "creationTimestamp": null},
                "spec": {"containers": [{
                    "name": "busybox", "image": "busybox", "command": ["sleep", "10"],
                    "ports": [{"containerPort": 80, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "500m", "memory": "128Mi"}, "requests": {"cpu": "250m"}}
                }]}
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
        },
        "status": {}
    });
    assert_eq!(decode_body(&body("apps/v1", "Deployment", &object)).unwrap(), expected);
}

/// Pointers set to zero stay, unset pointers without omitempty are null, value structs are
/// written even when unset, and nil slices without omitempty are null: all as Go writes them.
#[test]
fn go_pointer_and_omitempty_rules() {
    let spec = msg("apps.DeploymentSpec", vec![("replicas", V::I32(0)), ("paused", V::Bool(false))]);
    let object = msg("apps.Deployment", vec![("spec", m(spec))]);
    let expected = json!({
        "kind": "Deployment", "apiVersion": "apps/v1",
        "metadata": {"creationTimestamp": null},
        "spec": {
            "replicas": 0,
            "selector": null,
            "template": {"metadata": {"creationTimestamp": null}, "spec": {"containers": null}},
            "strategy": {}
        },
        "status": {}
    });
    assert_eq!(decode_body(&body("apps/v1", "Deployment", &object)).unwrap(), expected);
}

#[test]
fn service_target_port_as_int_and_as_string() {
    let port = |name: &str, number: i32, target: Option<V>| {
        let mut fields = vec![("name", s(name)), ("protocol", s("TCP")), ("port", V::I32(number))];
        fields.extend(target.map(|t| ("targetPort", t)));
        m(msg("core.ServicePort", fields))
    };
    let spec = msg(
        "core.ServiceSpec",
        vec![
            (
                "ports",
                list(vec![
                    port("http", 80, Some(int_or_string(Ok(8080)))),
                    port("https", 443, Some(int_or_string(Err("https")))),
                    port("dns", 53, None),
                ]),
            ),
            ("selector", map(vec![("app", s("web"))])),
            ("type", s("ClusterIP")),
        ],
    );
    let object = msg("core.Service", vec![("metadata", meta("web")), ("spec", m(spec))]);
    let expected = json!({
        "kind": "Service", "apiVersion": "v1",
        "metadata": {"name": "web", "creationTimestamp": null},
        "spec": {
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 8080},
                {"name": "https", "protocol": "TCP", "port": 443, "targetPort": "https"},
                {"name": "dns", "protocol": "TCP", "port": 53, "targetPort": 0}
            ],
            "selector": {"app": "web"},
            "type": "ClusterIP"
        },
        "status": {"loadBalancer": {}}
    });
    assert_eq!(decode_body(&body("v1", "Service", &object)).unwrap(), expected);
}

/// `json:",inline"` structs (VolumeSource, LocalObjectReference, ProbeHandler) are flattened.
#[test]
fn inline_structs_are_flattened() {
    let reference = || m(msg("core.LocalObjectReference", vec![("name", s("app"))]));
    let config_map =
        msg("core.ConfigMapVolumeSource", vec![("localObjectReference", reference()), ("defaultMode", V::I32(420))]);
    let volume = msg(
        "core.Volume",
        vec![("name", s("cfg")), ("volumeSource", m(msg("core.VolumeSource", vec![("configMap", m(config_map))])))],
    );
    let key_ref = msg("core.ConfigMapKeySelector", vec![("localObjectReference", reference()), ("key", s("k"))]);
    let env = msg(
        "core.EnvVar",
        vec![("name", s("K")), ("valueFrom", m(msg("core.EnvVarSource", vec![("configMapKeyRef", m(key_ref))])))],
    );
    let http_get = msg("core.HTTPGetAction", vec![("path", s("/")), ("port", int_or_string(Ok(8080)))]);
    let probe = msg(
        "core.Probe",
        vec![("handler", m(msg("core.ProbeHandler", vec![("httpGet", m(http_get))]))), ("periodSeconds", V::I32(10))],
    );
    let mut container = container();
    container.set_field_by_name("env", list(vec![m(env)]));
    container.set_field_by_name("livenessProbe", m(probe));
    let pod = msg("core.PodSpec", vec![("containers", list(vec![m(container)])), ("volumes", list(vec![m(volume)]))]);
    let json = decode_object("v1", "ConfigMap", &[]).unwrap();
    assert_eq!(json["metadata"], json!({"creationTimestamp": null}));
    let template = msg("core.PodTemplateSpec", vec![("spec", m(pod))]);
    let spec = msg("apps.DeploymentSpec", vec![("template", m(template))]);
    let json = decode_object("apps/v1", "Deployment", &msg("apps.Deployment", vec![("spec", m(spec))]).encode_to_vec());
    let json = json.unwrap();
    let pod = &json["spec"]["template"]["spec"];
    assert_eq!(pod["volumes"], json!([{"name": "cfg", "configMap": {"name": "app", "defaultMode": 420}}]));
    let container = &pod["containers"][0];
    assert_eq!(container["env"], json!([{"name": "K", "valueFrom": {"configMapKeyRef": {"name": "app", "key": "k"}}}]));
    assert_eq!(container["livenessProbe"], json!({"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 10}));
}

#[test]
fn times_and_managed_fields() {
    let time =
        |seconds: i64, nanos: i32| m(msg("meta.Time", vec![("seconds", V::I64(seconds)), ("nanos", V::I32(nanos))]));
    let entry = msg(
        "meta.ManagedFieldsEntry",
        vec![
            ("manager", s("kubectl")),
            ("operation", s("Update")),
            ("apiVersion", s("v1")),
            ("time", time(1_704_164_645, 0)),
            ("fieldsType", s("FieldsV1")),
            ("fieldsV1", m(msg("meta.FieldsV1", vec![("Raw", V::Bytes(br#"{"f:data":{".":{}}}"#.to_vec().into()))]))),
        ],
    );
    let metadata = msg(
        "meta.ObjectMeta",
        vec![
            ("name", s("t")),
            // Upstream drops the nanoseconds of a Time when decoding protobuf.
            ("creationTimestamp", time(1_704_164_645, 999_999_999)),
            ("deletionTimestamp", m(msg("meta.Time", vec![]))),
            ("deletionGracePeriodSeconds", V::I64(0)),
            ("generation", V::I64(3)),
            ("managedFields", list(vec![m(entry)])),
        ],
    );
    let json = decode_body(&body("v1", "ConfigMap", &msg("core.ConfigMap", vec![("metadata", m(metadata))]))).unwrap();
    let expected = json!({
        "name": "t", "generation": 3,
        "creationTimestamp": "2024-01-02T03:04:05Z",
        "deletionTimestamp": null,
        "deletionGracePeriodSeconds": 0,
        "managedFields": [{
            "manager": "kubectl", "operation": "Update", "apiVersion": "v1", "time": "2024-01-02T03:04:05Z",
            "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {".": {}}}
        }]
    });
    assert_eq!(json["metadata"], expected);
}

fn special(name: &str, fields: Vec<(&str, V)>) -> Result<Value, ProtoError> {
    super::wellknown::to_json(&msg(name, fields), &Path::default()).map(Option::unwrap)
}

#[test]
fn time_formats() {
    let time = |name: &str, seconds: i64, nanos: i32| {
        special(name, vec![("seconds", V::I64(seconds)), ("nanos", V::I32(nanos))])
    };
    assert_eq!(time("meta.Time", 0, 0).unwrap(), json!("1970-01-01T00:00:00Z"));
    assert_eq!(time("meta.Time", -1, 0).unwrap(), json!("1969-12-31T23:59:59Z"));
    assert_eq!(time("meta.Time", 951_782_400, 0).unwrap(), json!("2000-02-29T00:00:00Z"));
    assert_eq!(time("meta.Time", 253_402_300_799, 0).unwrap(), json!("9999-12-31T23:59:59Z"));
    assert!(matches!(time("meta.Time", 253_402_300_800, 0), Err(ProtoError::InvalidValue { .. })));
    assert!(matches!(time("meta.Time", i64::MAX, 0), Err(ProtoError::InvalidValue { .. })));
    assert_eq!(time("meta.Time", -62_135_596_800, 0).unwrap(), Value::Null, "Go's zero time");
    assert_eq!(special("meta.Time", vec![]).unwrap(), Value::Null);
    assert_eq!(special("meta.Time", vec![("nanos", V::I32(5))]).unwrap(), json!("1970-01-01T00:00:00Z"));
    assert_eq!(time("meta.MicroTime", 1_704_164_645, 123_456_789).unwrap(), json!("2024-01-02T03:04:05.123456Z"));
    assert_eq!(time("meta.MicroTime", 1_704_164_645, 0).unwrap(), json!("2024-01-02T03:04:05.000000Z"));
    // -1.5µs truncates toward zero to -1µs, then normalizes into the previous second.
    assert_eq!(time("meta.MicroTime", 10, -1_500).unwrap(), json!("1970-01-01T00:00:09.999999Z"));
    assert_eq!(time("meta.MicroTime", 10, 1_000_000_000).unwrap(), json!("1970-01-01T00:00:11.000000Z"));
    assert_eq!(special("meta.MicroTime", vec![]).unwrap(), Value::Null);
}

#[test]
fn go_duration_strings() {
    let cases = [
        (0, "0s"),
        (1, "1ns"),
        (999, "999ns"),
        (1_500, "1.5µs"),
        (1_000_000, "1ms"),
        (1_234_500_000, "1.2345s"),
        (90_000_000_000, "1m30s"),
        (3_600_000_000_000, "1h0m0s"),
        (3_723_500_000_000, "1h2m3.5s"),
        (-2_000_000_000, "-2s"),
        (-1_500, "-1.5µs"),
        (i64::MIN, "-2562047h47m16.854775808s"),
        (i64::MAX, "2562047h47m16.854775807s"),
    ];
    for (nanos, text) in cases {
        assert_eq!(go_duration(nanos), text, "{nanos}");
    }
    assert_eq!(special("meta.Duration", vec![("duration", V::I64(300_000_000_000))]).unwrap(), json!("5m0s"));
}

#[test]
fn quantity_syntax_follows_upstream_parser() {
    let valid = ["0", "1", "500m", "1.5Gi", "+1e3", "1E3", "1e-3", "1E", "100n", "2u", ".5", "1.", "-1", "-", ".", "k"];
    for text in valid {
        assert!(quantity_is_valid(text), "{text:?} should parse");
    }
    let invalid = ["", "1ki", "1.5.5", "abc", "1 Gi", "1e", "1Gi3", "1i", "1e+", "--1", "1m ", "0x10"];
    for text in invalid {
        assert!(!quantity_is_valid(text), "{text:?} should not parse");
    }
}

#[test]
fn bad_values_name_their_path() {
    let spec = msg("core.ResourceQuotaSpec", vec![("hard", map(vec![("cpu", quantity("1 core"))]))]);
    let object = msg("core.ResourceQuota", vec![("spec", m(spec))]);
    let error = decode_body(&body("v1", "ResourceQuota", &object)).unwrap_err();
    assert!(matches!(&error, ProtoError::InvalidValue { path, .. } if path == "spec.hard[cpu]"), "{error}");
    assert_eq!(error.http_status(), 400);

    let bad_type = m(msg("intstr.IntOrString", vec![("type", V::I64(2))]));
    let port = msg("core.ServicePort", vec![("port", V::I32(1)), ("targetPort", bad_type)]);
    let object = msg("core.Service", vec![("spec", m(msg("core.ServiceSpec", vec![("ports", list(vec![m(port)]))])))]);
    let error = decode_body(&body("v1", "Service", &object)).unwrap_err();
    assert!(matches!(&error, ProtoError::InvalidValue { path, .. } if path == "spec.ports[0].targetPort"), "{error}");

    let fields = msg("meta.FieldsV1", vec![("Raw", V::Bytes(b"{not json".to_vec().into()))]);
    let entry = msg("meta.ManagedFieldsEntry", vec![("fieldsV1", m(fields))]);
    let metadata = msg("meta.ObjectMeta", vec![("managedFields", list(vec![m(entry)]))]);
    let error = decode_body(&body("v1", "Secret", &msg("core.Secret", vec![("metadata", m(metadata))]))).unwrap_err();
    assert!(matches!(&error, ProtoError::InvalidValue { path, .. } if path == "metadata.managedFields[0].fieldsV1"));
}

#[test]
fn envelope_errors() {
    assert_eq!(decode_body(b""), Err(ProtoError::BadMagic));
    assert_eq!(decode_body(b"k8s"), Err(ProtoError::BadMagic));
    assert_eq!(decode_body(br#"{"kind":"ConfigMap"}"#), Err(ProtoError::BadMagic));
    assert_eq!(decode_body(b"k8s\0"), Err(ProtoError::EmptyBody));

    let raw = msg("core.ConfigMap", vec![("metadata", meta("x"))]).encode_to_vec();
    let gzip = envelope("v1", "ConfigMap", &raw, vec![("contentEncoding", s("gzip"))]);
    assert_eq!(decode_body(&gzip), Err(ProtoError::ContentEncoding { encoding: "gzip".to_owned() }));
    let as_json = envelope("v1", "ConfigMap", &raw, vec![("contentType", s("application/json"))]);
    let error = decode_body(&as_json).unwrap_err();
    assert_eq!(error, ProtoError::ContentType { content_type: "application/json".to_owned() });
    assert_eq!(error.http_status(), 415);
    let explicit = envelope("v1", "ConfigMap", &raw, vec![("contentType", s(super::PROTOBUF_CONTENT_TYPE))]);
    assert_eq!(decode_body(&explicit).unwrap()["metadata"]["name"], json!("x"));

    let pod = decode_body(&envelope("v1", "Pod", &[], vec![])).unwrap_err();
    assert_eq!(pod, ProtoError::UnsupportedKind { api_version: "v1".to_owned(), kind: "Pod".to_owned() });
    assert_eq!(pod.http_status(), 415);
    let wrong_group = decode_body(&envelope("extensions/v1beta1", "Deployment", &[], vec![])).unwrap_err();
    assert!(matches!(wrong_group, ProtoError::UnsupportedKind { .. }));
    assert_eq!(decode_body(&envelope("v1", "", &[], vec![])), Err(ProtoError::MissingTypeMeta { field: "kind" }));
    let no_version = decode_body(&envelope("", "ConfigMap", &[], vec![]));
    assert_eq!(no_version, Err(ProtoError::MissingTypeMeta { field: "apiVersion" }));
    let no_type_meta = [&PROTOBUF_MAGIC[..], &[0x12, 0x00]].concat();
    assert_eq!(decode_body(&no_type_meta), Err(ProtoError::MissingTypeMeta { field: "kind" }));
}

#[test]
fn broken_protobuf_is_rejected() {
    let good = body("v1", "ConfigMap", &msg("core.ConfigMap", vec![("metadata", meta("x"))]));
    // Every prefix either fails cleanly or, cut at a field boundary, is a shorter valid body.
    for cut in 0..good.len() {
        let _ = decode_body(&good[..cut]);
    }
    let error = decode_body(&good[..good.len() - 1]).unwrap_err();
    assert!(matches!(&error, ProtoError::InvalidProtobuf { message, .. } if message.ends_with("runtime.Unknown")));
    // The object itself truncated: metadata says 5 bytes, 2 follow.
    let error = decode_object("v1", "ConfigMap", &[0x0a, 0x05, 0x0a, 0x01]).unwrap_err();
    assert!(matches!(&error, ProtoError::InvalidProtobuf { message, .. } if message == "k8s.io.api.core.v1.ConfigMap"));
    // name (ObjectMeta field 1) that is not UTF-8.
    let error = decode_object("v1", "ConfigMap", &[0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe]).unwrap_err();
    assert!(matches!(&error, ProtoError::InvalidProtobuf { reason, .. } if reason.contains("UTF-8")), "{error}");
    // A field of the wrong wire type (metadata as a varint).
    assert!(matches!(decode_object("v1", "ConfigMap", &[0x08, 0x01]), Err(ProtoError::InvalidProtobuf { .. })));
}

#[test]
fn unknown_fields_are_reported_not_dropped() {
    let mut raw = msg("core.ConfigMap", vec![("metadata", meta("x"))]).encode_to_vec();
    raw.extend([0x98, 0x06, 0x01]); // field 99, varint 1
    let error = decode_object("v1", "ConfigMap", &raw).unwrap_err();
    let expected = ProtoError::UnknownField {
        message: "k8s.io.api.core.v1.ConfigMap".to_owned(),
        number: 99,
        path: "(object)".to_owned(),
    };
    assert_eq!(error, expected);

    // ObjectMeta field 15 (upstream's long-removed clusterName) inside metadata.
    let error = decode_object("v1", "Secret", &[0x0a, 0x03, 0x7a, 0x01, b'c']).unwrap_err();
    assert!(matches!(&error, ProtoError::UnknownField { number: 15, path, .. } if path == "metadata"), "{error}");

    // Deep inside a list: spec.template.spec.containers[0], field 200.
    let mut container = container().encode_to_vec();
    container.extend([0xc0, 0x0c, 0x00]);
    let deployment = wrap(2, &wrap(3, &wrap(2, &wrap(2, &container)))); // spec.template.spec.containers
    let error = decode_object("apps/v1", "Deployment", &deployment).unwrap_err();
    let ProtoError::UnknownField { message, number, path } = error else { panic!("{error}") };
    assert_eq!((message.as_str(), number), ("k8s.io.api.core.v1.Container", 200));
    assert_eq!(path, "spec.template.spec.containers[0]");

    let mut envelope = body("v1", "ConfigMap", &msg("core.ConfigMap", vec![]));
    envelope.extend([0x28, 0x01]); // Unknown field 5
    assert!(matches!(decode_body(&envelope), Err(ProtoError::UnknownField { number: 5, .. })));
}

#[test]
fn nesting_deeper_than_the_limit_is_rejected() {
    // Unknown groups (field 50) nested MAX_DEPTH + 1 deep.
    let depth = MAX_DEPTH + 1;
    let raw = [[0x93, 0x03].repeat(depth), [0x94, 0x03].repeat(depth)].concat();
    assert_eq!(decode_object("v1", "ConfigMap", &raw), Err(ProtoError::TooDeep { limit: MAX_DEPTH }));
    let body = envelope("v1", "ConfigMap", &raw, vec![]);
    assert_eq!(decode_body(&body), Err(ProtoError::TooDeep { limit: MAX_DEPTH }));
}

#[test]
fn schema_loads_with_its_annotations() {
    let schema = Schema::get().unwrap();
    for (_, _, message) in KINDS {
        schema.message(message).unwrap();
    }
    schema.message(UNKNOWN).unwrap();
    assert_eq!(supported_kinds().count(), 17);
    assert!(supported_kinds().any(|kind| kind == ("networking.k8s.io/v1", "Ingress")));
    let rule = |message: &str, field: &str| {
        let descriptor = schema.message(&full_name(message)).unwrap();
        let plan = schema.plan(&descriptor).unwrap();
        plan.iter().find(|p| p.field.name() == field).unwrap_or_else(|| panic!("{message}.{field}")).rule
    };
    assert_eq!(rule("meta.ObjectMeta", "creationTimestamp"), GoJson::Value);
    assert_eq!(rule("meta.ObjectMeta", "deletionTimestamp"), GoJson::OmitEmpty);
    assert_eq!(rule("core.PodSpec", "containers"), GoJson::Always);
    assert_eq!(rule("core.Volume", "volumeSource"), GoJson::Inline);
    assert_eq!(rule("apps.DeploymentSpec", "replicas"), GoJson::OmitNil);
    assert_eq!(rule("apps.DeploymentSpec", "selector"), GoJson::Nullable);
    assert_eq!(rule("core.ContainerPort", "containerPort"), GoJson::Always);
}

/// The one field whose proto name is not its JSON name: BoundObjectReference `uID` → `uid`.
#[test]
fn json_name_overrides_the_proto_name() {
    let reference = msg(
        "authentication.BoundObjectReference",
        vec![("kind", s("Pod")), ("apiVersion", s("v1")), ("name", s("p")), ("uID", s("1234"))],
    );
    let spec = msg(
        "authentication.TokenRequestSpec",
        vec![("audiences", list(vec![s("api")])), ("boundObjectRef", m(reference))],
    );
    let object = msg("authentication.TokenRequest", vec![("spec", m(spec))]);
    let json = decode_body(&body("authentication.k8s.io/v1", "TokenRequest", &object)).unwrap();
    let expected = json!({
        "audiences": ["api"],
        "expirationSeconds": null,
        "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "1234"}
    });
    assert_eq!(json["spec"], expected);
    assert_eq!(json["status"], json!({"token": "", "expirationTimestamp": null}));
}

#[test]
fn errors_display_the_offending_input() {
    let error = ProtoError::UnsupportedKind { api_version: "v1".to_owned(), kind: "Pod".to_owned() };
    assert_eq!(error.to_string(), "protobuf bodies of kind Pod in v1 are not supported; send JSON");
    let error = ProtoError::UnknownField { message: "M".to_owned(), number: 7, path: "spec".to_owned() };
    assert_eq!(error.to_string(), "unknown field number 7 in M at spec");
}

mod properties {
    use proptest::prelude::*;

    use super::*;

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
    fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
        let year = if month <= 2 { year - 1 } else { year };
        let era = year.div_euclid(400);
        let year_of_era = year.rem_euclid(400);
        let day_of_year = (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// Seconds and microseconds of an RFC 3339 UTC time as written by `wellknown::time`.
    fn parse_time(text: &str) -> (i64, i64) {
        let field = |range: std::ops::Range<usize>| text[range].parse::<i64>().unwrap();
        let days = days_from_civil(field(0..4), field(5..7), field(8..10));
        let seconds = days * 86_400 + field(11..13) * 3600 + field(14..16) * 60 + field(17..19);
        let micros = if text.len() > 20 { field(20..26) } else { 0 };
        (seconds, micros)
    }

    /// Nanoseconds of a Go duration string.
    fn parse_go_duration(text: &str) -> i128 {
        let (negative, mut rest) = match text.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, text),
        };
        let mut total: i128 = 0;
        while !rest.is_empty() {
            let number_end = rest.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap();
            let (number, tail) = rest.split_at(number_end);
            let unit_end = tail.find(|c: char| c.is_ascii_digit()).unwrap_or(tail.len());
            let (unit, tail) = tail.split_at(unit_end);
            let scale: i128 = match unit {
                "h" => 3_600_000_000_000,
                "m" => 60_000_000_000,
                "s" => 1_000_000_000,
                "ms" => 1_000_000,
                "µs" => 1_000,
                "ns" => 1,
                other => panic!("unit {other:?} in {text:?}"),
            };
            let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
            total += whole.parse::<i128>().unwrap() * scale;
            if !fraction.is_empty() {
                total += fraction.parse::<i128>().unwrap() * scale / 10i128.pow(fraction.len() as u32);
            }
            rest = tail;
        }
        if negative { -total } else { total }
    }

    fn time_json(name: &str, seconds: i64, nanos: i32) -> Value {
        special(name, vec![("seconds", V::I64(seconds)), ("nanos", V::I32(nanos))]).unwrap()
    }

    proptest! {
        #[test]
        fn time_round_trips(seconds in -62_167_219_200i64..=253_402_300_799, nanos in 0i32..1_000_000_000) {
            prop_assume!(seconds != -62_135_596_800);
            let json = time_json("meta.Time", seconds, nanos);
            prop_assert_eq!(parse_time(json.as_str().unwrap()), (seconds, 0));
            let json = time_json("meta.MicroTime", seconds, nanos);
            prop_assert_eq!(parse_time(json.as_str().unwrap()), (seconds, i64::from(nanos / 1_000)));
        }

        #[test]
        fn go_duration_round_trips(nanos in any::<i64>()) {
            prop_assert_eq!(parse_go_duration(&go_duration(nanos)), i128::from(nanos));
        }

        #[test]
        fn quantities_from_the_grammar_are_valid(
            sign in "[+-]?",
            whole in "[0-9]{1,6}",
            fraction in "(\\.[0-9]{0,3})?",
            suffix in prop::sample::select(vec!["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi",
                "Ti", "Pi", "Ei", "e3", "E-2", "e+7"]),
        ) {
            let text = format!("{sign}{whole}{fraction}{suffix}");
            prop_assert!(quantity_is_valid(&text), "{}", text);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), kind in 0..KINDS.len()) {
            let _ = decode_body(&[&PROTOBUF_MAGIC[..], &bytes].concat());
            let (api_version, kind, _) = KINDS[kind];
            let _ = decode_object(api_version, kind, &bytes);
            let _ = quantity_is_valid(&String::from_utf8_lossy(&bytes));
        }
    }
}
