//! A stateful Azure Resource Manager for the infra step: template deployments at
//! resource-group scope with what-if, long-running operations and the operations list,
//! the pre-flight reads (resource group, permissions, DNS zone, name availability, VM
//! sizes), AKS credentials, and Key Vault's data plane for the secrets the template
//! writes.
//!
//! Every deployments request and response is validated against
//! `specs/infra/arm-deployments/deployments.subset.json`; every template resource
//! against its type's schema in `specs/infra/arm-template-schema/types/`. Templates are
//! evaluated by [`super::arm_template`] (an unknown function is a violation), resources
//! are stored with server-side properties (principal IDs, FQDNs, the OIDC issuer),
//! what-if compares the template with that state, a PUT runs as an async operation
//! (201 + `Azure-AsyncOperation` + `Retry-After`, polled to a terminal status), and
//! tests can fail a resource (quota, name taken, policy), throttle (429), refuse a
//! permission, or leave out the DNS zone.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};

use super::arm::SUBSCRIPTION;
use super::arm_template::{self, Scope};
use super::entra::{TENANT, TokenBook};
use super::spec::spec;

const DEPLOYMENTS_SPEC: &str = "infra/arm-deployments/deployments.subset.json";
const API: &str = "2026-09-01";

#[derive(Clone, Debug)]
pub struct Stored {
    pub id: String,
    pub kind: String,
    /// The evaluated template body (what what-if compares).
    pub desired: Value,
    /// With the properties Azure adds.
    pub full: Value,
}

#[derive(Clone, Debug)]
pub struct FailRule {
    pub resource_contains: String,
    pub code: String,
    pub message: String,
}

#[derive(Default)]
pub struct Data {
    pub groups: Vec<String>,
    pub zones: Vec<(String, String)>,
    pub resources: BTreeMap<String, Stored>,
    /// Key Vault data plane: secret name -> value.
    pub secrets: BTreeMap<String, String>,
    /// Effective permissions per resource group (lower-case): (actions, notActions).
    pub permissions: BTreeMap<String, (Vec<String>, Vec<String>)>,
    pub taken_names: Vec<String>,
    pub fail: Vec<FailRule>,
    /// 429s still to answer on deployments calls.
    pub throttle: u32,
    pub deployments: BTreeMap<String, Dep>,
    pub what_ifs: BTreeMap<String, Value>,
    pub calls: Vec<String>,
    pub violations: Vec<String>,
    /// Bodies of every deployments request (for leak checks).
    pub bodies: Vec<String>,
    /// Functions the templates used.
    pub functions: Vec<String>,
    /// What listClusterUserCredential answers (default: a kubeconfig for a made-up
    /// server carrying `PLANTED_KUBE_TOKEN`); a test points it at the fake cluster.
    pub kubeconfig: Option<String>,
    /// The registry's `loginServer` (default `NAME.azurecr.io`); a test points it at
    /// the loopback registry.
    pub acr_login_server: Option<String>,
    /// DNS A records written through ARM: `zone/name` -> the record set.
    pub records: BTreeMap<String, Value>,
}

#[derive(Clone, Debug)]
pub struct Dep {
    pub name: String,
    pub rg: String,
    pub state: String,
    /// Still to apply, in order.
    pub pending: Planned,
    pub done: Vec<(String, String, String, String)>,
    pub failed: Option<(String, String, String, String, String, String)>,
    pub template: Value,
    pub parameters: Value,
    pub outputs: Value,
    pub op_id: String,
}

pub struct MockState {
    pub book: Arc<TokenBook>,
    pub url: Mutex<String>,
    pub vault_url: Mutex<String>,
    pub authority: String,
    pub data: Mutex<Data>,
}

pub struct InfraMock {
    pub url: String,
    pub vault_url: String,
    pub state: Arc<MockState>,
}

