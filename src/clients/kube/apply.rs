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

/// A resource type the plan needs that the cluster does not serve, and how to get it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MissingType {
    pub api_version: String,
    pub kind: String,
    /// What to do about it, in words.
    pub remedy: String,
}

impl MissingType {
    fn new(api_version: &str, kind: &str, for_certificate_wait: bool) -> Self {
        let group = api_version.split_once('/').map_or("", |(g, _)| g);
        let remedy = match group {
            "cert-manager.io" if for_certificate_wait => {
                "waiting for the TLS certificate of --host needs cert-manager: install it in the \
                 cluster (the `infra` step does), or deploy with `--wait-certificate false`"
                    .to_string()
            }
            "cert-manager.io" => {
                "install cert-manager in the cluster (the `infra` step does)".to_string()
            }
            "external-secrets.io" => "--secret-env needs the External Secrets Operator: install \
                 it in the cluster (the `infra` step does), or deploy without --secret-env"
                .to_string(),
            "autoscaling" => format!(
                "autoscaling (--max-replicas) needs {api_version}, served from Kubernetes 1.23 on: \
                 upgrade the cluster, or deploy without --max-replicas"
            ),
            _ => format!(
                "install the operator that provides {kind} (its CRD), or fix apiVersion/kind"
            ),
        };
        MissingType {
            api_version: api_version.into(),
            kind: kind.into(),
            remedy,
        }
    }
}

/// The kind cert-manager serves and the deploy waits on.
pub const CERTIFICATE: (&str, &str) = ("cert-manager.io/v1", "Certificate");

/// Discovery of one kind: its API resource and whether it is namespaced, `None` when
/// the cluster does not serve it (the server answers a plain-text 404 for an unserved
/// group/version, or lists the group without the kind).
async fn discover(
    client: &kube::Client,
    gvk: &GroupVersionKind,
) -> Result<Option<(ApiResource, bool)>, KubeError> {
    retrying(|| async {
        match kube::discovery::pinned_kind(client, gvk).await {
            Ok((ar, caps)) => Ok(Some((ar, caps.scope == Scope::Namespaced))),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(kube::Error::Discovery(_)) => Ok(None),
            Err(e) => Err(KubeError::from_kube(
                format!("discovery of {}", gvk.kind),
                e,
            )),
        }
    })
    .await
}

/// Resolves every object's kind with one discovery request per group/version, and checks
/// that the cert-manager Certificate type is served when the deploy will wait on one.
/// Every type that is missing is named in one error, before anything is applied.
pub async fn resolve(
    client: &kube::Client,
    objects: &[Value],
    wait_certificate: bool,
) -> Result<Vec<Target>, KubeError> {
    let mut cache: BTreeMap<(String, String, String), Option<(ApiResource, bool)>> =
        BTreeMap::new();
    let mut missing: Vec<MissingType> = Vec::new();
    let mut out = Vec::new();
    let mut wanted: Vec<(Option<&Value>, GroupVersionKind, String)> = objects
        .iter()
        .map(|o| {
            let api_version = o.get("apiVersion").and_then(Value::as_str).unwrap_or("");
            (Some(o), gvk_of(o), api_version.to_string())
        })
        .collect();
    if wait_certificate {
        let (api_version, kind) = CERTIFICATE;
        let cert = serde_json::json!({"apiVersion": api_version, "kind": kind});
        wanted.push((None, gvk_of(&cert), api_version.into()));
    }
    for (obj, gvk, api_version) in wanted {
        let key = (gvk.group.clone(), gvk.version.clone(), gvk.kind.clone());
        let found = match cache.get(&key) {
            Some(found) => found.clone(),
            None => {
                let found = discover(client, &gvk).await?;
                cache.insert(key, found.clone());
                found
            }
        };
        let Some((ar, namespaced)) = found else {
            let m = MissingType::new(&api_version, &gvk.kind, obj.is_none());
            if !missing
                .iter()
                .any(|x| x.api_version == m.api_version && x.kind == m.kind)
            {
                missing.push(m);
            }
            continue;
        };
        let Some(obj) = obj else { continue };
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
    if missing.is_empty() {
        Ok(out)
    } else {
        Err(KubeError::UnknownKind { missing })
    }
}

/// One permission we are about to use.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Permission {
    pub verb: String,
    pub group: String,
    pub resource: String,
    pub subresource: String,
    pub namespace: String,
    /// One object (a namespace asks about itself by name); empty: any.
    pub name: String,
}

