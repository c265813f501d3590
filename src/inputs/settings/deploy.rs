//! The deploy step's settings. Everything a deploy could trip over later (an image
//! without a digest, a bad CIDR, a missing manifest file, a name Kubernetes refuses) is
//! refused here, with exit 2, before anything talks to the cluster or Azure.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::env::Env;
use crate::inputs::{InputError, Resolved, key, parse};
use crate::model::image_ref::ImageRef;
use crate::model::pod_security::Level;

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Autoscaling {
    pub min: u32,
    pub max: u32,
    pub cpu_percent: u32,
}

/// One generated workload: Deployment + Service (+ HPA).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Component {
    pub name: String,
    pub image: ImageRef,
    pub port: u16,
    pub replicas: u32,
    pub cpu: String,
    pub memory: String,
    pub env: Vec<(String, String)>,
    /// (env var, Key Vault secret name), read through one ExternalSecret.
    pub secret_env: Vec<(String, String)>,
    pub health_path: Option<String>,
    pub autoscaling: Option<Autoscaling>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ManifestSource {
    Generated {
        components: Vec<Component>,
        ingress_class: String,
        cluster_issuer: String,
        /// `--tls wildcard`: the copy of infra's wildcard certificate, no Certificate of its own.
        wildcard_tls: bool,
        secret_store: String,
        hardening: Hardening,
    },
    User {
        paths: Vec<PathBuf>,
        images: Vec<ImageRef>,
    },
}

/// How generated pods are locked down: the restricted Pod Security Standard by default,
/// each part relaxable by its own setting (an image that must run as root, write to its
/// root filesystem, bind a low port). The user's own manifests are never rewritten.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Hardening {
    pub run_as_non_root: bool,
    pub read_only_root_filesystem: bool,
    pub allow_privilege_escalation: bool,
    /// `RuntimeDefault` or `Unconfined`.
    pub seccomp_profile: String,
    /// Capabilities added after dropping ALL (restricted allows only NET_BIND_SERVICE).
    pub capabilities_add: Vec<String>,
    pub automount_service_account_token: bool,
    /// None: no NetworkPolicy is generated.
    pub network_policy: Option<IngressSources>,
}

impl Hardening {
    /// The restricted defaults, with the ingress controller in `ingress_namespace`.
    pub fn restricted(ingress_namespace: &str) -> Hardening {
        Hardening {
            run_as_non_root: true,
            read_only_root_filesystem: true,
            allow_privilege_escalation: false,
            seccomp_profile: "RuntimeDefault".into(),
            capabilities_add: Vec::new(),
            automount_service_account_token: false,
            network_policy: Some(IngressSources {
                namespace: ingress_namespace.into(),
                cidrs: Vec::new(),
            }),
        }
    }
}

/// Where the NetworkPolicy admits traffic to the first component from (besides the
/// app's own components): the ingress controller's namespace, and address ranges
/// outside the cluster (Application Gateway sends straight to pod IPs from its subnet).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct IngressSources {
    pub namespace: String,
    pub cidrs: Vec<Cidr>,
}

/// The namespace an ingress class's controller runs in, for the classes AKS installs.
pub fn ingress_controller_namespace(class: &str) -> Option<&'static str> {
    match class {
        // The AGIC add-on (`ingress-appgw-deployment`).
        "azure-application-gateway" => Some("kube-system"),
        // The application routing add-on (managed NGINX).
        "webapprouting.kubernetes.azure.com" => Some("app-routing-system"),
        // The ingress-nginx Helm chart's usual namespace.
        "nginx" => Some("ingress-nginx"),
        _ => None,
    }
}

