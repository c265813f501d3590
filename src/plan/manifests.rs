//! The Kubernetes objects a deploy applies, computed without I/O: generated from the
//! components (Deployment, Service, HPA, Ingress for the Application Gateway ingress
//! controller with cert-manager, ExternalSecret for Key Vault, NetworkPolicy; pods that
//! pass the restricted Pod Security Standard unless a setting relaxes it), or the user's own
//! manifests with their images swapped by structured parsing. Both get traceability
//! annotations, and both are by digest. An `--image` entry that matched no container is
//! an error: substitution that silently does nothing is how the other tools fail.

use serde_json::{Map, Value, json};

use crate::inputs::settings::{Component, Hardening};
use crate::model::diagnostic::{Diagnostic, Exit};
use crate::model::image_ref::ImageRef;

pub const MANAGED_BY: &str = "aks-backend";
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
/// On every generated pod: the app (first component) it belongs to, for the NetworkPolicy.
pub const PART_OF_LABEL: &str = "app.kubernetes.io/part-of";
const TRACE_PREFIX: &str = "aks-backend.io/";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{source_name}: not valid YAML: {message}")]
    Yaml {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: document {index} has no {field}")]
    Incomplete {
        source_name: String,
        index: usize,
        field: &'static str,
    },
    #[error("{source_name}: {object}: {field} is not a map of strings")]
    Shape {
        source_name: String,
        object: String,
        field: &'static str,
    },
    #[error("image `{image}` matched no container in the manifests")]
    ImageMatchedNothing { image: String, seen: Vec<String> },
    #[error("no Kubernetes objects in the manifests")]
    Empty,
}

impl Diagnostic for ManifestError {
    fn exit(&self) -> Exit {
        Exit::BadInput
    }
    fn hint(&self) -> Option<String> {
        match self {
            ManifestError::ImageMatchedNothing { seen, .. } if seen.is_empty() => {
                Some("the manifests have no containers".into())
            }
            ManifestError::ImageMatchedNothing { seen, .. } => Some(format!(
                "images are matched by full repository (registry and path); the manifests use: {}",
                seen.join(", ")
            )),
            ManifestError::Yaml { .. } | ManifestError::Incomplete { .. } => {
                Some("each document needs apiVersion, kind and metadata.name".into())
            }
            ManifestError::Empty => Some("give files or directories with YAML documents".into()),
            ManifestError::Shape { field, .. } => Some(format!(
                "{field} must map names to string values, e.g. `{{example.com/owner: team-a}}`"
            )),
        }
    }
}

/// Where a deploy came from, for the annotations (from the CI context).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Trace {
    pub commit: Option<String>,
    pub run_url: Option<String>,
    pub pr: Option<u64>,
    pub workflow: Option<String>,
    pub repository: Option<String>,
}

impl Trace {
    fn annotations(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push((format!("{TRACE_PREFIX}{k}"), v));
            }
        };
        put("commit", self.commit.clone());
        put("run-url", self.run_url.clone());
        put("pr", self.pr.map(|p| p.to_string()));
        put("workflow", self.workflow.clone());
        put("repository", self.repository.clone());
        out
    }
}

/// Settings of the generated objects that are not per component.
#[derive(Clone, Debug)]
pub struct Generate<'a> {
    pub namespace: &'a str,
    pub host: Option<&'a str>,
    pub ingress_class: &'a str,
    pub cluster_issuer: &'a str,
    /// `deploy --tls wildcard`: the Ingress uses the copy of `infra`'s wildcard
    /// certificate, not a Certificate of its own from `cluster_issuer`.
    pub wildcard_tls: bool,
    pub secret_store: &'a str,
    pub hardening: &'a Hardening,
}

pub fn tls_secret_name(app: &str) -> String {
    format!("{app}-tls")
}

