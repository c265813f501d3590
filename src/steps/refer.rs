//! The refer step: sign in once, find the shared infrastructure (by name, tags or an
//! ARM deployment's outputs), fetch what later steps need (registry, cluster
//! credentials, Key Vault references, DNS zone, gateway IP and NSG) concurrently, and
//! publish it as outputs plus a summary table.

use std::collections::BTreeMap;
use std::path::Path;

use futures::future::join_all;

use crate::clients::azure::aks::{self, UserAuth};
use crate::clients::azure::credential::AKS_SERVER_SCOPE;
use crate::clients::azure::keyvault::{self, SecretValue, Vault};
use crate::clients::azure::resources::{self, DeploymentOutputs, GenericResource, parse_id};
use crate::clients::azure::{Arm, AzureError, Credential, dns, network};
use crate::error::Error;
use crate::host::HostError;
use crate::inputs::settings::{Infra, ReferSettings};
use crate::plan::refer::{AksCredentials, How, Lookup, ReferPlan};
use crate::render::refer_summary::{self, Row};
use crate::secret::Secret;

use super::Ctx;

/// What refer found, for `run` and tests.
#[derive(Debug)]
pub struct ReferOutcome {
    pub outputs: Vec<(String, String)>,
    pub rows: Vec<Row>,
    pub summary: String,
}

/// Where a part is, once its lookup resolved.
#[derive(Clone, Debug)]
struct Target {
    name: String,
    resource_group: String,
}

/// A lookup's result: found, or not (with why).
type Found<T> = Result<T, String>;

pub async fn run(ctx: &Ctx, s: &ReferSettings) -> Result<Option<ReferOutcome>, Error> {
    let plan = ReferPlan::new(s);
    if s.dry_run {
        let json = serde_json::to_string_pretty(&plan).expect("the plan serializes");
        ctx.host.print_data(&json);
        return Ok(None);
    }
    if let Some(secret) = &s.azure.client_secret {
        ctx.host.mask(secret);
    }
    let cred = Credential::from_settings(&s.azure, &ctx.env, &ctx.http, &ctx.host)?;
    let arm = Arm::new(&ctx.http, &s.azure.arm_endpoint, &cred, &s.subscription_id);

    ctx.host.group_start("Sign in to Azure");
    let signed_in = arm.token().await.map(|_| ());
    if signed_in.is_ok() {
        ctx.host
            .info(&format!("signed in with {}", cred.kind().name()));
    }
    ctx.host.group_end();
    signed_in?;

    ctx.host
        .group_start(&format!("Shared infrastructure in {}", s.resource_group));
    let r = lookup_all(ctx, s, &plan, &arm).await;
    ctx.host.group_end();
    let (rows, outputs, secrets) = r?;

    let notes = if s.key_vault_secrets.is_empty() {
        vec![]
    } else if s.secrets_in_outputs_file {
        vec!["Secret values were written to the outputs file (mode 0600) because secrets-in-outputs-file is on.".to_string()]
    } else {
        vec!["Secret outputs are Key Vault references, never values.".to_string()]
    };
    let summary = refer_summary::render(&s.resource_group, cred.kind().name(), &rows, &notes);
    ctx.host.summary("refer", &summary)?;

    let pairs: Vec<(&str, String)> = outputs
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    if s.secrets_in_outputs_file {
        ctx.publish(&pairs, None)?;
        let path = s.outputs_file.as_deref().expect("checked in the settings");
        let mut all = ctx.host.outputs();
        for sv in &secrets {
            all.insert(
                format!("secret-{}-value", sv.name),
                sv.value.expose().to_string(),
            );
        }
        write_private(path, &all)?;
    } else {
        ctx.publish(&pairs, s.outputs_file.as_deref())?;
    }
    Ok(Some(ReferOutcome {
        outputs,
        rows,
        summary,
    }))
}

type Looked = (Vec<Row>, Vec<(String, String)>, Vec<SecretValue>);

