//! Finding the shared infrastructure, each piece in its own function returning
//! [`Presence`]: where it is (by name, by tags in a listed resource group, or from an ARM
//! deployment's outputs), then the resource itself and what later steps need of it.
//! A required piece that is missing is an error naming the setting that would find it.

use std::collections::BTreeMap;

use futures::future::join_all;

use crate::clients::azure::aks::{self, Cluster};
use crate::clients::azure::dns::{self, Zone};
use crate::clients::azure::keyvault::{self, SecretValue, Vault};
use crate::clients::azure::network::{self, AppGateway, Nsg, PublicIp};
use crate::clients::azure::resources::{
    self, DeploymentOutputs, GenericResource, Registry, parse_id,
};
use crate::clients::azure::{Arm, AzureError};
use crate::error::Error;
use crate::inputs::settings::{Infra, ReferSettings};
use crate::plan::refer::{AksCredentials, How, Lookup, ReferPlan};
use crate::secret::Secret;

use super::super::Ctx;

/// A piece of infrastructure looked for: found, or missing and why (a summary line; a
/// required piece that is missing is an error instead).
#[derive(Clone, Debug)]
pub(super) enum Presence<T> {
    Found(T),
    Missing(String),
}

use Presence::{Found, Missing};

impl<T> Presence<T> {
    pub fn found(&self) -> Option<&T> {
        match self {
            Found(t) => Some(t),
            Missing(_) => None,
        }
    }

    fn why(&self) -> Option<&str> {
        match self {
            Found(_) => None,
            Missing(why) => Some(why),
        }
    }
}

/// Where a piece is, once its lookup resolved.
#[derive(Clone, Debug)]
struct Target {
    name: String,
    resource_group: String,
}

/// Everything refer looked for.
pub(super) struct Everything {
    pub acr: Presence<Registry>,
    /// The cluster, and its user kubeconfig when the plan lists it (`None`: it comes
    /// from Key Vault).
    pub cluster: Presence<(Cluster, Option<Secret>)>,
    /// The vault and the secrets read from it.
    pub vault: Presence<(Vault, Vec<SecretValue>)>,
    pub zone: Presence<Zone>,
    pub gateway: Presence<(AppGateway, Option<PublicIp>)>,
    pub nsg: Presence<Nsg>,
}

/// The discovery data, read once (the listed resource groups, the deployment's outputs),
/// and where each piece is.
struct Places<'a> {
    plan: &'a ReferPlan,
    arm: &'a Arm<'a>,
    listings: BTreeMap<String, Vec<GenericResource>>,
    targets: BTreeMap<Infra, Presence<Target>>,
}

/// Looks for every piece concurrently; fails when a required one is missing.
pub(super) async fn everything(
    ctx: &Ctx,
    s: &ReferSettings,
    plan: &ReferPlan,
    arm: &Arm<'_>,
) -> Result<Everything, Error> {
    let places = places(ctx, s, plan, arm).await?;
    let gateway_and_nsg = async {
        let gateway = places.gateway().await?;
        let nsg = places.gateway_nsg(&gateway).await?;
        Ok::<_, AzureError>((gateway, nsg))
    };
    let (acr, cluster, vault, zone, gateway_and_nsg) = tokio::join!(
        places.registry(),
        places.cluster(),
        places.vault(s),
        places.zone(),
        gateway_and_nsg,
    );
    let (acr, cluster, vault, zone) = (acr?, cluster?, vault?, zone?);
    let (gateway, nsg) = gateway_and_nsg?;
    let all = Everything {
        acr,
        cluster,
        vault,
        zone,
        gateway,
        nsg,
    };
    for (infra, why) in [
        (Infra::Acr, all.acr.why()),
        (Infra::Aks, all.cluster.why()),
        (Infra::KeyVault, all.vault.why()),
        (Infra::DnsZone, all.zone.why()),
        (Infra::AppGateway, all.gateway.why()),
        (Infra::GatewayNsg, all.nsg.why()),
    ] {
        let l = plan.lookup(infra);
        if let (Some(why), true) = (why, l.required) {
            return Err(AzureError::Discovery {
                kind: infra.title(),
                scope: format!("resource group {}", l.resource_group),
                lookup: format!("{}; {why}", l.how.describe()),
                candidates: vec![],
                setting: infra.setting(),
            }
            .into());
        }
    }
    Ok(all)
}

