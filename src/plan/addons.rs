//! `infra`'s cluster phase as a pure plan: the Kubernetes objects that install
//! cert-manager and External Secrets Operator through the AKS Flux extension and configure
//! them (Let's Encrypt issuers, the Key Vault store, the optional wildcard certificate and
//! its distribution), and what must be ready before the step is done.
//!
//! Why these shapes:
//! - **Install with Flux** (`HelmRepository` source.toolkit.fluxcd.io/v1 + `HelmRelease`
//!   helm.toolkit.fluxcd.io/v2; the only APIs the `microsoft.flux` 1.24 extension serves).
//!   The extension is GA, installed by the ARM phase with `multiTenancy.enforce=false`, so
//!   no helm binary runs here and the charts' CRDs (several over client-side apply's 256 KB)
//!   are applied by helm-controller, server-side, inside the cluster. Versions are pinned;
//!   changing one is an upgrade. Sources and releases live in `flux-system` (the extension's
//!   namespace) and never reference another namespace's source.
//! - **Pinned by version and digest**: a HelmRepository cannot pin a digest, so we apply our
//!   own `HelmChart` (source.toolkit.fluxcd.io/v1, exact `version`) first, wait until
//!   source-controller has fetched it, and compare its `status.artifact.digest` (the sha256
//!   of the chart archive it stored; `status.artifact.revision` is the chart version) with
//!   `--cert-manager-chart-digest` / `--external-secrets-chart-digest` when given. Only a
//!   match (or no pin: the digest seen is reported so it can be pinned) lets the
//!   `HelmRelease`s be applied, and they install exactly that artifact (`spec.chartRef` →
//!   our HelmChart, never a chart helm-controller would fetch on its own).
//! - **DNS-01 on Azure DNS by default**: the gateway NSG opens only 443, and Let's Encrypt's
//!   HTTP-01 always dials port 80. cert-manager signs in to Azure DNS with workload identity
//!   (pod label + `managedIdentity.clientID`; a ClusterIssuer may use ambient credentials).
//!   With `--http01` the HTTP-01 solver (ingress class `azure-application-gateway`) serves
//!   every name except the wildcard certificate's, which stays on DNS-01.
//! - **One wildcard certificate, distributed by ESO's Kubernetes provider**: a
//!   ClusterSecretStore `wildcard-tls` reads only the Secret `wildcard-tls` in `cert-manager`
//!   (a Role grants `get` on that one name), and `deploy --tls wildcard` puts an
//!   ExternalSecret into each app namespace (`plan::manifests::wildcard_copy`). Renewals reach every copy at the next refresh;
//!   Let's Encrypt sees one certificate, not one per namespace (5 duplicates a week).
//!   ClusterExternalSecret would push into namespaces chosen by label at `infra` time, but
//!   app namespaces appear later, with `deploy`; its CRD is also not among the pinned ones.
//! - **ClusterSecretStore `azure-keyvault`** (external-secrets.io/v1) reads Key Vault with
//!   workload identity through `serviceAccountRef` to ESO's own service account, the subject
//!   the ARM phase federates (`system:serviceaccount:external-secrets:external-secrets`).

use serde_json::{Value, json};

use crate::inputs::settings::AddonSettings;

pub const FLUX_NAMESPACE: &str = "flux-system";
pub const CERT_MANAGER_NAMESPACE: &str = "cert-manager";
pub const ESO_NAMESPACE: &str = "external-secrets";
pub const ESO_SERVICE_ACCOUNT: &str = "external-secrets";
pub const STORE: &str = "azure-keyvault";
pub use crate::model::wildcard::{SECRET as WILDCARD_SECRET, STORE as WILDCARD_STORE};
pub const ISSUERS: [(&str, &str); 2] = [
    (
        "letsencrypt-staging",
        "https://acme-staging-v02.api.letsencrypt.org/directory",
    ),
    (
        "letsencrypt",
        "https://acme-v02.api.letsencrypt.org/directory",
    ),
];
pub const CERT_MANAGER_REPO: &str = "oci://quay.io/jetstack/charts";
pub const ESO_REPO: &str = "https://charts.external-secrets.io";
pub const INGRESS_CLASS: &str = "azure-application-gateway";
const WI_USE: &str = "azure.workload.identity/use";
const WI_CLIENT: &str = "azure.workload.identity/client-id";
const WI_TENANT: &str = "azure.workload.identity/tenant-id";
const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "aks-backend");

