//! The Azure roles of infra, read from the template itself (so the docs cannot drift
//! from it): every role assignment the template makes (who gets which role where), and
//! what the identity running infra therefore needs. `aks-backend internal catalog`
//! prints both; `scripts/gen-packaging` writes them into docs/packaging.md.

use serde_json::Value;

use super::template::role;

/// One role assignment the template makes.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Assignment {
    pub principal: String,
    pub role: String,
    pub scope: String,
}

/// One role the identity running infra needs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Need {
    pub role: String,
    pub scope: String,
    pub why: String,
}

fn role_name(guid: &str) -> &'static str {
    match guid {
        role::ACR_PULL => "AcrPull",
        role::CONTRIBUTOR => "Contributor",
        role::READER => "Reader",
        role::NETWORK_CONTRIBUTOR => "Network Contributor",
        role::KV_SECRETS_USER => "Key Vault Secrets User",
        role::KV_SECRETS_OFFICER => "Key Vault Secrets Officer",
        role::DNS_ZONE_CONTRIBUTOR => "DNS Zone Contributor",
        _ => "(unknown role)",
    }
}

/// Who an assignment's `principalId` expression names.
fn principal(expr: &str, names: &super::Names) -> String {
    if expr.contains("kubeletidentity") {
        "the AKS kubelet identity".into()
    } else if expr.contains("ingressApplicationGateway") {
        "the AGIC add-on identity".into()
    } else if expr.contains(super::DEPLOYER_PARAMETER) {
        "the identity running infra (when its token carries `oid`)".into()
    } else if expr.contains(&format!("'{}'", names.cluster_identity)) {
        "the AKS cluster identity".into()
    } else if expr.contains(&format!("'{}'", names.eso_identity)) {
        "External Secrets Operator's identity".into()
    } else if expr.contains(&format!("'{}'", names.cert_manager_identity)) {
        "cert-manager's identity".into()
    } else {
        expr.into()
    }
}

/// Where an assignment's `scope` expression points (none: the resource group).
fn scope(expr: Option<&str>) -> String {
    let Some(e) = expr else {
        return "the resource group".into();
    };
    let kinds = [
        ("Microsoft.Network/virtualNetworks'", "the VNet"),
        (
            "Microsoft.Network/applicationGateways'",
            "the Application Gateway",
        ),
        (
            "Microsoft.ContainerRegistry/registries'",
            "the container registry",
        ),
        ("Microsoft.KeyVault/vaults'", "the Key Vault"),
        (
            "Microsoft.Network/dnsZones'",
            "the DNS zone (in its own resource group)",
        ),
    ];
    kinds
        .iter()
        .find(|(k, _)| e.contains(k))
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| e.to_string())
}

fn walk(resources: &Value, names: &super::Names, out: &mut Vec<Assignment>) {
    for r in resources.as_array().into_iter().flatten() {
        let str_at = |pointer: &str| r.pointer(pointer).and_then(Value::as_str);
        match str_at("/type") {
            Some("Microsoft.Resources/deployments") => {
                if let Some(inner) = r.pointer("/properties/template/resources") {
                    walk(inner, names, out);
                }
                continue;
            }
            Some("Microsoft.Authorization/roleAssignments") => {}
            _ => continue,
        }
        let guid = str_at("/properties/roleDefinitionId")
            .and_then(|d| d.rsplit('\'').nth(1))
            .unwrap_or_default();
        out.push(Assignment {
            principal: principal(str_at("/properties/principalId").unwrap_or_default(), names),
            role: role_name(guid).into(),
            scope: scope(str_at("/scope")),
        });
    }
}

/// Every role assignment in the template, in template order.
pub fn assignments(template: &Value, names: &super::Names) -> Vec<Assignment> {
    let mut out = Vec::new();
    if let Some(resources) = template.get("resources") {
        walk(resources, names, &mut out);
    }
    out
}

/// What the identity running infra needs: Contributor to deploy the resources, User
/// Access Administrator wherever the template assigns roles (or Owner for both).
pub fn needs(assignments: &[Assignment]) -> Vec<Need> {
    let mut out = vec![Need {
        role: "Contributor".into(),
        scope: "the shared-infrastructure resource group (create it first)".into(),
        why: "the ARM deployment creates every resource".into(),
    }];
    let in_group: Vec<&Assignment> = assignments
        .iter()
        .filter(|a| !a.scope.contains("own resource group") && !a.principal.contains("running"))
        .collect();
    if !in_group.is_empty() {
        out.push(Need {
            role: "User Access Administrator".into(),
            scope: "the shared-infrastructure resource group".into(),
            why: format!(
                "the template assigns {}",
                in_group
                    .iter()
                    .map(|a| format!("{} to {}", a.role, a.principal))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        });
    }
    for a in assignments {
        if a.scope.contains("own resource group") {
            out.push(Need {
                role: "User Access Administrator".into(),
                scope: "the DNS zone's resource group, when it is another one".into(),
                why: format!("the template assigns {} to {}", a.role, a.principal),
            });
        }
        if a.principal.contains("running") {
            out.push(Need {
                role: format!("{} (infra grants it itself)", a.role),
                scope: a.scope.clone(),
                why: "re-runs read the MySQL password back instead of resetting it".into(),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::infra::InfraPlan;

    #[test]
    fn every_assignment_of_the_template_is_named_with_its_role_and_scope() {
        let s =
            crate::plan::infra::tests::settings(&[("dns-zone-resource-group", "rg-dns")]).unwrap();
        let plan = InfraPlan::new(&s).unwrap();
        let a = assignments(&plan.template, &plan.names);
        let count = plan
            .template
            .to_string()
            .matches("Microsoft.Authorization/roleAssignments\"")
            .count();
        assert_eq!(a.len(), count, "{a:#?}");
        for x in &a {
            assert!(!x.role.contains("unknown"), "{x:?}");
            assert!(x.scope.starts_with("the "), "{x:?}");
            assert!(!x.principal.contains("["), "{x:?}");
        }
        assert!(a.contains(&Assignment {
            principal: "the identity running infra (when its token carries `oid`)".into(),
            role: "Key Vault Secrets Officer".into(),
            scope: "the Key Vault".into(),
        }));
        let n = needs(&a);
        assert_eq!(n[0].role, "Contributor");
        assert!(n.iter().any(|n| n.scope.contains("DNS zone")), "{n:#?}");
    }
}
