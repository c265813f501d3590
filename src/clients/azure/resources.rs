//! Finding the shared infrastructure: every resource of a resource group (with tags),
//! the outputs of an ARM deployment, resource IDs, and the container registry.

use std::collections::BTreeMap;

use serde_json::Value;

use super::AzureError;
use super::arm::{Arm, not_found};

pub const RESOURCES_API: &str = "2025-04-01";
pub const DEPLOYMENTS_API: &str = "2026-09-01";
pub const ACR_API: &str = "2025-11-01";

/// A resource as `Resources_ListByResourceGroup` lists it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct GenericResource {
    pub id: String,
    pub name: String,
    /// `Microsoft.ContainerService/managedClusters` (case as ARM gave it).
    pub kind: String,
    pub tags: BTreeMap<String, String>,
}

impl GenericResource {
    pub fn is(&self, kind: &str) -> bool {
        self.kind.eq_ignore_ascii_case(kind)
    }
}

/// Every resource of `rg`, all pages.
pub async fn list_resource_group(
    arm: &Arm<'_>,
    rg: &str,
) -> Result<Vec<GenericResource>, AzureError> {
    let path = format!("{}/resources", arm.rg_path(rg));
    let items = arm
        .list(
            &path,
            RESOURCES_API,
            &[],
            "listing the resources of the resource group",
        )
        .await
        .map_err(|e| not_found(e, "resource group", rg, ""))?;
    Ok(items
        .iter()
        .filter_map(|v| {
            Some(GenericResource {
                id: v.get("id").and_then(Value::as_str)?.to_string(),
                name: v.get("name").and_then(Value::as_str)?.to_string(),
                kind: v.get("type").and_then(Value::as_str)?.to_string(),
                tags: v
                    .get("tags")
                    .and_then(Value::as_object)
                    .map(|t| {
                        t.iter()
                            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect())
}

/// A deployment's outputs, keyed by output name (values unwrapped from `{type, value}`).
#[derive(Clone, Debug, Default)]
pub struct DeploymentOutputs {
    pub provisioning_state: String,
    pub outputs: BTreeMap<String, Value>,
}

impl DeploymentOutputs {
    /// The first of `names` present (case-insensitive), as a string.
    pub fn find(&self, names: &[&str]) -> Option<(String, String)> {
        names.iter().find_map(|n| {
            self.outputs.iter().find_map(|(k, v)| {
                (k.eq_ignore_ascii_case(n))
                    .then(|| v.as_str().map(|s| (k.clone(), s.to_string())))
                    .flatten()
            })
        })
    }
}

pub async fn deployment_outputs(
    arm: &Arm<'_>,
    rg: &str,
    name: &str,
) -> Result<DeploymentOutputs, AzureError> {
    let path = format!(
        "/subscriptions/{}/resourcegroups/{rg}/providers/Microsoft.Resources/deployments/{name}",
        arm.subscription_id
    );
    let v = arm
        .get(&path, DEPLOYMENTS_API, "reading the ARM deployment")
        .await
        .map_err(|e| not_found(e, "ARM deployment", name, &format!("resource group {rg}")))?;
    let outputs = v
        .pointer("/properties/outputs")
        .and_then(Value::as_object)
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.get("value").cloned().unwrap_or(v.clone())))
                .collect()
        })
        .unwrap_or_default();
    Ok(DeploymentOutputs {
        provisioning_state: v
            .pointer("/properties/provisioningState")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        outputs,
    })
}

/// The parts of an ARM resource ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResourceId {
    pub subscription_id: String,
    pub resource_group: String,
    pub name: String,
}

/// `/subscriptions/S/resourceGroups/RG/providers/NS/TYPE/NAME[/...]`.
pub fn parse_id(id: &str) -> Option<ResourceId> {
    let parts: Vec<&str> = id.trim_matches('/').split('/').collect();
    let [
        subscriptions,
        subscription_id,
        resource_groups,
        resource_group,
        ..,
    ] = parts[..]
    else {
        return None;
    };
    if !subscriptions.eq_ignore_ascii_case("subscriptions")
        || !resource_groups.eq_ignore_ascii_case("resourcegroups")
    {
        return None;
    }
    Some(ResourceId {
        subscription_id: subscription_id.to_string(),
        resource_group: resource_group.to_string(),
        name: parts.last()?.to_string(),
    })
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Registry {
    pub id: String,
    pub name: String,
    pub login_server: String,
}

pub async fn registry(arm: &Arm<'_>, rg: &str, name: &str) -> Result<Registry, AzureError> {
    let path = format!(
        "{}/providers/Microsoft.ContainerRegistry/registries/{name}",
        arm.rg_path(rg)
    );
    let v = arm
        .get(&path, ACR_API, "reading the container registry")
        .await
        .map_err(|e| {
            not_found(
                e,
                "container registry",
                name,
                &format!("resource group {rg}"),
            )
        })?;
    let login_server = v
        .pointer("/properties/loginServer")
        .and_then(Value::as_str)
        .ok_or_else(|| AzureError::Protocol {
            op: "reading the container registry".into(),
            message: "no properties.loginServer".into(),
        })?;
    Ok(Registry {
        id: v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or(&path)
            .to_string(),
        name: name.to_string(),
        login_server: login_server.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_ids_parse() {
        let id = parse_id(
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/dnszones/example.com",
        )
        .unwrap();
        assert_eq!(id.resource_group, "rg");
        assert_eq!(id.name, "example.com");
        assert!(parse_id("not-an-id").is_none());
    }
}