/// Something the step waits for after applying.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub enum Wait {
    /// Our HelmChart fetched (Ready, with an artifact), its digest then checked.
    Chart(ChartPin),
    /// A HelmRelease Ready, then these Deployments Available in `namespace`.
    Release {
        name: String,
        chart: String,
        version: String,
        namespace: String,
        deployments: Vec<String>,
    },
    /// A ClusterIssuer's ACME account registered.
    Issuer { name: String },
    /// A ClusterSecretStore validated.
    Store { name: String },
    /// A Certificate issued (its Secret written).
    Certificate { namespace: String, name: String },
}

impl Wait {
    /// The object waited on, as people name it: `ClusterIssuer letsencrypt`.
    pub fn object(&self) -> String {
        match self {
            Wait::Chart(c) => format!("HelmChart {FLUX_NAMESPACE}/{}", c.name),
            Wait::Release { name, .. } => format!("HelmRelease {FLUX_NAMESPACE}/{name}"),
            Wait::Issuer { name } => format!("ClusterIssuer {name}"),
            Wait::Store { name } => format!("ClusterSecretStore {name}"),
            Wait::Certificate { namespace, name } => format!("Certificate {namespace}/{name}"),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Wait::Chart(c) => format!(
                "HelmChart {FLUX_NAMESPACE}/{} ({} {}) fetched, digest {}",
                c.name,
                c.chart,
                c.version,
                match &c.digest {
                    Some(d) => format!("must be {d}"),
                    None => format!("reported (pin it with --{})", c.input),
                }
            ),
            Wait::Release {
                name,
                chart,
                version,
                ..
            } => format!("HelmRelease {FLUX_NAMESPACE}/{name} ({chart} {version}) Ready"),
            Wait::Issuer { name } => format!("ClusterIssuer {name}: ACME account registered"),
            Wait::Store { name } => format!("ClusterSecretStore {name} Ready"),
            Wait::Certificate { namespace, name } => {
                format!("Certificate {namespace}/{name} issued")
            }
        }
    }
}

/// A chart as we pin it: our HelmChart `name` in flux-system, the exact version, and the
/// digest its archive must have (when the user pinned one; `input` names that setting).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ChartPin {
    pub name: String,
    pub chart: String,
    pub version: String,
    pub digest: Option<String>,
    pub input: &'static str,
}

/// The wildcard DNS record to create, when asked.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct WildcardRecord {
    pub zone: String,
    pub resource_group: String,
    pub subscription_id: String,
    pub gateway_ip: std::net::Ipv4Addr,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AddonPlan {
    /// Applied first: namespaces, chart repositories and our HelmCharts.
    pub sources: Vec<Value>,
    /// The HelmCharts to wait for and check (all [`Wait::Chart`]).
    pub source_waits: Vec<Wait>,
    /// Applied once every chart is checked: the releases (chartRef → our HelmChart).
    pub install: Vec<Value>,
    pub install_waits: Vec<Wait>,
    /// Applied once the charts' CRDs are served: issuers, stores, certificate.
    pub configure: Vec<Value>,
    pub configure_waits: Vec<Wait>,
    pub dns_record: Option<WildcardRecord>,
}

fn meta(name: &str, namespace: Option<&str>) -> Value {
    let mut m = json!({"name": name, "labels": {MANAGED_BY.0: MANAGED_BY.1}});
    if let Some(ns) = namespace
        && let Some(o) = m.as_object_mut()
    {
        o.insert("namespace".into(), json!(ns));
    }
    m
}

fn namespace(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": meta(name, None)})
}

fn helm_repository(name: &str, url: &str, oci: bool) -> Value {
    let mut spec = json!({"interval": "1h", "url": url});
    if oci && let Some(o) = spec.as_object_mut() {
        o.insert("type".into(), json!("oci"));
    }
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmRepository",
        "metadata": meta(name, Some(FLUX_NAMESPACE)),
        "spec": spec,
    })
}

/// One HelmChart per chart version (`cert-manager-v1.21.1`): an upgrade makes a new one,
/// and the release keeps the old, checked artifact until the new one is checked too.
fn chart_object_name(chart: &str, version: &str) -> String {
    format!("{chart}-{}", version.to_ascii_lowercase().replace('+', "-"))
}