async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn reply(status: u16, v: &Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap(),
        [("content-type", "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn err(status: u16, code: &str, message: &str) -> Response {
    reply(
        status,
        &json!({"error": {"code": code, "message": message}}),
    )
}

pub const OWNER: (&[&str], &[&str]) = (&["*"], &[]);
pub const CONTRIBUTOR: (&[&str], &[&str]) = (
    &["*"],
    &[
        "Microsoft.Authorization/*/Delete",
        "Microsoft.Authorization/*/Write",
        "Microsoft.Authorization/elevateAccess/Action",
    ],
);

impl InfraMock {
    /// An empty subscription with the resource group `rg` (Owner on it) and the zone.
    pub async fn start(book: Arc<TokenBook>, authority: &str, rg: &str, zone: &str) -> InfraMock {
        let state = Arc::new(MockState {
            book,
            url: Default::default(),
            vault_url: Default::default(),
            authority: authority.to_string(),
            data: Mutex::new(Data::default()),
        });
        let url = serve(
            axum::Router::new()
                .fallback(handle)
                .with_state(state.clone()),
        )
        .await;
        let vault_url = serve(
            axum::Router::new()
                .fallback(vault)
                .with_state(state.clone()),
        )
        .await;
        *state.url.lock().unwrap() = url.clone();
        *state.vault_url.lock().unwrap() = vault_url.clone();
        let m = InfraMock {
            url,
            vault_url,
            state,
        };
        m.add_group(rg, OWNER);
        m.with(|d| d.zones.push((rg.to_ascii_lowercase(), zone.to_string())));
        m
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Data) -> T) -> T {
        f(&mut self.state.data.lock().unwrap())
    }

    pub fn add_group(&self, rg: &str, perms: (&[&str], &[&str])) {
        self.with(|d| {
            d.groups.push(rg.to_ascii_lowercase());
            d.permissions.insert(
                rg.to_ascii_lowercase(),
                (
                    perms.0.iter().map(|s| s.to_string()).collect(),
                    perms.1.iter().map(|s| s.to_string()).collect(),
                ),
            );
        });
    }

    pub fn assert_valid(&self) {
        let d = self.state.data.lock().unwrap();
        assert!(d.violations.is_empty(), "violations: {:#?}", d.violations);
    }

    pub fn calls(&self) -> Vec<String> {
        self.with(|d| d.calls.clone())
    }
}

fn violation(state: &MockState, what: String) -> Response {
    state.data.lock().unwrap().violations.push(what.clone());
    err(400, "MockSpecViolation", &what)
}

fn query(uri: &Uri) -> BTreeMap<String, String> {
    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

#[allow(clippy::result_large_err)]
fn check(state: &MockState, pointer: &str, v: &Value) -> Result<(), Response> {
    spec(DEPLOYMENTS_SPEC)
        .check(pointer, v)
        .map_err(|e| violation(state, e))
}

/// `A/B` name `n` in `rg` -> its ID; `A/B/C` name `n/m` -> the child's.
fn resource_id(rg: &str, kind: &str, name: &str, scope: Option<&str>) -> String {
    let prefix = match scope {
        Some(s) => s.to_string(),
        None => format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}"),
    };
    let t: Vec<&str> = kind.split('/').collect();
    let n: Vec<&str> = name.split('/').collect();
    let mut id = format!("{prefix}/providers/{}/{}/{}", t[0], t[1], n[0]);
    for (i, part) in n.iter().enumerate().skip(1) {
        id.push_str(&format!("/{}/{part}", t.get(i + 1).unwrap_or(&"?")));
    }
    id
}

struct Eval<'a> {
    data: &'a Data,
    rg: String,
    params: Value,
    vault_url: String,
}

impl Scope for Eval<'_> {
    fn subscription(&self) -> &str {
        SUBSCRIPTION
    }
    fn tenant(&self) -> &str {
        TENANT
    }
    fn resource_group(&self) -> &str {
        &self.rg
    }
    fn parameter(&self, name: &str) -> Option<Value> {
        self.params.get(name).cloned()
    }
    fn reference(&self, id: &str) -> Option<Value> {
        let _ = &self.vault_url;
        self.data
            .resources
            .get(&id.to_ascii_lowercase())
            .map(|r| r.full["properties"].clone())
    }
}

/// Template resources, evaluated: (id, type, name, target rg, desired body, the
/// template's own resource, re-evaluated when it is applied).
pub type Planned = Vec<(String, String, String, String, Value, Value)>;

fn plan(
    d: &mut Data,
    rg: &str,
    template: &Value,
    given: &Value,
    vault_url: &str,
) -> Result<(Planned, Value), String> {
    spec("infra/arm-template-schema/infra-deploymentTemplate.schema.json")
        .check("#", template)
        .map_err(|e| format!("the template breaks the template schema: {e}"))?;
    // Parameters: given values over defaults; every declared one must be known.
    let mut params = serde_json::Map::new();
    for (k, decl) in template["parameters"].as_object().into_iter().flatten() {
        let v = given[k]["value"].clone();
        let v = if v.is_null() {
            decl["defaultValue"].clone()
        } else {
            v
        };
        if v.is_null() {
            return Err(format!("parameter {k} has no value"));
        }
        params.insert(k.clone(), v);
    }
    let mut out = Vec::new();
    let mut used = Vec::new();
    let params = Value::Object(params);
    collect(d, rg, template, &params, vault_url, &mut out, &mut used)?;
    let outputs = {
        let ev = Eval {
            data: d,
            rg: rg.into(),
            params: params.clone(),
            vault_url: vault_url.into(),
        };
        arm_template::eval(&template["outputs"], &ev, &mut used)?
    };
    d.functions.extend(used);
    Ok((out, outputs))
}

fn collect(
    d: &Data,
    rg: &str,
    template: &Value,
    params: &Value,
    vault_url: &str,
    out: &mut Planned,
    used: &mut Vec<String>,
) -> Result<(), String> {
    let ev = Eval {
        data: d,
        rg: rg.into(),
        params: params.clone(),
        vault_url: vault_url.into(),
    };
    for r in template["resources"]
        .as_array()
        .ok_or("no resources array")?
    {
        let kind = r["type"].as_str().ok_or("a resource without type")?;
        let schema = format!(
            "infra/arm-template-schema/types/{}.json",
            kind.replace('/', ".")
        );
        spec(&schema)
            .check("#", r)
            .map_err(|e| format!("resource {} breaks its schema: {e}", r["name"]))?;
        // A false condition skips the resource but not its nested children: ARM's
        // `condition` does not cascade.
        let skipped = match r.get("condition") {
            Some(c) => arm_template::eval(c, &ev, used)? == json!(false),
            None => false,
        };
        if skipped {
            let name = arm_template::eval(&r["name"], &ev, used)?;
            let name = name.as_str().ok_or("a name that is not a string")?;
            children(&ev, rg, kind, name, r.get("resources"), out, used)?;
            continue;
        }
        if kind == "Microsoft.Resources/deployments" {
            let target = r["resourceGroup"].as_str().unwrap_or(rg).to_string();
            let scope = r["properties"]["expressionEvaluationOptions"]["scope"]
                .as_str()
                .unwrap_or("Outer");
            if !scope.eq_ignore_ascii_case("outer") {
                return Err("nested deployments must evaluate in the outer scope".into());
            }
            // Outer scope: expressions see the parent; resources land in the target group.
            let mut inner = Vec::new();
            collect(
                d,
                rg,
                &r["properties"]["template"],
                params,
                vault_url,
                &mut inner,
                used,
            )?;
            for (id, k, n, _, body, raw) in inner {
                let id = id.replace(
                    &format!("/resourceGroups/{rg}/"),
                    &format!("/resourceGroups/{target}/"),
                );
                out.push((id, k, n, target.clone(), body, raw));
            }
            continue;
        }
        let body = arm_template::eval(r, &ev, used)?;
        let name = body["name"]
            .as_str()
            .ok_or("a name that is not a string")?
            .to_string();
        let scope = body["scope"].as_str();
        let id = resource_id(rg, kind, &name, scope);
        let mut desired = serde_json::Map::new();
        for k in [
            "location",
            "tags",
            "sku",
            "identity",
            "properties",
            "zones",
            "kind",
        ] {
            if let Some(v) = body.get(k) {
                desired.insert(k.into(), v.clone());
            }
        }
        let mut parent = r.clone();
        let nested = parent.as_object_mut().and_then(|o| o.remove("resources"));
        out.push((
            id,
            kind.to_string(),
            name.clone(),
            rg.to_string(),
            Value::Object(desired),
            parent,
        ));
        children(&ev, rg, kind, &name, nested.as_ref(), out, used)?;
    }
    Ok(())
}

