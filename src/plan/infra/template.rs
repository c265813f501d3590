//! The ARM template of the shared infrastructure, a pure function of the settings.
//!
//! Names, addresses, SKUs and rules are literal values computed here, so what-if and a
//! reviewer see plain values. Template expressions are kept to what only ARM knows at
//! deployment time; the template uses exactly these functions (the test mock evaluates
//! them and fails on any other):
//!
//! - `parameters('mysqlAdminPassword')`, `parameters('deployerPrincipalId')`: the
//!   `secureString` password (never in the file) and the signed-in identity;
//! - `resourceId(...)`: IDs of resources in this template (subnets, identities, the zone
//!   in its own resource group);
//! - `subscriptionResourceId('Microsoft.Authorization/roleDefinitions', GUID)`: built-in
//!   role definitions;
//! - `reference(ID)`: principal IDs of the identities, the kubelet and AGIC identities,
//!   the OIDC issuer URL, and the outputs (login server, vault URI, FQDNs, IP);
//! - `guid(...)`, `resourceGroup()`: stable role-assignment names, and
//!   `extensionResourceId(...)` to depend on one;
//! - `subscription()`: the Key Vault's tenant;
//! - `not(empty(...))`: the deployer's Key Vault role only when the deployer is known;
//!   `not(parameters(...))`: the gateway and its NSG only when they do not exist yet.
//!
//! Re-runs and what others own. An ARM PUT replaces a resource's whole body, and
//! incremental mode only means "resources not in the template are left alone", not
//! "properties not in the template are left alone". Two resources have parts that are
//! not ours after the first run:
//!
//! - the Application Gateway: the AGIC add-on rewrites its listeners, backend pools,
//!   HTTP settings, probes and rules from the cluster's Ingresses. Re-PUTting our
//!   placeholder configuration would cut traffic until AGIC's next sync. So the step
//!   GETs the gateway first and passes `gatewayExists`; the resource carries
//!   `condition: not(parameters('gatewayExists'))` (ARM's conditional deployment, the
//!   pattern Microsoft's AGIC guidance and Terraform's `ignore_changes` serve): it is
//!   created once and afterwards not in the deployment at all (what-if: Ignore).
//!   Changing the gateway's SKU or capacity later is AGIC-safe only by hand (`az
//!   network application-gateway update`), never by re-deploying our placeholder.
//! - the gateway NSG: `deploy` adds its HTTPS rule (`aks-backend-https`) with the
//!   security-rules API. A PUT of the NSG with a `securityRules` list would delete it.
//!   So the NSG itself is created once (`gatewayNsgExists`, same condition) and our
//!   rules are its child `securityRules` resources, deployed on every run: a changed
//!   `--allow-cidr` still reaches Azure as a Modify of our rule, and rules others added
//!   stay. (ARM's `condition` does not cascade to nested child resources.)
//!
//! TLS to MySQL: the flexible server's `require_secure_transport` is ON by default and
//! the template does not turn it off.

use std::net::Ipv4Addr;

use serde_json::{Map, Value, json};

use super::names::Names;
use super::{GATEWAY_EXISTS_PARAMETER, NSG_EXISTS_PARAMETER};
use crate::inputs::settings::InfraSettings;
use crate::plan::json::set;

pub const SCHEMA: &str =
    "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#";

pub const API_WORKSPACE: &str = "2025-07-01";
pub const API_NETWORK: &str = "2025-07-01";
pub const API_IDENTITY: &str = "2024-11-30";
pub const API_AKS: &str = "2026-05-01";
pub const API_ACR: &str = "2025-11-01";
pub const API_MYSQL: &str = "2024-12-30";
pub const API_VAULT: &str = "2026-02-01";
pub const API_ROLE: &str = "2022-04-01";
pub const API_EXTENSION: &str = "2025-03-01";
pub const API_DEPLOYMENT: &str = "2025-04-01";

/// Built-in role definitions (well-known GUIDs).
pub mod role {
    pub const ACR_PULL: &str = "7f951dda-4ed3-4680-a7ca-43fe172d538d";
    pub const CONTRIBUTOR: &str = "b24988ac-6180-42a0-ab88-20f7382dd24c";
    pub const READER: &str = "acdd72a7-3385-48ef-bd42-f606fba81ae7";
    pub const NETWORK_CONTRIBUTOR: &str = "4d97b98b-1d4f-4787-a291-c67834d212e7";
    pub const KV_SECRETS_USER: &str = "4633458b-17de-408a-b874-0445c86b69e6";
    pub const KV_SECRETS_OFFICER: &str = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7";
    pub const DNS_ZONE_CONTRIBUTOR: &str = "befefa01-2a29-4197-83a8-272ff33ce314";
}