/// Our HelmChart: source-controller fetches exactly `version` and reports the archive's
/// digest; the release installs this artifact and no other.
fn helm_chart(pin: &ChartPin, repo: &str) -> Value {
    json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": meta(&pin.name, Some(FLUX_NAMESPACE)),
        "spec": {
            "chart": pin.chart,
            "version": pin.version,
            "interval": "1h",
            "reconcileStrategy": "ChartVersion",
            "sourceRef": {"kind": "HelmRepository", "name": repo},
        }
    })
}

fn helm_release(name: &str, chart_ref: &str, target: &str, values: Value) -> Value {
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": meta(name, Some(FLUX_NAMESPACE)),
        "spec": {
            "interval": "1h",
            "releaseName": name,
            "targetNamespace": target,
            "chartRef": {"kind": "HelmChart", "name": chart_ref, "namespace": FLUX_NAMESPACE},
            "install": {"crds": "CreateReplace", "createNamespace": false,
                        "remediation": {"retries": 3}},
            "upgrade": {"crds": "CreateReplace", "remediation": {"retries": 3}},
            "values": values,
        }
    })
}

fn service_account_annotations(client_id: &str, tenant: Option<&str>) -> Value {
    let mut a = json!({WI_CLIENT: client_id});
    if let Some(t) = tenant
        && let Some(o) = a.as_object_mut()
    {
        o.insert(WI_TENANT.into(), json!(t));
    }
    a
}

fn cluster_issuer(s: &AddonSettings, name: &str, server: &str) -> Value {
    let mut azure_dns = json!({
        "subscriptionID": s.subscription_id,
        "resourceGroupName": s.zone_resource_group,
        "hostedZoneName": s.zone,
        "environment": "AzurePublicCloud",
        "managedIdentity": {"clientID": s.cert_manager_client_id},
    });
    if let Some(t) = &s.tenant_id
        && let Some(o) = (azure_dns.get_mut("managedIdentity")).and_then(Value::as_object_mut)
    {
        o.insert("tenantID".into(), json!(t));
    }
    let solvers = if s.http01 {
        // HTTP-01 for hosts (most specific selector wins in cert-manager: an empty one
        // loses to dnsNames); DNS-01 only for the wildcard certificate's names.
        json!([
            {"selector": {"dnsNames": [format!("*.{}", s.zone), s.zone]},
             "dns01": {"azureDNS": azure_dns}},
            {"http01": {"ingress": {"ingressClassName": INGRESS_CLASS}}},
        ])
    } else {
        json!([{"selector": {"dnsZones": [s.zone]}, "dns01": {"azureDNS": azure_dns}}])
    };
    json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "ClusterIssuer",
        "metadata": meta(name, None),
        "spec": {"acme": {
            "server": server,
            "email": s.acme_email,
            "privateKeySecretRef": {"name": format!("{name}-account")},
            "solvers": solvers,
        }}
    })
}

fn key_vault_store(s: &AddonSettings) -> Value {
    let mut azurekv = json!({
        "authType": "WorkloadIdentity",
        "vaultUrl": s.key_vault_uri,
        "serviceAccountRef": {"name": ESO_SERVICE_ACCOUNT, "namespace": ESO_NAMESPACE},
    });
    if let Some(t) = &s.tenant_id
        && let Some(o) = azurekv.as_object_mut()
    {
        o.insert("tenantId".into(), json!(t));
    }
    json!({
        "apiVersion": "external-secrets.io/v1",
        "kind": "ClusterSecretStore",
        "metadata": meta(STORE, None),
        "spec": {"provider": {"azurekv": azurekv}},
    })
}