/// Child resources: `type` and `name` relative to the parent.
fn children(
    ev: &Eval,
    rg: &str,
    kind: &str,
    name: &str,
    nested: Option<&Value>,
    out: &mut Planned,
    used: &mut Vec<String>,
) -> Result<(), String> {
    for c in nested.and_then(Value::as_array).into_iter().flatten() {
        let mut full = c.clone();
        full["type"] = json!(format!("{kind}/{}", c["type"].as_str().unwrap_or_default()));
        full["name"] = json!(format!("{name}/{}", c["name"].as_str().unwrap_or_default()));
        let body = arm_template::eval(&full, ev, used)?;
        let ckind = full["type"].as_str().unwrap().to_string();
        let cname = full["name"].as_str().unwrap().to_string();
        let cid = resource_id(rg, &ckind, &cname, None);
        let mut desired = serde_json::Map::new();
        for k in [
            "location",
            "tags",
            "sku",
            "identity",
            "properties",
            "zones",
            "kind",
        ] {
            if let Some(v) = body.get(k) {
                desired.insert(k.into(), v.clone());
            }
        }
        out.push((
            cid,
            ckind,
            cname,
            rg.to_string(),
            Value::Object(desired),
            full,
        ));
    }
    Ok(())
}

fn uuid_of(seed: &str) -> String {
    arm_template::guid(&[seed.to_string()])
}

/// The properties Azure adds when a resource is created.
fn enrich(kind: &str, id: &str, name: &str, desired: &Value, vault_url: &str) -> Value {
    let mut full = desired.clone();
    if !full["properties"].is_object() {
        full["properties"] = json!({});
    }
    let p = &mut full["properties"];
    p["provisioningState"] = json!("Succeeded");
    match kind {
        "Microsoft.ManagedIdentity/userAssignedIdentities" => {
            p["principalId"] = json!(uuid_of(&format!("{id}/principal")));
            p["clientId"] = json!(uuid_of(&format!("{id}/client")));
            p["tenantId"] = json!(TENANT);
        }
        "Microsoft.ContainerService/managedClusters" => {
            let prefix = p["dnsPrefix"].as_str().unwrap_or(name).to_string();
            p["fqdn"] = json!(format!("{prefix}-q1w2e3.hcp.japaneast.azmk8s.io"));
            p["oidcIssuerProfile"]["issuerURL"] = json!(format!(
                "https://japaneast.oic.prod-aks.azure.com/{TENANT}/{}/",
                uuid_of(id)
            ));
            p["identityProfile"] = json!({"kubeletidentity": {
                "objectId": uuid_of(&format!("{id}/kubelet")),
                "clientId": uuid_of(&format!("{id}/kubelet-client")),
            }});
            p["addonProfiles"]["ingressApplicationGateway"]["identity"] = json!({
                "objectId": uuid_of(&format!("{id}/agic")),
                "clientId": uuid_of(&format!("{id}/agic-client")),
            });
        }
        "Microsoft.ContainerRegistry/registries" => {
            p["loginServer"] = json!(format!("{name}.azurecr.io"));
        }
        "Microsoft.KeyVault/vaults" => {
            p["vaultUri"] = json!(format!("{vault_url}/"));
        }
        "Microsoft.DBforMySQL/flexibleServers" => {
            p["fullyQualifiedDomainName"] = json!(format!("{name}.mysql.database.azure.com"));
            // ARM never returns the password.
            p.as_object_mut()
                .unwrap()
                .remove("administratorLoginPassword");
        }
        "Microsoft.Network/publicIPAddresses" => {
            p["ipAddress"] = json!("20.27.1.10");
        }
        "Microsoft.KeyVault/vaults/secrets" => {
            p.as_object_mut().unwrap().remove("value");
            p["secretUri"] = json!(format!(
                "{vault_url}/secrets/{}",
                name.rsplit('/').next().unwrap()
            ));
        }
        _ => {}
    }
    full["id"] = json!(id);
    full["name"] = json!(name.rsplit('/').next().unwrap());
    full["type"] = json!(kind);
    full
}

