//! The gateway's network (API 2026-01-01): Application Gateway, its public IP, the NSG
//! on its subnet, and the inbound HTTPS rule the deploy step writes
//! (`SecurityRules_CreateOrUpdate`, from any address or a list of CIDRs).

use std::net::IpAddr;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use url::Url;

use super::AzureError;
use super::arm::{self, Arm, not_found};
use super::resources::parse_id;
use crate::clients::http::Http;
use crate::secret::Secret;

pub const NETWORK_API: &str = "2026-01-01";

#[derive(Clone, Debug, serde::Serialize)]
pub struct AppGateway {
    pub id: String,
    pub name: String,
    /// IDs of the public IPs of its frontends.
    pub public_ip_ids: Vec<String>,
    /// IDs of the subnets it sits in.
    pub subnet_ids: Vec<String>,
}

fn ids(list: &Value, pointer: &str) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.pointer(pointer)?.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub async fn app_gateway(arm: &Arm<'_>, rg: &str, name: &str) -> Result<AppGateway, AzureError> {
    let path = format!(
        "{}/providers/Microsoft.Network/applicationGateways/{name}",
        arm.rg_path(rg)
    );
    let v = arm
        .get(&path, NETWORK_API, "reading the Application Gateway")
        .await
        .map_err(|e| {
            not_found(
                e,
                "Application Gateway",
                name,
                &format!("resource group {rg}"),
            )
        })?;
    let p = v.get("properties").unwrap_or(&Value::Null);
    Ok(AppGateway {
        id: v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(&path)
            .to_string(),
        name: name.to_string(),
        public_ip_ids: ids(
            p.get("frontendIPConfigurations").unwrap_or(&Value::Null),
            "/properties/publicIPAddress/id",
        ),
        subnet_ids: ids(
            p.get("gatewayIPConfigurations").unwrap_or(&Value::Null),
            "/properties/subnet/id",
        ),
    })
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct PublicIp {
    pub id: String,
    pub name: String,
    pub address: Option<String>,
    pub fqdn: Option<String>,
}

/// A public IP by its resource ID (as the gateway's frontend names it).
pub async fn public_ip(arm: &Arm<'_>, id: &str) -> Result<PublicIp, AzureError> {
    let rid = parse_id(id).ok_or_else(|| AzureError::Protocol {
        op: "reading the gateway's public IP".into(),
        message: format!("`{id}` is not a resource ID"),
    })?;
    let path = format!(
        "{}/providers/Microsoft.Network/publicIPAddresses/{}",
        arm.rg_path(&rid.resource_group),
        rid.name
    );
    let v = arm
        .get(&path, NETWORK_API, "reading the gateway's public IP")
        .await
        .map_err(|e| {
            not_found(
                e,
                "public IP",
                &rid.name,
                &format!("resource group {}", rid.resource_group),
            )
        })?;
    Ok(PublicIp {
        id: v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(id)
            .to_string(),
        name: rid.name,
        address: v
            .pointer("/properties/ipAddress")
            .and_then(Value::as_str)
            .map(String::from),
        fqdn: v
            .pointer("/properties/dnsSettings/fqdn")
            .and_then(Value::as_str)
            .map(String::from),
    })
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Nsg {
    pub id: String,
    pub name: String,
    pub resource_group: String,
    /// Subnets it is attached to.
    pub subnet_ids: Vec<String>,
}

pub async fn nsg(arm: &Arm<'_>, rg: &str, name: &str) -> Result<Nsg, AzureError> {
    let path = format!(
        "{}/providers/Microsoft.Network/networkSecurityGroups/{name}",
        arm.rg_path(rg)
    );
    let v = arm
        .get(&path, NETWORK_API, "reading the network security group")
        .await
        .map_err(|e| {
            not_found(
                e,
                "network security group",
                name,
                &format!("resource group {rg}"),
            )
        })?;
    Ok(Nsg {
        id: v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(&path)
            .to_string(),
        name: name.to_string(),
        resource_group: rg.to_string(),
        subnet_ids: ids(
            v.pointer("/properties/subnets").unwrap_or(&Value::Null),
            "/id",
        ),
    })
}

/// An IPv4/IPv6 address or CIDR block, validated.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Cidr(String);

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, AzureError> {
        let bad = |m: &str| AzureError::InvalidArgument {
            what: format!("source address `{s}`"),
            message: m.to_string(),
        };
        let s = s.trim();
        let (addr, len) = match s.split_once('/') {
            Some((a, l)) => (a, Some(l)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| bad("not an IP address or CIDR block like 203.0.113.0/24"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        if let Some(l) = len {
            let n: u8 = l
                .parse()
                .map_err(|_| bad("the prefix length is not a number"))?;
            if n > max {
                return Err(bad(&format!("the prefix length is more than {max}")));
            }
        }
        Ok(Cidr(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who may connect.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sources {
    Any,
    Cidrs(Vec<Cidr>),
}

/// An inbound allow rule for TCP 443.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct HttpsAllowRule {
    pub subscription_id: String,
    pub resource_group: String,
    pub nsg: String,
    pub name: String,
    /// 100..=4096, lower wins.
    pub priority: u16,
    pub sources: Sources,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SecurityRuleResult {
    pub id: String,
    pub created: bool,
    pub provisioning_state: String,
}

/// Creates or updates the rule (`SecurityRules_CreateOrUpdate`) and waits until Azure
/// reports it provisioned (the operation is long-running).
pub async fn upsert_https_allow_rule(
    http: &Http,
    arm_endpoint: &Url,
    token: &Secret,
    rule: &HttpsAllowRule,
) -> Result<SecurityRuleResult, AzureError> {
    if !(100..=4096).contains(&rule.priority) {
        return Err(AzureError::InvalidArgument {
            what: format!("priority of NSG rule `{}`", rule.name),
            message: format!("{} is outside 100..4096", rule.priority),
        });
    }
    let cidrs = match &rule.sources {
        Sources::Any => None,
        Sources::Cidrs(c) => Some(c.as_slice()),
    };
    let (key, sources) = match cidrs {
        None => ("sourceAddressPrefix", json!("*")),
        Some([]) => {
            return Err(AzureError::InvalidArgument {
                what: format!("sources of NSG rule `{}`", rule.name),
                message: "an empty CIDR list would allow nobody; use Sources::Any for everyone"
                    .into(),
            });
        }
        Some([one]) => ("sourceAddressPrefix", json!(one.as_str())),
        Some(many) => (
            "sourceAddressPrefixes",
            json!(many.iter().map(Cidr::as_str).collect::<Vec<_>>()),
        ),
    };
    let props = json!({
        "description": rule.description,
        "protocol": "Tcp",
        "sourcePortRange": "*",
        "destinationPortRange": "443",
        "destinationAddressPrefix": "*",
        "access": "Allow",
        "priority": rule.priority,
        "direction": "Inbound",
        key: sources,
    });
    let body = json!({ "properties": props });
    let path = format!(
        "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Network/networkSecurityGroups/{}/securityRules/{}",
        rule.subscription_id, rule.resource_group, rule.nsg, rule.name
    );
    let u = arm::url(arm_endpoint, &path, NETWORK_API, &[]);
    let op = format!("writing NSG rule `{}` in `{}`", rule.name, rule.nsg);
    let scope = format!("resource group {}", rule.resource_group);
    let (status, _, mut v) = arm::call(http, Method::PUT, &u, token, Some(&body), &[], &op)
        .await
        .map_err(|e| not_found(e, "network security group", &rule.nsg, &scope))?;
    let created = status == StatusCode::CREATED;
    // Long-running: poll the rule until it leaves Updating/Creating (at most ~2 min).
    if provisioning(&v, &op)?.is_none() {
        let (u, op) = (&u, op.as_str());
        let poll = move || async move {
            let (_, _, next) = arm::call(http, Method::GET, u, token, None, &[], op)
                .await
                .map_err(Poll::Failed)?;
            match provisioning(&next, op).map_err(Poll::Failed)? {
                Some(()) => Ok(next),
                None => Err(Poll::Pending(next)),
            }
        };
        let polling = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(250))
            .with_max_delay(Duration::from_secs(2))
            .with_max_times(60);
        v = match poll
            .retry(polling)
            .when(|p| matches!(p, Poll::Pending(_)))
            .await
        {
            Ok(next) | Err(Poll::Pending(next)) => next,
            Err(Poll::Failed(e)) => return Err(e),
        };
    }
    Ok(SecurityRuleResult {
        id: v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(&path)
            .to_string(),
        created,
        provisioning_state: v
            .pointer("/properties/provisioningState")
            .and_then(Value::as_str)
            .unwrap_or("Succeeded")
            .to_string(),
    })
}

/// A poll of a long-running operation that has not ended.
enum Poll {
    Pending(Value),
    Failed(AzureError),
}

/// `Some` once provisioned, `None` while Azure is still at it.
fn provisioning(v: &Value, op: &str) -> Result<Option<()>, AzureError> {
    match v
        .pointer("/properties/provisioningState")
        .and_then(Value::as_str)
        .unwrap_or("Succeeded")
    {
        "Succeeded" => Ok(Some(())),
        state @ ("Failed" | "Canceled") => Err(AzureError::Protocol {
            op: op.to_string(),
            message: format!("the rule's provisioning ended in state {state}"),
        }),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidrs_are_validated() {
        assert!(Cidr::parse("203.0.113.0/24").is_ok());
        assert!(Cidr::parse("198.51.100.7").is_ok());
        assert!(Cidr::parse("2001:db8::/32").is_ok());
        assert!(Cidr::parse("203.0.113.0/33").is_err());
        assert!(Cidr::parse("example.com").is_err());
        assert!(Cidr::parse("10.0.0.0/x").is_err());
    }
}