/// The service accounts the identities federate with (the cluster side is issue #16).
pub const ESO_SUBJECT: &str = "system:serviceaccount:external-secrets:external-secrets";
pub const CERT_MANAGER_SUBJECT: &str = "system:serviceaccount:cert-manager:cert-manager";
pub const TOKEN_AUDIENCE: &str = "api://AzureADTokenExchange";

pub const VNET_PREFIX: &str = "10.20.0.0/16";
pub const GATEWAY_SUBNET_PREFIX: &str = "10.20.0.0/24";
pub const AKS_SUBNET_PREFIX: &str = "10.20.16.0/20";

fn rid(kind: &str, names: &[&str]) -> String {
    let args: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    format!("resourceId('{kind}', {})", args.join(", "))
}

fn expr(e: &str) -> Value {
    Value::String(format!("[{e}]"))
}

fn reference(kind: &str, name: &str, path: &str) -> Value {
    expr(&format!("reference({}).{path}", rid(kind, &[name])))
}

const IDENTITY: &str = "Microsoft.ManagedIdentity/userAssignedIdentities";
const AKS: &str = "Microsoft.ContainerService/managedClusters";

/// A role assignment of `role` to `principal` (an expression) on `scope` (an expression;
/// `None`: the resource group).
fn role_assignment(
    label: &str,
    scope: Option<String>,
    role: &str,
    principal: Value,
    depends_on: Vec<String>,
) -> Value {
    let mut r = json!({
        "type": "Microsoft.Authorization/roleAssignments",
        "apiVersion": API_ROLE,
        "name": expr(&format!("guid(resourceGroup().id, '{label}')")),
        "properties": {
            "roleDefinitionId": expr(&format!(
                "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '{role}')"
            )),
            "principalId": principal,
            "principalType": "ServicePrincipal",
        },
        "dependsOn": depends_on,
    });
    if let Some(s) = scope {
        set(&mut r, &["scope"], expr(&s));
    }
    r
}

fn tags(s: &InfraSettings) -> Value {
    let mut m = Map::new();
    for (k, v) in &s.tags {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    m.insert("managed-by".into(), json!("aks-backend-infra"));
    Value::Object(m)
}

/// First and last IPv4 address of a CIDR (MySQL firewall rules are ranges).
pub fn ipv4_range(cidr: &str) -> Option<(Ipv4Addr, Ipv4Addr)> {
    let (a, l) = cidr.split_once('/').unwrap_or((cidr, "32"));
    let ip: Ipv4Addr = a.parse().ok()?;
    let len: u32 = l.parse().ok().filter(|l| *l <= 32)?;
    let start = u32::from(ip);
    let host = if len == 32 { 0 } else { u32::MAX >> len };
    Some((ip, Ipv4Addr::from(start | host)))
}

/// `Standard_B1ms` -> Burstable, `Standard_E*` -> MemoryOptimized, else GeneralPurpose.
pub fn mysql_tier(sku: &str) -> &'static str {
    if sku.starts_with("Standard_B") {
        "Burstable"
    } else if sku.starts_with("Standard_E") {
        "MemoryOptimized"
    } else {
        "GeneralPurpose"
    }
}