/// The wildcard certificate and what lets ESO copy its Secret (and only it) out.
fn wildcard(s: &AddonSettings) -> Vec<Value> {
    vec![
        json!({
            "apiVersion": "cert-manager.io/v1",
            "kind": "Certificate",
            "metadata": meta(WILDCARD_SECRET, Some(CERT_MANAGER_NAMESPACE)),
            "spec": {
                "secretName": WILDCARD_SECRET,
                "commonName": format!("*.{}", s.zone),
                "dnsNames": [format!("*.{}", s.zone), s.zone],
                "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer", "group": "cert-manager.io"},
                "privateKey": {"rotationPolicy": "Always"},
            }
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta("external-secrets-wildcard-tls", Some(CERT_MANAGER_NAMESPACE)),
            "rules": [{"apiGroups": [""], "resources": ["secrets"],
                       "resourceNames": [WILDCARD_SECRET], "verbs": ["get"]}],
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta("external-secrets-wildcard-tls", Some(CERT_MANAGER_NAMESPACE)),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                        "name": "external-secrets-wildcard-tls"},
            "subjects": [{"kind": "ServiceAccount", "name": ESO_SERVICE_ACCOUNT,
                          "namespace": ESO_NAMESPACE}],
        }),
        json!({
            "apiVersion": "external-secrets.io/v1",
            "kind": "ClusterSecretStore",
            "metadata": meta(WILDCARD_STORE, None),
            "spec": {
              // Only namespaces `deploy --tls wildcard` made (or an admin labelled) may
              // read the wildcard key through this store.
              "conditions": [{"namespaceSelector": {"matchLabels": {
                  crate::model::wildcard::NAMESPACE_LABEL.0: crate::model::wildcard::NAMESPACE_LABEL.1}}}],
              "provider": {"kubernetes": {
                "remoteNamespace": CERT_MANAGER_NAMESPACE,
                "server": {"caProvider": {"type": "ConfigMap", "name": "kube-root-ca.crt",
                                          "key": "ca.crt", "namespace": CERT_MANAGER_NAMESPACE}},
                "auth": {"serviceAccount": {"name": ESO_SERVICE_ACCOUNT, "namespace": ESO_NAMESPACE}},
            }}},
        }),
    ]
}

const CERT_MANAGER_DEPLOYMENTS: [&str; 3] = [
    "cert-manager",
    "cert-manager-cainjector",
    "cert-manager-webhook",
];
const ESO_DEPLOYMENTS: [&str; 3] = [
    "external-secrets",
    "external-secrets-cert-controller",
    "external-secrets-webhook",
];

pub fn plan(s: &AddonSettings) -> AddonPlan {
    let tenant = s.tenant_id.as_deref();
    let cert_manager_values = json!({
        "crds": {"enabled": true, "keep": true},
        "podLabels": {WI_USE: "true"},
        "serviceAccount": {
            "labels": {WI_USE: "true"},
            "annotations": service_account_annotations(&s.cert_manager_client_id, tenant),
        },
    });
    let eso_values = json!({
        "installCRDs": true,
        "podLabels": {WI_USE: "true"},
        "serviceAccount": {
            "annotations": service_account_annotations(&s.eso_client_id, tenant),
        },
    });
    let pins = [
        ChartPin {
            name: chart_object_name("cert-manager", &s.versions.cert_manager),
            chart: "cert-manager".into(),
            version: s.versions.cert_manager.clone(),
            digest: s.versions.cert_manager_digest.clone(),
            input: "cert-manager-chart-digest",
        },
        ChartPin {
            name: chart_object_name("external-secrets", &s.versions.external_secrets),
            chart: "external-secrets".into(),
            version: s.versions.external_secrets.clone(),
            digest: s.versions.external_secrets_digest.clone(),
            input: "external-secrets-chart-digest",
        },
    ];
    let sources = vec![
        namespace(CERT_MANAGER_NAMESPACE),
        namespace(ESO_NAMESPACE),
        helm_repository("jetstack", CERT_MANAGER_REPO, true),
        helm_repository("external-secrets", ESO_REPO, false),
        helm_chart(&pins[0], "jetstack"),
        helm_chart(&pins[1], "external-secrets"),
    ];
    let install = vec![
        helm_release(
            "cert-manager",
            &pins[0].name,
            CERT_MANAGER_NAMESPACE,
            cert_manager_values,
        ),
        helm_release("external-secrets", &pins[1].name, ESO_NAMESPACE, eso_values),
    ];
    let install_waits = vec![
        Wait::Release {
            name: "cert-manager".into(),
            chart: "cert-manager".into(),
            version: s.versions.cert_manager.clone(),
            namespace: CERT_MANAGER_NAMESPACE.into(),
            deployments: CERT_MANAGER_DEPLOYMENTS.map(String::from).to_vec(),
        },
        Wait::Release {
            name: "external-secrets".into(),
            chart: "external-secrets".into(),
            version: s.versions.external_secrets.clone(),
            namespace: ESO_NAMESPACE.into(),
            deployments: ESO_DEPLOYMENTS.map(String::from).to_vec(),
        },
    ];
    let mut configure: Vec<Value> = ISSUERS
        .iter()
        .map(|(name, server)| cluster_issuer(s, name, server))
        .collect();
    configure.push(key_vault_store(s));
    let mut configure_waits: Vec<Wait> = ISSUERS
        .iter()
        .map(|(name, _)| Wait::Issuer {
            name: (*name).into(),
        })
        .collect();
    configure_waits.push(Wait::Store { name: STORE.into() });
    if s.wildcard {
        configure.extend(wildcard(s));
        configure_waits.push(Wait::Store {
            name: WILDCARD_STORE.into(),
        });
        configure_waits.push(Wait::Certificate {
            namespace: CERT_MANAGER_NAMESPACE.into(),
            name: WILDCARD_SECRET.into(),
        });
    }
    let dns_record = match (s.wildcard_dns_record, s.gateway_ip) {
        (true, Some(ip)) => Some(WildcardRecord {
            zone: s.zone.clone(),
            resource_group: s.zone_resource_group.clone(),
            subscription_id: s.subscription_id.clone(),
            gateway_ip: ip,
        }),
        _ => None,
    };
    AddonPlan {
        sources,
        source_waits: pins.into_iter().map(Wait::Chart).collect(),
        install,
        install_waits,
        configure,
        configure_waits,
        dns_record,
    }
}

