//! The refer plan: how each part of the shared infrastructure will be found, which
//! lists are read once for discovery, how the cluster's credentials are obtained, and
//! what goes where. Pure; `--dry-run` prints it.

use std::path::PathBuf;

use crate::inputs::settings::{Infra, ReferSettings};
use crate::model::sign_in::AuthType;

/// How one part is found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum How {
    /// Named by the user.
    Name { name: String },
    /// The only resource of its type in the resource group carrying all these tags.
    Tags { tags: Vec<(String, String)> },
    /// The value of the first of these outputs of the deployment (a name or an ID).
    DeploymentOutput {
        deployment: String,
        outputs: Vec<&'static str>,
    },
    /// The NSG (of those carrying the tags) attached to the gateway's subnet.
    GatewaySubnet { tags: Vec<(String, String)> },
}

impl How {
    /// The lookup as the summary names it.
    pub fn describe(&self) -> String {
        let tags = |t: &[(String, String)]| {
            if t.is_empty() {
                "by type".to_string()
            } else {
                format!(
                    "by tags {}",
                    t.iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            }
        };
        match self {
            How::Name { name } => format!("by name `{name}`"),
            How::Tags { tags: t } => tags(t),
            How::DeploymentOutput {
                deployment,
                outputs,
            } => {
                format!(
                    "from deployment `{deployment}` outputs {}",
                    outputs.join("/")
                )
            }
            How::GatewaySubnet { tags: t } => {
                format!("attached to the gateway's subnet, {}", tags(t))
            }
        }
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Lookup {
    pub infra: Infra,
    pub how: How,
    /// Not finding it fails the step.
    pub required: bool,
    pub resource_group: String,
}

/// Where the cluster's kubeconfig comes from.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AksCredentials {
    /// `listClusterUserCredential`; for Entra ID clusters the exec plugin is replaced
    /// by a token for the AKS server application.
    ListClusterUserCredential,
    KeyVaultSecret {
        secret: String,
    },
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct ReferPlan {
    pub subscription_id: String,
    pub resource_group: String,
    pub sign_in: AuthType,
    pub authority_host: String,
    pub arm_endpoint: String,
    pub lookups: Vec<Lookup>,
    /// Resource groups listed once for discovery.
    pub list_resource_groups: Vec<String>,
    pub deployment: Option<String>,
    pub aks_credentials: AksCredentials,
    pub key_vault_secrets: Vec<String>,
    pub outputs_file: Option<PathBuf>,
    pub secrets_in_outputs_file: bool,
}

impl ReferPlan {
    pub fn new(s: &ReferSettings) -> Self {
        let mut lookups = Vec::new();
        let mut list = Vec::new();
        for infra in Infra::ALL {
            let rg = if infra == Infra::DnsZone {
                s.dns_zone_resource_group.clone()
            } else {
                s.resource_group.clone()
            };
            let how = if let Some(n) = s.names.get(&infra) {
                How::Name { name: n.clone() }
            } else if let Some(d) = &s.deployment_name {
                How::DeploymentOutput {
                    deployment: d.clone(),
                    outputs: infra.output_names().to_vec(),
                }
            } else if infra == Infra::GatewayNsg {
                How::GatewaySubnet {
                    tags: s.discovery_tags.clone(),
                }
            } else {
                How::Tags {
                    tags: s.discovery_tags.clone(),
                }
            };
            if matches!(how, How::Tags { .. } | How::GatewaySubnet { .. }) && !list.contains(&rg) {
                list.push(rg.clone());
            }
            lookups.push(Lookup {
                infra,
                how,
                required: s.require.contains(&infra),
                resource_group: rg,
            });
        }
        ReferPlan {
            subscription_id: s.subscription_id.clone(),
            resource_group: s.resource_group.clone(),
            sign_in: s.azure.auth,
            authority_host: s.azure.authority_host.to_string(),
            arm_endpoint: s.azure.arm_endpoint.to_string(),
            lookups,
            list_resource_groups: list,
            deployment: s.deployment_name.clone(),
            aks_credentials: match &s.kubeconfig_secret {
                Some(secret) => AksCredentials::KeyVaultSecret {
                    secret: secret.clone(),
                },
                None => AksCredentials::ListClusterUserCredential,
            },
            key_vault_secrets: s.key_vault_secrets.clone(),
            outputs_file: s.outputs_file.clone(),
            secrets_in_outputs_file: s.secrets_in_outputs_file,
        }
    }

    // why: `ReferPlan::new` plans a lookup for every `Infra`.
    #[allow(clippy::expect_used)]
    pub fn lookup(&self, infra: Infra) -> &Lookup {
        self.lookups
            .iter()
            .find(|l| l.infra == infra)
            .expect("every part has a lookup")
    }
}
