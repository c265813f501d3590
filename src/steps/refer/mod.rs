//! The refer step: sign in once, find the shared infrastructure (by name, tags or an
//! ARM deployment's outputs), fetch what later steps need (registry, cluster
//! credentials, Key Vault references, DNS zone, gateway IP and NSG) concurrently, and
//! publish it as outputs plus a summary table. `find` looks; this file tells.

mod find;

use std::collections::BTreeMap;
use std::path::Path;

use crate::clients::azure::aks::{self, Cluster, UserAuth};
use crate::clients::azure::credential::AKS_SERVER_SCOPE;
use crate::clients::azure::keyvault::{SecretValue, Vault};
use crate::clients::azure::{Arm, AzureError, Credential};
use crate::error::Error;
use crate::host::HostError;
use crate::inputs::InputError;
use crate::inputs::settings::{Infra, ReferSettings};
use crate::plan::refer::{AksCredentials, ReferPlan};
use crate::render::refer_summary::{self, Row};
use crate::secret::Secret;

use super::{Ctx, Group};
use find::{Everything, Presence};

/// What refer found, for `run` and tests.
#[derive(Debug)]
pub struct ReferOutcome {
    pub outputs: Vec<(String, String)>,
    pub rows: Vec<Row>,
    pub summary: String,
}

/// What refer will look up, and where (pure; `--dry-run` prints it).
pub fn plan(s: &ReferSettings) -> ReferPlan {
    ReferPlan::new(s)
}

/// Signs in, looks everything up, publishes the outputs and the summary.
pub async fn execute(
    ctx: &Ctx,
    s: &ReferSettings,
    plan: &ReferPlan,
) -> Result<ReferOutcome, Error> {
    if let Some(secret) = &s.azure.client_secret {
        ctx.host.mask(secret);
    }
    let cred = Credential::from_settings(&s.azure, &ctx.env, &ctx.http, &ctx.host)?;
    let arm = Arm::new(&ctx.http, &s.azure.arm_endpoint, &cred, &s.subscription_id);
    {
        let _group = Group::open(&ctx.host, "Sign in to Azure");
        arm.token().await?;
        ctx.host
            .info(&format!("signed in with {}", cred.kind().name()));
    }
    let sheet = {
        let _group = Group::open(
            &ctx.host,
            &format!("Shared infrastructure in {}", s.resource_group),
        );
        let all = find::everything(ctx, s, plan, &arm).await?;
        tell(ctx, s, plan, &arm, &all).await?
    };
    let Sheet {
        outputs,
        rows,
        secrets,
        ..
    } = sheet;
    let notes = if s.key_vault_secrets.is_empty() {
        vec![]
    } else if s.secrets_in_outputs_file {
        vec!["Secret values were written to the outputs file (mode 0600) because secrets-in-outputs-file is on.".to_string()]
    } else {
        vec!["Secret outputs are Key Vault references, never values.".to_string()]
    };
    let summary = refer_summary::render(&s.resource_group, cred.kind().name(), &rows, &notes);
    ctx.host.summary("refer", &summary)?;
    publish(ctx, s, &outputs, &secrets)?;
    Ok(ReferOutcome {
        outputs,
        rows,
        summary,
    })
}

/// The outputs on the host and in `--outputs-file` (with the secret values in it, mode
/// 0600, when `secrets-in-outputs-file` is on).
fn publish(
    ctx: &Ctx,
    s: &ReferSettings,
    outputs: &[(String, String)],
    secrets: &[SecretValue],
) -> Result<(), Error> {
    let pairs: Vec<(&str, String)> = outputs
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    if !s.secrets_in_outputs_file {
        return ctx.publish(&pairs, s.outputs_file.as_deref());
    }
    ctx.publish(&pairs, None)?;
    let path = s.outputs_file.as_deref().ok_or_else(|| {
        InputError::Missing(
            "secrets-in-outputs-file needs an outputs file".into(),
            "give --outputs-file PATH".into(),
        )
    })?;
    let mut all = ctx.host.outputs();
    for sv in secrets {
        all.insert(
            format!("secret-{}-value", sv.name),
            sv.value.expose().to_string(),
        );
    }
    write_private(path, &all)?;
    Ok(())
}

