//! Compose services into components. Each deployed service keeps its Compose name (so
//! `DB_HOST: db` and `http://api:8080` keep resolving, as Kubernetes Services), and
//! nothing is dropped without a word: what cannot carry over is a note on its service;
//! what would weaken the cluster, or silently turn state into a stateless pod, is bad
//! input unless the user opts in.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::interpolate;
use super::load::Project;
use super::{
    Build, BuildSecret, BuildSecretFrom, ComposeApp, ConfigFile, Port, Probe, ProbeAction,
    Replaced, SecretFile, Service, StatefulVolume,
};
use crate::fsx::{self, Follow};
use crate::inputs::settings::{Autoscaling, Component, is_dns_label};
use crate::model::image_ref::ImageRef;

/// What the mapping needs besides the Compose files (the deploy settings' values).
pub struct Options<'a> {
    pub image_prefix: Option<&'a str>,
    pub public: Option<&'a str>,
    pub stateful_in_cluster: bool,
    /// `--compose-allow`: weakening keys the user accepts to have dropped.
    pub allow: &'a [String],
    pub mysql_host: Option<&'a str>,
    pub mysql_password_secret: &'a str,
    /// Pinned images (`--images`, the build's outputs) matched by repository.
    pub images: &'a [ImageRef],
    pub dry_run: bool,
    pub replicas: u32,
    pub cpu: &'a str,
    pub memory: &'a str,
    pub cpu_target: u32,
    pub host: bool,
}

/// One refusal: the service, what is wrong, and what would be right.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapError {
    pub at: String,
    pub problem: String,
    pub expected: String,
}

fn err(at: impl Into<String>, problem: impl Into<String>, expected: impl Into<String>) -> MapError {
    MapError {
        at: at.into(),
        problem: problem.into(),
        expected: expected.into(),
    }
}

/// What `--compose-allow` accepts.
pub const ALLOWABLE: &[&str] = &[
    "privileged",
    "cap_add",
    "network_mode",
    "pid",
    "ipc",
    "devices",
    "docker-socket",
    "security_opt",
];

/// Keys we carry over (or refuse) ourselves; every other key gets a note.
const HANDLED: &[&str] = &[
    "image",
    "build",
    "ports",
    "expose",
    "environment",
    "env_file",
    "secrets",
    "healthcheck",
    "command",
    "entrypoint",
    "deploy",
    "read_only",
    "user",
    "volumes",
    "tmpfs",
    "working_dir",
    "privileged",
    "cap_add",
    "cap_drop",
    "network_mode",
    "pid",
    "ipc",
    "devices",
    "security_opt",
    "profiles",
    "x-aks-backend",
];

/// What happens instead, for keys that have a Kubernetes counterpart of their own.
fn instead(key: &str) -> &'static str {
    match key {
        "container_name" => "pods get generated names; the Service keeps the Compose name",
        "networks" => {
            "all services share the namespace's network; the NetworkPolicy admits the app's own pods"
        }
        "restart" => "Kubernetes restarts failed containers itself",
        "depends_on" => {
            "no start order in Kubernetes; the dependency's readiness probe gates its traffic"
        }
        "links" | "external_links" => "services reach each other by Service name",
        "hostname" | "domainname" => "the pod's hostname is generated",
        "logging" => "stdout/stderr go to Log Analytics through the cluster's agent",
        "labels" => "not copied to the pods",
        "stop_grace_period" => "Kubernetes' 30s termination grace period applies",
        "scale" => "use deploy.replicas or x-aks-backend.replicas",
        "cap_drop" => "all capabilities are dropped already",
        _ => "not carried over",
    }
}

/// The images that hold state when nothing says otherwise.
const STATEFUL_IMAGES: &[&str] = &[
    "postgres",
    "redis",
    "mongo",
    "rabbitmq",
    "elasticsearch",
    "opensearch",
    "kafka",
    "zookeeper",
    "cassandra",
    "couchdb",
    "neo4j",
    "influxdb",
    "minio",
    "nats",
    "etcd",
    "memcached",
    "valkey",
    "keydb",
];

fn image_base(image: &str) -> String {
    let no_digest = image.split('@').next().unwrap_or(image);
    let last = no_digest.rsplit('/').next().unwrap_or(no_digest);
    last.split(':').next().unwrap_or(last).to_ascii_lowercase()
}

pub(crate) fn is_mysql(image: &str) -> bool {
    matches!(
        image_base(image).as_str(),
        "mysql" | "mariadb" | "mysql-server" | "percona"
    )
}