/// Values of `securestring` parameters never appear in what-if: ARM masks them.
fn mask(v: &Value, secrets: &[String]) -> Value {
    match v {
        Value::String(s) if secrets.contains(s) => Value::Null,
        Value::Array(a) => Value::Array(a.iter().map(|x| mask(x, secrets)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, x)| !matches!(x, Value::String(s) if secrets.contains(s)))
                .map(|(k, x)| (k.clone(), mask(x, secrets)))
                .collect(),
        ),
        v => v.clone(),
    }
}

fn delta(path: &str, before: &Value, after: &Value, out: &mut Vec<Value>) {
    if before == after {
        return;
    }
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                delta(
                    &p,
                    b.get(k).unwrap_or(&Value::Null),
                    a.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(b), Value::Array(a)) if b.len() == a.len() => {
            let mut children = Vec::new();
            for (i, (x, y)) in b.iter().zip(a).enumerate() {
                let mut c = Vec::new();
                delta("", x, y, &mut c);
                if x != y {
                    if c.is_empty() || !x.is_object() {
                        children.push(json!({"path": i.to_string(), "propertyChangeType": "Modify", "before": x, "after": y}));
                    } else {
                        children.push(json!({"path": i.to_string(), "propertyChangeType": "Modify", "children": c}));
                    }
                }
            }
            out.push(json!({"path": path, "propertyChangeType": "Array", "children": children}));
        }
        (Value::Null, a) => {
            out.push(json!({"path": path, "propertyChangeType": "Create", "after": a}))
        }
        (b, Value::Null) => {
            out.push(json!({"path": path, "propertyChangeType": "Delete", "before": b}))
        }
        (b, a) => {
            out.push(json!({"path": path, "propertyChangeType": "Modify", "before": b, "after": a}))
        }
    }
}

fn secure_values(template: &Value, params: &Value) -> Vec<String> {
    template["parameters"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, d)| {
            d["type"]
                .as_str()
                .is_some_and(|t| t.eq_ignore_ascii_case("securestring"))
        })
        .filter_map(|(k, _)| params[k]["value"].as_str().map(String::from))
        .collect()
}

fn what_if_changes(d: &Data, planned: &Planned, secrets: &[String]) -> Vec<Value> {
    let mut changes = Vec::new();
    for (id, _, _, _, desired, _) in planned {
        let desired = mask(desired, secrets);
        match d.resources.get(&id.to_ascii_lowercase()) {
            None => {
                changes.push(json!({"resourceId": id, "changeType": "Create", "after": desired}))
            }
            Some(s) => {
                let before = mask(&s.desired, secrets);
                let mut ds = Vec::new();
                delta("", &before, &desired, &mut ds);
                if ds.is_empty() {
                    changes.push(json!({"resourceId": id, "changeType": "NoChange", "before": before, "after": desired}));
                } else {
                    changes.push(json!({"resourceId": id, "changeType": "Modify", "before": before, "after": desired, "delta": ds}));
                }
            }
        }
    }
    // Resources of the group the template does not name: Ignore (incremental).
    for (k, s) in &d.resources {
        if !planned.iter().any(|p| p.0.to_ascii_lowercase() == *k) {
            changes.push(json!({"resourceId": s.id, "changeType": "Ignore"}));
        }
    }
    changes
}

fn dep_extended(state: &MockState, dep: &Dep) -> Value {
    let mut v = json!({
        "id": format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{}/providers/Microsoft.Resources/deployments/{}", dep.rg, dep.name),
        "name": dep.name,
        "type": "Microsoft.Resources/deployments",
        "properties": {
            "provisioningState": dep.state,
            "mode": "Incremental",
            "correlationId": dep.op_id,
        },
    });
    if dep.state == "Succeeded" {
        v["properties"]["outputs"] = dep.outputs.clone();
    }
    if let Some((_, _, name, _, code, message)) = &dep.failed {
        v["properties"]["error"] = json!({"code": "DeploymentFailed", "message": "At least one resource deployment operation failed. Please list deployment operations for details.", "details": [
            {"code": "ResourceDeploymentFailure", "message": format!("The resource '{name}' failed."), "details": [{"code": code, "message": message}]}
        ]});
    }
    let _ = state;
    v
}

/// One poll: applies the next few resources (or fails one).
fn advance(d: &mut Data, key: &str, vault_url: &str) {
    let Some(mut dep) = d.deployments.get(key).cloned() else {
        return;
    };
    if dep.state != "Running" && dep.state != "Accepted" {
        return;
    }
    dep.state = "Running".into();
    for _ in 0..6 {
        if dep.pending.is_empty() {
            break;
        }
        let (id, kind, name, rg, desired_raw, raw) = dep.pending.remove(0);
        if let Some(f) = d.fail.iter().find(|f| name.contains(&f.resource_contains)) {
            dep.failed = Some((id, kind, name, rg, f.code.clone(), f.message.clone()));
            dep.state = "Failed".into();
            break;
        }
        // Re-evaluate now: reference() of what was just created resolves.
        let desired = {
            let ev = Eval {
                data: d,
                rg: dep.rg.clone(),
                params: params_of(&dep),
                vault_url: vault_url.into(),
            };
            let mut used = Vec::new();
            match arm_template::eval(&raw, &ev, &mut used) {
                Ok(b) => {
                    let mut m = serde_json::Map::new();
                    for k in [
                        "location",
                        "tags",
                        "sku",
                        "identity",
                        "properties",
                        "zones",
                        "kind",
                    ] {
                        if let Some(v) = b.get(k) {
                            m.insert(k.into(), v.clone());
                        }
                    }
                    Value::Object(m)
                }
                _ => desired_raw,
            }
        };
        if kind == "Microsoft.KeyVault/vaults/secrets"
            && let Some(v) = desired["properties"]["value"].as_str()
        {
            d.secrets
                .insert(name.rsplit('/').next().unwrap().to_string(), v.to_string());
        }
        let mut full = enrich(&kind, &id, &name, &desired, vault_url);
        if kind == "Microsoft.ContainerRegistry/registries"
            && let Some(server) = &d.acr_login_server
        {
            full["properties"]["loginServer"] = json!(server);
        }
        if kind == "Microsoft.Network/networkSecurityGroups/securityRules" {
            nsg_rule_into_parent(d, &id, &desired);
        }
        d.resources.insert(
            id.to_ascii_lowercase(),
            Stored {
                id: id.clone(),
                kind: kind.clone(),
                desired,
                full,
            },
        );
        dep.done.push((id, kind, name, rg));
    }
    if dep.pending.is_empty() && dep.state == "Running" {
        let ev = Eval {
            data: d,
            rg: dep.rg.clone(),
            params: params_of(&dep),
            vault_url: vault_url.into(),
        };
        let mut used = Vec::new();
        let outs = arm_template::eval(&dep.template["outputs"], &ev, &mut used).unwrap_or_default();
        dep.outputs = outs;
        dep.state = "Succeeded".into();
    }
    d.deployments.insert(key.to_string(), dep);
}