/// The ExternalSecret `deploy --tls wildcard` puts into the app's namespace: a copy of
/// `infra --wildcard`'s certificate Secret (ESO's Kubernetes provider reads it from
/// `cert-manager`), kept in step as cert-manager renews it. One certificate for every
/// namespace: Let's Encrypt allows 5 duplicates a week.
pub fn wildcard_copy(namespace: &str) -> Value {
    use crate::model::wildcard;
    json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ExternalSecret",
        "metadata": {"name": wildcard::SECRET, "namespace": namespace,
                     "labels": {"app.kubernetes.io/managed-by": MANAGED_BY}},
        "spec": {
            "refreshInterval": "1h",
            "secretStoreRef": {"kind": "ClusterSecretStore", "name": wildcard::STORE},
            "target": {"name": wildcard::SECRET, "creationPolicy": "Owner",
                       "template": {"type": "kubernetes.io/tls"}},
            "dataFrom": [{"extract": {"key": wildcard::SECRET}}],
        }
    })
}

/// Sets `key` of a JSON object (every caller builds the object with `json!({...})`).
fn set(object: &mut Value, key: &str, value: Value) {
    if let Some(m) = object.as_object_mut() {
        m.insert(key.into(), value);
    }
}

/// An object's `kind`, or "" when it has none.
pub fn kind_of(object: &Value) -> &str {
    object.get("kind").and_then(Value::as_str).unwrap_or("")
}

/// An object's `metadata.name`, or "" when it has none.
pub fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn labels(name: &str) -> Value {
    json!({ NAME_LABEL: name, "app.kubernetes.io/managed-by": MANAGED_BY })
}

/// Deployment, Service, (HPA), (ExternalSecret), (NetworkPolicy) per component; the
/// Ingress for the first.
pub fn generate(components: &[Component], g: &Generate<'_>) -> Vec<Value> {
    let mut out = Vec::new();
    let app = components.first().map_or("", |c| c.name.as_str());
    for (i, c) in components.iter().enumerate() {
        let secret_name = format!("{}-secrets", c.name);
        if !c.secret_env.is_empty() {
            let data: Vec<Value> = c
                .secret_env
                .iter()
                .map(|(env, kv)| json!({"secretKey": env, "remoteRef": {"key": kv}}))
                .collect();
            out.push(json!({
                "apiVersion": "external-secrets.io/v1",
                "kind": "ExternalSecret",
                "metadata": {"name": secret_name, "namespace": g.namespace, "labels": labels(&c.name)},
                "spec": {
                    "refreshInterval": "1h",
                    "secretStoreRef": {"name": g.secret_store, "kind": "ClusterSecretStore"},
                    "target": {"name": secret_name, "creationPolicy": "Owner"},
                    "data": data,
                }
            }));
        }
        out.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": c.name, "namespace": g.namespace, "labels": labels(&c.name)},
            "spec": {
                "type": "ClusterIP",
                "selector": {NAME_LABEL: c.name},
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            }
        }));
        out.push(deployment(c, g.namespace, &secret_name, app, g.hardening));
        if let Some(from) = &g.hardening.network_policy {
            out.push(network_policy(
                c,
                g.namespace,
                app,
                (i == 0).then_some(from),
            ));
        }
        if let Some(a) = &c.autoscaling {
            out.push(json!({
                "apiVersion": "autoscaling/v2",
                "kind": "HorizontalPodAutoscaler",
                "metadata": {"name": c.name, "namespace": g.namespace, "labels": labels(&c.name)},
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": c.name},
                    "minReplicas": a.min,
                    "maxReplicas": a.max,
                    "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                        "target": {"type": "Utilization", "averageUtilization": a.cpu_percent}}}],
                }
            }));
        }
        if i == 0
            && let Some(host) = g.host
        {
            let (annotations, secret) = if g.wildcard_tls {
                out.push(wildcard_copy(g.namespace));
                (
                    json!({"appgw.ingress.kubernetes.io/ssl-redirect": "true"}),
                    crate::model::wildcard::SECRET.to_string(),
                )
            } else {
                (
                    json!({
                        "cert-manager.io/cluster-issuer": g.cluster_issuer,
                        "appgw.ingress.kubernetes.io/ssl-redirect": "true",
                    }),
                    tls_secret_name(&c.name),
                )
            };
            out.push(json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": c.name,
                    "namespace": g.namespace,
                    "labels": labels(&c.name),
                    "annotations": annotations,
                },
                "spec": {
                    "ingressClassName": g.ingress_class,
                    "tls": [{"hosts": [host], "secretName": secret}],
                    "rules": [{"host": host, "http": {"paths": [{
                        "path": "/",
                        "pathType": "Prefix",
                        "backend": {"service": {"name": c.name, "port": {"number": 80}}},
                    }]}}],
                }
            }));
        }
    }
    out
}