/// The outputs, the summary's rows and the secret values, as they are told.
struct Sheet<'p> {
    plan: &'p ReferPlan,
    outputs: Vec<(String, String)>,
    rows: Vec<Row>,
    secrets: Vec<SecretValue>,
}

impl Sheet<'_> {
    fn put(&mut self, k: &str, v: &str) {
        self.outputs.push((k.to_string(), v.to_string()));
    }

    fn row(&mut self, i: Infra, name: Option<String>, detail: String) {
        self.rows.push(Row {
            what: i.title(),
            name,
            detail,
            lookup: self.plan.lookup(i).how.describe(),
        });
    }

    fn missing<T>(&mut self, i: Infra, p: &Presence<T>) {
        if let Presence::Missing(why) = p {
            self.row(i, None, why.clone());
        }
    }
}

/// Every piece's outputs, log line and summary row, in a fixed order.
async fn tell<'p>(
    ctx: &Ctx,
    s: &ReferSettings,
    plan: &'p ReferPlan,
    arm: &Arm<'_>,
    all: &Everything,
) -> Result<Sheet<'p>, Error> {
    let mut sheet = Sheet {
        plan,
        outputs: vec![
            ("subscription-id".into(), s.subscription_id.clone()),
            ("resource-group".into(), s.resource_group.clone()),
        ],
        rows: Vec::new(),
        secrets: Vec::new(),
    };
    if let Presence::Found(r) = &all.acr {
        sheet.put("acr-name", &r.name);
        sheet.put("acr-login-server", &r.login_server);
        sheet.put("acr-id", &r.id);
        ctx.host.info(&format!(
            "container registry: {} ({})",
            r.name, r.login_server
        ));
        sheet.row(Infra::Acr, Some(r.name.clone()), r.login_server.clone());
    }
    sheet.missing(Infra::Acr, &all.acr);
    if let Some((v, secrets)) = all.vault.found() {
        vault_outputs(&mut sheet, s, v, secrets);
    }
    if let Presence::Found((c, kubeconfig)) = &all.cluster {
        cluster(ctx, arm, &mut sheet, c, kubeconfig.as_ref(), &all.vault).await?;
    }
    sheet.missing(Infra::Aks, &all.cluster);
    if let Some((v, _)) = all.vault.found() {
        ctx.host.info(&format!("Key Vault: {} ({})", v.name, v.uri));
        let detail = if sheet.secrets.is_empty() {
            v.uri.clone()
        } else {
            format!("{}; {} secret reference(s)", v.uri, sheet.secrets.len())
        };
        sheet.row(Infra::KeyVault, Some(v.name.clone()), detail);
    }
    sheet.missing(Infra::KeyVault, &all.vault);
    if let Some(z) = all.zone.found() {
        sheet.put("dns-zone", &z.name);
        sheet.put("dns-zone-id", &z.id);
        sheet.put("dns-zone-resource-group", &z.resource_group);
        ctx.host.info(&format!("DNS zone: {}", z.name));
        let detail = format!("resource group {}", z.resource_group);
        sheet.row(Infra::DnsZone, Some(z.name.clone()), detail);
    }
    sheet.missing(Infra::DnsZone, &all.zone);
    gateway(ctx, &mut sheet, all);
    Ok(sheet)
}

/// The vault's outputs and a Key Vault reference per secret asked for.
fn vault_outputs(sheet: &mut Sheet<'_>, s: &ReferSettings, v: &Vault, secrets: &[SecretValue]) {
    sheet.put("key-vault-name", &v.name);
    sheet.put("key-vault-uri", &v.uri);
    sheet.put("key-vault-id", &v.id);
    for sv in secrets
        .iter()
        .filter(|sv| s.key_vault_secrets.contains(&sv.name))
    {
        sheet.put(&format!("secret-{}", sv.name), &sv.id);
        sheet.secrets.push(sv.clone());
    }
}

