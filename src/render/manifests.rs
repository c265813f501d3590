//! The Kubernetes objects a deploy applies, computed without I/O: generated from the
//! components (Deployment, Service, HPA, Ingress for the Application Gateway ingress
//! controller with cert-manager, ExternalSecret for Key Vault), or the user's own
//! manifests with their images swapped by structured parsing. Both get traceability
//! annotations, and both are by digest. An `--image` entry that matched no container is
//! an error: substitution that silently does nothing is how the other tools fail.

use serde_json::{Map, Value, json};

use crate::error::{Diagnostic, Exit};
use crate::inputs::settings::Component;
use crate::model::image_ref::ImageRef;

pub const MANAGED_BY: &str = "aks-backend";
pub const NAME_LABEL: &str = "app.kubernetes.io/name";
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
    pub secret_store: &'a str,
}

pub fn tls_secret_name(app: &str) -> String {
    format!("{app}-tls")
}

fn labels(name: &str) -> Value {
    json!({ NAME_LABEL: name, "app.kubernetes.io/managed-by": MANAGED_BY })
}

/// Deployment, Service, (HPA), (ExternalSecret) per component; the Ingress for the first.
pub fn generate(components: &[Component], g: &Generate<'_>) -> Vec<Value> {
    let mut out = Vec::new();
    for (i, c) in components.iter().enumerate() {
        let secret_name = format!("{}-secrets", c.name);
        if !c.secret_env.is_empty() {
            let data: Vec<Value> = c
                .secret_env
                .iter()
                .map(|(env, kv)| json!({"secretKey": env, "remoteRef": {"key": kv}}))
                .collect();
            out.push(json!({
                "apiVersion": "external-secrets.io/v1beta1",
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
        out.push(deployment(c, g.namespace, &secret_name));
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
            out.push(json!({
                "apiVersion": "networking.k8s.io/v1",
                "kind": "Ingress",
                "metadata": {
                    "name": c.name,
                    "namespace": g.namespace,
                    "labels": labels(&c.name),
                    "annotations": {
                        "cert-manager.io/cluster-issuer": g.cluster_issuer,
                        "appgw.ingress.kubernetes.io/ssl-redirect": "true",
                    },
                },
                "spec": {
                    "ingressClassName": g.ingress_class,
                    "tls": [{"hosts": [host], "secretName": tls_secret_name(&c.name)}],
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

fn deployment(c: &Component, namespace: &str, secret_name: &str) -> Value {
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
    });
    if !env.is_empty() {
        container["env"] = Value::Array(env);
    }
    if let Some(path) = &c.health_path {
        container["readinessProbe"] = json!({
            "httpGet": {"path": path, "port": "http"},
            "periodSeconds": 5, "failureThreshold": 3,
        });
        container["livenessProbe"] = json!({
            "httpGet": {"path": path, "port": "http"},
            "initialDelaySeconds": 10, "periodSeconds": 10, "failureThreshold": 3,
        });
    }
    let mut spec = json!({
        "revisionHistoryLimit": 10,
        "selector": {"matchLabels": {NAME_LABEL: c.name}},
        // The old ReplicaSet keeps serving until new pods are available.
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
        "template": {
            "metadata": {"labels": {NAME_LABEL: c.name}},
            "spec": {"containers": [container]},
        },
    });
    // With an HPA the replica count is the autoscaler's; applying it would fight it.
    if c.autoscaling.is_none() {
        spec["replicas"] = json!(c.replicas);
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": c.name, "namespace": namespace, "labels": labels(&c.name)},
        "spec": spec,
    })
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
                    if let Some(i) = wanted.iter().position(|w| *w == repo) {
                        let name = c
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string();
                        c["image"] = Value::String(images[i].pinned());
                        subs[i].containers.push(format!("{id}:{name}"));
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
    for obj in objects.iter_mut() {
        let kind = obj
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let meta = obj
            .as_object_mut()
            .expect("documents are objects")
            .entry("metadata")
            .or_insert_with(|| json!({}));
        if !is_cluster_scoped(&kind) && meta.get("namespace").is_none() {
            meta["namespace"] = json!(namespace);
        }
        let ann = meta
            .as_object_mut()
            .expect("metadata is an object")
            .entry("annotations")
            .or_insert_with(|| json!({}));
        for (k, v) in trace.annotations() {
            ann[k] = json!(v);
        }
        if ann.as_object().is_some_and(Map::is_empty) {
            meta.as_object_mut().expect("object").remove("annotations");
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
        "Service" => 4,
        "Deployment" | "StatefulSet" | "DaemonSet" | "Job" | "CronJob" => 5,
        "HorizontalPodAutoscaler" => 6,
        "Ingress" => 7,
        _ => 8,
    }
}

/// Objects as one multi-document YAML stream (for `--dry-run` and snapshots).
pub fn to_yaml(objects: &[Value]) -> String {
    objects
        .iter()
        .map(|o| serde_norway::to_string(o).expect("JSON values serialize to YAML"))
        .collect::<Vec<_>>()
        .join("---\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::settings::Autoscaling;

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
                secret_store: "azure-keyvault",
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
                secret_store: "z",
            },
        );
        finish(&mut objs, "web", &Trace::default());
        insta::assert_snapshot!(to_yaml(&objs));
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
