//! The objects of a `--compose` deploy, finished from the generated components: each
//! service's ports, command, probes, secret files, config files and scratch space;
//! StatefulSets for state kept in the cluster; ExternalName Services for what a managed
//! service replaced; and `plan.md`, which says per service what became of it. Pure.

use serde_json::{Value, json};

use super::json::{extend, set};
use crate::inputs::compose::{ComposeApp, Probe, ProbeAction, Service};
use crate::model::text::strip_controls;

const NAME_LABEL: &str = "app.kubernetes.io/name";

fn find<'a>(objs: &'a mut [Value], kind: &str, name: &str) -> Option<&'a mut Value> {
    objs.iter_mut().find(|o| is(o, kind, name))
}

/// Whether `o` is the `kind` object named `name`.
fn is(o: &Value, kind: &str, name: &str) -> bool {
    o.get("kind").and_then(Value::as_str) == Some(kind)
        && o.pointer("/metadata/name").and_then(Value::as_str) == Some(name)
}

/// Applies the Compose services to the generated `objs` (in place), adding the objects
/// they need.
pub fn finish(objs: &mut Vec<Value>, app: &ComposeApp, namespace: &str, secret_store: &str) {
    let mut extra = Vec::new();
    for s in &app.services {
        let n = s.component.name.as_str();
        let labels = json!({NAME_LABEL: n, "app.kubernetes.io/managed-by": "aks-backend"});
        service_ports(objs, s);
        let mut mounts: Vec<Value> = Vec::new();
        let mut volumes: Vec<Value> = Vec::new();
        if !s.secret_files.is_empty() {
            let secret = format!("{n}-files");
            let data: Vec<Value> = s
                .secret_files
                .iter()
                .map(|f| json!({"secretKey": f.name, "remoteRef": {"key": f.key_vault}}))
                .collect();
            extra.push(json!({
                "apiVersion": "external-secrets.io/v1",
                "kind": "ExternalSecret",
                "metadata": {"name": secret, "namespace": namespace, "labels": labels},
                "spec": {
                    "refreshInterval": "1h",
                    "secretStoreRef": {"name": secret_store, "kind": "ClusterSecretStore"},
                    "target": {"name": secret, "creationPolicy": "Owner"},
                    "data": data,
                }
            }));
            volumes.push(json!({"name": "compose-secrets", "secret": {"secretName": secret, "defaultMode": 0o440}}));
            for f in &s.secret_files {
                mounts.push(json!({"name": "compose-secrets", "mountPath": f.target, "subPath": f.name, "readOnly": true}));
            }
        }
        if !s.config_files.is_empty() {
            let cm = format!("{n}-config");
            let mut data = serde_json::Map::new();
            for (i, f) in s.config_files.iter().enumerate() {
                let key = unique_key(&data, &f.key, i);
                data.insert(key.clone(), json!(f.content));
                mounts.push(json!({"name": "compose-config", "mountPath": f.target, "subPath": key, "readOnly": true}));
            }
            extra.push(json!({
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": cm, "namespace": namespace, "labels": labels},
                "data": data,
            }));
            volumes.push(json!({"name": "compose-config", "configMap": {"name": cm}}));
        }
        for (i, path) in s.scratch.iter().enumerate() {
            let v = format!("scratch-{i}");
            mounts.push(json!({"name": v, "mountPath": path}));
            volumes.push(json!({"name": v, "emptyDir": {}}));
        }
        for v in &s.stateful {
            mounts.push(json!({"name": v.name, "mountPath": v.target}));
        }
        let Some(d) = find(objs, "Deployment", n) else {
            continue;
        };
        if let Some(c) = d.pointer_mut("/spec/template/spec/containers/0") {
            container(c, s, mounts);
        }
        if !volumes.is_empty()
            && let Some(pod) = d.pointer_mut("/spec/template/spec")
        {
            extend(pod, "volumes", volumes);
        }
        if !s.stateful.is_empty() {
            to_stateful_set(d, s);
            if let Some(h) = find(objs, "HorizontalPodAutoscaler", n) {
                set(h, &["spec", "scaleTargetRef", "kind"], json!("StatefulSet"));
            }
        }
    }
    for r in &app.replaced {
        extra.push(json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": r.name, "namespace": namespace,
                "labels": {NAME_LABEL: r.name, "app.kubernetes.io/managed-by": "aks-backend"}},
            "spec": {"type": "ExternalName", "externalName": r.external_host},
        }));
    }
    objs.extend(extra);
}

