//! ARM template deployments at resource-group scope (API 2026-09-01): what-if and
//! deploy as long-running operations, the operations list for progress and failures,
//! and the pre-flight reads (permissions, name availability, VM sizes per zone).
//!
//! Long-running operations follow the RPC contract: a `202` with `Location` is polled
//! until it answers the final result; a PUT's `Azure-AsyncOperation` is polled until
//! its `status` is terminal (Succeeded, Failed, Canceled), waiting `Retry-After`
//! seconds between polls. Every call goes through the HTTP room (429 and 5xx retried).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use super::AzureError;
use super::arm::{self, Arm};
use crate::clients::http::Retry;
use crate::model::whatif::{Change, ChangeKind, Delta};

pub const DEPLOYMENTS_API: &str = "2026-09-01";
pub const AUTHORIZATION_API: &str = "2022-04-01";
pub const SKUS_API: &str = "2021-07-01";
pub const ACR_API: &str = "2025-11-01";
pub const VAULT_API: &str = "2026-02-01";
pub const MYSQL_API: &str = "2024-12-30";
pub const GROUPS_API: &str = "2025-04-01";

/// Longest a deployment may run before we stop polling (AKS alone takes ~10 minutes).
const MAX_WAIT: Duration = Duration::from_secs(3 * 3600);
/// Wait between polls when the answer names none, and the longest we honour.
const DEFAULT_POLL: Duration = Duration::from_secs(10);
const MAX_POLL: Duration = Duration::from_secs(60);

fn deployment_path(arm: &Arm<'_>, rg: &str, name: &str) -> String {
    format!(
        "{}/providers/Microsoft.Resources/deployments/{name}",
        arm.rg_path(rg)
    )
}

/// One call with a fresh token; a 401 renews it once. Returns status, headers, body.
async fn request(
    arm: &Arm<'_>,
    method: Method,
    url: &Url,
    body: Option<&Value>,
    op: &str,
) -> Result<(u16, reqwest::header::HeaderMap, Value), AzureError> {
    let mut renewed = false;
    loop {
        let token = arm.token().await?;
        let r = arm::call(arm.http(), method.clone(), url, &token, body, &[], op).await;
        match r {
            Err(AzureError::Http { status: 401, .. }) if !renewed => {
                arm.credential()
                    .invalidate(&arm::arm_scope(arm.endpoint()))
                    .await;
                renewed = true;
            }
            r => return r.map(|(s, h, v)| (s.as_u16(), h, v)),
        }
    }
}

fn poll_wait(headers: &reqwest::header::HeaderMap) -> Duration {
    crate::clients::http::retry_after(headers)
        .unwrap_or(DEFAULT_POLL)
        .min(MAX_POLL)
}

/// A polling URL from a header: absolute, and on the ARM endpoint (the token goes
/// nowhere else).
fn poll_url(
    arm: &Arm<'_>,
    headers: &reqwest::header::HeaderMap,
    name: &str,
    op: &str,
) -> Result<Option<Url>, AzureError> {
    let Some(v) = headers.get(name).and_then(|v| v.to_str().ok()) else {
        return Ok(None);
    };
    let u = Url::parse(v).map_err(|e| AzureError::Protocol {
        op: op.into(),
        message: format!("{name} is not an absolute URL: {e}"),
    })?;
    if u.origin() != arm.endpoint().origin() {
        return Err(AzureError::Protocol {
            op: op.into(),
            message: format!("{name} points away from the ARM endpoint; not polled"),
        });
    }
    Ok(Some(u))
}