impl AddonPlan {
    pub fn objects(&self) -> impl Iterator<Item = &Value> {
        self.sources
            .iter()
            .chain(&self.install)
            .chain(&self.configure)
    }

    /// What `--dry-run` prints: every object as YAML, then the waits.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for o in self.objects() {
            out.push_str("---\n");
            out.push_str(&serde_norway::to_string(o).unwrap_or_default());
        }
        out.push_str("# then wait for:\n");
        let waits = self.source_waits.iter().chain(&self.install_waits);
        for w in waits.chain(&self.configure_waits) {
            out.push_str(&format!("#   {}\n", w.describe()));
        }
        if let Some(r) = &self.dns_record {
            out.push_str(&format!(
                "# and set the DNS record *.{} A {} (resource group {})\n",
                r.zone, r.gateway_ip, r.resource_group
            ));
        }
        out
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use crate::inputs::settings::AddonVersions;

    pub fn settings() -> AddonSettings {
        AddonSettings {
            acme_email: "ops@example.com".into(),
            http01: false,
            wildcard: false,
            wildcard_dns_record: false,
            zone: "example.com".into(),
            zone_resource_group: "rg-dns".into(),
            subscription_id: "00000000-0000-0000-0000-000000000000".into(),
            tenant_id: Some("33333333-3333-3333-3333-333333333333".into()),
            eso_client_id: "22222222-2222-2222-2222-222222222222".into(),
            cert_manager_client_id: "11111111-1111-1111-1111-111111111111".into(),
            key_vault_uri: "https://kv-example.vault.azure.net".into(),
            versions: AddonVersions {
                cert_manager: "v1.21.1".into(),
                external_secrets: "2.9.0".into(),
                cert_manager_digest: None,
                external_secrets_digest: None,
            },
            gateway_ip: None,
            kubeconfig: None,
            timeout: std::time::Duration::from_secs(300),
            dry_run: true,
            azure: None,
        }
    }

    #[test]
    fn default_plan_installs_both_charts_and_dns01_issuers() {
        insta::assert_snapshot!(plan(&settings()).render());
    }

    #[test]
    fn http01_and_wildcard_plan_keeps_the_wildcard_on_dns01() {
        let mut s = settings();
        s.http01 = true;
        s.wildcard = true;
        s.wildcard_dns_record = true;
        s.gateway_ip = Some("20.50.60.70".parse().unwrap());
        insta::assert_snapshot!(plan(&s).render());
    }

    #[test]
    fn every_object_is_labelled_as_ours() {
        let mut s = settings();
        s.wildcard = true;
        for o in plan(&s).objects() {
            assert_eq!(o["metadata"]["labels"][MANAGED_BY.0], MANAGED_BY.1, "{o}");
        }
    }
}