/// Reads the listed resource groups and the deployment once, and resolves where each
/// piece is (the gateway NSG by its subnet comes later, from the gateway).
async fn places<'a>(
    ctx: &Ctx,
    s: &ReferSettings,
    plan: &'a ReferPlan,
    arm: &'a Arm<'a>,
) -> Result<Places<'a>, Error> {
    let listings = join_all(plan.list_resource_groups.iter().map(|rg| async move {
        resources::list_resource_group(arm, rg)
            .await
            .map(|l| (rg.clone(), l))
    }));
    let deployment = async {
        match &plan.deployment {
            Some(d) => resources::deployment_outputs(arm, &s.resource_group, d)
                .await
                .map(Some),
            None => Ok(None),
        }
    };
    let (listings, deployment) = tokio::join!(listings, deployment);
    let listings: BTreeMap<String, Vec<GenericResource>> =
        listings.into_iter().collect::<Result<_, _>>()?;
    let deployment = deployment?;
    if let Some(d) = &deployment
        && !d.provisioning_state.eq_ignore_ascii_case("Succeeded")
    {
        ctx.host.info(&format!(
            "deployment `{}` is in state {}; its outputs may be incomplete",
            plan.deployment.as_deref().unwrap_or_default(),
            d.provisioning_state
        ));
    }
    let mut targets = BTreeMap::new();
    for l in &plan.lookups {
        if !matches!(l.how, How::GatewaySubnet { .. }) {
            targets.insert(l.infra, resolve(l, &listings, deployment.as_ref())?);
        }
    }
    Ok(Places {
        plan,
        arm,
        listings,
        targets,
    })
}

impl Places<'_> {
    /// The resource of `infra`, fetched where its lookup found it; missing when the
    /// lookup found nothing, or (for an optional, discovered piece) when it is gone.
    async fn find<T, F, Fut>(&self, infra: Infra, fetch: F) -> Result<Presence<T>, AzureError>
    where
        F: FnOnce(Target) -> Fut,
        Fut: Future<Output = Result<T, AzureError>>,
    {
        match self.targets.get(&infra) {
            Some(Found(t)) => soft(self.plan.lookup(infra), fetch(t.clone()).await),
            Some(Missing(why)) => Ok(Missing(why.clone())),
            None => Ok(Missing(String::new())),
        }
    }

    async fn registry(&self) -> Result<Presence<Registry>, AzureError> {
        let arm = self.arm;
        self.find(Infra::Acr, |t| async move {
            resources::registry(arm, &t.resource_group, &t.name).await
        })
        .await
    }

    /// The cluster, and its user kubeconfig when the plan reads it from the cluster.
    async fn cluster(&self) -> Result<Presence<(Cluster, Option<Secret>)>, AzureError> {
        let arm = self.arm;
        let credentials = &self.plan.aks_credentials;
        self.find(Infra::Aks, |t| async move {
            let c = aks::cluster(arm, &t.resource_group, &t.name).await?;
            let kubeconfig = match credentials {
                AksCredentials::ListClusterUserCredential => {
                    Some(aks::user_kubeconfig(arm, &t.resource_group, &t.name).await?)
                }
                AksCredentials::KeyVaultSecret { .. } => None,
            };
            Ok((c, kubeconfig))
        })
        .await
    }

    /// The vault, and the secrets asked for (with the kubeconfig's, when it is there).
    async fn vault(
        &self,
        s: &ReferSettings,
    ) -> Result<Presence<(Vault, Vec<SecretValue>)>, AzureError> {
        let arm = self.arm;
        let mut names = s.key_vault_secrets.clone();
        if let AksCredentials::KeyVaultSecret { secret } = &self.plan.aks_credentials {
            names.push(secret.clone());
        }
        self.find(Infra::KeyVault, |t| async move {
            let v = keyvault::vault(arm, &t.resource_group, &t.name).await?;
            let secrets = keyvault::get_secrets(arm, &v, &names).await?;
            Ok((v, secrets))
        })
        .await
    }

    async fn zone(&self) -> Result<Presence<Zone>, AzureError> {
        let arm = self.arm;
        self.find(Infra::DnsZone, |t| async move {
            dns::zone(arm, &t.resource_group, &t.name).await
        })
        .await
    }

    /// The Application Gateway and its public IP.
    async fn gateway(&self) -> Result<Presence<(AppGateway, Option<PublicIp>)>, AzureError> {
        let arm = self.arm;
        self.find(Infra::AppGateway, |t| async move {
            let g = network::app_gateway(arm, &t.resource_group, &t.name).await?;
            let ip = match g.public_ip_ids.first() {
                Some(id) => Some(network::public_ip(arm, id).await?),
                None => None,
            };
            Ok((g, ip))
        })
        .await
    }

    /// The gateway NSG: named, from the deployment, or the one (of the tagged NSGs)
    /// attached to the gateway's subnet.
    async fn gateway_nsg(
        &self,
        gateway: &Presence<(AppGateway, Option<PublicIp>)>,
    ) -> Result<Presence<Nsg>, AzureError> {
        let arm = self.arm;
        let l = self.plan.lookup(Infra::GatewayNsg);
        let How::GatewaySubnet { tags } = &l.how else {
            return self
                .find(Infra::GatewayNsg, |t| async move {
                    network::nsg(arm, &t.resource_group, &t.name).await
                })
                .await;
        };
        let Found((gw, _)) = gateway else {
            return Ok(Missing(
                "needs the Application Gateway to know its subnet".into(),
            ));
        };
        let found = candidates(l.infra, tags, self.listings.get(&l.resource_group));
        let nsgs = join_all(
            found
                .iter()
                .map(|r| network::nsg(arm, &l.resource_group, &r.name)),
        )
        .await;
        let mut attached = Vec::new();
        for n in nsgs {
            let n = n?;
            if n.subnet_ids
                .iter()
                .any(|s| gw.subnet_ids.iter().any(|g| g.eq_ignore_ascii_case(s)))
            {
                attached.push(n);
            }
        }
        let names = found.iter().map(|r| r.name.as_str()).collect::<Vec<_>>();
        one_attached(l, attached, &names)
    }
}