/// A validated CIDR (`10.0.0.0/8`, `2001:db8::/32`, or a bare address = /32, /128).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Cidr(pub String);

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = addr.parse().ok()?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len: u32 = match len {
            Some(l) if !l.is_empty() && l.chars().all(|c| c.is_ascii_digit()) => l.parse().ok()?,
            Some(_) => return None,
            None => max,
        };
        if len > max {
            return None;
        }
        // Host bits must be zero, as NSG rules and `ip route` expect.
        let bits: u128 = match ip {
            IpAddr::V4(v) => u32::from(v) as u128,
            IpAddr::V6(v) => u128::from(v),
        };
        let host_bits = max - len;
        if host_bits > 0 && bits & ((1u128 << host_bits) - 1) != 0 {
            return None;
        }
        Some(Cidr(format!("{ip}/{len}")))
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct DeploySettings {
    pub kubeconfig: Option<PathBuf>,
    pub namespace: String,
    pub source: ManifestSource,
    pub host: Option<String>,
    pub timeout: Duration,
    pub no_rollback: bool,
    pub max_restarts: u32,
    /// `minReadySeconds` of generated workloads.
    pub min_ready_seconds: u32,
    /// How long new pods are watched after their workload is available.
    pub settle: Duration,
    /// Deadline for one pod log fetch.
    pub log_timeout: Duration,
    pub allow_cidrs: Vec<Cidr>,
    pub wait_certificate: bool,
    pub dry_run: bool,
    pub outputs_file: Option<PathBuf>,
    /// Sign-in for the Azure side (DNS, NSG); used only when a target below is known.
    pub azure: super::AzureSettings,
    /// Where the app's A record goes (from `refer`, or given).
    pub dns: Option<DnsTarget>,
    /// The gateway's NSG that gets the TCP 443 rule (from `refer`, or given).
    pub nsg: Option<NsgTarget>,
    /// The `pod-security.kubernetes.io/enforce` level of a namespace the deploy creates.
    pub pod_security: Level,
    /// `--compose`: the application the components came from (ports, probes, mounts).
    pub compose: Option<crate::inputs::compose::ComposeApp>,
}

/// The A record: `name` in `zone`, pointing at the gateway's public IP.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DnsTarget {
    pub subscription_id: String,
    pub resource_group: String,
    pub zone: String,
    /// Relative to the zone (`api`, or `@` for the apex).
    pub name: String,
    pub gateway_ip: std::net::Ipv4Addr,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct NsgTarget {
    pub subscription_id: String,
    pub resource_group: String,
    pub name: String,
}

/// A DNS-1123 label: what Kubernetes accepts as a namespace or Service name.
pub fn is_dns_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_fqdn(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    s.len() <= 253
        && s.split('.').count() >= 2
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
}

fn is_quantity(s: &str) -> bool {
    let digits_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    !num.is_empty()
        && num.parse::<f64>().is_ok()
        && ["", "m", "k", "M", "G", "T", "Ki", "Mi", "Gi", "Ti"].contains(&unit)
}