pub fn map(p: &Project, o: &Options<'_>) -> Result<ComposeApp, MapError> {
    let file = p
        .files
        .last()
        .map(|f| f.display().to_string())
        .unwrap_or_default();
    let services = (p.doc.get("services").and_then(Value::as_object))
        .cloned()
        .unwrap_or_default();
    let empty = Map::new();
    let top_secrets = p
        .doc
        .get("secrets")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let top_volumes = p
        .doc
        .get("volumes")
        .and_then(Value::as_object)
        .unwrap_or(&empty);

    // MySQL / MariaDB: replaced by the shared Azure Database for MySQL.
    let mut replaced = Vec::new();
    for (name, s) in &services {
        let image = s.get("image").and_then(Value::as_str).unwrap_or("");
        if is_mysql(image) {
            let host = match (o.mysql_host, o.dry_run) {
                (Some(h), _) => h.to_string(),
                (None, true) => "mysql-host.invalid".to_string(),
                (None, false) => {
                    return Err(err(
                        format!("{file}: services.{name}"),
                        format!(
                            "`{name}` ({image}) is replaced by the shared Azure Database for MySQL, whose host is unknown"
                        ),
                        "--mysql-host (the infra / refer output) so dependents are pointed at it",
                    ));
                }
            };
            replaced.push(Replaced {
                name: name.clone(),
                external_host: host.clone(),
                why: format!(
                    "{image} is not deployed: the shared Azure Database for MySQL at {host} stands in (an ExternalName Service `{name}`); passwords of dependents come from Key Vault secret `{}`",
                    o.mysql_password_secret
                ),
            });
        }
    }

    let mut out = Vec::new();
    let mut unopted = Vec::new();
    for (name, s) in &services {
        if replaced.iter().any(|r| &r.name == name) {
            continue;
        }
        let at = format!("{file}: services.{name}");
        if !is_dns_label(name) {
            return Err(err(
                at,
                format!("`{name}` cannot be a Kubernetes Service name"),
                "service names of lowercase letters, digits and `-` (at most 63)",
            ));
        }
        let s = s.as_object().cloned().unwrap_or_default();
        let mut svc = service(name, &s, &at, p, o, top_secrets, &replaced)?;
        // State: named volumes, or an image known to hold data.
        let image = s.get("image").and_then(Value::as_str).unwrap_or("");
        let x = s.get("x-aks-backend").and_then(Value::as_object);
        let opted = o.stateful_in_cluster
            || x.and_then(|x| x.get("stateful")).and_then(Value::as_str) == Some("in-cluster");
        let mut named = Vec::new();
        for v in s
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (kind, source, target) = volume_parts(v);
            if kind == "volume" && !source.is_empty() {
                if !top_volumes.contains_key(&source) {
                    return Err(err(
                        format!("{at}.volumes"),
                        format!("volume `{source}` is not declared under the top-level `volumes`"),
                        "a named volume declared at the top level",
                    ));
                }
                named.push(StatefulVolume {
                    name: source,
                    target,
                    size: x
                        .and_then(|x| x.get("storage"))
                        .and_then(Value::as_str)
                        .unwrap_or("1Gi")
                        .to_string(),
                });
            }
        }
        let known = STATEFUL_IMAGES.contains(&image_base(image).as_str());
        if !named.is_empty() || known {
            if !opted {
                unopted.push(name.clone());
            } else {
                if named.is_empty() {
                    named.push(StatefulVolume {
                        name: "data".into(),
                        target: "/data".into(),
                        size: "1Gi".into(),
                    });
                    svc.notes.push("a well-known data store without a named volume: a 1Gi claim is mounted at /data; check the image's data directory".into());
                }
                svc.notes.push("stateful in the cluster: a StatefulSet with one PersistentVolumeClaim per named volume (not rolled back to older data)".into());
                svc.stateful = named;
            }
        }
        out.push(svc);
    }
    if !unopted.is_empty() {
        return Err(err(
            format!("{file}: services.{}", unopted.join(", services.")),
            format!(
                "{} hold state (a named volume or a well-known data store image); state does not silently become a stateless pod",
                unopted.join(", ")
            ),
            "move the data to a managed Azure service and remove the service, or keep it in the cluster: `x-aks-backend: {stateful: in-cluster}` on the service or --stateful in-cluster",
        ));
    }

    let public = public_service(&services, &out, o, &file)?;
    if let Some(pub_name) = &public {
        let idx = out
            .iter()
            .position(|s| &s.component.name == pub_name)
            .unwrap_or(0);
        let svc = out.remove(idx);
        let Some(first_port) = svc.ports.first() else {
            return Err(err(
                format!("{file}: services.{pub_name}"),
                format!("the public service `{pub_name}` has no port"),
                "ports or expose on the public service",
            ));
        };
        if first_port.protocol != "TCP" {
            return Err(err(
                format!("{file}: services.{pub_name}.ports"),
                "the public service's first port is UDP; the gateway speaks HTTP(S) only",
                "a TCP port first on the public service",
            ));
        }
        out.insert(0, svc);
    } else if o.host {
        return Err(err(
            file,
            "--host was given but no service is public",
            "--public SERVICE or `x-aks-backend: {public: true}` on one service",
        ));
    }
    if out.is_empty() {
        return Err(err(
            file,
            "no service is left to deploy",
            "at least one service that is not replaced by a managed service",
        ));
    }
    let mut warnings = Vec::new();
    if !p.unset_variables.is_empty() {
        warnings.push(format!(
            "variables used without a value (empty string used, as Compose does): {}",
            p.unset_variables.join(", ")
        ));
    }
    Ok(ComposeApp {
        files: p.files.clone(),
        services: out,
        replaced,
        inactive: p.inactive.clone(),
        public,
        render_dir: None,
        warnings,
    })
}