/// Exactly one NSG attached to the gateway's subnet is the gateway NSG.
fn one_attached(
    l: &Lookup,
    attached: Vec<Nsg>,
    found: &[&str],
) -> Result<Presence<Nsg>, AzureError> {
    let mut attached = attached.into_iter();
    match (attached.next(), attached.len()) {
        (Some(n), 0) => Ok(Found(n)),
        (None, _) => {
            let why = format!(
                "none of the NSGs [{}] is attached to the gateway's subnet",
                found.join(", ")
            );
            if l.required {
                Err(discovery(l, why, vec![]))
            } else {
                Ok(Missing(why))
            }
        }
        (Some(first), _) => Err(discovery(
            l,
            l.how.describe(),
            std::iter::once(first)
                .chain(attached)
                .map(|n| n.name)
                .collect(),
        )),
    }
}

fn discovery(l: &Lookup, lookup: String, candidates: Vec<String>) -> AzureError {
    AzureError::Discovery {
        kind: l.infra.title(),
        scope: format!("resource group {}", l.resource_group),
        lookup,
        candidates,
        setting: l.infra.setting(),
    }
}

/// A 404 on a discovered, optional piece is "missing" for the summary; anything else
/// (and a 404 on a name the user gave) is an error.
fn soft<T>(l: &Lookup, r: Result<T, AzureError>) -> Result<Presence<T>, AzureError> {
    match r {
        Ok(v) => Ok(Found(v)),
        Err(e @ AzureError::NotFound { .. })
            if !l.required && !matches!(l.how, How::Name { .. }) =>
        {
            Ok(Missing(e.to_string()))
        }
        Err(e) => Err(e),
    }
}

/// A name or resource ID from a deployment output.
fn target_from_value(v: &str, default_rg: &str) -> Target {
    match parse_id(v) {
        Some(id) => Target {
            name: id.name,
            resource_group: id.resource_group,
        },
        None => Target {
            name: v.to_string(),
            resource_group: default_rg.to_string(),
        },
    }
}

/// Where the lookup says the piece is.
fn resolve(
    l: &Lookup,
    listings: &BTreeMap<String, Vec<GenericResource>>,
    deployment: Option<&DeploymentOutputs>,
) -> Result<Presence<Target>, AzureError> {
    match &l.how {
        How::Name { name } => Ok(Found(Target {
            name: name.clone(),
            resource_group: l.resource_group.clone(),
        })),
        How::DeploymentOutput {
            deployment: d,
            outputs,
        } => match deployment.and_then(|o| o.find(outputs)) {
            Some((_, v)) => Ok(Found(target_from_value(&v, &l.resource_group))),
            None => {
                let why = format!(
                    "deployment `{d}` has none of the outputs {}",
                    outputs.join(", ")
                );
                if l.required {
                    let candidates = deployment
                        .map(|o| o.outputs.keys().map(|k| format!("output {k}")).collect())
                        .unwrap_or_default();
                    Err(discovery(l, why, candidates))
                } else {
                    Ok(Missing(why))
                }
            }
        },
        How::Tags { tags } | How::GatewaySubnet { tags } => {
            let found = candidates(l.infra, tags, listings.get(&l.resource_group));
            match found.as_slice() {
                [one] => Ok(Found(Target {
                    name: one.name.clone(),
                    resource_group: l.resource_group.clone(),
                })),
                [] if !l.required => Ok(Missing(format!(
                    "no {} in resource group {} {}",
                    l.infra.title(),
                    l.resource_group,
                    l.how.describe()
                ))),
                _ => Err(discovery(
                    l,
                    l.how.describe(),
                    found.iter().map(|r| r.name.clone()).collect(),
                )),
            }
        }
    }
}

fn candidates<'l>(
    infra: Infra,
    tags: &[(String, String)],
    listing: Option<&'l Vec<GenericResource>>,
) -> Vec<&'l GenericResource> {
    listing
        .map(|l| {
            l.iter()
                .filter(|r| r.is(infra.resource_type()))
                .filter(|r| tags.iter().all(|(k, v)| r.tags.get(k) == Some(v)))
                .collect()
        })
        .unwrap_or_default()
}