/// A security rule is also part of its NSG's `securityRules` (as a GET of the NSG shows
/// it); a PUT of the NSG with its own list replaces them all.
fn nsg_rule_into_parent(d: &mut Data, rule_id: &str, desired: &Value) {
    let Some((parent, name)) = rule_id.rsplit_once("/securityRules/") else {
        return;
    };
    let Some(nsg) = d.resources.get_mut(&parent.to_ascii_lowercase()) else {
        return;
    };
    let rule = json!({"name": name, "properties": desired["properties"]});
    for body in [&mut nsg.desired, &mut nsg.full] {
        let list = &mut body["properties"]["securityRules"];
        if !list.is_array() {
            *list = json!([]);
        }
        let list = list.as_array_mut().unwrap();
        list.retain(|r| r["name"] != name);
        list.push(rule.clone());
    }
}

fn params_of(dep: &Dep) -> Value {
    let mut m = serde_json::Map::new();
    for (k, decl) in dep.template["parameters"].as_object().into_iter().flatten() {
        let v = dep.parameters[k]["value"].clone();
        m.insert(
            k.clone(),
            if v.is_null() {
                decl["defaultValue"].clone()
            } else {
                v
            },
        );
    }
    Value::Object(m)
}

fn operations(dep: &Dep) -> Value {
    let mut ops = Vec::new();
    let op = |id: &str, kind: &str, name: &str, state: &str, extra: Value| {
        let mut o = json!({
            "id": format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{}/deployments/{}/operations/{}", dep.rg, dep.name, arm_template::guid(&[id.to_string()])),
            "operationId": arm_template::guid(&[id.to_string()]),
            "properties": {
                "provisioningOperation": "Create",
                "provisioningState": state,
                "timestamp": "2026-12-05T21:00:00Z",
                "targetResource": {"id": id, "resourceType": kind, "resourceName": name},
            }
        });
        if let Value::Object(m) = extra {
            for (k, v) in m {
                o["properties"][k] = v;
            }
        }
        o
    };
    for (id, kind, name, _) in &dep.done {
        ops.push(op(id, kind, name, "Succeeded", json!({"statusCode": "OK"})));
    }
    if let Some((id, kind, name, _, code, message)) = &dep.failed {
        ops.push(op(id, kind, name, "Failed", json!({"statusCode": "BadRequest", "statusMessage": {"status": "Failed", "error": {"code": code, "message": message}}})));
    }
    if dep.state == "Running" {
        for (id, kind, name, _, _, _) in dep.pending.iter().take(2) {
            ops.push(op(id, kind, name, "Running", json!({})));
        }
    }
    json!({"value": ops})
}