/// Admits traffic to the component's port from the app's own pods, and for the first
/// component (the one the Ingress routes to) from the ingress controller's namespace and
/// the given address ranges. Everything else is denied; egress is not restricted.
fn network_policy(
    c: &Component,
    namespace: &str,
    app: &str,
    ingress: Option<&crate::inputs::settings::IngressSources>,
) -> Value {
    let mut from = vec![json!({"podSelector": {"matchLabels": {PART_OF_LABEL: app}}})];
    if let Some(i) = ingress {
        from.push(json!({"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": i.namespace,
        }}}));
        from.extend(i.cidrs.iter().map(|c| json!({"ipBlock": {"cidr": c.0}})));
    }
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": c.name, "namespace": namespace, "labels": labels(&c.name)},
        "spec": {
            "podSelector": {"matchLabels": {NAME_LABEL: c.name}},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": from,
                "ports": [{"port": c.port, "protocol": "TCP"}],
            }],
        }
    })
}

/// The container's securityContext; with the defaults it passes `restricted`.
fn container_security(h: &Hardening) -> Value {
    let mut capabilities = json!({"drop": ["ALL"]});
    if !h.capabilities_add.is_empty() {
        set(&mut capabilities, "add", json!(h.capabilities_add));
    }
    json!({
        "allowPrivilegeEscalation": h.allow_privilege_escalation,
        "capabilities": capabilities,
        "readOnlyRootFilesystem": h.read_only_root_filesystem,
    })
}

/// The pod's securityContext: runAsNonRoot (unset when relaxed: the image's user
/// decides) and the seccomp profile.
fn pod_security(h: &Hardening) -> Value {
    let mut sc = json!({"seccompProfile": {"type": h.seccomp_profile}});
    if h.run_as_non_root {
        set(&mut sc, "runAsNonRoot", json!(true));
    }
    sc
}