fn unique_key(data: &serde_json::Map<String, Value>, key: &str, i: usize) -> String {
    if data.contains_key(key) || key.is_empty() {
        format!("{i}-{key}")
    } else {
        key.to_string()
    }
}

fn port_name(i: usize, p: &crate::inputs::compose::Port) -> String {
    if i == 0 {
        "http".into()
    } else {
        format!("{}-{}", p.protocol.to_ascii_lowercase(), p.port)
    }
}

/// The Service listens on the Compose ports (so `http://api:8080` keeps working); a
/// service without ports (a worker) has no Service and admits no traffic.
fn service_ports(objs: &mut Vec<Value>, s: &Service) {
    let n = s.component.name.as_str();
    let Some(first) = s.ports.first() else {
        objs.retain(|o| !is(o, "Service", n));
        if let Some(np) = find(objs, "NetworkPolicy", n) {
            set(np, &["spec", "ingress"], json!([]));
        }
        return;
    };
    let ports: Vec<Value> = s
        .ports
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"name": port_name(i, p), "port": p.port, "targetPort": port_name(i, p), "protocol": p.protocol}))
        .collect();
    if let Some(svc) = find(objs, "Service", n) {
        set(svc, &["spec", "ports"], Value::Array(ports));
    }
    if let Some(rule) =
        find(objs, "NetworkPolicy", n).and_then(|np| np.pointer_mut("/spec/ingress/0"))
    {
        let ports = (s.ports.iter())
            .map(|p| json!({"port": p.port, "protocol": p.protocol}))
            .collect();
        set(rule, &["ports"], Value::Array(ports));
    }
    if let Some(path) =
        find(objs, "Ingress", n).and_then(|ing| ing.pointer_mut("/spec/rules/0/http/paths/0"))
    {
        let port = json!({"number": first.port});
        set(path, &["backend", "service", "port"], port);
    }
}

fn probe(p: &Probe, s: &Service) -> Value {
    let mut v = match &p.action {
        ProbeAction::Http { path, port } => {
            let port = if s.ports.first().is_some_and(|f| f.port == *port) {
                json!("http")
            } else {
                json!(port)
            };
            json!({"httpGet": {"path": path, "port": port}})
        }
        ProbeAction::Exec { command } => json!({"exec": {"command": command}}),
    };
    set(&mut v, &["periodSeconds"], json!(p.period_seconds));
    set(&mut v, &["timeoutSeconds"], json!(p.timeout_seconds));
    set(&mut v, &["failureThreshold"], json!(p.failure_threshold));
    if p.initial_delay_seconds > 0 {
        set(
            &mut v,
            &["initialDelaySeconds"],
            json!(p.initial_delay_seconds),
        );
    }
    v
}