/// `--public`, else the service marked `x-aks-backend.public`, else the only one
/// publishing a TCP port; several candidates is bad input.
fn public_service(
    raw: &Map<String, Value>,
    out: &[Service],
    o: &Options<'_>,
    file: &str,
) -> Result<Option<String>, MapError> {
    if let Some(p) = o.public {
        if !out.iter().any(|s| s.component.name == p) {
            let names: Vec<&str> = out.iter().map(|s| s.component.name.as_str()).collect();
            return Err(err(
                "--public",
                format!("`{p}` is not a deployed service of {file}"),
                format!("one of: {}", names.join(", ")),
            ));
        }
        return Ok(Some(p.to_string()));
    }
    let marked: Vec<String> = out
        .iter()
        .filter(|s| {
            raw[&s.component.name]
                .pointer("/x-aks-backend/public")
                .and_then(Value::as_bool)
                == Some(true)
        })
        .map(|s| s.component.name.clone())
        .collect();
    let candidates = if marked.is_empty() {
        out.iter()
            .filter(|s| s.stateful.is_empty())
            .filter(|s| s.ports.iter().any(|p| p.published && p.protocol == "TCP"))
            .map(|s| s.component.name.clone())
            .collect()
    } else {
        marked
    };
    match candidates.len() {
        0 => Ok(None),
        1 => Ok(candidates.into_iter().next()),
        _ => Err(err(
            file,
            format!(
                "which service is public is ambiguous: {} publish ports",
                candidates.join(", ")
            ),
            "--public SERVICE (exactly one Ingress is generated)",
        )),
    }
}