async fn lookup_all(
    ctx: &Ctx,
    s: &ReferSettings,
    plan: &ReferPlan,
    arm: &Arm<'_>,
) -> Result<Looked, Error> {
    // Discovery data, read once: the listed resource groups and the deployment.
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
            targets.insert(
                l.infra,
                resolve(l, &listings, deployment.as_ref(), &s.subscription_id)?,
            );
        }
    }
    let target = |i: Infra| {
        targets
            .get(&i)
            .cloned()
            .unwrap_or_else(|| Err(String::new()))
    };

    let acr = async {
        let t = match target(Infra::Acr) {
            Ok(t) => t,
            Err(why) => return Ok(Err(why)),
        };
        soft(
            plan.lookup(Infra::Acr),
            resources::registry(arm, &t.resource_group, &t.name).await,
        )
    };
    let cluster = async {
        let t = match target(Infra::Aks) {
            Ok(t) => t,
            Err(why) => return Ok(Err(why)),
        };
        let c = soft(
            plan.lookup(Infra::Aks),
            aks::cluster(arm, &t.resource_group, &t.name).await,
        )?;
        let Ok(c) = c else {
            return Ok(Err(c.unwrap_err()));
        };
        let kubeconfig = match plan.aks_credentials {
            AksCredentials::ListClusterUserCredential => {
                Some(aks::user_kubeconfig(arm, &t.resource_group, &t.name).await?)
            }
            AksCredentials::KeyVaultSecret { .. } => None,
        };
        Ok(Ok((c, kubeconfig)))
    };
    let vault = async {
        let t = match target(Infra::KeyVault) {
            Ok(t) => t,
            Err(why) => return Ok(Err(why)),
        };
        let v = soft(
            plan.lookup(Infra::KeyVault),
            keyvault::vault(arm, &t.resource_group, &t.name).await,
        )?;
        let Ok(v) = v else {
            return Ok(Err(v.unwrap_err()));
        };
        let mut names = s.key_vault_secrets.clone();
        if let AksCredentials::KeyVaultSecret { secret } = &plan.aks_credentials {
            names.push(secret.clone());
        }
        let secrets = keyvault::get_secrets(arm, &v, &names).await?;
        Ok(Ok((v, secrets)))
    };
    let zone = async {
        let t = match target(Infra::DnsZone) {
            Ok(t) => t,
            Err(why) => return Ok(Err(why)),
        };
        soft(
            plan.lookup(Infra::DnsZone),
            dns::zone(arm, &t.resource_group, &t.name).await,
        )
    };
    let gateway = async {
        let gw = async {
            let t = match target(Infra::AppGateway) {
                Ok(t) => t,
                Err(why) => return Ok(Err(why)),
            };
            let g = soft(
                plan.lookup(Infra::AppGateway),
                network::app_gateway(arm, &t.resource_group, &t.name).await,
            )?;
            let Ok(g) = g else {
                return Ok(Err(g.unwrap_err()));
            };
            let ip = match g.public_ip_ids.first() {
                Some(id) => Some(network::public_ip(arm, id).await?),
                None => None,
            };
            Ok::<_, AzureError>(Ok((g, ip)))
        }
        .await?;
        let nsg = gateway_nsg(
            plan.lookup(Infra::GatewayNsg),
            &targets,
            &listings,
            &gw,
            arm,
        )
        .await?;
        Ok::<_, AzureError>((gw, nsg))
    };
    let (acr, cluster, vault, zone, gateway) = tokio::join!(
        flatten(acr),
        flatten(cluster),
        flatten(vault),
        flatten(zone),
        gateway
    );
    let (acr, cluster, vault, zone, (gateway, nsg)) = (acr?, cluster?, vault?, zone?, gateway?);

    // Everything required must be there.
    let missing = |i: Infra, r: &Found<()>| -> Result<(), Error> {
        let l = plan.lookup(i);
        match r {
            Err(why) if l.required => Err(AzureError::Discovery {
                kind: i.title(),
                scope: format!("resource group {}", l.resource_group),
                lookup: format!("{}; {why}", l.how.describe()),
                candidates: vec![],
                setting: i.setting(),
            }
            .into()),
            _ => Ok(()),
        }
    };
    missing(Infra::Acr, &acr.as_ref().map(|_| ()).map_err(Clone::clone))?;
    missing(
        Infra::Aks,
        &cluster.as_ref().map(|_| ()).map_err(Clone::clone),
    )?;
    missing(
        Infra::KeyVault,
        &vault.as_ref().map(|_| ()).map_err(Clone::clone),
    )?;
    missing(
        Infra::DnsZone,
        &zone.as_ref().map(|_| ()).map_err(Clone::clone),
    )?;
    missing(
        Infra::AppGateway,
        &gateway.as_ref().map(|_| ()).map_err(Clone::clone),
    )?;
    missing(
        Infra::GatewayNsg,
        &nsg.as_ref().map(|_| ()).map_err(Clone::clone),
    )?;

    let mut out: Vec<(String, String)> = vec![
        ("subscription-id".into(), s.subscription_id.clone()),
        ("resource-group".into(), s.resource_group.clone()),
    ];
    let mut put = |k: &str, v: &str| out.push((k.to_string(), v.to_string()));
    let mut rows = Vec::new();
    let row = |i: Infra, name: Option<String>, detail: String| Row {
        what: i.title(),
        name,
        detail,
        lookup: plan.lookup(i).how.describe(),
    };

    match &acr {
        Ok(r) => {
            put("acr-name", &r.name);
            put("acr-login-server", &r.login_server);
            put("acr-id", &r.id);
            ctx.host.info(&format!(
                "container registry: {} ({})",
                r.name, r.login_server
            ));
            rows.push(row(
                Infra::Acr,
                Some(r.name.clone()),
                r.login_server.clone(),
            ));
        }
        Err(why) => rows.push(row(Infra::Acr, None, why.clone())),
    }

    let mut secret_values = Vec::new();
    if let Ok((v, secrets)) = &vault {
        put("key-vault-name", &v.name);
        put("key-vault-uri", &v.uri);
        put("key-vault-id", &v.id);
        for sv in secrets
            .iter()
            .filter(|sv| s.key_vault_secrets.contains(&sv.name))
        {
            put(&format!("secret-{}", sv.name), &sv.id);
            secret_values.push(sv.clone());
        }
    }

    match &cluster {
        Ok((c, kubeconfig)) => {
            let kubeconfig = match kubeconfig {
                Some(k) => k.clone(),
                None => kubeconfig_from_vault(&plan.aks_credentials, &vault)?,
            };
            let info = aks::inspect(&kubeconfig)?;
            for sec in &info.secrets {
                ctx.host.mask(sec);
            }
            // Entra ID clusters: a token for the AKS server app instead of kubelogin.
            let (kubeconfig, auth) = if info.auth == UserAuth::Exec {
                let token = arm.credential().token(AKS_SERVER_SCOPE).await?;
                (aks::with_token(&kubeconfig, &token)?, "entra-id-token")
            } else {
                let a = match info.auth {
                    UserAuth::ClientCertificate => "client-certificate",
                    UserAuth::Token => "token",
                    _ => "other",
                };
                (kubeconfig, a)
            };
            let path = ctx
                .env
                .temp_dir()
                .join("aks-backend")
                .join(format!("{}.kubeconfig", c.name));
            write_private_text(&path, &kubeconfig, "the kubeconfig")?;
            put("aks-name", &c.name);
            put("aks-id", &c.id);
            put("aks-server", &info.server);
            if let Some(ca) = &info.ca_data {
                put("aks-ca-data", ca);
            }
            put("aks-auth", auth);
            put("kubeconfig", &path.display().to_string());
            let source = match &plan.aks_credentials {
                AksCredentials::KeyVaultSecret { secret } => {
                    format!(", kubeconfig from Key Vault secret `{secret}`")
                }
                AksCredentials::ListClusterUserCredential => String::new(),
            };
            ctx.host.info(&format!(
                "AKS cluster: {} ({}, {auth}{source})",
                c.name, info.server
            ));
            rows.push(row(
                Infra::Aks,
                Some(c.name.clone()),
                format!("{} ({auth}{source})", info.server),
            ));
        }
        Err(why) => rows.push(row(Infra::Aks, None, why.clone())),
    }

    match &vault {
        Ok((v, _)) => {
            ctx.host.info(&format!("Key Vault: {} ({})", v.name, v.uri));
            let detail = if secret_values.is_empty() {
                v.uri.clone()
            } else {
                format!("{}; {} secret reference(s)", v.uri, secret_values.len())
            };
            rows.push(row(Infra::KeyVault, Some(v.name.clone()), detail));
        }
        Err(why) => rows.push(row(Infra::KeyVault, None, why.clone())),
    }

    match &zone {
        Ok(z) => {
            put("dns-zone", &z.name);
            put("dns-zone-id", &z.id);
            put("dns-zone-resource-group", &z.resource_group);
            ctx.host.info(&format!("DNS zone: {}", z.name));
            rows.push(row(
                Infra::DnsZone,
                Some(z.name.clone()),
                format!("resource group {}", z.resource_group),
            ));
        }
        Err(why) => rows.push(row(Infra::DnsZone, None, why.clone())),
    }

    match &gateway {
        Ok((g, ip)) => {
            put("app-gateway-name", &g.name);
            put("app-gateway-id", &g.id);
            let mut detail = "no public IP".to_string();
            if let Some(ip) = ip {
                put("gateway-public-ip-id", &ip.id);
                if let Some(a) = &ip.address {
                    put("gateway-public-ip", a);
                    detail = format!("public IP {a}");
                }
                if let Some(f) = &ip.fqdn {
                    put("gateway-fqdn", f);
                    detail.push_str(&format!(" ({f})"));
                }
            }
            ctx.host
                .info(&format!("Application Gateway: {} ({detail})", g.name));
            rows.push(row(Infra::AppGateway, Some(g.name.clone()), detail));
        }
        Err(why) => rows.push(row(Infra::AppGateway, None, why.clone())),
    }

    match &nsg {
        Ok(n) => {
            put("gateway-nsg-name", &n.name);
            put("gateway-nsg-id", &n.id);
            put("gateway-nsg-resource-group", &n.resource_group);
            ctx.host.info(&format!("gateway NSG: {}", n.name));
            rows.push(row(
                Infra::GatewayNsg,
                Some(n.name.clone()),
                format!("resource group {}", n.resource_group),
            ));
        }
        Err(why) => rows.push(row(Infra::GatewayNsg, None, why.clone())),
    }
    Ok((rows, out, secret_values))
}

