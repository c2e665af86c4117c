//! A container's environment: `envFrom` (configMaps, secrets), then `env` with `value`
//! (expanding `$(VAR)`), `valueFrom.fieldRef` (downward API), `resourceFieldRef`,
//! `configMapKeyRef` and `secretKeyRef` read through the API.

use std::collections::BTreeMap;

use kapi::k8s::api::core::v1::{ConfigMap, Container, Pod, Secret};
use kapi::quantity::Quantity;
use kcri::types::KeyValue;
use kwatch::http::{Api, Client};

use super::spec::expand;
use crate::downward::{self, RuntimeFields};

/// Errors building a container's environment (upstream `CreateContainerConfigError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// A referenced configMap or secret, or a key in it, is missing.
    #[error("{0}")]
    Missing(String),
    /// Reading from the API failed.
    #[error("reading {what}: {message}")]
    Api {
        /// What was read.
        what: String,
        /// The client's error.
        message: String,
    },
    /// A downward API reference is invalid.
    #[error(transparent)]
    Downward(#[from] downward::DownwardError),
}

struct Objects<'a> {
    client: &'a Client,
    namespace: &'a str,
    config_maps: BTreeMap<String, Option<BTreeMap<String, String>>>,
    secrets: BTreeMap<String, Option<BTreeMap<String, String>>>,
}

impl Objects<'_> {
    async fn config_map(&mut self, name: &str) -> Result<Option<&BTreeMap<String, String>>, EnvError> {
        if !self.config_maps.contains_key(name) {
            let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), self.namespace);
            let got = api
                .get_opt(name)
                .await
                .map_err(|e| EnvError::Api { what: format!("configmap {name:?}"), message: e.to_string() })?;
            self.config_maps.insert(name.to_owned(), got.map(|c| c.data.unwrap_or_default()));
        }
        Ok(self.config_maps.get(name).and_then(Option::as_ref))
    }

    async fn secret(&mut self, name: &str) -> Result<Option<&BTreeMap<String, String>>, EnvError> {
        if !self.secrets.contains_key(name) {
            let api: Api<Secret> = Api::namespaced(self.client.clone(), self.namespace);
            let got = api
                .get_opt(name)
                .await
                .map_err(|e| EnvError::Api { what: format!("secret {name:?}"), message: e.to_string() })?;
            let data = got.map(|s| {
                s.data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect()
            });
            self.secrets.insert(name.to_owned(), data);
        }
        Ok(self.secrets.get(name).and_then(Option::as_ref))
    }
}

/// The environment of `container`, in upstream's order (envFrom first, env overriding).
///
/// # Errors
///
/// A missing non-optional configMap, secret or key; an API failure; a bad downward API
/// reference.
pub(crate) async fn container_env(
    client: &Client,
    pod: &Pod,
    container: &Container,
    fields: &RuntimeFields,
    allocatable: &BTreeMap<String, Quantity>,
) -> Result<Vec<KeyValue>, EnvError> {
    let namespace = pod.metadata.namespace.as_deref().unwrap_or("default");
    let mut objects = Objects { client, namespace, config_maps: BTreeMap::new(), secrets: BTreeMap::new() };
    let mut order: Vec<String> = Vec::new();
    let mut values: BTreeMap<String, String> = BTreeMap::new();
    fn set(values: &mut BTreeMap<String, String>, order: &mut Vec<String>, k: String, v: String) {
        if values.insert(k.clone(), v).is_none() {
            order.push(k);
        }
    }
    for from in container.env_from.iter().flatten() {
        let prefix = from.prefix.clone().unwrap_or_default();
        let (data, optional, what) = if let Some(r) = &from.config_map_ref {
            (
                objects.config_map(&r.name).await?.cloned(),
                r.optional.unwrap_or(false),
                format!("configmap {:?}", r.name),
            )
        } else if let Some(r) = &from.secret_ref {
            (objects.secret(&r.name).await?.cloned(), r.optional.unwrap_or(false), format!("secret {:?}", r.name))
        } else {
            continue;
        };
        match data {
            Some(d) => {
                for (k, v) in d {
                    set(&mut values, &mut order, format!("{prefix}{k}"), v);
                }
            }
            None if optional => {}
            None => return Err(EnvError::Missing(format!("{what} not found"))),
        }
    }
    for e in container.env.iter().flatten() {
        let value = match &e.value_from {
            None => Some(expand(e.value.as_deref().unwrap_or(""), &values)),
            Some(src) => {
                if let Some(f) = &src.field_ref {
                    Some(downward::field(pod, &f.field_path, fields)?)
                } else if let Some(r) = &src.resource_field_ref {
                    Some(downward::resource(container, r, allocatable)?)
                } else if let Some(r) = &src.config_map_key_ref {
                    let optional = r.optional.unwrap_or(false);
                    match objects.config_map(&r.name).await?.and_then(|d| d.get(&r.key)) {
                        Some(v) => Some(v.clone()),
                        None if optional => None,
                        None => {
                            return Err(EnvError::Missing(format!(
                                "couldn't find key {} in ConfigMap {namespace}/{}",
                                r.key, r.name
                            )));
                        }
                    }
                } else if let Some(r) = &src.secret_key_ref {
                    let optional = r.optional.unwrap_or(false);
                    match objects.secret(&r.name).await?.and_then(|d| d.get(&r.key)) {
                        Some(v) => Some(v.clone()),
                        None if optional => None,
                        None => {
                            return Err(EnvError::Missing(format!(
                                "couldn't find key {} in Secret {namespace}/{}",
                                r.key, r.name
                            )));
                        }
                    }
                } else {
                    None
                }
            }
        };
        if let Some(v) = value {
            set(&mut values, &mut order, e.name.clone(), v);
        }
    }
    Ok(order.into_iter().filter_map(|k| values.get(&k).map(|v| KeyValue::new(k.clone(), v.clone()))).collect())
}