fn is_env_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(|c: char| c.is_ascii_digit())
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One `--component` line: `name=..,image=..[,port=..][,replicas=..][,cpu=..][,memory=..]
/// [,health-path=..][,min-replicas=..,max-replicas=..][,env.NAME=VALUE]`; port, replicas and
/// resources not given are the first component's.
fn component(input: &str, line: &str, first: &Component) -> Result<Component, InputError> {
    let expected = "name=NAME,image=REPO@sha256:DIGEST[,port=N][,replicas=N][,cpu=Q][,memory=Q][,health-path=/PATH][,min-replicas=N,max-replicas=N][,env.NAME=VALUE]";
    let (mut min, mut max) = (None, None);
    let mut c = Component {
        name: String::new(),
        image: first.image.clone(),
        port: first.port,
        replicas: first.replicas,
        cpu: first.cpu.clone(),
        memory: first.memory.clone(),
        env: Vec::new(),
        secret_env: Vec::new(),
        health_path: None,
        autoscaling: None,
    };
    let mut has_image = false;
    for part in line.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(InputError::invalid(
                input,
                format!("`{part}` is not KEY=VALUE"),
                expected,
            ));
        };
        let bad = |what: &str| {
            InputError::invalid(
                input,
                format!("`{v}` is not {what} (in `{line}`)"),
                expected,
            )
        };
        match k.trim() {
            "name" if is_dns_label(v) => c.name = v.to_string(),
            "name" => return Err(bad("a valid name")),
            "image" => {
                c.image = image(input, v)?;
                has_image = true;
            }
            "port" => c.port = in_line(input, line, k, v, PORT)? as u16,
            "replicas" => c.replicas = in_line(input, line, k, v, REPLICAS)? as u32,
            "cpu" | "memory" if !is_quantity(v) => return Err(bad("a Kubernetes quantity")),
            "cpu" => c.cpu = v.to_string(),
            "memory" => c.memory = v.to_string(),
            "health-path" if v.starts_with('/') => c.health_path = Some(v.to_string()),
            "health-path" => return Err(bad("an absolute path")),
            "min-replicas" => min = Some(in_line(input, line, k, v, REPLICAS)? as u32),
            "max-replicas" => max = Some(in_line(input, line, k, v, REPLICAS)? as u32),
            k if k.starts_with("env.") && is_env_name(&k[4..]) => {
                c.env.push((k[4..].to_string(), v.to_string()));
            }
            other => {
                return Err(InputError::invalid(
                    input,
                    format!("unknown key `{other}` in `{line}`"),
                    expected,
                ));
            }
        }
    }
    if let Some(max) = max {
        let min = min.unwrap_or(1);
        if min == 0 || min > max {
            return Err(InputError::invalid(
                input,
                format!("min {min} / max {max} is not a range (in `{line}`)"),
                "1 <= min-replicas <= max-replicas",
            ));
        }
        c.autoscaling = Some(Autoscaling {
            min,
            max,
            cpu_percent: first.autoscaling.as_ref().map_or(70, |a| a.cpu_percent),
        });
    }
    if c.name.is_empty() || !has_image {
        return Err(InputError::invalid(
            input,
            format!("`{line}` needs both name= and image="),
            expected,
        ));
    }
    Ok(c)
}

/// The documented ranges (the settings' help in the catalog states them).
pub const PORT: (u64, u64) = (1, 65_535);
pub const REPLICAS: (u64, u64) = (1, 1_000);
pub const CPU_TARGET: (u64, u64) = (1, 1_000);
pub const MAX_RESTARTS: (u64, u64) = (0, 1_000);
/// `log-timeout`: long enough for a slow kubelet, short enough not to hold up the verdict.
pub const LOG_TIMEOUT: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(300));
pub const TIMEOUT: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(24 * 3600));

/// A number inside a `--component` line, in `range`.
fn in_line(
    input: &str,
    line: &str,
    key: &str,
    v: &str,
    range: (u64, u64),
) -> Result<u64, InputError> {
    parse::number_in(input, v, range.0, range.1).map_err(|e| match e {
        InputError::Invalid {
            problem, expected, ..
        } => InputError::invalid(input, format!("{key}: {problem} (in `{line}`)"), expected),
        e => e,
    })
}

/// A Key Vault secret name: 1-127 letters, digits and `-`.
pub fn is_key_vault_secret_name(s: &str) -> bool {
    (1..=127).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn image(input: &str, v: &str) -> Result<ImageRef, InputError> {
    let r = ImageRef::parse(v).map_err(|e| {
        InputError::invalid(
            input,
            e.to_string(),
            "an image reference REPOSITORY@sha256:DIGEST",
        )
    })?;
    if r.digest.is_none() {
        return Err(InputError::invalid(
            input,
            format!("`{v}` has no digest; deploys are by digest only"),
            "REPOSITORY@sha256:DIGEST (the `digest` output of the build step)",
        ));
    }
    Ok(r)
}

fn pairs(
    r: &Resolved,
    name: impl Into<key::Key> + Copy,
    what: &str,
) -> Result<Vec<(String, String)>, InputError> {
    let mut out = Vec::new();
    for line in r.list(name) {
        let input = r.one(name).map(|(_, i)| i).unwrap_or_default();
        let (k, v) = line.split_once('=').ok_or_else(|| {
            InputError::invalid(
                &input,
                format!("`{line}` has no `=`"),
                format!("NAME={what}"),
            )
        })?;
        let k = k.trim();
        let valid = !k.is_empty()
            && !k.starts_with(|c: char| c.is_ascii_digit())
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(InputError::invalid(
                input,
                format!("`{k}` is not an environment variable name"),
                "letters, digits and `_`, not starting with a digit",
            ));
        }
        out.push((k.to_string(), v.trim().to_string()));
    }
    Ok(out)
}

