//! Getting objects into the cluster: resolve each kind through discovery, ask the API
//! server whether we may (SelfSubjectAccessReview for every verb and kind), dry-run the
//! apply (`dryRun=All`) against the live object for a diff, then server-side apply as
//! `aks-backend` without forcing, so another manager's fields are a reported conflict,
//! not silently taken.

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiResource, Scope};
use serde_json::Value;

use super::workloads::WorkloadKind;
use super::{FIELD_MANAGER, KubeError, diff, retrying};
use crate::model::rollout::ObjectChange;

/// One object, with the API resource that serves it.
#[derive(Clone, Debug)]
pub struct Target {
    pub object: Value,
    pub resource: ApiResource,
    pub namespace: Option<String>,
    pub name: String,
}

impl Target {
    /// `Deployment/api` (as people name objects in messages).
    pub fn id(&self) -> String {
        format!("{}/{}", self.resource.kind, self.name)
    }

    fn api(&self, client: &kube::Client) -> Api<DynamicObject> {
        match &self.namespace {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &self.resource),
            None => Api::all_with(client.clone(), &self.resource),
        }
    }
}

fn gvk_of(obj: &Value) -> GroupVersionKind {
    let api_version = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    GroupVersionKind::gvk(group, version, kind)
}

/// Resolves every object's kind with one discovery request per group/version.
pub async fn resolve(client: &kube::Client, objects: &[Value]) -> Result<Vec<Target>, KubeError> {
    let mut cache: BTreeMap<(String, String, String), (ApiResource, bool)> = BTreeMap::new();
    let mut out = Vec::new();
    for obj in objects {
        let gvk = gvk_of(obj);
        let key = (gvk.group.clone(), gvk.version.clone(), gvk.kind.clone());
        if !cache.contains_key(&key) {
            let found = retrying(|| async {
                match kube::discovery::pinned_kind(client, &gvk).await {
                    Ok(x) => Ok(Some(x)),
                    Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
                    Err(kube::Error::Discovery(_)) => Ok(None),
                    Err(e) => Err(KubeError::from_kube(
                        format!("discovery of {}", gvk.kind),
                        e,
                    )),
                }
            })
            .await?;
            let (ar, caps) = found.ok_or_else(|| KubeError::UnknownKind {
                api_version: obj
                    .get("apiVersion")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .into(),
                kind: gvk.kind.clone(),
            })?;
            cache.insert(key.clone(), (ar, caps.scope == Scope::Namespaced));
        }
        let (ar, namespaced) = cache[&key].clone();
        let mut object = obj.clone();
        let namespace = if namespaced {
            obj.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .map(String::from)
        } else {
            if let Some(m) = object.get_mut("metadata").and_then(Value::as_object_mut) {
                m.remove("namespace");
            }
            None
        };
        out.push(Target {
            name: obj
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .into(),
            object,
            resource: ar,
            namespace,
        });
    }
    Ok(out)
}

/// One permission we are about to use.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Permission {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
}

impl Permission {
    pub fn new(verb: &str, group: &str, resource: &str, namespace: &str) -> Self {
        Permission {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: namespace.into(),
        }
    }

    pub fn describe(&self) -> String {
        let res = if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        };
        let res = if self.subresource.is_empty() {
            res
        } else {
            format!("{res}/{}", self.subresource)
        };
        let scope = if self.namespace.is_empty() {
            "cluster-wide".to_string()
        } else {
            format!("in namespace {}", self.namespace)
        };
        format!("{} {res} {scope}", self.verb)
    }
}

/// What applying and tracking `targets` needs: get/create/patch on every kind, and
/// list/watch on what the tracker watches, get on pod logs (and delete on pods for a
/// StatefulSet's rollback).
pub fn permissions(targets: &[Target], namespace: &str, create_namespace: bool) -> Vec<Permission> {
    let mut set = BTreeSet::new();
    for t in targets {
        let ns = t.namespace.clone().unwrap_or_default();
        for verb in ["get", "create", "patch"] {
            set.insert(Permission::new(
                verb,
                &t.resource.group,
                &t.resource.plural,
                &ns,
            ));
        }
    }
    let kinds: Vec<WorkloadKind> = targets
        .iter()
        .filter_map(|t| WorkloadKind::of(&t.resource.group, &t.resource.kind))
        .collect();
    for (group, res) in super::track::watched_resources(&kinds) {
        for verb in ["list", "watch"] {
            set.insert(Permission::new(verb, group, res, namespace));
        }
    }
    if kinds.contains(&WorkloadKind::StatefulSet) {
        // A StatefulSet's rollback deletes the pods stuck on the failed revision.
        set.insert(Permission::new("delete", "", "pods", namespace));
    }
    let mut logs = Permission::new("get", "", "pods", namespace);
    logs.subresource = "log".into();
    set.insert(logs);
    if create_namespace {
        set.insert(Permission::new("create", "", "namespaces", ""));
    }
    set.into_iter().collect()
}