async fn handle(
    State(state): State<Arc<MockState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let q = query(&uri);
    let base = state.url.lock().unwrap().clone();
    let vault_url = state.vault_url.lock().unwrap().clone();
    state
        .data
        .lock()
        .unwrap()
        .calls
        .push(format!("{method} {path}"));
    if let Err(e) = state.book.check(&headers, &format!("{base}/.default")) {
        return err(
            401,
            "InvalidAuthenticationToken",
            &format!("The access token is invalid: {e}."),
        );
    }
    let api = q.get("api-version").cloned().unwrap_or_default();
    let lower = path.to_ascii_lowercase();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if segs.len() < 2 || segs[0] != "subscriptions" || segs[1] != SUBSCRIPTION {
        return violation(&state, format!("not this subscription: {path}"));
    }
    let is_deployments = lower.contains("/deployments/")
        || lower.contains("/operationresults/")
        || lower.contains("/operationstatuses/");
    if is_deployments {
        let mut d = state.data.lock().unwrap();
        if d.throttle > 0 {
            d.throttle -= 1;
            let mut r = err(
                429,
                "TooManyRequests",
                "Rate limit exceeded for deployments.",
            );
            r.headers_mut().insert("retry-after", "0".parse().unwrap());
            return r;
        }
    }
    // Polling URLs.
    if lower.contains("/operationresults/") {
        let id = segs.last().unwrap().to_string();
        let v = state.data.lock().unwrap().what_ifs.get(&id).cloned();
        return match v {
            Some(v) => {
                if let Err(r) = check(&state, "#/definitions/WhatIfOperationResult", &v) {
                    return r;
                }
                reply(200, &v)
            }
            None => err(404, "NotFound", "no such operation"),
        };
    }
    if lower.contains("/operationstatuses/") {
        let id = segs.last().unwrap().to_string();
        let mut d = state.data.lock().unwrap();
        let key = d
            .deployments
            .iter()
            .find(|(_, dep)| dep.op_id == id)
            .map(|(k, _)| k.clone());
        let Some(key) = key else {
            return err(404, "NotFound", "no such operation");
        };
        advance(&mut d, &key, &vault_url);
        let dep = &d.deployments[&key];
        let mut v = json!({"id": format!("{path}"), "name": id, "status": dep.state});
        if let Some((_, _, name, _, code, message)) = &dep.failed {
            v["error"] = json!({"code": "DeploymentFailed", "message": format!("{name}: {code}: {message}")});
        }
        drop(d);
        if let Err(r) = check(&state, "#/definitions/common_v5_OperationStatusResult", &v) {
            return r;
        }
        let mut r = reply(200, &v);
        r.headers_mut().insert("retry-after", "0".parse().unwrap());
        return r;
    }
    // Subscription-level calls.
    if segs.len() >= 4 && segs[2] == "providers" {
        if lower.ends_with("/checknameavailability") && method == Method::POST {
            let b: Value = serde_json::from_slice(&body).unwrap_or_default();
            let name = b["name"].as_str().unwrap_or_default().to_string();
            let taken = state.data.lock().unwrap().taken_names.contains(&name);
            return reply(
                200,
                &if taken {
                    json!({"nameAvailable": false, "reason": "AlreadyExists", "message": format!("The name '{name}' is already in use.")})
                } else {
                    json!({"nameAvailable": true})
                },
            );
        }
        if lower.ends_with("/microsoft.compute/skus") {
            let zones = json!(["1", "2", "3"]);
            return reply(
                200,
                &json!({"value": [
                    {"resourceType": "virtualMachines", "name": "Standard_D2s_v5", "locations": ["japaneast"],
                     "locationInfo": [{"location": "japaneast", "zones": zones}], "restrictions": []},
                    {"resourceType": "virtualMachines", "name": "Standard_NC6", "locations": ["japaneast"],
                     "locationInfo": [{"location": "japaneast", "zones": ["2"]}], "restrictions": []},
                ]}),
            );
        }
        return violation(&state, format!("unknown subscription call {method} {path}"));
    }
    if segs.len() < 4 || !segs[2].eq_ignore_ascii_case("resourcegroups") {
        return violation(&state, format!("unknown ARM path {method} {path}"));
    }
    let rg = segs[3].to_string();
    let group_exists = state
        .data
        .lock()
        .unwrap()
        .groups
        .contains(&rg.to_ascii_lowercase());
    if !group_exists {
        return err(
            404,
            "ResourceGroupNotFound",
            &format!("Resource group '{rg}' could not be found."),
        );
    }
    if segs.len() == 4 {
        return reply(
            200,
            &json!({"id": format!("/subscriptions/{SUBSCRIPTION}/resourceGroups/{rg}"), "name": rg, "location": "japaneast", "properties": {"provisioningState": "Succeeded"}}),
        );
    }
    // Deployment operations: `.../resourcegroups/{rg}/deployments/{name}/operations`.
    if segs.len() == 7 && segs[4] == "deployments" && segs[6] == "operations" {
        if segs[2] != "resourcegroups" {
            return violation(
                &state,
                format!("operations path must say `resourcegroups`: {path}"),
            );
        }
        if api != API {
            return violation(&state, format!("operations api-version {api}"));
        }
        let d = state.data.lock().unwrap();
        let Some(dep) = d.deployments.get(&segs[5].to_ascii_lowercase()) else {
            return err(404, "DeploymentNotFound", "no such deployment");
        };
        let v = operations(dep);
        drop(d);
        if let Err(r) = check(&state, "#/definitions/DeploymentOperationsListResult", &v) {
            return r;
        }
        return reply(200, &v);
    }
    if segs.len() >= 8
        && segs[4] == "providers"
        && segs[5] == "Microsoft.Resources"
        && segs[6] == "deployments"
    {
        if api != API {
            return violation(
                &state,
                format!("deployments api-version {api}, the spec is {API}"),
            );
        }
        return deployments(
            &state,
            method,
            &rg,
            segs[7],
            segs.get(8).copied(),
            &body,
            &base,
            &vault_url,
        );
    }
    if lower.ends_with("/providers/microsoft.authorization/permissions") {
        let p = state
            .data
            .lock()
            .unwrap()
            .permissions
            .get(&rg.to_ascii_lowercase())
            .cloned()
            .unwrap_or_default();
        return reply(
            200,
            &json!({"value": [{"actions": p.0, "notActions": p.1}]}),
        );
    }
    // `deploy`'s gateway NSG rule (SecurityRules_CreateOrUpdate) and its poll.
    if lower.contains("/providers/microsoft.network/networksecuritygroups/")
        && lower.contains("/securityrules/")
    {
        return security_rule(&state, method, &path, &body);
    }
    // `deploy`'s A record (RecordSets_CreateOrUpdate).
    if lower.contains("/providers/microsoft.network/dnszones/")
        && segs.len() == 10
        && segs[8] == "A"
        && method == Method::PUT
    {
        let b: Value = serde_json::from_slice(&body).unwrap_or_default();
        if !b["properties"]["ARecords"].is_array() || !b["properties"]["TTL"].is_number() {
            return violation(&state, format!("an A record PUT without ARecords/TTL: {b}"));
        }
        let key = format!("{}/{}", segs[7], segs[9]);
        let mut d = state.data.lock().unwrap();
        let existed = d.records.insert(key, b.clone()).is_some();
        let mut v = json!({"id": path, "name": segs[9], "type": "Microsoft.Network/dnszones/A", "etag": "e1", "properties": b["properties"]});
        v["properties"]["fqdn"] = json!(format!("{}.{}.", segs[9], segs[7]));
        return reply(if existed { 200 } else { 201 }, &v);
    }
    if lower.contains("/providers/microsoft.network/dnszones/") {
        let zone = segs[7].to_string();
        let has = state
            .data
            .lock()
            .unwrap()
            .zones
            .iter()
            .any(|(g, z)| *g == rg.to_ascii_lowercase() && *z == zone);
        return if has {
            reply(
                200,
                &json!({"id": path, "name": "@", "type": "Microsoft.Network/dnszones/SOA", "properties": {"SOARecord": {"email": "azuredns-hostmaster.microsoft.com"}}}),
            )
        } else {
            err(
                404,
                "ResourceNotFound",
                &format!(
                    "The Resource 'Microsoft.Network/dnszones/{zone}' under resource group '{rg}' was not found."
                ),
            )
        };
    }
    if lower.ends_with("/listclusterusercredential") && method == Method::POST {
        let id = path.trim_end_matches("/listClusterUserCredential");
        let has = state
            .data
            .lock()
            .unwrap()
            .resources
            .contains_key(&id.to_ascii_lowercase());
        if !has {
            return err(404, "ResourceNotFound", "no such cluster");
        }
        let given = state.data.lock().unwrap().kubeconfig.clone();
        let kubeconfig = given.unwrap_or_else(|| format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://x.hcp.japaneast.azmk8s.io:443\nusers:\n- name: u\n  user:\n    token: {}\n",
            PLANTED_KUBE_TOKEN
        ));
        return reply(
            200,
            &json!({"kubeconfigs": [{"name": "clusterUser", "value": base64::engine::general_purpose::STANDARD.encode(kubeconfig)}]}),
        );
    }
    // Key Vault secret through ARM (the kubeconfig).
    if lower.contains("/providers/microsoft.keyvault/vaults/")
        && lower.contains("/secrets/")
        && method == Method::PUT
    {
        let b: Value = serde_json::from_slice(&body).unwrap_or_default();
        let Some(value) = b["properties"]["value"].as_str() else {
            return violation(&state, "a secret PUT without properties.value".into());
        };
        let name = segs.last().unwrap().to_string();
        let vault_id = segs[..8].join("/");
        let mut d = state.data.lock().unwrap();
        if !d
            .resources
            .contains_key(&format!("/{vault_id}").to_ascii_lowercase())
        {
            return err(404, "ResourceNotFound", "no such vault");
        }
        d.secrets.insert(name.clone(), value.to_string());
        return reply(
            200,
            &json!({"id": path, "name": name, "properties": {"contentType": b["properties"]["contentType"]}}),
        );
    }
    // Plain resource reads.
    if method == Method::GET {
        let d = state.data.lock().unwrap();
        return match d.resources.get(&path.to_ascii_lowercase()) {
            Some(s) => reply(200, &s.full),
            None => err(
                404,
                "ResourceNotFound",
                &format!("The Resource '{path}' was not found."),
            ),
        };
    }
    violation(&state, format!("unknown ARM call {method} {path}"))
}