/// `--secret-env NAME=KEY_VAULT_SECRET`: the value is a Key Vault secret name (it
/// becomes the ExternalSecret's remote key; `../x` is no secret name).
fn secret_env(r: &Resolved) -> Result<Vec<(String, String)>, InputError> {
    let pairs = pairs(r, key::SECRET_ENV, "KEY_VAULT_SECRET_NAME")?;
    for (k, v) in &pairs {
        if !is_key_vault_secret_name(v) {
            let input = r.one(key::SECRET_ENV).map(|(_, i)| i).unwrap_or_default();
            return Err(InputError::invalid(
                input,
                format!("`{v}` (for {k}) is not a Key Vault secret name"),
                "NAME=SECRET where SECRET is 1-127 letters, digits and `-`",
            ));
        }
    }
    Ok(pairs)
}

fn number(
    r: &Resolved,
    name: impl Into<key::Key> + Copy,
    range: (u64, u64),
) -> Result<Option<u64>, InputError> {
    r.one(name)
        .map(|(v, i)| parse::number_in(&i, v, range.0, range.1))
        .transpose()
}

/// A whole number of seconds no larger than `max` (Kubernetes' int32 fields, and a
/// window that still fits a deploy).
fn seconds_at_most(
    r: &Resolved,
    name: impl Into<key::Key> + Copy,
    max: u64,
) -> Result<Option<u64>, InputError> {
    let Some(n) = number(r, name, (0, max))? else {
        return Ok(None);
    };
    if n > max {
        let input = r.input(name);
        return Err(InputError::invalid(
            input,
            format!("{n} seconds is more than {max}"),
            format!("a whole number of seconds from 0 to {max}"),
        ));
    }
    Ok(Some(n))
}