/// Runs what-if and returns one change per resource.
pub async fn what_if(
    arm: &Arm<'_>,
    rg: &str,
    name: &str,
    template: &Value,
    parameters: &Value,
) -> Result<Vec<Change>, AzureError> {
    let op = format!("what-if of deployment `{name}`");
    let u = arm::url(
        arm.endpoint(),
        &format!("{}/whatIf", deployment_path(arm, rg, name)),
        DEPLOYMENTS_API,
        &[],
    );
    let body = json!({
        "properties": {
            "mode": "Incremental",
            "template": template,
            "parameters": parameters,
            "whatIfSettings": {"resultFormat": "FullResourcePayloads"},
        }
    });
    // What-if changes nothing, so a dropped answer may be asked again.
    let token = arm.token().await?;
    let resp = arm::send(arm.http(), &op, Retry::Safe, |c| {
        c.post(u.clone()).bearer_auth(token.expose()).json(&body)
    })
    .await?;
    if !resp.status.is_success() {
        return Err(arm::failure(&op, u.path(), &resp));
    }
    let started = Instant::now();
    let mut status = resp.status.as_u16();
    let mut headers = resp.headers.clone();
    let mut v: Value = serde_json::from_slice(&resp.body).unwrap_or(Value::Null);
    while status == 202 {
        let Some(next) = poll_url(arm, &headers, "location", &op)? else {
            return Err(AzureError::Protocol {
                op,
                message: "202 without a Location to poll".into(),
            });
        };
        if started.elapsed() > MAX_WAIT {
            return Err(AzureError::Protocol {
                op,
                message: "what-if did not finish in time".into(),
            });
        }
        tokio::time::sleep(poll_wait(&headers)).await;
        let (s, h, body) = request(arm, Method::GET, &next, None, &op).await?;
        status = s;
        headers = h;
        v = body;
    }
    if v.get("status").and_then(Value::as_str) == Some("Failed")
        || v.get("error").is_some_and(Value::is_object)
    {
        return Err(AzureError::Protocol {
            op,
            message: flatten_error(v.get("error").unwrap_or(&Value::Null)).join("; "),
        });
    }
    Ok(parse_changes(&v))
}

/// `WhatIfOperationResult` -> changes.
pub fn parse_changes(v: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    for c in v
        .pointer("/properties/changes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut deltas = Vec::new();
        for d in c
            .get("delta")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            flatten_delta(d, "", &mut deltas);
        }
        out.push(Change {
            resource_id: c
                .get("resourceId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            kind: ChangeKind::parse(
                c.get("changeType")
                    .and_then(Value::as_str)
                    .unwrap_or_default(),
            ),
            deltas,
            reason: c
                .get("unsupportedReason")
                .and_then(Value::as_str)
                .map(String::from),
        });
    }
    out
}

fn compact(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        v => Some(v.to_string()),
    }
}

fn flatten_delta(d: &Value, parent: &str, out: &mut Vec<Delta>) {
    let path = d.get("path").and_then(Value::as_str).unwrap_or_default();
    let path = if parent.is_empty() {
        path.to_string()
    } else if path.starts_with('[') || path.chars().all(|c| c.is_ascii_digit()) {
        format!("{parent}[{}]", path.trim_matches(['[', ']']))
    } else {
        format!("{parent}.{path}")
    };
    let kind = d
        .get("propertyChangeType")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match d.get("children").and_then(Value::as_array) {
        Some(children) if !children.is_empty() => {
            for c in children {
                flatten_delta(c, &path, out);
            }
        }
        _ if kind == "NoEffect" => {}
        _ => out.push(Delta {
            path,
            kind: kind.to_string(),
            before: compact(d.get("before").unwrap_or(&Value::Null)),
            after: compact(d.get("after").unwrap_or(&Value::Null)),
        }),
    }
}

/// `code: message` of an error and every nested detail, depth first.
pub fn flatten_error(e: &Value) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(e: &Value, out: &mut Vec<String>) {
        let code = e.get("code").and_then(Value::as_str).unwrap_or_default();
        let message = e.get("message").and_then(Value::as_str).unwrap_or_default();
        let details = e
            .get("details")
            .and_then(Value::as_array)
            .filter(|d| !d.is_empty());
        // A wrapper (`DeploymentFailed: see details`) says less than its details.
        let wrapper =
            details.is_some() && matches!(code, "DeploymentFailed" | "ResourceDeploymentFailure");
        if !wrapper && (!code.is_empty() || !message.is_empty()) {
            out.push(format!("{code}: {message}"));
        }
        for d in details.into_iter().flatten() {
            walk(d, out);
        }
    }
    walk(e, &mut out);
    out
}

/// One resource of a running deployment, from the operations list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub resource: String,
    pub resource_type: String,
    pub state: String,
    /// `code: message` lines when it failed, nested details flattened.
    pub errors: Vec<String>,
}