/// `Result<Result<T, why>, AzureError>` from a future whose early `?` on a missing
/// target gives `Err(why)` directly.
async fn flatten<T>(
    f: impl Future<Output = Result<Found<T>, AzureError>>,
) -> Result<Found<T>, AzureError> {
    f.await
}

/// A 404 on a discovered, optional part is "not found" for the summary; anything else
/// (and a 404 on a name the user gave) is an error.
fn soft<T>(l: &Lookup, r: Result<T, AzureError>) -> Result<Found<T>, AzureError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e @ AzureError::NotFound { .. })
            if !l.required && !matches!(l.how, How::Name { .. }) =>
        {
            Ok(Err(e.to_string()))
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

fn resolve(
    l: &Lookup,
    listings: &BTreeMap<String, Vec<GenericResource>>,
    deployment: Option<&DeploymentOutputs>,
    _subscription: &str,
) -> Result<Found<Target>, AzureError> {
    match &l.how {
        How::Name { name } => Ok(Ok(Target {
            name: name.clone(),
            resource_group: l.resource_group.clone(),
        })),
        How::DeploymentOutput {
            deployment: d,
            outputs,
        } => match deployment.and_then(|o| o.find(outputs)) {
            Some((_, v)) => Ok(Ok(target_from_value(&v, &l.resource_group))),
            None => {
                let why = format!(
                    "deployment `{d}` has none of the outputs {}",
                    outputs.join(", ")
                );
                if l.required {
                    Err(AzureError::Discovery {
                        kind: l.infra.title(),
                        scope: format!("resource group {}", l.resource_group),
                        lookup: why,
                        candidates: deployment
                            .map(|o| o.outputs.keys().map(|k| format!("output {k}")).collect())
                            .unwrap_or_default(),
                        setting: l.infra.setting(),
                    })
                } else {
                    Ok(Err(why))
                }
            }
        },
        How::Tags { tags } | How::GatewaySubnet { tags } => {
            let found = candidates(l.infra, tags, listings.get(&l.resource_group));
            match found.len() {
                1 => Ok(Ok(Target {
                    name: found[0].name.clone(),
                    resource_group: l.resource_group.clone(),
                })),
                0 if !l.required => Ok(Err(format!(
                    "no {} in resource group {} {}",
                    l.infra.title(),
                    l.resource_group,
                    l.how.describe()
                ))),
                _ => Err(AzureError::Discovery {
                    kind: l.infra.title(),
                    scope: format!("resource group {}", l.resource_group),
                    lookup: l.how.describe(),
                    candidates: found.iter().map(|r| r.name.clone()).collect(),
                    setting: l.infra.setting(),
                }),
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

/// The gateway NSG: named, from the deployment, or the one (of the tagged NSGs)
/// attached to the gateway's subnet.
async fn gateway_nsg(
    l: &Lookup,
    targets: &BTreeMap<Infra, Found<Target>>,
    listings: &BTreeMap<String, Vec<GenericResource>>,
    gateway: &Found<(network::AppGateway, Option<network::PublicIp>)>,
    arm: &Arm<'_>,
) -> Result<Found<network::Nsg>, AzureError> {
    let How::GatewaySubnet { tags } = &l.how else {
        let t = match targets.get(&l.infra) {
            Some(Ok(t)) => t.clone(),
            Some(Err(why)) => return Ok(Err(why.clone())),
            None => return Ok(Err(String::new())),
        };
        return soft(l, network::nsg(arm, &t.resource_group, &t.name).await);
    };
    let Ok((gw, _)) = gateway else {
        return Ok(Err(
            "needs the Application Gateway to know its subnet".into()
        ));
    };
    let found = candidates(l.infra, tags, listings.get(&l.resource_group));
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
    match attached.len() {
        1 => Ok(Ok(attached.remove(0))),
        0 => {
            let why = format!(
                "none of the NSGs [{}] is attached to the gateway's subnet",
                found
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            if l.required {
                Err(AzureError::Discovery {
                    kind: l.infra.title(),
                    scope: format!("resource group {}", l.resource_group),
                    lookup: why,
                    candidates: vec![],
                    setting: l.infra.setting(),
                })
            } else {
                Ok(Err(why))
            }
        }
        _ => Err(AzureError::Discovery {
            kind: l.infra.title(),
            scope: format!("resource group {}", l.resource_group),
            lookup: l.how.describe(),
            candidates: attached.into_iter().map(|n| n.name).collect(),
            setting: l.infra.setting(),
        }),
    }
}

fn kubeconfig_from_vault(
    how: &AksCredentials,
    vault: &Found<(Vault, Vec<SecretValue>)>,
) -> Result<Secret, AzureError> {
    let AksCredentials::KeyVaultSecret { secret } = how else {
        unreachable!("only the Key Vault mode has no kubeconfig yet")
    };
    let (_, secrets) = vault.as_ref().map_err(|why| AzureError::Protocol {
        op: "reading the kubeconfig from Key Vault".into(),
        message: why.clone(),
    })?;
    let sv = secrets
        .iter()
        .find(|sv| &sv.name == secret)
        .expect("the kubeconfig secret was read with the others");
    Ok(aks::decode_kubeconfig(&sv.value))
}

/// Writes `text` readable by its owner only (it holds credentials).
fn write_private_text(path: &Path, text: &Secret, what: &'static str) -> Result<(), HostError> {
    Ok(crate::fsx::write(
        path,
        what,
        text.expose().as_bytes(),
        0o600,
    )?)
}

/// The outputs file with secret values in it: mode 0600 from its first byte.
fn write_private(path: &Path, outputs: &BTreeMap<String, String>) -> Result<(), HostError> {
    let json = serde_json::to_string_pretty(outputs).expect("a map of strings serializes") + "\n";
    write_private_text(path, &Secret::new(json), "the outputs file")
}
