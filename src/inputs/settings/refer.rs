//! The refer step's settings: where the shared infrastructure is and how to find each
//! part of it (a name, the tags it carries, or an ARM deployment's outputs).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use super::AzureSettings;
use crate::env::Env;
use crate::inputs::{InputError, Resolved, key};

/// A part of the shared infrastructure refer looks up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Infra {
    Acr,
    Aks,
    KeyVault,
    DnsZone,
    AppGateway,
    GatewayNsg,
}

impl Infra {
    pub const ALL: [Infra; 6] = [
        Infra::Acr,
        Infra::Aks,
        Infra::KeyVault,
        Infra::DnsZone,
        Infra::AppGateway,
        Infra::GatewayNsg,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Infra::Acr => "acr",
            Infra::Aks => "aks",
            Infra::KeyVault => "key-vault",
            Infra::DnsZone => "dns-zone",
            Infra::AppGateway => "app-gateway",
            Infra::GatewayNsg => "gateway-nsg",
        }
    }

    /// What people call it.
    pub fn title(self) -> &'static str {
        match self {
            Infra::Acr => "Container registry",
            Infra::Aks => "AKS cluster",
            Infra::KeyVault => "Key Vault",
            Infra::DnsZone => "DNS zone",
            Infra::AppGateway => "Application Gateway",
            Infra::GatewayNsg => "Gateway NSG",
        }
    }

    /// The setting that names it.
    /// The setting that names it.
    pub fn key(self) -> key::Key {
        match self {
            Infra::Acr => key::ACR_NAME,
            Infra::Aks => key::CLUSTER_NAME,
            Infra::KeyVault => key::KEY_VAULT_NAME,
            Infra::DnsZone => key::DNS_ZONE,
            Infra::AppGateway => key::APP_GATEWAY_NAME,
            Infra::GatewayNsg => key::GATEWAY_NSG_NAME,
        }
    }

    pub fn setting(self) -> &'static str {
        self.key().name()
    }

    /// Its ARM resource type.
    pub fn resource_type(self) -> &'static str {
        match self {
            Infra::Acr => "Microsoft.ContainerRegistry/registries",
            Infra::Aks => "Microsoft.ContainerService/managedClusters",
            Infra::KeyVault => "Microsoft.KeyVault/vaults",
            Infra::DnsZone => "Microsoft.Network/dnszones",
            Infra::AppGateway => "Microsoft.Network/applicationGateways",
            Infra::GatewayNsg => "Microsoft.Network/networkSecurityGroups",
        }
    }

    /// Deployment output names that hold its name or resource ID.
    pub fn output_names(self) -> &'static [&'static str] {
        match self {
            Infra::Acr => &[
                "acrName",
                "registryName",
                "containerRegistryName",
                "acrId",
                "registryId",
            ],
            Infra::Aks => &[
                "aksName",
                "clusterName",
                "aksClusterName",
                "aksId",
                "clusterId",
            ],
            Infra::KeyVault => &["keyVaultName", "kvName", "vaultName", "keyVaultId"],
            Infra::DnsZone => &["dnsZoneName", "dnsZone", "zoneName", "dnsZoneId"],
            Infra::AppGateway => &[
                "appGatewayName",
                "applicationGatewayName",
                "gatewayName",
                "appGatewayId",
                "applicationGatewayId",
            ],
            Infra::GatewayNsg => &[
                "gatewayNsgName",
                "appGatewayNsgName",
                "nsgName",
                "gatewayNsgId",
            ],
        }
    }

    pub fn parse(v: &str) -> Option<Infra> {
        Infra::ALL.into_iter().find(|i| i.name() == v)
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ReferSettings {
    pub azure: AzureSettings,
    pub subscription_id: String,
    pub resource_group: String,
    /// Parts named explicitly.
    pub names: BTreeMap<Infra, String>,
    pub dns_zone_resource_group: String,
    pub discovery_tags: Vec<(String, String)>,
    pub deployment_name: Option<String>,
    pub require: BTreeSet<Infra>,
    pub kubeconfig_secret: Option<String>,
    pub key_vault_secrets: Vec<String>,
    pub secrets_in_outputs_file: bool,
    pub outputs_file: Option<PathBuf>,
    pub dry_run: bool,
}

/// Resource group names: 1-90 of letters, digits, `-_.()`.
pub(super) fn group_name(input: &str, v: &str) -> Result<String, InputError> {
    let ok = !v.is_empty()
        && v.len() <= 90
        && v.chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '(' | ')'))
        && !v.ends_with('.');
    if ok {
        Ok(v.to_string())
    } else {
        Err(InputError::invalid(
            input,
            format!("`{v}` is not a resource group name"),
            "1-90 letters, digits, `-`, `_`, `.`, `(`, `)`, not ending in `.`",
        ))
    }
}