fn deployment(
    c: &Component,
    namespace: &str,
    secret_name: &str,
    app: &str,
    h: &Hardening,
) -> Value {
    let mut env: Vec<Value> = c
        .env
        .iter()
        .map(|(k, v)| json!({"name": k, "value": v}))
        .collect();
    env.extend(c.secret_env.iter().map(
        |(k, _)| json!({"name": k, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": k}}}),
    ));
    let mut container = json!({
        "name": c.name,
        "image": c.image.pinned(),
        "ports": [{"name": "http", "containerPort": c.port, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": c.cpu, "memory": c.memory},
            "limits": {"memory": c.memory},
        },
        "securityContext": container_security(h),
    });
    // A read-only root filesystem still needs somewhere to write temp files.
    if h.read_only_root_filesystem {
        set(
            &mut container,
            "volumeMounts",
            json!([{"name": "tmp", "mountPath": "/tmp"}]),
        );
    }
    if !env.is_empty() {
        set(&mut container, "env", Value::Array(env));
    }
    if let Some(path) = &c.health_path {
        set(
            &mut container,
            "readinessProbe",
            json!({
                "httpGet": {"path": path, "port": "http"},
                "periodSeconds": 5, "failureThreshold": 3,
            }),
        );
        set(
            &mut container,
            "livenessProbe",
            json!({
                "httpGet": {"path": path, "port": "http"},
                "initialDelaySeconds": 10, "periodSeconds": 10, "failureThreshold": 3,
            }),
        );
    }
    let mut pod = json!({
        "automountServiceAccountToken": h.automount_service_account_token,
        "securityContext": pod_security(h),
        "containers": [container],
    });
    if h.read_only_root_filesystem {
        set(
            &mut pod,
            "volumes",
            json!([{"name": "tmp", "emptyDir": {}}]),
        );
    }
    let mut spec = json!({
        "revisionHistoryLimit": 10,
        "selector": {"matchLabels": {NAME_LABEL: c.name}},
        // The old ReplicaSet keeps serving until new pods are available.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": {NAME_LABEL: c.name, PART_OF_LABEL: app}},
            "spec": pod,
        },
    });
    // With an HPA the replica count is the autoscaler's; applying it would fight it.
    if c.autoscaling.is_none() {
        set(&mut spec, "replicas", json!(c.replicas));
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": c.name, "namespace": namespace, "labels": labels(&c.name)},
        "spec": spec,
    })
}

/// Gives every generated Deployment `minReadySeconds`: its controller then counts a new
/// pod available only once it stayed Ready that long, so a container that crashes a
/// moment after starting does not complete the rollout.
pub fn set_min_ready_seconds(objects: &mut [Value], seconds: u32) {
    for o in objects.iter_mut().filter(|o| kind_of(o) == "Deployment") {
        if let Some(spec) = o.get_mut("spec").and_then(Value::as_object_mut) {
            spec.insert("minReadySeconds".into(), json!(seconds));
        }
    }
}

/// Parses every YAML document of one file (`source_name` is for messages).
pub fn parse_documents(source_name: &str, text: &str) -> Result<Vec<Value>, ManifestError> {
    let mut out = Vec::new();
    for (index, doc) in serde_norway::Deserializer::from_str(text).enumerate() {
        let v: Value = serde::Deserialize::deserialize(doc).map_err(|e: serde_norway::Error| {
            ManifestError::Yaml {
                source_name: source_name.into(),
                message: e.to_string(),
            }
        })?;
        if v.is_null() {
            continue;
        }
        // A `kind: List` holds its objects in `items`.
        let items = if v.get("kind").and_then(Value::as_str) == Some("List") {
            v.get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        } else {
            vec![v]
        };
        for item in items {
            for (field, ok) in [
                (
                    "apiVersion",
                    item.get("apiVersion").and_then(Value::as_str).is_some(),
                ),
                ("kind", item.get("kind").and_then(Value::as_str).is_some()),
                (
                    "metadata.name",
                    item.pointer("/metadata/name")
                        .and_then(Value::as_str)
                        .is_some(),
                ),
            ] {
                if !ok {
                    return Err(ManifestError::Incomplete {
                        source_name: source_name.into(),
                        index: index + 1,
                        field,
                    });
                }
            }
            // We add annotations to every object: a string there must be bad input,
            // not a panic.
            for field in ["annotations", "labels"] {
                let ok = match item.pointer(&format!("/metadata/{field}")) {
                    None | Some(Value::Null) => true,
                    Some(Value::Object(m)) => m.values().all(Value::is_string),
                    Some(_) => false,
                };
                if !ok {
                    return Err(ManifestError::Shape {
                        source_name: source_name.into(),
                        object: format!(
                            "{}/{}",
                            item.get("kind").and_then(Value::as_str).unwrap_or(""),
                            item.pointer("/metadata/name")
                                .and_then(Value::as_str)
                                .unwrap_or("")
                        ),
                        field: if field == "labels" {
                            "metadata.labels"
                        } else {
                            "metadata.annotations"
                        },
                    });
                }
            }
            out.push(item);
        }
    }
    Ok(out)
}

/// The pod specs inside an object: a Pod, any `spec.template` (Deployment, StatefulSet,
/// DaemonSet, ReplicaSet, Job, and CRDs shaped the same) and CronJob job templates.
fn pod_specs(obj: &mut Value) -> Vec<&mut Map<String, Value>> {
    let kind = obj
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let mut out = Vec::new();
    let Some(spec) = obj.get_mut("spec") else {
        return out;
    };
    if kind == "Pod" {
        if let Some(m) = spec.as_object_mut() {
            out.push(m);
        }
        return out;
    }
    let path = if kind == "CronJob" {
        "/jobTemplate/spec/template/spec"
    } else {
        "/template/spec"
    };
    if let Some(m) = spec.pointer_mut(path).and_then(Value::as_object_mut) {
        out.push(m);
    }
    out
}

const CONTAINER_LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

/// Every container image in the objects, as written.
pub fn images_in(objects: &mut [Value]) -> Vec<String> {
    let mut out = Vec::new();
    for obj in objects.iter_mut() {
        for spec in pod_specs(obj) {
            for list in CONTAINER_LISTS {
                for c in spec
                    .get(list)
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(i) = c.get("image").and_then(Value::as_str) {
                        out.push(i.to_string());
                    }
                }
            }
        }
    }
    out
}

