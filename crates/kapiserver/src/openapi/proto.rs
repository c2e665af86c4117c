//! Encodes the v2 JSON document as a gnostic `openapi.v2.Document` protobuf, the way
//! kube-openapi's `ToProtoBinary` does (gnostic's `ParseDocument`, then `proto.Marshal`).
//!
//! Free-form values (vendor extensions, `default`, `enum`, `example`) are stored as YAML
//! text in `Any.yaml`; compact JSON is valid YAML, and kubectl reads these with
//! `yaml.Unmarshal`. Map-like JSON objects become repeated `Named*` pairs in key order.

use serde_json::{Map, Value};

use prost::Message as _;

#[allow(missing_docs, unreachable_pub, clippy::all, clippy::pedantic)]
mod pb {
    include!(concat!(env!("OUT_DIR"), "/openapi.v2.rs"));
}

/// Encodes a v2 document (as produced by [`super::v2::document`]).
pub(super) fn encode_document(doc: &Value) -> Vec<u8> {
    document(doc).encode_to_vec()
}

fn string(v: &Value, key: &str) -> String {
    v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned()
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
        .unwrap_or_default()
}

fn boolean(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

fn number(v: &Value, key: &str) -> f64 {
    v.get(key).and_then(Value::as_f64).unwrap_or(0.0)
}

fn integer(v: &Value, key: &str) -> i64 {
    v.get(key).and_then(|n| n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))).unwrap_or(0)
}

fn any(v: &Value) -> pb::Any {
    pb::Any { yaml: v.to_string() }
}

fn object<'a>(v: &'a Value, key: &str) -> Option<&'a Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

/// `x-…` keys of an object as vendor extensions.
fn extensions(v: &Value) -> Vec<pb::NamedAny> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("x-"))
                .map(|(k, v)| pb::NamedAny { name: k.clone(), value: Some(any(v)) })
                .collect()
        })
        .unwrap_or_default()
}

fn document(doc: &Value) -> pb::Document {
    let info = doc.get("info").map(|i| pb::Info {
        title: string(i, "title"),
        version: string(i, "version"),
        description: string(i, "description"),
        vendor_extension: extensions(i),
    });
    let paths = object(doc, "paths").map(|paths| pb::Paths {
        vendor_extension: Vec::new(),
        path: paths
            .iter()
            .map(|(name, item)| pb::NamedPathItem { name: name.clone(), value: Some(path_item(item)) })
            .collect(),
    });
    let definitions = object(doc, "definitions").map(|defs| pb::Definitions {
        additional_properties: defs.iter().map(|(name, s)| named_schema(name, s)).collect(),
    });
    let security_definitions = object(doc, "securityDefinitions").map(|defs| pb::SecurityDefinitions {
        additional_properties: defs
            .iter()
            .map(|(name, d)| pb::NamedSecurityDefinitionsItem {
                name: name.clone(),
                value: Some(pb::SecurityDefinitionsItem {
                    oneof: Some(pb::security_definitions_item::Oneof::ApiKeySecurity(pb::ApiKeySecurity {
                        r#type: string(d, "type"),
                        name: string(d, "name"),
                        r#in: string(d, "in"),
                        description: string(d, "description"),
                        vendor_extension: extensions(d),
                    })),
                }),
            })
            .collect(),
    });
    let security = doc
        .get("security")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_object)
                .map(|req| pb::SecurityRequirement {
                    additional_properties: req
                        .iter()
                        .map(|(name, scopes)| pb::NamedStringArray {
                            name: name.clone(),
                            value: Some(pb::StringArray {
                                value: scopes
                                    .as_array()
                                    .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_owned)).collect())
                                    .unwrap_or_default(),
                            }),
                        })
                        .collect(),
                })
                .collect()
        })
        .unwrap_or_default();
    pb::Document {
        swagger: string(doc, "swagger"),
        info,
        host: string(doc, "host"),
        base_path: string(doc, "basePath"),
        schemes: strings(doc, "schemes"),
        consumes: strings(doc, "consumes"),
        produces: strings(doc, "produces"),
        paths,
        definitions,
        security,
        security_definitions,
        vendor_extension: extensions(doc),
    }
}

fn path_item(item: &Value) -> pb::PathItem {
    let op = |method: &str| item.get(method).map(operation);
    pb::PathItem {
        r#ref: string(item, "$ref"),
        get: op("get"),
        put: op("put"),
        post: op("post"),
        delete: op("delete"),
        options: op("options"),
        head: op("head"),
        patch: op("patch"),
        parameters: parameters(item),
        vendor_extension: extensions(item),
    }
}

fn operation(op: &Value) -> pb::Operation {
    let responses = object(op, "responses").map(|responses| pb::Responses {
        response_code: responses
            .iter()
            .filter(|(code, _)| !code.starts_with("x-"))
            .map(|(code, r)| pb::NamedResponseValue {
                name: code.clone(),
                value: Some(pb::ResponseValue {
                    oneof: Some(pb::response_value::Oneof::Response(pb::Response {
                        description: string(r, "description"),
                        schema: r
                            .get("schema")
                            .map(|s| pb::SchemaItem { oneof: Some(pb::schema_item::Oneof::Schema(schema(s))) }),
                        vendor_extension: extensions(r),
                    })),
                }),
            })
            .collect(),
        vendor_extension: Vec::new(),
    });
    pb::Operation {
        tags: strings(op, "tags"),
        summary: string(op, "summary"),
        description: string(op, "description"),
        operation_id: string(op, "operationId"),
        produces: strings(op, "produces"),
        consumes: strings(op, "consumes"),
        parameters: parameters(op),
        responses,
        schemes: strings(op, "schemes"),
        deprecated: boolean(op, "deprecated"),
        vendor_extension: extensions(op),
    }
}