/// ARM resource names in paths: no `/`, `?`, `#`, spaces.
fn resource_name(input: &str, v: &str) -> Result<String, InputError> {
    if v.is_empty() || v.len() > 260 || v.contains(['/', '?', '#', ' ', '\\', '%']) {
        return Err(InputError::invalid(
            input,
            format!("`{v}` is not a resource name"),
            "the resource's name as the portal shows it (not its ID or URL)",
        ));
    }
    Ok(v.to_string())
}

/// Key Vault secret names: 1-127 of letters, digits and `-`.
fn secret_name(input: &str, v: &str) -> Result<String, InputError> {
    if v.is_empty() || v.len() > 127 || !v.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(InputError::invalid(
            input,
            format!("`{v}` is not a Key Vault secret name"),
            "1-127 letters, digits and `-`",
        ));
    }
    Ok(v.to_string())
}

impl ReferSettings {
    pub fn resolve(r: &Resolved, env: &Env) -> Result<Self, InputError> {
        let azure = AzureSettings::resolve(r, env)?;
        let subscription_id = azure.subscription_id.clone().ok_or_else(|| {
            InputError::Missing(
                "refer needs the subscription".into(),
                "pass --subscription-id (input `subscription-id`)".into(),
            )
        })?;
        let resource_group = match r.one(key::RESOURCE_GROUP) {
            Some((v, input)) => group_name(&input, v)?,
            None => {
                return Err(InputError::Missing(
                    "refer needs the resource group of the shared infrastructure".into(),
                    "pass --resource-group (input `resource-group`)".into(),
                ));
            }
        };
        let mut names = BTreeMap::new();
        for infra in Infra::ALL {
            if let Some((v, input)) = r.one(infra.key()) {
                let v = if infra == Infra::DnsZone {
                    v.trim_end_matches('.').to_ascii_lowercase()
                } else {
                    v.to_string()
                };
                names.insert(infra, resource_name(&input, &v)?);
            }
        }
        let dns_zone_resource_group = match r.one(key::DNS_ZONE_RESOURCE_GROUP) {
            Some((v, input)) => group_name(&input, v)?,
            None => resource_group.clone(),
        };
        let mut discovery_tags = Vec::new();
        if let Some(v) = r.get(key::DISCOVERY_TAGS) {
            let input = v.origin.describe(key::DISCOVERY_TAGS.name());
            for t in &v.values {
                let (k, val) = t.split_once('=').ok_or_else(|| {
                    InputError::invalid(
                        &input,
                        format!("`{t}` is not K=V"),
                        "tags as K=V, one per line",
                    )
                })?;
                if k.trim().is_empty() {
                    return Err(InputError::invalid(
                        &input,
                        format!("`{t}` has no tag name"),
                        "tags as K=V, one per line",
                    ));
                }
                discovery_tags.push((k.trim().to_string(), val.trim().to_string()));
            }
        }
        let deployment_name = match r.one(key::DEPLOYMENT_NAME) {
            Some((v, input)) => Some(resource_name(&input, v)?),
            None => None,
        };
        let mut require = BTreeSet::new();
        if let Some(v) = r.get(key::REQUIRE) {
            let input = v.origin.describe(key::REQUIRE.name());
            for item in &v.values {
                let i = Infra::parse(item).ok_or_else(|| {
                    InputError::invalid(
                        &input,
                        format!("`{item}` is not a part of the shared infrastructure"),
                        "a comma-separated list of acr, aks, key-vault, dns-zone, app-gateway, gateway-nsg",
                    )
                })?;
                require.insert(i);
            }
        }
        let kubeconfig_secret = match r.one(key::KUBECONFIG_SECRET) {
            Some((v, input)) => Some(secret_name(&input, v)?),
            None => None,
        };
        let mut key_vault_secrets = Vec::new();
        if let Some(v) = r.get(key::KEY_VAULT_SECRETS) {
            let input = v.origin.describe(key::KEY_VAULT_SECRETS.name());
            for s in &v.values {
                key_vault_secrets.push(secret_name(&input, s)?);
            }
        }
        if kubeconfig_secret.is_some() || !key_vault_secrets.is_empty() {
            // Reading secrets needs the vault.
            require.insert(Infra::KeyVault);
        }
        let secrets_in_outputs_file = r.bool(key::SECRETS_IN_OUTPUTS_FILE)?;
        let outputs_file = r.path(env, key::OUTPUTS_FILE);
        if secrets_in_outputs_file && outputs_file.is_none() {
            let (_, input) = r.value(key::SECRETS_IN_OUTPUTS_FILE);
            return Err(InputError::invalid(
                input,
                "secret values can only go into --outputs-file, and none is given",
                "--outputs-file PATH as well (written with mode 0600)",
            ));
        }
        Ok(ReferSettings {
            azure,
            subscription_id,
            resource_group,
            names,
            dns_zone_resource_group,
            discovery_tags,
            deployment_name,
            require,
            kubeconfig_secret,
            key_vault_secrets,
            secrets_in_outputs_file,
            outputs_file,
            dry_run: r.bool(key::DRY_RUN)?,
        })
    }
}