impl Permission {
    pub fn new(verb: &str, group: &str, resource: &str, namespace: &str) -> Self {
        Permission {
            verb: verb.into(),
            group: group.into(),
            resource: resource.into(),
            subresource: String::new(),
            namespace: namespace.into(),
            name: String::new(),
        }
    }

    /// Reading namespace `ns` (what a RoleBinding in `ns` can grant), and creating it
    /// (cluster-wide).
    pub fn namespace(verb: &str, ns: &str) -> Self {
        Permission {
            name: ns.into(),
            ..Permission::new(verb, "", "namespaces", if verb == "get" { ns } else { "" })
        }
    }

    /// Is this the permission to create the namespace (needed only when it is missing)?
    pub fn creates_namespace(&self) -> bool {
        self.verb == "create" && self.group.is_empty() && self.resource == "namespaces"
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
        if self.resource == "namespaces" && self.group.is_empty() && !self.name.is_empty() {
            let scope = if self.namespace.is_empty() {
                " (cluster-wide)"
            } else {
                ""
            };
            return format!("{} namespace {}{scope}", self.verb, self.name);
        }
        let scope = if self.namespace.is_empty() {
            "cluster-wide".to_string()
        } else {
            format!("in namespace {}", self.namespace)
        };
        format!("{} {res} {scope}", self.verb)
    }
}

/// What the deploy needs: reading the namespace (and creating it, when it turns out to
/// be missing), get/create/patch on every kind, list/watch on what the tracker watches,
/// get on pod logs (and delete on pods for a StatefulSet's rollback), and get on
/// Certificates when it waits for one.
pub fn permissions(targets: &[Target], namespace: &str, wait_certificate: bool) -> Vec<Permission> {
    let mut set = BTreeSet::new();
    set.insert(Permission::namespace("get", namespace));
    set.insert(Permission::namespace("create", namespace));
    if wait_certificate {
        set.insert(Permission::new(
            "get",
            "cert-manager.io",
            "certificates",
            namespace,
        ));
    }
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
    for (group, res) in super::workloads::watched_resources(&kinds) {
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
    set.into_iter().collect()
}

/// Asks the API server about every permission (SelfSubjectAccessReview, which every
/// authenticated identity may create); the ones it denies.
pub async fn denied(
    client: &kube::Client,
    perms: &[Permission],
) -> Result<Vec<Permission>, KubeError> {
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
                        name: (!p.name.is_empty()).then(|| p.name.clone()),
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
    Ok(results
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(p, _)| p.clone())
        .collect())
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

/// Creates the namespace with `labels` (a plain create, so `create namespaces` is all it
/// needs; one that appeared meanwhile is fine).
pub async fn create_namespace(
    client: &kube::Client,
    name: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> Result<(), KubeError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.into());
    ns.metadata.labels = Some(labels.clone()).filter(|l| !l.is_empty());
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    retrying(|| async {
        match api.create(&params, &ns).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(s)) if s.is_already_exists() => Ok(()),
            Err(e) => Err(KubeError::from_kube(format!("Namespace/{name}"), e)),
        }
    })
    .await
}

async fn server_apply(
    client: &kube::Client,
    t: &Target,
    params: &PatchParams,
) -> Result<Value, KubeError> {
    let api = t.api(client);
    let applied = retrying(|| async {
        api.patch(&t.name, params, &Patch::Apply(&t.object))
            .await
            .map_err(|e| KubeError::from_kube(t.id(), e))
    })
    .await?;
    to_value(t, applied)
}

/// An object the API server sent, as JSON (it always serializes: string keys only).
fn to_value(t: &Target, o: DynamicObject) -> Result<Value, KubeError> {
    serde_json::to_value(o).map_err(|e| KubeError::Transport {
        what: t.id(),
        message: e.to_string(),
    })
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
            let live = to_value(t, live)?;
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