/// One `--image` entry and the containers it replaced (`Kind/name:container`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Substitution {
    pub image: String,
    pub containers: Vec<String>,
}

/// Replaces every container image whose repository is one of `images` by that image,
/// pinned by digest. Errors when an entry matched nothing.
pub fn substitute(
    objects: &mut [Value],
    images: &[ImageRef],
) -> Result<Vec<Substitution>, ManifestError> {
    let mut subs: Vec<Substitution> = images
        .iter()
        .map(|i| Substitution {
            image: i.pinned(),
            containers: Vec::new(),
        })
        .collect();
    let wanted: Vec<String> = images.iter().map(ImageRef::canonical_repository).collect();
    for obj in objects.iter_mut() {
        let id = format!(
            "{}/{}",
            obj.get("kind").and_then(Value::as_str).unwrap_or(""),
            obj.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or("")
        );
        for spec in pod_specs(obj) {
            for list in CONTAINER_LISTS {
                let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) else {
                    continue;
                };
                for c in containers {
                    let Some(current) = c.get("image").and_then(Value::as_str) else {
                        continue;
                    };
                    let Ok(parsed) = ImageRef::parse(current) else {
                        continue;
                    };
                    let repo = parsed.canonical_repository();
                    let matched = wanted
                        .iter()
                        .zip(images)
                        .zip(subs.iter_mut())
                        .find_map(|((w, image), sub)| (*w == repo).then_some((image, sub)));
                    if let Some((image, sub)) = matched {
                        let name = c
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        set(c, "image", Value::String(image.pinned()));
                        sub.containers.push(format!("{id}:{name}"));
                    }
                }
            }
        }
    }
    if let Some(s) = subs.iter().find(|s| s.containers.is_empty()) {
        let mut seen = images_in(objects);
        seen.sort();
        seen.dedup();
        return Err(ManifestError::ImageMatchedNothing {
            image: s.image.clone(),
            seen,
        });
    }
    Ok(subs)
}

/// Kinds that live outside namespaces (the common ones; discovery decides at apply time).
pub fn is_cluster_scoped(kind: &str) -> bool {
    matches!(
        kind,
        "Namespace"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "CustomResourceDefinition"
            | "PersistentVolume"
            | "StorageClass"
            | "IngressClass"
            | "PriorityClass"
            | "ClusterIssuer"
            | "ClusterSecretStore"
            | "ValidatingWebhookConfiguration"
            | "MutatingWebhookConfiguration"
    )
}

/// Puts namespaced objects without a namespace into `namespace`, adds the trace
/// annotations to every object, and orders them the way they must be applied.
pub fn finish(objects: &mut [Value], namespace: &str, trace: &Trace) {
    let annotations = trace.annotations();
    for obj in objects.iter_mut() {
        let kind = obj
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        // `generate` and `parse_documents` give objects with a metadata map.
        let Some(meta) = obj
            .as_object_mut()
            .map(|o| o.entry("metadata").or_insert_with(|| json!({})))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if !is_cluster_scoped(&kind) && !meta.contains_key("namespace") {
            meta.insert("namespace".into(), json!(namespace));
        }
        let ann = meta.entry("annotations").or_insert_with(|| json!({}));
        if ann.is_null() && !annotations.is_empty() {
            *ann = json!({});
        }
        if let Some(a) = ann.as_object_mut() {
            for (k, v) in &annotations {
                a.insert(k.clone(), json!(v));
            }
        }
        if ann.as_object().is_some_and(Map::is_empty) {
            meta.remove("annotations");
        }
    }
    objects.sort_by_key(|o| apply_order(o.get("kind").and_then(Value::as_str).unwrap_or("")));
}