/// PUT or GET of one NSG rule through the network API: stored as the child resource and
/// merged into the NSG, as Azure does.
fn security_rule(state: &MockState, method: Method, path: &str, body: &Bytes) -> Response {
    let mut d = state.data.lock().unwrap();
    let key = path.to_ascii_lowercase();
    if method == Method::GET {
        return match d.resources.get(&key) {
            Some(r) => reply(200, &r.full),
            None => err(404, "NotFound", "no such rule"),
        };
    }
    if method != Method::PUT {
        drop(d);
        return violation(state, format!("unknown NSG rule call {method} {path}"));
    }
    let b: Value = serde_json::from_slice(body).unwrap_or_default();
    let p = &b["properties"];
    for k in ["protocol", "access", "direction", "priority"] {
        if p[k].is_null() {
            drop(d);
            return violation(state, format!("NSG rule PUT without properties.{k}"));
        }
    }
    let Some((parent, name)) = path.rsplit_once("/securityRules/") else {
        drop(d);
        return violation(state, format!("NSG rule path {path}"));
    };
    if !d.resources.contains_key(&parent.to_ascii_lowercase()) {
        return err(
            404,
            "ResourceNotFound",
            &format!("The Resource '{parent}' was not found."),
        );
    }
    let desired = json!({"properties": p});
    let mut full = desired.clone();
    full["properties"]["provisioningState"] = json!("Succeeded");
    full["id"] = json!(path);
    full["name"] = json!(name);
    full["type"] = json!("Microsoft.Network/networkSecurityGroups/securityRules");
    let existed = d.resources.contains_key(&key);
    nsg_rule_into_parent(&mut d, path, &desired);
    d.resources.insert(
        key,
        Stored {
            id: path.to_string(),
            kind: "Microsoft.Network/networkSecurityGroups/securityRules".into(),
            desired,
            full: full.clone(),
        },
    );
    reply(if existed { 200 } else { 201 }, &full)
}

pub const PLANTED_KUBE_TOKEN: &str = "kube-token-planted-4d5e6f";

