//! The infra step: the seed's shared infrastructure as one ARM deployment.
//!
//! plan (names and template, pure) → `--template-out` → with `--dry-run` and no
//! subscription: print the plan, no Azure → sign in → pre-flight (permissions, the DNS
//! zone, free global names, VM size in the zone; every problem one line, exit 2, nothing
//! deployed) → the MySQL password (reused from Key Vault, else generated) → what-if
//! (log, job summary, PR comment; `--dry-run` stops here) → incremental deploy with a
//! progress line per resource → the kubeconfig into Key Vault → outputs, state → with
//! `infra-phases` holding `cluster`, the cluster phase (`infra_cluster`: cert-manager,
//! External Secrets, the issuers and the Key Vault store) on the new cluster, with the
//! deployment's outputs filling what the user did not give → summary.
//!
//! The password is a `Secret` from birth: masked on the CI host, passed only as the
//! `secureString` parameter, never in the template file, logs, outputs or state.

use serde_json::{Value, json};

use crate::clients::azure::deployments::{self, Operation, SkuVerdict};
use crate::clients::azure::{Arm, AzureError, Credential, aks, dns, keyvault};
use crate::clients::kube as kube_client;
use crate::error::Error;
use crate::inputs::settings::{AddonSettings, InfraSettings};
use crate::model::pipeline::{Fact, StepStatus, StepSummary};
use crate::model::whatif::{Change, ChangeKind};
use crate::plan::infra::{
    DEPLOYER_PARAMETER, GATEWAY_EXISTS_PARAMETER, InfraPlan, NSG_EXISTS_PARAMETER,
    PASSWORD_PARAMETER, template,
};
use crate::render::markdown;
use crate::render::whatif;
use crate::secret::Secret;

use super::{Ctx, infra_cluster};

/// What infra did, for `run`, the report row and tests.
#[derive(Debug)]
pub struct InfraOutcome {
    pub changes: Vec<Change>,
    /// The cluster phase's outcome, when it ran after the deployment.
    pub cluster: Option<infra_cluster::InfraOutcome>,
    /// `false` after `--dry-run` (what-if only).
    pub deployed: bool,
    pub outputs: Vec<(String, String)>,
    pub summary: String,
}

/// `addons`: the cluster phase's settings when `infra-phases` holds `cluster` (resolved
/// before anything runs, so a bad value stops infra before the deployment).
pub async fn run(
    ctx: &Ctx,
    s: &InfraSettings,
    addons: Option<AddonSettings>,
) -> Result<Option<InfraOutcome>, Error> {
    let plan = InfraPlan::new(s)?;
    write_template(ctx, s, &plan)?;
    let Some(subscription) = s.subscription_id.clone() else {
        // Only --dry-run gets here (the settings require a subscription otherwise).
        // Plans are strings, numbers and string-keyed maps: they always serialize.
        let json = serde_json::to_string_pretty(&plan)
            .unwrap_or_else(|e| format!("the plan does not serialize: {e}"));
        ctx.host.print_data(&json);
        print_addons_plan(ctx, &addons);
        return Ok(None);
    };
    if let Some(secret) = &s.azure.client_secret {
        ctx.host.mask(secret);
    }
    let cred = Credential::from_settings(&s.azure, &ctx.env, &ctx.http, &ctx.host)?;
    let arm = Arm::new(&ctx.http, &s.azure.arm_endpoint, &cred, &subscription);
    let deployer = sign_in(ctx, &cred, &arm).await?;

    ctx.host.group_start("Pre-flight");
    let r = preflight(s, &plan, &arm).await;
    ctx.host.group_end();
    let existing = r?;

    let password = password(ctx, s, &plan, &arm).await?;
    let parameters = parameters(ctx, &plan, &password, deployer.as_deref(), &existing);
    let changes = what_if(ctx, s, &plan, &arm, &parameters).await?;
    let what_if_md = whatif::markdown(&plan.deployment, &s.resource_group, &changes);
    if s.dry_run {
        ctx.host.summary("infra", &what_if_md)?;
        print_addons_plan(ctx, &addons);
        return Ok(Some(InfraOutcome {
            cluster: None,
            changes,
            deployed: false,
            outputs: vec![],
            summary: what_if_md,
        }));
    }
    let deployed = deploy(ctx, s, &plan, &arm, &parameters).await?;
    let outputs = outputs(s, &plan, &subscription, &deployed.outputs);
    ctx.host.group_start("Kubeconfig to Key Vault");
    let r = kubeconfig_to_vault(ctx, s, &plan, &arm).await;
    ctx.host.group_end();
    let kubeconfig = r?;
    // The deployment's outputs are published before the cluster phase: a failure there
    // still leaves the application pipeline what it needs.
    let pairs: Vec<(&str, String)> = outputs
        .iter()
        .map(|(k, v)| (k.as_str(), v.clone()))
        .collect();
    ctx.publish(&pairs, s.outputs_file.as_deref())?;
    let cluster = cluster_phase(ctx, addons, &outputs, &kubeconfig).await?;
    let mut summary = format!("{what_if_md}\n{}", outputs_table(&outputs));
    if let Some(o) = &cluster {
        summary.push('\n');
        summary.push_str(&infra_cluster::summary(o));
    }
    ctx.host.summary("infra", &summary)?;
    Ok(Some(InfraOutcome {
        cluster,
        changes,
        deployed: true,
        outputs,
        summary,
    }))
}