fn container(c: &mut Value, s: &Service, mounts: Vec<Value>) {
    if s.ports.is_empty() {
        if let Some(m) = c.as_object_mut() {
            m.remove("ports");
        }
    } else {
        let ports = (s.ports.iter().enumerate())
            .map(|(i, p)| json!({"name": port_name(i, p), "containerPort": p.port, "protocol": p.protocol}))
            .collect();
        set(c, &["ports"], Value::Array(ports));
    }
    if let Some(cmd) = &s.command {
        set(c, &["command"], json!(cmd));
    }
    if let Some(args) = &s.args {
        set(c, &["args"], json!(args));
    }
    if let Some(w) = &s.working_dir {
        set(c, &["workingDir"], json!(w));
    }
    if let Some(p) = &s.probe {
        set(c, &["readinessProbe"], probe(p, s));
        set(c, &["livenessProbe"], probe(p, s));
    }
    if s.read_only {
        set(
            c,
            &["securityContext", "readOnlyRootFilesystem"],
            json!(true),
        );
    }
    if let Some((uid, gid)) = s.user {
        set(c, &["securityContext", "runAsUser"], json!(uid));
        if let Some(g) = gid {
            set(c, &["securityContext", "runAsGroup"], json!(g));
        }
    }
    if !mounts.is_empty() {
        extend(c, "volumeMounts", mounts);
    }
}

/// The Deployment as a StatefulSet with one claim per named volume.
fn to_stateful_set(d: &mut Value, s: &Service) {
    set(d, &["kind"], json!("StatefulSet"));
    if let Some(m) = d.get_mut("spec").and_then(Value::as_object_mut) {
        m.remove("strategy");
        m.insert("serviceName".into(), json!(s.component.name));
        m.insert("updateStrategy".into(), json!({"type": "RollingUpdate"}));
        m.insert(
            "volumeClaimTemplates".into(),
            Value::Array(
                s.stateful
                    .iter()
                    .map(|v| {
                        json!({
                            "metadata": {"name": v.name},
                            "spec": {"accessModes": ["ReadWriteOnce"],
                                     "resources": {"requests": {"storage": v.size}}},
                        })
                    })
                    .collect(),
            ),
        );
    }
}

fn cell(s: &str) -> String {
    strip_controls(s)
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\n', " ")
}

/// `plan.md`: each service and what became of it, then the files written.
pub fn plan_markdown(app: &ComposeApp, files: &[String]) -> String {
    let mut out = String::from("# Compose application plan\n\n");
    let sources: Vec<String> = app
        .files
        .iter()
        .map(|f| cell(&f.display().to_string()))
        .collect();
    out.push_str(&format!("From: {}\n\n", sources.join(", ")));
    out.push_str("| service | becomes | image | ports | notes |\n|---|---|---|---|---|\n");
    for s in &app.services {
        let kind = if s.stateful.is_empty() {
            "Deployment"
        } else {
            "StatefulSet"
        };
        let mut becomes = vec![kind.to_string()];
        if !s.ports.is_empty() {
            becomes.push("Service".into());
        }
        if app.public.as_deref() == Some(&s.component.name) {
            becomes.push("Ingress (public)".into());
        }
        if s.component.autoscaling.is_some() {
            becomes.push("HPA".into());
        }
        if !s.config_files.is_empty() {
            becomes.push("ConfigMap".into());
        }
        if !s.secret_files.is_empty() || !s.component.secret_env.is_empty() {
            becomes.push("ExternalSecret".into());
        }
        let ports: Vec<String> = s
            .ports
            .iter()
            .map(|p| format!("{}/{}", p.port, p.protocol))
            .collect();
        let built = if s.build.is_some() { " (built)" } else { "" };
        out.push_str(&format!(
            "| {} | {} | {}{built} | {} | {} |\n",
            cell(&s.component.name),
            becomes.join(" + "),
            cell(&s.component.image.pinned()),
            if ports.is_empty() {
                "none (worker)".into()
            } else {
                ports.join(", ")
            },
            if s.notes.is_empty() {
                "carried over as is".to_string()
            } else {
                s.notes
                    .iter()
                    .map(|n| cell(n))
                    .collect::<Vec<_>>()
                    .join("; ")
            },
        ));
    }
    for r in &app.replaced {
        out.push_str(&format!(
            "| {} | not deployed | - | - | {} |\n",
            cell(&r.name),
            cell(&r.why)
        ));
    }
    for i in &app.inactive {
        out.push_str(&format!(
            "| {} | not deployed | - | - | its profile is not active |\n",
            cell(i)
        ));
    }
    if !app.warnings.is_empty() {
        out.push_str("\n## Warnings\n\n");
        for w in &app.warnings {
            out.push_str(&format!("- {}\n", cell(w)));
        }
    }
    out.push_str("\n## Objects\n\n");
    for f in files {
        out.push_str(&format!("- `{}`\n", cell(f)));
    }
    out
}