pub async fn operations(arm: &Arm<'_>, rg: &str, name: &str) -> Result<Vec<Operation>, AzureError> {
    let path = format!(
        "{}/deployments/{name}/operations",
        arm.rg_path(rg)
            .replace("/resourceGroups/", "/resourcegroups/")
    );
    let items = arm
        .list(
            &path,
            DEPLOYMENTS_API,
            &[],
            &format!("listing the operations of deployment `{name}`"),
        )
        .await?;
    Ok(items
        .iter()
        .filter_map(|o| {
            let p = o.get("properties").unwrap_or(&Value::Null);
            let t = p.get("targetResource").unwrap_or(&Value::Null);
            let resource = t.get("resourceName").and_then(Value::as_str)?.to_string();
            Some(Operation {
                resource,
                resource_type: t
                    .get("resourceType")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                state: p
                    .get("provisioningState")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                errors: flatten_error(p.pointer("/statusMessage/error").unwrap_or(&Value::Null)),
            })
        })
        .collect())
}

/// The end of a deployment.
#[derive(Debug)]
pub struct Deployed {
    pub outputs: Value,
    pub operations: Vec<Operation>,
}

fn terminal(state: &str) -> bool {
    matches!(state, "Succeeded" | "Failed" | "Canceled")
}

/// PUT the deployment (incremental: nothing is ever deleted) and poll it to the end,
/// calling `progress` once per resource state seen. A failure names each failed
/// resource with its error codes and messages.
pub async fn deploy(
    arm: &Arm<'_>,
    rg: &str,
    name: &str,
    template: &Value,
    parameters: &Value,
    tags: &Value,
    progress: &(dyn Fn(&Operation) + Sync),
) -> Result<Deployed, AzureError> {
    let op = format!("deployment `{name}`");
    let path = deployment_path(arm, rg, name);
    let u = arm::url(arm.endpoint(), &path, DEPLOYMENTS_API, &[]);
    let mut body = json!({
        "properties": {"mode": "Incremental", "template": template, "parameters": parameters},
    });
    if let (Some(t), Some(b)) = (tags.as_object(), body.as_object_mut())
        && !t.is_empty()
    {
        b.insert("tags".into(), tags.clone());
    }
    let (_, headers, mut v) = request(arm, Method::PUT, &u, Some(&body), &op).await?;
    let async_op = poll_url(arm, &headers, "azure-asyncoperation", &op)?;
    let mut wait = poll_wait(&headers);
    let started = Instant::now();
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut state = v
        .pointer("/properties/provisioningState")
        .and_then(Value::as_str)
        .unwrap_or("Accepted")
        .to_string();
    while !terminal(&state) {
        if started.elapsed() > MAX_WAIT {
            return Err(AzureError::Protocol {
                op,
                message: format!("still {state} after {} minutes", MAX_WAIT.as_secs() / 60),
            });
        }
        tokio::time::sleep(wait).await;
        report(arm, rg, name, &mut seen, progress).await;
        match &async_op {
            Some(a) => {
                let (_, h, status) = request(arm, Method::GET, a, None, &op).await?;
                wait = poll_wait(&h);
                state = status
                    .get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("Running")
                    .to_string();
            }
            None => {
                let (_, h, d) = request(arm, Method::GET, &u, None, &op).await?;
                wait = poll_wait(&h);
                state = d
                    .pointer("/properties/provisioningState")
                    .and_then(Value::as_str)
                    .unwrap_or("Running")
                    .to_string();
                v = d;
            }
        }
    }
    let operations = operations(arm, rg, name).await?;
    for o in &operations {
        if !seen.contains(&(o.resource.clone(), o.state.clone())) {
            progress(o);
        }
    }
    if async_op.is_some() || state != "Succeeded" {
        let (_, _, d) = request(arm, Method::GET, &u, None, &op).await?;
        v = d;
    }
    if state != "Succeeded" {
        let mut failures: Vec<String> = operations
            .iter()
            .filter(|o| o.state == "Failed")
            .map(|o| {
                format!(
                    "{} ({}): {}",
                    o.resource,
                    o.resource_type,
                    if o.errors.is_empty() {
                        "failed".to_string()
                    } else {
                        o.errors.join("; ")
                    }
                )
            })
            .collect();
        if failures.is_empty() {
            failures = flatten_error(v.pointer("/properties/error").unwrap_or(&Value::Null));
        }
        return Err(AzureError::DeploymentFailed {
            deployment: name.to_string(),
            state,
            failures,
        });
    }
    Ok(Deployed {
        outputs: v
            .pointer("/properties/outputs")
            .cloned()
            .unwrap_or_default(),
        operations,
    })
}