impl DeploySettings {
    pub fn resolve(r: &Resolved, env: &Env) -> Result<Self, InputError> {
        let (ns, ns_input) = r.value(key::NAMESPACE);
        if !is_dns_label(ns) {
            return Err(InputError::invalid(
                ns_input,
                format!("`{ns}` is not a valid namespace name"),
                "lowercase letters, digits and `-`, at most 63 characters",
            ));
        }
        let host = match r.one(key::HOST) {
            None => None,
            Some((h, i)) => {
                if !is_fqdn(h) {
                    return Err(InputError::invalid(
                        i,
                        format!("`{h}` is not a fully qualified domain name"),
                        "a name like api.example.com",
                    ));
                }
                Some(h.trim_end_matches('.').to_ascii_lowercase())
            }
        };
        let mut allow_cidrs = Vec::new();
        for c in r.list(key::ALLOW_CIDR) {
            let input = r.one(key::ALLOW_CIDR).map(|(_, i)| i).unwrap_or_default();
            allow_cidrs.push(Cidr::parse(&c).ok_or_else(|| {
                InputError::invalid(
                    input,
                    format!("`{c}` is not a CIDR"),
                    "a comma-separated list like 203.0.113.0/24,2001:db8::/32 (host bits zero)",
                )
            })?);
        }
        let timeout = {
            let (v, i) = r.value(key::TIMEOUT);
            parse::duration_in(&i, v, TIMEOUT.0, TIMEOUT.1)?
        };
        let max_restarts = number(r, key::MAX_RESTARTS, MAX_RESTARTS)?.unwrap_or(0) as u32;
        let min_ready_seconds =
            seconds_at_most(r, key::MIN_READY_SECONDS, 3600)?.unwrap_or(10) as u32;
        let settle =
            Duration::from_secs(seconds_at_most(r, key::SETTLE_SECONDS, 3600)?.unwrap_or(10));
        let log_timeout = {
            let (v, i) = r.value(key::LOG_TIMEOUT);
            parse::duration_in(&i, v, LOG_TIMEOUT.0, LOG_TIMEOUT.1)?
        };

        let manifests = r.list(key::MANIFESTS);
        let compose = crate::inputs::compose::settings::resolve(r, env)?;
        let source = if let Some(app) = &compose {
            let ingress_class = r.text(key::INGRESS_CLASS);
            let hardening = hardening(r, &ingress_class)?;
            ManifestSource::Generated {
                components: app.components(),
                ingress_class,
                cluster_issuer: r.text(key::CLUSTER_ISSUER),
                secret_store: r.text(key::SECRET_STORE),
                hardening,
                wildcard_tls: wildcard_tls(r, host.as_deref())?,
            }
        } else if !manifests.is_empty() {
            let input = r.one(key::MANIFESTS).map(|(_, i)| i).unwrap_or_default();
            let mut paths = Vec::new();
            for m in manifests {
                let p = env.resolve_path(&m);
                if !p.exists() {
                    return Err(InputError::invalid(
                        &input,
                        format!("{} does not exist", p.display()),
                        "YAML files or directories of them",
                    ));
                }
                paths.push(p);
            }
            let mut images = Vec::new();
            if let Some((v, i)) = r.one(key::IMAGE) {
                images.push(image(&i, v)?);
            }
            for v in r.list(key::IMAGES) {
                let i = r.one(key::IMAGES).map(|(_, i)| i).unwrap_or_default();
                images.push(image(&i, &v)?);
            }
            ManifestSource::User { paths, images }
        } else {
            let (v, i) = r.one(key::IMAGE).ok_or_else(|| {
                InputError::Missing(
                    "nothing to deploy".into(),
                    "give --image REPOSITORY@sha256:DIGEST (generated manifests) or --manifests PATH"
                        .into(),
                )
            })?;
            let img = image(&i, v)?;
            let name = match r.one(key::APP) {
                Some((a, i)) => {
                    if !is_dns_label(a) {
                        return Err(InputError::invalid(
                            i,
                            format!("`{a}` is not a valid application name"),
                            "lowercase letters, digits and `-`, at most 63 characters",
                        ));
                    }
                    a.to_string()
                }
                None => {
                    let last = img.repository.rsplit('/').next().unwrap_or("app");
                    if !is_dns_label(last) {
                        return Err(InputError::Missing(
                            format!("cannot name the app after `{last}`"),
                            "give --app NAME".into(),
                        ));
                    }
                    last.to_string()
                }
            };
            let port = {
                let (v, i) = r.value(key::PORT);
                parse::number_in(&i, v, PORT.0, PORT.1)? as u16
            };
            let replicas = number(r, key::REPLICAS, REPLICAS)?.unwrap_or(2) as u32;
            let quantity = |q| {
                let (v, i) = r.value(q);
                if !is_quantity(v) {
                    return Err(InputError::invalid(
                        i,
                        format!("`{v}` is not a Kubernetes quantity"),
                        "a quantity like 250m, 0.5, 256Mi or 1Gi",
                    ));
                }
                Ok(v.to_string())
            };
            let cpu = quantity(key::CPU)?;
            let memory = quantity(key::MEMORY)?;
            // Checked even without autoscaling: a wrong value is never silently unused.
            let cpu_target = number(r, key::CPU_TARGET, CPU_TARGET)?.unwrap_or(70) as u32;
            let autoscaling = match (
                number(r, key::MIN_REPLICAS, REPLICAS)?,
                number(r, key::MAX_REPLICAS, REPLICAS)?,
            ) {
                (_, None) => None,
                (min, Some(max)) => {
                    let min = min.unwrap_or(1);
                    if min == 0 || min > max {
                        let i = r.input(key::MAX_REPLICAS);
                        return Err(InputError::invalid(
                            i,
                            format!("min {min} / max {max} is not a range"),
                            "1 <= --min-replicas <= --max-replicas",
                        ));
                    }
                    Some(Autoscaling {
                        min: min as u32,
                        max: max as u32,
                        cpu_percent: cpu_target,
                    })
                }
            };
            let health_path = match r.one(key::HEALTH_PATH) {
                Some((p, i)) if !p.starts_with('/') => {
                    return Err(InputError::invalid(
                        i,
                        format!("`{p}` is not an absolute path"),
                        "a path like /healthz",
                    ));
                }
                other => other.map(|(p, _)| p.to_string()),
            };
            let first = Component {
                name,
                image: img,
                port,
                replicas,
                cpu,
                memory,
                env: pairs(r, key::ENV, "VALUE")?,
                secret_env: secret_env(r)?,
                health_path,
                autoscaling,
            };
            let mut components = vec![first.clone()];
            for line in r.list(key::COMPONENT) {
                let input = r.one(key::COMPONENT).map(|(_, i)| i).unwrap_or_default();
                let c = component(&input, &line, &first)?;
                if components.iter().any(|o| o.name == c.name) {
                    return Err(InputError::invalid(
                        input,
                        format!("two components are named `{}`", c.name),
                        "a distinct name per component",
                    ));
                }
                components.push(c);
            }
            let ingress_class = r.text(key::INGRESS_CLASS);
            let hardening = hardening(r, &ingress_class)?;
            let wildcard_tls = wildcard_tls(r, host.as_deref())?;
            ManifestSource::Generated {
                components,
                ingress_class,
                wildcard_tls,
                cluster_issuer: r.text(key::CLUSTER_ISSUER),
                secret_store: r.text(key::SECRET_STORE),
                hardening,
            }
        };

        let kubeconfig = r.path(env, key::KUBECONFIG).or_else(|| {
            env.get("KUBECONFIG")
                .and_then(|k| k.split(':').find(|p| !p.is_empty()))
                .map(|p| env.resolve_path(p))
                .or_else(|| {
                    env.get("HOME")
                        .map(|h| PathBuf::from(h).join(".kube/config"))
                })
        });
        let dry_run = r.bool(key::DRY_RUN)?;
        if !dry_run {
            match &kubeconfig {
                Some(p) if p.is_file() => {}
                Some(p) => {
                    return Err(InputError::invalid(
                        r.one(key::KUBECONFIG)
                            .map(|(_, i)| i)
                            .unwrap_or_else(|| "KUBECONFIG".into()),
                        format!("{} is not a file", p.display()),
                        "a kubeconfig (the refer step writes one)",
                    ));
                }
                None => {
                    return Err(InputError::Missing(
                        "no kubeconfig".into(),
                        "give --kubeconfig PATH or set KUBECONFIG".into(),
                    ));
                }
            }
        }
        let azure = super::AzureSettings::resolve(r, env)?;
        let (dns, nsg) = azure_targets(r, &azure, host.as_deref())?;
        // The seed's "restrict who can reach the app" must never be a silent no-op.
        if !dry_run && !allow_cidrs.is_empty() && nsg.is_none() {
            let input = r.input(key::ALLOW_CIDR);
            return Err(InputError::invalid(
                input,
                "the allow-list cannot be applied: the gateway's NSG is unknown",
                "--host with the gateway NSG from `refer` (or --gateway-nsg-name and --subscription-id)",
            ));
        }
        Ok(DeploySettings {
            kubeconfig,
            namespace: ns.to_string(),
            source,
            host,
            timeout,
            no_rollback: r.bool(key::NO_ROLLBACK)?,
            max_restarts,
            min_ready_seconds,
            settle,
            log_timeout,
            allow_cidrs,
            wait_certificate: r.bool(key::WAIT_CERTIFICATE)?,
            dry_run,
            outputs_file: r.path(env, key::OUTPUTS_FILE),
            azure,
            dns,
            nsg,
            pod_security: pod_security_level(r)?,
            compose,
        })
    }
}