fn write_template(ctx: &Ctx, s: &InfraSettings, plan: &InfraPlan) -> Result<(), Error> {
    if let Some(p) = &s.template_out {
        crate::fsx::write(
            p,
            "the ARM template",
            plan.template_text().as_bytes(),
            0o644,
        )
        .map_err(crate::host::HostError::from)?;
        ctx.host
            .info(&format!("ARM template written to {}", p.display()));
    }
    Ok(())
}

fn print_addons_plan(ctx: &Ctx, addons: &Option<AddonSettings>) {
    if let Some(a) = addons {
        ctx.host.print_data(&crate::plan::addons::plan(a).render());
    }
}

/// Signs in; the signed-in identity's object ID (the token's `oid`), when it has one.
async fn sign_in(ctx: &Ctx, cred: &Credential<'_>, arm: &Arm<'_>) -> Result<Option<String>, Error> {
    ctx.host.group_start("Sign in to Azure");
    let token = arm.token().await;
    if token.is_ok() {
        ctx.host
            .info(&format!("signed in with {}", cred.kind().name()));
    }
    ctx.host.group_end();
    Ok(object_id(&token?))
}

/// The deployment's parameters: the password (a `secureString`), the deployer's object
/// ID, and what exists already (see `plan::infra::template` on re-runs).
fn parameters(
    ctx: &Ctx,
    plan: &InfraPlan,
    password: &Secret,
    deployer: Option<&str>,
    existing: &Existing,
) -> Value {
    if deployer.is_none() {
        ctx.host.info(&format!(
            "the signed-in identity's object ID is not in its token (no `oid` claim), so the template cannot give it Key Vault Secrets Officer on {}: grant it yourself (`az role assignment create --role \"Key Vault Secrets Officer\" --assignee <its client ID> --scope <the vault's ID>`), or re-runs cannot read the MySQL password and the kubeconfig cannot be stored",
            plan.names.key_vault
        ));
    }
    if existing.gateway {
        ctx.host.info(&format!(
            "Application Gateway {} exists: AGIC owns its listeners, pools and rules, the deployment leaves it as it is",
            plan.names.gateway
        ));
    }
    if existing.nsg {
        ctx.host.info(&format!(
            "NSG {} exists: only its infra rules are written, rules others added (deploy's HTTPS rule) stay",
            plan.names.gateway_nsg
        ));
    }
    json!({
        PASSWORD_PARAMETER: {"value": password.expose()},
        DEPLOYER_PARAMETER: {"value": deployer.unwrap_or_default()},
        GATEWAY_EXISTS_PARAMETER: {"value": existing.gateway},
        NSG_EXISTS_PARAMETER: {"value": existing.nsg},
    })
}

async fn what_if(
    ctx: &Ctx,
    s: &InfraSettings,
    plan: &InfraPlan,
    arm: &Arm<'_>,
    parameters: &Value,
) -> Result<Vec<Change>, Error> {
    ctx.host.group_start("What-if");
    let r = deployments::what_if(
        arm,
        &s.resource_group,
        &plan.deployment,
        &plan.template,
        parameters,
    )
    .await;
    ctx.host.group_end();
    let changes = r?;
    ctx.host.untrusted(&whatif::log_lines(&changes));
    Ok(changes)
}