fn service(
    name: &str,
    s: &Map<String, Value>,
    at: &str,
    p: &Project,
    o: &Options<'_>,
    top_secrets: &Map<String, Value>,
    replaced: &[Replaced],
) -> Result<Service, MapError> {
    let mut notes = Vec::new();
    // --- what would weaken the cluster ---
    let set = |k: &str| {
        s.get(k)
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty())
    };
    let host = |k: &str| s.get(k).and_then(Value::as_str) == Some("host");
    let weak: Vec<(&str, bool)> = vec![
        (
            "privileged",
            s.get("privileged") == Some(&Value::Bool(true)),
        ),
        ("cap_add", set("cap_add")),
        ("network_mode", host("network_mode")),
        ("pid", host("pid")),
        ("ipc", host("ipc")),
        ("devices", set("devices")),
        ("security_opt", set("security_opt")),
    ];
    for (key, present) in weak {
        if !present {
            continue;
        }
        if o.allow.iter().any(|a| a == key) {
            notes.push(format!("`{key}` dropped (allowed by --compose-allow): the pod keeps the cluster's restrictions"));
        } else {
            return Err(err(
                format!("{at}.{key}"),
                format!("`{key}` would weaken the cluster"),
                format!("remove it, or --compose-allow {key} to deploy without it"),
            ));
        }
    }
    if let Some(m) = s
        .get("network_mode")
        .and_then(Value::as_str)
        .filter(|m| *m != "host")
    {
        notes.push(format!(
            "network_mode `{m}` not carried over: each service is its own pod"
        ));
    }
    for key in s.keys() {
        if !HANDLED.contains(&key.as_str()) && !key.starts_with("x-") {
            notes.push(format!("`{key}`: {}", instead(key)));
        }
    }

    // --- image ---
    let x = s.get("x-aks-backend").and_then(Value::as_object);
    let build = s
        .get("build")
        .map(|b| build_spec(b, &p.dir, top_secrets, at))
        .transpose()?;
    let image = if build.is_some() {
        let prefix = o.image_prefix.ok_or_else(|| {
            err(
                format!("{at}.build"),
                format!("`{name}` is built but the registry path is unknown"),
                "--image-prefix REGISTRY/PATH (images are pushed as PREFIX/SERVICE)",
            )
        })?;
        format!("{}/{name}", prefix.trim_end_matches('/'))
    } else {
        s.get("image")
            .and_then(Value::as_str)
            .ok_or_else(|| err(at, "neither `image` nor `build`", "an image or a build"))?
            .to_string()
    };
    let mut image_ref = ImageRef::parse(&image)
        .map_err(|e| err(format!("{at}.image"), e.to_string(), "an image reference"))?;
    if image_ref.digest.is_none() {
        let canon = image_ref.canonical_repository();
        match o.images.iter().find(|i| i.canonical_repository() == canon) {
            Some(i) => image_ref = i.clone(),
            // A dry run shows it among the plan's unpinned images.
            None if o.dry_run => {}
            None => {
                return Err(err(
                    format!("{at}.image"),
                    format!("`{image}` has no digest; deploys are by digest only"),
                    "the build step's output, or --images REPOSITORY@sha256:DIGEST",
                ));
            }
        }
    }

    // --- ports ---
    let mut ports: Vec<Port> = Vec::new();
    let add = |port: Port, ports: &mut Vec<Port>| match ports
        .iter_mut()
        .find(|x| x.port == port.port && x.protocol == port.protocol)
    {
        Some(x) => x.published |= port.published,
        None => ports.push(port),
    };
    for v in s
        .get("ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for port in parse_port(v).map_err(|e| {
            err(
                format!("{at}.ports"),
                e,
                "[HOST:]CONTAINER[/PROTOCOL] or the long syntax",
            )
        })? {
            add(port, &mut ports);
        }
    }
    for v in s
        .get("expose")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = match v {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s.clone(),
            _ => String::new(),
        };
        let (num, proto) = text.split_once('/').unwrap_or((&text, "tcp"));
        for port in range(num).map_err(|e| err(format!("{at}.expose"), e, "PORT[/PROTOCOL]"))? {
            add(
                Port {
                    port,
                    protocol: proto.to_ascii_uppercase(),
                    published: false,
                },
                &mut ports,
            );
        }
    }
    if s.get("ports").is_some_and(|p| {
        p.as_array().is_some_and(|a| {
            a.iter()
                .any(|v| v.as_str().is_some_and(|t| t.matches(':').count() >= 1))
        })
    }) {
        notes.push("host ports not carried over: Services listen on the container ports inside the cluster".into());
    }

    // --- environment ---
    let mut env: Vec<(String, String)> = Vec::new();
    let put = |k: String, v: String, env: &mut Vec<(String, String)>| {
        env.retain(|(x, _)| *x != k);
        env.push((k, v));
    };
    for f in env_files(s.get("env_file")) {
        let path = p.dir.join(&f.0);
        match fsx::read_to_string(&path, "env_file", Follow::No, 1024 * 1024) {
            Ok(text) => {
                let pairs = interpolate::dotenv(&text).map_err(|(line, m)| {
                    err(
                        format!("{at}.env_file"),
                        format!("{} line {line} {m}", path.display()),
                        "NAME=VALUE lines",
                    )
                })?;
                for (k, v) in pairs {
                    put(k, v, &mut env);
                }
            }
            Err(e) if !f.1 && e.is_not_found() => {
                notes.push(format!("env_file {} is absent (not required)", f.0))
            }
            Err(e) => {
                return Err(err(
                    format!("{at}.env_file"),
                    e.to_string(),
                    "a regular file next to the Compose file",
                ));
            }
        }
    }
    if let Some(m) = s.get("environment").and_then(Value::as_object) {
        for (k, v) in m {
            let v = match v {
                Value::Null => match p.vars.get(k) {
                    Some(v) => v.clone(),
                    None => {
                        notes.push(format!(
                            "environment `{k}` has no value here and is left out"
                        ));
                        continue;
                    }
                },
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            put(k.clone(), v, &mut env);
        }
    }
    // Dependents of a replaced MySQL: passwords from Key Vault, not from the file.
    let mut secret_env = Vec::new();
    let uses_mysql = replaced.iter().any(|r| {
        depends_on(s).contains(&r.name) || env.iter().any(|(_, v)| mentions_host(v, &r.name))
    });
    if uses_mysql {
        let pw: Vec<String> = env
            .iter()
            .filter(|(k, _)| k.to_ascii_uppercase().contains("PASSWORD"))
            .map(|(k, _)| k.clone())
            .collect();
        for k in pw {
            env.retain(|(x, _)| *x != k);
            notes.push(format!(
                "`{k}` comes from Key Vault secret `{}` (the shared MySQL's password)",
                o.mysql_password_secret
            ));
            secret_env.push((k, o.mysql_password_secret.to_string()));
        }
    }

    // --- secrets ---
    let mut secret_files = Vec::new();
    for (source, target) in secret_refs(s.get("secrets")) {
        let Some(top) = top_secrets.get(&source) else {
            return Err(err(
                format!("{at}.secrets"),
                format!("secret `{source}` is not declared under the top-level `secrets`"),
                "a secret declared at the top level",
            ));
        };
        let key_vault = top
            .get("name")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| source.replace('_', "-").to_ascii_lowercase());
        if !crate::inputs::settings::is_key_vault_secret_name(&key_vault) {
            return Err(err(
                format!("{at}.secrets"),
                format!("`{key_vault}` (for secret `{source}`) is not a Key Vault secret name"),
                "a top-level `name:` of 1-127 letters, digits and `-`",
            ));
        }
        let target = match target {
            Some(t) if t.starts_with('/') => t,
            Some(t) => format!("/run/secrets/{t}"),
            None => format!("/run/secrets/{source}"),
        };
        if let Some(from) = top
            .get("file")
            .or(top.get("environment"))
            .and_then(Value::as_str)
        {
            notes.push(format!("secret `{source}` is read from Key Vault secret `{key_vault}` (not from `{from}`), mounted at {target}"));
        }
        secret_files.push(SecretFile {
            name: source,
            key_vault,
            target,
        });
    }

    // --- volumes ---
    let mut config_files = Vec::new();
    let mut scratch = Vec::new();
    for v in s
        .get("volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let (kind, source, target) = volume_parts(v);
        match kind.as_str() {
            "bind" => {
                if source.ends_with("docker.sock") {
                    if o.allow.iter().any(|a| a == "docker-socket") {
                        notes.push("the Docker socket mount is dropped (allowed by --compose-allow): there is no Docker engine on the nodes".into());
                        continue;
                    }
                    return Err(err(
                        format!("{at}.volumes"),
                        "mounting the Docker socket would hand the node to the container",
                        "remove it, or --compose-allow docker-socket",
                    ));
                }
                config_files.extend(bind(&source, &target, &p.dir).map_err(|e| err(format!("{at}.volumes"), e, "a file or flat directory inside the repository (it becomes a ConfigMap); data belongs in a named volume"))?);
            }
            "tmpfs" => scratch.push(target),
            "volume" if source.is_empty() => {
                notes.push(format!(
                    "anonymous volume {target}: an emptyDir (lost when the pod goes)"
                ));
                scratch.push(target);
            }
            "volume" => {}
            other => {
                return Err(err(
                    format!("{at}.volumes"),
                    format!("volume type `{other}` cannot be carried over"),
                    "bind (config files), volume (named) or tmpfs",
                ));
            }
        }
    }
    for t in s.get("tmpfs").into_iter().flat_map(|v| match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => vec![],
    }) {
        scratch.push(t.split(':').next().unwrap_or(&t).to_string());
    }

    // --- command, healthcheck, user ---
    let args = s.get("command").and_then(command);
    let cmd = s.get("entrypoint").and_then(command);
    let first_port = ports.first().map(|p| p.port);
    let mut probe = s
        .get("healthcheck")
        .and_then(|h| healthcheck(h, first_port));
    if let Some(path) = x.and_then(|x| x.get("health-path")).and_then(Value::as_str) {
        let port = first_port.ok_or_else(|| {
            err(
                format!("{at}.x-aks-backend.health-path"),
                "a health path needs a port",
                "ports or expose",
            )
        })?;
        probe = Some(Probe {
            action: ProbeAction::Http {
                path: path.to_string(),
                port,
            },
            period_seconds: 10,
            timeout_seconds: 1,
            failure_threshold: 3,
            initial_delay_seconds: 0,
        });
    }
    let user = match s.get("user").and_then(Value::as_str) {
        None => None,
        Some(u) => {
            let (uid, gid) = u.split_once(':').map_or((u, None), |(a, b)| (a, Some(b)));
            match (uid.parse::<i64>(), gid.map(str::parse::<i64>)) {
                (Ok(0), _) => {
                    return Err(err(
                        format!("{at}.user"),
                        "the service runs as root",
                        "a non-root UID (user: \"1000:1000\")",
                    ));
                }
                (Ok(u), None) => Some((u, None)),
                (Ok(u), Some(Ok(g))) => Some((u, Some(g))),
                _ => {
                    notes.push(format!("user `{u}` is a name; Kubernetes needs numbers, so the image's user applies"));
                    None
                }
            }
        }
    };
    if s.get("read_only") != Some(&Value::Bool(true)) {
        notes.push(
            "the root filesystem is read-only in the cluster (restricted); /tmp is writable".into(),
        );
    }

    // --- deploy, x-aks-backend ---
    let deploy = s.get("deploy");
    let num = |v: Option<&Value>| {
        v.and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let replicas = num(x.and_then(|x| x.get("replicas")))
        .or_else(|| num(deploy.and_then(|d| d.get("replicas"))))
        .unwrap_or(o.replicas as u64)
        .clamp(1, 1000) as u32;
    let res =
        |kind: &str, key: &str| deploy.and_then(|d| d.pointer(&format!("/resources/{kind}/{key}")));
    // `x-aks-backend.<name>` as written, else Compose's resources (the two kinds in the
    // order that suits the request: CPU from reservations, memory from limits) in
    // Kubernetes units, else the setting's default.
    let quantity = |name: &str,
                    (first, second): (&str, &str),
                    field: &str,
                    convert: fn(&Value) -> Option<String>,
                    default: String| {
        x.and_then(|x| x.get(name))
            .and_then(Value::as_str)
            .map(String::from)
            .or_else(|| res(first, field).or(res(second, field)).and_then(convert))
            .unwrap_or(default)
    };
    let cpu = quantity(
        "cpu",
        ("reservations", "limits"),
        "cpus",
        cpus,
        o.cpu.to_string(),
    );
    let memory = quantity(
        "memory",
        ("limits", "reservations"),
        "memory",
        bytes,
        o.memory.to_string(),
    );
    let autoscaling = match (
        num(x.and_then(|x| x.get("min"))),
        num(x.and_then(|x| x.get("max"))),
    ) {
        (_, None) => None,
        (min, Some(max)) => {
            let min = min.unwrap_or(1);
            if min == 0 || min > max || max > 1000 {
                return Err(err(
                    format!("{at}.x-aks-backend"),
                    format!("min {min} / max {max} is not a range"),
                    "1 <= min <= max <= 1000",
                ));
            }
            Some(Autoscaling {
                min: min as u32,
                max: max as u32,
                cpu_percent: o.cpu_target,
            })
        }
    };
    if let Some(d) = deploy.and_then(Value::as_object) {
        for k in d
            .keys()
            .filter(|k| !matches!(k.as_str(), "replicas" | "resources"))
        {
            notes.push(format!("deploy.{k} not carried over"));
        }
    }

    Ok(Service {
        component: Component {
            name: name.to_string(),
            image: image_ref,
            port: first_port.unwrap_or(8080),
            replicas,
            cpu,
            memory,
            env,
            secret_env,
            health_path: None,
            autoscaling,
        },
        build,
        ports,
        command: cmd,
        args,
        working_dir: s
            .get("working_dir")
            .and_then(Value::as_str)
            .map(String::from),
        probe,
        secret_files,
        config_files,
        scratch,
        read_only: s.get("read_only") == Some(&Value::Bool(true)),
        user,
        stateful: Vec::new(),
        notes,
    })
}