/// The gateway NSG's rules as child resources of the NSG (`securityRules`), each
/// depending on the NSG (`nsg_id`, an expression).
fn gateway_rules(s: &InfraSettings, nsg_id: &str) -> Value {
    let mut https = json!({
        "name": "AllowHttpsInbound",
        "properties": {
            "description": "Clients to the gateway's HTTPS listener",
            "protocol": "Tcp",
            "sourcePortRange": "*",
            "destinationPortRange": "443",
            "destinationAddressPrefix": "*",
            "access": "Allow",
            "priority": 100,
            "direction": "Inbound",
        }
    });
    if s.allow_cidrs.is_empty() {
        set(
            &mut https,
            &["properties", "sourceAddressPrefix"],
            json!("*"),
        );
    } else {
        let cidrs = json!(s.allow_cidrs);
        set(&mut https, &["properties", "sourceAddressPrefixes"], cidrs);
    }
    let rules = json!([
        https,
        {
            "name": "AllowGatewayManagerInbound",
            "properties": {
                "description": "Application Gateway v2 infrastructure (backend health)",
                "protocol": "Tcp",
                "sourcePortRange": "*",
                "destinationPortRange": "65200-65535",
                "sourceAddressPrefix": "GatewayManager",
                "destinationAddressPrefix": "*",
                "access": "Allow",
                "priority": 110,
                "direction": "Inbound",
            }
        },
        {
            "name": "AllowAzureLoadBalancerInbound",
            "properties": {
                "description": "Azure load balancer probes",
                "protocol": "*",
                "sourcePortRange": "*",
                "destinationPortRange": "*",
                "sourceAddressPrefix": "AzureLoadBalancer",
                "destinationAddressPrefix": "*",
                "access": "Allow",
                "priority": 120,
                "direction": "Inbound",
            }
        },
    ]);
    let child = |mut r: Value| {
        set(&mut r, &["type"], json!("securityRules"));
        set(&mut r, &["apiVersion"], json!(API_NETWORK));
        set(&mut r, &["dependsOn"], json!([nsg_id]));
        r
    };
    Value::Array(
        rules
            .as_array()
            .into_iter()
            .flatten()
            .cloned()
            .map(child)
            .collect(),
    )
}