async fn report(
    arm: &Arm<'_>,
    rg: &str,
    name: &str,
    seen: &mut Vec<(String, String)>,
    progress: &(dyn Fn(&Operation) + Sync),
) {
    // Progress is best effort: a failed read is not a failed deployment.
    let Ok(ops) = operations(arm, rg, name).await else {
        return;
    };
    for o in ops {
        let key = (o.resource.clone(), o.state.clone());
        if !seen.contains(&key) {
            progress(&o);
            seen.push(key);
        }
    }
}

/// The caller's effective `(actions, notActions)` on a resource group.
pub async fn permissions(
    arm: &Arm<'_>,
    rg: &str,
) -> Result<Vec<(Vec<String>, Vec<String>)>, AzureError> {
    let path = format!(
        "{}/providers/Microsoft.Authorization/permissions",
        arm.rg_path(rg)
    );
    let items = arm
        .list(
            &path,
            AUTHORIZATION_API,
            &[],
            &format!("reading your permissions on resource group {rg}"),
        )
        .await?;
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s.as_str().map(String::from))
            .collect()
    };
    Ok(items
        .iter()
        .map(|p| {
            (
                strings(p.get("actions").unwrap_or(&Value::Null)),
                strings(p.get("notActions").unwrap_or(&Value::Null)),
            )
        })
        .collect())
}

/// ARM's action wildcard match, case-insensitive: `*` matches any run of characters.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    fn m(p: &[u8], a: &[u8]) -> bool {
        match p.split_first() {
            None => a.is_empty(),
            Some((b'*', rest)) => (0..=a.len()).any(|i| a.get(i..).is_some_and(|a| m(rest, a))),
            Some((c, rest)) => a
                .split_first()
                .is_some_and(|(x, a)| x.eq_ignore_ascii_case(c) && m(rest, a)),
        }
    }
    m(pattern.as_bytes(), action.as_bytes())
}

/// Whether the permission sets allow `action`.
pub fn allowed(perms: &[(Vec<String>, Vec<String>)], action: &str) -> bool {
    perms.iter().any(|(actions, not_actions)| {
        actions.iter().any(|p| action_matches(p, action))
            && !not_actions.iter().any(|p| action_matches(p, action))
    })
}

/// `checkNameAvailability` of a globally named resource. `Ok(None)`: free; `Ok(Some(why))`: taken.
pub async fn name_taken(
    arm: &Arm<'_>,
    provider_path: &str,
    api_version: &str,
    resource_type: &str,
    name: &str,
) -> Result<Option<String>, AzureError> {
    let path = format!(
        "/subscriptions/{}/providers/{provider_path}/checkNameAvailability",
        arm.subscription_id
    );
    let v = arm
        .send(
            Method::POST,
            &path,
            api_version,
            &[],
            Some(&json!({"name": name, "type": resource_type})),
            &format!("checking that the name `{name}` is free"),
        )
        .await?;
    if v.get("nameAvailable")
        .and_then(Value::as_bool)
        .unwrap_or(true)
    {
        Ok(None)
    } else {
        Ok(Some(
            v.get("message")
                .and_then(Value::as_str)
                .or(v.get("reason").and_then(Value::as_str))
                .unwrap_or("the name is taken")
                .to_string(),
        ))
    }
}