fn depends_on(s: &Map<String, Value>) -> Vec<String> {
    match s.get("depends_on") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(Value::Object(m)) => m.keys().cloned().collect(),
        _ => Vec::new(),
    }
}

/// Whether an env value names `host` as a host (`db`, `db:3306`, `mysql://u@db/x`).
fn mentions_host(v: &str, host: &str) -> bool {
    v.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.'))
        .any(|w| w == host)
}

/// A service's `build:` (short syntax: the context), with its build secrets read from
/// the top-level `secrets` (`file:` relative to the project, or `environment:`).
pub(crate) fn build_spec(
    b: &Value,
    dir: &Path,
    top_secrets: &Map<String, Value>,
    at: &str,
) -> Result<Build, MapError> {
    let empty = Map::new();
    let (context, m) = match b {
        Value::String(c) => (dir.join(c), &empty),
        Value::Object(m) => (
            dir.join(m.get("context").and_then(Value::as_str).unwrap_or(".")),
            m,
        ),
        _ => (dir.to_path_buf(), &empty),
    };
    let args = m
        .get("args")
        .map(|a| match a {
            Value::Object(a) => a
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), String::from),
                    )
                })
                .collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(Value::as_str)
                .map(|kv| match kv.split_once('=') {
                    Some((k, v)) => (k.to_string(), v.to_string()),
                    None => (kv.to_string(), String::new()),
                })
                .collect(),
            _ => Vec::new(),
        })
        .unwrap_or_default();
    let mut secrets = Vec::new();
    for (source, target) in secret_refs(m.get("secrets")) {
        let top = top_secrets.get(&source).and_then(Value::as_object);
        let from = match (
            top.and_then(|t| t.get("file")).and_then(Value::as_str),
            top.and_then(|t| t.get("environment"))
                .and_then(Value::as_str),
        ) {
            (Some(f), _) => BuildSecretFrom::File(dir.join(f)),
            (None, Some(e)) => BuildSecretFrom::Env(e.to_string()),
            (None, None) => {
                return Err(err(
                    format!("{at}.build.secrets"),
                    format!(
                        "build secret `{source}` is not declared under the top-level `secrets` with `file:` or `environment:`"
                    ),
                    "a top-level secret with `file: PATH` or `environment: VAR`",
                ));
            }
        };
        secrets.push(BuildSecret {
            id: target.unwrap_or(source),
            from,
        });
    }
    Ok(Build {
        context,
        dockerfile: m
            .get("dockerfile")
            .and_then(Value::as_str)
            .map(String::from),
        target: m.get("target").and_then(Value::as_str).map(String::from),
        args,
        secrets,
    })
}