fn parameters(v: &Value) -> Vec<pb::ParametersItem> {
    let Some(list) = v.get("parameters").and_then(Value::as_array) else {
        return Vec::new();
    };
    list.iter().filter_map(parameter).map(|p| pb::ParametersItem { oneof: Some(p) }).collect()
}

fn parameter(p: &Value) -> Option<pb::parameters_item::Oneof> {
    use pb::non_body_parameter::Oneof as NonBody;
    use pb::parameter::Oneof as Param;
    use pb::parameters_item::Oneof as Item;

    if let Some(reference) = p.get("$ref").and_then(Value::as_str) {
        return Some(Item::JsonReference(pb::JsonReference {
            r#ref: reference.to_owned(),
            description: string(p, "description"),
        }));
    }
    let param = match p.get("in").and_then(Value::as_str)? {
        "body" => Param::BodyParameter(pb::BodyParameter {
            description: string(p, "description"),
            name: string(p, "name"),
            r#in: "body".to_owned(),
            required: boolean(p, "required"),
            schema: p.get("schema").map(schema),
            vendor_extension: extensions(p),
        }),
        "query" => Param::NonBodyParameter(pb::NonBodyParameter {
            oneof: Some(NonBody::QueryParameterSubSchema(pb::QueryParameterSubSchema {
                required: boolean(p, "required"),
                r#in: "query".to_owned(),
                description: string(p, "description"),
                name: string(p, "name"),
                allow_empty_value: boolean(p, "allowEmptyValue"),
                r#type: string(p, "type"),
                format: string(p, "format"),
                unique_items: boolean(p, "uniqueItems"),
                vendor_extension: extensions(p),
            })),
        }),
        "path" => Param::NonBodyParameter(pb::NonBodyParameter {
            oneof: Some(NonBody::PathParameterSubSchema(pb::PathParameterSubSchema {
                required: boolean(p, "required"),
                r#in: "path".to_owned(),
                description: string(p, "description"),
                name: string(p, "name"),
                r#type: string(p, "type"),
                format: string(p, "format"),
                unique_items: boolean(p, "uniqueItems"),
                vendor_extension: extensions(p),
            })),
        }),
        _ => return None,
    };
    Some(Item::Parameter(pb::Parameter { oneof: Some(param) }))
}

fn named_schema(name: &str, s: &Value) -> pb::NamedSchema {
    pb::NamedSchema { name: name.to_owned(), value: Some(schema(s)) }
}

fn schema(s: &Value) -> pb::Schema {
    let additional_properties = match s.get("additionalProperties") {
        Some(Value::Bool(b)) => Some(Box::new(pb::AdditionalPropertiesItem {
            oneof: Some(pb::additional_properties_item::Oneof::Boolean(*b)),
        })),
        Some(inner @ Value::Object(_)) => Some(Box::new(pb::AdditionalPropertiesItem {
            oneof: Some(pb::additional_properties_item::Oneof::Schema(Box::new(schema(inner)))),
        })),
        _ => None,
    };
    let r#type = match s.get("type") {
        Some(Value::String(t)) => Some(pb::TypeItem { value: vec![t.clone()] }),
        Some(Value::Array(ts)) => {
            Some(pb::TypeItem { value: ts.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect() })
        }
        _ => None,
    };
    let items = match s.get("items") {
        Some(Value::Array(list)) => Some(pb::ItemsItem { schema: list.iter().map(schema).collect() }),
        Some(inner @ Value::Object(_)) => Some(pb::ItemsItem { schema: vec![schema(inner)] }),
        _ => None,
    };
    let properties = object(s, "properties").map(|props| pb::Properties {
        additional_properties: props.iter().map(|(name, p)| named_schema(name, p)).collect(),
    });
    pb::Schema {
        r#ref: string(s, "$ref"),
        format: string(s, "format"),
        title: string(s, "title"),
        description: string(s, "description"),
        default: s.get("default").map(any),
        multiple_of: number(s, "multipleOf"),
        maximum: number(s, "maximum"),
        exclusive_maximum: boolean(s, "exclusiveMaximum"),
        minimum: number(s, "minimum"),
        exclusive_minimum: boolean(s, "exclusiveMinimum"),
        max_length: integer(s, "maxLength"),
        min_length: integer(s, "minLength"),
        pattern: string(s, "pattern"),
        max_items: integer(s, "maxItems"),
        min_items: integer(s, "minItems"),
        unique_items: boolean(s, "uniqueItems"),
        max_properties: integer(s, "maxProperties"),
        min_properties: integer(s, "minProperties"),
        required: strings(s, "required"),
        r#enum: s.get("enum").and_then(Value::as_array).map(|e| e.iter().map(any).collect()).unwrap_or_default(),
        additional_properties,
        r#type,
        items,
        all_of: s.get("allOf").and_then(Value::as_array).map(|l| l.iter().map(schema).collect()).unwrap_or_default(),
        properties,
        discriminator: string(s, "discriminator"),
        read_only: boolean(s, "readOnly"),
        example: s.get("example").map(any),
        vendor_extension: extensions(s),
    }
}

/// Decoding for tests: the generated types stay private to this module.
#[cfg(test)]
pub(super) mod decode {
    pub(crate) use super::pb::*;
}