/// The whole template.
pub fn template(s: &InfraSettings, n: &Names) -> Value {
    let loc = &s.location;
    let tags = tags(s);
    let vnet_id = rid("Microsoft.Network/virtualNetworks", &[&n.vnet]);
    let gw_subnet_id = rid(
        "Microsoft.Network/virtualNetworks/subnets",
        &[&n.vnet, &n.gateway_subnet],
    );
    let aks_subnet_id = rid(
        "Microsoft.Network/virtualNetworks/subnets",
        &[&n.vnet, &n.aks_subnet],
    );
    let gw_id = rid("Microsoft.Network/applicationGateways", &[&n.gateway]);
    let gw_part = |part: &str, name: &str| {
        expr(&rid(
            &format!("Microsoft.Network/applicationGateways/{part}"),
            &[&n.gateway, name],
        ))
    };
    let pip_id = rid("Microsoft.Network/publicIPAddresses", &[&n.public_ip]);
    let ws_id = rid("Microsoft.OperationalInsights/workspaces", &[&n.workspace]);
    let cluster_identity_id = rid(IDENTITY, &[&n.cluster_identity]);
    let aks_id = rid(AKS, &[&n.aks]);
    let acr_id = rid("Microsoft.ContainerRegistry/registries", &[&n.acr]);
    let kv_id = rid("Microsoft.KeyVault/vaults", &[&n.key_vault]);
    let mysql_id = rid("Microsoft.DBforMySQL/flexibleServers", &[&n.mysql]);
    let eso_id = rid(IDENTITY, &[&n.eso_identity]);
    let cm_id = rid(IDENTITY, &[&n.cert_manager_identity]);
    let zone_id = format!(
        "resourceId('{}', 'Microsoft.Network/dnsZones', '{}')",
        s.dns_zone_resource_group, s.dns_zone
    );
    let kubelet = reference(AKS, &n.aks, "identityProfile.kubeletidentity.objectId");
    let agic = reference(
        AKS,
        &n.aks,
        "addonProfiles.ingressApplicationGateway.identity.objectId",
    );
    let oidc_issuer = reference(AKS, &n.aks, "oidcIssuerProfile.issuerURL");

    let nsg_deps: Vec<String> = [&n.gateway_nsg, &n.aks_nsg]
        .iter()
        .map(|nsg| {
            format!(
                "[{}]",
                rid("Microsoft.Network/networkSecurityGroups", &[nsg])
            )
        })
        .collect();
    let mut resources = vec![
        json!({
            "type": "Microsoft.OperationalInsights/workspaces",
            "apiVersion": API_WORKSPACE,
            "name": n.workspace,
            "location": loc,
            "tags": tags,
            "properties": {
                "sku": {"name": "PerGB2018"},
                "retentionInDays": s.log_retention_days,
            },
        }),
        // Created once; its rules are child resources, deployed on every run, so a
        // re-run never PUTs the NSG's rule list and rules `deploy` added stay.
        json!({
            "type": "Microsoft.Network/networkSecurityGroups",
            "apiVersion": API_NETWORK,
            "condition": format!("[not(parameters('{NSG_EXISTS_PARAMETER}'))]"),
            "name": n.gateway_nsg,
            "location": loc,
            "tags": tags,
            "properties": {"securityRules": []},
            "resources": gateway_rules(s, &format!("[{}]", rid("Microsoft.Network/networkSecurityGroups", &[&n.gateway_nsg]))),
        }),
        json!({
            "type": "Microsoft.Network/networkSecurityGroups",
            "apiVersion": API_NETWORK,
            "name": n.aks_nsg,
            "location": loc,
            "tags": tags,
            "properties": {"securityRules": []},
        }),
        json!({
            "type": "Microsoft.Network/virtualNetworks",
            "apiVersion": API_NETWORK,
            "name": n.vnet,
            "location": loc,
            "tags": tags,
            "dependsOn": nsg_deps,
            "properties": {
                "addressSpace": {"addressPrefixes": [VNET_PREFIX]},
                "subnets": [
                    {
                        "name": n.gateway_subnet,
                        "properties": {
                            "addressPrefix": GATEWAY_SUBNET_PREFIX,
                            "networkSecurityGroup": {"id": expr(&rid("Microsoft.Network/networkSecurityGroups", &[&n.gateway_nsg]))},
                        },
                    },
                    {
                        "name": n.aks_subnet,
                        "properties": {
                            "addressPrefix": AKS_SUBNET_PREFIX,
                            "networkSecurityGroup": {"id": expr(&rid("Microsoft.Network/networkSecurityGroups", &[&n.aks_nsg]))},
                        },
                    },
                ],
            },
        }),
        json!({
            "type": "Microsoft.Network/publicIPAddresses",
            "apiVersion": API_NETWORK,
            "name": n.public_ip,
            "location": loc,
            "tags": tags,
            "sku": {"name": "Standard", "tier": "Regional"},
            "properties": {
                "publicIPAllocationMethod": "Static",
                "publicIPAddressVersion": "IPv4",
            },
        }),
        // Created once: afterwards AGIC owns its listeners, pools, settings and rules.
        json!({
            "type": "Microsoft.Network/applicationGateways",
            "apiVersion": API_NETWORK,
            "condition": format!("[not(parameters('{GATEWAY_EXISTS_PARAMETER}'))]"),
            "name": n.gateway,
            "location": loc,
            "tags": tags,
            "dependsOn": [format!("[{vnet_id}]"), format!("[{pip_id}]")],
            "properties": {
                "sku": {"name": "Standard_v2", "tier": "Standard_v2", "capacity": 1},
                "sslPolicy": {"policyType": "Predefined", "policyName": "AppGwSslPolicy20220101S"},
                "gatewayIPConfigurations": [{
                    "name": "appGatewayIpConfig",
                    "properties": {"subnet": {"id": expr(&gw_subnet_id)}},
                }],
                "frontendIPConfigurations": [{
                    "name": "appGatewayFrontendIP",
                    "properties": {"publicIPAddress": {"id": expr(&pip_id)}},
                }],
                "frontendPorts": [{"name": "port-80", "properties": {"port": 80}}],
                "backendAddressPools": [{"name": "defaultaddresspool", "properties": {}}],
                "backendHttpSettingsCollection": [{
                    "name": "defaulthttpsetting",
                    "properties": {
                        "port": 80,
                        "protocol": "Http",
                        "cookieBasedAffinity": "Disabled",
                        "requestTimeout": 30,
                    },
                }],
                "httpListeners": [{
                    "name": "defaultlistener",
                    "properties": {
                        "frontendIPConfiguration": {"id": gw_part("frontendIPConfigurations", "appGatewayFrontendIP")},
                        "frontendPort": {"id": gw_part("frontendPorts", "port-80")},
                        "protocol": "Http",
                    },
                }],
                "requestRoutingRules": [{
                    "name": "defaultrule",
                    "properties": {
                        "ruleType": "Basic",
                        "priority": 19500,
                        "httpListener": {"id": gw_part("httpListeners", "defaultlistener")},
                        "backendAddressPool": {"id": gw_part("backendAddressPools", "defaultaddresspool")},
                        "backendHttpSettings": {"id": gw_part("backendHttpSettingsCollection", "defaulthttpsetting")},
                    },
                }],
            },
        }),
        json!({
            "type": IDENTITY,
            "apiVersion": API_IDENTITY,
            "name": n.cluster_identity,
            "location": loc,
            "tags": tags,
            "properties": {},
        }),
        role_assignment(
            "aks-identity-network-contributor",
            Some(vnet_id.clone()),
            role::NETWORK_CONTRIBUTOR,
            reference(IDENTITY, &n.cluster_identity, "principalId"),
            vec![format!("[{vnet_id}]"), format!("[{cluster_identity_id}]")],
        ),
        json!({
            "type": "Microsoft.ContainerRegistry/registries",
            "apiVersion": API_ACR,
            "name": n.acr,
            "location": loc,
            "tags": tags,
            "sku": {"name": "Standard"},
            "properties": {"adminUserEnabled": false},
        }),
    ];

    let mut cluster = json!({
        "type": AKS,
        "apiVersion": API_AKS,
        "name": n.aks,
        "location": loc,
        "tags": tags,
        "dependsOn": [
            format!("[{cluster_identity_id}]"),
            format!("[{gw_id}]"),
            format!("[{ws_id}]"),
            format!("[{vnet_id}]"),
        ],
        "identity": {
            "type": "UserAssigned",
            "userAssignedIdentities": {format!("[{cluster_identity_id}]"): {}},
        },
        "sku": {"name": "Base", "tier": "Free"},
        "properties": {
            "dnsPrefix": s.name_prefix,
            "agentPoolProfiles": [{
                "name": "system",
                "mode": "System",
                "count": s.node_count,
                "vmSize": s.node_vm_size,
                "osType": "Linux",
                "type": "VirtualMachineScaleSets",
                "availabilityZones": [s.zone],
                "vnetSubnetID": expr(&aks_subnet_id),
                // Azure CNI gives each pod a subnet address: 80 nodes x 51 fit the /20.
                "maxPods": 50,
            }],
            "enableRBAC": true,
            "autoUpgradeProfile": {"upgradeChannel": "none", "nodeOSUpgradeChannel": "None"},
            "oidcIssuerProfile": {"enabled": true},
            "securityProfile": {"workloadIdentity": {"enabled": true}},
            "networkProfile": {
                "networkPlugin": "azure",
                // deploy generates NetworkPolicies; this enforces them.
                "networkPolicy": "azure",
                "loadBalancerSku": "standard",
                "serviceCidr": "10.0.0.0/16",
                "dnsServiceIP": "10.0.0.10",
            },
            "addonProfiles": {
                "omsagent": {
                    "enabled": true,
                    "config": {"logAnalyticsWorkspaceResourceID": expr(&ws_id)},
                },
                "ingressApplicationGateway": {
                    "enabled": true,
                    "config": {"applicationGatewayId": expr(&gw_id)},
                },
                "kubeDashboard": {"enabled": false},
            },
        },
    });
    if let Some(v) = &s.kubernetes_version {
        set(&mut cluster, &["properties", "kubernetesVersion"], json!(v));
    }
    // The network role must exist before AKS checks its subnet rights; an extension
    // resource is depended on by its full ID.
    let network_role = expr(&format!(
        "extensionResourceId({vnet_id}, 'Microsoft.Authorization/roleAssignments', guid(resourceGroup().id, 'aks-identity-network-contributor'))"
    ));
    if let Some(deps) = cluster.get_mut("dependsOn").and_then(Value::as_array_mut) {
        deps.push(network_role);
    }
    resources.push(cluster);

    let after_aks = vec![format!("[{aks_id}]")];
    resources.extend([
        role_assignment(
            "kubelet-acrpull",
            Some(acr_id.clone()),
            role::ACR_PULL,
            kubelet,
            vec![format!("[{aks_id}]"), format!("[{acr_id}]")],
        ),
        role_assignment(
            "agic-gateway-contributor",
            Some(gw_id.clone()),
            role::CONTRIBUTOR,
            agic.clone(),
            after_aks.clone(),
        ),
        role_assignment(
            "agic-group-reader",
            None,
            role::READER,
            agic.clone(),
            after_aks.clone(),
        ),
        role_assignment(
            "agic-vnet-network-contributor",
            Some(vnet_id.clone()),
            role::NETWORK_CONTRIBUTOR,
            agic,
            after_aks.clone(),
        ),
        json!({
            "type": "Microsoft.KubernetesConfiguration/extensions",
            "apiVersion": API_EXTENSION,
            "name": n.flux_extension,
            "scope": expr(&aks_id),
            "dependsOn": after_aks,
            "properties": {
                "extensionType": "microsoft.flux",
                "autoUpgradeMinorVersion": true,
                "releaseTrain": "Stable",
                "scope": {"cluster": {"releaseNamespace": "flux-system"}},
                "configurationSettings": {"multiTenancy.enforce": "false"},
            },
        }),
    ]);

    // MySQL with its firewall rules (child resources: the schema's names have no `/`).
    let mut rules: Vec<(String, String, String)> = Vec::new();
    for (i, c) in s.mysql_allow_cidrs.iter().enumerate() {
        if let Some((a, b)) = ipv4_range(c) {
            rules.push((
                format!("allow-cidr-{}", i + 1),
                a.to_string(),
                b.to_string(),
            ));
        }
    }
    if s.mysql_allow_azure_services {
        rules.push((
            "AllowAllAzureServicesAndResourcesWithinAzureIps".into(),
            "0.0.0.0".into(),
            "0.0.0.0".into(),
        ));
    }
    let firewall: Vec<Value> = rules
        .into_iter()
        .map(|(name, start, end)| {
            json!({
                "type": "firewallRules",
                "apiVersion": API_MYSQL,
                "name": name,
                "dependsOn": [format!("[{mysql_id}]")],
                "properties": {"startIpAddress": start, "endIpAddress": end},
            })
        })
        .collect();
    resources.push(json!({
        "type": "Microsoft.DBforMySQL/flexibleServers",
        "apiVersion": API_MYSQL,
        "name": n.mysql,
        "location": loc,
        "tags": tags,
        "sku": {"name": s.mysql_sku, "tier": mysql_tier(&s.mysql_sku)},
        "properties": {
            "administratorLogin": s.mysql_admin_user,
            "administratorLoginPassword": "[parameters('mysqlAdminPassword')]",
            "version": "8.0.21",
            "storage": {"storageSizeGB": 20, "autoGrow": "Enabled"},
            "backup": {"backupRetentionDays": 7, "geoRedundantBackup": "Disabled"},
            "highAvailability": {"mode": "Disabled"},
            "network": {"publicNetworkAccess": "Enabled"},
        },
        "resources": firewall,
    }));

    // Key Vault (RBAC) with the password, and who may read it.
    resources.extend([
        json!({
            "type": "Microsoft.KeyVault/vaults",
            "apiVersion": API_VAULT,
            "name": n.key_vault,
            "location": loc,
            "tags": tags,
            "properties": {
                "tenantId": "[subscription().tenantId]",
                "sku": {"family": "A", "name": "standard"},
                "enableRbacAuthorization": true,
                "enableSoftDelete": true,
                "softDeleteRetentionInDays": 90,
                "enablePurgeProtection": true,
                "publicNetworkAccess": "Enabled",
            },
        }),
        json!({
            "type": "Microsoft.KeyVault/vaults/secrets",
            "apiVersion": API_VAULT,
            "name": format!("{}/{}", n.key_vault, n.mysql_secret),
            "dependsOn": [format!("[{kv_id}]")],
            "properties": {
                "value": "[parameters('mysqlAdminPassword')]",
                "contentType": "text/plain",
            },
        }),
        json!({
            "type": "Microsoft.Authorization/roleAssignments",
            "apiVersion": API_ROLE,
            "condition": "[not(empty(parameters('deployerPrincipalId')))]",
            "name": "[guid(resourceGroup().id, 'deployer-key-vault-secrets-officer')]",
            "scope": expr(&kv_id),
            "dependsOn": [format!("[{kv_id}]")],
            "properties": {
                "roleDefinitionId": expr(&format!(
                    "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', '{}')",
                    role::KV_SECRETS_OFFICER
                )),
                "principalId": "[parameters('deployerPrincipalId')]",
            },
        }),
    ]);

    // The identities the cluster's ESO and cert-manager sign in with.
    for (id_name, id_expr, subject) in [
        (&n.eso_identity, &eso_id, ESO_SUBJECT),
        (&n.cert_manager_identity, &cm_id, CERT_MANAGER_SUBJECT),
    ] {
        let sa = subject.rsplit(':').next().unwrap_or(subject);
        // The credential is a child resource: the schema's name pattern has no `/`.
        resources.push(json!({
            "type": IDENTITY,
            "apiVersion": API_IDENTITY,
            "name": id_name,
            "location": loc,
            "tags": tags,
            "properties": {},
            "resources": [{
                "type": "federatedIdentityCredentials",
                "apiVersion": API_IDENTITY,
                "name": sa,
                "dependsOn": [format!("[{id_expr}]"), format!("[{aks_id}]")],
                "properties": {
                    "issuer": oidc_issuer.clone(),
                    "subject": subject,
                    "audiences": [TOKEN_AUDIENCE],
                },
            }],
        }));
    }
    resources.push(role_assignment(
        "eso-key-vault-secrets-user",
        Some(kv_id.clone()),
        role::KV_SECRETS_USER,
        reference(IDENTITY, &n.eso_identity, "principalId"),
        vec![format!("[{kv_id}]"), format!("[{eso_id}]")],
    ));
    // DNS Zone Contributor on the existing zone, in its own resource group.
    resources.push(json!({
        "type": "Microsoft.Resources/deployments",
        "apiVersion": API_DEPLOYMENT,
        "name": format!("{}-dns", s.deployment_name),
        "resourceGroup": s.dns_zone_resource_group,
        "dependsOn": [format!("[{cm_id}]")],
        "properties": {
            "mode": "Incremental",
            "expressionEvaluationOptions": {"scope": "Outer"},
            "template": {
                "$schema": SCHEMA,
                "contentVersion": "1.0.0.0",
                "resources": [role_assignment(
                    "cert-manager-dns-zone-contributor",
                    Some(zone_id),
                    role::DNS_ZONE_CONTRIBUTOR,
                    reference(IDENTITY, &n.cert_manager_identity, "principalId"),
                    vec![],
                )],
            },
        },
    }));

    let out = |v: Value| json!({"type": "string", "value": v});
    let lit = |v: &str| out(json!(v));
    json!({
        "$schema": SCHEMA,
        "contentVersion": "1.0.0.0",
        "metadata": {"generator": "aks-backend infra"},
        "parameters": {
            "mysqlAdminPassword": {
                "type": "securestring",
                "metadata": {"description": "Generated by aks-backend, kept in Key Vault; never in this file"},
            },
            GATEWAY_EXISTS_PARAMETER: {
                "type": "bool",
                "defaultValue": false,
                "metadata": {"description": "The Application Gateway exists (AGIC owns its configuration): leave it as it is"},
            },
            NSG_EXISTS_PARAMETER: {
                "type": "bool",
                "defaultValue": false,
                "metadata": {"description": "The gateway NSG exists: keep its rule list (deploy adds rules); only this template's rules are written"},
            },
            "deployerPrincipalId": {
                "type": "string",
                "defaultValue": "",
                "metadata": {"description": "Object ID of the identity running infra (Key Vault Secrets Officer on the vault)"},
            },
        },
        "resources": resources,
        "outputs": {
            "acrName": lit(&n.acr),
            "acrLoginServer": out(reference("Microsoft.ContainerRegistry/registries", &n.acr, "loginServer")),
            "aksName": lit(&n.aks),
            "aksFqdn": out(reference(AKS, &n.aks, "fqdn")),
            "oidcIssuerUrl": out(reference(AKS, &n.aks, "oidcIssuerProfile.issuerURL")),
            "keyVaultName": lit(&n.key_vault),
            "keyVaultUri": out(reference("Microsoft.KeyVault/vaults", &n.key_vault, "vaultUri")),
            "mysqlFqdn": out(reference("Microsoft.DBforMySQL/flexibleServers", &n.mysql, "fullyQualifiedDomainName")),
            "mysqlAdminSecret": lit(&n.mysql_secret),
            "appGatewayName": lit(&n.gateway),
            "gatewayPublicIp": out(reference("Microsoft.Network/publicIPAddresses", &n.public_ip, "ipAddress")),
            "gatewayNsgName": lit(&n.gateway_nsg),
            "dnsZoneName": lit(&s.dns_zone),
            "esoClientId": out(reference(IDENTITY, &n.eso_identity, "clientId")),
            "certManagerClientId": out(reference(IDENTITY, &n.cert_manager_identity, "clientId")),
            "logAnalyticsWorkspaceId": out(expr(&ws_id)),
        },
    })
}