#[allow(clippy::too_many_arguments)]
fn deployments(
    state: &MockState,
    method: Method,
    rg: &str,
    name: &str,
    action: Option<&str>,
    body: &Bytes,
    base: &str,
    vault_url: &str,
) -> Response {
    let b: Value = serde_json::from_slice(body).unwrap_or_default();
    if !body.is_empty() {
        state
            .data
            .lock()
            .unwrap()
            .bodies
            .push(String::from_utf8_lossy(body).into_owned());
    }
    match (method.clone(), action) {
        (Method::POST, Some("whatIf")) => {
            if let Err(r) = check(state, "#/definitions/DeploymentWhatIf", &b) {
                return r;
            }
            if b["properties"]["mode"] != "Incremental" {
                return violation(state, "what-if must be Incremental".into());
            }
            let mut d = state.data.lock().unwrap();
            let planned = match plan(
                &mut d,
                rg,
                &b["properties"]["template"],
                &b["properties"]["parameters"],
                vault_url,
            ) {
                Ok((p, _)) => p,
                Err(e) => {
                    d.violations.push(e.clone());
                    return err(400, "InvalidTemplate", &e);
                }
            };
            let secrets =
                secure_values(&b["properties"]["template"], &b["properties"]["parameters"]);
            let changes = what_if_changes(&d, &planned, &secrets);
            let op = arm_template::guid(&[format!("{}", d.what_ifs.len()), name.to_string()]);
            d.what_ifs.insert(
                op.clone(),
                json!({"status": "Succeeded", "properties": {"changes": changes}}),
            );
            let mut r = (StatusCode::ACCEPTED, "").into_response();
            r.headers_mut().insert("location", format!("{base}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Resources/locations/japaneast/operationResults/{op}?api-version={API}").parse().unwrap());
            r.headers_mut().insert("retry-after", "0".parse().unwrap());
            r
        }
        (Method::PUT, None) => {
            if let Err(r) = check(state, "#/definitions/Deployment", &b) {
                return r;
            }
            if b["properties"]["mode"] != "Incremental" {
                return violation(state, "deployments must be Incremental".into());
            }
            let mut d = state.data.lock().unwrap();
            let planned = match plan(
                &mut d,
                rg,
                &b["properties"]["template"],
                &b["properties"]["parameters"],
                vault_url,
            ) {
                Ok((p, _)) => p,
                Err(e) => {
                    d.violations.push(e.clone());
                    return err(400, "InvalidTemplate", &e);
                }
            };
            let existed = d.deployments.contains_key(&name.to_ascii_lowercase());
            let op_id = arm_template::guid(&[name.to_string(), format!("{}", d.calls.len())]);
            let dep = Dep {
                name: name.to_string(),
                rg: rg.to_string(),
                state: "Accepted".into(),
                pending: planned,
                done: vec![],
                failed: None,
                template: b["properties"]["template"].clone(),
                parameters: b["properties"]["parameters"].clone(),
                outputs: Value::Null,
                op_id: op_id.clone(),
            };
            let v = dep_extended(state, &dep);
            d.deployments.insert(name.to_ascii_lowercase(), dep);
            drop(d);
            if let Err(r) = check(state, "#/definitions/DeploymentExtended", &v) {
                return r;
            }
            let mut r = reply(if existed { 200 } else { 201 }, &v);
            r.headers_mut().insert("azure-asyncoperation", format!("{base}/subscriptions/{SUBSCRIPTION}/providers/Microsoft.Resources/locations/japaneast/operationStatuses/{op_id}?api-version={API}").parse().unwrap());
            r.headers_mut().insert("retry-after", "0".parse().unwrap());
            r
        }
        (Method::GET, None) => {
            let d = state.data.lock().unwrap();
            match d.deployments.get(&name.to_ascii_lowercase()) {
                Some(dep) => {
                    let v = dep_extended(state, dep);
                    drop(d);
                    if let Err(r) = check(state, "#/definitions/DeploymentExtended", &v) {
                        return r;
                    }
                    reply(200, &v)
                }
                None => err(
                    404,
                    "DeploymentNotFound",
                    &format!("Deployment '{name}' could not be found."),
                ),
            }
        }
        _ => violation(
            state,
            format!("unknown deployments call {method} {name}/{action:?}"),
        ),
    }
}

/// Key Vault's data plane: the challenge, then secrets by name.
async fn vault(
    State(state): State<Arc<MockState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let path = uri.path().to_string();
    let vault_url = state.vault_url.lock().unwrap().clone();
    state
        .data
        .lock()
        .unwrap()
        .calls
        .push(format!("{method} vault{path}"));
    if query(&uri).get("api-version").map(String::as_str) != Some("7.5") {
        return violation(&state, format!("Key Vault api-version on {path}"));
    }
    if state
        .book
        .check(&headers, &format!("{vault_url}/.default"))
        .is_err()
    {
        let mut r = err(
            401,
            "Unauthorized",
            "AKV10000: Request is missing a Bearer or PoP token.",
        );
        r.headers_mut().insert(
            "www-authenticate",
            format!(
                "Bearer authorization=\"{}/{TENANT}\", resource=\"{vault_url}\"",
                state.authority
            )
            .parse()
            .unwrap(),
        );
        return r;
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if method != Method::GET || segs.first() != Some(&"secrets") || segs.len() < 2 {
        return violation(&state, format!("unknown Key Vault call {method} {path}"));
    }
    let d = state.data.lock().unwrap();
    match d.secrets.get(segs[1]) {
        Some(v) => reply(
            200,
            &json!({"value": v, "id": format!("{vault_url}/secrets/{}/0123456789abcdef0123456789abcdef", segs[1]), "attributes": {"enabled": true}}),
        ),
        None => err(
            404,
            "SecretNotFound",
            &format!(
                "A secret with (name/id) {} was not found in this key vault.",
                segs[1]
            ),
        ),
    }
}