fn apply_order(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        "ServiceAccount" | "ClusterRole" | "Role" | "ClusterRoleBinding" | "RoleBinding" => 2,
        "ExternalSecret" | "Secret" | "ConfigMap" | "PersistentVolumeClaim" => 3,
        "Service" | "NetworkPolicy" => 4,
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob" => 5,
        "HorizontalPodAutoscaler" => 6,
        "Ingress" => 7,
        _ => 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::settings::{Autoscaling, Cidr, IngressSources};
    use crate::model::pod_security::{self, Control, Level};
    use crate::render::manifests::to_yaml;

    /// Issue 13 item 5: `metadata.annotations: oops` panicked when we added ours.
    #[test]
    fn annotations_that_are_not_a_map_are_bad_input() {
        let e = parse_documents(
            "m.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n  annotations: oops\n",
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "m.yaml: ConfigMap/cfg: metadata.annotations is not a map of strings"
        );
        assert_eq!(
            crate::model::diagnostic::Diagnostic::exit(&e),
            Exit::BadInput
        );
        let e = parse_documents(
            "m.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, labels: {a: [1]}}\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("metadata.labels"), "{e}");
        assert!(
            parse_documents(
                "m.yaml",
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg, annotations: null}\n"
            )
            .is_ok()
        );
    }

    const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn component() -> Component {
        Component {
            name: "api".into(),
            image: ImageRef::parse(&format!("myreg.azurecr.io/team/api:v1@{D}")).unwrap(),
            port: 8080,
            replicas: 2,
            cpu: "250m".into(),
            memory: "256Mi".into(),
            env: vec![("LOG_LEVEL".into(), "info".into())],
            secret_env: vec![("MYSQL_PASSWORD".into(), "mysql-password".into())],
            health_path: Some("/healthz".into()),
            autoscaling: Some(Autoscaling {
                min: 2,
                max: 5,
                cpu_percent: 70,
            }),
        }
    }

    fn trace() -> Trace {
        Trace {
            commit: Some("0123456789abcdef".into()),
            run_url: Some("https://github.com/o/r/actions/runs/9".into()),
            pr: Some(42),
            workflow: Some("deploy".into()),
            repository: Some("o/r".into()),
        }
    }

    #[test]
    fn generated_manifests() {
        let mut objs = generate(
            &[component()],
            &Generate {
                namespace: "web",
                host: Some("api.example.com"),
                ingress_class: "azure-application-gateway",
                cluster_issuer: "letsencrypt",
                wildcard_tls: false,
                secret_store: "azure-keyvault",
                hardening: &Hardening {
                    network_policy: Some(IngressSources {
                        namespace: "kube-system".into(),
                        cidrs: vec![Cidr("10.1.0.0/24".into())],
                    }),
                    ..Hardening::restricted("kube-system")
                },
            },
        );
        finish(&mut objs, "web", &trace());
        insta::assert_snapshot!(to_yaml(&objs));
    }

    #[test]
    fn generated_without_host_or_autoscaling() {
        let mut c = component();
        c.autoscaling = None;
        c.secret_env.clear();
        c.env.clear();
        c.health_path = None;
        let mut objs = generate(
            &[c],
            &Generate {
                namespace: "web",
                host: None,
                ingress_class: "x",
                cluster_issuer: "y",
                wildcard_tls: false,
                secret_store: "z",
                hardening: &Hardening::restricted("kube-system"),
            },
        );
        finish(&mut objs, "web", &Trace::default());
        insta::assert_snapshot!(to_yaml(&objs));
    }

    fn worker() -> Component {
        Component {
            name: "worker".into(),
            port: 9000,
            autoscaling: None,
            health_path: None,
            secret_env: Vec::new(),
            ..component()
        }
    }

    fn generated(components: &[Component], h: &Hardening) -> Vec<Value> {
        let mut objs = generate(
            components,
            &Generate {
                namespace: "web",
                host: Some("api.example.com"),
                ingress_class: "azure-application-gateway",
                cluster_issuer: "letsencrypt",
                wildcard_tls: false,
                secret_store: "azure-keyvault",
                hardening: h,
            },
        );
        finish(&mut objs, "web", &trace());
        objs
    }

    fn templates(objs: &[Value]) -> Vec<(String, &Value)> {
        objs.iter()
            .filter(|o| o["kind"] == "Deployment")
            .map(|o| {
                (
                    o["metadata"]["name"].as_str().unwrap().to_string(),
                    &o["spec"]["template"],
                )
            })
            .collect()
    }

    /// Every generated pod spec, of one and of several components, with and without
    /// autoscaling, probes and secrets, passes every control of `restricted`.
    #[test]
    fn generated_pods_pass_the_restricted_pod_security_standard() {
        let mut plain = component();
        plain.autoscaling = None;
        plain.secret_env.clear();
        plain.env.clear();
        plain.health_path = None;
        let h = Hardening::restricted("kube-system");
        for set in [vec![component()], vec![plain], vec![component(), worker()]] {
            let objs = generated(&set, &h);
            let t = templates(&objs);
            assert_eq!(t.len(), set.len());
            for (name, template) in t {
                let v = pod_security::violations(template, Level::Restricted);
                assert!(v.is_empty(), "{name}: {v:?}");
                let spec = &template["spec"];
                assert_eq!(spec["automountServiceAccountToken"], false, "{name}");
                let c = &spec["containers"][0];
                assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
                assert_eq!(c["volumeMounts"][0]["mountPath"], "/tmp");
                assert_eq!(spec["volumes"][0], json!({"name": "tmp", "emptyDir": {}}));
            }
        }
    }

    /// Each relaxing setting fails exactly the controls it is for (and the plan warns).
    #[test]
    fn each_relaxed_setting_fails_its_own_controls() {
        let base = Hardening::restricted("kube-system");
        let cases: Vec<(Hardening, Vec<Control>)> = vec![
            (
                Hardening {
                    run_as_non_root: false,
                    ..base.clone()
                },
                vec![Control::RunningAsNonRoot],
            ),
            (
                Hardening {
                    allow_privilege_escalation: true,
                    ..base.clone()
                },
                vec![Control::PrivilegeEscalation],
            ),
            (
                Hardening {
                    seccomp_profile: "Unconfined".into(),
                    ..base.clone()
                },
                vec![Control::Seccomp, Control::SeccompRestricted],
            ),
            (
                Hardening {
                    capabilities_add: vec!["SYS_ADMIN".into()],
                    ..base.clone()
                },
                vec![Control::Capabilities, Control::CapabilitiesRestricted],
            ),
            (
                Hardening {
                    capabilities_add: vec!["NET_BIND_SERVICE".into()],
                    read_only_root_filesystem: false,
                    automount_service_account_token: true,
                    network_policy: None,
                    ..base.clone()
                },
                vec![],
            ),
        ];
        for (h, want) in cases {
            let objs = generated(&[component(), worker()], &h);
            for (name, t) in templates(&objs) {
                let got: Vec<Control> = pod_security::violations(t, Level::Restricted)
                    .iter()
                    .map(|v| v.control)
                    .collect();
                assert_eq!(got, want, "{name} with {h:?}");
                for c in &got {
                    assert!(c.setting().is_some(), "{c:?} has a setting to relax it");
                }
            }
        }
    }

    #[test]
    fn relaxed_settings_are_left_out_of_the_pods() {
        let h = Hardening {
            run_as_non_root: false,
            read_only_root_filesystem: false,
            automount_service_account_token: true,
            network_policy: None,
            ..Hardening::restricted("kube-system")
        };
        let objs = generated(&[component()], &h);
        let spec = &templates(&objs)[0].1["spec"];
        assert_eq!(spec["automountServiceAccountToken"], true);
        assert!(spec["securityContext"].get("runAsNonRoot").is_none());
        assert!(spec.get("volumes").is_none());
        assert!(spec["containers"][0].get("volumeMounts").is_none());
        assert_eq!(
            spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"],
            false
        );
        assert!(!objs.iter().any(|o| o["kind"] == "NetworkPolicy"));
    }

    /// The first component admits the ingress controller's namespace and the gateway's
    /// subnet; every component admits the app's own pods (all labelled part-of the app),
    /// on its own port only.
    #[test]
    fn network_policies_admit_the_ingress_controller_and_the_apps_own_components() {
        let h = Hardening {
            network_policy: Some(IngressSources {
                namespace: "app-routing-system".into(),
                cidrs: vec![Cidr("10.1.0.0/24".into())],
            }),
            ..Hardening::restricted("kube-system")
        };
        let objs = generated(&[component(), worker()], &h);
        let policies: Vec<&Value> = objs
            .iter()
            .filter(|o| o["kind"] == "NetworkPolicy")
            .collect();
        assert_eq!(policies.len(), 2);
        let own = json!({"podSelector": {"matchLabels": {PART_OF_LABEL: "api"}}});
        let api = &policies[0]["spec"];
        assert_eq!(api["podSelector"]["matchLabels"][NAME_LABEL], "api");
        assert_eq!(api["policyTypes"], json!(["Ingress"]));
        assert_eq!(
            api["ingress"][0]["from"],
            json!([own, {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "app-routing-system"}}},
                {"ipBlock": {"cidr": "10.1.0.0/24"}}])
        );
        assert_eq!(
            api["ingress"][0]["ports"],
            json!([{"port": 8080, "protocol": "TCP"}])
        );
        let worker = &policies[1]["spec"];
        assert_eq!(worker["podSelector"]["matchLabels"][NAME_LABEL], "worker");
        assert_eq!(worker["ingress"][0]["from"], json!([own]));
        assert_eq!(
            worker["ingress"][0]["ports"],
            json!([{"port": 9000, "protocol": "TCP"}])
        );
        for (_, t) in templates(&objs) {
            assert_eq!(t["metadata"]["labels"][PART_OF_LABEL], "api");
        }
    }

    const USER: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  template:
    spec:
      initContainers:
      - {name: migrate, image: "localhost:5000/team/api:old"}
      containers:
      - {name: api, image: "localhost:5000/team/api:latest"}
      - {name: proxy, image: nginx:1.25}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly, namespace: jobs}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - {name: job, image: "localhost:5000/team/api@sha256:2222222222222222222222222222222222222222222222222222222222222222"}