async fn deploy(
    ctx: &Ctx,
    s: &InfraSettings,
    plan: &InfraPlan,
    arm: &Arm<'_>,
    parameters: &Value,
) -> Result<deployments::Deployed, Error> {
    ctx.host
        .group_start(&format!("Deploy {} (incremental)", plan.deployment));
    let progress = |o: &Operation| {
        ctx.host.untrusted(&[format!(
            "{:<10} {} {}",
            o.state, o.resource_type, o.resource
        )]);
    };
    let tags: serde_json::Map<String, Value> =
        s.tags.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    let r = deployments::deploy(
        arm,
        &s.resource_group,
        &plan.deployment,
        &plan.template,
        parameters,
        &Value::Object(tags),
        &progress,
    )
    .await;
    ctx.host.group_end();
    Ok(r?)
}

/// With `infra-phases` holding `cluster`: the cluster phase on the new cluster, with the
/// deployment's outputs filling what the user did not give.
async fn cluster_phase(
    ctx: &Ctx,
    addons: Option<AddonSettings>,
    outputs: &[(String, String)],
    kubeconfig: &Secret,
) -> Result<Option<infra_cluster::InfraOutcome>, Error> {
    let Some(mut a) = addons else {
        return Ok(None);
    };
    a.fill_from_arm(outputs);
    let client =
        kube_client::connect_text("the new AKS cluster's kubeconfig", kubeconfig.expose()).await?;
    Ok(Some(infra_cluster::cluster_phase(ctx, &client, &a).await?))
}

/// The `oid` claim of an ARM token: the object ID of the signed-in identity.
fn object_id(token: &Secret) -> Option<String> {
    use base64::Engine;
    let payload = token.expose().split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    let oid = v.get("oid")?.as_str()?;
    uuid::Uuid::parse_str(oid).ok().map(|u| u.to_string())
}

/// Required actions on a resource group and the role that grants each.
const NEEDED: &[(&str, &str)] = &[
    ("Microsoft.Resources/deployments/write", "Contributor"),
    (
        "Microsoft.ContainerService/managedClusters/write",
        "Contributor",
    ),
    (
        "Microsoft.Authorization/roleAssignments/write",
        "User Access Administrator",
    ),
];

/// A pre-flight problem: what is wrong, and the fix.
type Problem = (String, String);

/// What exists already, for the resources whose parts others own after the first run.
#[derive(Clone, Copy, Debug, Default)]
struct Existing {
    gateway: bool,
    nsg: bool,
}

/// Every problem at once (one line each, exit 2), then what exists already.
async fn preflight(s: &InfraSettings, plan: &InfraPlan, arm: &Arm<'_>) -> Result<Existing, Error> {
    let rg_path = arm.rg_path(&s.resource_group);
    if !deployments::exists(arm, &rg_path, deployments::GROUPS_API, "the resource group").await? {
        let problems = vec![(
            format!("resource group `{}` does not exist", s.resource_group),
            format!(
                "create it (`az group create -n {} -l {}`) and grant the infra identity Contributor and User Access Administrator (or Owner) on it",
                s.resource_group, s.location
            ),
        )];
        return Err(AzureError::Preflight { problems }.into());
    }
    let mut problems = permission_problems(s, arm).await?;
    problems.extend(zone_problem(s, arm).await?);
    problems.extend(name_problems(s, plan, arm).await?);
    problems.extend(vm_size_problem(s, arm).await?);
    if !problems.is_empty() {
        return Err(AzureError::Preflight { problems }.into());
    }
    let n = &plan.names;
    let network =
        |kind: &str, name: &str| format!("{rg_path}/providers/Microsoft.Network/{kind}/{name}");
    Ok(Existing {
        gateway: deployments::exists(
            arm,
            &network("applicationGateways", &n.gateway),
            template::API_NETWORK,
            "the Application Gateway",
        )
        .await?,
        nsg: deployments::exists(
            arm,
            &network("networkSecurityGroups", &n.gateway_nsg),
            template::API_NETWORK,
            "the gateway NSG",
        )
        .await?,
    })
}

