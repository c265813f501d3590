//! Setting names as constants, one per entry of the catalog (`catalog.rs`): the code
//! reads a setting through its constant, so a misspelt name does not compile. A setting
//! with a default is a [`Defaulted`], whose getter ([`Resolved::value`]) cannot fail.
//! The tests below hold this list to the catalog, name for name and default for default.
//!
//! [`Resolved::value`]: super::Resolved::value

/// The name of a setting of the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(&'static str);

impl Key {
    pub const fn name(self) -> &'static str {
        self.0
    }
}

/// A setting with a default: it always has a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Defaulted {
    pub key: Key,
    /// The catalog's default (the tests check that they agree).
    pub default: &'static str,
}

impl Defaulted {
    pub const fn name(self) -> &'static str {
        self.key.0
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl From<Defaulted> for Key {
    fn from(d: Defaulted) -> Key {
        d.key
    }
}

const fn key(name: &'static str) -> Key {
    Key(name)
}

const fn defaulted(name: &'static str, default: &'static str) -> Defaulted {
    Defaulted {
        key: Key(name),
        default,
    }
}

pub const ACME_EMAIL: Key = key("acme-email");
pub const ACR_HOSTS: Key = key("acr-hosts");
pub const ACR_NAME: Key = key("acr-name");
pub const ALLOW_CIDR: Key = key("allow-cidr");
pub const ALLOW_PRIVILEGE_ESCALATION: Defaulted = defaulted("allow-privilege-escalation", "false");
pub const APP: Key = key("app");
pub const APP_GATEWAY_NAME: Key = key("app-gateway-name");
pub const ARM_ENDPOINT: Key = key("arm-endpoint");
pub const AUDIENCE: Defaulted = defaulted("audience", "api://AzureADTokenExchange");
pub const AUTH_TYPE: Defaulted = defaulted("auth-type", "auto");
pub const AUTHORITY_HOST: Key = key("authority-host");
pub const AUTOMOUNT_SERVICE_ACCOUNT_TOKEN: Defaulted =
    defaulted("automount-service-account-token", "false");
pub const AZURE_DEVOPS_TOKEN: Key = key("azure-devops-token");
pub const BUILD_ARG: Key = key("build-arg");
pub const BUILDER: Defaulted = defaulted("builder", "auto");
pub const CACHE_FROM: Key = key("cache-from");
pub const CACHE_TO: Defaulted = defaulted("cache-to", "inline");
pub const CAPABILITIES_ADD: Key = key("capabilities-add");
pub const CATEGORY: Key = key("category");
pub const CERT_MANAGER_CHART_DIGEST: Key = key("cert-manager-chart-digest");
pub const CERT_MANAGER_CLIENT_ID: Key = key("cert-manager-client-id");
pub const CERT_MANAGER_VERSION: Defaulted = defaulted("cert-manager-version", "v1.21.1");
pub const CLIENT_ID: Key = key("client-id");
pub const CLIENT_SECRET: Key = key("client-secret");
pub const CLUSTER_ISSUER: Defaulted = defaulted("cluster-issuer", "letsencrypt");
pub const CLUSTER_NAME: Key = key("cluster-name");
pub const COMMENT: Defaulted = defaulted("comment", "true");
pub const COMPONENT: Key = key("component");
pub const COMPOSE: Key = key("compose");
pub const COMPOSE_ALLOW: Key = key("compose-allow");
pub const COMPOSE_PROFILE: Key = key("compose-profile");
pub const CONTEXT: Defaulted = defaulted("context", ".");
pub const CPU: Defaulted = defaulted("cpu", "250m");
pub const CPU_TARGET: Defaulted = defaulted("cpu-target", "70");
pub const DB_REPOSITORY: Key = key("db-repository");
pub const DEPLOYMENT_ENVIRONMENT: Key = key("deployment-environment");
pub const DEPLOYMENT_NAME: Key = key("deployment-name");
pub const DISCOVERY_TAGS: Key = key("discovery-tags");
pub const DNS_ZONE: Key = key("dns-zone");
pub const DNS_ZONE_RESOURCE_GROUP: Key = key("dns-zone-resource-group");
pub const DRY_RUN: Defaulted = defaulted("dry-run", "false");
pub const ENV: Key = key("env");
pub const ENVIRONMENT: Defaulted = defaulted("environment", "AzureCloud");
pub const ESO_CLIENT_ID: Key = key("eso-client-id");
pub const EXTERNAL_SECRETS_CHART_DIGEST: Key = key("external-secrets-chart-digest");
pub const EXTERNAL_SECRETS_VERSION: Defaulted = defaulted("external-secrets-version", "2.9.0");
pub const FAIL_ON_FINDINGS: Defaulted = defaulted("fail-on-findings", "true");
pub const FILE: Key = key("file");
pub const FORMAT: Defaulted = defaulted("format", "sarif");
pub const GATEWAY_NSG_NAME: Key = key("gateway-nsg-name");
pub const GATEWAY_NSG_RESOURCE_GROUP: Key = key("gateway-nsg-resource-group");
pub const GATEWAY_PUBLIC_IP: Key = key("gateway-public-ip");
pub const GITHUB_DEPLOYMENT: Defaulted = defaulted("github-deployment", "false");
pub const GITHUB_TOKEN: Key = key("github-token");
pub const HEALTH_PATH: Key = key("health-path");
pub const HOST: Key = key("host");
pub const HTTP_CONNECT_TIMEOUT: Defaulted = defaulted("http-connect-timeout", "10s");
pub const HTTP_READ_TIMEOUT: Defaulted = defaulted("http-read-timeout", "30s");
pub const HTTP_TIMEOUT: Defaulted = defaulted("http-timeout", "5m");
pub const HTTP01: Defaulted = defaulted("http01", "false");
pub const IGNORE_UNFIXED: Defaulted = defaulted("ignore-unfixed", "false");
pub const IMAGE: Key = key("image");
pub const IMAGE_PREFIX: Key = key("image-prefix");
pub const IMAGES: Key = key("images");
pub const INFRA_PHASES: Defaulted = defaulted("infra-phases", "arm,cluster");
pub const INGRESS_CIDR: Key = key("ingress-cidr");
pub const INGRESS_CLASS: Defaulted = defaulted("ingress-class", "azure-application-gateway");
pub const INGRESS_CONTROLLER: Defaulted = defaulted("ingress-controller", "agic");
pub const INGRESS_NAMESPACE: Key = key("ingress-namespace");
pub const INPUT: Key = key("input");
pub const JAVA_DB_REPOSITORY: Key = key("java-db-repository");
pub const KEY_VAULT_NAME: Key = key("key-vault-name");
pub const KEY_VAULT_SECRETS: Key = key("key-vault-secrets");
pub const KEY_VAULT_URI: Key = key("key-vault-uri");
pub const KUBECONFIG: Key = key("kubeconfig");
pub const KUBECONFIG_SECRET: Key = key("kubeconfig-secret");
pub const KUBERNETES_VERSION: Key = key("kubernetes-version");
pub const LABEL: Key = key("label");
pub const LOCATION: Defaulted = defaulted("location", "japaneast");
pub const LOG_RETENTION_DAYS: Defaulted = defaulted("log-retention-days", "30");
pub const LOG_TIMEOUT: Defaulted = defaulted("log-timeout", "3s");
pub const MANAGED_IDENTITY_ENDPOINT: Defaulted =
    defaulted("managed-identity-endpoint", "http://169.254.169.254");
pub const MANIFESTS: Key = key("manifests");
pub const MAX_REPLICAS: Key = key("max-replicas");
pub const MAX_RESTARTS: Defaulted = defaulted("max-restarts", "0");
pub const MEMORY: Defaulted = defaulted("memory", "256Mi");
pub const MIN_READY_SECONDS: Defaulted = defaulted("min-ready-seconds", "10");
pub const MIN_REPLICAS: Key = key("min-replicas");
pub const MYSQL_ADMIN_USER: Defaulted = defaulted("mysql-admin-user", "mysqladmin");
pub const MYSQL_ALLOW_AZURE_SERVICES: Defaulted = defaulted("mysql-allow-azure-services", "false");
pub const MYSQL_ALLOW_CIDR: Key = key("mysql-allow-cidr");
pub const MYSQL_HOST: Key = key("mysql-host");
pub const MYSQL_PASSWORD_SECRET: Defaulted =
    defaulted("mysql-password-secret", "mysql-root-password");
pub const MYSQL_SKU: Defaulted = defaulted("mysql-sku", "Standard_B1ms");
pub const NAME_PREFIX: Key = key("name-prefix");
pub const NAMESPACE: Defaulted = defaulted("namespace", "default");
pub const NETWORK_POLICY: Defaulted = defaulted("network-policy", "true");
pub const NO_CACHE: Defaulted = defaulted("no-cache", "false");
pub const NO_ROLLBACK: Defaulted = defaulted("no-rollback", "false");
pub const NODE_COUNT: Defaulted = defaulted("node-count", "2");
pub const NODE_VM_SIZE: Defaulted = defaulted("node-vm-size", "Standard_D2s_v5");
pub const OFFLINE_SCAN: Defaulted = defaulted("offline-scan", "false");
pub const OUTPUTS_FILE: Key = key("outputs-file");
pub const PLATFORM: Key = key("platform");
pub const POD_SECURITY: Defaulted = defaulted("pod-security", "restricted");
pub const PORT: Defaulted = defaulted("port", "8080");
pub const PR_STATUS: Defaulted = defaulted("pr-status", "false");
pub const PUBLIC: Key = key("public");
pub const PUSH: Defaulted = defaulted("push", "true");
pub const READ_ONLY_ROOT_FILESYSTEM: Defaulted = defaulted("read-only-root-filesystem", "true");
pub const REGISTRY_INSECURE: Defaulted = defaulted("registry-insecure", "false");
pub const REGISTRY_PASSWORD: Key = key("registry-password");
pub const REGISTRY_USERNAME: Key = key("registry-username");
pub const RENDER_DIR: Key = key("render-dir");
pub const REPLICAS: Defaulted = defaulted("replicas", "2");
pub const REPORT: Key = key("report");
pub const REQUIRE: Defaulted = defaulted("require", "acr,aks");
pub const RESOURCE_GROUP: Key = key("resource-group");
pub const ROOTFS: Key = key("rootfs");
pub const RUN_AS_NON_ROOT: Defaulted = defaulted("run-as-non-root", "true");
pub const SARIF: Defaulted = defaulted("sarif", "aks-backend.sarif");
pub const SARIF_UPLOAD_REQUIRED: Defaulted = defaulted("sarif-upload-required", "false");
pub const SARIF_WAIT: Defaulted = defaulted("sarif-wait", "2m");
pub const SCANNERS: Defaulted = defaulted("scanners", "vuln,secret");
pub const SECCOMP_PROFILE: Defaulted = defaulted("seccomp-profile", "RuntimeDefault");
pub const SECRET: Key = key("secret");
pub const SECRET_ENV: Key = key("secret-env");
pub const SECRET_STORE: Defaulted = defaulted("secret-store", "azure-keyvault");
pub const SECRETS_IN_OUTPUTS_FILE: Defaulted = defaulted("secrets-in-outputs-file", "false");
pub const SERVICE_CONNECTION_ID: Key = key("service-connection-id");
pub const SETTLE_SECONDS: Defaulted = defaulted("settle-seconds", "10");
pub const SEVERITY: Defaulted = defaulted("severity", "UNKNOWN,LOW,MEDIUM,HIGH,CRITICAL");
pub const SKIP_DB_UPDATE: Defaulted = defaulted("skip-db-update", "false");
pub const STATE: Key = key("state");
pub const STATEFUL: Defaulted = defaulted("stateful", "refuse");
pub const STEPS: Defaulted = defaulted("steps", "refer,build,scan,deploy");
pub const SUBSCRIPTION_ID: Key = key("subscription-id");
pub const SUMMARY_TOP: Defaulted = defaulted("summary-top", "10");
pub const TAG: Key = key("tag");
pub const TARGET: Key = key("target");
pub const TEMPLATE_OUT: Key = key("template-out");
pub const TENANT_ID: Key = key("tenant-id");
pub const TIMEOUT: Defaulted = defaulted("timeout", "5m");
pub const TLS: Defaulted = defaulted("tls", "issuer");
pub const TRIVY_CACHE_DIR: Key = key("trivy-cache-dir");
pub const TRIVY_DOWNLOAD: Defaulted = defaulted("trivy-download", "true");
pub const TRIVY_DOWNLOAD_URL: Key = key("trivy-download-url");
pub const TRIVY_PATH: Key = key("trivy-path");
pub const TRIVY_REPORT: Key = key("trivy-report");
pub const TRIVY_SOURCE: Defaulted = defaulted("trivy-source", "github-release");
pub const TRIVY_TIMEOUT: Defaulted = defaulted("trivy-timeout", "10m");
pub const TRIVY_VERSION: Defaulted = defaulted("trivy-version", "0.59.1");
pub const TRIVYIGNORE: Defaulted = defaulted("trivyignore", ".trivyignore");
pub const UPLOAD_SARIF: Defaulted = defaulted("upload-sarif", "true");
pub const WAIT_CERTIFICATE: Defaulted = defaulted("wait-certificate", "true");
pub const WILDCARD: Defaulted = defaulted("wildcard", "false");
pub const WILDCARD_DNS_RECORD: Defaulted = defaulted("wildcard-dns-record", "false");
pub const ZONE: Defaulted = defaulted("zone", "1");

/// Every key, for the tests that hold this list to the catalog.
#[cfg(test)]
const ALL: &[Key] = &[
    ACME_EMAIL,
    ACR_HOSTS,
    ACR_NAME,
    ALLOW_CIDR,
    ALLOW_PRIVILEGE_ESCALATION.key,
    APP,
    APP_GATEWAY_NAME,
    ARM_ENDPOINT,
    AUDIENCE.key,
    AUTH_TYPE.key,
    AUTHORITY_HOST,
    AUTOMOUNT_SERVICE_ACCOUNT_TOKEN.key,
    AZURE_DEVOPS_TOKEN,
    BUILD_ARG,
    BUILDER.key,
    CACHE_FROM,
    CACHE_TO.key,
    CAPABILITIES_ADD,
    CATEGORY,
    CERT_MANAGER_CHART_DIGEST,
    CERT_MANAGER_CLIENT_ID,
    CERT_MANAGER_VERSION.key,
    CLIENT_ID,
    CLIENT_SECRET,
    CLUSTER_ISSUER.key,
    CLUSTER_NAME,
    COMMENT.key,
    COMPONENT,
    COMPOSE,
    COMPOSE_ALLOW,
    COMPOSE_PROFILE,
    CONTEXT.key,
    CPU.key,
    CPU_TARGET.key,
    DB_REPOSITORY,
    DEPLOYMENT_ENVIRONMENT,
    DEPLOYMENT_NAME,
    DISCOVERY_TAGS,
    DNS_ZONE,
    DNS_ZONE_RESOURCE_GROUP,
    DRY_RUN.key,
    ENV,
    ENVIRONMENT.key,
    ESO_CLIENT_ID,
    EXTERNAL_SECRETS_CHART_DIGEST,
    EXTERNAL_SECRETS_VERSION.key,
    FAIL_ON_FINDINGS.key,
    FILE,
    FORMAT.key,
    GATEWAY_NSG_NAME,
    GATEWAY_NSG_RESOURCE_GROUP,
    GATEWAY_PUBLIC_IP,
    GITHUB_DEPLOYMENT.key,
    GITHUB_TOKEN,
    HEALTH_PATH,
    HOST,
    HTTP_CONNECT_TIMEOUT.key,
    HTTP_READ_TIMEOUT.key,
    HTTP_TIMEOUT.key,
    HTTP01.key,
    IGNORE_UNFIXED.key,
    IMAGE,
    IMAGE_PREFIX,
    IMAGES,
    INFRA_PHASES.key,
    INGRESS_CIDR,
    INGRESS_CLASS.key,
    INGRESS_CONTROLLER.key,
    INGRESS_NAMESPACE,
    INPUT,
    JAVA_DB_REPOSITORY,
    KEY_VAULT_NAME,
    KEY_VAULT_SECRETS,
    KEY_VAULT_URI,
    KUBECONFIG,
    KUBECONFIG_SECRET,
    KUBERNETES_VERSION,
    LABEL,
    LOCATION.key,
    LOG_RETENTION_DAYS.key,
    LOG_TIMEOUT.key,
    MANAGED_IDENTITY_ENDPOINT.key,
    MANIFESTS,
    MAX_REPLICAS,
    MAX_RESTARTS.key,
    MEMORY.key,
    MIN_READY_SECONDS.key,
    MIN_REPLICAS,
    MYSQL_ADMIN_USER.key,
    MYSQL_ALLOW_AZURE_SERVICES.key,
    MYSQL_ALLOW_CIDR,
    MYSQL_HOST,
    MYSQL_PASSWORD_SECRET.key,
    MYSQL_SKU.key,
    NAME_PREFIX,
    NAMESPACE.key,
    NETWORK_POLICY.key,
    NO_CACHE.key,
    NO_ROLLBACK.key,
    NODE_COUNT.key,
    NODE_VM_SIZE.key,
    OFFLINE_SCAN.key,
    OUTPUTS_FILE,
    PLATFORM,
    POD_SECURITY.key,
    PORT.key,
    PR_STATUS.key,
    PUBLIC,
    PUSH.key,
    READ_ONLY_ROOT_FILESYSTEM.key,
    REGISTRY_INSECURE.key,
    REGISTRY_PASSWORD,
    REGISTRY_USERNAME,
    RENDER_DIR,
    REPLICAS.key,
    REPORT,
    REQUIRE.key,
    RESOURCE_GROUP,
    ROOTFS,
    RUN_AS_NON_ROOT.key,
    SARIF.key,
    SARIF_UPLOAD_REQUIRED.key,
    SARIF_WAIT.key,
    SCANNERS.key,
    SECCOMP_PROFILE.key,
    SECRET,
    SECRET_ENV,
    SECRET_STORE.key,
    SECRETS_IN_OUTPUTS_FILE.key,
    SERVICE_CONNECTION_ID,
    SETTLE_SECONDS.key,
    SEVERITY.key,
    SKIP_DB_UPDATE.key,
    STATE,
    STATEFUL.key,
    STEPS.key,
    SUBSCRIPTION_ID,
    SUMMARY_TOP.key,
    TAG,
    TARGET,
    TEMPLATE_OUT,
    TENANT_ID,
    TIMEOUT.key,
    TLS.key,
    TRIVY_CACHE_DIR,
    TRIVY_DOWNLOAD.key,
    TRIVY_DOWNLOAD_URL,
    TRIVY_PATH,
    TRIVY_REPORT,
    TRIVY_SOURCE.key,
    TRIVY_TIMEOUT.key,
    TRIVY_VERSION.key,
    TRIVYIGNORE.key,
    UPLOAD_SARIF.key,
    WAIT_CERTIFICATE.key,
    WILDCARD.key,
    WILDCARD_DNS_RECORD.key,
    ZONE.key,
];

#[cfg(test)]
const DEFAULTED: &[Defaulted] = &[
    ALLOW_PRIVILEGE_ESCALATION,
    AUDIENCE,
    AUTH_TYPE,
    AUTOMOUNT_SERVICE_ACCOUNT_TOKEN,
    BUILDER,
    CACHE_TO,
    CERT_MANAGER_VERSION,
    CLUSTER_ISSUER,
    COMMENT,
    CONTEXT,
    CPU,
    CPU_TARGET,
    DRY_RUN,
    ENVIRONMENT,
    EXTERNAL_SECRETS_VERSION,
    FAIL_ON_FINDINGS,
    FORMAT,
    GITHUB_DEPLOYMENT,
    HTTP_CONNECT_TIMEOUT,
    HTTP_READ_TIMEOUT,
    HTTP_TIMEOUT,
    HTTP01,
    IGNORE_UNFIXED,
    INFRA_PHASES,
    INGRESS_CLASS,
    INGRESS_CONTROLLER,
    LOCATION,
    LOG_RETENTION_DAYS,
    LOG_TIMEOUT,
    MANAGED_IDENTITY_ENDPOINT,
    MAX_RESTARTS,
    MEMORY,
    MIN_READY_SECONDS,
    MYSQL_ADMIN_USER,
    MYSQL_ALLOW_AZURE_SERVICES,
    MYSQL_PASSWORD_SECRET,
    MYSQL_SKU,
    NAMESPACE,
    NETWORK_POLICY,
    NO_CACHE,
    NO_ROLLBACK,
    NODE_COUNT,
    NODE_VM_SIZE,
    OFFLINE_SCAN,
    POD_SECURITY,
    PORT,
    PR_STATUS,
    PUSH,
    READ_ONLY_ROOT_FILESYSTEM,
    REGISTRY_INSECURE,
    REPLICAS,
    REQUIRE,
    RUN_AS_NON_ROOT,
    SARIF,
    SARIF_UPLOAD_REQUIRED,
    SARIF_WAIT,
    SCANNERS,
    SECCOMP_PROFILE,
    SECRET_STORE,
    SECRETS_IN_OUTPUTS_FILE,
    SETTLE_SECONDS,
    SEVERITY,
    SKIP_DB_UPDATE,
    STATEFUL,
    STEPS,
    SUMMARY_TOP,
    TIMEOUT,
    TLS,
    TRIVY_DOWNLOAD,
    TRIVY_SOURCE,
    TRIVY_TIMEOUT,
    TRIVY_VERSION,
    TRIVYIGNORE,
    UPLOAD_SARIF,
    WAIT_CERTIFICATE,
    WILDCARD,
    WILDCARD_DNS_RECORD,
    ZONE,
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs::catalog::{self, SETTINGS};

    #[test]
    fn every_catalog_setting_has_a_key_and_every_key_is_a_setting() {
        let keys: std::collections::BTreeSet<&str> = ALL.iter().map(|k| k.name()).collect();
        let settings: std::collections::BTreeSet<&str> = SETTINGS.iter().map(|s| s.name).collect();
        let no_key: Vec<_> = settings.difference(&keys).collect();
        let no_setting: Vec<_> = keys.difference(&settings).collect();
        assert!(
            no_key.is_empty() && no_setting.is_empty(),
            "src/inputs/key.rs and the catalog disagree: settings without a constant {no_key:?}, constants without a setting {no_setting:?}"
        );
    }

    #[test]
    fn a_defaulted_key_has_the_catalog_default_and_only_those_do() {
        for d in DEFAULTED {
            let spec = catalog::find(d.key.name()).map(|s| s.default);
            assert_eq!(spec, Some(Some(d.default)), "{}", d.key.name());
        }
        for s in SETTINGS.iter().filter(|s| s.default.is_some()) {
            assert!(
                DEFAULTED.iter().any(|d| d.key.name() == s.name),
                "`{}` has a default: make its constant a Defaulted",
                s.name
            );
        }
    }
}