---
apiVersion: batch/v1
kind: Job
metadata: {name: once}
spec:
  template:
    spec:
      containers:
      - {name: job, image: docker.io/library/nginx}
---
apiVersion: v1
kind: Namespace
metadata: {name: jobs}
"#;

    #[test]
    fn substitution_by_repository() {
        let mut objs = parse_documents("user.yaml", USER).unwrap();
        let images = [
            ImageRef::parse(&format!("localhost:5000/team/api@{D}")).unwrap(),
            ImageRef::parse(&format!("nginx@{D}")).unwrap(),
        ];
        let subs = substitute(&mut objs, &images).unwrap();
        assert_eq!(
            subs[0].containers,
            [
                "Deployment/web:migrate",
                "Deployment/web:api",
                "CronJob/nightly:job"
            ]
        );
        assert_eq!(subs[1].containers, ["Deployment/web:proxy", "Job/once:job"]);
        finish(&mut objs, "web", &trace());
        insta::assert_snapshot!(to_yaml(&objs));
    }

    #[test]
    fn an_image_that_matches_nothing_is_an_error() {
        let mut objs = parse_documents("user.yaml", USER).unwrap();
        let images = [ImageRef::parse(&format!("localhost:5001/team/api@{D}")).unwrap()];
        let e = substitute(&mut objs, &images).unwrap_err();
        assert!(matches!(e, ManifestError::ImageMatchedNothing { .. }));
        assert!(e.hint().unwrap().contains("localhost:5000/team/api:latest"));
    }

    #[test]
    fn incomplete_documents_are_refused() {
        let e = parse_documents("x.yaml", "kind: Service\napiVersion: v1\n").unwrap_err();
        assert_eq!(e.to_string(), "x.yaml: document 1 has no metadata.name");
        assert!(parse_documents("x.yaml", "a: [").is_err());
        assert!(parse_documents("x.yaml", "---\n---\n").unwrap().is_empty());
    }
}