/// Does a resource exist (GET answers 200)? 404 is `false`.
pub async fn exists(
    arm: &Arm<'_>,
    path: &str,
    api_version: &str,
    what: &str,
) -> Result<bool, AzureError> {
    match arm.get(path, api_version, &format!("reading {what}")).await {
        Ok(_) => Ok(true),
        Err(e) if e.status() == Some(404) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Whether `vm_size` can run in `zone` of `location` for this subscription.
pub enum SkuVerdict {
    Ok,
    UnknownSize,
    NoZone(Vec<String>),
    Restricted(String),
}

pub async fn vm_size_in_zone(
    arm: &Arm<'_>,
    location: &str,
    vm_size: &str,
    zone: &str,
) -> Result<SkuVerdict, AzureError> {
    let path = format!(
        "/subscriptions/{}/providers/Microsoft.Compute/skus",
        arm.subscription_id
    );
    let filter = format!("location eq '{location}'");
    let skus = arm
        .list(
            &path,
            SKUS_API,
            &[("$filter", &filter)],
            &format!("listing the VM sizes of {location}"),
        )
        .await?;
    let Some(sku) = skus.iter().find(|s| {
        s.get("resourceType").and_then(Value::as_str) == Some("virtualMachines")
            && s.get("name")
                .and_then(Value::as_str)
                .is_some_and(|n| n.eq_ignore_ascii_case(vm_size))
    }) else {
        return Ok(SkuVerdict::UnknownSize);
    };
    for r in sku
        .get("restrictions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let zones: Vec<&str> = r
            .pointer("/restrictionInfo/zones")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|z| z.as_str())
            .collect();
        let kind = r.get("type").and_then(Value::as_str).unwrap_or_default();
        if kind == "Location" || (kind == "Zone" && zones.contains(&zone)) {
            return Ok(SkuVerdict::Restricted(
                r.get("reasonCode")
                    .and_then(Value::as_str)
                    .unwrap_or("restricted")
                    .to_string(),
            ));
        }
    }
    let zones: Vec<String> = sku
        .get("locationInfo")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|l| {
            l.get("location")
                .and_then(Value::as_str)
                .is_some_and(|x| x.eq_ignore_ascii_case(location))
        })
        .flat_map(|l| {
            l.get("zones")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        })
        .filter_map(|z| z.as_str().map(String::from))
        .collect();
    if zones.iter().any(|z| z == zone) {
        Ok(SkuVerdict::Ok)
    } else {
        Ok(SkuVerdict::NoZone(zones))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_like_arm() {
        assert!(action_matches("*", "Microsoft.Resources/deployments/write"));
        assert!(action_matches(
            "Microsoft.Authorization/*/Write",
            "Microsoft.Authorization/roleAssignments/write"
        ));
        let contributor = vec![(
            vec!["*".to_string()],
            vec!["Microsoft.Authorization/*/Write".to_string()],
        )];
        assert!(allowed(
            &contributor,
            "Microsoft.Resources/deployments/write"
        ));
        assert!(!allowed(
            &contributor,
            "Microsoft.Authorization/roleAssignments/write"
        ));
    }

    #[test]
    fn nested_error_details_are_flattened_without_the_wrappers() {
        let e = json!({"code": "DeploymentFailed", "message": "see details", "details": [
            {"code": "ResourceDeploymentFailure", "message": "x", "details": [
                {"code": "QuotaExceeded", "message": "Operation could not be completed as it results in exceeding approved standardDSv5Family Cores quota."}
            ]}
        ]});
        assert_eq!(
            flatten_error(&e),
            [
                "QuotaExceeded: Operation could not be completed as it results in exceeding approved standardDSv5Family Cores quota."
            ]
        );
    }

    #[test]
    fn array_deltas_are_flattened_to_item_paths() {
        let v = json!({"status": "Succeeded", "properties": {"changes": [{
            "resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerService/managedClusters/a",
            "changeType": "Modify",
            "delta": [{"path": "properties.agentPoolProfiles", "propertyChangeType": "Array", "children": [
                {"path": "0", "propertyChangeType": "Modify", "children": [
                    {"path": "count", "propertyChangeType": "Modify", "before": 2, "after": 3}
                ]}
            ]}]
        }]}});
        let c = parse_changes(&v);
        assert_eq!(c[0].kind, ChangeKind::Modify);
        assert_eq!(c[0].deltas[0].path, "properties.agentPoolProfiles[0].count");
        assert_eq!(c[0].deltas[0].before.as_deref(), Some("2"));
    }
}
