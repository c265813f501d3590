//! The Azure side of a deploy, once the app is healthy: the app's A record in the DNS
//! zone (the certificate's HTTP-01 challenge needs it) and the gateway NSG's HTTPS rule.

use crate::clients::azure::{arm, credential::Credential, dns, network};
use crate::error::Error;
use crate::inputs::settings::{DeploySettings, DnsTarget, NsgTarget};
use crate::secret::Secret;

use super::super::{Ctx, Group};

/// Points the app's FQDN at the gateway and opens TCP 443 on the gateway's NSG (from the
/// allow-list, or from anywhere as the seed says). Returns one line per change; a target
/// that is not known (no `refer`, no flags) is skipped with a line saying so.
pub(super) async fn run(ctx: &Ctx, s: &DeploySettings) -> Result<Vec<String>, Error> {
    let mut done = Vec::new();
    if s.host.is_none() {
        return Ok(done);
    }
    if s.dns.is_none() && s.nsg.is_none() {
        ctx.host.info(
            "DNS record and NSG rule skipped: the zone and the gateway NSG are unknown (run `refer` first, or pass --dns-zone / --gateway-nsg-name)",
        );
        return Ok(done);
    }
    let _group = Group::open(&ctx.host, "Azure: DNS record and gateway NSG");
    let cred = Credential::from_settings(&s.azure, &ctx.env, &ctx.http, &ctx.host)?;
    // The scope `Arm` and refer use (the endpoint's origin), not the URL with its path.
    let token = cred.token(&arm::arm_scope(&s.azure.arm_endpoint)).await?;
    if let Some(d) = &s.dns {
        done.push(a_record(ctx, s, &token, d).await?);
    }
    if let Some(n) = &s.nsg {
        done.push(https_rule(ctx, s, &token, n).await?);
    }
    Ok(done)
}

/// The app's A record, pointing at the gateway's public IP.
async fn a_record(
    ctx: &Ctx,
    s: &DeploySettings,
    token: &Secret,
    d: &DnsTarget,
) -> Result<String, Error> {
    let r = dns::upsert_a_record(
        &ctx.http,
        &s.azure.arm_endpoint,
        token,
        &dns::ARecord {
            subscription_id: d.subscription_id.clone(),
            resource_group: d.resource_group.clone(),
            zone: d.zone.clone(),
            name: d.name.clone(),
            ttl: 300,
            addresses: vec![d.gateway_ip],
        },
    )
    .await?;
    let line = format!(
        "DNS: {} A {} in zone {} ({})",
        d.name,
        d.gateway_ip,
        d.zone,
        if r.created { "created" } else { "updated" }
    );
    ctx.host.info(&line);
    Ok(line)
}

/// The gateway NSG's rule for TCP 443: from the allow-list, or from anywhere.
async fn https_rule(
    ctx: &Ctx,
    s: &DeploySettings,
    token: &Secret,
    n: &NsgTarget,
) -> Result<String, Error> {
    let sources = if s.allow_cidrs.is_empty() {
        network::Sources::Any
    } else {
        network::Sources::Cidrs(
            s.allow_cidrs
                .iter()
                .map(|c| network::Cidr::parse(&c.0))
                .collect::<Result<_, _>>()?,
        )
    };
    let r = network::upsert_https_allow_rule(
        &ctx.http,
        &s.azure.arm_endpoint,
        token,
        &network::HttpsAllowRule {
            subscription_id: n.subscription_id.clone(),
            resource_group: n.resource_group.clone(),
            nsg: n.name.clone(),
            name: "aks-backend-https".into(),
            priority: 300,
            sources,
            description: "HTTPS to the app, managed by aks-backend".into(),
        },
    )
    .await?;
    let from = if s.allow_cidrs.is_empty() {
        "anywhere".to_string()
    } else {
        s.allow_cidrs
            .iter()
            .map(|c| c.0.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let line = format!(
        "NSG {}: TCP 443 from {from} ({})",
        n.name,
        if r.created { "created" } else { "updated" }
    );
    ctx.host.info(&line);
    Ok(line)
}