/// The Application Gateway (with its public IP) and its NSG.
fn gateway(ctx: &Ctx, sheet: &mut Sheet<'_>, all: &Everything) {
    if let Some((g, ip)) = all.gateway.found() {
        sheet.put("app-gateway-name", &g.name);
        sheet.put("app-gateway-id", &g.id);
        let mut detail = "no public IP".to_string();
        if let Some(ip) = ip {
            sheet.put("gateway-public-ip-id", &ip.id);
            if let Some(a) = &ip.address {
                sheet.put("gateway-public-ip", a);
                detail = format!("public IP {a}");
            }
            if let Some(f) = &ip.fqdn {
                sheet.put("gateway-fqdn", f);
                detail.push_str(&format!(" ({f})"));
            }
        }
        ctx.host
            .info(&format!("Application Gateway: {} ({detail})", g.name));
        sheet.row(Infra::AppGateway, Some(g.name.clone()), detail);
    }
    sheet.missing(Infra::AppGateway, &all.gateway);
    if let Some(n) = all.nsg.found() {
        sheet.put("gateway-nsg-name", &n.name);
        sheet.put("gateway-nsg-id", &n.id);
        sheet.put("gateway-nsg-resource-group", &n.resource_group);
        ctx.host.info(&format!("gateway NSG: {}", n.name));
        let detail = format!("resource group {}", n.resource_group);
        sheet.row(Infra::GatewayNsg, Some(n.name.clone()), detail);
    }
    sheet.missing(Infra::GatewayNsg, &all.nsg);
}

/// The cluster's kubeconfig, written mode 0600 (with a token for the AKS server app
/// instead of kubelogin on Entra ID clusters), and its outputs.
async fn cluster(
    ctx: &Ctx,
    arm: &Arm<'_>,
    sheet: &mut Sheet<'_>,
    c: &Cluster,
    kubeconfig: Option<&Secret>,
    vault: &Presence<(Vault, Vec<SecretValue>)>,
) -> Result<(), Error> {
    let kubeconfig = match kubeconfig {
        Some(k) => k.clone(),
        None => kubeconfig_from_vault(&sheet.plan.aks_credentials, vault)?,
    };
    let info = aks::inspect(&kubeconfig)?;
    for sec in &info.secrets {
        ctx.host.mask(sec);
    }
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
    sheet.put("aks-name", &c.name);
    sheet.put("aks-id", &c.id);
    sheet.put("aks-server", &info.server);
    if let Some(ca) = &info.ca_data {
        sheet.put("aks-ca-data", ca);
    }
    sheet.put("aks-auth", auth);
    sheet.put("kubeconfig", &path.display().to_string());
    let source = match &sheet.plan.aks_credentials {
        AksCredentials::KeyVaultSecret { secret } => {
            format!(", kubeconfig from Key Vault secret `{secret}`")
        }
        AksCredentials::ListClusterUserCredential => String::new(),
    };
    ctx.host.info(&format!(
        "AKS cluster: {} ({}, {auth}{source})",
        c.name, info.server
    ));
    let detail = format!("{} ({auth}{source})", info.server);
    sheet.row(Infra::Aks, Some(c.name.clone()), detail);
    Ok(())
}

/// The kubeconfig from its Key Vault secret (read with the others).
fn kubeconfig_from_vault(
    how: &AksCredentials,
    vault: &Presence<(Vault, Vec<SecretValue>)>,
) -> Result<Secret, AzureError> {
    let unreadable = |message: String| AzureError::Protocol {
        op: "reading the kubeconfig from Key Vault".into(),
        message,
    };
    let AksCredentials::KeyVaultSecret { secret } = how else {
        return Err(unreadable(
            "the kubeconfig is not read from Key Vault".into(),
        ));
    };
    let (_, secrets) = match vault {
        Presence::Found(v) => v,
        Presence::Missing(why) => return Err(unreadable(why.clone())),
    };
    let sv = secrets
        .iter()
        .find(|sv| &sv.name == secret)
        .ok_or_else(|| unreadable(format!("the vault has no secret `{secret}`")))?;
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
    // A map of strings always serializes.
    let json = serde_json::to_string_pretty(outputs).unwrap_or_default() + "\n";
    write_private_text(path, &Secret::new(json), "the outputs file")
}