fn pod_security_level(r: &Resolved) -> Result<Level, InputError> {
    let (v, i) = r.value(key::POD_SECURITY);
    Level::parse(v).ok_or_else(|| {
        InputError::invalid(
            i,
            format!("`{v}` is not a Pod Security Standard level"),
            "restricted, baseline or privileged",
        )
    })
}

/// The pod hardening settings of generated manifests (see [`Hardening`]).
fn hardening(r: &Resolved, ingress_class: &str) -> Result<Hardening, InputError> {
    let seccomp_profile = {
        let (v, i) = r.value(key::SECCOMP_PROFILE);
        if !matches!(v, "RuntimeDefault" | "Unconfined") {
            return Err(InputError::invalid(
                i,
                format!("`{v}` is not a seccomp profile type"),
                "RuntimeDefault or Unconfined",
            ));
        }
        v.to_string()
    };
    let mut capabilities_add = Vec::new();
    for c in r.list(key::CAPABILITIES_ADD) {
        let input = r
            .one(key::CAPABILITIES_ADD)
            .map(|(_, i)| i)
            .unwrap_or_default();
        let name = c.trim();
        let valid = !name.is_empty()
            && !name.starts_with("CAP_")
            && name
                .chars()
                .all(|ch| ch.is_ascii_uppercase() || ch.is_ascii_digit() || ch == '_');
        if !valid {
            return Err(InputError::invalid(
                input,
                format!("`{name}` is not a Linux capability name"),
                "names like NET_BIND_SERVICE (upper case, without CAP_)",
            ));
        }
        if !capabilities_add.iter().any(|x| x == name) {
            capabilities_add.push(name.to_string());
        }
    }
    let network_policy = if r.bool(key::NETWORK_POLICY)? {
        let namespace = match r.one(key::INGRESS_NAMESPACE) {
            Some((ns, i)) if !is_dns_label(ns) => {
                return Err(InputError::invalid(
                    i,
                    format!("`{ns}` is not a valid namespace name"),
                    "lowercase letters, digits and `-`, at most 63 characters",
                ));
            }
            Some((ns, _)) => ns.to_string(),
            None => ingress_controller_namespace(ingress_class)
                .ok_or_else(|| {
                    InputError::Missing(
                        format!(
                            "the NetworkPolicy needs the namespace of the `{ingress_class}` ingress controller"
                        ),
                        "give --ingress-namespace NAMESPACE, or --network-policy false".into(),
                    )
                })?
                .to_string(),
        };
        let mut cidrs = Vec::new();
        for c in r.list(key::INGRESS_CIDR) {
            let input = r.one(key::INGRESS_CIDR).map(|(_, i)| i).unwrap_or_default();
            cidrs.push(Cidr::parse(&c).ok_or_else(|| {
                InputError::invalid(
                    input,
                    format!("`{c}` is not a CIDR"),
                    "a list like 10.1.0.0/24 (the Application Gateway's subnet; host bits zero)",
                )
            })?);
        }
        Some(IngressSources { namespace, cidrs })
    } else {
        None
    };
    Ok(Hardening {
        run_as_non_root: r.bool(key::RUN_AS_NON_ROOT)?,
        read_only_root_filesystem: r.bool(key::READ_ONLY_ROOT_FILESYSTEM)?,
        allow_privilege_escalation: r.bool(key::ALLOW_PRIVILEGE_ESCALATION)?,
        seccomp_profile,
        capabilities_add,
        automount_service_account_token: r.bool(key::AUTOMOUNT_SERVICE_ACCOUNT_TOKEN)?,
        network_policy,
    })
}