/// (type, source, target) of a service volume, short or long syntax.
fn volume_parts(v: &Value) -> (String, String, String) {
    match v {
        Value::String(s) => {
            let mut parts = s.split(':');
            let src = parts.next().unwrap_or_default();
            let Some(target) = parts.next() else {
                return ("volume".into(), String::new(), src.to_string());
            };
            let kind = if src.starts_with(['.', '/', '~']) {
                "bind"
            } else {
                "volume"
            };
            (kind.into(), src.to_string(), target.to_string())
        }
        Value::Object(m) => {
            let get = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
            (get("type"), get("source"), get("target"))
        }
        _ => (String::new(), String::new(), String::new()),
    }
}

/// A bind mount of a file or a flat directory inside the project: ConfigMap entries.
fn bind(source: &str, target: &str, dir: &Path) -> Result<Vec<ConfigFile>, String> {
    if source.starts_with('~') {
        return Err(format!(
            "`{source}` is in a home directory, not the repository"
        ));
    }
    let path = dir.join(source);
    let root = dir.canonicalize().map_err(|e| e.to_string())?;
    let meta = std::fs::symlink_metadata(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let canon = path.canonicalize().map_err(|e| e.to_string())?;
    if !canon.starts_with(&root) {
        return Err(format!("`{source}` is outside the repository"));
    }
    let read = |p: &Path, name: String, target: String| -> Result<ConfigFile, String> {
        let content = fsx::read_to_string(p, "bind-mounted config file", Follow::No, 512 * 1024)
            .map_err(|e| e.to_string())?;
        Ok(ConfigFile {
            source: p.strip_prefix(dir).unwrap_or(p).to_path_buf(),
            key: name,
            content,
            target,
        })
    };
    let key = |n: &str| {
        n.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                    c
                } else {
                    '-'
                }
            })
            .collect::<String>()
    };
    if meta.is_file() {
        let name = path
            .file_name()
            .map(|n| key(&n.to_string_lossy()))
            .unwrap_or_default();
        return Ok(vec![read(&path, name, target.to_string())?]);
    }
    if meta.is_dir() {
        let mut out = Vec::new();
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&path)
            .map_err(|e| e.to_string())?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for e in entries {
            let m = std::fs::symlink_metadata(&e).map_err(|x| x.to_string())?;
            if m.is_dir() {
                return Err(format!(
                    "`{source}` has subdirectories; only flat directories of config files carry over"
                ));
            }
            let n = e
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push(read(
                &e,
                key(&n),
                format!("{}/{n}", target.trim_end_matches('/')),
            )?);
        }
        return Ok(out);
    }
    Err(format!(
        "`{source}` is neither a regular file nor a directory"
    ))
}

fn env_files(v: Option<&Value>) -> Vec<(String, bool)> {
    let one = |v: &Value| match v {
        Value::String(s) => Some((s.clone(), true)),
        Value::Object(m) => Some((
            m.get("path").and_then(Value::as_str)?.to_string(),
            m.get("required").and_then(Value::as_bool).unwrap_or(true),
        )),
        _ => None,
    };
    match v {
        Some(Value::Array(a)) => a.iter().filter_map(one).collect(),
        Some(v) => one(v).into_iter().collect(),
        None => Vec::new(),
    }
}