async fn permission_problems(s: &InfraSettings, arm: &Arm<'_>) -> Result<Vec<Problem>, Error> {
    let mut problems = Vec::new();
    let mut groups = vec![(s.resource_group.clone(), NEEDED)];
    if s.dns_zone_resource_group != s.resource_group {
        groups.push((
            s.dns_zone_resource_group.clone(),
            NEEDED.get(2..).unwrap_or_default(),
        ));
    }
    for (rg, needed) in groups {
        let perms = deployments::permissions(arm, &rg).await?;
        for (action, role) in needed {
            if !deployments::allowed(&perms, action) {
                problems.push((
                    format!("the signed-in identity may not `{action}` on resource group `{rg}`"),
                    format!("grant it the role `{role}` (or Owner) on resource group `{rg}`"),
                ));
            }
        }
    }
    Ok(problems)
}

async fn zone_problem(s: &InfraSettings, arm: &Arm<'_>) -> Result<Option<Problem>, Error> {
    match dns::zone(arm, &s.dns_zone_resource_group, &s.dns_zone).await {
        Ok(_) => Ok(None),
        Err(AzureError::NotFound { .. }) => Ok(Some((
            format!(
                "DNS zone `{}` does not exist in resource group `{}` (infra never creates it)",
                s.dns_zone, s.dns_zone_resource_group
            ),
            "create the zone and delegate it at your registrar, or pass --dns-zone / --dns-zone-resource-group of an existing one".into(),
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Global names (ACR, Key Vault, MySQL) that someone else holds.
async fn name_problems(
    s: &InfraSettings,
    plan: &InfraPlan,
    arm: &Arm<'_>,
) -> Result<Vec<Problem>, Error> {
    let rg_path = arm.rg_path(&s.resource_group);
    let n = &plan.names;
    let global = [
        (
            "Microsoft.ContainerRegistry/registries",
            &n.acr,
            "Microsoft.ContainerRegistry".to_string(),
            deployments::ACR_API,
        ),
        (
            "Microsoft.KeyVault/vaults",
            &n.key_vault,
            "Microsoft.KeyVault".to_string(),
            deployments::VAULT_API,
        ),
        (
            "Microsoft.DBforMySQL/flexibleServers",
            &n.mysql,
            format!("Microsoft.DBforMySQL/locations/{}", s.location),
            deployments::MYSQL_API,
        ),
    ];
    let mut problems = Vec::new();
    for (kind, name, provider, api) in global {
        let path = format!("{rg_path}/providers/{kind}/{name}");
        // Ours already (a re-run): nothing to check.
        if deployments::exists(arm, &path, api, &format!("{kind} {name}")).await? {
            continue;
        }
        if let Some(why) = deployments::name_taken(arm, &provider, api, kind, name).await? {
            problems.push((
                format!(
                    "the name `{name}` ({kind}) is taken: {}",
                    crate::model::text::strip_controls(&why)
                ),
                "choose another --name-prefix (these names are global in Azure)".into(),
            ));
        }
    }
    Ok(problems)
}

async fn vm_size_problem(s: &InfraSettings, arm: &Arm<'_>) -> Result<Option<Problem>, Error> {
    let size = &s.node_vm_size;
    let (zone, location) = (&s.zone, &s.location);
    Ok(
        match deployments::vm_size_in_zone(arm, location, size, zone).await? {
            SkuVerdict::Ok => None,
            SkuVerdict::UnknownSize => Some((
                format!("VM size `{size}` is not offered in {location}"),
                "pass --node-vm-size with a size the region offers (`az vm list-skus -l REGION`)"
                    .into(),
            )),
            SkuVerdict::NoZone(zones) => Some((
                format!(
                    "VM size `{size}` is not offered in zone {zone} of {location} (zones: {})",
                    if zones.is_empty() {
                        "none".into()
                    } else {
                        zones.join(", ")
                    }
                ),
                "pass another --zone or --node-vm-size".into(),
            )),
            SkuVerdict::Restricted(why) => Some((
                format!(
                    "VM size `{size}` is restricted for this subscription in zone {zone} of {location} ({why})"
                ),
                "pass another --node-vm-size or --zone, or ask Azure support to lift the restriction"
                    .into(),
            )),
        },
    )
}

/// The MySQL admin password: the one already in Key Vault (a re-run must not reset the
/// database's password), else a new one.
async fn password(
    ctx: &Ctx,
    s: &InfraSettings,
    plan: &InfraPlan,
    arm: &Arm<'_>,
) -> Result<Secret, Error> {
    let n = &plan.names;
    let found = match keyvault::vault(arm, &s.resource_group, &n.key_vault).await {
        Ok(vault) => {
            match keyvault::get_secrets(arm, &vault, std::slice::from_ref(&n.mysql_secret)).await {
                Ok(mut v) => v.pop().map(|sv| sv.value),
                Err(AzureError::NotFound { .. }) => None,
                Err(e) => return Err(e.into()),
            }
        }
        Err(AzureError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let p = match found {
        Some(p) => {
            ctx.host.info(&format!(
                "MySQL admin password: reusing the one in Key Vault {} (secret {})",
                n.key_vault, n.mysql_secret
            ));
            p
        }
        None => {
            ctx.host
                .info("MySQL admin password: generated (first run); it goes to Key Vault");
            generate_password().map_err(|message| AzureError::Protocol {
                op: "generating the MySQL password".into(),
                message,
            })?
        }
    };
    ctx.host.mask(&p);
    Ok(p)
}

/// 24 characters from the system CSPRNG (aws-lc through rustls), with at least one
/// upper-case letter, lower-case letter, digit and symbol: MySQL flexible server's rule
/// is 8-128 characters from three of those four classes.
pub fn generate_password() -> Result<Secret, String> {
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const DIGIT: &[u8] = b"23456789";
    // No quote, backslash, `$` or space: the value survives shells and connection strings.
    const SYMBOL: &[u8] = b"-_.!#%+=@^~";
    let classes = [UPPER, LOWER, DIGIT, SYMBOL];
    let rng = rustls::crypto::aws_lc_rs::default_provider().secure_random;
    let mut out = Vec::with_capacity(24);
    let pick = |set: &[u8], out: &mut Vec<u8>| -> Result<(), String> {
        // Rejection sampling: no modulo bias.
        let limit = 256 - (256 % set.len());
        loop {
            let mut b = [0u8; 1];
            rng.fill(&mut b)
                .map_err(|_| "the system random generator failed".to_string())?;
            let [byte] = b;
            if usize::from(byte) < limit
                && let Some(&c) = set.get(usize::from(byte) % set.len())
            {
                out.push(c);
                return Ok(());
            }
        }
    };
    for set in classes {
        pick(set, &mut out)?;
    }
    let all: Vec<u8> = classes.concat();
    while out.len() < 24 {
        pick(&all, &mut out)?;
    }
    // Shuffle (Fisher-Yates) so the class order is not fixed.
    for i in (1..out.len()).rev() {
        let mut b = [0u8; 1];
        rng.fill(&mut b)
            .map_err(|_| "the system random generator failed".to_string())?;
        let j = b[0] as usize % (i + 1);
        out.swap(i, j);
    }
    // Every class is ASCII.
    let password = String::from_utf8(out).map_err(|_| "the password is not ASCII".to_string())?;
    Ok(Secret::new(password))
}

/// The cluster's kubeconfig into Key Vault (ARM's secret resource: Contributor on the
/// group is enough; the value never leaves the request body).
async fn kubeconfig_to_vault(
    ctx: &Ctx,
    s: &InfraSettings,
    plan: &InfraPlan,
    arm: &Arm<'_>,
) -> Result<Secret, Error> {
    let n = &plan.names;
    let kubeconfig = aks::user_kubeconfig(arm, &s.resource_group, &n.aks).await?;
    ctx.host.mask(&kubeconfig);
    let path = format!(
        "{}/providers/Microsoft.KeyVault/vaults/{}/secrets/{}",
        arm.rg_path(&s.resource_group),
        n.key_vault,
        n.kubeconfig_secret
    );
    arm.send(
        reqwest::Method::PUT,
        &path,
        keyvault::VAULT_API,
        &[],
        Some(&json!({"properties": {"value": kubeconfig.expose(), "contentType": "application/yaml"}})),
        "writing the kubeconfig to Key Vault",
    )
    .await?;
    ctx.host.info(&format!(
        "kubeconfig stored as secret {} in Key Vault {}",
        n.kubeconfig_secret, n.key_vault
    ));
    Ok(kubeconfig)
}

fn outputs(
    s: &InfraSettings,
    plan: &InfraPlan,
    subscription: &str,
    o: &Value,
) -> Vec<(String, String)> {
    let get = |k: &str| {
        (o.get(k).and_then(|v| v.get("value")))
            .and_then(Value::as_str)
            .map(crate::model::text::strip_controls)
            .unwrap_or_default()
    };
    let vault_uri = get("keyVaultUri");
    let fqdn = get("aksFqdn");
    let mut out = vec![
        ("subscription-id", subscription.to_string()),
        ("resource-group", s.resource_group.clone()),
        ("deployment-name", plan.deployment.clone()),
        ("acr-login-server", get("acrLoginServer")),
        ("aks-name", plan.names.aks.clone()),
        (
            "aks-server",
            if fqdn.is_empty() {
                String::new()
            } else {
                format!("https://{fqdn}:443")
            },
        ),
        ("oidc-issuer-url", get("oidcIssuerUrl")),
        ("key-vault-uri", vault_uri.clone()),
        (
            "mysql-admin-secret",
            format!(
                "{}/secrets/{}",
                vault_uri.trim_end_matches('/'),
                plan.names.mysql_secret
            ),
        ),
        ("mysql-fqdn", get("mysqlFqdn")),
        ("gateway-public-ip", get("gatewayPublicIp")),
        ("gateway-nsg-name", plan.names.gateway_nsg.clone()),
        ("dns-zone", s.dns_zone.clone()),
        ("dns-zone-resource-group", s.dns_zone_resource_group.clone()),
        ("eso-client-id", get("esoClientId")),
        ("cert-manager-client-id", get("certManagerClientId")),
        ("log-analytics-workspace-id", get("logAnalyticsWorkspaceId")),
    ];
    out.retain(|(_, v)| !v.is_empty());
    out.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn outputs_table(outputs: &[(String, String)]) -> String {
    let mut t = String::from("| Output | Value |\n|---|---|\n");
    for (k, v) in outputs {
        t.push_str(&format!(
            "| {} | {} |\n",
            markdown::code(k),
            markdown::code(v)
        ));
    }
    t
}

/// The PR comment's row: the what-if headline and the resources that change.
pub fn report_row(o: &InfraOutcome, duration: std::time::Duration) -> StepSummary {
    let mut step = StepSummary::new("infra", StepStatus::Ok);
    step.duration_ms = Some(duration.as_millis() as u64);
    let verb = if o.deployed { "deployed" } else { "what-if" };
    step.facts
        .push(Fact::text(verb, whatif::headline(&o.changes)));
    let changing: Vec<&Change> = o
        .changes
        .iter()
        .filter(|c| {
            matches!(
                c.kind,
                ChangeKind::Create | ChangeKind::Modify | ChangeKind::Delete
            )
        })
        .collect();
    if let Some(c) = &o.cluster {
        let cluster_row = infra_cluster::step_row(c, duration);
        step.status = cluster_row.status;
        step.failure = cluster_row.failure;
        step.facts.extend(cluster_row.facts);
    }
    for c in changing.iter().take(12) {
        step.facts
            .push(Fact::code(c.kind.name(), c.short_name().to_string()));
    }
    if changing.len() > 12 {
        step.facts.push(Fact::text(
            "and",
            format!("{} more (see the job summary)", changing.len() - 12),
        ));
    }
    step
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_passwords_meet_mysqls_rules_and_differ() {
        let a = generate_password().unwrap();
        let b = generate_password().unwrap();
        assert_ne!(a.expose(), b.expose());
        let p = a.expose();
        assert_eq!(p.len(), 24);
        assert!(p.chars().any(|c| c.is_ascii_uppercase()));
        assert!(p.chars().any(|c| c.is_ascii_lowercase()));
        assert!(p.chars().any(|c| c.is_ascii_digit()));
        assert!(p.chars().any(|c| !c.is_ascii_alphanumeric()));
        assert!(!format!("{a:?}").contains(p));
    }
}