/// The DNS record and NSG rule targets, when the zone / NSG are known. A zone that
/// does not contain the host, a zone without the gateway's IP, or a zone / NSG without
/// the subscription to find it in, is bad input.
fn azure_targets(
    r: &Resolved,
    azure: &super::AzureSettings,
    host: Option<&str>,
) -> Result<(Option<DnsTarget>, Option<NsgTarget>), InputError> {
    let Some(host) = host else {
        return Ok((None, None));
    };
    let subscription = azure.subscription_id.clone();
    if subscription.is_none()
        && (r.one(key::DNS_ZONE).is_some() || r.one(key::GATEWAY_NSG_NAME).is_some())
    {
        return Err(InputError::Missing(
            "a DNS zone or gateway NSG was given but not the Azure subscription they are in"
                .into(),
            "pass --subscription-id (Azure Pipelines: service-connection-id), or run `refer` first (its outputs feed deploy)".into(),
        ));
    }
    let group = |name: key::Key| r.string(name).or_else(|| r.string(key::RESOURCE_GROUP));
    let dns = match (r.one(key::DNS_ZONE), &subscription) {
        (Some((zone, zone_input)), Some(sub)) => {
            let zone = zone.trim_end_matches('.').to_ascii_lowercase();
            let host_l = host.to_ascii_lowercase();
            let name = if host_l == zone {
                "@".to_string()
            } else if let Some(n) = host_l.strip_suffix(&format!(".{zone}")) {
                n.to_string()
            } else {
                return Err(InputError::invalid(
                    zone_input,
                    format!("the zone `{zone}` does not contain the host `{host}`"),
                    "the DNS zone the app's FQDN belongs to",
                ));
            };
            let (ip, ip_input) = r.one(key::GATEWAY_PUBLIC_IP).ok_or_else(|| {
                InputError::Missing(
                    "a DNS zone was given but not the gateway's public IP".into(),
                    "run `refer` first (its outputs feed deploy), or pass --gateway-public-ip"
                        .into(),
                )
            })?;
            let gateway_ip = ip.parse().map_err(|_| {
                InputError::invalid(
                    ip_input,
                    format!("`{ip}` is not an IPv4 address"),
                    "an address like 20.48.1.10",
                )
            })?;
            let resource_group = group(key::DNS_ZONE_RESOURCE_GROUP).ok_or_else(|| {
                InputError::Missing(
                    "the DNS zone's resource group is unknown".into(),
                    "pass --dns-zone-resource-group or --resource-group".into(),
                )
            })?;
            Some(DnsTarget {
                subscription_id: sub.clone(),
                resource_group,
                zone,
                name,
                gateway_ip,
            })
        }
        _ => None,
    };
    let nsg = match (r.string(key::GATEWAY_NSG_NAME), &subscription) {
        (Some(name), Some(sub)) => Some(NsgTarget {
            subscription_id: sub.clone(),
            resource_group: group(key::GATEWAY_NSG_RESOURCE_GROUP).ok_or_else(|| {
                InputError::Missing(
                    "the gateway NSG's resource group is unknown".into(),
                    "pass --gateway-nsg-resource-group or --resource-group".into(),
                )
            })?,
            name,
        }),
        _ => None,
    };
    Ok((dns, nsg))
}