/// `"8080"`, `"8000-8002"` -> ports.
fn range(s: &str) -> Result<Vec<u16>, String> {
    let bad = || format!("`{s}` is not a port or port range");
    let (a, b) = s.split_once('-').unwrap_or((s, s));
    let a: u16 = a.trim().parse().map_err(|_| bad())?;
    let b: u16 = b.trim().parse().map_err(|_| bad())?;
    if a == 0 || b < a || b - a > 100 {
        return Err(bad());
    }
    Ok((a..=b).collect())
}

/// A `ports` entry: `[[IP:]HOST:]CONTAINER[/PROTO]` or the long syntax.
pub fn parse_port(v: &Value) -> Result<Vec<Port>, String> {
    match v {
        Value::Number(n) => Ok(range(&n.to_string())?
            .into_iter()
            .map(|port| Port {
                port,
                protocol: "TCP".into(),
                published: false,
            })
            .collect()),
        Value::String(s) => {
            let (spec, proto) = s.rsplit_once('/').unwrap_or((s, "tcp"));
            let container = spec.rsplit(':').next().unwrap_or(spec);
            let published = spec.contains(':');
            let proto = proto.to_ascii_uppercase();
            if proto != "TCP" && proto != "UDP" {
                return Err(format!("protocol `{proto}` of `{s}`"));
            }
            Ok(range(container)?
                .into_iter()
                .map(|port| Port {
                    port,
                    protocol: proto.clone(),
                    published,
                })
                .collect())
        }
        Value::Object(m) => {
            let t = m
                .get("target")
                .map(|t| t.as_str().map_or_else(|| t.to_string(), String::from))
                .unwrap_or_default();
            let proto = m
                .get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("tcp")
                .to_ascii_uppercase();
            Ok(range(&t)?
                .into_iter()
                .map(|port| Port {
                    port,
                    protocol: proto.clone(),
                    published: m.contains_key("published"),
                })
                .collect())
        }
        _ => Err("not a port".into()),
    }
}

/// A `command` / `entrypoint`: a list as it is, a string split as a shell would.
fn command(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::Array(a) => Some(
            a.iter()
                .map(|x| x.as_str().map_or_else(|| x.to_string(), String::from))
                .collect(),
        ),
        Value::String(s) => Some(shell_words(s)),
        _ => None,
    }
}

/// Splits like `sh` (quotes and backslashes), without expansion.
fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut any = false;
    let mut chars = s.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => cur.extend(chars.next()),
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                any = true;
            }
            (None, '\\') => cur.extend(chars.next()),
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Compose durations (`1m30s`, `500ms`, `10s`) in whole seconds (at least 1).
fn seconds(v: Option<&Value>, default: u64) -> u64 {
    let Some(s) = v.and_then(Value::as_str) else {
        return default;
    };
    let mut total = 0f64;
    let mut num = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            num.push(c);
            continue;
        }
        let mut unit = c.to_string();
        while let Some(&n) = chars.peek() {
            if n.is_ascii_alphabetic() {
                unit.push(n);
                chars.next();
            } else {
                break;
            }
        }
        let n: f64 = num.parse().unwrap_or(0.0);
        num.clear();
        total += n * match unit.as_str() {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 0.001,
            "us" => 0.000_001,
            _ => 0.0,
        };
    }
    (total.ceil() as u64).max(if total > 0.0 { 1 } else { 0 })
}

/// A healthcheck as a probe: a recognisable `curl -f` / `wget` of localhost becomes
/// `httpGet`, anything else `exec`.
pub fn healthcheck(h: &Value, first_port: Option<u16>) -> Option<Probe> {
    if h.get("disable") == Some(&Value::Bool(true)) {
        return None;
    }
    let words = match h.get("test")? {
        Value::String(s) => shell_words(s),
        Value::Array(a) => {
            let a: Vec<String> = a
                .iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect();
            match a.first().map(String::as_str) {
                Some("NONE") => return None,
                Some("CMD") => a.get(1..).unwrap_or_default().to_vec(),
                Some("CMD-SHELL") => {
                    vec![
                        "sh".into(),
                        "-c".into(),
                        a.get(1..).unwrap_or_default().join(" "),
                    ]
                }
                _ => a,
            }
        }
        _ => return None,
    };
    let shell_text = if words.first().map(String::as_str) == Some("sh")
        && words.get(1).map(String::as_str) == Some("-c")
    {
        words.get(2).cloned().unwrap_or_default()
    } else {
        words.join(" ")
    };
    let action = http_of(&shell_text, first_port).unwrap_or_else(|| ProbeAction::Exec {
        command: if h.get("test").is_some_and(Value::is_string) {
            vec!["sh".into(), "-c".into(), shell_text.clone()]
        } else {
            words
        },
    });
    Some(Probe {
        action,
        period_seconds: seconds(h.get("interval"), 30).max(1),
        timeout_seconds: seconds(h.get("timeout"), 30).max(1),
        failure_threshold: h.get("retries").and_then(Value::as_u64).unwrap_or(3).max(1),
        initial_delay_seconds: seconds(h.get("start_period"), 0),
    })
}