/// The file name of one object in `--render-dir`: `NN-kind-name.yaml`.
pub fn file_name(i: usize, o: &Value) -> String {
    let kind = (o.get("kind").and_then(Value::as_str))
        .unwrap_or("object")
        .to_ascii_lowercase();
    let name = (o.pointer("/metadata/name").and_then(Value::as_str)).unwrap_or("unnamed");
    let safe: String = format!("{kind}-{name}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{:02}-{safe}.yaml", i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Env;
    use crate::inputs::compose::{load, map};
    use crate::model::image_ref::ImageRef;
    use std::path::{Path, PathBuf};

    fn shop() -> ComposeApp {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/fixtures/compose/shop");
        let files = [dir.join("compose.yaml"), dir.join("compose.override.yaml")];
        let p = load::load(&files, &[], &Env::from_pairs::<&str, &str>([], &dir)).unwrap();
        let d = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
        let images: Vec<ImageRef> = ["proxy", "web", "api", "worker"]
            .iter()
            .map(|s| ImageRef::parse(&format!("registry.example.com/team/{s}@{d}")).unwrap())
            .collect();
        let mut app = map::map(
            &p,
            &map::Options {
                image_prefix: Some("registry.example.com/team"),
                public: None,
                stateful_in_cluster: false,
                allow: &[],
                mysql_host: Some("shop.mysql.database.azure.com"),
                mysql_password_secret: "mysql-root-password",
                images: &images,
                dry_run: false,
                replicas: 2,
                cpu: "250m",
                memory: "256Mi",
                cpu_target: 70,
                host: true,
            },
        )
        .unwrap();
        app.files = vec![
            PathBuf::from("compose.yaml"),
            PathBuf::from("compose.override.yaml"),
        ];
        app
    }

    /// What became of each service of the fixture app, as `plan.md` tells it.
    #[test]
    fn the_plan_names_every_service_and_what_became_of_it() {
        insta::assert_snapshot!(plan_markdown(&shop(), &[]));
    }

    #[test]
    fn a_worker_without_ports_has_no_service_and_admits_no_traffic() {
        let app = shop();
        let mut objs = vec![
            json!({"kind": "Service", "metadata": {"name": "worker"}, "spec": {}}),
            json!({"kind": "NetworkPolicy", "metadata": {"name": "worker"},
                   "spec": {"ingress": [{"ports": [{"port": 8080}]}]}}),
            json!({"kind": "Deployment", "metadata": {"name": "worker"}, "spec": {"template": {"spec": {
                "containers": [{"name": "worker", "ports": [{"name": "http", "containerPort": 8080}]}]}}}}),
        ];
        finish(&mut objs, &app, "shop", "azure-keyvault");
        assert!(
            !objs
                .iter()
                .any(|o| o["kind"] == "Service" && o["metadata"]["name"] == "worker")
        );
        let np = objs.iter().find(|o| o["kind"] == "NetworkPolicy").unwrap();
        assert_eq!(np["spec"]["ingress"], json!([]));
        let d = objs.iter().find(|o| o["kind"] == "Deployment").unwrap();
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert!(c.get("ports").is_none(), "{c}");
        assert_eq!(
            c["args"],
            json!(["python", "-m", "worker", "--queue", "orders high"])
        );
        // MySQL became an ExternalName Service under its Compose name.
        let db = objs.iter().find(|o| o["metadata"]["name"] == "db").unwrap();
        assert_eq!(db["spec"]["externalName"], "shop.mysql.database.azure.com");
    }
}