/// `--tls wildcard`: the host must be one label under `--dns-zone` when the zone is
/// known (`*.example.com` covers `api.example.com`, not `v2.api.example.com`).
fn wildcard_tls(r: &Resolved, host: Option<&str>) -> Result<bool, InputError> {
    let (v, input) = r.value(key::TLS);
    let wildcard = v.eq_ignore_ascii_case("wildcard");
    if let (true, Some(host), Some(zone)) = (wildcard, host, r.string(key::DNS_ZONE)) {
        let zone = zone.trim_end_matches('.').to_ascii_lowercase();
        let under = host
            .to_ascii_lowercase()
            .strip_suffix(&format!(".{zone}"))
            .is_some_and(|label| !label.is_empty() && !label.contains('.'));
        if !under {
            return Err(InputError::invalid(
                input,
                format!("the wildcard certificate *.{zone} does not cover --host {host}"),
                format!("a host one label under the zone, like api.{zone}, or --tls issuer"),
            ));
        }
    }
    Ok(wildcard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs() {
        assert_eq!(Cidr::parse("10.0.0.0/8").unwrap().0, "10.0.0.0/8");
        assert_eq!(Cidr::parse("203.0.113.7").unwrap().0, "203.0.113.7/32");
        assert_eq!(Cidr::parse("2001:db8::/32").unwrap().0, "2001:db8::/32");
        assert!(Cidr::parse("10.0.0.1/8").is_none(), "host bits set");
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("300.0.0.0/8").is_none());
        assert!(Cidr::parse("10.0.0.0/").is_none());
        assert!(Cidr::parse("everyone").is_none());
    }

    #[test]
    fn names_and_quantities() {
        assert!(is_dns_label("web-1"));
        assert!(!is_dns_label("Web"));
        assert!(!is_dns_label("-a"));
        assert!(is_fqdn("api.example.com"));
        assert!(!is_fqdn("localhost"));
        assert!(is_quantity("250m") && is_quantity("1Gi") && is_quantity("0.5"));
        assert!(!is_quantity("lots") && !is_quantity("1GB"));
    }
}