/// Asks the API server about every permission; all denials in one error.
pub async fn check_access(client: &kube::Client, perms: &[Permission]) -> Result<(), KubeError> {
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let reviews = perms.iter().map(|p| {
        let api = api.clone();
        async move {
            let review = SelfSubjectAccessReview {
                spec: SelfSubjectAccessReviewSpec {
                    resource_attributes: Some(ResourceAttributes {
                        verb: Some(p.verb.clone()),
                        group: Some(p.group.clone()),
                        resource: Some(p.resource.clone()),
                        subresource: (!p.subresource.is_empty()).then(|| p.subresource.clone()),
                        namespace: (!p.namespace.is_empty()).then(|| p.namespace.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            let answer = retrying(|| async {
                api.create(&PostParams::default(), &review)
                    .await
                    .map_err(|e| KubeError::from_kube("access review", e))
            })
            .await?;
            let allowed = answer.status.as_ref().is_some_and(|s| s.allowed);
            Ok::<_, KubeError>((p, allowed))
        }
    });
    let results = futures::future::try_join_all(reviews).await?;
    let denied: Vec<String> = results
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(p, _)| p.describe())
        .collect();
    if denied.is_empty() {
        Ok(())
    } else {
        Err(KubeError::AccessDenied { denied })
    }
}

pub async fn namespace_exists(client: &kube::Client, name: &str) -> Result<bool, KubeError> {
    let api: Api<Namespace> = Api::all(client.clone());
    retrying(|| async {
        api.get_opt(name)
            .await
            .map(|n| n.is_some())
            .map_err(|e| KubeError::from_kube(format!("Namespace/{name}"), e))
    })
    .await
}

pub async fn create_namespace(
    client: &kube::Client,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> Result<(), KubeError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let ns = serde_json::json!({"apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": labels}});
    retrying(|| async {
        api.patch(name, &PatchParams::apply(FIELD_MANAGER), &Patch::Apply(&ns))
            .await
            .map(|_| ())
            .map_err(|e| KubeError::from_kube(format!("Namespace/{name}"), e))
    })
    .await
}

async fn server_apply(
    client: &kube::Client,
    t: &Target,
    params: &PatchParams,
) -> Result<Value, KubeError> {
    let api = t.api(client);
    retrying(|| async {
        api.patch(&t.name, params, &Patch::Apply(&t.object))
            .await
            .map(|o| serde_json::to_value(o).expect("objects serialize"))
            .map_err(|e| KubeError::from_kube(t.id(), e))
    })
    .await
}

/// The server-side dry run and its diff against the live object. Conflicts and
/// admission rejections surface here, before anything is written.
pub async fn dry_run(client: &kube::Client, t: &Target) -> Result<ObjectChange, KubeError> {
    let api = t.api(client);
    let live = retrying(|| async {
        api.get_opt(&t.name)
            .await
            .map_err(|e| KubeError::from_kube(t.id(), e))
    })
    .await?;
    let would = server_apply(client, t, &PatchParams::apply(FIELD_MANAGER).dry_run()).await?;
    let (action, diff) = match live {
        None => ("created", Vec::new()),
        Some(live) => {
            let live = serde_json::to_value(live).expect("objects serialize");
            let d = diff::diff(&live, &would);
            (
                if d.is_empty() {
                    "unchanged"
                } else {
                    "configured"
                },
                d,
            )
        }
    };
    Ok(ObjectChange {
        kind: t.resource.kind.clone(),
        name: t.name.clone(),
        namespace: t.namespace.clone(),
        action: action.into(),
        diff,
    })
}

/// Server-side apply as `aks-backend`; the stored object.
pub async fn apply(client: &kube::Client, t: &Target) -> Result<Value, KubeError> {
    server_apply(client, t, &PatchParams::apply(FIELD_MANAGER)).await
}

/// Server-side apply that takes fields over from other managers (rollback only).
pub async fn apply_forced(client: &kube::Client, t: &Target) -> Result<Value, KubeError> {
    server_apply(client, t, &PatchParams::apply(FIELD_MANAGER).force()).await
}