fn http_of(text: &str, first_port: Option<u16>) -> Option<ProbeAction> {
    let words = shell_words(text.split("||").next().unwrap_or(text));
    let tool = words.first()?.rsplit('/').next()?.to_string();
    if tool != "curl" && tool != "wget" {
        return None;
    }
    let url = words.iter().skip(1).find(|w| w.starts_with("http://"))?;
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = rest
        .split_once('/')
        .map_or((rest, "/".to_string()), |(h, p)| (h, format!("/{p}")));
    let (host, port) = hostport
        .split_once(':')
        .map_or((hostport, None), |(h, p)| (h, p.parse().ok()));
    if !matches!(host, "localhost" | "127.0.0.1" | "0.0.0.0") {
        return None;
    }
    let port = port.or(first_port).unwrap_or(80);
    Some(ProbeAction::Http { path, port })
}

/// Compose `cpus` (`0.5`, `"1.5"`) as a Kubernetes quantity (`500m`).
fn cpus(v: &Value) -> Option<String> {
    let f: f64 = v
        .as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))?;
    (f > 0.0).then(|| format!("{}m", (f * 1000.0).round() as u64))
}

/// Compose byte values (`512m`, `1g`, `1024k`, `1048576`) as Kubernetes quantities.
fn bytes(v: &Value) -> Option<String> {
    if let Some(n) = v.as_u64() {
        return Some(n.to_string());
    }
    let s = v.as_str()?.trim().to_ascii_lowercase();
    let s = s
        .strip_suffix('b')
        .filter(|x| x.ends_with(['k', 'm', 'g']))
        .unwrap_or(&s);
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().ok()?;
    Some(match unit {
        "" | "b" => n.to_string(),
        "k" => format!("{n}Ki"),
        "m" => format!("{n}Mi"),
        "g" => format!("{n}Gi"),
        _ => return None,
    })
}

/// A service's `secrets:` entries, short (`- name`) or long (`- source: name, target: path`)
/// syntax, as (source, target).
fn secret_refs(list: Option<&Value>) -> Vec<(String, Option<String>)> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| match v {
            Value::String(n) => Some((n.clone(), None)),
            Value::Object(m) => Some((
                m.get("source")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
                m.get("target").and_then(Value::as_str).map(String::from),
            )),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_and_long_port_syntax() {
        let p = parse_port(&json!("127.0.0.1:8080:80/udp")).unwrap();
        assert_eq!(
            (p[0].port, p[0].protocol.as_str(), p[0].published),
            (80, "UDP", true)
        );
        assert_eq!(parse_port(&json!("3000-3001")).unwrap().len(), 2);
        let l = parse_port(&json!({"target": 8080, "published": "80"})).unwrap();
        assert_eq!((l[0].port, l[0].published), (8080, true));
        assert!(parse_port(&json!("x:y")).is_err());
    }

    #[test]
    fn curl_and_wget_healthchecks_become_http_probes() {
        let p = healthcheck(&json!({"test": ["CMD", "curl", "-f", "http://localhost:8080/healthz"], "interval": "1m30s", "timeout": "5s", "retries": 5, "start_period": "20s"}), None).unwrap();
        assert_eq!(
            p.action,
            ProbeAction::Http {
                path: "/healthz".into(),
                port: 8080
            }
        );
        assert_eq!(
            (
                p.period_seconds,
                p.timeout_seconds,
                p.failure_threshold,
                p.initial_delay_seconds
            ),
            (90, 5, 5, 20)
        );
        let w = healthcheck(
            &json!({"test": "wget -qO- http://127.0.0.1/ready || exit 1"}),
            Some(3000),
        )
        .unwrap();
        assert_eq!(
            w.action,
            ProbeAction::Http {
                path: "/ready".into(),
                port: 3000
            }
        );
        let e = healthcheck(&json!({"test": ["CMD-SHELL", "pg_isready -U app"]}), None).unwrap();
        assert_eq!(
            e.action,
            ProbeAction::Exec {
                command: vec!["sh".into(), "-c".into(), "pg_isready -U app".into()]
            }
        );
        assert!(healthcheck(&json!({"test": ["NONE"]}), None).is_none());
        assert!(healthcheck(&json!({"test": ["CMD", "true"], "disable": true}), None).is_none());
    }

    #[test]
    fn commands_split_as_a_shell_would() {
        assert_eq!(
            shell_words(r#"gunicorn -b "0.0.0.0:8000" 'app:make()' a\ b"#),
            vec!["gunicorn", "-b", "0.0.0.0:8000", "app:make()", "a b"]
        );
    }

    #[test]
    fn compose_quantities_become_kubernetes_quantities() {
        assert_eq!(cpus(&json!("0.5")).unwrap(), "500m");
        assert_eq!(cpus(&json!(2)).unwrap(), "2000m");
        assert_eq!(bytes(&json!("512M")).unwrap(), "512Mi");
        assert_eq!(bytes(&json!("1gb")).unwrap(), "1Gi");
        assert!(bytes(&json!("lots")).is_none());
    }

    #[test]
    fn a_host_is_recognised_inside_urls_and_pairs() {
        assert!(mentions_host("mysql://app@db:3306/shop", "db"));
        assert!(mentions_host("db", "db"));
        assert!(!mentions_host("dbx", "db"));
    }
}
